"""Custody-log benchmark: append throughput (tree vs bare), verify_log, proofs, storage.

For each database (SQLite embedded default with WAL, and PostgreSQL) the run:

1. initialises a deployment (``service.setup.initialise``) with an officer and an auditor;
2. fills the log to ``--events`` events, either through ``CustodyLog.append`` itself
   (``--build service``, 1,000 appends per transaction) or with this file's bulk loader
   (``--build bulk``), which writes exactly the rows ``CustodyLog.append`` writes (same
   canonical leaf, the inner nodes it completes, a signed checkpoint every 1,000 events)
   with executemany; ``verify_log`` then checks every row, so a loader bug cannot pass;
3. measures storage per event, ``verify_log`` (median of ``--verify-runs``), and p50/p95 of
   inclusion and consistency proofs both through ``CustodyService`` (one ``Runtime.run``
   per proof, as the HTTP API does) and through the tree functions on an open session;
4. measures append throughput *at that log size* on two copies of the database, one
   appended to with ``CustodyLog.append`` (tree nodes + periodic checkpoint) and one with
   ``BareCustodyLog.append`` (the same code minus ``store_completed_nodes`` and the
   checkpoint), interleaved in rounds so machine noise hits both alike, with batched
   transactions (``--txn-size`` appends per transaction, default 1,000); then the same
   with one append per transaction (``--single-events``, default 10,000);
5. profiles ``--profile-appends`` batched appends and one ``verify_log`` (cProfile).

    .venv/bin/python bench/custody_bench.py --events 100000 --build service
    .venv/bin/python bench/custody_bench.py --events 1000000 --dbs sqlite
    .venv/bin/python bench/custody_bench.py --events 1000000 --dbs postgresql

Results are printed and written to ``bench/results/custody-<events>-<db>.json``.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import itertools
import pstats
import random
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common  # noqa: E402
from service.config import Settings  # noqa: E402
from service.context import Channel, Principal, RequestContext  # noqa: E402
from service.custody.actions import Action, Outcome  # noqa: E402
from service.custody.canonical import EventFields, canonical_json  # noqa: E402
from service.custody.merkle import (  # noqa: E402
    completed_nodes_after_append,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root,
    verify_consistency,
    verify_inclusion,
)
from service.custody.models import (  # noqa: E402
    CustodyCheckpoint,
    CustodyEvent,
    CustodyHead,
    CustodyTreeNode,
)
from service.custody.note import Checkpoint, VerifierKey, sign_checkpoint  # noqa: E402
from service.custody.service import CustodyLog  # noqa: E402
from service.custody.tree import DatabaseSubtrees  # noqa: E402
from service.custody.verify import verify_log  # noqa: E402
from service.db.base import utcnow  # noqa: E402
from service.runtime import Runtime  # noqa: E402

CUSTODY_TABLES = ("custody_events", "custody_tree_nodes", "custody_checkpoints", "custody_head")


# ---- the bare variant ------------------------------------------------------------------------


class BareCustodyLog(CustodyLog):
    """``CustodyLog.append`` line for line, minus the Merkle tree: no inner nodes, no checkpoint.

    Same head lock, same canonical leaf hash, same ORM insert and the same two flushes, so
    the difference to ``CustodyLog.append`` is exactly what the tree costs.
    """

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
        head = self._locked_head()
        merged_details: dict[str, Any] = dict(details or {})
        merged_details.update(self._context.metadata())
        fields = EventFields(
            seq=head.size,
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
        event = CustodyEvent(
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
            details_json=canonical_json(merged_details).decode("utf-8"),
            leaf_hash=leaf,
        )
        self._session.add(event)
        self._session.flush()
        head.size += 1
        self._session.flush()
        return event


# ---- synthetic events ------------------------------------------------------------------------


def event_stream(seed: int = 7) -> Iterator[dict[str, Any]]:
    """Keyword arguments for ``append``: the mix a testimony import and its readers produce."""
    rng = random.Random(seed)
    ids = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(4096)]
    shas = [hashlib.sha256(i.encode()).hexdigest() for i in ids]
    cats = ["detention.kuryujang", "torture.beating", "detention_conditions.food",
            "forced_repatriation.interrogation", "sexual_violence.strip_search"]
    for n in itertools.count():
        k = n % 8
        a, b = ids[n % 4096], ids[(n * 7 + 3) % 4096]
        sha = shas[n % 4096]
        if k == 0:
            yield {"action": Action.WITNESS_CREATE, "object_type": "witness", "object_id": a}
        elif k == 1:
            yield {"action": Action.IDENTITY_UPDATE, "object_type": "identity", "object_id": a,
                   "object_sha256": sha, "details": {"version": 1}}
        elif k == 2:
            yield {"action": Action.TESTIMONY_CREATE, "object_type": "testimony", "object_id": b,
                   "object_sha256": sha,
                   "details": {"version": 1, "case_id": 1 + n % 5, "witness_id": a}}
        elif k in (3, 4):
            yield {"action": Action.CONSENT_GIVE, "object_type": "testimony", "object_id": b,
                   "details": {"scope": "un_mechanisms", "effective_on": "2024-03-14",
                               "consent_event_id": n}}
        elif k in (5, 6):
            yield {"action": Action.INCIDENT_CREATE, "object_type": "incident", "object_id": a,
                   "object_sha256": sha,
                   "details": {"version": 1, "testimony_id": b,
                               "categories": sorted(rng.sample(cats, 2))}}
        else:
            yield {"action": Action.TESTIMONY_READ, "object_type": "testimony", "object_id": b,
                   "object_sha256": sha, "details": {"version": 1}}


# ---- filling the log -------------------------------------------------------------------------

CTX = RequestContext(channel=Channel.CLI)


def append_batched(
    runtime: Runtime,
    log_class: type[CustodyLog],
    actor: Principal,
    events: list[dict[str, Any]],
    per_txn: int,
) -> float:
    """Append ``events`` in transactions of ``per_txn`` (a session per transaction, as
    ``Runtime.run`` does); returns wall seconds."""
    started = time.perf_counter()
    for start in range(0, len(events), per_txn):
        with runtime.session_factory() as session:
            log = log_class(session, CTX, runtime.checkpoint_policy, clock=runtime.clock)
            for kwargs in events[start : start + per_txn]:
                log.append(actor=actor, **kwargs)
            session.commit()
    return time.perf_counter() - started


def append_single_via_run(runtime: Runtime, actor: Principal, events: list[dict[str, Any]]) -> float:
    """One ``Runtime.run`` (one transaction, the real unit of work) per appended event."""
    started = time.perf_counter()
    for kwargs in events:
        runtime.run(CTX, actor, lambda scope, kw=kwargs: scope.custody.append(actor=actor, **kw))
    return time.perf_counter() - started


class _Frontier:
    """The newest completed node per level: all ``completed_nodes_after_append`` ever asks."""

    def __init__(self) -> None:
        self.nodes: dict[int, tuple[int, bytes]] = {}

    def subtree(self, level: int, index: int) -> bytes:
        stored_index, digest = self.nodes[level]
        assert stored_index == index, (level, index, stored_index)
        return digest

    def add(self, level: int, index: int, digest: bytes) -> None:
        self.nodes[level] = (index, digest)


def bulk_load(runtime: Runtime, actor: Principal, total: int, batch: int = 5000) -> dict[str, Any]:
    """Append events until the log holds ``total``, writing the rows CustodyLog.append writes.

    Leaf = SHA-256(0x00 || canonical event bytes) exactly as ``CustodyLog.append`` computes
    it, inner nodes from ``completed_nodes_after_append``, and a checkpoint signed with the
    keyring's key at every multiple of ``checkpoint_every_events`` (the append path's
    default policy). Not a service path: it exists so a 1,000,000-event log can be built in
    minutes; ``verify_log`` afterwards proves the rows are what the service would accept.
    """
    policy = runtime.checkpoint_policy
    signing_key = policy.signing_key()
    events_t = CustodyEvent.__table__
    nodes_t = CustodyTreeNode.__table__
    started = time.perf_counter()
    stream = event_stream(seed=11)
    with runtime.session_factory() as session:
        head = session.get_one(CustodyHead, 1)
        size = head.size
        frontier = _Frontier()
        existing = session.scalars(select_leaves()).all()
        for index, leaf in enumerate(existing):
            for level, idx, digest in completed_nodes_after_append(index, leaf, frontier.subtree):
                frontier.add(level, idx, digest)
        assert len(existing) == size
        last_checkpoint = head.last_checkpoint_size
        base_time = utcnow()
        while size < total:
            ctx = RequestContext(channel=Channel.CLI)
            meta = ctx.metadata()
            event_rows, node_rows, checkpoint_rows = [], [], []
            for _ in range(min(batch, total - size)):
                kwargs = next(stream)
                details = dict(kwargs.get("details") or {})
                details.update(meta)
                fields = EventFields(
                    seq=size,
                    occurred_at=base_time + timedelta(microseconds=size),
                    actor_id=actor.user_id,
                    actor_name=actor.username,
                    actor_role=actor.role.value,
                    channel=ctx.channel.value,
                    action=kwargs["action"].value,
                    outcome=Outcome.OK.value,
                    object_type=kwargs["object_type"],
                    object_id=kwargs.get("object_id"),
                    object_sha256=kwargs.get("object_sha256"),
                    details=details,
                )
                leaf = leaf_hash(fields.canonical_bytes())
                event_rows.append({
                    "seq": size, "occurred_at": fields.occurred_at, "actor_id": fields.actor_id,
                    "actor_name": fields.actor_name, "actor_role": fields.actor_role,
                    "channel": fields.channel, "action": fields.action, "outcome": fields.outcome,
                    "object_type": fields.object_type, "object_id": fields.object_id,
                    "object_sha256": fields.object_sha256,
                    "details_json": canonical_json(details).decode("utf-8"), "leaf_hash": leaf,
                })
                for level, idx, digest in completed_nodes_after_append(size, leaf, frontier.subtree):
                    frontier.add(level, idx, digest)
                    if level > 0:
                        node_rows.append({"level": level, "idx": idx, "hash": digest})
                size += 1
                if size - last_checkpoint >= policy.every_events:
                    root_hash = root(size, frontier)
                    note = sign_checkpoint(Checkpoint(policy.origin, size, root_hash),
                                           policy.origin, signing_key)
                    checkpoint_rows.append({
                        "tree_size": size, "root_hash": root_hash, "signed_note": note,
                        "key_name": policy.origin, "reason": "auto",
                        "created_at": fields.occurred_at,
                    })
                    last_checkpoint = size
            session.execute(events_t.insert(), event_rows)
            if node_rows:
                session.execute(nodes_t.insert(), node_rows)
            if checkpoint_rows:
                session.execute(CustodyCheckpoint.__table__.insert(), checkpoint_rows)
            head.size = size
            head.last_checkpoint_size = last_checkpoint
            head.last_checkpoint_at = base_time + timedelta(microseconds=last_checkpoint)
            session.commit()
    seconds = time.perf_counter() - started
    return {"events": total, "seconds": round(seconds, 1), "events_per_s": round(total / seconds)}


def select_leaves():  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    return select(CustodyEvent.leaf_hash).order_by(CustodyEvent.seq)


def build_with_service(
    runtime: Runtime, actor: Principal, total: int, per_txn: int, window: int
) -> dict[str, Any]:
    """Fill the log through CustodyLog.append itself; throughput reported per window."""
    stream = event_stream(seed=11)
    size = head_size(runtime)
    windows = []
    started = time.perf_counter()
    while size < total:
        n = min(window, total - size)
        events = list(itertools.islice(stream, n))
        seconds = append_batched(runtime, CustodyLog, actor, events, per_txn)
        size += n
        windows.append({"up_to": size, "events_per_s": round(n / seconds)})
    seconds = time.perf_counter() - started
    return {
        "events": size, "seconds": round(seconds, 1), "events_per_s": round(total / seconds),
        "per_txn": per_txn, "windows": windows,
    }


def head_size(runtime: Runtime) -> int:
    with runtime.session_factory() as session:
        return session.get_one(CustodyHead, 1).size


# ---- measurements ----------------------------------------------------------------------------


def storage(url: str, events: int) -> dict[str, Any]:
    if url.startswith("sqlite"):
        tables = common.sqlite_table_bytes(url, CUSTODY_TABLES)
        file_bytes = common.sqlite_file_bytes(url)
    else:
        tables = common.pg_table_bytes(url, CUSTODY_TABLES)
        file_bytes = common.pg_database_bytes(url)
    custody = sum(tables.values())
    return {
        "tables_bytes": tables,
        "custody_bytes": custody,
        "bytes_per_event_custody_tables": round(custody / events, 1),
        "bytes_per_event_events_table": round(tables["custody_events"] / events, 1),
        "bytes_per_event_tree_nodes": round(tables["custody_tree_nodes"] / events, 1),
        "bytes_per_event_checkpoints": round(tables["custody_checkpoints"] / events, 1),
        "database_bytes": file_bytes,
        "bytes_per_event_whole_database": round(file_bytes / events, 1),
    }


def run_verify(
    runtime: Runtime, runs: int, profile_out: Path | None, prototypes: bool = False
) -> dict[str, Any]:
    origin = runtime.settings.custody_origin
    keys = [VerifierKey.from_public_key(origin, runtime.keyring.signing_public_key())]
    times, cpus, peaks = [], [], []
    report = None
    dbname = common.pg_dbname(runtime.settings.effective_database_url)
    fast_times: list[float] = []
    fast_cpus: list[float] = []
    splice_times: list[float] = []
    splice_cpus: list[float] = []
    fast = spliced = None
    if prototypes:
        from bench.prototypes import verify_log_fast
    for _ in range(runs):  # baseline and prototype interleaved, so noise hits both alike
        common.reset_peak_rss()
        before = common.rss_kb()
        with runtime.session_factory() as session, common.CpuMeter(dbname) as meter:
            report = verify_log(session, origin=origin, trusted_keys=keys)
        times.append(meter.wall)
        cpus.append((meter.client_cpu, meter.server_cpu))
        peaks.append((common.peak_rss_kb() - before) / 1024)
        if prototypes:
            with runtime.session_factory() as session, common.CpuMeter(dbname) as meter:
                fast = verify_log_fast(session, origin=origin, trusted_keys=keys)
            fast_times.append(meter.wall)
            fast_cpus.append(meter.client_cpu + meter.server_cpu)
            with runtime.session_factory() as session, common.CpuMeter(dbname) as meter:
                spliced = verify_log_fast(session, origin=origin, trusted_keys=keys, splice=True)
            splice_times.append(meter.wall)
            splice_cpus.append(meter.client_cpu + meter.server_cpu)
    assert report is not None
    if not report.ok:
        raise SystemExit(f"verify_log found problems: {[str(f) for f in report.findings[:3]]}")
    result: dict[str, Any] = {
        "runs_s": [round(t, 2) for t in times],
        "median_s": round(common.median(times), 2),
        "cpu_s_client_server": [(round(c, 2), round(v, 2)) for c, v in cpus],
        "median_cpu_s": round(common.median(c + v for c, v in cpus), 2),
        "events": report.events,
        "tree_nodes_checked": report.tree_nodes_checked,
        "checkpoints_checked": report.checkpoints_checked,
        "ok": report.ok,
        "events_per_s": round(report.events / common.median(times)),
        "peak_rss_growth_mb": round(common.median(peaks), 1),
    }
    if prototypes:
        assert fast is not None and fast.ok and fast.root_hash == report.root_hash, "prototype disagrees"
        result["prototype_verify_log_fast"] = {
            "runs_s": [round(t, 2) for t in fast_times],
            "median_s": round(common.median(fast_times), 2),
            "median_cpu_s": round(common.median(fast_cpus), 2),
            "speedup_wall": round(common.median(times) / common.median(fast_times), 2),
            "speedup_cpu": round(
                common.median(c + v for c, v in cpus) / common.median(fast_cpus), 2
            ),
            "same_root": True,
        }
        assert spliced is not None and spliced.ok and spliced.root_hash == report.root_hash
        result["prototype_verify_log_fast_splice"] = {
            "runs_s": [round(t, 2) for t in splice_times],
            "median_s": round(common.median(splice_times), 2),
            "median_cpu_s": round(common.median(splice_cpus), 2),
            "speedup_wall": round(common.median(times) / common.median(splice_times), 2),
            "speedup_cpu": round(
                common.median(c + v for c, v in cpus) / common.median(splice_cpus), 2
            ),
            "same_root": True,
        }
    if profile_out is not None:
        profiler = cProfile.Profile()
        with runtime.session_factory() as session:
            profiler.enable()
            verify_log(session, origin=origin, trusted_keys=keys)
            profiler.disable()
        stats = pstats.Stats(profiler)
        stats.dump_stats(profile_out)
        result["profile"] = {
            "total_s": round(common.profile_total(stats), 2),
            "top_tottime": common.top_functions(stats, "tottime", 20),
            "top_cumtime": common.top_functions(stats, "cumtime", 25),
        }
    return result


def run_proofs(
    bench: common.Bench, samples: int, seed: int = 5, prototypes: bool = False
) -> dict[str, Any]:
    from service.custody.audit import CustodyService

    runtime = bench.runtime
    rng = random.Random(seed)
    size = head_size(runtime)
    with runtime.session_factory() as session:
        checkpoint_size = session.scalar(
            select_max_checkpoint()
        ) or size

    def timed(fn: Callable[[], Any]) -> float:
        started = time.perf_counter()
        fn()
        return (time.perf_counter() - started) * 1000

    def service_inclusion(index: int) -> Any:
        return runtime.run(CTX, bench.auditor, lambda s: CustodyService(s).inclusion(index))

    def service_consistency(first: int) -> Any:
        return runtime.run(CTX, bench.auditor, lambda s: CustodyService(s).consistency(first))

    # warm-up (statement caches), then measure
    for _ in range(20):
        service_inclusion(rng.randrange(checkpoint_size))
        service_consistency(rng.randrange(1, checkpoint_size))
    inc = [rng.randrange(checkpoint_size) for _ in range(samples)]
    con = [rng.randrange(1, checkpoint_size) for _ in range(samples)]
    svc_inc = [timed(lambda i=i: service_inclusion(i)) for i in inc]
    svc_con = [timed(lambda f=f: service_consistency(f)) for f in con]

    # correctness of what was timed, on a few samples
    for i in inc[:5]:
        p = service_inclusion(i)
        verify_inclusion(bytes.fromhex(p.leaf_hash), i, p.tree_size,
                         [bytes.fromhex(x) for x in p.proof], bytes.fromhex(p.root_hash))
    for f in con[:5]:
        p = service_consistency(f)
        verify_consistency(f, p.second, bytes.fromhex(p.first_root), bytes.fromhex(p.second_root),
                           [bytes.fromhex(x) for x in p.proof])

    raw_inc, raw_con = [], []
    with runtime.session_factory() as session:
        store = DatabaseSubtrees(session)
        for i in inc:
            raw_inc.append(timed(lambda i=i: (inclusion_proof(i, checkpoint_size, store),
                                              root(checkpoint_size, store))))
        for f in con:
            raw_con.append(timed(lambda f=f: consistency_proof(f, checkpoint_size, store)))

    def summary(values: list[float]) -> dict[str, float]:
        return {"p50_ms": round(common.percentile(values, 50), 3),
                "p95_ms": round(common.percentile(values, 95), 3),
                "max_ms": round(max(values), 3)}

    extra: dict[str, Any] = {}
    if prototypes:
        from bench.prototypes import prefetched_consistency, prefetched_inclusion

        pre_inc, pre_con = [], []
        with runtime.session_factory() as session:
            store = DatabaseSubtrees(session)
            for i in inc[:20]:
                assert prefetched_inclusion(session, i, checkpoint_size) == (
                    inclusion_proof(i, checkpoint_size, store), root(checkpoint_size, store))
            for f in con[:20]:
                assert prefetched_consistency(session, f, checkpoint_size) == consistency_proof(
                    f, checkpoint_size, store)
            # Two passes over the same samples: the first also compiles each new statement
            # shape (the OR has one term per node, so its shape varies with the proof);
            # the second shows the steady state once SQLAlchemy's compiled cache is warm.
            cold_inc, cold_con = [], []
            for target_inc, target_con in ((cold_inc, cold_con), (pre_inc, pre_con)):
                for i in inc:
                    target_inc.append(
                        timed(lambda i=i: prefetched_inclusion(session, i, checkpoint_size)))
                for f in con:
                    target_con.append(
                        timed(lambda f=f: prefetched_consistency(session, f, checkpoint_size)))
        extra = {"prototype_prefetched_inclusion_plus_root": summary(pre_inc),
                 "prototype_prefetched_consistency": summary(pre_con),
                 "prototype_prefetched_inclusion_plus_root_cold": summary(cold_inc),
                 "prototype_prefetched_consistency_cold": summary(cold_con)}

    return {
        "tree_size": checkpoint_size,
        "samples": samples,
        "service_inclusion": summary(svc_inc),
        "service_consistency": summary(svc_con),
        "tree_inclusion_plus_root": summary(raw_inc),
        "tree_consistency": summary(raw_con),
        **extra,
        "note": "service_* = one Runtime.run (session, BEGIN, auditor check, proof, roots, "
                "checkpoint lookup, commit) per call; tree_* = merkle functions over "
                "DatabaseSubtrees on one open session",
    }


def select_max_checkpoint():  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    return select(func.max(CustodyCheckpoint.tree_size))


# ---- database copies for the interleaved comparison --------------------------------------------


def clone(bench: common.Bench, kind: str, workdir: Path, name: str) -> tuple[Runtime, Callable[[], None]]:
    """A copy of the benchmark database with its own Runtime (same keyring and settings)."""
    if kind == "sqlite":
        source = Path(bench.url.removeprefix("sqlite:///"))
        common.sqlite_file_bytes(bench.url)  # fold the WAL in before copying
        target = workdir / f"{name}.db"
        shutil.copyfile(source, target)
        url = f"sqlite:///{target}"

        def drop() -> None:
            target.unlink(missing_ok=True)
    else:
        source_name = bench.url.rsplit("/", 1)[1]
        target_name = f"{source_name}_{name}"
        bench.runtime.engine.dispose()
        with common._pg_admin() as connection:
            connection.execute(f'CREATE DATABASE "{target_name}" TEMPLATE "{source_name}"')
        url = common.pg_url(target_name)

        def drop() -> None:
            with common._pg_admin() as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{target_name}" WITH (FORCE)')
    settings = Settings(data_dir=bench.settings.data_dir, database_url=url)
    return Runtime.open(settings), drop


def compare_appends(
    bench: common.Bench, kind: str, workdir: Path, *, rounds: int, per_round: int, per_txn: int,
    single_events: int, prototypes: bool,
) -> dict[str, Any]:
    """Tree vs bare (and the prototype) appends at the current log size, interleaved, each
    variant on its own copy of the database."""
    from bench.prototypes import FastBareCustodyLog, FastCustodyLog

    variants: list[tuple[str, type[CustodyLog]]] = [("tree", CustodyLog), ("bare", BareCustodyLog)]
    if prototypes:
        variants += [("fast", FastCustodyLog), ("fastbare", FastBareCustodyLog)]
    runtimes: dict[str, Runtime] = {}
    drops: list[Callable[[], None]] = []
    stream = event_stream(seed=99)
    actor = bench.officer
    try:
        for label, _ in variants:
            rt, drop = clone(bench, kind, workdir, label)
            runtimes[label] = rt
            drops.append(drop)
        dbnames = {label: common.pg_dbname(rt.settings.effective_database_url)
                   for label, rt in runtimes.items()}
        warm = list(itertools.islice(stream, 200))
        for label, cls in variants:  # connection pools, statement caches, page cache
            append_batched(runtimes[label], cls, actor, warm, per_txn)

        def run_rounds(
            n_rounds: int, n_events: int, txn: int, only: tuple[str, ...] | None = None
        ) -> dict[str, Any]:
            chosen = [v for v in variants if only is None or v[0] in only]
            data: dict[str, list[tuple[float, float]]] = {label: [] for label, _ in chosen}
            for r in range(n_rounds):
                events = list(itertools.islice(stream, n_events))
                order = chosen[r % len(chosen):] + chosen[: r % len(chosen)]
                for label, cls in order:
                    with common.CpuMeter(dbnames[label]) as meter:
                        append_batched(runtimes[label], cls, actor, events, txn)
                    data[label].append(
                        (n_events / meter.wall, n_events / (meter.client_cpu + meter.server_cpu))
                    )
            out: dict[str, Any] = {"events_measured_per_variant": n_rounds * n_events}
            for i, measure in ((0, "wall"), (1, "cpu_bound")):
                part: dict[str, Any] = {}
                for label, _ in chosen:
                    values = [x[i] for x in data[label]]
                    part[f"{label}_events_per_s"] = [round(v) for v in values]
                    part[f"median_{label}_events_per_s"] = round(common.median(values))
                for label, _ in chosen:
                    if label in ("bare", "fastbare"):
                        continue
                    ratios = [t[i] / b[i] for t, b in zip(data[label], data["bare"], strict=True)]
                    part[f"median_{label}_over_bare"] = round(common.median(ratios), 3)
                    part[f"{label}_overhead_pct"] = round((1 / common.median(ratios) - 1) * 100, 1)
                if "fast" in data:
                    ratios = [f[i] / t[i] for f, t in zip(data["fast"], data["tree"], strict=True)]
                    part["median_fast_over_tree"] = round(common.median(ratios), 2)
                    ratios = [f[i] / b[i] for f, b in zip(data["fast"], data["fastbare"], strict=True)]
                    part["median_fast_over_fastbare"] = round(common.median(ratios), 3)
                    part["fast_tree_overhead_vs_fastbare_pct"] = round(
                        (1 / common.median(ratios) - 1) * 100, 1)
                out[measure] = part
            return out

        size_at_start = head_size(runtimes["tree"])
        result: dict[str, Any] = {
            "log_size_at_start": size_at_start,
            "per_txn": per_txn,
            "rounds": rounds,
            "events_per_round": per_round,
            **run_rounds(rounds, per_round, per_txn),
        }
        chunk = max(1, single_events // 5)
        # One append per transaction: tree and bare only (commit/fsync dominates there).
        result["single_txn"] = {"per_txn": 1, **run_rounds(5, chunk, 1, only=("tree", "bare"))}
        return result
    finally:
        for rt in runtimes.values():
            rt.close()
        for drop in drops:
            drop()


def profile_appends(bench: common.Bench, count: int, per_txn: int, out: Path) -> dict[str, Any]:
    """cProfile of batched CustodyLog.append on the (scratch) benchmark database."""
    events = list(itertools.islice(event_stream(seed=123), count))
    profiler = cProfile.Profile()
    profiler.enable()
    append_batched(bench.runtime, CustodyLog, bench.officer, events, per_txn)
    profiler.disable()
    stats = pstats.Stats(profiler)
    stats.dump_stats(out)
    total = common.profile_total(stats)

    def part(fragment: str, name: str) -> dict[str, float]:
        s = common.inclusive_time(stats, lambda f: fragment in f[0] and f[2] == name)
        return {"s": round(s, 3), "share": round(s / total, 3)}

    return {
        "appends": count,
        "total_s": round(total, 3),
        "parts": {
            "CustodyLog.append": part("service/custody/service.py", "append"),
            "_locked_head (SELECT ... FOR UPDATE)": part("service/custody/service.py", "_locked_head"),
            "store_completed_nodes": part("service/custody/tree.py", "store_completed_nodes"),
            "  DatabaseSubtrees.subtree (sibling SELECT)": part("service/custody/tree.py", "subtree"),
            "CustodyLog.checkpoint": part("service/custody/service.py", "checkpoint"),
            "Session.flush": part("sqlalchemy/orm/session.py", "flush"),
            "Session.commit": part("sqlalchemy/orm/session.py", "commit"),
            "EventFields.canonical_bytes": part("service/custody/canonical.py", "canonical_bytes"),
            "canonical_json": part("service/custody/canonical.py", "canonical_json"),
        },
        "top_tottime": common.top_functions(stats, "tottime", 20),
    }


# ---- driver ----------------------------------------------------------------------------------


def run_db(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    workdir = common.scratch_dir(f"custodia-custody-{kind}-")
    out: dict[str, Any] = {"db": kind, "events": args.events}
    try:
        with common.database(kind, workdir) as url:
            bench = common.deployment(url, workdir / "data")
            try:
                build = args.build or "bulk"
                print(f"[{kind}] filling the log to {args.events} events ({build})", flush=True)
                build_meter = common.CpuMeter(common.pg_dbname(url))
                build_meter.__enter__()
                if build == "service":
                    out["build"] = {"method": "CustodyLog.append, batched", **build_with_service(
                        bench.runtime, bench.officer, args.events, args.txn_size,
                        window=max(args.events // 10, 1000))}
                else:
                    out["build"] = {"method": "bench bulk loader (executemany; not a service path)",
                                    **bulk_load(bench.runtime, bench.officer, args.events)}
                build_meter.__exit__(None, None, None)
                out["build"]["cpu"] = build_meter.as_dict(args.events)
                print(f"[{kind}] filled: {out['build']['events_per_s']} events/s wall, "
                      f"{out['build']['cpu']['per_s_cpu_bound']} events/s CPU-bound "
                      f"({out['build']['seconds']} s)", flush=True)
                size = head_size(bench.runtime)
                out["log_size"] = size
                out["storage"] = storage(url, size)
                print(f"[{kind}] storage: {out['storage']['bytes_per_event_custody_tables']} B/event "
                      f"(custody tables), {out['storage']['bytes_per_event_whole_database']} B/event "
                      f"(whole database)", flush=True)
                prof_dir = common.RESULTS_DIR
                prof_dir.mkdir(parents=True, exist_ok=True)
                parts = set(args.parts.split(","))
                if "verify" in parts:
                    out["verify"] = run_verify(
                        bench.runtime, args.verify_runs,
                        prof_dir / f"verify-{kind}-{size}.prof" if args.profile_verify else None,
                        prototypes=args.prototypes,
                    )
                    print(f"[{kind}] verify_log: median {out['verify']['median_s']} s wall "
                          f"({out['verify']['runs_s']}), {out['verify']['median_cpu_s']} s CPU "
                          f"(client+server), ok={out['verify']['ok']}", flush=True)
                    if args.prototypes:
                        f = out["verify"]["prototype_verify_log_fast"]
                        print(f"[{kind}] prototype verify_log_fast: median {f['median_s']} s wall, "
                              f"{f['median_cpu_s']} s CPU ({f['speedup_cpu']}x less CPU)", flush=True)
                        f = out["verify"]["prototype_verify_log_fast_splice"]
                        print(f"[{kind}] prototype verify_log_fast (splice): median {f['median_s']} s "
                              f"wall, {f['median_cpu_s']} s CPU ({f['speedup_cpu']}x less CPU)",
                              flush=True)
                if "proofs" in parts:
                    out["proofs"] = run_proofs(bench, args.proof_samples, prototypes=args.prototypes)
                    p = out["proofs"]
                    print(f"[{kind}] proofs via CustodyService: inclusion p50/p95 "
                          f"{p['service_inclusion']['p50_ms']}/{p['service_inclusion']['p95_ms']} ms, "
                          f"consistency {p['service_consistency']['p50_ms']}/"
                          f"{p['service_consistency']['p95_ms']} ms; tree only: "
                          f"{p['tree_inclusion_plus_root']['p95_ms']} / {p['tree_consistency']['p95_ms']} "
                          f"ms p95", flush=True)
                    if args.prototypes:
                        print(f"[{kind}] prototype prefetched proofs p95: inclusion+root "
                              f"{p['prototype_prefetched_inclusion_plus_root']['p95_ms']} ms, consistency "
                              f"{p['prototype_prefetched_consistency']['p95_ms']} ms", flush=True)
                if "appends" in parts:
                    out["appends"] = compare_appends(
                        bench, kind, workdir, rounds=args.rounds, per_round=args.round_events,
                        per_txn=args.txn_size, single_events=args.single_events,
                        prototypes=args.prototypes,
                    )
                    a = out["appends"]
                    for label, part in ((f"{args.txn_size}/txn", a), ("1/txn", a["single_txn"])):
                        for measure_kind in ("wall", "cpu_bound"):
                            m = part[measure_kind]
                            extra = (f"; prototype {m['median_fast_events_per_s']}/s "
                                     f"({m['median_fast_over_tree']}x tree), its bare twin "
                                     f"{m['median_fastbare_events_per_s']}/s -> prototype tree overhead "
                                     f"{m['fast_tree_overhead_vs_fastbare_pct']} %"
                                     ) if "median_fast_over_tree" in m else ""
                            print(f"[{kind}] appends at ~{a['log_size_at_start']} events, {label}, "
                                  f"{measure_kind}: tree {m['median_tree_events_per_s']}/s vs bare "
                                  f"{m['median_bare_events_per_s']}/s -> tree overhead "
                                  f"{m['tree_overhead_pct']} %{extra}", flush=True)
                if args.profile_appends and "appends" in parts:
                    bench.runtime.close()
                    bench.runtime = Runtime.open(bench.settings)
                    out["append_profile"] = profile_appends(
                        bench, args.profile_appends, args.txn_size,
                        prof_dir / f"append-{kind}-{size}.prof",
                    )
                    for label, v in out["append_profile"]["parts"].items():
                        print(f"    {label:45s} {v['s']:7.2f} s {v['share'] * 100:5.1f} %", flush=True)
            finally:
                bench.close()
    finally:
        common.remove(workdir)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--dbs", default="sqlite,postgresql")
    parser.add_argument("--build", choices=("service", "bulk"), default=None,
                        help="how to fill the log (default: bulk)")
    parser.add_argument("--txn-size", type=int, default=1000, help="appends per transaction")
    parser.add_argument("--rounds", type=int, default=6, help="interleaved tree/bare rounds")
    parser.add_argument("--round-events", type=int, default=3000, help="appends per round")
    parser.add_argument("--single-events", type=int, default=10_000,
                        help="appends measured at one append per transaction (per variant)")
    parser.add_argument("--verify-runs", type=int, default=3)
    parser.add_argument("--proof-samples", type=int, default=500)
    parser.add_argument("--profile-appends", type=int, default=5000)
    parser.add_argument("--profile-verify", action="store_true")
    parser.add_argument("--parts", default="verify,proofs,appends",
                        help="which measurements to run after filling the log")
    parser.add_argument("--prototypes", action="store_true",
                        help="also measure bench/prototypes.py (the recommended fixes)")
    args = parser.parse_args()
    machine = common.machine_info()
    suffix = "" if args.parts == "verify,proofs,appends" else "-" + args.parts.replace(",", "+")
    for kind in [d for d in args.dbs.split(",") if d]:
        started = time.perf_counter()
        result = {"machine": machine, "args": vars(args), "code": common.code_fingerprint(),
                  **run_db(kind, args)}
        result["wall_s"] = round(time.perf_counter() - started, 1)
        print(f"[{kind}] total wall {result['wall_s']} s; wrote",
              common.save_result(f"custody-{args.events}-{kind}{suffix}", result), flush=True)


if __name__ == "__main__":
    main()
