"""Every development vignette scored exactly as ../shared/dev-vignettes/README.md describes."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

import calcinosis
from calcinosis.core.assessment import CALCINOSIS_TYPES

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
