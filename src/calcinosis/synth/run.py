"""Write a whole synthetic export: check the options, render chunks (in parallel), write files.

Memory stays flat as the population grows: at most a few chunks (a few thousand patients) are in
flight at any time, and nothing is kept per patient beyond its truth row on disk.
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import multiprocessing
import os
import re
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

import calcinosis
from calcinosis.synth.errors import SynthError
from calcinosis.synth.ids import MAX_PATIENTS
from calcinosis.synth.patient import Generator
from calcinosis.synth.spec import load_spec
from calcinosis.synth.writer import (
    RESOURCE_TYPES,
    TRUTH_HEADER,
    Chunk,
    Job,
    ShardWriter,
    plan,
    render,
)

DEFAULT_SHARD_SIZE = 250_000
DEFAULT_CHUNK_SIZE = 2_000
DEFAULT_COMPRESS_LEVEL = 5
# A worker process costs about two seconds to start (imports, knowledge); below this many
# patients per worker, one process is faster.
DEFAULT_PATIENTS_PER_WORKER = 25_000
TRUTH_FILE = "truth.csv"
SUMMARY_FILE = "synth.json"
_OURS = re.compile("^(" + "|".join(RESOURCE_TYPES) + r")\.\d{3,}\.ndjson(\.gz)?$")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class Options:
    """What to write; `check()` refuses bad values with a one-line reason."""

    out: Path
    patients: int
    as_of: dt.date
    seed: int = 0
    gzip: bool = False
    shard_size: int = DEFAULT_SHARD_SIZE
    mix: str = "population"
    workers: int = 1
    force: bool = False
    chunk_size: int = DEFAULT_CHUNK_SIZE
    compress_level: int = DEFAULT_COMPRESS_LEVEL
    patients_per_worker: int = DEFAULT_PATIENTS_PER_WORKER

    def check(self) -> None:
        """Raise SynthError naming the first bad option."""
        if self.patients < 1:
            raise SynthError(f"--patients must be at least 1 (got {self.patients})")
        if self.patients >= MAX_PATIENTS:
            raise SynthError(f"--patients must be below {MAX_PATIENTS} (got {self.patients})")
        if self.seed < 0:
            raise SynthError(f"--seed must be zero or positive (got {self.seed})")
        if self.shard_size < 1:
            raise SynthError(f"--shard-size must be at least 1 (got {self.shard_size})")
        if self.workers < 1:
            raise SynthError(f"--workers must be at least 1 (got {self.workers})")
        if self.chunk_size < 1 or not 1 <= self.compress_level <= 9:
            raise SynthError("chunk size must be positive and the gzip level 1-9")
        if self.out.exists() and not self.out.is_dir():
            raise SynthError(f"{self.out} exists and is not a directory")
        if self.out.is_dir() and any(self.out.iterdir()) and not self.force:
            raise SynthError(
                f"{self.out} is not empty; choose a new directory or pass --force to replace "
                "an earlier export there"
            )


@dataclass(frozen=True)
class Summary:
    """What was written (the content of synth.json plus run figures)."""

    options: Options
    profiles: dict[str, int]
    resources: dict[str, int]
    worth_a_look: int
    files: list[str]
    bytes_written: int
    raw_bytes: int


def parse_date(value: str) -> dt.date:
    """A YYYY-MM-DD date, or SynthError naming the value."""
    try:
        if not _ISO_DATE.fullmatch(value):
            raise ValueError(value)
        return dt.date.fromisoformat(value)
    except ValueError:
        raise SynthError(f"--as-of {value!r} is not a date in the form YYYY-MM-DD") from None


def generate(options: Options, on_progress: Callable[[int], None] | None = None) -> Summary:
    """Write the export described by `options`; `on_progress(n)` after every n patients."""
    options.check()
    spec = load_spec()
    if options.mix not in spec.mixes:
        raise SynthError(f"unknown --mix {options.mix!r}; choose {' or '.join(spec.mixes)}")
    _prepare(options.out)
    jobs = plan(options.patients, options.shard_size, options.chunk_size)
    level = options.compress_level if options.gzip else None
    writer = ShardWriter(options.out, options.gzip, options.compress_level)
    profiles: Counter[str] = Counter()
    resources: Counter[str] = Counter()
    raw = 0
    with (options.out / TRUTH_FILE).open("wb") as truth:
        truth.write(TRUTH_HEADER)
        for chunk in _chunks(options, jobs, level):
            writer.write(chunk)
            truth.write(chunk.truth)
            profiles.update(chunk.profiles)
            resources.update(chunk.resources)
            raw += chunk.raw_bytes
            if on_progress is not None:
                on_progress(chunk.job.stop - chunk.job.start)
        writer.close()
    looks = sum(n for name, n in profiles.items() if spec.profiles[name].worth_a_look)
    summary = Summary(
        options=options,
        profiles={name: profiles[name] for name in spec.profiles if profiles[name]},
        resources={t: resources[t] for t in RESOURCE_TYPES},
        worth_a_look=looks,
        files=writer.files,
        bytes_written=writer.bytes_written,
        raw_bytes=raw,
    )
    (options.out / SUMMARY_FILE).write_bytes(
        orjson.dumps(_manifest(summary), option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
    )
    return summary


def _prepare(out: Path) -> None:
    """Create the directory, or clear an earlier export from it (other files stay)."""
    out.mkdir(parents=True, exist_ok=True)
    for path in out.iterdir():
        if path.is_file() and (_OURS.match(path.name) or path.name in (TRUTH_FILE, SUMMARY_FILE)):
            path.unlink()


def _chunks(options: Options, jobs: list[Job], level: int | None) -> Iterator[Chunk]:
    """Rendered chunks in file order: here, or in worker processes with a bounded window."""
    worth = -(-options.patients // max(1, options.patients_per_worker))
    workers = min(options.workers, len(jobs), worth)
    if workers <= 1:
        gen = _generator(options.seed, options.as_of, options.mix)
        for job in jobs:
            yield render(gen, job, level)
        return
    context = multiprocessing.get_context("spawn")  # no fork of a threaded parent
    args = (options.seed, options.as_of, options.mix, level)
    pool = cf.ProcessPoolExecutor(workers, context, _init_worker, args)
    try:
        pending: deque[cf.Future[Chunk]] = deque()
        queue = iter(jobs)
        for job in queue:
            pending.append(pool.submit(_render_in_worker, job))
            if len(pending) >= 2 * workers:
                break
        while pending:
            chunk = pending.popleft().result()
            following = next(queue, None)
            if following is not None:
                pending.append(pool.submit(_render_in_worker, following))
            yield chunk
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


_WORKER: dict[str, Any] = {}


def _generator(seed: int, as_of: dt.date, mix: str) -> Generator:
    return Generator(load_spec(), seed=seed, as_of=as_of, mix=mix)


def _init_worker(seed: int, as_of: dt.date, mix: str, level: int | None) -> None:
    _WORKER["gen"] = _generator(seed, as_of, mix)
    _WORKER["level"] = level


def _render_in_worker(job: Job) -> Chunk:
    return render(_WORKER["gen"], job, _WORKER["level"])


def _manifest(s: Summary) -> dict[str, Any]:
    spec = load_spec()
    o = s.options
    by_type: dict[str, list[str]] = {t: [] for t in RESOURCE_TYPES}
    for name in s.files:
        by_type[name.split(".", 1)[0]].append(name)
    return {
        "generator": "calcinosis synth",
        "calcinosis_version": calcinosis.__version__,
        "knowledge_version": spec.knowledge.version,
        "seed": o.seed,
        "as_of": o.as_of.isoformat(),
        "patients": o.patients,
        "mix": o.mix,
        "shard_size": o.shard_size,
        "gzip": o.gzip,
        "files": by_type,
        "truth": TRUTH_FILE,
        "worth_a_look": s.worth_a_look,
        "resources": s.resources,
        "profiles": {
            name: {
                "patients": n,
                "expected_level": spec.profiles[name].level,
                "expected_type": spec.profiles[name].type,
                "worth_a_look": spec.profiles[name].worth_a_look,
                "note_only": spec.profiles[name].note_only,
                "summary": spec.profiles[name].summary,
            }
            for name, n in s.profiles.items()
        },
    }


def default_workers() -> int:
    """One worker per CPU this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)
