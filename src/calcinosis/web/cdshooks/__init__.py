"""HL7 CDS Hooks 2.0.1 service (being built in this session)."""

from __future__ import annotations

from fastapi import FastAPI

from calcinosis.web.context import AppContext


def install(app: FastAPI, ctx: AppContext) -> None:
    """Add the CDS Hooks routes to `app`."""
