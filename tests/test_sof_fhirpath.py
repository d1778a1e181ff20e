"""The FHIRPath parser and compiler on edge cases of their own (the conformance suite is in
test_sof_suite.py). Compiled expressions are run on DuckDB; test_sof_runner.py runs the
dialect-sensitive ones on Spark too."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest

from calcinosis.screening.sof import fhirpath as fp
from calcinosis.screening.sof.errors import (
    FhirPathSyntaxError,
    ViewDefinitionError,
    ViewEvaluationError,
)
from calcinosis.screening.sof.runner import run_view

PATIENT = {
    "resourceType": "Patient",
    "id": "p1",
    "birthDate": "1970-06",
    "name": [
        {"use": "official", "family": "Smith", "given": ["Ann", "Bea"]},
        {"use": "usual", "family": "Jones"},
    ],
    "link": [
        {"other": {"reference": "https://fhir.example.org/Patient/p2/_history/3"}},
        {"other": {"reference": "#contained"}},
        {"other": {"reference": "RelatedPerson/r1"}},
    ],
}


def value(path: str, fhir_type: str = "string", resource: dict[str, Any] = PATIENT) -> Any:
    """The one value of `path` on `resource` (a column of that type)."""
    column = {"name": "v", "path": path, "type": fhir_type}
    view = {"resource": resource["resourceType"], "select": [{"column": [column]}]}
    rows = run_view(view, [resource])
    assert len(rows) == 1
    return rows[0]["v"]


def test_operators_bind_as_fhirpath_says() -> None:
    assert fp.parse("a + b * c") == fp.Binary(
        "+", fp.Name("a"), fp.Binary("*", fp.Name("b"), fp.Name("c"))
    )
    assert fp.parse("a or b and c") == fp.Binary(
        "or", fp.Name("a"), fp.Binary("and", fp.Name("b"), fp.Name("c"))
    )
    assert fp.parse("a implies b or c") == fp.Binary(
        "implies", fp.Name("a"), fp.Binary("or", fp.Name("b"), fp.Name("c"))
    )
    assert fp.parse("a - b - c") == fp.Binary(
        "-", fp.Binary("-", fp.Name("a"), fp.Name("b")), fp.Name("c")
    )
    assert fp.parse("-a.b") == fp.Unary("-", fp.Member(fp.Name("a"), "b"))


def test_invocations_indexers_and_calls() -> None:
    assert fp.parse("name[0].given.first()") == fp.Call(
        fp.Member(fp.Index(fp.Name("name"), fp.Literal(0, "integer", "0")), "given"),
        "first",
        (),
    )
    assert fp.parse("where(use = %u)") == fp.Call(
        None, "where", (fp.Binary("=", fp.Name("use"), fp.External("u")),)
    )
    assert fp.parse("value.ofType(FHIR.Quantity)") == fp.Call(
        fp.Name("value"), "ofType", (fp.Member(fp.Name("FHIR"), "Quantity"),)
    )


def test_keywords_are_names_after_a_dot() -> None:
    assert fp.parse("text.div") == fp.Member(fp.Name("text"), "div")
    assert fp.parse("expansion.contains.code") == fp.Member(
        fp.Member(fp.Name("expansion"), "contains"), "code"
    )


def test_literals() -> None:
    assert fp.parse("'it\\'s \\u00e9\\n'") == fp.Literal("it's é\n", "string")
    assert fp.parse("1.50") == fp.Literal(Decimal("1.50"), "decimal", "1.50")
    assert fp.parse("{}") == fp.Literal(None, "empty")
    assert fp.parse("@2020-01") == fp.Literal("2020-01", "date")
    assert fp.parse("@2020-01-01T10:30Z") == fp.Literal("2020-01-01T10:30Z", "dateTime")
    assert fp.parse("@T12:30") == fp.Literal("12:30", "time")
    assert fp.parse("`given name`") == fp.Name("given name")
    assert fp.parse("%`a b`") == fp.External("a b")
    assert fp.parse("$this") == fp.Variable("this")


def test_comments_and_whitespace_are_skipped() -> None:
    assert fp.parse(" name // the names\n /* all */ .family ") == fp.Member(
        fp.Name("name"), "family"
    )


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        ("@@", "unexpected character '@'", 0),
        ("name.", "expected a name after '.'", 5),
        ("name.'x'", "expected a name after '.'", 5),
        ("a and", "unexpected end of expression", 5),
        ("(a", "expected ')'", 2),
        ("a[1", "expected ']'", 3),
        ("a b", "unexpected 'b'", 2),
        ("where(a,)", "unexpected ')'", 8),
        ("{ a }", "expected '}'", 2),
        ("'open", 'unexpected character "\'"', 0),
    ],
)
def test_syntax_errors_say_where(text: str, message: str, position: int) -> None:
    with pytest.raises(FhirPathSyntaxError) as caught:
        fp.parse(text)
    assert caught.value.position == position
    assert str(caught.value) == f"{message} at position {position} in {text!r}"


def test_runaway_expressions_are_refused() -> None:
    with pytest.raises(FhirPathSyntaxError, match="nested deeper than 100 levels"):
        fp.parse("(" * 150 + "a" + ")" * 150)
    with pytest.raises(FhirPathSyntaxError, match="longer than 10000 characters"):
        fp.parse("a." * 6000 + "b")


def test_walk_visits_every_node() -> None:
    nodes = list(fp.walk(fp.parse("a.where(b = %c)[0]")))
    assert fp.External("c") in nodes
    assert fp.Name("b") in nodes
    assert len(nodes) == 7


def test_collection_equality_is_not_an_error() -> None:
    # FHIRPath `=` on collections: different sizes are unequal, not "several values"
    assert value("name.given = 'Ann'", "boolean") is False
    assert value("name.given = name.first().given", "boolean") is True
    assert value("name.family = name.family", "boolean") is True
    assert value("name.given != 'Ann'", "boolean") is True
    assert value("name.suffix = 'x'", "boolean") is None


def test_a_collection_where_one_value_is_needed_is_an_error() -> None:
    with pytest.raises(ViewEvaluationError, match="the operator > needs single values"):
        value("name.family > 'A'", "boolean")


def test_functions() -> None:
    assert value("name.count()", "integer") == 2
    assert value("name.last().family") == "Jones"
    assert value("name.exists(use = 'usual')", "boolean") is True
    assert value("name.where(use = 'old').empty()", "boolean") is True
    assert value("name.given.join(' ')") == "Ann Bea"
    assert value("name.where(family = 'Smith').given.last()") == "Bea"
    assert value("Patient.name[1].family") == "Jones"


def test_arithmetic_and_strings() -> None:
    assert value("7 div 2", "integer") == 3
    assert value("7 mod 2", "integer") == 1
    assert value("1 / 4", "decimal") == 0.25
    assert value("1 / 0", "decimal") is None
    assert value("-(2 * 3)", "integer") == -6
    assert value("name.first().family + ', ' + name.first().given.first()") == "Smith, Ann"
    assert value("name.first().suffix & '!'") == "!"


def test_three_valued_logic() -> None:
    assert value("{} and false", "boolean") is False
    assert value("{} or true", "boolean") is True
    assert value("{} implies false", "boolean") is None
    assert value("false implies {}", "boolean") is True
    assert value("true xor true", "boolean") is False


def test_reference_keys() -> None:
    assert value("getResourceKey()") == "p1"
    column = {"name": "v", "path": "link.other.getReferenceKey()", "collection": True}
    view = {"resource": "Patient", "select": [{"column": [column]}]}
    assert run_view(view, [PATIENT]) == [{"v": ["p2", "r1"]}]
    assert value("link.other.getReferenceKey(Patient)") == "p2"
    assert value("link.first().other.getReferenceKey(Observation)") is None


def test_boundaries() -> None:
    assert value("1.587.lowBoundary()", "decimal") == 1.5865
    assert value("1.587.highBoundary()", "decimal") == 1.5875
    assert value("birthDate.highBoundary()", "date") == "1970-06-30"
    assert value("@2024-02.highBoundary()", "date") == "2024-02-29"
    assert value("@2020-01-01T10:30Z.lowBoundary()", "dateTime") == "2020-01-01T10:30:00.000Z"
    assert value("@2020-01-01T10:30.highBoundary()", "dateTime") == (
        "2020-01-01T10:30:59.999-12:00"
    )
    assert value("@T10:30:00.5.highBoundary()", "time") == "10:30:00.599"


def test_boundaries_need_a_type() -> None:
    with pytest.raises(ViewDefinitionError, match="needs its input's type"):
        value("birthDate.lowBoundary()", "string")


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("name.select(family)", "the function select() is not supported"),
        ("name.first(1)", "first() takes 0 argument"),
        ("name | name", "the operator '|' is not supported"),
        ("name ~ name", "the operator '~' is not supported"),
        ("name.`odd name`", "'odd name' is not a FHIR element name"),
        ("link.getReferenceKey(patient)", "getReferenceKey(patient): not a resource type"),
        ("value.ofType(1)", "expected a type name"),
        ("$index", "Variable expressions are not supported"),
    ],
)
def test_unsupported_fhirpath_is_refused_when_compiled(path: str, message: str) -> None:
    with pytest.raises(ViewDefinitionError, match=re.escape(f"[0].column[0].path: {message}")):
        value(path)
