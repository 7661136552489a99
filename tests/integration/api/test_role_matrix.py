"""Who may call which endpoint: every /api/v1 route against every kind of caller.

``MATRIX`` below is the specification of least privilege on the server (DESIGN.md
invariant 4). Each row is one operation; each column one kind of caller:

* officers create, edit, code, record consent, upload, download and reveal in their cases;
* investigators read, download and reveal in their cases, and never write;
* a record in a case the caller is not assigned to answers 404, exactly like a missing one;
* auditors are refused (403) all content and all administration;
* administrators manage users, cases and keys and are refused (403) all content;
* a request without a token, or with a made-up one, answers 401.

Every refusal is a problem document, leaves nothing behind but its custody event
(``access.denied``, or ``auth.token_rejected`` for a made-up token: invariant 2), and names
the refused caller as the actor.

One test builds one deployment, walks every operation as every kind of caller, and reports
every disagreement with the table at once, instead of hundreds of tests that each create
users (argon2 is slow on purpose) and databases. A new endpoint without a row in the table
fails ``test_every_api_route_has_a_row_in_the_role_matrix``.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
from fastapi.routing import iter_route_contexts
from sqlalchemy import func, inspect, select, table

from service.access.models import CaseMember, User
from service.app import create_app
from service.config import Settings
from service.context import Role
from service.crypto.interfaces import KeyPurpose
from service.custody.models import CustodyEvent
from service.runtime import Scope
from tests.factories import Deployment, first_category, interview_record, unique

API = "/api/v1"
EXPORT_PROFILE = "un-accountability-project"

# ---- callers ---------------------------------------------------------------------------------

OFFICER_IN = "officer in the case"
OFFICER_OUT = "officer in another case"
INVESTIGATOR_IN = "investigator in the case"
INVESTIGATOR_OUT = "investigator in another case"
AUDITOR = "auditor"
ADMIN = "admin"
NO_TOKEN = "no token"
GARBAGE_TOKEN = "made-up token"

CALLERS = (
    OFFICER_IN,
    OFFICER_OUT,
    INVESTIGATOR_IN,
    INVESTIGATOR_OUT,
    AUDITOR,
    ADMIN,
    NO_TOKEN,
    GARBAGE_TOKEN,
)
ANONYMOUS = (NO_TOKEN, GARBAGE_TOKEN)


@dataclass
class Caller:
    kind: str
    username: str | None
    password: str | None
    role: Role | None
    headers: dict[str, str]


@dataclass
class World:
    """One deployment with a testimony (incident, attachment, witness identity) in ``case``."""

    deployment: Deployment
    case: str
    other_case: str
    testimony_id: str
    incident_id: str
    attachment_id: str
    pseudonym: str
    bystander: str
    """An investigator in no case, whom the administrative operations act on."""
    tables: list[str]
    export_id: str = ""
    """An export requested by another investigator in ``case``, to approve, build, download."""
    pending_export_id: str = ""
    """A second pending export, to reject."""
    shred_target: str = ""
    """A second testimony that administrators may ask to shred."""
    shred_request: int = 0
    """A pending shred request (by the set-up admin) on a third testimony, to approve."""

    @property
    def testimony(self) -> str:
        return f"{API}/testimonies/{self.testimony_id}"


# ---- operations ------------------------------------------------------------------------------

Call = Callable[[World, Caller], httpx2.Response]


@dataclass(frozen=True)
class Operation:
    name: str
    method: str
    route: str
    """The route template exactly as the app declares it, to check coverage."""
    call: Call
    expected: dict[str, int]


def _sign_in(world: World, caller: Caller) -> httpx2.Response:
    if caller.username is None:  # anonymous callers have no account: they guess
        credentials = {"username": "nobody.here", "password": "not-the-password-at-all"}
    else:
        credentials = {"username": caller.username, "password": caller.password or ""}
    return world.deployment.client.post(f"{API}/auth/login", json=credentials)


def _upload(world: World, caller: Caller) -> httpx2.Response:
    return world.deployment.client.post(
        f"{world.testimony}/attachments",
        content=b"Hand-drawn map of the holding centre, described in words.",
        headers={
            **caller.headers,
            "Content-Type": "text/plain",
            "Content-Disposition": "attachment; filename*=UTF-8''map-notes.txt",
        },
    )


def _get(path: Callable[[World], str]) -> Call:
    return lambda w, c: w.deployment.client.get(path(w), headers=c.headers)


def _delete(path: Callable[[World], str]) -> Call:
    return lambda w, c: w.deployment.client.delete(path(w), headers=c.headers)


def _post(path: Callable[[World], str], body: Callable[[World], Any] | None = None) -> Call:
    def call(w: World, c: Caller) -> httpx2.Response:
        payload = body(w) if body else None
        return w.deployment.client.post(path(w), json=payload, headers=c.headers)

    return call


def _patch(path: Callable[[World], str], body: Callable[[World], Any]) -> Call:
    return lambda w, c: w.deployment.client.patch(path(w), json=body(w), headers=c.headers)


def _export_body(world: World) -> dict[str, Any]:
    return {
        "profile": EXPORT_PROFILE,
        "purpose": "Submission to the UN accountability mechanism.",
        "testimony_ids": [world.testimony_id],
    }


def _row(name: str, method: str, route: str, call: Call, *statuses: int) -> tuple[str, Operation]:
    assert len(statuses) == len(CALLERS), f"{name}: one status per caller"
    return name, Operation(name, method, route, call, dict(zip(CALLERS, statuses, strict=True)))


# Operations run in this order, so the admin can disable, then re-enable; make the bystander an
# officer (still assignable), unlock them; assign, then remove; and every caller signs out last.
# fmt: off
#            name                    method  route
#            call                                                             expected status:
#            officer-in off-out inv-in inv-out auditor admin no-token made-up
MATRIX: dict[str, Operation] = dict([
    _row("sign in", "POST", "/api/v1/auth/login",
         _sign_in,
         200, 200, 200, 200, 200, 200, 401, 401),
    _row("read taxonomy", "GET", "/api/v1/taxonomy",
         _get(lambda w: f"{API}/taxonomy"),
         200, 200, 200, 200, 200, 200, 401, 401),
    _row("list own cases", "GET", "/api/v1/cases",
         _get(lambda w: f"{API}/cases"),
         200, 200, 200, 200, 403, 200, 401, 401),
    _row("create testimony", "POST", "/api/v1/testimonies",
         _post(lambda w: f"{API}/testimonies", lambda w: interview_record(w.case)),
         201, 404, 403, 403, 403, 403, 401, 401),
    _row("read testimony", "GET", "/api/v1/testimonies/{testimony_id}",
         _get(lambda w: w.testimony),
         200, 404, 200, 404, 403, 403, 401, 401),
    _row("read version history", "GET", "/api/v1/testimonies/{testimony_id}/versions",
         _get(lambda w: f"{w.testimony}/versions"),
         200, 404, 200, 404, 403, 403, 401, 401),
    _row("edit testimony", "PATCH", "/api/v1/testimonies/{testimony_id}",
         _patch(lambda w: w.testimony, lambda w: {"narrative": {
             "original": "정정된 진술입니다.", "translation_en": "A corrected statement."}}),
         200, 404, 403, 403, 403, 403, 401, 401),
    _row("code incident", "POST", "/api/v1/testimonies/{testimony_id}/incidents",
         _post(lambda w: f"{w.testimony}/incidents", lambda w: {
             "categories": [first_category()], "date": "2017", "date_precision": "year",
             "involvement": "direct_witness"}),
         201, 404, 403, 403, 403, 403, 401, 401),
    _row("recode incident", "PATCH",
         "/api/v1/testimonies/{testimony_id}/incidents/{incident_id}",
         _patch(lambda w: f"{w.testimony}/incidents/{w.incident_id}",
                lambda w: {"place": "Chongjin"}),
         200, 404, 403, 403, 403, 403, 401, 401),
    _row("record consent", "POST", "/api/v1/testimonies/{testimony_id}/consent",
         _post(lambda w: f"{w.testimony}/consent", lambda w: {
             "scope": "judicial_proceedings", "kind": "given", "effective_on": "2024-04-01"}),
         200, 404, 403, 403, 403, 403, 401, 401),
    _row("upload attachment", "POST", "/api/v1/testimonies/{testimony_id}/attachments",
         _upload,
         201, 404, 403, 403, 403, 403, 401, 401),
    _row("download attachment", "GET",
         "/api/v1/testimonies/{testimony_id}/attachments/{attachment_id}",
         _get(lambda w: f"{w.testimony}/attachments/{w.attachment_id}"),
         200, 404, 200, 404, 403, 403, 401, 401),
    _row("reveal witness identity", "POST", "/api/v1/witnesses/{pseudonym}/identity:reveal",
         _post(lambda w: f"{API}/witnesses/{w.pseudonym}/identity:reveal",
               lambda w: {"reason": "Corroborating the detention dates for the case file."}),
         200, 404, 200, 404, 403, 403, 401, 401),
    _row("search own cases", "GET", "/api/v1/search",
         _get(lambda w: f"{API}/search?q=beaten"),
         200, 200, 200, 200, 403, 403, 401, 401),
    _row("statistics of own cases", "GET", "/api/v1/statistics",
         _get(lambda w: f"{API}/statistics"),
         200, 200, 200, 200, 403, 403, 401, 401),
    _row("create recipient profile", "POST", "/api/v1/exports/profiles",
         _post(lambda w: f"{API}/exports/profiles",
               lambda w: {"name": unique("recipient-"), "kind": "un_mechanisms"}),
         403, 403, 403, 403, 403, 201, 401, 401),
    _row("list recipient profiles", "GET", "/api/v1/exports/profiles",
         _get(lambda w: f"{API}/exports/profiles"),
         403, 403, 200, 200, 403, 200, 401, 401),
    _row("request export", "POST", "/api/v1/exports",
         _post(lambda w: f"{API}/exports", lambda w: _export_body(w)),
         403, 403, 201, 404, 403, 403, 401, 401),
    _row("list exports", "GET", "/api/v1/exports",
         _get(lambda w: f"{API}/exports"),
         403, 403, 200, 200, 403, 403, 401, 401),
    _row("read export", "GET", "/api/v1/exports/{export_id}",
         _get(lambda w: f"{API}/exports/{w.export_id}"),
         403, 403, 200, 404, 403, 403, 401, 401),
    _row("approve export", "POST", "/api/v1/exports/{export_id}:approve",
         _post(lambda w: f"{API}/exports/{w.export_id}:approve", lambda w: {}),
         403, 403, 200, 404, 403, 403, 401, 401),
    _row("reject export", "POST", "/api/v1/exports/{export_id}:reject",
         _post(lambda w: f"{API}/exports/{w.pending_export_id}:reject", lambda w: {}),
         403, 403, 200, 404, 403, 403, 401, 401),
    _row("build export bag", "POST", "/api/v1/exports/{export_id}:build",
         _post(lambda w: f"{API}/exports/{w.export_id}:build"),
         403, 403, 200, 404, 403, 403, 401, 401),
    _row("download export bag", "GET", "/api/v1/exports/{export_id}/bag",
         _get(lambda w: f"{API}/exports/{w.export_id}/bag"),
         403, 403, 200, 404, 403, 403, 401, 401),
    _row("list users", "GET", "/api/v1/users",
         _get(lambda w: f"{API}/users"),
         403, 403, 403, 403, 403, 200, 401, 401),
    _row("create user", "POST", "/api/v1/users",
         _post(lambda w: f"{API}/users", lambda w: {
             "username": unique("newcomer"), "display_name": "New Colleague",
             "role": "investigator", "password": secrets.token_urlsafe(18)}),
         403, 403, 403, 403, 403, 201, 401, 401),
    _row("disable user", "POST", "/api/v1/users/{username}:disable",
         _post(lambda w: f"{API}/users/{w.bystander}:disable"),
         403, 403, 403, 403, 403, 200, 401, 401),
    _row("enable user", "POST", "/api/v1/users/{username}:enable",
         _post(lambda w: f"{API}/users/{w.bystander}:enable"),
         403, 403, 403, 403, 403, 200, 401, 401),
    _row("change user role", "PATCH", "/api/v1/users/{username}",
         _patch(lambda w: f"{API}/users/{w.bystander}", lambda w: {"role": "officer"}),
         403, 403, 403, 403, 403, 200, 401, 401),
    _row("unlock user", "POST", "/api/v1/users/{username}:unlock",
         _post(lambda w: f"{API}/users/{w.bystander}:unlock"),
         403, 403, 403, 403, 403, 200, 401, 401),
    _row("create case", "POST", "/api/v1/cases",
         _post(lambda w: f"{API}/cases", lambda w: {"code": unique("NEW-"), "title": "New"}),
         403, 403, 403, 403, 403, 201, 401, 401),
    _row("assign case member", "POST", "/api/v1/cases/{code}/members",
         _post(lambda w: f"{API}/cases/{w.case}/members", lambda w: {"username": w.bystander}),
         403, 403, 403, 403, 403, 200, 401, 401),
    _row("remove case member", "DELETE", "/api/v1/cases/{code}/members/{username}",
         _delete(lambda w: f"{API}/cases/{w.case}/members/{w.bystander}"),
         403, 403, 403, 403, 403, 200, 401, 401),
    _row("key status", "GET", "/api/v1/keys",
         _get(lambda w: f"{API}/keys"),
         403, 403, 403, 403, 403, 200, 401, 401),
    _row("rotate key", "POST", "/api/v1/keys/{purpose}:rotate",
         _post(lambda w: f"{API}/keys/content:rotate"),
         403, 403, 403, 403, 403, 200, 401, 401),
    _row("list custody events", "GET", "/api/v1/custody/events",
         _get(lambda w: f"{API}/custody/events?limit=5"),
         403, 403, 403, 403, 200, 403, 401, 401),
    _row("download custody events", "GET", "/api/v1/custody/events:download",
         _get(lambda w: f"{API}/custody/events:download?format=jsonl"),
         403, 403, 403, 403, 200, 403, 401, 401),
    _row("custody history of a record", "GET", "/api/v1/custody/objects/{object_type}/{object_id}",
         _get(lambda w: f"{API}/custody/objects/testimony/{w.testimony_id}"),
         403, 403, 403, 403, 200, 403, 401, 401),
    _row("custody activity per user", "GET", "/api/v1/custody/activity",
         _get(lambda w: f"{API}/custody/activity"),
         403, 403, 403, 403, 200, 403, 401, 401),
    _row("make checkpoint", "POST", "/api/v1/custody/checkpoints",
         _post(lambda w: f"{API}/custody/checkpoints"),
         403, 403, 403, 403, 201, 403, 401, 401),
    _row("latest checkpoint", "GET", "/api/v1/custody/checkpoint",
         _get(lambda w: f"{API}/custody/checkpoint"),
         403, 403, 403, 403, 200, 403, 401, 401),
    _row("inclusion proof", "GET", "/api/v1/custody/proofs/inclusion",
         _get(lambda w: f"{API}/custody/proofs/inclusion?index=0"),
         403, 403, 403, 403, 200, 403, 401, 401),
    _row("consistency proof", "GET", "/api/v1/custody/proofs/consistency",
         _get(lambda w: f"{API}/custody/proofs/consistency?first=1"),
         403, 403, 403, 403, 200, 403, 401, 401),
    _row("verify custody log", "POST", "/api/v1/custody/verify",
         _post(lambda w: f"{API}/custody/verify"),
         403, 403, 403, 403, 200, 403, 401, 401),
    _row("analyst export of coded incidents", "GET", "/api/v1/analyst-exports/incidents",
         _get(lambda w: f"{API}/analyst-exports/incidents?format=csv"),
         403, 403, 200, 200, 403, 403, 401, 401),
    _row("request a shred", "POST", "/api/v1/shred-requests",
         _post(lambda w: f"{API}/shred-requests", lambda w: {
             "testimony_id": w.shred_target,
             "reason": "The witness withdrew consent and asked for destruction."}),
         403, 403, 403, 403, 403, 201, 401, 401),
    _row("list pending shred requests", "GET", "/api/v1/shred-requests",
         _get(lambda w: f"{API}/shred-requests"),
         403, 403, 403, 403, 403, 200, 401, 401),
    _row("approve another admin's shred", "POST", "/api/v1/shred-requests/{request_id}:approve",
         _post(lambda w: f"{API}/shred-requests/{w.shred_request}:approve"),
         403, 403, 403, 403, 403, 200, 401, 401),
    _row("read own account", "GET", "/api/v1/me",
         _get(lambda w: f"{API}/me"),
         200, 200, 200, 200, 200, 200, 401, 401),
    _row("set own language", "PATCH", "/api/v1/me",
         _patch(lambda w: f"{API}/me", lambda w: {"language": "en"}),
         200, 200, 200, 200, 200, 200, 401, 401),
    _row("sign out", "POST", "/api/v1/auth/logout",
         _post(lambda w: f"{API}/auth/logout"),
         204, 204, 204, 204, 204, 204, 401, 401),
])
# fmt: on


# ---- building the world and the callers ------------------------------------------------------


def _create_account(deployment: Deployment, role: Role) -> str:
    """A user who never signs in (no argon2 verify): a target for admin operations."""
    username = unique(f"{role.value}.idle")
    response = deployment.client.post(
        f"{API}/users",
        json={
            "username": username,
            "display_name": username,
            "role": role.value,
            "password": secrets.token_urlsafe(18),
        },
        headers=deployment.admin.headers,
    )
    assert response.status_code == 201, response.text
    return username


def build_world(deployment: Deployment) -> World:
    case, other_case = deployment.case(), deployment.case()
    owner = deployment.user(Role.OFFICER, cases=(case,))
    created = deployment.create_testimony(owner, interview_record(case))
    world = World(
        deployment=deployment,
        case=case,
        other_case=other_case,
        testimony_id=created["id"],
        incident_id=created["incident_ids"][0],
        attachment_id="",
        pseudonym=created["witness_pseudonym"],
        bystander=_create_account(deployment, Role.INVESTIGATOR),
        tables=_record_tables(deployment),
    )
    owner_caller = Caller(OFFICER_IN, owner.username, owner.password, owner.role, owner.headers)
    uploaded = _upload(world, owner_caller)
    assert uploaded.status_code == 201, uploaded.text
    world.attachment_id = uploaded.json()["id"]
    _add_exports(world)
    _add_shred_request(world, owner_caller)
    return world


def _add_shred_request(world: World, owner: Caller) -> None:
    """A testimony to ask to shred, and another with a pending request by the set-up admin."""
    deployment = world.deployment
    owner_account = deployment.accounts[owner.username or ""]
    world.shred_target = deployment.create_testimony(owner_account, interview_record(world.case))[
        "id"
    ]
    doomed = deployment.create_testimony(owner_account, interview_record(world.case))["id"]
    requested = deployment.client.post(
        f"{API}/shred-requests",
        json={"testimony_id": doomed, "reason": "The witness asked for destruction."},
        headers=deployment.admin.headers,
    )
    assert requested.status_code == 201, requested.text
    world.shred_request = requested.json()["id"]


def _add_exports(world: World) -> None:
    """A recipient profile and two exports requested by an investigator of ``case``."""
    deployment = world.deployment
    profile = deployment.client.post(
        f"{API}/exports/profiles",
        json={"name": EXPORT_PROFILE, "kind": "un_mechanisms"},
        headers=deployment.admin.headers,
    )
    assert profile.status_code == 201, profile.text
    requester = deployment.user(Role.INVESTIGATOR, cases=(world.case,))
    ids = []
    for _ in range(2):
        response = deployment.client.post(
            f"{API}/exports", json=_export_body(world), headers=requester.headers
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    world.export_id, world.pending_export_id = ids


def make_caller(world: World, kind: str) -> Caller:
    deployment = world.deployment
    if kind == NO_TOKEN:
        return Caller(kind, None, None, None, {})
    if kind == GARBAGE_TOKEN:
        headers = {"Authorization": f"Bearer {secrets.token_urlsafe(32)}"}
        return Caller(kind, None, None, None, headers)
    role, cases = {
        OFFICER_IN: (Role.OFFICER, (world.case,)),
        OFFICER_OUT: (Role.OFFICER, (world.other_case,)),
        INVESTIGATOR_IN: (Role.INVESTIGATOR, (world.case,)),
        INVESTIGATOR_OUT: (Role.INVESTIGATOR, (world.other_case,)),
        AUDITOR: (Role.AUDITOR, ()),
        ADMIN: (Role.ADMIN, ()),  # not the set-up admin: this one signs out at the end
    }[kind]
    account = deployment.user(role, cases=cases)
    return Caller(kind, account.username, account.password, account.role, account.headers)


# ---- observing what a request left behind ----------------------------------------------------


def _record_tables(deployment: Deployment) -> list[str]:
    """Every table of records: all but the custody log (refusals add to it), Alembic's, and
    the failed-sign-in counters of unknown names, which a refused sign-in updates by design
    just as it updates an account's own counter columns."""
    bookkeeping = {"alembic_version", "login_throttles"}

    def work(scope: Scope) -> list[str]:
        names = inspect(scope.session.connection()).get_table_names()
        return sorted(n for n in names if not n.startswith("custody") and n not in bookkeeping)

    tables: list[str] = deployment.run(None, work)
    assert {"users", "testimonies", "attachments", "consent_events"} <= set(tables)
    return tables


