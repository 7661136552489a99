"""Custodia standalone custody-log verifier.

This single file lets anyone -- a defence expert, a court, a journalist -- check Custodia's
chain-of-custody evidence without trusting or even installing the Custodia service. It
depends only on the Python standard library and the ``cryptography`` package (for Ed25519),
and it deliberately shares no code with the service: it is a second, independent
implementation of the same public specifications, so a bug in one is caught by the other.

Specifications implemented
--------------------------
* RFC 9162 §2.1 (Certificate Transparency 2.0) Merkle tree hashing:
  leaf hash = SHA-256(0x00 || data), node hash = SHA-256(0x01 || left || right).
* RFC 9162 §2.1.3.2 inclusion-proof verification and §2.1.4.2 consistency-proof
  verification, written out step by step as the RFC states them.
* c2sp.org/signed-note (Ed25519 signatures, key IDs, verifier keys) and
  c2sp.org/tlog-checkpoint (origin, tree size, base64 root hash).

Usage
-----
::

    python -m verifier.custodia_verifier inclusion PROOF.json --checkpoint CKPT.txt --key VKEY
    python -m verifier.custodia_verifier consistency PROOF.json --old CKPT1 --new CKPT2 --key VKEY

``VKEY`` is the log's verifier key, ``name+keyid+base64key`` (the format of Go's
``golang.org/x/mod/sumdb/note``), or ``@FILE`` to read it from a file. ``--key`` may be
repeated (e.g. across a key rotation); a checkpoint must carry a valid signature from at
least one given key, and any signature by a given key must be valid. ``--origin NAME``
additionally requires the checkpoints to come from the log with that origin line.

Checkpoint files are signed notes, byte for byte as the log served them.

Proof files (JSON)
------------------
Inclusion proof -- "this event is in the log"::

    {
      "leaf_index": 5,                 # 0-based position of the event in the log
      "tree_size": 8,                  # size of the tree the proof is for
      "leaf_hash": "<hex>",            # RFC 9162 leaf hash of the event
      "leaf_data": "<base64>",         # optional: the leaf bytes; if present the leaf
                                       # hash is recomputed from them and must match
      "proof": ["<hex>", ...],         # inclusion path, bottom-up
      "root_hash": "<hex>"             # root of the tree of size tree_size
    }

Consistency proof -- "the newer log extends the older one; nothing was rewritten"::

    {
      "first": 6, "second": 8,         # older and newer tree sizes, 0 < first <= second
      "first_root": "<hex>", "second_root": "<hex>",
      "proof": ["<hex>", ...]          # consistency path, RFC 9162 order
    }

``tree_size``/``root_hash`` (resp. ``first``/``first_root`` and ``second``/
``second_root``) must equal the size and root of the signed checkpoint(s), and for a
consistency proof both checkpoints must have the same origin. Equal sizes are accepted
only with an empty proof and identical roots.

Exit status
-----------
* 0 -- everything verified; a one-line summary is printed.
* 1 -- verification failed; the message names the check that failed. Malformed evidence
  (a proof or checkpoint file that cannot be parsed) is also a failure: it proves nothing.
* 2 -- usage error: bad arguments, an unparsable ``--key``, or a file that cannot be read.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

HASH_SIZE = 32
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class VerificationError(Exception):
    """The evidence does not prove what it claims; the message says which check failed."""


class UsageError(Exception):
    """The verifier was invoked wrongly (arguments, key, unreadable file)."""


# ======================================================================================
# Merkle hashing (RFC 9162 §2.1.1)
# ======================================================================================


def leaf_hash(data: bytes) -> bytes:
    """Hash of a leaf: SHA-256 of a zero byte followed by the leaf data."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash of an interior node: SHA-256 of a one byte followed by both child hashes."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _require_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise VerificationError(f"{what} must be {HASH_SIZE} bytes, got {len(value)}")


