"""Users and cases: the administrative side of Custodia (sign-in: auth.py; keys: keys.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update

from service.access.auth import require_principal
from service.access.models import AuthSession, Case, CaseMember, User
from service.access.passwords import (
    check_password_rules,
    generate_password,
    hash_password,
)
from service.access.policy import Permission, require
from service.access.schemas import (
    CaseCreate,
    CaseRead,
    OwnAccountRead,
    UserCreate,
    UserCreated,
    UserRead,
    UserUpdate,
)
from service.context import Principal, Role
from service.custody.actions import Action
from service.errors import (
    AuthenticationError,
    ConflictError,
    FieldProblem,
    InvalidInputError,
    NotFoundError,
)
from service.runtime import Scope

CASE_ROLES = frozenset({Role.OFFICER, Role.INVESTIGATOR})
"""The roles that are assigned to cases; the others see no case content."""

LANGUAGES = ("ko", "en")
"""The interface languages a user may choose (the web interface ships a catalogue for each)."""


def supported_language(language: str) -> str:
    """The language code as stored; raises InvalidInputError for one Custodia does not offer."""
    code = language.strip().lower()
    if code not in LANGUAGES:
        raise InvalidInputError(
            "Choose one of the offered languages: %(languages)s.",
            errors=[FieldProblem("language", "not an offered language")],
            languages=", ".join(LANGUAGES),
        )
    return code


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


class UserService:
    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self._session = scope.session

    def create(self, data: UserCreate) -> UserCreated:
        principal = require_principal(self._scope)
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
                "The username '%(username)s' is taken.",
                errors=[FieldProblem("username", "already taken")],
                username=data.username,
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
        principal = require_principal(self._scope)
        require(principal, Permission.USER_MANAGE, object_type="user")
        now = self._scope.now()
        users = self._session.scalars(select(User).order_by(User.username))
        return [_user_read(u, now) for u in users]

    def _get(self, username: str) -> User:
        user = self._session.scalar(select(User).where(User.username == username))
        if user is None:
            raise NotFoundError("No user named '%(username)s'.", username=username)
        return user

    def set_disabled(self, username: str, disabled: bool) -> UserRead:
        """Disabling also revokes every open session of the user at once."""
        principal = require_principal(self._scope)
        require(principal, Permission.USER_MANAGE, object_type="user")
        user = self._get(username)
        if user.id == principal.user_id and disabled:
            raise ConflictError("Administrators cannot disable their own account.")
        now = self._scope.now()
        user.disabled = disabled
        if disabled:
            self._revoke_sessions(user, now)
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

    def update(self, username: str, data: UserUpdate) -> UserRead:
        """Gives the account another role, effective at once; its open sessions end.

        An administrator cannot change their own role, so some administrator always
        remains (they cannot disable themselves either). Case assignments are dropped
        when the new role has no case access, so a later role change cannot silently
        bring old cases back. Raises NotFoundError for an unknown user and
        ConflictError for the caller's own account; an unchanged role records nothing.
        """
        principal = require_principal(self._scope)
        require(principal, Permission.USER_MANAGE, object_type="user")
        user = self._get(username)
        now = self._scope.now()
        if user.id == principal.user_id:
            raise ConflictError(
                "Administrators cannot change their own role; another administrator can.",
                errors=[FieldProblem("role", "own account")],
            )
        old = Role(user.role)
        if data.role is old:
            return _user_read(user, now)
        removed: list[int] = []
        if data.role not in CASE_ROLES:
            removed = list(
                self._session.scalars(
                    select(CaseMember.case_id)
                    .where(CaseMember.user_id == user.id)
                    .order_by(CaseMember.case_id)
                )
            )
            self._session.execute(delete(CaseMember).where(CaseMember.user_id == user.id))
        user.role = data.role.value
        self._revoke_sessions(user, now)
        self._session.flush()
        self._scope.custody.append(
            Action.USER_ROLE_CHANGE,
            actor=principal,
            object_type="user",
            object_id=str(user.id),
            details={"from": old.value, "to": data.role.value, "cases_removed": removed},
        )
        return _user_read(user, now)

    def unlock(self, username: str) -> UserRead:
        """Clears a lock-out after failed sign-ins, and the failures counted so far.

        The password is unchanged: whoever knows it may sign in at once. An account with
        nothing to clear is left as it is and nothing is recorded. Raises NotFoundError
        for an unknown user.
        """
        principal = require_principal(self._scope)
        require(principal, Permission.USER_MANAGE, object_type="user")
        user = self._get(username)
        now = self._scope.now()
        if user.failed_logins == 0 and user.locked_until is None:
            return _user_read(user, now)
        was_locked = user.locked_until is not None and user.locked_until > now
        failures = user.failed_logins
        user.failed_logins = 0
        user.locked_until = None
        user.last_failed_login_at = None
        self._scope.custody.append(
            Action.USER_UNLOCK,
            actor=principal,
            object_type="user",
            object_id=str(user.id),
            details={"was_locked": was_locked, "failed_logins": failures},
        )
        return _user_read(user, now)

    def set_own_language(self, language: str) -> str:
        """Stores the caller's interface language on their own account; returns the code.

        Any signed-in role may do it, and only for their own account. It is not a custody
        event: a display preference reveals and changes no testimony, identity, coding or
        permission, so it is neither an access to the record nor a change to it, and events
        for it would only add noise to the log a court has to read. Raises
        AuthenticationError without a principal and InvalidInputError (nothing stored) for
        a language that is not offered.
        """
        principal = require_principal(self._scope)
        code = supported_language(language)
        self._own_account(principal).language = code
        self._session.flush()
        return code

    def own_language(self) -> str | None:
        """The caller's stored interface language, or None if they have not chosen one."""
        return self._own_account(require_principal(self._scope)).language

    def own_account(self) -> OwnAccountRead:
        """The caller's own account, whatever their role (no permission beyond signing in)."""
        user = self._own_account(require_principal(self._scope))
        return OwnAccountRead(
            username=user.username,
            display_name=user.display_name,
            role=Role(user.role),
            language=user.language,
        )

    def _own_account(self, principal: Principal) -> User:
        user = self._session.get(User, principal.user_id)
        if user is None:
            raise AuthenticationError("The account no longer exists. Sign in again.")
        return user

    def _revoke_sessions(self, user: User, now: datetime) -> None:
        self._session.execute(
            update(AuthSession)
            .where(AuthSession.user_id == user.id, AuthSession.revoked_at.is_(None))
            .values(revoked_at=now)
        )


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
        principal = require_principal(self._scope)
        require(principal, Permission.CASE_MANAGE, object_type="case")
        if self._session.scalar(select(Case.id).where(Case.code == data.code)):
            raise ConflictError(
                "A case with code '%(code)s' exists.",
                errors=[FieldProblem("code", "already exists")],
                code=data.code,
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
            raise NotFoundError("No case with code '%(code)s'.", code=code)
        return case

    def set_assignment(self, code: str, username: str, assigned: bool) -> CaseRead:
        principal = require_principal(self._scope)
        require(principal, Permission.CASE_MANAGE, object_type="case")
        case = self.by_code(code)
        user = self._session.scalar(select(User).where(User.username == username))
        if user is None:
            raise InvalidInputError(
                "No user named '%(username)s'.",
                errors=[FieldProblem("username", "unknown user")],
                username=username,
            )
        if Role(user.role) not in CASE_ROLES:
            raise InvalidInputError(
                "Only officers and investigators are assigned to cases.",
                errors=[
                    FieldProblem(
                        "username", "role %(role)s has no case access", {"role": user.role}
                    )
                ],
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
        principal = require_principal(self._scope)
        query = select(Case).order_by(Case.code)
        if principal.role is not Role.ADMIN:
            require(principal, Permission.CASE_LIST_OWN, object_type="case")
            query = query.join(CaseMember, CaseMember.case_id == Case.id).where(
                CaseMember.user_id == principal.user_id
            )
        return [self._read(c) for c in self._session.scalars(query)]
