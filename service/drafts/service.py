"""Server-side drafts of the guided interview, so nothing typed is lost to a dropped line.

A draft holds a witness's words and identity, so it is kept like a testimony: sealed under
data keys of its own (``service.drafts.models``), and readable by one person only, the
officer who typed it. Not by an administrator, not by another officer of the same case: a
draft another user owns answers exactly as a draft that does not exist.

Custody: a draft's creation, every resume (a read of decrypted content), its discarding,
its submission as a testimony and its expiry are events without content. Saves after the
first are not: the form autosaves every few seconds, and the testimony that comes of it
is what the record is about (docs/decisions.md).

Drafts expire ``draft_ttl_hours`` after their last save. Every call here deletes the
expired ones first, and ``purge_expired`` (``custodia drafts purge-expired``) does it for
administrators. Deleting a draft destroys its shred secret after commit, so copies of its
rows left in backups or in free database pages can no longer be opened.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.access.models import Case
from service.access.policy import Permission, require, require_in_case
from service.context import Principal
from service.crypto.envelope import FieldContext, open_field, seal_field
from service.crypto.errors import CryptoError
from service.crypto.interfaces import KeyPurpose, ShredId
from service.custody.actions import Action
from service.drafts.models import InterviewDraft
from service.drafts.schemas import (
    DraftForm,
    DraftIdentity,
    DraftRead,
    DraftSave,
    DraftSaved,
    DraftSummary,
)
from service.errors import AuthenticationError, IntegrityCheckError, NotFoundError, RefusalRecord
from service.runtime import Scope
from service.testimony.schemas import TestimonyCreated, TestimonyImport
from service.testimony.service import TestimonyService

OBJECT_TYPE = "interview_draft"
KEY_ID = 1


def _key_context(draft: InterviewDraft, part: str) -> bytes:
    """Binds a wrapped key to its draft and its owner: moved to another row, or given to
    another owner, it does not unwrap."""
    return f"interview-draft:{draft.id}|owner:{draft.owner_id}|{part}".encode()


def _field(draft: InterviewDraft, name: str) -> FieldContext:
    return FieldContext(OBJECT_TYPE, draft.id, name, draft.version)


class DraftService:
    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self._session = scope.session
        self._envelope = scope.runtime.envelope

    # ---- who, and which draft --------------------------------------------------------------

    def _principal(self) -> Principal:
        if self._scope.principal is None:
            raise AuthenticationError("Sign in first.")
        principal = self._scope.principal
        require(principal, Permission.TESTIMONY_CREATE, object_type=OBJECT_TYPE)
        return principal

    def _own(self, principal: Principal, draft_id: str) -> InterviewDraft:
        """The caller's own draft in a case they may still write to; NotFoundError otherwise.

        Someone else's draft answers as an unknown one (and the attempt is recorded).
        """
        detail = "No draft with id '%(draft_id)s'."
        draft = self._session.get(InterviewDraft, draft_id) if len(draft_id) == 36 else None
        if draft is None:
            raise NotFoundError(detail, draft_id=draft_id)
        if draft.owner_id != principal.user_id:
            raise NotFoundError(
                detail,
                draft_id=draft_id,
                refusal=RefusalRecord(
                    action=Action.ACCESS_DENIED.value,
                    object_type=OBJECT_TYPE,
                    object_id=draft_id,
                    details={"permission": Permission.TESTIMONY_CREATE.value, "reason": "owner"},
                ),
            )
        require_in_case(
            self._session,
            principal,
            Permission.TESTIMONY_CREATE,
            case_id=draft.case_id,
            object_type=OBJECT_TYPE,
            object_id=draft_id,
            detail=detail,
            params={"draft_id": draft_id},
        )
        return draft

    def _ttl(self) -> timedelta:
        return timedelta(hours=self._scope.runtime.settings.draft_ttl_hours)

    # ---- sealing -------------------------------------------------------------------------

    def _key(self, draft: InterviewDraft, part: str) -> bytes:
        """The draft's ``content`` or ``identity`` key; IntegrityCheckError (recorded) if it
        does not open (a tampered row, or one moved to another draft or owner)."""
        purpose, version, wrapped = (
            (KeyPurpose.CONTENT, draft.content_kek_version, draft.content_wrapped_key)
            if part == "content"
            else (KeyPurpose.IDENTITY, draft.identity_kek_version, draft.identity_wrapped_key)
        )
        try:
            return self._envelope.unwrap(
                purpose,
                version,
                wrapped,
                _key_context(draft, part),
                shred_id=ShredId.draft(draft.id),
            )
        except CryptoError as error:
            raise IntegrityCheckError(
                str(error), object_type=OBJECT_TYPE, object_id=draft.id
            ) from None

    def _open(self, key: bytes, draft: InterviewDraft, name: str, ciphertext: bytes) -> Any:
        try:
            return json.loads(open_field(key, ciphertext, _field(draft, name)))
        except CryptoError as error:
            raise IntegrityCheckError(
                str(error), object_type=OBJECT_TYPE, object_id=draft.id
            ) from None

    def _seal(
        self, draft: InterviewDraft, content: bytes, identity: bytes, data: DraftSave
    ) -> None:
        def seal(key: bytes, name: str, value: Any) -> bytes:
            plaintext = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
            return seal_field(key, KEY_ID, plaintext, _field(draft, name))

        draft.label_ciphertext = seal(content, "label", data.label)
        draft.content_ciphertext = seal(content, "content", data.form.model_dump(mode="json"))
        draft.identity_ciphertext = seal(
            identity, "identity", data.identity.model_dump(mode="json")
        )

    # ---- expiry --------------------------------------------------------------------------

    def _expire(self, actor: Principal | None, reason: str) -> list[str]:
        """Deletes every draft past its time, whoever owns it; secrets go after commit."""
        cutoff = self._scope.now() - self._ttl()
        expired = list(
            self._session.scalars(
                select(InterviewDraft)
                .where(InterviewDraft.updated_at <= cutoff)
                .order_by(InterviewDraft.updated_at, InterviewDraft.id)
            )
        )
        for draft in expired:
            self._delete(draft)
            self._scope.custody.append(
                Action.DRAFT_EXPIRE,
                actor=actor,
                object_type=OBJECT_TYPE,
                object_id=draft.id,
                details={"owner_id": draft.owner_id, "case_id": draft.case_id, "reason": reason},
                actor_name=None if actor else "system",
            )
        return [d.id for d in expired]

    def _delete(self, draft: InterviewDraft) -> None:
        shred_id = ShredId.draft(draft.id)
        self._session.delete(draft)
        self._session.flush()
        self._scope.after_commit(_destroyer(self._envelope.destroy_shred_secret, shred_id))

    def purge_expired(self) -> list[str]:
        """Deletes expired drafts of every user (administrators; no content is read)."""
        principal = self._scope.principal
        if principal is None:
            raise AuthenticationError("Sign in first.")
        require(principal, Permission.DRAFT_PURGE, object_type=OBJECT_TYPE)
        return self._expire(principal, "expired")

    # ---- the officer's operations ----------------------------------------------------------

    def save(self, data: DraftSave, draft_id: str | None = None) -> DraftSaved:
        """Creates a draft (``draft_id`` None) or replaces the caller's own draft.

        Requires a case the caller may write testimonies to; raises NotFoundError for a
        draft that is not theirs or no longer exists (it may have expired or been submitted:
        the caller saves a new one).
        """
        principal = self._principal()
        self._expire(None, "expired_on_access")
        case = TestimonyService(self._scope).writable_case(data.form.case)
        now = self._scope.now()
        if draft_id:
            draft = self._own(principal, draft_id)
            content, identity = self._key(draft, "content"), self._key(draft, "identity")
            draft.version += 1
            draft.case_id = case.id
            draft.updated_at = now
            self._seal(draft, content, identity, data)
            self._session.flush()
            return DraftSaved(id=draft.id, version=draft.version, created=False, updated_at=now)
        return self._create(principal, case, data, now)

    def _create(
        self, principal: Principal, case: Case, data: DraftSave, now: datetime
    ) -> DraftSaved:
        draft = InterviewDraft(
            id=str(uuid.uuid4()),
            owner_id=principal.user_id,
            case_id=case.id,
            version=1,
            created_at=now,
            updated_at=now,
        )
        shred_id = ShredId.draft(draft.id)
        content = self._envelope.new_wrapped_key(
            KeyPurpose.CONTENT, _key_context(draft, "content"), shred_id=shred_id
        )
        # The secret is durable before the row commits; a rolled-back create removes it.
        self._scope.on_rollback(_destroyer(self._envelope.destroy_shred_secret, shred_id))
        identity = self._envelope.new_wrapped_key(
            KeyPurpose.IDENTITY, _key_context(draft, "identity"), shred_id=shred_id
        )
        draft.content_kek_version, draft.content_wrapped_key = content.kek_version, content.wrapped
        draft.identity_kek_version = identity.kek_version
        draft.identity_wrapped_key = identity.wrapped
        self._seal(draft, content.data_key, identity.data_key, data)
        self._session.add(draft)
        self._session.flush()
        self._scope.custody.append(
            Action.DRAFT_CREATE,
            actor=principal,
            object_type=OBJECT_TYPE,
            object_id=draft.id,
            details={"case_id": case.id},
        )
        return DraftSaved(id=draft.id, version=1, created=True, updated_at=now)

    def list(self) -> list[DraftSummary]:
        """The caller's own drafts, last saved first; labels only, no content."""
        principal = self._principal()
        self._expire(None, "expired_on_access")
        rows = self._session.execute(
            select(InterviewDraft, Case.code)
            .join(Case, Case.id == InterviewDraft.case_id)
            .where(InterviewDraft.owner_id == principal.user_id)
            .order_by(InterviewDraft.updated_at.desc(), InterviewDraft.id)
        ).all()
        return [self._summary(draft, code, self._label(draft)) for draft, code in rows]

    def _label(self, draft: InterviewDraft, content: bytes | None = None) -> str:
        key = content if content is not None else self._key(draft, "content")
        return str(self._open(key, draft, "label", draft.label_ciphertext))

    def _summary(self, draft: InterviewDraft, case_code: str, label: str) -> DraftSummary:
        return DraftSummary(
            id=draft.id,
            case_code=case_code,
            label=label,
            created_at=draft.created_at,
            updated_at=draft.updated_at,
            expires_at=draft.updated_at + self._ttl(),
        )

    def load(self, draft_id: str) -> DraftRead:
        """The whole form of the caller's own draft, to resume it (recorded as a read)."""
        principal = self._principal()
        self._expire(None, "expired_on_access")
        draft = self._own(principal, draft_id)
        content, identity = self._key(draft, "content"), self._key(draft, "identity")
        form = DraftForm.model_validate(
            self._open(content, draft, "content", draft.content_ciphertext)
        )
        case_code = self._session.scalars(select(Case.code).where(Case.id == draft.case_id)).one()
        if form.case != case_code:
            raise IntegrityCheckError(
                "the draft's sealed case does not match its row",
                object_type=OBJECT_TYPE,
                object_id=draft.id,
            )
        summary = self._summary(draft, case_code, self._label(draft, content))
        read = DraftRead(
            **summary.model_dump(),
            version=draft.version,
            form=form,
            identity=DraftIdentity.model_validate(
                self._open(identity, draft, "identity", draft.identity_ciphertext)
            ),
        )
        self._scope.custody.append(
            Action.DRAFT_READ,
            actor=principal,
            object_type=OBJECT_TYPE,
            object_id=draft.id,
            details={"version": draft.version},
        )
        return read

    def discard(self, draft_id: str) -> None:
        """Deletes the caller's own draft; its secret is destroyed after commit."""
        principal = self._principal()
        self._expire(None, "expired_on_access")
        draft = self._own(principal, draft_id)
        self._delete(draft)
        self._scope.custody.append(
            Action.DRAFT_DISCARD, actor=principal, object_type=OBJECT_TYPE, object_id=draft_id
        )

    def submit(self, record: TestimonyImport, draft_id: str | None) -> TestimonyCreated:
        """Creates the testimony and deletes the draft it came from, in one transaction.

        A ``draft_id`` that is unknown, expired or not the caller's is ignored: the
        interview itself must never be refused because of its draft.
        """
        created = TestimonyService(self._scope).create(record)
        if not draft_id or self._scope.principal is None:
            return created
        draft = self._session.get(InterviewDraft, draft_id) if len(draft_id) == 36 else None
        if draft is None or draft.owner_id != self._scope.principal.user_id:
            return created
        self._delete(draft)
        self._scope.custody.append(
            Action.DRAFT_SUBMIT,
            actor=self._scope.principal,
            object_type=OBJECT_TYPE,
            object_id=draft_id,
            details={"testimony_id": created.id},
        )
        return created


