"""Calcinosis cutis type after the Reiter 2011 pathway, or `none`, or `undetermined`.

Order: is calcinosis there (or does another diagnosis explain the picture); calciphylaxis;
a calcium exposure (iatrogenic); abnormal calcium/phosphate (metastatic); normal metabolism
with local damage (dystrophic) or without it (idiopathic). Missing data means abstaining.
"""

from __future__ import annotations

from calcinosis.core.assessment import Basis, Classification
from calcinosis.core.knowledge import Knowledge, Rule
from calcinosis.core.rules.signals import Evidence


def classify(ev: Evidence, kb: Knowledge) -> Classification:
    c = kb.classification
    s = ev.signals
    _derive(ev, kb)

    for alt in c["alternatives"]:
        if alt.when.holds(s):
            return _result(ev, "none", f"No calcinosis cutis: {alt.summary}.", [alt])

    confirmed: Rule = c["confirmed"]
    likely: Rule = c["likely"]
    possible: Rule = c["possible"]
    if confirmed.when.holds(s):
        status, evidence_rule = "confirmed", confirmed
    elif likely.when.holds(s):
        status, evidence_rule = "likely", likely
    elif possible.when.holds(s):
        status, evidence_rule = "possible", possible
    else:
        return _result(
            ev,
            "none",
            "Nothing in the record points to calcinosis cutis (no calcified material, histology "
            "or imaging, and no clinical picture of it).",
            [confirmed],
        )
    ev.add(f"calcinosis:{status}", *ev.findings_for(evidence_rule.when.met(s)))
    ev.add("calcinosis:considered")
    lead = {
        "confirmed": "Calcinosis cutis is shown",
        "likely": "Calcinosis cutis is likely",
        "possible": "Calcinosis cutis is possible but not shown",
    }[status]

    for key in ("calciphylaxis-histology", "calciphylaxis-clinical"):
        rule: Rule = c[key]
        if rule.when.holds(s):
            return _result(
                ev,
                "calciphylaxis",
                f"Calciphylaxis: {rule.summary}. This is an emergency.",
                [evidence_rule, rule],
            )

    if status == "possible":
        return _result(
            ev,
            "undetermined",
            f"{lead}: the type cannot be told until calcinosis is confirmed and calcium, "
            "phosphate and renal function are known.",
            [evidence_rule],
        )

    iatrogenic: Rule = c["iatrogenic"]
    abnormal: Rule = c["metabolic-abnormal"]
    if iatrogenic.when.holds(s):
        extra = " Calcium or phosphate is also abnormal." if abnormal.when.holds(s) else ""
        return _result(
            ev,
            "iatrogenic",
            f"Iatrogenic calcinosis cutis: {iatrogenic.summary}.{extra}",
            [evidence_rule, iatrogenic],
        )
    if abnormal.when.holds(s):
        return _result(
            ev,
            "metastatic",
            f"Metastatic calcinosis cutis: {abnormal.summary}.",
            [evidence_rule, abnormal],
        )

    dystrophic: Rule = c["dystrophic"]
    risk: Rule = c["metabolic-risk"]
    normal: Rule = c["metabolic-normal"]
    metabolism_normal = ev.has("lab:metabolic-normal")
    damage = dystrophic.when.holds(s)
    if metabolism_normal and damage:
        return _result(
            ev,
            "dystrophic",
            f"Dystrophic calcinosis cutis: {normal.summary} and {dystrophic.summary}.",
            [evidence_rule, normal, dystrophic],
        )
    if damage and not risk.when.holds(s) and _partly_normal(ev, kb) and _strong_local(ev, kb):
        return _result(
            ev,
            "dystrophic",
            f"Dystrophic calcinosis cutis: {dystrophic.summary}; no metabolic disease is "
            "recorded and the available results are normal (complete the missing ones).",
            [evidence_rule, dystrophic],
        )
    idiopathic: Rule = c["idiopathic"]
    if metabolism_normal and not damage and not risk.when.holds(s):
        pattern = c["idiopathic-pattern"].holds(s)
        excluded = c["idiopathic-excluded"].holds(s) or ev.has("history:documented")
        if pattern or excluded:
            return _result(
                ev,
                "idiopathic",
                f"Idiopathic calcinosis cutis: {idiopathic.summary}.",
                [evidence_rule, normal, idiopathic],
            )
    if risk.when.holds(s) and not metabolism_normal:
        why = (
            "a metabolic cause is possible (kidney disease, hyperparathyroidism, vitamin D or "
            "calcium intake) but calcium and phosphate are not known"
        )
        return _result(ev, "undetermined", f"{lead}, but {why}.", [evidence_rule, risk])
    missing = []
    if not metabolism_normal:
        missing.append("serum calcium and phosphate")
    if not damage and not ev.has("history:documented"):
        missing.append("the history of local damage, connective-tissue disease and exposures")
    if not missing:
        missing.append("the history that would separate dystrophic from idiopathic")
    return _result(
        ev,
        "undetermined",
        f"{lead}, but the type cannot be told without {' and '.join(missing)}.",
        [evidence_rule],
    )


