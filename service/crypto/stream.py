"""Chunked streaming AEAD for attachments, so a file is never held whole in memory.

The construction follows the STREAM design (Hoang, Reyhanitabar, Rogaway, Vizár,
"Online Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance", 2015) with
AES-256-GCM. Format (integers big-endian)::

    header  = b"CSTS" | 0x01 | chunk_size (uint32) | nonce_prefix (7 random bytes)
    chunk i = AES-256-GCM(data_key, nonce_i, plaintext_i, associated data = header || aad)
    nonce_i = nonce_prefix || i (uint32) || last flag (0x01 on the final chunk, else 0x00)

Every chunk but the final one carries exactly ``chunk_size`` plaintext bytes; the final
chunk carries 0..chunk_size bytes, so an empty file is one empty final chunk. Because
the index and the final flag are in the nonce, reordering, dropping, duplicating or
appending chunks, or cutting the stream short, all fail authentication; the header and
the caller's ``aad`` (which should name the attachment) are bound to every chunk.
"""

from __future__ import annotations

import hashlib
import secrets
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from service.crypto.errors import CryptoError, DecryptionError, StreamTooLargeError

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "MAX_CHUNK_SIZE",
    "STREAM_FORMAT",
    "STREAM_HEADER_BYTES",
    "STREAM_MAGIC",
    "StreamResult",
    "StreamTooLargeError",
    "decrypt_stream",
    "encrypt_stream",
    "iter_decrypt",
    "stream_ciphertext_size",
]

STREAM_MAGIC = b"CSTS"
STREAM_FORMAT = 0x01
_HEADER = struct.Struct(">4sBI7s")
STREAM_HEADER_BYTES = _HEADER.size  # 16
_PREFIX_BYTES = 7
_TAG_BYTES = 16
_KEY_BYTES = 32
_MAX_INDEX = 2**32 - 1
DEFAULT_CHUNK_SIZE = 64 * 1024
MAX_CHUNK_SIZE = 4 * 1024 * 1024
"""Largest chunk accepted, so a forged header cannot make a reader buffer a huge block."""

_TRUNCATED = "attachment ciphertext is truncated"


class ByteReader(Protocol):
    """Anything with ``read(size) -> bytes``: a file, or a request body adapter."""

    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True, slots=True)
class StreamResult:
    """What :func:`encrypt_stream` wrote: sizes and the plaintext's SHA-256 (hex)."""

    plaintext_size: int
    plaintext_sha256: str
    ciphertext_size: int


