"""The schema is built by Alembic, on both databases, and the models agree with it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from service.db.engine import make_engine
from service.db.migrate import alembic_config, upgrade_to_head
from service.db.models import Base

REPO = Path(__file__).resolve().parents[3]


def test_migrations_build_every_table_the_models_declare(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert set(Base.metadata.tables) <= tables


def test_models_and_migrations_agree(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_custody_log_starts_empty_with_its_head_row(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            head = connection.execute(text("SELECT id, size FROM custody_head")).all()
    finally:
        engine.dispose()
    assert [tuple(row) for row in head] == [(1, 0)]


def test_migrations_run_down_and_up_again_on_an_empty_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    upgrade_to_head(url)
    command.downgrade(alembic_config(url), "base")
    engine = make_engine(url)
    try:
        remaining = set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()
    assert remaining == set()
    upgrade_to_head(url)


def test_committed_import_schema_matches_the_import_model() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "schema", "export", "--check"],
        cwd=REPO, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    schema = json.loads((REPO / "schemas" / "testimony-import.schema.json").read_text())
    assert set(schema["required"]) >= {"case", "interview", "witness", "consent", "narrative"}


@pytest.mark.parametrize("line", [0, 3, 7])
def test_sample_file_lines_validate_against_the_published_json_schema(line: int) -> None:
    import jsonschema

    schema = json.loads((REPO / "schemas" / "testimony-import.schema.json").read_text())
    lines = (REPO / "schemas" / "samples" / "testimonies.sample.jsonl").read_text().splitlines()
    jsonschema.validate(json.loads(lines[line]), schema)
