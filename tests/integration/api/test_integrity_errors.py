"""Tampered storage is refused with a clear integrity problem, never decrypted into garbage.

Each test alters the real storage behind the service's back, as someone with the database
or the disk could: it swaps ciphertexts or wrapped data keys between records with direct
SQL, copies an incident's ciphertext onto another incident, replays an old version as the
current one, replaces the keyring, or damages an attachment's file. Reading the record
must then answer ``500 integrity-failure`` as ``application/problem+json`` naming the
record, with no stack trace and none of the content, and a download must send no byte of
the file.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from service.app import create_app
from service.context import Role
from service.crypto.keyring import FileKeyring
from service.crypto.stream import DEFAULT_CHUNK_SIZE, STREAM_HEADER_BYTES
from service.db.models import Base
from service.runtime import Runtime
from tests.factories import Account, Deployment, interview_record

INTEGRITY_PROBLEM = "https://custodia.example/problems/integrity-failure"
TAG_BYTES = 16


def table(name: str) -> Any:
    return Base.metadata.tables[name]


def assert_integrity_problem(response: httpx.Response, *, names: str) -> dict[str, Any]:
    assert response.status_code == 500, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["type"] == INTEGRITY_PROBLEM
    assert problem["status"] == 500
    assert names in problem["detail"], problem["detail"]
    assert "Traceback" not in response.text
    assert "narrative" not in problem and "legal_name" not in problem
    return problem


def assert_failure_on_the_record(
    deployment: Deployment, account: Account, *, object_type: str, object_id: str
) -> None:
    """The failed check is the log's newest event: who was reading, what failed, no content."""
    event = deployment.custody_events()[-1]
    assert (event["action"], event["outcome"]) == ("integrity.failure", "failed")
    assert (event["actor"], event["role"]) == (account.username, account.role.value)
    assert (event["object_type"], event["object_id"]) == (object_type, object_id)


@pytest.fixture
def officer(deployment: Deployment) -> tuple[str, Account]:
    case = deployment.case()
    return case, deployment.user(Role.OFFICER, cases=(case,))


def create_with_narrative(
    deployment: Deployment, case: str, officer: Account, narrative: str
) -> dict[str, Any]:
    record = interview_record(case)
    record["narrative"]["original"] = narrative
    return deployment.create_testimony(officer, record)


def read(deployment: Deployment, account: Account, testimony_id: str) -> httpx.Response:
    return deployment.client.get(f"/api/v1/testimonies/{testimony_id}", headers=account.headers)


def swap_column(
    deployment: Deployment, table_name: str, column: str, key: str, first: Any, second: Any
) -> None:
    """Exchanges ``column`` between the rows whose ``key`` is ``first`` and ``second``."""
    rows = table(table_name)
    with deployment.runtime.engine.begin() as connection:
        values = {
            row[0]: row[1]
            for row in connection.execute(
                select(rows.c[key], rows.c[column]).where(rows.c[key].in_([first, second]))
            )
        }
        assert set(values) == {first, second}
        for this, other in ((first, second), (second, first)):
            connection.execute(
                update(rows).where(rows.c[key] == this).values({column: values[other]})
            )


# ---- records in the database ------------------------------------------------------------------


def test_narratives_swapped_between_testimonies_are_refused_not_misread(
    deployment: Deployment, officer: tuple[str, Account]
) -> None:
    case, account = officer
    first = create_with_narrative(deployment, case, account, "첫 번째 증언의 서술입니다.")
    second = create_with_narrative(deployment, case, account, "두 번째 증언의 서술입니다.")
    versions = table("testimony_versions")
    with deployment.runtime.engine.connect() as connection:
        ids = {
            row.testimony_id: row.id
            for row in connection.execute(
                select(versions.c.testimony_id, versions.c.id).where(
                    versions.c.testimony_id.in_([first["id"], second["id"]])
                )
            )
        }
    swap_column(
        deployment,
        "testimony_versions",
        "content_ciphertext",
        "id",
        ids[first["id"]],
        ids[second["id"]],
    )

    for testimony, other_text in ((first, "두 번째"), (second, "첫 번째")):
        response = read(deployment, account, testimony["id"])
        assert_integrity_problem(response, names=testimony["id"])
        assert other_text not in response.text

        history = deployment.client.get(
            f"/api/v1/testimonies/{testimony['id']}/versions", headers=account.headers
        )
        assert_integrity_problem(history, names=testimony["id"])


