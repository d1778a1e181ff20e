"""Shared helpers for the CDS Hooks tests (no tests here).

Everything external is real: the service runs on uvicorn (tests/webserver.py), JWTs are signed
with the spec's published example key (read in place from ../shared/cdshooks) and with keys made
here, a second real server publishes a JWK Set, and a third plays the EHR's FHIR server, answering
searches from a development vignette and checking the bearer token. Vignettes are re-dated so
that their reference day (2026-01-01) is today: the service assesses "as of today".
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI, Request
from starlette.responses import JSONResponse, Response

from calcinosis.web.app import create_app
from calcinosis.web.cdshooks.conformance import empty_values, response_problems
from calcinosis.web.context import AppContext
from calcinosis.web.settings import Settings
from webserver import serving

SHARED = Path(__file__).resolve().parents[2] / "shared"
CDSHOOKS = SHARED / "cdshooks"
VIGNETTES = SHARED / "dev-vignettes" / "bundles"
REFERENCE_DAY = dt.date(2026, 1, 1)

SPEC_ISS = "https://fhir-ehr.example.com/"
SPEC_KID = "example-kid"
RSA_ISS = "https://rsa-ehr.example.org"
RSA_KID = "rsa-kid"
JKU_ISS = "https://jku-ehr.example.org"
JKU_KID = "jku-kid"
URL_ISS = "https://url-ehr.example.org"
URL_KID = "url-kid"

PATIENT_VIEW = "calcinosis-patient-view"
ORDER_SELECT = "calcinosis-order-select"
ORDER_SIGN = "calcinosis-order-sign"
FHIR_TOKEN = "test-fhir-access-token"


def shared_json(relative: str) -> Any:
    """A file of ../shared/cdshooks, read in place."""
    return json.loads((CDSHOOKS / relative).read_text(encoding="utf-8"))


def unjekyll(text: str) -> str:
    """The spec's markdown escapes {{ as {% raw %}{{{% endraw %}: undo it."""
    return re.sub(r"\{%\s*(end)?raw\s*%\}", "", text)


# ----------------------------------------------------------------------------- keys and JWTs
SPEC_PRIVATE = jwt.PyJWK(shared_json("spec-2.0.1/25-jwk-private-example.json")).key
SPEC_JWKS = shared_json("spec-2.0.1/24-jwks-public-example.json")
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
JKU_KEY = ec.generate_private_key(ec.SECP384R1())
URL_KEY = ec.generate_private_key(ec.SECP384R1())
FORGER_KEY = ec.generate_private_key(ec.SECP384R1())


def public_jwk(key: Any, kid: str, alg: str) -> dict[str, Any]:
    algorithm = jwt.get_algorithm_by_name(alg)
    jwk = algorithm.to_jwk(key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "alg": alg, "use": "sig"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(aud: str, iss: str = SPEC_ISS, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    out = {"iss": iss, "aud": aud, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4())}
    out.update(changes)
    return {k: v for k, v in out.items() if v is not None}


def sign(
    payload: Mapping[str, Any],
    key: Any = SPEC_PRIVATE,
    alg: str = "ES384",
    kid: str | None = SPEC_KID,
    **header: Any,
) -> str:
    headers = {"typ": "JWT", **header}
    if kid is not None:
        headers["kid"] = kid
    return jwt.encode(dict(payload), key, algorithm=alg, headers=headers)


def unsigned_token(payload: Mapping[str, Any], kid: str = SPEC_KID) -> str:
    """alg "none": no signature at all."""
    header = {"alg": "none", "typ": "JWT", "kid": kid}
    return f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}."


def hmac_token(payload: Mapping[str, Any], secret: bytes, kid: str = SPEC_KID) -> str:
    """HS384 with a secret an attacker knows (e.g. the client's public key)."""
    header = {"alg": "HS384", "typ": "JWT", "kid": kid}
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha384).digest()
    return f"{signing_input}.{b64url(signature)}"


