"""HTTP routes for auditors: events, per-object history, activity, checkpoints, proofs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from service.custody.audit import CustodyService, EventFilter
from service.custody.schemas import (
    ActivityRow,
    CheckpointRead,
    ConsistencyProofRead,
    EventPage,
    EventRead,
    InclusionProofRead,
)
from service.deps import CallerDep

router = APIRouter(prefix="/custody", tags=["custody"])


def event_filter(
    actor: str | None = None,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    channel: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> EventFilter:
    """The filter query parameters shared by the event list and the download."""
    return EventFilter(actor, action, object_type, object_id, channel, since, until)


FilterDep = Annotated[EventFilter, Depends(event_filter)]


@router.get("/events")
def list_events(
    caller: CallerDep,
    filters: FilterDep,
    cursor: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> EventPage:
    return caller.run(lambda s: CustodyService(s).events(filters, cursor=cursor, limit=limit))


@router.get("/events:download")
def download_events(
    caller: CallerDep,
    filters: FilterDep,
    format: Literal["csv", "jsonl"] = "csv",
) -> StreamingResponse:
    chunks = list(caller.run(lambda s: CustodyService(s).export(format, filters)))
    media = "text/csv; charset=utf-8" if format == "csv" else "application/x-ndjson"
    return StreamingResponse(
        iter(chunks),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="custody-events.{format}"'},
    )


@router.get("/objects/{object_type}/{object_id}")
def object_history(object_type: str, object_id: str, caller: CallerDep) -> list[EventRead]:
    return caller.run(lambda s: CustodyService(s).object_history(object_type, object_id))


@router.get("/activity")
def activity(
    caller: CallerDep, since: datetime | None = None, until: datetime | None = None
) -> list[ActivityRow]:
    return caller.run(lambda s: CustodyService(s).activity(since, until))


@router.get("/checkpoint")
def latest_checkpoint(caller: CallerDep) -> CheckpointRead:
    return caller.run(lambda s: CustodyService(s).latest_checkpoint())


@router.post("/checkpoints", status_code=201)
def make_checkpoint(caller: CallerDep) -> CheckpointRead:
    return caller.run(lambda s: CustodyService(s).make_checkpoint())


@router.get("/proofs/inclusion")
def inclusion_proof(
    caller: CallerDep,
    index: Annotated[int, Query(ge=0)],
    tree_size: Annotated[int | None, Query(ge=1)] = None,
) -> InclusionProofRead:
    return caller.run(lambda s: CustodyService(s).inclusion(index, tree_size))


@router.get("/proofs/consistency")
def consistency_proof(
    caller: CallerDep,
    first: Annotated[int, Query(ge=1)],
    second: Annotated[int | None, Query(ge=1)] = None,
) -> ConsistencyProofRead:
    return caller.run(lambda s: CustodyService(s).consistency(first, second))


@router.post("/verify")
def verify(caller: CallerDep) -> dict[str, Any]:
    report = caller.run(lambda s: CustodyService(s).verify())
    first = report.first
    return {
        "ok": report.ok,
        "events": report.events,
        "root_hash": report.root_hash.hex(),
        "checkpoints_checked": report.checkpoints_checked,
        "tree_nodes_checked": report.tree_nodes_checked,
        "object_hashes_checked": report.object_hashes_checked,
        "first_problem": None
        if first is None
        else {"seq": first.seq, "problem": first.problem.value, "message": first.message},
        "problems": [str(f) for f in report.findings[:100]],
    }
