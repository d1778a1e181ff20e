"""`calcinosis.synth`: the planted truth, the engine's agreement with it, and the export's shape.

One enriched export (every profile common) is written once for the module; the engine assesses
every patient grouped into a collection Bundle and must give truth.csv's level and type. A
disagreement with a clinically correct picture is not fixed by changing the engine or the
knowledge: it goes into KNOWN_DISAGREEMENTS below (one reason each) and is reported to the lead.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest
from fhir.resources.R4B import get_fhir_model_class

import calcinosis
from calcinosis.synth import Options, SpecError, SynthError, generate
from calcinosis.synth.spec import load_spec
from calcinosis.synth.writer import RESOURCE_TYPES

AS_OF = dt.date(2026, 1, 1)
SPEC = load_spec()
KB = calcinosis.load_knowledge()
# profile -> why the engine's answer differs from the clinician's (xfail, strict). Reported to
# the lead; the picture is clear, so the profile stays as it is until the engine reads it.
KNOWN_DISAGREEMENTS: dict[str, str] = {}
MIN_PER_PROFILE = 15

Resource = dict[str, Any]


def read_export(out: Path) -> dict[str, list[Resource]]:
    """Every resource of an export, by type, in file order (plain or gzip files)."""
    found: dict[str, list[Resource]] = defaultdict(list)
    for path in sorted(out.glob("*.ndjson*")):
        raw = path.read_bytes()
        data = gzip.decompress(raw) if path.name.endswith(".gz") else raw
        for line in data.splitlines():
            resource = orjson.loads(line)
            found[resource["resourceType"]].append(resource)
    return found


def read_truth(out: Path) -> list[dict[str, str]]:
    with (out / "truth.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def patient_of(resource: Resource) -> str:
    ref = resource.get("subject", resource.get("patient"))
    assert isinstance(ref, dict), f"{resource['resourceType']} names no patient"
    value = ref["reference"]
    assert value.startswith("Patient/"), value
    return str(value.removeprefix("Patient/"))


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "export"
    options = Options(out=out, patients=3000, as_of=AS_OF, seed=20260101, mix="enriched")
    generate(replace(options, shard_size=1000))
    return out


@pytest.fixture(scope="module")
def resources(export: Path) -> dict[str, list[Resource]]:
    return read_export(export)


@pytest.fixture(scope="module")
def truth(export: Path) -> list[dict[str, str]]:
    return read_truth(export)


@pytest.fixture(scope="module")
def assessed(
    resources: dict[str, list[Resource]], truth: list[dict[str, str]]
) -> dict[str, list[tuple[str, tuple[str, str], tuple[str, str]]]]:
    """profile -> [(patient id, expected (level, type), engine (level, type))]."""
    per_patient: dict[str, list[Resource]] = defaultdict(list)
    for patient in resources["Patient"]:
        per_patient[patient["id"]].append(patient)
    for rtype, items in resources.items():
        if rtype != "Patient":
            for resource in items:
                per_patient[patient_of(resource)].append(resource)
    out: dict[str, list[tuple[str, tuple[str, str], tuple[str, str]]]] = defaultdict(list)
    for row in truth:
        mine = per_patient[row["patient_id"]]
        entries = [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in mine]
        bundle = {"resourceType": "Bundle", "type": "collection", "entry": entries}
        result = calcinosis.assess_bundle(bundle, as_of=AS_OF).to_dict()
        got = (result["dcc_suspicion"]["level"], result["calcinosis"]["type"])
        want = (row["expected_level"], row["expected_type"])
        out[row["profile"]].append((row["patient_id"], want, got))
    return out


def _profile_params() -> list[Any]:
    params = []
    for name in SPEC.profiles:
        marks = []
        if name in KNOWN_DISAGREEMENTS:
            marks.append(pytest.mark.xfail(reason=KNOWN_DISAGREEMENTS[name], strict=True))
        params.append(pytest.param(name, marks=marks, id=name))
    return params


@pytest.mark.parametrize("profile", _profile_params())
def test_engine_agrees_with_truth_for_every_patient(
    profile: str, assessed: dict[str, list[tuple[str, tuple[str, str], tuple[str, str]]]]
) -> None:
    rows = assessed[profile]
    assert len(rows) >= MIN_PER_PROFILE, f"only {len(rows)} {profile} patients in the sample"
    wrong = [(pid, want, got) for pid, want, got in rows if want != got]
    assert not wrong, f"{len(wrong)}/{len(rows)} disagree, e.g. {wrong[:3]}"


def test_truth_rows_follow_the_profiles(
    truth: list[dict[str, str]], resources: dict[str, list[Resource]]
) -> None:
    assert [row["patient_id"] for row in truth] == [p["id"] for p in resources["Patient"]]
    for row in truth:
        profile = SPEC.profiles[row["profile"]]
        assert (row["expected_level"], row["expected_type"]) == (profile.level, profile.type)
        look = row["expected_level"] in ("high", "moderate") or row["expected_type"] != "none"
        assert row["worth_a_look"] == ("true" if look else "false")


def test_every_reference_resolves_and_ids_are_unique(
    resources: dict[str, list[Resource]],
) -> None:
    patients = {p["id"] for p in resources["Patient"]}
    ids = [r["id"] for items in resources.values() for r in items]
    assert len(ids) == len(set(ids))
    owner = {
        r["id"]: patient_of(r) for t, items in resources.items() if t != "Patient" for r in items
    }
    assert set(owner.values()) <= patients
    by_ref = {f"{r['resourceType']}/{r['id']}": r for items in resources.values() for r in items}
    for report in resources["DiagnosticReport"]:
        for result in report.get("result", []):
            target = by_ref[result["reference"]]
            assert target["resourceType"] == "Observation"
            assert owner[target["id"]] == owner[report["id"]]
    assert set(resources) <= set(RESOURCE_TYPES)


def test_every_code_sent_is_in_the_knowledge(resources: dict[str, list[Resource]]) -> None:
    systems = {
        "http://hl7.org/fhir/sid/icd-10-cm": "icd10cm",
        "http://snomed.info/sct": "snomed",
        "http://www.nlm.nih.gov/research/umls/rxnorm": "rxnorm",
    }
    seen: Counter[str] = Counter()
    for rtype in ("Condition", "MedicationStatement", "MedicationRequest", "Observation"):
        for resource in resources[rtype]:
            concept = resource.get("code") or resource.get("medicationCodeableConcept") or {}
            assert concept.get("text"), f"{rtype} without code text"
            for coding in concept.get("coding", []):
                system, code = coding["system"], coding["code"]
                seen[system] += 1
                if system == "http://loinc.org":
                    assert code in KB.loinc_to_analyte, code
                else:
                    assert (systems[system], code) in KB.codes, (system, code)
    assert len(seen) == 4  # ICD-10-CM, SNOMED CT, RxNorm and LOINC all occur


def test_a_sample_of_every_resource_type_validates_as_r4b(
    resources: dict[str, list[Resource]], truth: list[dict[str, str]]
) -> None:
    first_of_profile = {row["profile"]: row["patient_id"] for row in reversed(truth)}
    chosen = set(first_of_profile.values())
    checked: Counter[str] = Counter()
    for rtype, items in resources.items():
        for index, resource in enumerate(items):
            if (
                index < 60
                or (rtype == "Patient" and resource["id"] in chosen)
                or (rtype != "Patient" and patient_of(resource) in chosen)
            ):
                get_fhir_model_class(rtype).model_validate(resource)
                checked[rtype] += 1
    assert set(checked) == set(RESOURCE_TYPES)


def test_note_only_profiles_keep_the_examination_in_the_note(
    resources: dict[str, list[Resource]], truth: list[dict[str, str]]
) -> None:
    note_only = {row["patient_id"] for row in truth if SPEC.profiles[row["profile"]].note_only}
    assert note_only
    exam_owners = {
        patient_of(o)
        for o in resources["Observation"]
        if o["category"][0]["coding"][0]["code"] in ("exam", "imaging")
    }
    noted = {patient_of(d) for d in resources["DocumentReference"]}
    assert not note_only & exam_owners
    assert note_only <= noted


def _lab_mg_dl(observations: list[Resource], analyte: str) -> float | None:
    for o in observations:
        codes = [c["code"] for c in o.get("code", {}).get("coding", [])]
        if codes and KB.loinc_to_analyte.get(codes[0]) == analyte and "valueQuantity" in o:
            q = o["valueQuantity"]
            a = KB.analytes[analyte]
            assert a.unit is not None
            return KB.units.convert(q["value"], q["code"], a.unit, a.molar_mass)
    return None


def test_planted_laboratory_pictures_are_what_the_truth_says(
    resources: dict[str, list[Resource]], truth: list[dict[str, str]]
) -> None:
    """Judged from the numbers sent (knowledge brief §6), independently of the engine."""
    labs: dict[str, list[Resource]] = defaultdict(list)
    for o in resources["Observation"]:
        labs[patient_of(o)].append(o)
    checked = Counter()
    for row in truth:
        ca = _lab_mg_dl(labs[row["patient_id"]], "calcium")
        po4 = _lab_mg_dl(labs[row["patient_id"]], "phosphate")
        alb = _lab_mg_dl(labs[row["patient_id"]], "albumin")
        if ca is None or po4 is None:
            continue
        if row["profile"] == "metastatic-ckd":
            assert ca * po4 > 70 and po4 > 4.5, (row, ca, po4)
            checked["metastatic"] += 1
        if row["expected_type"] in ("dystrophic", "idiopathic") and alb is not None:
            corrected = ca + 0.8 * (4.0 - alb)
            assert 8.5 <= corrected <= 10.2 and 2.5 <= po4 <= 4.5, (row, corrected, po4)
            checked["normal"] += 1
    assert checked["metastatic"] >= MIN_PER_PROFILE and checked["normal"] >= MIN_PER_PROFILE


def test_same_seed_gives_byte_identical_files_whatever_the_workers(tmp_path: Path) -> None:
    base = Options(out=tmp_path / "a", patients=700, as_of=AS_OF, seed=7, gzip=True)
    base = replace(base, shard_size=300, chunk_size=100, mix="enriched")
    generate(base)
    generate(replace(base, out=tmp_path / "b"))
    generate(replace(base, out=tmp_path / "c", workers=2, patients_per_worker=1))
    generate(replace(base, out=tmp_path / "d", seed=8))
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert len(names) == 3 * len(RESOURCE_TYPES) + 2
    for other in ("b", "c"):
        assert sorted(p.name for p in (tmp_path / other).iterdir()) == names
        for name in names:
            assert (tmp_path / other / name).read_bytes() == (tmp_path / "a" / name).read_bytes()
    other_seed = (tmp_path / "d" / "truth.csv").read_bytes()
    assert other_seed != (tmp_path / "a" / "truth.csv").read_bytes()


def test_shards_are_named_and_filled_by_blocks_of_patients(tmp_path: Path) -> None:
    out = tmp_path / "gz"
    summary = generate(Options(out=out, patients=250, as_of=AS_OF, shard_size=100, gzip=True))
    expected = {f"{t}.{s:03d}.ndjson.gz" for t in RESOURCE_TYPES for s in range(3)}
    assert {p.name for p in out.iterdir()} == expected | {"truth.csv", "synth.json"}
    per_shard = [
        len(gzip.decompress((out / f"Patient.{s:03d}.ndjson.gz").read_bytes()).splitlines())
        for s in range(3)
    ]
    assert per_shard == [100, 100, 50]
    for name in expected:  # every file, even one with no resources, is valid gzip
        gzip.decompress((out / name).read_bytes())
    manifest = orjson.loads((out / "synth.json").read_bytes())
    assert sorted(n for files in manifest["files"].values() for n in files) == sorted(expected)
    assert manifest["patients"] == 250 and manifest["resources"] == summary.resources
    assert sum(p["patients"] for p in manifest["profiles"].values()) == 250
    assert manifest["resources"]["Patient"] == 250
    plain = generate(Options(out=tmp_path / "plain", patients=5, as_of=AS_OF))
    assert plain.files == [f"{t}.000.ndjson" for t in RESOURCE_TYPES]


def test_bad_options_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(SynthError, match="at least 1"):
        generate(Options(out=tmp_path / "none", patients=0, as_of=AS_OF))
    with pytest.raises(SynthError, match="shard-size"):
        generate(Options(out=tmp_path / "none", patients=5, as_of=AS_OF, shard_size=0))
    with pytest.raises(SynthError, match="unknown --mix"):
        generate(Options(out=tmp_path / "none", patients=5, as_of=AS_OF, mix="tiny"))
    assert not (tmp_path / "none").exists()
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(SynthError, match="not empty"):
        generate(Options(out=busy, patients=5, as_of=AS_OF))
    assert [p.name for p in busy.iterdir()] == ["keep.txt"]


def test_force_replaces_an_earlier_export_and_keeps_other_files(tmp_path: Path) -> None:
    out = tmp_path / "again"
    generate(Options(out=out, patients=30, as_of=AS_OF, shard_size=10))
    (out / "keep.txt").write_text("mine", encoding="utf-8")
    generate(Options(out=out, patients=5, as_of=AS_OF, force=True))
    names = {p.name for p in out.iterdir()}
    assert "Patient.001.ndjson" not in names and "keep.txt" in names
    assert len(read_truth(out)) == 5


def test_the_data_file_refuses_codes_the_knowledge_lacks() -> None:
    text = (Path(calcinosis.__file__).parent / "synth" / "profiles.yaml").read_text("utf-8")
    plain = "{text: {choice: [Hypertension, Essential hypertension, High blood pressure]}"
    coded = "{text: Hypertension, icd10cm: I10"
    display = "    L90.5: Scar conditions"
    assert plain in text and display in text
    invented = text.replace(plain, coded).replace(
        display, "    I10: Essential (primary) hypertension\n" + display
    )
    with pytest.raises(SpecError, match="'I10' is not in the knowledge"):
        load_spec(invented)
    with pytest.raises(SpecError, match="no exam fragment named 'no-such-exam'"):
        load_spec(text.replace("exam: dcc-face-dermoscopy", "exam: no-such-exam"))
