"""The one mapping from errors to RFC 9457 problem documents.

FastAPI's default ``{"detail": ...}`` bodies never reach a client: validation errors,
HTTP errors, domain errors and unexpected exceptions all leave as
``application/problem+json``. Unexpected exceptions are logged with their traceback (ids
only, no content) and answered with a bare 500.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.errors import AuthenticationError, DomainError, LoginThrottledError

PROBLEM_TYPE_BASE = "https://custodia.example/problems/"
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}
log = logging.getLogger("custodia.http")


def problem_response(
    request: Request,
    *,
    status: int,
    slug: str,
    title: str,
    detail: str | None = None,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + slug,
        "title": title,
        "status": status,
        "instance": request.url.path,
    }
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    # Set here too: an unhandled error's response never passes the app's middleware.
    return JSONResponse(
        body,
        status_code=status,
        media_type="application/problem+json",
        headers={**SECURITY_HEADERS, **(headers or {})},
    )


def _field_location(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    text = ""
    for part in parts:
        text += f"[{part}]" if part.isdigit() else (f".{part}" if text else part)
    return text or "body"


def _validation_entry(error: Mapping[str, Any]) -> dict[str, str]:
    loc = tuple(error.get("loc", ()))
    if error.get("type") == "json_invalid":
        # The last location part is a character offset into the body, not a field name.
        position = loc[-1] if len(loc) > 1 else 0
        reason = str((error.get("ctx") or {}).get("error", "")).strip()
        return {"field": "body", "message": f"not valid JSON at character {position}: {reason}"}
    return {"field": _field_location(loc), "message": str(error.get("msg", ""))}


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, error: DomainError) -> JSONResponse:
        headers = None
        if isinstance(error, LoginThrottledError):
            headers = {"Retry-After": str(error.retry_after_seconds)}
        elif isinstance(error, AuthenticationError):
            headers = {"WWW-Authenticate": 'Bearer realm="custodia"'}
        return problem_response(
            request,
            status=error.status,
            slug=error.slug,
            title=error.title,
            detail=error.detail,
            errors=[e.as_dict() for e in error.errors] or None,
            headers=headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError) -> JSONResponse:
        # Never echo the rejected input back: it may be testimony text or a password.
        errors = [_validation_entry(e) for e in error.errors()]
        fields = ", ".join(sorted({e["field"] for e in errors}))
        return problem_response(
            request,
            status=422,
            slug="validation-failed",
            title="The request is not valid",
            detail=f"Check these fields: {fields}.",
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        slug = {
            404: "not-found",
            405: "method-not-allowed",
            401: "authentication-failed",
            413: "payload-too-large",
        }.get(error.status_code, "http-error")
        return problem_response(
            request,
            status=error.status_code,
            slug=slug,
            title=str(error.detail) if isinstance(error.detail, str) else "Request failed",
            headers=dict(error.headers) if error.headers else None,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
        return problem_response(
            request, status=500, slug="internal-error", title="Internal server error"
        )
