"""The `calcinosis` command line: exit statuses, error codes, formats, determinism, the report.

Most tests call `calcinosis.cli.main.main(argv)` (the function behind the console script, with
its one error handler) inside Typer's CliRunner isolation, which swaps stdin/stdout/stderr. A few
run a fresh interpreter where the process boundary itself matters.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson
import pytest
from rich.console import Console
from typer.testing import CliRunner

import calcinosis
import hostile
from calcinosis.cli.main import main
from calcinosis.cli.render import assessed_item, dumps_json, refused_item, render_text
from calcinosis.core.assessment import (
    Assessment,
    Basis,
    Citation,
    Classification,
    Finding,
    MissingData,
    PatientSummary,
    Statement,
    Suspicion,
)
from calcinosis.errors import InvalidJsonError

AS_OF = "2026-01-01"
SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "dev-vignettes" / "bundles"
SAMPLE_FILES = sorted(SAMPLES.glob("*.json")) if SAMPLES.is_dir() else []
needs_samples = pytest.mark.skipif(not SAMPLE_FILES, reason="../shared/dev-vignettes absent")
UNIT_MG = re.compile(r"(?<![\w/])mg(?![\w/])")


@dataclass(frozen=True)
class Run:
    code: int
    out: bytes
    err: str

    @property
    def text(self) -> str:
        return self.out.decode()

    def json(self) -> Any:
        return orjson.loads(self.out)

    def lines(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in self.out.splitlines()]


def cli(*args: str | Path, stdin: bytes | None = None) -> Run:
    """Run the command line in-process, as the console script would, and capture its output."""
    with CliRunner().isolation(input=stdin) as (out, err, _):
        code = main([str(a) for a in args])
        sys.stdout.flush()
        sys.stderr.flush()
        return Run(code, out.getvalue(), err.getvalue().decode())


def run_process(
    *args: str | Path, stdin: bytes = b"", **env: str
) -> subprocess.CompletedProcess[bytes]:
    command = [sys.executable, "-m", "calcinosis.cli.main", *map(str, args)]
    return subprocess.run(
        command, input=stdin, capture_output=True, timeout=120, env={**os.environ, **env}
    )


def write(directory: Path, name: str, data: bytes) -> Path:
    path = directory / name
    path.write_bytes(data)
    return path


@pytest.fixture
def seed(tmp_path: Path) -> Path:
    return write(tmp_path, "seed.json", orjson.dumps(hostile.seed_bundle()))


def expect_refused(run: Run, source: str, code: str, message: str | None = None) -> None:
    """One refused input in jsonl: exit 1, the contract code (and exact message if given)."""
    assert run.code == 1, run.err
    [item] = run.lines()
    assert item["source"] == source
    assert item["error"]["code"] == code
    if message is not None:
        assert item["error"]["message"] == message
    assert "Traceback" not in run.text + run.err


# --- refusals: exact codes and messages ------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the input is empty"),
        (b"  \n ", "the input is empty"),
        (b"\xff\xfe{}", "the input is not valid UTF-8 text"),
        (b'{"id": "caf\xe9"}', "the input is not valid UTF-8 text"),
        (hostile.nested_array(2000), "JSON nested more than 1024 levels deep"),
        (b"{", "not valid JSON: unexpected end of data at line 1, column 2"),
    ],
)
def test_invalid_json_is_refused_with_its_reason(tmp_path: Path, data: bytes, message: str) -> None:
    path = write(tmp_path, "bad.json", data)
    expect_refused(cli("assess", path, "--format", "jsonl"), str(path), "invalid-json", message)


@pytest.mark.parametrize(
    ("data", "kind"), [(b"[]", "an array"), (b'"x"', "a string"), (b"3", "a number")]
)
def test_top_level_not_an_object_is_not_a_bundle(tmp_path: Path, data: bytes, kind: str) -> None:
    path = write(tmp_path, "x.json", data)
    message = f"the top level is {kind}, not a JSON object holding a FHIR Bundle"
    expect_refused(cli("assess", path, "--format", "jsonl"), str(path), "not-a-bundle", message)


def test_a_patient_resource_is_not_a_bundle(tmp_path: Path) -> None:
    path = write(tmp_path, "p.json", b'{"resourceType": "Patient", "id": "p1"}')
    expect_refused(cli("assess", path, "--format", "jsonl"), str(path), "not-a-bundle")


@pytest.mark.parametrize(
    "case",
    [c for c in hostile.corpus() if c.code in {"invalid-resource", "no-patient"}]
    + [c for c in hostile.corpus() if c.code == "multiple-patients"],
    ids=lambda c: c.name,
)
def test_bad_bundles_are_refused_with_their_code(tmp_path: Path, case: hostile.Hostile) -> None:
    path = write(tmp_path, f"{case.name}.json", case.data)
    assert case.code is not None
    expect_refused(cli("assess", path, "--format", "jsonl"), str(path), case.code)


def test_too_large_by_max_bytes(seed: Path) -> None:
    run = cli("assess", seed, "--format", "jsonl", "--max-bytes", "100")
    message = "larger than the limit of 100 bytes (see --max-bytes)"
    expect_refused(run, str(seed), "too-large", message)


def test_too_large_by_default_limit_even_if_valid_json(tmp_path: Path) -> None:
    data = orjson.dumps(hostile.seed_bundle())
    path = write(tmp_path, "big.json", data + b" " * (5 * 1024 * 1024))
    message = "larger than the limit of 5242880 bytes (see --max-bytes)"
    expect_refused(cli("assess", path, "--format", "jsonl"), str(path), "too-large", message)


def test_too_large_on_stdin() -> None:
    run = cli("assess", "-", "--format", "jsonl", "--max-bytes", "10", stdin=b'{"a": "0123456789"}')
    expect_refused(run, "-", "too-large", "larger than the limit of 10 bytes (see --max-bytes)")


def test_missing_file_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "absent.json"
    run = cli("assess", path, "--format", "jsonl")
    expect_refused(run, str(path), "unreadable", f"{path}: no such file")


def test_path_in_missing_directory_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "no-such-dir" / "x.json"
    run = cli("assess", path, "--format", "jsonl")
    expect_refused(run, str(path), "unreadable", f"{path}: no such file")


def test_directory_named_like_json_inside_a_directory_is_unreadable(tmp_path: Path) -> None:
    (tmp_path / "inner.json").mkdir()
    run = cli("assess", tmp_path, "--format", "jsonl")
    path = tmp_path / "inner.json"
    expect_refused(run, str(path), "unreadable", f"{path}: is a directory, not a file")


@pytest.mark.parametrize("case", hostile.corpus(), ids=lambda c: c.name)
def test_hostile_corpus(tmp_path: Path, case: hostile.Hostile) -> None:
    """Each hostile input gets its contract outcome, and nothing ever prints a traceback."""
    path = write(tmp_path, "input.json", case.data)
    run = cli("assess", path, "--format", "jsonl", "--as-of", AS_OF)
    assert "Traceback" not in run.text + run.err
    [item] = run.lines()
    assert item["source"] == str(path)
    if case.code is None:
        assert (run.code, item.get("error")) == (0, None)
    elif case.code == hostile.ANY_OUTCOME:
        assert run.code in (0, 1)
        assert "error" not in item or item["error"]["code"] in hostile.ERROR_CODES
    else:
        assert (run.code, item.get("error", {}).get("code")) == (1, case.code)


# --- batches, order, stdin, directories --------------------------------------------------------


def test_mixed_batch_reports_both_in_input_order(tmp_path: Path, seed: Path) -> None:
    bad = write(tmp_path, "bad.json", b"{")
    run = cli("assess", bad, seed, "--format", "jsonl", "--as-of", AS_OF)
    assert run.code == 1
    first, second = run.lines()
    assert (first["source"], first["error"]["code"]) == (str(bad), "invalid-json")
    assert second["source"] == str(seed)
    assert list(second)[:2] == ["source", "knowledge_version"]
    assert second["calcinosis"]["type"] == "dystrophic"


def test_refusals_keep_input_order_and_json_gives_an_array(tmp_path: Path) -> None:
    paths = [write(tmp_path, name, b"[]") for name in ("z.json", "a.json")]
    missing = tmp_path / "m.json"
    run = cli("assess", *paths, missing, "--format", "json")
    assert run.code == 1
    assert [(i["source"], i["error"]["code"]) for i in run.json()] == [
        (str(paths[0]), "not-a-bundle"),
        (str(paths[1]), "not-a-bundle"),
        (str(missing), "unreadable"),
    ]


def test_directory_assesses_its_json_files_in_name_order(tmp_path: Path) -> None:
    bundle = orjson.dumps(hostile.seed_bundle())
    for name in ("b.json", "a.json", "c.json"):
        write(tmp_path, name, bundle)
    write(tmp_path, "notes.txt", b"not a bundle")
    run = cli("assess", tmp_path, "--format", "jsonl", "--as-of", AS_OF)
    assert run.code == 0, run.err
    names = [Path(item["source"]).name for item in run.lines()]
    assert names == ["a.json", "b.json", "c.json"]


def test_directory_gives_a_json_array_even_for_one_file(tmp_path: Path) -> None:
    write(tmp_path, "only.json", b"[]")
    run = cli("assess", tmp_path, "--format", "json")
    assert run.code == 1
    assert [item["source"] for item in run.json()] == [str(tmp_path / "only.json")]


def test_directory_without_json_files_is_a_usage_error(tmp_path: Path) -> None:
    write(tmp_path, "notes.txt", b"{}")
    run = cli("assess", tmp_path)
    assert run.code == 2
    assert f"no *.json files in {tmp_path}" in run.err


def test_dash_reads_stdin(seed: Path) -> None:
    run = cli("assess", "-", "--format", "json", "--as-of", AS_OF, stdin=seed.read_bytes())
    assert run.code == 0, run.err
    assert run.json()["source"] == "-"
    assert run.json()["patient"]["sex"] == "female"


def test_no_path_reads_stdin() -> None:
    run = cli("assess", "--format", "jsonl", stdin=b"[1]")
    expect_refused(run, "-", "not-a-bundle")


def test_stdin_through_a_real_pipe(seed: Path) -> None:
    done = run_process("assess", "--format", "jsonl", "--as-of", AS_OF, stdin=seed.read_bytes())
    assert done.returncode == 0, done.stderr
    assert orjson.loads(done.stdout)["source"] == "-"


# --- formats and determinism -------------------------------------------------------------------


def test_json_for_one_input_is_one_indented_object_with_final_newline(seed: Path) -> None:
    run = cli("assess", seed, "--format", "json", "--as-of", AS_OF)
    assert run.code == 0, run.err
    assert run.out.startswith(b'{\n  "source": ')
    assert run.out.endswith(b"}\n")
    assert run.json()["as_of"] == AS_OF


def test_default_format_off_a_terminal_is_json(seed: Path) -> None:
    run = cli("assess", seed, "--as-of", AS_OF)
    assert run.code == 0, run.err
    assert run.json()["source"] == str(seed)


def test_jsonl_is_one_compact_line_per_input(seed: Path) -> None:
    run = cli("assess", seed, seed, "--format", "jsonl", "--as-of", AS_OF)
    assert run.code == 0, run.err
    lines = run.out.split(b"\n")
    assert lines[2:] == [b""]
    assert lines[0] == lines[1]
    assert orjson.dumps(orjson.loads(lines[0])) == lines[0]


def test_same_input_gives_byte_identical_json_across_processes(seed: Path) -> None:
    outputs = [
        run_process("assess", seed, "--format", "json", "--as-of", AS_OF, PYTHONHASHSEED=hs)
        for hs in ("1", "2")
    ]
    assert [o.returncode for o in outputs] == [0, 0], outputs[0].stderr
    assert outputs[0].stdout == outputs[1].stdout
    assert orjson.loads(outputs[0].stdout)["source"] == str(seed)


def test_text_format_prints_the_report(seed: Path) -> None:
    run = cli("assess", seed, "--format", "text", "--as-of", AS_OF)
    assert run.code == 0, run.err
    assert "Calcinosis type: dystrophic" in run.text
    assert "References" in run.text


def test_text_format_shows_refusals_in_place(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.json", b"")
    run = cli("assess", path, "--format", "text")
    assert run.code == 1
    assert "Refused (invalid-json): the input is empty" in run.text


def test_no_progress_bar_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    paths = [write(tmp_path, f"{i}.json", b"[]") for i in range(5)]
    run = cli("assess", *paths, "--format", "jsonl")
    assert (run.code, run.err) == (1, "")


# --- usage errors and the error handler ------------------------------------------------------


def test_unknown_option_is_a_usage_error(seed: Path) -> None:
    run = cli("assess", seed, "--bogus")
    assert (run.code, run.out) == (2, b"")
    assert "No such option: --bogus" in run.err


@pytest.mark.parametrize("value", ["2026-13-01", "20260101", "yesterday", "2026-1-1"])
def test_bad_as_of_is_a_usage_error(seed: Path, value: str) -> None:
    run = cli("assess", seed, "--as-of", value)
    assert (run.code, run.out) == (2, b"")
    assert f"'{value}' is not a date in the form YYYY-MM-DD" in run.err


def test_bad_max_bytes_is_a_usage_error(seed: Path) -> None:
    run = cli("assess", seed, "--max-bytes", "0")
    assert (run.code, run.out) == (2, b"")
    assert "--max-bytes" in run.err


def test_missing_knowledge_directory_is_a_usage_error(seed: Path, tmp_path: Path) -> None:
    run = cli("assess", seed, "--knowledge", tmp_path / "nowhere")
    assert (run.code, run.out) == (2, b"")
    assert "does not exist" in run.err


def test_invalid_knowledge_directory_is_a_usage_error(seed: Path, tmp_path: Path) -> None:
    empty = tmp_path / "kb"
    empty.mkdir()
    run = cli("assess", seed, "--knowledge", empty)
    assert (run.code, run.out) == (2, b"")
    assert run.err.startswith("calcinosis: invalid knowledge: ")
    assert "Traceback" not in run.err


def test_unexpected_error_is_one_line_without_traceback(
    seed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("patient secret 123")

    monkeypatch.setattr(calcinosis, "assess_bundle", broken)
    run = cli("assess", seed, "--format", "json")
    assert run.code == 1
    assert run.err == (
        "calcinosis: internal error (RuntimeError); rerun with --verbose for details\n"
    )
    assert "secret" not in run.text


def test_verbose_shows_the_traceback(seed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("engine bug")

    monkeypatch.setattr(calcinosis, "assess_bundle", broken)
    run = cli("--verbose", "assess", seed)
    assert run.code == 1
    assert "Traceback" in run.err
    assert "RuntimeError: engine bug" in run.err


def test_help_exits_zero() -> None:
    run = cli("assess", "--help")
    assert run.code == 0
    assert "--as-of" in run.text


def test_fresh_process_unknown_option_exits_two_without_traceback() -> None:
    done = run_process("assess", "--nope")
    assert done.returncode == 2
    assert b"No such option: --nope" in done.stderr
    assert b"Traceback" not in done.stdout + done.stderr


# --- demo ---------------------------------------------------------------------------------------


def test_demo_prints_the_seed_report() -> None:
    run = cli("demo")
    assert run.code == 0, run.err
    first, *rest = run.text.splitlines()
    assert first.startswith("Demo data: ")
    assert "2026-01-01" in first
    assert "Calcinosis type: dystrophic" in rest


# --- units --------------------------------------------------------------------------------------


def test_calcium_in_mg_is_assessed_with_a_warning_naming_the_unit(tmp_path: Path) -> None:
    bundle = hostile.seed_bundle()
    hostile.calcium_in_mg(bundle)
    path = write(tmp_path, "mg.json", orjson.dumps(bundle))
    check_unit_warning(cli("assess", path, "--format", "json", "--as-of", AS_OF))


@needs_samples
def test_sample_with_unconvertible_unit_is_assessed_with_a_warning() -> None:
    path = SAMPLES / "dev-unit-unconvertible-01.json"
    check_unit_warning(cli("assess", path, "--format", "json", "--as-of", AS_OF))


def check_unit_warning(run: Run) -> None:
    assert run.code == 0, run.err
    result = run.json()
    assert any(UNIT_MG.search(w["summary"]) for w in result["warnings"]), result["warnings"]
    assert "corrected-calcium" not in [c["id"] for c in result["calculations"]]


# --- the text report ------------------------------------------------------------------------


def report_lines(assessment: Assessment, source: str = "case.json") -> list[str]:
    console = Console(width=80, record=True, file=io.StringIO())
    console.print(render_text(assessment, source))
    return console.export_text().splitlines()


def check_fits_80_columns(lines: list[str]) -> None:
    too_wide = [line for line in lines if len(line) > 80]
    assert too_wide == []
    assert [line for line in lines if line != line.rstrip()] == []


@needs_samples
@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.stem)
def test_sample_reports_fit_80_columns(path: Path) -> None:
    bundle = orjson.loads(path.read_bytes())
    assessment = calcinosis.assess_bundle(bundle, as_of=dt.date.fromisoformat(AS_OF))
    lines = report_lines(assessment, path.name)
    check_fits_80_columns(lines)
    text = "\n".join(lines)
    assert f"Knowledge: {assessment.knowledge_version}" in text
    assert f"Calcinosis type: {assessment.calcinosis.type}" in text
    for citation in assessment.citations:
        assert f"[{citation.id}]" in text


def synthetic(long: str = "") -> Assessment:
    """An assessment built by hand, so the report's layout is tested without the engine."""
    basis = Basis(
        findings=(Finding("Observation/c3df114f-a353-59ce-a5b5-97d14dfc4af2", "Serum calcium"),),
        rules=("rule-1",),
        citations=("palanivel-2026",),
    )
    return Assessment(
        knowledge_version="9.9.9",
        as_of=AS_OF,
        patient=PatientSummary("p1", 29, "female"),
        dcc_suspicion=Suspicion("high", "Resistant comedones." + long, basis),
        calcinosis=Classification("dystrophic", "Normal calcium metabolism." + long, basis),
        differential=(
            Statement("milia", "Keratin cysts.", basis, (("label", "Milia"), ("rank", 1))),
        ),
        calculations=(
            Statement("corrected-calcium", "Payne.", basis, (("value", 9.4), ("unit", "mg/dL"))),
        ),
        workup=(Statement("biopsy", "Skin biopsy with von Kossa stain.", basis),),
        management=(
            Statement("excision", "Excision.", basis, (("evidence_level", "case series"),)),
        ),
        follow_up=(Statement("review", "Review at 3 months.", basis),),
        warnings=(Statement("unit", "Calcium unit 'mg' cannot be converted.", basis),),
        missing_data=(MissingData("serum-phosphate", "Serum phosphate", "Ca x P product"),),
        citations=(Citation("palanivel-2026", "Palanivel & Rao 2026.", "10.46889/JDR.2026.7105"),),
    )


