"""HTTP routes for recipient profiles, export requests, approvals, builds and downloads.

Downloads stream the bag; nothing about its content goes into the URL or the logs.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from service.deps import CallerDep
from service.export.schemas import (
    ExportDecision,
    ExportRead,
    ExportRequestCreate,
    RecipientProfileCreate,
    RecipientProfileRead,
)
from service.export.service import ExportService

router = APIRouter(tags=["exports"])


@router.post("/exports/profiles", status_code=201)
def create_profile(body: RecipientProfileCreate, caller: CallerDep) -> RecipientProfileRead:
    return caller.run(lambda s: ExportService(s).create_profile(body))


@router.get("/exports/profiles")
def list_profiles(caller: CallerDep) -> list[RecipientProfileRead]:
    return caller.run(lambda s: ExportService(s).list_profiles())


@router.post("/exports", status_code=201)
def request_export(body: ExportRequestCreate, caller: CallerDep) -> ExportRead:
    return caller.run(lambda s: ExportService(s).request(body))


@router.get("/exports")
def list_exports(caller: CallerDep) -> list[ExportRead]:
    return caller.run(lambda s: ExportService(s).list_exports())


@router.get("/exports/{export_id}")
def read_export(export_id: str, caller: CallerDep) -> ExportRead:
    return caller.run(lambda s: ExportService(s).get(export_id))


@router.post("/exports/{export_id}:approve")
def approve_export(export_id: str, body: ExportDecision, caller: CallerDep) -> ExportRead:
    return caller.run(lambda s: ExportService(s).decide(export_id, True, body))


@router.post("/exports/{export_id}:reject")
def reject_export(export_id: str, body: ExportDecision, caller: CallerDep) -> ExportRead:
    return caller.run(lambda s: ExportService(s).decide(export_id, False, body))


@router.post("/exports/{export_id}:build")
def build_export(export_id: str, caller: CallerDep) -> ExportRead:
    return caller.run(lambda s: ExportService(s).build(export_id))


@router.get("/exports/{export_id}/bag")
def download_bag(export_id: str, caller: CallerDep) -> StreamingResponse:
    download = caller.run(lambda s: ExportService(s).download(export_id))
    return StreamingResponse(
        download.chunks,
        media_type="application/x-tar",
        headers={
            "Content-Disposition": f'attachment; filename="{download.filename}"',
            "Content-Length": str(download.size),
            "X-Content-SHA256": download.sha256,
        },
    )
