"""The auditor's proof page: an inclusion proof for one event, a consistency proof between
two checkpoints, each checked against the signed checkpoint it names (``proofcheck``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from fastapi.routing import APIRouter
from starlette.responses import Response

from service.custody.audit import CustodyService
from service.custody.proofcheck import ProofCheckError, check_consistency, check_inclusion
from service.custody.schemas import CheckpointRead, ConsistencyProofRead, InclusionProofRead
from service.errors import NotFoundError
from service.runtime import Scope
from service.web.render import SignedInDep, WebRoute

router = APIRouter(route_class=WebRoute)
Number = Annotated[str, Query(max_length=20)]


def _number(value: str) -> int | None:
    return int(value) if value.strip().isdigit() else None


def _latest(scope: Scope) -> CheckpointRead | None:
    try:
        return CustodyService(scope).latest_checkpoint()
    except NotFoundError:
        return None


@router.get("/custody/proofs")
def proofs(
    web: SignedInDep,
    index: Number = "",
    tree_size: Number = "",
    first: Number = "",
    second: Number = "",
) -> Response:
    latest = web.run(_latest)
    origin = web.runtime.settings.custody_origin
    inclusion: InclusionProofRead | None = None
    consistency: ConsistencyProofRead | None = None
    inclusion_problem = consistency_problem = None
    leaf, size = _number(index), _number(tree_size)
    if leaf is not None and latest is not None:
        inclusion = web.run(lambda s: CustodyService(s).inclusion(leaf, size))
        try:
            check_inclusion(inclusion, latest.verifier_key, origin)
        except ProofCheckError as error:
            inclusion_problem = str(error)
    older, newer = _number(first), _number(second)
    if older is not None and latest is not None:
        consistency = web.run(lambda s: CustodyService(s).consistency(older, newer))
        try:
            check_consistency(consistency, latest.verifier_key, origin)
        except ProofCheckError as error:
            consistency_problem = str(error)
    return web.page(
        "custody_proofs.html",
        latest=latest,
        inclusion=inclusion,
        inclusion_problem=inclusion_problem,
        consistency=consistency,
        consistency_problem=consistency_problem,
        form={"index": index, "tree_size": tree_size, "first": first, "second": second},
    )
