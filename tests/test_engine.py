"""Clinical behaviour of the engine on constructed bundles and the vignettes' worked values."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

import calcinosis
from builder import Bundle, acne_with_hard_papules

AS_OF = dt.date(2026, 1, 1)
SHARED = Path(__file__).resolve().parents[2] / "shared" / "dev-vignettes" / "bundles"


def run(bundle: dict[str, Any]) -> dict[str, Any]:
    return calcinosis.assess_bundle(bundle, as_of=AS_OF).to_dict()


def vignette(vid: str) -> dict[str, Any]:
    return run(json.loads((SHARED / f"{vid}.json").read_text(encoding="utf-8")))


def calc(result: dict[str, Any], cid: str) -> float:
    return float({c["id"]: c["value"] for c in result["calculations"]}[cid])


# Worked values from the notes in ../shared/dev-vignettes/vignettes.yaml (the authors' figures).
@pytest.mark.parametrize(
    ("vid", "cid", "expected", "tol"),
    [
        ("dev-dcc-ssc-01", "calcium-phosphate-product", 33.5, 0.05),
        ("dev-dcc-ssc-01", "corrected-calcium", 9.3, 0.05),
        ("dev-met-hd-01", "calcium-phosphate-product", 82.8, 0.05),
        ("dev-met-hd-01", "corrected-calcium", 10.3, 0.05),
        ("dev-met-ckd-si-01", "corrected-calcium", 10.5, 0.05),
        ("dev-met-ckd-si-01", "calcium-phosphate-product", 75.4, 0.1),
        ("dev-met-ckd-si-01", "egfr-ckd-epi-2021", 9, 0.6),
        ("dev-calciphylaxis-hd-01", "corrected-calcium", 10.4, 0.05),
        ("dev-calciphylaxis-hd-01", "calcium-phosphate-product", 65.3, 0.05),
        ("dev-iatro-cacl-01", "egfr-ckd-epi-2021", 74, 1.0),
    ],
)
def test_worked_values(vid: str, cid: str, expected: float, tol: float) -> None:
    assert calc(vignette(vid), cid) == pytest.approx(expected, abs=tol)


def test_isotretinoin_exposure_alone_does_not_raise_suspicion() -> None:
    b = Bundle()
    b.condition("Acne vulgaris", icd="L70.0")
    b.med("Isotretinoin 20 mg", rxnorm="6064")  # response unknown: exposure only
    assert run(b.build())["dcc_suspicion"]["level"] == "low"


def test_hard_persistent_papules_plus_isotretinoin_failure_is_high() -> None:
    b = acne_with_hard_papules()
    b.med("Isotretinoin", "no response", rxnorm="6064")
    result = run(b.build())
    assert result["dcc_suspicion"]["level"] == "high"
    assert "suspicion.isotretinoin-failure" in result["dcc_suspicion"]["basis"]["rules"]
    assert "warning.isotretinoin-will-not-help" in {w["id"] for w in result["warnings"]}


def test_hard_persistent_papules_alone_is_moderate() -> None:
    assert run(acne_with_hard_papules().build())["dcc_suspicion"]["level"] == "moderate"


def test_short_isotretinoin_course_proves_little() -> None:
    b = acne_with_hard_papules()
    b.med(
        "Isotretinoin",
        "no response",
        rxnorm="6064",
        effectivePeriod={"start": "2024-01-01", "end": "2024-01-22"},
    )
    result = run(b.build())
    assert result["dcc_suspicion"]["level"] == "moderate"
    assert "warning.short-isotretinoin-course" in {w["id"] for w in result["warnings"]}


def test_no_acne_is_not_applicable_and_negated_acne_does_not_count() -> None:
    b = Bundle()
    b.exam("Additional clinical findings", valueString="never had acne; otherwise well")
    assert run(b.build())["dcc_suspicion"]["level"] == "not-applicable"


def test_refuted_condition_is_ignored() -> None:
    b = Bundle()
    b.condition("Acne vulgaris", icd="L70.0", verificationStatus={"coding": [{"code": "refuted"}]})
    assert run(b.build())["dcc_suspicion"]["level"] == "not-applicable"


def test_family_history_of_ctd_is_not_the_patients() -> None:
    b = Bundle()
    b.normal_labs()
    b.exam("Calcium deposits identified on histology", valueBoolean=True)
    b.exam("Additional clinical findings", valueString="mother has systemic sclerosis")
    result = run(b.build())
    assert "ctd" not in result["calcinosis"]["summary"].lower()
    assert result["calcinosis"]["type"] != "dystrophic"


def test_raised_pth_with_normal_calcium_and_phosphate_is_not_metastatic() -> None:
    b = Bundle()
    b.normal_labs()
    b.lab("2731-8", "PTH", 120, "pg/mL", "H")
    b.condition("Healed burn scar of the forearm", icd="L90.5")
    b.exam("Calcium deposits identified on histology", valueBoolean=True)
    assert run(b.build())["calcinosis"]["type"] == "dystrophic"


def test_hyperphosphataemia_in_si_units_makes_it_metastatic() -> None:
    b = Bundle()
    b.condition("Chronic kidney disease stage 5", icd="N18.5")
    b.lab("2000-8", "Calcium", 2.40, "mmol/L")
    b.lab("14879-1", "Phosphate", 2.6, "mmol/L")
    b.exam("Calcium deposits identified on histology", valueBoolean=True)
    result = run(b.build())
    assert result["calcinosis"]["type"] == "metastatic"
    # 2.40 mmol/L x 4.008 = 9.62 mg/dL; 2.6 mmol/L / 0.3229 = 8.05 mg/dL; product 77.4
    assert calc(result, "calcium-phosphate-product") == pytest.approx(77.4, abs=0.2)


def test_calciphylaxis_picture_in_dialysis_warns_urgently() -> None:
    b = Bundle(gender="male", birth="1960-01-01")
    b.condition("End-stage renal disease on haemodialysis", icd="N18.6")
    b.exam("Skin lesion morphology", valueString="painful retiform purpura with central eschar")
    result = run(b.build())
    assert result["calcinosis"]["type"] == "calciphylaxis"
    assert result["warnings"][0]["id"] == "warning.calciphylaxis-urgent"


def test_negated_vascular_calcification_is_not_calciphylaxis() -> None:
    b = Bundle()
    b.normal_labs()
    b.condition("Dermatomyositis", icd="M33.10")
    b.add(
        {
            "resourceType": "DiagnosticReport",
            "status": "final",
            "code": {"text": "Skin histopathology report"},
            "conclusion": (
                "Dermal calcium deposits. No vascular calcification, thrombosis or fat necrosis."
            ),
        }
    )
    assert run(b.build())["calcinosis"]["type"] == "dystrophic"


def test_bone_on_histology_is_osteoma_not_calcinosis() -> None:
    b = acne_with_hard_papules()
    b.exam("Bone (ossification with osteocytes) identified on histology", valueBoolean=True)
    result = run(b.build())
    assert result["calcinosis"]["type"] == "none"
    assert result["differential"][0]["id"] == "osteoma-cutis"


def test_histology_without_labs_abstains() -> None:
    b = Bundle()
    b.exam("Calcium deposits identified on histology", valueBoolean=True)
    result = run(b.build())
    assert result["calcinosis"]["type"] == "undetermined"
    assert {"serum-calcium", "serum-phosphate"} <= {m["id"] for m in result["missing_data"]}


def test_heel_stick_nodules_in_a_neonate_are_iatrogenic() -> None:
    b = Bundle(birth="2025-11-20")
    b.condition("Repeated heel sticks in the neonatal intensive care unit")
    b.lab("17861-6", "Calcium", 9.8, "mg/dL", "N")
    b.lab("2777-1", "Phosphate", 5.9, "mg/dL", "N")
    b.exam("Skin lesion distribution (body sites)", valueString="left heel")
    b.exam(
        "Hard chalky or calcified material extracted or extruded from lesions", valueBoolean=True
    )
    assert run(b.build())["calcinosis"]["type"] == "iatrogenic"


def test_every_statement_cites_and_every_citation_is_listed() -> None:
    for path in sorted(SHARED.glob("*.json")):
        result = run(json.loads(path.read_text(encoding="utf-8")))
        listed = {c["id"] for c in result["citations"]}
        statements = [result["dcc_suspicion"], result["calcinosis"]]
        for key in (
            "differential",
            "calculations",
            "workup",
            "management",
            "follow_up",
            "warnings",
        ):
            statements += result[key]
        for s in statements:
            assert s["basis"]["citations"], (path.name, s)
            assert set(s["basis"]["citations"]) <= listed
            assert s["summary"]


def test_no_null_anywhere_and_same_output_twice() -> None:
    def walk(node: Any) -> None:
        assert node is not None
        if isinstance(node, dict):
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    for path in sorted(SHARED.glob("*.json")):
        bundle = json.loads(path.read_text(encoding="utf-8"))
        first, second = run(bundle), run(bundle)
        walk(first)
        assert json.dumps(first) == json.dumps(second)