def state_snapshot(world: World) -> dict[str, Any]:
    """Everything a request could change, except the custody log."""
    deployment = world.deployment

    def work(scope: Scope) -> dict[str, Any]:
        counts = select(
            *(
                select(func.count()).select_from(table(name)).scalar_subquery().label(name)
                for name in world.tables
            )
        )
        rows = dict(scope.session.execute(counts).one()._mapping)
        users = sorted(
            tuple(r) for r in scope.session.execute(select(User.username, User.disabled))
        )
        members = sorted(
            tuple(r) for r in scope.session.execute(select(CaseMember.case_id, CaseMember.user_id))
        )
        return {"rows": rows, "users": users, "members": members}

    state: dict[str, Any] = deployment.run(None, work)
    keyring = deployment.runtime.keyring
    state["keys"] = [(p.value, v.version) for p in KeyPurpose for v in keyring.versions(p)]
    root = Path(deployment.settings.attachments_dir)
    state["files"] = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    return state


def custody_size(deployment: Deployment) -> int:
    size: int = deployment.run(
        None, lambda scope: scope.session.scalar(select(func.count()).select_from(CustodyEvent))
    )
    return size


def events_from(deployment: Deployment, seq: int) -> list[dict[str, Any]]:
    return [e for e in deployment.custody_events() if e["seq"] >= seq]


