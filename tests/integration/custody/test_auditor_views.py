"""What auditors see of the custody log: filtered timelines, per-object histories, activity
summaries and downloads -- and never the content of a testimony (separation of duties).

One log per database kind is recorded for the whole module: an officer enters testimonies
whose narrative and witness identity carry unique marker words, an investigator reads them
and reveals an identity, an auditor is refused a read and signs in through the CLI. The
expected answers are computed from the ``custody_events`` table itself.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import shutil
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner, Result

from cli.main import app as cli_app
from service.context import Role
from service.custody.models import CustodyEvent
from service.custody.schemas import EventRead
from tests.conftest import PG_ADMIN_URL
from tests.factories import Account, Deployment, interview_record

# Words that appear in testimony content and witness identities, and nowhere else.
NARRATIVE_ORIGINAL = "보초막 뒤 우물가에서 마지막으로 보았습니다 칸타렐라"
NARRATIVE_TRANSLATION = "Last seen by the well behind the Quillmarsh sentry post"
IDENTITY_NAME = "Oresund Vellacott"
IDENTITY_CONTACT = "+82 10 qzx-4417 9083"
IDENTITY_FAMILY = "누이 (혜산 파란대문)"
INCIDENT_DESCRIPTION = "Beaten in the Brackenfold cellar."
MARKERS = (
    NARRATIVE_ORIGINAL,
    "칸타렐라",
    "우물가에서",
    NARRATIVE_TRANSLATION,
    "Quillmarsh",
    IDENTITY_NAME,
    "Vellacott",
    IDENTITY_CONTACT,
    "qzx-4417",
    IDENTITY_FAMILY,
    "파란대문",
    INCIDENT_DESCRIPTION,
    "Brackenfold",
)


@dataclass
class AuditedLog:
    deployment: Deployment
    auditor: Account
    officer: Account
    investigator: Account
    testimony_ids: list[str]
    witness_ids: list[str]

    def get(self, path: str, **params: Any) -> Any:
        response = self.deployment.client.get(
            f"/api/v1/custody/{path}", params=params, headers=self.auditor.headers
        )
        assert response.status_code == 200, response.text
        return response.json()

    def rows(self) -> list[CustodyEvent]:
        """The stored events, read straight from the table."""

        def work(scope: Any) -> list[CustodyEvent]:
            query = select(CustodyEvent).order_by(CustodyEvent.seq)
            return list(scope.session.scalars(query))

        rows: list[CustodyEvent] = self.deployment.run(None, work)
        return rows

    def cli(self, *args: str) -> Result:
        settings = self.deployment.settings
        return CliRunner().invoke(
            cli_app,
            [
                "--data-dir",
                str(settings.data_dir),
                "--database-url",
                str(settings.database_url),
                "--user",
                self.auditor.username,
                *args,
            ],
            env={"CUSTODIA_PASSWORD": self.auditor.password, "COLUMNS": "250"},
        )


def _pg_admin(statement: str) -> None:
    import psycopg

    dsn = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True, connect_timeout=3) as connection:
        connection.execute(statement)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def log(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AuditedLog]:
    root = tmp_path_factory.mktemp("auditor-views")
    database = ""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        (root / "data").mkdir(mode=0o700)
        shutil.copyfile(template, root / "data" / "custodia.db")
        url = f"sqlite:///{root / 'data' / 'custodia.db'}"
    else:
        pg_template: str = request.getfixturevalue("pg_template")
        database = f"custodia_views_{uuid.uuid4().hex[:12]}"
        _pg_admin(f'CREATE DATABASE "{database}" TEMPLATE "{pg_template}"')
        url = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{database}"
    try:
        dep = Deployment.create(root / "data", url)
        try:
            yield _record(dep)
        finally:
            dep.close()
    finally:
        if database:
            _pg_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _record(dep: Deployment) -> AuditedLog:
    client = dep.client
    case = dep.case()
    officer = dep.user(Role.OFFICER, cases=(case,))
    investigator = dep.user(Role.INVESTIGATOR, cases=(case,))
    auditor = dep.user(Role.AUDITOR)
    testimony_ids, pseudonyms = [], []
    for number in range(2):
        record = interview_record(case)
        record["narrative"] = {
            "original": f"{NARRATIVE_ORIGINAL} {number}",
            "translation_en": f"{NARRATIVE_TRANSLATION} {number}",
        }
        record["witness"]["identity"].update(
            legal_name=IDENTITY_NAME, contact=IDENTITY_CONTACT, family_in_dprk=[IDENTITY_FAMILY]
        )
        record["incidents"][0]["description"] = INCIDENT_DESCRIPTION
        testimony_ids.append(dep.create_testimony(officer, record)["id"])
        pseudonyms.append(record["witness"]["pseudonym"])
    for testimony_id in testimony_ids:
        read = client.get(f"/api/v1/testimonies/{testimony_id}", headers=investigator.headers)
        assert read.status_code == 200 and NARRATIVE_TRANSLATION in read.text
    reveal = client.post(
        f"/api/v1/witnesses/{pseudonyms[0]}/identity:reveal",
        json={"reason": "The prosecutor needs to contact the witness."},
        headers=investigator.headers,
    )
    assert reveal.status_code == 200 and IDENTITY_NAME in reveal.text
    refused = client.get(f"/api/v1/testimonies/{testimony_ids[1]}", headers=auditor.headers)
    assert refused.status_code == 403
    audited = AuditedLog(dep, auditor, officer, investigator, testimony_ids, [])
    signed_in = audited.cli("custody", "events", "--limit", "1")  # a sign-in on channel cli
    assert signed_in.exit_code == 0, signed_in.output
    audited.witness_ids = sorted(
        {r.object_id for r in audited.rows() if r.object_type == "identity" and r.object_id}
    )
    return audited


def all_pages(log: AuditedLog, limit: int, **filters: Any) -> list[dict[str, Any]]:
    """Follow ``next_cursor`` to the end, collecting every event returned."""
    events: list[dict[str, Any]] = []
    cursor = 0
    while True:
        page = log.get("events", limit=limit, cursor=cursor, **filters)
        assert len(page["events"]) <= limit
        events += page["events"]
        if page["next_cursor"] is None:
            return events
        assert page["next_cursor"] == page["events"][-1]["seq"] + 1
        cursor = page["next_cursor"]


def iso(moment: datetime) -> str:
    return moment.isoformat()


# ---- filters --------------------------------------------------------------------------------


FILTERS: dict[str, Callable[[AuditedLog], dict[str, str]]] = {
    "actor": lambda log: {"actor": log.investigator.username},
    "action": lambda log: {"action": "testimony.read"},
    "object_type": lambda log: {"object_type": "identity"},
    "object_type_and_id": lambda log: {
        "object_type": "testimony",
        "object_id": log.testimony_ids[0],
    },
    "channel": lambda log: {"channel": "cli"},
}
COLUMN = {"actor": "actor_name"}


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_events_can_be_filtered(log: AuditedLog, name: str) -> None:
    filters = FILTERS[name](log)

    listed = log.get("events", limit=1000, **filters)["events"]

    expected = [
        r.seq
        for r in log.rows()
        if all(getattr(r, COLUMN.get(key, key)) == value for key, value in filters.items())
    ]
    assert [e["seq"] for e in listed] == expected
    assert len(expected) >= 2  # the filter selects something, and not by accident


def test_the_cli_channel_holds_initialisation_and_cli_sign_ins(log: AuditedLog) -> None:
    listed = log.get("events", limit=1000, channel="cli")["events"]

    actions = [(e["actor"], e["action"]) for e in listed]
    assert actions[:2] == [("init", "key.init"), ("init", "user.create")]
    assert (log.auditor.username, "auth.login") in actions


def test_events_can_be_filtered_by_time(log: AuditedLog) -> None:
    rows = log.rows()
    middle = rows[len(rows) // 2]
    later = rows[-3]
    seoul = timezone(timedelta(hours=9))

    since = log.get("events", limit=1000, since=iso(middle.occurred_at))["events"]
    window = log.get(
        "events", limit=1000, since=iso(middle.occurred_at), until=iso(later.occurred_at)
    )["events"]
    same_in_seoul = log.get("events", limit=1000, since=iso(middle.occurred_at.astimezone(seoul)))[
        "events"
    ]
    naive_is_utc = log.get(
        "events", limit=1000, since=iso(middle.occurred_at.replace(tzinfo=None))
    )["events"]

    assert [e["seq"] for e in since] == [r.seq for r in rows if r.seq >= middle.seq]
    assert [e["seq"] for e in window] == list(range(middle.seq, later.seq))  # until excludes
    assert same_in_seoul == since
    assert naive_is_utc == since


def test_the_cli_takes_times_without_an_offset_as_utc(log: AuditedLog) -> None:
    reads = [r for r in log.rows() if r.action == "testimony.read"]
    after_last = (reads[-1].occurred_at + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S")

    before = log.cli("custody", "events", "--action", "testimony.read", "--until", after_last)
    after = log.cli("custody", "events", "--action", "testimony.read", "--since", after_last)

    assert before.exit_code == 0, before.output
    assert after.exit_code == 0, after.output
    assert before.output.count("testimony.read") == len(reads)
    assert after.output.count("testimony.read") == 0


# ---- pagination -----------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [1, 7, 1000])
def test_cursor_pagination_returns_every_event_exactly_once(log: AuditedLog, limit: int) -> None:
    events = all_pages(log, limit)

    seqs = [e["seq"] for e in events]
    assert seqs == [r.seq for r in log.rows()]
    assert seqs == list(range(len(seqs)))


def test_cursor_pagination_under_a_filter_returns_every_match_exactly_once(
    log: AuditedLog,
) -> None:
    events = all_pages(log, 2, actor=log.officer.username)

    assert [e["seq"] for e in events] == [
        r.seq for r in log.rows() if r.actor_name == log.officer.username
    ]


@pytest.mark.parametrize("limit", [0, 1001])
def test_a_page_size_outside_1_to_1000_is_a_422_problem(log: AuditedLog, limit: int) -> None:
    response = log.deployment.client.get(
        "/api/v1/custody/events", params={"limit": limit}, headers=log.auditor.headers
    )

    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "limit" in {e["field"] for e in response.json()["errors"]}


# ---- per-object history and activity --------------------------------------------------------


def test_an_objects_history_lists_its_events_in_order(log: AuditedLog) -> None:
    testimony_id = log.testimony_ids[0]

    history = log.get(f"objects/testimony/{testimony_id}")

    assert [e["seq"] for e in history] == [
        r.seq for r in log.rows() if r.object_type == "testimony" and r.object_id == testimony_id
    ]
    actions = [e["action"] for e in history]
    assert actions[0] == "testimony.create"
    assert "testimony.read" in actions and "testimony.update" not in actions
    assert all(e["object_sha256"] is None or len(e["object_sha256"]) == 64 for e in history)


def test_an_identity_history_shows_who_revealed_it_and_why(log: AuditedLog) -> None:
    history = log.get(f"objects/identity/{log.witness_ids[0]}") + log.get(
        f"objects/identity/{log.witness_ids[1]}"
    )

    reveals = [e for e in history if e["action"] == "identity.reveal"]
    assert len(reveals) == 1
    assert reveals[0]["actor"] == log.investigator.username
    assert reveals[0]["details"]["reason"] == "The prosecutor needs to contact the witness."


def test_an_unknown_object_has_an_empty_history(log: AuditedLog) -> None:
    assert log.get(f"objects/testimony/{uuid.uuid4()}") == []


def test_activity_counts_every_actor_action_and_outcome(log: AuditedLog) -> None:
    rows = log.rows()

    activity = log.get("activity")

    expected = Counter((r.actor_name, r.actor_role, r.action, r.outcome) for r in rows)
    assert {(a["actor"], a["role"], a["action"], a["outcome"]): a["count"] for a in activity} == (
        expected
    )
    by_key = {(a["actor"], a["action"], a["outcome"]): a for a in activity}
    denied = by_key[(log.auditor.username, "access.denied", "denied")]
    assert denied["count"] == 1
    reads = [r for r in rows if r.action == "testimony.read"]
    summary = by_key[(log.investigator.username, "testimony.read", "ok")]
    assert datetime.fromisoformat(summary["first"]) == reads[0].occurred_at
    assert datetime.fromisoformat(summary["last"]) == reads[-1].occurred_at


def test_activity_since_a_time_counts_only_later_events(log: AuditedLog) -> None:
    rows = log.rows()
    since = rows[-4].occurred_at

    activity = log.get("activity", since=iso(since))

    assert sum(a["count"] for a in activity) == sum(1 for r in rows if r.occurred_at >= since)


# ---- downloads -------------------------------------------------------------------------------


def test_the_csv_download_lists_the_log_and_is_itself_recorded(log: AuditedLog) -> None:
    before = log.rows()

    response = log.deployment.client.get(
        "/api/v1/custody/events:download", params={"format": "csv"}, headers=log.auditor.headers
    )

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="custody-events.csv"' in response.headers["content-disposition"]
    table = list(csv.DictReader(io.StringIO(response.text)))
    assert list(table[0]) == list(EventRead.model_fields)
    assert [int(r["seq"]) for r in table] == [r.seq for r in before]
    for line, row in zip(table, before, strict=True):
        assert line["action"] == row.action
        assert line["leaf_hash"] == row.leaf_hash.hex()
        assert json.loads(line["details"]) == json.loads(row.details_json)
    recorded = log.rows()[len(before)]
    assert (recorded.action, recorded.actor_name, recorded.channel) == (
        "custody.export",
        log.auditor.username,
        "api",
    )
    assert json.loads(recorded.details_json)["format"] == "csv"
    assert json.loads(recorded.details_json)["events"] == len(before)


def test_a_filtered_jsonl_download_parses_and_records_its_filter(log: AuditedLog) -> None:
    before = log.rows()

    response = log.deployment.client.get(
        "/api/v1/custody/events:download",
        params={"format": "jsonl", "action": "testimony.read"},
        headers=log.auditor.headers,
    )

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = [EventRead.model_validate_json(line) for line in response.text.splitlines()]
    assert [e.seq for e in lines] == [r.seq for r in before if r.action == "testimony.read"]
    recorded = log.rows()[len(before)]
    assert recorded.action == "custody.export"
    details = json.loads(recorded.details_json)
    assert details["format"] == "jsonl"
    assert details["filters"] == {"action": "testimony.read"}
    assert details["events"] == len(lines)


def test_an_unknown_download_format_is_a_422_problem_and_not_recorded(log: AuditedLog) -> None:
    before = len(log.rows())

    response = log.deployment.client.get(
        "/api/v1/custody/events:download", params={"format": "xml"}, headers=log.auditor.headers
    )

    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert len(log.rows()) == before


# ---- separation of duties -------------------------------------------------------------------


@pytest.mark.parametrize("role", ["officer", "investigator"])
@pytest.mark.parametrize("path", ["events", "events:download", "activity", "objects/testimony/x"])
def test_only_auditors_see_the_custody_views(log: AuditedLog, role: str, path: str) -> None:
    account = log.officer if role == "officer" else log.investigator

    response = log.deployment.client.get(f"/api/v1/custody/{path}", headers=account.headers)

    assert response.status_code == 403


def test_nothing_an_auditor_sees_contains_testimony_content_or_identity(
    log: AuditedLog,
) -> None:
    client, headers = log.deployment.client, log.auditor.headers
    seen: dict[str, str] = {}
    for path in (
        "events?limit=1000",
        "activity",
        "events:download?format=csv",
        "events:download?format=jsonl",
        *(f"objects/testimony/{t}" for t in log.testimony_ids),
        *(f"objects/identity/{w}" for w in log.witness_ids),
    ):
        response = client.get(f"/api/v1/custody/{path}", headers=headers)
        assert response.status_code == 200, response.text
        seen[path] = response.text
    size = len(log.rows())
    for seq in range(size):
        proof = log.get("proofs/inclusion", index=seq, tree_size=size)
        seen[f"leaf {seq}"] = base64.b64decode(proof["leaf_data"]).decode("utf-8")
    for args in (("custody", "events", "--limit", "1000"), ("custody", "activity")):
        result = log.cli(*args)
        assert result.exit_code == 0, result.output
        seen[" ".join(args)] = result.output

    for where, text in seen.items():
        for marker in MARKERS:
            assert marker not in text, f"{marker!r} appears in {where}"
    # The views did show the activity: the scan looked at real answers.
    assert log.testimony_ids[0] in seen["events?limit=1000"]


def test_an_auditor_is_refused_the_testimony_itself(log: AuditedLog) -> None:
    response = log.deployment.client.get(
        f"/api/v1/testimonies/{log.testimony_ids[0]}", headers=log.auditor.headers
    )

    assert response.status_code == 403
    assert all(marker not in response.text for marker in MARKERS)
