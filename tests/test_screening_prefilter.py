"""The raw-text test DuckDB runs before the views (prefilter.py) never drops a resource whose
row counts for the narrowing (evidence, acne, or every group of a feature's term), whatever the
casing, the JSON escapes, or the field a phrase starts or ends in."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

import calcinosis
from calcinosis.fhir.ingest import case_from_bundle
from calcinosis.screening.engine import load_views, narrowing_members
from calcinosis.screening.narrowing import Patterns, narrowing
from calcinosis.screening.prefilter import keep_sql, line_pattern, telling_sql
from calcinosis.screening.sof.compiler import compile_view
from calcinosis.screening.sql import DUCKDB, narrowing_steps

KB = calcinosis.load_knowledge()
N = narrowing(KB)
VIEWS = load_views(KB)
NARROWING_MEMBERS = narrowing_members(VIEWS)
CON = duckdb.connect()
CON.execute("CREATE TABLE lines (resource VARCHAR)")
FACTS = {}
for _rtype in ("Observation", "MedicationStatement", "Condition"):
    _compiled = compile_view(VIEWS[_rtype], "duckdb", "lines")
    CON.execute(f"CREATE VIEW facts_{_rtype} AS {_compiled.sql}")
    FACTS[f"facts_{_rtype}"] = [name for name, _ in _compiled.columns]
# the first step is the row each facts relation gives the narrowing: patient, codes, words
ROWS = narrowing_steps(FACTS, DUCKDB, N)[0][1]
KEEP = f"SELECT {keep_sql('resource', N)} FROM lines"

WORDS = sorted({w.rstrip("*") for p in N.patterns for phrase in p.phrases for w in phrase.split()})
NOISE = ["the", "papules", "on", "cheeks", "µmol", "café", "x"]
GAPS = [" ", ", ", "\n", '"', "\\", "/", "\t", " – ", "é"]


def _flagged(line: str) -> tuple[bool, bool]:
    """(whether the views' rows match a narrowing pattern, whether the raw test keeps it)."""
    CON.execute("DELETE FROM lines")
    CON.execute("INSERT INTO lines VALUES (?)", [line])
    rows = CON.execute(f"SELECT codes, words FROM ({ROWS})").fetchall()
    flagged = any(_needed(codes or "", words or "") for codes, words in rows)
    kept = CON.execute(KEEP).fetchall()[0][0]
    return flagged, bool(kept)


def _needed(codes: str, words: str) -> bool:
    """Whether a row of the narrowing counts: it matches evidence or acne, or every group of
    one of the features' terms."""

    def matches(p: Patterns) -> bool:
        return bool(re.search(p.text_pattern, words) or re.search(p.codes_pattern, codes))

    return (
        matches(N.evidence)
        or matches(N.acne)
        or any(all(matches(N.groups[g]) for g in term) for term in N.terms)
    )


def _resource(kind: str, first: str, second: str, code: str) -> dict[str, Any]:
    subject = {"reference": "Patient/p1"}
    if kind == "Observation":
        return {
            "resourceType": "Observation",
            "subject": subject,
            "code": {"text": first, "coding": [{"code": code, "display": second}]},
            "valueString": second,
        }
    if kind == "MedicationStatement":
        return {
            "resourceType": "MedicationStatement",
            "subject": subject,
            "medicationCodeableConcept": {"text": first, "coding": [{"code": code}]},
            "note": [{"text": second}],
        }
    return {
        "resourceType": "Condition",
        "subject": subject,
        "code": {"text": first, "coding": [{"code": code}]},
        "note": [{"text": second}],
    }


_TEXT = st.lists(st.sampled_from(WORDS + NOISE), min_size=1, max_size=4).flatmap(
    lambda words: st.tuples(st.just(words), st.lists(st.sampled_from(GAPS), min_size=len(words)))
)
_CODES = sorted({c for p in N.patterns for c in (*p.codes, *p.code_prefixes)})


def _text(parts: tuple[list[str], list[str]], upper: bool) -> str:
    words, gaps = parts
    text = "".join(w + g for w, g in zip(words, gaps, strict=False)).strip()
    return text.upper() if upper else text


def _code(code: str, dot: int) -> str:
    return code[:dot] + "." + code[dot:] if 0 < dot < len(code) else code


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["Observation", "MedicationStatement", "Condition"]),
    _TEXT,
    _TEXT,
    st.booleans(),
    st.booleans(),
    st.sampled_from([*_CODES, "I10", "E11.9"]),
    st.integers(0, 4),
)
def test_the_raw_test_keeps_every_line_the_views_flag(
    kind: str,
    first: tuple[list[str], list[str]],
    second: tuple[list[str], list[str]],
    upper: bool,
    ascii_only: bool,
    code: str,
    dot: int,
) -> None:
    resource = _resource(kind, _text(first, upper), _text(second, False), _code(code, dot))
    line = json.dumps(resource, ensure_ascii=ascii_only, separators=(",", ":"))
    flagged, kept = _flagged(line)
    assert kept or not flagged, line


