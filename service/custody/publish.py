"""Publishing checkpoints to witness locations outside the database.

Someone who later rewrites the whole database (and even re-signs it with a stolen key)
cannot also rewrite checkpoints already copied elsewhere: ``custodia custody verify
--against FILE`` checks the log against them. A location is a directory; each checkpoint
becomes ``checkpoint-<size>.txt`` beside ``custodia.vkey``, the public verifier key.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from service.crypto.interfaces import Keyring
from service.custody.note import encode_verifier_key

VKEY_FILE = "custodia.vkey"


class PublishError(Exception):
    """A witness location already holds a different checkpoint for the same size."""


def checkpoint_filename(size: int) -> str:
    return f"checkpoint-{size:012d}.txt"


def verifier_key(keyring: Keyring, origin: str) -> str:
    return encode_verifier_key(origin, keyring.signing_public_key())


def _write_once(path: Path, text: str) -> None:
    if path.exists():
        if path.read_text(encoding="utf-8") != text:
            raise PublishError(
                f"{path} already holds a different text; published records are never replaced"
            )
        return
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".publish-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        Path(temporary).chmod(0o644)
        os.link(temporary, path)  # fails if another writer got there first
    finally:
        Path(temporary).unlink(missing_ok=True)


def publish_checkpoint(
    note: str, size: int, destinations: Iterable[Path], keyring: Keyring, origin: str
) -> list[Path]:
    """Write the signed checkpoint and the verifier key to every destination directory."""
    written = []
    vkey = verifier_key(keyring, origin) + "\n"
    for directory in destinations:
        directory.mkdir(parents=True, exist_ok=True)
        _write_once(directory / VKEY_FILE, vkey)
        target = directory / checkpoint_filename(size)
        _write_once(target, note)
        written.append(target)
    return written
