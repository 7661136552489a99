"""Custodia's crypto layer: keyrings, field envelope encryption and attachment streams.

Only the ``cryptography`` library's primitives are used (AES-256-GCM, HKDF-SHA256,
scrypt, Ed25519). Every failure to open data is a ``DecryptionError``.
"""

from service.crypto.envelope import (
    EnvelopeCipher,
    FieldContext,
    WrappedDataKey,
    ciphertext_key_id,
    new_data_key,
    open_field,
    seal_field,
)
from service.crypto.errors import (
    CryptoError,
    DecryptionError,
    KeyringError,
    StreamTooLargeError,
)
from service.crypto.interfaces import (
    KeyPurpose,
    Keyring,
    KeyVersionInfo,
    ShredId,
    ShredKind,
    ShredSecretStore,
)
from service.crypto.keyring import FileKeyring, InMemoryKeyring
from service.crypto.shred import (
    FileShredSecretStore,
    InMemoryShredSecretStore,
    ShreddedKeyError,
)
from service.crypto.stream import (
    StreamResult,
    decrypt_stream,
    encrypt_stream,
    iter_decrypt,
    stream_ciphertext_size,
)

__all__ = [
    "CryptoError",
    "DecryptionError",
    "EnvelopeCipher",
    "FieldContext",
    "FileKeyring",
    "FileShredSecretStore",
    "InMemoryKeyring",
    "InMemoryShredSecretStore",
    "KeyPurpose",
    "KeyVersionInfo",
    "Keyring",
    "KeyringError",
    "ShredId",
    "ShredKind",
    "ShredSecretStore",
    "ShreddedKeyError",
    "StreamResult",
    "StreamTooLargeError",
    "WrappedDataKey",
    "ciphertext_key_id",
    "decrypt_stream",
    "encrypt_stream",
    "iter_decrypt",
    "new_data_key",
    "open_field",
    "seal_field",
    "stream_ciphertext_size",
]
