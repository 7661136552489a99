"""Offline verification of an export bag: no database, no network, no Custodia server.

Imports only the standard library, ``cryptography`` and the pure Merkle and signed-note
code, so a recipient can run it on an air-gapped machine. Checks run in an order that
names the file at fault: the signature over ``tagmanifest-sha256.txt`` first (it anchors
everything), then the tag manifests, the inventory of files, the payload manifests and
Payload-Oxum, and finally the custody evidence: every event hashes to its leaf, every
inclusion proof reaches the signed checkpoint, the checkpoint signature holds, the
consistency proof from the preceding checkpoint holds, and every payload file's hash is
the one its ``export.package`` custody event recorded. The first failure raises
:class:`BagVerificationError` naming the file.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import io
import json
import lzma
import os
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from service.custody.merkle import ProofError, leaf_hash, verify_consistency, verify_inclusion
from service.custody.note import NoteError, VerifierKey, parse_verifier_key, verify_checkpoint

SIGNATURE_FILE = "signature/tagmanifest-sha256.txt.sig"
SIGNER_KEY_FILE = "signature/signer-ed25519.pub.pem"
TAGMANIFEST = "tagmanifest-sha256.txt"
ALGORITHMS = ("sha256", "sha512")
CUSTODY_FILES = (
    "custody/events.jsonl",
    "custody/inclusion-proofs.json",
    "custody/checkpoint.txt",
    "custody/previous-checkpoint.txt",
    "custody/consistency-proof.json",
    "custody/log.vkey",
)
Progress = Callable[[str, int, int], None]


class BagVerificationError(Exception):
    """The bag does not prove what it claims; ``path`` names the file at fault."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


@dataclass
class BagReport:
    export_id: str
    payload_files: int
    testimonies: int
    events: int
    checkpoint_size: int
    previous_checkpoint_size: int
    signer_trusted: bool
    warnings: list[str] = field(default_factory=list)
    bag_info: dict[str, str] = field(default_factory=dict)
    signer_public_key: str = ""
    """The raw Ed25519 key that signed the tag manifest, in hex."""


def load_public_key(spec: str) -> Ed25519PublicKey:
    """A PEM file, or a signed-note verifier key (``name+keyid+base64``, or ``@FILE``)."""
    text = spec
    if spec.startswith("@") or Path(spec).is_file():
        text = Path(spec.removeprefix("@")).read_text(encoding="utf-8")
    return parse_public_key(text)


