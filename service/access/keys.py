"""Key status and rotation: administrators only, never key material."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from sqlalchemy import select

from service.access.auth import require_principal
from service.access.policy import Permission, require
from service.access.schemas import KeyVersionRead
from service.crypto.interfaces import KeyPurpose, ShredId
from service.crypto.shred import is_bound
from service.custody.actions import Action
from service.errors import ConflictError
from service.runtime import Scope


class _WrappedKeyRow(Protocol):
    kek_version: int
    wrapped_key: bytes | None


class KeyService:
    def __init__(self, scope: Scope) -> None:
        self._scope = scope

    def status(self) -> list[KeyVersionRead]:
        principal = require_principal(self._scope)
        require(principal, Permission.KEY_MANAGE, object_type="keyring")
        keyring = self._scope.runtime.keyring
        return [
            KeyVersionRead(
                purpose=purpose.value, version=v.version, created_at=v.created_at, active=v.active
            )
            for purpose in KeyPurpose
            for v in keyring.versions(purpose)
        ]

    def rotate(self, purpose: KeyPurpose) -> int:
        """Adds a key-encryption key version and re-wraps every data key of that purpose.

        The custody event is written first, so if it cannot be written the keyring is never
        touched. Content is never re-encrypted. If the transaction fails after the keyring
        changed, the old version still unwraps every key, so nothing becomes unreadable.
        """
        principal = require_principal(self._scope)
        require(principal, Permission.KEY_MANAGE, object_type="keyring")
        keyring = self._scope.runtime.keyring
        rows = list(self._wrapped_keys(purpose))
        expected = keyring.current_version(purpose) + 1
        self._scope.custody.append(
            Action.KEY_ROTATE,
            actor=principal,
            object_type="keyring",
            object_id=purpose.value,
            details={
                "new_version": expected,
                "rewrapped_keys": len(rows),
            },
        )
        new_version = keyring.rotate(purpose)
        if new_version != expected:
            raise ConflictError("Another process rotated the keyring at the same time; retry.")
        envelope = self._scope.runtime.envelope
        for row, context, shred_id in rows:
            assert row.wrapped_key is not None
            row.kek_version, row.wrapped_key = envelope.rewrap(
                purpose, row.kek_version, row.wrapped_key, context, shred_id=shred_id
            )
        return new_version

    def _wrapped_keys(
        self, purpose: KeyPurpose
    ) -> Iterator[tuple[_WrappedKeyRow, bytes, ShredId | None]]:
        """Every live wrapped key of ``purpose``, its context, and its shred secret's id.

        Keys made before shred binding stay unbound here (``None``): binding them is an
        explicit step (``custodia shred bind-legacy``), not a side effect of rotation.
        """
        from service.drafts.service import draft_wrapped_keys
        from service.export.models import BagImport
        from service.export.reimport import bag_import_key_context
        from service.testimony.attachments import attachment_key_context
        from service.testimony.content import testimony_key_context
        from service.testimony.models import Attachment, Testimony
        from service.witness.models import IdentityRecord
        from service.witness.service import identity_key_context

        session = self._scope.session
        if purpose is KeyPurpose.IDENTITY:
            for identity in session.scalars(
                select(IdentityRecord).where(IdentityRecord.wrapped_key.is_not(None))
            ):
                yield (
                    identity,
                    identity_key_context(identity.witness_id),
                    _bound_to(identity.wrapped_key, ShredId.witness(identity.witness_id)),
                )
            yield from draft_wrapped_keys(session, purpose)
            return
        for testimony in session.scalars(
            select(Testimony).where(Testimony.wrapped_key.is_not(None))
        ):
            yield (
                testimony,
                testimony_key_context(testimony.id),
                _bound_to(testimony.wrapped_key, ShredId.testimony(testimony.id)),
            )
        for attachment in session.scalars(
            select(Attachment).where(Attachment.wrapped_key.is_not(None))
        ):
            yield (
                attachment,
                attachment_key_context(attachment.id),
                _bound_to(attachment.wrapped_key, ShredId.testimony(attachment.testimony_id)),
            )
        for bag in session.scalars(select(BagImport).where(BagImport.wrapped_key.is_not(None))):
            yield bag, bag_import_key_context(bag.id), None
        yield from draft_wrapped_keys(session, purpose)


def _bound_to(wrapped: bytes | None, shred_id: ShredId) -> ShredId | None:
    return shred_id if wrapped is not None and is_bound(wrapped) else None
