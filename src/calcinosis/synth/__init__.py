"""`calcinosis synth`: a deterministic synthetic FHIR R4 Bulk Data export with a planted truth.

    from calcinosis.synth import Options, generate
    summary = generate(Options(out=Path("export"), patients=100_000, as_of=date(2026, 1, 1)))

Writes `<ResourceType>.<shard>.ndjson[.gz]` files, `truth.csv` (what a clinician concludes for
every patient) and `synth.json` (seed, date, counts). The pictures, their expected answers and
all clinical wording live in `profiles.yaml`; this package only interprets them. It is a shell
for testing and benchmarking the screening job, never imported by the engine.
"""

from __future__ import annotations

from calcinosis.synth.errors import SpecError, SynthError
from calcinosis.synth.run import Options, Summary, default_workers, generate, parse_date

__all__ = [
    "Options",
    "SpecError",
    "Summary",
    "SynthError",
    "default_workers",
    "generate",
    "parse_date",
]
