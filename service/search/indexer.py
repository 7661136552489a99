"""The single writer of the search index: drains the outbox, rebuilds, checks.

Documents are built by decrypting a testimony's current content in memory, analysing it
and blinding every term before the backend sees it. Indexing is part of the create, edit
or coding action that enqueued it (which is on the custody record); a full rebuild is
recorded as its own event by the caller.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from service.crypto.envelope import EnvelopeCipher
from service.search.analysis import analyze_terms
from service.search.interfaces import (
    BulkLoadingSearchIndex,
    IndexedDocument,
    SearchIndex,
    TransactionalSearchIndex,
)
from service.search.outbox import SearchOutboxEntry
from service.taxonomy.service import Taxonomy
from service.testimony.content import ContentReader
from service.testimony.models import ConsentEvent, Testimony

if TYPE_CHECKING:
    from service.search.blind import BlindTokenizer

log = logging.getLogger("custodia.search")


def ancestors_and_self(code: str) -> set[str]:
    parts = code.split(".")
    return {".".join(parts[: i + 1]) for i in range(len(parts))}


def active_scopes(session: Session, testimony_id: str) -> frozenset[str]:
    state: dict[str, bool] = {}
    for scope, kind in session.execute(
        select(ConsentEvent.scope, ConsentEvent.kind)
        .where(ConsentEvent.testimony_id == testimony_id)
        .order_by(ConsentEvent.id)
    ):
        state[scope] = kind == "given"
    return frozenset(scope for scope, active in state.items() if active)


@dataclass(frozen=True)
class IndexCheck:
    indexed: int
    expected: int
    missing: list[str]
    unexpected: list[str]

    @property
    def ok(self) -> bool:
        return not self.missing and not self.unexpected


class SearchIndexer:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        index: SearchIndex,
        envelope: EnvelopeCipher,
        tokenizer: BlindTokenizer,
        taxonomy: Taxonomy,
    ) -> None:
        self._session_factory = session_factory
        self.index = index
        self._envelope = envelope
        self._tokenizer = tokenizer
        self._taxonomy = taxonomy
        self._lock = threading.Lock()

    def blind(self, field: str, term: str) -> str:
        return self._tokenizer.token(field, term)

    def build(self, session: Session, testimony: Testimony) -> IndexedDocument:
        reader = ContentReader(session, self._envelope)
        data_key = reader.data_key(testimony)
        version = reader.current_version(testimony)
        content = reader.open_version(data_key, version)
        incidents = [
            reader.incident_read(data_key, incident)
            for incident in reader.incidents(testimony)
            if not incident.retracted
        ]
        descriptions = " ".join(i.description or "" for i in incidents)
        fields = {
            "narrative": content["narrative_original"] or "",
            "translation": content["translation_en"] or "",
            "description": descriptions,
        }
        categories: set[str] = set()
        years: set[int] = set()
        for incident in incidents:
            for code in incident.categories:
                categories |= ancestors_and_self(code)
            years |= set(range(incident.date_start.year, incident.date_end.year + 1))
        return IndexedDocument(
            testimony_id=testimony.id,
            case_id=testimony.case_id,
            language=version.language,
            interview_date=version.interview_date,
            fields={
                name: [self._tokenizer.token(name, term) for term in analyze_terms(text)]
                for name, text in fields.items()
            },
            categories=frozenset(categories),
            places=frozenset(i.place for i in incidents if i.place),
            facilities=frozenset(i.facility for i in incidents if i.facility),
            institutions=frozenset(
                i.perpetrator_institution for i in incidents if i.perpetrator_institution
            ),
            involvements=frozenset(i.involvement.value for i in incidents),
            consent_scopes=active_scopes(session, testimony.id),
            years=frozenset(years),
            date_start=min((i.date_start for i in incidents), default=None),
            date_end=max((i.date_end for i in incidents), default=None),
        )

    def _apply(self, session: Session, testimony_ids: Iterable[str]) -> None:
        documents: list[IndexedDocument] = []
        removed: list[str] = []
        for testimony_id in dict.fromkeys(testimony_ids):
            testimony = session.get(Testimony, testimony_id)
            if testimony is None or testimony.shredded_at is not None:
                removed.append(testimony_id)
            else:
                documents.append(self.build(session, testimony))
        if isinstance(self.index, TransactionalSearchIndex):
            # Same database: the index rows commit or roll back with the outbox rows.
            self.index.upsert_in(session, documents)
            self.index.delete_in(session, removed)
            return
        if documents:
            self.index.upsert(documents)
        if removed:
            self.index.delete(removed)

    def drain(self, batch: int = 500) -> int:
        """Index everything waiting in the outbox; returns how many entries were handled.

        Entries are deleted only after the index has durably taken them, so a crash in
        between re-indexes (idempotently) rather than loses.
        """
        handled = 0
        with self._lock:
            while True:
                with self._session_factory() as session:
                    count = self._drain_batch(session, batch)
                    session.commit()
                if not count:
                    return handled
                handled += count

    def drain_in(self, session: Session, batch: int = 500) -> int:
        """Drain before a search that runs in ``session``'s transaction.

        Whoosh: inside that transaction (a search must not wait on its own lock). If it
        rolls back, its outbox rows come back and are indexed again: upserts are idempotent.
        PostgreSQL: the index answers on a connection of its own, which cannot see index rows
        written in ``session`` before it commits, so the entries are drained (index rows and
        outbox deletions together) in a transaction of their own, committed first.
        """
        if isinstance(self.index, TransactionalSearchIndex):
            return self.drain(batch)
        handled = 0
        with self._lock:
            while count := self._drain_batch(session, batch):
                handled += count
        return handled

    def _drain_batch(self, session: Session, batch: int) -> int:
        rows = session.execute(
            select(SearchOutboxEntry.id, SearchOutboxEntry.testimony_id)
            .order_by(SearchOutboxEntry.id)
            .limit(batch)
        ).all()
        if not rows:
            return 0
        self._apply(session, [testimony_id for _, testimony_id in rows])
        # Exactly the rows read: ids are not commit-ordered under concurrency.
        session.execute(
            delete(SearchOutboxEntry).where(
                SearchOutboxEntry.id.in_([entry_id for entry_id, _ in rows])
            )
        )
        session.flush()
        return len(rows)

    def pending(self) -> int:
        with self._session_factory() as session:
            return session.scalar(select(func.count()).select_from(SearchOutboxEntry)) or 0

    def rebuild(self, progress: Callable[[int, int], None] | None = None, batch: int = 200) -> int:
        """Clear the index and index every testimony again from the database."""
        with self._lock:
            self.index.clear()
            with self._session_factory() as session:
                ids = list(
                    session.scalars(
                        select(Testimony.id)
                        .where(Testimony.shredded_at.is_(None))
                        .order_by(Testimony.created_at, Testimony.id)
                    )
                )
                session.execute(delete(SearchOutboxEntry))

                def documents() -> Iterator[IndexedDocument]:
                    for done, testimony_id in enumerate(ids, start=1):
                        yield self.build(session, session.get_one(Testimony, testimony_id))
                        if progress and (done % batch == 0 or done == len(ids)):
                            progress(done, len(ids))

                if isinstance(self.index, BulkLoadingSearchIndex):
                    self.index.bulk_upsert(documents())
                    self.index.optimize()
                elif isinstance(self.index, TransactionalSearchIndex):
                    pending: list[IndexedDocument] = []
                    for document in documents():
                        pending.append(document)
                        if len(pending) >= batch:
                            self.index.upsert_in(session, pending)
                            pending = []
                    self.index.upsert_in(session, pending)
                else:
                    self.index.upsert(list(documents()))
                session.commit()
            return len(ids)

    def check(self) -> IndexCheck:
        """Compare the index with the database (after draining what is pending)."""
        self.drain()
        with self._session_factory() as session:
            expected = set(
                session.scalars(select(Testimony.id).where(Testimony.shredded_at.is_(None)))
            )
        indexed = self.index.document_ids()
        return IndexCheck(
            indexed=len(indexed),
            expected=len(expected),
            missing=sorted(expected - indexed),
            unexpected=sorted(indexed - expected),
        )
