"""The keyring interface that the rest of Custodia depends on.

The embedded default is :class:`service.crypto.keyring.FileKeyring`; a KMS or Vault
transit backend can replace it by implementing :class:`Keyring`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)


class KeyPurpose(StrEnum):
    """Which family of key-encryption keys (KEKs) wraps a data key.

    The identity vault has its own KEKs so that access to testimony content never
    implies access to witness identities.
    """

    CONTENT = "content"
    """Data keys of testimonies and attachments."""
    IDENTITY = "identity"
    """Data keys of the witness identity vault."""


@dataclass(frozen=True, slots=True)
class KeyVersionInfo:
    """Public facts about one KEK version, for key-status views; never key bytes."""

    version: int
    created_at: datetime
    active: bool
    """True for the version that new data keys are wrapped under."""


@runtime_checkable
class Keyring(Protocol):
    """Holds versioned KEKs per purpose plus the service's other root secrets."""

    def current_version(self, purpose: KeyPurpose) -> int:
        """Return the KEK version that :meth:`wrap_data_key` uses now."""
        ...

    def wrap_data_key(
        self, purpose: KeyPurpose, data_key: bytes, context: bytes
    ) -> tuple[int, bytes]:
        """Wrap ``data_key`` under the current KEK, binding ``context`` as associated data.

        Returns ``(kek_version, wrapped)``. Raises ``ValueError`` for a data key that is
        not 32 bytes.
        """
        ...

    def unwrap_data_key(
        self, purpose: KeyPurpose, version: int, wrapped: bytes, context: bytes
    ) -> bytes:
        """Unwrap a data key wrapped under KEK ``version`` with the same ``context``.

        Raises ``DecryptionError`` if authentication fails (wrong version, wrong
        context, tampered data) and ``KeyringError`` if ``version`` does not exist.
        """
        ...

    def rotate(self, purpose: KeyPurpose) -> int:
        """Add a new KEK version and make it current; old versions keep unwrapping.

        Returns the new version. Raises ``KeyringError`` if the change cannot be saved.
        """
        ...

    def versions(self, purpose: KeyPurpose) -> list[KeyVersionInfo]:
        """List the KEK versions of ``purpose``, oldest first, without key material."""
        ...

    def search_key(self) -> bytes:
        """Return the 32-byte HMAC key of the blind search index."""
        ...

    def token_pepper(self) -> bytes:
        """Return the 32-byte pepper used to HMAC session tokens and password hashes."""
        ...

    def signing_key(self) -> Ed25519PrivateKey:
        """Return the Ed25519 key that signs custody checkpoints."""
        ...

    def signing_public_key(self) -> Ed25519PublicKey:
        """Return the public half of :meth:`signing_key`, for verifiers."""
        ...
