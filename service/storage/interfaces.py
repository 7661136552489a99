"""Where encrypted attachment bytes live. Implementations only ever see ciphertext."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import BinaryIO, Protocol


class AttachmentStore(Protocol):
    def writer(self, blob_id: str) -> AbstractContextManager[BinaryIO]:
        """A file to write ciphertext into; it appears under ``blob_id`` only if the block
        exits without an exception, and a partial file (and any directory made for it) is
        removed otherwise. Blobs are write-once: raises FileExistsError for a stored id."""
        ...

    def reader(self, blob_id: str) -> AbstractContextManager[BinaryIO]:
        """Raises FileNotFoundError when the blob does not exist."""
        ...

    def delete(self, blob_id: str) -> None:
        """Removes the blob if present (idempotent: shredding may be retried)."""
        ...

    def exists(self, blob_id: str) -> bool: ...
