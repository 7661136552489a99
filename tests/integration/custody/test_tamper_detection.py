"""Invariant 3, "the record proves itself": every way of tampering with the stored custody
log is caught, and the verifier names the first bad entry.

A real log of a few dozen events is recorded once per database kind through the HTTP API
(users, a case, testimonies, reads, an edit, an identity reveal, a refused read, a
checkpoint published to a witness directory, more reads). Each test gets its own copy of
it, edits the database behind the service's back with plain SQL, the way an insider with
database access would, and runs the verifier twice: as an auditor through
``POST /api/v1/custody/verify`` and through ``custodia custody verify``. Both must name the
same first bad sequence number and the same kind of problem.

A verification run is itself a custody event, appended at the log's head after the check,
and the CLI records its sign-in before it verifies. Where that matters (a truncated tail)
the test says so.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, Table, delete, func, insert, select, update
from typer.testing import CliRunner, Result

from cli.main import app as cli_app
from service.app import create_app
from service.config import Settings
from service.context import Role
from service.crypto.keyring import FileKeyring
from service.custody.canonical import EventFields, canonical_json
from service.custody.merkle import MemorySubtreeStore, leaf_hash, root_from_leaf_hashes
from service.custody.models import CustodyCheckpoint, CustodyEvent, CustodyHead, CustodyTreeNode
from service.custody.note import Checkpoint, encode_verifier_key, sign_checkpoint
from service.custody.publish import VKEY_FILE, checkpoint_filename
from service.custody.verify import Problem
from service.runtime import Runtime
from service.testimony import models as testimony_models
from tests.conftest import PG_ADMIN_URL
from tests.factories import Account, Deployment, interview_record

EVENTS = cast(Table, CustodyEvent.__table__)
NODES = cast(Table, CustodyTreeNode.__table__)
HEAD = cast(Table, CustodyHead.__table__)
CHECKPOINTS = cast(Table, CustodyCheckpoint.__table__)
TESTIMONY_VERSIONS = cast(Table, testimony_models.TestimonyVersion.__table__)


# ---- the log under test ------------------------------------------------------------------


@dataclass
class RecordedLog:
    """A deployment whose custody log holds a realistic few dozen events."""

    deployment: Deployment
    auditor: Account
    officer: Account
    investigator: Account
    testimony_ids: list[str]
    witness_dir: Path
    published: Path
    """The on-demand checkpoint as the witness directory received it."""

    @property
    def engine(self) -> Engine:
        return self.deployment.runtime.engine

    @property
    def published_size(self) -> int:
        return int(self.published.read_text(encoding="utf-8").split("\n")[1])

    @property
    def published_vkey(self) -> str:
        return (self.witness_dir / VKEY_FILE).read_text(encoding="utf-8").strip()

    # -- reading the log (plain SQL, no service code) --

    def head(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(HEAD.c.size)).scalar_one())

    def stored_seqs(self) -> list[int]:
        with self.engine.connect() as conn:
            return list(conn.scalars(select(EVENTS.c.seq).order_by(EVENTS.c.seq)))

    def seq_of(self, action: str, *, nth: int = 0, **columns: Any) -> int:
        """Sequence number of the ``nth`` event with this action (and column values)."""
        query = select(EVENTS.c.seq).where(EVENTS.c.action == action)
        for name, value in columns.items():
            query = query.where(EVENTS.c[name] == value)
        with self.engine.connect() as conn:
            seqs: list[int] = list(conn.scalars(query.order_by(EVENTS.c.seq)))
        return seqs[nth]

    def event(self, seq: int) -> dict[str, Any]:
        with self.engine.connect() as conn:
            return dict(conn.execute(select(EVENTS).where(EVENTS.c.seq == seq)).mappings().one())

    # -- the two verifiers --

    def verify_api(self) -> dict[str, Any]:
        response = self.deployment.client.post(
            "/api/v1/custody/verify", headers=self.auditor.headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def verify_cli(self, *options: str) -> Result:
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
                "custody",
                "verify",
                *options,
            ],
            env={"CUSTODIA_PASSWORD": self.auditor.password, "COLUMNS": "200"},
        )

    def assert_api_reports(self, seq: int | None, problem: Problem) -> dict[str, Any]:
        report = self.verify_api()
        assert report["ok"] is False, report
        assert report["first_problem"]["seq"] == seq, report["first_problem"]
        assert report["first_problem"]["problem"] == problem.value, report["first_problem"]
        return report

    def assert_cli_reports(self, seq: int | None, problem: Problem, *options: str) -> str:
        result = self.verify_cli(*options)
        output = " ".join(result.output.split())
        crashed = result.exception if not isinstance(result.exception, SystemExit) else None
        assert crashed is None, f"the CLI crashed: {crashed!r}"
        assert result.exit_code == 1, output
        where = f"seq {seq}: " if seq is not None else ""
        assert f"First bad entry: {where}{problem.value}:" in output, output
        return output

    def assert_reported(self, seq: int | None, problem: Problem) -> None:
        """Both verifiers name ``seq`` as the first bad entry, with this kind of problem."""
        self.assert_api_reports(seq, problem)
        self.assert_cli_reports(seq, problem)

    def assert_verifies(self, *cli_options: str) -> None:
        report = self.verify_api()
        assert report["ok"] is True, report["problems"]
        result = self.verify_cli(*cli_options)
        assert result.exit_code == 0, result.output
        assert "OK" in result.output

    def give_size_parity(self, *, odd: bool) -> None:
        """Grow the log by one verification run if its size has the other parity.

        Appending at an odd size combines the new leaf with the one before it, so whether a
        log whose last leaf was deleted can still take events depends on this.
        """
        if self.head() % 2 != odd:
            self.verify_api()
        assert self.head() % 2 == odd

    def restart(self) -> None:
        """Reopen the service from disk (e.g. after its keyring file was replaced)."""
        dep = self.deployment
        dep.client.close()
        dep.runtime.close()
        dep.runtime = Runtime.open(dep.settings)
        dep.client = TestClient(
            create_app(dep.settings, dep.runtime), raise_server_exceptions=False
        )
        dep.login(self.auditor)


@dataclass(frozen=True)
class Recording:
    """A deployment with its log recorded once per database kind, kept as a template:
    each test tampers with its own copy (data directory, witness directory, database)."""

    kind: str
    root: Path
    database: str
    admin: Account
    auditor: Account
    officer: Account
    investigator: Account
    testimony_ids: tuple[str, ...]
    published_name: str


def _pg_admin(statement: str) -> None:
    import psycopg

    dsn = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True, connect_timeout=3) as connection:
        connection.execute(statement)


def _pg_url(name: str) -> str:
    return f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def recording(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Recording]:
    root = tmp_path_factory.mktemp("recorded")
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        (root / "data").mkdir(mode=0o700)
        shutil.copyfile(template, root / "data" / "custodia.db")
        database, url = "custodia.db", f"sqlite:///{root / 'data' / 'custodia.db'}"
    else:
        pg_template: str = request.getfixturevalue("pg_template")
        database = f"custodia_rec_{uuid.uuid4().hex[:12]}"
        _pg_admin(f'CREATE DATABASE "{database}" TEMPLATE "{pg_template}"')
        url = _pg_url(database)
    try:
        dep = Deployment.create(root / "data", url, checkpoint_publish_dirs=(root / "witness",))
        try:
            recorded = _record_activity(dep, root, request.param, database)
        finally:
            dep.close()
        yield recorded
    finally:
        if request.param == "postgresql":
            _pg_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.fixture
def log(recording: Recording, tmp_path: Path) -> Iterator[RecordedLog]:
    shutil.copytree(recording.root / "data", tmp_path / "data")
    shutil.copytree(recording.root / "witness", tmp_path / "witness")
    if recording.kind == "sqlite":
        database, url = "", f"sqlite:///{tmp_path / 'data' / recording.database}"
    else:
        database = f"custodia_t_{uuid.uuid4().hex[:12]}"
        _pg_admin(f'CREATE DATABASE "{database}" TEMPLATE "{recording.database}"')
        url = _pg_url(database)
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=url,
        checkpoint_publish_dirs=(tmp_path / "witness",),
    )
    runtime = Runtime.open(settings)
    client = TestClient(create_app(settings, runtime), raise_server_exceptions=False)
    dep = Deployment(settings, runtime, client, replace(recording.admin))
    try:
        yield RecordedLog(
            dep,
            auditor=replace(recording.auditor),
            officer=replace(recording.officer),
            investigator=replace(recording.investigator),
            testimony_ids=list(recording.testimony_ids),
            witness_dir=tmp_path / "witness",
            published=tmp_path / "witness" / recording.published_name,
        )
    finally:
        dep.close()
        if database:
            _pg_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _record_activity(dep: Deployment, root: Path, kind: str, database: str) -> Recording:
    """Users, a case, testimonies, reads, an edit, a reveal, a refusal, a checkpoint, reads."""
    client = dep.client
    case = dep.case()
    officer = dep.user(Role.OFFICER, cases=(case,))
    investigator = dep.user(Role.INVESTIGATOR, cases=(case,))
    auditor = dep.user(Role.AUDITOR)
    records = [interview_record(case) for _ in range(3)]
    ids = [dep.create_testimony(officer, record)["id"] for record in records]
    for testimony_id in ids:
        read = client.get(f"/api/v1/testimonies/{testimony_id}", headers=investigator.headers)
        assert read.status_code == 200, read.text
    edit = client.patch(
        f"/api/v1/testimonies/{ids[0]}",
        json={
            "narrative": {"original": "보위부에서 조사를 받았습니다.", "translation_en": "Held."}
        },
        headers=officer.headers,
    )
    assert edit.status_code == 200, edit.text
    reveal = client.post(
        f"/api/v1/witnesses/{records[1]['witness']['pseudonym']}/identity:reveal",
        json={"reason": "Needed to contact the witness about a court summons."},
        headers=investigator.headers,
    )
    assert reveal.status_code == 200, reveal.text
    refused = client.get(f"/api/v1/testimonies/{ids[2]}", headers=auditor.headers)
    assert refused.status_code == 403
    made = client.post("/api/v1/custody/checkpoints", headers=auditor.headers)
    assert made.status_code == 201, made.text
    published = root / "witness" / checkpoint_filename(made.json()["tree_size"])
    assert published.read_text(encoding="utf-8") == made.json()["signed_note"]
    for testimony_id in ids[1:]:
        read = client.get(f"/api/v1/testimonies/{testimony_id}", headers=investigator.headers)
        assert read.status_code == 200, read.text
    return Recording(
        kind, root, database, dep.admin, auditor, officer, investigator, tuple(ids), published.name
    )


# ---- tampering, the way an insider with database access would do it -------------------------


def set_columns(engine: Engine, seq: int, **values: Any) -> None:
    with engine.begin() as conn:
        conn.execute(update(EVENTS).where(EVENTS.c.seq == seq).values(**values))


def delete_events(engine: Engine, *seqs: int) -> None:
    with engine.begin() as conn:
        conn.execute(delete(EVENTS).where(EVENTS.c.seq.in_(seqs)))


def swap_events(engine: Engine, a: int, b: int) -> None:
    """Exchange every column but ``seq`` (leaf hashes included) between two rows."""
    with engine.begin() as conn:
        rows = {
            r["seq"]: dict(r)
            for r in conn.execute(select(EVENTS).where(EVENTS.c.seq.in_((a, b)))).mappings()
        }
        for target, source in ((a, b), (b, a)):
            values = {k: v for k, v in rows[source].items() if k != "seq"}
            conn.execute(update(EVENTS).where(EVENTS.c.seq == target).values(**values))


def make_room_at(engine: Engine, seq: int) -> None:
    """Renumber rows ``seq``.. one up (through negative numbers: the key is checked per row)."""
    with engine.begin() as conn:
        conn.execute(update(EVENTS).where(EVENTS.c.seq >= seq).values(seq=-EVENTS.c.seq - 1))
        conn.execute(update(EVENTS).where(EVENTS.c.seq < 0).values(seq=-EVENTS.c.seq))


def insert_event(engine: Engine, fields: EventFields) -> None:
    """A forged row whose leaf hash is computed correctly from its own fields."""
    with engine.begin() as conn:
        conn.execute(
            insert(EVENTS).values(
                seq=fields.seq,
                occurred_at=fields.occurred_at,
                actor_id=fields.actor_id,
                actor_name=fields.actor_name,
                actor_role=fields.actor_role,
                channel=fields.channel,
                action=fields.action,
                outcome=fields.outcome,
                object_type=fields.object_type,
                object_id=fields.object_id,
                object_sha256=fields.object_sha256,
                details_json=canonical_json(dict(fields.details)).decode("utf-8"),
                leaf_hash=leaf_hash(fields.canonical_bytes()),
            )
        )


def set_head(engine: Engine, size: int) -> None:
    with engine.begin() as conn:
        conn.execute(update(HEAD).values(size=size))


def fields_of(row: dict[str, Any], seq: int | None = None) -> EventFields:
    return EventFields(
        seq=row["seq"] if seq is None else seq,
        occurred_at=row["occurred_at"],
        actor_id=row["actor_id"],
        actor_name=row["actor_name"],
        actor_role=row["actor_role"],
        channel=row["channel"],
        action=row["action"],
        outcome=row["outcome"],
        object_type=row["object_type"],
        object_id=row["object_id"],
        object_sha256=row["object_sha256"],
        details=json.loads(row["details_json"]),
    )


def forged_read_after(log: RecordedLog, seq: int) -> EventFields:
    """A plausible event: the officer reading a testimony, just after event ``seq``."""
    before = log.event(seq)
    officer_id = log.event(log.seq_of("testimony.create"))["actor_id"]
    return EventFields(
        seq=seq + 1,
        occurred_at=before["occurred_at"] + timedelta(microseconds=1),
        actor_id=officer_id,
        actor_name=log.officer.username,
        actor_role=Role.OFFICER.value,
        channel="api",
        action="testimony.read",
        outcome="ok",
        object_type="testimony",
        object_id=log.testimony_ids[0],
        object_sha256=None,
        details={"request_id": "0" * 32, "version": 1},
    )


def rewrite_history(
    engine: Engine,
    *,
    origin: str,
    sign_with: Any,
    edit: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
) -> None:
    """Rewrite the whole log so that it is consistent again after ``edit``.

    Every event is renumbered and its leaf recomputed, every inner node rebuilt, the head
    set, and every stored checkpoint re-signed over the new tree with ``sign_with`` (an
    Ed25519 private key). Only the format modules (canonical, merkle, note) are used, never
    the code that appends to the log.
    """
    with engine.begin() as conn:
        rows = [dict(r) for r in conn.execute(select(EVENTS).order_by(EVENTS.c.seq)).mappings()]
        rows = edit(rows)
        checkpoints = [dict(r) for r in conn.execute(select(CHECKPOINTS)).mappings()]
        conn.execute(delete(NODES))
        conn.execute(delete(EVENTS))
        tree = MemorySubtreeStore()
        leaves: list[bytes] = []
        for seq, row in enumerate(rows):
            leaf = leaf_hash(fields_of(row, seq).canonical_bytes())
            leaves.append(leaf)
            conn.execute(insert(EVENTS).values(**{**row, "seq": seq, "leaf_hash": leaf}))
            for level, index, digest in tree.append(leaf):
                if level > 0:
                    conn.execute(insert(NODES).values(level=level, idx=index, hash=digest))
        conn.execute(update(HEAD).values(size=len(rows)))
        for checkpoint in checkpoints:
            size = min(checkpoint["tree_size"], len(rows))
            root = root_from_leaf_hashes(leaves[:size])
            note = sign_checkpoint(Checkpoint(origin, size, root), origin, sign_with)
            conn.execute(
                update(CHECKPOINTS)
                .where(CHECKPOINTS.c.id == checkpoint["id"])
                .values(tree_size=size, root_hash=root, signed_note=note)
            )


def without_action(action: str) -> Callable[[list[dict[str, Any]]], list[dict[str, Any]]]:
    def edit(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        kept = [r for r in rows if r["action"] != action]
        assert len(kept) == len(rows) - 1
        return kept

    return edit


def replace_keyring(log: RecordedLog) -> FileKeyring:
    """A new keyring file in place of the old one: a different checkpoint signing key."""
    path = log.deployment.settings.keyring_path
    path.unlink()
    keyring = FileKeyring.create(path)
    log.restart()
    return keyring


# ---- an untampered log ------------------------------------------------------------------------


def test_an_untampered_log_verifies(log: RecordedLog) -> None:
    assert log.head() >= 30
    assert log.stored_seqs() == list(range(log.head()))

    log.assert_verifies()
    log.assert_verifies("--against", str(log.published), "--key", log.published_vkey)


def test_the_api_report_counts_what_was_recomputed(log: RecordedLog) -> None:
    size = log.head()

    report = log.verify_api()

    assert report["ok"] is True and report["first_problem"] is None
    assert report["events"] == size
    assert report["checkpoints_checked"] >= 2  # the first event's and the on-demand one
    assert report["tree_nodes_checked"] == size - bin(size).count("1")
    assert report["object_hashes_checked"] > 0
    assert (
        report["root_hash"]
        == root_from_leaf_hashes([bytes(log.event(s)["leaf_hash"]) for s in range(size)]).hex()
    )


# ---- editing one event ------------------------------------------------------------------------


FIELD_EDITS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    # A reveal of a witness's identity relabelled as an ordinary read.
    "action": lambda row: {"action": "testimony.read"},
    # The read attributed to someone else.
    "actor": lambda row: {"actor_name": "admin", "actor_role": "admin"},
    # The recorded reason for the reveal reworded.
    "details": lambda row: {
        "details_json": row["details_json"].replace("court summons", "routine check")
    },
    # The time nudged by a microsecond, still between its neighbours.
    "time": lambda row: {"occurred_at": row["occurred_at"] + timedelta(microseconds=1)},
    # The hash of the revealed identity document swapped for another.
    "object_sha256": lambda row: {"object_sha256": "0" * 64},
}


@pytest.mark.parametrize("column", sorted(FIELD_EDITS))
def test_an_edited_field_is_reported_as_changed_content_at_its_seq(
    log: RecordedLog, column: str
) -> None:
    target = log.seq_of("identity.reveal")
    before = log.event(target)
    changes = FIELD_EDITS[column](before)
    assert all(before[k] != v for k, v in changes.items())

    set_columns(log.engine, target, **changes)

    log.assert_reported(target, Problem.CONTENT_CHANGED)


def test_backdating_an_event_before_its_predecessor_reads_as_a_reordering(
    log: RecordedLog,
) -> None:
    # The verifier cannot tell an event moved from elsewhere from one redated: either way
    # it is out of time order, its leaf fails, and it is named.
    target = log.seq_of("identity.reveal")
    earlier = log.event(target - 1)["occurred_at"] - timedelta(seconds=1)

    set_columns(log.engine, target, occurred_at=earlier)

    log.assert_reported(target, Problem.ORDER_CHANGED)


def test_an_edited_leaf_hash_alone_is_reported_at_its_seq(log: RecordedLog) -> None:
    target = log.seq_of("testimony.read")

    set_columns(log.engine, target, leaf_hash=bytes(32))

    log.assert_reported(target, Problem.CONTENT_CHANGED)


# ---- removing, reordering, inserting ---------------------------------------------------------


def test_a_deleted_event_in_the_middle_is_reported_missing(log: RecordedLog) -> None:
    target = log.seq_of("identity.reveal")

    delete_events(log.engine, target)

    log.assert_reported(target, Problem.EVENT_MISSING)


def test_a_deleted_event_with_later_rows_renumbered_down_is_reported_missing(
    log: RecordedLog,
) -> None:
    target = log.seq_of("identity.reveal")
    size = log.head()

    delete_events(log.engine, target)
    with log.engine.begin() as conn:
        conn.execute(update(EVENTS).where(EVENTS.c.seq > target).values(seq=EVENTS.c.seq - 1))
    set_head(log.engine, size - 1)

    log.assert_reported(target, Problem.EVENT_MISSING)


def test_two_swapped_events_are_reported_as_reordered(log: RecordedLog) -> None:
    first = log.seq_of("testimony.read", actor_name=log.investigator.username)
    second = log.seq_of("testimony.read", actor_name=log.investigator.username, nth=2)
    assert second - first == 2

    swap_events(log.engine, first, second)

    log.assert_reported(first, Problem.ORDER_CHANGED)


def test_two_swapped_neighbours_are_reported_as_reordered(log: RecordedLog) -> None:
    first = log.seq_of("testimony.read", actor_name=log.investigator.username)

    swap_events(log.engine, first, first + 1)

    log.assert_reported(first, Problem.ORDER_CHANGED)


def test_a_forged_event_slipped_into_the_middle_is_reported_inserted(log: RecordedLog) -> None:
    # The forger renumbers the later rows, writes a row with a correct leaf hash for its
    # position, and raises the head to match; the moved rows' leaves still bind their old
    # sequence numbers.
    after = log.seq_of("identity.reveal")
    forged = forged_read_after(log, after)
    size = log.head()

    make_room_at(log.engine, forged.seq)
    insert_event(log.engine, forged)
    set_head(log.engine, size + 1)

    log.assert_reported(forged.seq, Problem.EVENT_INSERTED)


def test_a_forged_event_appended_beyond_the_head_is_reported_inserted(log: RecordedLog) -> None:
    size = log.head()
    forged = replace(forged_read_after(log, size - 1), seq=size)

    insert_event(log.engine, forged)

    log.assert_api_reports(size, Problem.EVENT_INSERTED)
    # The run could not be recorded: its seq is taken. The report still came back.
    assert log.head() == size
    # (The CLI reports it too, without recording its sign-in: see the damage tests below.)


# ---- truncating the tail ---------------------------------------------------------------------


def test_deleting_the_newest_events_is_reported_as_a_truncated_log(log: RecordedLog) -> None:
    log.give_size_parity(odd=False)  # so the log can still take events (see the damage tests below)
    size = log.head()

    delete_events(log.engine, size - 3, size - 2, size - 1)

    log.assert_api_reports(size - 3, Problem.LOG_TRUNCATED)
    # That run is itself a custody event, written at the head (seq `size`): the deleted
    # events are now a gap below it, which the next run names from the same seq.
    assert log.stored_seqs()[-1] == size
    log.assert_cli_reports(size - 3, Problem.EVENT_MISSING)


def _truncate_consistently(log: RecordedLog, keep: int) -> None:
    """Delete the tail and every inner node over it, and lower the head to match."""
    with log.engine.begin() as conn:
        conn.execute(delete(EVENTS).where(EVENTS.c.seq >= keep))
        # A node (level, idx) covers events idx * 2**level .. (idx + 1) * 2**level - 1.
        nodes = conn.execute(select(NODES.c.level, NODES.c.idx)).all()
        for level, idx in nodes:
            if (idx + 1) << level > keep:
                conn.execute(delete(NODES).where(NODES.c.level == level, NODES.c.idx == idx))
    set_head(log.engine, keep)


def test_a_consistently_truncated_log_is_caught_by_its_stored_checkpoint(
    log: RecordedLog,
) -> None:
    keep = log.published_size - 4

    _truncate_consistently(log, keep)

    log.assert_api_reports(keep, Problem.LOG_TRUNCATED)
    # The log grows again from `keep`: by that run and by the CLI's sign-in, which is on the
    # record before the CLI verifies. The checkpoint still covers more than is stored.
    log.assert_cli_reports(keep + 2, Problem.LOG_TRUNCATED)


def test_a_truncated_log_without_its_checkpoints_is_caught_by_a_published_one(
    log: RecordedLog,
) -> None:
    keep = log.published_size - 4
    _truncate_consistently(log, keep)
    with log.engine.begin() as conn:
        conn.execute(delete(CHECKPOINTS).where(CHECKPOINTS.c.tree_size > keep))

    # The CLI's sign-in is recorded (at seq `keep`) before it verifies.
    output = log.assert_cli_reports(
        keep + 1, Problem.LOG_TRUNCATED, "--against", str(log.published)
    )

    assert f"covers {log.published_size} events but only {keep + 1} are stored" in output
    # Without the witness's copy nothing inside the database contradicts the shorter log.
    log.assert_verifies()


# ---- damage that stops the log taking events --------------------------------------------------


@pytest.mark.parametrize("damage", ["forged row at the head", "tail cut at an odd size"])
def test_the_cli_names_damage_that_stops_the_log_taking_events(
    log: RecordedLog, damage: str
) -> None:
    if damage == "forged row at the head":
        size = log.head()
        insert_event(log.engine, replace(forged_read_after(log, size - 1), seq=size))
        expected = (size, Problem.EVENT_INSERTED)
    else:
        log.give_size_parity(odd=True)
        size = log.head()
        delete_events(log.engine, size - 1)
        expected = (size - 1, Problem.LOG_TRUNCATED)

    log.assert_cli_reports(*expected)


# ---- rewriting the whole log ------------------------------------------------------------------


def test_a_consistently_rewritten_log_passes_alone_but_not_against_a_published_checkpoint(
    log: RecordedLog,
) -> None:
    # Erase the record that an investigator saw a witness's identity: drop the event,
    # renumber, recompute every leaf and node, and re-sign the stored checkpoints with the
    # keyring's own key (an insider holding both the database and the keyring).
    assert log.seq_of("identity.reveal") < log.published_size
    rewrite_history(
        log.engine,
        origin=log.deployment.settings.custody_origin,
        sign_with=log.deployment.runtime.keyring.signing_key(),
        edit=without_action("identity.reveal"),
    )

    log.assert_verifies()
    log.assert_cli_reports(
        log.published_size - 1,
        Problem.PUBLISHED_CHECKPOINT_MISMATCH,
        "--against",
        str(log.published),
    )


# ---- replacing the signing key --------------------------------------------------------------


def test_checkpoints_signed_by_a_replaced_key_fail_their_signature_check(
    log: RecordedLog,
) -> None:
    old_vkey = log.published_vkey

    replace_keyring(log)

    report = log.assert_api_reports(None, Problem.CHECKPOINT_SIGNATURE_INVALID)
    assert "no signature from a known key" in report["first_problem"]["message"]
    log.assert_cli_reports(None, Problem.CHECKPOINT_SIGNATURE_INVALID)
    # Given the old key (as published beside the checkpoints), they verify again: this is
    # how a legitimate key change is survived.
    result = log.verify_cli("--key", old_vkey)
    assert result.exit_code == 0, result.output


def test_a_rewrite_re_signed_with_a_new_key_is_caught_by_a_checkpoint_under_the_old_key(
    log: RecordedLog,
) -> None:
    old_vkey = log.published_vkey
    keyring = replace_keyring(log)
    new_vkey = encode_verifier_key(
        log.deployment.settings.custody_origin, keyring.signing_public_key()
    )
    assert new_vkey != old_vkey
    rewrite_history(
        log.engine,
        origin=log.deployment.settings.custody_origin,
        sign_with=keyring.signing_key(),
        edit=without_action("identity.reveal"),
    )

    # Under the new key alone the forged log is self-consistent ...
    log.assert_verifies()
    # ... the published checkpoint is not signed by any key the verifier trusts ...
    unsigned = log.assert_cli_reports(
        None, Problem.CHECKPOINT_SIGNATURE_INVALID, "--against", str(log.published)
    )
    assert "no signature from a known key" in unsigned
    # ... and with the old published key it proves the history was rewritten.
    log.assert_cli_reports(
        log.published_size - 1,
        Problem.PUBLISHED_CHECKPOINT_MISMATCH,
        "--against",
        str(log.published),
        "--key",
        str(log.witness_dir / VKEY_FILE),
    )


# ---- derived and referenced data ---------------------------------------------------------------


def test_an_altered_inner_tree_node_is_reported_at_the_first_event_it_covers(
    log: RecordedLog,
) -> None:
    # The node at level 3, index 1 is the hash over events 8..15.
    with log.engine.begin() as conn:
        changed = conn.execute(
            update(NODES).where(NODES.c.level == 3, NODES.c.idx == 1).values(hash=bytes(32))
        )
        assert changed.rowcount == 1

    log.assert_reported(8, Problem.TREE_NODE_CHANGED)


def test_an_altered_object_hash_is_reported_at_the_first_event_that_recorded_it(
    log: RecordedLog,
) -> None:
    testimony_id = log.testimony_ids[0]
    created = log.seq_of("testimony.create", object_id=testimony_id)
    with log.engine.begin() as conn:
        changed = conn.execute(
            update(TESTIMONY_VERSIONS)
            .where(
                TESTIMONY_VERSIONS.c.testimony_id == testimony_id,
                TESTIMONY_VERSIONS.c.version == 1,
            )
            .values(content_sha256="f" * 64)
        )
        assert changed.rowcount == 1

    log.assert_reported(created, Problem.OBJECT_HASH_MISMATCH)


def test_verification_runs_are_themselves_on_the_record(log: RecordedLog) -> None:
    before = log.head()

    log.verify_api()

    last = log.event(before)
    assert last["action"] == "custody.verify"
    assert json.loads(last["details_json"])["ok"] is True
    with log.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(EVENTS)) == before + 1
