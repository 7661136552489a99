"""Analyst exports: the coding of incidents as rows for statistics, never narrative or identity.

Only testimonies in the caller's cases whose witness's consent currently covers
``internal_analysis`` contribute rows (:func:`service.testimony.consent.covered_testimony_ids`):
statistics made inside the organisation are internal analysis; publishing them is a
separate decision under ``public_anonymised``. Each export is one custody event recording
its filters and how many rows it released.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import date

from sqlalchemy import select

from service.access.auth import require_principal
from service.access.models import Case
from service.access.policy import Permission, assigned_case_ids, require
from service.custody.actions import Action
from service.runtime import Scope
from service.testimony.consent import covered_testimony_ids
from service.testimony.models import Incident, IncidentCategory, Testimony
from service.testimony.schemas import ConsentScope
from service.witness.models import Witness

ANALYST_SCOPE = ConsentScope.INTERNAL_ANALYSIS
COLUMNS = (
    "case",
    "pseudonym",
    "categories",
    "date_start",
    "date_end",
    "date_precision",
    "place",
    "facility",
    "institution",
    "involvement",
)
_BATCH = 500
# A cell starting with one of these is a formula to a spreadsheet (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class IncidentFilters:
    cases: tuple[str, ...] = ()
    """Case codes; empty means all of the caller's cases. Others' cases add nothing."""
    category: str | None = None
    """A category code; its sub-categories match too."""
    date_from: date | None = None
    date_to: date | None = None


@dataclass(frozen=True)
class IncidentRow:
    case: str
    pseudonym: str
    categories: list[str]
    date_start: date
    date_end: date
    date_precision: str
    place: str | None
    facility: str | None
    institution: str | None
    involvement: str


@dataclass
class IncidentExport:
    rows: list[IncidentRow] = field(default_factory=list)
    excluded_testimonies: int = 0
    """Testimonies in scope whose consent does not cover internal analysis."""


class AnalystExportService:
    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self._session = scope.session

    def incidents(
        self,
        filters: IncidentFilters,
        progress: Callable[[int, int], None] | None = None,
    ) -> IncidentExport:
        """Coded incidents for statistics; raises AccessDeniedError for other roles."""
        principal = require_principal(self._scope)
        require(principal, Permission.ANALYST_EXPORT, object_type="analyst_export")
        session = self._session
        allowed = assigned_case_ids(session, principal)
        if filters.cases:
            allowed &= set(session.scalars(select(Case.id).where(Case.code.in_(filters.cases))))
        query = (
            select(Incident, Testimony.case_id, Testimony.witness_id)
            .join(Testimony, Testimony.id == Incident.testimony_id)
            .where(
                Testimony.case_id.in_(allowed),
                Testimony.shredded_at.is_(None),
                Incident.retracted.is_(False),
            )
            .order_by(Testimony.case_id, Incident.date_start, Incident.id)
        )
        if filters.date_from is not None:
            query = query.where(Incident.date_end >= filters.date_from)
        if filters.date_to is not None:
            query = query.where(Incident.date_start <= filters.date_to)
        if filters.category:
            code = filters.category
            matching = select(IncidentCategory.incident_id).where(
                (IncidentCategory.code == code) | IncidentCategory.code.like(f"{code}.%")
            )
            query = query.where(Incident.id.in_(matching))
        found = session.execute(query).all()
        testimony_ids = sorted({incident.testimony_id for incident, _, _ in found})
        covered: set[str] = set()
        for start in range(0, len(testimony_ids), _BATCH):
            covered |= covered_testimony_ids(
                session, testimony_ids[start : start + _BATCH], ANALYST_SCOPE
            )
        found = [row for row in found if row[0].testimony_id in covered]
        codes = self._categories([incident.id for incident, _, _ in found])
        cases = dict(session.execute(select(Case.id, Case.code).where(Case.id.in_(allowed))).all())
        pseudonyms = self._pseudonyms({witness_id for _, _, witness_id in found})
        export = IncidentExport(excluded_testimonies=len(testimony_ids) - len(covered))
        for done, (incident, case_id, witness_id) in enumerate(found, start=1):
            export.rows.append(
                IncidentRow(
                    case=cases[case_id],
                    pseudonym=pseudonyms[witness_id],
                    categories=sorted(codes.get(incident.id, [])),
                    date_start=incident.date_start,
                    date_end=incident.date_end,
                    date_precision=incident.date_precision,
                    place=incident.place,
                    facility=incident.facility,
                    institution=incident.perpetrator_institution,
                    involvement=incident.involvement,
                )
            )
            if progress and (done % _BATCH == 0 or done == len(found)):
                progress(done, len(found))
        self._scope.custody.append(
            Action.ANALYST_EXPORT,
            actor=principal,
            object_type="analyst_export",
            object_id=None,
            details={
                "filters": {
                    "cases": sorted(filters.cases),
                    "category": filters.category,
                    "date_from": filters.date_from.isoformat() if filters.date_from else None,
                    "date_to": filters.date_to.isoformat() if filters.date_to else None,
                },
                "consent_scope": ANALYST_SCOPE.value,
                "rows": len(export.rows),
                "testimonies": len(covered),
                "excluded_testimonies": export.excluded_testimonies,
            },
        )
        return export

    def _categories(self, incident_ids: list[str]) -> dict[str, list[str]]:
        codes: dict[str, list[str]] = defaultdict(list)
        for start in range(0, len(incident_ids), _BATCH):
            for incident_id, code in self._session.execute(
                select(IncidentCategory.incident_id, IncidentCategory.code).where(
                    IncidentCategory.incident_id.in_(incident_ids[start : start + _BATCH])
                )
            ):
                codes[incident_id].append(code)
        return codes

    def _pseudonyms(self, witness_ids: set[str]) -> dict[str, str]:
        ids = sorted(witness_ids)
        names: dict[str, str] = {}
        for start in range(0, len(ids), _BATCH):
            names.update(
                self._session.execute(
                    select(Witness.id, Witness.pseudonym).where(
                        Witness.id.in_(ids[start : start + _BATCH])
                    )
                ).all()
            )
        return names


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        text = "|".join(str(v) for v in value)
    elif isinstance(value, date):
        text = value.isoformat()
    else:
        text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def render_csv(export: IncidentExport) -> Iterator[str]:
    """CSV lines (header first); categories joined by ``|``; formula-like cells defused."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    yield buffer.getvalue()
    for row in export.rows:
        buffer.seek(0)
        buffer.truncate()
        values = asdict(row)
        writer.writerow([_cell(values[column]) for column in COLUMNS])
        yield buffer.getvalue()


def render_json(export: IncidentExport) -> str:
    """One JSON document: the rows, and how many testimonies consent kept out."""
    return json.dumps(
        {
            "consent_scope": ANALYST_SCOPE.value,
            "excluded_testimonies": export.excluded_testimonies,
            "incidents": [asdict(row) for row in export.rows],
        },
        default=lambda value: value.isoformat() if isinstance(value, date) else str(value),
        ensure_ascii=False,
    )
