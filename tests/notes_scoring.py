"""Scoring the note extractor against hand-labelled notes: the tuning notes of
tests/data/notes/ and the held-out notes of tests/data/notes-heldout/, each with its labels.yaml.

Shared by tests/test_notes_labelled.py (which asserts floors) and bench/bench_notes.py (which
prints the tables). Each note's findings and labels are turned into sets of keys per type.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from calcinosis.core.knowledge import Knowledge
from calcinosis.core.notes import NoteFinding, extract, html_to_text

DATA = Path(__file__).resolve().parent / "data"
NOTES = DATA / "notes"  # tuning: the rules were written and adjusted on these
HELD_OUT = DATA / "notes-heldout"  # never used to change the extractor or its knowledge
SETS = {"tuning": NOTES, "held-out": HELD_OUT}
TYPES = ("findings", "medications", "labs", "counts", "durations")


def labels(folder: Path = NOTES) -> dict[str, dict[str, list[Any]]]:
    data: dict[str, dict[str, list[Any]]] = yaml.safe_load(
        (folder / "labels.yaml").read_text(encoding="utf-8")
    )
    return data


def note_text(name: str, folder: Path = NOTES) -> str:
    raw = (folder / name).read_text(encoding="utf-8")
    return html_to_text(raw) if name.endswith(".html") else raw


def _number(value: float) -> str:
    return f"{value:g}"


def _lab_key(label: str) -> str:
    """A lab label with its number written as the extractor's keys write it ("1.0" -> "1")."""
    words = label.split()
    for i, word in enumerate(words):
        try:
            words[i] = _number(float(word))
        except ValueError:
            continue
    return " ".join(words)


def keys(found: Iterable[NoteFinding]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {t: set() for t in TYPES}
    for f in found:
        if f.kind == "finding":
            polarity = "present" if f.status in ("affirmed", "historical") else f.status
            out["findings"].add(f"{f.concept} {polarity}")
        elif f.kind == "medication":
            if f.status == "negated":
                what = "not-taken"
            elif f.status in ("other-person", "uncertain"):
                what = f.status
            else:
                what = f.response or "unknown"
            out["medications"].add(f"{f.concept} {what}")
        elif f.kind == "lab":
            parts = [f.concept]
            if f.value is not None:
                parts.append(_number(f.value))
                if f.unit:
                    parts.append(f.unit)
            if f.flag:
                parts.append(f.flag)
            out["labs"].add(" ".join(parts))
        elif f.kind == "lesion-count":
            out["counts"].add(str(f.count) if f.count is not None else f.count_text)
        elif f.kind == "lesion-duration" and f.duration_days is not None:
            out["durations"].add(str(round(f.duration_days)))
    return out


def expected_keys(label: Mapping[str, list[Any]]) -> dict[str, set[str]]:
    out = {t: {str(v) for v in label.get(t) or []} for t in TYPES}
    out["labs"] = {_lab_key(v) for v in out["labs"]}
    out["durations"] = {str(round(float(v))) for v in label.get("durations") or []}
    return out


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    misses: list[str] = field(default_factory=list)
    extras: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def score(kb: Knowledge, folder: Path = NOTES) -> dict[str, Score]:
    scores = {t: Score() for t in TYPES}
    for name, label in labels(folder).items():
        got = keys(extract(note_text(name, folder), kb).findings)
        want = expected_keys(label)
        for t in TYPES:
            s = scores[t]
            s.tp += len(got[t] & want[t])
            s.fp += len(got[t] - want[t])
            s.fn += len(want[t] - got[t])
            s.misses += [f"{name}: {k}" for k in sorted(want[t] - got[t])]
            s.extras += [f"{name}: {k}" for k in sorted(got[t] - want[t])]
    return scores
