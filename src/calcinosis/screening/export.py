"""A FHIR Bulk Data export on disk: which NDJSON files hold which resource type.

Bulk Data servers name files by type (`Patient.ndjson`, `Observation.000.ndjson`,
`Observation_2.ndjson`, ...); any of them may be gzip-compressed (`.ndjson.gz`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from calcinosis.errors import ExportError
from calcinosis.fhir.ingest import RESOURCE_TYPES_READ

_FILE = re.compile(r"^(?P<type>[A-Z][A-Za-z]+)(?:[._-][^/]*)?\.ndjson(?:\.gz)?$")


@dataclass(frozen=True, slots=True)
class Export:
    directory: Path
    files: dict[str, tuple[Path, ...]]  # resource type -> its files, sorted by name
    ignored: tuple[Path, ...]  # NDJSON files of types an assessment does not read

    @property
    def all_files(self) -> tuple[Path, ...]:
        return tuple(f for files in self.files.values() for f in files)

    def size_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.all_files)


def open_export(directory: str | Path) -> Export:
    """Find the export's files; refuse a directory that is missing or holds no patients."""
    root = Path(directory)
    if not root.is_dir():
        raise ExportError(f"{root}: not a directory (give the folder of a Bulk Data export)")
    if any(c in str(root.resolve()) for c in "'\\"):
        # the engines are handed file paths inside SQL text
        raise ExportError(f"{root}: a folder whose path holds a quote or a backslash")
    files: dict[str, list[Path]] = {}
    ignored: list[Path] = []
    for path in sorted(root.iterdir()):
        match = _FILE.match(path.name)
        if match is None or not path.is_file():
            continue
        kind = match["type"]
        if any(c in path.name for c in "'\\"):
            raise ExportError(f"{path}: a file name with a quote or a backslash")
        if kind in RESOURCE_TYPES_READ:
            files.setdefault(kind, []).append(path)
        else:
            ignored.append(path)
    if "Patient" not in files:
        raise ExportError(
            f"{root}: no Patient NDJSON file (expected Patient.ndjson or Patient.<n>.ndjson)"
        )
    ordered = {k: tuple(files[k]) for k in RESOURCE_TYPES_READ if k in files}
    return Export(directory=root, files=ordered, ignored=tuple(ignored))
