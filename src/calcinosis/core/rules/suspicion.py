"""DCC suspicion behind comedones in acne patients (Palanivel 2026 pathway)."""

from __future__ import annotations

from calcinosis.core.assessment import Basis, Suspicion
from calcinosis.core.knowledge import Knowledge, Rule
from calcinosis.core.rules.signals import Evidence

_ORDER = ("low", "moderate", "high")


def judge_suspicion(ev: Evidence, kb: Knowledge) -> Suspicion:
    cfg = kb.suspicion
    applies: Rule = cfg["applies"]
    if not applies.when.holds(ev.signals):
        return Suspicion(
            level="not-applicable",
            summary="No acne history is recorded: DCC suspicion behind comedones does not apply.",
            basis=Basis((), (applies.id,), applies.citations),
        )
    fired: list[Rule] = [applies]
    pillars = [r for r in cfg["pillars"] if r.when.holds(ev.signals)]
    supporting = [r for r in cfg["supporting"] if r.when.holds(ev.signals)]
    lowering = [r for r in cfg["lowering"] if r.when.holds(ev.signals)]
    levels = cfg["levels"]
    if len(pillars) >= levels["high_pillars"] or any(r.data.get("decisive") for r in pillars):
        level = "high"
    elif (
        len(pillars) >= levels["moderate_pillars"]
        or len(supporting) >= levels["moderate_supporting"]
    ):
        level = "moderate"
    else:
        level = "low"
    for rule in lowering:
        cap = rule.data.get("cap")
        if cap in _ORDER:
            level = _ORDER[min(_ORDER.index(level), _ORDER.index(cap))]
        else:
            level = _ORDER[max(0, _ORDER.index(level) - 1)]
    fired += pillars + supporting + lowering
    parts = [f"{level.capitalize()} suspicion of dystrophic calcinosis cutis behind the comedones"]
    if pillars:
        parts.append("for: " + "; ".join(r.summary for r in pillars + supporting))
    elif supporting:
        parts.append("supporting: " + "; ".join(r.summary for r in supporting))
    else:
        parts.append("acne history without the features that point to calcification")
    if lowering:
        parts.append("against: " + "; ".join(r.summary for r in lowering))
    summary = ". ".join(p[0].upper() + p[1:] for p in parts) + "."
    signals = [s for r in fired for s in r.when.met(ev.signals)]
    citations = tuple(dict.fromkeys(c for r in fired for c in r.citations))
    return Suspicion(
        level=level,
        summary=summary,
        basis=Basis(ev.findings_for(signals), tuple(r.id for r in fired), citations),
    )
