"""Re-import: a bag exported by one Custodia is imported by another, on SQLite and PostgreSQL.

Specification: ``custodia import-bag`` verifies the whole bag before writing anything and
refuses it, naming the first file at fault, if it does not verify; the imported testimonies
are like any created here (encrypted, searchable, on the custody record, readable only in
their case) and carry their provenance: the origin organisation, the export id, their ids
at the origin, the signed tag manifest's hash and the signer's key, and the bag's custody
evidence kept verbatim (sealed). The same bag, or a testimony already imported from the
same origin, is refused; only someone who may create testimonies in the target case may
import; a refusal leaves nothing behind but its custody event.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from sqlalchemy import func, select
from typer.testing import CliRunner

from cli.main import app
from service.context import Role
from service.custody.publish import verifier_key
from service.db.models import Base
from service.export.models import BagImport
from service.export.reimport import open_tag_files
from service.export.schemas import RecipientKind
from service.runtime import Scope
from tests.conftest import _pg_admin_connection, _pg_url
from tests.factories import Account, Deployment
from tests.integration.export.conftest import API, CANARY, ExportWorld, export_world

ORIGIN = "Origin Documentation Centre"
WRITTEN_TABLES = (
    "testimonies",
    "testimony_versions",
    "witnesses",
    "identity_records",
    "incidents",
    "consent_events",
    "attachments",
    "bag_imports",
    "imported_testimonies",
    "search_outbox",
)


@dataclass
class Pair:
    origin: Deployment
    receiver: Deployment
    world: ExportWorld
    case: str
    officer: Account
    investigator: Account
    auditor: Account


def _receiver_database(
    request: pytest.FixtureRequest, origin_url: str, base: Path
) -> Iterator[str]:
    """A second empty, migrated database of the same kind as the origin's."""
    if origin_url.startswith("sqlite"):
        template: Path = request.getfixturevalue("sqlite_template")
        data_dir = base / "data"
        data_dir.mkdir(parents=True, mode=0o700)
        shutil.copyfile(template, data_dir / "custodia.db")
        yield f"sqlite:///{data_dir / 'custodia.db'}"
        return
    template_name: str = request.getfixturevalue("pg_template")
    name = f"custodia_t_{uuid.uuid4().hex[:12]}"
    with _pg_admin_connection() as connection:
        connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"')
    try:
        yield _pg_url(name)
    finally:
        with _pg_admin_connection() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pair(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> Iterator[Pair]:
    origin = Deployment.create(
        tmp_path / "data",
        database_url,
        export_source_organization=ORIGIN,
        custody_origin="origin.example/custody",
    )
    databases = _receiver_database(request, database_url, tmp_path / "receiver")
    receiver_url = next(databases)
    receiver = Deployment.create(
        tmp_path / "receiver" / "data", receiver_url, custody_origin="receiver.example/custody"
    )
    try:
        case = receiver.case()
        yield Pair(
            origin=origin,
            receiver=receiver,
            world=export_world(origin),
            case=case,
            officer=receiver.user(Role.OFFICER, cases=(case,)),
            investigator=receiver.user(Role.INVESTIGATOR, cases=(case,)),
            auditor=receiver.user(Role.AUDITOR),
        )
    finally:
        receiver.close()
        origin.close()
        next(databases, None)


def custodia(deployment: Deployment, account: Account, *args: str) -> Result:
    return CliRunner().invoke(
        app,
        [
            "--data-dir",
            str(deployment.settings.data_dir),
            "--database-url",
            deployment.settings.effective_database_url,
            "--user",
            account.username,
            *args,
        ],
        env={"CUSTODIA_PASSWORD": account.password, "COLUMNS": "250"},
    )


def origin_key(pair: Pair) -> str:
    return verifier_key(pair.origin.runtime.keyring, pair.origin.settings.custody_origin)


def export_bag(
    pair: Pair,
    path: Path,
    testimonies: list[str],
    kind: RecipientKind = RecipientKind.UN_MECHANISMS,
    **profile: Any,
) -> str:
    """Builds and downloads a bag of ``testimonies`` at the origin; returns the export id."""
    built = pair.world.approved_and_built(pair.world.profile(kind, **profile), testimonies)
    path.write_bytes(pair.world.download(built["id"]))
    export_id: str = built["id"]
    return export_id


def tar_members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as archive:
        return {
            m.name.split("/", 1)[1]: archive.extractfile(m).read()  # type: ignore[union-attr]
            for m in archive.getmembers()
            if m.isfile()
        }


def counts(deployment: Deployment) -> dict[str, int]:
    with deployment.runtime.engine.connect() as connection:
        return {
            name: connection.execute(
                select(func.count()).select_from(Base.metadata.tables[name])
            ).scalar_one()
            for name in WRITTEN_TABLES
        }


def import_events(deployment: Deployment) -> list[dict[str, Any]]:
    return [
        {**e, "details": json.loads(e["details"] or "{}")}
        for e in deployment.custody_events()
        if e["action"] in {"bag.import", "testimony.imported_from_bag"}
    ]


def read(pair: Pair, testimony_id: str, who: Account | None = None) -> Any:
    response = pair.receiver.client.get(
        f"{API}/testimonies/{testimony_id}", headers=(who or pair.officer).headers
    )
    assert response.status_code == 200, response.text
    return response.json()


def custody_verifies(pair: Pair) -> None:
    response = pair.receiver.client.post(f"{API}/custody/verify", headers=pair.auditor.headers)
    assert response.status_code == 200 and response.json()["ok"] is True, response.text


def plaintext_on_disk(deployment: Deployment, words: tuple[bytes, ...]) -> list[str]:
    root = deployment.settings.resolved_data_dir
    return [
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and any(w in p.read_bytes() for w in words)
    ]


# ---- a good bag ------------------------------------------------------------------------------


def test_a_bag_from_another_custodia_imports_with_its_provenance(
    pair: Pair, tmp_path: Path
) -> None:
    world, origin = pair.world, pair.origin
    first = world.testimony(["un_mechanisms", "internal_analysis"], attachment=True)
    second = world.testimony(["un_mechanisms", "internal_analysis"])
    withdrawn = origin.client.post(
        f"{API}/testimonies/{second}/consent",
        json={"scope": "internal_analysis", "kind": "withdrawn", "effective_on": "2024-06-01"},
        headers=world.officer.headers,
    )
    assert withdrawn.status_code == 200, withdrawn.text
    originals = {t: read_origin(pair, t) for t in (first, second)}
    bag = tmp_path / "bag.tar"
    export_id = export_bag(pair, bag, [first, second])

    result = custodia(
        pair.receiver, pair.officer, "import-bag", str(bag), "--case", pair.case,
        "--key", origin_key(pair),
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    events = import_events(pair.receiver)
    imported = {
        e["details"]["original_testimony_id"]: e for e in events if e["object_type"] == "testimony"
    }
    assert sorted(imported) == sorted([first, second])
    (bag_event,) = [e for e in events if e["action"] == "bag.import"]
    assert bag_event["details"]["testimonies"] == {o: e["object_id"] for o, e in imported.items()}
    for original, event in imported.items():
        assert original in result.output and event["object_id"] in result.output
        assert event["actor"] == pair.officer.username and event["outcome"] == "ok"

    tagmanifest = hashlib.sha256(tar_members(bag)["tagmanifest-sha256.txt"]).hexdigest()
    signer = pair.origin.runtime.keyring.signing_public_key().public_bytes_raw().hex()
    for original, event in imported.items():
        here, there = read(pair, event["object_id"]), originals[original]
        assert here["case"] == pair.case
        assert here["witness_pseudonym"] == there["witness_pseudonym"]
        assert here["narrative"] == there["narrative"]
        assert here["interview"] == there["interview"]
        assert here["consent"] == there["consent"]
        strip = ("id", "version", "content_sha256")
        assert [{k: v for k, v in i.items() if k not in strip} for i in here["incidents"]] == [
            {k: v for k, v in i.items() if k not in strip} for i in there["incidents"]
        ]
        assert [a["sha256"] for a in here["attachments"]] == [
            a["sha256"] for a in there["attachments"]
        ]
        assert here["provenance"] == {
            "import_id": bag_event["object_id"],
            "origin_organization": ORIGIN,
            "origin_export_id": export_id,
            "original_testimony_id": original,
            "original_version": there["version"],
            "tagmanifest_sha256": tagmanifest,
            "signer_public_key": signer,
            "signer_trusted": True,
            "imported_at": here["provenance"]["imported_at"],
        }
        assert event["details"]["incidents"] == {
            i["id"]: j["id"] for i, j in zip(there["incidents"], here["incidents"], strict=True)
        }
    assert originals[second]["consent"][0]["active"] is False  # the withdrawal came along

    attachment = read(pair, imported[first]["object_id"])["attachments"][0]
    download = pair.receiver.client.get(
        f"{API}/testimonies/{imported[first]['object_id']}/attachments/{attachment['id']}",
        headers=pair.officer.headers,
    )
    assert download.content == b"Sketch of the holding centre, described in words."

    search = pair.receiver.client.get(
        f"{API}/search", params={"q": "beaten"}, headers=pair.investigator.headers
    )
    assert sorted(h["testimony_id"] for h in search.json()["hits"]) == sorted(
        e["object_id"] for e in imported.values()
    )
    custody_verifies(pair)

    def stored(scope: Scope) -> dict[str, bytes]:
        row = scope.session.get_one(BagImport, bag_event["object_id"])
        return open_tag_files(scope, row)

    kept = pair.receiver.run(None, stored)
    assert kept == {k: v for k, v in tar_members(bag).items() if not k.startswith("data/")}
    assert plaintext_on_disk(pair.receiver, (b"beaten every day", b"Sketch of the holding")) == []


def read_origin(pair: Pair, testimony_id: str) -> Any:
    response = pair.origin.client.get(
        f"{API}/testimonies/{testimony_id}", headers=pair.world.officer.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["provenance"] is None
    return response.json()


def test_an_age_encrypted_bag_with_identity_imports_without_touching_the_disk(
    pair: Pair, tmp_path: Path
) -> None:
    from pyrage import x25519

    identity = x25519.Identity.generate()
    identity_file = tmp_path / "receiver.key"
    identity_file.write_text(str(identity) + "\n")
    testimony = pair.world.testimony(["judicial_proceedings"], attachment=True)
    bag = tmp_path / "bag.tar.age"
    export_bag(
        pair, bag, [testimony], RecipientKind.JUDICIAL_PROCEEDINGS,
        include_identity=True, age_recipient=str(identity.to_public()),
    )  # fmt: skip

    refused = custodia(pair.receiver, pair.officer, "import-bag", str(bag), "--case", pair.case)
    result = custodia(
        pair.receiver, pair.officer, "import-bag", str(bag), "--case", pair.case,
        "--identity", str(identity_file),
    )  # fmt: skip

    assert refused.exit_code == 1 and "IMPORT REFUSED" in refused.output
    assert result.exit_code == 0, result.output
    assert "warning" in result.output  # no --key: the embedded key proves self-consistency only
    (event,) = [e for e in import_events(pair.receiver) if e["object_type"] == "testimony"]
    record = read(pair, event["object_id"])
    assert record["provenance"]["signer_trusted"] is False
    reveal = pair.receiver.client.post(
        f"{API}/witnesses/{record['witness_pseudonym']}/identity:reveal",
        json={"reason": "Checking the imported identity for the prosecution file."},
        headers=pair.investigator.headers,
    )
    assert reveal.status_code == 200 and reveal.json()["legal_name"] == CANARY, reveal.text
    words = (b"Canarywitnessname", b"Zqxjvbn", b"beaten every day", b"Sketch of the holding")
    assert plaintext_on_disk(pair.receiver, words) == []


# ---- refusals --------------------------------------------------------------------------------


def rewrite_tar(source: Path, target: Path, name: str) -> None:
    """A copy of the tar with one byte of ``name`` flipped."""
    with tarfile.open(source) as archive, tarfile.open(target, "w") as out:
        for member in archive.getmembers():
            data = archive.extractfile(member).read() if member.isfile() else b""  # type: ignore[union-attr]
            if member.name.endswith("/" + name):
                changed = bytearray(data)
                changed[len(changed) // 2] ^= 0x01
                data = bytes(changed)
            out.addfile(member, io.BytesIO(data))


TAMPERED = (
    "data/testimonies/001/narrative-original.txt",
    "data/testimonies/001/testimony.json",
    "custody/events.jsonl",
    "custody/inclusion-proofs.json",
    "bag-info.txt",
    "signature/tagmanifest-sha256.txt.sig",
)


def test_a_tampered_bag_is_refused_naming_the_file_and_nothing_is_written(
    pair: Pair, tmp_path: Path
) -> None:
    testimony = pair.world.testimony(["un_mechanisms"], attachment=True)
    bag = tmp_path / "bag.tar"
    export_bag(pair, bag, [testimony])
    before = counts(pair.receiver)

    for number, name in enumerate(TAMPERED):
        tampered = tmp_path / f"tampered-{number}.tar"
        rewrite_tar(bag, tampered, name)
        result = custodia(
            pair.receiver, pair.officer, "import-bag", str(tampered), "--case", pair.case
        )

        assert result.exit_code == 1, result.output
        assert "IMPORT REFUSED" in result.output and name in result.output, result.output

    assert counts(pair.receiver) == before
    assert list((pair.receiver.settings.resolved_data_dir / "attachments").rglob("*.*")) == []
    refusals = import_events(pair.receiver)
    assert [(e["action"], e["outcome"], e["details"]["reason"]) for e in refusals] == [
        ("bag.import", "failed", "verification")
    ] * len(TAMPERED)
    for event, name in zip(refusals, TAMPERED, strict=True):
        assert name in event["details"]["file"]
    custody_verifies(pair)


def test_the_same_bag_or_testimony_is_imported_once(pair: Pair, tmp_path: Path) -> None:
    testimony = pair.world.testimony(["un_mechanisms"])
    bag, again = tmp_path / "bag.tar", tmp_path / "again.tar"
    export_bag(pair, bag, [testimony])
    export_bag(pair, again, [testimony])  # a second export of the same testimony

    first = custodia(pair.receiver, pair.officer, "import-bag", str(bag), "--case", pair.case)
    after_first = counts(pair.receiver)
    twice = custodia(pair.receiver, pair.officer, "import-bag", str(bag), "--case", pair.case)
    other = custodia(pair.receiver, pair.officer, "import-bag", str(again), "--case", pair.case)

    assert first.exit_code == 0, first.output
    assert twice.exit_code == 1 and "already imported" in twice.output, twice.output
    assert other.exit_code == 1 and f"Testimony {testimony}" in other.output, other.output
    assert counts(pair.receiver) == after_first
    reasons = [
        e["details"].get("reason") for e in import_events(pair.receiver) if e["outcome"] != "ok"
    ]
    assert reasons == ["duplicate bag", "duplicate testimony"]


def test_a_pseudonym_already_used_here_is_never_merged_with_an_imported_witness(
    pair: Pair, tmp_path: Path
) -> None:
    from tests.factories import interview_record

    testimony = pair.world.testimony(["un_mechanisms"])
    pseudonym = read_origin(pair, testimony)["witness_pseudonym"]
    pair.receiver.create_testimony(
        pair.officer, interview_record(pair.case, witness={"pseudonym": pseudonym})
    )
    before = counts(pair.receiver)
    bag = tmp_path / "bag.tar"
    export_bag(pair, bag, [testimony])

    result = custodia(pair.receiver, pair.officer, "import-bag", str(bag), "--case", pair.case)

    assert result.exit_code == 1 and f"'{pseudonym}'" in result.output, result.output
    assert counts(pair.receiver) == before


def test_a_bag_without_the_narrative_cannot_be_imported(pair: Pair, tmp_path: Path) -> None:
    testimony = pair.world.testimony(["public_anonymised"])
    bag = tmp_path / "bag.tar"
    export_bag(pair, bag, [testimony], RecipientKind.PUBLIC_ANONYMISED)

    result = custodia(pair.receiver, pair.officer, "import-bag", str(bag), "--case", pair.case)

    assert result.exit_code == 1, result.output
    assert "original narrative" in result.output
    assert counts(pair.receiver)["testimonies"] == 0


def test_only_a_writer_of_the_target_case_may_import(pair: Pair, tmp_path: Path) -> None:
    testimony = pair.world.testimony(["un_mechanisms"])
    bag = tmp_path / "bag.tar"
    export_bag(pair, bag, [testimony])
    outsider = pair.receiver.user(Role.OFFICER, cases=(pair.receiver.case(),))
    before = counts(pair.receiver)

    outcomes = {
        account.username: custodia(
            pair.receiver, account, "import-bag", str(bag), "--case", pair.case
        )
        for account in (pair.auditor, pair.investigator, pair.receiver.admin, outsider)
    }

    for username, result in outcomes.items():
        assert result.exit_code == 1, (username, result.output)
        assert "IMPORT REFUSED" in result.output
    assert f"No case with code '{pair.case}'" in outcomes[outsider.username].output
    assert counts(pair.receiver) == before
    denied = [
        e["actor"]
        for e in pair.receiver.custody_events()
        if e["action"] == "access.denied" and e["channel"] == "cli"
    ]
    assert sorted(denied) == sorted(outcomes)
