"""Every development vignette scored exactly as ../shared/dev-vignettes/README.md describes."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest

import calcinosis
from calcinosis.core.assessment import CALCINOSIS_TYPES
from calcinosis.core.knowledge import RAW_SIGNAL

SHARED = Path(__file__).resolve().parents[2] / "shared" / "dev-vignettes"
EXPECTED: dict[str, Any] = json.loads((SHARED / "expected.json").read_text(encoding="utf-8"))
AS_OF = dt.date(2026, 1, 1)


def assess(vid: str) -> dict[str, Any]:
    bundle = json.loads((SHARED / "bundles" / f"{vid}.json").read_text(encoding="utf-8"))
    return calcinosis.assess_bundle(bundle, as_of=AS_OF).to_dict()


@pytest.mark.parametrize("vid", sorted(EXPECTED))
def test_type_is_scored_right(vid: str) -> None:
    e, got = EXPECTED[vid], assess(vid)["calcinosis"]["type"]
    accepted = {e["calcinosis_type"], *e["also_acceptable_types"]}
    if e["abstain_acceptable"]:
        accepted.add("undetermined")
    assert got in accepted


@pytest.mark.parametrize("vid", sorted(EXPECTED))
def test_abstention_lists_missing_data(vid: str) -> None:
    result = assess(vid)
    if result["calcinosis"]["type"] == "undetermined":
        assert result["missing_data"], "an abstention must say what is missing"
    else:
        assert result["calcinosis"]["type"] in set(CALCINOSIS_TYPES) - {"undetermined"}


@pytest.mark.parametrize("vid", sorted(EXPECTED))
def test_suspicion_is_scored_right(vid: str) -> None:
    e = EXPECTED[vid]
    got = assess(vid)["dcc_suspicion"]["level"]
    assert got in {e["dcc_in_acne_suspicion"], *e["suspicion_acceptable"]}


@pytest.mark.parametrize("vid", sorted(EXPECTED))
def test_differential_top1_and_top3(vid: str) -> None:
    e = EXPECTED[vid]
    ids = [d["id"] for d in assess(vid)["differential"]]
    assert ids[0] == e["top_differential"]
    assert set(ids[:3]) & {e["top_differential"], *e["acceptable_differentials"]}


@pytest.mark.parametrize("vid", sorted(EXPECTED))
def test_absent_calculations(vid: str) -> None:
    ids = {c["id"] for c in assess(vid)["calculations"]}
    assert not ids & set(EXPECTED[vid]["calculations_absent"])


def test_datapoor_missing_data_names_calcium_phosphate_and_renal_function() -> None:
    missing = {m["id"] for m in assess("dev-datapoor-01")["missing_data"]}
    assert {"serum-calcium", "serum-phosphate", "renal-function"} <= missing


def test_unconvertible_unit_is_warned_and_named() -> None:
    result = assess("dev-unit-unconvertible-01")
    texts = " ".join(w["summary"] for w in result["warnings"])
    assert "'mg'" in texts and "Calcium" in texts
    assert "serum-calcium" in {m["id"] for m in result["missing_data"]}
    egfr = {c["id"]: c["value"] for c in result["calculations"]}["egfr-ckd-epi-2021"]
    assert egfr == pytest.approx(112, abs=1.5)


@pytest.mark.parametrize("vid", sorted(EXPECTED))
def test_caches_never_change_the_answer(vid: str) -> None:
    kb = calcinosis.load_knowledge()
    bundle = json.loads((SHARED / "bundles" / f"{vid}.json").read_text(encoding="utf-8"))

    def text() -> str:
        result = calcinosis.assess_bundle(bundle, as_of=AS_OF, knowledge=kb).to_dict()
        return json.dumps(result, sort_keys=False, ensure_ascii=False)

    kb.clear_caches()
    cold = text()
    assert text() == cold  # warm: phrase matches, unit plans and scores remembered
    kb.clear_caches()
    assert text() == cold


def summaries(result: dict[str, Any]) -> list[str]:
    """Every text a clinician reads that the engine composes (statements and missing data)."""
    statements = [result["dcc_suspicion"], result["calcinosis"]]
    for section in ("differential", "calculations", "workup", "management", "follow_up"):
        statements += result[section]
    texts = [s["summary"] for s in statements + result["warnings"]]
    return texts + [t for m in result["missing_data"] for t in (m["summary"], m["would_change"])]


def raw_renderings(signal: str) -> set[str]:
    """How a signal id reads when code spells it out instead of looking up its label."""
    words = signal.replace(":", " ").replace("-", " ")
    head, _, rest = signal.partition(":")
    out = {signal, words}
    if rest and head in ("lab", "med", "absent", "uncertain"):
        out.add(rest.replace(":", " ").replace("-", " "))
    return {w for w in out if " " in w or ":" in w}


@pytest.mark.parametrize("vid", sorted(EXPECTED))
def test_no_summary_shows_a_raw_signal_id(vid: str) -> None:
    kb = calcinosis.load_knowledge()
    leftovers = set()
    for signal, label in kb.signal_labels.items():
        leftovers |= {w for w in raw_renderings(signal) if w not in label.lower()}
    for text in summaries(assess(vid)):
        assert not RAW_SIGNAL.search(text), text
        lowered = text.lower()
        assert not [w for w in leftovers if re.search(rf"\b{re.escape(w)}\b", lowered)], text


@pytest.mark.parametrize("vid", sorted(EXPECTED))
def test_every_rule_in_a_basis_is_in_the_knowledge_base(vid: str) -> None:
    kb = calcinosis.load_knowledge()
    result = assess(vid)
    statements = [result["dcc_suspicion"], result["calcinosis"]]
    for section in ("differential", "calculations", "workup", "management", "follow_up"):
        statements += result[section]
    named = {rule for s in statements + result["warnings"] for rule in s["basis"]["rules"]}
    assert named
    assert named <= set(kb.rules), sorted(named - set(kb.rules))
    calculation_rules = {r for c in result["calculations"] for r in c["basis"]["rules"]}
    for rule in calculation_rules:  # a calculation cites at least what its rule cites
        cited = next(c for c in result["calculations"] if rule in c["basis"]["rules"])
        assert set(kb.rules[rule].citations) <= set(cited["basis"]["citations"])
