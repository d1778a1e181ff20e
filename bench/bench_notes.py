"""The clinic-note extractor: precision and recall per finding type on the hand-labelled notes,
and how long a 300-word note takes to read.

    make bench          (or: .venv/bin/python bench/bench_notes.py)

Two labelled sets, scored apart: the tuning notes (tests/data/notes/), on which the rules were
written and adjusted, so their figures are optimistic; and the held-out notes
(tests/data/notes-heldout/), never used to change the extractor or its knowledge, which estimate
how it reads notes it has not seen. Timing is the median of many extractions of a 300-word note
after warm-up (the phrase matchers remember short texts, so the note is long enough to be
matched afresh every time). Prints figures only.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from calcinosis.core.knowledge import load_knowledge  # noqa: E402
from calcinosis.core.notes import extract  # noqa: E402
from notes_scoring import NOTES, SETS, TYPES, labels, score  # noqa: E402

RUNS = 300


def three_hundred_words() -> str:
    words: list[str] = []
    lines: list[str] = []
    for path in sorted(NOTES.glob("twin-*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if len(words) >= 300:
                break
            lines.append(line)
            words += line.split()
    return "\n".join(lines)


def main() -> int:
    kb = load_knowledge()
    for name, folder in SETS.items():
        scores = score(kb, folder)
        print(f"{name} notes ({len(labels(folder))}, {folder.relative_to(ROOT)}):")
        print(f"{'finding type':<14}{'precision':>10}{'recall':>8}{'TP':>6}{'FP':>6}{'FN':>6}")
        for kind in TYPES:
            s = scores[kind]
            print(f"{kind:<14}{s.precision:>10.3f}{s.recall:>8.3f}{s.tp:>6}{s.fp:>6}{s.fn:>6}")
        print()
    note = three_hundred_words()
    for _ in range(20):
        extract(note, kb)
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        extract(note, kb)
        times.append(time.perf_counter() - start)
    words = len(note.split())
    print(
        f"extraction of a {words}-word note ({len(note)} characters), after warm-up: "
        f"median {statistics.median(times) * 1000:.2f} ms, "
        f"p95 {sorted(times)[int(RUNS * 0.95)] * 1000:.2f} ms over {RUNS} runs"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
