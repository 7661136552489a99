"""Field envelope encryption: format, binding to record and field, tamper detection."""

from __future__ import annotations

import os
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.crypto.envelope import (
    EnvelopeCipher,
    FieldContext,
    WrappedDataKey,
    ciphertext_key_id,
    new_data_key,
    open_field,
    seal_field,
)
from service.crypto.errors import DecryptionError, KeyringError
from service.crypto.interfaces import KeyPurpose
from service.crypto.keyring import InMemoryKeyring

CTX = FieldContext("testimony", "42", "narrative_original", 3)
KEY = new_data_key()
KOREAN = "저는 2011년에 두만강을 건넜습니다. 가족은 아직 함경북도에 있습니다."

PLAINTEXTS = {
    "ascii": b"I crossed the river in 2011.",
    "korean": KOREAN.encode("utf-8"),
    "empty": b"",
    "large": os.urandom(3 * 1024 * 1024 + 7),
}


@pytest.mark.parametrize("name", sorted(PLAINTEXTS))
def test_sealed_field_opens_to_the_same_bytes(name: str) -> None:
    plaintext = PLAINTEXTS[name]
    ciphertext = seal_field(KEY, 7, plaintext, CTX)
    assert open_field(KEY, ciphertext, CTX) == plaintext
    assert len(ciphertext) == 21 + len(plaintext) + 16


def test_korean_text_round_trips_as_text() -> None:
    assert open_field(KEY, seal_field(KEY, 1, KOREAN.encode(), CTX), CTX).decode() == KOREAN


def test_header_is_magic_format_key_id_and_nonce() -> None:
    ciphertext = seal_field(KEY, 0x01020304, b"x", CTX)
    assert ciphertext[:4] == b"CSTF"
    assert ciphertext[4] == 0x01
    assert ciphertext[5:9] == bytes([1, 2, 3, 4])
    assert ciphertext_key_id(ciphertext) == 0x01020304


def test_each_seal_uses_a_fresh_nonce() -> None:
    first, second = seal_field(KEY, 1, b"same", CTX), seal_field(KEY, 1, b"same", CTX)
    assert first[9:21] != second[9:21]
    assert first != second


def test_plaintext_does_not_appear_in_the_ciphertext() -> None:
    assert KOREAN.encode() not in seal_field(KEY, 1, KOREAN.encode(), CTX)


@pytest.mark.parametrize(
    "elsewhere",
    [
        FieldContext("testimony", "43", "narrative_original", 3),
        FieldContext("testimony", "42", "narrative_translation", 3),
        FieldContext("testimony", "42", "narrative_original", 4),
        FieldContext("testimony", "42", "narrative_original", 2),
        FieldContext("incident", "42", "narrative_original", 3),
    ],
    ids=["other-record", "other-field", "newer-version", "older-version", "other-type"],
)
def test_a_ciphertext_moved_elsewhere_does_not_open(elsewhere: FieldContext) -> None:
    ciphertext = seal_field(KEY, 1, b"testimony text", CTX)
    with pytest.raises(DecryptionError) as caught:
        open_field(KEY, ciphertext, elsewhere)
    message = str(caught.value)
    assert f"{elsewhere.record_type} {elsewhere.record_id} field {elsewhere.field}" in message
    assert "does not belong" in message


def test_a_wrong_data_key_does_not_open() -> None:
    ciphertext = seal_field(KEY, 1, b"testimony text", CTX)
    with pytest.raises(DecryptionError, match="authentication failed"):
        open_field(new_data_key(), ciphertext, CTX)


def test_a_malformed_data_key_is_a_decryption_error() -> None:
    ciphertext = seal_field(KEY, 1, b"testimony text", CTX)
    with pytest.raises(DecryptionError, match="malformed"):
        open_field(KEY[:16], ciphertext, CTX)


def test_the_key_id_is_authenticated() -> None:
    ciphertext = bytearray(seal_field(KEY, 1, b"testimony text", CTX))
    ciphertext[5:9] = struct.pack(">I", 2)
    assert ciphertext_key_id(bytes(ciphertext)) == 2
    with pytest.raises(DecryptionError):
        open_field(KEY, bytes(ciphertext), CTX)


