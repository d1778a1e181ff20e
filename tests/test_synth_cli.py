"""`calcinosis synth` on the command line: the files it writes, its summary and its refusals.

Each run calls `calcinosis.cli.main.main(argv)` (the console script's function, with its one
error handler) inside Typer's CliRunner isolation, as tests/test_cli.py does.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from calcinosis.cli.main import main
from calcinosis.synth.writer import RESOURCE_TYPES


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


def cli(*args: str | Path) -> Run:
    with CliRunner().isolation() as (out, err, _):
        code = main(["synth", *(str(a) for a in args)])
        sys.stdout.flush()
        sys.stderr.flush()
        return Run(code, out.getvalue().decode(), err.getvalue().decode())


def expect_refused(run: Run, message: str, out: Path) -> None:
    """Exit 2, exactly one line on stderr saying why, no traceback, no files written."""
    assert run.code == 2, (run.out, run.err)
    assert run.err.endswith("\n") and run.err.count("\n") == 1, run.err
    assert run.err.startswith("calcinosis synth: ") and message in run.err, run.err
    assert "Traceback" not in run.err + run.out
    assert not (out / "truth.csv").exists()


def test_writes_an_export_and_says_what_it_wrote(tmp_path: Path) -> None:
    out = tmp_path / "export"
    run = cli("--patients", "40", "--out", out, "--as-of", "2026-01-01", "--seed", "3")
    assert run.code == 0, run.err
    assert run.out.startswith(f"Wrote 40 synthetic patients to {out} in ")
    assert "worth a look:" in run.out and "truth.csv" in run.out
    names = {p.name for p in out.iterdir()}
    assert names == {f"{t}.000.ndjson" for t in RESOURCE_TYPES} | {"truth.csv", "synth.json"}
    manifest = orjson.loads((out / "synth.json").read_bytes())
    assert (manifest["seed"], manifest["as_of"], manifest["patients"]) == (3, "2026-01-01", 40)
    assert manifest["gzip"] is False and manifest["mix"] == "population"


def test_gzip_shards_and_the_enriched_mix(tmp_path: Path) -> None:
    out = tmp_path / "gz"
    args = ("--gzip", "--shard-size", "20", "--mix", "enriched", "--workers", "1")
    run = cli("--patients", "30", "--out", out, "--as-of", "2026-01-01", *args)
    assert run.code == 0, run.err
    shards = {p.name for p in out.glob("Patient.*")}
    assert shards == {"Patient.000.ndjson.gz", "Patient.001.ndjson.gz"}
    manifest = orjson.loads((out / "synth.json").read_bytes())
    assert manifest["mix"] == "enriched" and manifest["shard_size"] == 20


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--patients", "0"), "--patients must be at least 1 (got 0)"),
        (("--patients", "-3"), "--patients must be at least 1 (got -3)"),
        (("--patients", "5", "--as-of", "2026-02-30"), "--as-of '2026-02-30' is not a date"),
        (("--patients", "5", "--as-of", "1/1/2026"), "in the form YYYY-MM-DD"),
        (("--patients", "5", "--shard-size", "0"), "--shard-size must be at least 1"),
        (("--patients", "5", "--seed", "-1"), "--seed must be zero or positive"),
        (("--patients", "5", "--mix", "tiny"), "unknown --mix 'tiny'"),
    ],
)
def test_bad_values_are_refused_in_one_line(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    out = tmp_path / "out"
    expect_refused(cli(*args, "--out", out), message, out)
    assert not out.exists()


def test_a_directory_that_is_not_empty_is_refused_unless_forced(tmp_path: Path) -> None:
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("someone else's", encoding="utf-8")
    expect_refused(cli("--patients", "5", "--out", out, "--as-of", "2026-01-01"), "not empty", out)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    forced = cli("--patients", "5", "--out", out, "--as-of", "2026-01-01", "--force")
    assert forced.code == 0, forced.err
    assert (out / "truth.csv").read_text(encoding="utf-8").count("\n") == 6
    assert (out / "notes.txt").exists()


def test_a_file_in_the_way_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "file"
    out.write_text("", encoding="utf-8")
    expect_refused(cli("--patients", "5", "--out", out), "exists and is not a directory", tmp_path)
