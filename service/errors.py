"""The domain error family.

Services raise these; exactly one place (``service.http.problems``) turns them into RFC 9457
problem documents and the CLI prints their ``detail``. Every message is safe to show: it never
contains testimony content, identity data, keys or passwords.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


Translate = Callable[[str], str]
"""A catalogue's ``gettext``: English message in, the reader's language out."""


def untranslated(message: str) -> str:
    """The ``Translate`` of the API and CLI: the English message as it is."""
    return message


VOCABULARY_PARAMS = frozenset({"role", "scope", "kind", "precision"})
"""Parameters that hold a vocabulary word (a role, consent scope, recipient kind, date
precision): it is translated with the message. Every other parameter is data (a name, an
id) shown as given."""


def translate(gettext: Translate, template: str, params: Mapping[str, object]) -> str:
    """The template and its vocabulary parameters in the reader's language."""
    local = {
        k: gettext(v) if k in VOCABULARY_PARAMS and isinstance(v, str) else v
        for k, v in params.items()
    }
    return fill(gettext(template), local, template)


def fill(template: str, params: Mapping[str, object], english: str) -> str:
    """``template % params``; a translation whose placeholders do not fit falls back to English."""
    if not params:
        return template
    try:
        return template % params
    except (KeyError, ValueError, TypeError):
        return english % params


@dataclass(frozen=True)
class FieldProblem:
    """One invalid input field, located the way a person fixing the request would look for it.

    ``message`` is English with ``%(name)s`` placeholders filled from ``params``: the
    template is the catalogue's message id, so a web page can show it in the reader's language.
    """

    location: str
    message: str
    params: Mapping[str, object] = field(default_factory=dict)

    def text(self, gettext: Translate = untranslated) -> str:
        return translate(gettext, self.message, self.params)

    def as_dict(self) -> dict[str, str]:
        return {"field": self.location, "message": self.text()}


@dataclass(frozen=True)
class RefusalRecord:
    """What to write to the custody log when an action is refused.

    The action's transaction is rolled back, so the unit of work writes this event in a
    fresh transaction after the rollback.
    """

    action: str
    object_type: str
    object_id: str | None
    details: dict[str, Any] = field(default_factory=dict)
    denied: bool = True
    actor_name: str | None = None
    on_record: Callable[[Session], None] | None = None
    """Bookkeeping that must persist despite the rollback (e.g. a failed-login counter)."""


class DomainError(Exception):
    """``detail`` is an English template (``%(name)s`` placeholders filled from ``params``).

    The template, not the filled-in text, is the message id of the web catalogues, so the
    same refusal reads in Korean on a Korean page; the API and the CLI show ``detail``.
    """

    slug: ClassVar[str] = "error"
    title: ClassVar[str] = "Request failed"
    status: ClassVar[int] = 400

    def __init__(
        self,
        detail: str,
        *,
        errors: Sequence[FieldProblem] = (),
        refusal: RefusalRecord | None = None,
        **params: Any,
    ) -> None:
        self.message = detail
        self.params: Mapping[str, object] = params
        self.detail = fill(detail, params, detail)
        super().__init__(self.detail)
        self.errors = tuple(errors)
        self.refusal = refusal

    def translated(self, gettext: Translate = untranslated) -> str:
        return translate(gettext, self.message, self.params)


class InvalidInputError(DomainError):
    slug = "validation-failed"
    title = "The request is not valid"
    status = 422


class NotFoundError(DomainError):
    """Also used for records the caller may not see, so their existence does not leak."""

    slug = "not-found"
    title = "Not found"
    status = 404


class ConflictError(DomainError):
    slug = "conflict"
    title = "Conflicts with the current state"
    status = 409


class AuthenticationError(DomainError):
    slug = "authentication-failed"
    title = "Authentication failed"
    status = 401


class LoginThrottledError(DomainError):
    slug = "login-throttled"
    title = "Too many failed sign-in attempts"
    status = 429

    def __init__(self, detail: str, *, retry_after_seconds: int, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.retry_after_seconds = retry_after_seconds


class AccessDeniedError(DomainError):
    slug = "access-denied"
    title = "Not permitted"
    status = 403


class ConsentRefusedError(DomainError):
    slug = "consent-refused"
    title = "The witness's consent does not cover this use"
    status = 403


class ShreddedError(DomainError):
    """The record was crypto-shredded: its keys are destroyed and it cannot be read again.

    Only callers who could have read the record get this answer; anyone else still gets
    ``NotFoundError``, so shredding reveals nothing about records outside their cases.
    """

    slug = "shredded"
    title = "The record was crypto-shredded"
    status = 410


class PayloadTooLargeError(DomainError):
    slug = "payload-too-large"
    title = "Upload too large"
    status = 413


class UnsupportedMediaTypeError(DomainError):
    slug = "unsupported-media-type"
    title = "File type not accepted"
    status = 415


INTEGRITY_FAILURE_ACTION = "integrity.failure"
"""The custody action of a failed integrity check (``Action.INTEGRITY_FAILURE``)."""


class IntegrityCheckError(DomainError):
    """Stored data failed authentication or a hash check: possible tampering.

    Every such failure goes on the custody record (outcome ``failed``, naming the object and
    who was reading it), so an auditor learns of tampering from the log, not from a user.
    """

    slug = "integrity-failure"
    title = "Stored data failed an integrity check"
    status = 500

    def __init__(
        self, detail: str, *, object_type: str, object_id: str | None, **params: Any
    ) -> None:
        super().__init__(
            detail,
            refusal=RefusalRecord(
                action=INTEGRITY_FAILURE_ACTION,
                object_type=object_type,
                object_id=object_id,
                details={"detail": fill(detail, params, detail)},
                denied=False,
            ),
            **params,
        )
