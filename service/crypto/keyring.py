"""Keyring implementations: ``FileKeyring`` (the embedded default) and ``InMemoryKeyring``.

Key wrapping
    A data key is wrapped with AES-256-GCM under the KEK of (purpose, version). The
    nonce is 12 fresh random bytes and the output is ``nonce || ciphertext+tag``. The
    associated data is::

        b"custodia-wrap-v1|" + purpose + b"|" + version (uint32 big-endian) + b"|" + context

    so a wrapped key only unwraps for the purpose, KEK version and context (for example
    the record it belongs to) that it was wrapped for.

Derived secrets
    ``search_key()`` and ``token_pepper()`` are HKDF-SHA256 outputs (32 bytes, no salt)
    of two dedicated random root secrets, with info ``b"custodia/search-index/v1"`` and
    ``b"custodia/token-pepper/v1"``. They share nothing with the KEKs, so publishing or
    losing one never weakens another. The custody signing key is an Ed25519 key stored
    as its 32-byte seed.

Keyring file (JSON, mode 0600, written atomically)
    Without a passphrase::

        {"format": "custodia-keyring", "format_version": 1, "protection": "none",
         "secrets": SECRETS}

    With a passphrase, SECRETS is sealed with AES-256-GCM under a key derived by scrypt
    (n=2**15, r=8, p=1, 16-byte random salt; the passphrase is NFC-normalised UTF-8,
    so the same passphrase typed on different systems unlocks the file)::

        {"format": "custodia-keyring", "format_version": 1,
         "protection": "scrypt-aes-256-gcm",
         "kdf": {"name": "scrypt", "n": 32768, "r": 8, "p": 1, "salt": B64},
         "nonce": B64, "ciphertext": B64}

    The associated data of the seal is ``b"custodia-keyring-v1|"`` followed by the
    canonical JSON of the format, format_version, protection and kdf fields, so none of
    them can be altered unnoticed. SECRETS is::

        {"keks": {"content": [{"version": 1, "created_at": ISO-8601, "key": B64}, ...],
                  "identity": [...]},
         "search_root": B64, "token_pepper_root": B64, "signing_seed": B64}

    Only key versions and creation times are metadata; in passphrase mode even they are
    sealed, and the file holds no key material in the clear.

Python cannot reliably erase secrets from memory; a keyring keeps its secrets for the
life of the process and refuses to be pickled or copied so they are not spread further.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hmac
import json
import os
import secrets
import stat
import threading
import unicodedata
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from service.crypto.errors import DecryptionError, KeyringError
from service.crypto.interfaces import KeyPurpose, KeyVersionInfo

__all__ = [
    "SCRYPT_N",
    "SCRYPT_P",
    "SCRYPT_R",
    "SEARCH_KEY_INFO",
    "TOKEN_PEPPER_INFO",
    "WRAP_AAD_PREFIX",
    "FileKeyring",
    "InMemoryKeyring",
]

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
MAX_KEY_VERSION = 2**32 - 1

WRAP_AAD_PREFIX = b"custodia-wrap-v1|"
SEARCH_KEY_INFO = b"custodia/search-index/v1"
TOKEN_PEPPER_INFO = b"custodia/token-pepper/v1"

SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
_SALT_BYTES = 16
# Bounds accepted when reading scrypt parameters back from a file: low enough to refuse a
# memory-exhausting file, high enough to allow raising the cost in a later version.
_SCRYPT_MAX_MEMORY = 256 * 1024 * 1024

_FILE_FORMAT = "custodia-keyring"
_FILE_FORMAT_VERSION = 1
_PROTECTION_NONE = "none"
_PROTECTION_SCRYPT = "scrypt-aes-256-gcm"
_SEAL_AAD_PREFIX = b"custodia-keyring-v1|"
_MAX_FILE_BYTES = 1024 * 1024


class _CorruptError(Exception):
    """Internal: the keyring document is malformed; turned into ``KeyringError``."""


def _now() -> datetime:
    return datetime.now(UTC)


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode(value: object, what: str, length: int | None = None) -> bytes:
    """Decode strict base64; raises ``_CorruptError`` naming ``what`` on any problem."""
    if not isinstance(value, str):
        raise _CorruptError(f"{what} is missing or not a string")
    try:
        data = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise _CorruptError(f"{what} is not valid base64") from exc
    if length is not None and len(data) != length:
        raise _CorruptError(f"{what} has the wrong length")
    return data


def _require_int(value: object, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _CorruptError(f"{what} is not an integer in [{low}, {high}]")
    return value


def _require_mapping(value: object, what: str) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise _CorruptError(f"{what} is not an object")
    return value


def _valid_version(version: object) -> bool:
    return (
        isinstance(version, int)
        and not isinstance(version, bool)
        and 1 <= version <= MAX_KEY_VERSION
    )


def _wrap_aad(purpose: KeyPurpose, version: int, context: bytes) -> bytes:
    return (
        WRAP_AAD_PREFIX
        + purpose.value.encode("ascii")
        + b"|"
        + version.to_bytes(4, "big")
        + b"|"
        + context
    )


@dataclass(frozen=True, slots=True)
class _Kek:
    version: int
    created_at: datetime
    key: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class _Material:
    """An immutable snapshot of every secret in a keyring; replaced whole on rotation."""

    keks: Mapping[KeyPurpose, tuple[_Kek, ...]]
    search_root: bytes = field(repr=False)
    token_pepper_root: bytes = field(repr=False)
    signing_seed: bytes = field(repr=False)

    @classmethod
    def generate(cls) -> _Material:
        created = _now()
        return cls(
            keks={
                purpose: (_Kek(1, created, secrets.token_bytes(KEY_BYTES)),)
                for purpose in KeyPurpose
            },
            search_root=secrets.token_bytes(KEY_BYTES),
            token_pepper_root=secrets.token_bytes(KEY_BYTES),
            signing_seed=secrets.token_bytes(KEY_BYTES),
        )

    def current(self, purpose: KeyPurpose) -> _Kek:
        return self.keks[purpose][-1]

    def find(self, purpose: KeyPurpose, version: int) -> _Kek | None:
        for kek in self.keks[purpose]:
            if kek.version == version:
                return kek
        return None

    def with_new_version(self, purpose: KeyPurpose) -> _Material:
        current = self.current(purpose).version
        if current >= MAX_KEY_VERSION:
            raise KeyringError(f"no {purpose} key versions left to rotate to")
        new = _Kek(current + 1, _now(), secrets.token_bytes(KEY_BYTES))
        keks = dict(self.keks)
        keks[purpose] = (*self.keks[purpose], new)
        return _Material(keks, self.search_root, self.token_pepper_root, self.signing_seed)

    def extends(self, older: _Material) -> bool:
        """True if this snapshot keeps every secret of ``older`` unchanged."""
        same = hmac.compare_digest(
            self.search_root + self.token_pepper_root + self.signing_seed,
            older.search_root + older.token_pepper_root + older.signing_seed,
        )
        for purpose in KeyPurpose:
            for kek in older.keks[purpose]:
                mine = self.find(purpose, kek.version)
                same &= mine is not None and hmac.compare_digest(mine.key, kek.key)
        return same

    def to_json(self) -> dict[str, object]:
        return {
            "keks": {
                purpose.value: [
                    {
                        "version": kek.version,
                        "created_at": kek.created_at.isoformat(),
                        "key": _b64encode(kek.key),
                    }
                    for kek in self.keks[purpose]
                ]
                for purpose in KeyPurpose
            },
            "search_root": _b64encode(self.search_root),
            "token_pepper_root": _b64encode(self.token_pepper_root),
            "signing_seed": _b64encode(self.signing_seed),
        }

    @classmethod
    def from_json(cls, value: object) -> _Material:
        """Parse SECRETS strictly; raises ``_CorruptError`` on anything unexpected."""
        doc = _require_mapping(value, "secrets")
        keks_doc = _require_mapping(doc.get("keks"), "keks")
        if set(keks_doc) != {purpose.value for purpose in KeyPurpose}:
            raise _CorruptError("keks does not list exactly the known key purposes")
        keks = {
            purpose: cls._parse_keks(purpose, keks_doc[purpose.value]) for purpose in KeyPurpose
        }
        return cls(
            keks=keks,
            search_root=_b64decode(doc.get("search_root"), "search_root", KEY_BYTES),
            token_pepper_root=_b64decode(
                doc.get("token_pepper_root"), "token_pepper_root", KEY_BYTES
            ),
            signing_seed=_b64decode(doc.get("signing_seed"), "signing_seed", KEY_BYTES),
        )

    @staticmethod
    def _parse_keks(purpose: KeyPurpose, value: object) -> tuple[_Kek, ...]:
        if not isinstance(value, list) or not value:
            raise _CorruptError(f"keks.{purpose} is not a non-empty list")
        parsed: list[_Kek] = []
        for entry in value:
            item = _require_mapping(entry, f"a {purpose} key entry")
            version = _require_int(
                item.get("version"), f"a {purpose} key version", 1, MAX_KEY_VERSION
            )
            created_raw = item.get("created_at")
            try:
                created = (
                    datetime.fromisoformat(created_raw) if isinstance(created_raw, str) else None
                )
            except ValueError:
                created = None
            if created is None or created.tzinfo is None:
                raise _CorruptError(f"{purpose} key version {version} has no valid created_at")
            key = _b64decode(item.get("key"), f"{purpose} key version {version}", KEY_BYTES)
            parsed.append(_Kek(version, created, key))
        parsed.sort(key=lambda kek: kek.version)
        if len({kek.version for kek in parsed}) != len(parsed):
            raise _CorruptError(f"keks.{purpose} lists a version twice")
        return tuple(parsed)


class _KeyringBase:
    """Shared behaviour of the built-in keyrings; subclasses decide where secrets live."""

    def __init__(self, material: _Material) -> None:
        self._material = material
        self._lock = threading.RLock()

    def current_version(self, purpose: KeyPurpose) -> int:
        """Return the KEK version that :meth:`wrap_data_key` uses now."""
        return self._material.current(KeyPurpose(purpose)).version

    def wrap_data_key(
        self, purpose: KeyPurpose, data_key: bytes, context: bytes
    ) -> tuple[int, bytes]:
        """Wrap ``data_key`` under the current KEK with ``context`` as associated data.

        Returns ``(kek_version, nonce || ciphertext)``. Raises ``ValueError`` if the data
        key is not 32 bytes.
        """
        purpose = KeyPurpose(purpose)
        if len(data_key) != KEY_BYTES:
            raise ValueError(f"a data key must be {KEY_BYTES} bytes")
        kek = self._material.current(purpose)
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = AESGCM(kek.key).encrypt(
            nonce, bytes(data_key), _wrap_aad(purpose, kek.version, context)
        )
        return kek.version, nonce + sealed

    def unwrap_data_key(
        self, purpose: KeyPurpose, version: int, wrapped: bytes, context: bytes
    ) -> bytes:
        """Unwrap a data key wrapped under KEK ``version`` with the same ``context``.

        Raises ``KeyringError`` if the version does not exist and ``DecryptionError`` if
        the wrapped key does not authenticate (wrong version or context, tampering).
        """
        purpose = KeyPurpose(purpose)
        kek = self._find_kek(purpose, version)
        if len(wrapped) != NONCE_BYTES + KEY_BYTES + TAG_BYTES:
            raise DecryptionError(
                f"wrapped {purpose} data key has the wrong length; it is truncated or corrupt"
            )
        nonce, sealed = wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:]
        try:
            return AESGCM(kek.key).decrypt(nonce, sealed, _wrap_aad(purpose, kek.version, context))
        except InvalidTag:
            raise DecryptionError(
                f"cannot unwrap {purpose} data key with key version {version}: "
                "authentication failed: wrong key version, wrong context, or tampered data"
            ) from None

    def rotate(self, purpose: KeyPurpose) -> int:
        """Add a new KEK version for ``purpose`` and make it current; returns it."""
        purpose = KeyPurpose(purpose)
        with self._lock:
            updated = self._material.with_new_version(purpose)
            self._material = updated
            return updated.current(purpose).version

    def versions(self, purpose: KeyPurpose) -> list[KeyVersionInfo]:
        """List the KEK versions of ``purpose``, oldest first, without key material."""
        keks = self._material.keks[KeyPurpose(purpose)]
        current = keks[-1].version
        return [KeyVersionInfo(k.version, k.created_at, k.version == current) for k in keks]

    def search_key(self) -> bytes:
        """Return the 32-byte blind-index HMAC key (HKDF of the search root secret)."""
        return _hkdf(self._material.search_root, SEARCH_KEY_INFO)

    def token_pepper(self) -> bytes:
        """Return the 32-byte token pepper (HKDF of the token pepper root secret)."""
        return _hkdf(self._material.token_pepper_root, TOKEN_PEPPER_INFO)

    def signing_key(self) -> Ed25519PrivateKey:
        """Return the Ed25519 key that signs custody checkpoints."""
        return Ed25519PrivateKey.from_private_bytes(self._material.signing_seed)

    def signing_public_key(self) -> Ed25519PublicKey:
        """Return the public key that verifies custody checkpoints."""
        return self.signing_key().public_key()

    def _find_kek(self, purpose: KeyPurpose, version: int) -> _Kek:
        """Return KEK ``version``; raises ``KeyringError`` if there is none."""
        kek = self._material.find(purpose, version) if _valid_version(version) else None
        if kek is None:
            raise KeyringError(f"unknown {purpose} key version {version!r}")
        return kek

    def _version_summary(self) -> str:
        material = self._material
        return ", ".join(
            f"{purpose}=v{material.current(purpose).version}" for purpose in KeyPurpose
        )

    def __reduce__(self) -> NoReturn:
        raise TypeError(f"{type(self).__name__} holds secrets and cannot be pickled or copied")


def _hkdf(root: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(root)


class InMemoryKeyring(_KeyringBase):
    """A keyring with fresh random secrets that live only in this process (for tests)."""

    def __init__(self) -> None:
        super().__init__(_Material.generate())

    def __repr__(self) -> str:
        return f"InMemoryKeyring({self._version_summary()})"


@dataclass(frozen=True, slots=True)
class _Sealer:
    """The scrypt parameters of a protected keyring file and the key they derive."""

    salt: bytes
    n: int
    r: int
    p: int
    key: bytes = field(repr=False)

    @classmethod
    def derive(cls, passphrase: str, salt: bytes, n: int, r: int, p: int) -> _Sealer:
        secret = unicodedata.normalize("NFC", passphrase).encode("utf-8")
        key = Scrypt(salt=salt, length=KEY_BYTES, n=n, r=r, p=p).derive(secret)
        return cls(salt, n, r, p, key)

    def kdf_json(self) -> dict[str, object]:
        return {
            "name": "scrypt",
            "n": self.n,
            "r": self.r,
            "p": self.p,
            "salt": _b64encode(self.salt),
        }

    def aad(self) -> bytes:
        header = {
            "format": _FILE_FORMAT,
            "format_version": _FILE_FORMAT_VERSION,
            "protection": _PROTECTION_SCRYPT,
            "kdf": self.kdf_json(),
        }
        return _SEAL_AAD_PREFIX + json.dumps(header, sort_keys=True, separators=(",", ":")).encode()


def _parse_kdf(value: object) -> tuple[bytes, int, int, int]:
    """Read and bound-check stored scrypt parameters; raises ``_CorruptError``."""
    kdf = _require_mapping(value, "kdf")
    if kdf.get("name") != "scrypt":
        raise _CorruptError("kdf is not scrypt")
    n = _require_int(kdf.get("n"), "kdf.n", 2**14, 2**22)
    r = _require_int(kdf.get("r"), "kdf.r", 1, 64)
    p = _require_int(kdf.get("p"), "kdf.p", 1, 16)
    if n & (n - 1) or 128 * n * r * p > _SCRYPT_MAX_MEMORY:
        raise _CorruptError("kdf parameters are out of range")
    salt = _b64decode(kdf.get("salt"), "kdf.salt")
    if not 16 <= len(salt) <= 64:
        raise _CorruptError("kdf.salt has the wrong length")
    return salt, n, r, p


def _reject_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise _CorruptError(f"field {key!r} appears twice")
        result[key] = value
    return result


class FileKeyring(_KeyringBase):
    """The embedded keyring: secrets in one JSON file (0600), optionally passphrase-sealed.

    Build it with :meth:`create` or :meth:`open`, not the constructor. Several processes
    may share one file: :meth:`rotate` holds an exclusive ``flock`` on ``<file>.lock``
    and re-reads the file first, so no version is lost. A process notices another
    process's rotation when it meets an unknown newer version while unwrapping, or when
    :meth:`reload` is called; until then it wraps under the version it knows, which stays
    valid.
    """

    def __init__(self, path: Path, material: _Material, sealer: _Sealer | None) -> None:
        super().__init__(material)
        self._path = path
        self._sealer = sealer

    @classmethod
    def create(cls, path: Path, *, passphrase: str | None = None) -> FileKeyring:
        """Generate a new keyring and write it to ``path``.

        The parent directory is created with mode 0700 if missing. Raises
        ``KeyringError`` if ``path`` already exists, the passphrase is empty, the
        parent directory is writable by group or others, or the file cannot be written.
        """
        path = Path(path)
        if path.exists() or path.is_symlink():
            raise KeyringError(f"refusing to overwrite existing keyring file {path}")
        sealer: _Sealer | None = None
        if passphrase is not None:
            if not passphrase:
                raise KeyringError("the keyring passphrase must not be empty")
            salt = secrets.token_bytes(_SALT_BYTES)
            sealer = _Sealer.derive(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
        keyring = cls(path, _Material.generate(), sealer)
        _prepare_directory(path.parent)
        _write_private_file(path, keyring._serialise(keyring._material), overwrite=False)
        return keyring

    @classmethod
    def open(cls, path: Path, *, passphrase: str | None = None) -> FileKeyring:
        """Load the keyring at ``path``.

        Raises ``KeyringError`` if the file is missing, not a regular file, accessible by
        group or others, corrupt, passphrase-protected without a passphrase (or given one
        it does not use), or if the passphrase is wrong.
        """
        path = Path(path)
        material, sealer = _parse_document(path, _read_private_file(path), passphrase, None)
        return cls(path, material, sealer)

    @property
    def path(self) -> Path:
        """Where the keyring file lives."""
        return self._path

    @property
    def passphrase_protected(self) -> bool:
        """True if the file's secrets are sealed under a passphrase."""
        return self._sealer is not None

    def rotate(self, purpose: KeyPurpose) -> int:
        """Add a new KEK version, save the file atomically, and return the new version.

        Raises ``KeyringError`` if the file cannot be locked, read or written, or if it
        no longer holds the keys this process knows (it was replaced). On failure the
        file and this object are unchanged.
        """
        purpose = KeyPurpose(purpose)
        with self._lock, _exclusive_lock(self._path.with_name(self._path.name + ".lock")):
            updated = self._load_from_disk().with_new_version(purpose)
            _prepare_directory(self._path.parent)
            _write_private_file(self._path, self._serialise(updated), overwrite=True)
            self._material = updated
            return updated.current(purpose).version

    def reload(self) -> None:
        """Re-read the file to pick up rotations made by other processes.

        Raises ``KeyringError`` as :meth:`open` does, or if the file no longer holds the
        keys this process knows.
        """
        with self._lock:
            self._material = self._load_from_disk()

    def _find_kek(self, purpose: KeyPurpose, version: int) -> _Kek:
        try:
            return super()._find_kek(purpose, version)
        except KeyringError:
            # Another process may have rotated since we loaded; versions only grow.
            if not _valid_version(version) or version <= self.current_version(purpose):
                raise
        self.reload()
        return super()._find_kek(purpose, version)

    def _load_from_disk(self) -> _Material:
        material, _ = _parse_document(
            self._path, _read_private_file(self._path), None, self._sealer
        )
        if not material.extends(self._material):
            raise KeyringError(
                f"keyring file {self._path} no longer holds the keys in use; "
                "refusing to continue (was it replaced?)"
            )
        return material

    def _serialise(self, material: _Material) -> bytes:
        secrets_doc = material.to_json()
        doc: dict[str, object] = {
            "format": _FILE_FORMAT,
            "format_version": _FILE_FORMAT_VERSION,
        }
        if self._sealer is None:
            doc["protection"] = _PROTECTION_NONE
            doc["secrets"] = secrets_doc
        else:
            nonce = secrets.token_bytes(NONCE_BYTES)
            plaintext = json.dumps(secrets_doc, sort_keys=True).encode()
            sealed = AESGCM(self._sealer.key).encrypt(nonce, plaintext, self._sealer.aad())
            doc["protection"] = _PROTECTION_SCRYPT
            doc["kdf"] = self._sealer.kdf_json()
            doc["nonce"] = _b64encode(nonce)
            doc["ciphertext"] = _b64encode(sealed)
        return json.dumps(doc, indent=2, sort_keys=True).encode() + b"\n"

    def __repr__(self) -> str:
        return (
            f"FileKeyring(path={str(self._path)!r}, "
            f"passphrase_protected={self.passphrase_protected}, {self._version_summary()})"
        )


