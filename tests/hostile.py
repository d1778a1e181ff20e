"""A corpus of hostile and malformed inputs, built from the shipped seed bundle.

Each case names the contract error code it must be refused with, or `None` when it must be
assessed anyway (exit 0). Cases whose handling the contract leaves open (e.g. a reference to a
resource that is not in the bundle) have `code=ANY_OUTCOME`: they must be assessed or refused
with a contract code, never crash.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import orjson

ANY_OUTCOME = "any"
ERROR_CODES = frozenset(
    {
        "invalid-json",
        "not-a-bundle",
        "invalid-resource",
        "no-patient",
        "multiple-patients",
        "too-large",
        "unreadable",
    }
)
DEFAULT_MAX_BYTES = 5 * 1024 * 1024
CALCIUM_LOINC = "17861-6"


@dataclass(frozen=True)
class Hostile:
    name: str
    data: bytes
    code: str | None


def seed_bundle() -> dict[str, Any]:
    """The seed case shipped as package data, freshly parsed (safe to mutate)."""
    raw = resources.files("calcinosis.demo").joinpath("seed-palanivel-2026.json").read_bytes()
    bundle: dict[str, Any] = orjson.loads(raw)
    return bundle


def resources_of(bundle: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [
        entry["resource"]
        for entry in bundle["entry"]
        if entry["resource"].get("resourceType") == resource_type
    ]


def nested_array(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def _mutated(change: Callable[[dict[str, Any]], None]) -> bytes:
    bundle = seed_bundle()
    change(bundle)
    return orjson.dumps(bundle)


def _patient(bundle: dict[str, Any]) -> dict[str, Any]:
    return resources_of(bundle, "Patient")[0]


def _calcium(bundle: dict[str, Any]) -> dict[str, Any]:
    for observation in resources_of(bundle, "Observation"):
        codings = observation.get("code", {}).get("coding", [])
        if any(c.get("code") == CALCIUM_LOINC for c in codings):
            return observation
    raise LookupError("the seed bundle has no total calcium Observation")


def _set(path: tuple[str, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(bundle: dict[str, Any]) -> None:
        target = bundle
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def _entry_resource(value: Any) -> Callable[[dict[str, Any]], None]:
    def change(bundle: dict[str, Any]) -> None:
        bundle["entry"][1]["resource"] = value

    return change


def _patient_field(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(bundle: dict[str, Any]) -> None:
        _patient(bundle)[key] = value

    return change


def _second_patient(bundle: dict[str, Any]) -> None:
    other = copy.deepcopy(_patient(bundle))
    other["id"] = "second-patient"
    bundle["entry"].append({"fullUrl": "urn:uuid:second-patient", "resource": other})


def _no_patient(bundle: dict[str, Any]) -> None:
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "Patient"]


def _subject_reference(value: Any) -> Callable[[dict[str, Any]], None]:
    def change(bundle: dict[str, Any]) -> None:
        bundle["entry"][1]["resource"]["subject"] = {"reference": value}

    return change


def _deep_extension() -> bytes:
    """A legal (under 1024 levels) but deep value in a field the engine has no reason to read."""
    bundle = seed_bundle()
    _patient(bundle)["extension"] = "DEEP"
    deep = b'[{"extension": ' * 500 + b'"leaf"' + b"}]" * 500  # depth ~1005 of 1024
    return orjson.dumps(bundle).replace(b'"DEEP"', deep, 1)


def _many_entries(bundle: dict[str, Any]) -> None:
    bundle["entry"].extend(
        {"resource": {"resourceType": "Basic", "id": f"b{i}", "code": {"text": "x"}}}
        for i in range(20_000)
    )


def calcium_in_mg(bundle: dict[str, Any]) -> None:
    """Give the calcium result a number with a unit of the wrong dimension (a mass)."""
    calcium = _calcium(bundle)
    calcium.pop("interpretation", None)
    calcium["valueQuantity"] = {
        "value": 9.4,
        "unit": "mg",
        "system": "http://unitsofmeasure.org",
        "code": "mg",
    }


def corpus() -> list[Hostile]:
    """Every hostile case, small enough to write to disk in each test run."""
    seed = orjson.dumps(seed_bundle())
    return [
        Hostile("empty-file", b"", "invalid-json"),
        Hostile("whitespace", b" \n\t \r\n", "invalid-json"),
        Hostile("not-json", b"resourceType: Bundle\n", "invalid-json"),
        Hostile("truncated", seed[: len(seed) // 2], "invalid-json"),
        Hostile("not-utf8", b'{"resourceType": "Bundle", "id": "caf\xe9"}', "invalid-json"),
        Hostile("utf-16", "{}".encode("utf-16"), "invalid-json"),
        Hostile("nested-2000", nested_array(2000), "invalid-json"),
        Hostile("nan", b'{"resourceType": "Bundle", "total": NaN}', "invalid-json"),
        Hostile("trailing-garbage", seed + b" {}", "invalid-json"),
        Hostile("json-array", b"[]", "not-a-bundle"),
        Hostile("json-string", b'"Bundle"', "not-a-bundle"),
        Hostile("json-null", b"null", "not-a-bundle"),
        Hostile(
            "patient-not-bundle",
            orjson.dumps({"resourceType": "Patient", "id": "p1", "gender": "female"}),
            "not-a-bundle",
        ),
        Hostile("entry-not-list", _mutated(_set(("entry",), {"a": 1})), "invalid-resource"),
        Hostile("entry-item-not-object", _mutated(_set(("entry",), [7])), "invalid-resource"),
        Hostile("resource-string", _mutated(_entry_resource("Condition")), "invalid-resource"),
        Hostile("resource-list", _mutated(_entry_resource([1, 2])), "invalid-resource"),
        Hostile("gender-number", _mutated(_patient_field("gender", 5)), "invalid-resource"),
        Hostile("birthdate-number", _mutated(_patient_field("birthDate", 12)), "invalid-resource"),
        Hostile("reference-number", _mutated(_subject_reference(42)), "invalid-resource"),
        Hostile("reference-dangling", _mutated(_subject_reference("urn:uuid:x")), ANY_OUTCOME),
        Hostile("reference-odd", _mutated(_subject_reference("../../etc/passwd")), ANY_OUTCOME),
        Hostile("no-patient", _mutated(_no_patient), "no-patient"),
        Hostile("empty-bundle", b'{"resourceType": "Bundle", "type": "collection"}', "no-patient"),
        Hostile("two-patients", _mutated(_second_patient), "multiple-patients"),
        Hostile("huge", seed + b" " * (DEFAULT_MAX_BYTES + 1 - len(seed)), "too-large"),
        Hostile("calcium-in-mg", _mutated(calcium_in_mg), None),
        Hostile("deep-extension", _deep_extension(), ANY_OUTCOME),
        Hostile("many-entries", _mutated(_many_entries), ANY_OUTCOME),
        Hostile("bom-then-seed", b"\xef\xbb\xbf" + seed, None),
    ]
