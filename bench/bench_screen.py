"""Population screening at scale: DuckDB screen vs a bare DuckDB scan, peak memory, Spark, and a
naive baseline.

    make bench-screen     (or: .venv/bin/python bench/bench_screen.py [--patients N] [--repeat N])

Builds (once, then reuses) a synthetic Bulk Data export with `calcinosis synth` in shards of
10,000 patients, so that slices of it (10 k, 100 k, 250 k, 1 M patients) are folders of links to
its first shards. Prints:
  - the bare scan: `SELECT count(*)` over every NDJSON file with read_ndjson_objects (and with
    read_json, which also parses every document), right before the screen so both read warm
    files;
  - `calcinosis screen` with DuckDB (a separate process: wall time, peak RSS of it and its worker
    processes, sampled from /proc), on 250 k and on all patients, to show memory stays flat;
    each `--repeat` times, each time right after the bare scans, and the medians of the
    screen's time and of the runs' own ratios;
  - `calcinosis screen --engine spark` (local[2]) on the 100 k slice;
  - a naive baseline on the 10 k slice: parse every resource with fhir.resources, then assess
    the patients one by one; and the speed-up of the DuckDB screen over it, in patients/s.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import duckdb
import orjson

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SHARD = 10_000
AS_OF = "2026-01-01"


def main() -> int:
    args = _arguments()
    full = _export(args.data, args.patients, args.seed)
    print(f"export: {args.patients:,} patients, {_size(full) / 1e9:.2f} GB in {full}")
    sizes = sorted({min(250_000, args.patients), args.patients})
    duckdb_seconds = 0.0  # of the largest size, the last one
    for size in sizes:
        folder = _slice(full, size)
        runs = []
        for _ in range(args.repeat):  # this machine's speed drifts: scan and screen in turn
            scan, parse = _bare_scans(folder)
            seconds, peak = _measured(
                [
                    str(BIN / "calcinosis"),
                    "screen",
                    str(folder),
                    "--as-of",
                    AS_OF,
                    "--out",
                    str(folder.parent / f"worklist-{size}.csv"),
                ]
            )
            runs.append((seconds, scan, parse, peak))
            print(
                f"{size:>9,} patients  bare scan {scan:6.1f} s (read_json {parse:6.1f} s)  "
                f"DuckDB screen {seconds:6.1f} s  ratio {seconds / scan:5.2f} "
                f"(vs read_json {seconds / parse:4.2f})  peak RSS {peak / 2**20:6.0f} MiB"
            )
        # each run's ratio pairs a screen with the scans just before it, on the same spell of
        # the machine: their median cancels the drift that a median time would keep
        duckdb_seconds = statistics.median(r[0] for r in runs)
        if len(runs) > 1:
            ratio = statistics.median(r[0] / r[1] for r in runs)
            parsed = statistics.median(r[0] / r[2] for r in runs)
            print(
                f"{size:>9,} patients  median of {len(runs)} runs: DuckDB screen "
                f"{duckdb_seconds:.1f} s, ratio {ratio:.2f} (vs read_json {parsed:.2f}); "
                f"peak RSS at most {max(r[3] for r in runs) / 2**20:.0f} MiB"
            )
    if not args.skip_spark:
        size = min(100_000, args.patients)
        folder = _slice(full, size)
        seconds, peak = _measured(
            [
                str(BIN / "calcinosis"),
                "screen",
                str(folder),
                "--engine",
                "spark",
                "--as-of",
                AS_OF,
                "--out",
                str(folder.parent / f"worklist-spark-{size}.csv"),
            ]
        )
        print(
            f"{size:>9,} patients  Spark local[2] screen {seconds:6.1f} s "
            f"(incl. JVM start)  peak RSS {peak / 2**20:6.0f} MiB"
        )
    naive_size = min(10_000, args.patients)
    naive = _naive(_slice(full, naive_size))
    screen_rate = args.patients / duckdb_seconds  # the whole export's screen
    print(
        f"{naive_size:>9,} patients  naive baseline {naive:6.1f} s "
        f"({naive_size / naive:,.0f} patients/s); DuckDB screen {screen_rate:,.0f} patients/s: "
        f"{screen_rate / (naive_size / naive):.0f}x faster"
    )
    return 0


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--data", type=Path, default=Path(tempfile.gettempdir()) / "calcinosis-bench"
    )
    parser.add_argument("--skip-spark", action="store_true")
    parser.add_argument(
        "--repeat", type=int, default=3, help="DuckDB runs per size (the median is reported)"
    )
    return parser.parse_args()


def _export(data: Path, patients: int, seed: int) -> Path:
    folder = data / f"export-{patients}-{seed}"
    if not (folder / "synth.json").exists():
        folder.parent.mkdir(parents=True, exist_ok=True)
        print(f"building the export with calcinosis synth ({patients:,} patients) ...")
        started = time.perf_counter()
        subprocess.run(
            [
                str(BIN / "calcinosis"),
                "synth",
                "--patients",
                str(patients),
                "--out",
                str(folder),
                "--seed",
                str(seed),
                "--as-of",
                AS_OF,
                "--shard-size",
                str(SHARD),
                "--force",
            ],
            check=True,
        )
        print(f"built in {time.perf_counter() - started:.0f} s")
    return folder


def _slice(full: Path, patients: int) -> Path:
    """The first shards of the export, as a folder of links."""
    shards = -(-patients // SHARD)
    folder = full.parent / f"slice-{full.name}-{patients}"
    folder.mkdir(exist_ok=True)
    for path in full.glob("*.ndjson*"):
        index = int(path.name.split(".")[1])
        link = folder / path.name
        if index < shards and not link.exists():
            link.symlink_to(path)
    return folder


def _files(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.glob("*.ndjson*"))


def _size(folder: Path) -> int:
    return sum(Path(f).stat().st_size for f in _files(folder))


def _bare_scans(folder: Path) -> tuple[float, float]:
    """count(*) over every file: as lines (read_ndjson_objects), and parsed as JSON documents
    (read_json, one resource type at a time: one schema across all types needs far more
    memory than a machine like this has)."""
    files = _files(folder)
    con = duckdb.connect(config={"memory_limit": "8GB", "preserve_insertion_order": False})
    started = time.perf_counter()
    con.execute(f"SELECT count(*) FROM read_ndjson_objects({_sql_list(files)})").fetchall()
    lines = time.perf_counter() - started
    by_type: dict[str, list[str]] = defaultdict(list)
    for name in files:
        by_type[Path(name).name.split(".")[0]].append(name)
    started = time.perf_counter()
    try:
        for group in by_type.values():
            con.execute(
                f"SELECT count(*) FROM read_json({_sql_list(group)}, "
                "format = 'newline_delimited', maximum_object_size = 67108864)"
            ).fetchall()
        parsed = time.perf_counter() - started
    except duckdb.OutOfMemoryException:
        parsed = float("nan")  # DuckDB's JSON reader could not count them within 8 GB
    con.close()
    return lines, parsed


def _sql_list(files: list[str]) -> str:
    return "[" + ", ".join(f"'{f}'" for f in files) + "]"


def _measured(command: list[str]) -> tuple[float, int]:
    """Wall time and the peak total RSS of the command and all its descendants."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(process.pid))
            done.wait(0.2)

    sampler = threading.Thread(target=sample)
    sampler.start()
    code = process.wait()
    done.set()
    sampler.join()
    seconds = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"{' '.join(command)} failed with exit status {code}")
    return seconds, peak


