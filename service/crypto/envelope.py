"""Field-level envelope encryption.

Each record gets its own random data key; the data key is wrapped by a keyring KEK
(:class:`EnvelopeCipher`) and seals the record's fields (:func:`seal_field`).

Field ciphertext format (all integers big-endian)::

    b"CSTF" | 0x01 | key_id (uint32) | nonce (12 random bytes) | AES-256-GCM ciphertext+tag

The first 21 bytes are the header. The associated data is ``header ||
FieldContext.associated_data()``, so the key id in the header is authenticated and a
ciphertext opens only for the record type, record id, field and record version it was
sealed for: copying it into another record, field or version fails with
``DecryptionError``.
"""

from __future__ import annotations

import secrets
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from service.crypto.errors import DecryptionError, KeyringError
from service.crypto.interfaces import KeyPurpose, Keyring, ShredId, ShredSecretStore
from service.crypto.shred import ShreddedKeyError, bind_wrapped, is_bound, unbind_wrapped

__all__ = [
    "DATA_KEY_BYTES",
    "FIELD_FORMAT",
    "FIELD_HEADER_BYTES",
    "FIELD_MAGIC",
    "EnvelopeCipher",
    "FieldContext",
    "WrappedDataKey",
    "ciphertext_key_id",
    "new_data_key",
    "open_field",
    "seal_field",
]

DATA_KEY_BYTES = 32
FIELD_MAGIC = b"CSTF"
FIELD_FORMAT = 0x01
_NONCE_BYTES = 12
_TAG_BYTES = 16
_HEADER = struct.Struct(">4sBI12s")
FIELD_HEADER_BYTES = _HEADER.size  # 21
_MIN_CIPHERTEXT_BYTES = FIELD_HEADER_BYTES + _TAG_BYTES
_MAX_KEY_ID = 2**32 - 1
_MAX_RECORD_VERSION = 2**64 - 1
_AAD_DOMAIN = b"custodia-field-v1"


def new_data_key() -> bytes:
    """Return a fresh random 32-byte (AES-256) data key."""
    return secrets.token_bytes(DATA_KEY_BYTES)


@dataclass(frozen=True, slots=True)
class FieldContext:
    """Where a field ciphertext belongs; bound to it as associated data.

    ``record_version`` binds a ciphertext to one revision of the record, so an old
    value cannot be replayed into a newer revision. Raises ``ValueError`` if a name is
    empty or the version is outside ``0 .. 2**64-1``.
    """

    record_type: str
    record_id: str
    field: str
    record_version: int

    def __post_init__(self) -> None:
        for name in ("record_type", "record_id", "field"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"FieldContext.{name} must be a non-empty string")
        version = self.record_version
        if isinstance(version, bool) or not isinstance(version, int):
            raise ValueError("FieldContext.record_version must be an integer")
        if not 0 <= version <= _MAX_RECORD_VERSION:
            raise ValueError("FieldContext.record_version is out of range")

    def associated_data(self) -> bytes:
        """Encode the context unambiguously: a domain tag, then length-prefixed parts.

        Layout: ``b"custodia-field-v1"``, then record_type, record_id and field each as
        uint32 length + UTF-8 bytes, then record_version as uint64 (big-endian).
        """
        parts = [_AAD_DOMAIN]
        for text in (self.record_type, self.record_id, self.field):
            encoded = text.encode("utf-8")
            parts.append(struct.pack(">I", len(encoded)))
            parts.append(encoded)
        parts.append(struct.pack(">Q", self.record_version))
        return b"".join(parts)

    def describe(self) -> str:
        """A human-readable name for error messages, e.g. ``testimony 42 field narrative``."""
        return (
            f"{self.record_type} {self.record_id} field {self.field} "
            f"(record version {self.record_version})"
        )


def _check_data_key(data_key: bytes) -> None:
    if len(data_key) != DATA_KEY_BYTES:
        raise ValueError(f"a data key must be {DATA_KEY_BYTES} bytes")


