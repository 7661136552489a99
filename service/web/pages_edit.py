"""Officer corrections: a new version of a testimony's narrative, and retracting an incident.

Nothing is overwritten: the domain service writes a new encrypted version (or a new incident
version marked retracted) and a custody event, and the version history shows both.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from starlette.responses import Response

from service.access.policy import Permission
from service.runtime import Scope
from service.testimony.schemas import IncidentUpdate, NarrativeIn, TestimonyRead, TestimonyUpdate
from service.testimony.service import TestimonyService
from service.web import security
from service.web.forms import blank_to_none, parse_model
from service.web.render import SignedInDep, SignedInFormDep, Web, WebRoute

router = APIRouter(route_class=WebRoute)
Long = Annotated[str, Form(max_length=2_000_000)]


def _editable(web: Web, testimony_id: str) -> TestimonyRead:
    """The current version, for a caller allowed to edit it (others are refused first)."""

    def work(scope: Scope) -> TestimonyRead:
        service = TestimonyService(scope)
        service.load(testimony_id, Permission.TESTIMONY_EDIT)
        return service.read(testimony_id)

    return web.run(work)


def _edit_page(
    web: Web, t: TestimonyRead, original: str, translation: str, status: int, errors: list[str]
) -> Response:
    return web.page(
        "testimony_edit.html",
        status=status,
        t=t,
        original=original,
        translation=translation,
        errors=errors,
    )


@router.get("/testimonies/{testimony_id}/edit")
def edit_form(web: SignedInDep, testimony_id: str) -> Response:
    t = _editable(web, testimony_id)
    return _edit_page(web, t, t.narrative.original, t.narrative.translation_en or "", 200, [])


@router.post("/testimonies/{testimony_id}/edit")
def save_edit(
    web: SignedInFormDep,
    testimony_id: str,
    narrative_original: Long = "",
    translation_en: Long = "",
) -> Response:
    narrative, errors = parse_model(
        NarrativeIn,
        {"original": narrative_original, "translation_en": blank_to_none(translation_en)},
        web.gettext,
    )
    if narrative is None:
        t = _editable(web, testimony_id)
        return _edit_page(web, t, narrative_original, translation_en, 422, errors)
    change = TestimonyUpdate(narrative=narrative)
    web.run(lambda s: TestimonyService(s).update(testimony_id, change))
    return web.redirect(f"{security.PREFIX}/testimonies/{testimony_id}/versions")


@router.post("/testimonies/{testimony_id}/incidents/{incident_id}/retract")
def retract_incident(web: SignedInFormDep, testimony_id: str, incident_id: str) -> Response:
    change = IncidentUpdate(retracted=True)
    web.run(lambda s: TestimonyService(s).update_incident(testimony_id, incident_id, change))
    return web.redirect(f"{security.PREFIX}/testimonies/{testimony_id}")
