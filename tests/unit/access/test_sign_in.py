"""Signing in and staying signed in, through the real API (OWASP ASVS authentication/sessions).

The rules: one answer for every kind of bad sign-in, so usernames cannot be enumerated; a
slow-down after a few failures and a lock after more, which an administrator can clear;
tokens that expire, time out when idle, end at sign-out and all at once when the account is
disabled or given another role, and that are stored only as a keyed hash. A role change
also takes the account out of the cases its new role cannot see, for good. Time is
controlled through ``Runtime.clock``, which every service reads.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
from sqlalchemy import select

from service.access.models import AuthSession, LoginThrottle
from service.context import Role
from service.custody.models import CustodyEvent
from service.db.base import utcnow
from service.runtime import Scope
from tests.factories import Account, Deployment

LOGIN = "/api/v1/auth/login"
PROBE = "/api/v1/taxonomy"  # any endpoint that needs nothing but a valid token


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def controlled_clock(deployment: Deployment) -> Clock:
    clock = Clock()
    deployment.runtime.clock = clock
    return clock


def sign_in(deployment: Deployment, username: str, password: str) -> httpx2.Response:
    return deployment.client.post(LOGIN, json={"username": username, "password": password})


def as_admin(deployment: Deployment) -> dict[str, str]:
    """Fresh admin headers: after the clock moves, the set-up admin's token may have lapsed."""
    return deployment.login(deployment.admin).headers


def probe(deployment: Deployment, token: str) -> int:
    return deployment.client.get(PROBE, headers={"Authorization": f"Bearer {token}"}).status_code


