"""Inclusion and consistency proofs, and signed checkpoints, as auditors and courts get them.

A proof is only worth something if someone who does not trust Custodia can check it. So
every proof the API or the CLI hands out is checked three ways here: with the service's own
``merkle.verify_*`` against the *signed* checkpoint (not the root the proof carries), with
the standalone ``verifier.custodia_verifier`` run as a separate process, and by recomputing
the leaf hash from the event bytes the proof carries.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner, Result

from cli.main import app as cli_app
from service.context import Role
from service.custody import merkle
from service.custody.canonical import canonical_json
from service.custody.models import CustodyCheckpoint
from service.custody.note import (
    Checkpoint,
    parse_verifier_key,
    sign_checkpoint,
    verify_checkpoint,
)
from service.custody.publish import VKEY_FILE, PublishError, checkpoint_filename, publish_checkpoint
from tests.conftest import PG_ADMIN_URL
from tests.factories import Account, Deployment, interview_record

REPO_ROOT = Path(__file__).resolve().parents[3]
EVERY = 5


@dataclass
class Witnessed:
    """A deployment that checkpoints every five events into a witness directory."""

    deployment: Deployment
    auditor: Account
    officer: Account
    investigator: Account
    witness_dir: Path

    @property
    def origin(self) -> str:
        return self.deployment.settings.custody_origin

    @property
    def vkey(self) -> str:
        return (self.witness_dir / VKEY_FILE).read_text(encoding="utf-8").strip()

    def published(self) -> dict[int, Path]:
        """The witness directory's checkpoints by tree size."""
        files = sorted(self.witness_dir.glob("checkpoint-*.txt"))
        return {int(p.stem.removeprefix("checkpoint-")): p for p in files}

    def signed(self, note: str) -> Checkpoint:
        """A checkpoint's content, trusted only once its signature checks out."""
        return verify_checkpoint(note, [parse_verifier_key(self.vkey)], self.origin)

    def get(self, path: str, account: Account | None = None, **params: Any) -> Any:
        account = account or self.auditor
        response = self.deployment.client.get(
            f"/api/v1/custody/{path}", params=params, headers=account.headers
        )
        assert response.status_code == 200, response.text
        return response.json()

    def cli(self, *args: str) -> Result:
        """Run ``custodia`` as the auditor, configured like the server (same cadence and
        witness locations: its own sign-in is an event that may complete a checkpoint)."""
        settings = self.deployment.settings
        env = {
            "CUSTODIA_PASSWORD": self.auditor.password,
            "CUSTODIA_CHECKPOINT_EVERY_EVENTS": str(settings.checkpoint_every_events),
            "CUSTODIA_CHECKPOINT_PUBLISH_DIRS": json.dumps([str(self.witness_dir)]),
            "COLUMNS": "200",
        }
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
            env=env,
        )

    def stored_checkpoints(self) -> list[CustodyCheckpoint]:
        def work(scope: Any) -> list[CustodyCheckpoint]:
            query = select(CustodyCheckpoint).order_by(CustodyCheckpoint.id)
            return list(scope.session.scalars(query))

        rows: list[CustodyCheckpoint] = self.deployment.run(None, work)
        return rows


def _pg_admin(statement: str) -> None:
    import psycopg

    dsn = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True, connect_timeout=3) as connection:
        connection.execute(statement)


