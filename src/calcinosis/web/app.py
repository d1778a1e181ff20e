"""Build the one FastAPI app: REST API, CDS Hooks service and web UI share settings, knowledge,
the report store, the audit trail and one way of refusing."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.types import Scope

import calcinosis
from calcinosis.core.knowledge import Knowledge
from calcinosis.web import api, auth, cdshooks, registry, ui
from calcinosis.web.context import AppContext
from calcinosis.web.observability import REQUEST_ID_HEADER, AccessLogMiddleware
from calcinosis.web.problems import Problem, outcome_response
from calcinosis.web.reports import ReportStore
from calcinosis.web.settings import Settings

# Machines get OperationOutcomes; people in a browser get a page.
_MACHINE_PREFIXES = ("/api", "/cds-services", "/health", "/openapi", "/docs")


def create_app(settings: Settings | None = None, knowledge: Knowledge | None = None) -> FastAPI:
    settings = settings or Settings()
    kb = knowledge or calcinosis.load_knowledge(settings.knowledge_dir)
    ctx = AppContext(settings, kb, ReportStore(settings.report_capacity))
    app = FastAPI(
        title="Calcinosis",
        version=calcinosis.__version__,
        description="Clinical decision support for calcinosis cutis: REST API and "
        "HL7 CDS Hooks 2.0 service. Errors are FHIR OperationOutcomes.",
    )
    app.state.context = ctx
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(settings.cors_origins),
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "Accept"],
        expose_headers=[REQUEST_ID_HEADER],
    )
    app.add_middleware(AccessLogMiddleware, on_crash=_crash_response)
    _install_error_handlers(app)
    app.include_router(api.router)
    app.include_router(_health_router(ctx))
    cdshooks.install(app, ctx)
    registry.install(app, ctx)  # opens the registry named by settings.database_url, if any
    auth.install(app, ctx)
    ui.install(app, ctx)
    return app


def _health_router(ctx: AppContext) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/health", summary="Liveness")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/health/ready", summary="Readiness: knowledge loaded, trusted clients known")
    async def ready() -> Response:
        checks = {"knowledge": ctx.knowledge.version, "reports": str(len(ctx.reports))}
        return JSONResponse({"status": "ready", "checks": checks})

    return router


def _crash_response(scope: Scope, request_id: str) -> Response:
    """What a caller sees of a bug: the request id to quote, never the traceback."""
    message = f"internal error; quote request id {request_id} to the operator"
    request = Request(scope)
    if _wants_page(request):
        return ui.error_page(request, 500, message)
    return outcome_response(Problem(500, "internal-error", message))


def _wants_page(request: Request) -> bool:
    path = request.url.path
    if path.startswith(_MACHINE_PREFIXES):
        return False
    return "text/html" in request.headers.get("accept", "")


def _install_error_handlers(app: FastAPI) -> None:
    async def problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)
        if _wants_page(request):
            return ui.error_page(request, exc.status, exc.message)
        return outcome_response(exc)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        messages = {404: "no such resource", 405: "method not allowed on this resource"}
        message = messages.get(exc.status_code, str(exc.detail))
        code = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        return await problem(
            request, Problem(exc.status_code, code, message, dict(exc.headers or {}))
        )

    async def invalid_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        fields = sorted({".".join(str(p) for p in e.get("loc", ())) for e in exc.errors()})
        message = "invalid request: " + ", ".join(fields) if fields else "invalid request"
        return await problem(request, Problem(400, "invalid-request", message))

    app.add_exception_handler(Problem, problem)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
