"""The screening ViewDefinitions compiled to DuckDB SQL, timed on a large export.

    .venv/bin/python bench/bench_views.py [--export DIR] [--patients N] [--repeat N]
                                          [--save FILE | --compare FILE]

Reads `/tmp/lead-pop100k` (a 100 k-patient synthetic export) or, when that folder is missing,
generates one of `--patients` with `calcinosis.synth` in a temporary folder. Prints, with
DuckDB set up as `calcinosis screen` sets it up (1 GB memory cap, relations `src_<Type>` of
JSON text over `read_ndjson_objects`):
  - a bare `SELECT count(*) FROM read_ndjson_objects(...)` per type, for scale;
  - per screening view, the time to materialise `compile_view(view, "duckdb", src_<Type>)`;
  - the narrowing queries (`screening.sql.narrowing_steps` over the compiled views, as
    `screening.duck` runs it).
The best of `--repeat` runs is shown. `--save FILE` writes every view's rows and the
candidates (sorted) to FILE; `--compare FILE` checks them against a saved FILE.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import duckdb

from calcinosis.core.knowledge import load_knowledge
from calcinosis.screening.engine import load_views
from calcinosis.screening.export import Export, open_export
from calcinosis.screening.narrowing import narrowing
from calcinosis.screening.sof.compiler import compile_view
from calcinosis.screening.sql import DUCKDB, literal, narrowing_steps

DEFAULT_EXPORT = Path("/tmp/lead-pop100k")


def main() -> int:
    args = _arguments()
    with tempfile.TemporaryDirectory(prefix="bench-views-") as scratch:
        folder = args.export
        if not folder.is_dir():
            folder = _generate(Path(scratch) / "export", args.patients)
        export = open_export(folder)
        con = duckdb.connect(
            config={"memory_limit": "1GB", "temp_directory": str(Path(scratch) / "spill")}
        )
        con.execute("SET preserve_insertion_order = false")
        return _bench(con, export, args)


def _bench(con: duckdb.DuckDBPyConnection, export: Export, args: argparse.Namespace) -> int:
    kb = load_knowledge()
    print(f"export: {export.directory} ({export.size_bytes() / 1e6:.0f} MB)")
    print("seconds: wall / CPU (all threads), best of", args.repeat)
    print(f"{'relation':<22}{'rows':>10}{'scan':>14}{'view':>14}")
    facts: dict[str, list[str]] = {}
    outputs: dict[str, list[Any]] = {}
    for rtype, view in load_views(kb).items():
        files = export.files.get(rtype)
        if not files:
            continue
        paths = "[" + ", ".join(literal(str(f)) for f in files) + "]"
        scan_sql = f"SELECT count(*) FROM read_ndjson_objects({paths})"
        con.execute(
            f"CREATE VIEW src_{rtype} AS SELECT json::VARCHAR AS resource "
            f"FROM read_ndjson_objects({paths}, compression = 'auto_detect')"
        )
        compiled = compile_view(view, "duckdb", f"src_{rtype}")
        con.execute(f"CREATE VIEW facts_{rtype} AS {compiled.sql}")
        scan = _best(args.repeat, lambda q=scan_sql: con.execute(q).fetchall())
        table = f"bench_{rtype}"
        build = f"CREATE OR REPLACE TEMP TABLE {table} AS {compiled.sql}"
        seconds = _best(args.repeat, lambda q=build: con.execute(q))
        rows = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
        print(f"{'view ' + rtype:<22}{rows:>10,}{scan:>14}{seconds:>14}")
        if args.save or args.compare:
            outputs[rtype] = _sorted_rows(con, table)
        con.execute(f"DROP TABLE {table}")
        if rtype != "Patient":
            facts[f"facts_{rtype}"] = [name for name, _ in compiled.columns]
    steps = [
        f"CREATE OR REPLACE TEMP TABLE {name} AS {query}"
        for name, query in narrowing_steps(facts, DUCKDB, narrowing(kb))
    ]
    seconds = _best(args.repeat, lambda: [con.execute(step) for step in steps])
    count = con.execute("SELECT count(*) FROM candidates").fetchall()[0][0]
    print(f"{'candidate query':<22}{count:>10,}{'':>14}{seconds:>14}")
    outputs["candidates"] = _sorted_rows(con, "candidates")
    return _check(outputs, args)


def _sorted_rows(con: duckdb.DuckDBPyConnection, table: str) -> list[Any]:
    rows = con.execute(f"SELECT * FROM {table}").fetchall()
    return sorted(json.dumps(list(r), default=str) for r in rows)


def _check(outputs: dict[str, list[Any]], args: argparse.Namespace) -> int:
    if args.save:
        args.save.write_text(json.dumps(outputs), encoding="utf-8")
        print(f"saved every view's rows and the candidates to {args.save}")
    if args.compare:
        saved = json.loads(args.compare.read_text(encoding="utf-8"))
        differ = [
            name for name in saved.keys() | outputs.keys() if saved.get(name) != outputs.get(name)
        ]
        for name in sorted(outputs):
            digest = hashlib.sha256("\n".join(outputs[name]).encode()).hexdigest()[:12]
            print(f"  {name:<20} {len(outputs[name]):>9,} rows  sha256 {digest}")
        if differ:
            print(f"DIFFERENT from {args.compare}: {', '.join(sorted(differ))}")
            return 1
        print(f"identical to {args.compare}")
    return 0


def _best(repeat: int, run: Callable[[], Any]) -> Timing:
    """The least wall time and the least CPU time (every DuckDB thread of this process) of
    `repeat` runs; on a shared machine the CPU time is the steadier figure."""
    wall = cpu = float("inf")
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        run()
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    return Timing(wall, cpu)


class Timing(NamedTuple):
    wall: float
    cpu: float

    def __format__(self, spec: str) -> str:
        return format(f"{self.wall:.2f} / {self.cpu:.2f}", spec)


def _generate(out: Path, patients: int) -> Path:
    from calcinosis.synth.run import Options, generate

    print(f"{DEFAULT_EXPORT} is missing: generating {patients:,} patients in {out}")
    generate(Options(out=out, patients=patients, as_of=dt.date(2026, 1, 1)))
    return out


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", type=Path, default=DEFAULT_EXPORT)
    parser.add_argument("--patients", type=int, default=20_000, help="when generating")
    parser.add_argument("--repeat", type=int, default=1, help="runs per figure (best shown)")
    parser.add_argument("--save", type=Path, help="write the sorted outputs here")
    parser.add_argument("--compare", type=Path, help="compare the outputs with a saved file")
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(main())
