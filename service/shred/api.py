"""HTTP routes for two-person crypto-shredding (administrators)."""

from __future__ import annotations

from fastapi import APIRouter

from service.deps import CallerDep
from service.shred.schemas import ShredExecuted, ShredRequestCreate, ShredRequestRead
from service.shred.service import ShredService

router = APIRouter(tags=["shredding"])


@router.post("/shred-requests", status_code=201)
def request_shred(body: ShredRequestCreate, caller: CallerDep) -> ShredRequestRead:
    """Ask for a testimony to be crypto-shredded; a second administrator must approve."""
    return caller.run(lambda s: ShredService(s).request(body))


@router.get("/shred-requests")
def pending_shred_requests(caller: CallerDep) -> list[ShredRequestRead]:
    """Shred requests waiting for approval."""
    return caller.run(lambda s: ShredService(s).pending())


@router.post("/shred-requests/{request_id}:approve")
def approve_shred(request_id: int, caller: CallerDep) -> ShredExecuted:
    """Approve (and so execute) another administrator's shred request. Irreversible."""
    return caller.run(lambda s: ShredService(s).approve(request_id))
