"""Gathering the candidates' resources (`sql.grouped_sql`) puts each resource with exactly the
patient the views key it to, whatever form its reference takes; a reference the views cannot
read gathers nowhere."""

from __future__ import annotations

import json

import duckdb
import pytest

import calcinosis
from calcinosis.screening.engine import load_views
from calcinosis.screening.judge import bundle_of
from calcinosis.screening.narrowing import narrowing
from calcinosis.screening.sof.compiler import compile_view
from calcinosis.screening.sql import DUCKDB, grouped_sql, narrowing_steps

REFERENCES = [
    "Patient/p1",
    "Patient/p-2.b",
    "https://ehr.example.org/fhir/Patient/p3",
    "Patient/p4/_history/7",
    "https://ehr.example.org/fhir/Patient/p5/_history/2",
    "Patient/a/b",  # not a FHIR id
    "Patient/has space",
    "Patient/" + "x" * 65,  # too long for an id
    "Group/g1",
    "Patient/",
    "PatientX/p6",
    "urn:uuid:4f8c",
]


def _lines() -> list[str]:
    lines = []
    for n, reference in enumerate(REFERENCES):
        condition = {
            "resourceType": "Condition",
            "id": f"c{n}",
            "code": {"text": "Acne"},
            "subject": {"reference": reference},
        }
        lines.append(json.dumps(condition, separators=(",", ":") if n % 2 else (", ", ": ")))
    # subject wins over patient, as in the view
    both = {
        "resourceType": "Condition",
        "id": "both",
        "subject": {"reference": "Patient/p1"},
        "patient": {"reference": "Patient/p3"},
    }
    return [*lines, json.dumps(both)]


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE TABLE lines (resource VARCHAR)")
    con.execute("CREATE TABLE one (resource VARCHAR)")
    view = compile_view(load_views(calcinosis.load_knowledge())["Condition"], "duckdb", "one")
    con.execute(f"CREATE VIEW facts AS {view.sql}")
    return con


def test_each_resource_goes_to_the_patient_the_view_reads(con: duckdb.DuckDBPyConnection) -> None:
    expected = set()
    for line in _lines():
        con.execute("DELETE FROM one")
        con.execute("INSERT INTO one VALUES (?)", [line])
        con.execute("INSERT INTO lines VALUES (?)", [line])
        (key,) = con.execute("SELECT patient FROM facts").fetchone() or (None,)
        if key is not None:
            expected.add((key, json.loads(line)["id"]))
    assert {p for p, _ in expected} == {"p1", "p-2.b", "p3", "p4", "p5"}
    assert ("p1", "both") in expected
    # candidates are keys the views read, so every one has the syntax of an id
    con.execute("CREATE TEMP TABLE candidates (patient VARCHAR)")
    con.executemany("INSERT INTO candidates VALUES (?)", [[p] for p in {p for p, _ in expected}])
    gathered = con.execute(grouped_sql({"Condition": "lines"}, DUCKDB, "candidates")).fetchall()
    found = {(p, json.loads(r)["id"]) for p, resources in gathered for r in resources}
    assert found == expected


def test_only_patients_the_views_read_become_candidates() -> None:
    # evidence in every resource: each keyed patient is a candidate, and a reference the
    # views cannot read makes none (its rows reach the narrowing with no patient)
    con = duckdb.connect()
    con.execute("CREATE TABLE lines (resource VARCHAR)")
    for line in _lines():
        resource = json.loads(line)
        resource["code"] = {"text": "Calcinosis cutis"}
        con.execute("INSERT INTO lines VALUES (?)", [json.dumps(resource)])
    kb = calcinosis.load_knowledge()
    view = compile_view(load_views(kb)["Condition"], "duckdb", "lines")
    con.execute(f"CREATE VIEW facts_Condition AS {view.sql}")
    facts = {"facts_Condition": [name for name, _ in view.columns]}
    for name, query in narrowing_steps(facts, DUCKDB, narrowing(kb)):
        con.execute(f"CREATE TABLE {name} AS {query}")
    unkeyed = con.execute("SELECT count(*) FROM narrowing_rows WHERE patient IS NULL").fetchone()
    assert unkeyed is not None and unkeyed[0] > 0
    candidates = {p for (p,) in con.execute("SELECT patient FROM candidates").fetchall()}
    assert candidates == {"p1", "p-2.b", "p3", "p4", "p5"}


def test_the_judge_gets_one_bundle_whatever_order_the_resources_were_gathered_in() -> None:
    # neither engine orders its gathered lists: the judge does, so both judge the same Bundle
    lines = _lines()
    bundle = bundle_of(lines)
    assert bundle_of(reversed(lines)) == bundle
    assert [json.dumps(e["resource"]) for e in bundle["entry"]] == [
        json.dumps(json.loads(line)) for line in sorted(lines)
    ]
