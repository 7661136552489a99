"""Request and read models of shred requests."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=10, max_length=1000)]
TestimonyId = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"),
]


class ShredRequestCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    testimony_id: TestimonyId
    reason: Reason = Field(
        description="Why the testimony must be destroyed; never include identifying details"
    )
    destroy_identity: bool = Field(
        default=False,
        description="Also destroy the witness's identity when they have other testimonies "
        "(it is always destroyed with their last one)",
    )


class ShredRequestRead(BaseModel):
    id: int
    testimony_id: str
    reason: str
    destroy_identity: bool
    status: Literal["pending", "executed"]
    requested_by: str
    requested_at: dt.datetime
    approved_by: str | None
    approved_at: dt.datetime | None
    identity_shredded: bool


class ShredExecuted(ShredRequestRead):
    attachments_deleted: int
    legacy_key: bool
    """The testimony's key predates shred binding: backups taken before it was bound
    still open with the keyring (docs/security.md)."""


class LegacyKeysBound(BaseModel):
    testimonies: int
    attachments: int
    identities: int
