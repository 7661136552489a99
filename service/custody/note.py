"""C2SP signed notes and tlog checkpoints for the custody log.

A checkpoint (c2sp.org/tlog-checkpoint) states "the log with this origin had this many
leaves and this root"; signing it as a note (c2sp.org/signed-note) with Ed25519 makes it
evidence that anyone holding the log's verifier key can check, with tools that already
exist for Go's sumdb, Sigstore and other transparency logs.

Parsing is strict and fails closed: anything malformed raises :class:`NoteError` rather
than being repaired, because a note that two parsers read differently is worthless in court.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = [
    "ALG_ED25519",
    "MAX_SIGNATURES",
    "Checkpoint",
    "NoteError",
    "VerifierKey",
    "encode_verifier_key",
    "key_id",
    "parse_verifier_key",
    "sign_checkpoint",
    "sign_note",
    "verify_checkpoint",
    "verify_note",
]

ALG_ED25519 = 0x01
"""Signature type byte for Ed25519 (c2sp.org/signed-note, "Signature types")."""

MAX_SIGNATURES = 100
"""Upper bound on signature lines; the spec requires accepting at least 16."""

_EM_DASH = "\u2014"
_SIG_PREFIX = _EM_DASH + " "
_ED25519_SIG_SIZE = 64
_HASH_SIZE = 32
_SIZE_RE = re.compile(r"0|[1-9][0-9]*")
_HEX8_RE = re.compile(r"[0-9a-f]{8}")


class NoteError(Exception):
    """A note, checkpoint or key is malformed, or its signatures do not verify."""


# --------------------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------------------


def _check_key_name(name: str) -> None:
    """Key names are non-empty and free of Unicode spaces and '+', so vkeys split cleanly."""
    if not name:
        raise NoteError("key name must not be empty")
    if any(ch.isspace() for ch in name) or "+" in name:
        raise NoteError(f"key name {name!r} must not contain spaces or '+'")
    _check_chars(name, "key name")


def _check_chars(text: str, what: str) -> None:
    """Valid UTF-8 and no ASCII control characters other than newline (spec, "Format")."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise NoteError(f"{what} is not valid UTF-8") from exc
    for ch in text:
        if ch < " " and ch != "\n":
            raise NoteError(f"{what} contains control character U+{ord(ch):04X}")


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise NoteError("note text must end with a newline")
    _check_chars(text, "note text")


def _b64decode(value: str, what: str) -> bytes:
    """Strict standard base64: padded, no stray characters, canonical trailing bits."""
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError) as exc:
        raise NoteError(f"{what} is not valid base64") from exc
    if base64.b64encode(raw).decode("ascii") != value:
        raise NoteError(f"{what} is not canonical base64")
    return raw


def _b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _raw_public(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


# --------------------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------------------


def key_id(name: str, public_key: Ed25519PublicKey) -> int:
    """uint32 key ID = SHA-256(name || 0x0A || 0x01 || pubkey)[:4], big-endian."""
    _check_key_name(name)
    digest = hashlib.sha256(
        name.encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + _raw_public(public_key)
    ).digest()
    return int.from_bytes(digest[:4], "big")


@dataclass(frozen=True)
class VerifierKey:
    """A trusted Ed25519 note key: the (name, key ID) pair selects it, the key checks it."""

    name: str
    key_id: int
    public_key: Ed25519PublicKey

    def __post_init__(self) -> None:
        if key_id(self.name, self.public_key) != self.key_id:
            raise NoteError(f"key ID {self.key_id:08x} does not match key {self.name!r}")

    @classmethod
    def from_public_key(cls, name: str, public_key: Ed25519PublicKey) -> VerifierKey:
        """Build a verifier key, deriving its key ID as the spec recommends."""
        return cls(name, key_id(name, public_key), public_key)

    def encode(self) -> str:
        """The ``name+keyid+base64(0x01||pubkey)`` text form shared with Go's note tools."""
        blob = bytes([ALG_ED25519]) + _raw_public(self.public_key)
        return f"{self.name}+{self.key_id:08x}+{_b64encode(blob)}"


def encode_verifier_key(name: str, public_key: Ed25519PublicKey) -> str:
    """Encode a public key as a vkey string to hand to verifiers and the court."""
    return VerifierKey.from_public_key(name, public_key).encode()


def parse_verifier_key(vkey: str) -> VerifierKey:
    """Parse and self-check a vkey; a key ID that does not match its key is rejected."""
    parts = vkey.split("+", 2)  # the name has no '+', the base64 key may
    if len(parts) != 3:
        raise NoteError("verifier key must have the form name+keyid+key")
    name, hex_id, b64_key = parts
    _check_key_name(name)
    if not _HEX8_RE.fullmatch(hex_id):
        raise NoteError("verifier key ID must be 8 lowercase hex digits")
    blob = _b64decode(b64_key, "verifier key")
    if len(blob) != 1 + _HASH_SIZE or blob[0] != ALG_ED25519:
        raise NoteError("verifier key is not an Ed25519 (type 0x01) key")
    public_key = Ed25519PublicKey.from_public_bytes(blob[1:])
    return VerifierKey(name, int(hex_id, 16), public_key)


# --------------------------------------------------------------------------------------
# Signed notes
# --------------------------------------------------------------------------------------


def sign_note(text: str, key_name: str, private_key: Ed25519PrivateKey) -> str:
    """Sign ``text`` as a single-signature note: text, blank line, one signature line."""
    _check_text(text)
    _check_key_name(key_name)
    kid = key_id(key_name, private_key.public_key())
    signature = private_key.sign(text.encode("utf-8"))
    blob = kid.to_bytes(4, "big") + signature
    return f"{text}\n{_SIG_PREFIX}{key_name} {_b64encode(blob)}\n"


@dataclass(frozen=True)
class _SignatureLine:
    name: str
    key_id: int
    signature: bytes


def _split_note(note: str) -> tuple[str, list[_SignatureLine]]:
    """Split at the last blank line into text and parsed signature lines."""
    _check_chars(note, "note")
    if not note.endswith("\n"):
        raise NoteError("note must end with a newline")
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("note has no blank line before its signatures")
    text, sig_block = note[: split + 1], note[split + 2 :]
    lines = sig_block[:-1].split("\n") if sig_block else []
    if not lines:
        raise NoteError("note has no signature lines")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"note has more than {MAX_SIGNATURES} signatures")
    parsed: list[_SignatureLine] = []
    for number, line in enumerate(lines, start=1):
        if not line.startswith(_SIG_PREFIX):
            raise NoteError(f"signature line {number} does not start with an em dash and space")
        fields = line[len(_SIG_PREFIX) :].split(" ")
        if len(fields) != 2:
            raise NoteError(f"signature line {number} must be '— <name> <signature>'")
        name, b64_sig = fields
        _check_key_name(name)
        blob = _b64decode(b64_sig, f"signature line {number}")
        if len(blob) < 5:
            raise NoteError(f"signature line {number} is too short")
        parsed.append(_SignatureLine(name, int.from_bytes(blob[:4], "big"), blob[4:]))
    return text, parsed