# ----------------------------------------------------------------------------- vignettes
def vignette(name: str, today: dt.date | None = None) -> list[dict[str, Any]]:
    """A vignette's resources as an EHR's FHIR server holds them: relative references
    (Patient/<id>) instead of the bundle's urn:uuid ones, dates moved so its day is today."""
    bundle = json.loads((VIGNETTES / f"{name}.json").read_text(encoding="utf-8"))
    shift = (today or dt.date.today()) - REFERENCE_DAY
    references = {
        e["fullUrl"]: f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in bundle["entry"]
    }

    def walk(value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {k: walk(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, key) for v in value]
        if isinstance(value, str):
            if key == "reference":
                return references.get(value, value)
            match = re.match(r"^(\d{4}-\d{2}-\d{2})(.*)$", value)
            if match:
                day = dt.date.fromisoformat(match.group(1)) + shift
                return day.isoformat() + match.group(2)
        return value

    return [walk(e["resource"]) for e in bundle["entry"]]


def patient_of(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return next(r for r in resources if r["resourceType"] == "Patient")


def as_bundle(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in resources],
    }


# ----------------------------------------------------------------------------- FHIR search
def _codes(concept: Any) -> set[str]:
    codings = concept.get("coding", []) if isinstance(concept, dict) else []
    return {f"{c.get('system')}|{c.get('code')}" for c in codings} | {
        str(c.get("code")) for c in codings
    }


def search(resources: list[dict[str, Any]], query: str) -> list[dict[str, Any]] | None:
    """What a FHIR server answers to `query` (a read or a patient/code/category search) over
    `resources`; None for a read that finds nothing."""
    path, _, raw = query.partition("?")
    parts = path.strip("/").split("/")
    if len(parts) == 2:
        kind, rid = parts
        found = [r for r in resources if r["resourceType"] == kind and r.get("id") == rid]
        return found or None
    params = {k: v[0] for k, v in parse_qs(raw).items()}
    out = []
    for resource in resources:
        if resource["resourceType"] != parts[0]:
            continue
        subject = resource.get("subject", resource.get("patient", {}))
        if "patient" in params and subject.get("reference") != f"Patient/{params['patient']}":
            continue
        if "code" in params and not _codes(resource.get("code")) & set(params["code"].split(",")):
            continue
        if "category" in params:
            categories = set().union(*(_codes(c) for c in resource.get("category", [{}])))
            if not categories & set(params["category"].split(",")):
                continue
        out.append(resource)
    return out


def searchset(
    resources: list[dict[str, Any]], base: str = "https://ehr.example.org/fhir"
) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [
            {
                "fullUrl": f"{base}/{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in resources
        ],
    }


def prefetch_for(
    discovery_service: Mapping[str, Any], resources: list[dict[str, Any]], patient_id: str
) -> dict[str, Any]:
    """Fill a service's prefetch templates the way a CDS Client would, from the record."""
    out: dict[str, Any] = {}
    for key, template in discovery_service["prefetch"].items():
        query = template.replace("{{context.patientId}}", patient_id)
        found = search(resources, query)
        if "?" not in query:
            out[key] = found[0] if found else None
        else:
            out[key] = searchset(found or [])
    return out


def fhir_server_app(
    resources: list[dict[str, Any]],
    token: str = FHIR_TOKEN,
    page_size: int = 50,
    next_base: str | None = None,
    delay_s: float = 0.0,
) -> FastAPI:
    """A small FHIR server: reads and searches over `resources`, paged by `page_size`, only
    for `Authorization: Bearer <token>`. `app.state.calls` records (path?query, authorized)."""
    import asyncio

    app = FastAPI()
    app.state.calls = []

    @app.get("/fhir/{kind}/{rid}")
    async def read(kind: str, rid: str, request: Request) -> Response:
        if not _authorized(app, request, token):
            return _outcome(401)
        if delay_s:
            await asyncio.sleep(delay_s)
        found = search(resources, f"{kind}/{rid}")
        return JSONResponse(found[0]) if found else _outcome(404)

    @app.get("/fhir/{kind}")
    async def find(kind: str, request: Request) -> Response:
        if not _authorized(app, request, token):
            return _outcome(401)
        if delay_s:
            await asyncio.sleep(delay_s)
        params = {k: v for k, v in request.query_params.items() if k != "_page"}
        query = f"{kind}?" + "&".join(f"{k}={v}" for k, v in params.items())
        found = search(resources, query) or []
        page = int(request.query_params.get("_page", "1"))
        chunk = found[(page - 1) * page_size : page * page_size]
        bundle = searchset(chunk, str(request.base_url).rstrip("/") + "/fhir")
        if page * page_size < len(found):
            url = str(request.url.include_query_params(_page=page + 1))
            if next_base is not None:
                parts = urlsplit(url)
                url = f"{next_base}{parts.path}?{parts.query}"
            bundle["link"] = [{"relation": "next", "url": url}]
        return JSONResponse(bundle)

    return app


def _authorized(app: FastAPI, request: Request, token: str) -> bool:
    ok = request.headers.get("authorization") == f"Bearer {token}"
    app.state.calls.append((request.url.path + "?" + request.url.query, ok))
    return ok


def _outcome(status: int) -> Response:
    body = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "login"}]}
    return JSONResponse(body, status_code=status)


