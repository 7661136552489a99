"""The keyring file: permissions, atomic writes, reopening, and passphrase sealing."""

from __future__ import annotations

import base64
import json
import stat
import unicodedata
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from service.crypto.envelope import new_data_key
from service.crypto.errors import KeyringError
from service.crypto.interfaces import KeyPurpose
from service.crypto.keyring import FileKeyring, InMemoryKeyring

AnyKeyring = InMemoryKeyring | FileKeyring
PASSPHRASE = "증언을 지키는 긴 암호문 — correct horse battery staple"
CONTEXT = b"attachment:7"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _public(keyring: FileKeyring) -> bytes:
    return keyring.signing_public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


@pytest.fixture
def keyring_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "keyring.json"


@pytest.mark.usefixtures("open_umask")
def test_create_writes_a_0600_file_in_a_new_0700_directory(keyring_path: Path) -> None:
    FileKeyring.create(keyring_path)
    assert _mode(keyring_path) == 0o600
    assert _mode(keyring_path.parent) == 0o700
    assert [p.name for p in keyring_path.parent.iterdir()] == ["keyring.json"]


def test_create_refuses_to_overwrite_an_existing_file(keyring_path: Path) -> None:
    FileKeyring.create(keyring_path)
    before = keyring_path.read_bytes()
    with pytest.raises(KeyringError, match="refusing to overwrite"):
        FileKeyring.create(keyring_path)
    with pytest.raises(KeyringError, match="refusing to overwrite"):
        FileKeyring.create(keyring_path, passphrase=PASSPHRASE)
    assert keyring_path.read_bytes() == before


def test_create_refuses_a_directory_others_can_write_to(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(KeyringError, match="0777"):
        FileKeyring.create(shared / "keyring.json")
    assert list(shared.iterdir()) == []


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o620, 0o602, 0o700 | 0o040])
def test_open_refuses_a_file_group_or_others_can_access(keyring_path: Path, mode: int) -> None:
    FileKeyring.create(keyring_path)
    keyring_path.chmod(mode)
    with pytest.raises(KeyringError) as caught:
        FileKeyring.open(keyring_path)
    message = str(caught.value)
    assert str(keyring_path) in message
    assert f"{mode:04o}" in message


def test_open_reports_a_missing_file(keyring_path: Path) -> None:
    with pytest.raises(KeyringError, match="does not exist"):
        FileKeyring.open(keyring_path)


def test_open_refuses_a_directory(tmp_path: Path) -> None:
    with pytest.raises(KeyringError, match="not a regular file"):
        FileKeyring.open(tmp_path)


def _valid_document(keyring_path: Path) -> dict[str, object]:
    FileKeyring.create(keyring_path)
    doc: dict[str, object] = json.loads(keyring_path.read_text())
    return doc


def _secrets(doc: dict[str, object]) -> dict[str, object]:
    value = doc["secrets"]
    assert isinstance(value, dict)
    return value


def _only_content_keks(doc: dict[str, object]) -> dict[str, object]:
    keks = _secrets(doc)["keks"]
    assert isinstance(keks, dict)
    return {"content": keks["content"]}


