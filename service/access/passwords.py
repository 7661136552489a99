"""Password hashing with argon2id, and the password rules people are told about."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from service.errors import FieldProblem, InvalidInputError

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256

_hasher = PasswordHasher()  # argon2id with the library's RFC 9106 low-memory profile
# Verified against when the username is unknown, so a miss costs as long as a hit.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(24))


def check_password_rules(password: str, field: str = "password") -> None:
    """Raises InvalidInputError naming the field when the password is unacceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInputError(
            "The password must have at least %(limit)s characters.",
            errors=[
                FieldProblem(
                    field,
                    "at least %(limit)s characters",
                    {"limit": MIN_PASSWORD_LENGTH},
                )
            ],
            limit=MIN_PASSWORD_LENGTH,
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInputError(
            "The password must have at most %(limit)s characters.",
            errors=[
                FieldProblem(
                    field,
                    "at most %(limit)s characters",
                    {"limit": MAX_PASSWORD_LENGTH},
                )
            ],
            limit=MAX_PASSWORD_LENGTH,
        )


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Constant-effort check: an unknown user (``None``) is verified against a dummy hash."""
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def generate_password() -> str:
    """A one-time password for a new account: 160 bits, URL-safe, easy to copy."""
    return secrets.token_urlsafe(20)
