"""Exports from request to offline verification, on SQLite and PostgreSQL.

Specification: consent decides which testimonies may go to which kind of recipient, at
request time and again at build time; a second investigator approves; the bag validates
with stock BagIt tools and with ``custodia bundle verify``; a profile without identity
never carries the witness's identity, not even in tag files.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import bagit
import jsonschema

from service.context import Role
from service.db.base import utcnow
from service.export.schemas import RecipientKind
from service.export.verify import load_public_key
from tests.factories import Deployment
from tests.integration.export.conftest import API, CANARY, ExportWorld, export_world

REPO = Path(__file__).resolve().parents[3]
SCOPES = ["internal_analysis", "un_mechanisms", "judicial_proceedings", "public_anonymised"]


def extract(data: bytes, into: Path) -> Path:
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        archive.extractall(into, filter="data")
    (root,) = list(into.iterdir())
    return root


def actions(deployment: Deployment, export_id: str) -> list[tuple[str, str]]:
    return [
        (e["action"], e["outcome"])
        for e in deployment.custody_events()
        if e["object_type"] == "export" and e["object_id"] == export_id
    ]


def test_each_recipient_kind_receives_exactly_the_testimonies_consented_to_it(
    deployment: Deployment,
) -> None:
    world = export_world(deployment)
    by_scope = {scope: world.testimony([scope]) for scope in SCOPES}

    outcome: dict[str, Any] = {}
    for kind in RecipientKind:
        response = world.request(world.profile(kind), list(by_scope.values()))
        assert response.status_code == 201, response.text
        body = response.json()
        outcome[kind.value] = (
            body["included"],
            sorted(e["testimony_id"] for e in body["excluded"]),
        )

    for kind in RecipientKind:
        included, excluded = outcome[kind.value]
        assert included == [by_scope[kind.value]]
        assert excluded == sorted(t for s, t in by_scope.items() if s != kind.value)


def test_withdrawn_consent_before_the_request_leaves_the_testimony_out_with_the_reason(
    deployment: Deployment,
) -> None:
    world = export_world(deployment)
    kept = world.testimony(["un_mechanisms"])
    withdrawn = world.testimony(["un_mechanisms"])
    change = deployment.client.post(
        f"{API}/testimonies/{withdrawn}/consent",
        json={"scope": "un_mechanisms", "kind": "withdrawn", "effective_on": "2024-05-01"},
        headers=world.officer.headers,
    )
    assert change.status_code == 200, change.text

    response = world.request(world.profile(RecipientKind.UN_MECHANISMS), [kept, withdrawn])

    assert response.status_code == 201, response.text
    assert response.json()["included"] == [kept]
    assert response.json()["excluded"] == [
        {
            "testimony_id": withdrawn,
            "reason": "consent to 'un_mechanisms' was withdrawn on 2024-05-01",
            # The sentence's template and values, for clients that show it translated.
            "reason_template": "consent to '%(scope)s' was withdrawn on %(date)s",
            "reason_params": {"scope": "un_mechanisms", "date": "2024-05-01"},
        }
    ]


def test_a_request_that_consent_allows_nothing_of_is_refused_and_recorded(
    deployment: Deployment,
) -> None:
    world = export_world(deployment)
    only_internal = world.testimony(["internal_analysis"])

    response = world.request(world.profile(RecipientKind.JUDICIAL_PROCEEDINGS), [only_internal])

    assert response.status_code == 403
    assert response.json()["type"].endswith("/consent-refused")
    listed = world.deployment.client.get(f"{API}/exports", headers=world.requester.headers)
    assert listed.json() == []
    refused = [e for e in deployment.custody_events() if e["action"] == "export.request"]
    assert [(e["outcome"], e["actor"]) for e in refused] == [("denied", world.requester.username)]


def test_withdrawal_between_approval_and_build_excludes_the_testimony_from_the_bag(
    deployment: Deployment, tmp_path: Path
) -> None:
    world = export_world(deployment)
    kept = world.testimony(["un_mechanisms"])
    later = world.testimony(["un_mechanisms"])
    profile = world.profile(RecipientKind.UN_MECHANISMS)
    export_id = world.request(profile, [kept, later]).json()["id"]
    client = deployment.client
    assert (
        client.post(
            f"{API}/exports/{export_id}:approve", json={}, headers=world.approver.headers
        ).status_code
        == 200
    )
    client.post(
        f"{API}/testimonies/{later}/consent",
        json={"scope": "un_mechanisms", "kind": "withdrawn", "effective_on": "2024-06-01"},
        headers=world.officer.headers,
    )

    built = client.post(f"{API}/exports/{export_id}:build", headers=world.requester.headers)

    assert built.status_code == 200, built.text
    assert built.json()["built_included"] == [kept]
    assert [e["testimony_id"] for e in built.json()["built_excluded"]] == [later]
    root = extract(world.download(export_id), tmp_path / "bag")
    documents = [json.loads(p.read_text()) for p in root.glob("data/testimonies/*/testimony.json")]
    assert [d["testimony_id"] for d in documents] == [kept]


def test_a_build_left_with_nothing_fails_and_keeps_no_bag(deployment: Deployment) -> None:
    world = export_world(deployment)
    only = world.testimony(["un_mechanisms"])
    export_id = world.request(world.profile(RecipientKind.UN_MECHANISMS), [only]).json()["id"]
    client = deployment.client
    client.post(f"{API}/exports/{export_id}:approve", json={}, headers=world.approver.headers)
    client.post(
        f"{API}/testimonies/{only}/consent",
        json={"scope": "un_mechanisms", "kind": "withdrawn", "effective_on": "2024-06-01"},
        headers=world.officer.headers,
    )

    built = client.post(f"{API}/exports/{export_id}:build", headers=world.requester.headers)

    assert built.status_code == 403
    assert built.json()["type"].endswith("/consent-refused")
    state = client.get(f"{API}/exports/{export_id}", headers=world.requester.headers).json()
    assert state["status"] == "approved"
    assert not any((deployment.settings.resolved_data_dir / "exports").rglob("*.bin"))
    assert ("export.build", "failed") in actions(deployment, export_id)


def test_the_requester_cannot_approve_their_own_export(deployment: Deployment) -> None:
    world = export_world(deployment)
    only = world.testimony(["un_mechanisms"])
    export_id = world.request(world.profile(RecipientKind.UN_MECHANISMS), [only]).json()["id"]
    client = deployment.client

    own = client.post(
        f"{API}/exports/{export_id}:approve", json={}, headers=world.requester.headers
    )
    early = client.post(f"{API}/exports/{export_id}:build", headers=world.requester.headers)

    assert own.status_code == 403
    assert early.status_code == 409
    state = client.get(f"{API}/exports/{export_id}", headers=world.requester.headers).json()
    assert (state["status"], state["decided_by"]) == ("pending", None)
    denied = [
        e
        for e in deployment.custody_events()
        if e["action"] == "access.denied" and e["object_id"] == export_id
    ]
    assert [(e["actor"], json.loads(e["details"])["reason"]) for e in denied] == [
        (world.requester.username, "own_request")
    ]


def test_a_rejected_export_can_never_be_built(deployment: Deployment) -> None:
    world = export_world(deployment)
    only = world.testimony(["un_mechanisms"])
    export_id = world.request(world.profile(RecipientKind.UN_MECHANISMS), [only]).json()["id"]
    client = deployment.client

    rejected = client.post(
        f"{API}/exports/{export_id}:reject",
        json={"note": "Too broad."},
        headers=world.approver.headers,
    )
    built = client.post(f"{API}/exports/{export_id}:build", headers=world.approver.headers)

    assert rejected.json()["status"] == "rejected"
    assert built.status_code == 409
    assert actions(deployment, export_id) == [("export.request", "ok"), ("export.reject", "ok")]


def test_a_built_bag_validates_with_bagit_and_the_offline_verifier(
    deployment: Deployment, tmp_path: Path
) -> None:
    world = export_world(deployment)
    testimony = world.testimony(["judicial_proceedings"], attachment=True)
    built = world.approved_and_built(world.profile(RecipientKind.JUDICIAL_PROCEEDINGS), [testimony])
    data = world.download(built["id"])
    tar_path = tmp_path / "bag.tar"
    tar_path.write_bytes(data)
    root = extract(data, tmp_path / "extracted")
    vkey = (root / "custody" / "log.vkey").read_text().strip()

    bagit.Bag(str(root)).validate()
    stock = subprocess.run(
        [str(Path(sys.executable).parent / "bagit.py"), "--validate", str(root)],
        capture_output=True,
        text=True,
        check=False,
    )
    cli = subprocess.run(
        [sys.executable, "-m", "cli.main", "bundle", "verify", str(tar_path), "--key", vkey],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    schema = json.loads((REPO / "schemas" / "export-testimony.schema.json").read_text())
    for document in root.glob("data/testimonies/*/testimony.json"):
        jsonschema.validate(json.loads(document.read_text()), schema)

    assert stock.returncode == 0, stock.stderr
    assert cli.returncode == 0, cli.stderr
    assert "OK: bag of export" in cli.stdout
    assert built["bag_sha256"] == __import__("hashlib").sha256(data).hexdigest()
    assert [a for a, _ in actions(deployment, built["id"])] == [
        "export.request",
        "export.approve",
        "export.build",
        "export.download",
    ]


def test_the_custody_log_still_verifies_after_an_export_is_built_and_downloaded(
    deployment: Deployment,
) -> None:
    """Each package event names the testimony version it packaged, which the verifier finds."""
    world = export_world(deployment)
    testimony = world.testimony(["judicial_proceedings"], attachment=True)
    built = world.approved_and_built(world.profile(RecipientKind.JUDICIAL_PROCEEDINGS), [testimony])
    world.download(built["id"])
    current = deployment.client.get(
        f"{API}/testimonies/{testimony}", headers=world.requester.headers
    ).json()["content_sha256"]
    auditor = deployment.user(Role.AUDITOR)

    report = deployment.client.post(f"{API}/custody/verify", headers=auditor.headers).json()
    history = deployment.client.get(
        f"{API}/custody/objects/testimony/{testimony}", headers=auditor.headers
    ).json()
    package = [e for e in history if e["action"] == "export.package"]

    assert report["ok"] is True, report["findings"]
    assert report["object_hashes_checked"] > 0
    assert [e["object_sha256"] for e in package] == [current]


def test_a_profile_without_identity_carries_no_trace_of_it_in_any_file(
    deployment: Deployment, tmp_path: Path
) -> None:
    world = export_world(deployment)
    testimony = world.testimony(SCOPES, attachment=True)
    reveal = deployment.client.post(
        f"{API}/witnesses/{deployment_pseudonym(world, testimony)}/identity:reveal",
        json={"reason": f"Checking the spelling of {CANARY} for the file."},
        headers=world.requester.headers,
    )
    assert reveal.status_code == 200

    leaks = {}
    for kind in RecipientKind:
        built = world.approved_and_built(world.profile(kind), [testimony])
        root = extract(world.download(built["id"]), tmp_path / kind.value)
        leaks[kind.value] = [
            p.relative_to(root).as_posix()
            for p in root.rglob("*")
            if p.is_file() and any(w.encode() in p.read_bytes() for w in CANARY.split())
        ]
    with_identity = world.approved_and_built(
        world.profile(RecipientKind.JUDICIAL_PROCEEDINGS, include_identity=True), [testimony]
    )
    control = extract(world.download(with_identity["id"]), tmp_path / "control")

    assert leaks == {kind.value: [] for kind in RecipientKind}
    document = json.loads(next(control.glob("data/testimonies/*/testimony.json")).read_text())
    assert document["witness_identity"]["legal_name"] == CANARY


def deployment_pseudonym(world: ExportWorld, testimony_id: str) -> str:
    response = world.deployment.client.get(
        f"{API}/testimonies/{testimony_id}", headers=world.requester.headers
    )
    pseudonym: str = response.json()["witness_pseudonym"]
    return pseudonym


def test_identity_is_refused_for_recipients_that_may_never_receive_it(
    deployment: Deployment,
) -> None:
    response = deployment.client.post(
        f"{API}/exports/profiles",
        json={"name": "public-site", "kind": "public_anonymised", "include_identity": True},
        headers=deployment.admin.headers,
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "include_identity"


def test_an_expired_bag_is_deleted_on_access_and_by_purge(deployment: Deployment) -> None:
    world = export_world(deployment)
    first = world.testimony(["un_mechanisms"])
    profile = world.profile(RecipientKind.UN_MECHANISMS)
    on_access = world.approved_and_built(profile, [first])["id"]
    by_purge = world.approved_and_built(profile, [first])["id"]
    exports_dir = deployment.settings.resolved_data_dir / "exports"
    assert len(list(exports_dir.rglob("*.bin"))) == 2
    later = utcnow() + timedelta(hours=deployment.settings.export_ttl_hours + 1)
    deployment.runtime.clock = lambda: later
    deployment.login(world.requester)  # sessions expire too

    refused = deployment.client.get(
        f"{API}/exports/{on_access}/bag", headers=world.requester.headers
    )
    from service.context import Principal, Role
    from service.export.service import ExportService

    admin = Principal(user_id=1, username="admin", role=Role.ADMIN)
    purged = deployment.run(admin, lambda s: ExportService(s).purge_expired())

    assert refused.status_code == 409
    assert purged == [by_purge]
    assert list(exports_dir.rglob("*.bin")) == []
    for export_id in (on_access, by_purge):
        state = deployment.client.get(f"{API}/exports/{export_id}", headers=world.requester.headers)
        assert state.json()["status"] == "purged"
        assert ("export.purge", "ok" if export_id == by_purge else "failed") in actions(
            deployment, export_id
        )


def test_the_verifier_needs_no_database(tmp_path: Path) -> None:
    """The offline verifier's module imports nothing that talks to a database or a server."""
    script = (
        "import sys; import service.export.verify; "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "{'sqlalchemy', 'fastapi', 'starlette', 'httpx', 'psycopg'}]; print(bad)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_load_public_key_accepts_the_logs_verifier_key(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from service.custody.note import encode_verifier_key

    key = Ed25519PrivateKey.generate().public_key()
    (tmp_path / "log.vkey").write_text(encode_verifier_key("custodia.example/custody", key))

    loaded = load_public_key(f"@{tmp_path / 'log.vkey'}")

    assert loaded.public_bytes_raw() == key.public_bytes_raw()


def test_a_bag_for_a_recipient_key_is_encrypted_to_it_and_verifies_after_decryption(
    deployment: Deployment, tmp_path: Path
) -> None:
    from pyrage import x25519

    identity = x25519.Identity.generate()
    identity_file = tmp_path / "recipient.key"
    identity_file.write_text(str(identity) + "\n")
    world = export_world(deployment)
    testimony = world.testimony(["un_mechanisms"], attachment=True)
    profile = world.profile(RecipientKind.UN_MECHANISMS, age_recipient=str(identity.to_public()))
    built = world.approved_and_built(profile, [testimony])
    response = deployment.client.get(
        f"{API}/exports/{built['id']}/bag", headers=world.requester.headers
    )
    bag = tmp_path / "bag.tar.age"
    bag.write_bytes(response.content)

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli.main",
            "bundle",
            "verify",
            str(bag),
            "--identity",
            str(identity_file),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )

    assert built["encrypted_to_recipient"] is True
    assert response.content.startswith(b"age-encryption.org/v1\n")
    assert response.headers["content-disposition"].endswith('.tar.age"')
    assert b"beaten" not in response.content
    assert result.returncode == 0, result.stderr
    assert "OK: bag of export" in result.stdout


