"""Writing the worklist: CSV, Parquet or JSON Lines, chosen by the file's extension.

Files are written beside their destination and renamed into place, so a reader never sees a
half-written worklist and a failed run leaves the previous one intact.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from calcinosis.errors import UnreadableError
from calcinosis.screening.job import Worklist
from calcinosis.screening.judge import COLUMNS, LIST_COLUMNS

FORMATS = (".csv", ".parquet", ".jsonl")
# A worklist row is a verdict with its rank; an error never reaches the worklist.
FIELDS = ("rank", *(c for c in COLUMNS if c != "error"))
_CSV_JOIN = " | "


def rows(worklist: Worklist) -> Iterator[dict[str, Any]]:
    for rank, verdict in enumerate(worklist.rows, start=1):
        row = verdict.as_row()
        yield {"rank": rank, **{k: row[k] for k in FIELDS if k != "rank"}}


def check_destination(path: Path) -> None:
    """Refuse an unknown format or a folder that does not exist before any work is done."""
    if path.suffix not in FORMATS:
        raise UnreadableError(f"{path}: the worklist can be written as {', '.join(FORMATS)}")
    if not path.parent.is_dir():
        raise UnreadableError(f"{path.parent}: no such folder")


def write(worklist: Worklist, path: Path) -> None:
    check_destination(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(handle)
    try:
        {".csv": _csv, ".parquet": _parquet, ".jsonl": _jsonl}[path.suffix](worklist, temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _csv(worklist: Worklist, path: str) -> None:
    with open(path, "w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=FIELDS)
        writer.writeheader()
        for row in rows(worklist):
            writer.writerow(
                {k: _CSV_JOIN.join(v) if k in LIST_COLUMNS else v for k, v in row.items()}
            )


def _jsonl(worklist: Worklist, path: str) -> None:
    with open(path, "wb") as out:
        for row in rows(worklist):
            out.write(orjson.dumps(row) + b"\n")


def _parquet(worklist: Worklist, path: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    text, texts = pa.string(), pa.list_(pa.string())
    schema = pa.schema(
        [
            (name, pa.int64() if name == "rank" else texts if name in LIST_COLUMNS else text)
            for name in FIELDS
        ]
    )
    pq.write_table(pa.Table.from_pylist(list(rows(worklist)), schema=schema), path)
