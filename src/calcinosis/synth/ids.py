"""Deterministic patient generators and resource ids.

Each patient's generator is seeded from (seed, patient index) alone, so any shard can be
written without the others and gives the same bytes. Ids look like random version-4 UUIDs but
are unique across the export by construction, not by luck: the first 102 free bits are a keyed
bijection of the patient index (computed once per patient), the last 20 a bijection of the
resource's number within the patient (0 = the Patient), salted per patient.
"""

from __future__ import annotations

import random

_PATIENT_BITS = 102  # a version-4 UUID has 122 free bits: 102 for the patient ...
_SERIAL_BITS = 20  # ... and 20 for the resource within the patient
_PATIENT_MASK = (1 << _PATIENT_BITS) - 1
_SERIAL_MASK = (1 << _SERIAL_BITS) - 1
_MUL_A = 0x2545F4914F6CDD1D_9E3779B97F4A7C15 & _PATIENT_MASK | 1
_MUL_B = 0x94D049BB133111EB_BF58476D1CE4E5B9 & _PATIENT_MASK | 1
_MUL_SERIAL = 0x9E3B5  # odd: multiplying by it permutes the 20-bit numbers
_ADD_SERIAL = 0x5A5A5
_INDEX_BITS = 44
MAX_PATIENTS = 1 << _INDEX_BITS  # the generator seed packs the index into this many bits
MAX_RESOURCES = 1 << _SERIAL_BITS


def patient_rng(seed: int, index: int) -> random.Random:
    """The generator of one patient: a pure function of the seed and the patient's index."""
    return random.Random((seed << _INDEX_BITS) | index)


class PatientIds:
    """The ids of one patient's resources; call with the resource's number (0 = Patient)."""

    __slots__ = ("_prefix", "_salt")

    def __init__(self, prefix: str, salt: int) -> None:
        self._prefix = prefix
        self._salt = salt

    def __call__(self, serial: int) -> str:
        if not 0 <= serial < MAX_RESOURCES:
            raise ValueError(f"resource number out of range: {serial}")
        mixed = (((serial + _ADD_SERIAL) * _MUL_SERIAL) & _SERIAL_MASK) ^ self._salt
        return f"{self._prefix}{mixed:05x}"


class IdMaker:
    """UUID-shaped ids for the resources of one export (one seed)."""

    def __init__(self, seed: int) -> None:
        self._key = random.Random(f"calcinosis-synth-ids:{seed}").getrandbits(_PATIENT_BITS)

    def patient(self, index: int) -> PatientIds:
        """The id maker of patient `index`.

        The 31 leading hex digits carry all 102 bits of the patient's bijection, so two ids
        can only be equal for the same patient; the last five mix the resource number with 20
        of those bits, so they differ between patients too.
        """
        if not 0 <= index < MAX_PATIENTS:
            raise ValueError(f"patient index out of range: {index}")
        x = index ^ self._key
        # xor-shifts and odd multipliers are bijections on 102-bit integers
        x = (x * _MUL_A) & _PATIENT_MASK
        x ^= x >> 51
        x = (x * _MUL_B) & _PATIENT_MASK
        x ^= x >> 47
        # 48 bits, version 4, 12 bits, variant 10, 42 bits; then 20 bits for the resource
        value = (
            ((x >> 54) << 80)
            | (0x4 << 76)
            | (((x >> 42) & 0xFFF) << 64)
            | (0b10 << 62)
            | ((x & ((1 << 42) - 1)) << 20)
        )
        h = f"{value:032x}"
        prefix = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:27]}"
        return PatientIds(prefix, ((x >> 71) ^ (x >> 31)) & _SERIAL_MASK)
