"""Shred secrets: the per-record key material whose deletion crypto-shreds a record.

Why a separate store
    A wrapped data key in the database is wrapped under a keyring KEK, and the keyring
    outlives every shred. A copy of the database taken before a shred would therefore
    still open with the live keyring. So every data key of a testimony (its content and
    its attachments) and of a witness's identity vault is *bound* to a random 32-byte
    secret that lives outside the database, one file per record, in the shred-secret
    store (``data/keys/shred/`` by default). Shredding deletes that file. Without it the
    bound wrapped key in any database copy is useless, even with the live keyring.

Binding format (all in the ``wrapped_key`` column; ``kek_version`` still names the KEK)::

    b"CSTS" | 0x01 | nonce (12) | AES-256-GCM(binding_key, inner_wrapped) + tag

where ``inner_wrapped`` is the keyring's ordinary wrapping (nonce || ciphertext+tag, 60
bytes) and ``binding_key = HKDF-SHA256(secret, info=b"custodia/shred-binding/v1|" +
purpose)``. The associated data is ``header || purpose || b"|" || context``, so a bound
key only opens for the record it was made for. A 60-byte value is a key made before
binding existed ("legacy"); it still opens, and :meth:`ShreddableEnvelope.bind` upgrades it.

Store files (JSON, mode 0600, written atomically with ``O_EXCL`` + ``link``)::

    {"format": "custodia-shred-secret", "format_version": 1, "kek_version": N, "wrapped": B64}

The secret itself is wrapped under a keyring KEK (CONTENT for testimonies, IDENTITY for
witnesses) with context ``b"custodia-shred-secret|" + name``, so the store alone reveals
nothing and a passphrase-protected keyring protects it too. Destroying a secret overwrites
the file with zeros, syncs it, unlinks it and syncs the directory. Overwriting is best
effort: journaling or copy-on-write filesystems and SSDs may keep old blocks, and any
backup of the store taken before the shred defeats it (see docs/security.md).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
import stat
from contextlib import suppress
from pathlib import Path
from typing import NoReturn

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from service.crypto.errors import DecryptionError, KeyringError
from service.crypto.interfaces import KeyPurpose, Keyring, ShredId

__all__ = [
    "BOUND_MAGIC",
    "FileShredSecretStore",
    "InMemoryShredSecretStore",
    "ShreddedKeyError",
    "bind_wrapped",
    "is_bound",
    "unbind_wrapped",
]

SECRET_BYTES = 32
BOUND_MAGIC = b"CSTS"
BOUND_FORMAT = 0x01
_NONCE_BYTES = 12
_LEGACY_WRAPPED_BYTES = 12 + 32 + 16
_BOUND_HEADER_BYTES = len(BOUND_MAGIC) + 1 + _NONCE_BYTES
BOUND_WRAPPED_BYTES = _BOUND_HEADER_BYTES + _LEGACY_WRAPPED_BYTES + 16
_BINDING_INFO = b"custodia/shred-binding/v1|"
_SECRET_CONTEXT = b"custodia-shred-secret|"
_FILE_FORMAT = "custodia-shred-secret"
_FILE_FORMAT_VERSION = 1
_MAX_FILE_BYTES = 4096


class ShreddedKeyError(DecryptionError):
    """The record's shred secret is gone: it was shredded (or this is a foreign store)."""


class InMemoryShredSecretStore:
    """Secrets that live only in this process (for unit tests of the binding)."""

    def __init__(self) -> None:
        self._secrets: dict[ShredId, bytes] = {}

    def ensure(self, shred_id: ShredId) -> tuple[bytes, bool]:
        if shred_id in self._secrets:
            return self._secrets[shred_id], False
        secret = secrets.token_bytes(SECRET_BYTES)
        self._secrets[shred_id] = secret
        return secret, True

    def get(self, shred_id: ShredId) -> bytes | None:
        return self._secrets.get(shred_id)

    def destroy(self, shred_id: ShredId) -> bool:
        return self._secrets.pop(shred_id, None) is not None

    def exists(self, shred_id: ShredId) -> bool:
        return shred_id in self._secrets

    def __reduce__(self) -> NoReturn:
        raise TypeError("a shred-secret store holds secrets and cannot be pickled or copied")