SAMPLE = seal_field(KEY, 5, "탈북 증언 sample".encode(), CTX)


@settings(max_examples=300, database=None, deadline=None)
@given(bit=st.integers(min_value=0, max_value=len(SAMPLE) * 8 - 1))
def test_flipping_any_single_bit_is_detected(bit: int) -> None:
    tampered = bytearray(SAMPLE)
    tampered[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(DecryptionError):
        open_field(KEY, bytes(tampered), CTX)


@pytest.mark.parametrize("region", ["header", "nonce", "body", "tag"])
def test_tampering_with_each_region_is_detected(region: str) -> None:
    index = {"header": 6, "nonce": 15, "body": 25, "tag": len(SAMPLE) - 1}[region]
    tampered = bytearray(SAMPLE)
    tampered[index] ^= 0x80
    with pytest.raises(DecryptionError):
        open_field(KEY, bytes(tampered), CTX)


def test_every_truncation_is_detected() -> None:
    for length in range(len(SAMPLE)):
        with pytest.raises(DecryptionError):
            open_field(KEY, SAMPLE[:length], CTX)


def test_appended_bytes_are_detected() -> None:
    with pytest.raises(DecryptionError):
        open_field(KEY, SAMPLE + b"\x00", CTX)


@pytest.mark.parametrize(
    "blob",
    [b"", b"CST", b"CSTF", b"plain text that was never sealed", b"CSTF\x02" + bytes(40)],
)
def test_foreign_input_is_not_a_custodia_ciphertext(blob: bytes) -> None:
    with pytest.raises(DecryptionError, match="not a Custodia ciphertext"):
        open_field(KEY, blob, CTX)
    with pytest.raises(DecryptionError, match="not a Custodia ciphertext"):
        ciphertext_key_id(blob)


def test_a_header_without_a_tag_is_too_short() -> None:
    with pytest.raises(DecryptionError, match="too short"):
        open_field(KEY, SAMPLE[:30], CTX)


def test_errors_never_show_key_or_plaintext() -> None:
    secret = "김 아무개, 청진시 출신".encode()
    ciphertext = seal_field(KEY, 1, secret, CTX)
    with pytest.raises(DecryptionError) as caught:
        open_field(new_data_key(), ciphertext, CTX)
    text = str(caught.value) + repr(caught.value)
    assert KEY.hex() not in text
    assert "김 아무개" not in text
    assert caught.value.__cause__ is None


def test_associated_data_is_length_prefixed() -> None:
    ctx = FieldContext("t", "ab", "f", 1)
    expected = b"custodia-field-v1" + b"".join(
        struct.pack(">I", len(part)) + part for part in (b"t", b"ab", b"f")
    )
    assert ctx.associated_data() == expected + struct.pack(">Q", 1)


names = st.text(min_size=1, max_size=8)
contexts = st.builds(FieldContext, names, names, names, st.integers(0, 2**64 - 1))


@settings(max_examples=300, database=None, deadline=None)
@given(first=contexts, second=contexts)
def test_different_contexts_never_share_associated_data(
    first: FieldContext, second: FieldContext
) -> None:
    if first != second:
        assert first.associated_data() != second.associated_data()


def test_shifting_a_boundary_between_parts_changes_the_context() -> None:
    ciphertext = seal_field(KEY, 1, b"x", FieldContext("testimony", "4", "2field", 1))
    with pytest.raises(DecryptionError):
        open_field(KEY, ciphertext, FieldContext("testimony", "42", "field", 1))


@pytest.mark.parametrize(
    "args",
    [("", "1", "f", 0), ("t", "", "f", 0), ("t", "1", "", 0), ("t", "1", "f", -1)],
)
def test_field_context_rejects_empty_names_and_negative_versions(
    args: tuple[str, str, str, int],
) -> None:
    with pytest.raises(ValueError, match="FieldContext"):
        FieldContext(*args)


@pytest.mark.parametrize(("key", "key_id"), [(b"k" * 16, 1), (KEY, -1), (KEY, 2**32)])
def test_seal_rejects_bad_keys_and_key_ids(key: bytes, key_id: int) -> None:
    with pytest.raises(ValueError):
        seal_field(key, key_id, b"x", CTX)


# --- EnvelopeCipher: per-record data keys wrapped by the keyring -------------------------


def test_a_new_wrapped_key_unwraps_and_seals_fields() -> None:
    cipher = EnvelopeCipher(InMemoryKeyring())
    record_key = cipher.new_wrapped_key(KeyPurpose.CONTENT, b"testimony:42")
    ciphertext = seal_field(record_key.data_key, record_key.kek_version, b"text", CTX)

    data_key = cipher.unwrap(
        KeyPurpose.CONTENT, record_key.kek_version, record_key.wrapped, b"testimony:42"
    )
    assert data_key == record_key.data_key
    assert open_field(data_key, ciphertext, CTX) == b"text"


def test_a_wrapped_key_copied_to_another_record_does_not_unwrap() -> None:
    cipher = EnvelopeCipher(InMemoryKeyring())
    record_key = cipher.new_wrapped_key(KeyPurpose.CONTENT, b"testimony:42")
    with pytest.raises(DecryptionError):
        cipher.unwrap(
            KeyPurpose.CONTENT, record_key.kek_version, record_key.wrapped, b"testimony:9"
        )


def test_identity_keys_do_not_unwrap_as_content_keys() -> None:
    cipher = EnvelopeCipher(InMemoryKeyring())
    witness_key = cipher.new_wrapped_key(KeyPurpose.IDENTITY, b"witness:W-17")
    with pytest.raises(DecryptionError):
        cipher.unwrap(
            KeyPurpose.CONTENT, witness_key.kek_version, witness_key.wrapped, b"witness:W-17"
        )


def test_rotation_rewraps_data_keys_without_re_encrypting_content() -> None:
    keyring = InMemoryKeyring()
    cipher = EnvelopeCipher(keyring)
    context = b"testimony:42"
    record_key = cipher.new_wrapped_key(KeyPurpose.CONTENT, context)
    ciphertext = seal_field(record_key.data_key, 1, KOREAN.encode(), CTX)
    assert record_key.kek_version == 1

    assert keyring.rotate(KeyPurpose.CONTENT) == 2
    # Still readable under v1 after rotation...
    v1_key = cipher.unwrap(KeyPurpose.CONTENT, 1, record_key.wrapped, context)
    assert open_field(v1_key, ciphertext, CTX) == KOREAN.encode()
    # ...and rewrap moves the same data key under v2.
    new_version, new_wrapped = cipher.rewrap(KeyPurpose.CONTENT, 1, record_key.wrapped, context)
    assert new_version == 2
    assert new_wrapped != record_key.wrapped
    v2_key = cipher.unwrap(KeyPurpose.CONTENT, 2, new_wrapped, context)
    assert v2_key == record_key.data_key
    assert open_field(v2_key, ciphertext, CTX) == KOREAN.encode()
    # The old wrapping keeps working until the caller replaces it.
    assert cipher.unwrap(KeyPurpose.CONTENT, 1, record_key.wrapped, context) == v2_key


def test_rewrap_refuses_what_it_cannot_unwrap() -> None:
    cipher = EnvelopeCipher(InMemoryKeyring())
    record_key = cipher.new_wrapped_key(KeyPurpose.CONTENT, b"testimony:42")
    with pytest.raises(DecryptionError):
        cipher.rewrap(KeyPurpose.CONTENT, 1, record_key.wrapped, b"testimony:43")
    with pytest.raises(KeyringError):
        cipher.rewrap(KeyPurpose.CONTENT, 5, record_key.wrapped, b"testimony:42")


def test_wrapped_data_key_repr_hides_the_key() -> None:
    record_key = EnvelopeCipher(InMemoryKeyring()).new_wrapped_key(KeyPurpose.CONTENT, b"c")
    assert isinstance(record_key, WrappedDataKey)
    for text in (repr(record_key), str(record_key)):
        assert record_key.data_key.hex() not in text
        assert repr(record_key.data_key) not in text
        assert repr(record_key.wrapped) not in text
        assert "kek_version=1" in text
