"""Recipient profiles and export requests: who may export what, to whom, with whose approval.

Every rule lives here or in ``service.access.policy``: an investigator requests, a second
investigator (never the requester) approves or rejects, and only then can the requester
or the approver build and download the bag. Consent is checked when the request is made
and again when the bag is built; a testimony whose consent no longer covers the recipient
at build time is left out of the bag (and listed on the request), and a build left with
nothing to export fails. Each step appends its custody event in the caller's transaction.
"""

from __future__ import annotations

import functools
import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.access.models import Case, CaseMember, User
from service.access.policy import Permission, assigned_case_ids, has_permission, require
from service.context import Principal
from service.crypto.errors import CryptoError
from service.crypto.interfaces import KeyPurpose
from service.crypto.stream import iter_decrypt
from service.custody.actions import Action
from service.errors import (
    AccessDeniedError,
    AuthenticationError,
    ConflictError,
    ConsentRefusedError,
    FieldProblem,
    IntegrityCheckError,
    InvalidInputError,
    NotFoundError,
    RefusalRecord,
)
from service.export.models import ExportRequest, RecipientProfile
from service.export.schemas import (
    DEFAULT_FIELDS,
    IDENTITY_KINDS,
    REQUIRED_SCOPE,
    Exclusion,
    ExportDecision,
    ExportField,
    ExportRead,
    ExportRequestCreate,
    ExportStatus,
    RecipientKind,
    RecipientProfileCreate,
    RecipientProfileRead,
)
from service.runtime import Scope
from service.storage.files import FileAttachmentStore
from service.testimony.models import Testimony
from service.testimony.service import TestimonyService

MAX_SELECTION = 1000


def bag_key_context(export_id: str) -> bytes:
    return f"export:{export_id}".encode()


def bag_store(scope: Scope) -> FileAttachmentStore:
    """Encrypted bags live beside the attachments, under ``<data_dir>/exports``."""
    return FileAttachmentStore(scope.runtime.settings.resolved_data_dir / "exports")


def profile_read(profile: RecipientProfile) -> RecipientProfileRead:
    return RecipientProfileRead(
        id=profile.id,
        name=profile.name,
        kind=RecipientKind(profile.kind),
        required_scope=REQUIRED_SCOPE[RecipientKind(profile.kind)],
        fields=[ExportField(f) for f in json.loads(profile.fields_json)],
        include_identity=profile.include_identity,
        age_recipient=profile.age_recipient,
    )


def consent_exclusion(scope: Scope, testimony: Testimony, kind: RecipientKind) -> Exclusion | None:
    """Why the testimony's consent does not cover ``kind`` now, or None when it does."""
    if testimony.shredded_at is not None or testimony.wrapped_key is None:
        return Exclusion.because(testimony.id, "the testimony has been shredded")
    needed = REQUIRED_SCOPE[kind]
    states = {s.scope: s for s in TestimonyService(scope).consent_state(testimony.id)}
    state = states.get(needed)
    scope_name = needed.value
    if state is None:
        return Exclusion.because(
            testimony.id, "the witness never consented to '%(scope)s'", scope=scope_name
        )
    if not state.active:
        if state.withdrawn_on is None:
            return Exclusion.because(
                testimony.id,
                "consent to '%(scope)s' was withdrawn on an unknown date",
                scope=scope_name,
            )
        return Exclusion.because(
            testimony.id,
            "consent to '%(scope)s' was withdrawn on %(date)s",
            scope=scope_name,
            date=state.withdrawn_on.isoformat(),
        )
    if state.given_on is not None and state.given_on > scope.now().date():
        return Exclusion.because(
            testimony.id,
            "consent to '%(scope)s' only takes effect on %(date)s",
            scope=scope_name,
            date=state.given_on.isoformat(),
        )
    return None


def _check_age_recipient(recipient: str) -> None:
    import pyrage  # only profiles with an age recipient need it

    try:
        pyrage.x25519.Recipient.from_str(recipient)
    except pyrage.RecipientError:
        raise InvalidInputError(
            "The age recipient is not a valid age public key (its checksum does not match).",
            errors=[FieldProblem("age_recipient", "not a valid age public key")],
        ) from None


