"""The assessment: what every surface shows. Field names follow docs/interface.md exactly."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SUSPICION_LEVELS = ("high", "moderate", "low", "not-applicable")
CALCINOSIS_TYPES = (
    "dystrophic",
    "metastatic",
    "idiopathic",
    "iatrogenic",
    "calciphylaxis",
    "none",
    "undetermined",
)


@dataclass(frozen=True, slots=True)
class Finding:
    """An input resource a statement rests on, e.g. ("Observation/123", "Calcium 9.4 mg/dL")."""

    reference: str
    summary: str

    def to_dict(self) -> dict[str, Any]:
        return {"reference": self.reference, "summary": self.summary}


@dataclass(frozen=True, slots=True)
class Basis:
    findings: tuple[Finding, ...] = ()
    rules: tuple[str, ...] = ()
    citations: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "findings": [f.to_dict() for f in self.findings],
            "rules": list(self.rules),
            "citations": list(self.citations),
        }


@dataclass(frozen=True, slots=True)
class Statement:
    """One claim with its basis; `extra` holds a section's own fields (label, rank, value)."""

    id: str
    summary: str
    basis: Basis
    extra: tuple[tuple[str, Any], ...] = ()

    def get(self, key: str) -> Any:
        return dict(self.extra).get(key)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id}
        out.update(self.extra)
        out["summary"] = self.summary
        out["basis"] = self.basis.to_dict()
        return out


@dataclass(frozen=True, slots=True)
class Suspicion:
    level: str
    summary: str
    basis: Basis

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "summary": self.summary, "basis": self.basis.to_dict()}


@dataclass(frozen=True, slots=True)
class Classification:
    type: str
    summary: str
    basis: Basis

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "summary": self.summary, "basis": self.basis.to_dict()}


@dataclass(frozen=True, slots=True)
class MissingData:
    id: str
    summary: str
    would_change: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "summary": self.summary, "would_change": self.would_change}


@dataclass(frozen=True, slots=True)
class Citation:
    id: str
    text: str
    doi: str | None = None
    pmid: str | None = None
    url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "text": self.text}
        for key in ("doi", "pmid", "url"):
            value = getattr(self, key)
            if value:
                out[key] = value
        return out


@dataclass(frozen=True, slots=True)
class PatientSummary:
    id: str
    age_years: int | None
    sex: str

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "sex": self.sex}
        if self.age_years is not None:
            out["age_years"] = self.age_years
        return out


@dataclass(frozen=True, slots=True)
class Assessment:
    knowledge_version: str
    patient: PatientSummary
    dcc_suspicion: Suspicion
    calcinosis: Classification
    differential: tuple[Statement, ...] = ()
    calculations: tuple[Statement, ...] = ()
    workup: tuple[Statement, ...] = ()
    management: tuple[Statement, ...] = ()
    follow_up: tuple[Statement, ...] = ()
    warnings: tuple[Statement, ...] = ()
    missing_data: tuple[MissingData, ...] = ()
    citations: tuple[Citation, ...] = field(default=())
    as_of: str = ""

    def statements(self) -> list[tuple[str, Suspicion | Classification | Statement]]:
        """Every statement with the name of its section, in report order."""
        out: list[tuple[str, Suspicion | Classification | Statement]] = [
            ("dcc_suspicion", self.dcc_suspicion),
            ("calcinosis", self.calcinosis),
        ]
        for section in ("differential", "calculations", "workup", "management", "follow_up"):
            out.extend((section, s) for s in getattr(self, section))
        out.extend(("warnings", s) for s in self.warnings)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "knowledge_version": self.knowledge_version,
            "as_of": self.as_of,
            "patient": self.patient.to_dict(),
            "dcc_suspicion": self.dcc_suspicion.to_dict(),
            "calcinosis": self.calcinosis.to_dict(),
            "differential": [s.to_dict() for s in self.differential],
            "calculations": [s.to_dict() for s in self.calculations],
            "workup": [s.to_dict() for s in self.workup],
            "management": [s.to_dict() for s in self.management],
            "follow_up": [s.to_dict() for s in self.follow_up],
            "warnings": [s.to_dict() for s in self.warnings],
            "missing_data": [m.to_dict() for m in self.missing_data],
            "citations": [c.to_dict() for c in self.citations],
        }
