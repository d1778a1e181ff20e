"""Official HL7 FHIR R4 (4.0.1) example resources through the real command line.

The files in `data/hl7-r4-examples/` are copied verbatim from the `hl7.fhir.r4.examples` 4.0.1
package (CC0; provenance in that folder's README.md). None of them is a case bundle written for
Calcinosis, and each must be assessed or refused cleanly: a lone resource is `not-a-bundle`, a
Bundle without a Patient is `no-patient`, one with several is `multiple-patients`, and a Bundle
about exactly one patient is assessed. None of those patients has an acne history or anything
that points to calcinosis, so DCC suspicion is `not-applicable` and the type `none` or
`undetermined`. The expected outcome of every file below was read off the file itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from test_cli import AS_OF, Run, cli, expect_refused, run_process

DATA = Path(__file__).resolve().parent / "data" / "hl7-r4-examples"
ASSESSED = "assessed"

EXPECTED: dict[str, str] = {
    # Single resources: whatever their type, not a Bundle.
    "Account-example.json": "not-a-bundle",
    "AdverseEvent-example.json": "not-a-bundle",
    "AllergyIntolerance-medication.json": "not-a-bundle",
    "Appointment-example.json": "not-a-bundle",
    "BodyStructure-skin-patch.json": "not-a-bundle",
    "Condition-example.json": "not-a-bundle",
    "Condition-f201.json": "not-a-bundle",
    "DiagnosticReport-ultrasound.json": "not-a-bundle",
    "Encounter-example.json": "not-a-bundle",
    "Immunization-example.json": "not-a-bundle",
    "MedicationRequest-medrx0302.json": "not-a-bundle",
    "OperationOutcome-101.json": "not-a-bundle",
    "OperationOutcome-allok.json": "not-a-bundle",
    "Patient-glossy.json": "not-a-bundle",  # a Patient alone is still not a Bundle
    "Patient-pat1.json": "not-a-bundle",
    "ValueSet-example-extensional.json": "not-a-bundle",
    # message: a MessageHeader asking to link Patient pat1 and Patient pat2, both included
    "Bundle-10bb101f-a121-4264-a920-67be9cb82c74.json": "multiple-patients",
    # collection of 14 Endpoints and nothing else
    "Bundle-b0a5e4277-83c4-4adb-87e2-e3efe3369b6f.json": "no-patient",
    # batch-response: Patient "example", then four empty searchset Bundles as entry resources
    "Bundle-bundle-response-medsallergies.json": ASSESSED,
    # transaction: five Patient resources (POST, conditional POST, PUT, conditional PUT, PUT)
    "Bundle-bundle-transaction.json": "multiple-patients",
    # collection: a DiagnosticReport and a ServiceRequest about Patient/f001, which is not in it
    "Bundle-f001.json": "no-patient",
    # document: discharge summary (asthma) of Patient d1, referenced by absolute URL
    "Bundle-father.json": ASSESSED,
    # transaction: a DocumentReference (text by URL only) for Patient a2, two authors, a Binary
    "Bundle-xds.json": ASSESSED,
}

# The one Patient of each assessed Bundle: id, sex, and age on AS_OF from its birthDate.
PATIENTS: dict[str, dict[str, Any]] = {
    # gender male, birthDate 1974-12-25
    "Bundle-bundle-response-medsallergies.json": {"id": "example", "sex": "male", "age_years": 51},
    # gender female, birthDate 1955-01-06
    "Bundle-father.json": {"id": "d1", "sex": "female", "age_years": 70},
    # no gender, birthDate 1956-05-27
    "Bundle-xds.json": {"id": "a2", "sex": "unknown", "age_years": 69},
}

CONTRACT_KEYS = (
    "source",
    "knowledge_version",
    "as_of",
    "patient",
    "dcc_suspicion",
    "calcinosis",
    "differential",
    "calculations",
    "workup",
    "management",
    "follow_up",
    "warnings",
    "missing_data",
    "citations",
)
STATEMENT_LISTS = ("differential", "calculations", "workup", "management", "follow_up", "warnings")


def assessed_files() -> list[str]:
    return [name for name, outcome in EXPECTED.items() if outcome == ASSESSED]


def check_clean_exit(run: Run, code: int) -> None:
    assert run.code == code, run.err
    assert "Traceback" not in run.text + run.err


def check_no_null(value: Any, where: str = "$") -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            check_no_null(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_no_null(item, f"{where}[{index}]")
    else:
        assert value is not None, f"null at {where}"


def check_assessment(item: dict[str, Any], bundle: dict[str, Any]) -> None:
    """The contract's shape, and what a patient without acne or calcinosis must get."""
    assert next(iter(item)) == "source"
    assert [key for key in CONTRACT_KEYS if key not in item] == []
    assert item["as_of"] == AS_OF
    check_no_null(item)
    assert item["dcc_suspicion"]["level"] == "not-applicable"
    assert item["calcinosis"]["type"] in {"none", "undetermined"}
    # No calcium, phosphate, albumin or creatinine in any of these bundles: nothing to calculate.
    assert item["calculations"] == []
    statements = [item["dcc_suspicion"], item["calcinosis"]]
    statements += [statement for key in STATEMENT_LISTS for statement in item[key]]
    cited = {citation["id"] for citation in item["citations"]}
    resources = [entry["resource"] for entry in bundle["entry"] if "resource" in entry]
    types = {resource["resourceType"] for resource in resources}
    full_urls = {entry["fullUrl"] for entry in bundle["entry"] if "fullUrl" in entry}
    for statement in statements:
        assert statement["summary"]
        citations = statement["basis"]["citations"]
        assert citations, statement
        assert set(citations) <= cited, statement
        for finding in statement["basis"]["findings"]:
            reference = finding["reference"]
            assert reference in full_urls or reference.split("/")[0] in types, finding


