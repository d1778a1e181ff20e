"""Bulk Data NDJSON output: chunks of patients rendered to bytes, appended to shard files.

A chunk is a run of consecutive patients inside one shard, rendered on its own (in a worker
process or in this one) to one block of NDJSON per resource type, gzip-compressed as an
independent gzip member when asked. Shard files are the chunks' blocks concatenated in order, so
the bytes do not depend on how many workers rendered them. RFC 1952 allows a gzip file of
several members; `gzip`, Python, DuckDB and Hadoop read them as one stream.
"""

from __future__ import annotations

import gzip
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import orjson

from calcinosis.synth.patient import Generator

RESOURCE_TYPES = (
    "Patient",
    "Condition",
    "Observation",
    "MedicationStatement",
    "MedicationRequest",
    "DiagnosticReport",
    "Procedure",
    "DocumentReference",
)
TRUTH_HEADER = b"patient_id,profile,expected_level,expected_type,worth_a_look\n"
_DUMP = orjson.OPT_APPEND_NEWLINE


@dataclass(frozen=True)
class Job:
    """Patients `start` (included) to `stop` (excluded), all in shard `shard`."""

    shard: int
    start: int
    stop: int


@dataclass
class Chunk:
    """A rendered job: bytes per resource type, truth rows and counts."""

    job: Job
    blocks: dict[str, bytes]
    truth: bytes
    profiles: Counter[str] = field(default_factory=Counter)
    resources: Counter[str] = field(default_factory=Counter)
    raw_bytes: int = 0


def plan(patients: int, shard_size: int, chunk_size: int) -> list[Job]:
    """The chunks of an export, in file order; none crosses a shard boundary."""
    jobs: list[Job] = []
    for shard_start in range(0, patients, shard_size):
        shard_stop = min(shard_start + shard_size, patients)
        for start in range(shard_start, shard_stop, chunk_size):
            jobs.append(Job(shard_start // shard_size, start, min(start + chunk_size, shard_stop)))
    return jobs


def file_name(rtype: str, shard: int, compressed: bool) -> str:
    """`<ResourceType>.<shard, 3 digits>.ndjson`, or `.ndjson.gz` when compressed."""
    return f"{rtype}.{shard:03d}.ndjson" + (".gz" if compressed else "")


def render(gen: Generator, job: Job, compress_level: int | None) -> Chunk:
    """Render one chunk; `compress_level` None writes plain NDJSON."""
    lines: dict[str, list[bytes]] = {t: [] for t in RESOURCE_TYPES}
    truth: list[bytes] = []
    profiles: Counter[str] = Counter()
    for index in range(job.start, job.stop):
        patient = gen.patient(index)
        for resource in patient.resources:
            lines[resource["resourceType"]].append(orjson.dumps(resource, option=_DUMP))
        p = patient.profile
        look = "true" if p.worth_a_look else "false"
        truth.append(f"{patient.patient_id},{p.name},{p.level},{p.type},{look}\n".encode())
        profiles[p.name] += 1
    blocks = {t: b"".join(items) for t, items in lines.items()}
    raw = sum(len(b) for b in blocks.values())
    if compress_level is not None:
        blocks = {t: _member(b, compress_level) if b else b"" for t, b in blocks.items()}
    counts = Counter({t: len(items) for t, items in lines.items()})
    return Chunk(job, blocks, b"".join(truth), profiles, counts, raw)


def _member(data: bytes, level: int) -> bytes:
    return gzip.compress(data, compresslevel=level, mtime=0)


class ShardWriter:
    """Appends chunks to the files of the current shard; opens the next shard when needed."""

    def __init__(self, out: Path, compressed: bool, compress_level: int) -> None:
        self.out = out
        self.compressed = compressed
        self.level = compress_level
        self.files: list[str] = []
        self.bytes_written = 0
        self._shard: int | None = None
        self._handles: dict[str, BinaryIO] = {}
        self._empty: set[str] = set()

    def write(self, chunk: Chunk) -> None:
        """Append a chunk (chunks must come in file order)."""
        if chunk.job.shard != self._shard:
            self.close()
            self._open(chunk.job.shard)
        for rtype, block in chunk.blocks.items():
            if block:
                self._handles[rtype].write(block)
                self._empty.discard(rtype)
                self.bytes_written += len(block)

    def close(self) -> None:
        """Finish the current shard: an empty compressed file still gets a valid gzip member."""
        for rtype, handle in self._handles.items():
            if self.compressed and rtype in self._empty:
                empty = _member(b"", self.level)
                handle.write(empty)
                self.bytes_written += len(empty)
            handle.close()
        self._handles = {}
        self._shard = None

    def _open(self, shard: int) -> None:
        self._shard = shard
        self._empty = set(RESOURCE_TYPES)
        for rtype in RESOURCE_TYPES:
            name = file_name(rtype, shard, self.compressed)
            self.files.append(name)
            self._handles[rtype] = (self.out / name).open("wb")