def test_report_has_every_section_in_order() -> None:
    text = "\n".join(report_lines(synthetic()))
    headings = [
        "Patient: female, 29 years   Knowledge: 9.9.9   As of: 2026-01-01",
        "DCC suspicion: high",
        "Finding 1",
        "Calcinosis type: dystrophic",
        "Differential",
        "1. Milia",
        "corrected-calcium: 9.4 mg/dL",
        "Work-up",
        "Management",
        "Evidence: case series",
        "Follow-up",
        "Warnings",
        "! Calcium unit 'mg' cannot be converted. [palanivel-2026]",
        "Missing data",
        "Would change: Ca x P product",
        "Findings",
        "1. Serum calcium (Observation/c3df114f…)",
        "References",
        "[palanivel-2026] Palanivel & Rao 2026. doi:10.46889/JDR.2026.7105",
    ]
    positions = [text.find(h) for h in headings]
    assert -1 not in positions, [h for h, p in zip(headings, positions, strict=True) if p < 0]
    assert positions == sorted(positions)
    assert text.count("Serum calcium") == 1


def test_report_numbers_each_finding_once_and_cites_ranges() -> None:
    findings = tuple(Finding(f"Observation/o{i}", f"finding {i}") for i in range(1, 6))
    wide = Basis(findings=findings, citations=("palanivel-2026",))
    gappy = Basis(findings=(*findings[:3], findings[4]), citations=("palanivel-2026",))
    assessment = replace(
        synthetic(),
        dcc_suspicion=Suspicion("low", "Few features.", wide),
        workup=(Statement("biopsy", "Biopsy.", gappy),),
    )
    text = "\n".join(report_lines(assessment))
    assert "  Findings 1-5\n" in text
    assert "    Findings 1-3, 5\n" in text
    assert [text.count(f"finding {i} (Observation/o{i})") for i in range(1, 6)] == [1] * 5


def test_report_wraps_long_text_and_strips_terminal_escapes() -> None:
    long = " A very long sentence about dermal calcification." * 6 + " \x1b[2J" + "x" * 120
    lines = report_lines(synthetic(long))
    check_fits_80_columns(lines)
    assert "\x1b" not in "".join(lines)


def test_json_items_put_source_first() -> None:
    item = assessed_item("case.json", synthetic())
    assert list(item)[:3] == ["source", "knowledge_version", "as_of"]
    refused = refused_item("-", InvalidJsonError("the input is empty"))
    assert refused == {
        "source": "-",
        "error": {"code": "invalid-json", "message": "the input is empty"},
    }
    assert (
        dumps_json([refused], as_array=True)
        == orjson.dumps([refused], option=orjson.OPT_INDENT_2) + b"\n"
    )
