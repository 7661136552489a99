"""The web pages' security: headers, cookies, CSRF, sign-in rules and role checks."""

from __future__ import annotations

from pathlib import Path

from service.context import Role
from tests.factories import Account, Deployment, interview_record
from tests.integration.web.conftest import Browser

CONTENT_PAGES = ("/web/", "/web/cases", "/web/search", "/web/statistics")


def test_every_page_carries_the_web_security_headers(
    browser: Browser, web_deployment: Deployment
) -> None:
    officer = web_deployment.user(Role.INVESTIGATOR)
    page = browser.get("/web/signin")
    assert browser.sign_in(officer).status_code == 303
    for path in ("/web/signin", *CONTENT_PAGES):
        response = browser.get(path)
        assert response.status_code in (200, 303), path
        csp = response.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["cache-control"] == "no-store"
    assert "<script" not in page.text and "style=" not in page.text


def test_session_cookie_is_httponly_and_samesite_strict(
    browser: Browser, web_deployment: Deployment
) -> None:
    response = browser.sign_in(web_deployment.user(Role.OFFICER))
    cookie = next(c for c in response.headers.get_list("set-cookie") if "custodia_session=" in c)
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/web" in cookie
    assert "Secure" not in cookie  # plain HTTP here; over HTTPS the flag is set


def test_over_https_the_session_cookie_is_secure_and_transport_security_is_pinned(
    web_deployment: Deployment,
) -> None:
    """What a browser sees through TLS (directly, or via a proxy Custodia is told to trust)."""
    https = Browser(web_deployment, base_url="https://testserver")
    try:
        response = https.sign_in(web_deployment.user(Role.OFFICER))
        cookies = [c for c in response.headers.get_list("set-cookie") if "custodia_" in c]
        assert cookies and all("Secure" in c for c in cookies), cookies
        assert response.headers["strict-transport-security"] == "max-age=31536000"
    finally:
        https.client.close()


def test_pages_without_a_session_send_the_browser_to_sign_in(browser: Browser) -> None:
    for path in (*CONTENT_PAGES, "/web/custody", "/web/admin/users"):
        response = browser.get(path)
        assert response.status_code == 303 and response.headers["location"] == "/web/signin"


def test_sign_in_refuses_a_form_without_or_with_a_wrong_csrf_token(
    browser: Browser, web_deployment: Deployment
) -> None:
    admin = web_deployment.admin
    browser.get("/web/signin")
    credentials = {"username": admin.username, "password": admin.password}
    missing = browser.client.post("/web/signin", data=credentials, follow_redirects=False)
    wrong = browser.client.post(
        "/web/signin", data={**credentials, "csrf_token": "0" * 64}, follow_redirects=False
    )
    assert missing.status_code == 403 and wrong.status_code == 403
    assert "custodia_session" not in missing.headers.get("set-cookie", "")


