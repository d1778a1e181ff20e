"""Ranked differential: catalogue entries scored by the signals for and against them."""

from __future__ import annotations

from calcinosis.core.assessment import Basis, Statement
from calcinosis.core.knowledge import (
    DifferentialOutcome,
    DifferentialRanking,
    Knowledge,
    ScoredEntry,
)
from calcinosis.core.rules.signals import Evidence

_MEMO_SIZE = 4096  # per entry; an entry weighing k signals has at most 2**k outcomes
_RANKINGS_SIZE = 4096  # whole rankings remembered; a population repeats a few pictures


def rank_differential(ev: Evidence, kb: Knowledge) -> tuple[Statement, ...]:
    derived = kb.derived
    bits = derived.differential_bits
    present = 0
    for signal in ev.signals & derived.differential_signals:
        present |= bits[signal]
    # the ranking is a pure function of the weighed signals present, so it is kept whole
    rankings = derived.differential_rankings
    ranked = rankings.get(present)
    if ranked is None:
        ranked = _rank(present, kb)
        if len(rankings) < _RANKINGS_SIZE:
            rankings[present] = ranked
    out = []
    entries = derived.differential
    for rank, (order, reasons, summary) in enumerate(ranked, 1):
        entry = entries[order]
        rule = entry.rule
        out.append(
            Statement(
                id=rule.id,
                summary=summary,
                basis=Basis(ev.findings_for(reasons), (rule.id,), rule.citations),
                extra=(("label", entry.label), ("rank", rank)),
            )
        )
    return tuple(out)


def _rank(present: int, kb: Knowledge) -> DifferentialRanking:
    """The top entries (position in the catalogue, reasons, summary), best first."""
    scored = []
    for order, entry, memo in kb.derived.differential_slots:
        weighed = present & entry.mask
        outcome = memo.get(weighed)
        if outcome is None:
            outcome = _score(entry, weighed, kb)
            if len(memo) < _MEMO_SIZE:
                memo[weighed] = outcome
        scored.append((outcome[0], order, outcome))  # `order` is unique: ties never go further
    scored.sort()
    return tuple(
        (order, reasons, summary)
        for _, order, (_, reasons, summary) in scored[: kb.differential_top]
    )


def _score(entry: ScoredEntry, weighed: int, kb: Knowledge) -> DifferentialOutcome:
    """Sort key, the signals for then against, and the summary, for one set of present signals.

    A pure function of the entry and the bits present, so rank_differential keeps it per entry.
    """
    bits = kb.derived.differential_bits
    pro = [s for s in entry.pro if bits[s] & weighed]
    con = [s for s in entry.con if bits[s] & weighed]
    # the same sums in the same order as the data lists them, so ties break the same way
    score = entry.prior
    score += sum(entry.pro[s] for s in pro)
    score -= sum(entry.con[s] for s in con)
    # the label travels beside the summary, so the summary gives only the reasons
    parts = []
    if pro:
        parts.append("For: " + ", ".join(_readable(s, kb) for s in pro))
    if con:
        parts.append("Against: " + ", ".join(_readable(s, kb) for s in con))
    if not parts:
        parts.append("No specific finding for or against; listed for completeness")
    return -round(score, 6), (*pro, *con), ". ".join(parts) + "."


def _readable(signal: str, kb: Knowledge) -> str:
    """How a clinician reads a signal (knowledge/signals.yaml and the value sets' labels)."""
    return kb.signal_labels.get(signal, signal)
