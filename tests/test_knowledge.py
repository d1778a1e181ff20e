"""Knowledge integrity: every rule cites, codes are well-formed, failures name file and field."""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from calcinosis.core.codes import icd10cm_is_valid, loinc_is_valid, rxnorm_is_valid, snomed_is_valid
from calcinosis.core.knowledge import When, load_knowledge
from calcinosis.core.knowledge_diff import diff_knowledge
from calcinosis.errors import KnowledgeError

SRC = Path(__file__).resolve().parents[1] / "src" / "calcinosis"
KNOWLEDGE = SRC / "knowledge"


def raw(name: str) -> Any:
    return yaml.safe_load((KNOWLEDGE / name).read_text(encoding="utf-8"))


def citation_ids() -> set[str]:
    return {c["id"] for c in raw("citations.yaml")["citations"]}


def rule_items() -> list[tuple[str, dict[str, Any]]]:
    """Every rule-like item in the rule files, read straight from YAML (not via the loader)."""
    items: list[tuple[str, dict[str, Any]]] = []

    def walk(file: str, node: Any) -> None:
        if isinstance(node, dict):
            if "id" in node and ("when" in node or "summary" in node or "label" in node):
                items.append((file, node))
            for value in node.values():
                walk(file, value)
        elif isinstance(node, list):
            for value in node:
                walk(file, value)

    for path in sorted((KNOWLEDGE / "rules").glob("*.yaml")):
        if path.name != "missing-data.yaml":
            walk(path.name, yaml.safe_load(path.read_text(encoding="utf-8")))
    return items


def test_shipped_knowledge_loads_with_a_version() -> None:
    kb = load_knowledge()
    assert re.match(r"^\d{4}\.\d+\.\d+$", kb.version)
    assert len(kb.rules) > 50


def test_every_rule_cites_an_existing_source() -> None:
    known = citation_ids()
    items = rule_items()
    assert len(items) > 50
    for file, item in items:
        assert item.get("citations"), f"{file}: {item['id']} cites nothing"
        assert set(item["citations"]) <= known, f"{file}: {item['id']}"


def test_every_threshold_has_a_unit_and_a_source() -> None:
    known = citation_ids()
    for key, item in raw("thresholds.yaml")["thresholds"].items():
        assert isinstance(item["value"], (int, float)), key
        assert item["unit"], key
        assert item["citations"] and set(item["citations"]) <= known, key


def test_every_management_option_has_an_evidence_level() -> None:
    for item in raw("rules/management.yaml")["options"]:
        assert item["evidence_level"] in {
            "1A",
            "1B",
            "2A",
            "2B",
            "3",
            "IV",
            "IV (single case)",
            "V",
        }


def test_value_set_codes_are_well_formed() -> None:
    checks = {"icd10cm": icd10cm_is_valid, "snomed": snomed_is_valid, "rxnorm": rxnorm_is_valid}
    count = 0
    for path in sorted((KNOWLEDGE / "value-sets").glob("*.yaml")):
        for concept in yaml.safe_load(path.read_text(encoding="utf-8"))["concepts"]:
            for system, codes in (concept.get("codes") or {}).items():
                if system in checks:
                    for code in codes:
                        assert checks[system](code), (path.name, concept["id"], code)
                        count += 1
    for analyte in raw("analytes.yaml")["analytes"].values():
        for code in analyte.get("loinc", []):
            assert loinc_is_valid(code), code
            count += 1
    assert count > 60


def test_interface_catalogue_ids_are_all_in_the_differential() -> None:
    interface = (
        Path(__file__).resolve().parents[2] / "shared" / "docs" / "interface.md"
    ).read_text()
    catalogue = set(re.findall(r"^\| `([a-z0-9-]+)` \|", interface, flags=re.M))
    assert len(catalogue) >= 27
    ids = {e["id"] for e in raw("rules/differential.yaml")["entries"]}
    assert catalogue <= ids


