"""Typed builders for tests: a deployment with an HTTP client, users, cases and testimonies."""

from __future__ import annotations

import copy
import itertools
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from service.context import Channel, Principal, RequestContext, Role
from service.runtime import Runtime, Scope
from service.setup import initialise

ADMIN = "admin"
_counter = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}{next(_counter)}"


@dataclass
class Account:
    username: str
    password: str
    role: Role
    token: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Deployment:
    settings: Settings
    runtime: Runtime
    client: TestClient
    admin: Account
    accounts: dict[str, Account] = field(default_factory=dict)

    @classmethod
    def create(cls, data_dir: Path, database_url: str, **overrides: Any) -> Deployment:
        settings = Settings(data_dir=data_dir, database_url=database_url, **overrides)
        password = secrets.token_urlsafe(18)
        initialise(settings, admin_username=ADMIN, admin_password=password)
        runtime = Runtime.open(settings)
        client = TestClient(create_app(settings, runtime), raise_server_exceptions=False)
        deployment = cls(settings, runtime, client, Account(ADMIN, password, Role.ADMIN))
        deployment.login(deployment.admin)
        return deployment

    def close(self) -> None:
        self.client.close()
        self.runtime.close()

    # ---- accounts ---------------------------------------------------------------------------

    def login(self, account: Account) -> Account:
        response = self.client.post(
            "/api/v1/auth/login", json={"username": account.username, "password": account.password}
        )
        assert response.status_code == 200, response.text
        account.token = response.json()["access_token"]
        return account

    def user(self, role: Role, *, cases: tuple[str, ...] = (), name: str | None = None) -> Account:
        """Creates a signed-in user of ``role`` assigned to ``cases``."""
        account = Account(name or unique(role.value), secrets.token_urlsafe(18), role)
        response = self.client.post(
            "/api/v1/users",
            json={
                "username": account.username,
                "display_name": account.username,
                "role": role.value,
                "password": account.password,
            },
            headers=self.admin.headers,
        )
        assert response.status_code == 201, response.text
        for code in cases:
            self.assign(code, account.username)
        self.accounts[account.username] = account
        return self.login(account)

    def case(self, code: str | None = None) -> str:
        code = code or unique("CASE-")
        response = self.client.post(
            "/api/v1/cases",
            json={"code": code, "title": f"Case {code}"},
            headers=self.admin.headers,
        )
        assert response.status_code == 201, response.text
        return code

    def assign(self, code: str, username: str) -> None:
        response = self.client.post(
            f"/api/v1/cases/{code}/members",
            json={"username": username},
            headers=self.admin.headers,
        )
        assert response.status_code == 200, response.text

    # ---- records ----------------------------------------------------------------------------

    def create_testimony(self, officer: Account, record: dict[str, Any]) -> dict[str, Any]:
        response = self.client.post("/api/v1/testimonies", json=record, headers=officer.headers)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    # ---- direct domain access (for checks that bypass HTTP) ---------------------------------

    def run(self, principal: Principal | None, work: Any) -> Any:
        return self.runtime.run(RequestContext(channel=Channel.CLI), principal, work)

    def custody_events(self) -> list[dict[str, Any]]:
        from sqlalchemy import select

        from service.custody.models import CustodyEvent

        def work(scope: Scope) -> list[dict[str, Any]]:
            rows = scope.session.scalars(select(CustodyEvent).order_by(CustodyEvent.seq))
            return [
                {
                    "seq": r.seq,
                    "action": r.action,
                    "actor": r.actor_name,
                    "role": r.actor_role,
                    "outcome": r.outcome,
                    "object_type": r.object_type,
                    "object_id": r.object_id,
                    "object_sha256": r.object_sha256,
                    "channel": r.channel,
                    "details": r.details_json,
                }
                for r in rows
            ]

        result: list[dict[str, Any]] = self.run(None, work)
        return result


def interview_record(case: str, **changes: Any) -> dict[str, Any]:
    """A valid import-format record; keyword arguments replace top-level parts."""
    record: dict[str, Any] = {
        "external_id": unique("EXT-"),
        "case": case,
        "interview": {
            "date": "2024-03-14",
            "place": "Seoul",
            "language": "ko",
            "interviewer": "officer.kim",
        },
        "witness": {
            "pseudonym": unique("W-"),
            "identity": {
                "legal_name": "홍길순",
                "birth_year": 1985,
                "gender": "female",
                "contact": "+82 10 0000 0000",
                "family_in_dprk": ["어머니 (회령)"],
            },
        },
        "consent": {"scopes": ["internal_analysis", "un_mechanisms"], "given_on": "2024-03-14"},
        "narrative": {
            "original": "2016년 5월 회령 보위부 구류장에서 조사를 받으며 매일 맞았습니다.",
            "translation_en": "In May 2016 I was beaten every day during interrogation in the "
            "MSS holding centre in Hoeryong.",
        },
        "incidents": [
            {
                "categories": [first_category()],
                "date": "2016-05",
                "date_precision": "month",
                "place": "Hoeryong, North Hamgyong",
                "facility": "MSS holding centre",
                "perpetrator_institution": "Ministry of State Security",
                "involvement": "victim",
                "description": "Beaten during interrogation.",
            }
        ],
    }
    for key, value in changes.items():
        record[key] = copy.deepcopy(value)
    return record


def first_category() -> str:
    """A real child category code from the shipped taxonomy."""
    from service.taxonomy.service import Taxonomy

    taxonomy = Taxonomy.load()
    children = [c.code for c in taxonomy.categories.values() if c.parent]
    return sorted(children)[0]
