"""A testimony with an attachment and an identity, its people, and database snapshots.

``Snapshot`` is what an attacker might hold: a copy of the database (SQLite file or a
PostgreSQL clone, like a dump) and of the whole data directory, taken at some moment.
"""

from __future__ import annotations

import secrets
import shutil
import string
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select

from service.access.models import User
from service.config import Settings
from service.context import Channel, Principal, RequestContext, Role
from service.runtime import Runtime, Scope
from service.search.analysis import analyze_terms
from tests.conftest import _pg_admin_connection, _pg_url
from tests.factories import Account, Deployment, interview_record

T = TypeVar("T")
API = "/api/v1"
REASON = "The witness withdrew all consent and asked for destruction."
ATTACHMENT = b"Sketch of the holding centre, drawn from memory by the witness."


def canary_word() -> str:
    """A random English word that analyses to itself, so a search for it is exact."""
    while True:
        word = "".join(secrets.choice(string.ascii_lowercase) for _ in range(11))
        if analyze_terms(word) == [word]:
            return word


@dataclass
class Made:
    id: str
    pseudonym: str
    attachment_id: str
    canary: str


@dataclass
class World:
    deployment: Deployment
    case: str
    officer: Account
    investigator: Account
    second_admin: Account

    @property
    def admin(self) -> Account:
        return self.deployment.admin

    def add_testimony(self, pseudonym: str | None = None) -> Made:
        canary = canary_word()
        record = interview_record(self.case)
        record["narrative"]["translation_en"] += f" The guard was called {canary}."
        if pseudonym is not None:
            record["witness"]["pseudonym"] = pseudonym
        created = self.deployment.create_testimony(self.officer, record)
        uploaded = self.deployment.client.post(
            f"{API}/testimonies/{created['id']}/attachments",
            content=ATTACHMENT,
            headers={
                **self.officer.headers,
                "Content-Type": "text/plain",
                "Content-Disposition": "attachment; filename*=UTF-8''sketch.txt",
            },
        )
        assert uploaded.status_code == 201, uploaded.text
        return Made(created["id"], created["witness_pseudonym"], uploaded.json()["id"], canary)

    def request_shred(
        self, testimony_id: str, by: Account | None = None, **extra: Any
    ) -> dict[str, Any]:
        response = self.deployment.client.post(
            f"{API}/shred-requests",
            json={"testimony_id": testimony_id, "reason": REASON, **extra},
            headers=(by or self.admin).headers,
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def approve(self, request_id: int, by: Account | None = None) -> Any:
        return self.deployment.client.post(
            f"{API}/shred-requests/{request_id}:approve",
            headers=(by or self.second_admin).headers,
        )

    def shred(self, testimony_id: str, **extra: Any) -> dict[str, Any]:
        request = self.request_shred(testimony_id, **extra)
        response = self.approve(request["id"])
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def read(self, testimony_id: str, who: Account | None = None) -> Any:
        return self.deployment.client.get(
            f"{API}/testimonies/{testimony_id}", headers=(who or self.investigator).headers
        )

    def search(self, word: str) -> set[str]:
        response = self.deployment.client.get(
            f"{API}/search", params={"q": word}, headers=self.investigator.headers
        )
        assert response.status_code == 200, response.text
        return {hit["testimony_id"] for hit in response.json()["hits"]}

    def principal(self, account: Account) -> Principal:
        def work(scope: Scope) -> int:
            user_id = scope.session.scalar(select(User.id).where(User.username == account.username))
            assert user_id is not None
            return user_id

        return Principal(self.deployment.run(None, work), account.username, account.role)


def build_world(deployment: Deployment) -> World:
    case = deployment.case()
    return World(
        deployment,
        case,
        deployment.user(Role.OFFICER, cases=(case,)),
        deployment.user(Role.INVESTIGATOR, cases=(case,)),
        deployment.user(Role.ADMIN),
    )


@dataclass
class Snapshot:
    """A copy of the database and of the data directory, as a backup would hold them."""

    data_dir: Path
    database_url: str
    pg_name: str | None

    @classmethod
    def take(cls, deployment: Deployment, where: Path) -> Snapshot:
        settings = deployment.settings
        url = settings.effective_database_url
        pg_name = None
        # No open connections: SQLite's WAL is checkpointed, PostgreSQL can clone.
        deployment.runtime.engine.dispose()
        shutil.copytree(settings.resolved_data_dir, where, symlinks=True)
        if url.startswith("sqlite"):
            source = Path(url.removeprefix("sqlite:///"))
            copy = where / source.relative_to(settings.resolved_data_dir)
            url = f"sqlite:///{copy}"
        else:
            pg_name = f"custodia_snap_{uuid.uuid4().hex[:12]}"
            source_name = url.rsplit("/", 1)[1]
            with _pg_admin_connection() as connection:
                connection.execute(f'CREATE DATABASE "{pg_name}" TEMPLATE "{source_name}"')
            url = _pg_url(pg_name)
        return cls(where, url, pg_name)

    def install_keys_of(self, deployment: Deployment) -> None:
        """Replace the snapshot's keys with the live ones (keyring and shred secrets)."""
        keys = self.data_dir / "keys"
        shutil.rmtree(keys)
        shutil.copytree(deployment.settings.keyring_path.parent, keys, symlinks=True)

    @contextmanager
    def runtime(self) -> Iterator[Runtime]:
        runtime = Runtime.open(Settings(data_dir=self.data_dir, database_url=self.database_url))
        try:
            yield runtime
        finally:
            runtime.close()

    def drop(self) -> None:
        if self.pg_name is not None:
            with _pg_admin_connection() as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')


def run_as(runtime: Runtime, principal: Principal, work: Callable[[Scope], T]) -> T:
    return runtime.run(RequestContext(channel=Channel.CLI), principal, work)