def jwks_app(keys: list[dict[str, Any]]) -> FastAPI:
    """Publishes a JWK Set at /jwks.json; `app.state.hits` counts fetches."""
    app = FastAPI()
    app.state.hits = 0

    @app.get("/jwks.json")
    async def jwks() -> Response:
        app.state.hits += 1
        return JSONResponse({"keys": keys})

    return app


# ----------------------------------------------------------------------------- the service
@dataclass
class CdsService:
    base_url: str
    app: FastAPI
    jwks_url: str
    jwks: FastAPI
    discovery: dict[str, Any] = field(default_factory=dict)

    @property
    def ctx(self) -> AppContext:
        context: AppContext = self.app.state.context
        return context

    def url(self, service_id: str, feedback: bool = False) -> str:
        return f"{self.base_url}/cds-services/{service_id}" + ("/feedback" if feedback else "")

    def token(self, service_id: str, feedback: bool = False, **changes: Any) -> str:
        return sign(claims(self.url(service_id, feedback), **changes))

    def post(
        self,
        service_id: str,
        body: Any,
        *,
        token: str | None = "",
        feedback: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """POST with a fresh valid JWT unless `token` is given (None: no Authorization)."""
        sent = dict(headers or {})
        if token == "":
            token = self.token(service_id, feedback)
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        return httpx.post(self.url(service_id, feedback), json=body, headers=sent, timeout=30)

    def service(self, service_id: str) -> dict[str, Any]:
        return next(s for s in self.discovery["services"] if s["id"] == service_id)

    def hook_request(
        self,
        service_id: str,
        resources: list[dict[str, Any]] | None,
        *,
        context: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """A hook request shaped like the spec's example, prefetch filled from `resources`."""
        service = self.service(service_id)
        example = shared_json("spec-2.0.1/02-hook-request-example.json")
        patient_id = patient_of(resources)["id"] if resources else "1288992"
        body: dict[str, Any] = {
            "hookInstance": str(uuid.uuid4()),
            "hook": service["hook"],
            "context": {**example["context"], **(context or {}), "patientId": patient_id},
        }
        if resources is not None:
            body["prefetch"] = prefetch_for(service, resources, patient_id)
        body.update(fields)
        return body


def clients_file(directory: Path, jwks_url: str) -> Path:
    path = directory / "cds-clients.json"
    entries = [
        {"iss": SPEC_ISS, "jwks": SPEC_JWKS},
        {"iss": RSA_ISS, "jwks": {"keys": [public_jwk(RSA_KEY, RSA_KID, "RS384")]}},
        {
            "iss": JKU_ISS,
            "jwks": {"keys": [public_jwk(JKU_KEY, "inline-kid", "ES384")]},
            "jku_allow": [jwks_url],
        },
        {"iss": URL_ISS, "jwks_url": jwks_url},
    ]
    path.write_text(json.dumps(entries), encoding="utf-8")
    return path


@contextmanager
def running_cds(directory: Path, **settings: Any) -> Iterator[CdsService]:
    """The JWKS server, then the app with a trusted-clients file naming it."""
    published = [public_jwk(JKU_KEY, JKU_KID, "ES384"), public_jwk(URL_KEY, URL_KID, "ES384")]
    jwks = jwks_app(published)
    built: list[FastAPI] = []

    def build(base_url: str) -> FastAPI:
        options = {"public_url": base_url, **settings}
        options.setdefault("cds_clients", clients_file(directory, f"{jwks_base}/jwks.json"))
        app = create_app(Settings(**options))
        built.append(app)
        return app

    with ExitStack() as stack:
        jwks_base = stack.enter_context(serving(lambda _: jwks))
        base = stack.enter_context(serving(build))
        service = CdsService(base, built[0], f"{jwks_base}/jwks.json", jwks)
        service.discovery = httpx.get(f"{base}/cds-services", timeout=10).json()
        yield service


def check_conformant(response: httpx.Response) -> dict[str, Any]:
    """A 200 hook response that passes the CDS Hooks checks; its JSON."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert response_problems(body) == []
    assert empty_values(body) in ([], ["$.cards: empty array"])
    return body


def check_refused(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """A refusal: the status and an OperationOutcome carrying our error code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    outcome: dict[str, Any] = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["details"]["coding"][0]["code"] == code
    assert empty_values(outcome) == []
    return outcome


def random_id() -> str:
    return secrets.token_hex(8)
