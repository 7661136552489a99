"""The transactional outbox between records and the search index.

Every create, edit, coding or consent change enqueues its testimony in the same transaction
as the change, so a committed record can never be missing from the index for longer than
it takes the single indexer to drain the outbox, even across a crash.
"""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, Session, mapped_column

from service.db.base import Base, BigIntPK, Timestamp, utcnow


class SearchOutboxEntry(Base):
    __tablename__ = "search_outbox"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    testimony_id: Mapped[str] = mapped_column(String(36), index=True)
    enqueued_at: Mapped[Timestamp]


def enqueue(session: Session, testimony_id: str) -> None:
    """Ask the indexer to (re)index a testimony once this transaction commits."""
    session.add(SearchOutboxEntry(testimony_id=testimony_id, enqueued_at=utcnow()))
