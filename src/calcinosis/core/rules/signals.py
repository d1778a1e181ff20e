"""Turn a Case into the signals the rules read, each with the findings that support it.

A signal is a short string: a concept id ("acne"), its denial ("absent:pain"), or a derived
fact ("lab:phosphate:high", "lesion:persistent", "med:isotretinoin:failed", "age:child").
Thresholds come from the knowledge base by key.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from calcinosis.core.assessment import Finding, Statement
from calcinosis.core.case import Case, LabResult
from calcinosis.core.knowledge import Knowledge


@dataclass
class Evidence:
    """Signals with their supporting findings, plus the numbers the statements report.

    Each signal's findings are kept in order without repeats, as the basis lists them: a dict
    keyed by (reference, summary), which is what makes two findings equal and hashes in C.
    """

    signals: set[str] = field(default_factory=set)
    support: dict[str, dict[tuple[str, str], Finding]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    latest: dict[str, LabResult] = field(default_factory=dict)
    age_years: float | None = None
    calculations: list[Statement] = field(default_factory=list)
    calc_values: dict[str, float] = field(default_factory=dict)

    def add(self, signal: str, *findings: Finding) -> None:
        self.signals.add(signal)
        bucket = self.support[signal]
        for f in findings:
            bucket.setdefault((f.reference, f.summary), f)

    def has(self, signal: str) -> bool:
        return signal in self.signals

    def findings_for(self, signals: Iterable[str]) -> tuple[Finding, ...]:
        support = self.support
        out: dict[tuple[str, str], Finding] = {}
        for s in signals:
            bucket = support.get(s)
            if bucket:
                out.update(bucket)  # an equal finding already there keeps its place
        return tuple(out.values())

    def supporting(self, signal: str) -> tuple[Finding, ...]:
        """The findings behind one signal (none if it is absent)."""
        bucket = self.support.get(signal)
        return tuple(bucket.values()) if bucket else ()


def gather(case: Case, kb: Knowledge, as_of: dt.date) -> Evidence:
    ev = Evidence()
    _facts(case, ev)
    _patient(case, kb, as_of, ev)
    _medications(case, kb, ev)
    _labs(case, kb, as_of, ev)
    _lesions(case, kb, ev)
    _acne_history(case, kb, as_of, ev)
    return ev


def _facts(case: Case, ev: Evidence) -> None:
    # Evidence.add spelled out: this loop runs once per fact, the hottest in the engine
    signals, support = ev.signals, ev.support
    for fact in case.facts:
        concept, finding = fact.concept, fact.finding
        key = (finding.reference, finding.summary)
        if not fact.present:
            signal = "absent:" + concept
        elif fact.uncertain:
            signal = "uncertain:" + concept
        else:
            signal = concept
        signals.add(signal)
        support[signal].setdefault(key, finding)
        if finding.reference.startswith("Condition/") or concept.startswith("absent"):
            signals.add("history:documented")
            support["history:documented"].setdefault(key, finding)
    for concept in ("trauma", "scar", "acne"):
        if ev.has(f"absent:{concept}"):
            ev.add("history:documented", *ev.supporting(f"absent:{concept}"))


def _patient(case: Case, kb: Knowledge, as_of: dt.date, ev: Evidence) -> None:
    ev.add(f"sex:{case.sex}")
    days: float | None = None
    if case.birth_date is not None:
        days = float((as_of - case.birth_date).days)
    elif case.age_range_years is not None:
        year_days = kb.derived.year_days
        days = (case.age_range_years[0] + case.age_range_years[1]) / 2 * year_days
    if days is None or days < 0:
        ev.add("age:unknown")
        return
    year = kb.derived.year_days
    ev.age_years = days / year
    if case.birth_date is not None:
        # whole years by the calendar, as clinicians and the CKD-EPI references count them
        born = case.birth_date
        before_birthday = (as_of.month, as_of.day) < (born.month, born.day)
        ev.age_years = float(as_of.year - born.year - before_birthday)
    neonate = kb.derived.neonate_days
    infant = kb.threshold("infant-age") * year
    adult = kb.threshold("adult-age") * year
    if days < neonate:
        ev.add("age:neonate")
    if days < infant:
        ev.add("age:infant")
    ev.add("age:adult" if days >= adult else "age:child")


# The recorded responses that make a treatment's `failed` and `partial` signals.
NO_RESPONSE, PARTIAL = "no response", "partial"


def _medications(case: Case, kb: Knowledge, ev: Evidence) -> None:
    adequate_days = kb.derived.isotretinoin_adequate_days
    for med in case.medications:
        if med.concepts:
            ev.add("history:documented", med.finding)
        for concept in sorted(med.concepts):
            ev.add(f"med:{concept}", med.finding)
            if med.response == NO_RESPONSE:
                days = (
                    float((med.end - med.start).days)
                    if med.start is not None and med.end is not None
                    else med.duration_days
                )
                short = concept == "isotretinoin" and days is not None and days < adequate_days
                ev.add(f"med:{concept}:{'short-course' if short else 'failed'}", med.finding)
            elif med.response in (PARTIAL, "responded"):
                ev.add(f"med:{concept}:{med.response}", med.finding)


def _labs(case: Case, kb: Knowledge, as_of: dt.date, ev: Evidence) -> None:
    for lab in case.labs:
        current = ev.latest.get(lab.analyte)
        if current is None or (lab.when or dt.date.min) >= (current.when or dt.date.min):
            ev.latest[lab.analyte] = lab
    stale_days = kb.threshold("recent-lab")
    child = ev.has("age:child")
    for analyte_id, lab in ev.latest.items():
        analyte = kb.analytes[analyte_id]
        f = lab.finding
        ev.add(f"lab:{analyte_id}:known", f)
        if lab.when is not None and (as_of - lab.when).days > stale_days:
            ev.add("lab:stale", f)
        if lab.value is not None:
            ev.add(f"lab:{analyte_id}:value", f)
        judgement = _judge(lab, analyte.low, analyte.high, child)
        if judgement is not None:
            ev.add(f"lab:{analyte_id}:{judgement}", f)
        if lab.value is not None or judgement is not None:
            ev.add(f"lab:{analyte_id}:usable", f)


def _judge(lab: LabResult, low: float | None, high: float | None, child: bool) -> str | None:
    """Report range first, then the lab's flag, then adult defaults (never for children)."""
    if lab.value is not None and (lab.low is not None or lab.high is not None):
        return _against(lab.value, lab.low, lab.high)
    if lab.flag is not None:
        return lab.flag
    if lab.value is not None and not child:
        return _against(lab.value, low, high)
    return None


