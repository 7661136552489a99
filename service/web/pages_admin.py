"""Administrator pages: users and their roles, cases and assignments, recipient profiles,
and key status and rotation, all through the domain services (which authorise and record).

Every change is a POST carrying this session's CSRF token. Changes that end someone's
sessions or re-wrap keys show a confirmation page first (a POST that changes nothing), so
no script is needed. Form problems are shown in the page's language and never repeat what
was typed; nothing typed goes into a URL.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Form
from pydantic import BaseModel, ValidationError
from starlette.responses import Response

from service.access.keys import KeyService
from service.access.schemas import CaseCreate, UserCreate, UserRead, UserUpdate
from service.access.service import CASE_ROLES, CaseService, UserService
from service.context import Role
from service.crypto.interfaces import KeyPurpose
from service.errors import ConflictError, InvalidInputError, NotFoundError
from service.export.schemas import (
    DEFAULT_FIELDS,
    IDENTITY_KINDS,
    REQUIRED_SCOPE,
    ExportField,
    RecipientKind,
    RecipientProfileCreate,
)
from service.export.service import ExportService
from service.web import security
from service.web.forms import blank_to_none
from service.web.messages import N_
from service.web.render import SignedInDep, SignedInFormDep, Web, WebRoute

router = APIRouter(route_class=WebRoute)
Short = Annotated[str, Form(max_length=300)]
Many = Annotated[list[str], Form()]

# What to tell a person about a field the domain refused, in their language.
FIELD_HELP = {
    "username": N_(
        "Username: 2 to 64 lower-case letters, digits, dots, hyphens or underscores, "
        "starting with a letter."
    ),
    "display_name": N_("Name: 1 to 200 characters."),
    "role": N_("Choose one of the four roles."),
    "code": N_("Code: 2 to 64 letters, digits, dots, hyphens or underscores."),
    "title": N_("Title: 1 to 300 characters."),
    "name": N_(
        "Profile name: 2 to 100 letters, digits, spaces, dots, hyphens or underscores, "
        "starting with a letter or digit."
    ),
    "kind": N_("Choose a kind of recipient."),
    "fields": N_("Choose fields from the list only."),
    "include_identity": N_(
        "Only recipients for judicial proceedings may receive witness identity."
    ),
    "age_recipient": N_(
        "The age public key must start with age1, have 62 characters and a valid checksum."
    ),
}
CONFLICT_HELP = {
    "username": N_("This username is taken."),
    "code": N_("A case with this code exists."),
    "name": N_("A recipient profile with this name exists."),
    "role": N_("Administrators cannot change their own role; another administrator can."),
}
PURPOSE_LABELS = {
    KeyPurpose.CONTENT.value: N_("Testimony content and attachments"),
    KeyPurpose.IDENTITY.value: N_("Witness identity vault"),
}
FIELD_LABELS = {
    ExportField.INTERVIEW.value: N_("Interview date, place, language and interviewer"),
    ExportField.NARRATIVE_ORIGINAL.value: N_("Original narrative"),
    ExportField.TRANSLATION_EN.value: N_("English translation"),
    ExportField.INCIDENTS.value: N_("Coded incidents"),
    ExportField.ATTACHMENTS.value: N_("Attachments"),
}
NOT_ASSIGNABLE = N_("Only existing officers and investigators can be assigned to cases.")


def _help(web: Web, fields: Iterable[str], table: dict[str, str]) -> list[str]:
    out: list[str] = []
    for name in fields:
        text = web.gettext(table.get(name) or FIELD_HELP.get(name) or "The request is not valid")
        if text not in out:
            out.append(text)
    return out or [web.gettext("The request is not valid")]


def _validate(web: Web, model: type[BaseModel], data: dict[str, Any]) -> tuple[Any, list[str]]:
    try:
        return model.model_validate(data), []
    except ValidationError as error:
        fields = (str(e["loc"][0]) if e["loc"] else "" for e in error.errors())
        return None, _help(web, fields, FIELD_HELP)


def _refused(web: Web, error: InvalidInputError | ConflictError) -> list[str]:
    table = CONFLICT_HELP if isinstance(error, ConflictError) else FIELD_HELP
    return _help(web, (p.location for p in error.errors), table)


# ---- users -----------------------------------------------------------------------------------


def _users(web: Web, status: int = 200, **values: Any) -> Response:
    users = web.run(lambda s: UserService(s).list())
    defaults: dict[str, Any] = {"created": None, "notice": None, "errors": [], "form": {}}
    return web.page(
        "admin_users.html",
        status=status,
        users=users,
        roles=list(Role),
        **(defaults | values),
    )


def _user(web: Web, username: str) -> UserRead:
    found = [u for u in web.run(lambda s: UserService(s).list()) if u.username == username]
    if not found:
        raise NotFoundError("No user named '%(username)s'.", username=username)
    return found[0]


@router.get("/admin/users")
def users(web: SignedInDep) -> Response:
    return _users(web)


@router.post("/admin/users")
def create_user(
    web: SignedInFormDep, username: Short = "", display_name: Short = "", role: Short = ""
) -> Response:
    """The one-time password is shown once, on this answer only (never in a URL)."""
    form = {"username": username, "display_name": display_name, "role": role}
    data, errors = _validate(web, UserCreate, form)
    if data is None:
        return _users(web, 422, errors=errors, form=form)
    try:
        created = web.run(lambda s: UserService(s).create(data))
    except (InvalidInputError, ConflictError) as error:
        return _users(web, error.status, errors=_refused(web, error), form=form)
    return _users(web, created=created)


@router.post("/admin/users/{username}/role")
def change_role(
    web: SignedInFormDep, username: str, role: Short = "", confirm: Short = ""
) -> Response:
    """First answer: what the change will do; only a second POST with ``confirm`` does it."""
    data, errors = _validate(web, UserUpdate, {"role": role})
    if data is None:
        return _users(web, 422, errors=errors)
    if confirm != "yes":
        user = _user(web, username)
        cases = [
            c.code
            for c in web.run(lambda s: CaseService(s).list())
            if username in c.members and data.role not in CASE_ROLES
        ]
        return web.page(
            "admin_confirm.html",
            kind="role",
            user=user,
            role=data.role,
            cases=cases,
            own=user.username == (web.principal.username if web.principal else None),
            action=f"{security.PREFIX}/admin/users/{username}/role",
            fields={"role": data.role.value},
            back=f"{security.PREFIX}/admin/users",
        )
    before = _user(web, username)
    try:
        changed = web.run(lambda s: UserService(s).update(username, data))
    except (InvalidInputError, ConflictError) as error:
        return _users(web, error.status, errors=_refused(web, error))
    if changed.role is before.role:
        message = N_("Nothing changed: %(u)s already has the role %(r)s.")
    else:
        message = N_("%(u)s is now %(r)s; their open sessions have ended.")
    notice = web.gettext(message) % {
        "u": changed.username,
        "r": web.gettext(changed.role.value),
    }
    return _users(web, notice=notice)


@router.post("/admin/users/{username}/unlock")
def unlock_user(web: SignedInFormDep, username: str) -> Response:
    unlocked = web.run(lambda s: UserService(s).unlock(username))
    notice = web.gettext("%(u)s may sign in again; the failed sign-ins were cleared.") % {
        "u": unlocked.username
    }
    return _users(web, notice=notice)


@router.post("/admin/users/{username}/disable")
def disable_user(web: SignedInFormDep, username: str) -> Response:
    web.run(lambda s: UserService(s).set_disabled(username, True))
    return web.redirect(security.PREFIX + "/admin/users")


@router.post("/admin/users/{username}/enable")
def enable_user(web: SignedInFormDep, username: str) -> Response:
    web.run(lambda s: UserService(s).set_disabled(username, False))
    return web.redirect(security.PREFIX + "/admin/users")


# ---- cases -----------------------------------------------------------------------------------


def _cases(web: Web, status: int = 200, errors: list[str] | None = None, **form: str) -> Response:
    cases = web.run(lambda s: CaseService(s).list())
    return web.page("admin_cases.html", status=status, cases=cases, errors=errors or [], form=form)


@router.get("/admin/cases")
def cases(web: SignedInDep) -> Response:
    return _cases(web)


@router.post("/admin/cases")
def create_case(web: SignedInFormDep, code: Short = "", title: Short = "") -> Response:
    data, errors = _validate(web, CaseCreate, {"code": code, "title": title})
    if data is None:
        return _cases(web, 422, errors, code=code, title=title)
    try:
        web.run(lambda s: CaseService(s).create(data))
    except (InvalidInputError, ConflictError) as error:
        return _cases(web, error.status, _refused(web, error), code=code, title=title)
    return web.redirect(security.PREFIX + "/admin/cases")


@router.post("/admin/cases/{code}/members")
def assign(web: SignedInFormDep, code: str, username: Short = "") -> Response:
    try:
        web.run(lambda s: CaseService(s).set_assignment(code, username.strip(), True))
    except InvalidInputError:
        return _cases(web, 422, [web.gettext(NOT_ASSIGNABLE)])
    return web.redirect(security.PREFIX + "/admin/cases")


@router.post("/admin/cases/{code}/members/{username}/remove")
def unassign(web: SignedInFormDep, code: str, username: str) -> Response:
    web.run(lambda s: CaseService(s).set_assignment(code, username, False))
    return web.redirect(security.PREFIX + "/admin/cases")


# ---- recipient profiles ----------------------------------------------------------------------


def _profiles(web: Web, status: int = 200, **values: Any) -> Response:
    profiles = web.run(lambda s: ExportService(s).managed_profiles())
    kinds = [
        {
            "kind": kind,
            "scope": REQUIRED_SCOPE[kind],
            "fields": DEFAULT_FIELDS[kind],
            "identity": kind in IDENTITY_KINDS,
        }
        for kind in RecipientKind
    ]
    defaults: dict[str, Any] = {"notice": None, "errors": [], "form": {}}
    return web.page(
        "admin_profiles.html",
        status=status,
        profiles=profiles,
        kinds=kinds,
        all_fields=list(ExportField),
        field_labels=FIELD_LABELS,
        **(defaults | values),
    )


@router.get("/admin/profiles")
def profiles(web: SignedInDep) -> Response:
    return _profiles(web)


@router.post("/admin/profiles")
def create_profile(
    web: SignedInFormDep,
    name: Short = "",
    kind: Short = "",
    fields: Many = [],  # noqa: B006 - FastAPI copies defaults
    include_identity: Short = "",
    age_recipient: Short = "",
) -> Response:
    """No field ticked means the kind's default fields; identity only when ticked."""
    form: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "fields": fields,
        "include_identity": include_identity == "yes",
        "age_recipient": age_recipient,
    }
    data, errors = _validate(
        web,
        RecipientProfileCreate,
        form | {"fields": fields or None, "age_recipient": blank_to_none(age_recipient)},
    )
    if data is None:
        return _profiles(web, 422, errors=errors, form=form)
    try:
        created = web.run(lambda s: ExportService(s).create_profile(data))
    except (InvalidInputError, ConflictError) as error:
        return _profiles(web, error.status, errors=_refused(web, error), form=form)
    notice = web.gettext("Recipient profile %(n)s created.") % {"n": created.name}
    return _profiles(web, notice=notice)


