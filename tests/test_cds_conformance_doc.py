"""docs/cds-hooks-conformance.md stays true: every Service requirement row of Inferno's CDS Hooks
2.0 list (and the hook library's Server rows for order-select/order-sign) is listed once, with
its keyword; every test it names exists; every `met` row names a test; every SHALL row is met or
says why not; and the summary counts add up."""

from __future__ import annotations

import ast
import csv
import re
from collections import Counter
from pathlib import Path

from test_cds_support import CDSHOOKS

REPOSITORY = Path(__file__).resolve().parents[1]
DOC = REPOSITORY / "docs" / "cds-hooks-conformance.md"
STATUSES = ("met", "not applicable", "gap")
ROW = re.compile(
    r"^\| (L?\d+) \| ([A-Z ]+) \| (.+?) \| (met|not applicable|gap) \| (.+?) \| (.*?) \|$"
)


def csv_rows(name: str) -> list[dict[str, str]]:
    with open(CDSHOOKS / "inferno-crd-test-kit" / name, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def doc_rows() -> dict[str, tuple[str, str, str, list[str], str]]:
    rows: dict[str, tuple[str, str, str, list[str], str]] = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if match:
            ident, keyword, text, status, tests, note = match.groups()
            assert ident not in rows, f"row {ident} listed twice"
            rows[ident] = (
                keyword,
                text,
                status,
                re.findall(r"`(test_[a-z0-9_]+)`", tests),
                note.strip(),
            )
    return rows


def defined_tests() -> set[str]:
    names = set()
    for path in (REPOSITORY / "tests").glob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith(
                "test_"
            ):
                names.add(node.name)
    return names


def expected_rows() -> dict[str, str]:
    service = {
        r["ID*"]: r["Conformance*"]
        for r in csv_rows("cds-hooks_2.0_requirements.csv")
        if "Service" in r["Actors*"]
    }
    library = {
        f"L{r['ID*']}": r["Conformance*"]
        for r in csv_rows("cds-hooks-library_1.0.1_requirements.csv")
        if "Server" in r["Actors*"] and re.search(r"/(order-select|order-sign)\.html", r["URL*"])
    }
    assert len(service) == 120 and len(library) == 9
    return {**service, **library}


def test_every_service_requirement_is_listed_once_with_its_keyword() -> None:
    rows = doc_rows()
    expected = expected_rows()
    assert set(rows) == set(expected)
    for ident, keyword in expected.items():
        assert rows[ident][0] == keyword, ident


def test_every_named_test_exists() -> None:
    known = defined_tests()
    named = {name for row in doc_rows().values() for name in row[3]}
    assert named and named <= known, sorted(named - known)


def test_met_rows_name_a_test_and_other_rows_say_why() -> None:
    for ident, (keyword, _, status, tests, note) in doc_rows().items():
        if status == "met":
            assert tests, f"row {ident} is met but names no test"
        else:
            assert len(note) > 10, f"row {ident} is {status} without a reason"
        if keyword in ("SHALL", "SHALL NOT") and status == "gap":
            assert "deploy" in note.lower(), f"SHALL row {ident} is a gap the note does not explain"


def test_the_summary_counts_add_up() -> None:
    counts = Counter((keyword, status) for keyword, _, status, _, _ in doc_rows().values())
    text = DOC.read_text(encoding="utf-8")
    summary = re.findall(r"^\| ([A-Z ]+) \| (\d+) \| (\d+) \| (\d+) \| (\d+) \|$", text, flags=re.M)
    assert summary
    for keyword, total, *by_status in summary:
        numbers = [counts[(keyword, status)] for status in STATUSES]
        assert [int(n) for n in by_status] == numbers, keyword
        assert int(total) == sum(numbers), keyword
    assert sum(int(total) for _, total, *_ in summary) == len(doc_rows())
