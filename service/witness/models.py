"""Witnesses are known by pseudonym; their identity lives in a separate, separately keyed vault."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.db.base import Base, Ciphertext, Timestamp


class Witness(Base):
    __tablename__ = "witnesses"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    pseudonym: Mapped[str] = mapped_column(String(64), unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    created_at: Mapped[Timestamp]
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))


class IdentityRecord(Base):
    """One version of a witness's identity, sealed under the identity-vault key purpose."""

    __tablename__ = "identity_records"
    __table_args__ = (UniqueConstraint("witness_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    witness_id: Mapped[str] = mapped_column(ForeignKey("witnesses.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    kek_version: Mapped[int] = mapped_column(Integer)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    identity_ciphertext: Mapped[Ciphertext]
    content_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[Timestamp]
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