def test_data_keys_swapped_between_testimonies_are_refused(
    deployment: Deployment, officer: tuple[str, Account]
) -> None:
    case, account = officer
    first = create_with_narrative(deployment, case, account, "첫 번째 증언의 서술입니다.")
    second = create_with_narrative(deployment, case, account, "두 번째 증언의 서술입니다.")
    swap_column(deployment, "testimonies", "wrapped_key", "id", first["id"], second["id"])

    for testimony in (first, second):
        response = read(deployment, account, testimony["id"])
        assert_integrity_problem(response, names=testimony["id"])
        assert "증언" not in response.text
        assert_failure_on_the_record(
            deployment, account, object_type="testimony", object_id=testimony["id"]
        )


def test_an_incident_ciphertext_copied_onto_another_incident_is_refused(
    deployment: Deployment, officer: tuple[str, Account]
) -> None:
    """Both incidents belong to one testimony, so they share its data key: only the record
    id bound into the ciphertext tells them apart."""
    case, account = officer
    created = deployment.create_testimony(account, interview_record(case))
    extra = deployment.client.post(
        f"/api/v1/testimonies/{created['id']}/incidents",
        json={
            **interview_record(case)["incidents"][0],
            "description": "A different incident, coded later.",
        },
        headers=account.headers,
    )
    assert extra.status_code == 201, extra.text
    source, target = created["incident_ids"][0], extra.json()["id"]
    versions = table("incident_versions")
    with deployment.runtime.engine.begin() as connection:
        stolen = connection.execute(
            select(versions.c.content_ciphertext).where(versions.c.incident_id == source)
        ).scalar_one()
        connection.execute(
            update(versions)
            .where(versions.c.incident_id == target)
            .values(content_ciphertext=stolen)
        )

    response = read(deployment, account, created["id"])

    assert_integrity_problem(response, names=target)
    assert "Beaten during interrogation" not in response.text
    assert_failure_on_the_record(deployment, account, object_type="incident", object_id=target)


def test_an_old_version_replayed_as_the_current_one_is_refused(
    deployment: Deployment, officer: tuple[str, Account]
) -> None:
    """Rolling a testimony back to an earlier text by copying its ciphertext forward."""
    case, account = officer
    created = create_with_narrative(deployment, case, account, "처음 진술한 내용입니다.")
    edited = deployment.client.patch(
        f"/api/v1/testimonies/{created['id']}",
        json={"narrative": {"original": "정정한 내용입니다."}},
        headers=account.headers,
    )
    assert edited.status_code == 200, edited.text
    versions = table("testimony_versions")
    with deployment.runtime.engine.begin() as connection:
        old = connection.execute(
            select(versions.c.content_ciphertext).where(
                versions.c.testimony_id == created["id"], versions.c.version == 1
            )
        ).scalar_one()
        connection.execute(
            update(versions)
            .where(versions.c.testimony_id == created["id"], versions.c.version == 2)
            .values(content_ciphertext=old)
        )

    response = read(deployment, account, created["id"])

    problem = assert_integrity_problem(response, names=created["id"])
    assert "version 2" in problem["detail"]
    assert "처음" not in response.text


def test_identities_swapped_between_witnesses_are_refused(
    deployment: Deployment, officer: tuple[str, Account]
) -> None:
    case, account = officer
    first = deployment.create_testimony(account, interview_record(case))
    second = deployment.create_testimony(account, interview_record(case))
    witnesses = table("witnesses")
    with deployment.runtime.engine.connect() as connection:
        ids = {
            row.pseudonym: row.id
            for row in connection.execute(
                select(witnesses.c.pseudonym, witnesses.c.id).where(
                    witnesses.c.pseudonym.in_(
                        [first["witness_pseudonym"], second["witness_pseudonym"]]
                    )
                )
            )
        }
    first_id, second_id = ids[first["witness_pseudonym"]], ids[second["witness_pseudonym"]]
    swap_column(
        deployment, "identity_records", "identity_ciphertext", "witness_id", first_id, second_id
    )

    response = deployment.client.post(
        f"/api/v1/witnesses/{first['witness_pseudonym']}/identity:reveal",
        json={"reason": "Checking the identity vault after a restore."},
        headers=account.headers,
    )

    assert_integrity_problem(response, names=first_id)
    assert "홍길순" not in response.text


