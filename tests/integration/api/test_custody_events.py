"""Every access is on the record, and nothing else is (DESIGN.md invariant 2).

``ROWS`` is the specification: for each custody-emitting action, how a person triggers it
through the API, exactly which events that appends (in order), and what the action's own
event says: actor, role, channel ``api``, object type and id, outcome, a content hash
(``object_sha256``, 64 hex digits) where there is content, and the facts in ``details``.
No event ever carries narrative, identity, description, file name or file content, a
password or a token: the test writes unique canary strings through the API and looks for
them in every event.

The rows share one deployment per database (users cost an argon2 hash each) and are
reported one by one as subtests. Then: an event that cannot be written takes its action
down with it (no row, no file, no content returned), and sequence numbers stay gap-free
through a mixed workload with refusals, failures and rolled-back import lines.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, inspect, select, table
from sqlalchemy.exc import OperationalError

from service.context import Channel, Principal, RequestContext, Role
from service.custody.actions import Action
from service.custody.models import CustodyEvent, CustodyHead
from service.custody.service import CustodyLog
from service.runtime import Scope
from service.testimony.importer import import_lines
from service.witness.models import Witness
from tests.factories import Account, Deployment, first_category, interview_record, unique

API = "/api/v1"
HEX64 = re.compile(r"^[0-9a-f]{64}$")
ANY_ID = object()
"""Expected object id: present, whatever its value."""


# ---- the scene ---------------------------------------------------------------------------------


def canary(label: str) -> str:
    return f"canary-{label}-{secrets.token_hex(6)}"


@dataclass
class Scene:
    """One case with an officer, an investigator, an outsider officer and an auditor."""

    deployment: Deployment
    case: str
    officer: Account
    investigator: Account
    outsider: Account
    auditor: Account
    canaries: list[str] = field(default_factory=list)
    approver: Account | None = None
    """A second investigator of the case, who approves exports."""

    @property
    def client(self) -> TestClient:
        return self.deployment.client

    @property
    def admin(self) -> Account:
        return self.deployment.admin

    def record(self) -> dict[str, Any]:
        """An interview whose every piece of content is a canary the log must never hold."""
        secret = {
            label: canary(label)
            for label in ("original", "translation", "name", "contact", "family", "description")
        }
        self.canaries += secret.values()
        record = interview_record(self.case)
        record["narrative"] = {
            "original": f"{secret['original']} 보위부 구류장에서 맞았습니다.",
            "translation_en": f"{secret['translation']} I was beaten in the holding centre.",
        }
        record["witness"]["identity"].update(
            legal_name=secret["name"], contact=secret["contact"], family_in_dprk=[secret["family"]]
        )
        record["incidents"][0]["description"] = f"{secret['description']} beaten daily."
        return record

    def testimony(self) -> dict[str, Any]:
        response = self.client.post(
            f"{API}/testimonies", json=self.record(), headers=self.officer.headers
        )
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    def upload(self, testimony_id: str) -> httpx2.Response:
        name, content = canary("filename"), canary("file-content")
        self.canaries += [name, content]
        return self.client.post(
            f"{API}/testimonies/{testimony_id}/attachments",
            content=content.encode(),
            headers={
                **self.officer.headers,
                "Content-Type": "text/plain",
                "Content-Disposition": f"attachment; filename*=UTF-8''{name}.txt",
            },
        )

    def new_user(self, role: Role = Role.INVESTIGATOR) -> dict[str, Any]:
        password = secrets.token_urlsafe(18)
        self.canaries.append(password)
        response = self.client.post(
            f"{API}/users",
            json={
                "username": unique("subject"),
                "display_name": "Subject",
                "role": role.value,
                "password": password,
            },
            headers=self.admin.headers,
        )
        assert response.status_code == 201, response.text
        user: dict[str, Any] = response.json()["user"]
        return user

    def new_case(self) -> dict[str, Any]:
        response = self.client.post(
            f"{API}/cases", json={"code": unique("EV-"), "title": "T"}, headers=self.admin.headers
        )
        assert response.status_code == 201, response.text
        case: dict[str, Any] = response.json()
        return case

    def user_id(self, username: str) -> int:
        users = self.client.get(f"{API}/users", headers=self.admin.headers).json()
        return int(next(u["id"] for u in users if u["username"] == username))

    def witness_id(self, pseudonym: str) -> str:
        found: str = self.deployment.run(
            None,
            lambda scope: scope.session.scalar(
                select(Witness.id).where(Witness.pseudonym == pseudonym)
            ),
        )
        return found


def build_scene(deployment: Deployment) -> Scene:
    case, other = deployment.case(), deployment.case()
    return Scene(
        deployment=deployment,
        case=case,
        officer=deployment.user(Role.OFFICER, cases=(case,)),
        investigator=deployment.user(Role.INVESTIGATOR, cases=(case,)),
        outsider=deployment.user(Role.OFFICER, cases=(other,)),
        auditor=deployment.user(Role.AUDITOR),
        approver=deployment.user(Role.INVESTIGATOR, cases=(case,)),
    )


def expect(response: httpx2.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    if response.headers.get("content-type", "").startswith("application/json"):
        body: dict[str, Any] = response.json() if response.content else {}
        return body
    return {}


# ---- the table ---------------------------------------------------------------------------------


@dataclass
class Expected:
    """What the action's own event must say, known only once the action ran."""

    object_id: object
    details: dict[str, Any] = field(default_factory=dict)
    sha256: str | None = None
    """An exact content hash, when the response tells it."""
    secrets: tuple[str, ...] = ()
    """Strings that must appear in no event of this action (beyond the scene's canaries)."""


