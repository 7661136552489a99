"""The search index interface: what any backend must store and answer, over blind tokens.

Backends never see plaintext words. A document is a testimony: per text field, the list of
its blind tokens in position order (positions are dense, so a phrase is a contiguous run),
plus coding metadata for filters and facets. Queries arrive as a tree of already-blinded
phrases. Every search is confined to ``SearchFilters.case_ids`` inside the engine, so
nothing outside the caller's cases is ever counted, faceted or returned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlalchemy.orm import Session

TEXT_FIELDS = ("narrative", "translation", "description")
FACET_FIELDS = (
    "category",
    "place",
    "facility",
    "institution",
    "involvement",
    "language",
    "case",
    "consent_scope",
    "year",
)


@dataclass(frozen=True)
class IndexedDocument:
    testimony_id: str
    case_id: int
    language: str
    interview_date: date
    fields: Mapping[str, Sequence[str]]
    """Text field name (one of TEXT_FIELDS) -> blind tokens in position order."""
    categories: frozenset[str] = frozenset()
    """Category codes of the current incidents, with every ancestor code added."""
    places: frozenset[str] = frozenset()
    facilities: frozenset[str] = frozenset()
    institutions: frozenset[str] = frozenset()
    involvements: frozenset[str] = frozenset()
    consent_scopes: frozenset[str] = frozenset()
    """Scopes whose consent is currently active."""
    years: frozenset[int] = frozenset()
    """Every year any incident may have happened in."""
    date_start: date | None = None
    """Earliest possible day of any incident (None without incidents)."""
    date_end: date | None = None
    """Latest possible day of any incident."""


@dataclass(frozen=True)
class Phrase:
    """Blind tokens that must occur at consecutive positions in ``field``; one token = a term."""

    field: str
    tokens: tuple[str, ...]


@dataclass(frozen=True)
class And:
    children: tuple[QueryNode, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[QueryNode, ...]


@dataclass(frozen=True)
class Not:
    child: QueryNode


QueryNode = Phrase | And | Or | Not


@dataclass(frozen=True)
class SearchFilters:
    case_ids: frozenset[int]
    """Required: the caller's cases. An empty set matches nothing."""
    categories: frozenset[str] = frozenset()
    """Match documents having ANY of these codes (the service expands children)."""
    places: frozenset[str] = frozenset()
    facilities: frozenset[str] = frozenset()
    institutions: frozenset[str] = frozenset()
    involvements: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()
    consent_scopes: frozenset[str] = frozenset()
    date_from: date | None = None
    """Documents with an incident possibly on or after this day (date_end >= date_from)."""
    date_to: date | None = None
    """Documents with an incident possibly on or before this day (date_start <= date_to)."""
    years: frozenset[int] = frozenset()
    """Documents with an incident possibly in ANY of these years (IndexedDocument.years):
    with the date bounds, this keeps a testimony with incidents in 1997 and 2004 out of a
    search for 2000."""


@dataclass(frozen=True)
class ScoredHit:
    testimony_id: str
    score: float


@dataclass(frozen=True)
class SearchPage:
    total: int
    hits: list[ScoredHit]
    facets: dict[str, dict[str, int]] = field(default_factory=dict)
    """Facet name (FACET_FIELDS) -> value -> number of matching documents."""


Sort = Literal["relevance", "date"]


class SearchIndex(Protocol):
    def upsert(self, documents: Sequence[IndexedDocument]) -> None:
        """Add or replace documents (by testimony_id), durably, before returning."""
        ...

    def delete(self, testimony_ids: Sequence[str]) -> None:
        """Remove documents; unknown ids are ignored."""
        ...

    def search(
        self,
        query: QueryNode | None,
        filters: SearchFilters,
        *,
        sort: Sort = "relevance",
        offset: int = 0,
        limit: int = 20,
    ) -> SearchPage:
        """Matching documents within ``filters`` (``query`` None matches all of them).

        Facet counts cover every match, not only the page. Date sort is by date_start
        descending (newest first), documents without incidents last.
        """
        ...

    def document_ids(self) -> set[str]:
        """Every indexed testimony id, for consistency checks against the database."""
        ...

    def clear(self) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class TransactionalSearchIndex(SearchIndex, Protocol):
    """A backend living in the records' database: index writes commit with the outbox."""

    def upsert_in(self, session: Session, documents: Sequence[IndexedDocument]) -> None: ...

    def delete_in(self, session: Session, testimony_ids: Sequence[str]) -> None: ...


@runtime_checkable
class BulkLoadingSearchIndex(SearchIndex, Protocol):
    """A backend with a faster path for rebuilding the whole index."""

    def bulk_upsert(self, documents: Iterable[IndexedDocument], procs: int = 1) -> int: ...

    def optimize(self) -> None: ...
