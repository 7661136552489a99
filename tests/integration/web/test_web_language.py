"""The interface language as a preference of the account, not only of the browser (issue #7).

Precedence: the signed-in user's stored language, else this browser's cookie, else its
Accept-Language, else Korean. Switching while signed in stores the choice on the account
(and sets the cookie); switching while signed out only sets the cookie.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from service.access.models import User
from service.access.service import LANGUAGES as OFFERED
from service.context import Role
from service.runtime import Scope
from service.web.i18n import LANGUAGES
from tests.factories import Account, Deployment
from tests.integration.web.conftest import Browser

HOME = "/web/"
SIGNIN = "/web/signin"


@pytest.fixture
def browsers(web_deployment: Deployment) -> Iterator[list[Browser]]:
    """Fresh browsers on demand, each with its own cookie jar; all closed at the end."""
    opened: list[Browser] = []
    yield opened
    for b in opened:
        b.client.close()


def new_browser(
    deployment: Deployment, opened: list[Browser], accept_language: str | None = None
) -> Browser:
    b = Browser(deployment)
    if accept_language is not None:
        b.client.headers["Accept-Language"] = accept_language
    opened.append(b)
    return b


def language_of(page: str) -> str:
    """The language a page was rendered in, judged by its lang attribute and its words."""
    if '<html lang="en">' in page:
        assert "로그아웃" not in page and "로그인" not in page
        return "en"
    assert '<html lang="ko">' in page
    return "ko"


def stored_language(deployment: Deployment, account: Account) -> str | None:
    def work(scope: Scope) -> str | None:
        return scope.session.scalar(select(User.language).where(User.username == account.username))

    result: str | None = deployment.run(None, work)
    return result


def switch(b: Browser, language: str, page: str = HOME) -> int:
    response = b.post("/web/language", {"language": language, "next": page}, token_from=page)
    return response.status_code


def language_cookie(b: Browser) -> str | None:
    return b.client.cookies.get("custodia_lang")


def test_the_web_offers_exactly_the_languages_an_account_can_store() -> None:
    assert tuple(LANGUAGES) == OFFERED


def test_a_choice_made_while_signed_in_follows_the_user_to_a_new_browser(
    web_deployment: Deployment, browsers: list[Browser]
) -> None:
    officer = web_deployment.user(Role.OFFICER)
    first = new_browser(web_deployment, browsers, "ko-KR,ko;q=0.9")
    assert first.sign_in(officer).status_code == 303
    assert language_of(first.get(HOME).text) == "ko"
    assert switch(first, "en") == 303
    assert stored_language(web_deployment, officer) == "en"
    assert language_of(first.get(HOME).text) == "en"

    # A fresh browser that prefers Korean: the sign-in page follows the browser, the pages
    # after sign-in follow the account.
    second = new_browser(web_deployment, browsers, "ko-KR,ko;q=0.9")
    assert language_of(second.get(SIGNIN).text) == "ko"
    assert second.sign_in(officer).status_code == 303
    assert language_cookie(second) is None
    assert language_of(second.get(HOME).text) == "en"
    assert language_of(second.get("/web/cases").text) == "en"

    # And back to Korean, seen from a browser that prefers English.
    assert switch(second, "ko") == 303
    third = new_browser(web_deployment, browsers, "en-GB,en;q=0.8")
    assert language_of(third.get(SIGNIN).text) == "en"
    assert third.sign_in(officer).status_code == 303
    assert language_of(third.get(HOME).text) == "ko"


def test_the_stored_language_wins_over_this_browsers_cookie(
    web_deployment: Deployment, browsers: list[Browser]
) -> None:
    investigator = web_deployment.user(Role.INVESTIGATOR)
    elsewhere = new_browser(web_deployment, browsers)
    elsewhere.sign_in(investigator)
    assert switch(elsewhere, "en") == 303

    b = new_browser(web_deployment, browsers)
    assert switch(b, "ko", SIGNIN) == 303  # signed out: this browser's cookie says Korean
    assert language_cookie(b) == "ko"
    b.sign_in(investigator)
    assert language_of(b.get(HOME).text) == "en"


def test_switching_while_signed_in_also_keeps_the_sign_in_page_in_that_language(
    web_deployment: Deployment, browsers: list[Browser]
) -> None:
    auditor = web_deployment.user(Role.AUDITOR)
    b = new_browser(web_deployment, browsers)
    b.sign_in(auditor)
    assert switch(b, "en") == 303
    assert language_cookie(b) == "en"
    assert b.post("/web/signout", {}).status_code == 303
    page = b.get(SIGNIN).text
    assert language_of(page) == "en" and "Sign in" in page


def test_a_switch_while_signed_out_only_sets_the_cookie(
    web_deployment: Deployment, browsers: list[Browser]
) -> None:
    officer = web_deployment.user(Role.OFFICER)
    b = new_browser(web_deployment, browsers, "ko")
    assert switch(b, "en", SIGNIN) == 303
    assert language_cookie(b) == "en"
    assert language_of(b.get(SIGNIN).text) == "en"
    b.sign_in(officer)
    assert language_of(b.get(HOME).text) == "en"  # from the cookie
    assert stored_language(web_deployment, officer) is None

    other = new_browser(web_deployment, browsers, "ko")
    other.sign_in(officer)
    assert language_of(other.get(HOME).text) == "ko"  # nothing followed the account


@pytest.mark.parametrize("language", ["fr", "", "EN-us", "ko'><script>"])
def test_a_language_that_is_not_offered_is_refused_and_nothing_is_stored(
    web_deployment: Deployment, browsers: list[Browser], language: str
) -> None:
    admin = web_deployment.admin
    b = new_browser(web_deployment, browsers)
    b.sign_in(admin)
    assert switch(b, "en") == 303
    cookie_before = language_cookie(b)

    refused = b.post("/web/language", {"language": language, "next": HOME})
    assert refused.status_code == 422
    assert "custodia_lang" not in refused.headers.get("set-cookie", "")
    assert "<script>" not in refused.text
    assert stored_language(web_deployment, admin) == "en"
    assert language_cookie(b) == cookie_before
    assert language_of(b.get(HOME).text) == "en"

    signed_out = new_browser(web_deployment, browsers)
    refused = signed_out.post(
        "/web/language", {"language": language, "next": SIGNIN}, token_from=SIGNIN
    )
    assert refused.status_code == 422
    assert "custodia_lang" not in refused.headers.get("set-cookie", "")
    assert language_cookie(signed_out) is None


def test_one_users_choice_does_not_change_another_users_pages(
    web_deployment: Deployment, browsers: list[Browser]
) -> None:
    kim = web_deployment.user(Role.OFFICER)
    lee = web_deployment.user(Role.OFFICER)
    kims = new_browser(web_deployment, browsers)
    lees = new_browser(web_deployment, browsers)
    kims.sign_in(kim)
    lees.sign_in(lee)
    assert switch(kims, "en") == 303
    assert language_of(kims.get(HOME).text) == "en"
    assert language_of(lees.get(HOME).text) == "ko"
    assert stored_language(web_deployment, lee) is None
    assert stored_language(web_deployment, web_deployment.admin) is None


def test_without_a_stored_choice_or_cookie_the_browser_preference_then_korean_decide(
    web_deployment: Deployment, browsers: list[Browser]
) -> None:
    officer = web_deployment.user(Role.OFFICER)
    english = new_browser(web_deployment, browsers, "en-US,en;q=0.9")
    english.sign_in(officer)
    assert language_of(english.get(HOME).text) == "en"
    plain = new_browser(web_deployment, browsers, "")
    plain.sign_in(officer)
    assert language_of(plain.get(HOME).text) == "ko"


def test_a_refusal_is_explained_and_detailed_in_the_pages_language(
    web_deployment: Deployment, browsers: list[Browser]
) -> None:
    auditor = web_deployment.user(Role.AUDITOR)
    korean = new_browser(web_deployment, browsers, "ko")
    korean.sign_in(auditor)
    refused = korean.get("/web/admin/users")
    assert refused.status_code == 403 and language_of(refused.text) == "ko"
    assert "역할이나 배정된 사건으로는 이 작업을 할 수 없습니다." in refused.text
    assert '<p class="detail">감사자 역할로는 &#39;user:manage&#39; 작업을' in refused.text
    assert "The auditor role" not in refused.text and "세부 내용(영어)" not in refused.text

    english = new_browser(web_deployment, browsers, "en")
    english.sign_in(auditor)
    refused = english.get("/web/admin/users")
    assert refused.status_code == 403 and language_of(refused.text) == "en"
    assert '<p class="error" role="alert">The auditor role may not' in refused.text
    assert "세부 내용" not in refused.text and 'lang="en">The' not in refused.text
