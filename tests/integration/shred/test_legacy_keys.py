"""Keys made before shred binding existed still open, and ``custodia shred bind-legacy``
binds them, so that from then on a shred also defeats later database copies."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from cli.main import app as cli_app
from service.crypto.interfaces import KeyPurpose, ShredId
from service.crypto.shred import is_bound
from service.runtime import Scope
from service.testimony import content, models
from tests.factories import Deployment
from tests.integration.shred.world import build_world


def _make_legacy(deployment: Deployment, testimony_id: str) -> None:
    """Re-wrap the testimony's key the way it was wrapped before binding: KEK only."""
    runtime = deployment.runtime

    def work(scope: Scope) -> None:
        testimony = scope.session.get_one(models.Testimony, testimony_id)
        assert testimony.wrapped_key is not None
        context = content.testimony_key_context(testimony_id)
        data_key = runtime.envelope.unwrap(
            KeyPurpose.CONTENT,
            testimony.kek_version,
            testimony.wrapped_key,
            context,
            shred_id=ShredId.testimony(testimony_id),
        )
        testimony.kek_version, testimony.wrapped_key = runtime.keyring.wrap_data_key(
            KeyPurpose.CONTENT, data_key, context
        )

    deployment.run(None, work)


def _wrapped(deployment: Deployment, testimony_id: str) -> bytes:
    def work(scope: Scope) -> bytes:
        key = scope.session.get_one(models.Testimony, testimony_id).wrapped_key
        assert key is not None
        return key

    result: bytes = deployment.run(None, work)
    return result


def test_bind_legacy_binds_old_keys_and_they_still_open(deployment: Deployment) -> None:
    world = build_world(deployment)
    made = world.add_testimony()
    _make_legacy(deployment, made.id)
    assert not is_bound(_wrapped(deployment, made.id))
    assert world.read(made.id).status_code == 200  # legacy keys keep working
    settings = deployment.settings

    result = CliRunner().invoke(
        cli_app,
        [
            "--data-dir",
            str(settings.resolved_data_dir),
            "--database-url",
            settings.effective_database_url,
            "--user",
            world.admin.username,
            "shred",
            "bind-legacy",
        ],
        env={"CUSTODIA_PASSWORD": world.admin.password},
    )

    assert result.exit_code == 0, result.output
    assert "Bound 1 testimony, 0 attachment and 0 identity key(s)" in result.output
    assert is_bound(_wrapped(deployment, made.id))
    read = world.read(made.id)
    assert read.status_code == 200 and made.canary in read.text
    [event] = [e for e in deployment.custody_events() if e["action"] == "shred.bind_legacy_keys"]
    details = json.loads(event["details"])
    assert {k: details[k] for k in ("testimonies", "attachments", "identities")} == {
        "testimonies": 1,
        "attachments": 0,
        "identities": 0,
    }
    assert world.shred(made.id)["legacy_key"] is False


def test_shredding_a_legacy_testimony_says_so(deployment: Deployment) -> None:
    world = build_world(deployment)
    made = world.add_testimony()
    _make_legacy(deployment, made.id)

    executed = world.shred(made.id)

    assert executed["legacy_key"] is True
    assert world.read(made.id).status_code == 410
