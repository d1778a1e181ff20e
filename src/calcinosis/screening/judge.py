"""The one judge of both engines: a candidate's resources -> the core engine's verdict.

Each candidate's resources are put in a `collection` Bundle and read and judged exactly as
`calcinosis assess` reads and judges that Bundle, so the worklist cannot disagree with it.
Only a patient the worklist lists is assessed in full (differential, plan, missing data).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from calcinosis.core.assessment import Assessment
from calcinosis.core.knowledge import Knowledge
from calcinosis.core.rules import complete, judge
from calcinosis.errors import CalcinosisError
from calcinosis.fhir.ingest import case_from_bundle
from calcinosis.screening.policy import Policy

# The columns every engine returns for a judged candidate, in this order.
COLUMNS = (
    "patient_id",
    "dcc_suspicion",
    "calcinosis_type",
    "top_differential",
    "deciding_findings",
    "missing_data",
    "deciding_rules",
    "error",
)
LIST_COLUMNS = frozenset({"deciding_findings", "missing_data", "deciding_rules"})


@dataclass(frozen=True, slots=True)
class Verdict:
    patient_id: str
    dcc_suspicion: str = ""
    calcinosis_type: str = ""
    top_differential: str = ""
    deciding_findings: tuple[str, ...] = ()
    missing_data: tuple[str, ...] = ()
    deciding_rules: tuple[str, ...] = ()  # the rules behind the level and the type
    error: str = ""  # the contract's error code when the patient's resources were refused

    def as_row(self) -> dict[str, Any]:
        return {
            "patient_id": self.patient_id,
            "dcc_suspicion": self.dcc_suspicion,
            "calcinosis_type": self.calcinosis_type,
            "top_differential": self.top_differential,
            "deciding_findings": list(self.deciding_findings),
            "missing_data": list(self.missing_data),
            "deciding_rules": list(self.deciding_rules),
            "error": self.error,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Verdict:
        return cls(
            patient_id=str(row["patient_id"]),
            dcc_suspicion=str(row["dcc_suspicion"]),
            calcinosis_type=str(row["calcinosis_type"]),
            top_differential=str(row["top_differential"]),
            deciding_findings=tuple(row["deciding_findings"] or ()),
            missing_data=tuple(row["missing_data"] or ()),
            deciding_rules=tuple(row["deciding_rules"] or ()),
            error=str(row["error"]),
        )


def bundle_of(resources: Iterable[str | bytes]) -> dict[str, Any]:
    """One patient's NDJSON lines as the Bundle `calcinosis assess` would be given, in the
    lines' sorted order whatever order an engine gathered them in (the assessment does not
    depend on it, but the same input is then the same Bundle)."""
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": orjson.loads(line)} for line in sorted(resources)],
    }


def judge_patient(
    patient_id: str,
    resources: Sequence[str | bytes],
    as_of: dt.date,
    kb: Knowledge,
    policy: Policy,
) -> Verdict:
    try:
        judged = judge(case_from_bundle(bundle_of(resources), kb), kb, as_of)
    except orjson.JSONDecodeError:
        return Verdict(patient_id, error="invalid-json")
    except CalcinosisError as exc:
        return Verdict(patient_id, error=exc.code)
    level, kind = judged.suspicion.level, judged.calcinosis.type
    if not policy.worth_a_look(level, kind):
        return Verdict(patient_id, dcc_suspicion=level, calcinosis_type=kind)
    return _verdict(patient_id, complete(judged, kb), policy.deciding_findings)


def judge_all(
    groups: Iterable[tuple[str, Sequence[str | bytes]]],
    as_of: dt.date,
    kb: Knowledge,
    policy: Policy,
) -> Iterator[Verdict]:
    for patient_id, resources in groups:
        yield judge_patient(patient_id, resources, as_of, kb, policy)


def _verdict(patient_id: str, result: Assessment, deciding: int) -> Verdict:
    bases = (result.dcc_suspicion.basis, result.calcinosis.basis)
    findings = tuple(f for b in bases for f in b.findings)
    rules = tuple(dict.fromkeys(r for b in bases for r in b.rules))
    summaries = tuple(dict.fromkeys(f.summary for f in findings))[:deciding]
    top = result.differential[0].id if result.differential else ""
    return Verdict(
        patient_id=patient_id,
        dcc_suspicion=result.dcc_suspicion.level,
        calcinosis_type=result.calcinosis.type,
        top_differential=top,
        deciding_findings=summaries,
        missing_data=tuple(m.id for m in result.missing_data),
        deciding_rules=rules,
    )
