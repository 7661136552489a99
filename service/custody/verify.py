"""Recomputing the custody log from its rows and naming the first thing that is wrong.

The verifier trusts nothing stored except what it is given to trust: the verifier keys of
the checkpoint signer (the keyring's current key plus any ``--key`` given) and published
checkpoints from witness locations. It recomputes every leaf from the event's fields, the
whole tree, every stored checkpoint's root and signature, the stored inner nodes, and the
content hash each event recorded against the stored versions of its object.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.custody.merkle import EMPTY_ROOT, leaf_hash, node_hash
from service.custody.models import CustodyCheckpoint, CustodyEvent, CustodyHead, CustodyTreeNode
from service.custody.note import Checkpoint, NoteError, VerifierKey, verify_checkpoint
from service.custody.service import event_fields
from service.testimony.models import Attachment, IncidentVersion, TestimonyVersion
from service.witness.models import IdentityRecord


class Problem(StrEnum):
    CONTENT_CHANGED = "content changed"
    EVENT_MISSING = "event missing"
    ORDER_CHANGED = "order changed"
    EVENT_INSERTED = "event inserted"
    LOG_TRUNCATED = "log truncated"
    TREE_NODE_CHANGED = "tree node changed"
    CHECKPOINT_SIGNATURE_INVALID = "checkpoint signature invalid"
    CHECKPOINT_ROOT_MISMATCH = "history rewritten since a checkpoint"
    PUBLISHED_CHECKPOINT_MISMATCH = "history rewritten since a published checkpoint"
    OBJECT_HASH_MISMATCH = "object hash does not match the stored object"


@dataclass(frozen=True)
class Finding:
    problem: Problem
    seq: int | None
    message: str

    def __str__(self) -> str:
        where = f"seq {self.seq}: " if self.seq is not None else ""
        return f"{where}{self.problem.value}: {self.message}"


@dataclass
class VerificationReport:
    events: int = 0
    head_size: int = 0
    root_hash: bytes = EMPTY_ROOT
    checkpoints_checked: int = 0
    published_checked: int = 0
    object_hashes_checked: int = 0
    tree_nodes_checked: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def first(self) -> Finding | None:
        """The finding with the lowest sequence number (log-wide findings come last)."""
        if not self.findings:
            return None
        return min(
            self.findings,
            key=lambda f: (
                f.seq if f.seq is not None else float("inf"),
                list(Problem).index(f.problem),
            ),
        )


class _Frontier:
    """The right edge of a Merkle tree being rebuilt leaf by leaf, plus every inner node.

    Inner nodes are kept per level as packed 32-byte strings (about 32 MB per million
    leaves) so stored nodes can be compared afterwards in one streaming pass.
    """

    def __init__(self) -> None:
        self.size = 0
        self.levels: list[bytearray] = [bytearray()]

    def append(self, leaf: bytes) -> None:
        self.levels[0] += leaf
        index, level, current = self.size, 0, leaf
        while index & 1:
            left = bytes(self.levels[level][(index - 1) * 32 : index * 32])
            current = node_hash(left, current)
            level, index = level + 1, index >> 1
            if level == len(self.levels):
                self.levels.append(bytearray())
            self.levels[level] += current
        self.size += 1

    def node(self, level: int, index: int) -> bytes | None:
        data = self.levels[level] if level < len(self.levels) else b""
        chunk = data[index * 32 : (index + 1) * 32]
        return bytes(chunk) if len(chunk) == 32 else None

    def root(self, size: int) -> bytes:
        """Root of the first ``size`` leaves, from the perfect subtrees that cover them."""
        if size == 0:
            return EMPTY_ROOT
        pieces = []
        start = 0
        for level in range(size.bit_length() - 1, -1, -1):
            if size & (1 << level):
                node = self.node(level, start >> level)
                assert node is not None
                pieces.append(node)
                start += 1 << level
        acc = pieces[-1]
        for piece in reversed(pieces[:-1]):
            acc = node_hash(piece, acc)
        return acc


def _recompute(event: CustodyEvent, seq: int | None = None) -> bytes | None:
    try:
        fields = event_fields(event)
        if seq is not None:
            fields = replace(fields, seq=seq)
        return leaf_hash(fields.canonical_bytes())
    except (TypeError, ValueError, json.JSONDecodeError):
        return None


def _object_hashes(session: Session) -> dict[tuple[str, str], set[str]]:
    known: dict[tuple[str, str], set[str]] = {}
    queries = (
        ("testimony", select(TestimonyVersion.testimony_id, TestimonyVersion.content_sha256)),
        ("incident", select(IncidentVersion.incident_id, IncidentVersion.content_sha256)),
        ("attachment", select(Attachment.id, Attachment.content_sha256)),
        ("identity", select(IdentityRecord.witness_id, IdentityRecord.content_sha256)),
    )
    for kind, query in queries:
        for object_id, digest in session.execute(query).all():
            known.setdefault((kind, object_id), set()).add(digest)
    return known


def verify_log(
    session: Session,
    *,
    origin: str,
    trusted_keys: Iterable[VerifierKey],
    published: Iterable[tuple[str, str]] = (),
    progress: Callable[[int, int], None] | None = None,
    batch: int = 5000,
) -> VerificationReport:
    """Check the whole log; ``published`` holds (label, signed checkpoint note) pairs."""
    keys = list(trusted_keys)
    report = VerificationReport()
    head = session.get(CustodyHead, 1)
    report.head_size = head.size if head else 0
    total = session.scalar(select(func.count()).select_from(CustodyEvent)) or 0
    known_objects = _object_hashes(session)
    frontier = _Frontier()
    stored_checkpoints = list(
        session.scalars(select(CustodyCheckpoint).order_by(CustodyCheckpoint.tree_size))
    )
    wanted_sizes = {c.tree_size for c in stored_checkpoints}
    roots_at: dict[int, bytes] = {}

    published_checkpoints: list[tuple[str, Checkpoint | None, str]] = []
    for label, note in published:
        try:
            cp = verify_checkpoint(note, keys, origin)
            published_checkpoints.append((label, cp, ""))
            wanted_sizes.add(cp.size)
        except NoteError as error:
            published_checkpoints.append((label, None, str(error)))

    previous: CustodyEvent | None = None
    problem_seen = False
    last_time: datetime | None = None
    pending: CustodyEvent | None = None
    rows = session.scalars(select(CustodyEvent).order_by(CustodyEvent.seq)).yield_per(batch)
    for expected, event in enumerate(rows):
        if pending is not None:
            _check_event(report, pending, previous, event, last_time, known_objects)
            problem_seen = problem_seen or bool(report.findings)
            last_time = pending.occurred_at
            previous = pending
        if event.seq != expected and not problem_seen:
            report.findings.append(
                Finding(
                    Problem.EVENT_MISSING,
                    expected,
                    f"no event with sequence number {expected}; "
                    f"the next stored event is {event.seq}",
                )
            )
            problem_seen = True
        recomputed = _recompute(event)
        frontier.append(recomputed or event.leaf_hash)
        if frontier.size in wanted_sizes:
            roots_at[frontier.size] = frontier.root(frontier.size)
        pending = event
        report.events += 1
        if progress and report.events % 1000 == 0:
            progress(report.events, total)
    if pending is not None:
        _check_event(report, pending, previous, None, last_time, known_objects)
    if progress:
        progress(report.events, total)
    report.root_hash = frontier.root(frontier.size)

    if report.head_size > report.events:
        report.findings.append(
            Finding(
                Problem.LOG_TRUNCATED,
                report.events,
                f"the log head says {report.head_size} events but only {report.events} are stored",
            )
        )
    elif report.head_size < report.events:
        report.findings.append(
            Finding(
                Problem.EVENT_INSERTED,
                report.head_size,
                f"{report.events - report.head_size} event(s) stored beyond the log head "
                f"({report.head_size})",
            )
        )

    _check_stored_nodes(session, frontier, report)
    for checkpoint in stored_checkpoints:
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
    for label, published_checkpoint, reason in published_checkpoints:
        report.published_checked += 1
        if published_checkpoint is None:
            report.findings.append(
                Finding(
                    Problem.CHECKPOINT_SIGNATURE_INVALID,
                    None,
                    f"published checkpoint {label}: {reason}",
                )
            )
            continue
        _compare_root(
            report,
            published_checkpoint,
            f"published checkpoint {label}",
            frontier,
            roots_at,
            Problem.PUBLISHED_CHECKPOINT_MISMATCH,
        )
    return report


def _check_event(
    report: VerificationReport,
    event: CustodyEvent,
    previous: CustodyEvent | None,
    following: CustodyEvent | None,
    last_time: datetime | None,
    known: dict[tuple[str, str], set[str]],
) -> None:
    recomputed = _recompute(event)
    if recomputed != event.leaf_hash:
        problem, seq = _classify(event, previous, following, last_time)
        report.findings.append(
            Finding(problem, seq, "the stored leaf hash does not match the event's fields")
        )
    elif last_time is not None and event.occurred_at < last_time:
        report.findings.append(
            Finding(
                Problem.ORDER_CHANGED, event.seq, "the event is dated before the one preceding it"
            )
        )
    if event.object_sha256 and (event.object_type, event.object_id or "") in known:
        report.object_hashes_checked += 1
        if event.object_sha256 not in known[(event.object_type, event.object_id or "")]:
            report.findings.append(
                Finding(
                    Problem.OBJECT_HASH_MISMATCH,
                    event.seq,
                    f"{event.object_type} {event.object_id} has no stored version with the hash "
                    "this event recorded",
                )
            )


def _classify(
    event: CustodyEvent,
    previous: CustodyEvent | None,
    following: CustodyEvent | None,
    last_time: datetime | None,
) -> tuple[Problem, int]:
    """Tell a moved, inserted or removed event from an edited one, where the rows allow.

    A leaf hash binds the event's sequence number, so a row whose stored leaf fits its
    fields at ``seq - 1`` was pushed up by an inserted row, and one that fits at ``seq + 1``
    was pulled down by a removed row -- unless its neighbour on that side fits this row's
    ``seq``: then the two rows changed places.
    """

    def fits(row: CustodyEvent | None, seq: int) -> bool:
        return row is not None and seq >= 0 and _recompute(row, seq) == row.leaf_hash

    if fits(event, event.seq - 1):
        if fits(previous, event.seq):
            return Problem.ORDER_CHANGED, event.seq
        return Problem.EVENT_INSERTED, event.seq - 1
    if fits(event, event.seq + 1):
        if fits(following, event.seq):
            return Problem.ORDER_CHANGED, event.seq
        return Problem.EVENT_MISSING, event.seq
    moved_back = last_time is not None and event.occurred_at < last_time
    moved_ahead = following is not None and event.occurred_at > following.occurred_at
    fits_neighbour = any(
        other is not None and _recompute(event, other.seq) == other.leaf_hash
        for other in (previous, following)
    )
    if moved_back or moved_ahead or fits_neighbour:
        return Problem.ORDER_CHANGED, event.seq
    return Problem.CONTENT_CHANGED, event.seq


def _check_stored_nodes(session: Session, frontier: _Frontier, report: VerificationReport) -> None:
    """Compare stored inner nodes with the tree rebuilt from the events' own fields.

    A mismatch over a range that already holds a bad event is a consequence of it and is
    not reported again; otherwise the first bad node names the range it covers.
    """
    flagged = sorted(f.seq for f in report.findings if f.seq is not None)
    nodes = session.scalars(
        select(CustodyTreeNode).order_by(CustodyTreeNode.level, CustodyTreeNode.idx)
    ).yield_per(5000)
    for node in nodes:
        report.tree_nodes_checked += 1
        if frontier.node(node.level, node.idx) == node.hash:
            continue
        first_leaf = node.idx << node.level
        last_leaf = first_leaf + (1 << node.level) - 1
        if any(first_leaf <= seq <= last_leaf for seq in flagged):
            continue
        report.findings.append(
            Finding(
                Problem.TREE_NODE_CHANGED,
                first_leaf,
                f"stored tree node (level {node.level}, index {node.idx}) does not match "
                f"events {first_leaf}..{last_leaf}: their hashes were recomputed after the "
                "fact, or the node was altered",
            )
        )
        return


def _check_checkpoint(
    report: VerificationReport,
    note: str,
    label: str,
    keys: list[VerifierKey],
    origin: str,
    frontier: _Frontier,
    roots_at: dict[int, bytes],
    mismatch: Problem,
) -> None:
    try:
        checkpoint = verify_checkpoint(note, keys, origin)
    except NoteError as error:
        report.findings.append(
            Finding(Problem.CHECKPOINT_SIGNATURE_INVALID, None, f"{label}: {error}")
        )
        return
    _compare_root(report, checkpoint, label, frontier, roots_at, mismatch)


def _compare_root(
    report: VerificationReport,
    checkpoint: Checkpoint,
    label: str,
    frontier: _Frontier,
    roots_at: dict[int, bytes],
    mismatch: Problem,
) -> None:
    if checkpoint.size > frontier.size:
        report.findings.append(
            Finding(
                Problem.LOG_TRUNCATED,
                frontier.size,
                f"{label} covers {checkpoint.size} events but only {frontier.size} are stored",
            )
        )
        return
    actual = roots_at.get(checkpoint.size) or frontier.root(checkpoint.size)
    if actual != checkpoint.root_hash:
        report.findings.append(
            Finding(
                mismatch,
                checkpoint.size - 1,
                f"{label} (size {checkpoint.size}) signed a different root: some event before "
                f"seq {checkpoint.size} was altered, removed or inserted",
            )
        )