def check_refusal(
    op: Operation, caller: Caller, response: httpx2.Response, events: list[dict[str, Any]]
) -> list[str]:
    """Problems with one refused request's response and custody events (empty when fine)."""
    problems: list[str] = []
    status = response.status_code
    if not response.headers.get("content-type", "").startswith("application/problem+json"):
        problems.append(f"content-type {response.headers.get('content-type')!r}")
    else:
        body = response.json()
        if body.get("status") != status or not body.get("title") or not body.get("type"):
            problems.append(f"incomplete problem document {body}")
        if "Traceback" in response.text:
            problems.append("stack trace in the response")

    if status in (403, 404):
        expected = {
            "action": "access.denied",
            "outcome": "denied",
            "actor": caller.username,
            "role": caller.role.value if caller.role else None,
            "channel": "api",
        }
    elif caller.kind == GARBAGE_TOKEN and op.name != "sign in":
        expected = {"action": "auth.token_rejected", "outcome": "failed", "actor": None}
    elif op.name == "sign in":
        # The guessed name is not recorded: people type passwords into that field.
        expected = {"action": "auth.login_failed", "outcome": "failed", "actor": None}
    else:
        # No credentials at all: nothing to attribute, and the problem document is checked.
        return problems
    seen = [{k: e[k] for k in expected} for e in events]
    if seen != [expected]:
        problems.append(f"custody events {seen}, expected exactly [{expected}]")
    return problems


