"""Builds the FastAPI application around one ``Runtime``; nothing happens at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from sqlalchemy import text

from service.access import api as access_api
from service.analyst import api as analyst_api
from service.config import Settings
from service.custody import api as custody_api
from service.deps import RuntimeDep, get_principal
from service.export import api as export_api
from service.http.problems import SECURITY_HEADERS, install_problem_handlers, problem_response
from service.runtime import Runtime
from service.search import api as search_api
from service.shred import api as shred_api
from service.taxonomy import api as taxonomy_api
from service.testimony import api as testimony_api
from service.web import pages_import
from service.web.routes import install_web

# The interactive docs page needs scripts; it gets a looser policy than everything else.
DOCS_PATHS = ("/docs", "/redoc")


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    settings = settings or Settings()
    owned = runtime is None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.runtime = runtime or Runtime.open(settings)
        # Records committed while no indexer ran (a crash, a stopped worker) are indexed now.
        app.state.runtime.search_indexer.drain()
        try:
            yield
        finally:
            if owned:
                app.state.runtime.close()

    app = FastAPI(
        title="Custodia",
        version="0.1.0",
        description="Encrypted, access-controlled testimony repository with a chain of custody.",
        lifespan=lifespan,
    )
    if runtime is not None:
        app.state.runtime = runtime
    install_problem_handlers(app)

    @app.middleware("http")
    async def guard(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        length = request.headers.get("content-length")
        is_upload = request.url.path.endswith("/attachments")
        limit = settings.max_attachment_bytes if is_upload else settings.request_body_limit_bytes
        bag_import = pages_import.is_bag_import(request)
        if bag_import:
            limit = pages_import.bag_upload_limit()
        if length is not None and (not length.isdigit() or int(length) > limit):
            if bag_import:
                return await pages_import.too_large_page(request)
            return problem_response(
                request,
                status=413,
                slug="payload-too-large",
                title="Upload too large",
                detail=f"The request body exceeds the limit of {limit} bytes.",
            )
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            if name == "Content-Security-Policy" and request.url.path.startswith(DOCS_PATHS):
                continue
            response.headers.setdefault(name, value)
        if request.url.scheme == "https":
            # Once a browser has reached Custodia over TLS it must never fall back to HTTP.
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response

    @app.get("/healthz", tags=["health"])
    def healthz(runtime: RuntimeDep) -> dict[str, str]:
        with runtime.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return {"status": "ok"}

    api = APIRouter(prefix="/api/v1")
    api.include_router(access_api.public_router)
    protected = APIRouter(dependencies=[Depends(get_principal)])
    protected.include_router(access_api.router)
    protected.include_router(testimony_api.router)
    protected.include_router(taxonomy_api.router)
    protected.include_router(custody_api.router)
    protected.include_router(search_api.router)
    protected.include_router(export_api.router)
    protected.include_router(shred_api.router)
    protected.include_router(analyst_api.router)
    api.include_router(protected)
    app.include_router(api)
    # Web pages set their own Content-Security-Policy; the middleware only fills gaps.
    install_web(app)
    return app