def test_a_replaced_keyring_is_refused_not_used_to_decrypt(
    deployment: Deployment, officer: tuple[str, Account]
) -> None:
    """Someone swaps in a keyring of their own and restarts the service."""
    case, account = officer
    created = create_with_narrative(deployment, case, account, "보관된 증언입니다.")
    keyring_path = deployment.settings.keyring_path
    keyring_path.unlink()
    FileKeyring.create(keyring_path)

    restarted = Runtime.open(deployment.settings)
    try:
        with TestClient(
            create_app(deployment.settings, restarted), raise_server_exceptions=False
        ) as client:
            login = client.post(
                "/api/v1/auth/login",
                json={"username": account.username, "password": account.password},
            )
            assert login.status_code == 200, login.text
            token = login.json()["access_token"]
            response = client.get(
                f"/api/v1/testimonies/{created['id']}",
                headers={"Authorization": f"Bearer {token}"},
            )
    finally:
        restarted.close()

    assert_integrity_problem(response, names=created["id"])
    assert "보관된" not in response.text


# ---- attachment files on disk -----------------------------------------------------------------


def attachment_file(deployment: Deployment, attachment_id: str) -> Path:
    matches = [p for p in deployment.settings.attachments_dir.rglob("*") if attachment_id in p.name]
    assert len(matches) == 1, matches
    return matches[0]


def truncate_at_chunk_boundary(path: Path, _other: Path) -> None:
    """Drops the final chunk whole, leaving only chunks that authenticate on their own."""
    keep = STREAM_HEADER_BYTES + 2 * (DEFAULT_CHUNK_SIZE + TAG_BYTES)
    assert path.stat().st_size > keep
    path.write_bytes(path.read_bytes()[:keep])


def truncate_mid_chunk(path: Path, _other: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def flip_one_byte(path: Path, _other: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x01
    path.write_bytes(bytes(data))


def append_bytes(path: Path, _other: Path) -> None:
    path.write_bytes(path.read_bytes() + secrets.token_bytes(64))


def swap_with_other_attachment(path: Path, other: Path) -> None:
    first, second = path.read_bytes(), other.read_bytes()
    path.write_bytes(second)
    other.write_bytes(first)


def delete_file(path: Path, _other: Path) -> None:
    path.unlink()


NOTES = b"".join(
    f"Interview notes, line {n:06d}: the witness described the cell.\n".encode()
    for n in range(3000)
)  # about 190 KB: three encryption chunks


@pytest.mark.parametrize(
    "tamper",
    [
        truncate_at_chunk_boundary,
        truncate_mid_chunk,
        flip_one_byte,
        append_bytes,
        swap_with_other_attachment,
        delete_file,
    ],
)
def test_a_damaged_attachment_file_is_refused_before_any_byte_is_sent(
    deployment: Deployment,
    officer: tuple[str, Account],
    tamper: Callable[[Path, Path], None],
) -> None:
    case, account = officer
    created = deployment.create_testimony(account, interview_record(case))
    other_created = deployment.create_testimony(account, interview_record(case))
    assert len(NOTES) > 2 * DEFAULT_CHUNK_SIZE

    def upload(testimony_id: str, content: bytes) -> str:
        response = deployment.client.post(
            f"/api/v1/testimonies/{testimony_id}/attachments",
            content=content,
            headers={
                **account.headers,
                "Content-Type": "text/plain",
                "Content-Disposition": "attachment; filename*=UTF-8''notes.txt",
            },
        )
        assert response.status_code == 201, response.text
        attachment_id: str = response.json()["id"]
        return attachment_id

    attachment_id = upload(created["id"], NOTES)
    other_id = upload(other_created["id"], NOTES.replace(b"cell", b"yard"))
    url = f"/api/v1/testimonies/{created['id']}/attachments/{attachment_id}"
    assert deployment.client.get(url, headers=account.headers).content == NOTES

    tamper(attachment_file(deployment, attachment_id), attachment_file(deployment, other_id))
    response = deployment.client.get(url, headers=account.headers)

    assert_integrity_problem(response, names=attachment_id)
    assert b"Interview notes" not in response.content
    assert "content-disposition" not in response.headers
    assert_failure_on_the_record(
        deployment, account, object_type="attachment", object_id=attachment_id
    )