def _tree_rss(root: int) -> int:
    children: dict[int, list[int]] = defaultdict(list)
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            status = (entry / "status").read_text()
        except OSError:
            continue
        children[int(fields[1])].append(int(entry.name))
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                rss[int(entry.name)] = int(line.split()[1]) * 1024
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, ()))
    return total


def _naive(folder: Path) -> float:
    """Parse every resource with fhir.resources (R4B models), group by patient, assess each."""
    sys.path.insert(0, str(ROOT / "src"))
    import datetime as dt

    from fhir.resources.R4B import get_fhir_model_class

    import calcinosis

    kb = calcinosis.load_knowledge()
    started = time.perf_counter()
    groups: dict[str, list[dict[str, object]]] = defaultdict(list)
    for name in _files(folder):
        with open(name, "rb") as lines:
            for line in lines:
                raw = orjson.loads(line)
                model = get_fhir_model_class(raw["resourceType"]).model_validate(raw)
                resource = model.model_dump(mode="json", by_alias=True, exclude_none=True)
                if resource["resourceType"] == "Patient":
                    key = str(resource["id"])
                else:
                    key = str(resource["subject"]["reference"]).rsplit("/", 1)[-1]
                groups[key].append(resource)
    day = dt.date.fromisoformat(AS_OF)
    for resources in groups.values():
        bundle = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": r} for r in resources],
        }
        with contextlib.suppress(calcinosis.CalcinosisError):
            calcinosis.assess_bundle(bundle, as_of=day, knowledge=kb)
    return time.perf_counter() - started


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    raise SystemExit(main())
