"""Crypto-shredding (DESIGN.md invariant 5): two people decide, and then nothing can bring it back.

The decisive property is tested as an attacker would try it: a copy of the database and of
the whole data directory, taken *before* the shred, opened afterwards with the *live* keys
(keyring and shred secrets), through the real read paths. Before the shred the same copy
decrypts everything, so the test cannot pass by decrypting nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from cli.main import app as cli_app
from service.context import Role
from service.crypto.errors import DecryptionError
from service.crypto.interfaces import KeyPurpose
from service.errors import ShreddedError
from service.runtime import Scope
from service.shred.models import ShredRequest
from service.testimony import content, models
from service.testimony import service as testimony_service
from service.testimony.attachments import AttachmentService
from service.testimony.content import ContentReader
from service.witness.models import IdentityRecord
from service.witness.service import WitnessService
from tests.factories import Deployment
from tests.integration.shred.world import (
    ATTACHMENT,
    REASON,
    Made,
    Snapshot,
    World,
    build_world,
    run_as,
)

REVEAL_REASON = "Checking the shred removed the identity for good."


def _read_everything(snapshot: Snapshot, world: World, made: Made) -> dict[str, object]:
    """Decrypt narrative, incidents, attachment and identity from ``snapshot``; raises."""
    officer = world.principal(world.officer)
    with snapshot.runtime() as runtime:
        record = run_as(
            runtime, officer, lambda s: testimony_service.TestimonyService(s).read(made.id)
        )

        def attachment(scope: Scope) -> bytes:
            download = AttachmentService(scope).download(made.id, made.attachment_id)
            return b"".join(download.chunks)

        data = run_as(runtime, officer, attachment)
        identity = run_as(
            runtime, officer, lambda s: WitnessService(s).reveal(made.pseudonym, REVEAL_REASON)
        )
    return {
        "narrative": record.narrative.translation_en,
        "incidents": [i.description for i in record.incidents],
        "attachment": data,
        "identity": identity.legal_name,
    }


def test_a_copy_taken_before_the_shred_cannot_be_decrypted_with_the_live_keys(
    deployment: Deployment, tmp_path: Path
) -> None:
    world = build_world(deployment)
    made = world.add_testimony()
    before = Snapshot.take(deployment, tmp_path / "backup-before")
    control = Snapshot.take(deployment, tmp_path / "backup-control")
    try:
        # The control copy, with its own (pre-shred) keys, opens everything.
        opened = _read_everything(control, world, made)
        assert made.canary in str(opened["narrative"])
        assert opened["attachment"] == ATTACHMENT
        assert opened["identity"] == "홍길순"

        world.shred(made.id)
        before.install_keys_of(deployment)

        officer = world.principal(world.officer)
        with before.runtime() as runtime:
            with pytest.raises(ShreddedError):
                run_as(
                    runtime, officer, lambda s: testimony_service.TestimonyService(s).read(made.id)
                )

            def content_key(scope: Scope) -> bytes:
                testimony = scope.session.get_one(models.Testimony, made.id)
                assert testimony.wrapped_key is not None  # the copy still has it...
                return ContentReader(scope.session, runtime.envelope).data_key(testimony)

            with pytest.raises(ShreddedError):  # ...but it no longer opens
                run_as(runtime, officer, content_key)

            def keyring_alone(scope: Scope) -> bytes:
                testimony = scope.session.get_one(models.Testimony, made.id)
                assert testimony.wrapped_key is not None
                return runtime.keyring.unwrap_data_key(
                    KeyPurpose.CONTENT,
                    testimony.kek_version,
                    testimony.wrapped_key,
                    content.testimony_key_context(made.id),
                )

            with pytest.raises(DecryptionError):  # the live KEK alone opens nothing either
                run_as(runtime, officer, keyring_alone)

            def attachment(scope: Scope) -> object:
                return AttachmentService(scope).download(made.id, made.attachment_id)

            with pytest.raises(ShreddedError):
                run_as(runtime, officer, attachment)
            with pytest.raises(ShreddedError):
                run_as(
                    runtime,
                    officer,
                    lambda s: WitnessService(s).reveal(made.pseudonym, REVEAL_REASON),
                )
    finally:
        before.drop()
        control.drop()


def test_a_shred_leaves_a_tombstone_and_reads_answer_410(deployment: Deployment) -> None:
    world = build_world(deployment)
    made = world.add_testimony()
    request = world.request_shred(made.id)

    executed = world.approve(request["id"])
    assert executed.status_code == 200, executed.text
    body = executed.json()
    assert body["status"] == "executed"
    assert body["requested_by"] == world.admin.username
    assert body["approved_by"] == world.second_admin.username
    assert body["identity_shredded"] is True  # the witness's only testimony
    assert body["attachments_deleted"] == 1
    assert body["legacy_key"] is False

    for who in (world.officer, world.investigator):
        read = world.read(made.id, who)
        assert read.status_code == 410, read.text
        assert read.json()["type"].endswith("/shredded")
        assert read.headers["content-type"].startswith("application/problem+json")
    download = deployment.client.get(
        f"/api/v1/testimonies/{made.id}/attachments/{made.attachment_id}",
        headers=world.investigator.headers,
    )
    assert download.status_code == 410
    reveal = deployment.client.post(
        f"/api/v1/witnesses/{made.pseudonym}/identity:reveal",
        json={"reason": REVEAL_REASON},
        headers=world.investigator.headers,
    )
    assert reveal.status_code == 410

    # Someone outside the case still learns nothing, not even that it was shredded.
    outsider = deployment.user(Role.INVESTIGATOR, cases=(deployment.case(),))
    assert world.read(made.id, outsider).status_code == 404

    def tombstone(scope: Scope) -> dict[str, object]:
        testimony = scope.session.get_one(models.Testimony, made.id)
        return {
            "shredded": testimony.shredded_at is not None,
            "reason": testimony.shred_reason,
            "request": testimony.shred_request_id,
            "wrapped_key": testimony.wrapped_key,
            "versions": scope.session.scalar(
                select(func.count()).where(models.TestimonyVersion.testimony_id == made.id)
            ),
            "incidents": scope.session.scalar(
                select(func.count()).where(models.Incident.testimony_id == made.id)
            ),
            "attachment_keys": list(
                scope.session.scalars(
                    select(models.Attachment.wrapped_key).where(
                        models.Attachment.testimony_id == made.id
                    )
                )
            ),
            "identity_rows": scope.session.scalar(
                select(func.count())
                .select_from(IdentityRecord)
                .where(IdentityRecord.witness_id == testimony.witness_id)
            ),
        }

    assert deployment.run(None, tombstone) == {
        "shredded": True,
        "reason": REASON,
        "request": request["id"],
        "wrapped_key": None,
        "versions": 0,
        "incidents": 0,
        "attachment_keys": [None],
        "identity_rows": 0,
    }
    actions = [(e["action"], e["actor"]) for e in deployment.custody_events()]
    assert ("shred.request", world.admin.username) in actions
    assert ("shred.approve", world.second_admin.username) in actions
    assert ("shred.execute", world.second_admin.username) in actions


def test_attachments_and_shred_secrets_are_gone_from_storage(deployment: Deployment) -> None:
    world = build_world(deployment)
    made = world.add_testimony()
    store = deployment.runtime.attachments
    secrets_dir = deployment.settings.shred_secrets_path
    assert store.exists(made.attachment_id)
    names_before = {p.name for p in secrets_dir.iterdir()}
    assert f"testimony-{made.id}.key" in names_before

    world.shred(made.id)

    assert not store.exists(made.attachment_id)
    root = deployment.settings.attachments_dir
    assert [p for p in root.rglob("*") if p.is_file()] == []
    names_after = {p.name for p in secrets_dir.iterdir()}
    assert f"testimony-{made.id}.key" not in names_after
    assert len(names_before - names_after) == 2  # the testimony's and the witness's secret


def test_search_finds_nothing_of_a_shredded_testimony(deployment: Deployment) -> None:
    world = build_world(deployment)
    made = world.add_testimony()
    kept = world.add_testimony()
    assert world.search(made.canary) == {made.id}
    assert world.search("beaten") == {made.id, kept.id}

    world.shred(made.id)

    assert world.search(made.canary) == set()
    assert world.search("beaten") == {kept.id}
    index = deployment.runtime.search_index
    assert made.id not in index.document_ids()
    token = deployment.runtime.search_indexer.blind("translation", made.canary).encode()
    if deployment.runtime.engine.dialect.name == "sqlite":
        # Whoosh: the deleted document's postings are purged from the files, not just hidden.
        files = [p for p in deployment.settings.search_dir.rglob("*") if p.is_file()]
        assert files, "the scan must read the index"
        assert not any(token in p.read_bytes() for p in files)
    else:
        with deployment.runtime.engine.connect() as connection:
            dumped = connection.execute(text("SELECT tokens::text FROM search_documents")).all()
        assert dumped, "the scan must read the index"
        assert not any(token.decode() in row[0] for row in dumped)


def test_the_custody_log_still_verifies_after_a_shred(deployment: Deployment) -> None:
    world = build_world(deployment)
    made = world.add_testimony()
    world.add_testimony()
    world.shred(made.id)
    auditor = deployment.user(Role.AUDITOR)
    settings = deployment.settings

    result = CliRunner().invoke(
        cli_app,
        [
            "--data-dir",
            str(settings.data_dir),
            "--database-url",
            settings.effective_database_url,
            "--user",
            auditor.username,
            "custody",
            "verify",
        ],
        env={"CUSTODIA_PASSWORD": auditor.password, "COLUMNS": "200"},
    )

    assert result.exit_code == 0, result.output
    api = deployment.client.post("/api/v1/custody/verify", headers=auditor.headers)
    assert api.status_code == 200 and api.json()["ok"] is True, api.text


def test_the_identity_stays_while_the_witness_has_another_testimony(
    deployment: Deployment,
) -> None:
    world = build_world(deployment)
    first = world.add_testimony()
    second = world.add_testimony(pseudonym=first.pseudonym)

    assert world.shred(first.id)["identity_shredded"] is False
    reveal = deployment.client.post(
        f"/api/v1/witnesses/{first.pseudonym}/identity:reveal",
        json={"reason": REVEAL_REASON},
        headers=world.investigator.headers,
    )
    assert reveal.status_code == 200, reveal.text
    assert world.read(second.id).status_code == 200

    assert world.shred(second.id)["identity_shredded"] is True
    reveal = deployment.client.post(
        f"/api/v1/witnesses/{first.pseudonym}/identity:reveal",
        json={"reason": REVEAL_REASON},
        headers=world.investigator.headers,
    )
    assert reveal.status_code == 410


def test_destroy_identity_removes_it_even_while_other_testimonies_remain(
    deployment: Deployment,
) -> None:
    world = build_world(deployment)
    first = world.add_testimony()
    second = world.add_testimony(pseudonym=first.pseudonym)

    assert world.shred(first.id, destroy_identity=True)["identity_shredded"] is True

    reveal = deployment.client.post(
        f"/api/v1/witnesses/{first.pseudonym}/identity:reveal",
        json={"reason": REVEAL_REASON},
        headers=world.investigator.headers,
    )
    assert reveal.status_code == 410
    remaining = world.read(second.id)
    assert remaining.status_code == 200, remaining.text
    assert remaining.json()["witness_pseudonym"] == first.pseudonym


def test_a_second_request_for_the_same_testimony_is_refused_while_one_is_pending(
    deployment: Deployment,
) -> None:
    world = build_world(deployment)
    made = world.add_testimony()
    world.request_shred(made.id)

    again = deployment.client.post(
        "/api/v1/shred-requests",
        json={"testimony_id": made.id, "reason": REASON},
        headers=world.second_admin.headers,
    )

    assert again.status_code == 409

    def count(scope: Scope) -> int | None:
        return scope.session.scalar(select(func.count()).select_from(ShredRequest))

    assert deployment.run(None, count) == 1
