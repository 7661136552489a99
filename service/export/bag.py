"""Writing a BagIt (RFC 8493) bag as a tar stream, hashing every file as it passes.

Nothing here touches the database or the disk: the writer yields tar bytes, and the export
service pipes them through envelope encryption into the data directory, so decrypted
testimony never lands in a file on the server. Each file is hashed (SHA-256 and SHA-512) as
it is written; the manifests, tag manifests and the detached signature come last.
"""

from __future__ import annotations

import base64
import hashlib
import tarfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

BAGIT_VERSION = "1.0"
ALGORITHMS = ("sha256", "sha512")
SIGNATURE_FILE = "signature/tagmanifest-sha256.txt.sig"
SIGNER_KEY_FILE = "signature/signer-ed25519.pub.pem"
_BLOCK = 512


class BagWriteError(Exception):
    """A file did not have the size it was announced with, or a name is not acceptable."""


@dataclass(frozen=True)
class FileDigest:
    size: int
    sha256: str
    sha512: str


@dataclass
class BagWriter:
    """Yields one bag as tar bytes under the top-level directory ``root``."""

    root: str
    mtime: int
    payload: dict[str, FileDigest] = field(default_factory=dict)
    tags: dict[str, FileDigest] = field(default_factory=dict)
    _names: set[str] = field(default_factory=set)

    def _header(self, path: str, size: int) -> bytes:
        if path in self._names or path.startswith("/") or ".." in path.split("/"):
            raise BagWriteError(f"bag file name {path!r} is not acceptable")
        self._names.add(path)
        info = tarfile.TarInfo(f"{self.root}/{path}")
        info.size = size
        info.mtime = self.mtime
        info.mode = 0o644
        info.uname = info.gname = ""
        return info.tobuf(format=tarfile.PAX_FORMAT, encoding="utf-8")

    def _record(self, path: str, digest: FileDigest) -> None:
        (self.payload if path.startswith("data/") else self.tags)[path] = digest

    def add_bytes(self, path: str, data: bytes) -> Iterator[bytes]:
        """Yield the tar member for ``path`` holding ``data``."""
        yield from self.add_stream(path, len(data), (data,))

    def add_stream(self, path: str, size: int, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """Yield the tar member for ``path`` from ``chunks``, which must total ``size`` bytes."""
        yield self._header(path, size)
        sha256, sha512, written = hashlib.sha256(), hashlib.sha512(), 0
        for chunk in chunks:
            written += len(chunk)
            if written > size:
                raise BagWriteError(f"{path} is longer than its announced {size} bytes")
            sha256.update(chunk)
            sha512.update(chunk)
            yield chunk
        if written != size:
            raise BagWriteError(f"{path} is shorter than its announced {size} bytes")
        if size % _BLOCK:
            yield b"\0" * (_BLOCK - size % _BLOCK)
        self._record(path, FileDigest(size, sha256.hexdigest(), sha512.hexdigest()))

    def finish(
        self, bag_info: Mapping[str, str], signing_key: Ed25519PrivateKey
    ) -> Iterator[bytes]:
        """Yield bagit.txt, bag-info.txt, manifests, tag manifests, signature, end of archive."""
        yield from self.add_bytes(
            "bagit.txt",
            f"BagIt-Version: {BAGIT_VERSION}\nTag-File-Character-Encoding: UTF-8\n".encode(),
        )
        total = sum(d.size for d in self.payload.values())
        info = {**bag_info, "Payload-Oxum": f"{total}.{len(self.payload)}"}
        yield from self.add_bytes("bag-info.txt", bag_info_text(info).encode("utf-8"))
        for algorithm in ALGORITHMS:
            yield from self.add_bytes(
                f"manifest-{algorithm}.txt", manifest_text(self.payload, algorithm)
            )
        tag_entries = dict(self.tags)
        manifests = {}
        for algorithm in ALGORITHMS:
            text = manifest_text(tag_entries, algorithm)
            manifests[algorithm] = text
            yield from self.add_bytes(f"tagmanifest-{algorithm}.txt", text)
        signature = signing_key.sign(manifests["sha256"])
        yield from self.add_bytes(SIGNATURE_FILE, base64.b64encode(signature) + b"\n")
        public = signing_key.public_key().public_bytes(
            Encoding.PEM, PublicFormat.SubjectPublicKeyInfo
        )
        yield from self.add_bytes(SIGNER_KEY_FILE, public)
        yield b"\0" * (2 * _BLOCK)


def manifest_text(entries: Mapping[str, FileDigest], algorithm: str) -> bytes:
    lines = [f"{getattr(entries[path], algorithm)}  {path}\n" for path in sorted(entries)]
    return "".join(lines).encode("utf-8")


def bag_info_text(info: Mapping[str, str]) -> str:
    """``Label: value`` lines (RFC 8493 §2.2.2); values are single lines, or folded."""
    lines = []
    for label, value in info.items():
        folded = "\n  ".join(part for part in value.splitlines() if part) or "-"
        lines.append(f"{label}: {folded}\n")
    return "".join(lines)
