"""Recipient profiles and export requests.

A profile says what one kind of recipient may receive; a request names the testimonies an
investigator selected for it, which of them consent allowed, and who decided. The built
bag itself lives encrypted in the data directory (``exports/``), never in the database.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
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


class BagImport(Base):
    """A bag from another Custodia that was verified and re-imported here.

    The clear columns are what finding and de-duplicating an import needs: who made the bag,
    its export id, the SHA-256 of its signed tag manifest, and the key that signed it. The
    bag's tag files (bag-info, manifests, signature, custody events, inclusion proofs and
    checkpoints) are kept verbatim, sealed under the import's own data key: they name the
    origin's staff, carry free-text purposes and hash the narratives.
    """

    __tablename__ = "bag_imports"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    origin_organization: Mapped[str] = mapped_column(String(200))
    origin_export_id: Mapped[str] = mapped_column(String(100), index=True)
    origin_log: Mapped[str] = mapped_column(String(200))
    tagmanifest_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    signer_public_key: Mapped[str] = mapped_column(String(64), index=True)
    """Raw Ed25519 key (hex) that signed the bag: the origin, as far as this side knows it."""
    signer_trusted: Mapped[bool] = mapped_column(Boolean)
    """Checked against a key given by the importer, not only the key the bag carries."""
    checkpoint_size: Mapped[int] = mapped_column(BigInteger)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kek_version: Mapped[int] = mapped_column(Integer)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    tag_files_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    tag_files_sha256: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[Timestamp]
    imported_by: Mapped[int] = mapped_column(ForeignKey("users.id"))


class ImportedTestimony(Base):
    """Where one imported testimony came from: its bag and its ids at the origin."""

    __tablename__ = "imported_testimonies"
    __table_args__ = (UniqueConstraint("signer_public_key", "original_testimony_id"),)

    testimony_id: Mapped[str] = mapped_column(ForeignKey("testimonies.id"), primary_key=True)
    import_id: Mapped[str] = mapped_column(ForeignKey("bag_imports.id"), index=True)
    signer_public_key: Mapped[str] = mapped_column(String(64))
    original_testimony_id: Mapped[str] = mapped_column(String(36))
    original_version: Mapped[int] = mapped_column(Integer)
    bag_directory: Mapped[str] = mapped_column(String(40))
    original_ids_json: Mapped[str] = mapped_column(Text)
    """``{"incidents": {original: new}, "attachments": {bag file: new id}}``"""