def walk(world: World, caller: Caller) -> list[str]:
    """Runs every operation as ``caller``; returns every disagreement with the matrix."""
    deployment = world.deployment
    mismatches: list[str] = []
    for op in MATRIX.values():
        expected = op.expected[caller.kind]
        before_state = state_snapshot(world)
        before_size = custody_size(deployment)
        response = op.call(world, caller)
        status = response.status_code
        if status != expected:
            mismatches.append(f"{op.name}: {status} (expected {expected}) {response.text[:160]}")
        if status >= 400:
            events = events_from(deployment, before_size)
            problems = check_refusal(op, caller, response, events)
            if state_snapshot(world) != before_state:
                problems.append("the refused request changed stored state")
            mismatches.extend(f"{op.name}: {p}" for p in problems)
    return mismatches


# ---- the specification -----------------------------------------------------------------------


def declared_api_routes(app: Any) -> set[tuple[str, str]]:
    """(method, path) of every route under /api/v1, including those in nested routers."""
    found: set[tuple[str, str]] = set()
    for route in iter_route_contexts(app.routes):
        path = route.path or ""
        if path.startswith(API):
            found.update((method, path) for method in (route.methods or ()) if method != "HEAD")
    # The OpenAPI document is a second, independent enumeration of the same routes.
    for path, item in app.openapi()["paths"].items():
        if path.startswith(API):
            found.update((method.upper(), path) for method in item)
    return found


