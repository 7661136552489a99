"""HTTP routes for search and statistics."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from service.deps import CallerDep
from service.search.service import SearchRequest, SearchService
from service.search.statistics import StatisticsService

router = APIRouter(tags=["search"])
Multi = Annotated[list[str] | None, Query()]


@router.get("/search")
def search(
    caller: CallerDep,
    q: Annotated[str, Query(max_length=1000)] = "",
    category: Multi = None,
    from_: Annotated[date | None, Query(alias="from")] = None,
    to: date | None = None,
    place: Multi = None,
    facility: Multi = None,
    institution: Multi = None,
    involvement: Multi = None,
    case: Multi = None,
    language: Multi = None,
    consent_scope: Multi = None,
    sort: Literal["relevance", "date"] = "relevance",
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
    snippets: bool = True,
) -> dict[str, Any]:
    """Full-text and faceted search over the caller's cases (see docs/search.md)."""
    request = SearchRequest(
        q=q,
        categories=tuple(category or ()),
        date_from=from_,
        date_to=to,
        places=tuple(place or ()),
        facilities=tuple(facility or ()),
        institutions=tuple(institution or ()),
        involvements=tuple(involvement or ()),
        cases=tuple(case or ()),
        languages=tuple(language or ()),
        consent_scopes=tuple(consent_scope or ()),
        sort=sort,
        page=page,
        per_page=per_page,
        snippets=snippets,
    )
    result = caller.run(lambda s: SearchService(s).search(request))
    return asdict(result)


@router.get("/statistics")
def statistics(caller: CallerDep, case: Multi = None) -> dict[str, Any]:
    """Incident counts by category and year, place, facility, institution, involvement."""
    stats = caller.run(lambda s: StatisticsService(s).statistics(tuple(case or ())))
    return asdict(stats)
