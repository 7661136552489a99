"""Many writers at once: the custody log stays gap-free, ordered and verifiable.

Appending locks the single ``custody_head`` row, so however many threads (one process) or
processes (several API workers on PostgreSQL, or a server and a CLI on one SQLite file)
act at the same time, the events get sequence numbers 0..n-1 with no gap or duplicate, each
writer's own events keep their order, every automatic checkpoint signs a real prefix of
the log, and the verifier recomputes the same tree.
"""

from __future__ import annotations

import json
import multiprocessing
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select

from service.access.auth import AuthService
from service.config import Settings
from service.context import Channel, Principal, RequestContext, Role
from service.custody.merkle import root, root_from_leaf_hashes
from service.custody.models import CustodyCheckpoint, CustodyEvent, CustodyHead
from service.custody.note import VerifierKey
from service.custody.tree import DatabaseSubtrees
from service.custody.verify import verify_log
from service.errors import AccessDeniedError
from service.runtime import Runtime, Scope

if TYPE_CHECKING:  # spawned writers import this module: keep it light (no web framework)
    from tests.factories import Account, Deployment

THREADS = 8
PROCESSES = 4
ACTIONS = 25
REFUSED_EVERY = 5  # every fifth action is a refused read, written after its rollback
CHECKPOINT_EVERY = 7


@dataclass
class Scene:
    deployment: Deployment
    reader: Principal
    outsider: Principal
    testimony_id: str


def _principal(dep: Deployment, account: Account) -> Principal:
    principal: Principal = dep.run(
        None, lambda s: AuthService(s).verify_cli_password(account.username, account.password)
    )
    return principal


@pytest.fixture
def scene(database_url: str, tmp_path: Path) -> Iterator[Scene]:
    from tests.factories import Deployment, interview_record

    dep = Deployment.create(
        tmp_path / "data", database_url, checkpoint_every_events=CHECKPOINT_EVERY
    )
    try:
        case = dep.case()
        officer = dep.user(Role.OFFICER, cases=(case,))
        investigator = dep.user(Role.INVESTIGATOR, cases=(case,))
        testimony = dep.create_testimony(officer, interview_record(case))
        # Administrators never read content: their reads are refused and recorded.
        yield Scene(dep, _principal(dep, investigator), _principal(dep, dep.admin), testimony["id"])
    finally:
        dep.close()


def act(runtime: Runtime, principals: tuple[Principal, Principal], testimony_id: str,
        writer: str, number: int) -> None:  # fmt: skip
    """One action by ``writer``: a read, or (every fifth) a read that is refused.

    The request id names the writer and the action's number, so order can be checked.
    """
    from service.testimony.service import TestimonyService as Testimonies

    reader, outsider = principals
    context = RequestContext(channel=Channel.CLI, request_id=f"{writer}-{number:03d}")
    refused = number % REFUSED_EVERY == REFUSED_EVERY - 1
    principal = outsider if refused else reader
    try:
        runtime.run(context, principal, lambda s: Testimonies(s).read(testimony_id))
    except AccessDeniedError:
        assert refused
    else:
        assert not refused


def _process_writer(
    settings: dict[str, Any],
    principals: tuple[Principal, Principal],
    testimony_id: str,
    writer: str,
    start: Any,
) -> None:
    """Runs in a spawned process: its own runtime, engine and connections."""
    runtime = Runtime.open(Settings(**settings))
    try:
        start.wait(timeout=60)
        for number in range(ACTIONS):
            act(runtime, principals, testimony_id, writer, number)
    finally:
        runtime.close()


# ---- what must hold afterwards -------------------------------------------------------------


def assert_log_is_whole(dep: Deployment, writers: list[str], before: int) -> None:
    def check(scope: Scope) -> None:
        session = scope.session
        events = list(session.scalars(select(CustodyEvent).order_by(CustodyEvent.seq)))
        size = len(events)

        # Gap-free, and every action left exactly one event.
        assert [e.seq for e in events] == list(range(size))
        assert session.get_one(CustodyHead, 1).size == size
        assert size == before + len(writers) * ACTIONS

        # Each writer's events are in the order it acted, with the right outcomes.
        mine: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for event in events[before:]:
            writer, number = json.loads(event.details_json)["request_id"].rsplit("-", 1)
            mine[writer].append((int(number), event.outcome))
        assert sorted(mine) == sorted(writers)
        for writer, acts in mine.items():
            assert [n for n, _ in acts] == list(range(ACTIONS)), writer
            assert [o for _, o in acts] == [
                "denied" if n % REFUSED_EVERY == REFUSED_EVERY - 1 else "ok" for n, _ in acts
            ]

        # One tree, however it is computed.
        leaves = [e.leaf_hash for e in events]
        expected_root = root_from_leaf_hashes(leaves)
        assert root(size, DatabaseSubtrees(session)) == expected_root
        origin = scope.runtime.settings.custody_origin
        key = VerifierKey.from_public_key(origin, scope.runtime.keyring.signing_public_key())
        report = verify_log(session, origin=origin, trusted_keys=[key])
        assert report.ok, [str(f) for f in report.findings[:5]]
        assert report.root_hash == expected_root
        assert report.events == size

        # Automatic checkpoints kept coming, each over a real prefix of the log.
        checkpoints = list(session.scalars(select(CustodyCheckpoint)))
        assert report.checkpoints_checked == len(checkpoints)
        assert len([c for c in checkpoints if c.tree_size > before]) >= (size - before) // (
            CHECKPOINT_EVERY * 2
        )
        for checkpoint in checkpoints:
            assert checkpoint.root_hash == root_from_leaf_hashes(leaves[: checkpoint.tree_size])

    dep.run(None, check)


def _size(dep: Deployment) -> int:
    size: int = dep.run(None, lambda s: s.session.get_one(CustodyHead, 1).size)
    return size


# ---- the tests --------------------------------------------------------------------------------


def test_threads_appending_at_once_leave_a_whole_log(scene: Scene) -> None:
    dep = scene.deployment
    before = _size(dep)
    writers = [f"thread{n}" for n in range(THREADS)]
    start = threading.Barrier(THREADS)
    failures: list[BaseException] = []

    def work(writer: str) -> None:
        try:
            start.wait(timeout=30)
            for number in range(ACTIONS):
                act(dep.runtime, (scene.reader, scene.outsider), scene.testimony_id, writer, number)
        except BaseException as error:  # reported below, not lost in the thread
            failures.append(error)

    threads = [threading.Thread(target=work, args=(w,)) for w in writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not failures, failures
    assert_log_is_whole(dep, writers, before)


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_processes_appending_at_once_leave_a_whole_log(scene: Scene) -> None:
    # Several API workers on one PostgreSQL database, each with its own engine.
    dep = scene.deployment
    before = _size(dep)
    writers = [f"process{n}" for n in range(PROCESSES)]
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(PROCESSES)
    settings = {
        "data_dir": dep.settings.data_dir,
        "database_url": dep.settings.database_url,
        "checkpoint_every_events": CHECKPOINT_EVERY,
    }
    processes = [
        context.Process(
            target=_process_writer,
            args=(settings, (scene.reader, scene.outsider), scene.testimony_id, writer, start),
        )
        for writer in writers
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)

    assert [p.exitcode for p in processes] == [0] * PROCESSES
    assert_log_is_whole(dep, writers, before)
