"""Counts of coded incidents for the caller's cases: by category and year, place, etc.

Computed from the coding columns (no decryption). Categories are counted at every level:
an incident coded ``detention.kuryujang`` also counts under ``detention``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select

from service.access.models import Case
from service.access.policy import Permission, assigned_case_ids, require
from service.custody.actions import Action
from service.errors import AuthenticationError
from service.runtime import Scope
from service.search.indexer import ancestors_and_self
from service.testimony.models import Incident, IncidentCategory, Testimony


@dataclass
class Statistics:
    incidents: int = 0
    testimonies: int = 0
    by_category_year: dict[str, dict[int, int]] = field(default_factory=dict)
    by_category: dict[str, int] = field(default_factory=dict)
    by_year: dict[int, int] = field(default_factory=dict)
    by_place: dict[str, int] = field(default_factory=dict)
    by_facility: dict[str, int] = field(default_factory=dict)
    by_institution: dict[str, int] = field(default_factory=dict)
    by_involvement: dict[str, int] = field(default_factory=dict)


def _sorted(counter: Counter[str]) -> dict[str, int]:
    return dict(sorted(counter.items(), key=lambda item: (-item[1], item[0])))


class StatisticsService:
    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self._session = scope.session

    def statistics(self, cases: tuple[str, ...] = ()) -> Statistics:
        """Raises AccessDeniedError for roles that may not read testimonies."""
        principal = self._scope.principal
        if principal is None:
            raise AuthenticationError("Sign in first.")
        require(principal, Permission.TESTIMONY_READ, object_type="statistics")
        allowed = assigned_case_ids(self._session, principal)
        if cases:
            wanted = set(self._session.scalars(select(Case.id).where(Case.code.in_(cases))))
            allowed &= wanted
        rows = self._session.execute(
            select(
                Incident.id,
                Incident.testimony_id,
                Incident.date_start,
                Incident.place,
                Incident.facility,
                Incident.perpetrator_institution,
                Incident.involvement,
            )
            .join(Testimony, Testimony.id == Incident.testimony_id)
            .where(
                Testimony.case_id.in_(allowed),
                Testimony.shredded_at.is_(None),
                Incident.retracted.is_(False),
            )
        ).all()
        codes: dict[str, list[str]] = defaultdict(list)
        ids = [row.id for row in rows]
        for start in range(0, len(ids), 500):
            for incident_id, code in self._session.execute(
                select(IncidentCategory.incident_id, IncidentCategory.code).where(
                    IncidentCategory.incident_id.in_(ids[start : start + 500])
                )
            ):
                codes[incident_id].append(code)
        stats = Statistics(incidents=len(rows), testimonies=len({r.testimony_id for r in rows}))
        category_year: dict[str, Counter[int]] = defaultdict(Counter)
        categories: Counter[str] = Counter()
        years: Counter[int] = Counter()
        places: Counter[str] = Counter()
        facilities: Counter[str] = Counter()
        institutions: Counter[str] = Counter()
        involvements: Counter[str] = Counter()
        for row in rows:
            year = row.date_start.year
            years[year] += 1
            expanded: set[str] = set()
            for code in codes.get(row.id, []):
                expanded |= ancestors_and_self(code)
            for code in expanded:
                category_year[code][year] += 1
                categories[code] += 1
            places[row.place or "(unknown)"] += 1
            facilities[row.facility or "(unknown)"] += 1
            institutions[row.perpetrator_institution or "(unknown)"] += 1
            involvements[row.involvement] += 1
        stats.by_category_year = {
            code: dict(sorted(counts.items())) for code, counts in sorted(category_year.items())
        }
        stats.by_category = _sorted(categories)
        stats.by_year = dict(sorted(years.items()))
        stats.by_place = _sorted(places)
        stats.by_facility = _sorted(facilities)
        stats.by_institution = _sorted(institutions)
        stats.by_involvement = _sorted(involvements)
        self._scope.custody.append(
            Action.STATISTICS_READ,
            actor=principal,
            object_type="statistics",
            object_id=None,
            details={"cases": sorted(cases), "incidents": stats.incidents},
        )
        return stats