def test_a_csrf_token_of_another_session_is_refused(web_deployment: Deployment) -> None:
    admin = web_deployment.admin
    alice, mallory = Browser(web_deployment), Browser(web_deployment)
    assert alice.sign_in(admin).status_code == 303
    assert mallory.sign_in(web_deployment.user(Role.ADMIN)).status_code == 303
    stolen = mallory.csrf("/web/")
    response = alice.client.post(
        "/web/admin/cases",
        data={"csrf_token": stolen, "code": "CSRF-1", "title": "forged"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert "CSRF-1" not in alice.get("/web/admin/cases").text


def test_signed_in_forms_need_the_token(browser: Browser, web_deployment: Deployment) -> None:
    browser.sign_in(web_deployment.user(Role.OFFICER))
    response = browser.client.post("/web/signout", data={}, follow_redirects=False)
    assert response.status_code == 403
    assert browser.get("/web/cases").status_code == 200  # still signed in


def test_wrong_password_then_lockout_follow_the_api_rules(
    tmp_path: Path, database_url: str
) -> None:
    deployment = Deployment.create(
        tmp_path / "data", database_url, login_lock_after=3, login_slowdown_after=10
    )
    try:
        account = deployment.user(Role.OFFICER)
        browser = Browser(deployment)
        wrong = Account(account.username, "not-the-password", account.role)
        for _ in range(3):
            response = browser.sign_in(wrong)
            assert response.status_code == 401
            assert 'role="alert"' in response.text
        locked = browser.sign_in(account)
        assert locked.status_code == 429
        assert "custodia_session" not in locked.headers.get("set-cookie", "")
        events = [e for e in deployment.custody_events() if e["action"] == "auth.login_failed"]
        assert [e["channel"] for e in events[-4:]] == ["web"] * 4
    finally:
        deployment.close()


def test_sign_out_everywhere_ends_api_sessions_too(
    browser: Browser, web_deployment: Deployment
) -> None:
    account = web_deployment.user(Role.OFFICER)  # also signed in through the API
    browser.sign_in(account)
    assert web_deployment.client.get("/api/v1/cases", headers=account.headers).status_code == 200
    response = browser.post("/web/signout-everywhere", {})
    assert response.status_code == 303
    assert browser.get("/web/cases").status_code == 303
    assert web_deployment.client.get("/api/v1/cases", headers=account.headers).status_code == 401


def test_roles_are_refused_what_the_policy_refuses(
    browser: Browser, web_deployment: Deployment
) -> None:
    case = web_deployment.case()
    officer = web_deployment.user(Role.OFFICER, cases=(case,))
    created = web_deployment.create_testimony(officer, interview_record(case))
    auditor = web_deployment.user(Role.AUDITOR)
    browser.sign_in(auditor)
    assert browser.get(f"/web/testimonies/{created['id']}").status_code == 403
    assert browser.get("/web/admin/users").status_code == 403
    assert browser.post("/web/search", {"q": "회령"}).status_code == 403

    other = Browser(web_deployment)
    other.sign_in(web_deployment.user(Role.OFFICER))  # not assigned to the case
    assert other.get(f"/web/testimonies/{created['id']}").status_code == 404
    assert other.get("/web/custody").status_code == 403
    denied = [e for e in web_deployment.custody_events() if e["action"] == "access.denied"]
    assert {e["channel"] for e in denied} == {"web"}


def test_language_is_switchable_and_remembered(browser: Browser) -> None:
    assert "로그인" in browser.get("/web/signin").text  # Korean by default
    response = browser.post(
        "/web/language", {"language": "en", "next": "/web/signin"}, token_from="/web/signin"
    )
    assert response.status_code == 303 and response.headers["location"] == "/web/signin"
    page = browser.get("/web/signin")
    assert '<html lang="en">' in page.text and "Sign in" in page.text and "로그인" not in page.text


def test_language_switch_does_not_redirect_off_site(browser: Browser) -> None:
    response = browser.post(
        "/web/language", {"language": "ko", "next": "//evil.example/x"}, token_from="/web/signin"
    )
    assert response.headers["location"] == "/web/"


def test_idle_and_absolute_timeouts_end_the_web_session(
    browser: Browser, web_deployment: Deployment
) -> None:
    from datetime import timedelta

    from service.db.base import utcnow

    settings = web_deployment.settings
    start = utcnow()
    web_deployment.runtime.clock = lambda: start
    browser.sign_in(web_deployment.user(Role.OFFICER))
    # Active every 50 minutes: never idle, but the absolute lifetime still ends it.
    step = timedelta(minutes=settings.token_idle_minutes - 10)
    moment = start
    while moment + step < start + timedelta(minutes=settings.token_ttl_minutes):
        moment += step
        web_deployment.runtime.clock = lambda m=moment: m  # type: ignore[misc]
        assert browser.get("/web/cases").status_code == 200
    web_deployment.runtime.clock = lambda: (
        start + timedelta(minutes=settings.token_ttl_minutes, seconds=1)
    )
    assert browser.get("/web/cases").status_code == 303

    other = Browser(web_deployment)
    web_deployment.runtime.clock = lambda: start
    other.sign_in(web_deployment.user(Role.OFFICER))
    web_deployment.runtime.clock = lambda: (
        start + timedelta(minutes=settings.token_idle_minutes, seconds=1)
    )
    assert other.get("/web/cases").status_code == 303


def test_a_form_sent_as_multipart_without_its_token_is_refused_and_writes_nothing(
    browser: Browser, web_deployment: Deployment
) -> None:
    """Only the attachment upload parses multipart (and checks the token itself)."""
    case = web_deployment.case()
    browser.sign_in(web_deployment.user(Role.OFFICER, cases=(case,)))
    before = len(web_deployment.custody_events())
    forged = browser.client.post(
        "/web/interviews",
        files={"case": (None, case), "narrative_original": (None, "forged by another site")},
        follow_redirects=False,
    )
    assert forged.status_code == 403
    actions = [e["action"] for e in web_deployment.custody_events()[before:]]
    assert "testimony.create" not in actions
