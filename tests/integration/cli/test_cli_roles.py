"""The ``custodia`` command enforces the same roles and cases as the API (DESIGN.md invariant 4).

Commands run in-process with ``typer.testing.CliRunner`` against the test deployment's data
directory and database, as a named user whose password comes from ``CUSTODIA_PASSWORD``.
``VERBS`` is the specification: which verb each kind of user may run. A refused command
exits non-zero with a message a person can act on, changes nothing, and is on the record;
every event a command causes carries channel ``cli``.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, inspect, select, table
from typer.testing import CliRunner, Result

from cli.main import app
from service.access.models import CaseMember, User
from service.context import Role
from service.custody.models import CustodyEvent
from service.runtime import Scope
from tests.factories import Deployment, interview_record, unique

OK = "ok"
EXPORT_PROFILE = "cli-un-mechanism"
DENIED = "denied by role"
HIDDEN = "not found (another case)"

OFFICER_IN = "officer in the case"
OFFICER_OUT = "officer in another case"
INVESTIGATOR_IN = "investigator in the case"
INVESTIGATOR_OUT = "investigator in another case"
AUDITOR = "auditor"
ADMIN = "admin"
USERS = (OFFICER_IN, OFFICER_OUT, INVESTIGATOR_IN, INVESTIGATOR_OUT, AUDITOR, ADMIN)


@dataclass
class Actor:
    kind: str
    username: str
    password: str
    role: Role


@dataclass
class World:
    deployment: Deployment
    case: str
    testimony_id: str
    bystander: str
    tmp: Path
    tables: list[str]


Args = Callable[[World], list[str]]


@dataclass(frozen=True)
class Verb:
    name: str
    args: Args
    event: str | None
    """The custody action a permitted run records (besides the sign-in)."""
    expected: dict[str, str]
    hidden_message: str = ""


def _import_file(world: World) -> list[str]:
    path = world.tmp / f"{unique('import-')}.jsonl"
    path.write_text(json.dumps(interview_record(world.case), ensure_ascii=False) + "\n")
    return ["import", str(path)]


def _verb(name: str, args: Args, event: str | None, *cells: str, hidden: str = "") -> Verb:
    assert len(cells) == len(USERS), name
    return Verb(name, args, event, dict(zip(USERS, cells, strict=True)), hidden)


# Verbs run in this order, so the admin can disable, then re-enable; assign, then remove.
# fmt: off
#      verb, arguments, event of a permitted run,
#      officer-in  officer-out  investigator-in  investigator-out  auditor  admin
VERBS = [
    _verb("user add", lambda w: ["user", "add", unique("cli.user"), "--role", "investigator"],
          "user.create",
          DENIED, DENIED, DENIED, DENIED, DENIED, OK),
    _verb("user list", lambda w: ["user", "list"], None,
          DENIED, DENIED, DENIED, DENIED, DENIED, OK),
    _verb("user disable", lambda w: ["user", "disable", w.bystander], "user.disable",
          DENIED, DENIED, DENIED, DENIED, DENIED, OK),
    _verb("user enable", lambda w: ["user", "enable", w.bystander], "user.enable",
          DENIED, DENIED, DENIED, DENIED, DENIED, OK),
    _verb("case add", lambda w: ["case", "add", unique("CLI-"), "--title", "From the CLI"],
          "case.create",
          DENIED, DENIED, DENIED, DENIED, DENIED, OK),
    _verb("case assign", lambda w: ["case", "assign", w.case, w.bystander], "case.assign",
          DENIED, DENIED, DENIED, DENIED, DENIED, OK),
    _verb("case assign --remove", lambda w: ["case", "assign", w.case, w.bystander, "--remove"],
          "case.unassign",
          DENIED, DENIED, DENIED, DENIED, DENIED, OK),
    _verb("case list", lambda w: ["case", "list"], None,
          OK, OK, OK, OK, DENIED, OK),
    _verb("key status", lambda w: ["key", "status"], None,
          DENIED, DENIED, DENIED, DENIED, DENIED, OK),
    _verb("key rotate", lambda w: ["key", "rotate", "content"], "key.rotate",
          DENIED, DENIED, DENIED, DENIED, DENIED, OK),
    _verb("testimony show", lambda w: ["testimony", "show", w.testimony_id], "testimony.read",
          OK, HIDDEN, OK, HIDDEN, DENIED, DENIED, hidden="No testimony with id"),
    _verb("import", _import_file, "testimony.create",
          OK, HIDDEN, DENIED, DENIED, DENIED, DENIED, hidden="No case with code"),
    _verb("export profile add",
          lambda w: ["export", "profile", "add", unique("cli-recipient-"), "--kind", "un_mechanisms"],
          "export.profile_create",
          DENIED, DENIED, DENIED, DENIED, DENIED, OK),
    _verb("export profile list", lambda w: ["export", "profile", "list"], None,
          DENIED, DENIED, OK, OK, DENIED, OK),
    _verb("export request",
          lambda w: ["export", "request", "--profile", EXPORT_PROFILE, "--testimony",
                     w.testimony_id, "--purpose", "Submission to the UN mechanism."],
          "export.request",
          DENIED, DENIED, OK, HIDDEN, DENIED, DENIED, hidden="No testimony with id"),
    _verb("export list", lambda w: ["export", "list"], None,
          DENIED, DENIED, OK, OK, DENIED, DENIED),
    _verb("export purge-expired", lambda w: ["export", "purge-expired"], None,
          DENIED, DENIED, DENIED, DENIED, DENIED, OK),
    _verb("drafts purge-expired", lambda w: ["drafts", "purge-expired"], None,
          DENIED, DENIED, DENIED, DENIED, DENIED, OK),
]
# fmt: on


# ---- running the command -----------------------------------------------------------------------


def custodia(
    deployment: Deployment, username: str | None, password: str | None, *args: str
) -> Result:
    base = [
        "--data-dir",
        str(deployment.settings.resolved_data_dir),
        "--database-url",
        deployment.settings.effective_database_url,
    ]
    if username is not None:
        base += ["--user", username]
    env = {"CUSTODIA_PASSWORD": password, "CUSTODIA_USER": None}
    return CliRunner().invoke(app, [*base, *args], env=env)


def output_of(result: Result) -> str:
    """What a person at the terminal sees: standard output and standard error."""
    return result.output


# ---- building the world --------------------------------------------------------------------


def _account(deployment: Deployment, role: Role, cases: tuple[str, ...] = ()) -> tuple[str, str]:
    """Creates a user through the API without signing them in (argon2 is slow on purpose)."""
    username, password = unique(f"{role.value}.cli"), secrets.token_urlsafe(18)
    response = deployment.client.post(
        "/api/v1/users",
        json={
            "username": username,
            "display_name": username,
            "role": role.value,
            "password": password,
        },
        headers=deployment.admin.headers,
    )
    assert response.status_code == 201, response.text
    for code in cases:
        deployment.assign(code, username)
    return username, password


def build_world(deployment: Deployment, tmp: Path) -> tuple[World, list[Actor]]:
    case, other_case = deployment.case(), deployment.case()
    owner = deployment.user(Role.OFFICER, cases=(case,))
    created = deployment.create_testimony(owner, interview_record(case))
    world = World(
        deployment=deployment,
        case=case,
        testimony_id=created["id"],
        bystander=_account(deployment, Role.INVESTIGATOR)[0],
        tmp=tmp,
        tables=_record_tables(deployment),
    )
    profile = deployment.client.post(
        "/api/v1/exports/profiles",
        json={"name": EXPORT_PROFILE, "kind": "un_mechanisms"},
        headers=deployment.admin.headers,
    )
    assert profile.status_code == 201, profile.text
    plan = {
        OFFICER_IN: (Role.OFFICER, (case,)),
        OFFICER_OUT: (Role.OFFICER, (other_case,)),
        INVESTIGATOR_IN: (Role.INVESTIGATOR, (case,)),
        INVESTIGATOR_OUT: (Role.INVESTIGATOR, (other_case,)),
        AUDITOR: (Role.AUDITOR, ()),
    }
    actors = [
        Actor(k, *_account(deployment, role, cases), role) for k, (role, cases) in plan.items()
    ]
    actors.append(Actor(ADMIN, deployment.admin.username, deployment.admin.password, Role.ADMIN))
    return world, actors


# ---- observing what a command left behind ------------------------------------------------


def _record_tables(deployment: Deployment) -> list[str]:
    """Tables of records: not the custody log, and not ``auth_sessions``, where every command's
    own sign-in leaves a session (revoked when the command ends)."""
    skip = {"alembic_version", "auth_sessions"}

    def work(scope: Scope) -> list[str]:
        names = inspect(scope.session.connection()).get_table_names()
        return sorted(n for n in names if not n.startswith("custody") and n not in skip)

    tables: list[str] = deployment.run(None, work)
    return tables


def state_snapshot(world: World) -> dict[str, Any]:
    """Everything a command could change, except the custody log."""
    deployment = world.deployment

    def work(scope: Scope) -> dict[str, Any]:
        counts = select(
            *(
                select(func.count()).select_from(table(name)).scalar_subquery().label(name)
                for name in world.tables
            )
        )
        return {
            "rows": dict(scope.session.execute(counts).one()._mapping),
            "users": sorted(
                tuple(r) for r in scope.session.execute(select(User.username, User.disabled))
            ),
            "members": sorted(
                tuple(r)
                for r in scope.session.execute(select(CaseMember.case_id, CaseMember.user_id))
            ),
        }

    state: dict[str, Any] = deployment.run(None, work)
    keyring = deployment.settings.keyring_path.read_bytes()
    state["keyring"] = hashlib.sha256(keyring).hexdigest()
    return state


def custody_size(deployment: Deployment) -> int:
    size: int = deployment.run(
        None, lambda scope: scope.session.scalar(select(func.count()).select_from(CustodyEvent))
    )
    return size


def events_from(deployment: Deployment, seq: int) -> list[dict[str, Any]]:
    return [e for e in deployment.custody_events() if e["seq"] >= seq]


def check_run(
    verb: Verb, actor: Actor, result: Result, events: list[dict[str, Any]], changed: bool
) -> list[str]:
    """Disagreements of one command run with ``VERBS`` (empty when it behaved)."""
    problems: list[str] = []
    expected = verb.expected[actor.kind]
    text = output_of(result)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        return [f"crashed: {result.exception!r}"]
    if (result.exit_code == 0) != (expected == OK):
        problems.append(f"exit code {result.exit_code}, expected {expected}: {text[-300:]!r}")
    if expected == DENIED and f"The {actor.role.value} role may not perform" not in text:
        problems.append(f"no clear refusal message: {text[-300:]!r}")
    if expected == HIDDEN and verb.hidden_message not in text:
        problems.append(f"no 'not found' message: {text[-300:]!r}")
    if expected != OK and changed:
        problems.append("the refused command changed stored state")

    if [e["channel"] for e in events if e["channel"] != "cli"]:
        problems.append(f"events not on channel cli: {events}")
    actions = [(e["action"], e["actor"], e["outcome"]) for e in events]
    if not actions or actions[0] != ("auth.login", actor.username, "ok"):
        problems.append(f"the command's sign-in is not recorded first: {actions}")
    if expected == OK and verb.event and (verb.event, actor.username, "ok") not in actions:
        problems.append(f"no {verb.event} event: {actions}")
    if expected != OK and ("access.denied", actor.username, "denied") not in actions:
        problems.append(f"refusal not recorded as access.denied: {actions}")
    return problems


# ---- the specification -----------------------------------------------------------------------


def test_every_cli_verb_grants_exactly_the_access_of_the_users_role_and_cases(
    deployment: Deployment, tmp_path: Path
) -> None:
    world, actors = build_world(deployment, tmp_path)
    problems: list[str] = []

    for actor in actors:
        for verb in VERBS:
            before_state, before_size = state_snapshot(world), custody_size(deployment)
            result = custodia(deployment, actor.username, actor.password, *verb.args(world))
            changed = state_snapshot(world) != before_state
            events = events_from(deployment, before_size)
            problems += [
                f"{actor.kind} / {verb.name}: {p}"
                for p in check_run(verb, actor, result, events, changed)
            ]

    assert problems == [], "\n  ".join(["disagreements with VERBS:", *problems])


def test_testimony_show_prints_the_decrypted_testimony_to_a_user_of_its_case(
    deployment: Deployment, tmp_path: Path
) -> None:
    world, actors = build_world(deployment, tmp_path)
    investigator = next(a for a in actors if a.kind == INVESTIGATOR_IN)

    result = custodia(
        deployment, investigator.username, investigator.password,
        "testimony", "show", world.testimony_id, "--json",
    )  # fmt: skip

    assert result.exit_code == 0, output_of(result)
    shown = json.loads(result.stdout)
    assert shown["id"] == world.testimony_id
    assert shown["narrative"]["original"] == interview_record(world.case)["narrative"]["original"]


def test_a_wrong_password_fails_the_command_and_is_recorded(deployment: Deployment) -> None:
    size = custody_size(deployment)
    name = unique("never.created")

    result = custodia(
        deployment, deployment.admin.username, "not-the-admin-password",
        "user", "add", name, "--role", "officer",
    )  # fmt: skip

    assert result.exit_code != 0
    assert "username or password is incorrect" in output_of(result)
    events = events_from(deployment, size)
    assert [(e["action"], e["outcome"], e["channel"], e["actor"]) for e in events] == [
        ("auth.login_failed", "failed", "cli", deployment.admin.username)
    ]
    users = deployment.client.get("/api/v1/users", headers=deployment.admin.headers).json()
    assert name not in {u["username"] for u in users}


def test_a_command_without_an_acting_user_is_refused_before_anything_runs(
    deployment: Deployment,
) -> None:
    size = custody_size(deployment)

    result = custodia(deployment, None, deployment.admin.password, "user", "list")

    assert result.exit_code == 2
    assert "--user" in output_of(result)
    assert custody_size(deployment) == size


def test_taxonomy_list_needs_no_user_and_prints_json_on_request(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"CUSTODIA_USER": None, "CUSTODIA_PASSWORD": None}
    data_dir = ["--data-dir", str(tmp_path / "not-initialised")]

    table_result = runner.invoke(app, [*data_dir, "taxonomy", "list"], env=env)
    json_result = runner.invoke(app, [*data_dir, "taxonomy", "list", "--json"], env=env)

    assert table_result.exit_code == 0, table_result.output
    assert json_result.exit_code == 0, json_result.output
    taxonomy = json.loads(json_result.stdout)
    codes = [c["code"] for c in taxonomy["categories"]]
    assert taxonomy["version"] and len(codes) > 5
    assert codes[0] in table_result.stdout
    assert not (tmp_path / "not-initialised").exists()