def _parse_document(
    path: Path, raw: bytes, passphrase: str | None, known: _Sealer | None
) -> tuple[_Material, _Sealer | None]:
    """Decode a keyring file, unsealing it with ``passphrase`` or the ``known`` key.

    Raises ``KeyringError`` naming ``path`` for every problem.
    """
    try:
        doc = _require_mapping(
            json.loads(raw.decode("utf-8"), object_pairs_hook=_reject_duplicate_keys),
            "the document",
        )
        if doc.get("format") != _FILE_FORMAT:
            raise _CorruptError("it is not a Custodia keyring")
        if doc.get("format_version") != _FILE_FORMAT_VERSION:
            raise _CorruptError(f"format_version {doc.get('format_version')!r} is not supported")
        protection = doc.get("protection")
        if protection == _PROTECTION_NONE:
            if passphrase is not None or known is not None:
                raise KeyringError(
                    f"keyring file {path} is not passphrase-protected but a passphrase was given"
                )
            return _Material.from_json(doc.get("secrets")), None
        if protection != _PROTECTION_SCRYPT:
            raise _CorruptError(f"protection {protection!r} is not supported")
        salt, n, r, p = _parse_kdf(doc.get("kdf"))
        nonce = _b64decode(doc.get("nonce"), "nonce", NONCE_BYTES)
        sealed = _b64decode(doc.get("ciphertext"), "ciphertext")
        sealer = _unlocker(path, salt, n, r, p, passphrase, known)
        try:
            plaintext = AESGCM(sealer.key).decrypt(nonce, sealed, sealer.aad())
        except InvalidTag:
            raise KeyringError(
                f"cannot unlock keyring file {path}: wrong passphrase or corrupted file"
            ) from None
        secrets_doc = json.loads(
            plaintext.decode("utf-8"), object_pairs_hook=_reject_duplicate_keys
        )
        return _Material.from_json(secrets_doc), sealer
    except (_CorruptError, ValueError) as exc:
        # json.JSONDecodeError and UnicodeDecodeError are ValueErrors.
        detail = str(exc) if isinstance(exc, _CorruptError) else "it is not valid JSON"
        raise KeyringError(f"keyring file {path} is corrupt: {detail}") from None