def seal_field(data_key: bytes, key_id: int, plaintext: bytes, ctx: FieldContext) -> bytes:
    """Encrypt one field value for ``ctx`` under ``data_key``, named by ``key_id``.

    ``key_id`` identifies the data key (for example its version) so a reader can find it
    from the ciphertext alone. Raises ``ValueError`` if the key is not 32 bytes or
    ``key_id`` is outside ``0 .. 2**32-1``.
    """
    _check_data_key(data_key)
    if isinstance(key_id, bool) or not 0 <= key_id <= _MAX_KEY_ID:
        raise ValueError("key_id must be an integer in 0 .. 2**32-1")
    header = _HEADER.pack(FIELD_MAGIC, FIELD_FORMAT, key_id, secrets.token_bytes(_NONCE_BYTES))
    nonce = header[-_NONCE_BYTES:]
    return header + AESGCM(data_key).encrypt(nonce, plaintext, header + ctx.associated_data())


def _parse_header(ciphertext: bytes) -> tuple[int, bytes]:
    """Return ``(key_id, nonce)``; raises ``DecryptionError`` for a foreign or short input."""
    if (
        len(ciphertext) < len(FIELD_MAGIC) + 1
        or ciphertext[:4] != FIELD_MAGIC
        or ciphertext[4] != FIELD_FORMAT
    ):
        raise DecryptionError("not a Custodia ciphertext")
    if len(ciphertext) < _MIN_CIPHERTEXT_BYTES:
        raise DecryptionError("Custodia ciphertext is too short: it is truncated")
    _, _, key_id, nonce = _HEADER.unpack_from(ciphertext)
    return key_id, nonce


def ciphertext_key_id(ciphertext: bytes) -> int:
    """Return the data key id named in a field ciphertext's header.

    The id is only a hint until :func:`open_field` authenticates the ciphertext.
    Raises ``DecryptionError`` if the input is not a Custodia field ciphertext.
    """
    key_id, _ = _parse_header(ciphertext)
    return key_id


def open_field(data_key: bytes, ciphertext: bytes, ctx: FieldContext) -> bytes:
    """Decrypt and authenticate a field ciphertext sealed for ``ctx``.

    Raises ``DecryptionError`` if the input is not a Custodia ciphertext, is truncated,
    or fails authentication (wrong key, tampered data, or sealed for another record,
    field or record version); the message names ``ctx``, never key or plaintext bytes.
    """
    _, nonce = _parse_header(ciphertext)
    if len(data_key) != DATA_KEY_BYTES:
        raise DecryptionError(f"cannot open {ctx.describe()}: the data key is malformed")
    header = ciphertext[:FIELD_HEADER_BYTES]
    try:
        return AESGCM(data_key).decrypt(
            nonce, ciphertext[FIELD_HEADER_BYTES:], header + ctx.associated_data()
        )
    except InvalidTag:
        raise DecryptionError(
            f"cannot open {ctx.describe()}: authentication failed: wrong key, tampered data, "
            "or the ciphertext does not belong to this record and field"
        ) from None


@dataclass(frozen=True, slots=True, repr=False)
class WrappedDataKey:
    """A new data key together with its wrapped form; store the wrapped form only."""

    kek_version: int
    wrapped: bytes
    data_key: bytes
    new_shred_secret: bool = False
    """True if wrapping it created its record's shred secret: the caller undoes that on
    rollback, so a failed create leaves no orphan secret."""

    def __repr__(self) -> str:
        return (
            f"WrappedDataKey(kek_version={self.kek_version}, wrapped=<{len(self.wrapped)} bytes>)"
        )


