"""HTTP routes for sign-in, users, cases and keys."""

from __future__ import annotations

from fastapi import APIRouter, Response

from service.access.auth import AuthService
from service.access.keys import KeyService
from service.access.schemas import (
    CaseAssignment,
    CaseCreate,
    CaseRead,
    KeyVersionRead,
    LoginRequest,
    LoginResult,
    OwnAccountRead,
    OwnAccountUpdate,
    UserCreate,
    UserCreated,
    UserRead,
    UserUpdate,
)
from service.access.service import CaseService, UserService
from service.crypto.interfaces import KeyPurpose
from service.deps import AnonymousCallerDep, CallerDep
from service.runtime import Scope

public_router = APIRouter(prefix="/auth", tags=["auth"])
router = APIRouter(tags=["administration"])


@public_router.post("/login")
def login(body: LoginRequest, caller: AnonymousCallerDep) -> LoginResult:
    return caller.run(lambda s: AuthService(s).login(body.username, body.password))


@router.post("/auth/logout", status_code=204, tags=["auth"])
def logout(caller: CallerDep) -> Response:
    caller.run(lambda s: AuthService(s).logout())
    return Response(status_code=204)


@router.get("/me", tags=["auth"])
def own_account(caller: CallerDep) -> OwnAccountRead:
    return caller.run(lambda s: UserService(s).own_account())


@router.patch("/me", tags=["auth"])
def update_own_account(body: OwnAccountUpdate, caller: CallerDep) -> OwnAccountRead:
    """Sets the caller's interface language (``ko`` or ``en``), as the web's language menu does."""

    def change(scope: Scope) -> OwnAccountRead:
        service = UserService(scope)
        service.set_own_language(body.language)
        return service.own_account()

    return caller.run(change)


@router.get("/users")
def list_users(caller: CallerDep) -> list[UserRead]:
    return caller.run(lambda s: UserService(s).list())


@router.post("/users", status_code=201)
def create_user(body: UserCreate, caller: CallerDep) -> UserCreated:
    return caller.run(lambda s: UserService(s).create(body))


@router.post("/users/{username}:disable")
def disable_user(username: str, caller: CallerDep) -> UserRead:
    return caller.run(lambda s: UserService(s).set_disabled(username, True))


@router.post("/users/{username}:enable")
def enable_user(username: str, caller: CallerDep) -> UserRead:
    return caller.run(lambda s: UserService(s).set_disabled(username, False))


@router.patch("/users/{username}")
def update_user(username: str, body: UserUpdate, caller: CallerDep) -> UserRead:
    return caller.run(lambda s: UserService(s).update(username, body))


@router.post("/users/{username}:unlock")
def unlock_user(username: str, caller: CallerDep) -> UserRead:
    return caller.run(lambda s: UserService(s).unlock(username))


@router.get("/cases")
def list_cases(caller: CallerDep) -> list[CaseRead]:
    return caller.run(lambda s: CaseService(s).list())


@router.post("/cases", status_code=201)
def create_case(body: CaseCreate, caller: CallerDep) -> CaseRead:
    return caller.run(lambda s: CaseService(s).create(body))


@router.post("/cases/{code}/members")
def assign_member(code: str, body: CaseAssignment, caller: CallerDep) -> CaseRead:
    return caller.run(lambda s: CaseService(s).set_assignment(code, body.username, True))


@router.delete("/cases/{code}/members/{username}")
def unassign_member(code: str, username: str, caller: CallerDep) -> CaseRead:
    return caller.run(lambda s: CaseService(s).set_assignment(code, username, False))


@router.get("/keys")
def key_status(caller: CallerDep) -> list[KeyVersionRead]:
    return caller.run(lambda s: KeyService(s).status())


@router.post("/keys/{purpose}:rotate")
def rotate_key(purpose: KeyPurpose, caller: CallerDep) -> list[KeyVersionRead]:
    def work(scope: Scope) -> list[KeyVersionRead]:
        keys = KeyService(scope)
        keys.rotate(purpose)
        return keys.status()

    return caller.run(work)
