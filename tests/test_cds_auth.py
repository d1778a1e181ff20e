"""Trusting CDS Clients: every hook and feedback call needs a JWT signed by a trusted client.

Tokens are real: signed with the spec's example ES384 key (inline key set), an RS384 key made
here, and EC keys published by a second local server (jku on the allow-list, and jwks_url).
Every refusal is the same generic 401 with `WWW-Authenticate: Bearer`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from calcinosis.errors import StartupError
from calcinosis.web.app import create_app
from calcinosis.web.cdshooks.auth import ReplayGuard
from calcinosis.web.cdshooks.trusted_clients import load_trusted_clients
from calcinosis.web.settings import Settings
from test_cds_support import (
    FORGER_KEY,
    JKU_ISS,
    JKU_KEY,
    JKU_KID,
    PATIENT_VIEW,
    RSA_ISS,
    RSA_KEY,
    RSA_KID,
    SPEC_ISS,
    SPEC_JWKS,
    SPEC_KID,
    URL_ISS,
    URL_KEY,
    URL_KID,
    CdsService,
    check_conformant,
    claims,
    hmac_token,
    public_jwk,
    running_cds,
    shared_json,
    sign,
    unsigned_token,
    vignette,
)
from webserver import serving


@pytest.fixture(scope="module")
def cds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CdsService]:
    with running_cds(tmp_path_factory.mktemp("cds")) as service:
        yield service


@pytest.fixture(scope="module")
def body(cds: CdsService) -> dict[str, Any]:
    """A valid patient-view request (ordinary acne: answered with no card)."""
    return cds.hook_request(PATIENT_VIEW, vignette("dev-acne-retinoid-01"))


def aud(cds: CdsService) -> str:
    return cds.url(PATIENT_VIEW)


def expect_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    details = outcome["issue"][0]["details"]
    assert details["coding"][0]["code"] == "unauthorized"
    # generic: the same words whatever check failed
    assert details["text"] == "the request must carry a valid bearer JWT from a trusted CDS Client"


def test_spec_example_key_with_the_spec_header_shape_is_accepted(
    cds: CdsService, body: dict[str, Any]
) -> None:
    header = shared_json("spec-2.0.1/22-jwt-header-example.json")
    payload = shared_json("spec-2.0.1/23-jwt-payload-example.json")
    assert header["kid"] == SPEC_KID and payload["iss"] == SPEC_ISS
    fresh = claims(aud(cds), tenant=payload["tenant"])
    token = sign(fresh, alg=header["alg"], kid=header["kid"])  # jku left out: key set is inline
    assert check_conformant(cds.post(PATIENT_VIEW, body, token=token)) == {"cards": []}


def test_rs384_key_is_accepted(cds: CdsService, body: dict[str, Any]) -> None:
    token = sign(claims(aud(cds), iss=RSA_ISS), key=RSA_KEY, alg="RS384", kid=RSA_KID)
    check_conformant(cds.post(PATIENT_VIEW, body, token=token))


def test_audience_as_a_list_is_accepted(cds: CdsService, body: dict[str, Any]) -> None:
    token = sign(claims([aud(cds)]))
    check_conformant(cds.post(PATIENT_VIEW, body, token=token))


def test_jku_on_the_allow_list_is_fetched_from_the_key_server_and_cached(
    cds: CdsService, body: dict[str, Any]
) -> None:
    before = cds.jwks.state.hits
    for _ in range(3):
        token = sign(claims(aud(cds), iss=JKU_ISS), key=JKU_KEY, kid=JKU_KID, jku=cds.jwks_url)
        check_conformant(cds.post(PATIENT_VIEW, body, token=token))
    assert cds.jwks.state.hits - before == 1


def test_jwks_url_client_keys_come_from_the_key_server(
    cds: CdsService, body: dict[str, Any]
) -> None:
    token = sign(claims(aud(cds), iss=URL_ISS), key=URL_KEY, kid=URL_KID)
    check_conformant(cds.post(PATIENT_VIEW, body, token=token))


def test_success_sets_the_caller_for_the_audit_trail(cds: CdsService, body: dict[str, Any]) -> None:
    check_conformant(cds.post(PATIENT_VIEW, body))
    record = cds.ctx.audit.records()[-1]
    assert (record.caller, record.service, record.outcome) == (SPEC_ISS, PATIENT_VIEW, "cards:0")


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        pytest.param(lambda c: None, "no bearer token", id="missing-authorization"),
        pytest.param(lambda c: "", "no bearer token", id="empty-bearer"),
        pytest.param(lambda c: "not.a.jwt", "malformed JWT", id="garbage"),
        pytest.param(
            lambda c: sign(claims(aud(c)), key=FORGER_KEY),
            "InvalidSignatureError",
            id="forged-signature",
        ),
        pytest.param(
            lambda c: sign(
                claims(aud(c), exp=int(time.time()) - 3600, iat=int(time.time()) - 3900)
            ),
            "ExpiredSignatureError",
            id="expired",
        ),
        pytest.param(
            lambda c: sign(claims(c.url("calcinosis-order-sign"))),
            "InvalidAudienceError",
            id="wrong-audience-other-service",
        ),
        pytest.param(
            lambda c: sign(claims(f"{c.base_url}/cds-services")),
            "InvalidAudienceError",
            id="wrong-audience-discovery",
        ),
        pytest.param(
            lambda c: sign(claims("https://cds.example.org/cds-services/some-service")),
            "InvalidAudienceError",
            id="spec-example-audience",
        ),
        pytest.param(
            lambda c: sign(claims(aud(c), iss="https://unknown.example.org/")),
            "is not a trusted CDS Client",
            id="unknown-iss",
        ),
        pytest.param(
            lambda c: sign(claims(aud(c)), kid="no-such-kid"),
            "is not in the key set",
            id="unknown-kid",
        ),
        pytest.param(lambda c: sign(claims(aud(c)), kid=None), "no kid", id="no-kid"),
        pytest.param(lambda c: unsigned_token(claims(aud(c))), "algorithm 'none'", id="alg-none"),
        pytest.param(
            lambda c: hmac_token(claims(aud(c)), json.dumps(SPEC_JWKS["keys"][0]).encode()),
            "algorithm 'HS384'",
            id="hs384-public-jwk-as-secret",
        ),
        pytest.param(
            lambda c: hmac_token(claims(aud(c), iss=RSA_ISS), _rsa_public_pem(), kid=RSA_KID),
            "algorithm 'HS384'",
            id="hs384-public-pem-as-secret",
        ),
        pytest.param(
            lambda c: sign(claims(aud(c), iat=int(time.time()) + 600, exp=int(time.time()) + 900)),
            "ImmatureSignatureError",
            id="iat-in-future",
        ),
        pytest.param(
            lambda c: sign(claims(aud(c), exp=int(time.time()) + 7 * 24 * 3600)),
            "token lifetime",
            id="lifetime-a-week",
        ),
        pytest.param(
            lambda c: sign(claims(aud(c), jti=None)), "MissingRequiredClaimError", id="no-jti"
        ),
        pytest.param(
            lambda c: sign(claims(aud(c), iat=None)), "MissingRequiredClaimError", id="no-iat"
        ),
        pytest.param(
            lambda c: sign(claims(aud(c), exp=None)), "MissingRequiredClaimError", id="no-exp"
        ),
        pytest.param(
            lambda c: sign(claims(aud(c)), jku="https://fhir-ehr.example.com/jwk_uri"),
            "not on the allow-list",
            id="jku-not-allowed-spec-header",
        ),
        pytest.param(
            lambda c: sign(
                claims(aud(c), iss=JKU_ISS), key=JKU_KEY, kid=JKU_KID, jku=c.jwks_url + "?x"
            ),
            "not on the allow-list",
            id="jku-not-allowed-variant",
        ),
        pytest.param(
            lambda c: sign(claims(aud(c), iss=JKU_ISS), key=JKU_KEY, kid=JKU_KID),
            "is not in the key set",
            id="jku-kid-without-jku",
        ),
        pytest.param(
            lambda c: sign(claims(aud(c), iss=RSA_ISS), key=RSA_KEY, alg="RS256", kid=RSA_KID),
            "algorithm 'RS256'",
            id="rs256-not-accepted",
        ),
        pytest.param(
            lambda c: sign(claims(aud(c), iss=RSA_ISS), key=RSA_KEY, alg="PS384", kid=RSA_KID),
            "algorithm 'PS384'",
            id="ps384-not-accepted",
        ),
        pytest.param(lambda c: sign(claims(aud(c)), typ="at+jwt"), "is not JWT", id="wrong-typ"),
    ],
)
def test_refused_tokens_get_a_generic_401(
    cds: CdsService, body: dict[str, Any], make: Any, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="calcinosis.cdshooks")
    token = make(cds)
    if token is None:
        response = httpx.post(cds.url(PATIENT_VIEW), json=body)
    else:
        headers = {"Authorization": f"Bearer {token}".strip()}
        response = httpx.post(cds.url(PATIENT_VIEW), json=body, headers=headers)
    expect_unauthorized(response)
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert refusals and reason in refusals[-1]


def test_a_replayed_jti_is_refused(cds: CdsService, body: dict[str, Any]) -> None:
    token = sign(claims(aud(cds)))
    check_conformant(cds.post(PATIENT_VIEW, body, token=token))
    expect_unauthorized(cds.post(PATIENT_VIEW, body, token=token))


def test_the_same_jti_from_two_issuers_is_not_a_replay(
    cds: CdsService, body: dict[str, Any]
) -> None:
    jti = "shared-nonce-" + str(time.time())
    check_conformant(cds.post(PATIENT_VIEW, body, token=sign(claims(aud(cds), jti=jti))))
    rsa_token = sign(claims(aud(cds), iss=RSA_ISS, jti=jti), key=RSA_KEY, alg="RS384", kid=RSA_KID)
    check_conformant(cds.post(PATIENT_VIEW, body, token=rsa_token))


def test_a_forged_token_does_not_burn_a_jti(cds: CdsService, body: dict[str, Any]) -> None:
    payload = claims(aud(cds))
    expect_unauthorized(cds.post(PATIENT_VIEW, body, token=sign(payload, key=FORGER_KEY)))
    check_conformant(cds.post(PATIENT_VIEW, body, token=sign(payload)))


def test_the_feedback_endpoint_needs_a_jwt_for_its_own_url(cds: CdsService) -> None:
    feedback = shared_json(
        "spec-2.0.1/20-feedback-request-example-overridden-guidance-without-overridereason.json"
    )
    expect_unauthorized(cds.post(PATIENT_VIEW, feedback, feedback=True, token=None))
    # a token for the service endpoint is not one for its feedback endpoint
    expect_unauthorized(
        cds.post(PATIENT_VIEW, feedback, feedback=True, token=cds.token(PATIENT_VIEW))
    )
    assert cds.post(PATIENT_VIEW, feedback, feedback=True).status_code == 200


def test_refusals_are_audited_and_do_not_log_the_token(
    cds: CdsService, body: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    token = sign(claims(aud(cds)), key=FORGER_KEY)
    with caplog.at_level(logging.INFO):
        expect_unauthorized(cds.post(PATIENT_VIEW, body, token=token))
    record = cds.ctx.audit.records()[-1]
    assert (record.caller, record.outcome) == ("anonymous", "unauthorized")
    assert token not in caplog.text and token.split(".")[2] not in caplog.text
    assert "refused" in caplog.text  # the reason is in the server log


def test_authentication_comes_before_reading_the_body(cds: CdsService) -> None:
    response = httpx.post(
        cds.url(PATIENT_VIEW), content=b"{not json", headers={"Content-Type": "application/json"}
    )
    expect_unauthorized(response)


def test_replay_guard_forgets_expired_tokens_and_refuses_when_full_of_live_ones() -> None:
    guard = ReplayGuard(skew_s=0, capacity=2)
    now = time.time()
    assert guard.first_use("iss", "a", now - 10)
    assert guard.first_use("iss", "b", now + 100)
    assert guard.first_use("iss", "c", now + 100)  # "a" has expired and is dropped
    assert not guard.first_use("iss", "d", now + 100)  # full of live tokens: refuse, never forget
    assert not guard.first_use("iss", "b", now + 100)


def test_insecure_dev_accepts_calls_without_a_jwt_and_says_so_loudly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.WARNING),
        serving(lambda base: create_app(Settings(public_url=base, insecure_dev=True))) as base,
    ):
        body = {
            "hook": "patient-view",
            "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
            "context": {"patientId": "x"},
        }
        response = httpx.post(f"{base}/cds-services/{PATIENT_VIEW}", json=body)
    assert response.status_code == 412  # past authentication: no data to assess
    assert any(r.levelname == "WARNING" and "INSECURE" in r.getMessage() for r in caplog.records)


def test_without_trusted_clients_every_call_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    with (
        caplog.at_level(logging.WARNING),
        serving(lambda base: create_app(Settings(public_url=base))) as base,
    ):
        token = sign(claims(f"{base}/cds-services/{PATIENT_VIEW}"))
        response = httpx.post(
            f"{base}/cds-services/{PATIENT_VIEW}",
            json={},
            headers={"Authorization": f"Bearer {token}"},
        )
    expect_unauthorized(response)
    assert "no trusted CDS Clients" in caplog.text


def _rsa_public_pem() -> bytes:
    return RSA_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# ----------------------------------------------------------------------------- the clients file
@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        ({"iss": "x"}, "must hold a JSON array"),
        ([{"jwks": SPEC_JWKS}], "entry 0: iss must be a non-empty string"),
        (
            [{"iss": "a", "jwks": SPEC_JWKS, "jwks_url": "https://a/jwks"}],
            "entry 0 (iss 'a'): give exactly one",
        ),
        ([{"iss": "a"}], "give exactly one of jwks"),
        ([{"iss": "a", "jwks_url": "http://keys.example.org/jwks"}], "must use https"),
        (
            [{"iss": "a", "jwks": SPEC_JWKS, "jku_allow": ["http://keys.example.org/jwks"]}],
            "jku_allow",
        ),
        (
            [
                {
                    "iss": "a",
                    "jwks": {"keys": [shared_json("spec-2.0.1/25-jwk-private-example.json")]},
                }
            ],
            "private key material",
        ),
        (
            [{"iss": "a", "jwks": {"keys": [{**SPEC_JWKS["keys"][0], "alg": "ES256"}]}}],
            "only ES384",
        ),
        (
            [{"iss": "a", "jwks": {"keys": [{"kty": "oct", "kid": "k", "k": "c2VjcmV0"}]}}],
            "private key material",
        ),
        ([{"iss": "a", "jwks": {"keys": []}}], "holds no keys"),
        (
            [{"iss": "a", "jwks": SPEC_JWKS}, {"iss": "a", "jwks": SPEC_JWKS}],
            "entry 1: iss 'a' is listed twice",
        ),
        ([{"iss": "a", "jwks": SPEC_JWKS, "extra": 1}], "unknown fields ['extra']"),
    ],
)
def test_a_bad_clients_file_stops_start_up_naming_file_and_entry(
    tmp_path: Path, entries: Any, expected: str
) -> None:
    path = tmp_path / "clients.json"
    path.write_text(json.dumps(entries))
    with pytest.raises(StartupError) as error:
        create_app(Settings(cds_clients=path))
    assert str(path) in error.value.message and expected in error.value.message


def test_a_short_rsa_key_is_refused(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    path = tmp_path / "clients.json"
    path.write_text(json.dumps([{"iss": "a", "jwks": {"keys": [public_jwk(small, "k", "RS384")]}}]))
    with pytest.raises(StartupError, match="at least 2048 bits"):
        load_trusted_clients(path)


def test_the_sandbox_client_entries_from_the_readme_load(tmp_path: Path) -> None:
    sandbox = shared_json("reference-services/sandbox-client-jwks.json")
    path = tmp_path / "clients.json"
    path.write_text(
        json.dumps(
            [
                {"iss": "https://sandbox.cds-hooks.org", "jwks": sandbox},
                {
                    "iss": "https://other.example",
                    "jwks_url": "https://sandbox.cds-hooks.org/.well-known/jwks.json",
                },
            ]
        )
    )
    clients = load_trusted_clients(path)
    assert set(clients["https://sandbox.cds-hooks.org"].keys or {}) == {
        "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"
    }


def test_unreadable_or_invalid_clients_file(tmp_path: Path) -> None:
    with pytest.raises(StartupError, match="cannot read"):
        load_trusted_clients(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("[{")
    with pytest.raises(StartupError, match="invalid JSON"):
        load_trusted_clients(broken)
