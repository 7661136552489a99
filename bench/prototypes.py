"""Prototypes of the fixes recommended in bench/README.md, to measure their gain before
anyone changes ``service/``. NOT service code: happy-path only, minimal error handling.

The benchmarks use them only when asked (``--prototypes``), by subclassing or by
monkeypatching inside the benchmark process; nothing under ``service/`` is modified.

* ``FastCustodyLog``: ``CustodyLog.append`` that (a) locks ``custody_head`` once per
  transaction instead of once per event, (b) keeps the tree's right edge (the only nodes an
  append ever reads) in memory instead of SELECTing the sibling, and (c) writes the event and
  its inner nodes with Core INSERTs instead of two ORM flushes per event. Leaves, nodes,
  checkpoints and head are byte-for-byte what ``CustodyLog`` writes (``verify_log`` checks).
* ``prefetched_inclusion`` / ``prefetched_consistency``: compute which (level, index)
  nodes a proof needs (they depend only on index and sizes), fetch them in two queries
  instead of one query per node.
* ``verify_log_fast``: ``verify_log``'s happy path with each leaf recomputed once (not twice),
  Core rows instead of ORM objects, and a cheaper canonical-JSON type check.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import and_, insert, or_, select
from sqlalchemy.orm import Session

from service.context import Principal
from service.custody.actions import Action, Outcome
from service.custody.canonical import EVENT_FORMAT_VERSION, EventFields, canonical_json
from service.custody.merkle import (
    completed_nodes_after_append,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root,
)
from service.custody.models import CustodyCheckpoint, CustodyEvent, CustodyHead, CustodyTreeNode
from service.custody.note import VerifierKey
from service.custody.service import CustodyLog
from service.custody.tree import DatabaseSubtrees
from service.custody.verify import (
    Finding,
    Problem,
    VerificationReport,
    _check_checkpoint,
    _Frontier,
    _object_hashes,
)

_EVENTS = CustodyEvent.__table__
_NODES = CustodyTreeNode.__table__


# ---- append --------------------------------------------------------------------------------


class FastCustodyLog(CustodyLog):
    """Prototype: one head lock per transaction, in-memory right edge, Core inserts."""

    tree = True

    def __init__(self, session: Session, *args: Any, **kwargs: Any) -> None:
        super().__init__(session, *args, **kwargs)
        self._head: CustodyHead | None = None
        self._edge: dict[int, tuple[int, bytes]] = {}
        # A rolled-back savepoint undoes rows (and on PostgreSQL a row lock taken inside
        # it): forget the cached head and edge, and lock again on the next append.
        sa_event.listen(session, "after_soft_rollback", self._forget)

    def _forget(self, *_: object) -> None:
        self._head = None
        self._edge.clear()

    def _sibling(self, level: int, index: int) -> bytes:
        cached = self._edge.get(level)
        if cached is not None and cached[0] == index:
            return cached[1]
        return DatabaseSubtrees(self._session).subtree(level, index)

    def append(  # type: ignore[override]
        self,
        action: Action,
        *,
        actor: Principal | None,
        object_type: str,
        object_id: str | None = None,
        object_sha256: str | None = None,
        outcome: Outcome = Outcome.OK,
        details: Mapping[str, Any] | None = None,
        actor_name: str | None = None,
    ) -> CustodyEvent:
        if self._head is None:
            self._head = self._locked_head()
        head = self._head
        size = head.size
        merged_details: dict[str, Any] = dict(details or {})
        merged_details.update(self._context.metadata())
        fields = EventFields(
            seq=size,
            occurred_at=self._clock(),
            actor_id=actor.user_id if actor else None,
            actor_name=actor.username if actor else actor_name,
            actor_role=actor.role.value if actor else None,
            channel=self._context.channel.value,
            action=action.value,
            outcome=outcome.value,
            object_type=object_type,
            object_id=object_id,
            object_sha256=object_sha256,
            details=merged_details,
        )
        leaf = leaf_hash(fields.canonical_bytes())
        row = {
            "seq": size,
            "occurred_at": fields.occurred_at,
            "actor_id": fields.actor_id,
            "actor_name": fields.actor_name,
            "actor_role": fields.actor_role,
            "channel": fields.channel,
            "action": fields.action,
            "outcome": fields.outcome,
            "object_type": fields.object_type,
            "object_id": fields.object_id,
            "object_sha256": fields.object_sha256,
            "details_json": canonical_json(merged_details).decode("utf-8"),
            "leaf_hash": leaf,
        }
        self._session.execute(insert(_EVENTS), [row])
        if not self.tree:
            head.size = size + 1
            return CustodyEvent(**row)
        nodes = completed_nodes_after_append(size, leaf, self._sibling)
        for level, index, digest in nodes:
            self._edge[level] = (index, digest)
        inner = [{"level": lv, "idx": ix, "hash": h} for lv, ix, h in nodes if lv > 0]
        if inner:
            self._session.execute(insert(_NODES), inner)
        head.size = size + 1  # dirty; written by the next (auto)flush or the commit
        if self._checkpoint_due(head):
            self.checkpoint(reason="auto", head=head)
        return CustodyEvent(**row)


class FastBareCustodyLog(FastCustodyLog):
    """``FastCustodyLog`` without the tree (no inner nodes, no checkpoint): its bare twin,
    to measure what the tree costs once the per-event ORM overhead is gone."""

    tree = False


# ---- proofs --------------------------------------------------------------------------------


class _Recorder:
    """A SubtreeHashes that only records which nodes were asked for."""

    def __init__(self) -> None:
        self.wanted: set[tuple[int, int]] = set()

    def subtree(self, level: int, index: int) -> bytes:
        self.wanted.add((level, index))
        return b"\x00" * 32


class _Prefetched:
    def __init__(self, hashes: dict[tuple[int, int], bytes]) -> None:
        self._hashes = hashes

    def subtree(self, level: int, index: int) -> bytes:
        return self._hashes[(level, index)]


def _fetch(session: Session, wanted: Iterable[tuple[int, int]]) -> _Prefetched:
    wanted = list(wanted)
    leaves = [i for lv, i in wanted if lv == 0]
    inner = [(lv, i) for lv, i in wanted if lv > 0]
    hashes: dict[tuple[int, int], bytes] = {}
    if leaves:
        for seq, digest in session.execute(
            select(CustodyEvent.seq, CustodyEvent.leaf_hash).where(CustodyEvent.seq.in_(leaves))
        ):
            hashes[(0, seq)] = bytes(digest)
    if inner:
        # An OR of primary-key equalities, not a row-value IN: SQLite (3.40) plans
        # "(level, idx) IN (VALUES ...)" as a full table scan, but uses the primary key for
        # each OR term (MULTI-INDEX OR); PostgreSQL uses a BitmapOr of index scans for both.
        for lv, ix, digest in session.execute(
            select(CustodyTreeNode.level, CustodyTreeNode.idx, CustodyTreeNode.hash).where(
                or_(*(and_(CustodyTreeNode.level == lv, CustodyTreeNode.idx == ix)
                      for lv, ix in inner))
            )
        ):
            hashes[(lv, ix)] = bytes(digest)
    return _Prefetched(hashes)


def prefetched_inclusion(session: Session, index: int, size: int) -> tuple[list[bytes], bytes]:
    """(proof, root) with all nodes fetched in at most two queries."""
    recorder = _Recorder()
    inclusion_proof(index, size, recorder)
    root(size, recorder)
    store = _fetch(session, recorder.wanted)
    return inclusion_proof(index, size, store), root(size, store)


def prefetched_consistency(session: Session, first: int, second: int) -> list[bytes]:
    recorder = _Recorder()
    consistency_proof(first, second, recorder)
    return consistency_proof(first, second, _fetch(session, recorder.wanted))


# ---- verify --------------------------------------------------------------------------------

_SCALARS = (str, int, bool, type(None))


def _plain(value: Any) -> bool:
    """True when ``value`` holds only what canonical JSON allows (no path strings built)."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind in _SCALARS:
            continue
        if kind is dict:
            for key, child in item.items():
                if type(key) is not str:
                    return False
                if type(child) not in _SCALARS:
                    stack.append(child)
        elif kind is list:
            stack.extend(c for c in item if type(c) not in _SCALARS)
        else:
            return False
    return True


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def fast_leaf(row: Any) -> bytes | None:
    try:
        details = json.loads(row.details_json)
    except json.JSONDecodeError:
        return None
    doc = {
        "v": EVENT_FORMAT_VERSION,
        "seq": row.seq,
        "time": _time(row.occurred_at),
        "actor_id": row.actor_id,
        "actor": row.actor_name,
        "role": row.actor_role,
        "channel": row.channel,
        "action": row.action,
        "outcome": row.outcome,
        "object_type": row.object_type,
        "object_id": row.object_id,
        "object_sha256": row.object_sha256,
        "details": details,
    }
    if not isinstance(details, dict) or not _plain(details):
        return None
    data = json.dumps(
        doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")
    return leaf_hash(data)


try:
    from json.encoder import c_encode_basestring as _quote  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover
    from json.encoder import py_encode_basestring as _quote


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if type(value) is int:
        return str(value)
    return _quote(value)  # type: ignore[no-any-return]


def splice_leaf(row: Any) -> bytes:
    """The leaf from the stored ``details_json`` text itself, without parsing it.

    ``CustodyLog.append`` stores ``details_json = canonical_json(details)``, and the
    canonical event is a sorted-key object whose ``details`` member is encoded exactly so;
    the top-level keys are fixed, so the event bytes are a concatenation. Stricter than
    today's verifier: a details text rewritten into an equivalent but non-canonical form
    (re-ordered keys, spaces) no longer matches its leaf and is reported as changed.
    """
    text = (
        '{"action":' + _scalar(row.action)
        + ',"actor":' + _scalar(row.actor_name)
        + ',"actor_id":' + _scalar(row.actor_id)
        + ',"channel":' + _scalar(row.channel)
        + ',"details":' + row.details_json
        + ',"object_id":' + _scalar(row.object_id)
        + ',"object_sha256":' + _scalar(row.object_sha256)
        + ',"object_type":' + _scalar(row.object_type)
        + ',"outcome":' + _scalar(row.outcome)
        + ',"role":' + _scalar(row.actor_role)
        + ',"seq":' + str(row.seq)
        + ',"time":"' + _time(row.occurred_at)
        + '","v":' + str(EVENT_FORMAT_VERSION) + "}"
    )
    return leaf_hash(text.encode("utf-8"))


def verify_log_fast(
    session: Session,
    *,
    origin: str,
    trusted_keys: Iterable[VerifierKey],
    batch: int = 5000,
    splice: bool = False,
) -> VerificationReport:
    """Happy-path twin of ``verify_log``: same checks, cheaper per event. On the first
    anomaly it stops and says so (the real verifier would then classify it)."""
    keys = list(trusted_keys)
    report = VerificationReport()
    head = session.get(CustodyHead, 1)
    report.head_size = head.size if head else 0
    known = _object_hashes(session)
    frontier = _Frontier()
    checkpoints = list(
        session.scalars(select(CustodyCheckpoint).order_by(CustodyCheckpoint.tree_size))
    )
    wanted = {c.tree_size for c in checkpoints}
    roots_at: dict[int, bytes] = {}
    last_time: datetime | None = None
    rows = session.execute(
        select(_EVENTS).order_by(_EVENTS.c.seq).execution_options(yield_per=batch)
    )
    leaf_of = splice_leaf if splice else fast_leaf
    for expected, row in enumerate(rows):
        leaf = leaf_of(row)
        stored = bytes(row.leaf_hash)
        if (
            leaf != stored
            or row.seq != expected
            or (last_time is not None and row.occurred_at < last_time)
        ):
            report.findings.append(
                Finding(Problem.CONTENT_CHANGED, row.seq, "prototype: anomaly, run verify_log")
            )
            return report
        if row.object_sha256 and (row.object_type, row.object_id or "") in known:
            report.object_hashes_checked += 1
            if row.object_sha256 not in known[(row.object_type, row.object_id or "")]:
                report.findings.append(
                    Finding(Problem.OBJECT_HASH_MISMATCH, row.seq, "object hash mismatch")
                )
        frontier.append(leaf)
        if frontier.size in wanted:
            roots_at[frontier.size] = frontier.root(frontier.size)
        last_time = row.occurred_at
        report.events += 1
    report.root_hash = frontier.root(frontier.size)
    if report.head_size != report.events:
        report.findings.append(Finding(Problem.LOG_TRUNCATED, None, "head and events differ"))
    nodes = session.execute(
        select(_NODES).order_by(_NODES.c.level, _NODES.c.idx).execution_options(yield_per=batch)
    )
    for node in nodes:
        report.tree_nodes_checked += 1
        if frontier.node(node.level, node.idx) != bytes(node.hash):
            report.findings.append(
                Finding(Problem.TREE_NODE_CHANGED, node.idx << node.level, "node differs")
            )
            break
    for checkpoint in checkpoints:
        report.checkpoints_checked += 1
        _check_checkpoint(
            report,
            checkpoint.signed_note,
            f"stored checkpoint {checkpoint.id}",
            keys,
            origin,
            frontier,
            roots_at,
            Problem.CHECKPOINT_ROOT_MISMATCH,
        )
    return report
