"""Browser-facing protections: the session cookie, CSRF tokens and the page headers.

The session cookie carries the same opaque token an API client gets from sign-in (an
``AuthSession`` on the web channel), so idle and absolute timeouts, revocation and lock-out
are the ones ``service.access.auth`` enforces. CSRF tokens are synchronizer tokens derived
from the session token with a keyed HMAC: bound to one session, never stored, and useless
to anyone who cannot read the cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response

from service.runtime import Runtime

SESSION_COOKIE = "custodia_session"
PRESESSION_COOKIE = "custodia_presession"
LANGUAGE_COOKIE = "custodia_lang"
CSRF_FIELD = "csrf_token"
PREFIX = "/web"

# No inline script and no inline style anywhere; every asset is served by Custodia.
WEB_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'; frame-ancestors 'none'"
)
WEB_HEADERS = {
    "Content-Security-Policy": WEB_CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def set_cookie(request: Request, response: Response, name: str, value: str, **kw: int) -> None:
    """Every Custodia cookie: HttpOnly, SameSite=Strict, Secure over HTTPS, path /web."""
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="strict",
        secure=is_https(request),
        path=PREFIX,
        **kw,  # type: ignore[arg-type]
    )


def clear_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(
        name, path=PREFIX, httponly=True, samesite="strict", secure=is_https(request)
    )


def _mac(runtime: Runtime, purpose: bytes, binding: str) -> str:
    pepper = runtime.keyring.token_pepper()
    return hmac.new(pepper, purpose + b"\x00" + binding.encode(), hashlib.sha256).hexdigest()


def session_csrf(runtime: Runtime, session_token: str) -> str:
    """The CSRF token of a signed-in session: an HMAC of its (secret) cookie value."""
    return _mac(runtime, b"web-csrf-session", session_token)


def presession_csrf(runtime: Runtime, presession: str) -> str:
    """Before sign-in, forms are bound to a random pre-session cookie instead."""
    return _mac(runtime, b"web-csrf-presession", presession)


def csrf_matches(expected: str, sent: str) -> bool:
    return bool(expected) and bool(sent) and hmac.compare_digest(expected, sent)


def new_presession() -> str:
    return secrets.token_urlsafe(32)


def safe_next(path: str | None) -> str:
    """Only paths inside the web interface, never another origin or a query string."""
    if not path or not path.startswith(PREFIX + "/") or path.startswith("//"):
        return PREFIX + "/"
    if any(c in path for c in "?#\\\r\n") or "//" in path:
        return PREFIX + "/"
    return path