def test_no_bag_content_reaches_the_servers_disk_in_plaintext(
    deployment: Deployment, tmp_path: Path
) -> None:
    world = export_world(deployment)
    testimony = world.testimony(["judicial_proceedings"], attachment=True)
    world.approved_and_built(
        world.profile(RecipientKind.JUDICIAL_PROCEEDINGS, include_identity=True), [testimony]
    )

    found = [
        p.relative_to(deployment.settings.resolved_data_dir).as_posix()
        for p in deployment.settings.resolved_data_dir.rglob("*")
        if p.is_file()
        and any(
            w in p.read_bytes() for w in (b"Canarywitnessname", b"Zqxjvbn", b"beaten every day")
        )
    ]

    assert found == []


def test_an_export_can_select_by_case_and_by_search_query(deployment: Deployment) -> None:
    world = export_world(deployment)
    first = world.testimony(["un_mechanisms"])
    second = world.testimony(["un_mechanisms"])
    profile = world.profile(RecipientKind.UN_MECHANISMS)
    body = {"profile": profile, "purpose": "Submission to the UN accountability project."}

    by_case = deployment.client.post(
        f"{API}/exports", json={**body, "cases": [world.case]}, headers=world.requester.headers
    )
    by_query = deployment.client.post(
        f"{API}/exports", json={**body, "query": "beaten"}, headers=world.requester.headers
    )
    unknown_case = deployment.client.post(
        f"{API}/exports", json={**body, "cases": ["NO-SUCH-CASE"]}, headers=world.requester.headers
    )

    assert sorted(by_case.json()["included"]) == sorted([first, second])
    assert sorted(by_query.json()["included"]) == sorted([first, second])
    assert unknown_case.status_code == 404
