"""The bag writer on its own: a tar stream that stock BagIt accepts, hashed as it is written."""

from __future__ import annotations

import base64
import io
import tarfile
from pathlib import Path

import bagit
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from service.export.bag import SIGNATURE_FILE, BagWriteError, BagWriter, bag_info_text
from service.export.schemas import IDENTITY_KINDS, REQUIRED_SCOPE, RecipientKind


def write(writer: BagWriter, key: Ed25519PrivateKey) -> bytes:
    chunks = [
        *writer.add_bytes("data/a.txt", "증언 one\n".encode()),
        *writer.add_stream("data/sub/b.bin", 1030, (b"x" * 1000, b"y" * 30)),
        *writer.add_bytes("custody/note.txt", b"tag file\n"),
        *writer.finish({"Source-Organization": "Test", "Custodia-Purpose": "two\nlines"}, key),
    ]
    return b"".join(chunks)


def test_the_tar_stream_is_a_bag_that_stock_bagit_validates(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    data = write(BagWriter(root="bag", mtime=0), key)

    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        archive.extractall(tmp_path, filter="data")
    bag = bagit.Bag(str(tmp_path / "bag"))
    bag.validate()
    signature = base64.b64decode((tmp_path / "bag" / SIGNATURE_FILE).read_bytes())
    key.public_key().verify(signature, (tmp_path / "bag" / "tagmanifest-sha256.txt").read_bytes())

    first = len("증언 one\n".encode())
    assert bag.info["Payload-Oxum"] == f"{first + 1030}.2"
    assert "custody/note.txt" in (tmp_path / "bag" / "tagmanifest-sha256.txt").read_text()


@pytest.mark.parametrize("chunks", [(b"short",), (b"x" * 20,)])
def test_a_stream_that_is_not_its_announced_size_is_refused(chunks: tuple[bytes, ...]) -> None:
    writer = BagWriter(root="bag", mtime=0)

    with pytest.raises(BagWriteError):
        list(writer.add_stream("data/f", 10, chunks))


@pytest.mark.parametrize("name", ["../escape", "/absolute", "data/../x"])
def test_names_outside_the_bag_are_refused(name: str) -> None:
    with pytest.raises(BagWriteError):
        list(BagWriter(root="bag", mtime=0).add_bytes(name, b""))


def test_a_name_is_written_once() -> None:
    writer = BagWriter(root="bag", mtime=0)
    list(writer.add_bytes("data/f", b"1"))

    with pytest.raises(BagWriteError):
        list(writer.add_bytes("data/f", b"2"))


def test_multi_line_values_are_folded_as_rfc_8493_allows() -> None:
    assert (
        bag_info_text({"Custodia-Purpose": "first\nsecond"})
        == "Custodia-Purpose: first\n  second\n"
    )


def test_each_recipient_kind_needs_its_own_consent_scope_and_only_courts_may_get_identity() -> None:
    assert {k.value: s.value for k, s in REQUIRED_SCOPE.items()} == {
        k.value: k.value for k in RecipientKind
    }
    assert {RecipientKind.JUDICIAL_PROCEEDINGS} == IDENTITY_KINDS