def verify_note(note: str, verifier_keys: Iterable[VerifierKey]) -> str:
    """Return the note text if a known key signed it and no known key's signature is bad.

    Signatures from keys we do not know (name and ID not both matching) are ignored, as
    the spec requires; a failing signature from a known key rejects the whole note.
    """
    known: dict[tuple[str, int], VerifierKey] = {}
    for key in verifier_keys:
        slot = (key.name, key.key_id)
        other = known.get(slot)
        if other is not None and _raw_public(other.public_key) != _raw_public(key.public_key):
            raise NoteError(f"ambiguous verifier keys for {key.name}+{key.key_id:08x}")
        known[slot] = key
    if not known:
        raise NoteError("no verifier keys given")
    text, signatures = _split_note(note)
    verified = 0
    message = text.encode("utf-8")
    for sig in signatures:
        signer = known.get((sig.name, sig.key_id))
        if signer is None:
            continue
        if len(sig.signature) != _ED25519_SIG_SIZE:
            raise NoteError(f"signature by {sig.name}+{sig.key_id:08x} has the wrong length")
        try:
            signer.public_key.verify(sig.signature, message)
        except InvalidSignature as exc:
            raise NoteError(f"invalid signature by {sig.name}+{sig.key_id:08x}") from exc
        verified += 1
    if verified == 0:
        raise NoteError("note has no signature from a known key")
    return text


# --------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """A tlog checkpoint body: origin, tree size, root hash and optional extension lines."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise NoteError("checkpoint origin must be one non-empty line")
        _check_chars(self.origin, "checkpoint origin")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 0:
            raise NoteError("checkpoint size must be a non-negative integer")
        if len(self.root_hash) != _HASH_SIZE:
            raise NoteError(f"checkpoint root hash must be {_HASH_SIZE} bytes")
        for ext in self.extensions:
            if not ext or "\n" in ext:
                raise NoteError("checkpoint extension lines must be single non-empty lines")
            _check_chars(ext, "checkpoint extension")

    def to_text(self) -> str:
        """The exact note text that gets signed."""
        lines = [self.origin, str(self.size), _b64encode(self.root_hash), *self.extensions]
        return "\n".join(lines) + "\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Parse checkpoint note text (not a signed note: verify it first)."""
        if not text.endswith("\n"):
            raise NoteError("checkpoint text must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise NoteError("checkpoint needs origin, size and root hash lines")
        origin, size_line, root_line, *extensions = lines
        if not _SIZE_RE.fullmatch(size_line):
            raise NoteError("checkpoint size must be decimal without leading zeros")
        root_hash = _b64decode(root_line, "checkpoint root hash")
        return cls(origin, int(size_line), root_hash, tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, key_name: str, private_key: Ed25519PrivateKey) -> str:
    """Sign a checkpoint as a note; the key name SHOULD equal the origin (tlog-checkpoint)."""
    return sign_note(checkpoint.to_text(), key_name, private_key)


def verify_checkpoint(
    note: str, verifier_keys: Iterable[VerifierKey], expected_origin: str
) -> Checkpoint:
    """Verify a signed checkpoint and insist it comes from the log we expect."""
    checkpoint = Checkpoint.parse(verify_note(note, verifier_keys))
    if checkpoint.origin != expected_origin:
        raise NoteError(
            f"checkpoint origin {checkpoint.origin!r} is not the expected {expected_origin!r}"
        )
    return checkpoint
