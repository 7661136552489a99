"""Shared fixtures: real databases (SQLite file and PostgreSQL), real deployments, real app.

Each test gets its own database: a copy of a migrated SQLite template file, or a PostgreSQL
database cloned from a migrated template (``CREATE DATABASE ... TEMPLATE``) and dropped
afterwards. PostgreSQL tests skip with a reason when no server answers, except under CI,
where they must run.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.db.migrate import upgrade_to_head

PG_ADMIN_URL = os.environ.get(
    "CUSTODIA_TEST_PG_ADMIN", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _pg_admin_connection():  # type: ignore[no-untyped-def]
    import psycopg

    dsn = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    return psycopg.connect(dsn, autocommit=True, connect_timeout=3)


def _pg_url(name: str) -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    try:
        connection = _pg_admin_connection()
    except Exception as error:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI but unreachable: {error}")
        pytest.skip(f"PostgreSQL unreachable at {PG_ADMIN_URL}: {error}")
    name = f"custodia_tpl_{uuid.uuid4().hex[:12]}"
    with connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    upgrade_to_head(_pg_url(name))
    yield name
    with _pg_admin_connection() as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "custodia.db"
    upgrade_to_head(f"sqlite:///{path}")
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated, empty database of each supported kind."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        data_dir = tmp_path / "data"
        data_dir.mkdir(mode=0o700)
        target = data_dir / "custodia.db"
        shutil.copyfile(template, target)
        yield f"sqlite:///{target}"
        return
    template_name: str = request.getfixturevalue("pg_template")
    name = f"custodia_t_{uuid.uuid4().hex[:12]}"
    with _pg_admin_connection() as connection:
        connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"')
    try:
        yield _pg_url(name)
    finally:
        with _pg_admin_connection() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def deployment(database_url: str, tmp_path: Path) -> Iterator[object]:
    """An initialised Custodia (data dir, keyring, schema, admin) with a running test app."""
    from tests.factories import Deployment

    dep = Deployment.create(tmp_path / "data", database_url)
    try:
        yield dep
    finally:
        dep.close()