CORRUPTIONS: dict[str, Callable[[dict[str, object]], object]] = {
    "not a keyring": lambda doc: {**doc, "format": "something-else"},
    "future format": lambda doc: {**doc, "format_version": 2},
    "unknown protection": lambda doc: {**doc, "protection": "rot13"},
    "no secrets": lambda doc: {k: v for k, v in doc.items() if k != "secrets"},
    "short search root": lambda doc: {
        **doc,
        "secrets": {**_secrets(doc), "search_root": base64.b64encode(b"x" * 16).decode()},
    },
    "bad base64": lambda doc: {**doc, "secrets": {**_secrets(doc), "signing_seed": "%%%"}},
    "missing purpose": lambda doc: {
        **doc,
        "secrets": {**_secrets(doc), "keks": _only_content_keks(doc)},
    },
    "empty key list": lambda doc: {
        **doc,
        "secrets": {**_secrets(doc), "keks": {"content": [], "identity": []}},
    },
    "a list": lambda doc: [doc],
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_open_refuses_a_corrupt_document(keyring_path: Path, corruption: str) -> None:
    doc = _valid_document(keyring_path)
    keyring_path.write_text(json.dumps(CORRUPTIONS[corruption](doc)))
    with pytest.raises(KeyringError, match="is corrupt"):
        FileKeyring.open(keyring_path)


@pytest.mark.parametrize("content", [b"", b"{", b"not json", b"\xff\xfe", b'{"a": 1, "a": 2}'])
def test_open_refuses_a_file_that_is_not_a_keyring(keyring_path: Path, content: bytes) -> None:
    FileKeyring.create(keyring_path)
    keyring_path.write_bytes(content)
    with pytest.raises(KeyringError, match="is corrupt"):
        FileKeyring.open(keyring_path)


def test_open_refuses_a_truncated_file(keyring_path: Path) -> None:
    FileKeyring.create(keyring_path)
    raw = keyring_path.read_bytes()
    keyring_path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(KeyringError, match="is corrupt"):
        FileKeyring.open(keyring_path)


def test_plain_file_has_the_documented_layout(keyring_path: Path) -> None:
    doc = _valid_document(keyring_path)
    assert doc["format"] == "custodia-keyring"
    assert doc["format_version"] == 1
    assert doc["protection"] == "none"
    assert set(_secrets(doc)) == {"keks", "search_root", "token_pepper_root", "signing_seed"}


@pytest.mark.parametrize("passphrase", [None, PASSPHRASE])
def test_keyring_survives_reopening(keyring_path: Path, passphrase: str | None) -> None:
    created = FileKeyring.create(keyring_path, passphrase=passphrase)
    data_key = new_data_key()
    version, wrapped = created.wrap_data_key(KeyPurpose.IDENTITY, data_key, CONTEXT)

    reopened = FileKeyring.open(keyring_path, passphrase=passphrase)

    assert reopened.unwrap_data_key(KeyPurpose.IDENTITY, version, wrapped, CONTEXT) == data_key
    assert reopened.search_key() == created.search_key()
    assert reopened.token_pepper() == created.token_pepper()
    assert _public(reopened) == _public(created)
    assert reopened.versions(KeyPurpose.CONTENT) == created.versions(KeyPurpose.CONTENT)
    assert reopened.passphrase_protected is (passphrase is not None)


@pytest.mark.parametrize("passphrase", [None, PASSPHRASE])
def test_rotation_is_saved_atomically_and_survives_reopening(
    keyring_path: Path, passphrase: str | None
) -> None:
    keyring = FileKeyring.create(keyring_path, passphrase=passphrase)
    old_version, old_wrapped = keyring.wrap_data_key(KeyPurpose.CONTENT, b"k" * 32, CONTEXT)
    assert keyring.rotate(KeyPurpose.CONTENT) == 2
    assert _mode(keyring_path) == 0o600
    leftovers = {p.name for p in keyring_path.parent.iterdir()} - {
        "keyring.json",
        "keyring.json.lock",
    }
    assert leftovers == set()

    reopened = FileKeyring.open(keyring_path, passphrase=passphrase)
    assert reopened.current_version(KeyPurpose.CONTENT) == 2
    assert reopened.unwrap_data_key(KeyPurpose.CONTENT, old_version, old_wrapped, CONTEXT) == (
        b"k" * 32
    )


def test_a_rotation_in_another_process_is_picked_up(keyring_path: Path) -> None:
    mine = FileKeyring.create(keyring_path)
    theirs = FileKeyring.open(keyring_path)
    new_version = theirs.rotate(KeyPurpose.CONTENT)
    version, wrapped = theirs.wrap_data_key(KeyPurpose.CONTENT, b"d" * 32, CONTEXT)

    assert version == new_version == 2
    # An unknown newer version makes the keyring re-read its file.
    assert mine.unwrap_data_key(KeyPurpose.CONTENT, version, wrapped, CONTEXT) == b"d" * 32
    assert mine.current_version(KeyPurpose.CONTENT) == 2


def test_concurrent_rotations_never_lose_a_version(keyring_path: Path) -> None:
    first = FileKeyring.create(keyring_path)
    second = FileKeyring.open(keyring_path)
    assert first.rotate(KeyPurpose.CONTENT) == 2
    assert second.rotate(KeyPurpose.CONTENT) == 3  # re-reads the file under the lock
    first.reload()
    assert [v.version for v in first.versions(KeyPurpose.CONTENT)] == [1, 2, 3]


def test_a_replaced_keyring_file_is_refused_on_rotation(keyring_path: Path, tmp_path: Path) -> None:
    keyring = FileKeyring.create(keyring_path)
    impostor = tmp_path / "other" / "keyring.json"
    FileKeyring.create(impostor)
    impostor.replace(keyring_path)
    before = keyring_path.read_bytes()
    with pytest.raises(KeyringError, match="no longer holds the keys"):
        keyring.rotate(KeyPurpose.CONTENT)
    assert keyring_path.read_bytes() == before
    assert keyring.current_version(KeyPurpose.CONTENT) == 1


def test_passphrase_file_has_the_documented_layout(keyring_path: Path) -> None:
    FileKeyring.create(keyring_path, passphrase=PASSPHRASE)
    doc = json.loads(keyring_path.read_text())
    assert doc["protection"] == "scrypt-aes-256-gcm"
    assert doc["kdf"]["name"] == "scrypt"
    assert (doc["kdf"]["n"], doc["kdf"]["r"], doc["kdf"]["p"]) == (2**15, 8, 1)
    assert len(base64.b64decode(doc["kdf"]["salt"])) == 16
    assert len(base64.b64decode(doc["nonce"])) == 12
    assert set(doc) == {"format", "format_version", "protection", "kdf", "nonce", "ciphertext"}


@pytest.mark.parametrize("rotate", [False, True])
def test_passphrase_file_holds_no_key_in_the_clear(
    keyring_path: Path,
    rotate: bool,
    assert_no_secret_in: Callable[[AnyKeyring, bytes], None],
) -> None:
    keyring = FileKeyring.create(keyring_path, passphrase=PASSPHRASE)
    if rotate:
        keyring.rotate(KeyPurpose.CONTENT)
    raw = keyring_path.read_bytes()
    assert_no_secret_in(keyring, raw)
    assert b"search_root" not in raw
    assert PASSPHRASE.encode() not in raw


def test_a_passphrase_protected_file_needs_the_right_passphrase(keyring_path: Path) -> None:
    FileKeyring.create(keyring_path, passphrase=PASSPHRASE)
    with pytest.raises(KeyringError, match="wrong passphrase"):
        FileKeyring.open(keyring_path, passphrase=PASSPHRASE + " ")
    with pytest.raises(KeyringError, match="passphrase is required"):
        FileKeyring.open(keyring_path)


def test_a_passphrase_is_refused_for_a_plain_file(keyring_path: Path) -> None:
    FileKeyring.create(keyring_path)
    with pytest.raises(KeyringError, match="not passphrase-protected"):
        FileKeyring.open(keyring_path, passphrase=PASSPHRASE)


def test_an_empty_passphrase_is_refused(keyring_path: Path) -> None:
    with pytest.raises(KeyringError, match="must not be empty"):
        FileKeyring.create(keyring_path, passphrase="")
    assert not keyring_path.exists()


def test_passphrase_is_unicode_normalised(keyring_path: Path) -> None:
    """The same Korean passphrase typed on macOS (NFD) and Linux (NFC) unlocks the file."""
    FileKeyring.create(keyring_path, passphrase=unicodedata.normalize("NFC", "비밀 증언"))
    decomposed = unicodedata.normalize("NFD", "비밀 증언")
    assert decomposed != "비밀 증언"
    FileKeyring.open(keyring_path, passphrase=decomposed)


@pytest.mark.parametrize(
    ("field", "value"),
    [("n", 2**14), ("salt", base64.b64encode(b"s" * 16).decode())],
)
def test_tampered_kdf_parameters_do_not_unlock(
    keyring_path: Path, field: str, value: object
) -> None:
    FileKeyring.create(keyring_path, passphrase=PASSPHRASE)
    doc = json.loads(keyring_path.read_text())
    doc["kdf"][field] = value
    keyring_path.write_text(json.dumps(doc))
    with pytest.raises(KeyringError, match="wrong passphrase or corrupted"):
        FileKeyring.open(keyring_path, passphrase=PASSPHRASE)


@pytest.mark.parametrize("n", [2**10, 2**23, 3 * 2**14])
def test_unreasonable_kdf_parameters_are_refused(keyring_path: Path, n: int) -> None:
    FileKeyring.create(keyring_path, passphrase=PASSPHRASE)
    doc = json.loads(keyring_path.read_text())
    doc["kdf"]["n"] = n
    keyring_path.write_text(json.dumps(doc))
    with pytest.raises(KeyringError, match="is corrupt"):
        FileKeyring.open(keyring_path, passphrase=PASSPHRASE)


def test_file_keyring_repr_names_the_path_but_no_secret(
    keyring_path: Path, assert_no_secret_in: Callable[[AnyKeyring, bytes], None]
) -> None:
    keyring = FileKeyring.create(keyring_path, passphrase=PASSPHRASE)
    text = repr(keyring)
    assert str(keyring_path) in text
    assert "passphrase_protected=True" in text
    assert_no_secret_in(keyring, text.encode())
    assert_no_secret_in(keyring, repr(keyring._sealer).encode())
    assert keyring._sealer is not None
    assert keyring._sealer.key.hex() not in repr(keyring._sealer)