def test_a_phrase_split_across_two_fields_still_passes() -> None:
    # the views join the fields with a space: "acoustic" + "shadow" reads as "acoustic shadow"
    counting = [N.evidence, N.acne, *(N.groups[t[0]] for t in N.terms if len(t) == 1)]
    alone = {phrase for p in N.patterns for phrase in p.phrases if " " not in phrase}
    phrases = [
        phrase.split()
        for p in counting
        for phrase in p.phrases
        if len(phrase.split()) == 2 and not set(phrase.split()) & alone and "*" not in phrase
    ]
    assert len(phrases) > 10
    for first, second in phrases:
        line = json.dumps(_resource("Observation", f"seen {first}", f"{second} here", "x"))
        assert _flagged(line) == (True, True), line


def test_escapes_before_a_word_count_as_an_edge() -> None:
    line = json.dumps(_resource("Observation", "exam", "chalky\nmaterial\\hard", "x"))
    assert "\\nmaterial" in line
    assert _flagged(line) == (True, True)


def test_ordinary_lines_are_dropped() -> None:
    # the point of the test: most of an export never reaches the views
    lab = _resource("Observation", "Creatinine", "Creatinine [Moles/volume] in Serum", "2160-0")
    lab["valueQuantity"] = {"value": 67, "unit": "umol/L"}
    assert _flagged(json.dumps(lab)) == (False, False)
    # "calcium deposits" is tested by "deposits": lab results, most of an export, name calcium
    calcium = _resource("Observation", "Calcium", "Calcium [Moles/volume] in Serum", "17861-6")
    assert _flagged(json.dumps(calcium)) == (False, False)
    drug = _resource("MedicationStatement", "Ramipril 5 mg", "Taken daily", "1234")
    assert _flagged(json.dumps(drug)) == (False, False)
    # a response counts only with the drug it is about (a term of two groups)
    other = _resource("MedicationStatement", "Ramipril", "Treatment response: not-applicable", "1")
    assert _flagged(json.dumps(other)) == (False, False)
    alone = _resource("MedicationStatement", "Isotretinoin 20 mg", "Taken daily", "1")
    assert _flagged(json.dumps(alone)) == (False, False)
    failed = _resource(
        "MedicationStatement", "Isotretinoin", "Treatment response: no response", "1"
    )
    assert _flagged(json.dumps(failed)) == (True, True)


def test_a_line_with_a_unicode_escape_or_an_attachment_always_passes() -> None:
    # a letter may hide behind \u0068; base64 text is read only by the views
    escaped = '{"resourceType":"Observation","valueString":"\\u0068ard"}'
    attachment = '{"resourceType":"DocumentReference","content":[{"attachment":{"data":"aGk="}}]}'
    for line in (escaped, attachment):
        CON.execute("DELETE FROM lines")
        CON.execute("INSERT INTO lines VALUES (?)", [line])
        assert CON.execute(KEEP).fetchall()[0][0] is True


def test_codes_match_with_or_without_their_dots() -> None:
    pattern = re.compile(line_pattern(N).removeprefix("(?i)"), re.IGNORECASE)
    assert pattern.search('"code":"L94.2"') and pattern.search('"code":"L942"')
    assert pattern.search('"code":"l70.0"')


def _view(path: str) -> dict[str, Any]:
    column = {"name": "x", "path": path}
    return {
        "resourceType": "ViewDefinition",
        "resource": "Patient",
        "select": [{"column": [column]}],
    }


