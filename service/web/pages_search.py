"""Investigator pages: search with facets and highlighted snippets, and statistics.

The search form is sent by POST, so queries (which can name a victim or a place) never
appear in a URL, a proxy log or the browser history.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Form
from starlette.responses import Response

from service.search.service import SearchRequest, SearchService
from service.search.statistics import Statistics, StatisticsService
from service.web.render import SignedInDep, SignedInFormDep, WebRoute

router = APIRouter(route_class=WebRoute)
Short = Annotated[str, Form(max_length=1000)]
Many = Annotated[list[str], Form()]
# Facet name in the index -> form field that filters by it.
FACET_FILTERS = {
    "category": "category",
    "place": "place",
    "facility": "facility",
    "institution": "institution",
    "involvement": "involvement",
    "language": "language",
    "case": "case",
    "consent_scope": "consent_scope",
}


def _date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value.strip() else None
    except ValueError:
        return None


@router.get("/search")
def search_form(web: SignedInDep) -> Response:
    return web.page("search.html", result=None, form={}, selected={}, facet_filters=FACET_FILTERS)


@router.post("/search")
def search(
    web: SignedInFormDep,
    q: Short = "",
    category: Many = [],  # noqa: B006 - FastAPI copies defaults
    place: Many = [],  # noqa: B006
    facility: Many = [],  # noqa: B006
    institution: Many = [],  # noqa: B006
    involvement: Many = [],  # noqa: B006
    language: Many = [],  # noqa: B006
    case: Many = [],  # noqa: B006
    consent_scope: Many = [],  # noqa: B006
    date_from: Short = "",
    date_to: Short = "",
    sort: Short = "relevance",
    page: Short = "1",
) -> Response:
    selected: dict[str, list[str]] = {
        "category": category,
        "place": place,
        "facility": facility,
        "institution": institution,
        "involvement": involvement,
        "language": language,
        "case": case,
        "consent_scope": consent_scope,
    }
    request = SearchRequest(
        q=q,
        categories=tuple(category),
        date_from=_date(date_from),
        date_to=_date(date_to),
        places=tuple(place),
        facilities=tuple(facility),
        institutions=tuple(institution),
        involvements=tuple(involvement),
        cases=tuple(case),
        languages=tuple(language),
        consent_scopes=tuple(consent_scope),
        sort="date" if sort == "date" else "relevance",
        page=max(int(page), 1) if page.isdigit() else 1,
        per_page=20,
    )
    result = web.run(lambda s: SearchService(s).search(request))
    form: dict[str, Any] = {"q": q, "date_from": date_from, "date_to": date_to, "sort": sort}
    return web.page(
        "search.html",
        result=result,
        form=form,
        selected=selected,
        facet_filters=FACET_FILTERS,
        taxonomy=web.runtime.taxonomy.categories,
    )


def bar_chart(counts: dict[Any, int], width: int = 560, bar: int = 22) -> dict[str, Any]:
    """Geometry for a horizontal bar chart drawn as inline SVG (no script, no style)."""
    peak = max(counts.values(), default=0) or 1
    label_width = 220
    rows = []
    for index, (label, count) in enumerate(counts.items()):
        rows.append(
            {
                "label": str(label),
                "count": count,
                "y": index * (bar + 6),
                "width": max(int((width - label_width - 40) * count / peak), 1),
            }
        )
    return {
        "rows": rows,
        "height": len(rows) * (bar + 6) + 4,
        "width": width,
        "bar": bar,
        "x": label_width,
    }


@router.get("/statistics")
def statistics(web: SignedInDep) -> Response:
    stats: Statistics = web.run(lambda s: StatisticsService(s).statistics())
    taxonomy = web.runtime.taxonomy.categories

    def label(code: str) -> str:
        category = taxonomy.get(code)
        if category is None:
            return code
        return category.label_ko if web.language == "ko" else category.label_en

    by_category = {label(code): n for code, n in stats.by_category.items()}
    years = sorted({year for row in stats.by_category_year.values() for year in row})
    return web.page(
        "statistics.html",
        stats=stats,
        label=label,
        years=years,
        category_chart=bar_chart(by_category),
        year_chart=bar_chart(dict(sorted(stats.by_year.items()))),
    )
