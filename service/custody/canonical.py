"""The canonical byte encoding of a custody event (format version 1).

These bytes are what the Merkle tree hashes, so they must be reproducible by anyone holding
the event's fields: UTF-8 JSON with keys sorted, no insignificant whitespace, non-ASCII kept
as UTF-8, and only strings, integers, booleans, null, lists and objects (floats are refused
because their text form is not unique). ``docs/custody-format.md`` specifies it for
independent verifiers.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

EVENT_FORMAT_VERSION = 1
JsonValue = str | int | bool | None | list["JsonValue"] | dict[str, "JsonValue"]


def _check_value(value: Any, path: str) -> None:
    if value is None or isinstance(value, str | bool | int):
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            _check_value(item, f"{path}[{index}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"custody detail key at {path} is not a string")
            _check_value(item, f"{path}.{key}")
        return
    raise TypeError(f"custody detail {path} has unsupported type {type(value).__name__}")


def canonical_json(value: Mapping[str, Any]) -> bytes:
    """Deterministic JSON bytes for hashing; raises TypeError for values without one form."""
    _check_value(dict(value), "$")
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def format_time(moment: datetime) -> str:
    """RFC 3339 UTC with exactly six fractional digits, e.g. ``2026-11-25T17:08:23.000123Z``."""
    if moment.tzinfo is None:
        raise ValueError("custody times must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class EventFields:
    """Every field of a custody event that is covered by its leaf hash."""

    seq: int
    occurred_at: datetime
    actor_id: int | None
    actor_name: str | None
    actor_role: str | None
    channel: str
    action: str
    outcome: str
    object_type: str
    object_id: str | None
    object_sha256: str | None
    details: Mapping[str, Any]

    def canonical_bytes(self) -> bytes:
        return canonical_json(
            {
                "v": EVENT_FORMAT_VERSION,
                "seq": self.seq,
                "time": format_time(self.occurred_at),
                "actor_id": self.actor_id,
                "actor": self.actor_name,
                "role": self.actor_role,
                "channel": self.channel,
                "action": self.action,
                "outcome": self.outcome,
                "object_type": self.object_type,
                "object_id": self.object_id,
                "object_sha256": self.object_sha256,
                "details": dict(self.details),
            }
        )
