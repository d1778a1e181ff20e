"""The CDS knowledge files: orders.yaml (work-up -> orderable LOINC codes) and cds.yaml (card
policy) are validated against the rest of the knowledge, and a bad edit names file and field."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

import calcinosis
from calcinosis.core.codes import loinc_is_valid
from calcinosis.core.orders import load_orders
from calcinosis.errors import KnowledgeError
from calcinosis.web.app import create_app
from calcinosis.web.cdshooks.policy import load_policy
from calcinosis.web.settings import Settings

KNOWLEDGE = Path(calcinosis.__file__).resolve().parent / "knowledge"


@pytest.fixture(scope="module")
def kb() -> calcinosis.Knowledge:
    return calcinosis.load_knowledge()


def edited(tmp_path: Path, name: str, change: Callable[[dict[str, Any]], None]) -> Path:
    data = yaml.safe_load((KNOWLEDGE / name).read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_every_orderable_code_is_a_checked_analyte_code(kb: calcinosis.Knowledge) -> None:
    orders = load_orders(kb)
    workup_ids = {rule.id for rule in kb.workup}
    assert set(orders.by_workup) <= workup_ids
    for items in orders.by_workup.values():
        for item in items:
            assert loinc_is_valid(item.loinc) and item.loinc in kb.loinc_to_analyte
    # histology, ultrasound and history have no checked orderable code: text only
    for text_only in (
        "workup.lesion-histology",
        "workup.high-frequency-ultrasound",
        "workup.exposure-history",
    ):
        assert orders.for_workup(text_only) == ()


def test_order_displays_agree_with_the_vignettes_where_they_show_a_display(
    kb: calcinosis.Knowledge,
) -> None:
    import json

    from test_cds_support import VIGNETTES

    seen: dict[str, str] = {}
    for path in VIGNETTES.glob("*.json"):
        for entry in json.loads(path.read_text())["entry"]:
            for coding in entry["resource"].get("code", {}).get("coding", []):
                if coding.get("system") == "http://loinc.org" and coding.get("display"):
                    seen[coding["code"]] = coding["display"]
    checked = 0
    for items in load_orders(kb).by_workup.values():
        for item in items:
            if item.loinc in seen:
                assert item.display.lower() == seen[item.loinc].lower()
                checked += 1
    assert checked >= 6


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        (
            lambda d: d["orders"]["workup.serum-phosphate"][0].update(loinc="2777-2"),
            "orders.workup.serum-phosphate[0].loinc",
            "bad LOINC check digit",
        ),
        (
            lambda d: d["orders"]["workup.serum-phosphate"][0].update(loinc="4548-4"),
            "orders.workup.serum-phosphate[0].loinc",
            "not a LOINC code listed in analytes.yaml",
        ),
        (
            lambda d: d["orders"].update(
                {"workup.no-such-item": [{"loinc": "2777-1", "display": "x"}]}
            ),
            "orders.workup.no-such-item",
            "not a work-up item id",
        ),
        (
            lambda d: d["orders"]["workup.albumin"][0].update(display=""),
            "orders.workup.albumin[0].display",
            "non-empty",
        ),
        (
            lambda d: d["orders"]["workup.albumin"][0].update(extra=1),
            "orders.workup.albumin[0]",
            "exactly loinc and display",
        ),
        (lambda d: d.update(citations=["no-such-source"]), "citations", "unknown citation"),
        (lambda d: d.update(orders={}), "orders", "non-empty mapping"),
    ],
)
def test_orders_file_errors_name_the_field(
    tmp_path: Path, kb: calcinosis.Knowledge, change: Any, field: str, reason: str
) -> None:
    with pytest.raises(KnowledgeError) as error:
        load_orders(kb, edited(tmp_path, "orders.yaml", change))
    assert (error.value.file, error.value.field) == ("orders.yaml", field)
    assert reason in error.value.reason


def test_policy_loads_and_every_headline_summary_is_short(kb: calcinosis.Knowledge) -> None:
    policy = load_policy(kb)
    assert {s.hook for s in policy.services} == {"patient-view", "order-select", "order-sign"}
    for headline in (*policy.headlines, policy.fallback):
        assert len(headline.summary) < 140 and headline.indicator in ("info", "warning", "critical")
    assert policy.isotretinoin.resisted_rule == "suspicion.isotretinoin-failure"
    assert policy.isotretinoin.suspicion == {"moderate", "high"}
    assert kb.concepts[policy.isotretinoin.drug].kind == "medication"


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        (
            lambda d: d["patient_view"]["headlines"][0].update(summary="x" * 140),
            "patient_view.headlines[0].summary",
            "shorter than 140",
        ),
        (
            lambda d: d["patient_view"]["headlines"][0].update(indicator="urgent"),
            "patient_view.headlines[0].indicator",
            "must be one of",
        ),
        (
            lambda d: d["patient_view"]["headlines"][0]["when"].update(warnings=["warning.nope"]),
            "patient_view.headlines[0].when.warnings",
            "unknown value",
        ),
        (
            lambda d: d["patient_view"]["headlines"][1]["when"].update(suspicion=["very-high"]),
            "patient_view.headlines[1].when.suspicion",
            "unknown value",
        ),
        (
            lambda d: d["patient_view"]["quiet"].update(types=["calcified"]),
            "patient_view.quiet.types",
            "unknown value",
        ),
        (
            lambda d: d["isotretinoin_orders"].update(resisted_rule="suspicion.nope"),
            "isotretinoin_orders.resisted_rule",
            "unknown rule",
        ),
        (
            lambda d: d["isotretinoin_orders"].update(drug="acne"),
            "isotretinoin_orders.drug",
            "not a medication concept",
        ),
        (
            lambda d: d["isotretinoin_orders"].update(citations=["nobody-2020"]),
            "isotretinoin_orders.citations",
            "unknown citation",
        ),
        (
            lambda d: d["isotretinoin_orders"]["override_reasons"].append(
                {"code": "other-indication", "display": "x"}
            ),
            "isotretinoin_orders.override_reasons",
            "unique",
        ),
        (lambda d: d["services"].pop(), "services", "exactly one service for each"),
        (
            lambda d: d["services"][0].update(hook="appointment-book"),
            "services[0].hook",
            "must be one of",
        ),
        (lambda d: d.update(surprise=True), "(file)", "unknown keys"),
    ],
)
def test_policy_file_errors_name_the_field(
    tmp_path: Path, kb: calcinosis.Knowledge, change: Any, field: str, reason: str
) -> None:
    with pytest.raises(KnowledgeError) as error:
        load_policy(kb, edited(tmp_path, "cds.yaml", change))
    assert (error.value.file, error.value.field) == ("cds.yaml", field)
    assert reason in error.value.reason


def test_a_knowledge_directory_with_a_broken_policy_stops_start_up(tmp_path: Path) -> None:
    copy = tmp_path / "kb"
    shutil.copytree(KNOWLEDGE, copy)
    (copy / "orders.yaml").write_text("orders: [", encoding="utf-8")
    with pytest.raises(KnowledgeError, match=r"orders\.yaml: \(file\): invalid YAML"):
        create_app(Settings(knowledge_dir=copy, insecure_dev=True))


def test_clinical_code_systems_are_not_spelled_in_the_cds_code() -> None:
    """Code-system URIs come from calcinosis.core.codes only (our own URNs live in cds.yaml)."""
    package = KNOWLEDGE.parent / "web" / "cdshooks"
    for path in [
        *package.glob("*.py"),
        KNOWLEDGE.parent / "core" / "orders.py",
        KNOWLEDGE.parent / "web" / "feedback.py",
    ]:
        text = path.read_text(encoding="utf-8")
        assert (
            "loinc.org" not in text
            and "nlm.nih.gov/research" not in text
            and "snomed.info" not in text
        ), path
        assert "urn:calcinosis" not in text, path
