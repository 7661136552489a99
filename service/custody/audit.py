"""What auditors do with the custody log: read events, make checkpoints, produce proofs.

Auditors see actions, never content: events carry ids, hashes and metadata only.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError

from service.access.policy import Permission, require
from service.context import Principal
from service.custody.actions import Action
from service.custody.merkle import MerkleError, consistency_proof, inclusion_proof, root
from service.custody.models import CustodyCheckpoint, CustodyEvent, CustodyHead
from service.custody.note import VerifierKey
from service.custody.publish import PublishError, publish_checkpoint, verifier_key
from service.custody.schemas import (
    ActivityRow,
    CheckpointRead,
    ConsistencyProofRead,
    EventPage,
    EventRead,
    InclusionProofRead,
)
from service.custody.service import event_fields
from service.custody.tree import DatabaseSubtrees
from service.custody.verify import VerificationReport, verify_log
from service.errors import (
    AuthenticationError,
    ConflictError,
    FieldProblem,
    InvalidInputError,
    NotFoundError,
)
from service.runtime import Scope

MAX_PAGE = 1000


def as_utc(moment: datetime | None) -> datetime | None:
    """Times without an offset are UTC (as the CLI's help says); others are converted."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class EventFilter:
    """Which events an auditor asked for; every field is optional. Naive times are UTC."""

    actor: str | None = None
    action: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    channel: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "since", as_utc(self.since))
        object.__setattr__(self, "until", as_utc(self.until))

    def apply(self, query: Select[CustodyEvent]) -> Select[CustodyEvent]:
        for column, value in (
            (CustodyEvent.actor_name, self.actor),
            (CustodyEvent.action, self.action),
            (CustodyEvent.object_type, self.object_type),
            (CustodyEvent.object_id, self.object_id),
            (CustodyEvent.channel, self.channel),
        ):
            if value:
                query = query.where(column == value)
        if self.since:
            query = query.where(CustodyEvent.occurred_at >= self.since)
        if self.until:
            query = query.where(CustodyEvent.occurred_at < self.until)
        return query

    def as_details(self) -> dict[str, str]:
        return {k: str(v) for k, v in asdict(self).items() if v is not None}


def event_read(event: CustodyEvent) -> EventRead:
    return EventRead(
        seq=event.seq,
        time=event.occurred_at,
        actor_id=event.actor_id,
        actor=event.actor_name,
        role=event.actor_role,
        channel=event.channel,
        action=event.action,
        outcome=event.outcome,
        object_type=event.object_type,
        object_id=event.object_id,
        object_sha256=event.object_sha256,
        details=json.loads(event.details_json),
        leaf_hash=event.leaf_hash.hex(),
    )


