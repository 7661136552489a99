"""What every web page shares: the signed-in caller, templates, CSRF checks, error pages.

Pages call domain services through ``Web.run`` (``Runtime.run`` on the web channel), so
authorisation, consent and custody events are exactly those of the JSON API. A refused
action becomes an HTML error page with the service's own (safe to show) message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse, RedirectResponse, Response

from service.access.auth import AuthService
from service.context import Channel, Principal, RequestContext, Role
from service.deps import get_runtime
from service.errors import AuthenticationError, DomainError
from service.runtime import Runtime, Scope
from service.web import security
from service.web.i18n import LANGUAGES, choose_language, translations
from service.web.messages import ERROR_EXPLANATIONS

T = TypeVar("T")
log = logging.getLogger("custodia.web")
TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    extensions=["jinja2.ext.i18n"],
    trim_blocks=True,
    lstrip_blocks=True,
)


class SignInRequiredError(Exception):
    """No valid session: the page answers with the sign-in form."""


class CsrfRefusedError(Exception):
    """A state-changing form arrived without this session's CSRF token."""


@dataclass
class Web:
    """One page request: the runtime, who is signed in, their language and CSRF token."""

    request: Request
    runtime: Runtime
    context: RequestContext
    principal: Principal | None
    language: str
    csrf: str
    new_presession: str | None = None
    messages: list[str] = field(default_factory=list)

    def run(self, work: Callable[[Scope], T]) -> T:
        return self.runtime.run(self.context, self.principal, work)

    def gettext(self, message: str) -> str:
        return translations(self.language).gettext(message)

    def page(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        t = translations(self.language)
        html = TEMPLATES.get_template(template).render(
            _=t.gettext,
            gettext=t.gettext,
            ngettext=t.ngettext,
            web=self,
            principal=self.principal,
            lang=self.language,
            languages=LANGUAGES,
            csrf=self.csrf,
            csrf_field=security.CSRF_FIELD,
            path=self.request.url.path,
            Role=Role,
            **values,
        )
        response = HTMLResponse(html, status_code=status)
        self.finish(response)
        return response

    def finish(self, response: Response) -> None:
        if self.new_presession:
            security.set_cookie(
                self.request, response, security.PRESESSION_COOKIE, self.new_presession
            )

    def redirect(self, path: str) -> RedirectResponse:
        response = RedirectResponse(path, status_code=303)
        self.finish(response)
        return response


def _context(request: Request) -> RequestContext:
    client = request.client.host if request.client else None
    return RequestContext(channel=Channel.WEB, client_address=client)


def _principal(runtime: Runtime, context: RequestContext, token: str | None) -> Principal | None:
    if not token:
        return None
    try:
        return runtime.run(context, None, lambda s: AuthService(s).authenticate(token))
    except AuthenticationError:
        return None


def load_web(request: Request) -> Web:
    runtime = get_runtime(request)
    context = _context(request)
    principal = _principal(runtime, context, request.cookies.get(security.SESSION_COOKIE))
    new_cookie = None
    if principal is not None:
        csrf = security.session_csrf(runtime, request.cookies[security.SESSION_COOKIE])
    else:
        presession = request.cookies.get(security.PRESESSION_COOKIE)
        if not presession:
            presession = new_cookie = security.new_presession()
        csrf = security.presession_csrf(runtime, presession)
    # The principal carries the stored language: read with the session, no second query.
    language = choose_language(request, principal.language if principal else None)
    return Web(request, runtime, context, principal, language, csrf, new_cookie)


def signed_in(web: Annotated[Web, Depends(load_web)]) -> Web:
    if web.principal is None:
        raise SignInRequiredError
    return web


async def checked_form(web: Annotated[Web, Depends(load_web)]) -> Web:
    """Refuses any form without the CSRF token of this session (or pre-session)."""
    content_type = web.request.headers.get("content-type", "")
    if content_type.startswith("multipart/"):
        # Only the attachment upload is multipart, and it checks its token itself while
        # parsing; any other form sent as multipart would skip the check, so it is refused.
        raise CsrfRefusedError
    form = await web.request.form()
    sent = form.get(security.CSRF_FIELD)
    if not isinstance(sent, str) or not security.csrf_matches(web.csrf, sent):
        raise CsrfRefusedError
    return web


async def signed_in_form(web: Annotated[Web, Depends(checked_form)]) -> Web:
    if web.principal is None:
        raise SignInRequiredError
    return web


WebDep = Annotated[Web, Depends(load_web)]
SignedInDep = Annotated[Web, Depends(signed_in)]
FormDep = Annotated[Web, Depends(checked_form)]
SignedInFormDep = Annotated[Web, Depends(signed_in_form)]


def _error_page(
    request: Request, status: int, title: str, error: DomainError | None = None
) -> HTMLResponse:
    """The refusal in the page's language; a detail the catalogue lacks is shown in English,
    marked as such, rather than dropped."""
    web = load_web(request)
    explanation = ERROR_EXPLANATIONS.get(title)
    detail, detail_in_english = None, False
    if error is not None:
        detail = error.translated(web.gettext)
        detail_in_english = web.language != "en" and web.gettext(error.message) == error.message
    return web.page(
        "error.html",
        status=status,
        title=web.gettext(title),
        explanation=web.gettext(explanation) if explanation else None,
        detail=detail,
        detail_in_english=detail_in_english,
        status_code=status,
    )


class WebRoute(APIRoute):
    """Turns refusals into HTML pages and puts the web security headers on every answer."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                response = await handler(request)
            except SignInRequiredError:
                response = RedirectResponse(security.PREFIX + "/signin", status_code=303)
            except CsrfRefusedError:
                response = _error_page(
                    request, 403, "The form expired or did not come from this site."
                )
            except AuthenticationError:
                response = RedirectResponse(security.PREFIX + "/signin", status_code=303)
            except DomainError as error:
                response = _error_page(request, error.status, error.title, error)
            except RequestValidationError:
                response = _error_page(request, 400, "The request is not valid")
            for name, value in security.WEB_HEADERS.items():
                response.headers[name] = value
            return response

        return route
