"""How fast `calcinosis synth` writes, and whether its memory stays flat as the population grows.

    .venv/bin/python bench/bench_synth.py [--patients 100000] [--workers W] [--gzip] [--ladder]

Each run is a fresh interpreter (so peak RSS is that run's own) writing into a new temporary
directory, which is removed afterwards. Prints patients/s, resources/s, MB written and the peak
resident memory of the main process and of its busiest worker. CPU seconds (all processes,
start-up included) make the figures readable on a machine shared with other work. `--ladder`
repeats the run at a tenth, a third and the whole of --patients: flat peak RSS across the
ladder is the point. Figures only; nothing passes or fails on timing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

AS_OF = "2026-01-01"


def child(out: str, patients: int, workers: int, gzip: bool) -> None:
    """Inside the fresh interpreter: write the export, print one JSON line of figures."""
    from calcinosis.synth import Options, generate

    options = Options(
        out=Path(out),
        patients=patients,
        as_of=dt.date.fromisoformat(AS_OF),
        gzip=gzip,
        workers=workers,
    )
    started = time.perf_counter()
    summary = generate(options)
    seconds = time.perf_counter() - started
    own = resource.getrusage(resource.RUSAGE_SELF)
    workers_usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = own.ru_utime + own.ru_stime + workers_usage.ru_utime + workers_usage.ru_stime
    figures = {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "resources": sum(summary.resources.values()),
        "bytes": summary.bytes_written,
        "raw_bytes": summary.raw_bytes,
        "rss_main_mb": own.ru_maxrss / 1024,
        "rss_worker_mb": workers_usage.ru_maxrss / 1024,
    }
    print(json.dumps(figures))


def run(patients: int, workers: int, gzip: bool) -> dict[str, float]:
    scratch = Path(tempfile.mkdtemp(prefix="bench-synth-"))
    try:
        command = [sys.executable, __file__, "--child", str(scratch / "export")]
        command += ["--patients", str(patients), "--workers", str(workers)]
        command += ["--gzip"] if gzip else []
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
        return figures
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--gzip", action="store_true")
    parser.add_argument("--ladder", action="store_true")
    parser.add_argument("--child", metavar="OUT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.patients, args.workers, args.gzip)
        return 0
    sizes = [args.patients]
    if args.ladder:
        sizes = sorted({max(1, args.patients // 10), max(1, args.patients // 3), args.patients})
    kind = "gzip" if args.gzip else "plain"
    print(f"calcinosis synth: {kind} NDJSON, {args.workers} worker(s), as of {AS_OF}, seed 0")
    header = f"{'patients':>10} {'seconds':>8} {'patients/s':>11} {'resources/s':>12}"
    header += f" {'CPU s':>7} {'patients/CPU s':>15}"
    header += f" {'MB written':>11} {'MB raw':>8} {'RSS main MB':>12} {'RSS worker MB':>14}"
    print(header)
    for n in sizes:
        f = run(n, args.workers, args.gzip)
        print(
            f"{n:>10,} {f['seconds']:>8.1f} {n / f['seconds']:>11,.0f} "
            f"{f['resources'] / f['seconds']:>12,.0f} {f['cpu_seconds']:>7.1f} "
            f"{n / f['cpu_seconds']:>15,.0f} {f['bytes'] / 1e6:>11,.1f} "
            f"{f['raw_bytes'] / 1e6:>8,.1f} {f['rss_main_mb']:>12,.0f} {f['rss_worker_mb']:>14,.0f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
