"""Attachment streams: chunked AEAD that detects truncation, reordering and extension."""

from __future__ import annotations

import hashlib
import io
import os
import struct
from typing import BinaryIO, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.crypto.envelope import new_data_key
from service.crypto.errors import CryptoError, DecryptionError
from service.crypto.stream import (
    DEFAULT_CHUNK_SIZE,
    StreamResult,
    StreamTooLargeError,
    decrypt_stream,
    encrypt_stream,
    iter_decrypt,
    stream_ciphertext_size,
)

KEY = new_data_key()
AAD = b"attachment:17"
CHUNK = 16
HEADER = 16
BLOCK = CHUNK + 16


def encrypt(
    plaintext: bytes, *, chunk_size: int = CHUNK, key: bytes = KEY, aad: bytes = AAD
) -> tuple[bytes, StreamResult]:
    out = io.BytesIO()
    result = encrypt_stream(key, io.BytesIO(plaintext), out, aad=aad, chunk_size=chunk_size)
    return out.getvalue(), result


def decrypt(ciphertext: bytes, *, key: bytes = KEY, aad: bytes = AAD) -> bytes:
    return b"".join(iter_decrypt(key, io.BytesIO(ciphertext), aad))


def chunks_of(ciphertext: bytes) -> list[bytes]:
    body = ciphertext[HEADER:]
    return [body[i : i + BLOCK] for i in range(0, len(body), BLOCK)]


