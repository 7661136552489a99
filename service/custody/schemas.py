"""Shapes of custody data at Custodia's boundaries: events, checkpoints, proofs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class EventRead(BaseModel):
    seq: int
    time: datetime
    actor_id: int | None
    actor: str | None
    role: str | None
    channel: str
    action: str
    outcome: str
    object_type: str
    object_id: str | None
    object_sha256: str | None
    details: dict[str, Any]
    leaf_hash: str


class EventPage(BaseModel):
    events: list[EventRead]
    next_cursor: int | None


class CheckpointRead(BaseModel):
    tree_size: int
    root_hash: str
    signed_note: str
    key_name: str
    verifier_key: str
    created_at: datetime
    reason: str


class InclusionProofRead(BaseModel):
    leaf_index: int
    tree_size: int
    leaf_hash: str
    leaf_data: str
    proof: list[str]
    root_hash: str
    checkpoint: str | None


class ConsistencyProofRead(BaseModel):
    first: int
    second: int
    first_root: str
    second_root: str
    proof: list[str]
    first_checkpoint: str | None
    second_checkpoint: str | None


class ActivityRow(BaseModel):
    actor: str | None
    role: str | None
    action: str
    outcome: str
    count: int
    first: datetime
    last: datetime
