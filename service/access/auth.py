"""Password sign-in with slow-down and lock-out, and opaque bearer tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from service.access.models import AuthSession, LoginThrottle, User
from service.access.passwords import verify_password
from service.access.schemas import LoginResult
from service.context import Principal, Role
from service.custody.actions import Action
from service.errors import AuthenticationError, LoginThrottledError, RefusalRecord
from service.runtime import Scope

INVALID_CREDENTIALS = "The username or password is incorrect, or the account is disabled."


class FailureCounter(Protocol):
    """What throttling reads: a user's own counters, or those of an unknown name."""

    failed_logins: int
    last_failed_login_at: datetime | None
    locked_until: datetime | None


def require_principal(scope: Scope) -> Principal:
    if scope.principal is None:
        raise AuthenticationError("Sign in first.")
    return scope.principal


class AuthService:
    """Password sign-in with slow-down and lock-out, and opaque bearer tokens."""

    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self._session = scope.session
        self._settings = scope.runtime.settings

    def _token_hash(self, token: str) -> str:
        pepper = self._scope.runtime.keyring.token_pepper()
        return hmac.new(pepper, token.encode("utf-8"), hashlib.sha256).hexdigest()

    def _name_hash(self, username: str) -> str:
        pepper = self._scope.runtime.keyring.token_pepper()
        name = b"login-name\x00" + username.strip().casefold().encode("utf-8")
        return hmac.new(pepper, name, hashlib.sha256).hexdigest()

    def _counter(self, user: User | None, username: str) -> FailureCounter | None:
        """The counters that throttle this attempt: the user's, or the unknown name's."""
        if user is not None:
            return user
        return self._session.get(LoginThrottle, self._name_hash(username))

    def _throttle(self, user: User | None, username: str, now: datetime) -> None:
        """Raises LoginThrottledError, worded the same whether or not the account exists."""
        counter = self._counter(user, username)
        if counter is None:
            return
        object_id = str(user.id) if user is not None else None
        actor_name = user.username if user is not None else None
        if counter.locked_until is not None and counter.locked_until > now:
            wait = int((counter.locked_until - now).total_seconds()) + 1
            raise LoginThrottledError(
                "The account is locked after repeated failed sign-ins. Try again later "
                "or ask an administrator to unlock it.",
                retry_after_seconds=wait,
                refusal=RefusalRecord(
                    Action.LOGIN_FAILED.value,
                    "user",
                    object_id,
                    {"reason": "locked"},
                    actor_name=actor_name,
                ),
            )
        excess = counter.failed_logins - self._settings.login_slowdown_after + 1
        if excess > 0 and counter.last_failed_login_at is not None:
            delay = timedelta(seconds=min(2 ** (excess - 1), 300))
            ready = counter.last_failed_login_at + delay
            if ready > now:
                raise LoginThrottledError(
                    "Too many failed sign-ins: wait before trying again.",
                    retry_after_seconds=int((ready - now).total_seconds()) + 1,
                    refusal=RefusalRecord(
                        Action.LOGIN_FAILED.value,
                        "user",
                        object_id,
                        {"reason": "throttled"},
                        actor_name=actor_name,
                    ),
                )

    def login(self, username: str, password: str) -> LoginResult:
        """Raises AuthenticationError (same message for every cause) or LoginThrottledError."""
        now = self._scope.now()
        user = self._session.scalar(select(User).where(User.username == username.strip()))
        self._throttle(user, username, now)
        valid = verify_password(user.password_hash if user else None, password)
        if user is None or not valid or user.disabled:
            raise AuthenticationError(
                INVALID_CREDENTIALS, refusal=self._failure_record(user, username, now, valid)
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
        principal = Principal(user.id, user.username, Role(user.role), auth.id, user.language)
        self._scope.custody.append(
            Action.LOGIN, actor=principal, object_type="session", object_id=str(auth.id)
        )
        return LoginResult(
            access_token=token, expires_at=expires, username=user.username, role=principal.role
        )

    def _failures_kept_for(self) -> timedelta:
        """How long failed sign-ins count: a day, or the lock time if that is longer."""
        return max(timedelta(days=1), timedelta(minutes=self._settings.login_lock_minutes))

    def _forgotten(self, counter: FailureCounter, now: datetime) -> bool:
        last = counter.last_failed_login_at
        locked = counter.locked_until is not None and counter.locked_until > now
        return last is not None and last < now - self._failures_kept_for() and not locked

    def _prune_unknown_name_counters(self, session: Session, now: datetime) -> None:
        """Deletes unknown-name counters whose failures are forgotten.

        Every mistyped or sprayed name leaves a row; without pruning the table would grow
        with each guess an attacker makes. Accounts forget old failures by the same rule
        (``_forgotten``), so a name that was pruned and an account whose failures were
        forgotten answer alike and pruning reveals no account.
        """
        session.execute(
            delete(LoginThrottle).where(
                LoginThrottle.last_failed_login_at < now - self._failures_kept_for(),
                or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until <= now),
            )
        )

    def _failure_record(
        self, user: User | None, username: str, now: datetime, valid: bool
    ) -> RefusalRecord:
        lock_after = self._settings.login_lock_after
        lock_for = timedelta(minutes=self._settings.login_lock_minutes)

        def count(row: FailureCounter) -> None:
            if self._forgotten(row, now):
                row.failed_logins = 0  # as a pruned unknown name starts again from zero
            row.failed_logins += 1
            row.last_failed_login_at = now
            if row.failed_logins >= lock_after:
                row.locked_until = now + lock_for

        if user is None:
            name_hash = self._name_hash(username)

            def count_unknown(session: Session) -> None:
                self._prune_unknown_name_counters(session, now)
                row = session.get(LoginThrottle, name_hash)
                if row is None:
                    row = LoginThrottle(name_hash=name_hash, failed_logins=0)
                    session.add(row)
                count(row)

            # The attempted name is not recorded: people type passwords into it by mistake.
            return RefusalRecord(
                Action.LOGIN_FAILED.value,
                "user",
                None,
                {"reason": "unknown_user"},
                False,
                on_record=count_unknown,
            )
        user_id = user.id

        def count_failure(session: Session) -> None:
            row = session.get(User, user_id)
            if row is not None:
                count(row)

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
        user = row.User
        return Principal(user.id, user.username, Role(user.role), row.AuthSession.id, user.language)

    def logout(self) -> None:
        principal = require_principal(self._scope)
        auth = self._session.get(AuthSession, principal.session_id)
        if auth is None or auth.revoked_at is not None:
            raise AuthenticationError("The session has already ended.")
        auth.revoked_at = self._scope.now()
        self._scope.custody.append(
            Action.LOGOUT, actor=principal, object_type="session", object_id=str(auth.id)
        )

    def logout_everywhere(self) -> int:
        """End every open session of the caller (web and API alike); returns how many."""
        principal = require_principal(self._scope)
        now = self._scope.now()
        open_sessions = list(
            self._session.scalars(
                select(AuthSession).where(
                    AuthSession.user_id == principal.user_id, AuthSession.revoked_at.is_(None)
                )
            )
        )
        for auth in open_sessions:
            auth.revoked_at = now
        self._scope.custody.append(
            Action.LOGOUT,
            actor=principal,
            object_type="user",
            object_id=str(principal.user_id),
            details={"everywhere": True, "sessions": len(open_sessions)},
        )
        return len(open_sessions)

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
        self._throttle(user, username, now)
        valid = verify_password(user.password_hash if user else None, password)
        if user is None or not valid or user.disabled:
            raise AuthenticationError(INVALID_CREDENTIALS)
        return Principal(user.id, user.username, Role(user.role))
