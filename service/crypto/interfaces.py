"""The keyring interface that the rest of Custodia depends on.

The embedded default is :class:`service.crypto.keyring.FileKeyring`; a KMS or Vault
transit backend can replace it by implementing :class:`Keyring`.
"""

from __future__ import annotations

import re
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


_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class ShredKind(StrEnum):
    TESTIMONY = "testimony"
    """Binds a testimony's content key and its attachments' keys."""
    WITNESS = "witness"
    """Binds every identity-vault key of one witness."""
    DRAFT = "draft"
    """Binds both keys of one interview draft; destroyed when the draft is discarded,
    submitted or expires, so copies of its old rows (backups, free pages) stay closed."""


@dataclass(frozen=True, slots=True)
class ShredId:
    """Which record a shred secret belongs to; its ``name`` is the store's file name."""

    kind: ShredKind
    record_id: str

    def __post_init__(self) -> None:
        if not _UUID.fullmatch(self.record_id):
            raise ValueError("shred secrets belong to records with lower-case UUID ids")

    @classmethod
    def testimony(cls, testimony_id: str) -> ShredId:
        return cls(ShredKind.TESTIMONY, testimony_id)

    @classmethod
    def witness(cls, witness_id: str) -> ShredId:
        return cls(ShredKind.WITNESS, witness_id)

    @classmethod
    def draft(cls, draft_id: str) -> ShredId:
        return cls(ShredKind.DRAFT, draft_id)

    @property
    def name(self) -> str:
        return f"{self.kind.value}-{self.record_id}"

    @property
    def purpose(self) -> KeyPurpose:
        """The KEK family that wraps the secret at rest: identity secrets stay apart."""
        return KeyPurpose.IDENTITY if self.kind is ShredKind.WITNESS else KeyPurpose.CONTENT


@runtime_checkable
class ShredSecretStore(Protocol):
    """Holds one secret per shreddable record, outside the database (see service.crypto.shred)."""

    def ensure(self, shred_id: ShredId) -> tuple[bytes, bool]:
        """Return ``(secret, created)``: the stored secret, or a new durable one.

        Raises ``KeyringError`` if the store cannot be read or written.
        """
        ...

    def get(self, shred_id: ShredId) -> bytes | None:
        """Return the secret, or None if it does not exist (never made, or destroyed)."""
        ...

    def destroy(self, shred_id: ShredId) -> bool:
        """Destroy the secret durably; True if it existed. Idempotent (shreds are retried)."""
        ...

    def exists(self, shred_id: ShredId) -> bool:
        """True if the secret exists."""
        ...