def test_every_api_route_has_a_row_in_the_role_matrix(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path / "unused"))  # routes need no database
    declared = declared_api_routes(app)
    in_matrix = {(op.method, op.route) for op in MATRIX.values()}

    assert len(declared) >= len(MATRIX) - 1, "route enumeration found too little"
    assert declared - in_matrix == set(), "endpoints without a row in the role matrix"
    assert in_matrix - declared == set(), "matrix rows for endpoints that do not exist"


def test_every_caller_gets_exactly_the_access_the_matrix_grants(deployment: Deployment) -> None:
    world = build_world(deployment)
    callers = [make_caller(world, kind) for kind in CALLERS]

    mismatches = [f"{c.kind} / {problem}" for c in callers for problem in walk(world, c)]

    assert mismatches == [], "\n  ".join(["disagreements with MATRIX:", *mismatches])


def _answer(response: httpx2.Response, name: str) -> dict[str, Any]:
    """A refusal as the caller sees it, with the probed name blanked out."""
    body = {k: v for k, v in response.json().items() if k != "instance"}
    body["detail"] = body.get("detail", "").replace(name, "<name>")
    return {
        "status": response.status_code,
        "content-type": response.headers["content-type"],
        **body,
    }


def test_records_in_another_case_answer_exactly_like_missing_ones(deployment: Deployment) -> None:
    world = build_world(deployment)
    outsider = make_caller(world, OFFICER_OUT)
    client, headers = deployment.client, outsider.headers
    reason = {"reason": "Corroborating the detention dates for the case file."}
    missing_testimony = str(uuid.uuid4())

    def read(testimony_id: str) -> httpx2.Response:
        return client.get(f"{API}/testimonies/{testimony_id}", headers=headers)

    def create_in(case: str) -> httpx2.Response:
        return client.post(f"{API}/testimonies", json=interview_record(case), headers=headers)

    def reveal(pseudonym: str) -> httpx2.Response:
        url = f"{API}/witnesses/{pseudonym}/identity:reveal"
        return client.post(url, json=reason, headers=headers)

    probes = {
        # probed record: (answer for the one in another case, answer for a missing one)
        "testimony": (
            _answer(read(world.testimony_id), world.testimony_id),
            _answer(read(missing_testimony), missing_testimony),
        ),
        "case": (
            _answer(create_in(world.case), world.case),
            _answer(create_in("NO-SUCH-CASE"), "NO-SUCH-CASE"),
        ),
        "witness": (
            _answer(reveal(world.pseudonym), world.pseudonym),
            _answer(reveal("W-no-such-witness"), "W-no-such-witness"),
        ),
    }

    for existing, _ in probes.values():
        assert existing["status"] == 404
    leaks = {what: answers for what, answers in probes.items() if answers[0] != answers[1]}
    assert leaks == {}, "existence shows through a different answer"


