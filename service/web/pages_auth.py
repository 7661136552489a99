"""Sign-in, sign-out (this browser or everywhere), the language switch and the home page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from starlette.responses import Response

from service.access.auth import AuthService
from service.access.schemas import LoginResult
from service.access.service import UserService, supported_language
from service.errors import AuthenticationError, LoginThrottledError
from service.runtime import Scope
from service.web import security
from service.web.render import FormDep, SignedInDep, SignedInFormDep, WebDep, WebRoute

router = APIRouter(route_class=WebRoute)
Field = Annotated[str, Form(max_length=1024)]


@router.get("/")
def home(web: SignedInDep) -> Response:
    return web.page("home.html")


@router.get("/signin")
def signin_form(web: WebDep) -> Response:
    if web.principal is not None:
        return web.redirect(security.PREFIX + "/")
    return web.page("signin.html")


@router.post("/signin")
def signin(web: FormDep, username: Field = "", password: Field = "") -> Response:
    """The API's sign-in, on the web channel: same accounts, throttling and lock-out."""

    def work(scope: Scope) -> LoginResult:
        return AuthService(scope).login(username, password)

    try:
        result = web.run(work)
    except LoginThrottledError as error:
        return web.page("signin.html", status=429, error=error.translated(web.gettext))
    except AuthenticationError as error:
        return web.page("signin.html", status=401, error=error.translated(web.gettext))
    response = web.redirect(security.PREFIX + "/")
    security.set_cookie(web.request, response, security.SESSION_COOKIE, result.access_token)
    security.clear_cookie(web.request, response, security.PRESESSION_COOKIE)
    return response


def _signed_out(web: SignedInFormDep) -> Response:
    response = web.redirect(security.PREFIX + "/signin")
    security.clear_cookie(web.request, response, security.SESSION_COOKIE)
    return response


@router.post("/signout")
def signout(web: SignedInFormDep) -> Response:
    web.run(lambda s: AuthService(s).logout())
    return _signed_out(web)


@router.post("/signout-everywhere")
def signout_everywhere(web: SignedInFormDep) -> Response:
    web.run(lambda s: AuthService(s).logout_everywhere())
    return _signed_out(web)


@router.post("/language")
def switch_language(web: FormDep, language: Field = "", next: Field = "") -> Response:
    """Signed in, the choice is stored on the account and follows the user to any browser.

    The cookie is set either way, so this browser keeps the language after sign-out. A
    language that is not offered is refused (InvalidInputError) and nothing is stored.
    """
    if web.principal is None:
        code = supported_language(language)
    else:
        code = web.run(lambda s: UserService(s).set_own_language(language))
    response = web.redirect(security.safe_next(next))
    security.set_cookie(web.request, response, security.LANGUAGE_COOKIE, code, max_age=365 * 86400)
    return response
