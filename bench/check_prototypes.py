"""Correctness check of bench/prototypes.py before trusting its timings.

Builds a small log on each database with ``FastCustodyLog`` (batched transactions, single
transactions, and a savepoint that is rolled back mid-transaction), then requires
``verify_log`` to pass, ``verify_log_fast`` to agree on the root, and the prefetched proofs
to equal the stored-tree proofs for every index.

    .venv/bin/python bench/check_prototypes.py
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common  # noqa: E402
from bench.custody_bench import CTX, append_batched, event_stream, head_size  # noqa: E402
from bench.prototypes import (  # noqa: E402
    FastCustodyLog,
    prefetched_consistency,
    prefetched_inclusion,
    verify_log_fast,
)
from service.custody.merkle import consistency_proof, inclusion_proof, root  # noqa: E402
from service.custody.note import VerifierKey  # noqa: E402
from service.custody.service import CustodyLog  # noqa: E402
from service.custody.tree import DatabaseSubtrees  # noqa: E402
from service.custody.verify import verify_log  # noqa: E402


def check(kind: str) -> None:
    workdir = common.scratch_dir("custodia-check-")
    try:
        with common.database(kind, workdir) as url:
            bench = common.deployment(url, workdir / "data", checkpoint_every_events=50)
            rt, actor = bench.runtime, bench.officer
            stream = event_stream(seed=3)
            append_batched(rt, FastCustodyLog, actor, list(itertools.islice(stream, 1500)), 250)
            append_batched(rt, CustodyLog, actor, list(itertools.islice(stream, 77)), 10)
            append_batched(rt, FastCustodyLog, actor, list(itertools.islice(stream, 40)), 1)
            # a savepoint rolled back between good appends, as import_lines does for a bad line
            with rt.session_factory() as session:
                log = FastCustodyLog(session, CTX, rt.checkpoint_policy, clock=rt.clock)
                for kwargs in itertools.islice(stream, 5):
                    log.append(actor=actor, **kwargs)
                for keep in (False, True, False, True):
                    nested = session.begin_nested()
                    for kwargs in itertools.islice(stream, 3):
                        log.append(actor=actor, **kwargs)
                    nested.commit() if keep else nested.rollback()
                for kwargs in itertools.islice(stream, 5):
                    log.append(actor=actor, **kwargs)
                session.commit()
            size = head_size(rt)
            assert size > 1600, size
            origin = rt.settings.custody_origin
            keys = [VerifierKey.from_public_key(origin, rt.keyring.signing_public_key())]
            with rt.session_factory() as session:
                report = verify_log(session, origin=origin, trusted_keys=keys)
                assert report.ok, [str(f) for f in report.findings[:3]]
                fast = verify_log_fast(session, origin=origin, trusted_keys=keys)
                assert fast.ok and fast.root_hash == report.root_hash
                spliced = verify_log_fast(session, origin=origin, trusted_keys=keys, splice=True)
                assert spliced.ok and spliced.root_hash == report.root_hash
                assert fast.tree_nodes_checked == report.tree_nodes_checked
                store = DatabaseSubtrees(session)
                for i in range(0, size, 7):
                    assert prefetched_inclusion(session, i, size) == (
                        inclusion_proof(i, size, store), root(size, store))
                for first in range(1, size, 11):
                    assert prefetched_consistency(session, first, size) == consistency_proof(
                        first, size, store)
            print(f"[{kind}] ok: {size} events, {report.checkpoints_checked} checkpoints, "
                  f"{report.tree_nodes_checked} nodes; fast verify and prefetched proofs agree")
            bench.close()
    finally:
        common.remove(workdir)


if __name__ == "__main__":
    for kind in sys.argv[1:] or ["sqlite", "postgresql"]:
        check(kind)
