"""The append-only custody log.

``custody_head`` is a single row holding the log size. Appending locks it, so sequence
numbers are gap-free and strictly ordered across concurrent writers on both databases.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.db.base import Base, Timestamp, UTCDateTime


class CustodyEvent(Base):
    __tablename__ = "custody_events"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    occurred_at: Mapped[Timestamp]
    actor_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    actor_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    actor_role: Mapped[str | None] = mapped_column(String(20), nullable=True)
    channel: Mapped[str] = mapped_column(String(10))
    action: Mapped[str] = mapped_column(String(64), index=True)
    outcome: Mapped[str] = mapped_column(String(10))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    object_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    details_json: Mapped[str] = mapped_column(Text)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class CustodyHead(Base):
    __tablename__ = "custody_head"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger)
    last_checkpoint_size: Mapped[int] = mapped_column(BigInteger, default=0)
    last_checkpoint_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CustodyTreeNode(Base):
    """A completed perfect subtree of the Merkle tree (level >= 1; leaves live on the events).

    Appending an event inserts exactly the nodes it completes, in the event's transaction, so
    any root, inclusion proof or consistency proof needs only O(log n) lookups.
    """

    __tablename__ = "custody_tree_nodes"

    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class CustodyCheckpoint(Base):
    """A signed checkpoint (C2SP tlog-checkpoint in a signed note) of the log at some size."""

    __tablename__ = "custody_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tree_size: Mapped[int] = mapped_column(BigInteger, index=True)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    signed_note: Mapped[str] = mapped_column(Text)
    key_name: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[Timestamp]