class EnvelopeCipher:
    """Creates, unwraps and re-wraps per-record data keys with a :class:`Keyring`.

    ``context`` should name the owner of the data key (for example
    ``b"testimony:42"``), so a wrapped key copied to another record does not unwrap.
    With a ``shred_secrets`` store, a key made with a ``shred_id`` is also bound to that
    record's shred secret (:mod:`service.crypto.shred`): destroying the secret makes every
    copy of the wrapped key useless, even with the live keyring.
    """

    def __init__(self, keyring: Keyring, shred_secrets: ShredSecretStore | None = None) -> None:
        self._keyring = keyring
        self._shred_secrets = shred_secrets

    @property
    def shred_secrets(self) -> ShredSecretStore:
        """The shred-secret store; raises ``KeyringError`` if this cipher has none."""
        if self._shred_secrets is None:
            raise KeyringError("no shred-secret store is configured")
        return self._shred_secrets

    def new_wrapped_key(
        self, purpose: KeyPurpose, context: bytes, *, shred_id: ShredId | None = None
    ) -> WrappedDataKey:
        """Generate a data key and wrap it under the current KEK of ``purpose``.

        With ``shred_id`` the wrapping is bound to that record's shred secret, which is
        created (durably, before this returns) if it does not exist yet.
        """
        data_key = new_data_key()
        version, wrapped = self._keyring.wrap_data_key(purpose, data_key, context)
        if shred_id is None:
            return WrappedDataKey(version, wrapped, data_key)
        secret, created = self.shred_secrets.ensure(shred_id)
        bound = bind_wrapped(secret, purpose, wrapped, context)
        return WrappedDataKey(version, bound, data_key, new_shred_secret=created)

    def unwrap(
        self,
        purpose: KeyPurpose,
        kek_version: int,
        wrapped: bytes,
        context: bytes,
        *,
        shred_id: ShredId | None = None,
    ) -> bytes:
        """Return the data key inside ``wrapped``.

        Raises ``ShreddedKeyError`` if it is bound and its shred secret is gone,
        ``DecryptionError`` if it does not authenticate and ``KeyringError`` if
        ``kek_version`` is unknown; the message starts with ``context``, so an operator
        learns which record's key failed (a context names a record, never a secret).
        """
        try:
            inner = self._unbind(purpose, wrapped, context, shred_id)
            return self._keyring.unwrap_data_key(purpose, kek_version, inner, context)
        except (DecryptionError, KeyringError) as error:
            owner = context.decode("utf-8", errors="replace")
            raise type(error)(f"{owner}: {error}") from None

    def _unbind(
        self, purpose: KeyPurpose, wrapped: bytes, context: bytes, shred_id: ShredId | None
    ) -> bytes:
        if not is_bound(wrapped):
            return wrapped  # made before shred binding existed: see ``bind``
        if shred_id is None:
            raise DecryptionError("the data key is bound to a shred secret that was not named")
        secret = self.shred_secrets.get(shred_id)
        if secret is None:
            raise ShreddedKeyError(f"the shred secret of {shred_id.name} is destroyed")
        return unbind_wrapped(secret, purpose, wrapped, context)

    def rewrap(
        self,
        purpose: KeyPurpose,
        kek_version: int,
        wrapped: bytes,
        context: bytes,
        *,
        shred_id: ShredId | None = None,
    ) -> tuple[int, bytes]:
        """Re-wrap a data key under the current KEK; content ciphertexts stay valid.

        Always produces a fresh wrapping, even if ``kek_version`` is already current. A
        bound key stays bound to the same shred secret; a legacy key given a ``shred_id``
        becomes bound to it. Returns ``(new_kek_version, new_wrapped)``; raises as
        :meth:`unwrap` does.
        """
        data_key = self.unwrap(purpose, kek_version, wrapped, context, shred_id=shred_id)
        version, inner = self._keyring.wrap_data_key(purpose, data_key, context)
        if shred_id is None:
            return version, inner
        secret, _ = self.shred_secrets.ensure(shred_id)
        return version, bind_wrapped(secret, purpose, inner, context)

    def destroy_shred_secret(self, shred_id: ShredId) -> bool:
        """Crypto-shred every key bound to ``shred_id``; True if the secret existed."""
        return self.shred_secrets.destroy(shred_id)

    def has_shred_secret(self, shred_id: ShredId) -> bool:
        return self.shred_secrets.exists(shred_id)
