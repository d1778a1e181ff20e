"""Screening a generated export (`calcinosis synth`): the worklist finds every planted case,
agrees with `calcinosis assess` patient by patient, and is identical on DuckDB and Spark; the
command line writes CSV, Parquet, JSON Lines and the SVG picture."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest

import calcinosis
from calcinosis.screening.job import Worklist, screen
from calcinosis.screening.policy import load_policy
from calcinosis.synth.run import Options, generate

AS_OF = dt.date(2026, 1, 1)
CLI = [sys.executable, "-m", "calcinosis.cli.main"]
KB = calcinosis.load_knowledge()
POLICY = load_policy(KB)


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("screen-synth") / "export"
    options = Options(out=out, patients=3000, as_of=AS_OF, seed=4242, mix="enriched", gzip=True)
    generate(replace(options, shard_size=1000))
    return out


@pytest.fixture(scope="module")
def truth(export: Path) -> dict[str, dict[str, str]]:
    with (export / "truth.csv").open(newline="", encoding="utf-8") as handle:
        return {row["patient_id"]: row for row in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def assessed(export: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str]]:
    """What `calcinosis assess` says of each patient, given that patient's own resources."""
    mine: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for path in sorted(export.glob("*.ndjson.gz")):
        for line in gzip.decompress(path.read_bytes()).splitlines():
            res = orjson.loads(line)
            key = res["id"] if res["resourceType"] == "Patient" else res["subject"]["reference"]
            mine[key.removeprefix("Patient/")].append(res)
    folder = tmp_path_factory.mktemp("bundles")
    for pid, resources in mine.items():
        bundle = {"resourceType": "Bundle", "type": "collection"}
        bundle["entry"] = [{"resource": r} for r in resources]  # type: ignore[assignment]
        (folder / f"{pid}.json").write_bytes(orjson.dumps(bundle))
    done = subprocess.run(
        [*CLI, "assess", str(folder), "--format", "jsonl", "--as-of", AS_OF.isoformat()],
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    out = {}
    for line in done.stdout.splitlines():
        result = json.loads(line)
        out[result["patient"]["id"]] = (
            result["dcc_suspicion"]["level"],
            result["calcinosis"]["type"],
        )
    return out


@pytest.fixture(scope="module")
def duck(export: Path) -> Worklist:
    return screen(export, engine="duckdb", as_of=AS_OF, knowledge=KB, workers=2)


def test_every_planted_case_is_found(duck: Worklist, truth: dict[str, dict[str, str]]) -> None:
    listed = {r.patient_id for r in duck.rows}
    planted = {pid for pid, row in truth.items() if row["worth_a_look"] == "true"}
    assert len(planted) > 500  # the enriched mix plants every kind of case
    assert planted <= listed
    assert duck.summary.patients == len(truth) and not duck.refused


def test_worklist_agrees_with_assess_for_every_patient(
    duck: Worklist, assessed: dict[str, tuple[str, str]]
) -> None:
    listed = {r.patient_id: (r.dcc_suspicion, r.calcinosis_type) for r in duck.rows}
    should = {pid: lt for pid, lt in assessed.items() if POLICY.worth_a_look(*lt)}
    assert len(assessed) == 3000
    assert listed == should
    # SQL set most of the population aside without the engine, and still missed no one
    assert duck.summary.candidates < len(assessed)


def test_spark_gives_the_identical_worklist(export: Path, duck: Worklist) -> None:
    spark = screen(export, engine="spark", as_of=AS_OF, knowledge=KB)
    assert [r.as_row() for r in spark.rows] == [r.as_row() for r in duck.rows]
    assert spark.summary.candidates == duck.summary.candidates
    assert spark.summary.patients == duck.summary.patients


def test_cli_writes_the_worklist_in_three_formats_and_a_picture(
    export: Path, duck: Worklist, tmp_path: Path
) -> None:
    outputs = {}
    for suffix in (".csv", ".parquet", ".jsonl"):
        target = tmp_path / f"worklist{suffix}"
        args = [*CLI, "screen", str(export), "--as-of", "2026-01-01", "--out", str(target)]
        if suffix == ".csv":
            args += ["--plot", str(tmp_path / "screen.svg")]
        done = subprocess.run(args, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        assert f"{len(duck.rows):,} of 3,000 patients listed" in done.stdout
        outputs[suffix] = target
    ids = [r.patient_id for r in duck.rows]
    with outputs[".csv"].open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["patient_id"] for r in rows] == ids
    assert [int(r["rank"]) for r in rows] == list(range(1, len(ids) + 1))
    table = pq.read_table(outputs[".parquet"]).to_pylist()
    lines = [json.loads(x) for x in outputs[".jsonl"].read_text().splitlines()]
    assert table == lines  # the same rows, lists kept as lists
    assert [r["calcinosis_type"] for r in lines] == [r.calcinosis_type for r in duck.rows]
    assert rows[0]["deciding_findings"] == " | ".join(lines[0]["deciding_findings"])
    svg = ET.parse(tmp_path / "screen.svg").getroot()
    ns = {"s": "http://www.w3.org/2000/svg"}
    assert svg.find("s:title", ns) is not None
    desc = svg.find("s:desc", ns)
    assert desc is not None and "calciphylaxis" in (desc.text or "")
    bars = [t.text or "" for t in svg.iter("{http://www.w3.org/2000/svg}title")]
    listed_calciphylaxis = sum(1 for r in duck.rows if r.calcinosis_type == "calciphylaxis")
    assert any(t.startswith("calciphylaxis, suspicion") for t in bars)
    assert f"calciphylaxis {listed_calciphylaxis}" in (desc.text or "")


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["screen", "/nonexistent/export"], 1, "not a directory"),
        (["screen", "{export}", "--out", "{tmp}/worklist.xlsx"], 1, ".csv, .parquet, .jsonl"),
        (["screen", "{export}", "--as-of", "2026-13-01"], 2, "YYYY-MM-DD"),
        (["screen", "{export}", "--engine", "hadoop"], 2, "hadoop"),
        (["screen", "{export}", "--spark-master", "local[1]"], 2, "--engine spark"),
        (["screen", "{tmp}"], 1, "no Patient NDJSON file"),
    ],
)
def test_cli_refuses_bad_input_clearly(
    export: Path, tmp_path: Path, args: list[str], status: int, message: str
) -> None:
    filled = [a.format(export=export, tmp=tmp_path) for a in args]
    done = subprocess.run([*CLI, *filled], capture_output=True, text=True, check=False)
    assert done.returncode == status
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert not list(tmp_path.glob("worklist*"))
