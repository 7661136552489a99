"""Where encrypted attachment bytes live. Implementations only ever see ciphertext."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import BinaryIO, Protocol


class AttachmentStore(Protocol):
    def writer(self, blob_id: str) -> AbstractContextManager[BinaryIO]:
        """A file to write ciphertext into; it appears under ``blob_id`` only if the block
        exits without an exception, and a partial file is removed otherwise."""
        ...

    def reader(self, blob_id: str) -> AbstractContextManager[BinaryIO]:
        """Raises FileNotFoundError when the blob does not exist."""
        ...

    def delete(self, blob_id: str) -> None: ...

    def exists(self, blob_id: str) -> bool: ...
