"""`calcinosis notes extract FILE` (registered in cli/main.py as the `notes` sub-app)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from calcinosis.cli import notes_cmds

NOTES = Path(__file__).resolve().parent / "data" / "notes"


def cli() -> typer.Typer:
    parent = typer.Typer()
    parent.command("noop")(lambda: None)
    parent.add_typer(notes_cmds.app, name="notes")
    return parent


def test_extract_prints_findings_with_spans_as_text() -> None:
    result = CliRunner().invoke(cli(), ["notes", "extract", str(NOTES / "n02-si-labs.txt")])
    assert result.exit_code == 0, result.output
    assert "calcium" in result.output and "2.38 mmol/L" in result.output
    assert "1.1 (no unit: not used)" in result.output
    assert "0-80" in result.output  # the sentence's span


def test_extract_json_gives_spans_into_the_note() -> None:
    path = NOTES / "twin-dev-seed-palanivel-2026.txt"
    result = CliRunner().invoke(cli(), ["notes", "extract", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    text = path.read_text(encoding="utf-8")
    assert data["findings"]
    for f in data["findings"]:
        start, end = f["span"]
        assert text[start:end] == f["text"]
        assert f["status"] in ("affirmed", "negated", "uncertain", "other-person", "historical")
    pain = [f for f in data["findings"] if f["concept"] == "pain"]
    assert pain and pain[0]["status"] == "negated"


def test_extract_reads_html_and_refuses_a_missing_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli(), ["notes", "extract", str(NOTES / "n06-html.html"), "--format", "json"]
    )
    assert result.exit_code == 0
    assert any(f["concept"] == "sites-ear" for f in json.loads(result.output)["findings"])
    missing = CliRunner().invoke(cli(), ["notes", "extract", str(tmp_path / "none.txt")])
    assert missing.exit_code == 1
