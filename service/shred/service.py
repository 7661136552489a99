"""Crypto-shredding a testimony: requested by one administrator, approved by another.

Approval executes the shred in the approver's transaction: the testimony becomes a
tombstone (``shredded_at``, reason, request id), its versions and incident coding are
deleted, its data keys and attachment keys are nulled, its search document is queued for
removal, and both custody events are appended. Once that commits, the record's shred
secrets are destroyed (making every earlier copy of its wrapped keys useless), its
attachment files are deleted and the search index purges it. A crash between the commit
and those steps leaves them to :meth:`ShredService.finish_pending`, which every approval
and ``custodia shred finish`` run first; the tombstone already refuses every read.

The witness's identity-vault entry goes with their last unshredded testimony. While they
have other testimonies it stays (those testimonies may still need it, under their own
consent), unless the request says ``destroy_identity``: then the other testimonies remain,
pseudonymous. See docs/decisions.md.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import delete, func, select

from service.access.auth import require_principal
from service.access.models import User
from service.access.policy import Permission, require, require_second_person
from service.crypto.interfaces import KeyPurpose, ShredId
from service.crypto.shred import is_bound
from service.custody.actions import Action
from service.errors import ConflictError, NotFoundError, ShreddedError
from service.runtime import Scope
from service.search.interfaces import BulkLoadingSearchIndex
from service.search.outbox import enqueue
from service.shred.models import ShredRequest
from service.shred.schemas import (
    LegacyKeysBound,
    ShredExecuted,
    ShredRequestCreate,
    ShredRequestRead,
)
from service.testimony.attachments import attachment_key_context
from service.testimony.content import testimony_key_context
from service.testimony.models import (
    Attachment,
    Incident,
    IncidentCategory,
    IncidentVersion,
    Testimony,
    TestimonyVersion,
)
from service.witness.models import IdentityRecord
from service.witness.service import identity_key_context


class ShredService:
    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self._session = scope.session

    # ---- request -------------------------------------------------------------------------

    def request(self, data: ShredRequestCreate) -> ShredRequestRead:
        """Records an administrator's request; nothing is destroyed until a second approves.

        Raises AccessDeniedError for non-administrators, NotFoundError for an unknown
        testimony, ShreddedError if it is already shredded and ConflictError if a request
        for it is already pending.
        """
        principal = require_principal(self._scope)
        require(
            principal,
            Permission.SHRED_REQUEST,
            object_type="testimony",
            object_id=data.testimony_id,
        )
        testimony = self._session.get(Testimony, data.testimony_id)
        if testimony is None:
            raise NotFoundError(
                "No testimony with id '%(testimony_id)s'.", testimony_id=data.testimony_id
            )
        if testimony.shredded_at is not None:
            raise ShreddedError("Testimony '%(id)s' was already crypto-shredded.", id=testimony.id)
        pending = self._session.scalar(
            select(ShredRequest.id).where(
                ShredRequest.testimony_id == testimony.id, ShredRequest.approved_at.is_(None)
            )
        )
        if pending is not None:
            raise ConflictError(
                "Shred request %(pending)s for this testimony is already waiting for approval.",
                pending=pending,
            )
        row = ShredRequest(
            testimony_id=testimony.id,
            reason=data.reason,
            destroy_identity=data.destroy_identity,
            requested_by=principal.user_id,
            requested_at=self._scope.now(),
            identity_shredded=False,
        )
        self._session.add(row)
        self._session.flush()
        self._scope.custody.append(
            Action.SHRED_REQUEST,
            actor=principal,
            object_type="testimony",
            object_id=testimony.id,
            details={
                "request_id": row.id,
                "reason": data.reason,
                "destroy_identity": data.destroy_identity,
            },
        )
        return self._read(row)

    def pending(self) -> list[ShredRequestRead]:
        """Requests waiting for a second administrator (administrators only)."""
        principal = require_principal(self._scope)
        require(principal, Permission.SHRED_APPROVE, object_type="shred_request")
        rows = self._session.scalars(
            select(ShredRequest).where(ShredRequest.approved_at.is_(None)).order_by(ShredRequest.id)
        )
        return [self._read(row) for row in rows]

    # ---- approve and execute -------------------------------------------------------------

    def approve(self, request_id: int) -> ShredExecuted:
        """A second administrator approves, which executes the shred (see the module doc).

        Raises AccessDeniedError for non-administrators and for the requester (two-person
        rule), NotFoundError for an unknown request, ConflictError if it was already
        approved. A refusal changes nothing.
        """
        principal = require_principal(self._scope)
        object_id = str(request_id)
        require(
            principal, Permission.SHRED_APPROVE, object_type="shred_request", object_id=object_id
        )
        row = self._session.scalar(
            select(ShredRequest).where(ShredRequest.id == request_id).with_for_update()
        )
        if row is None:
            raise NotFoundError("No shred request with id %(request_id)s.", request_id=request_id)
        require_second_person(
            principal,
            Permission.SHRED_APPROVE,
            requested_by=row.requested_by,
            object_type="shred_request",
            object_id=object_id,
        )
        if row.approved_at is not None:
            raise ConflictError(
                "Shred request %(request_id)s was already approved and executed.",
                request_id=request_id,
            )
        testimony = self._session.get_one(Testimony, row.testimony_id, with_for_update=True)
        if testimony.shredded_at is not None:
            raise ShreddedError("Testimony '%(id)s' was already crypto-shredded.", id=testimony.id)
        self._finish_leftovers()

        now = self._scope.now()
        legacy_key = testimony.wrapped_key is not None and not is_bound(testimony.wrapped_key)
        others = self._session.scalar(
            select(func.count())
            .select_from(Testimony)
            .where(
                Testimony.witness_id == testimony.witness_id,
                Testimony.id != testimony.id,
                Testimony.shredded_at.is_(None),
            )
        )
        row.identity_shredded = row.destroy_identity or not others
        attachment_ids = self._erase_rows(testimony, row.identity_shredded)
        testimony.wrapped_key = None
        testimony.shredded_at = now
        testimony.shred_reason = row.reason
        testimony.shred_request_id = row.id
        row.approved_by = principal.user_id
        row.approved_at = now
        self._session.flush()
        enqueue(self._session, testimony.id)
        self._scope.custody.append(
            Action.SHRED_APPROVE,
            actor=principal,
            object_type="shred_request",
            object_id=object_id,
            details={"testimony_id": testimony.id},
        )
        self._scope.custody.append(
            Action.SHRED_EXECUTE,
            actor=principal,
            object_type="testimony",
            object_id=testimony.id,
            details={
                "request_id": row.id,
                "requested_by": self._username(row.requested_by),
                "approved_by": principal.username,
                "attachments": len(attachment_ids),
                "identity_shredded": row.identity_shredded,
                "witness_id": testimony.witness_id,
                "legacy_key": legacy_key,
            },
        )
        self._scope.after_commit(
            _destroyer(self._scope, testimony.id, testimony.witness_id, row.identity_shredded)
        )
        return ShredExecuted(
            **self._read(row).model_dump(),
            attachments_deleted=len(attachment_ids),
            legacy_key=legacy_key,
        )

    def _erase_rows(self, testimony: Testimony, identity: bool) -> list[str]:
        """Deletes the coded and versioned content and nulls every data key of the record.

        Attachment rows stay, keyless, so an interrupted shred still knows which files to
        delete; consent history stays as part of the tombstone.
        """
        session = self._session
        incident_ids = select(Incident.id).where(Incident.testimony_id == testimony.id)
        session.execute(
            delete(IncidentCategory).where(IncidentCategory.incident_id.in_(incident_ids))
        )
        session.execute(
            delete(IncidentVersion).where(IncidentVersion.incident_id.in_(incident_ids))
        )
        session.execute(delete(Incident).where(Incident.testimony_id == testimony.id))
        session.execute(
            delete(TestimonyVersion).where(TestimonyVersion.testimony_id == testimony.id)
        )
        attachments = list(
            session.scalars(select(Attachment).where(Attachment.testimony_id == testimony.id))
        )
        for attachment in attachments:
            attachment.wrapped_key = None
        if identity:
            session.execute(
                delete(IdentityRecord).where(IdentityRecord.witness_id == testimony.witness_id)
            )
        return [attachment.id for attachment in attachments]

    # ---- completing interrupted shreds ---------------------------------------------------

    def finish_pending(self) -> int:
        """Destroys what an interrupted shred left (administrators); returns how many."""
        principal = require_principal(self._scope)
        require(principal, Permission.SHRED_APPROVE, object_type="shred_request")
        return self._finish_leftovers()

    def _finish_leftovers(self) -> int:
        """Finds shredded testimonies whose secrets or files still exist and destroys them."""
        runtime = self._scope.runtime
        done = 0
        rows = self._session.execute(
            select(Testimony.id, Testimony.witness_id, ShredRequest.identity_shredded)
            .join(ShredRequest, ShredRequest.id == Testimony.shred_request_id)
            .where(Testimony.shredded_at.is_not(None))
        ).all()
        store = runtime.attachments
        for testimony_id, witness_id, identity in rows:
            blobs = [
                a
                for a in self._session.scalars(
                    select(Attachment.id).where(Attachment.testimony_id == testimony_id)
                )
                if store.exists(a)
            ]
            secrets_left = runtime.envelope.has_shred_secret(ShredId.testimony(testimony_id)) or (
                identity and runtime.envelope.has_shred_secret(ShredId.witness(witness_id))
            )
            if blobs or secrets_left:
                _destroyer(self._scope, testimony_id, witness_id, identity, index=False)()
                done += 1
        return done

    # ---- keys made before shred binding --------------------------------------------------

    def bind_legacy_keys(
        self, progress: Callable[[int, int], None] | None = None
    ) -> LegacyKeysBound:
        """Binds every data key made before shred binding to its record's shred secret.

        Requires key management. Backups taken before this runs still hold the unbound
        keys; see docs/security.md.
        """
        principal = require_principal(self._scope)
        require(principal, Permission.KEY_MANAGE, object_type="keyring")
        session = self._session
        testimonies = [
            t
            for t in session.scalars(select(Testimony).where(Testimony.wrapped_key.is_not(None)))
            if t.wrapped_key is not None and not is_bound(t.wrapped_key)
        ]
        attachments = [
            a
            for a in session.scalars(select(Attachment).where(Attachment.wrapped_key.is_not(None)))
            if a.wrapped_key is not None and not is_bound(a.wrapped_key)
        ]
        identities = [
            i
            for i in session.scalars(
                select(IdentityRecord).where(IdentityRecord.wrapped_key.is_not(None))
            )
            if i.wrapped_key is not None and not is_bound(i.wrapped_key)
        ]
        total = len(testimonies) + len(attachments) + len(identities)
        done = 0
        for testimony in testimonies:
            testimony.kek_version, testimony.wrapped_key = self._bind(
                KeyPurpose.CONTENT,
                testimony.kek_version,
                testimony.wrapped_key,
                testimony_key_context(testimony.id),
                ShredId.testimony(testimony.id),
            )
            done += 1
            if progress:
                progress(done, total)
        for attachment in attachments:
            attachment.kek_version, attachment.wrapped_key = self._bind(
                KeyPurpose.CONTENT,
                attachment.kek_version,
                attachment.wrapped_key,
                attachment_key_context(attachment.id),
                ShredId.testimony(attachment.testimony_id),
            )
            done += 1
            if progress:
                progress(done, total)
        for identity in identities:
            identity.kek_version, identity.wrapped_key = self._bind(
                KeyPurpose.IDENTITY,
                identity.kek_version,
                identity.wrapped_key,
                identity_key_context(identity.witness_id),
                ShredId.witness(identity.witness_id),
            )
            done += 1
            if progress:
                progress(done, total)
        result = LegacyKeysBound(
            testimonies=len(testimonies), attachments=len(attachments), identities=len(identities)
        )
        self._scope.custody.append(
            Action.SHRED_BIND_LEGACY_KEYS,
            actor=principal,
            object_type="keyring",
            object_id="shred-secrets",
            details=result.model_dump(),
        )
        return result

    def _bind(
        self,
        purpose: KeyPurpose,
        kek_version: int,
        wrapped: bytes | None,
        context: bytes,
        shred_id: ShredId,
    ) -> tuple[int, bytes]:
        assert wrapped is not None
        envelope = self._scope.runtime.envelope
        if not envelope.has_shred_secret(shred_id):
            envelope.shred_secrets.ensure(shred_id)
            self._scope.on_rollback(lambda: envelope.destroy_shred_secret(shred_id))
        return envelope.rewrap(purpose, kek_version, wrapped, context, shred_id=shred_id)

    # ---- helpers -------------------------------------------------------------------------

    def _username(self, user_id: int | None) -> str | None:
        if user_id is None:
            return None
        return self._session.scalar(select(User.username).where(User.id == user_id))

    def _read(self, row: ShredRequest) -> ShredRequestRead:
        return ShredRequestRead(
            id=row.id,
            testimony_id=row.testimony_id,
            reason=row.reason,
            destroy_identity=row.destroy_identity,
            status="pending" if row.approved_at is None else "executed",
            requested_by=self._username(row.requested_by) or "?",
            requested_at=row.requested_at,
            approved_by=self._username(row.approved_by),
            approved_at=row.approved_at,
            identity_shredded=row.identity_shredded,
        )


def _destroyer(
    scope: Scope, testimony_id: str, witness_id: str, identity: bool, *, index: bool = True
) -> Callable[[], None]:
    """The irreversible part, run only once the tombstone is durable."""
    runtime = scope.runtime

    def destroy() -> None:
        runtime.envelope.destroy_shred_secret(ShredId.testimony(testimony_id))
        if identity:
            runtime.envelope.destroy_shred_secret(ShredId.witness(witness_id))
        with runtime.session_factory() as session:
            attachment_ids = list(
                session.scalars(
                    select(Attachment.id).where(Attachment.testimony_id == testimony_id)
                )
            )
        for attachment_id in attachment_ids:
            runtime.attachments.delete(attachment_id)
        if index:
            runtime.search_indexer.drain()
            search_index = runtime.search_index
            if isinstance(search_index, BulkLoadingSearchIndex):
                # Whoosh keeps a deleted document's postings until its segment is merged.
                search_index.optimize()

    return destroy
