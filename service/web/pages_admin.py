"""Administrator pages: users, roles, cases and assignments, and key status."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from starlette.responses import Response

from service.access.keys import KeyService
from service.access.schemas import CaseCreate, UserCreate
from service.access.service import CaseService, UserService
from service.context import Role
from service.web import security
from service.web.forms import parse_model
from service.web.render import SignedInDep, SignedInFormDep, Web, WebRoute

router = APIRouter(route_class=WebRoute)
Short = Annotated[str, Form(max_length=300)]


def _users(web: Web, status: int = 200, **values: object) -> Response:
    users = web.run(lambda s: UserService(s).list())
    return web.page("admin_users.html", status=status, users=users, roles=list(Role), **values)


@router.get("/admin/users")
def users(web: SignedInDep) -> Response:
    return _users(web, created=None, errors=[])


@router.post("/admin/users")
def create_user(
    web: SignedInFormDep, username: Short = "", display_name: Short = "", role: Short = ""
) -> Response:
    """The one-time password is shown once, on this answer only (never in a URL)."""
    data, errors = parse_model(
        UserCreate, {"username": username, "display_name": display_name, "role": role}
    )
    if data is None:
        return _users(web, 422, created=None, errors=errors)
    created = web.run(lambda s: UserService(s).create(data))
    return _users(web, created=created, errors=[])


@router.post("/admin/users/{username}/disable")
def disable_user(web: SignedInFormDep, username: str) -> Response:
    web.run(lambda s: UserService(s).set_disabled(username, True))
    return web.redirect(security.PREFIX + "/admin/users")


@router.post("/admin/users/{username}/enable")
def enable_user(web: SignedInFormDep, username: str) -> Response:
    web.run(lambda s: UserService(s).set_disabled(username, False))
    return web.redirect(security.PREFIX + "/admin/users")


def _cases(web: Web, status: int = 200, errors: list[str] | None = None) -> Response:
    cases = web.run(lambda s: CaseService(s).list())
    return web.page("admin_cases.html", status=status, cases=cases, errors=errors or [])


@router.get("/admin/cases")
def cases(web: SignedInDep) -> Response:
    return _cases(web)


@router.post("/admin/cases")
def create_case(web: SignedInFormDep, code: Short = "", title: Short = "") -> Response:
    data, errors = parse_model(CaseCreate, {"code": code, "title": title})
    if data is None:
        return _cases(web, 422, errors)
    web.run(lambda s: CaseService(s).create(data))
    return web.redirect(security.PREFIX + "/admin/cases")


@router.post("/admin/cases/{code}/members")
def assign(web: SignedInFormDep, code: str, username: Short = "") -> Response:
    web.run(lambda s: CaseService(s).set_assignment(code, username.strip(), True))
    return web.redirect(security.PREFIX + "/admin/cases")


@router.post("/admin/cases/{code}/members/{username}/remove")
def unassign(web: SignedInFormDep, code: str, username: str) -> Response:
    web.run(lambda s: CaseService(s).set_assignment(code, username, False))
    return web.redirect(security.PREFIX + "/admin/cases")


@router.get("/admin/keys")
def keys(web: SignedInDep) -> Response:
    return web.page("admin_keys.html", keys=web.run(lambda s: KeyService(s).status()))