@dataclass(frozen=True)
class Row:
    name: str
    action: str
    trigger: Callable[[Scene, Any], Expected]
    events: tuple[str, ...]
    actor: str | None
    """Which scene account acts: 'officer', 'investigator', 'auditor', 'admin' or None."""
    object_type: str
    has_sha256: bool | None
    """True: 64 hex digits; False: no hash; None: not specified for this action."""
    outcome: str = "ok"
    actor_name: Callable[[Scene], str | None] | None = None
    """For events without a signed-in actor: the name recorded, if any."""
    prepare: Callable[[Scene], Any] = lambda scene: None
    """Set-up whose own events are not the row's business."""


def _login(scene: Scene, _: Any) -> Expected:
    body = expect(
        scene.client.post(
            f"{API}/auth/login",
            json={"username": scene.investigator.username, "password": scene.investigator.password},
        ),
        200,
    )
    return Expected(ANY_ID, secrets=(body["access_token"], scene.investigator.password))


def _login_wrong_password(scene: Scene, _: Any) -> Expected:
    wrong = canary("wrong-password")
    expect(
        scene.client.post(
            f"{API}/auth/login", json={"username": scene.investigator.username, "password": wrong}
        ),
        401,
    )
    user_id = scene.user_id(scene.investigator.username)
    return Expected(str(user_id), {"reason": "bad_password"}, secrets=(wrong,))


def _login_unknown_user(scene: Scene, _: Any) -> Expected:
    name, password = canary("typed-name"), canary("typed-password")
    expect(
        scene.client.post(f"{API}/auth/login", json={"username": name, "password": password}), 401
    )
    return Expected(None, {"reason": "unknown_user"}, secrets=(name, password))


def _fresh_session(scene: Scene) -> Account:
    account = Account(scene.auditor.username, scene.auditor.password, scene.auditor.role)
    return scene.deployment.login(account)


def _logout(scene: Scene, account: Account) -> Expected:
    expect(scene.client.post(f"{API}/auth/logout", headers=account.headers), 204)
    return Expected(ANY_ID, secrets=(account.token,))


def _token_rejected(scene: Scene, _: Any) -> Expected:
    token = secrets.token_urlsafe(32)
    response = scene.client.get(f"{API}/taxonomy", headers={"Authorization": f"Bearer {token}"})
    expect(response, 401)
    return Expected(None, secrets=(token,))


def _user_create(scene: Scene, _: Any) -> Expected:
    password = canary("new-password")
    username = unique("created")
    body = expect(
        scene.client.post(
            f"{API}/users",
            json={
                "username": username,
                "display_name": "Created",
                "role": "officer",
                "password": password,
            },
            headers=scene.admin.headers,
        ),
        201,
    )
    return Expected(
        str(body["user"]["id"]), {"username": username, "role": "officer"}, secrets=(password,)
    )


def _user_disable(scene: Scene, user: dict[str, Any]) -> Expected:
    url = f"{API}/users/{user['username']}:disable"
    expect(scene.client.post(url, headers=scene.admin.headers), 200)
    return Expected(str(user["id"]))


def _disabled_user(scene: Scene) -> dict[str, Any]:
    user = scene.new_user()
    url = f"{API}/users/{user['username']}:disable"
    expect(scene.client.post(url, headers=scene.admin.headers), 200)
    return user


def _user_enable(scene: Scene, user: dict[str, Any]) -> Expected:
    url = f"{API}/users/{user['username']}:enable"
    expect(scene.client.post(url, headers=scene.admin.headers), 200)
    return Expected(str(user["id"]))


def _member_of_a_case(scene: Scene) -> tuple[dict[str, Any], dict[str, Any]]:
    user, case = scene.new_user(Role.INVESTIGATOR), scene.new_case()
    scene.deployment.assign(case["code"], user["username"])
    return user, case


def _user_role_change(scene: Scene, prepared: tuple[dict[str, Any], dict[str, Any]]) -> Expected:
    user, case = prepared
    url = f"{API}/users/{user['username']}"
    body = expect(
        scene.client.patch(url, json={"role": "auditor"}, headers=scene.admin.headers), 200
    )
    assert body["role"] == "auditor"
    details = {"from": "investigator", "to": "auditor", "cases_removed": [case["id"]]}
    return Expected(str(user["id"]), details)


