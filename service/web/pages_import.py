"""Importing a verified bag from another Custodia in the browser: ``custodia import-bag``'s page.

The upload is read and parsed in memory, bounded by :func:`bag_upload_limit` (the app's
body-size guard applies the same bound to this path and answers with this page's 413), and
CSRF-checked from its own fields like the attachment upload. The domain service then does
everything the CLI does: authorisation, verification of the whole bag, the import in one
transaction and its custody events. An age-encrypted bag is refused: its private identity
must never be sent over the network, so such bags are imported on the server with the CLI.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, Response

from service.errors import ConflictError, DomainError
from service.export.reimport import MAX_IMPORT_BAG_BYTES, BagImportService, BagRefusedError
from service.export.schemas import BagImportRead
from service.export.verify import parse_public_key
from service.runtime import Scope
from service.testimony.service import TestimonyService
from service.web import security
from service.web.forms import parse_upload
from service.web.messages import N_
from service.web.render import CsrfRefusedError, SignedInDep, Web, WebRoute, load_web

router = APIRouter(route_class=WebRoute)

MAX_WEB_BAG_BYTES = min(MAX_IMPORT_BAG_BYTES, 256 << 20)
"""A bag sent from a browser is held in memory a few times over (the body, the parsed
part, the bag's files) while it is verified and imported, so the page takes up to 256 MiB;
larger bags are imported on the server with ``custodia import-bag`` (up to 1 GiB)."""

MAX_KEY_CHARS = 4096
IMPORT_PATH = re.compile(re.escape(security.PREFIX) + r"/cases/[^/]+/import")

# Reasons and warnings of the bag verifier and importer that reach this page inside a
# refusal (as its ``problem``) rather than as a marked message, listed for the extractor.
IMPORT_MESSAGES = (
    N_("the bag holds no testimony"),
    N_("is not in a data/testimonies/NNN directory"),
    N_("is not a Custodia testimony document (%(where)s)"),
    N_("is not a %(format)s document of this export"),
    N_(
        "the bag was made without the interview or the original narrative, which "
        "a re-imported testimony needs"
    ),
    N_("is named in testimony.json but missing"),
    N_("is not UTF-8 text"),
    N_("missing or altered"),
    N_(
        "No --key given: the bag was checked against the key it carries, which proves only "
        "that it is self-consistent, not who made it. Compare the key with the one the "
        "source organisation published."
    ),
)


def bag_upload_limit() -> int:
    """The largest request body this page accepts (read at request time)."""
    return MAX_WEB_BAG_BYTES


def is_bag_import(request: Request) -> bool:
    """The request is a bag upload to this page (the app's body-size guard asks)."""
    return request.method == "POST" and IMPORT_PATH.fullmatch(request.url.path) is not None


@dataclass
class _Refusal:
    """What the page says when it refuses: the reason, and the first file at fault."""

    message: str
    file: str | None = None
    problem: str | None = None


def _may_import(scope: Scope, code: str) -> None:
    """Raises (recorded) unless the caller may create testimonies in the case."""
    TestimonyService(scope).writable_case(code)


def _page(
    web: Web,
    code: str,
    status: int = 200,
    *,
    result: BagImportRead | None = None,
    refusal: _Refusal | None = None,
    key: str = "",
) -> HTMLResponse:
    return web.page(
        "import_bag.html",
        status=status,
        code=code,
        result=result,
        warnings=[web.gettext(w) for w in result.warnings] if result else [],
        refusal=refusal,
        key=key,
        limit_mib=bag_upload_limit() >> 20,
    )


def _refused(web: Web, code: str, error: DomainError, key: str) -> HTMLResponse:
    first = error.errors[0] if error.errors else None
    refusal = _Refusal(
        error.translated(web.gettext),
        first.location if first else None,
        first.text(web.gettext) if first else None,
    )
    return _page(web, code, error.status, refusal=refusal, key=key)


def _too_large(web: Web, code: str) -> HTMLResponse:
    message = web.gettext(
        "The bag is larger than this page accepts (%(mib)d MiB); nothing was imported. "
        "Import it on the server with 'custodia import-bag'."
    ) % {"mib": bag_upload_limit() >> 20}
    return _page(web, code, 413, refusal=_Refusal(message))


async def too_large_page(request: Request) -> Response:
    """The 413 answer of the app's body-size guard for this page, in the reader's language."""
    web = await run_in_threadpool(load_web, request)
    code = request.url.path.removeprefix(security.PREFIX + "/cases/").removesuffix("/import")
    response: Response
    if web.principal is None:
        response = web.redirect(security.PREFIX + "/signin")
    else:
        response = _too_large(web, code)
    for name, value in security.WEB_HEADERS.items():
        response.headers[name] = value
    return response


async def _bounded_body(request: Request, limit: int) -> bytes | None:
    """The request body in memory, or None as soon as it passes ``limit`` (also for a body
    sent without a Content-Length, which the app's guard cannot judge in advance)."""
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            return None
    return bytes(body)


def _trusted_key(web: Web, text: str) -> tuple[Ed25519PublicKey | None, str | None]:
    """The origin's published key from the form, or why it cannot be used. Never reads a
    file: the CLI's ``@FILE`` form would name a file on this server."""
    text = text.strip()
    if not text:
        return None, None
    if text.startswith("@"):
        return None, web.gettext(
            "Paste the key itself: a value starting with @ names a file, and this page "
            "never reads files on the server."
        )
    if len(text) > MAX_KEY_CHARS:
        return None, web.gettext("The origin's key is too long to be a public key.")
    try:
        return parse_public_key(text), None
    except ValueError:
        return None, web.gettext(
            "The origin's key is neither a verifier key (name+id+base64) nor an Ed25519 "
            "public key in PEM form."
        )


@router.get("/cases/{code}/import")
def import_form(web: SignedInDep, code: str) -> Response:
    """Only someone who may create testimonies in the case gets the form."""
    web.run(lambda s: _may_import(s, code))
    return _page(web, code)


@router.post("/cases/{code}/import")
async def import_upload(request: Request, code: str) -> Response:
    """Parsed in memory, CSRF-checked, then verified and imported by the domain service."""
    web = await run_in_threadpool(load_web, request)
    # A declared length over the bound never gets here (the app's guard answers it).
    body = await _bounded_body(request, bag_upload_limit())
    if body is None:
        if web.principal is None:
            return web.redirect(security.PREFIX + "/signin")
        return _too_large(web, code)
    try:
        upload = parse_upload(body, request.headers.get("content-type", ""))
    except ValueError:  # a malformed multipart body
        return web.page("error.html", status=400, title=web.gettext("The request is not valid"))
    del body
    if not security.csrf_matches(web.csrf, upload.fields.get(security.CSRF_FIELD, "")):
        raise CsrfRefusedError
    if web.principal is None:
        return web.redirect(security.PREFIX + "/signin")
    key_text = upload.fields.get("origin_key", "")
    shown_key = key_text if len(key_text) <= MAX_KEY_CHARS else ""
    raw = upload.content.getvalue()
    if not upload.filename or not raw:
        message = web.gettext("Choose the bag file (.tar) to import.")
        return _page(web, code, 422, refusal=_Refusal(message), key=shown_key)
    trusted, key_problem = _trusted_key(web, key_text)
    if key_problem is not None:
        return _page(web, code, 422, refusal=_Refusal(key_problem), key=shown_key)
    filename = upload.filename
    try:
        result: BagImportRead = await run_in_threadpool(
            web.run,
            lambda s: BagImportService(s).import_archive(raw, filename, code, trusted_key=trusted),
        )
    except (BagRefusedError, ConflictError) as error:
        return _refused(web, code, error, shown_key)
    return _page(web, code, result=result)
