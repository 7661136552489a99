"""Appending custody events inside the caller's transaction.

The log is written by the same session that performs the action, so both commit or neither
does. Appending locks the single ``custody_head`` row: sequence numbers are gap-free and the
order of events is the order of commits.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.context import Principal, RequestContext
from service.custody.actions import Action, Outcome
from service.custody.canonical import EventFields, canonical_json
from service.custody.merkle import leaf_hash
from service.custody.models import CustodyEvent, CustodyHead
from service.db.base import utcnow


class CustodyLog:
    def __init__(
        self,
        session: Session,
        context: RequestContext,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._session = session
        self._context = context
        self._clock = clock

    def append(
        self,
        action: Action,
        *,
        actor: Principal | None,
        object_type: str,
        object_id: str | None = None,
        object_sha256: str | None = None,
        outcome: Outcome = Outcome.OK,
        details: Mapping[str, Any] | None = None,
        actor_name: str | None = None,
    ) -> CustodyEvent:
        """Add one event to the current transaction and flush it.

        Raises whatever the database raises; the caller's transaction then fails as a whole,
        so no action survives without its event.
        """
        head = self._session.execute(
            select(CustodyHead).where(CustodyHead.id == 1).with_for_update()
        ).scalar_one()
        merged_details: dict[str, Any] = dict(details or {})
        merged_details.update(self._context.metadata())
        fields = EventFields(
            seq=head.size,
            occurred_at=self._clock(),
            actor_id=actor.user_id if actor else None,
            actor_name=actor.username if actor else actor_name,
            actor_role=actor.role.value if actor else None,
            channel=self._context.channel.value,
            action=action.value,
            outcome=outcome.value,
            object_type=object_type,
            object_id=object_id,
            object_sha256=object_sha256,
            details=merged_details,
        )
        event = CustodyEvent(
            seq=fields.seq,
            occurred_at=fields.occurred_at,
            actor_id=fields.actor_id,
            actor_name=fields.actor_name,
            actor_role=fields.actor_role,
            channel=fields.channel,
            action=fields.action,
            outcome=fields.outcome,
            object_type=fields.object_type,
            object_id=fields.object_id,
            object_sha256=fields.object_sha256,
            details_json=canonical_json(merged_details).decode("utf-8"),
            leaf_hash=leaf_hash(fields.canonical_bytes()),
        )
        self._session.add(event)
        head.size += 1
        self._session.flush()
        return event


def event_fields(event: CustodyEvent) -> EventFields:
    """Rebuild the hashed fields of a stored event (used by verification and proofs)."""
    return EventFields(
        seq=event.seq,
        occurred_at=event.occurred_at,
        actor_id=event.actor_id,
        actor_name=event.actor_name,
        actor_role=event.actor_role,
        channel=event.channel,
        action=event.action,
        outcome=event.outcome,
        object_type=event.object_type,
        object_id=event.object_id,
        object_sha256=event.object_sha256,
        details=json.loads(event.details_json),
    )
