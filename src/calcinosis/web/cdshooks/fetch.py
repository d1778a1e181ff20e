"""Read FHIR data the CDS Client did not prefetch from its `fhirServer`, with its access token.

Short timeouts, a page cap per search and a byte budget for the whole request keep one slow or
huge record from holding the service. The token is sent only to URLs under `fhirServer` (a
`next` link pointing elsewhere is not followed) and never logged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from calcinosis.web.cdshooks.prefetch import bundle_contents
from calcinosis.web.cdshooks.urls import outbound_url_problem, same_base
from calcinosis.web.problems import FHIR_JSON, Problem

MAX_PAGES = 10


class FetchFailed(Exception):
    """The FHIR server could not give the data; the message is safe to show the caller."""


@dataclass(frozen=True)
class Fetched:
    resources: tuple[Mapping[str, Any], ...]
    truncated: bool = False
    """More pages existed than MAX_PAGES; the rest was not read."""


class _Budget:
    def __init__(self, max_bytes: int) -> None:
        self.left = max_bytes

    def take(self, size: int) -> None:
        self.left -= size
        if self.left < 0:
            raise FetchFailed("the record is larger than the service's size limit")


def fhir_server_problem(server: str) -> str | None:
    problem = outbound_url_problem(server)
    if problem:
        return f"fhirServer {problem}"
    if "?" in server:
        return "fhirServer must be a base URL without a query"
    return None


class FhirFetcher:
    """One hook call's access to the client's FHIR server; use as an async context manager."""

    def __init__(self, server: str, access_token: str, timeout_s: float, max_bytes: int) -> None:
        self._base = server.rstrip("/")
        self._budget = _Budget(max_bytes)
        self._client = httpx.AsyncClient(
            timeout=timeout_s,
            follow_redirects=False,
            headers={"Authorization": f"Bearer {access_token}", "Accept": FHIR_JSON},
        )

    async def __aenter__(self) -> FhirFetcher:
        await self._client.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.__aexit__(*exc)  # type: ignore[arg-type]

    async def read(self, relative: str) -> Mapping[str, Any] | None:
        """A read (`Patient/123`): the resource, or None when the server has none (404/410)."""
        status, body = await self._get(f"{self._base}/{relative}")
        if status in (404, 410):
            return None
        return self._expect(status, body)

    async def search(self, relative: str) -> Fetched:
        return await self.pages(f"{self._base}/{relative}", ())

    async def pages(self, url: str, already: tuple[Mapping[str, Any], ...]) -> Fetched:
        """Follow a search from `url` through its `next` links, up to MAX_PAGES pages."""
        resources = list(already)
        next_url: str | None = url
        for _ in range(MAX_PAGES):
            if next_url is None:
                return Fetched(tuple(resources))
            if not same_base(next_url, self._base):
                raise FetchFailed("a page link points outside fhirServer")
            status, body = await self._get(next_url)
            bundle = self._expect(status, body)
            if bundle.get("resourceType") != "Bundle":
                raise FetchFailed("the FHIR server answered a search without a Bundle")
            try:
                page, next_url = bundle_contents(bundle, "search result")
            except Problem:
                raise FetchFailed("the FHIR server sent a malformed Bundle") from None
            resources.extend(page)
        return Fetched(tuple(resources), truncated=next_url is not None)

    async def _get(self, url: str) -> tuple[int, bytes]:
        try:
            async with self._client.stream("GET", url) as response:
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    self._budget.take(len(chunk))
                    body += chunk
                return response.status_code, bytes(body)
        except httpx.TimeoutException:
            raise FetchFailed("the FHIR server did not answer in time") from None
        except httpx.HTTPError:
            raise FetchFailed("the FHIR server could not be reached") from None

    @staticmethod
    def _expect(status: int, body: bytes) -> Mapping[str, Any]:
        if status in (401, 403):
            raise FetchFailed(f"the FHIR server refused the access token (HTTP {status})")
        if status != 200:
            raise FetchFailed(f"the FHIR server answered HTTP {status}")
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise FetchFailed("the FHIR server sent invalid JSON") from None
        if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
            raise FetchFailed("the FHIR server sent something that is not a FHIR resource")
        if data["resourceType"] == "OperationOutcome":
            raise FetchFailed("the FHIR server answered with an OperationOutcome")
        return data


async def gather_all(*calls: Any) -> list[Any]:
    """Run fetches concurrently; each result is its value or the FetchFailed it raised."""
    return list(await asyncio.gather(*calls, return_exceptions=True))
