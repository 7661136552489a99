"""Interview drafts: the guided interview form saved as it is typed, sealed like a testimony.

A draft row holds two ciphertexts under two data keys of its own: the form (narrative,
interview, pseudonym, consent, and the officer's label for the draft) under a CONTENT key,
and the witness's identity fields under an IDENTITY key, so the identity stays behind the
identity KEK as it does in the vault. Both keys are bound to the draft's shred secret
(``ShredId.draft``), which is destroyed when the draft is discarded, submitted or expires.
Only the case, the owner and the times are in clear: what the drafts list shows.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from service.db.base import Base, Ciphertext, Timestamp, UTCDateTime


class InterviewDraft(Base):
    __tablename__ = "interview_drafts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    """Counts saves; bound into every ciphertext, so an older save cannot be replayed."""
    content_kek_version: Mapped[int] = mapped_column(Integer)
    content_wrapped_key: Mapped[Ciphertext]
    label_ciphertext: Mapped[Ciphertext]
    content_ciphertext: Mapped[Ciphertext]
    identity_kek_version: Mapped[int] = mapped_column(Integer)
    identity_wrapped_key: Mapped[Ciphertext]
    identity_ciphertext: Mapped[Ciphertext]
    created_at: Mapped[Timestamp]
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    """The last save; a draft expires ``draft_ttl_hours`` after it."""