def parse_public_key(text: str) -> Ed25519PublicKey:
    """A pasted PEM public key or verifier key (``name+keyid+base64``); never reads a file,
    so it is safe on text a web form sent. Raises ValueError for anything else."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        try:
            key = load_pem_public_key(text.encode("ascii"))
        except UnsupportedAlgorithm:
            raise ValueError("the key is not an Ed25519 public key") from None
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("the key is not an Ed25519 public key")
        return key
    try:
        return parse_verifier_key(text).public_key
    except NoteError as error:
        raise ValueError(f"not a PEM public key or a verifier key: {error}") from None


# Payload files are hashed on a few threads: hashlib releases the GIL while it hashes, so
# a bag of large attachments verifies at the speed of the disk and the cores, not of one core.
HASH_THREADS = max(1, min(4, os.cpu_count() or 1))


def _sha(path: Path, algorithms: tuple[str, ...]) -> dict[str, str]:
    """Every digest of ``algorithms`` over the file, which is read once."""
    digests = [hashlib.new(a) for a in algorithms]
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            for digest in digests:
                digest.update(chunk)
    return {a: d.hexdigest() for a, d in zip(algorithms, digests, strict=True)}


def _same_hex(a: str, b: str) -> bool:
    return hmac.compare_digest(a.lower(), b.lower())


class _Bag:
    """The files of an extracted bag directory."""

    def __init__(self, root: Path, progress: Progress | None) -> None:
        self.root = root
        self.progress = progress or (lambda _step, _done, _total: None)

    def file(self, name: str) -> Path:
        path = self.root / name
        if not path.is_file():
            raise BagVerificationError(name, "missing")
        return path

    def data(self, name: str) -> bytes:
        return self.file(name).read_bytes()

    def digests(self, name: str, algorithms: tuple[str, ...] = ALGORITHMS) -> dict[str, str]:
        return _sha(self.file(name), algorithms)

    def size(self, name: str) -> int:
        return self.file(name).stat().st_size

    def text(self, name: str) -> str:
        try:
            return self.file(name).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise BagVerificationError(name, "is not UTF-8 text") from None

    def json(self, name: str) -> Any:
        try:
            return json.loads(self.text(name))
        except json.JSONDecodeError as error:
            raise BagVerificationError(name, f"is not valid JSON ({error.msg})") from None

    def manifest(self, name: str) -> dict[str, str]:
        entries: dict[str, str] = {}
        for number, line in enumerate(self.text(name).splitlines(), 1):
            digest, sep, path = line.partition(" ")
            path = path.strip()
            if not sep or not digest or not path or path in entries:
                raise BagVerificationError(name, f"line {number} is malformed")
            if path.startswith("/") or ".." in path.split("/"):
                raise BagVerificationError(name, f"line {number} names a path outside the bag")
            entries[path] = digest
        return entries

    def all_files(self) -> list[str]:
        return sorted(
            p.relative_to(self.root).as_posix()
            for p in self.root.rglob("*")
            if p.is_file() or p.is_symlink()
        )


class _MemoryBag(_Bag):
    """The files of a bag held in memory (``name -> bytes``), e.g. a tar read for import."""

    def __init__(self, files: Mapping[str, bytes], progress: Progress | None) -> None:
        super().__init__(Path(), progress)
        self.files = files

    def data(self, name: str) -> bytes:
        if name not in self.files:
            raise BagVerificationError(name, "missing")
        return self.files[name]

    def digests(self, name: str, algorithms: tuple[str, ...] = ALGORITHMS) -> dict[str, str]:
        data = self.data(name)
        return {a: hashlib.new(a, data).hexdigest() for a in algorithms}

    def size(self, name: str) -> int:
        return len(self.data(name))

    def text(self, name: str) -> str:
        try:
            text = self.data(name).decode("utf-8")
        except UnicodeDecodeError:
            raise BagVerificationError(name, "is not UTF-8 text") from None
        # What Path.read_text does with line ends, so both kinds of bag read alike.
        return text.replace("\r\n", "\n").replace("\r", "\n")

    def all_files(self) -> list[str]:
        return sorted(self.files)


class _TarBag(_Bag):
    """A bag read from a tar in one pass, never written to disk.

    Payload files (``data/``) are hashed as they stream past and only their digests and
    sizes are kept; tag files, which are small, are kept in memory for the checks that
    read them. So a tar verifies at the speed of reading and hashing it once, with memory
    that does not grow with the attachments.
    """

    MAX_TAG_FILE = 256 << 20

    def __init__(self, archive: str, progress: Progress | None) -> None:
        super().__init__(Path(), progress)
        self.archive = archive
        self.files: dict[str, bytes] = {}
        self.hashed: dict[str, tuple[dict[str, str], int]] = {}

    def read_tar(self, path: Path) -> None:
        """Raises BagVerificationError for anything but one directory of plain files."""
        try:
            with (
                tarfile.open(path, mode="r:*") as archive,
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="bag-hash") as helper,
            ):
                top = self._read_members(archive, path.stat().st_size, helper)
        except tarfile.TarError:
            raise BagVerificationError(
                self.archive, "is neither a bag directory nor a readable tar archive"
            ) from None
        if top is None:
            raise BagVerificationError(self.archive, "is an empty archive")

    def _read_members(
        self, archive: tarfile.TarFile, total: int, helper: ThreadPoolExecutor
    ) -> str | None:
        done, top = 0, None
        for member in _checked_members(archive):
            parts = PurePosixPath(member.name).parts
            if top is None:
                top = parts[0]
            if parts[0] != top or (member.isfile() and len(parts) < 2):
                raise BagVerificationError(
                    self.archive, "must hold exactly one top-level bag directory"
                )
            if not member.isfile():
                continue
            name = "/".join(parts[1:])
            if name in self.files or name in self.hashed:
                raise BagVerificationError(name, "appears twice in the tar archive")
            if member.issparse():
                raise BagVerificationError(name, "is a sparse tar member")
            handle = archive.extractfile(member)
            assert handle is not None  # a regular file always has one
            if name.startswith("data/"):
                chunks = _member_chunks(archive, member, handle)
                self.hashed[name] = (_sha_chunks(chunks, helper), member.size)
            elif member.size > self.MAX_TAG_FILE:
                raise BagVerificationError(name, "is too large for a tag file")
            else:
                self.files[name] = handle.read()
            done = min(total, done + member.size)
            self.progress("reading the archive (bytes)", done, total)
        return top

    def _entry(self, name: str) -> tuple[dict[str, str], int]:
        if name in self.hashed:
            return self.hashed[name]
        data = self.data(name)
        return {a: hashlib.new(a, data).hexdigest() for a in ALGORITHMS}, len(data)

    def data(self, name: str) -> bytes:
        if name not in self.files:
            raise BagVerificationError(name, "missing")
        return self.files[name]

    def digests(self, name: str, algorithms: tuple[str, ...] = ALGORITHMS) -> dict[str, str]:
        got = self._entry(name)[0]
        return {a: got[a] for a in algorithms}

    def size(self, name: str) -> int:
        return self._entry(name)[1]

    def text(self, name: str) -> str:
        try:
            text = self.data(name).decode("utf-8")
        except UnicodeDecodeError:
            raise BagVerificationError(name, "is not UTF-8 text") from None
        return text.replace("\r\n", "\n").replace("\r", "\n")

    def all_files(self) -> list[str]:
        return sorted(set(self.files) | set(self.hashed))


def _member_chunks(
    archive: tarfile.TarFile, member: tarfile.TarInfo, handle: IO[bytes]
) -> Iterator[bytes]:
    """The member's bytes in 1 MiB pieces: read straight from the file when the tar is not
    compressed (half the copying of ``extractfile``), else through ``handle``."""
    raw = archive.fileobj
    if not isinstance(raw, io.BufferedReader):
        while chunk := handle.read(1 << 20):
            yield chunk
        return
    fd, offset, left = raw.fileno(), member.offset_data, member.size
    while left > 0:
        chunk = os.pread(fd, min(left, 1 << 20), offset)
        if not chunk:
            raise BagVerificationError(member.name, "is cut short (truncated archive)")
        offset, left = offset + len(chunk), left - len(chunk)
        yield chunk


def _sha_chunks(chunks: Iterable[bytes], helper: ThreadPoolExecutor) -> dict[str, str]:
    """SHA-256 here and SHA-512 on ``helper`` at the same time, over one pass of the data."""
    sha256, sha512 = hashlib.sha256(), hashlib.sha512()
    pending: Future[None] | None = None
    for chunk in chunks:
        if pending is not None:
            pending.result()
        pending = helper.submit(sha512.update, chunk)
        sha256.update(chunk)
    if pending is not None:
        pending.result()
    return {"sha256": sha256.hexdigest(), "sha512": sha512.hexdigest()}


def _check_signature(bag: _Bag, trusted: Ed25519PublicKey | None) -> tuple[Ed25519PublicKey, bool]:
    pem = bag.data(SIGNER_KEY_FILE)
    try:
        embedded = load_pem_public_key(pem)
    except ValueError:
        raise BagVerificationError(SIGNER_KEY_FILE, "is not a PEM public key") from None
    if not isinstance(embedded, Ed25519PublicKey):
        raise BagVerificationError(SIGNER_KEY_FILE, "is not an Ed25519 key")
    if trusted is not None and embedded.public_bytes_raw() != trusted.public_bytes_raw():
        raise BagVerificationError(SIGNER_KEY_FILE, "is not the trusted key given with --key")
    key = trusted or embedded
    try:
        signature = base64.b64decode(bag.data(SIGNATURE_FILE).strip(), validate=True)
    except (binascii.Error, ValueError):
        raise BagVerificationError(SIGNATURE_FILE, "is not base64") from None
    try:
        key.verify(signature, bag.data(TAGMANIFEST))
    except InvalidSignature:
        raise BagVerificationError(
            f"{SIGNATURE_FILE} / {TAGMANIFEST}",
            "the Ed25519 signature over the tag manifest does not verify",
        ) from None
    return key, trusted is not None


def _check_tag_manifests(bag: _Bag) -> set[str]:
    listed = bag.manifest(TAGMANIFEST)
    other = bag.manifest("tagmanifest-sha512.txt")
    if set(other) != set(listed):
        raise BagVerificationError(
            "tagmanifest-sha512.txt", "lists other files than the sha256 one"
        )
    for number, (name, digest) in enumerate(sorted(listed.items()), 1):
        bag.progress("tag files", number, len(listed))
        if name.startswith("data/") or name.startswith("tagmanifest-"):
            raise BagVerificationError(TAGMANIFEST, f"lists {name}, which is not a tag file")
        got = bag.digests(name)
        if not _same_hex(got["sha256"], digest):
            raise BagVerificationError(name, "does not match its SHA-256 in the tag manifest")
        if not _same_hex(got["sha512"], other[name]):
            raise BagVerificationError(
                "tagmanifest-sha512.txt", f"its SHA-512 of {name} does not match the file"
            )
    required = {"bagit.txt", "bag-info.txt", *(f"manifest-{a}.txt" for a in ALGORITHMS)}
    for name in sorted(required | set(CUSTODY_FILES)):
        if name not in listed:
            raise BagVerificationError(name, "is not covered by the signed tag manifest")
    return set(listed)


def _check_inventory(bag: _Bag, tags: set[str], payload: set[str]) -> None:
    expected = tags | payload | {TAGMANIFEST, "tagmanifest-sha512.txt"}
    expected |= {SIGNATURE_FILE, SIGNER_KEY_FILE}
    present = set(bag.all_files())
    for name in sorted(present - expected):
        raise BagVerificationError(name, "is not listed in any manifest (added file)")
    for name in sorted(expected - present):
        raise BagVerificationError(name, "is listed in a manifest but missing")


def _bag_info(bag: _Bag) -> dict[str, str]:
    info: dict[str, str] = {}
    label = None
    for line in bag.text("bag-info.txt").splitlines():
        if line[:1] in (" ", "\t") and label:
            info[label] += " " + line.strip()
            continue
        label, sep, value = line.partition(":")
        if not sep:
            raise BagVerificationError("bag-info.txt", f"line {line[:40]!r} is not 'Label: value'")
        info.setdefault(label.strip(), value.strip())
        label = label.strip()
    return info


def _check_payload(bag: _Bag, info: dict[str, str]) -> dict[str, str]:
    manifests = {a: bag.manifest(f"manifest-{a}.txt") for a in ALGORITHMS}
    names = set(manifests["sha256"])
    if set(manifests["sha512"]) != names:
        raise BagVerificationError("manifest-sha512.txt", "lists other files than manifest-sha256")
    ordered = sorted(names)
    for name in ordered:
        if not name.startswith("data/"):
            raise BagVerificationError("manifest-sha256.txt", f"lists {name} outside data/")
    total = 0
    pool = ThreadPoolExecutor(max_workers=HASH_THREADS, thread_name_prefix="bag-hash")
    try:
        # Results come back in manifest order, so the first bad file named is the same
        # whatever the threads' timing.
        hashed = pool.map(bag.digests, ordered)
        for number, (name, got) in enumerate(zip(ordered, hashed, strict=True), 1):
            bag.progress("payload files", number, len(names))
            for algorithm in ALGORITHMS:
                if not _same_hex(got[algorithm], manifests[algorithm][name]):
                    raise BagVerificationError(
                        name, f"does not match its {algorithm} in the manifest"
                    )
            total += bag.size(name)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if info.get("Payload-Oxum") != f"{total}.{len(names)}":
        raise BagVerificationError("bag-info.txt", "Payload-Oxum does not match the payload")
    return manifests["sha256"]


def _check_custody(
    bag: _Bag, key: Ed25519PublicKey, export_id: str, payload: dict[str, str]
) -> tuple[int, int, int, int]:
    vkey_text = bag.text("custody/log.vkey").strip()
    try:
        vkey = parse_verifier_key(vkey_text)
    except NoteError as error:
        raise BagVerificationError("custody/log.vkey", str(error)) from None
    if vkey.public_key.public_bytes_raw() != key.public_bytes_raw():
        raise BagVerificationError("custody/log.vkey", "is not the key that signed the bag")
    keys = [VerifierKey.from_public_key(vkey.name, key)]
    checkpoints = {}
    for name in ("custody/checkpoint.txt", "custody/previous-checkpoint.txt"):
        try:
            checkpoints[name] = verify_checkpoint(bag.text(name), keys, vkey.name)
        except NoteError as error:
            raise BagVerificationError(
                name, f"signed checkpoint does not verify: {error}"
            ) from None
    checkpoint = checkpoints["custody/checkpoint.txt"]
    previous = checkpoints["custody/previous-checkpoint.txt"]

    lines = bag.data("custody/events.jsonl").split(b"\n")
    if lines[-1] != b"":
        raise BagVerificationError("custody/events.jsonl", "does not end with a newline")
    lines = lines[:-1]
    proofs_doc = bag.json("custody/inclusion-proofs.json")
    where = "custody/inclusion-proofs.json"
    try:
        proofs = proofs_doc["proofs"]
        if proofs_doc["tree_size"] != checkpoint.size or len(proofs) != len(lines):
            raise BagVerificationError(where, "does not match the checkpoint or the events")
        if bytes.fromhex(proofs_doc["root_hash"]) != checkpoint.root_hash:
            raise BagVerificationError(where, "root hash differs from the signed checkpoint")
    except (KeyError, TypeError, ValueError):
        raise BagVerificationError(where, "is malformed") from None
    packaged: dict[str, str] = {}
    testimonies = 0
    for number, (line, entry) in enumerate(zip(lines, proofs, strict=True), 1):
        bag.progress("custody events", number, len(lines))
        try:
            event = json.loads(line)
            seq, expected_leaf = int(entry["seq"]), bytes.fromhex(entry["leaf_hash"])
            path = [bytes.fromhex(p) for p in entry["proof"]]
        except (KeyError, TypeError, ValueError):
            raise BagVerificationError(where, f"entry {number} is malformed") from None
        leaf = leaf_hash(line)
        if event.get("seq") != seq or not hmac.compare_digest(leaf, expected_leaf):
            raise BagVerificationError(
                "custody/events.jsonl", f"event on line {number} does not hash to its leaf"
            )
        try:
            verify_inclusion(leaf, seq, checkpoint.size, path, checkpoint.root_hash)
        except ProofError as error:
            raise BagVerificationError(where, f"event {seq}: {error}") from None
        details = event.get("details") or {}
        if event.get("action") == "export.package" and details.get("export_id") == export_id:
            testimonies += 1
            for name, digest in (details.get("files") or {}).items():
                packaged[name] = digest
    try:
        doc = bag.json("custody/consistency-proof.json")
        verify_consistency(
            int(doc["first"]),
            int(doc["second"]),
            bytes.fromhex(doc["first_root"]),
            bytes.fromhex(doc["second_root"]),
            [bytes.fromhex(p) for p in doc["proof"]],
        )
        if (
            (doc["first"], doc["second"]) != (previous.size, checkpoint.size)
            or bytes.fromhex(doc["first_root"]) != previous.root_hash
            or bytes.fromhex(doc["second_root"]) != checkpoint.root_hash
        ):
            raise ProofError("it is not between the two checkpoints in the bag")
    except (KeyError, TypeError, ValueError) as error:
        raise BagVerificationError(
            "custody/consistency-proof.json", f"malformed: {error}"
        ) from None
    except ProofError as error:
        raise BagVerificationError("custody/consistency-proof.json", str(error)) from None
    for name in sorted(payload):
        recorded = packaged.get(name)
        if recorded is None:
            raise BagVerificationError(name, "no export.package custody event records this file")
        if not _same_hex(recorded, payload[name]):
            raise BagVerificationError(name, "differs from the hash its custody event recorded")
    return len(lines), testimonies, checkpoint.size, previous.size


def verify_bag(
    root: Path, trusted_key: Ed25519PublicKey | None = None, progress: Progress | None = None
) -> BagReport:
    """Verify an extracted bag directory; raises BagVerificationError at the first failure."""
    return _verify(_Bag(root, progress), trusted_key)


def verify_bag_at(
    path: Path,
    trusted_key: Ed25519PublicKey | None = None,
    progress: Progress | None = None,
    identity: Path | None = None,
) -> BagReport:
    """Verify a bag directory, a tar, or (with the recipient's age ``identity``) a
    ``.tar.age``. A tar is read in one pass and nothing of it is extracted; an age bag is
    first decrypted to a private temporary file. Raises BagVerificationError at the first
    failure, ValueError for an unusable identity file, OSError."""
    if path.is_dir():
        return verify_bag(path, trusted_key, progress)
    if identity is None:
        return _verify_tar(path, path.name, trusted_key, progress)
    with tempfile.TemporaryDirectory(prefix="custodia-bag-") as scratch:
        return _verify_tar(
            _decrypt_age(path, identity, Path(scratch)), path.name, trusted_key, progress
        )


def _verify_tar(
    path: Path, name: str, trusted_key: Ed25519PublicKey | None, progress: Progress | None
) -> BagReport:
    bag = _TarBag(name, progress)
    bag.read_tar(path)
    return _verify(bag, trusted_key)


def verify_bag_files(
    files: Mapping[str, bytes],
    trusted_key: Ed25519PublicKey | None = None,
    progress: Progress | None = None,
) -> BagReport:
    """Verify a bag held in memory (see :func:`read_bag`); the same checks as ``verify_bag``."""
    return _verify(_MemoryBag(files, progress), trusted_key)


def _verify(bag: _Bag, trusted_key: Ed25519PublicKey | None) -> BagReport:
    bagit = bag.text("bagit.txt")
    if not bagit.startswith("BagIt-Version: "):
        raise BagVerificationError("bagit.txt", "is not a BagIt declaration")
    key, trusted = _check_signature(bag, trusted_key)
    tags = _check_tag_manifests(bag)
    payload_names = set(bag.manifest("manifest-sha256.txt"))
    _check_inventory(bag, tags, payload_names)
    info = _bag_info(bag)
    payload = _check_payload(bag, info)
    export_id = info.get("Custodia-Export-Id", "")
    events, testimonies, size, previous = _check_custody(bag, key, export_id, payload)
    report = BagReport(export_id, len(payload), testimonies, events, size, previous, trusted)
    report.bag_info = info
    report.signer_public_key = key.public_bytes_raw().hex()
    if not trusted:
        report.warnings.append(
            "No --key given: the bag was checked against the key it carries, which proves only "
            "that it is self-consistent, not who made it. Compare the key with the one the "
            "source organisation published."
        )
    return report


def _safe_members(archive: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    return _checked_members(archive.getmembers())


def _checked_members(members: Iterable[tarfile.TarInfo]) -> Iterator[tarfile.TarInfo]:
    for member in members:
        name = member.name
        if name.startswith("/") or ".." in Path(name).parts:
            raise BagVerificationError(name, "tar member points outside the bag")
        if not (member.isfile() or member.isdir()):
            raise BagVerificationError(name, "tar member is not a plain file or directory")
        yield member


def _age_identities(identity_file: Path) -> list[Any]:
    import pyrage  # only recipients of encrypted bags need it

    lines = identity_file.read_text(encoding="utf-8").splitlines()
    keys = [line.strip() for line in lines if line.strip().startswith("AGE-SECRET-KEY-")]
    if not keys:
        raise ValueError(f"{identity_file} holds no age identity (AGE-SECRET-KEY-1...)")
    return [pyrage.x25519.Identity.from_str(k) for k in keys]


def _decrypt_age(path: Path, identity_file: Path, into: Path) -> Path:
    """Decrypt an age-encrypted bag with the recipient's identity (``AGE-SECRET-KEY-1...``)."""
    import pyrage

    identities = _age_identities(identity_file)
    target = into / "bag.tar"
    with path.open("rb") as source, target.open("wb") as sink:
        try:
            pyrage.decrypt_io(source, sink, identities)
        except pyrage.DecryptError:
            raise BagVerificationError(
                path.name, "cannot be decrypted with this identity"
            ) from None
    return target


class _Collected:
    """The files read so far, refused once together they hold more than ``max_bytes``."""

    def __init__(self, source: str, max_bytes: int) -> None:
        self.source = source
        self.max_bytes = max_bytes
        self.files: dict[str, bytes] = {}
        self.total = 0

    def reserve(self, size: int) -> None:
        if self.total + size > self.max_bytes:
            raise BagVerificationError(self.source, f"holds more than {self.max_bytes} bytes")

    def add(self, name: str, data: bytes) -> None:
        self.reserve(len(data))
        self.total += len(data)
        self.files[name] = data


def read_bag(path: Path, identity: Path | None = None, *, max_bytes: int) -> dict[str, bytes]:
    """The files of a bag (``relative name -> bytes``), read into memory, never extracted.

    ``path`` is a bag directory, a tar, or (with the recipient's age ``identity``) an
    age-encrypted tar, which is decrypted in memory: a server importing a bag writes none
    of it to disk. Raises BagVerificationError for an archive that is not one plain bag or
    holds more than ``max_bytes``, ValueError for an unusable identity file, OSError.
    """
    if path.is_dir():
        collected = _Collected(path.name, max_bytes)
        for item in sorted(path.rglob("*")):
            name = item.relative_to(path).as_posix()
            if item.is_symlink():
                raise BagVerificationError(name, "is a symbolic link")
            if item.is_file():
                collected.add(name, item.read_bytes())
        return collected.files
    if path.stat().st_size > max_bytes:
        raise BagVerificationError(path.name, f"holds more than {max_bytes} bytes")
    return read_bag_archive(path.read_bytes(), path.name, identity, max_bytes=max_bytes)


def read_bag_archive(
    raw: bytes, name: str, identity: Path | None = None, *, max_bytes: int
) -> dict[str, bytes]:
    """The files of a bag whose tar (or, with ``identity``, age-encrypted tar) is already
    in memory, e.g. an upload; ``name`` is how refusals name the archive. Nothing is
    written to disk. Raises BagVerificationError for an archive that is not one plain bag
    or holds more than ``max_bytes``, ValueError for an unusable identity file, OSError.
    """
    if len(raw) > max_bytes:
        raise BagVerificationError(name, f"holds more than {max_bytes} bytes")
    if identity is not None:
        import pyrage

        try:
            raw = pyrage.decrypt(raw, _age_identities(identity))
        except pyrage.DecryptError:
            raise BagVerificationError(name, "cannot be decrypted with this identity") from None
    if not tarfile.is_tarfile(io.BytesIO(raw)):
        raise BagVerificationError(name, "is neither a bag directory nor a tar archive")
    collected = _Collected(name, max_bytes)
    try:
        _read_archive_members(raw, collected)
    except (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError):
        # A cut-short or corrupt archive (or compressed stream) is refused, not a crash.
        raise BagVerificationError(name, "is not a readable tar archive") from None
    return collected.files


def _read_archive_members(raw: bytes, collected: _Collected) -> None:
    with tarfile.open(fileobj=io.BytesIO(raw)) as archive:
        members = list(_safe_members(archive))
        if len({PurePosixPath(m.name).parts[:1] for m in members}) != 1:
            raise BagVerificationError(
                collected.source, "must hold exactly one top-level bag directory"
            )
        for member in members:
            parts = PurePosixPath(member.name).parts
            if not member.isfile():
                continue
            name = "/".join(parts[1:])
            if not name:
                raise BagVerificationError(
                    collected.source, "must hold exactly one top-level bag directory"
                )
            if name in collected.files:
                raise BagVerificationError(name, "appears twice in the tar archive")
            # Checked before reading: a compressed archive could hold far more than it weighs.
            collected.reserve(member.size)
            handle = archive.extractfile(member)
            assert handle is not None  # a regular file always has one
            collected.add(name, handle.read())
