"""Exceptions raised by the crypto layer.

Every message is safe to show to an operator or log: messages name records, fields,
paths and key *versions*, never key material, passphrases or plaintext.
"""

from __future__ import annotations


class CryptoError(Exception):
    """Base class for every failure raised by ``service.crypto``."""


class DecryptionError(CryptoError):
    """A ciphertext or wrapped key could not be authenticated and opened.

    Raised for a wrong key, tampered or truncated data, a ciphertext presented for a
    record or field it was not sealed for, and for input that is not a Custodia
    ciphertext at all. Callers must treat every case the same way: no plaintext is
    returned.
    """


class KeyringError(CryptoError):
    """The keyring is missing, corrupt, unsafe, locked, or lacks a requested key version."""


class StreamTooLargeError(CryptoError):
    """An attachment stream passed its size limit while it was being encrypted.

    The destination then holds a partial ciphertext, which the caller must delete.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(f"attachment is larger than the limit of {limit} bytes")
        self.limit = limit