class CountingReader:
    """A source that records how much was asked for and read, and returns short reads."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self.largest_request = 0
        self.bytes_read = 0

    def as_binary_io(self) -> BinaryIO:
        return cast(BinaryIO, self)

    def read(self, size: int = -1) -> bytes:
        self.largest_request = max(self.largest_request, size)
        data = self._data.read(max(1, size // 3) if size > 0 else size)
        self.bytes_read += len(data)
        return data


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 5 * CHUNK + 3])
def test_round_trip_with_sizes_and_digest(size: int) -> None:
    plaintext = os.urandom(size)
    ciphertext, result = encrypt(plaintext)
    assert decrypt(ciphertext) == plaintext
    assert result.plaintext_size == size
    assert result.plaintext_sha256 == hashlib.sha256(plaintext).hexdigest()
    assert result.ciphertext_size == len(ciphertext) == stream_ciphertext_size(size, CHUNK)


def test_large_multi_chunk_round_trip_with_default_chunks() -> None:
    plaintext = os.urandom(3 * DEFAULT_CHUNK_SIZE * 16 + 12345)
    ciphertext, result = encrypt(plaintext, chunk_size=DEFAULT_CHUNK_SIZE)
    assert result.plaintext_sha256 == hashlib.sha256(plaintext).hexdigest()
    pieces = list(iter_decrypt(KEY, io.BytesIO(ciphertext), AAD))
    assert len(pieces) == 49
    assert max(len(piece) for piece in pieces) == DEFAULT_CHUNK_SIZE
    assert b"".join(pieces) == plaintext


def test_korean_document_round_trips() -> None:
    plaintext = ("증언 기록 — 국경 경비대, 함경북도 회령. " * 500).encode()
    ciphertext, _ = encrypt(plaintext, chunk_size=1000)
    assert decrypt(ciphertext).decode() == plaintext.decode()
    assert "증언".encode() not in ciphertext


def test_streams_in_bounded_pieces_and_tolerates_short_reads() -> None:
    plaintext = os.urandom(10 * CHUNK + 5)
    source = CountingReader(plaintext)
    out = io.BytesIO()
    encrypt_stream(KEY, source.as_binary_io(), out, aad=AAD, chunk_size=CHUNK)
    assert source.largest_request <= CHUNK
    reader = CountingReader(out.getvalue())
    assert b"".join(iter_decrypt(KEY, reader.as_binary_io(), AAD)) == plaintext
    assert reader.largest_request <= BLOCK


def test_header_is_magic_format_chunk_size_and_nonce_prefix() -> None:
    first, _ = encrypt(b"abc", chunk_size=0x1234)
    second, _ = encrypt(b"abc", chunk_size=0x1234)
    assert first[:4] == b"CSTS"
    assert first[4] == 0x01
    assert struct.unpack(">I", first[5:9]) == (0x1234,)
    assert first[9:16] != second[9:16]


def test_empty_stream_is_one_empty_final_chunk() -> None:
    ciphertext, result = encrypt(b"")
    assert len(ciphertext) == HEADER + 16
    assert result == StreamResult(0, hashlib.sha256(b"").hexdigest(), HEADER + 16)
    assert list(iter_decrypt(KEY, io.BytesIO(ciphertext), AAD)) == []
    assert decrypt_stream(KEY, io.BytesIO(ciphertext), io.BytesIO(), aad=AAD) == 0


def test_decrypt_stream_writes_to_a_file_or_a_callback() -> None:
    plaintext = os.urandom(3 * CHUNK + 1)
    ciphertext, _ = encrypt(plaintext)
    sink = io.BytesIO()
    assert decrypt_stream(KEY, io.BytesIO(ciphertext), sink, aad=AAD) == len(plaintext)
    assert sink.getvalue() == plaintext
    received: list[bytes] = []
    assert decrypt_stream(KEY, io.BytesIO(ciphertext), received.append, aad=AAD) == len(plaintext)
    assert b"".join(received) == plaintext


@pytest.mark.parametrize("size", [3 * CHUNK, 3 * CHUNK + 5])
def test_truncation_at_a_chunk_boundary_is_reported(size: int) -> None:
    ciphertext, _ = encrypt(os.urandom(size))
    for kept in range(len(chunks_of(ciphertext))):
        cut = ciphertext[: HEADER + kept * BLOCK]
        with pytest.raises(DecryptionError, match="attachment ciphertext is truncated"):
            decrypt(cut)


def test_truncation_anywhere_is_detected() -> None:
    ciphertext, _ = encrypt(os.urandom(3 * CHUNK + 5))
    for length in range(len(ciphertext)):
        with pytest.raises(DecryptionError):
            decrypt(ciphertext[:length])


def test_reordered_chunks_are_detected() -> None:
    ciphertext, _ = encrypt(os.urandom(4 * CHUNK))
    parts = chunks_of(ciphertext)
    swapped = ciphertext[:HEADER] + parts[1] + parts[0] + b"".join(parts[2:])
    with pytest.raises(DecryptionError, match="chunk 0 failed authentication"):
        decrypt(swapped)


def test_a_duplicated_chunk_is_detected() -> None:
    ciphertext, _ = encrypt(os.urandom(3 * CHUNK))
    parts = chunks_of(ciphertext)
    with pytest.raises(DecryptionError):
        decrypt(ciphertext[:HEADER] + parts[0] + parts[0] + b"".join(parts[1:]))


@pytest.mark.parametrize("size", [0, 2 * CHUNK, 2 * CHUNK + 3])
@pytest.mark.parametrize("garbage", [b"\x00", os.urandom(BLOCK), os.urandom(BLOCK + 7)])
def test_data_appended_after_the_final_chunk_is_detected(size: int, garbage: bytes) -> None:
    ciphertext, _ = encrypt(os.urandom(size))
    with pytest.raises(DecryptionError):
        decrypt(ciphertext + garbage)


def test_a_valid_chunk_appended_after_the_final_chunk_is_named() -> None:
    ciphertext, _ = encrypt(os.urandom(2 * CHUNK))
    with pytest.raises(DecryptionError, match="data after its final chunk"):
        decrypt(ciphertext + chunks_of(ciphertext)[0])


def test_a_wrong_aad_or_key_is_detected() -> None:
    ciphertext, _ = encrypt(os.urandom(2 * CHUNK + 1))
    with pytest.raises(DecryptionError, match="failed authentication"):
        decrypt(ciphertext, aad=b"attachment:18")
    with pytest.raises(DecryptionError, match="failed authentication"):
        decrypt(ciphertext, key=new_data_key())
    with pytest.raises(DecryptionError, match="malformed"):
        decrypt(ciphertext, key=KEY[:31])


def test_splicing_chunks_from_another_stream_is_detected() -> None:
    first, _ = encrypt(os.urandom(3 * CHUNK))
    second, _ = encrypt(os.urandom(3 * CHUNK))
    spliced = first[:HEADER] + chunks_of(first)[0] + b"".join(chunks_of(second)[1:])
    with pytest.raises(DecryptionError):
        decrypt(spliced)


SAMPLE, _ = encrypt(b"attachment body across chunks!!" * 2)


@settings(max_examples=300, database=None, deadline=None)
@given(bit=st.integers(min_value=0, max_value=len(SAMPLE) * 8 - 1))
def test_flipping_any_single_bit_is_detected(bit: int) -> None:
    tampered = bytearray(SAMPLE)
    tampered[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(DecryptionError):
        decrypt(bytes(tampered))


@pytest.mark.parametrize("blob", [b"", b"CSTS", b"%PDF-1.7 not encrypted", b"CSTS\x02" + bytes(60)])
def test_foreign_input_is_refused(blob: bytes) -> None:
    with pytest.raises(DecryptionError, match=r"not a Custodia attachment ciphertext|truncated"):
        decrypt(blob)


def test_a_forged_huge_chunk_size_is_refused_before_buffering() -> None:
    forged = bytearray(SAMPLE)
    forged[5:9] = struct.pack(">I", 2**31)
    with pytest.raises(DecryptionError, match="header is corrupt"):
        decrypt(bytes(forged))


def test_only_authenticated_chunks_are_yielded_before_an_error() -> None:
    plaintext = os.urandom(4 * CHUNK)
    ciphertext = bytearray(encrypt(plaintext)[0])
    ciphertext[HEADER + 2 * BLOCK + 3] ^= 0x01  # corrupt the third chunk
    received: list[bytes] = []
    with pytest.raises(DecryptionError, match="chunk 2"):
        for piece in iter_decrypt(KEY, io.BytesIO(bytes(ciphertext)), AAD):
            received.append(piece)
    assert b"".join(received) == plaintext[: 2 * CHUNK]


def test_the_size_limit_stops_encryption_early() -> None:
    limit = 5 * CHUNK
    source = CountingReader(os.urandom(100 * CHUNK))
    out = io.BytesIO()
    with pytest.raises(StreamTooLargeError) as caught:
        encrypt_stream(
            KEY, source.as_binary_io(), out, aad=AAD, chunk_size=CHUNK, max_plaintext_bytes=limit
        )
    assert isinstance(caught.value, CryptoError)
    assert caught.value.limit == limit
    assert str(limit) in str(caught.value)
    assert source.bytes_read <= limit + CHUNK
    assert len(out.getvalue()) < stream_ciphertext_size(limit, CHUNK)


@pytest.mark.parametrize("size", [0, 5 * CHUNK - 1, 5 * CHUNK])
def test_a_stream_at_or_under_the_limit_is_accepted(size: int) -> None:
    plaintext = os.urandom(size)
    out = io.BytesIO()
    result = encrypt_stream(
        KEY, io.BytesIO(plaintext), out, aad=AAD, chunk_size=CHUNK, max_plaintext_bytes=5 * CHUNK
    )
    assert result.plaintext_size == size
    assert decrypt(out.getvalue()) == plaintext


def test_one_byte_over_the_limit_is_refused() -> None:
    with pytest.raises(StreamTooLargeError):
        encrypt_stream(
            KEY,
            io.BytesIO(bytes(5 * CHUNK + 1)),
            io.BytesIO(),
            aad=AAD,
            chunk_size=CHUNK,
            max_plaintext_bytes=5 * CHUNK,
        )


@pytest.mark.parametrize(("key", "chunk_size"), [(KEY[:16], CHUNK), (KEY, 0), (KEY, 2**23)])
def test_encrypt_rejects_bad_keys_and_chunk_sizes(key: bytes, chunk_size: int) -> None:
    out: BinaryIO = io.BytesIO()
    with pytest.raises(ValueError):
        encrypt_stream(key, io.BytesIO(b"x"), out, aad=AAD, chunk_size=chunk_size)