def _derive(ev: Evidence, kb: Knowledge) -> None:
    """Signals that several rule files share: metabolism, calciphylaxis picture, CTD."""
    c = kb.classification
    s = ev.signals
    skin = [x for x in c["calciphylaxis-skin"] if x in s]
    if skin:
        ev.add("calciphylaxis:skin-picture", *ev.findings_for(skin))
    risk = [x for x in c["calciphylaxis-risk"] if x in s]
    if risk:
        ev.add("calciphylaxis:risk", *ev.findings_for(risk))
    if c["calciphylaxis-clinical"].when.holds(s):
        ev.add("calciphylaxis:clinical", *ev.findings_for(skin + risk))
    abnormal: Rule = c["metabolic-abnormal"]
    if abnormal.when.holds(s):
        ev.add("lab:metabolic-abnormal", *ev.findings_for(abnormal.when.met(s)))
    else:
        normal = [f"lab:{a}:normal" for a in kb.groups["calcium-analytes"]]
        if any(ev.has(x) for x in normal) and ev.has("lab:phosphate:normal"):
            ev.add("lab:metabolic-normal", *ev.findings_for([*normal, "lab:phosphate:normal"]))
    if c["metabolic-risk"].when.holds(s):
        ev.add("metabolic:risk", *ev.findings_for(c["metabolic-risk"].when.met(s)))
    if c["iatrogenic"].when.holds(s):
        ev.add("iatrogenic:exposure", *ev.findings_for(c["iatrogenic"].when.met(s)))
    if c["dystrophic"].when.holds(s):
        ev.add("damage:any", *ev.findings_for(c["dystrophic"].when.met(s)))
    ctd = [x for x in kb.groups["connective-tissue-disease"] if x in s]
    if ctd:
        ev.add("ctd:known", *ev.findings_for(ctd))


def _partly_normal(ev: Evidence, kb: Knowledge) -> bool:
    """At least one of calcium/phosphate normal, none abnormal, kidneys not failing."""
    analytes = (*kb.groups["calcium-analytes"], "phosphate")
    some_normal = any(ev.has(f"lab:{a}:normal") for a in analytes)
    kidneys_ok = not ev.has("calc:egfr-kidney-failure") and not ev.has("lab:creatinine:high")
    return some_normal and kidneys_ok and not ev.has("lab:metabolic-abnormal")


def _strong_local(ev: Evidence, kb: Knowledge) -> bool:
    """A documented local cause; acne counts only at acne sites (the derived damage:acne)."""
    return ev.has("damage:acne") or any(ev.has(x) for x in kb.groups["strong-local-cause"])


def _result(ev: Evidence, kind: str, summary: str, rules: list[Rule]) -> Classification:
    ev.add(f"type:{kind}")
    signals = [x for r in rules for x in r.when.met(ev.signals)]
    if kind in ("dystrophic", "idiopathic"):
        signals += ["lab:metabolic-normal", "lab:calcium:normal", "lab:phosphate:normal"]
    if kind == "metastatic":
        signals += ["lab:metabolic-abnormal"]
    citations = tuple(dict.fromkeys(c for r in rules for c in r.citations))
    return Classification(
        type=kind,
        summary=summary,
        basis=Basis(ev.findings_for(signals), tuple(r.id for r in rules), citations),
    )
