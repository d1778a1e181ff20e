"""Ranked differential: catalogue entries scored by the signals for and against them."""

from __future__ import annotations

from calcinosis.core.assessment import Basis, Statement
from calcinosis.core.knowledge import Knowledge
from calcinosis.core.rules.signals import Evidence


def rank_differential(ev: Evidence, kb: Knowledge) -> tuple[Statement, ...]:
    scored = []
    for order, entry in enumerate(kb.differential):
        weights_for = entry.data.get("for") or {}
        weights_against = entry.data.get("against") or {}
        pro = [s for s in weights_for if s in ev.signals]
        con = [s for s in weights_against if s in ev.signals]
        score = float(entry.data.get("prior", 0.0))
        score += sum(float(weights_for[s]) for s in pro)
        score -= sum(float(weights_against[s]) for s in con)
        scored.append((-round(score, 6), order, entry, pro, con))
    scored.sort(key=lambda item: (item[0], item[1]))
    out = []
    for rank, (_, _, entry, pro, con) in enumerate(scored[: kb.differential_top], start=1):
        label = str(entry.data.get("label") or entry.summary)
        # the label travels beside the summary, so the summary gives only the reasons
        parts = []
        if pro:
            parts.append("For: " + ", ".join(_readable(s, kb) for s in pro))
        if con:
            parts.append("Against: " + ", ".join(_readable(s, kb) for s in con))
        if not parts:
            parts.append("No specific finding for or against; listed for completeness")
        out.append(
            Statement(
                id=entry.id,
                summary=". ".join(parts) + ".",
                basis=Basis(ev.findings_for(pro + con), (entry.id,), entry.citations),
                extra=(("label", label), ("rank", rank)),
            )
        )
    return tuple(out)


def _readable(signal: str, kb: Knowledge) -> str:
    """A short human phrase for a signal id."""
    negated = signal.startswith("absent:")
    key = signal.split(":", 1)[1] if negated else signal
    concept = kb.concepts.get(key)
    if concept is not None:
        text = concept.label
    elif key.startswith("type:"):
        text = f"classified as {key[5:]}"
    elif key.startswith("suspicion:"):
        text = f"{key[10:]} DCC suspicion"
    elif key.startswith("med:") or key.startswith("lab:"):
        text = key[4:].replace(":", " ").replace("-", " ")
    else:
        text = key.replace(":", " ").replace("-", " ")
    return f"no {text}" if negated else text
