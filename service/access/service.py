"""Authentication, users, cases and keys: the administrative side of Custodia."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.access.models import AuthSession, Case, CaseMember, User
from service.access.passwords import (
    check_password_rules,
    generate_password,
    hash_password,
    verify_password,
)
from service.access.policy import Permission, require
from service.access.schemas import (
    CaseCreate,
    CaseRead,
    KeyVersionRead,
    LoginResult,
    UserCreate,
    UserCreated,
    UserRead,
)
from service.context import Principal, Role
from service.crypto.interfaces import KeyPurpose
from service.custody.actions import Action
from service.errors import (
    AuthenticationError,
    ConflictError,
    FieldProblem,
    InvalidInputError,
    LoginThrottledError,
    NotFoundError,
    RefusalRecord,
)
from service.runtime import Scope


class _WrappedKeyRow(Protocol):
    kek_version: int
    wrapped_key: bytes | None


INVALID_CREDENTIALS = "The username or password is incorrect, or the account is disabled."


def _require_principal(scope: Scope) -> Principal:
    if scope.principal is None:
        raise AuthenticationError("Sign in first.")
    return scope.principal


def _user_read(user: User, now: datetime) -> UserRead:
    return UserRead(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=Role(user.role),
        disabled=user.disabled,
        locked=user.locked_until is not None and user.locked_until > now,
        created_at=user.created_at,
    )


class AuthService:
    """Password sign-in with slow-down and lock-out, and opaque bearer tokens."""

    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self._session = scope.session
        self._settings = scope.runtime.settings

    def _token_hash(self, token: str) -> str:
        pepper = self._scope.runtime.keyring.token_pepper()
        return hmac.new(pepper, token.encode("utf-8"), hashlib.sha256).hexdigest()

    def _throttle(self, user: User, now: datetime) -> None:
        if user.locked_until is not None and user.locked_until > now:
            wait = int((user.locked_until - now).total_seconds()) + 1
            raise LoginThrottledError(
                "The account is locked after repeated failed sign-ins. Try again later "
                "or ask an administrator to unlock it.",
                retry_after_seconds=wait,
                refusal=RefusalRecord(
                    Action.LOGIN_FAILED.value,
                    "user",
                    str(user.id),
                    {"reason": "locked"},
                    actor_name=user.username,
                ),
            )
        excess = user.failed_logins - self._settings.login_slowdown_after + 1
        if excess > 0 and user.last_failed_login_at is not None:
            delay = timedelta(seconds=min(2 ** (excess - 1), 300))
            ready = user.last_failed_login_at + delay
            if ready > now:
                raise LoginThrottledError(
                    "Too many failed sign-ins: wait before trying again.",
                    retry_after_seconds=int((ready - now).total_seconds()) + 1,
                    refusal=RefusalRecord(
                        Action.LOGIN_FAILED.value,
                        "user",
                        str(user.id),
                        {"reason": "throttled"},
                        actor_name=user.username,
                    ),
                )

    def login(self, username: str, password: str) -> LoginResult:
        """Raises AuthenticationError (same message for every cause) or LoginThrottledError."""
        now = self._scope.now()
        user = self._session.scalar(select(User).where(User.username == username.strip()))
        if user is not None:
            self._throttle(user, now)
        valid = verify_password(user.password_hash if user else None, password)
        if user is None or not valid or user.disabled:
            raise AuthenticationError(
                INVALID_CREDENTIALS, refusal=self._failure_record(user, now, valid)
            )
        user.failed_logins = 0
        user.last_failed_login_at = None
        user.locked_until = None
        token = secrets.token_urlsafe(32)
        expires = now + timedelta(minutes=self._settings.token_ttl_minutes)
        auth = AuthSession(
            user_id=user.id,
            token_hash=self._token_hash(token),
            channel=self._scope.context.channel.value,
            created_at=now,
            last_used_at=now,
            expires_at=expires,
        )
        self._session.add(auth)
        self._session.flush()
        principal = Principal(user.id, user.username, Role(user.role), auth.id)
        self._scope.custody.append(
            Action.LOGIN, actor=principal, object_type="session", object_id=str(auth.id)
        )
        return LoginResult(
            access_token=token, expires_at=expires, username=user.username, role=principal.role
        )

    def _failure_record(self, user: User | None, now: datetime, valid: bool) -> RefusalRecord:
        if user is None:
            # The attempted name is not recorded: people type passwords into it by mistake.
            return RefusalRecord(
                Action.LOGIN_FAILED.value, "user", None, {"reason": "unknown_user"}, False
            )
        user_id = user.id
        lock_after = self._settings.login_lock_after
        lock_for = timedelta(minutes=self._settings.login_lock_minutes)

        def count_failure(session: Session) -> None:
            row = session.get(User, user_id)
            if row is None:
                return
            row.failed_logins += 1
            row.last_failed_login_at = now
            if row.failed_logins >= lock_after:
                row.locked_until = now + lock_for

        reason = "disabled" if user.disabled and valid else "bad_password"
        return RefusalRecord(
            Action.LOGIN_FAILED.value,
            "user",
            str(user.id),
            {"reason": reason},
            False,
            user.username,
            count_failure if reason == "bad_password" else None,
        )

    def authenticate(self, token: str) -> Principal:
        """Resolve a bearer token; raises AuthenticationError for unknown, expired or revoked."""
        now = self._scope.now()
        row = self._session.execute(
            select(AuthSession, User)
            .join(User, User.id == AuthSession.user_id)
            .where(AuthSession.token_hash == self._token_hash(token))
        ).one_or_none()
        idle = timedelta(minutes=self._settings.token_idle_minutes)
        if (
            row is None
            or row.AuthSession.revoked_at is not None
            or row.AuthSession.expires_at <= now
            or row.AuthSession.last_used_at + idle <= now
            or row.User.disabled
        ):
            raise AuthenticationError(
                "The access token is missing, expired or revoked. Sign in again.",
                refusal=RefusalRecord(
                    Action.TOKEN_REJECTED.value,
                    "session",
                    str(row.AuthSession.id) if row else None,
                    {},
                    False,
                ),
            )
        if now - row.AuthSession.last_used_at > timedelta(seconds=60):
            row.AuthSession.last_used_at = now
        return Principal(row.User.id, row.User.username, Role(row.User.role), row.AuthSession.id)

    def logout(self) -> None:
        principal = _require_principal(self._scope)
        auth = self._session.get(AuthSession, principal.session_id)
        if auth is None or auth.revoked_at is not None:
            raise AuthenticationError("The session has already ended.")
        auth.revoked_at = self._scope.now()
        self._scope.custody.append(
            Action.LOGOUT, actor=principal, object_type="session", object_id=str(auth.id)
        )

    def verify_cli_password(self, username: str, password: str) -> Principal:
        """CLI commands run as a named user, checked like a sign-in but without a token."""
        result = self.login(username, password)
        auth = self._session.scalar(
            select(AuthSession).where(
                AuthSession.token_hash == self._token_hash(result.access_token)
            )
        )
        assert auth is not None
        auth.revoked_at = self._scope.now()  # one command, one session
        user_id = auth.user_id
        return Principal(user_id, result.username, result.role, auth.id)

    def check_credentials_without_recording(self, username: str, password: str) -> Principal:
        """Verify a password without writing anything, for verifying a log that can no
        longer take events. Refuses exactly what a sign-in refuses; records nothing."""
        now = self._scope.now()
        user = self._session.scalar(select(User).where(User.username == username.strip()))
        if user is not None:
            self._throttle(user, now)
        valid = verify_password(user.password_hash if user else None, password)
        if user is None or not valid or user.disabled:
            raise AuthenticationError(INVALID_CREDENTIALS)
        return Principal(user.id, user.username, Role(user.role))


class UserService:
    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self._session = scope.session

    def create(self, data: UserCreate) -> UserCreated:
        principal = _require_principal(self._scope)
        require(principal, Permission.USER_MANAGE, object_type="user")
        return self._create(data, principal)

    def bootstrap_admin(self, username: str, password: str | None) -> UserCreated:
        """The first administrator, created by ``init``; refused once any user exists."""
        if self._session.scalar(select(User.id).limit(1)) is not None:
            raise ConflictError("Custodia is already initialised: users exist.")
        data = UserCreate(
            username=username, display_name=username, role=Role.ADMIN, password=password
        )
        return self._create(data, None)

    def _create(self, data: UserCreate, actor: Principal | None) -> UserCreated:
        if self._session.scalar(select(User.id).where(User.username == data.username)):
            raise ConflictError(
                f"The username '{data.username}' is taken.",
                errors=[FieldProblem("username", "already taken")],
            )
        one_time = None
        password = data.password
        if password is None:
            password = one_time = generate_password()
        check_password_rules(password)
        now = self._scope.now()
        user = User(
            username=data.username,
            display_name=data.display_name,
            role=data.role.value,
            password_hash=hash_password(password),
            disabled=False,
            failed_logins=0,
            created_at=now,
        )
        self._session.add(user)
        self._session.flush()
        self._scope.custody.append(
            Action.USER_CREATE,
            actor=actor,
            object_type="user",
            object_id=str(user.id),
            details={"username": user.username, "role": user.role},
            actor_name=None if actor else "init",
        )
        return UserCreated(user=_user_read(user, now), one_time_password=one_time)

    def list(self) -> list[UserRead]:
        principal = _require_principal(self._scope)
        require(principal, Permission.USER_MANAGE, object_type="user")
        now = self._scope.now()
        users = self._session.scalars(select(User).order_by(User.username))
        return [_user_read(u, now) for u in users]

    def _get(self, username: str) -> User:
        user = self._session.scalar(select(User).where(User.username == username))
        if user is None:
            raise NotFoundError(f"No user named '{username}'.")
        return user

    def set_disabled(self, username: str, disabled: bool) -> UserRead:
        """Disabling also revokes every open session of the user at once."""
        principal = _require_principal(self._scope)
        require(principal, Permission.USER_MANAGE, object_type="user")
        user = self._get(username)
        if user.id == principal.user_id and disabled:
            raise ConflictError("Administrators cannot disable their own account.")
        now = self._scope.now()
        user.disabled = disabled
        if disabled:
            self._session.execute(
                update(AuthSession)
                .where(AuthSession.user_id == user.id, AuthSession.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        else:
            user.failed_logins = 0
            user.locked_until = None
        self._scope.custody.append(
            Action.USER_DISABLE if disabled else Action.USER_ENABLE,
            actor=principal,
            object_type="user",
            object_id=str(user.id),
        )
        return _user_read(user, now)


class CaseService:
    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self._session = scope.session

    def _read(self, case: Case) -> CaseRead:
        members = self._session.scalars(
            select(User.username)
            .join(CaseMember, CaseMember.user_id == User.id)
            .where(CaseMember.case_id == case.id)
            .order_by(User.username)
        )
        return CaseRead(
            id=case.id,
            code=case.code,
            title=case.title,
            members=list(members),
            created_at=case.created_at,
        )

    def create(self, data: CaseCreate) -> CaseRead:
        principal = _require_principal(self._scope)
        require(principal, Permission.CASE_MANAGE, object_type="case")
        if self._session.scalar(select(Case.id).where(Case.code == data.code)):
            raise ConflictError(
                f"A case with code '{data.code}' exists.",
                errors=[FieldProblem("code", "already exists")],
            )
        case = Case(
            code=data.code,
            title=data.title,
            created_at=self._scope.now(),
            created_by=principal.user_id,
        )
        self._session.add(case)
        self._session.flush()
        self._scope.custody.append(
            Action.CASE_CREATE,
            actor=principal,
            object_type="case",
            object_id=str(case.id),
            details={"code": case.code},
        )
        return self._read(case)

    def by_code(self, code: str) -> Case:
        case = self._session.scalar(select(Case).where(Case.code == code))
        if case is None:
            raise NotFoundError(f"No case with code '{code}'.")
        return case

    def set_assignment(self, code: str, username: str, assigned: bool) -> CaseRead:
        principal = _require_principal(self._scope)
        require(principal, Permission.CASE_MANAGE, object_type="case")
        case = self.by_code(code)
        user = self._session.scalar(select(User).where(User.username == username))
        if user is None:
            raise InvalidInputError(
                f"No user named '{username}'.", errors=[FieldProblem("username", "unknown user")]
            )
        if Role(user.role) not in (Role.OFFICER, Role.INVESTIGATOR):
            raise InvalidInputError(
                "Only officers and investigators are assigned to cases.",
                errors=[FieldProblem("username", f"role {user.role} has no case access")],
            )
        member = self._session.get(CaseMember, (case.id, user.id))
        if assigned and member is None:
            self._session.add(
                CaseMember(
                    case_id=case.id,
                    user_id=user.id,
                    assigned_at=self._scope.now(),
                    assigned_by=principal.user_id,
                )
            )
        elif not assigned and member is not None:
            self._session.delete(member)
        else:
            return self._read(case)
        self._session.flush()
        self._scope.custody.append(
            Action.CASE_ASSIGN if assigned else Action.CASE_UNASSIGN,
            actor=principal,
            object_type="case",
            object_id=str(case.id),
            details={"user_id": user.id},
        )
        return self._read(case)

    def list(self) -> list[CaseRead]:
        """Administrators see every case; officers and investigators their own."""
        principal = _require_principal(self._scope)
        query = select(Case).order_by(Case.code)
        if principal.role is not Role.ADMIN:
            require(principal, Permission.CASE_LIST_OWN, object_type="case")
            query = query.join(CaseMember, CaseMember.case_id == Case.id).where(
                CaseMember.user_id == principal.user_id
            )
        return [self._read(c) for c in self._session.scalars(query)]


class KeyService:
    def __init__(self, scope: Scope) -> None:
        self._scope = scope

    def status(self) -> list[KeyVersionRead]:
        principal = _require_principal(self._scope)
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
        principal = _require_principal(self._scope)
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
        for row, context in rows:
            assert row.wrapped_key is not None
            row.kek_version, row.wrapped_key = envelope.rewrap(
                purpose, row.kek_version, row.wrapped_key, context
            )
        return new_version

    def _wrapped_keys(self, purpose: KeyPurpose) -> Iterator[tuple[_WrappedKeyRow, bytes]]:
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
                yield identity, identity_key_context(identity.witness_id)
            return
        for testimony in session.scalars(
            select(Testimony).where(Testimony.wrapped_key.is_not(None))
        ):
            yield testimony, testimony_key_context(testimony.id)
        for attachment in session.scalars(
            select(Attachment).where(Attachment.wrapped_key.is_not(None))
        ):
            yield attachment, attachment_key_context(attachment.id)
