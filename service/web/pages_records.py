"""Officer and reader pages: cases, the guided interview, a testimony, coding, attachments,
versions and the identity reveal. Every read of decrypted content goes through the
domain service that records it."""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from service.access.policy import Permission, require
from service.access.schemas import CaseRead
from service.access.service import CaseService
from service.drafts.schemas import DraftRead
from service.drafts.service import DraftService
from service.runtime import Scope
from service.search.service import SearchRequest, SearchResult, SearchService
from service.taxonomy.service import Category
from service.testimony.attachments import AttachmentService
from service.testimony.schemas import (
    ConsentScope,
    DatePrecision,
    IncidentIn,
    Involvement,
    TestimonyImport,
    TestimonyRead,
)
from service.testimony.service import TestimonyService
from service.web import security
from service.web.forms import blank_to_none, parse_model, parse_upload
from service.web.render import (
    CsrfRefusedError,
    SignedInDep,
    SignedInFormDep,
    Web,
    WebRoute,
    load_web,
)
from service.witness.service import WitnessService

router = APIRouter(route_class=WebRoute)
Short = Annotated[str, Form(max_length=300)]
Long = Annotated[str, Form(max_length=2_000_000)]
Many = Annotated[list[str], Form()]


@router.get("/cases")
def cases(web: SignedInDep) -> Response:
    return web.page("cases.html", cases=web.run(lambda s: CaseService(s).list()))


@router.get("/cases/{code}")
def case_page(web: SignedInDep, code: str, page: Annotated[int, Query(ge=1)] = 1) -> Response:
    """The testimonies of one case, newest interview first (a search, so it is recorded)."""
    request = SearchRequest(cases=(code,), sort="date", page=page, per_page=50, snippets=False)
    result: SearchResult = web.run(lambda s: SearchService(s).search(request))
    return web.page("case.html", code=code, result=result)


def interview_page(
    web: Web,
    status: int = 200,
    form: dict[str, Any] | None = None,
    errors: list[str] | None = None,
    draft: DraftRead | None = None,
) -> Response:
    """The guided interview, blank, filled in again after an error, or resumed from a draft."""
    own: list[CaseRead] = web.run(lambda s: CaseService(s).list())
    return web.page(
        "interview_new.html",
        status=status,
        cases=own,
        scopes=list(ConsentScope),
        form=form or {},
        errors=errors or [],
        draft=draft,
        draft_hours=web.runtime.settings.draft_ttl_hours,
    )


def _draft_values(draft: DraftRead) -> dict[str, Any]:
    return {
        **draft.form.model_dump(),
        **draft.identity.model_dump(),
        "draft_id": draft.id,
        "draft_label": draft.label,
    }


@router.get("/interviews/new")
def interview_form(web: SignedInDep, draft: Annotated[str, Query(max_length=36)] = "") -> Response:
    """``?draft=`` resumes one of the caller's own drafts (a recorded read)."""
    if not draft:
        return interview_page(web)
    resumed: DraftRead = web.run(lambda s: DraftService(s).load(draft))
    return interview_page(web, form=_draft_values(resumed), draft=resumed)


@router.post("/interviews")
def interview_create(
    web: SignedInFormDep,
    case: Short = "",
    external_id: Short = "",
    interview_date: Short = "",
    interview_place: Short = "",
    language: Short = "ko",
    interviewer: Short = "",
    pseudonym: Short = "",
    legal_name: Short = "",
    birth_year: Short = "",
    gender: Short = "",
    contact: Short = "",
    family_in_dprk: Long = "",
    scopes: Many = [],  # noqa: B006 - FastAPI copies defaults
    consent_given_on: Short = "",
    narrative_original: Long = "",
    translation_en: Long = "",
    draft_id: Short = "",
    draft_label: Short = "",
) -> Response:
    """The guided interview in one submission; the form comes back filled in on errors.

    The draft it was typed in (``draft_id``), if any, is deleted with the same commit.
    """
    identity = None
    if blank_to_none(legal_name):
        identity = {
            "legal_name": legal_name,
            "birth_year": int(birth_year) if birth_year.strip().isdigit() else None,
            "gender": blank_to_none(gender),
            "contact": blank_to_none(contact),
            "family_in_dprk": [x.strip() for x in family_in_dprk.splitlines() if x.strip()],
        }
    data = {
        "external_id": blank_to_none(external_id),
        "case": case,
        "interview": {
            "date": interview_date,
            "place": interview_place,
            "language": language,
            "interviewer": interviewer,
        },
        "witness": {"pseudonym": pseudonym, "identity": identity},
        "consent": {"scopes": scopes, "given_on": consent_given_on},
        "narrative": {
            "original": narrative_original,
            "translation_en": blank_to_none(translation_en),
        },
    }
    record, errors = parse_model(TestimonyImport, data, web.gettext)
    if record is None:
        form = {k: v for k, v in locals().items() if isinstance(v, str | list)}
        return interview_page(web, 422, form=form, errors=errors)
    created = web.run(lambda s: DraftService(s).submit(record, blank_to_none(draft_id)))
    return web.redirect(f"{security.PREFIX}/testimonies/{created.id}")


@router.get("/testimonies/{testimony_id}")
def testimony_page(web: SignedInDep, testimony_id: str) -> Response:
    testimony: TestimonyRead = web.run(lambda s: TestimonyService(s).read(testimony_id))
    taxonomy = web.runtime.taxonomy.categories
    return web.page(
        "testimony.html", t=testimony, taxonomy=taxonomy, consent_scopes=list(ConsentScope)
    )


@router.get("/testimonies/{testimony_id}/versions")
def versions_page(web: SignedInDep, testimony_id: str) -> Response:
    versions = web.run(lambda s: TestimonyService(s).history(testimony_id))
    return web.page("versions.html", testimony_id=testimony_id, versions=versions)


