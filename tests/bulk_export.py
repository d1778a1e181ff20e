"""Test helper: FHIR Bundles written out as a Bulk Data export (NDJSON per resource type).

Bundle-internal references (`urn:uuid:<id>`) become `Type/<id>`, as in a real export, and each
bundle's ids get a suffix so that several copies of a case can share one export.
"""

from __future__ import annotations

import gzip
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson


def to_bulk(bundle: Mapping[str, Any], suffix: str = "") -> list[dict[str, Any]]:
    resources = [dict(e["resource"]) for e in bundle["entry"] if "resource" in e]
    kinds = {}
    for entry in bundle["entry"]:
        res = entry.get("resource") or {}
        keys = (
            entry.get("fullUrl"),
            f"urn:uuid:{res.get('id')}",
            f"{res.get('resourceType')}/{res.get('id')}",
        )
        for key in keys:
            if key:
                kinds[key] = (res["resourceType"], f"{res['id']}{suffix}")
    out = []
    for res in resources:
        copied: dict[str, Any] = orjson.loads(orjson.dumps(res))
        copied["id"] = f"{res['id']}{suffix}"
        out.append(_rewrite(copied, kinds))
    return out


def _rewrite(value: Any, kinds: Mapping[str, tuple[str, str]]) -> Any:
    if isinstance(value, dict):
        out = {k: _rewrite(v, kinds) for k, v in value.items()}
        ref = out.get("reference")
        if isinstance(ref, str) and ref in kinds:
            kind, rid = kinds[ref]
            out["reference"] = f"{kind}/{rid}"
        return out
    if isinstance(value, list):
        return [_rewrite(v, kinds) for v in value]
    return value


def write_export(
    folder: Path, resources: list[dict[str, Any]], *, shards: int = 2, gzipped: bool = True
) -> None:
    """Each type in `shards` files, the odd ones gzip-compressed (Bulk Data allows both)."""
    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for res in resources:
        by_type[res["resourceType"]].append(res)
    folder.mkdir(parents=True, exist_ok=True)
    for kind, items in by_type.items():
        for shard in range(shards):
            part = items[shard::shards]
            if not part:
                continue
            data = b"".join(orjson.dumps(r) + b"\n" for r in part)
            if gzipped and shard % 2:
                (folder / f"{kind}.{shard:03d}.ndjson.gz").write_bytes(gzip.compress(data))
            else:
                (folder / f"{kind}.{shard:03d}.ndjson").write_bytes(data)


def patient_id(resources: list[dict[str, Any]]) -> str:
    return next(str(r["id"]) for r in resources if r["resourceType"] == "Patient")