class CustodyService:
    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self._session = scope.session

    def _auditor(self) -> Principal:
        if self._scope.principal is None:
            raise AuthenticationError("Sign in first.")
        require(self._scope.principal, Permission.CUSTODY_READ, object_type="custody")
        return self._scope.principal

    def _size(self) -> int:
        return self._session.get_one(CustodyHead, 1).size

    # ---- events ----------------------------------------------------------------------------

    def events(self, filters: EventFilter, *, cursor: int = 0, limit: int = 100) -> EventPage:
        """A page of matching events in log order, from sequence number ``cursor``."""
        self._auditor()
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInputError(
                "limit must be between 1 and %(limit)s.",
                errors=[FieldProblem("limit", "range")],
                limit=MAX_PAGE,
            )
        query = filters.apply(select(CustodyEvent)).where(CustodyEvent.seq >= cursor)
        rows = list(self._session.scalars(query.order_by(CustodyEvent.seq).limit(limit + 1)))
        more = len(rows) > limit
        rows = rows[:limit]
        return EventPage(
            events=[event_read(r) for r in rows], next_cursor=rows[-1].seq + 1 if more else None
        )

    def object_history(self, object_type: str, object_id: str) -> list[EventRead]:
        self._auditor()
        rows = self._session.scalars(
            select(CustodyEvent)
            .where(CustodyEvent.object_type == object_type, CustodyEvent.object_id == object_id)
            .order_by(CustodyEvent.seq)
        )
        return [event_read(r) for r in rows]

    def activity(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[ActivityRow]:
        """Per-user counts of each action and outcome: who did what, how often, when."""
        self._auditor()
        since, until = as_utc(since), as_utc(until)
        query = select(
            CustodyEvent.actor_name,
            CustodyEvent.actor_role,
            CustodyEvent.action,
            CustodyEvent.outcome,
            func.count(),
            func.min(CustodyEvent.occurred_at),
            func.max(CustodyEvent.occurred_at),
        )
        if since:
            query = query.where(CustodyEvent.occurred_at >= since)
        if until:
            query = query.where(CustodyEvent.occurred_at < until)
        query = query.group_by(
            CustodyEvent.actor_name,
            CustodyEvent.actor_role,
            CustodyEvent.action,
            CustodyEvent.outcome,
        ).order_by(CustodyEvent.actor_name, CustodyEvent.action)
        return [
            ActivityRow(actor=a, role=r, action=ac, outcome=o, count=c, first=f, last=la)
            for a, r, ac, o, c, f, la in self._session.execute(query).all()
        ]

    def export(self, fmt: str, filters: EventFilter) -> Iterator[str]:
        """The filtered log as CSV or JSON lines; the download itself is a custody event."""
        principal = self._auditor()
        if fmt not in {"csv", "jsonl"}:
            raise InvalidInputError(
                "format must be csv or jsonl", errors=[FieldProblem("format", "csv or jsonl")]
            )
        query = filters.apply(select(CustodyEvent)).order_by(CustodyEvent.seq)
        rows = [event_read(r) for r in self._session.scalars(query)]
        self._scope.custody.append(
            Action.CUSTODY_EXPORT,
            actor=principal,
            object_type="custody",
            object_id=None,
            details={"format": fmt, "events": len(rows), "filters": filters.as_details()},
        )
        return _render(rows, fmt)

    # ---- checkpoints and proofs ------------------------------------------------------------

    def _checkpoint_read(self, row: CustodyCheckpoint) -> CheckpointRead:
        runtime = self._scope.runtime
        return CheckpointRead(
            tree_size=row.tree_size,
            root_hash=row.root_hash.hex(),
            signed_note=row.signed_note,
            key_name=row.key_name,
            verifier_key=verifier_key(runtime.keyring, runtime.settings.custody_origin),
            created_at=row.created_at,
            reason=row.reason,
        )

    def latest_checkpoint(self) -> CheckpointRead:
        self._auditor()
        row = self._session.scalar(
            select(CustodyCheckpoint)
            .order_by(CustodyCheckpoint.tree_size.desc(), CustodyCheckpoint.id.desc())
            .limit(1)
        )
        if row is None:
            raise NotFoundError("No checkpoint has been made yet.")
        return self._checkpoint_read(row)

    def make_checkpoint(self) -> CheckpointRead:
        """A checkpoint on demand (after recording the request, so it covers it)."""
        principal = self._auditor()
        self._scope.custody.append(
            Action.CHECKPOINT_REQUEST, actor=principal, object_type="custody", object_id=None
        )
        return self._checkpoint_read(self._scope.custody.checkpoint(reason="on_demand"))

    def publish_latest(self) -> list[str]:
        checkpoint = self.latest_checkpoint()
        settings = self._scope.runtime.settings
        if not settings.checkpoint_publish_dirs:
            raise InvalidInputError(
                "No witness locations are configured (CUSTODIA_CHECKPOINT_PUBLISH_DIRS)."
            )
        try:
            paths = publish_checkpoint(
                checkpoint.signed_note,
                checkpoint.tree_size,
                settings.checkpoint_publish_dirs,
                self._scope.runtime.keyring,
                settings.custody_origin,
            )
        except PublishError as error:
            # A witness already holds other text for this size: the stored checkpoint or
            # the signing key changed since it was published. That is for an auditor to
            # look into (``custodia custody verify --against``), never to paper over.
            raise ConflictError(str(error)) from None
        return [str(p) for p in paths]

    def _checkpoint_note(self, size: int) -> str | None:
        return self._session.scalar(
            select(CustodyCheckpoint.signed_note)
            .where(CustodyCheckpoint.tree_size == size)
            .limit(1)
        )

    def _default_size(self) -> int:
        latest = self._session.scalar(select(func.max(CustodyCheckpoint.tree_size)))
        return int(latest) if latest is not None else self._size()

    def inclusion(self, index: int, tree_size: int | None = None) -> InclusionProofRead:
        """Proof that event ``index`` is in the tree of ``tree_size`` (default: last checkpoint)."""
        self._auditor()
        size = tree_size if tree_size is not None else self._default_size()
        self._check_size(size, "tree_size")
        if not 0 <= index < size:
            raise InvalidInputError(
                "index must be between 0 and %(last)d for tree size %(size)d.",
                errors=[FieldProblem("index", "outside the tree")],
                last=size - 1,
                size=size,
            )
        store = DatabaseSubtrees(self._session)
        event = self._session.get_one(CustodyEvent, index)
        try:
            proof = inclusion_proof(index, size, store)
            root_hash = root(size, store)
        except MerkleError as error:
            raise InvalidInputError(str(error)) from None
        return InclusionProofRead(
            leaf_index=index,
            tree_size=size,
            leaf_hash=event.leaf_hash.hex(),
            leaf_data=base64.b64encode(event_fields(event).canonical_bytes()).decode("ascii"),
            proof=[p.hex() for p in proof],
            root_hash=root_hash.hex(),
            checkpoint=self._checkpoint_note(size),
        )

    def consistency(self, first: int, second: int | None = None) -> ConsistencyProofRead:
        self._auditor()
        second = second if second is not None else self._default_size()
        self._check_size(second, "second")
        if not 0 < first <= second:
            raise InvalidInputError(
                "first must be between 1 and %(second)s.",
                errors=[FieldProblem("first", "must satisfy 0 < first <= second")],
                second=second,
            )
        store = DatabaseSubtrees(self._session)
        return ConsistencyProofRead(
            first=first,
            second=second,
            first_root=root(first, store).hex(),
            second_root=root(second, store).hex(),
            proof=[p.hex() for p in consistency_proof(first, second, store)],
            first_checkpoint=self._checkpoint_note(first),
            second_checkpoint=self._checkpoint_note(second),
        )

    def verify(
        self,
        *,
        published: list[tuple[str, str]] | None = None,
        extra_keys: list[VerifierKey] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> VerificationReport:
        """Run the verifier; the run and its verdict are themselves a custody event.

        Checkpoint signatures are trusted only from the keyring's current signing key and
        ``extra_keys`` (e.g. the key published with the checkpoints).
        """
        principal = self._auditor()
        runtime = self._scope.runtime
        origin = runtime.settings.custody_origin
        keys = [VerifierKey.from_public_key(origin, runtime.keyring.signing_public_key())]
        keys += extra_keys or []
        report = verify_log(
            self._session,
            origin=origin,
            trusted_keys=keys,
            published=published or [],
            progress=progress,
        )
        first = report.first
        try:
            with self._session.begin_nested():
                self._scope.custody.append(
                    Action.CUSTODY_VERIFY,
                    actor=principal,
                    object_type="custody",
                    object_id=None,
                    details={
                        "events": report.events,
                        "ok": report.ok,
                        "first_problem": str(first) if first else None,
                        "published_checkpoints": report.published_checked,
                    },
                )
        except (IntegrityError, MerkleError):
            # A damaged log may refuse new events (a row forged at the head's sequence
            # number, a deleted leaf the next node needs). The report naming that damage
            # matters more than recording this run; an intact log must record it.
            if report.ok:
                raise
        return report

    def _check_size(self, size: int, field: str) -> None:
        current = self._size()
        if not 1 <= size <= current:
            raise InvalidInputError(
                "%(field)s must be between 1 and the log size %(current)s.",
                errors=[FieldProblem(field, "outside the log")],
                field=field,
                current=current,
            )


def _render(rows: list[EventRead], fmt: str) -> Iterator[str]:
    if fmt == "jsonl":
        for row in rows:
            yield row.model_dump_json() + "\n"
        return
    columns = list(EventRead.model_fields)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for row in rows:
        data = row.model_dump(mode="json")
        writer.writerow(
            [
                json.dumps(data[c], ensure_ascii=False) if c == "details" else data[c]
                for c in columns
            ]
        )
        if buffer.tell() > 65536:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
