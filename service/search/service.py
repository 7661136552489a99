"""Searching testimonies and counting incidents, for the caller's cases only.

The case confinement is passed into the engine (``SearchFilters.case_ids``), so nothing
outside the caller's cases is ever counted, faceted or returned. Each search is a custody
event recording the filters, a keyed hash of the query (never its text) and the ids
returned; decrypting hits for snippets is recorded as a read of each testimony.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select

from service.access.models import Case
from service.access.policy import Permission, assigned_case_ids, require
from service.context import Principal
from service.custody.actions import Action
from service.errors import AuthenticationError, FieldProblem, InvalidInputError
from service.runtime import Scope
from service.search.analysis import analyze_terms
from service.search.interfaces import SearchFilters, Sort
from service.search.query import parse_query, query_terms
from service.testimony.content import ContentReader
from service.testimony.models import IncidentCategory, Testimony
from service.witness.models import Witness

MAX_PER_PAGE = 100
SNIPPET_CHARS = 240
_SENTENCE = re.compile(r"[^.!?。\n]+[.!?。]?")
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class SearchRequest:
    q: str = ""
    categories: tuple[str, ...] = ()
    date_from: date | None = None
    date_to: date | None = None
    places: tuple[str, ...] = ()
    facilities: tuple[str, ...] = ()
    institutions: tuple[str, ...] = ()
    involvements: tuple[str, ...] = ()
    cases: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    consent_scopes: tuple[str, ...] = ()
    sort: Sort = "relevance"
    page: int = 1
    per_page: int = 20
    snippets: bool = True

    def filter_details(self) -> dict[str, Any]:
        details: dict[str, Any] = {}
        for name in (
            "categories",
            "places",
            "facilities",
            "institutions",
            "involvements",
            "cases",
            "languages",
            "consent_scopes",
        ):
            values = getattr(self, name)
            if values:
                details[name] = list(values)
        if self.date_from:
            details["from"] = self.date_from.isoformat()
        if self.date_to:
            details["to"] = self.date_to.isoformat()
        return details


@dataclass(frozen=True)
class SnippetPart:
    text: str
    highlight: bool


@dataclass
class SearchHit:
    testimony_id: str
    score: float
    case: str
    witness_pseudonym: str
    language: str
    interview_date: date
    incidents: list[dict[str, Any]]
    snippets: dict[str, list[SnippetPart]] = field(default_factory=dict)


@dataclass
class SearchResult:
    total: int
    page: int
    per_page: int
    hits: list[SearchHit]
    facets: dict[str, dict[str, int]]


def highlight(text: str, terms: set[str]) -> list[SnippetPart] | None:
    """The best sentence of ``text`` for ``terms``, split into highlighted and plain parts."""
    best: tuple[int, str] | None = None
    for match in _SENTENCE.finditer(text):
        sentence = match.group(0).strip()
        hits = len(terms.intersection(analyze_terms(sentence)))
        if hits and (best is None or hits > best[0]):
            best = (hits, sentence)
    if best is None:
        return None
    sentence = best[1][: SNIPPET_CHARS * 2]
    parts: list[SnippetPart] = []
    last = 0
    for word in _WORD.finditer(sentence):
        if terms.intersection(analyze_terms(word.group(0))):
            if word.start() > last:
                parts.append(SnippetPart(sentence[last : word.start()], False))
            parts.append(SnippetPart(word.group(0), True))
            last = word.end()
    if last < len(sentence):
        parts.append(SnippetPart(sentence[last:], False))
    return parts


def _years_between(start: date | None, end: date | None) -> frozenset[int]:
    """The calendar years a date filter spans (empty without one)."""
    if start is None and end is None:
        return frozenset()
    first = start.year if start else date.min.year
    last = end.year if end else date.max.year
    return frozenset(range(first, last + 1)) if last - first < 500 else frozenset()


class SearchService:
    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self._session = scope.session

    def _principal(self) -> Principal:
        if self._scope.principal is None:
            raise AuthenticationError("Sign in first.")
        require(self._scope.principal, Permission.TESTIMONY_READ, object_type="search")
        return self._scope.principal

    def _case_scope(self, principal: Principal, requested: tuple[str, ...]) -> dict[int, str]:
        """The caller's cases, narrowed to ``requested`` codes; other codes match nothing."""
        allowed = assigned_case_ids(self._session, principal)
        rows = self._session.execute(select(Case.id, Case.code).where(Case.id.in_(allowed)))
        cases = {case_id: code for case_id, code in rows}
        if requested:
            wanted = set(requested)
            cases = {i: c for i, c in cases.items() if c in wanted}
        return cases

    def search(self, request: SearchRequest) -> SearchResult:
        principal = self._principal()
        if not 1 <= request.per_page <= MAX_PER_PAGE or request.page < 1:
            raise InvalidInputError(
                "page must be >= 1 and per_page between 1 and %(limit)s.",
                errors=[FieldProblem("per_page", "out of range")],
                limit=MAX_PER_PAGE,
            )
        taxonomy = self._scope.runtime.taxonomy
        taxonomy.validate_codes(request.categories, "category")
        categories: set[str] = set()
        for code in request.categories:
            categories |= taxonomy.descendants_and_self(code)
        indexer = self._scope.runtime.search_indexer
        query = parse_query(request.q, indexer.blind)
        cases = self._case_scope(principal, request.cases)
        indexer.drain_in(self._session)
        page = indexer.index.search(
            query,
            SearchFilters(
                case_ids=frozenset(cases),
                categories=frozenset(categories),
                places=frozenset(request.places),
                facilities=frozenset(request.facilities),
                institutions=frozenset(request.institutions),
                involvements=frozenset(request.involvements),
                languages=frozenset(request.languages),
                consent_scopes=frozenset(request.consent_scopes),
                date_from=request.date_from,
                date_to=request.date_to,
                years=_years_between(request.date_from, request.date_to),
            ),
            sort=request.sort,
            offset=(request.page - 1) * request.per_page,
            limit=request.per_page,
        )
        facets = dict(page.facets)
        if "case" in facets:
            facets["case"] = {cases.get(int(k), k): v for k, v in facets["case"].items()}
        terms = query_terms(request.q) if request.q else set()
        hits = [self._hit(h.testimony_id, h.score, cases, terms, request) for h in page.hits]
        self._scope.custody.append(
            Action.SEARCH,
            actor=principal,
            object_type="search",
            object_id=None,
            details={
                "query_hmac": self._query_hmac(request.q),
                "filters": request.filter_details(),
                "sort": request.sort,
                "page": request.page,
                "total": page.total,
                "returned": [h.testimony_id for h in hits],
            },
        )
        return SearchResult(page.total, request.page, request.per_page, hits, facets)

    def _query_hmac(self, q: str) -> str:
        key = self._scope.runtime.keyring.search_key()
        normalised = " ".join(q.split()).encode("utf-8")
        return hmac.new(key, b"query\x1f" + normalised, hashlib.sha256).hexdigest()[:32]

    def _hit(
        self,
        testimony_id: str,
        score: float,
        cases: dict[int, str],
        terms: set[str],
        request: SearchRequest,
    ) -> SearchHit:
        testimony = self._session.get_one(Testimony, testimony_id)
        reader = ContentReader(self._session, self._scope.runtime.envelope)
        version = reader.current_version(testimony)
        current = [i for i in reader.incidents(testimony) if not i.retracted]
        codes: dict[str, list[str]] = {}
        for incident_id, code in self._session.execute(
            select(IncidentCategory.incident_id, IncidentCategory.code)
            .where(IncidentCategory.incident_id.in_([i.id for i in current]))
            .order_by(IncidentCategory.code)
        ):
            codes.setdefault(incident_id, []).append(code)
        incidents = [
            {
                "id": i.id,
                "categories": codes.get(i.id, []),
                "date_start": i.date_start.isoformat(),
                "date_end": i.date_end.isoformat(),
                "date_precision": i.date_precision,
                "place": i.place,
                "facility": i.facility,
                "perpetrator_institution": i.perpetrator_institution,
                "involvement": i.involvement,
            }
            for i in current
        ]
        hit = SearchHit(
            testimony_id=testimony.id,
            score=score,
            case=cases.get(testimony.case_id, "?"),
            witness_pseudonym=self._session.get_one(Witness, testimony.witness_id).pseudonym,
            language=version.language,
            interview_date=version.interview_date,
            incidents=incidents,
        )
        if request.snippets and terms:
            data_key = reader.data_key(testimony)
            content = reader.open_version(data_key, version)
            descriptions = [
                description
                for incident in current
                if (description := reader.incident_read(data_key, incident).description)
            ]
            for name, text in (
                ("narrative", content["narrative_original"]),
                ("translation", content["translation_en"]),
                ("description", " ".join(descriptions)),
            ):
                parts = highlight(text or "", terms)
                if parts:
                    hit.snippets[name] = parts
            self._scope.custody.append(
                Action.TESTIMONY_SNIPPET_READ,
                actor=self._scope.principal,
                object_type="testimony",
                object_id=testimony.id,
                object_sha256=version.content_sha256,
                details={"version": version.version},
            )
        return hit
