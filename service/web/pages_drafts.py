"""Drafts of the guided interview: autosave (``static/drafts.js``), "Save draft" without
script, the officer's list of drafts, resume and discard. ``DraftService`` decides who may
see a draft (its owner only) and what goes on the custody record."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import JSONResponse, Response

from service.drafts.schemas import DraftIdentity, DraftSave, DraftSaved
from service.drafts.service import DraftService
from service.web import security
from service.web.forms import parse_model
from service.web.pages_records import interview_page
from service.web.render import CsrfRefusedError, SignedInDep, SignedInFormDep, WebRoute

router = APIRouter(route_class=WebRoute)

FORM_FIELDS = (
    "case",
    "external_id",
    "interview_date",
    "interview_place",
    "language",
    "interviewer",
    "pseudonym",
    "consent_given_on",
    "narrative_original",
    "translation_en",
)
IDENTITY_FIELDS = tuple(DraftIdentity.model_fields)
RESUME = security.PREFIX + "/interviews/new?draft="


def _draft_input(form: FormData) -> dict[str, Any]:
    def text(name: str) -> str:
        value = form.get(name, "")
        return value if isinstance(value, str) else ""

    return {
        "label": text("draft_label"),
        "form": {
            **{name: text(name) for name in FORM_FIELDS},
            "scopes": [s for s in form.getlist("scopes") if isinstance(s, str)],
        },
        "identity": {name: text(name) for name in IDENTITY_FIELDS},
    }


def _wants_json(headers: Mapping[str, str]) -> bool:
    return "application/json" in headers.get("accept", "")


@router.get("/drafts")
def drafts_page(web: SignedInDep) -> Response:
    drafts = web.run(lambda s: DraftService(s).list())
    return web.page("drafts.html", drafts=drafts)


@router.post("/drafts")
async def draft_save(web: SignedInFormDep) -> Response:
    """Autosave (``Accept: application/json``) or the "Save draft" button (a redirect).

    Only url-encoded bodies: the form check lets multipart through for uploads, which
    check their token themselves, so a multipart draft is refused here outright.
    """
    if not web.request.headers.get("content-type", "").startswith(
        "application/x-www-form-urlencoded"
    ):
        raise CsrfRefusedError
    form = await web.request.form()
    draft_id = form.get("draft_id")
    draft_id = draft_id.strip() if isinstance(draft_id, str) and draft_id.strip() else None
    given = _draft_input(form)
    data, errors = parse_model(DraftSave, given, web.gettext)
    as_json = _wants_json(web.request.headers)
    if data is None:
        if as_json:
            return JSONResponse({"errors": errors}, status_code=422)
        values = {**given["form"], **given["identity"]}
        values.update(draft_id=draft_id or "", draft_label=given["label"])
        return await run_in_threadpool(interview_page, web, 422, values, errors)
    saved: DraftSaved = await run_in_threadpool(
        web.run, lambda s: DraftService(s).save(data, draft_id)
    )
    if as_json:
        return JSONResponse(
            {"id": saved.id, "version": saved.version, "updated_at": saved.updated_at.isoformat()}
        )
    return web.redirect(RESUME + saved.id)


@router.post("/drafts/{draft_id}/discard")
def draft_discard(web: SignedInFormDep, draft_id: str) -> Response:
    web.run(lambda s: DraftService(s).discard(draft_id))
    return web.redirect(security.PREFIX + "/drafts")