def test_a_view_names_the_members_it_reads_or_says_it_reads_the_whole_resource() -> None:
    assert compile_view(_view("name.family"), "duckdb", "src").members == ("name",)
    assert compile_view(_view("getResourceKey()"), "spark", "src").members == ("id",)
    assert compile_view(_view("exists()"), "duckdb", "src").members is None
    members = compile_view(VIEWS["Observation"], "duckdb", "src").members
    assert members is not None and {"subject", "code", "valueString", "note"} <= set(members)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["Observation", "MedicationStatement", "Condition"]),
            _TEXT,
            _TEXT,
            st.booleans(),
            st.sampled_from([*_CODES, "I10"]),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_resources_reduced_to_the_members_give_the_views_the_same_rows(
    resources: list[
        tuple[str, tuple[list[str], list[str]], tuple[list[str], list[str]], bool, str]
    ],
) -> None:
    # what DuckDB's JSON reader keeps (telling_sql) gives each view the same rows as the whole
    # resources, for every resource the views would flag
    with tempfile.TemporaryDirectory() as folder:
        by_type: dict[str, list[str]] = {}
        for kind, first, second, ascii_only, code in resources:
            resource = _resource(kind, _text(first, False), _text(second, False), code)
            resource["status"] = "final"  # a member no view reads
            line = json.dumps(resource, ensure_ascii=ascii_only)
            by_type.setdefault(kind, []).append(line)
        for kind, lines in by_type.items():
            path = Path(folder) / f"{kind}.ndjson"
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
            view = compile_view(VIEWS[kind], "duckdb", "reduced")
            con = duckdb.connect()
            files = f"['{path}']"
            query = telling_sql(files, view.members, NARROWING_MEMBERS[kind], N)
            con.execute(f"CREATE VIEW reduced AS {query}")
            con.execute("CREATE TABLE whole (resource VARCHAR)")
            con.executemany("INSERT INTO whole VALUES (?)", [[line] for line in lines])
            full = compile_view(VIEWS[kind], "duckdb", "whole")
            kept = con.execute(view.sql).fetchall()
            every = con.execute(full.sql).fetchall()
            names = [name for name, _ in full.columns]
            flagged = [row for row in every if _row_counts(dict(zip(names, row, strict=True)))]
            assert set(flagged) <= set(kept) <= set(every)


def _row_counts(row: dict[str, Any]) -> bool:
    """A view's row as the narrowing reads it (sql.narrowing_steps): codes and words."""
    codes = " ".join(str(v) for k, v in row.items() if k.startswith("code_") and v is not None)
    words = " ".join(str(v) for k, v in row.items() if k.startswith("text_") and v is not None)
    return _needed(codes.replace(".", "").upper(), words.lower())


def test_the_patients_reference_is_not_tested() -> None:
    # the test reads what a row's codes and words come from; a reference that spells a word
    # (or a code's digits) flags nothing, and would let every resource of that patient through
    tested = NARROWING_MEMBERS["Observation"]
    assert tested is not None and "subject" not in tested
    assert {"code", "valueString", "note"} <= set(tested)
    lab = _resource("Observation", "Creatinine", "67 umol/L", "2160-0")
    lab["subject"] = {"reference": "Patient/acne-3640"}
    line = json.dumps(lab)
    assert _flagged(line)[0] is False
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "Observation.ndjson"
        path.write_text(line + "\n", encoding="utf-8")
        members = compile_view(VIEWS["Observation"], "duckdb", "x").members
        query = telling_sql(f"['{path}']", members, tested, N)
        assert duckdb.connect().execute(f"SELECT count(*) FROM ({query})").fetchone() == (0,)
        everything = telling_sql(f"['{path}']", members, members, N)
        assert duckdb.connect().execute(f"SELECT count(*) FROM ({everything})").fetchone() == (1,)


def test_a_question_not_answered_yes_counts_for_nothing() -> None:
    # an exam label asked as a question tells only its answer (fhir/ingest.py): answered no,
    # or not at all, it must not make a candidate, whatever its words
    assert "Hard chalky or calcified material extracted or extruded from lesions" in N.yes_no_labels
    traced = frozenset().union(*(p.concepts for p in N.patterns))
    for label in sorted(N.yes_no_labels):
        asked = {
            "resourceType": "Observation",
            "id": "o1",
            "subject": {"reference": "Patient/p1"},
            "code": {"text": label},
            "note": [{"text": "hard chalky calcified material, comedones"}],  # never read
        }
        assert _flagged(json.dumps({**asked, "valueBoolean": True}))[0] is True, label
        for answer in (False, None):
            unanswered = {**asked} if answer is None else {**asked, "valueBoolean": answer}
            assert _flagged(json.dumps(unanswered))[0] is False, (label, answer)
            bundle = {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [
                    {"resource": {"resourceType": "Patient", "id": "p1"}},
                    {"resource": unanswered},
                ],
            }
            case = case_from_bundle(bundle, KB)
            assert not {f.concept for f in case.facts if f.present} & traced, (label, answer)
