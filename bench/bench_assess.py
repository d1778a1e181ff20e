"""How long one assessment takes next to merely parsing its JSON, and whether memory stays flat.

    make bench          (or: .venv/bin/python bench/bench_assess.py [--cold])

Reads every sample bundle in ../shared/dev-vignettes/bundles (relative to the repository's
parent), or the demo bundle shipped in the package when that directory is absent. Prints figures
only; nothing here passes or fails on timing.

Each bundle is assessed many times, so what the knowledge base remembers on use (phrase matches,
unit conversion plans, differential scores) is warm after the first run. `--cold` forgets it
before every assessment, for the figures of a record whose texts have never been seen.
"""

from __future__ import annotations

import datetime as dt
import gc
import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

import calcinosis

AS_OF = dt.date(2026, 1, 1)
SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "dev-vignettes" / "bundles"
DEMO = "seed-palanivel-2026.json"
WARM_UP = 20
TARGET_SECONDS = 0.25
MIN_RUNS, MAX_RUNS = 50, 5000
MEMORY_RUNS = 2000


@dataclass(frozen=True)
class Row:
    name: str
    kilobytes: float
    parse_us: float
    total_us: float
    engine_us: float | None

    @property
    def ratio(self) -> float:
        return self.total_us / self.parse_us


def load_inputs() -> tuple[str, list[tuple[str, bytes]]]:
    if SAMPLES.is_dir() and any(SAMPLES.glob("*.json")):
        files = sorted(SAMPLES.glob("*.json"))
        return str(SAMPLES), [(p.stem, p.read_bytes()) for p in files]
    data = resources.files("calcinosis.demo").joinpath(DEMO).read_bytes()
    return f"package demo ({DEMO}); {SAMPLES} not found", [(Path(DEMO).stem, data)]


def median_us(action: Callable[[], object]) -> float:
    """Median wall time of `action` in microseconds, after a warm-up, over enough runs."""
    for _ in range(WARM_UP):
        action()
    start = time.perf_counter()
    action()
    once = max(time.perf_counter() - start, 1e-7)
    runs = int(min(MAX_RUNS, max(MIN_RUNS, TARGET_SECONDS / once)))
    samples = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        action()
        samples.append(time.perf_counter_ns() - start)
    return statistics.median(samples) / 1000


def engine_only() -> Callable[[dict[str, Any], calcinosis.Knowledge], Callable[[], object]] | None:
    """A timer factory for the engine alone (case already built), if the split is importable."""
    try:
        from calcinosis.core.rules import assess
        from calcinosis.fhir.ingest import case_from_bundle
    except ImportError:
        return None

    def factory(bundle: dict[str, Any], kb: calcinosis.Knowledge) -> Callable[[], object]:
        case = case_from_bundle(bundle, kb)
        return lambda: assess(case, kb, AS_OF)

    return factory


def measure(name: str, data: bytes, kb: calcinosis.Knowledge, cold: bool) -> Row:
    bundle = orjson.loads(data)
    factory = engine_only()
    forget = kb.clear_caches if cold else (lambda: None)
    parse = median_us(lambda: orjson.loads(data))

    def total_run() -> object:
        forget()
        return calcinosis.assess_bundle(orjson.loads(data), as_of=AS_OF, knowledge=kb)

    total = median_us(total_run)
    engine: float | None = None
    if factory is not None:
        run = factory(bundle, kb)

        def engine_run() -> object:
            forget()
            return run()

        engine = median_us(engine_run)
    return Row(name, len(data) / 1024, parse, total, engine)


def memory_growth(data: bytes, kb: calcinosis.Knowledge) -> tuple[float, float, float]:
    """(peak RSS growth in KiB, net traced growth in KiB, traced peak in KiB) over the runs."""

    def once() -> None:
        calcinosis.assess_bundle(orjson.loads(data), as_of=AS_OF, knowledge=kb)

    for _ in range(WARM_UP):
        once()
    gc.collect()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(MEMORY_RUNS):
        once()
    rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before

    tracemalloc.start()
    once()
    gc.collect()
    base, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    for _ in range(MEMORY_RUNS):
        once()
    gc.collect()
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return float(rss_growth), (current - base) / 1024, (peak - base) / 1024


def print_table(rows: list[Row]) -> None:
    header = (
        f"{'bundle':<28} {'KB':>6} {'parse µs':>9} {'parse+assess µs':>16} "
        f"{'engine µs':>10} {'ratio':>6}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        engine = f"{row.engine_us:10.1f}" if row.engine_us is not None else f"{'n/a':>10}"
        print(
            f"{row.name[:28]:<28} {row.kilobytes:6.1f} {row.parse_us:9.1f} "
            f"{row.total_us:16.1f} {engine} {row.ratio:6.1f}"
        )
    print("-" * len(header))


def main() -> int:
    cold = "--cold" in sys.argv[1:]
    where, inputs = load_inputs()
    kb = calcinosis.load_knowledge()
    python = sys.version.split()[0]
    print(f"Calcinosis {calcinosis.__version__}, knowledge {kb.version}, Python {python}")
    print(f"Bundles: {where}; as of {AS_OF}; median of many runs after {WARM_UP} warm-up runs")
    print("ratio = (parse + assess) / parse;  engine = assess on an already-built case")
    print("caches: " + ("cleared before every assessment (--cold)" if cold else "warm") + "\n")
    rows: list[Row] = []
    for name, data in inputs:
        try:
            rows.append(measure(name, data, kb, cold))
        except calcinosis.CalcinosisError as exc:
            print(f"{name}: refused ({exc.code}): {exc.message}")
    if not rows:
        print("nothing was assessed")
        return 1
    print_table(rows)
    ratios = [row.ratio for row in rows]
    print(f"ratio: median {statistics.median(ratios):.1f}, max {max(ratios):.1f}")
    engines = [row.engine_us for row in rows if row.engine_us is not None]
    if engines:
        print(f"engine only: median {statistics.median(engines):.1f} µs, max {max(engines):.1f} µs")

    largest = max(inputs, key=lambda item: len(item[1]))
    rss, net, peak = memory_growth(largest[1], kb)
    print(f"\nMemory over {MEMORY_RUNS} assessments of {largest[0]} (after warm-up):")
    print(f"  peak RSS growth     {rss:10.0f} KiB   (resource.getrusage ru_maxrss)")
    print(f"  net traced growth   {net:10.1f} KiB   (tracemalloc; ~0 means nothing is kept)")
    print(f"  traced peak         {peak:10.1f} KiB   (the most held at once, above the start)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