class _ForwardClock:
    """The real clock plus an offset that only grows, so time never runs backwards."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock, self.offset = clock, timedelta()

    def __call__(self) -> datetime:
        return self.clock() + self.offset


def _locked_out_user(scene: Scene) -> dict[str, Any]:
    """A user locked out by failed sign-ins, each after the slow-down before it has passed."""
    user = scene.new_user()
    deployment = scene.deployment
    clock = _ForwardClock(deployment.runtime.clock)
    deployment.runtime.clock = clock
    wrong = canary("wrong-password")
    scene.canaries.append(wrong)
    for _ in range(deployment.settings.login_lock_after):
        clock.offset += timedelta(seconds=65)  # longer than any slow-down before the lock
        login = {"username": user["username"], "password": wrong}
        expect(scene.client.post(f"{API}/auth/login", json=login), 401)
    locked = scene.client.post(f"{API}/auth/login", json=login)
    assert locked.status_code == 429, locked.text
    return user


def _user_unlock(scene: Scene, user: dict[str, Any]) -> Expected:
    url = f"{API}/users/{user['username']}:unlock"
    body = expect(scene.client.post(url, headers=scene.admin.headers), 200)
    assert body["locked"] is False
    failures = scene.deployment.settings.login_lock_after
    return Expected(str(user["id"]), {"was_locked": True, "failed_logins": failures})


def _case_create(scene: Scene, _: Any) -> Expected:
    code = unique("NEWCASE-")
    body = expect(
        scene.client.post(
            f"{API}/cases", json={"code": code, "title": "New"}, headers=scene.admin.headers
        ),
        201,
    )
    return Expected(str(body["id"]), {"code": code})


def _case_assign(scene: Scene, case: dict[str, Any]) -> Expected:
    expect(
        scene.client.post(
            f"{API}/cases/{case['code']}/members",
            json={"username": scene.investigator.username},
            headers=scene.admin.headers,
        ),
        200,
    )
    return Expected(str(case["id"]), {"user_id": scene.user_id(scene.investigator.username)})


def _case_with_member(scene: Scene) -> dict[str, Any]:
    case = scene.new_case()
    scene.deployment.assign(case["code"], scene.investigator.username)
    return case


def _case_unassign(scene: Scene, case: dict[str, Any]) -> Expected:
    url = f"{API}/cases/{case['code']}/members/{scene.investigator.username}"
    expect(scene.client.delete(url, headers=scene.admin.headers), 200)
    return Expected(str(case["id"]), {"user_id": scene.user_id(scene.investigator.username)})


def _key_rotate(scene: Scene, _: Any) -> Expected:
    keys = expect_list(scene.client.get(f"{API}/keys", headers=scene.admin.headers))
    current = max(k["version"] for k in keys if k["purpose"] == "content")
    expect_list(scene.client.post(f"{API}/keys/content:rotate", headers=scene.admin.headers))
    return Expected("content", {"new_version": current + 1})


def expect_list(response: httpx2.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    body: list[dict[str, Any]] = response.json()
    return body


def _testimony_create(scene: Scene, _: Any) -> Expected:
    created = scene.testimony()
    witness = scene.witness_id(created["witness_pseudonym"])
    return Expected(
        created["id"], {"version": 1, "witness_id": witness}, sha256=created["content_sha256"]
    )


def _witness_create(scene: Scene, _: Any) -> Expected:
    created = scene.testimony()
    return Expected(scene.witness_id(created["witness_pseudonym"]))


def _identity_update(scene: Scene, _: Any) -> Expected:
    created = scene.testimony()
    return Expected(scene.witness_id(created["witness_pseudonym"]), {"version": 1})


def _testimony_read(scene: Scene, testimony: dict[str, Any]) -> Expected:
    url = f"{API}/testimonies/{testimony['id']}"
    body = expect(scene.client.get(url, headers=scene.investigator.headers), 200)
    return Expected(testimony["id"], {"version": 1}, sha256=body["content_sha256"])


def _testimony_update(scene: Scene, testimony: dict[str, Any]) -> Expected:
    text = canary("corrected")
    scene.canaries.append(text)
    body = expect(
        scene.client.patch(
            f"{API}/testimonies/{testimony['id']}",
            json={"narrative": {"original": text, "translation_en": text}},
            headers=scene.officer.headers,
        ),
        200,
    )
    return Expected(testimony["id"], {"version": 2}, sha256=body["content_sha256"])


def _testimony_history(scene: Scene, testimony: dict[str, Any]) -> Expected:
    url = f"{API}/testimonies/{testimony['id']}/versions"
    expect_list(scene.client.get(url, headers=scene.investigator.headers))
    return Expected(testimony["id"], {"versions": 1})


def _incident_create(scene: Scene, testimony: dict[str, Any]) -> Expected:
    description = canary("new-description")
    scene.canaries.append(description)
    body = expect(
        scene.client.post(
            f"{API}/testimonies/{testimony['id']}/incidents",
            json={
                "categories": [first_category()],
                "date": "2015-02",
                "date_precision": "month",
                "involvement": "direct_witness",
                "description": description,
            },
            headers=scene.officer.headers,
        ),
        201,
    )
    details = {"version": 1, "testimony_id": testimony["id"], "categories": [first_category()]}
    return Expected(body["id"], details, sha256=body["content_sha256"])


def _incident_update(scene: Scene, testimony: dict[str, Any]) -> Expected:
    incident = testimony["incident_ids"][0]
    description = canary("recoded-description")
    scene.canaries.append(description)
    body = expect(
        scene.client.patch(
            f"{API}/testimonies/{testimony['id']}/incidents/{incident}",
            json={"place": "Chongjin", "description": description},
            headers=scene.officer.headers,
        ),
        200,
    )
    details = {"version": 2, "testimony_id": testimony["id"]}
    return Expected(incident, details, sha256=body["content_sha256"])


def _consent(kind: str, scope: str) -> Callable[[Scene, dict[str, Any]], Expected]:
    def trigger(scene: Scene, testimony: dict[str, Any]) -> Expected:
        expect_list(
            scene.client.post(
                f"{API}/testimonies/{testimony['id']}/consent",
                json={"scope": scope, "kind": kind, "effective_on": "2024-05-02"},
                headers=scene.officer.headers,
            )
        )
        return Expected(testimony["id"], {"scope": scope, "effective_on": "2024-05-02"})

    return trigger


def _attachment_create(scene: Scene, testimony: dict[str, Any]) -> Expected:
    body = expect(scene.upload(testimony["id"]), 201)
    # The file's own SHA-256 could confirm a known file: it stays sealed, out of the log.
    return Expected(body["id"], {"testimony_id": testimony["id"]}, secrets=(body["sha256"],))


def _uploaded(scene: Scene) -> tuple[dict[str, Any], dict[str, Any]]:
    testimony = scene.testimony()
    return testimony, expect(scene.upload(testimony["id"]), 201)


def _attachment_read(scene: Scene, prepared: tuple[dict[str, Any], dict[str, Any]]) -> Expected:
    testimony, attachment = prepared
    url = f"{API}/testimonies/{testimony['id']}/attachments/{attachment['id']}"
    response = scene.client.get(url, headers=scene.investigator.headers)
    assert response.status_code == 200, response.text
    created = [
        e
        for e in scene.deployment.custody_events()
        if e["action"] == "attachment.create" and e["object_id"] == attachment["id"]
    ]
    return Expected(
        attachment["id"],
        {"testimony_id": testimony["id"]},
        sha256=created[0]["object_sha256"],
        secrets=(attachment["sha256"],),
    )


REVEAL_REASON = "Corroborating the detention dates for the prosecution file."


def _identity_reveal(scene: Scene, testimony: dict[str, Any]) -> Expected:
    url = f"{API}/witnesses/{testimony['witness_pseudonym']}/identity:reveal"
    response = scene.client.post(
        url, json={"reason": REVEAL_REASON}, headers=scene.investigator.headers
    )
    expect(response, 200)
    return Expected(
        scene.witness_id(testimony["witness_pseudonym"]), {"version": 1, "reason": REVEAL_REASON}
    )


def _denied_by_role(scene: Scene, testimony: dict[str, Any]) -> Expected:
    url = f"{API}/testimonies/{testimony['id']}"
    expect(scene.client.get(url, headers=scene.auditor.headers), 403)
    return Expected(testimony["id"], {"permission": "testimony:read", "reason": "role"})


def _denied_by_case(scene: Scene, testimony: dict[str, Any]) -> Expected:
    url = f"{API}/testimonies/{testimony['id']}"
    expect(scene.client.get(url, headers=scene.outsider.headers), 404)
    return Expected(
        testimony["id"], {"permission": "testimony:read", "reason": "case_not_assigned"}
    )


def _search(scene: Scene, testimony: dict[str, Any]) -> Expected:
    query = canary("query")  # the query text itself may be sensitive: only its HMAC is kept
    response = scene.client.get(
        f"{API}/search", params={"q": query}, headers=scene.investigator.headers
    )
    expect(response, 200)
    return Expected(None, secrets=(query,))


def _statistics(scene: Scene, testimony: dict[str, Any]) -> Expected:
    expect(scene.client.get(f"{API}/statistics", headers=scene.investigator.headers), 200)
    return Expected(None)


def _custody_export(scene: Scene, _: Any) -> Expected:
    url = f"{API}/custody/events:download?format=jsonl"
    response = scene.client.get(url, headers=scene.auditor.headers)
    assert response.status_code == 200, response.text
    return Expected(None, {"format": "jsonl"})


def _checkpoint_request(scene: Scene, _: Any) -> Expected:
    expect(scene.client.post(f"{API}/custody/checkpoints", headers=scene.auditor.headers), 201)
    return Expected(None)


def _custody_verify(scene: Scene, _: Any) -> Expected:
    body = expect(scene.client.post(f"{API}/custody/verify", headers=scene.auditor.headers), 200)
    assert body["ok"] is True, body
    return Expected(None, {"ok": True})


CREATED = ("witness.create", "identity.update", "testimony.create", "consent.give",
           "consent.give", "incident.create")  # fmt: skip


def _investigator_name(scene: Scene) -> str | None:
    return scene.investigator.username


def _profile(scene: Scene) -> str:
    name = unique("recipient-")
    expect(
        scene.client.post(
            f"{API}/exports/profiles",
            json={"name": name, "kind": "un_mechanisms"},
            headers=scene.admin.headers,
        ),
        201,
    )
    return name


def _profile_create(scene: Scene, _: Any) -> Expected:
    body = expect(
        scene.client.post(
            f"{API}/exports/profiles",
            json={"name": unique("recipient-"), "kind": "un_mechanisms"},
            headers=scene.admin.headers,
        ),
        201,
    )
    return Expected(str(body["id"]), {"kind": "un_mechanisms", "include_identity": False})


def _export_body(profile: str, testimony_id: str) -> dict[str, Any]:
    return {
        "profile": profile,
        "purpose": "Submission to the UN accountability mechanism.",
        "testimony_ids": [testimony_id],
    }


def _export_request(scene: Scene, prepared: tuple[str, dict[str, Any]]) -> Expected:
    profile, testimony = prepared
    body = expect(
        scene.client.post(
            f"{API}/exports",
            json=_export_body(profile, testimony["id"]),
            headers=scene.investigator.headers,
        ),
        201,
    )
    return Expected(body["id"], {"profile": profile, "included": [testimony["id"]]})


def _pending_export(scene: Scene) -> tuple[str, str]:
    testimony = scene.testimony()
    body = expect(
        scene.client.post(
            f"{API}/exports",
            json=_export_body(_profile(scene), testimony["id"]),
            headers=scene.investigator.headers,
        ),
        201,
    )
    return body["id"], testimony["id"]


def _approved_export(scene: Scene) -> tuple[str, str]:
    export_id, testimony_id = _pending_export(scene)
    assert scene.approver is not None
    url = f"{API}/exports/{export_id}:approve"
    expect(scene.client.post(url, json={}, headers=scene.approver.headers), 200)
    return export_id, testimony_id


def _built_export(scene: Scene) -> tuple[str, str]:
    export_id, testimony_id = _approved_export(scene)
    url = f"{API}/exports/{export_id}:build"
    expect(scene.client.post(url, headers=scene.investigator.headers), 200)
    return export_id, testimony_id


def _export_decide(verdict: str) -> Callable[[Scene, tuple[str, str]], Expected]:
    def trigger(scene: Scene, prepared: tuple[str, str]) -> Expected:
        assert scene.approver is not None
        url = f"{API}/exports/{prepared[0]}:{verdict}"
        expect(scene.client.post(url, json={}, headers=scene.approver.headers), 200)
        return Expected(prepared[0], {"requested_by": scene.investigator.username})

    return trigger


def _export_build(scene: Scene, prepared: tuple[str, str]) -> Expected:
    url = f"{API}/exports/{prepared[0]}:build"
    body = expect(scene.client.post(url, headers=scene.investigator.headers), 200)
    return Expected(prepared[0], {"included": [prepared[1]]}, sha256=body["bag_sha256"])


def _export_package(scene: Scene, prepared: tuple[str, str]) -> Expected:
    url = f"{API}/exports/{prepared[0]}:build"
    expect(scene.client.post(url, headers=scene.investigator.headers), 200)
    return Expected(prepared[1], {"export_id": prepared[0]})


def _export_download(scene: Scene, prepared: tuple[str, str]) -> Expected:
    url = f"{API}/exports/{prepared[0]}/bag"
    response = scene.client.get(url, headers=scene.investigator.headers)
    assert response.status_code == 200, response.text
    return Expected(prepared[0], sha256=response.headers["x-content-sha256"])


# fmt: off
ROWS = [
    Row("sign-in", "auth.login", _login, ("auth.login",),
        "investigator", "session", False),
    Row("failed sign-in, wrong password", "auth.login_failed", _login_wrong_password,
        ("auth.login_failed",), None, "user", False, outcome="failed",
        actor_name=_investigator_name),
    Row("failed sign-in, unknown user (name not recorded)", "auth.login_failed",
        _login_unknown_user, ("auth.login_failed",), None, "user", False, outcome="failed"),
    Row("sign-out", "auth.logout", _logout, ("auth.logout",),
        "auditor", "session", False, prepare=_fresh_session),
    Row("made-up token", "auth.token_rejected", _token_rejected, ("auth.token_rejected",),
        None, "session", False, outcome="failed"),
    Row("user create", "user.create", _user_create, ("user.create",),
        "admin", "user", False),
    Row("user disable", "user.disable", _user_disable, ("user.disable",),
        "admin", "user", False, prepare=lambda s: s.new_user()),
    Row("user enable", "user.enable", _user_enable, ("user.enable",),
        "admin", "user", False, prepare=_disabled_user),
    Row("user role change (leaves the cases the new role cannot see)", "user.role_change",
        _user_role_change, ("user.role_change",), "admin", "user", False,
        prepare=_member_of_a_case),
    Row("user unlock (after a lock-out by failed sign-ins)", "user.unlock", _user_unlock,
        ("user.unlock",), "admin", "user", False, prepare=_locked_out_user),
    Row("case create", "case.create", _case_create, ("case.create",),
        "admin", "case", False),
    Row("case assign", "case.assign", _case_assign, ("case.assign",),
        "admin", "case", False, prepare=lambda s: s.new_case()),
    Row("case unassign", "case.unassign", _case_unassign, ("case.unassign",),
        "admin", "case", False, prepare=_case_with_member),
    Row("key rotate", "key.rotate", _key_rotate, ("key.rotate",),
        "admin", "keyring", False),
    Row("testimony create", "testimony.create", _testimony_create, CREATED,
        "officer", "testimony", True),
    Row("witness create", "witness.create", _witness_create, CREATED,
        "officer", "witness", False),
    Row("identity update", "identity.update", _identity_update, CREATED,
        "officer", "identity", True),
    Row("testimony read", "testimony.read", _testimony_read, ("testimony.read",),
        "investigator", "testimony", True, prepare=Scene.testimony),
    Row("testimony update", "testimony.update", _testimony_update, ("testimony.update",),
        "officer", "testimony", True, prepare=Scene.testimony),
    Row("testimony history read", "testimony.history_read", _testimony_history,
        ("testimony.history_read",), "investigator", "testimony", None, prepare=Scene.testimony),
    Row("incident create", "incident.create", _incident_create, ("incident.create",),
        "officer", "incident", True, prepare=Scene.testimony),
    Row("incident update", "incident.update", _incident_update, ("incident.update",),
        "officer", "incident", True, prepare=Scene.testimony),
    Row("consent give", "consent.give", _consent("given", "judicial_proceedings"),
        ("consent.give",), "officer", "testimony", False, prepare=Scene.testimony),
    Row("consent withdraw", "consent.withdraw", _consent("withdrawn", "un_mechanisms"),
        ("consent.withdraw",), "officer", "testimony", False, prepare=Scene.testimony),
    Row("attachment create", "attachment.create", _attachment_create, ("attachment.create",),
        "officer", "attachment", True, prepare=Scene.testimony),
    Row("attachment read", "attachment.read", _attachment_read, ("attachment.read",),
        "investigator", "attachment", True, prepare=_uploaded),
    Row("identity reveal (reason recorded)", "identity.reveal", _identity_reveal,
        ("identity.reveal",), "investigator", "identity", True, prepare=Scene.testimony),
    Row("access denied by role", "access.denied", _denied_by_role, ("access.denied",),
        "auditor", "testimony", False, outcome="denied", prepare=Scene.testimony),
    Row("access denied outside the caller's cases", "access.denied", _denied_by_case,
        ("access.denied",), "outsider", "testimony", False, outcome="denied",
        prepare=Scene.testimony),
    Row("search", "search.query", _search, ("search.query",),
        "investigator", "search", False, prepare=Scene.testimony),
    Row("statistics", "statistics.read", _statistics, ("statistics.read",),
        "investigator", "statistics", False),
    Row("custody export", "custody.export", _custody_export, ("custody.export",),
        "auditor", "custody", False),
    Row("checkpoint request", "custody.checkpoint_request", _checkpoint_request,
        ("custody.checkpoint_request",), "auditor", "custody", False),
    Row("custody verify", "custody.verify", _custody_verify, ("custody.verify",),
        "auditor", "custody", False),
    Row("recipient profile create", "export.profile_create", _profile_create,
        ("export.profile_create",), "admin", "recipient_profile", False),
    Row("export request", "export.request", _export_request, ("export.request",),
        "investigator", "export", False,
        prepare=lambda s: (_profile(s), s.testimony())),
    Row("export approve", "export.approve", _export_decide("approve"), ("export.approve",),
        "approver", "export", False, prepare=_pending_export),
    Row("export reject", "export.reject", _export_decide("reject"), ("export.reject",),
        "approver", "export", False, prepare=_pending_export),
    Row("export build", "export.build", _export_build,
        ("testimony.read", "export.package", "export.build"),
        "investigator", "export", True, prepare=_approved_export),
    Row("export package (payload hashes)", "export.package", _export_package,
        ("testimony.read", "export.package", "export.build"),
        "investigator", "testimony", True, prepare=_approved_export),
    Row("export download", "export.download", _export_download, ("export.download",),
        "investigator", "export", True, prepare=_built_export),
]
# fmt: on

NOT_IN_THIS_TABLE = {
    "export.purge": "'custodia export purge-expired', or a download after expiry: both in "
    "tests/integration/export/test_export_pipeline.py",
    "integrity.failure": "tests/integration/api/test_integrity_errors.py (each tampered read "
    "is on the record, naming the reader and the object)",
    "key.init": "written by 'custodia init' when it creates the keyring",
    "import.line_rejected": "the JSONL import is a CLI command (see the gap-free test below)",
    "search.reindex": "'custodia reindex' is a CLI command",
    "testimony.snippet_read": "one per hit of a search with snippets: the search tests' business",
    "shred.request": "tests/integration/shred/ (the request, refusals and their events)",
    "shred.approve": "tests/integration/shred/ (approval by a second administrator executes)",
    "shred.execute": "tests/integration/shred/test_crypto_shred.py (tombstone and events)",
    "shred.bind_legacy_keys": "'custodia shred bind-legacy' is a CLI command: "
    "tests/integration/shred/test_legacy_keys.py",
    "analyst_export.incidents": "tests/integration/analyst/test_incident_export.py (filters and "
    "counts on the event)",
    "bag.import": "'custodia import-bag' is a CLI command: tests/integration/export/"
    "test_reimport.py (the import, and each refusal with its reason)",
    "testimony.imported_from_bag": "one per testimony of an imported bag, with its original "
    "ids: tests/integration/export/test_reimport.py",
    "draft.create": "interview drafts are web pages only: tests/integration/web/test_web_drafts.py",
    "draft.read": "resuming a draft (web only): tests/integration/web/test_web_drafts.py",
    "draft.discard": "tests/integration/web/test_web_drafts.py (the row and its shred secret are gone)",
    "draft.submit": "tests/integration/web/test_web_drafts.py (names the testimony it became)",
    "draft.expire": "on access and 'custodia drafts purge-expired': tests/integration/web/test_web_drafts.py",
}


def test_every_custody_action_has_a_row_or_a_reason() -> None:
    covered = {row.action for row in ROWS} | set(NOT_IN_THIS_TABLE)

    assert {a.value for a in Action} - covered == set(), "actions nobody specified"
    assert covered - {a.value for a in Action} == set(), "rows for actions that do not exist"


# ---- checking one row --------------------------------------------------------------------------


def custody_size(deployment: Deployment) -> int:
    size: int = deployment.run(
        None, lambda scope: scope.session.scalar(select(func.count()).select_from(CustodyEvent))
    )
    return size


def events_from(deployment: Deployment, seq: int) -> list[dict[str, Any]]:
    return [e for e in deployment.custody_events() if e["seq"] >= seq]


def check_row(scene: Scene, row: Row) -> None:
    deployment = scene.deployment
    prepared = row.prepare(scene)
    start = custody_size(deployment)
    expected = row.trigger(scene, prepared)
    events = events_from(deployment, start)

    assert [e["action"] for e in events] == list(row.events)
    event = next(e for e in events if e["action"] == row.action)
    account: Account | None = getattr(scene, row.actor) if row.actor else None
    if account is not None:
        assert (event["actor"], event["role"]) == (account.username, account.role.value)
    else:
        named = row.actor_name(scene) if row.actor_name else None
        assert (event["actor"], event["role"]) == (named, None)
    assert (event["channel"], event["outcome"], event["object_type"]) == (
        Channel.API.value,
        row.outcome,
        row.object_type,
    )
    if expected.object_id is ANY_ID:
        assert event["object_id"]
    else:
        assert event["object_id"] == expected.object_id
    details = json.loads(event["details"])
    assert {k: details.get(k) for k in expected.details} == expected.details
    if row.has_sha256 is True:
        assert HEX64.match(event["object_sha256"] or ""), event["object_sha256"]
    elif row.has_sha256 is False:
        assert event["object_sha256"] is None
    if expected.sha256 is not None:
        assert event["object_sha256"] == expected.sha256

    text = json.dumps(events, ensure_ascii=False)
    leaked = [s for s in (*scene.canaries, *expected.secrets) if s and s in text]
    assert leaked == [], "content, passwords or tokens in the custody log"


def test_each_action_records_exactly_its_events_and_no_content(
    deployment: Deployment, subtests: pytest.Subtests
) -> None:
    scene = build_scene(deployment)

    for row in ROWS:
        with subtests.test(row.name):
            check_row(scene, row)


# ---- an event that cannot be written takes its action down with it ---------------------------


@dataclass(frozen=True)
class Failing:
    action: str
    request: Callable[[Scene, Any], httpx2.Response]
    prepare: Callable[[Scene], Any] = lambda scene: None
    must_not_show: Callable[[Scene, Any], list[str]] = lambda scene, prepared: []


def _create_request(scene: Scene, _: Any) -> httpx2.Response:
    return scene.client.post(
        f"{API}/testimonies", json=scene.record(), headers=scene.officer.headers
    )


def _upload_request(scene: Scene, testimony: dict[str, Any]) -> httpx2.Response:
    return scene.upload(testimony["id"])


def _withdraw_request(scene: Scene, testimony: dict[str, Any]) -> httpx2.Response:
    return scene.client.post(
        f"{API}/testimonies/{testimony['id']}/consent",
        json={"scope": "un_mechanisms", "kind": "withdrawn", "effective_on": "2024-05-02"},
        headers=scene.officer.headers,
    )


def _user_request(scene: Scene, _: Any) -> httpx2.Response:
    return scene.client.post(
        f"{API}/users",
        json={
            "username": unique("doomed"),
            "display_name": "Doomed",
            "role": "officer",
            "password": secrets.token_urlsafe(18),
        },
        headers=scene.admin.headers,
    )


def _read_request(scene: Scene, testimony: dict[str, Any]) -> httpx2.Response:
    return scene.client.get(f"{API}/testimonies/{testimony['id']}", headers=scene.officer.headers)


def _reveal_request(scene: Scene, testimony: dict[str, Any]) -> httpx2.Response:
    url = f"{API}/witnesses/{testimony['witness_pseudonym']}/identity:reveal"
    return scene.client.post(url, json={"reason": REVEAL_REASON}, headers=scene.officer.headers)


def _rotate_request(scene: Scene, _: Any) -> httpx2.Response:
    return scene.client.post(f"{API}/keys/content:rotate", headers=scene.admin.headers)


FAILING = [
    Failing("testimony.create", _create_request),
    Failing("attachment.create", _upload_request, prepare=Scene.testimony),
    Failing("consent.withdraw", _withdraw_request, prepare=Scene.testimony),
    Failing("user.create", _user_request),
    Failing("testimony.read", _read_request, prepare=Scene.testimony),
    Failing("identity.reveal", _reveal_request, prepare=Scene.testimony),
]


def officer_scene(deployment: Deployment) -> Scene:
    """A scene where only the officer and the admin act (one argon2 user, not four)."""
    case = deployment.case()
    officer = deployment.user(Role.OFFICER, cases=(case,))
    return Scene(deployment, case, officer, officer, officer, officer)


def stored_state(scene: Scene) -> dict[str, Any]:
    """Every row count (custody log included), stored file and key version."""
    deployment = scene.deployment

    def work(scope: Scope) -> dict[str, int]:
        names = [
            n
            for n in inspect(scope.session.connection()).get_table_names()
            if n != "alembic_version"
        ]
        counts = select(
            *(select(func.count()).select_from(table(n)).scalar_subquery().label(n) for n in names)
        )
        return dict(scope.session.execute(counts).one()._mapping)

    settings = deployment.settings
    files = sorted(
        str(p.relative_to(settings.resolved_data_dir))
        for root in (settings.attachments_dir, settings.tmp_dir)
        for p in Path(root).rglob("*")
        if p.is_file()
    )
    return {
        "rows": deployment.run(None, work),
        "files": files,
        "keyring": settings.keyring_path.read_bytes(),
    }


@contextmanager
def event_cannot_be_written(monkeypatch: pytest.MonkeyPatch, action: str) -> Iterator[None]:
    """Appending ``action`` fails the way a full disk or a lost connection would."""
    original = CustodyLog.append

    def append(self: CustodyLog, what: Action, *args: Any, **kwargs: Any) -> Any:
        if what.value == action:
            raise OperationalError("INSERT INTO custody_events", {}, OSError("disk full"))
        return original(self, what, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(CustodyLog, "append", append)
        yield


def assert_bare_500(response: httpx2.Response, scene: Scene) -> None:
    assert response.status_code == 500, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert (body["status"], body["title"]) == (500, "Internal server error")
    for clue in ("Traceback", "disk full", "INSERT", "custody_events", *scene.canaries):
        assert clue not in response.text


def test_an_action_whose_event_cannot_be_written_leaves_nothing_behind(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, subtests: pytest.Subtests
) -> None:
    scene = officer_scene(deployment)

    for failing in FAILING:
        with subtests.test(failing.action):
            prepared = failing.prepare(scene)
            before = stored_state(scene)

            with event_cannot_be_written(monkeypatch, failing.action):
                response = failing.request(scene, prepared)

            assert_bare_500(response, scene)
            assert stored_state(scene) == before


def test_a_key_rotation_whose_event_cannot_be_written_leaves_the_keyring_unchanged(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    scene = Scene(
        deployment, "", deployment.admin, deployment.admin, deployment.admin, deployment.admin
    )
    before = stored_state(scene)

    with event_cannot_be_written(monkeypatch, "key.rotate"):
        response = _rotate_request(scene, None)

    assert_bare_500(response, scene)
    status = expect_list(deployment.client.get(f"{API}/keys", headers=scene.admin.headers))
    assert max(k["version"] for k in status if k["purpose"] == "content") == 1
    assert stored_state(scene) == before


# ---- sequence numbers ------------------------------------------------------------------------


def test_sequence_numbers_stay_gap_free_through_refusals_failures_and_rollbacks(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    scene = build_scene(deployment)
    client, officer = scene.client, scene.officer
    created = scene.testimony()
    url = f"{API}/testimonies/{created['id']}"
    login = f"{API}/auth/login"

    client.post(login, json={"username": officer.username, "password": "wrong-password-here"})
    client.post(login, json={"username": "nobody.at.all", "password": "wrong-password-here"})
    client.get(url, headers={"Authorization": "Bearer made-up"})
    client.get(url, headers=scene.auditor.headers)  # 403
    client.get(url, headers=scene.outsider.headers)  # 404
    client.patch(url, json={"narrative": {"original": ""}}, headers=officer.headers)  # 422
    client.get(url, headers=scene.investigator.headers)
    with event_cannot_be_written(monkeypatch, "testimony.create"):
        assert _create_request(scene, None).status_code == 500
    officer_principal = Principal(scene.user_id(officer.username), officer.username, Role.OFFICER)
    lines = [
        json.dumps(scene.record()),
        "{not json",
        json.dumps(interview_record(scene.deployment.case())),  # a case the officer is not in
        json.dumps(scene.record()),
    ]
    report = import_lines(deployment.runtime, RequestContext(Channel.CLI), officer_principal, lines)
    assert (report.imported, len(report.rejected)) == (2, 2)
    client.post(f"{API}/custody/checkpoints", headers=scene.auditor.headers)
    client.get(url, headers=scene.investigator.headers)

    events = deployment.custody_events()
    head = deployment.run(None, lambda s: s.session.get_one(CustodyHead, 1).size)
    outcomes = {e["outcome"] for e in events}
    assert [e["seq"] for e in events] == list(range(len(events)))
    assert head == len(events)
    assert outcomes == {"ok", "denied", "failed"}
    verified = client.post(f"{API}/custody/verify", headers=scene.auditor.headers)
    assert verified.status_code == 200, verified.text
    assert verified.json()["ok"] is True, verified.json()
