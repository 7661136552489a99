"""Every AttachmentStore implementation keeps the same promises (one suite, each backend).

The store only ever sees ciphertext, but what it leaves on disk still matters: a refused or
failed upload must leave no file and no directory, and nothing may escape the store's root.
"""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from service.storage.files import FileAttachmentStore
from service.storage.interfaces import AttachmentStore

BLOB = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
OTHER = "0f99aa00-1111-4222-8333-444455556666"  # same two-character shard as BLOB


class UploadRefusedError(Exception):
    pass


StoreFactory = Callable[[Path], AttachmentStore]
IMPLEMENTATIONS: dict[str, StoreFactory] = {"file": FileAttachmentStore}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def store_root(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[AttachmentStore, Path]:
    root = tmp_path / "attachments"
    return IMPLEMENTATIONS[request.param](root), root


def everything_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def store_blob(store: AttachmentStore, blob_id: str, data: bytes) -> None:
    with store.writer(blob_id) as handle:
        handle.write(data)


def test_a_completed_write_can_be_read_back(store_root: tuple[AttachmentStore, Path]) -> None:
    store, _ = store_root
    store_blob(store, BLOB, b"ciphertext bytes")
    assert store.exists(BLOB)
    with store.reader(BLOB) as handle:
        assert handle.read() == b"ciphertext bytes"


def test_a_failed_write_leaves_no_file_and_no_directory(
    store_root: tuple[AttachmentStore, Path],
) -> None:
    store, root = store_root
    with pytest.raises(UploadRefusedError), store.writer(BLOB) as handle:
        handle.write(b"first chunk")
        raise UploadRefusedError
    assert not store.exists(BLOB)
    assert everything_under(root) == []


def test_a_failed_write_keeps_other_blobs_in_the_same_directory(
    store_root: tuple[AttachmentStore, Path],
) -> None:
    store, _ = store_root
    store_blob(store, OTHER, b"kept")
    with pytest.raises(UploadRefusedError), store.writer(BLOB):
        raise UploadRefusedError
    with store.reader(OTHER) as handle:
        assert handle.read() == b"kept"


def test_delete_removes_the_blob_and_its_empty_directory(
    store_root: tuple[AttachmentStore, Path],
) -> None:
    store, root = store_root
    store_blob(store, BLOB, b"x")
    store.delete(BLOB)
    store.delete(BLOB)  # deleting twice is not an error: shredding may be retried
    assert not store.exists(BLOB)
    assert everything_under(root) == []
    with pytest.raises(FileNotFoundError), store.reader(BLOB):
        pass


def test_a_blob_id_cannot_walk_out_of_the_store(store_root: tuple[AttachmentStore, Path]) -> None:
    store, _ = store_root
    for hostile in ("../../etc/passwd", "0f/../../x", BLOB.upper(), "", BLOB + "\n"):
        with pytest.raises(ValueError, match="UUID"):
            store.exists(hostile)


def test_a_blob_id_is_written_once(store_root: tuple[AttachmentStore, Path]) -> None:
    store, _ = store_root
    store_blob(store, BLOB, b"original")
    with pytest.raises(FileExistsError), store.writer(BLOB) as handle:
        handle.write(b"replacement")
    with store.reader(BLOB) as handle:
        assert handle.read() == b"original"


def test_files_are_owner_only(tmp_path: Path) -> None:
    root = tmp_path / "attachments"
    store = FileAttachmentStore(root)
    store_blob(store, BLOB, b"x")
    blob = next(p for p in root.rglob("*") if p.is_file())
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert stat.S_IMODE(blob.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(blob.stat().st_mode) == 0o600
