"""CPU per patient for reading a Bundle into a Case and for the engine's two halves.

    .venv/bin/python bench/profile_ingest.py [--synthetic 2000] [--repeat 15] [--top 25]
                                             [--data DIR] [--dump FILE]

Patients: the 14 dev vignettes (../shared/dev-vignettes/bundles) and, unless --synthetic 0, that
many small patients from `calcinosis synth` (mix "population", fixed seed), generated into a
temporary folder (or --data DIR, kept and reused) and grouped per patient into collection
Bundles as tests/test_synth.py does. For each group it prints the median CPU time per patient
(time.process_time, which a busy shared machine disturbs less than wall time) of
`case_from_bundle`, `judge`, `complete` and the whole `assess_bundle`, each the median over
--repeat passes over the group. Then a cProfile of `assess_bundle` over every patient, top
functions by own time. `--dump FILE` writes every patient's JSON assessment (as of 2026-01-01),
one line each, for checking that a change leaves the output byte-identical. Prints figures only.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import gc
import io
import json
import pstats
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

import calcinosis
from calcinosis.core.rules import complete, judge
from calcinosis.fhir.ingest import case_from_bundle
from calcinosis.synth.run import Options, generate

ROOT = Path(__file__).resolve().parents[1]
VIGNETTES = ROOT.parent / "shared" / "dev-vignettes" / "bundles"
AS_OF = dt.date(2026, 1, 1)
SEED = 20260101
PASS_PATIENTS = 500

Bundle = dict[str, Any]


def vignettes() -> list[tuple[str, Bundle]]:
    return [(p.name, json.loads(p.read_text())) for p in sorted(VIGNETTES.glob("*.json"))]


def synthetic(count: int, folder: Path) -> list[tuple[str, Bundle]]:
    """`count` population patients, one collection Bundle each, in truth.csv's order."""
    if not (folder / "truth.csv").exists():
        generate(Options(out=folder, patients=count, as_of=AS_OF, seed=SEED, mix="population"))
    per_patient: dict[str, list[Bundle]] = defaultdict(list)
    for path in sorted(folder.glob("*.ndjson")):
        for line in path.read_bytes().splitlines():
            resource = orjson.loads(line)
            if resource["resourceType"] == "Patient":
                per_patient[resource["id"]].insert(0, resource)
                continue
            ref = resource.get("subject", resource.get("patient")) or {}
            per_patient[str(ref.get("reference", "")).removeprefix("Patient/")].append(resource)
    out = []
    for pid, items in per_patient.items():
        entries = [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in items]
        out.append((pid, {"resourceType": "Bundle", "type": "collection", "entry": entries}))
    return sorted(out)


def per_patient_cpu(work: Callable[[], object], patients: int, repeat: int) -> tuple[float, float]:
    """Median and least over `repeat` passes of one pass's CPU time, per patient, in ms."""
    work()  # warm: knowledge, caches, imports
    times = []
    gc.collect()
    for _ in range(repeat):
        start = time.process_time()
        work()
        times.append(time.process_time() - start)
    return statistics.median(times) / patients * 1000, min(times) / patients * 1000


def measure(name: str, group: list[Bundle], repeat: int) -> None:
    kb = calcinosis.load_knowledge()
    # a small group is gone through several times a pass, so that a pass lasts long enough
    # (tens of ms) for the CPU clock to resolve it
    bundles = group * max(1, PASS_PATIENTS // len(group))
    cases = [case_from_bundle(b, kb) for b in bundles]

    def ingest() -> None:
        for b in bundles:
            case_from_bundle(b, kb)

    def judge_all() -> None:
        for c in cases:
            judge(c, kb, AS_OF)

    def complete_all() -> None:
        # complete extends the evidence it is given, so each pass judges afresh (untimed)
        fresh = [judge(c, kb, AS_OF) for c in cases]
        start = time.process_time()
        for j in fresh:
            complete(j, kb)
        spent[0] += time.process_time() - start

    def whole() -> None:
        for b in bundles:
            calcinosis.assess_bundle(b, as_of=AS_OF, knowledge=kb)

    n = len(bundles)
    spent = [0.0]
    complete_all()
    complete_rows = []
    for _ in range(repeat):
        spent[0] = 0.0
        complete_all()
        complete_rows.append(spent[0])
    rows = [
        ("case_from_bundle", per_patient_cpu(ingest, n, repeat)),
        ("judge", per_patient_cpu(judge_all, n, repeat)),
        ("complete", (statistics.median(complete_rows) / n * 1000, min(complete_rows) / n * 1000)),
        ("assess_bundle", per_patient_cpu(whole, n, repeat)),
    ]
    print(
        f"\n{name}: {len(group)} patients ({n} a pass), median of {repeat} passes, "
        "CPU ms per patient"
    )
    print(f"  {'':<18} {'median':>8} {'least':>8}")
    for label, (median, least) in rows:
        print(f"  {label:<18} {median:8.4f} {least:8.4f}")


def profile(name: str, group: list[Bundle], top: int) -> None:
    kb = calcinosis.load_knowledge()
    bundles = group * max(1, 3 * PASS_PATIENTS // len(group))
    for b in group:
        calcinosis.assess_bundle(b, as_of=AS_OF, knowledge=kb)
    prof = cProfile.Profile()
    prof.enable()
    for b in bundles:
        calcinosis.assess_bundle(b, as_of=AS_OF, knowledge=kb)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).strip_dirs().sort_stats("tottime").print_stats(top)
    print(f"\ncProfile of assess_bundle, {name} ({len(bundles)} calls), top {top} by own time")
    print(out.getvalue().strip())


def dump(path: Path, patients: list[tuple[str, Bundle]]) -> None:
    kb = calcinosis.load_knowledge()
    with path.open("w", encoding="utf-8") as handle:
        for name, bundle in patients:
            result = calcinosis.assess_bundle(bundle, as_of=AS_OF, knowledge=kb).to_dict()
            handle.write(json.dumps({"source": name, **result}, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", type=int, default=2000, help="synthetic patients")
    parser.add_argument("--repeat", type=int, default=15, help="timed passes per figure")
    parser.add_argument("--top", type=int, default=25, help="rows of the profile (0: none)")
    parser.add_argument("--data", type=Path, help="keep (and reuse) the synthetic export here")
    parser.add_argument("--dump", type=Path, help="write every JSON assessment here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="profile-ingest-") as tmp:
        groups = [("dev vignettes", vignettes())]
        if args.synthetic > 0:
            folder = args.data or Path(tmp) / "synth"
            groups.append(("synthetic population", synthetic(args.synthetic, folder)))
    if args.dump:
        dump(args.dump, [p for _, group in groups for p in group])
        print(f"wrote {sum(len(g) for _, g in groups)} assessments to {args.dump}")
        return
    for name, group in groups:
        measure(name, [b for _, b in group], args.repeat)
    for name, group in groups:
        if args.top > 0:
            profile(name, [b for _, b in group], args.top)


if __name__ == "__main__":
    main()
