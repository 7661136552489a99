"""HTTP route for the violation taxonomy."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from service.access.policy import Permission, require
from service.deps import CallerDep
from service.runtime import Scope

router = APIRouter(tags=["taxonomy"])


@router.get("/taxonomy")
def get_taxonomy(caller: CallerDep) -> dict[str, Any]:
    def work(scope: Scope) -> dict[str, Any]:
        assert scope.principal is not None
        require(scope.principal, Permission.TAXONOMY_READ, object_type="taxonomy")
        taxonomy = scope.runtime.taxonomy
        return {
            "taxonomy": taxonomy.name,
            "version": taxonomy.version,
            "categories": [c.as_dict() for c in taxonomy.categories.values()],
        }

    return caller.run(work)