def _witnessed(data_dir: Path, url: str) -> Witnessed:
    """Two testimonies entered and read, with a checkpoint every five events."""
    witness_dir = data_dir.parent / "witness"
    dep = Deployment.create(
        data_dir, url, checkpoint_every_events=EVERY, checkpoint_publish_dirs=(witness_dir,)
    )
    try:
        case = dep.case()
        officer = dep.user(Role.OFFICER, cases=(case,))
        investigator = dep.user(Role.INVESTIGATOR, cases=(case,))
        auditor = dep.user(Role.AUDITOR)
        for _ in range(2):
            testimony = dep.create_testimony(officer, interview_record(case))
            read = dep.client.get(
                f"/api/v1/testimonies/{testimony['id']}", headers=investigator.headers
            )
            assert read.status_code == 200, read.text
    except BaseException:
        dep.close()
        raise
    return Witnessed(dep, auditor, officer, investigator, witness_dir)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def log(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Witnessed]:
    """One log per database kind, shared by the tests that only read it and make proofs."""
    root = tmp_path_factory.mktemp("proofs")
    database = ""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        (root / "data").mkdir(mode=0o700)
        shutil.copyfile(template, root / "data" / "custodia.db")
        url = f"sqlite:///{root / 'data' / 'custodia.db'}"
    else:
        pg_template: str = request.getfixturevalue("pg_template")
        database = f"custodia_proofs_{uuid.uuid4().hex[:12]}"
        _pg_admin(f'CREATE DATABASE "{database}" TEMPLATE "{pg_template}"')
        url = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{database}"
    try:
        witnessed = _witnessed(root / "data", url)
        try:
            yield witnessed
        finally:
            witnessed.deployment.close()
    finally:
        if database:
            _pg_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.fixture
def fresh_log(database_url: str, tmp_path: Path) -> Iterator[Witnessed]:
    """A log of its own, for tests that make checkpoints or publish."""
    witnessed = _witnessed(tmp_path / "data", database_url)
    try:
        yield witnessed
    finally:
        witnessed.deployment.close()