def stream_ciphertext_size(plaintext_size: int, chunk_size: int = DEFAULT_CHUNK_SIZE) -> int:
    """Return the exact ciphertext size :func:`encrypt_stream` produces for a plaintext."""
    chunks = max(1, -(-plaintext_size // chunk_size))
    return STREAM_HEADER_BYTES + chunks * _TAG_BYTES + plaintext_size


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + struct.pack(">IB", index, 1 if last else 0)


def _read_full(src: ByteReader, size: int) -> bytes:
    """Read ``size`` bytes, or fewer only at end of stream (tolerates short reads)."""
    data = src.read(size)
    if len(data) == size or not data:
        return data
    parts = [data]
    remaining = size - len(data)
    while remaining and (more := src.read(remaining)):
        parts.append(more)
        remaining -= len(more)
    return b"".join(parts)


def encrypt_stream(
    data_key: bytes,
    src: ByteReader,
    dst: BinaryIO,
    *,
    aad: bytes,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    max_plaintext_bytes: int | None = None,
) -> StreamResult:
    """Encrypt ``src`` into ``dst`` chunk by chunk, holding at most two chunks in memory.

    Raises ``StreamTooLargeError`` as soon as more than ``max_plaintext_bytes`` have been
    read; ``dst`` then holds a partial ciphertext that the caller must delete. Raises
    ``ValueError`` for a data key that is not 32 bytes or a chunk size outside
    ``1 .. MAX_CHUNK_SIZE``, and ``CryptoError`` past 2**32 chunks.
    """
    if len(data_key) != _KEY_BYTES:
        raise ValueError(f"a data key must be {_KEY_BYTES} bytes")
    if isinstance(chunk_size, bool) or not 1 <= chunk_size <= MAX_CHUNK_SIZE:
        raise ValueError(f"chunk_size must be in 1 .. {MAX_CHUNK_SIZE}")
    header = _HEADER.pack(
        STREAM_MAGIC, STREAM_FORMAT, chunk_size, secrets.token_bytes(_PREFIX_BYTES)
    )
    prefix = header[-_PREFIX_BYTES:]
    chunk_aad = header + aad
    aead = AESGCM(data_key)
    digest = hashlib.sha256()
    plaintext_size = 0

    def take() -> bytes:
        nonlocal plaintext_size
        data = _read_full(src, chunk_size)
        plaintext_size += len(data)
        if max_plaintext_bytes is not None and plaintext_size > max_plaintext_bytes:
            raise StreamTooLargeError(max_plaintext_bytes)
        digest.update(data)
        return data

    dst.write(header)
    ciphertext_size = len(header)
    current = take()
    index = 0
    while True:
        # Read one chunk ahead: a chunk is final exactly when nothing follows it.
        following = take() if len(current) == chunk_size else b""
        last = not following
        if index > _MAX_INDEX:
            raise CryptoError("attachment has too many chunks to encrypt")
        sealed = aead.encrypt(_nonce(prefix, index, last), current, chunk_aad)
        dst.write(sealed)
        ciphertext_size += len(sealed)
        if last:
            return StreamResult(plaintext_size, digest.hexdigest(), ciphertext_size)
        current = following
        index += 1


def iter_decrypt(data_key: bytes, src: ByteReader, aad: bytes) -> Iterator[bytes]:
    """Yield the authenticated plaintext of ``src`` chunk by chunk.

    Each chunk is authenticated before it is yielded, and a chunk is known to be the
    final one before it is yielded. A failure is raised as ``DecryptionError`` when it
    is reached, so a consumer may already have received earlier, authentic chunks
    before learning that the stream is truncated or tampered; a caller that must be
    all-or-nothing should decrypt into a temporary sink first, or accept that an HTTP
    download is cut off with an error. Raises ``DecryptionError`` for a foreign or
    corrupt header, a wrong key or ``aad``, truncation, reordering, or appended data.
    """
    header = _read_full(src, STREAM_HEADER_BYTES)
    if len(header) < 5 or header[:4] != STREAM_MAGIC or header[4] != STREAM_FORMAT:
        raise DecryptionError("not a Custodia attachment ciphertext")
    if len(header) < STREAM_HEADER_BYTES:
        raise DecryptionError(_TRUNCATED)
    _, _, chunk_size, prefix = _HEADER.unpack(header)
    if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
        raise DecryptionError("attachment ciphertext header is corrupt")
    if len(data_key) != _KEY_BYTES:
        raise DecryptionError("cannot open attachment: the data key is malformed")
    aead = AESGCM(data_key)
    chunk_aad = header + aad
    block_size = chunk_size + _TAG_BYTES
    current = _read_full(src, block_size)
    if not current:
        raise DecryptionError(_TRUNCATED)
    index = 0
    while True:
        following = _read_full(src, block_size) if len(current) == block_size else b""
        last = not following
        if index > _MAX_INDEX:
            raise DecryptionError("attachment ciphertext has too many chunks")
        plaintext = _open_chunk(aead, prefix, index, current, chunk_aad, last=last)
        if plaintext:
            yield plaintext
        if last:
            return
        current = following
        index += 1


def _open_chunk(
    aead: AESGCM, prefix: bytes, index: int, block: bytes, chunk_aad: bytes, *, last: bool
) -> bytes:
    """Authenticate and decrypt chunk ``index``; raises ``DecryptionError`` naming why.

    On failure the chunk is tried with the opposite final flag only to word the error:
    an intact non-final chunk at the end means truncation, an intact final chunk with
    data after it means extension. Nothing from that second attempt is released.
    """
    try:
        return aead.decrypt(_nonce(prefix, index, last), block, chunk_aad)
    except InvalidTag:
        pass
    try:
        aead.decrypt(_nonce(prefix, index, not last), block, chunk_aad)
    except InvalidTag:
        raise DecryptionError(
            f"attachment chunk {index} failed authentication: wrong key, wrong attachment, "
            "or tampered, reordered or truncated data"
        ) from None
    if last:
        raise DecryptionError(_TRUNCATED)
    raise DecryptionError("attachment ciphertext has data after its final chunk")


def decrypt_stream(
    data_key: bytes,
    src: BinaryIO,
    sink: BinaryIO | Callable[[bytes], object],
    *,
    aad: bytes,
) -> int:
    """Decrypt ``src`` into ``sink`` (a binary file or a callable taking each chunk).

    Returns the number of plaintext bytes written. Raises ``DecryptionError`` as
    :func:`iter_decrypt` does; ``sink`` may then hold a prefix of authentic plaintext,
    which the caller must discard.
    """
    write = sink if callable(sink) else sink.write
    total = 0
    for chunk in iter_decrypt(data_key, src, aad):
        write(chunk)
        total += len(chunk)
    return total