def test_the_table_names_every_example_file() -> None:
    assert sorted(path.name for path in DATA.glob("*.json")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_file_is_an_intact_copy_of_the_package_resource(name: str) -> None:
    """Each copy parses and holds the resource its package file name (<type>-<id>.json) says."""
    resource = orjson.loads((DATA / name).read_bytes())
    resource_type, _, resource_id = name.removesuffix(".json").partition("-")
    assert (resource["resourceType"], resource["id"]) == (resource_type, resource_id)


@pytest.mark.parametrize(("name", "outcome"), sorted(EXPECTED.items()))
def test_each_example_is_assessed_or_refused_with_its_code(name: str, outcome: str) -> None:
    path = DATA / name
    run = cli("assess", path, "--format", "jsonl", "--as-of", AS_OF)
    if outcome != ASSESSED:
        expect_refused(run, str(path), outcome)
        return
    check_clean_exit(run, 0)
    [item] = run.lines()
    assert item["source"] == str(path)
    check_assessment(item, orjson.loads(path.read_bytes()))


@pytest.mark.parametrize(("name", "patient"), sorted(PATIENTS.items()))
def test_the_patient_is_read_from_the_one_patient_resource(
    name: str, patient: dict[str, Any]
) -> None:
    run = cli("assess", DATA / name, "--format", "json", "--as-of", AS_OF)
    check_clean_exit(run, 0)
    assert run.json()["patient"] == patient


@pytest.mark.parametrize("name", assessed_files())
def test_the_text_report_of_each_assessed_example(name: str) -> None:
    run = cli("assess", DATA / name, "--format", "text", "--as-of", AS_OF)
    check_clean_exit(run, 0)
    assert "DCC suspicion: not-applicable" in run.text
    assert "References" in run.text


def test_the_whole_folder_in_a_fresh_process() -> None:
    """One run over the directory: every file in name order, exit 1 for the refused ones."""
    done = run_process("assess", DATA, "--format", "jsonl", "--as-of", AS_OF)
    assert done.returncode == 1, done.stderr
    assert b"Traceback" not in done.stdout + done.stderr
    items = [orjson.loads(line) for line in done.stdout.splitlines()]
    outcomes = [
        (Path(item["source"]).name, item["error"]["code"] if "error" in item else ASSESSED)
        for item in items
    ]
    assert outcomes == sorted(EXPECTED.items())
