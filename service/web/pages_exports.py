"""Investigator pages for evidence exports: request, second-person approval, build and
download, all through ``ExportService`` (which owns consent checks and the two-person rule)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from starlette.responses import Response, StreamingResponse

from service.access.service import CaseService
from service.export.schemas import ExportDecision, ExportRequestCreate
from service.export.service import ExportService
from service.web import security
from service.web.forms import blank_to_none, parse_model
from service.web.render import SignedInDep, SignedInFormDep, Web, WebRoute

router = APIRouter(route_class=WebRoute)
Short = Annotated[str, Form(max_length=2000)]
Many = Annotated[list[str], Form()]


def _exports(web: Web, status: int = 200, errors: list[str] | None = None) -> Response:
    exports = web.run(lambda s: ExportService(s).list_exports())
    profiles = web.run(lambda s: ExportService(s).list_profiles())
    cases = web.run(lambda s: CaseService(s).list())
    return web.page(
        "exports.html",
        status=status,
        exports=exports,
        profiles=profiles,
        cases=cases,
        errors=errors or [],
    )


@router.get("/exports")
def exports(web: SignedInDep) -> Response:
    return _exports(web)


@router.post("/exports")
def request_export(
    web: SignedInFormDep,
    profile: Short = "",
    purpose: Short = "",
    cases: Many = [],  # noqa: B006 - FastAPI copies defaults
    testimony_ids: Short = "",
) -> Response:
    data, errors = parse_model(
        ExportRequestCreate,
        {
            "profile": profile,
            "purpose": purpose,
            "cases": cases,
            "testimony_ids": [t.strip() for t in testimony_ids.split() if t.strip()],
        },
        web.gettext,
    )
    if data is None:
        return _exports(web, 422, errors)
    created = web.run(lambda s: ExportService(s).request(data))
    return web.redirect(f"{security.PREFIX}/exports/{created.id}")


@router.get("/exports/{export_id}")
def export_page(web: SignedInDep, export_id: str) -> Response:
    export = web.run(lambda s: ExportService(s).get(export_id))
    return web.page("export.html", export=export)


def _decide(web: Web, export_id: str, approve: bool, note: str) -> Response:
    decision = ExportDecision(note=blank_to_none(note))
    web.run(lambda s: ExportService(s).decide(export_id, approve, decision))
    return web.redirect(f"{security.PREFIX}/exports/{export_id}")


@router.post("/exports/{export_id}/approve")
def approve(web: SignedInFormDep, export_id: str, note: Short = "") -> Response:
    return _decide(web, export_id, True, note)


@router.post("/exports/{export_id}/reject")
def reject(web: SignedInFormDep, export_id: str, note: Short = "") -> Response:
    return _decide(web, export_id, False, note)


@router.post("/exports/{export_id}/build")
def build(web: SignedInFormDep, export_id: str) -> Response:
    web.run(lambda s: ExportService(s).build(export_id))
    return web.redirect(f"{security.PREFIX}/exports/{export_id}")


@router.get("/exports/{export_id}/bag")
def download(web: SignedInDep, export_id: str) -> Response:
    bag = web.run(lambda s: ExportService(s).download(export_id))
    return StreamingResponse(
        bag.chunks,
        media_type="application/x-tar",
        headers={
            "Content-Disposition": f'attachment; filename="{bag.filename}"',
            "Content-Length": str(bag.size),
        },
    )