def _categories(scope: Scope, query: str) -> list[Category]:
    """Taxonomy entries whose code, Korean or English label or definition match ``query``."""
    assert scope.principal is not None
    require(scope.principal, Permission.TAXONOMY_READ, object_type="taxonomy")
    needle = query.strip().casefold()
    found = []
    for category in scope.runtime.taxonomy.categories.values():
        haystack = " ".join(
            (category.code, category.label_en, category.label_ko, category.definition)
        )
        if not needle or needle in haystack.casefold():
            found.append(category)
    return found


def _incident_form(
    web: SignedInDep, testimony_id: str, form: dict[str, Any], errors: list[str], status: int
) -> Response:
    query = str(form.get("taxonomy_query", ""))
    found = web.run(lambda s: _categories(s, query))
    chosen = set(form.get("categories", []))
    # Codes already ticked stay visible (and ticked) whatever the filter shows.
    extra = [
        web.runtime.taxonomy.categories[c] for c in chosen if c in web.runtime.taxonomy.categories
    ]
    shown = found + [c for c in extra if c not in found]
    return web.page(
        "incident_new.html",
        status=status,
        testimony_id=testimony_id,
        categories=shown,
        form=form,
        chosen=chosen,
        errors=errors,
        precisions=list(DatePrecision),
        involvements=list(Involvement),
    )


@router.get("/testimonies/{testimony_id}/incidents/new")
def incident_form(web: SignedInDep, testimony_id: str) -> Response:
    return _incident_form(web, testimony_id, {}, [], 200)


@router.post("/testimonies/{testimony_id}/incidents")
def incident_create(
    web: SignedInFormDep,
    testimony_id: str,
    intent: Short = "save",
    taxonomy_query: Short = "",
    categories: Many = [],  # noqa: B006 - FastAPI copies defaults
    date: Short = "",
    date_precision: Short = "",
    date_end: Short = "",
    place: Short = "",
    facility: Short = "",
    perpetrator_institution: Short = "",
    involvement: Short = "",
    description: Long = "",
) -> Response:
    """``intent=search`` filters the taxonomy picker and keeps what was typed; ``save`` codes."""
    form: dict[str, Any] = {k: v for k, v in locals().items() if isinstance(v, str | list)}
    if intent == "search":
        return _incident_form(web, testimony_id, form, [], 200)
    data = {
        "categories": categories,
        "date": date,
        "date_precision": date_precision,
        "date_end": blank_to_none(date_end),
        "place": blank_to_none(place),
        "facility": blank_to_none(facility),
        "perpetrator_institution": blank_to_none(perpetrator_institution),
        "involvement": involvement,
        "description": blank_to_none(description),
    }
    incident, errors = parse_model(IncidentIn, data, web.gettext)
    if incident is None:
        return _incident_form(web, testimony_id, form, errors, 422)
    web.run(lambda s: TestimonyService(s).add_incident(testimony_id, incident))
    return web.redirect(f"{security.PREFIX}/testimonies/{testimony_id}")


@router.post("/testimonies/{testimony_id}/attachments")
async def attachment_upload(request: Request, testimony_id: str) -> Response:
    """Parsed in memory, CSRF-checked, then encrypted by the attachment service."""
    web = await run_in_threadpool(load_web, request)
    upload = parse_upload(await request.body(), request.headers.get("content-type", ""))
    if not security.csrf_matches(web.csrf, upload.fields.get(security.CSRF_FIELD, "")):
        raise CsrfRefusedError
    if web.principal is None:
        return web.redirect(security.PREFIX + "/signin")
    if not upload.filename:
        return web.page("error.html", status=400, title=web.gettext("Choose a file to upload."))
    name, media, content = upload.filename, upload.media_type, upload.content
    await run_in_threadpool(
        web.run, lambda s: AttachmentService(s).upload(testimony_id, name, media, content)
    )
    return web.redirect(f"{security.PREFIX}/testimonies/{testimony_id}")


@router.get("/testimonies/{testimony_id}/attachments/{attachment_id}")
def attachment_download(web: SignedInDep, testimony_id: str, attachment_id: str) -> Response:
    download = web.run(lambda s: AttachmentService(s).download(testimony_id, attachment_id))
    info = download.info
    return StreamingResponse(
        download.chunks,
        media_type=info.media_type,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(info.filename)}",
            "Content-Length": str(info.size_bytes),
        },
    )


@router.post("/witnesses/{pseudonym}/reveal")
def reveal_identity(
    web: SignedInFormDep, pseudonym: str, reason: Long = "", testimony_id: Short = ""
) -> Response:
    """Identity is shown only after a stated reason, which goes on the custody record."""
    if not re.fullmatch(r"[0-9a-f-]{36}", testimony_id):
        testimony_id = ""  # only ever used for the link back to the testimony
    if len(reason.strip()) < 10:
        return web.page(
            "reveal.html",
            status=422,
            pseudonym=pseudonym,
            identity=None,
            testimony_id=testimony_id,
            error=web.gettext("Give a reason of at least 10 characters."),
        )
    identity = web.run(lambda s: WitnessService(s).reveal(pseudonym, reason))
    return web.page(
        "reveal.html", pseudonym=pseudonym, identity=identity, testimony_id=testimony_id
    )


@router.get("/witnesses/{pseudonym}/reveal")
def reveal_form(
    web: SignedInDep,
    pseudonym: str,
    testimony_id: Annotated[str, Query(pattern=r"^[0-9a-f-]{36}$")] = "",
) -> Response:
    return web.page(
        "reveal.html", pseudonym=pseudonym, identity=None, testimony_id=testimony_id, error=None
    )