def assert_problem(response: httpx2.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and body["type"]
    return body


# ---- one answer for every bad sign-in ------------------------------------------------------


def test_unknown_user_wrong_password_and_disabled_account_get_the_same_answer(
    deployment: Deployment,
) -> None:
    wrong = deployment.user(Role.OFFICER)
    disabled = deployment.user(Role.OFFICER)
    response = deployment.client.post(
        f"/api/v1/users/{disabled.username}:disable", headers=deployment.admin.headers
    )
    assert response.status_code == 200, response.text

    unknown_user = sign_in(deployment, "nobody.by.that.name", wrong.password)
    wrong_password = sign_in(deployment, wrong.username, wrong.password + "x")
    disabled_account = sign_in(deployment, disabled.username, disabled.password)

    bodies = [assert_problem(r, 401) for r in (unknown_user, wrong_password, disabled_account)]
    assert bodies[0] == bodies[1] == bodies[2]
    assert "access_token" not in bodies[0]


# ---- slow-down and lock-out --------------------------------------------------------------------


def test_after_repeated_failures_even_the_right_password_is_throttled(
    deployment: Deployment,
) -> None:
    clock = controlled_clock(deployment)
    account = deployment.user(Role.INVESTIGATOR)
    for _ in range(deployment.settings.login_slowdown_after):
        assert_problem(sign_in(deployment, account.username, "not-the-password"), 401)

    throttled = sign_in(deployment, account.username, account.password)

    body = assert_problem(throttled, 429)
    wait = int(throttled.headers["Retry-After"])
    assert wait >= 1
    assert "access_token" not in body
    clock.advance(seconds=wait)
    assert sign_in(deployment, account.username, account.password).status_code == 200


def _fail_until_locked(deployment: Deployment, clock: Clock, account: Account) -> None:
    """Fails ``login_lock_after`` times, each time waiting out the slow-down first."""
    for _ in range(deployment.settings.login_lock_after):
        clock.advance(seconds=65)  # longer than any slow-down before the lock
        assert_problem(sign_in(deployment, account.username, "not-the-password"), 401)


def test_after_the_lock_threshold_the_account_is_locked_until_the_lock_expires(
    deployment: Deployment,
) -> None:
    clock = controlled_clock(deployment)
    account = deployment.user(Role.INVESTIGATOR)
    _fail_until_locked(deployment, clock, account)

    clock.advance(minutes=deployment.settings.login_lock_minutes - 1)
    locked = sign_in(deployment, account.username, account.password)

    body = assert_problem(locked, 429)
    assert "locked" in body["detail"]
    assert int(locked.headers["Retry-After"]) > 0
    users = deployment.client.get("/api/v1/users", headers=as_admin(deployment)).json()
    assert {u["username"]: u["locked"] for u in users}[account.username] is True
    clock.advance(minutes=2)
    assert sign_in(deployment, account.username, account.password).status_code == 200


def _attempts(deployment: Deployment, clock: Clock, username: str, tries: int) -> list[int]:
    statuses = []
    for _ in range(tries):
        clock.advance(seconds=65)
        statuses.append(sign_in(deployment, username, "not-the-password").status_code)
    return statuses


def test_an_unknown_name_is_slowed_down_and_locked_exactly_like_an_account(
    deployment: Deployment,
) -> None:
    """Otherwise a 429 would reveal that the name belongs to an account."""
    clock = controlled_clock(deployment)
    account = deployment.user(Role.INVESTIGATOR)
    unknown = "nobody.by.that.name"
    tries = deployment.settings.login_lock_after + 2

    for_account = _attempts(deployment, clock, account.username, tries)
    quick_account = sign_in(deployment, account.username, "again")
    for_unknown = _attempts(deployment, clock, unknown, tries)
    quick_unknown = sign_in(deployment, unknown, "again")

    assert for_unknown == for_account
    assert 429 in for_account
    assert quick_unknown.status_code == quick_account.status_code == 429
    assert quick_unknown.json()["detail"] == quick_account.json()["detail"]


def test_an_unknown_name_is_counted_under_a_keyed_hash_never_in_plain(
    deployment: Deployment,
) -> None:
    typed_by_mistake = "Correct-Horse-" + secrets.token_hex(8)
    sign_in(deployment, typed_by_mistake, "whatever")
    sign_in(deployment, typed_by_mistake.upper(), "whatever")  # one counter, whatever the case
    sign_in(deployment, "someone-else-" + secrets.token_hex(4), "whatever")

    def rows(scope: Scope) -> list[tuple[str, int]]:
        return [
            (r.name_hash, r.failed_logins) for r in scope.session.scalars(select(LoginThrottle))
        ]

    stored = dict(deployment.run(None, rows))
    assert sorted(stored.values()) == [1, 2]
    folded = typed_by_mistake.casefold().encode()
    pepper = deployment.runtime.keyring.token_pepper()
    keyed = hmac.new(pepper, b"login-name\x00" + folded, hashlib.sha256)  # domain-separated
    assert stored[keyed.hexdigest()] == 2
    unkeyed = {hashlib.new(name, folded).hexdigest() for name in ("sha256", "sha3_256", "blake2s")}
    assert unkeyed.isdisjoint(stored)
    # Nothing the database holds on disk spells the name (SQLite: the file and its WAL).
    for path in Path(deployment.settings.resolved_data_dir).glob("custodia.db*"):
        assert folded not in path.read_bytes().lower(), path


def _quick_attempts(deployment: Deployment, username: str, tries: int) -> list[int]:
    return [sign_in(deployment, username, "not-the-password").status_code for _ in range(tries)]


def test_failed_sign_ins_are_forgotten_after_a_day_by_accounts_and_unknown_names_alike(
    deployment: Deployment,
) -> None:
    """A pruned unknown-name counter must not answer differently from an account's."""
    clock = controlled_clock(deployment)
    account = deployment.user(Role.INVESTIGATOR)
    unknown = "nobody.by.that.name"
    slowed = deployment.settings.login_slowdown_after + 1
    _attempts(deployment, clock, account.username, slowed)
    _attempts(deployment, clock, unknown, slowed)
    assert _quick_attempts(deployment, unknown, 1) == [429]

    clock.advance(hours=25)

    for_account = _quick_attempts(deployment, account.username, slowed)
    for_unknown = _quick_attempts(deployment, unknown, slowed)
    assert for_account == for_unknown
    assert for_account[: slowed - 1] == [401] * (slowed - 1)  # counting started again


def test_unknown_name_counters_are_pruned_once_forgotten(deployment: Deployment) -> None:
    """Each sprayed name leaves a row; old rows go, so the table stays bounded."""
    clock = controlled_clock(deployment)
    for n in range(5):
        sign_in(deployment, f"sprayed-{n}-{secrets.token_hex(4)}", "whatever")

    def count(scope: Scope) -> int:
        return len(list(scope.session.scalars(select(LoginThrottle))))

    assert deployment.run(None, count) == 5
    clock.advance(hours=12)
    sign_in(deployment, "one-more-" + secrets.token_hex(4), "whatever")
    assert deployment.run(None, count) == 6  # still within the day: kept

    clock.advance(hours=13)
    sign_in(deployment, "and-another-" + secrets.token_hex(4), "whatever")
    assert deployment.run(None, count) == 2  # the first five were forgotten and deleted


def test_an_administrator_enabling_the_account_clears_the_lock(deployment: Deployment) -> None:
    clock = controlled_clock(deployment)
    account = deployment.user(Role.INVESTIGATOR)
    _fail_until_locked(deployment, clock, account)
    assert sign_in(deployment, account.username, account.password).status_code == 429

    response = deployment.client.post(
        f"/api/v1/users/{account.username}:enable", headers=as_admin(deployment)
    )

    assert response.status_code == 200, response.text
    assert response.json()["locked"] is False
    assert sign_in(deployment, account.username, account.password).status_code == 200


def test_an_administrator_unlocking_a_locked_out_account_lets_the_right_password_in_at_once(
    deployment: Deployment,
) -> None:
    clock = controlled_clock(deployment)
    account = deployment.user(Role.INVESTIGATOR)
    _fail_until_locked(deployment, clock, account)
    assert sign_in(deployment, account.username, account.password).status_code == 429
    admin = as_admin(deployment)
    before = len(deployment.custody_events())

    response = deployment.client.post(f"/api/v1/users/{account.username}:unlock", headers=admin)

    assert response.status_code == 200, response.text
    assert (response.json()["locked"], response.json()["disabled"]) == (False, False)
    events = deployment.custody_events()[before:]
    assert [(e["action"], e["actor"], e["outcome"]) for e in events] == [
        ("user.unlock", deployment.admin.username, "ok")
    ]
    failures = deployment.settings.login_lock_after
    details = json.loads(events[0]["details"])
    assert (details["was_locked"], details["failed_logins"]) == (True, failures)
    assert sign_in(deployment, account.username, account.password).status_code == 200
    # The counters start again from zero: one more mistake is an ordinary 401, not a lock.
    assert_problem(sign_in(deployment, account.username, "not-the-password"), 401)


def test_unlocking_an_account_with_nothing_to_clear_records_nothing(
    deployment: Deployment,
) -> None:
    account = deployment.user(Role.OFFICER)
    before = len(deployment.custody_events())

    response = deployment.client.post(
        f"/api/v1/users/{account.username}:unlock", headers=deployment.admin.headers
    )

    assert response.status_code == 200, response.text
    assert deployment.custody_events()[before:] == []
    assert probe(deployment, account.token) == 200  # unlocking ends no session


# ---- token lifetime ------------------------------------------------------------------------


def test_a_token_expires_after_its_lifetime_even_while_in_use(deployment: Deployment) -> None:
    clock = controlled_clock(deployment)
    account = deployment.user(Role.AUDITOR)
    ttl = deployment.settings.token_ttl_minutes
    step = deployment.settings.token_idle_minutes - 5
    used = 0

    while used + step < ttl:  # in use all along, never idle for long
        clock.advance(minutes=step)
        used += step
        assert probe(deployment, account.token) == 200, f"after {used} minutes"
    clock.advance(minutes=ttl - used - 1)
    assert probe(deployment, account.token) == 200, "a minute before the end of its lifetime"
    clock.advance(minutes=1)

    assert probe(deployment, account.token) == 401


def test_a_token_expires_after_the_idle_timeout(deployment: Deployment) -> None:
    clock = controlled_clock(deployment)
    account = deployment.user(Role.AUDITOR)
    idle = deployment.settings.token_idle_minutes
    clock.advance(minutes=idle - 1)
    assert probe(deployment, account.token) == 200  # use resets the idle timer
    clock.advance(minutes=idle - 1)
    assert probe(deployment, account.token) == 200

    clock.advance(minutes=idle)
    response = deployment.client.get(PROBE, headers=account.headers)

    body = assert_problem(response, 401)
    assert "Sign in again" in body["detail"]
    assert deployment.custody_events()[-1]["action"] == "auth.token_rejected"


def test_signing_out_revokes_the_token(deployment: Deployment) -> None:
    account = deployment.user(Role.OFFICER)

    response = deployment.client.post("/api/v1/auth/logout", headers=account.headers)

    assert response.status_code == 204
    assert_problem(deployment.client.get(PROBE, headers=account.headers), 401)
    assert_problem(deployment.client.post("/api/v1/auth/logout", headers=account.headers), 401)


def test_disabling_a_user_revokes_all_their_tokens_at_once(deployment: Deployment) -> None:
    account = deployment.user(Role.OFFICER)
    first = account.token
    second = deployment.login(account).token
    bystander = deployment.user(Role.OFFICER)
    assert (probe(deployment, first), probe(deployment, second)) == (200, 200)

    response = deployment.client.post(
        f"/api/v1/users/{account.username}:disable", headers=deployment.admin.headers
    )

    assert response.status_code == 200, response.text
    assert (probe(deployment, first), probe(deployment, second)) == (401, 401)
    assert probe(deployment, bystander.token) == 200
    response = deployment.client.post(
        f"/api/v1/users/{account.username}:enable", headers=deployment.admin.headers
    )
    assert response.status_code == 200, response.text
    assert (probe(deployment, first), probe(deployment, second)) == (401, 401)


def test_tokens_are_stored_only_as_a_keyed_hash(deployment: Deployment) -> None:
    account = deployment.user(Role.INVESTIGATOR)
    token = account.token

    def everything_stored(scope: Scope) -> list[str]:
        values = []
        for model in (AuthSession, CustodyEvent):
            for row in scope.session.scalars(select(model)):
                values += [repr(getattr(row, c.key)) for c in model.__table__.columns]
        return values

    stored = deployment.run(None, everything_stored)

    assert stored, "nothing was read back"
    assert not [v for v in stored if token in v]
    assert not [v for v in stored if hashlib.sha256(token.encode()).hexdigest() in v]
    assert probe(deployment, token) == 200


# ---- role changes by an administrator --------------------------------------------------------


def change_role(deployment: Deployment, username: str, role: str, **kw: Any) -> httpx2.Response:
    headers = kw.get("headers", deployment.admin.headers)
    return deployment.client.patch(
        f"/api/v1/users/{username}", json={"role": role}, headers=headers
    )


def members(deployment: Deployment, code: str) -> list[str]:
    cases = deployment.client.get("/api/v1/cases", headers=deployment.admin.headers).json()
    found: list[str] = next(c["members"] for c in cases if c["code"] == code)
    return found


def test_a_role_change_ends_every_session_of_the_user_at_once(deployment: Deployment) -> None:
    account = deployment.user(Role.OFFICER)
    first = account.token
    second = deployment.login(account).token
    bystander = deployment.user(Role.OFFICER)

    response = change_role(deployment, account.username, "investigator")

    assert response.status_code == 200, response.text
    assert response.json()["role"] == "investigator"
    assert (probe(deployment, first), probe(deployment, second)) == (401, 401)
    assert probe(deployment, bystander.token) == 200
    again = sign_in(deployment, account.username, account.password)
    assert (again.status_code, again.json()["role"]) == (200, "investigator")


def test_an_officer_made_auditor_leaves_their_cases_and_changing_back_does_not_restore_them(
    deployment: Deployment,
) -> None:
    case, other = deployment.case(), deployment.case()
    officer = deployment.user(Role.OFFICER, cases=(case, other))
    colleague = deployment.user(Role.OFFICER, cases=(case,))

    assert change_role(deployment, officer.username, "auditor").status_code == 200

    assert members(deployment, case) == [colleague.username]
    assert members(deployment, other) == []
    changed = deployment.custody_events()[-1]
    assert (changed["action"], changed["actor"]) == ("user.role_change", "admin")
    details = json.loads(changed["details"])
    assert (details["from"], details["to"], len(details["cases_removed"])) == (
        "officer",
        "auditor",
        2,
    )

    assert change_role(deployment, officer.username, "officer").status_code == 200

    assert officer.username not in members(deployment, case)
    deployment.login(officer)
    own = deployment.client.get("/api/v1/cases", headers=officer.headers)
    assert (own.status_code, own.json()) == (200, [])
    back = json.loads(deployment.custody_events()[-2]["details"])  # before the sign-in
    assert (back["from"], back["to"], back["cases_removed"]) == ("auditor", "officer", [])


def test_an_investigator_made_officer_keeps_their_cases(deployment: Deployment) -> None:
    case = deployment.case()
    investigator = deployment.user(Role.INVESTIGATOR, cases=(case,))

    assert change_role(deployment, investigator.username, "officer").status_code == 200

    assert members(deployment, case) == [investigator.username]


def test_an_administrator_cannot_change_their_own_role_and_nothing_is_recorded(
    deployment: Deployment,
) -> None:
    before = len(deployment.custody_events())

    response = change_role(deployment, deployment.admin.username, "auditor")

    body = assert_problem(response, 409)
    assert [e["field"] for e in body["errors"]] == ["role"]
    assert deployment.custody_events()[before:] == []
    assert probe(deployment, deployment.admin.token) == 200
    users = deployment.client.get("/api/v1/users", headers=deployment.admin.headers).json()
    assert {u["username"]: u["role"] for u in users}[deployment.admin.username] == "admin"


def test_another_administrator_may_change_an_administrators_role(deployment: Deployment) -> None:
    second = deployment.user(Role.ADMIN)

    response = change_role(deployment, deployment.admin.username, "auditor", headers=second.headers)

    assert response.status_code == 200, response.text
    assert probe(deployment, deployment.admin.token) == 401


def test_setting_the_role_a_user_already_has_records_nothing_and_keeps_their_sessions(
    deployment: Deployment,
) -> None:
    case = deployment.case()
    officer = deployment.user(Role.OFFICER, cases=(case,))
    before = len(deployment.custody_events())

    response = change_role(deployment, officer.username, "officer")

    assert response.status_code == 200, response.text
    assert deployment.custody_events()[before:] == []
    assert probe(deployment, officer.token) == 200
    assert members(deployment, case) == [officer.username]


def test_an_unknown_user_or_role_is_refused_and_nothing_is_recorded(
    deployment: Deployment,
) -> None:
    account = deployment.user(Role.OFFICER)
    before = len(deployment.custody_events())

    assert_problem(change_role(deployment, "nobody.by.that.name", "auditor"), 404)
    unlock = deployment.client.post(
        "/api/v1/users/nobody.by.that.name:unlock", headers=deployment.admin.headers
    )
    assert_problem(unlock, 404)
    assert_problem(change_role(deployment, account.username, "superuser"), 422)
    extra = deployment.client.patch(
        f"/api/v1/users/{account.username}",
        json={"role": "auditor", "disabled": False},
        headers=deployment.admin.headers,
    )
    assert_problem(extra, 422)

    assert deployment.custody_events()[before:] == []
    assert probe(deployment, account.token) == 200


def test_only_administrators_may_change_roles_or_unlock(deployment: Deployment) -> None:
    target = deployment.user(Role.OFFICER)

    for role in (Role.OFFICER, Role.INVESTIGATOR, Role.AUDITOR):
        caller = deployment.user(role)
        before = len(deployment.custody_events())
        changed = change_role(deployment, target.username, "admin", headers=caller.headers)
        unlocked = deployment.client.post(
            f"/api/v1/users/{target.username}:unlock", headers=caller.headers
        )

        assert_problem(changed, 403)
        assert_problem(unlocked, 403)
        refused = deployment.custody_events()[before:]
        assert [(e["action"], e["actor"]) for e in refused] == [
            ("access.denied", caller.username)
        ] * 2
    assert probe(deployment, target.token) == 200
    assert sign_in(deployment, target.username, target.password).json()["role"] == "officer"


# ---- password rules ------------------------------------------------------------------------


def test_a_password_shorter_than_twelve_characters_is_refused_naming_the_field(
    deployment: Deployment,
) -> None:
    def create(username: str, password: str) -> httpx2.Response:
        return deployment.client.post(
            "/api/v1/users",
            json={
                "username": username,
                "display_name": username,
                "role": "officer",
                "password": password,
            },
            headers=deployment.admin.headers,
        )

    short = create("short.password", secrets.token_hex(6)[:11])
    exact = create("twelve.chars", secrets.token_hex(6))

    body = assert_problem(short, 422)
    assert [e["field"] for e in body["errors"]] == ["password"]
    assert "12" in body["detail"]
    assert exact.status_code == 201, exact.text
    users = deployment.client.get("/api/v1/users", headers=deployment.admin.headers).json()
    assert "short.password" not in {u["username"] for u in users}
