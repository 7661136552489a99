"""Every Keyring implementation must behave exactly like this (run against each one)."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from service.crypto.envelope import new_data_key
from service.crypto.errors import CryptoError, DecryptionError, KeyringError
from service.crypto.interfaces import KeyPurpose, Keyring
from service.crypto.keyring import FileKeyring, InMemoryKeyring

AnyKeyring = InMemoryKeyring | FileKeyring
CONTEXT = b"testimony:42"


def test_implements_the_keyring_protocol(keyring: AnyKeyring) -> None:
    assert isinstance(keyring, Keyring)


def test_wrapped_data_key_unwraps_to_the_same_key(keyring: AnyKeyring) -> None:
    data_key = new_data_key()
    version, wrapped = keyring.wrap_data_key(KeyPurpose.CONTENT, data_key, CONTEXT)
    assert version == keyring.current_version(KeyPurpose.CONTENT) == 1
    assert keyring.unwrap_data_key(KeyPurpose.CONTENT, version, wrapped, CONTEXT) == data_key


def test_wrapped_key_is_random_nonce_then_ciphertext(keyring: AnyKeyring) -> None:
    data_key = new_data_key()
    _, first = keyring.wrap_data_key(KeyPurpose.CONTENT, data_key, CONTEXT)
    _, second = keyring.wrap_data_key(KeyPurpose.CONTENT, data_key, CONTEXT)
    assert len(first) == 12 + 32 + 16
    assert first[:12] != second[:12]
    assert data_key not in first


def test_wrapping_binds_the_documented_associated_data(keyring: AnyKeyring) -> None:
    data_key = new_data_key()
    version, wrapped = keyring.wrap_data_key(KeyPurpose.IDENTITY, data_key, CONTEXT)
    kek = keyring._material.find(KeyPurpose.IDENTITY, version)
    assert kek is not None
    aad = b"custodia-wrap-v1|identity|" + version.to_bytes(4, "big") + b"|" + CONTEXT
    assert AESGCM(kek.key).decrypt(wrapped[:12], wrapped[12:], aad) == data_key


def test_unwrap_with_another_context_fails(keyring: AnyKeyring) -> None:
    version, wrapped = keyring.wrap_data_key(KeyPurpose.CONTENT, new_data_key(), CONTEXT)
    with pytest.raises(DecryptionError, match="authentication failed"):
        keyring.unwrap_data_key(KeyPurpose.CONTENT, version, wrapped, b"testimony:43")


def test_content_key_does_not_unwrap_as_identity_key(keyring: AnyKeyring) -> None:
    version, wrapped = keyring.wrap_data_key(KeyPurpose.CONTENT, new_data_key(), CONTEXT)
    with pytest.raises(DecryptionError):
        keyring.unwrap_data_key(KeyPurpose.IDENTITY, version, wrapped, CONTEXT)


def test_unwrap_under_the_wrong_kek_version_fails(keyring: AnyKeyring) -> None:
    version, wrapped = keyring.wrap_data_key(KeyPurpose.CONTENT, new_data_key(), CONTEXT)
    keyring.rotate(KeyPurpose.CONTENT)
    with pytest.raises(DecryptionError):
        keyring.unwrap_data_key(KeyPurpose.CONTENT, version + 1, wrapped, CONTEXT)


@pytest.mark.parametrize("version", [0, -1, 2, 99, 2**32, True])
def test_unknown_kek_version_is_a_keyring_error(keyring: AnyKeyring, version: int) -> None:
    _, wrapped = keyring.wrap_data_key(KeyPurpose.CONTENT, new_data_key(), CONTEXT)
    with pytest.raises(KeyringError, match="unknown content key version"):
        keyring.unwrap_data_key(KeyPurpose.CONTENT, version, wrapped, CONTEXT)


@pytest.mark.parametrize("bit", [0, 7, 12 * 8, 30 * 8 + 3, 59 * 8 + 7])
def test_tampered_wrapped_key_fails(keyring: AnyKeyring, bit: int) -> None:
    version, wrapped = keyring.wrap_data_key(KeyPurpose.CONTENT, new_data_key(), CONTEXT)
    tampered = bytearray(wrapped)
    tampered[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(DecryptionError):
        keyring.unwrap_data_key(KeyPurpose.CONTENT, version, bytes(tampered), CONTEXT)


@pytest.mark.parametrize("cut", [0, 1, 12, 59])
def test_truncated_wrapped_key_fails(keyring: AnyKeyring, cut: int) -> None:
    version, wrapped = keyring.wrap_data_key(KeyPurpose.CONTENT, new_data_key(), CONTEXT)
    with pytest.raises(DecryptionError):
        keyring.unwrap_data_key(KeyPurpose.CONTENT, version, wrapped[:cut], CONTEXT)


@pytest.mark.parametrize("length", [0, 16, 31, 33])
def test_only_32_byte_data_keys_are_wrapped(keyring: AnyKeyring, length: int) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        keyring.wrap_data_key(KeyPurpose.CONTENT, b"k" * length, CONTEXT)


def test_data_keys_wrapped_before_rotation_still_unwrap(keyring: AnyKeyring) -> None:
    data_key = new_data_key()
    old_version, old_wrapped = keyring.wrap_data_key(KeyPurpose.CONTENT, data_key, CONTEXT)
    assert keyring.rotate(KeyPurpose.CONTENT) == 2
    assert keyring.current_version(KeyPurpose.CONTENT) == 2
    assert keyring.unwrap_data_key(KeyPurpose.CONTENT, old_version, old_wrapped, CONTEXT) == (
        data_key
    )
    new_version, new_wrapped = keyring.wrap_data_key(KeyPurpose.CONTENT, data_key, CONTEXT)
    assert new_version == 2
    assert keyring.unwrap_data_key(KeyPurpose.CONTENT, 2, new_wrapped, CONTEXT) == data_key


def test_purposes_rotate_independently(keyring: AnyKeyring) -> None:
    keyring.rotate(KeyPurpose.IDENTITY)
    keyring.rotate(KeyPurpose.IDENTITY)
    assert keyring.current_version(KeyPurpose.IDENTITY) == 3
    assert keyring.current_version(KeyPurpose.CONTENT) == 1


def test_versions_list_metadata_only_with_the_current_one_active(keyring: AnyKeyring) -> None:
    keyring.rotate(KeyPurpose.CONTENT)
    infos = keyring.versions(KeyPurpose.CONTENT)
    assert [info.version for info in infos] == [1, 2]
    assert [info.active for info in infos] == [False, True]
    assert all(info.created_at.tzinfo is not None for info in infos)
    assert infos[0].created_at <= infos[1].created_at
    assert set(type(infos[0]).__dataclass_fields__) == {"version", "created_at", "active"}


def test_derived_secrets_are_distinct_32_byte_keys(keyring: AnyKeyring) -> None:
    search, pepper = keyring.search_key(), keyring.token_pepper()
    seed = keyring._material.signing_seed
    keks = [kek.key for purpose in KeyPurpose for kek in keyring._material.keks[purpose]]
    assert len(search) == len(pepper) == 32
    assert len({search, pepper, seed, *keks}) == 3 + len(keks)


def test_derived_secrets_use_hkdf_sha256_with_the_documented_info(keyring: AnyKeyring) -> None:
    def hkdf(root: bytes, info: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(root)

    material = keyring._material
    assert keyring.search_key() == hkdf(material.search_root, b"custodia/search-index/v1")
    assert keyring.token_pepper() == hkdf(material.token_pepper_root, b"custodia/token-pepper/v1")


def test_derived_secrets_do_not_change_on_rotation(keyring: AnyKeyring) -> None:
    before = (keyring.search_key(), keyring.token_pepper(), _raw(keyring.signing_public_key()))
    keyring.rotate(KeyPurpose.CONTENT)
    after = (keyring.search_key(), keyring.token_pepper(), _raw(keyring.signing_public_key()))
    assert before == after


def test_signing_key_signs_what_the_public_key_verifies(keyring: AnyKeyring) -> None:
    message = b"custodia checkpoint\n42\nroot\n"
    signature = keyring.signing_key().sign(message)
    keyring.signing_public_key().verify(signature, message)
    assert _raw(keyring.signing_key().public_key()) == _raw(keyring.signing_public_key())


def test_two_keyrings_share_no_secret() -> None:
    first, second = InMemoryKeyring(), InMemoryKeyring()
    version, wrapped = first.wrap_data_key(KeyPurpose.CONTENT, new_data_key(), CONTEXT)
    with pytest.raises(DecryptionError):
        second.unwrap_data_key(KeyPurpose.CONTENT, version, wrapped, CONTEXT)
    assert first.search_key() != second.search_key()


def test_repr_and_str_never_show_key_bytes(
    keyring: AnyKeyring, assert_no_secret_in: Callable[[AnyKeyring, bytes], None]
) -> None:
    keyring.rotate(KeyPurpose.CONTENT)
    shown = [
        repr(keyring),
        str(keyring),
        repr(keyring._material),
        str(keyring.versions(KeyPurpose.CONTENT)),
    ]
    shown += [repr(kek) for purpose in KeyPurpose for kek in keyring._material.keks[purpose]]
    for text in shown:
        assert_no_secret_in(keyring, text.encode())
    assert "content=v2" in repr(keyring)


def test_error_messages_never_show_key_bytes(
    keyring: AnyKeyring, assert_no_secret_in: Callable[[AnyKeyring, bytes], None]
) -> None:
    data_key = new_data_key()
    version, wrapped = keyring.wrap_data_key(KeyPurpose.CONTENT, data_key, CONTEXT)
    with pytest.raises(CryptoError) as caught:
        keyring.unwrap_data_key(KeyPurpose.CONTENT, version, wrapped, b"other")
    assert_no_secret_in(keyring, str(caught.value).encode())
    assert data_key.hex() not in str(caught.value)


def test_keyrings_refuse_to_be_pickled_or_copied(keyring: AnyKeyring) -> None:
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(keyring)
    with pytest.raises(TypeError):
        copy.deepcopy(keyring)


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