# ---- keys ------------------------------------------------------------------------------------


def _keys(web: Web, **values: Any) -> Response:
    keys = web.run(lambda s: KeyService(s).status())
    defaults: dict[str, Any] = {"notice": None}
    return web.page(
        "admin_keys.html",
        keys=keys,
        purposes=list(KeyPurpose),
        purpose_labels=PURPOSE_LABELS,
        **(defaults | values),
    )


@router.get("/admin/keys")
def keys(web: SignedInDep) -> Response:
    return _keys(web)


@router.post("/admin/keys/{purpose}/rotate")
def rotate_key(web: SignedInFormDep, purpose: KeyPurpose, confirm: Short = "") -> Response:
    """First answer: the confirmation page; only a second POST with ``confirm`` rotates."""
    if confirm != "yes":
        versions = [k for k in web.run(lambda s: KeyService(s).status()) if k.active]
        current = next((k.version for k in versions if k.purpose == purpose.value), 0)
        return web.page(
            "admin_confirm.html",
            kind="rotate",
            purpose=purpose,
            current=current,
            purpose_labels=PURPOSE_LABELS,
            action=f"{security.PREFIX}/admin/keys/{purpose.value}/rotate",
            fields={},
            back=f"{security.PREFIX}/admin/keys",
        )
    version = web.run(lambda s: KeyService(s).rotate(purpose))
    notice = web.gettext(
        "The %(p)s keys are now at version %(v)d; every data key of this purpose was re-wrapped."
    ) % {"p": web.gettext(PURPOSE_LABELS[purpose.value]), "v": version}
    return _keys(web, notice=notice)
