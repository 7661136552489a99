"""Testimonies, their incidents, consent and attachments.

Content is sealed per testimony under its own data key. Every edit appends a version row;
the parent row only points at the current version, so history is never overwritten.
Coding metadata (categories, dates, places, institutions) stays in ordinary columns for
filtering and statistics: it is what investigators facet on, and it names no witness.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from service.db.base import Base, Ciphertext, Timestamp, UTCDateTime


class Testimony(Base):
    __tablename__ = "testimonies"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(100), unique=True, nullable=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    witness_id: Mapped[str] = mapped_column(ForeignKey("witnesses.id"), index=True)
    current_version: Mapped[int] = mapped_column(Integer)
    kek_version: Mapped[int] = mapped_column(Integer)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[Timestamp]
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    shredded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    shred_reason: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    shred_request_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """The approved ``shred_requests`` row (requester and approver); no foreign key, as
    that table already refers to this one."""


class TestimonyVersion(Base):
    __tablename__ = "testimony_versions"
    __table_args__ = (UniqueConstraint("testimony_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    testimony_id: Mapped[str] = mapped_column(ForeignKey("testimonies.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    interview_date: Mapped[date] = mapped_column(Date)
    interview_place: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(16))
    interviewer: Mapped[str] = mapped_column(String(200))
    content_ciphertext: Mapped[Ciphertext]
    content_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[Timestamp]
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))


class Incident(Base):
    """Current coding of one incident; ``incident_versions`` holds every earlier state."""

    __tablename__ = "incidents"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    testimony_id: Mapped[str] = mapped_column(ForeignKey("testimonies.id"), index=True)
    current_version: Mapped[int] = mapped_column(Integer)
    date_start: Mapped[date] = mapped_column(Date, index=True)
    date_end: Mapped[date] = mapped_column(Date)
    date_precision: Mapped[str] = mapped_column(String(8))
    place: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    facility: Mapped[str | None] = mapped_column(String(200), nullable=True)
    perpetrator_institution: Mapped[str | None] = mapped_column(String(200), nullable=True)
    involvement: Mapped[str] = mapped_column(String(20))
    retracted: Mapped[bool] = mapped_column(Boolean, default=False)


class IncidentVersion(Base):
    __tablename__ = "incident_versions"
    __table_args__ = (UniqueConstraint("incident_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    categories_json: Mapped[str] = mapped_column(String(2000))
    date_start: Mapped[date] = mapped_column(Date)
    date_end: Mapped[date] = mapped_column(Date)
    date_precision: Mapped[str] = mapped_column(String(8))
    place: Mapped[str | None] = mapped_column(String(200), nullable=True)
    facility: Mapped[str | None] = mapped_column(String(200), nullable=True)
    perpetrator_institution: Mapped[str | None] = mapped_column(String(200), nullable=True)
    involvement: Mapped[str] = mapped_column(String(20))
    retracted: Mapped[bool] = mapped_column(Boolean, default=False)
    content_ciphertext: Mapped[Ciphertext]
    content_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[Timestamp]
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))


class IncidentCategory(Base):
    """The current category codes of an incident, one row each, for filters and facets."""

    __tablename__ = "incident_categories"

    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id"), primary_key=True)
    code: Mapped[str] = mapped_column(String(120), primary_key=True, index=True)


class ConsentEvent(Base):
    """Consent is a history of grants and withdrawals per scope, never an overwritten flag."""

    __tablename__ = "consent_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    testimony_id: Mapped[str] = mapped_column(ForeignKey("testimonies.id"), index=True)
    scope: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(10))
    effective_on: Mapped[date] = mapped_column(Date)
    recorded_at: Mapped[Timestamp]
    recorded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))


class Attachment(Base):
    """An encrypted file in the attachment store; its name and digest are sealed too."""

    __tablename__ = "attachments"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    testimony_id: Mapped[str] = mapped_column(ForeignKey("testimonies.id"), index=True)
    media_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    kek_version: Mapped[int] = mapped_column(Integer)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    meta_ciphertext: Mapped[Ciphertext]
    content_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[Timestamp]
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
