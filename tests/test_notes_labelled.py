"""The note extractor against the hand-labelled notes: an honest floor on precision and recall
per finding type (the figures themselves are printed by bench/bench_notes.py)."""

from __future__ import annotations

import pytest

from calcinosis.core.knowledge import load_knowledge
from notes_scoring import NOTES, TYPES, labels, score

FLOOR = 0.9


def test_there_are_at_least_30_varied_labelled_notes() -> None:
    names = set(labels())
    assert len(names) >= 30
    assert names <= {p.name for p in NOTES.iterdir()}
    assert any(name.endswith(".html") for name in names)


@pytest.mark.parametrize("kind", TYPES)
def test_precision_and_recall_floor(kind: str) -> None:
    s = score(load_knowledge())[kind]
    assert s.tp > 0
    assert s.precision >= FLOOR, s.extras
    assert s.recall >= FLOOR, s.misses
