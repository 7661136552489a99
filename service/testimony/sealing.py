"""How testimony content is sealed, and what its custody hash covers.

Each sealed document carries a random ``salt``. The custody log records SHA-256 of the
canonical document *including* the salt, so a copy of the log cannot be used to confirm a
guessed narrative or identity, while anyone entitled to the decrypted document (a court
receiving an export) can recompute the hash exactly.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Mapping
from typing import Any

from service.crypto.envelope import FieldContext, open_field, seal_field
from service.crypto.errors import CryptoError
from service.custody.canonical import canonical_json, sha256_hex
from service.errors import IntegrityCheckError


def new_salt() -> str:
    return base64.b64encode(secrets.token_bytes(16)).decode("ascii")


def content_digest(document: Mapping[str, Any]) -> str:
    return sha256_hex(canonical_json(document))


def seal_document(
    data_key: bytes, key_id: int, document: Mapping[str, Any], ctx: FieldContext
) -> bytes:
    return seal_field(data_key, key_id, canonical_json(document), ctx)


def open_document(data_key: bytes, ciphertext: bytes, ctx: FieldContext) -> dict[str, Any]:
    """Raises IntegrityCheckError (safe to show) when the ciphertext does not authenticate."""
    try:
        plaintext = open_field(data_key, ciphertext, ctx)
    except CryptoError as error:
        raise IntegrityCheckError(
            str(error), object_type=ctx.record_type, object_id=ctx.record_id
        ) from None
    document = json.loads(plaintext)
    assert isinstance(document, dict)
    return document
