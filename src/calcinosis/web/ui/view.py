"""A stored report -> plain data for the report templates (web page and PDF alike).

Templates only lay out what this module decides: wording of levels and types, which citations a
statement links to, and which links are safe to print (DOI and PubMed links are built here from
the identifiers; a citation URL is kept only when it is http or https).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from calcinosis.core.assessment import (
    Assessment,
    Basis,
    Citation,
    Classification,
    Finding,
    MissingData,
    Statement,
    Suspicion,
)
from calcinosis.core.knowledge import Knowledge
from calcinosis.web.reports import StoredReport

SUSPICION_LABELS = {
    "high": "High",
    "moderate": "Moderate",
    "low": "Low",
    "not-applicable": "Not applicable",
}
SUSPICION_NOTES = {
    "not-applicable": "No acne history is recorded, so the acne pathway does not apply."
}
TYPE_LABELS = {
    "dystrophic": "Dystrophic calcinosis cutis",
    "metastatic": "Metastatic calcinosis cutis",
    "idiopathic": "Idiopathic calcinosis cutis",
    "iatrogenic": "Iatrogenic calcinosis cutis",
    "calciphylaxis": "Calciphylaxis",
    "none": "No calcinosis cutis",
    "undetermined": "Undetermined",
}
TYPE_NOTES = {
    "undetermined": "Calcinosis is present or likely, but the data cannot tell the type yet; "
    "see Missing data for what would decide it.",
}
CALCULATION_LABELS = {
    "corrected-calcium": "Albumin-corrected calcium",
    "calcium-phosphate-product": "Calcium × phosphate product",
    "egfr-ckd-epi-2021": "eGFR (CKD-EPI 2021)",
}
SOURCE_LABELS = {
    "upload": "Uploaded FHIR Bundle",
    "paste": "Pasted FHIR Bundle",
    "form": "Structured case form",
    "api": "REST API",
}
_ID_CHARS = 8


@dataclass(frozen=True)
class CitationView:
    id: str
    text: str
    doi: str | None
    doi_path: str | None
    """The DOI quoted for a URL path; the template puts the resolver in front."""
    pmid: str | None
    url: str | None


@dataclass(frozen=True)
class FindingView:
    summary: str
    reference: str
    short_reference: str
    quote: str = ""  # the note's sentence, when the finding is a span of a clinic note
    span: str = ""  # "characters 32-86"


@dataclass(frozen=True)
class RuleView:
    id: str
    summary: str


@dataclass(frozen=True)
class BasisView:
    findings: tuple[FindingView, ...]
    rules: tuple[RuleView, ...]
    citations: tuple[CitationView, ...]

    @property
    def counts(self) -> str:
        """ "3 findings, 2 rules, 4 sources": what the collapsed basis holds."""
        parts = [(len(self.findings), "finding"), (len(self.rules), "rule")]
        parts.append((len(self.citations), "source"))
        return ", ".join(f"{n} {word}{'' if n == 1 else 's'}" for n, word in parts)


@dataclass(frozen=True)
class StatementView:
    anchor: str
    summary: str
    basis: BasisView
    title: str = ""
    value: str = ""
    rank: int | None = None
    evidence_level: str = ""


@dataclass(frozen=True)
class HeadlineView:
    code: str
    label: str
    note: str
    statement: StatementView


@dataclass(frozen=True)
class ReportView:
    id: str
    source: str
    patient: str
    as_of: str
    knowledge_version: str
    suspicion: HeadlineView
    calcinosis: HeadlineView
    warnings: tuple[StatementView, ...]
    missing_data: tuple[MissingData, ...]
    differential: tuple[StatementView, ...]
    calculations: tuple[StatementView, ...]
    workup: tuple[StatementView, ...]
    management: tuple[StatementView, ...]
    follow_up: tuple[StatementView, ...]
    citations: tuple[CitationView, ...]

    @property
    def pdf_filename(self) -> str:
        """Names the date, never the patient."""
        return f"calcinosis-report-{self.as_of or 'undated'}.pdf"


def report_view(report: StoredReport, kb: Knowledge) -> ReportView:
    """`kb` only names the rules; a report made with another knowledge version shows bare ids."""
    a = report.assessment
    b = _BasisMaker({c.id: citation_view(c) for c in a.citations}, kb, a.knowledge_version)

    def statements(section: str, items: tuple[Statement, ...]) -> tuple[StatementView, ...]:
        return tuple(_statement(f"{section}-{i}", s, b) for i, s in enumerate(items, 1))

    return ReportView(
        id=report.id,
        source=_source_label(report.source),
        patient=_patient_line(a),
        as_of=a.as_of,
        knowledge_version=a.knowledge_version,
        suspicion=_headline("suspicion", a.dcc_suspicion, b),
        calcinosis=_headline("type", a.calcinosis, b),
        warnings=statements("warning", a.warnings),
        missing_data=a.missing_data,
        differential=statements("differential", a.differential),
        calculations=statements("calculation", a.calculations),
        workup=statements("workup", a.workup),
        management=statements("management", a.management),
        follow_up=statements("follow-up", a.follow_up),
        citations=tuple(b.citations.values()),
    )


def citation_view(c: Citation) -> CitationView:
    url = c.url if c.url and urlsplit(c.url).scheme in ("http", "https") else None
    doi_path = quote(c.doi, safe="/:;()._-") if c.doi else None
    pmid = c.pmid if c.pmid and c.pmid.isdigit() else None
    return CitationView(c.id, c.text, c.doi, doi_path, pmid, url)


def _headline(anchor: str, s: Suspicion | Classification, b: _BasisMaker) -> HeadlineView:
    if isinstance(s, Suspicion):
        code, label, note = s.level, SUSPICION_LABELS.get(s.level, s.level), SUSPICION_NOTES
    else:
        code, label, note = s.type, TYPE_LABELS.get(s.type, s.type), TYPE_NOTES
    statement = StatementView(anchor, s.summary, b.basis(s.basis))
    return HeadlineView(code, label, note.get(code, ""), statement)


def _statement(anchor: str, s: Statement, b: _BasisMaker) -> StatementView:
    """Differential entries are titled by their label, calculations by their name."""
    value = s.get("value")
    unit = s.get("unit")
    rank = s.get("rank")
    return StatementView(
        anchor=anchor,
        summary=s.summary,
        basis=b.basis(s.basis),
        title=str(
            s.get("label") or (CALCULATION_LABELS.get(s.id, s.id) if value is not None else "")
        ),
        value=f"{value} {unit or ''}".strip() if value is not None else "",
        rank=rank if isinstance(rank, int) else None,
        evidence_level=str(s.get("evidence_level") or ""),
    )


class _BasisMaker:
    def __init__(self, citations: dict[str, CitationView], kb: Knowledge, version: str) -> None:
        self.citations = citations
        self.rules = kb.rules if kb.version == version else {}

    def basis(self, basis: Basis) -> BasisView:
        def rule(rid: str) -> RuleView:
            known = self.rules.get(rid)
            return RuleView(rid, known.summary if known else "")

        def cite(cid: str) -> CitationView:
            return self.citations.get(cid) or CitationView(cid, cid, None, None, None, None)

        return BasisView(
            findings=tuple(_finding(f) for f in basis.findings),
            rules=tuple(rule(r) for r in basis.rules),
            citations=tuple(cite(c) for c in basis.citations),
        )


def _finding(f: Finding) -> FindingView:
    kind, _, ident = f.reference.rpartition("/")
    short = ident if len(ident) <= _ID_CHARS + 4 else ident[:_ID_CHARS] + "…"
    shown = f"{kind}/{short}" if kind else short
    note = _NOTE_SPAN.match(f.reference)
    if note and f.summary.startswith(_NOTE_PREFIX):
        quote = f.summary[len(_NOTE_PREFIX) :].removesuffix('"')
        where = f"characters {note['start']}-{note['end']}"
        if note["part"]:
            where = f"attachment {int(note['part']) + 1}, {where}"
        return FindingView(f.summary, f.reference, shown, quote, where)
    return FindingView(f.summary, f.reference, shown)


# A note's sentence: `#<start>-<end>` in its first attachment, `#<k>:<start>-<end>` in the k-th
# after it (DocumentReference content or DiagnosticReport presentedForm).
_NOTE_SPAN = re.compile(
    r"^(?:DocumentReference|DiagnosticReport)/[^#]+#(?:(?P<part>\d+):)?(?P<start>\d+)-(?P<end>\d+)$"
)
_NOTE_PREFIX = 'Note: "'


def _patient_line(a: Assessment) -> str:
    sex = {"unknown": "sex not known"}.get(a.patient.sex, a.patient.sex)
    age = "age not known" if a.patient.age_years is None else f"{a.patient.age_years} years"
    return f"{sex}, {age}"


def _source_label(source: str) -> str:
    if source.startswith("cds:"):
        return f"CDS Hooks ({source[4:]})"
    return SOURCE_LABELS.get(source, source)
