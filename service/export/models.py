"""Recipient profiles and export requests.

A profile says what one kind of recipient may receive; a request names the testimonies an
investigator selected for it, which of them consent allowed, and who decided. The built
bag itself lives encrypted in the data directory (``exports/``), never in the database.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.db.base import Base, IntPK, Timestamp, UTCDateTime


class RecipientProfile(Base):
    __tablename__ = "recipient_profiles"

    id: Mapped[IntPK]
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    required_scope: Mapped[str] = mapped_column(String(40))
    fields_json: Mapped[str] = mapped_column(Text)
    include_identity: Mapped[bool] = mapped_column(Boolean, default=False)
    age_recipient: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[Timestamp]
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))


class ExportRequest(Base):
    """One export from request to purge; ``status`` moves pending -> approved|rejected ->
    built, and a built bag is deleted (``purged_at``) once it expires."""

    __tablename__ = "export_requests"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    profile_id: Mapped[int] = mapped_column(ForeignKey("recipient_profiles.id"), index=True)
    purpose: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), index=True)
    included_json: Mapped[str] = mapped_column(Text)
    excluded_json: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[Timestamp]
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decision_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    built_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    built_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    built_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    bag_kek_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    bag_wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    bag_size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    bag_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