def test_code_system_uris_are_spelled_only_in_codes_module() -> None:
    pattern = re.compile(
        r"https?://(hl7\.org|snomed\.info|loinc\.org|www\.nlm\.nih\.gov|unitsofmeasure\.org|terminology\.hl7\.org)"
    )
    offenders = [
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        if p.name != "codes.py" and pattern.search(p.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def copy_knowledge(tmp_path: Path) -> Path:
    target = tmp_path / "kb"
    shutil.copytree(KNOWLEDGE, target)
    return target


def test_unknown_citation_is_refused_with_file_and_field(tmp_path: Path) -> None:
    kb = copy_knowledge(tmp_path)
    path = kb / "rules" / "workup.yaml"
    path.write_text(path.read_text().replace("[reiter-2011a, payne-1973]", "[no-such-source]", 1))
    with pytest.raises(KnowledgeError) as err:
        load_knowledge(kb)
    assert err.value.file == "rules/workup.yaml"
    assert err.value.field.endswith(".citations")
    assert "no-such-source" in err.value.reason


def test_bad_loinc_check_digit_is_refused(tmp_path: Path) -> None:
    kb = copy_knowledge(tmp_path)
    path = kb / "analytes.yaml"
    path.write_text(path.read_text().replace('"17861-6"', '"17861-5"'))
    with pytest.raises(KnowledgeError) as err:
        load_knowledge(kb)
    assert err.value.file == "analytes.yaml" and "17861-5" in err.value.reason


def test_rule_without_citation_is_refused(tmp_path: Path) -> None:
    kb = copy_knowledge(tmp_path)
    path = kb / "rules" / "follow-up.yaml"
    data = yaml.safe_load(path.read_text())
    data["items"][0]["citations"] = []
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(KnowledgeError, match="every rule must cite a source"):
        load_knowledge(kb)


def test_diff_reports_changed_threshold_and_added_code(tmp_path: Path) -> None:
    kb = copy_knowledge(tmp_path)
    path = kb / "thresholds.yaml"
    path.write_text(path.read_text().replace("    value: 70\n", "    value: 60\n"))
    vs = kb / "value-sets" / "conditions.yaml"
    vs.write_text(
        vs.read_text().replace(
            "icd10cm: [L70.0, L70.1, L70.8, L70.9]", "icd10cm: [L70.0, L70.1, L70.8, L70.9, L70.4]"
        )
    )
    changes = {
        (c.kind, c.key, c.change) for c in diff_knowledge(load_knowledge(), load_knowledge(kb))
    }
    assert ("threshold", "ca-p-product-precipitation", "changed") in changes
    assert ("code", "icd10cm|L70.4", "added") in changes
    assert len(changes) == 2


def test_group_with_unknown_concept_is_refused(tmp_path: Path) -> None:
    kb = copy_knowledge(tmp_path)
    path = kb / "rules" / "classification.yaml"
    path.write_text(path.read_text().replace("[sites-face, sites-trunk-acne]", "[sites-moon]"))
    with pytest.raises(KnowledgeError) as err:
        load_knowledge(kb)
    assert err.value.field == "groups.acne-sites" and "sites-moon" in err.value.reason


def test_derived_lookups_belong_to_their_knowledge_object() -> None:
    kb = load_knowledge()
    assert kb.derived is kb.derived  # computed once
    changed = dataclasses.replace(kb, differential=tuple(reversed(kb.differential)))
    assert changed.derived is not kb.derived  # a changed copy never sees stale lookups
    assert changed.derived.differential[0].rule is kb.differential[-1]
    assert [e.rule for e in kb.derived.differential] == list(kb.differential)


def test_when_sets_do_not_show_in_repr_or_equality() -> None:
    when = When(all=("a",), any=("b", "c"), none=("d",))
    assert repr(when) == "When(all=('a',), any=('b', 'c'), none=('d',))"
    assert when == When(("a",), ("b", "c"), ("d",))
    assert hash(when) == hash(When(("a",), ("b", "c"), ("d",)))
    assert when.holds({"a", "c"}) and not when.holds({"a", "c", "d"}) and not when.holds({"a"})
    assert When().holds(set()) and When(any=()).holds({"x"})
    assert when.met({"c", "a", "b"}) == ("a", "b", "c")
    assert dataclasses.replace(when, none=()).holds({"a", "b", "d"})


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_every_signal_a_rule_names_reads_as_words() -> None:
    kb = load_knowledge()
    assert kb.signal_labels["damage:any"] == "local tissue damage"
    assert kb.signal_labels["absent:acne"] == f"no {kb.concepts['acne'].label}"
    assert kb.signal_labels["absent:histology-bone"] == "no bone on histology"
    for rule in kb.differential:
        for signal in (*rule.data.get("for", {}), *rule.data.get("against", {})):
            assert signal in kb.signal_labels
    for rule in kb.rules.values():
        for signal in (*rule.when.all, *rule.when.any, *rule.when.none):
            assert signal in kb.signal_labels
    for signal, label in kb.signal_labels.items():
        assert label.strip() and ":" not in label.replace(": ", ""), (signal, label)


SIGNALS = "signals.yaml"


@pytest.mark.parametrize(
    ("file", "old", "new", "field", "reason"),
    [
        (
            "rules/differential.yaml",
            "damage:any: 2}",
            "damage:any: 2, lesion:glowing: 1}",
            "labels",
            "'lesion:glowing' (named in rules/differential.yaml: calcinosis-cutis-dystrophic.for)",
        ),
        (
            SIGNALS,
            "  damage:any: local tissue damage\n",
            "  damage:any: damage:any\n",
            "labels.damage:any",
            "reads like a signal id",
        ),
        (
            SIGNALS,
            "  warfarin-use: warfarin use\n",
            "  warfarin-use: x\n  lesion:glowing: glowing\n",
            "labels.lesion:glowing",
            "no rule names this signal",
        ),
        (
            SIGNALS,
            "  warfarin-use: warfarin use\n",
            "  warfarin-use: x\n  acne: spots\n",
            "labels.acne",
            "a value-set concept",
        ),
        (
            SIGNALS,
            '  absent: "no {label}"\n',
            '  absent: "no label"\n',
            "templates.absent",
            "{label}",
        ),
    ],
)
def test_signal_labels_are_checked(
    tmp_path: Path, file: str, old: str, new: str, field: str, reason: str
) -> None:
    kb = copy_knowledge(tmp_path)
    edit(kb / file, old, new)
    with pytest.raises(KnowledgeError) as err:
        load_knowledge(kb)
    assert (err.value.file, err.value.field) == (SIGNALS, field)
    assert reason in err.value.reason


def test_a_missing_calculation_rule_is_refused(tmp_path: Path) -> None:
    kb = copy_knowledge(tmp_path)
    edit(kb / "rules" / "calculations.yaml", "id: calculation.payne", "id: calculation.payne-1973")
    with pytest.raises(KnowledgeError) as err:
        load_knowledge(kb)
    assert (err.value.file, err.value.field) == ("rules/calculations.yaml", "calculation.payne")
    assert "the engine names it" in err.value.reason


def test_calculation_rules_are_registered_with_their_citations() -> None:
    kb = load_knowledge()
    assert kb.rules["calculation.payne"].citations == ("payne-1973",)
    assert kb.rules["calculation.ckd-epi-2021"].citations == ("inker-2021",)
    product = kb.rules["calculation.calcium-phosphate-product"].citations
    precip = kb.thresholds["ca-p-product-precipitation"].citations
    target = kb.thresholds["ca-p-product-target"].citations
    assert set(precip) | set(target) <= set(product)


def test_diff_reports_a_changed_signal_label(tmp_path: Path) -> None:
    kb = copy_knowledge(tmp_path)
    edit(kb / "signals.yaml", "  lesion:many: many lesions\n", "  lesion:many: numerous lesions\n")
    changes = diff_knowledge(load_knowledge(), load_knowledge(kb))
    assert [(c.kind, c.key, c.change) for c in changes] == [("label", "lesion:many", "changed")]
    assert "'many lesions' -> 'numerous lesions'" in changes[0].detail