def _against(value: float, low: float | None, high: float | None) -> str:
    if high is not None and value > high:
        return "high"
    if low is not None and value < low:
        return "low"
    return "normal"


# The lesion signals that follow from the consistencies the record gives (fhir/ingest.py
# reads them from concepts); screening traces the signals back through this table.
HARD_OR_FIRM = frozenset({"hard", "firm"})
LESION_CONSISTENCY = {"lesion:hard-or-firm": HARD_OR_FIRM, "lesion:soft": frozenset({"soft"})}


def _lesions(case: Case, kb: Knowledge, ev: Evidence) -> None:
    les = case.lesions
    findings = les.findings
    consistency = set(les.consistency)
    for kind in consistency:
        ev.add(f"lesion:{kind}", *findings)
    if consistency & HARD_OR_FIRM:
        ev.add("lesion:hard-or-firm", *findings)
    if consistency & LESION_CONSISTENCY["lesion:soft"] and not consistency & HARD_OR_FIRM:
        ev.add("lesion:soft", *findings)
    year = kb.derived.year_days
    persistent = kb.threshold("persistent-lesion-duration") * year
    if les.duration_days is not None and les.duration_days >= persistent:
        ev.add("lesion:persistent", *findings)
    elif les.duration_days is None and ev.has("persistent"):
        ev.add("lesion:persistent", *ev.supporting("persistent"))
    if les.count == 1 or (les.count is None and ev.has("single-lesion")):
        ev.add("lesion:single", *findings)
    elif les.count is not None and les.count >= kb.threshold("many-lesions"):
        ev.add("lesion:many", *findings)
    if les.size_mm_high is not None and les.size_mm_high <= kb.threshold("small-lesion-size"):
        ev.add("lesion:small", *findings)
    sites = set(les.sites) or {s for s in ev.signals if s.startswith("sites-")}
    site_findings = ev.findings_for(sorted(sites))
    head = bool(sites & set(kb.groups["head-sites"]))
    if sites & set(kb.groups["face-sites"]):
        ev.add("site:face", *site_findings)
    if not sites or sites & set(kb.groups["acne-sites"]):
        ev.add("site:acne-prone-or-unknown", *site_findings)
    if sites and not head:
        ev.add("site:not-face", *site_findings)
    if ev.has("age:child") and head and ev.has("lesion:single"):
        ev.add("scn:pattern", *site_findings, *findings)


def _acne_history(case: Case, kb: Knowledge, as_of: dt.date, ev: Evidence) -> None:
    if not ev.has("acne"):
        return
    long_years = kb.threshold("long-acne-history")
    long_days = long_years * kb.derived.year_days
    acne_facts = [f for f in case.facts if f.concept == "acne" and f.present]
    for fact in acne_facts:
        if fact.onset is not None and (as_of - fact.onset).days >= long_days:
            ev.add("acne:long-history", fact.finding)
    # acne since the teens counts as long once the patient is that many years past adulthood
    youth = ev.has("onset-in-youth") or any(
        _is_youth(f.onset_text, kb) for f in acne_facts if f.onset is None
    )
    if (
        youth
        and ev.age_years is not None
        and ev.age_years >= kb.threshold("adult-age") + long_years
    ):
        ev.add("acne:long-history", *ev.supporting("onset-in-youth"), *ev.supporting("acne"))
    if ev.has("site:acne-prone-or-unknown"):
        ev.add("damage:acne", *ev.supporting("acne"))


def _is_youth(onset_text: str, kb: Knowledge) -> bool:
    hits = kb.findings_matcher.find(onset_text) if onset_text else []
    return any(h.concept == "onset-in-youth" and h.affirmed for h in hits)