def _destroyer(destroy: Callable[[ShredId], bool], shred_id: ShredId) -> Callable[[], object]:
    return lambda: destroy(shred_id)


class DraftKeySlot:
    """One wrapped key of a draft, shaped like a testimony's (``kek_version``, ``wrapped_key``)
    so key rotation re-wraps drafts with everything else."""

    def __init__(self, draft: InterviewDraft, part: str) -> None:
        self._draft, self._part = draft, part

    @property
    def kek_version(self) -> int:
        value: int = getattr(self._draft, f"{self._part}_kek_version")
        return value

    @kek_version.setter
    def kek_version(self, value: int) -> None:
        setattr(self._draft, f"{self._part}_kek_version", value)

    @property
    def wrapped_key(self) -> bytes:
        value: bytes = getattr(self._draft, f"{self._part}_wrapped_key")
        return value

    @wrapped_key.setter
    def wrapped_key(self, value: bytes | None) -> None:
        assert value is not None
        setattr(self._draft, f"{self._part}_wrapped_key", value)


def draft_wrapped_keys(
    session: Session, purpose: KeyPurpose
) -> Iterator[tuple[DraftKeySlot, bytes, ShredId]]:
    """Every draft key of ``purpose`` with its context and shred secret, for key rotation."""
    part = "content" if purpose is KeyPurpose.CONTENT else "identity"
    for draft in session.scalars(select(InterviewDraft).order_by(InterviewDraft.id)):
        yield DraftKeySlot(draft, part), _key_context(draft, part), ShredId.draft(draft.id)
