"""HTTP routes for testimonies, incidents, consent, attachments and identity reveal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from email.message import Message
from typing import Annotated
from urllib.parse import quote

import anyio.from_thread
from fastapi import APIRouter, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from service.deps import CallerDep
from service.errors import FieldProblem, InvalidInputError
from service.testimony.attachments import AttachmentService
from service.testimony.schemas import (
    AttachmentRead,
    ConsentChange,
    ConsentScopeState,
    IdentityRead,
    IdentityRevealRequest,
    IncidentIn,
    IncidentRead,
    IncidentUpdate,
    TestimonyCreated,
    TestimonyImport,
    TestimonyRead,
    TestimonyUpdate,
    TestimonyVersionRead,
)
from service.testimony.service import TestimonyService
from service.witness.service import WitnessService

router = APIRouter(tags=["testimonies"])


@router.post("/testimonies", status_code=201)
def create_testimony(body: TestimonyImport, caller: CallerDep) -> TestimonyCreated:
    return caller.run(lambda s: TestimonyService(s).create(body))


@router.get("/testimonies/{testimony_id}")
def read_testimony(testimony_id: str, caller: CallerDep) -> TestimonyRead:
    return caller.run(lambda s: TestimonyService(s).read(testimony_id))


@router.patch("/testimonies/{testimony_id}")
def update_testimony(
    testimony_id: str, body: TestimonyUpdate, caller: CallerDep
) -> TestimonyCreated:
    return caller.run(lambda s: TestimonyService(s).update(testimony_id, body))


@router.get("/testimonies/{testimony_id}/versions")
def testimony_history(testimony_id: str, caller: CallerDep) -> list[TestimonyVersionRead]:
    return caller.run(lambda s: TestimonyService(s).history(testimony_id))


@router.post("/testimonies/{testimony_id}/incidents", status_code=201)
def add_incident(testimony_id: str, body: IncidentIn, caller: CallerDep) -> IncidentRead:
    return caller.run(lambda s: TestimonyService(s).add_incident(testimony_id, body))


@router.patch("/testimonies/{testimony_id}/incidents/{incident_id}")
def update_incident(
    testimony_id: str, incident_id: str, body: IncidentUpdate, caller: CallerDep
) -> IncidentRead:
    return caller.run(
        lambda s: TestimonyService(s).update_incident(testimony_id, incident_id, body)
    )


@router.post("/testimonies/{testimony_id}/consent")
def change_consent(
    testimony_id: str, body: ConsentChange, caller: CallerDep
) -> list[ConsentScopeState]:
    return caller.run(lambda s: TestimonyService(s).change_consent(testimony_id, body))


def _upload_filename(content_disposition: str | None) -> str:
    if not content_disposition:
        raise InvalidInputError(
            "Name the file in a Content-Disposition header, e.g. "
            "'attachment; filename*=UTF-8''drawing.png'.",
            errors=[FieldProblem("content-disposition", "required")],
        )
    message = Message()
    message["content-disposition"] = content_disposition
    name = message.get_filename()
    if not name:
        raise InvalidInputError(
            "The Content-Disposition header has no filename.",
            errors=[FieldProblem("content-disposition", "filename missing")],
        )
    return name


class _BodyReader:
    """A blocking ``read`` over the request's async body, for use in a worker thread."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""
        self._done = False

    async def _next(self) -> bytes:
        try:
            return await self._chunks.__anext__()
        except StopAsyncIteration:
            self._done = True
            return b""

    def read(self, size: int = -1) -> bytes:
        while not self._done and (size < 0 or len(self._buffer) < size):
            self._buffer += anyio.from_thread.run(self._next)
        if size < 0:
            data, self._buffer = self._buffer, b""
        else:
            data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


@router.post(
    "/testimonies/{testimony_id}/attachments",
    status_code=201,
    openapi_extra={"requestBody": {"content": {"application/octet-stream": {}}, "required": True}},
)
async def upload_attachment(
    testimony_id: str,
    request: Request,
    caller: CallerDep,
    content_type: Annotated[str, Header()],
    content_disposition: Annotated[str | None, Header()] = None,
) -> AttachmentRead:
    """The raw file is the request body; it is encrypted as it streams in."""
    filename = _upload_filename(content_disposition)
    reader = _BodyReader(request.stream().__aiter__())
    return await run_in_threadpool(
        caller.run,
        lambda s: AttachmentService(s).upload(testimony_id, filename, content_type, reader),
    )


@router.get("/testimonies/{testimony_id}/attachments/{attachment_id}")
def download_attachment(
    testimony_id: str, attachment_id: str, caller: CallerDep
) -> StreamingResponse:
    download = caller.run(lambda s: AttachmentService(s).download(testimony_id, attachment_id))
    info = download.info
    return StreamingResponse(
        download.chunks,
        media_type=info.media_type,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(info.filename)}",
            "Content-Length": str(info.size_bytes),
            "X-Content-SHA256": info.sha256,
        },
    )


@router.post("/witnesses/{pseudonym}/identity:reveal", tags=["witnesses"])
def reveal_identity(pseudonym: str, body: IdentityRevealRequest, caller: CallerDep) -> IdentityRead:
    return caller.run(lambda s: WitnessService(s).reveal(pseudonym, body.reason))
