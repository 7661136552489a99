"""Mounts the server-rendered pages under /web, with their own assets."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.responses import RedirectResponse

from service.web import (
    pages_admin,
    pages_auth,
    pages_consent,
    pages_custody,
    pages_drafts,
    pages_edit,
    pages_exports,
    pages_import,
    pages_proofs,
    pages_records,
    pages_search,
)
from service.web.security import PREFIX

STATIC_DIR = Path(__file__).parent / "static"


def install_web(app: FastAPI) -> None:
    """Adds the pages; every one of them calls the same domain services as the API."""
    web = APIRouter(prefix=PREFIX, include_in_schema=False)
    for module in (
        pages_auth,
        pages_records,
        pages_drafts,
        pages_consent,
        pages_edit,
        pages_search,
        pages_custody,
        pages_proofs,
        pages_exports,
        pages_import,
        pages_admin,
    ):
        web.include_router(module.router)
    app.include_router(web)
    app.mount(PREFIX + "/static", StaticFiles(directory=STATIC_DIR), name="web-static")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse(PREFIX + "/", status_code=303)
