"""HTTP route for analyst exports of coded incidents (CSV or JSON)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from service.analyst.service import AnalystExportService, IncidentFilters, render_csv, render_json
from service.deps import CallerDep

router = APIRouter(tags=["analyst exports"])


@router.get("/analyst-exports/incidents")
def export_incidents(
    caller: CallerDep,
    format: Literal["csv", "json"] = "csv",
    case: Annotated[list[str] | None, Query(max_length=100)] = None,
    category: Annotated[str | None, Query(max_length=120)] = None,
    from_: Annotated[date | None, Query(alias="from")] = None,
    to: date | None = None,
) -> Response:
    """Coded incidents of the caller's cases, for statistics: no narrative, no identity.

    Only testimonies whose consent covers ``internal_analysis`` contribute rows.
    """
    filters = IncidentFilters(
        cases=tuple(case or ()), category=category, date_from=from_, date_to=to
    )
    export = caller.run(lambda s: AnalystExportService(s).incidents(filters))
    disposition = f'attachment; filename="incidents.{format}"'
    if format == "json":
        return Response(
            render_json(export),
            media_type="application/json",
            headers={"Content-Disposition": disposition},
        )
    return Response(
        "".join(render_csv(export)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": disposition},
    )
