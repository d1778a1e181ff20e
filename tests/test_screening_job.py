"""`calcinosis screen` on an export built from the development vignettes, their note-only
twins and ordinary controls: every patient's row (or absence) agrees with the engine on that
patient's own Bundle, on DuckDB and on Spark alike."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

import calcinosis
from builder import Bundle
from bulk_export import patient_id, to_bulk, write_export
from calcinosis.errors import ExportError
from calcinosis.screening import duck as duck_engine
from calcinosis.screening.job import Worklist, screen
from calcinosis.screening.policy import load_policy
from notes_twins import note_only_twin, original

AS_OF = dt.date(2026, 1, 1)
VIGNETTES = sorted(
    p.stem
    for p in (Path(__file__).resolve().parents[2] / "shared/dev-vignettes/bundles").glob("*.json")
)
KB = calcinosis.load_knowledge()
POLICY = load_policy(KB)


def _controls() -> list[dict[str, Any]]:
    """People with nothing to find: hypertension with labs, diabetes, and no record at all."""
    out = []
    for i, (text, icd) in enumerate(
        [("Essential hypertension", "I10"), ("Type 2 diabetes", "E11.9")]
    ):
        b = Bundle(birth=f"19{60 + i}-05-01")
        b.condition(text, icd)
        b.normal_labs()
        out.append(b.build())
    out.append(Bundle(birth="1999-02-02").build())
    return out


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict[str, Any]]]:
    """The export folder and, per patient id, the Bundle `calcinosis assess` would be given."""
    bundles: dict[str, dict[str, Any]] = {}
    resources: list[dict[str, Any]] = []
    cases = [(original(v), f"-{i}") for i, v in enumerate(VIGNETTES)]
    cases += [(note_only_twin(v), f"-twin-{i}") for i, v in enumerate(VIGNETTES)]
    cases += [(b, f"-control-{i}") for i, b in enumerate(_controls())]
    for bundle, suffix in cases:
        bulk = to_bulk(bundle, suffix)
        resources.extend(bulk)
        bundles[patient_id(bulk)] = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": r} for r in bulk],
        }
    folder = tmp_path_factory.mktemp("export")
    write_export(folder, resources)
    return folder, bundles


def _expected(bundles: dict[str, dict[str, Any]]) -> dict[str, tuple[str, str]]:
    out = {}
    for pid, bundle in bundles.items():
        result = calcinosis.assess_bundle(bundle, as_of=AS_OF, knowledge=KB)
        out[pid] = (result.dcc_suspicion.level, result.calcinosis.type)
    return out


def _check_agreement(worklist: Worklist, bundles: dict[str, dict[str, Any]]) -> None:
    expected = _expected(bundles)
    listed = {r.patient_id: (r.dcc_suspicion, r.calcinosis_type) for r in worklist.rows}
    should = {pid for pid, (level, kind) in expected.items() if POLICY.worth_a_look(level, kind)}
    assert set(listed) == should
    for pid in should:
        assert listed[pid] == expected[pid], pid
    assert worklist.summary.patients == len(bundles)
    assert worklist.refused == []


def test_duckdb_worklist_agrees_with_the_engine_patient_by_patient(population: Any) -> None:
    folder, bundles = population
    worklist = screen(folder, engine="duckdb", as_of=AS_OF, knowledge=KB, workers=1)
    _check_agreement(worklist, bundles)
    # the vignettes hold DCC, calciphylaxis and metastatic cases: the worklist is not trivial
    kinds = {r.calcinosis_type for r in worklist.rows}
    assert {"calciphylaxis", "dystrophic", "metastatic"} <= kinds
    # most urgent first: calciphylaxis leads, and the order never goes back up
    keys = [
        POLICY.sort_key(r.dcc_suspicion, r.calcinosis_type, r.patient_id) for r in worklist.rows
    ]
    assert keys == sorted(keys) and worklist.rows[0].calcinosis_type == "calciphylaxis"
    # the controls are never judged: SQL sets them aside
    assert worklist.summary.candidates < worklist.summary.patients


_FORKED = """
import datetime as dt, json, sys
from calcinosis.screening import duck
from calcinosis.screening.job import screen
assert duck._may_fork()  # a fresh process, as the command line runs it: no other thread
rows = screen(sys.argv[1], as_of=dt.date.fromisoformat(sys.argv[2]), workers=2).rows
print(json.dumps([r.as_row() for r in rows]))
"""


def test_worker_processes_give_the_same_worklist(population: Any) -> None:
    folder, _ = population
    alone = [r.as_row() for r in screen(folder, as_of=AS_OF, knowledge=KB, workers=1).rows]
    # forked workers, which share the knowledge loaded before the fork
    run = [sys.executable, "-c", _FORKED, str(folder), AS_OF.isoformat()]
    forked = subprocess.run(run, capture_output=True, text=True, check=True, timeout=300)
    assert json.loads(forked.stdout) == alone
    # another thread running: the workers are spawned and load the knowledge themselves
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert not duck_engine._may_fork()
        spawned = screen(folder, engine="duckdb", as_of=AS_OF, knowledge=KB, workers=2)
    finally:
        release.set()
        other.join()
    assert [r.as_row() for r in spawned.rows] == alone


def test_spark_worklist_is_identical_to_duckdb(population: Any) -> None:
    folder, bundles = population
    duck = screen(folder, engine="duckdb", as_of=AS_OF, knowledge=KB, workers=1)
    spark = screen(folder, engine="spark", as_of=AS_OF, knowledge=KB)
    _check_agreement(spark, bundles)
    assert [r.as_row() for r in spark.rows] == [r.as_row() for r in duck.rows]
    assert spark.summary.candidates == duck.summary.candidates


def test_a_patient_whose_resources_are_refused_is_reported_not_dropped(tmp_path: Path) -> None:
    b = Bundle(birth="1995-01-01")
    # not a FHIR date: `calcinosis assess` refuses this record (invalid-resource)
    b.condition("Comedonal acne with hard papules", "L70.0", onsetDateTime="last spring")
    bulk = to_bulk(b.build(), "-bad")
    write_export(tmp_path, bulk, shards=1)
    worklist = screen(tmp_path, engine="duckdb", as_of=AS_OF, knowledge=KB, workers=1)
    assert worklist.rows == []
    assert [(v.patient_id, v.error) for v in worklist.refused] == [
        (patient_id(bulk), "invalid-resource")
    ]
    assert worklist.summary.refused == {"invalid-resource": 1}


def test_policy_file_is_cited_and_orders_everything() -> None:
    assert set(POLICY.citations) <= set(KB.citations)
    assert POLICY.worth_a_look("high", "none") and POLICY.worth_a_look("low", "undetermined")
    assert not POLICY.worth_a_look("low", "none")
    assert not POLICY.worth_a_look("not-applicable", "none")
    ranked = sorted(
        [("high", "dystrophic"), ("moderate", "calciphylaxis"), ("low", "metastatic")],
        key=lambda lt: POLICY.sort_key(lt[0], lt[1], "x"),
    )
    assert ranked[0] == ("moderate", "calciphylaxis")  # calciphylaxis first, whatever the level
    assert json.dumps(sorted(POLICY.level_rank, key=POLICY.level_rank.__getitem__)) == json.dumps(
        ["high", "moderate", "low", "not-applicable"]
    )


def test_an_export_in_a_folder_with_a_quote_is_refused_clearly(tmp_path: Path) -> None:
    folder = tmp_path / "o'brien export"
    write_export(folder, to_bulk(Bundle(birth="1990-01-01").build()), shards=1)
    with pytest.raises(ExportError, match="quote"):
        screen(folder, engine="duckdb", as_of=AS_OF, knowledge=KB, workers=1)