def _unlocker(
    path: Path, salt: bytes, n: int, r: int, p: int, passphrase: str | None, known: _Sealer | None
) -> _Sealer:
    """Pick the sealing key: the one already derived, or a new one from the passphrase."""
    if known is not None:
        if (known.salt, known.n, known.r, known.p) != (salt, n, r, p):
            raise KeyringError(
                f"keyring file {path} was re-created with new passphrase parameters; reopen it"
            )
        return known
    if passphrase is None:
        raise KeyringError(f"keyring file {path} is passphrase-protected; a passphrase is required")
    return _Sealer.derive(passphrase, salt, n, r, p)


def _read_private_file(path: Path) -> bytes:
    """Read a keyring file after checking it is a regular file only its owner can use.

    The checks run on the opened descriptor, so the file cannot be swapped in between.
    Raises ``KeyringError``.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise KeyringError(f"keyring file {path} does not exist") from None
    except OSError as exc:
        raise KeyringError(f"cannot open keyring file {path}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise KeyringError(f"keyring path {path} is not a regular file")
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            raise KeyringError(
                f"refusing to use keyring file {path}: its mode {mode:04o} gives access to "
                f"group or others; run `chmod 600 {path}`"
            )
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, 65536):
            size += len(chunk)
            if size > _MAX_FILE_BYTES:
                raise KeyringError(f"keyring file {path} is corrupt: it is too large")
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise KeyringError(f"cannot read keyring file {path}: {exc.strerror}") from None
    finally:
        os.close(fd)


def _prepare_directory(directory: Path) -> None:
    """Create ``directory`` with mode 0700 if missing; refuse one others can write to.

    A directory writable by group or others would let them replace the keyring file.
    An existing directory's mode is not changed. Raises ``KeyringError``.
    """
    try:
        directory.mkdir(mode=0o700, parents=True)
        directory.chmod(0o700)  # mkdir's mode is filtered by the umask
    except FileExistsError:
        pass
    except OSError as exc:
        raise KeyringError(f"cannot create keyring directory {directory}: {exc.strerror}") from None
    try:
        info = directory.stat()
    except OSError as exc:
        raise KeyringError(
            f"cannot inspect keyring directory {directory}: {exc.strerror}"
        ) from None
    if not stat.S_ISDIR(info.st_mode):
        raise KeyringError(f"keyring directory {directory} is not a directory")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o022:
        raise KeyringError(
            f"refusing to write a keyring in {directory}: its mode {mode:04o} lets group or "
            f"others replace files; run `chmod 700 {directory}`"
        )


def _write_private_file(path: Path, data: bytes, *, overwrite: bool) -> None:
    """Write ``data`` to ``path`` atomically with mode 0600 from the first byte.

    A temporary file is created in the same directory with ``O_CREAT | O_EXCL`` and mode
    0600, synced, then moved into place: with ``os.replace`` when ``overwrite``, else
    with a hard link that fails if ``path`` exists. Raises ``KeyringError``.
    """
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        fd = os.open(
            tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600
        )
    except OSError as exc:
        raise KeyringError(f"cannot write keyring file {path}: {exc.strerror}") from None
    try:
        try:
            os.fchmod(fd, 0o600)  # the umask may only have removed bits; be explicit
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if overwrite:
            tmp.replace(path)
        else:
            _link_new(tmp, path)
    except BaseException as exc:
        with suppress(OSError):
            tmp.unlink()
        if isinstance(exc, FileExistsError):
            raise KeyringError(f"refusing to overwrite existing keyring file {path}") from None
        if isinstance(exc, OSError):
            raise KeyringError(f"cannot write keyring file {path}: {exc.strerror}") from None
        raise
    _fsync_directory(path.parent)


def _link_new(tmp: Path, path: Path) -> None:
    """Move ``tmp`` to ``path`` only if ``path`` does not exist (raises FileExistsError)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError:
        # The filesystem has no hard links: fall back to check-then-rename.
        if path.exists() or path.is_symlink():
            raise FileExistsError(path) from None
        tmp.replace(path)
        return
    with suppress(OSError):
        tmp.unlink()


def _fsync_directory(directory: Path) -> None:
    """Make a rename durable; best effort on filesystems that refuse directory fsync."""
    with suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextmanager
def _exclusive_lock(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_path`` (created 0600); raises ``KeyringError``."""
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise KeyringError(f"cannot lock keyring {lock_path}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