@dataclass(frozen=True)
class ExportDownload:
    filename: str
    size: int
    sha256: str
    chunks: Iterator[bytes]


class ExportService:
    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self._session: Session = scope.session

    def principal(self) -> Principal:
        if self._scope.principal is None:
            raise AuthenticationError("Sign in first.")
        return self._scope.principal

    # ---- recipient profiles --------------------------------------------------------------

    def create_profile(self, data: RecipientProfileCreate) -> RecipientProfileRead:
        """Raises InvalidInputError when identity is asked for a kind that may never get it,
        or when the age recipient is not a public key age can encrypt to (its checksum is
        checked now, not when the first bag is built)."""
        principal = self.principal()
        require(principal, Permission.RECIPIENT_MANAGE, object_type="recipient_profile")
        if data.include_identity and data.kind not in IDENTITY_KINDS:
            raise InvalidInputError(
                "Recipients of kind '%(kind)s' never receive witness identity.",
                errors=[FieldProblem("include_identity", "not allowed for this kind")],
                kind=data.kind.value,
            )
        if data.age_recipient is not None:
            _check_age_recipient(data.age_recipient)
        if self._session.scalar(
            select(RecipientProfile.id).where(RecipientProfile.name == data.name)
        ):
            raise ConflictError(
                "A recipient profile named '%(name)s' exists.",
                errors=[FieldProblem("name", "already in use")],
                name=data.name,
            )
        fields = data.fields if data.fields is not None else list(DEFAULT_FIELDS[data.kind])
        profile = RecipientProfile(
            name=data.name,
            kind=data.kind.value,
            required_scope=REQUIRED_SCOPE[data.kind].value,
            fields_json=json.dumps(sorted({f.value for f in fields})),
            include_identity=data.include_identity,
            age_recipient=data.age_recipient,
            created_at=self._scope.now(),
            created_by=principal.user_id,
        )
        self._session.add(profile)
        self._session.flush()
        read = profile_read(profile)
        self._scope.custody.append(
            Action.RECIPIENT_PROFILE_CREATE,
            actor=principal,
            object_type="recipient_profile",
            object_id=str(profile.id),
            details={
                "name": profile.name,
                "kind": profile.kind,
                "fields": [f.value for f in read.fields],
                "include_identity": profile.include_identity,
                "age_recipient": profile.age_recipient,
            },
        )
        return read

    def list_profiles(self) -> list[RecipientProfileRead]:
        require(self.principal(), Permission.RECIPIENT_READ, object_type="recipient_profile")
        rows = self._session.scalars(select(RecipientProfile).order_by(RecipientProfile.name))
        return [profile_read(p) for p in rows]

    def managed_profiles(self) -> list[RecipientProfileRead]:
        """The profiles as administrators manage them.

        Raises AccessDeniedError (recorded) for everyone else, investigators included: they
        read profiles (``list_profiles``) only to choose one for an export request.
        """
        require(self.principal(), Permission.RECIPIENT_MANAGE, object_type="recipient_profile")
        rows = self._session.scalars(select(RecipientProfile).order_by(RecipientProfile.name))
        return [profile_read(p) for p in rows]

    def _profile(self, name: str) -> RecipientProfile:
        profile = self._session.scalar(
            select(RecipientProfile).where(RecipientProfile.name == name)
        )
        if profile is None:
            raise NotFoundError(
                "No recipient profile named '%(name)s'.",
                errors=[FieldProblem("profile", "unknown profile")],
                name=name,
            )
        return profile

    # ---- requests ------------------------------------------------------------------------

    def _select(self, data: ExportRequestCreate) -> list[str]:
        """Testimony ids named directly, by case, or by search, in the caller's cases only."""
        principal = self.principal()
        chosen: dict[str, None] = dict.fromkeys(data.testimony_ids)
        mine = assigned_case_ids(self._session, principal)
        for code in data.cases:
            case = self._session.scalar(select(Case).where(Case.code == code))
            if case is None or case.id not in mine:
                raise NotFoundError(
                    "No case with code '%(code)s'.",
                    errors=[FieldProblem("cases", "unknown case")],
                    code=code,
                )
            chosen.update(
                dict.fromkeys(
                    self._session.scalars(
                        select(Testimony.id)
                        .where(Testimony.case_id == case.id, Testimony.shredded_at.is_(None))
                        .order_by(Testimony.created_at, Testimony.id)
                    )
                )
            )
        if data.query:
            from service.search.service import SearchRequest, SearchService

            page = 1
            while len(chosen) <= MAX_SELECTION:
                result = SearchService(self._scope).search(
                    SearchRequest(q=data.query, page=page, per_page=100, snippets=False)
                )
                chosen.update(dict.fromkeys(hit.testimony_id for hit in result.hits))
                if page * 100 >= result.total:
                    break
                page += 1
        if not chosen:
            raise InvalidInputError(
                "Select at least one testimony (by id, case or search query).",
                errors=[FieldProblem("testimony_ids", "nothing selected")],
            )
        if len(chosen) > MAX_SELECTION:
            raise InvalidInputError(
                "An export holds at most %(limit)s testimonies.",
                errors=[FieldProblem("testimony_ids", "too many")],
                limit=MAX_SELECTION,
            )
        return list(chosen)

    def request(self, data: ExportRequestCreate) -> ExportRead:
        """Records a pending export of the selected testimonies that consent allows.

        Raises NotFoundError for a profile, case or testimony the caller cannot see, and
        ConsentRefusedError (recorded) when consent allows none of them.
        """
        principal = self.principal()
        require(principal, Permission.EXPORT_REQUEST, object_type="export")
        profile = self._profile(data.profile)
        kind = RecipientKind(profile.kind)
        testimonies = TestimonyService(self._scope)
        included: list[str] = []
        excluded: list[Exclusion] = []
        for testimony_id in self._select(data):
            testimony = testimonies.load(testimony_id, Permission.TESTIMONY_READ)
            exclusion = consent_exclusion(self._scope, testimony, kind)
            if exclusion is None:
                included.append(testimony.id)
            else:
                excluded.append(exclusion)
        if not included:
            raise ConsentRefusedError(
                "The witnesses' consent allows none of the selected testimonies to go to "
                "'%(name)s' (%(kind)s).",
                errors=[e.as_problem() for e in excluded],
                refusal=RefusalRecord(
                    action=Action.EXPORT_REQUEST.value,
                    object_type="export",
                    object_id=None,
                    details={
                        "profile": profile.name,
                        "reason": "consent",
                        "excluded": [e.model_dump() for e in excluded],
                    },
                ),
                name=profile.name,
                kind=kind.value,
            )
        export = ExportRequest(
            id=str(uuid.uuid4()),
            profile_id=profile.id,
            purpose=data.purpose,
            status=ExportStatus.PENDING.value,
            included_json=json.dumps(included),
            excluded_json=json.dumps([e.model_dump() for e in excluded]),
            requested_by=principal.user_id,
            requested_at=self._scope.now(),
        )
        self._session.add(export)
        self._session.flush()
        self._scope.custody.append(
            Action.EXPORT_REQUEST,
            actor=principal,
            object_type="export",
            object_id=export.id,
            details={
                "profile": profile.name,
                "recipient_kind": kind.value,
                "purpose_sha256": hashlib.sha256(data.purpose.encode("utf-8")).hexdigest(),
                "included": included,
                "excluded": [e.model_dump() for e in excluded],
            },
        )
        return self._read(export)

    def _cases_of(self, export: ExportRequest) -> set[int]:
        ids = json.loads(export.included_json)
        return set(self._session.scalars(select(Testimony.case_id).where(Testimony.id.in_(ids))))

    def _may_see(self, principal: Principal, export: ExportRequest) -> bool:
        """The requester, or an approver assigned to every case the export draws from."""
        if export.requested_by == principal.user_id:
            return True
        if not has_permission(principal, Permission.EXPORT_APPROVE):
            return False
        mine = set(
            self._session.scalars(
                select(CaseMember.case_id).where(CaseMember.user_id == principal.user_id)
            )
        )
        return self._cases_of(export) <= mine

    def load(self, export_id: str, permission: Permission) -> ExportRequest:
        """The export if the caller may act on it; NotFoundError (recorded) otherwise."""
        principal = self.principal()
        require(principal, permission, object_type="export", object_id=export_id)
        export = self._session.get(ExportRequest, export_id)
        if export is None or not self._may_see(principal, export):
            raise NotFoundError(
                "No export with id '%(export_id)s'.",
                refusal=RefusalRecord(
                    action="access.denied",
                    object_type="export",
                    object_id=export_id,
                    details={"permission": permission.value, "reason": "not_visible"},
                )
                if export is not None
                else None,
                export_id=export_id,
            )
        return export

    def get(self, export_id: str) -> ExportRead:
        return self._read(self.load(export_id, Permission.EXPORT_REQUEST))

    def list_exports(self) -> list[ExportRead]:
        """Exports the caller requested, or may approve, newest first."""
        principal = self.principal()
        require(principal, Permission.EXPORT_REQUEST, object_type="export")
        rows = self._session.scalars(
            select(ExportRequest).order_by(ExportRequest.requested_at.desc())
        )
        return [self._read(e) for e in rows if self._may_see(principal, e)]

    # ---- decisions -----------------------------------------------------------------------

    def decide(self, export_id: str, approve: bool, decision: ExportDecision) -> ExportRead:
        """A second investigator approves or rejects; the requester never decides their own."""
        principal = self.principal()
        export = self.load(export_id, Permission.EXPORT_APPROVE)
        action = Action.EXPORT_APPROVE if approve else Action.EXPORT_REJECT
        if export.requested_by == principal.user_id:
            raise AccessDeniedError(
                "An export must be approved or rejected by someone other than its requester.",
                refusal=RefusalRecord(
                    action="access.denied",
                    object_type="export",
                    object_id=export.id,
                    details={
                        "permission": Permission.EXPORT_APPROVE.value,
                        "reason": "own_request",
                    },
                ),
            )
        if export.status != ExportStatus.PENDING.value:
            raise ConflictError(
                "The export is already %(status)s; it cannot be decided again.",
                status=export.status,
            )
        export.status = (ExportStatus.APPROVED if approve else ExportStatus.REJECTED).value
        export.decided_by = principal.user_id
        export.decided_at = self._scope.now()
        export.decision_note = decision.note
        self._session.flush()
        self._scope.custody.append(
            action,
            actor=principal,
            object_type="export",
            object_id=export.id,
            details={"requested_by": self._username(export.requested_by)},
        )
        return self._read(export)

    # ---- build, download, purge ----------------------------------------------------------

    def build(self, export_id: str) -> ExportRead:
        """Builds the signed bag of an approved export; see ``service.export.build``."""
        from service.export.build import build_bag

        principal = self.principal()
        export = self.load(export_id, Permission.EXPORT_REQUEST)
        if principal.user_id not in {export.requested_by, export.decided_by}:
            raise NotFoundError("No export with id '%(export_id)s'.", export_id=export_id)
        if export.status != ExportStatus.APPROVED.value:
            raise ConflictError(
                "The export is %(status)s; only an approved export can be built.",
                status=export.status,
            )
        profile = self._session.get_one(RecipientProfile, export.profile_id)
        build_bag(self._scope, export, profile, self._usernames(export))
        return self._read(export)

    def download(self, export_id: str) -> ExportDownload:
        """Streams the built bag (a tar) to its requester or approver, until it expires.

        An expired bag is deleted on this access and the download refused (recorded).
        """
        principal = self.principal()
        export = self.load(export_id, Permission.EXPORT_REQUEST)
        if principal.user_id not in {export.requested_by, export.decided_by}:
            raise NotFoundError("No export with id '%(export_id)s'.", export_id=export_id)
        if export.status != ExportStatus.BUILT.value:
            raise ConflictError(
                "The export is %(status)s; there is no bag to download.", status=export.status
            )
        assert export.expires_at is not None
        if export.expires_at <= self._scope.now():
            store = bag_store(self._scope)
            moment = self._scope.now()

            def purge(session: Session) -> None:
                row = session.get_one(ExportRequest, export_id)
                _mark_purged(row, moment)
                store.delete(export_id)

            raise ConflictError(
                "The export's bag has expired and was deleted; build a new export.",
                refusal=RefusalRecord(
                    action=Action.EXPORT_PURGE.value,
                    object_type="export",
                    object_id=export.id,
                    details={"reason": "expired_on_access"},
                    denied=False,
                    on_record=purge,
                ),
            )
        age = bool(json.loads(export.built_json or "{}").get("age"))
        data_key = None if age else self._bag_key(export)
        self._scope.custody.append(
            Action.EXPORT_DOWNLOAD,
            actor=principal,
            object_type="export",
            object_id=export.id,
            object_sha256=export.bag_sha256,
            details={"bag_size": export.bag_size},
        )
        store = bag_store(self._scope)
        aad = bag_key_context(export.id)

        def chunks() -> Iterator[bytes]:
            with store.reader(export_id) as handle:
                if data_key is None:
                    while block := handle.read(1 << 16):
                        yield block
                else:
                    yield from iter_decrypt(data_key, handle, aad)

        return ExportDownload(
            filename=f"custodia-export-{export.id}.tar" + (".age" if age else ""),
            size=export.bag_size or 0,
            sha256=export.bag_sha256 or "",
            chunks=chunks(),
        )

    def _bag_key(self, export: ExportRequest) -> bytes:
        if export.bag_wrapped_key is None or export.bag_kek_version is None:
            raise IntegrityCheckError(
                "The bag key of export %(id)s is missing.",
                object_type="export",
                object_id=export.id,
                id=export.id,
            )
        try:
            return self._scope.runtime.envelope.unwrap(
                KeyPurpose.CONTENT,
                export.bag_kek_version,
                export.bag_wrapped_key,
                bag_key_context(export.id),
            )
        except CryptoError as error:
            raise IntegrityCheckError(
                str(error), object_type="export", object_id=export.id
            ) from None

    def purge_expired(self) -> list[str]:
        """Deletes every expired bag (after commit) and records each deletion."""
        principal = self.principal()
        require(principal, Permission.EXPORT_PURGE, object_type="export")
        now = self._scope.now()
        store = bag_store(self._scope)
        purged = []
        for export in self._session.scalars(
            select(ExportRequest).where(
                ExportRequest.status == ExportStatus.BUILT.value,
                ExportRequest.expires_at <= now,
            )
        ):
            _mark_purged(export, now)
            self._scope.custody.append(
                Action.EXPORT_PURGE,
                actor=principal,
                object_type="export",
                object_id=export.id,
                details={"reason": "expired"},
            )
            purged.append(export.id)
            self._scope.after_commit(functools.partial(store.delete, export.id))
        self._session.flush()
        return purged

    # ---- read models ---------------------------------------------------------------------

    def _username(self, user_id: int | None) -> str | None:
        if user_id is None:
            return None
        return self._session.get_one(User, user_id).username

    def _usernames(self, export: ExportRequest) -> dict[str, str | None]:
        return {
            "requester": self._username(export.requested_by),
            "approver": self._username(export.decided_by),
        }

    def _read(self, export: ExportRequest) -> ExportRead:
        profile = self._session.get_one(RecipientProfile, export.profile_id)
        built = json.loads(export.built_json) if export.built_json else None
        return ExportRead(
            id=export.id,
            status=ExportStatus(export.status),
            profile=profile.name,
            recipient_kind=RecipientKind(profile.kind),
            purpose=export.purpose,
            requested_by=self._username(export.requested_by) or "?",
            requested_at=export.requested_at,
            decided_by=self._username(export.decided_by),
            decided_at=export.decided_at,
            decision_note=export.decision_note,
            included=json.loads(export.included_json),
            excluded=[Exclusion(**e) for e in json.loads(export.excluded_json)],
            built_at=export.built_at,
            built_included=built["included"] if built else None,
            built_excluded=[Exclusion(**e) for e in built["excluded"]] if built else None,
            bag_size=export.bag_size,
            bag_sha256=export.bag_sha256,
            encrypted_to_recipient=bool(built and built.get("age")),
            expires_at=export.expires_at,
        )


def _mark_purged(export: ExportRequest, moment: datetime) -> None:
    export.status = ExportStatus.PURGED.value
    export.purged_at = moment
    export.bag_wrapped_key = None


def expiry(moment: datetime, hours: int) -> datetime:
    return moment + timedelta(hours=hours)
