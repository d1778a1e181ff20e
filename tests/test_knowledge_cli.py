"""`calcinosis knowledge list|validate|diff` and `assess --format fhir`, through the real CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

KNOWLEDGE = Path(__file__).resolve().parents[1] / "src" / "calcinosis" / "knowledge"
SEED = (
    Path(__file__).resolve().parents[1] / "src" / "calcinosis" / "demo" / "seed-palanivel-2026.json"
)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "calcinosis.cli.main", *args],
        capture_output=True,
        text=True,
        check=False,
        env={"COLUMNS": "100", "PATH": "/usr/bin:/bin"},
    )


def test_validate_shipped_and_refuse_broken(tmp_path: Path) -> None:
    ok = cli("knowledge", "validate")
    assert ok.returncode == 0 and "valid (version 2026." in ok.stdout
    broken = tmp_path / "kb"
    shutil.copytree(KNOWLEDGE, broken)
    (broken / "manifest.yaml").write_text("version: one\n")
    bad = cli("knowledge", "validate", str(broken))
    assert bad.returncode == 2
    assert "manifest.yaml: version: must look like 2026.1.0" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_validate_checks_the_cds_policy_and_orderable_codes(tmp_path: Path) -> None:
    broken = tmp_path / "kb"
    shutil.copytree(KNOWLEDGE, broken)
    orders = broken / "orders.yaml"
    orders.write_text(orders.read_text().replace("loinc:", "lonic:", 1))
    bad_orders = cli("knowledge", "validate", str(broken))
    assert bad_orders.returncode == 2 and "orders.yaml" in bad_orders.stderr
    shutil.copy(KNOWLEDGE / "orders.yaml", orders)
    policy = broken / "cds.yaml"
    policy.write_text(policy.read_text().replace("indicator: critical", "indicator: urgent", 1))
    bad_policy = cli("knowledge", "validate", str(broken))
    assert bad_policy.returncode == 2 and "cds.yaml" in bad_policy.stderr
    assert "Traceback" not in bad_orders.stderr + bad_policy.stderr


def test_validate_checks_the_screening_policy_and_views(tmp_path: Path) -> None:
    broken = tmp_path / "kb"
    shutil.copytree(KNOWLEDGE, broken)
    policy = broken / "screening" / "screening.yaml"
    policy.write_text(policy.read_text().replace("levels: [high, moderate]", "levels: [severe]"))
    bad_policy = cli("knowledge", "validate", str(broken))
    assert bad_policy.returncode == 2
    assert "screening/screening.yaml: worklist.levels: unknown level 'severe'" in bad_policy.stderr
    shutil.copy(KNOWLEDGE / "screening" / "screening.yaml", policy)
    view = broken / "screening" / "views" / "Condition.json"
    data = json.loads(view.read_text())
    data["select"][0]["column"][0]["path"] = "subject.getReferenceKey(Patient"  # unclosed
    view.write_text(json.dumps(data))
    bad_view = cli("knowledge", "validate", str(broken))
    assert bad_view.returncode == 2 and "screening/views/Condition.json" in bad_view.stderr
    assert "Traceback" not in bad_policy.stderr + bad_view.stderr


def test_list_names_rules_and_their_citations() -> None:
    out = cli("knowledge", "list")
    assert out.returncode == 0
    assert "suspicion.isotretinoin-failure" in out.stdout
    assert "ca-p-product-precipitation" in out.stdout


def test_diff_shows_removed_citation(tmp_path: Path) -> None:
    new = tmp_path / "kb"
    shutil.copytree(KNOWLEDGE, new)
    text = (new / "citations.yaml").read_text()
    start = text.index("  - id: labunits-0.2.1")
    end = text.index("  - id: loinc")
    (new / "citations.yaml").write_text(text[:start] + text[end:])
    analytes = (new / "analytes.yaml").read_text().replace(", labunits-0.2.1", "")
    (new / "analytes.yaml").write_text(analytes)
    out = cli("knowledge", "diff", str(KNOWLEDGE), str(new))
    assert out.returncode == 0, out.stderr
    assert ["removed", "citation", "labunits-0.2.1"] in [x.split() for x in out.stdout.splitlines()]


def test_fhir_format_is_a_bundle_with_risk_assessment_and_guidance() -> None:
    out = cli("assess", "--format", "fhir", "--as-of", "2026-01-01", str(SEED))
    assert out.returncode == 0, out.stderr
    bundle = json.loads(out.stdout)
    types = sorted(e["resource"]["resourceType"] for e in bundle["entry"])
    assert types == ["GuidanceResponse", "RiskAssessment"]
    notes = " ".join(n["text"] for e in bundle["entry"] for n in e["resource"].get("note", []))
    assert "palanivel-2026" in notes