def run_standalone_verifier(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "verifier.custodia_verifier", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def write_json(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


# ---- checkpoints -------------------------------------------------------------------------------


def test_checkpoints_are_made_every_five_events_and_each_is_published(log: Witnessed) -> None:
    head = log.get("checkpoint")  # the latest one
    stored = log.stored_checkpoints()

    sizes = [c.tree_size for c in stored]
    assert all(c.reason == "auto" for c in stored)
    # The very first event starts the clock; after that, one every five events.
    assert sizes == list(range(1, sizes[-1] + 1, EVERY))
    assert head["tree_size"] == sizes[-1]
    published = log.published()
    assert sorted(published) == sizes
    for checkpoint in stored:
        text = published[checkpoint.tree_size].read_text(encoding="utf-8")
        assert text == checkpoint.signed_note
        assert log.signed(text).root_hash == checkpoint.root_hash
    assert log.vkey == head["verifier_key"]
    assert published[sizes[-1]].name == checkpoint_filename(sizes[-1])


def test_the_latest_checkpoint_reads_as_a_c2sp_signed_note(log: Witnessed) -> None:
    head = log.get("checkpoint")

    body, _, signature_block = head["signed_note"].partition("\n\n")
    origin, size, root_b64 = body.split("\n")
    assert origin == log.origin == head["key_name"]
    assert int(size) == head["tree_size"]
    assert base64.b64decode(root_b64).hex() == head["root_hash"]
    assert signature_block.startswith(f"\u2014 {log.origin} ")
    assert signature_block.endswith("\n") and signature_block.count("\n") == 1


def test_an_on_demand_checkpoint_covers_its_own_request(fresh_log: Witnessed) -> None:
    log = fresh_log
    response = log.deployment.client.post(
        "/api/v1/custody/checkpoints", headers=log.auditor.headers
    )

    assert response.status_code == 201, response.text
    made = response.json()
    assert made["reason"] == "on_demand"
    last = log.get("events", cursor=made["tree_size"] - 1)["events"][0]
    assert last["seq"] == made["tree_size"] - 1
    assert last["action"] == "custody.checkpoint_request"
    assert log.published()[made["tree_size"]].read_text(encoding="utf-8") == made["signed_note"]


# ---- inclusion -----------------------------------------------------------------------------------


def test_every_event_has_an_inclusion_proof_that_checks_against_the_signed_checkpoint(
    log: Witnessed,
) -> None:
    head = log.get("checkpoint")
    signed = log.signed(head["signed_note"])

    for index in range(signed.size):
        proof = log.get("proofs/inclusion", index=index)
        assert proof["tree_size"] == signed.size  # the default is the latest checkpoint
        assert proof["checkpoint"] == head["signed_note"]
        merkle.verify_inclusion(
            bytes.fromhex(proof["leaf_hash"]),
            index,
            signed.size,
            [bytes.fromhex(p) for p in proof["proof"]],
            signed.root_hash,
        )


def test_leaf_data_is_the_events_canonical_bytes_and_hashes_to_the_leaf(
    log: Witnessed,
) -> None:
    events = log.get("events", limit=1000)["events"]

    for event in events[:12]:
        proof = log.get("proofs/inclusion", index=event["seq"])
        data = base64.b64decode(proof["leaf_data"], validate=True)
        assert hashlib.sha256(b"\x00" + data).hexdigest() == proof["leaf_hash"]
        assert proof["leaf_hash"] == event["leaf_hash"]
        decoded = json.loads(data)
        assert canonical_json(decoded) == data  # already canonical: sorted, compact
        assert decoded["v"] == 1
        assert decoded["seq"] == event["seq"]
        assert decoded["action"] == event["action"]
        assert decoded["actor"] == event["actor"]
        assert decoded["details"] == event["details"]
        assert decoded["time"].endswith("Z") and len(decoded["time"]) == 27


def test_an_inclusion_proof_from_the_api_passes_the_standalone_verifier(
    log: Witnessed, tmp_path: Path
) -> None:
    head = log.get("checkpoint")
    index = head["tree_size"] // 2
    proof = log.get("proofs/inclusion", index=index)
    proof_file = write_json(tmp_path / "inclusion.json", proof)
    checkpoint_file = log.published()[head["tree_size"]]

    accepted = run_standalone_verifier(
        "inclusion", str(proof_file), "--checkpoint", str(checkpoint_file),
        "--key", f"@{log.witness_dir / VKEY_FILE}", "--origin", log.origin,
    )  # fmt: skip

    assert accepted.returncode == 0, accepted.stderr
    assert accepted.stdout.startswith(f"OK: leaf {index} ")

    forged = dict(proof, leaf_index=index + 1)
    rejected = run_standalone_verifier(
        "inclusion", str(write_json(tmp_path / "forged.json", forged)),
        "--checkpoint", str(checkpoint_file), "--key", log.vkey,
    )  # fmt: skip
    assert rejected.returncode == 1, rejected.stdout
    assert "VERIFICATION FAILED" in rejected.stderr


def test_an_inclusion_proof_in_an_older_tree_uses_that_trees_checkpoint(
    log: Witnessed,
) -> None:
    sizes = sorted(log.published())
    older = sizes[len(sizes) // 2]

    proof = log.get("proofs/inclusion", index=older - 1, tree_size=older)

    signed = log.signed(proof["checkpoint"])
    assert signed.size == older and proof["root_hash"] == signed.root_hash.hex()
    merkle.verify_inclusion(
        bytes.fromhex(proof["leaf_hash"]),
        older - 1,
        older,
        [bytes.fromhex(p) for p in proof["proof"]],
        signed.root_hash,
    )


def test_a_proof_for_a_size_without_a_checkpoint_says_so(log: Witnessed) -> None:
    sizes = set(log.published())
    unsigned = next(n for n in range(2, max(sizes)) if n not in sizes)

    proof = log.get("proofs/inclusion", index=0, tree_size=unsigned)

    assert proof["checkpoint"] is None  # nothing signed vouches for this root


# ---- consistency ---------------------------------------------------------------------------------


def test_consistency_proofs_link_every_published_checkpoint_to_the_latest(
    log: Witnessed,
) -> None:
    published = log.published()
    latest = max(published)
    new = log.signed(published[latest].read_text(encoding="utf-8"))

    for size, path in published.items():
        old = log.signed(path.read_text(encoding="utf-8"))
        proof = log.get("proofs/consistency", first=size)
        assert (proof["first"], proof["second"]) == (size, latest)
        assert proof["first_checkpoint"] == path.read_text(encoding="utf-8")
        assert proof["second_checkpoint"] == published[latest].read_text(encoding="utf-8")
        merkle.verify_consistency(
            size, latest, old.root_hash, new.root_hash, [bytes.fromhex(p) for p in proof["proof"]]
        )


def test_a_consistency_proof_from_the_api_passes_the_standalone_verifier(
    log: Witnessed, tmp_path: Path
) -> None:
    published = log.published()
    first, second = sorted(published)[1], max(published)
    proof = log.get("proofs/consistency", first=first, second=second)

    accepted = run_standalone_verifier(
        "consistency", str(write_json(tmp_path / "consistency.json", proof)),
        "--old", str(published[first]), "--new", str(published[second]), "--key", log.vkey,
    )  # fmt: skip

    assert accepted.returncode == 0, accepted.stderr
    assert accepted.stdout.startswith("OK:")

    swapped = run_standalone_verifier(
        "consistency", str(tmp_path / "consistency.json"),
        "--old", str(published[second]), "--new", str(published[first]), "--key", log.vkey,
    )  # fmt: skip
    assert swapped.returncode == 1


# ---- the CLI -------------------------------------------------------------------------------------


def test_cli_proofs_pass_the_standalone_verifier(log: Witnessed, tmp_path: Path) -> None:
    published = log.published()
    first, second = sorted(published)[1], max(published)

    inclusion = log.cli("custody", "proof", "inclusion", "3", "--tree-size", str(second))
    consistency = log.cli("custody", "proof", "consistency", str(first), str(second))

    assert inclusion.exit_code == 0, inclusion.output
    assert consistency.exit_code == 0, consistency.output
    inclusion_file = tmp_path / "inclusion.json"
    inclusion_file.write_text(inclusion.stdout, encoding="utf-8")
    consistency_file = tmp_path / "consistency.json"
    consistency_file.write_text(consistency.stdout, encoding="utf-8")
    assert json.loads(inclusion.stdout)["leaf_index"] == 3
    checked = run_standalone_verifier(
        "inclusion", str(inclusion_file), "--checkpoint", str(published[second]),
        "--key", log.vkey,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    checked = run_standalone_verifier(
        "consistency", str(consistency_file), "--old", str(published[first]),
        "--new", str(published[second]), "--key", log.vkey,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr


def test_cli_checkpoint_prints_the_latest_signed_checkpoint(log: Witnessed) -> None:
    result = log.cli("custody", "checkpoint")

    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert log.signed(shown["signed_note"]).size == shown["tree_size"]
    assert shown["verifier_key"] == log.vkey


def test_cli_refuses_a_proof_outside_the_log(log: Witnessed) -> None:
    result = log.cli("custody", "proof", "inclusion", "100000")

    assert result.exit_code == 1
    assert "index must be between 0 and" in " ".join(result.output.split())


# ---- publishing ----------------------------------------------------------------------------------


def test_a_published_checkpoint_is_never_overwritten_with_different_text(
    fresh_log: Witnessed,
) -> None:
    log = fresh_log
    size, path = max(log.published().items())
    original = path.read_text(encoding="utf-8")
    keyring = log.deployment.runtime.keyring
    # Same size, same key, another root: what a rewritten log would want to publish.
    other = sign_checkpoint(
        Checkpoint(log.origin, size, bytes(32)), log.origin, keyring.signing_key()
    )

    with pytest.raises(PublishError, match="never replaced"):
        publish_checkpoint(other, size, [log.witness_dir], keyring, log.origin)

    assert path.read_text(encoding="utf-8") == original
    # Publishing the very same text again is harmless.
    assert publish_checkpoint(original, size, [log.witness_dir], keyring, log.origin) == [path]


def test_cli_publish_refuses_to_replace_a_witness_copy(fresh_log: Witnessed) -> None:
    log = fresh_log
    # An on-demand checkpoint, so the CLI's own sign-ins stay short of the next auto one.
    made = log.deployment.client.post("/api/v1/custody/checkpoints", headers=log.auditor.headers)
    size = made.json()["tree_size"]
    path = log.witness_dir / checkpoint_filename(size)
    assert path.read_text(encoding="utf-8") == made.json()["signed_note"]
    again = log.cli("custody", "publish")
    assert again.exit_code == 0, again.output  # the same text again: nothing to do
    assert str(path) in " ".join(again.output.split())
    keyring = log.deployment.runtime.keyring
    forged = sign_checkpoint(
        Checkpoint(log.origin, size, bytes(32)), log.origin, keyring.signing_key()
    )

    def rewrite_latest(scope: Any) -> None:
        scope.session.execute(
            update(CustodyCheckpoint)
            .where(CustodyCheckpoint.tree_size == size)
            .values(signed_note=forged, root_hash=bytes(32))
        )

    log.deployment.run(None, rewrite_latest)
    refused = log.cli("custody", "publish")

    assert refused.exit_code == 1, refused.output
    assert isinstance(refused.exception, SystemExit), refused.exception
    assert "never replaced" in " ".join(refused.output.split())
    assert path.read_text(encoding="utf-8") == made.json()["signed_note"]


# ---- refusals ------------------------------------------------------------------------------------


def _assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith("https://") and body["title"]
    return body


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("proofs/inclusion", {"index": "{size}"}, "index"),
        ("proofs/inclusion", {"index": "-1"}, "index"),
        ("proofs/inclusion", {"index": "0", "tree_size": "{beyond}"}, "tree_size"),
        ("proofs/inclusion", {"index": "0", "tree_size": "0"}, "tree_size"),
        ("proofs/inclusion", {"index": "seven"}, "index"),
        ("proofs/consistency", {"first": "{size}", "second": "{smaller}"}, "first"),
        ("proofs/consistency", {"first": "0"}, "first"),
        ("proofs/consistency", {"first": "1", "second": "{beyond}"}, "second"),
    ],
)
def test_bad_proof_parameters_are_422_problems_that_name_the_field(
    log: Witnessed, path: str, params: dict[str, str], field: str
) -> None:
    size = log.get("checkpoint")["tree_size"]
    values = {"size": size, "smaller": size - 1, "beyond": size + 10_000}
    query = {k: v.format(**values) for k, v in params.items()}

    response = log.deployment.client.get(
        f"/api/v1/custody/{path}", params=query, headers=log.auditor.headers
    )

    body = _assert_problem(response, 422)
    assert field in {e["field"] for e in body.get("errors", [])}, body


@pytest.mark.parametrize("role", ["officer", "investigator", "admin"])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "checkpoint"),
        ("POST", "checkpoints"),
        ("GET", "proofs/inclusion?index=0"),
        ("GET", "proofs/consistency?first=1"),
        ("POST", "verify"),
    ],
)
def test_only_auditors_get_checkpoints_proofs_and_verification(
    log: Witnessed, role: str, method: str, path: str
) -> None:
    account = {
        "officer": log.officer,
        "investigator": log.investigator,
        "admin": log.deployment.admin,
    }[role]

    response = log.deployment.client.request(
        method, f"/api/v1/custody/{path}", headers=account.headers
    )

    _assert_problem(response, 403)


def test_proofs_need_a_signed_in_caller(log: Witnessed) -> None:
    response = log.deployment.client.get("/api/v1/custody/proofs/inclusion?index=0")

    _assert_problem(response, 401)