def test_auditor_and_admin_cannot_probe_which_witness_pseudonyms_exist(
    deployment: Deployment,
) -> None:
    world = build_world(deployment)
    body = {"reason": "Checking whether this witness is on file."}

    for kind in (AUDITOR, ADMIN):
        caller = make_caller(world, kind)
        known = deployment.client.post(
            f"{API}/witnesses/{world.pseudonym}/identity:reveal", json=body, headers=caller.headers
        )
        unknown = deployment.client.post(
            f"{API}/witnesses/W-no-such-witness/identity:reveal",
            json=body,
            headers=caller.headers,
        )

        assert (kind, known.status_code, unknown.status_code) == (kind, 403, 403)
        assert known.json()["detail"] == unknown.json()["detail"]


def test_search_finds_only_testimonies_in_the_callers_cases(deployment: Deployment) -> None:
    world = build_world(deployment)
    inside = make_caller(world, INVESTIGATOR_IN)
    outside = make_caller(world, INVESTIGATOR_OUT)

    def found(caller: Caller) -> set[str]:
        response = deployment.client.get(
            f"{API}/search", params={"q": "beaten"}, headers=caller.headers
        )
        assert response.status_code == 200, response.text
        return {hit["testimony_id"] for hit in response.json()["hits"]}

    assert world.testimony_id in found(inside)
    assert found(outside) == set()