def _equal(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


# ======================================================================================
# Inclusion proof verification, RFC 9162 §2.1.3.2, step by step
# ======================================================================================


def verify_inclusion(
    leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Return None if ``proof`` shows leaf hash ``leaf`` at ``index`` under ``root``.

    Raises VerificationError otherwise. Step numbers follow RFC 9162 §2.1.3.2.
    """
    _require_hash(leaf, "leaf hash")
    _require_hash(root, "root hash")
    for i, p in enumerate(proof):
        _require_hash(p, f"inclusion proof element {i}")
    # Step 1: the index must lie inside the tree.
    if index < 0 or tree_size <= 0 or index >= tree_size:
        raise VerificationError(f"leaf index {index} is not inside a tree of size {tree_size}")
    # Step 2.
    fn, sn = index, tree_size - 1
    # Step 3.
    r = leaf
    # Step 4.
    for p in proof:
        # 4a: a proof longer than the path is invalid.
        if sn == 0:
            raise VerificationError("inclusion proof has more elements than the tree path")
        # 4b.
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        # 4c.
        fn >>= 1
        sn >>= 1
    # Step 5.
    if sn != 0:
        raise VerificationError("inclusion proof has fewer elements than the tree path")
    if not _equal(r, root):
        raise VerificationError(
            f"inclusion proof for leaf {index} does not lead to the root of the tree of "
            f"size {tree_size}"
        )


# ======================================================================================
# Consistency proof verification, RFC 9162 §2.1.4.2, step by step
# ======================================================================================


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> None:
    """Return None if ``proof`` shows the tree of size ``first`` is a prefix of ``second``.

    Raises VerificationError otherwise. The RFC covers 0 < first < second; for
    first == second we accept only an empty proof with identical roots, and first == 0
    is refused because an empty tree commits to nothing.
    """
    _require_hash(first_root, "first root hash")
    _require_hash(second_root, "second root hash")
    for i, p in enumerate(proof):
        _require_hash(p, f"consistency proof element {i}")
    if first <= 0:
        raise VerificationError(f"first tree size must be greater than 0, got {first}")
    if first > second:
        raise VerificationError(f"first tree size {first} is larger than second size {second}")
    if first == second:
        if proof:
            raise VerificationError("equal tree sizes must come with an empty proof")
        if not _equal(first_root, second_root):
            raise VerificationError(f"two different roots for the same tree size {first}")
        return
    # Step 1.
    if not proof:
        raise VerificationError("consistency proof is empty")
    path = list(proof)
    # Step 2: when the old tree is a perfect tree its root is the starting node.
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    # Step 3.
    fn, sn = first - 1, second - 1
    # Step 4.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # Step 5.
    fr = sr = path[0]
    # Step 6.
    for c in path[1:]:
        # 6a.
        if sn == 0:
            raise VerificationError("consistency proof has more elements than needed")
        # 6b.
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        # 6c.
        fn >>= 1
        sn >>= 1
    # Step 7.
    if sn != 0:
        raise VerificationError("consistency proof has fewer elements than needed")
    if not _equal(fr, first_root):
        raise VerificationError(
            f"consistency proof does not reproduce the root of the older tree (size {first})"
        )
    if not _equal(sr, second_root):
        raise VerificationError(
            f"consistency proof does not reproduce the root of the newer tree (size {second})"
        )


# ======================================================================================
# Signed notes (c2sp.org/signed-note) and checkpoints (c2sp.org/tlog-checkpoint)
# ======================================================================================


@dataclass(frozen=True)
class NoteKey:
    """An Ed25519 verifier key for signed notes."""

    name: str
    key_id: int
    public_key: bytes  # 32 raw bytes


def _strict_b64(value: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError) as exc:
        raise VerificationError(f"{what} is not valid base64") from exc
    if base64.b64encode(raw).decode("ascii") != value:
        raise VerificationError(f"{what} is not canonical base64")
    return raw


def _valid_key_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(c.isspace() or c < " " for c in name)


def note_key_id(name: str, public_key: bytes) -> int:
    """Key ID = first 4 bytes (big-endian) of SHA-256(name || 0x0A || 0x01 || public key)."""
    digest = hashlib.sha256(name.encode("utf-8") + b"\n\x01" + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def parse_vkey(vkey: str) -> NoteKey:
    """Parse ``name+keyid+base64(0x01 || public key)`` and check the key ID matches."""
    parts = vkey.strip().split("+", 2)  # names never contain '+'; base64 keys may
    if len(parts) != 3:
        raise UsageError("verifier key must look like name+keyid+base64key")
    name, hex_id, b64 = parts
    if not _valid_key_name(name):
        raise UsageError(f"verifier key name {name!r} is not valid")
    if not re.fullmatch(r"[0-9a-f]{8}", hex_id):
        raise UsageError("verifier key ID must be 8 lowercase hex digits")
    try:
        blob = _strict_b64(b64, "verifier key")
    except VerificationError as exc:
        raise UsageError(str(exc)) from exc
    if len(blob) != 33 or blob[0] != 0x01:
        raise UsageError("verifier key is not an Ed25519 key (type byte 0x01, 32 bytes)")
    key = NoteKey(name, int(hex_id, 16), blob[1:])
    if note_key_id(name, key.public_key) != key.key_id:
        raise UsageError("verifier key ID does not match the key")
    return key


def verify_signed_note(note: str, keys: Sequence[NoteKey]) -> str:
    """Return the note text if it bears a valid signature by one of ``keys``.

    Signature lines from other keys are ignored (the spec requires this, so witnesses can
    co-sign); a bad signature from one of ``keys`` fails the whole note.
    """
    for ch in note:
        if ch < " " and ch != "\n":
            raise VerificationError("note contains a control character")
    if not note.endswith("\n"):
        raise VerificationError("note does not end with a newline")
    cut = note.rfind("\n\n")
    if cut < 0:
        raise VerificationError("note has no blank line separating text and signatures")
    text = note[: cut + 1]
    lines = note[cut + 2 : -1].split("\n") if note[cut + 2 :] else []
    if not lines:
        raise VerificationError("note has no signature lines")
    if len(lines) > 100:
        raise VerificationError("note has too many signature lines")
    by_slot = {(k.name, k.key_id): k for k in keys}
    good = 0
    for line in lines:
        if not line.startswith("\u2014 "):
            raise VerificationError("signature line does not start with an em dash and space")
        fields = line[2:].split(" ")
        if len(fields) != 2 or not _valid_key_name(fields[0]):
            raise VerificationError("signature line is malformed")
        blob = _strict_b64(fields[1], "signature")
        if len(blob) < 5:
            raise VerificationError("signature is too short")
        key = by_slot.get((fields[0], int.from_bytes(blob[:4], "big")))
        if key is None:
            continue
        try:
            Ed25519PublicKey.from_public_bytes(key.public_key).verify(
                blob[4:], text.encode("utf-8")
            )
        except InvalidSignature as exc:
            raise VerificationError(f"signature by key {key.name} is INVALID") from exc
        good += 1
    if good == 0:
        raise VerificationError("note is not signed by any of the given keys")
    return text


@dataclass(frozen=True)
class Checkpoint:
    """The verified body of a checkpoint."""

    origin: str
    size: int
    root_hash: bytes


def parse_checkpoint_text(text: str) -> Checkpoint:
    """Parse checkpoint lines: origin, decimal size, base64 root hash, optional extensions."""
    lines = text[:-1].split("\n") if text.endswith("\n") else []
    if len(lines) < 3:
        raise VerificationError("checkpoint must have origin, size and root hash lines")
    origin, size, root_b64 = lines[0], lines[1], lines[2]
    if not origin:
        raise VerificationError("checkpoint origin is empty")
    if not re.fullmatch(r"0|[1-9][0-9]*", size):
        raise VerificationError("checkpoint size is not a plain decimal number")
    root_hash = _strict_b64(root_b64, "checkpoint root hash")
    _require_hash(root_hash, "checkpoint root hash")
    if any(not ext for ext in lines[3:]):
        raise VerificationError("checkpoint has an empty extension line")
    return Checkpoint(origin, int(size), root_hash)


def verify_checkpoint(note: str, keys: Sequence[NoteKey], origin: str | None) -> Checkpoint:
    """Check the checkpoint's signature, then parse it, then (optionally) its origin."""
    checkpoint = parse_checkpoint_text(verify_signed_note(note, keys))
    if origin is not None and checkpoint.origin != origin:
        raise VerificationError(
            f"checkpoint origin {checkpoint.origin!r} is not the expected {origin!r}"
        )
    return checkpoint


# ======================================================================================
# Proof files
# ======================================================================================


def _field(doc: dict[str, Any], name: str, kind: type) -> Any:
    if name not in doc:
        raise VerificationError(f"proof file has no {name!r} field")
    value = doc[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise VerificationError(f"proof field {name!r} must be a {kind.__name__}")
    return value


def _hex_field(doc: dict[str, Any], name: str) -> bytes:
    value = _field(doc, name, str)
    if not re.fullmatch(r"(?:[0-9a-fA-F]{2})*", value):
        raise VerificationError(f"proof field {name!r} is not hex")
    raw = bytes.fromhex(value)
    _require_hash(raw, f"proof field {name!r}")
    return raw


def _proof_list(doc: dict[str, Any]) -> list[bytes]:
    items = _field(doc, "proof", list)
    result: list[bytes] = []
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise VerificationError(f"proof element {i} must be a hex string")
        result.append(_hex_field({"proof element": item}, "proof element"))
    return result


def _load_json(path: str) -> dict[str, Any]:
    text = _read(path)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise VerificationError(f"proof file {path} is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise VerificationError(f"proof file {path} must contain a JSON object")
    return doc


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise VerificationError(f"{path} is not UTF-8 text") from exc
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc


def check_inclusion_file(
    proof_path: str, checkpoint_path: str, keys: Sequence[NoteKey], origin: str | None
) -> str:
    """Verify an inclusion proof file against a signed checkpoint; return a summary."""
    checkpoint = verify_checkpoint(_read(checkpoint_path), keys, origin)
    doc = _load_json(proof_path)
    index = _field(doc, "leaf_index", int)
    size = _field(doc, "tree_size", int)
    leaf = _hex_field(doc, "leaf_hash")
    root = _hex_field(doc, "root_hash")
    proof = _proof_list(doc)
    if "leaf_data" in doc:
        data_b64 = _field(doc, "leaf_data", str)
        if not _equal(leaf_hash(_strict_b64(data_b64, "leaf_data")), leaf):
            raise VerificationError("leaf_data does not hash to leaf_hash")
    if size != checkpoint.size:
        raise VerificationError(
            f"proof is for tree size {size} but the checkpoint is for size {checkpoint.size}"
        )
    if not _equal(root, checkpoint.root_hash):
        raise VerificationError("proof root_hash differs from the signed checkpoint's root")
    verify_inclusion(leaf, index, size, proof, checkpoint.root_hash)
    where = f"{checkpoint.origin} at tree size {size}"
    return f"OK: leaf {index} ({leaf.hex()}) is included in {where}"


def check_consistency_file(
    proof_path: str, old_path: str, new_path: str, keys: Sequence[NoteKey], origin: str | None
) -> str:
    """Verify a consistency proof file between two signed checkpoints; return a summary."""
    old = verify_checkpoint(_read(old_path), keys, origin)
    new = verify_checkpoint(_read(new_path), keys, origin)
    if old.origin != new.origin:
        raise VerificationError(
            f"checkpoints come from different logs: {old.origin!r} and {new.origin!r}"
        )
    doc = _load_json(proof_path)
    first = _field(doc, "first", int)
    second = _field(doc, "second", int)
    first_root = _hex_field(doc, "first_root")
    second_root = _hex_field(doc, "second_root")
    proof = _proof_list(doc)
    if first != old.size or not _equal(first_root, old.root_hash):
        raise VerificationError("proof 'first'/'first_root' differ from the old checkpoint")
    if second != new.size or not _equal(second_root, new.root_hash):
        raise VerificationError("proof 'second'/'second_root' differ from the new checkpoint")
    verify_consistency(first, second, old.root_hash, new.root_hash, proof)
    return f"OK: {old.origin} at size {second} extends its tree at size {first}"


# ======================================================================================
# Command line
# ======================================================================================


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"usage error: {message}\n")


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m verifier.custodia_verifier",
        description="Verify Custodia custody-log proofs against signed checkpoints.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    inc = sub.add_parser("inclusion", help="check that an event is in the log")
    inc.add_argument("proof", help="inclusion proof JSON file")
    inc.add_argument("--checkpoint", required=True, help="signed checkpoint file")
    con = sub.add_parser("consistency", help="check that the log only grew between two points")
    con.add_argument("proof", help="consistency proof JSON file")
    con.add_argument("--old", required=True, help="signed checkpoint of the older tree")
    con.add_argument("--new", required=True, help="signed checkpoint of the newer tree")
    for p in (inc, con):
        p.add_argument(
            "--key",
            action="append",
            required=True,
            help="log verifier key name+keyid+base64, or @FILE (repeatable)",
        )
        p.add_argument("--origin", help="require checkpoints to carry this origin line")
    return parser


def _load_keys(specs: Sequence[str]) -> list[NoteKey]:
    keys = []
    for spec in specs:
        text = _read(spec[1:]) if spec.startswith("@") else spec
        keys.append(parse_vkey(text))
    return keys


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 1 failed verification, 2 usage)."""
    args = _build_parser().parse_args(argv)
    try:
        keys = _load_keys(args.key)
        if args.command == "inclusion":
            summary = check_inclusion_file(args.proof, args.checkpoint, keys, args.origin)
        else:
            summary = check_consistency_file(args.proof, args.old, args.new, keys, args.origin)
    except UsageError as exc:
        print(f"usage error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except VerificationError as exc:
        print(f"VERIFICATION FAILED: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(summary)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
