"""Shred requests: the two-person record of why and by whom a testimony was crypto-shredded."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from service.db.base import Base, Timestamp, UTCDateTime


class ShredRequest(Base):
    """One administrator asks, a second one approves; approval executes the shred.

    The row survives the shred as part of the testimony's tombstone. ``reason`` is shown
    to administrators and auditors: it must never contain identifying details.
    """

    __tablename__ = "shred_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    testimony_id: Mapped[str] = mapped_column(ForeignKey("testimonies.id"), index=True)
    reason: Mapped[str] = mapped_column(String(1000))
    destroy_identity: Mapped[bool] = mapped_column(Boolean, default=False)
    """Destroy the witness's identity even if they have other, unshredded testimonies."""
    requested_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[Timestamp]
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    identity_shredded: Mapped[bool] = mapped_column(Boolean, default=False)
    """Whether executing it destroyed the witness's identity-vault entry."""
