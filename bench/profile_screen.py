"""Where a DuckDB screen's time goes: the seconds at which each stage starts and ends.

    .venv/bin/python bench/profile_screen.py EXPORT_DIR [--as-of DATE] [--workers N]

Runs `calcinosis.screening.duck.screen` as `calcinosis screen` does and prints, from the start:
the end of narrowing (candidates known), the first and the last batch of candidates' resources
out of DuckDB (the gathering pass), the first batch judged, and the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

from calcinosis.core.knowledge import load_knowledge
from calcinosis.screening import duck
from calcinosis.screening.engine import Job
from calcinosis.screening.export import open_export
from calcinosis.screening.policy import load_policy


class _Clock:
    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.judged = False

    def say(self, what: str) -> None:
        print(f"{time.perf_counter() - self.started:7.2f} s  {what}", flush=True)


class _Stages:
    """Progress that prints when a phase starts and when the first verdicts come back."""

    def __init__(self, clock: _Clock) -> None:
        self.clock = clock

    def phase(self, name: str, total: int | None = None) -> None:
        self.clock.say(name + (f" ({total:,})" if total is not None else ""))

    def advance(self, done: int) -> None:
        if not self.clock.judged:
            self.clock.judged = True
            self.clock.say("first batch judged")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export")
    parser.add_argument("--as-of", default="2026-01-01")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    kb = load_knowledge()
    job = Job(dt.date.fromisoformat(args.as_of), kb, load_policy(kb))
    clock = _Clock()
    batches = duck._batches

    def timed(reader: Any) -> Iterator[list[tuple[str, list[str]]]]:
        first = True
        for batch in batches(reader):
            if first:
                clock.say("first batch of resources out of DuckDB")
                first = False
            yield batch
        clock.say("last batch of resources out of DuckDB")

    duck._batches = timed  # type: ignore[assignment]
    judged = duck.screen(open_export(args.export), job, _Stages(clock), args.workers)
    clock.say(f"done: {judged.patients:,} patients, {len(judged.verdicts):,} judged")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
