"""Fixtures shared by the crypto specifications."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from service.crypto.interfaces import KeyPurpose
from service.crypto.keyring import FileKeyring, InMemoryKeyring

PASSPHRASE = "증언을 지키는 긴 암호문 — correct horse battery staple"

AnyKeyring = InMemoryKeyring | FileKeyring


@pytest.fixture(params=["memory", "file", "file-passphrase"])
def keyring(request: pytest.FixtureRequest, tmp_path: Path) -> AnyKeyring:
    """Every built-in keyring, so each passes the same conformance specification."""
    kind: str = request.param
    if kind == "memory":
        return InMemoryKeyring()
    passphrase = PASSPHRASE if kind == "file-passphrase" else None
    return FileKeyring.create(tmp_path / "keys" / "keyring.json", passphrase=passphrase)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """Run with umask 000 so a test proves modes do not depend on the caller's umask."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def secret_values(keyring: AnyKeyring) -> list[bytes]:
    """Every secret a keyring holds or derives (reaches into private state on purpose)."""
    material = keyring._material
    values = [kek.key for purpose in KeyPurpose for kek in material.keks[purpose]]
    values += [material.search_root, material.token_pepper_root, material.signing_seed]
    values += [keyring.search_key(), keyring.token_pepper()]
    return values


def encodings(secret: bytes) -> list[bytes]:
    """The ways a secret could show up in text: raw, hex (both cases), base64 variants."""
    b64 = base64.b64encode(secret)
    return [
        secret,
        secret.hex().encode(),
        secret.hex().upper().encode(),
        b64,
        b64.rstrip(b"="),
        base64.urlsafe_b64encode(secret).rstrip(b"="),
        repr(secret).encode(),
        # A leak of part of a key is still a leak: look for 8-byte and 12-byte prefixes.
        secret[:8].hex().encode(),
        base64.b64encode(secret[:12]),
    ]


@pytest.fixture
def assert_no_secret_in() -> Callable[[AnyKeyring, bytes], None]:
    """Return a checker that fails if any encoding of any keyring secret is in a blob."""

    def check(keyring: AnyKeyring, blob: bytes) -> None:
        for secret in secret_values(keyring):
            for form in encodings(secret):
                assert form not in blob

    return check
