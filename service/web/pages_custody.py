"""Auditor pages: the custody timeline, one object's history, verification, checkpoints
and the event log download; all through ``CustodyService``, which records each use."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from starlette.responses import Response

from service.custody.audit import CustodyService, EventFilter
from service.custody.schemas import CheckpointRead
from service.errors import NotFoundError
from service.runtime import Scope
from service.web.render import SignedInDep, SignedInFormDep, Web, WebRoute

router = APIRouter(route_class=WebRoute)
Text = Annotated[str, Query(max_length=200)]


def _moment(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value.strip() else None
    except ValueError:
        return None


def _filters(
    actor: str, action: str, object_type: str, object_id: str, since: str, until: str
) -> EventFilter:
    return EventFilter(
        actor or None,
        action or None,
        object_type or None,
        object_id or None,
        None,
        _moment(since),
        _moment(until),
    )


@router.get("/custody")
def timeline(
    web: SignedInDep,
    actor: Text = "",
    action: Text = "",
    object_type: Text = "",
    object_id: Text = "",
    since: Text = "",
    until: Text = "",
    cursor: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    """Newest filters first in the form; events in log order, 100 a page."""
    filters = _filters(actor, action, object_type, object_id, since, until)
    page = web.run(lambda s: CustodyService(s).events(filters, cursor=cursor, limit=100))
    form = {
        "actor": actor,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "since": since,
        "until": until,
    }
    query = urlencode({k: v for k, v in form.items() if v})
    return web.page("custody.html", page=page, form=form, query=query)


@router.get("/custody/download")
def download(
    web: SignedInDep,
    format: Text = "csv",
    actor: Text = "",
    action: Text = "",
    object_type: Text = "",
    object_id: Text = "",
    since: Text = "",
    until: Text = "",
) -> Response:
    filters = _filters(actor, action, object_type, object_id, since, until)
    chunks = list(web.run(lambda s: CustodyService(s).export(format, filters)))
    media = "text/csv; charset=utf-8" if format == "csv" else "application/x-ndjson"
    return Response(
        "".join(chunks),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="custody-events.{format}"'},
    )


@router.get("/custody/objects/{object_type}/{object_id}")
def object_history(web: SignedInDep, object_type: str, object_id: str) -> Response:
    events = web.run(lambda s: CustodyService(s).object_history(object_type, object_id))
    return web.page(
        "custody_object.html", events=events, object_type=object_type, object_id=object_id
    )


@router.get("/custody/verify")
def verify_form(web: SignedInDep) -> Response:
    return web.page("custody_verify.html", report=None)


@router.post("/custody/verify")
def verify(web: SignedInFormDep) -> Response:
    report = web.run(lambda s: CustodyService(s).verify())
    return web.page("custody_verify.html", report=report)


def _latest(scope: Scope) -> CheckpointRead | None:
    service = CustodyService(scope)
    try:
        return service.latest_checkpoint()
    except NotFoundError:
        return None


def _checkpoints_page(
    web: Web,
    checkpoint: CheckpointRead | None,
    *,
    made: bool = False,
    published: list[str] | None = None,
) -> Response:
    return web.page(
        "custody_checkpoints.html",
        checkpoint=checkpoint,
        made=made,
        published=published,
        witnesses=len(web.runtime.settings.checkpoint_publish_dirs),
    )


@router.get("/custody/checkpoints")
def checkpoints(web: SignedInDep) -> Response:
    return _checkpoints_page(web, web.run(_latest))


@router.post("/custody/checkpoints")
def make_checkpoint(web: SignedInFormDep) -> Response:
    checkpoint = web.run(lambda s: CustodyService(s).make_checkpoint())
    return _checkpoints_page(web, checkpoint, made=True)


@router.post("/custody/checkpoints/publish")
def publish_checkpoint(web: SignedInFormDep) -> Response:
    """Copies the latest checkpoint to the witness locations (CUSTODIA_CHECKPOINT_PUBLISH_DIRS)."""
    published = web.run(lambda s: CustodyService(s).publish_latest())
    return _checkpoints_page(web, web.run(_latest), published=published)