class FileShredSecretStore:
    """One small file per secret in an owner-only directory, each wrapped by the keyring."""

    def __init__(self, directory: Path, keyring: Keyring) -> None:
        self._directory = Path(directory)
        self._keyring = keyring

    @property
    def directory(self) -> Path:
        return self._directory

    def _path(self, shred_id: ShredId) -> Path:
        return self._directory / f"{shred_id.name}.key"

    def _prepare(self) -> None:
        try:
            self._directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            info = self._directory.stat()
        except OSError as exc:
            raise KeyringError(
                f"cannot use shred-secret directory {self._directory}: {exc.strerror}"
            ) from None
        if stat.S_IMODE(info.st_mode) & 0o077:
            raise KeyringError(
                f"refusing shred-secret directory {self._directory}: it is open to group or "
                f"others; run `chmod 700 {self._directory}`"
            )

    def ensure(self, shred_id: ShredId) -> tuple[bytes, bool]:
        existing = self.get(shred_id)
        if existing is not None:
            return existing, False
        self._prepare()
        secret = secrets.token_bytes(SECRET_BYTES)
        version, wrapped = self._keyring.wrap_data_key(
            shred_id.purpose, secret, _SECRET_CONTEXT + shred_id.name.encode()
        )
        document = {
            "format": _FILE_FORMAT,
            "format_version": _FILE_FORMAT_VERSION,
            "kek_version": version,
            "wrapped": base64.b64encode(wrapped).decode("ascii"),
        }
        try:
            _write_new(self._path(shred_id), json.dumps(document).encode() + b"\n")
        except FileExistsError:
            # Another process made it first (two testimonies of one witness at once).
            winner = self.get(shred_id)
            if winner is None:
                raise KeyringError(f"shred secret {shred_id.name} vanished while created") from None
            return winner, False
        return secret, True

    def get(self, shred_id: ShredId) -> bytes | None:
        path = self._path(shred_id)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise KeyringError(f"cannot open shred secret {path}: {exc.strerror}") from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or stat.S_IMODE(info.st_mode) & 0o077:
                raise KeyringError(f"refusing shred secret {path}: not an owner-only file")
            raw = os.read(fd, _MAX_FILE_BYTES)
        finally:
            os.close(fd)
        return self._open(shred_id, path, raw)

    def _open(self, shred_id: ShredId, path: Path, raw: bytes) -> bytes | None:
        if not raw.strip(b"\0 \n"):
            return None  # overwritten by a destroy that was interrupted before unlink
        try:
            doc = json.loads(raw)
            if (
                not isinstance(doc, dict)
                or doc.get("format") != _FILE_FORMAT
                or doc.get("format_version") != _FILE_FORMAT_VERSION
            ):
                raise ValueError("not a shred secret")
            version = doc["kek_version"]
            wrapped = base64.b64decode(str(doc["wrapped"]), validate=True)
            if isinstance(version, bool) or not isinstance(version, int):
                raise ValueError("bad key version")
        except (ValueError, KeyError, binascii.Error):
            raise KeyringError(f"shred secret {path} is corrupt") from None
        return self._keyring.unwrap_data_key(
            shred_id.purpose, version, wrapped, _SECRET_CONTEXT + shred_id.name.encode()
        )

    def destroy(self, shred_id: ShredId) -> bool:
        path = self._path(shred_id)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise KeyringError(f"cannot destroy shred secret {path}: {exc.strerror}") from None
        try:
            size = os.fstat(fd).st_size
            os.write(fd, b"\0" * size)
            os.fsync(fd)
        finally:
            os.close(fd)
        with suppress(FileNotFoundError):
            path.unlink()
        _fsync_directory(self._directory)
        return True

    def exists(self, shred_id: ShredId) -> bool:
        return self.get(shred_id) is not None


def _write_new(path: Path, data: bytes) -> None:
    """Write ``path`` once, 0600 from the first byte; FileExistsError if it exists."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.link(tmp, path)
    except OSError as exc:
        if isinstance(exc, FileExistsError):
            raise
        raise KeyringError(f"cannot write shred secret {path}: {exc.strerror}") from None
    finally:
        with suppress(OSError):
            tmp.unlink()
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    with suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# ---- binding a wrapped data key to a secret ------------------------------------------------


def is_bound(wrapped: bytes) -> bool:
    """True for a wrapped key bound to a shred secret; False for a legacy one."""
    return (
        len(wrapped) == BOUND_WRAPPED_BYTES
        and wrapped[:4] == BOUND_MAGIC
        and wrapped[4] == BOUND_FORMAT
    )


def _binding_key(secret: bytes, purpose: KeyPurpose) -> bytes:
    info = _BINDING_INFO + KeyPurpose(purpose).value.encode("ascii")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)


def _binding_aad(header: bytes, purpose: KeyPurpose, context: bytes) -> bytes:
    return header + KeyPurpose(purpose).value.encode("ascii") + b"|" + context


def bind_wrapped(secret: bytes, purpose: KeyPurpose, inner: bytes, context: bytes) -> bytes:
    """Seal a keyring-wrapped data key under the binding key of ``secret``."""
    if len(inner) != _LEGACY_WRAPPED_BYTES:
        raise ValueError("only a keyring-wrapped data key can be bound")
    header = BOUND_MAGIC + bytes([BOUND_FORMAT]) + secrets.token_bytes(_NONCE_BYTES)
    sealed = AESGCM(_binding_key(secret, purpose)).encrypt(
        header[-_NONCE_BYTES:], inner, _binding_aad(header, purpose, context)
    )
    return header + sealed


def unbind_wrapped(secret: bytes, purpose: KeyPurpose, bound: bytes, context: bytes) -> bytes:
    """Return the keyring-wrapped data key inside ``bound``; raises ``DecryptionError``."""
    if not is_bound(bound):
        raise DecryptionError("not a shred-bound wrapped key")
    header = bound[:_BOUND_HEADER_BYTES]
    try:
        return AESGCM(_binding_key(secret, purpose)).decrypt(
            header[-_NONCE_BYTES:],
            bound[_BOUND_HEADER_BYTES:],
            _binding_aad(header, purpose, context),
        )
    except InvalidTag:
        raise DecryptionError(
            "cannot open the shred binding: wrong secret, wrong record, or tampered data"
        ) from None
