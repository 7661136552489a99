"""The PostgreSQL search index table: blind tokens in a tsvector, coding metadata in arrays.

It is derived data, rebuilt by ``reindex``, so it has no foreign keys. It exists on SQLite
too (arrays as JSON, the tsvector as text) only so that one schema serves both databases;
the embedded tier searches with Whoosh and leaves it empty.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import JSON, BigInteger, Date, Index, Integer, SmallInteger, String, Text
from sqlalchemy.dialects.postgresql import ARRAY, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from service.db.base import Base

TextArray = ARRAY(Text()).with_variant(JSON(), "sqlite")
IntArray = ARRAY(Integer()).with_variant(JSON(), "sqlite")
BlindTokens = TSVECTOR().with_variant(Text(), "sqlite")


class SearchDocument(Base):
    """One indexed testimony (see :mod:`service.search.postgres_index` for the encoding)."""

    __tablename__ = "search_documents"
    __table_args__ = (
        Index("ix_search_documents_tokens", "tokens", postgresql_using="gin"),
        Index("ix_search_documents_categories", "categories", postgresql_using="gin"),
    )

    testimony_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[int] = mapped_column(BigInteger, index=True)
    language: Mapped[str] = mapped_column(String(16))
    interview_date: Mapped[date] = mapped_column(Date)
    date_start: Mapped[date | None] = mapped_column(Date, nullable=True)
    date_end: Mapped[date | None] = mapped_column(Date, nullable=True)
    categories: Mapped[list[str]] = mapped_column(TextArray)
    places: Mapped[list[str]] = mapped_column(TextArray)
    facilities: Mapped[list[str]] = mapped_column(TextArray)
    institutions: Mapped[list[str]] = mapped_column(TextArray)
    involvements: Mapped[list[str]] = mapped_column(TextArray)
    consent_scopes: Mapped[list[str]] = mapped_column(TextArray)
    years: Mapped[list[int]] = mapped_column(IntArray)
    chunks: Mapped[int] = mapped_column(SmallInteger, index=True)
    """Positional chunks of the document's longest text field (phrase queries need the max)."""
    tokens: Mapped[str] = mapped_column(BlindTokens)
