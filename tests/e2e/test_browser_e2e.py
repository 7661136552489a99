"""End to end in a real browser (Debian's chromium via Playwright) against a real server.

Skipped, with the reason shown, when /usr/bin/chromium is missing; CI installs it.
Set CUSTODIA_SCREENSHOTS=docs/screenshots to save screenshots of the main pages.

Each role's whole job runs once in Korean and once in English: every label, button, link
and message the tests look for is an English message id put through the shipped catalogue
(``translations(lang).gettext``), so a missing or wrong translation fails here. The
testimonies stay Korean in both runs: an officer using the English pages may type a Korean
interview.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from service.config import Settings
from service.setup import initialise
from service.taxonomy.service import Taxonomy
from service.web.i18n import translations

if TYPE_CHECKING:
    from collections.abc import Callable

    from playwright.sync_api import Browser, Locator, Page

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHRASE = "교화소에서 강제 노동"
NARRATIVE = (
    "2017년 겨울 전거리 교화소에서 강제 노동을 했습니다. 보위부 구류장에서 조사를 받으며 "
    "매일 맞았습니다."
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed"),
]


@dataclass
class Server:
    url: str
    api: httpx.Client
    passwords: dict[str, str]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real uvicorn process over a fresh data directory, with one user per role."""
    data = tmp_path_factory.mktemp("e2e") / "data"
    admin_password = secrets.token_urlsafe(18)
    initialise(Settings(data_dir=data), admin_username="admin", admin_password=admin_password)
    port = _free_port()
    env = {**os.environ, "CUSTODIA_DATA_DIR": str(data)}
    env.pop("CUSTODIA_DATABASE_URL", None)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "service.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    api = httpx.Client(base_url=url, timeout=30)
    try:
        for _ in range(200):
            try:
                if api.get("/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        token = api.post(
            "/api/v1/auth/login", json={"username": "admin", "password": admin_password}
        ).json()["access_token"]
        api.headers["Authorization"] = f"Bearer {token}"
        api.post("/api/v1/cases", json={"code": "CASE-E2E", "title": "전거리 교화소"})
        passwords = {"admin": admin_password}
        for name, role in (
            ("kim.officer", "officer"),
            ("park.investigator", "investigator"),
            ("lee.auditor", "auditor"),
        ):
            passwords[name] = secrets.token_urlsafe(18)
            created = api.post(
                "/api/v1/users",
                json={
                    "username": name,
                    "display_name": name,
                    "role": role,
                    "password": passwords[name],
                },
            )
            assert created.status_code == 201, created.text
            if role in ("officer", "investigator"):
                api.post("/api/v1/cases/CASE-E2E/members", json={"username": name})
        yield Server(url, api, passwords)
    finally:
        api.close()
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield chromium
        chromium.close()


LANGUAGES = ("ko", "en")
BROWSER_LOCALES = {"ko": "ko-KR", "en": "en-GB"}


@dataclass(frozen=True)
class Run:
    """One language's run of a journey.

    The run that takes the README screenshots keeps the journey's usual accounts, case and
    pseudonyms, so the pictures show what they did; the other run suffixes its own with the
    language, because the server (module scope) is shared and the runs must not collide.
    """

    lang: str
    shots: bool

    @property
    def t(self) -> Callable[[str], str]:
        return translations(self.lang).gettext

    @property
    def other(self) -> str:
        return next(lang for lang in LANGUAGES if lang != self.lang)

    def name(self, base: str) -> str:
        """A username or profile name of this run's own."""
        return base if self.shots else f"{base}-{self.lang}"

    def code(self, base: str) -> str:
        """A case code or pseudonym of this run's own."""
        return base if self.shots else f"{base}-{self.lang.upper()}"


def _in_each_language(screenshots: str) -> pytest.MarkDecorator:
    """Parametrise a journey over both languages; ``screenshots`` is the one that takes them."""
    return pytest.mark.parametrize(
        "run",
        [pytest.param(Run(lang, shots=lang == screenshots), id=lang) for lang in LANGUAGES],
    )


def _message(template: str) -> re.Pattern[str]:
    """A whole translated message whose %(name)d / %(name)s values the test cannot know."""
    parts = re.split(r"%\((\w+)\)([ds])", template)
    pattern = "".join(
        re.escape(part) if i % 3 == 0 else (r"\d+" if part == "d" else ".+?")
        for i, part in enumerate(parts)
        if i % 3 != 1
    )
    return re.compile(f"^{pattern}$")


def _shot(page: Page, name: str, run: Run) -> None:
    target = os.environ.get("CUSTODIA_SCREENSHOTS")
    if target and run.shots:
        Path(target).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(target) / f"{name}.png"), full_page=True)


def _create_user(server: Server, username: str, display_name: str, role: str) -> None:
    """An account made through the API, its password kept for ``_sign_in``."""
    server.passwords[username] = secrets.token_urlsafe(18)
    created = server.api.post(
        "/api/v1/users",
        json={
            "username": username,
            "display_name": display_name,
            "role": role,
            "password": server.passwords[username],
        },
    )
    assert created.status_code == 201, created.text


def _create_case(server: Server, code: str, title: str, members: list[str]) -> None:
    created = server.api.post("/api/v1/cases", json={"code": code, "title": title})
    assert created.status_code == 201, created.text
    for username in members:
        assigned = server.api.post(f"/api/v1/cases/{code}/members", json={"username": username})
        assert assigned.is_success, assigned.text


def _sign_in(browser: Browser, server: Server, username: str, lang: str) -> Page:
    t = translations(lang).gettext
    context = browser.new_context(
        base_url=server.url, locale=BROWSER_LOCALES[lang], accept_downloads=True
    )
    page = context.new_page()
    page.goto("/web/signin")
    page.get_by_label(t("Username")).fill(username)
    page.get_by_label(t("Password")).fill(server.passwords[username])
    page.get_by_role("button", name=t("Sign in")).click()
    page.wait_for_url("**/web/")
    return page


def _code_incident(page: Page, run: Run, query: str, code: str, date: str, place: str) -> None:
    t = run.t
    page.get_by_role("link", name=t("Code an incident")).click()
    page.get_by_label(t("Search the taxonomy (Korean or English)")).fill(query)
    page.get_by_role("button", name=t("Search categories")).click()
    page.locator(f"input[name=categories][value='{code}']").check()
    page.get_by_label(t("Date (YYYY, YYYY-MM or YYYY-MM-DD)")).fill(date)
    page.get_by_label(t("Date precision")).select_option("month")
    page.get_by_label(t("Place"), exact=True).fill(place)
    page.get_by_label(t("Involvement of the witness")).select_option("victim")
    page.get_by_role("button", name=t("Save incident")).click()


@_in_each_language(screenshots="ko")
def test_officer_investigator_auditor_in_the_browser(
    browser: Browser, server: Server, tmp_path: Path, run: Run
) -> None:
    from playwright.sync_api import expect

    t = run.t
    case_code = run.code("CASE-E2E")
    officer, investigator = run.name("kim.officer"), run.name("park.investigator")
    auditor, admin = run.name("lee.auditor"), run.name("admin")
    pseudonym = run.code("W-E2E-1")
    if not run.shots:  # the server fixture made the screenshot run's
        for username, role in (
            (officer, "officer"),
            (investigator, "investigator"),
            (auditor, "auditor"),
            (admin, "admin"),
        ):
            _create_user(server, username, username, role)
        _create_case(server, case_code, "전거리 교화소", [officer, investigator])

    page = _sign_in(browser, server, officer, run.lang)
    _shot(page, "01-officer-home", run)
    page.get_by_role("link", name=t("New interview")).first.click()
    page.get_by_label(t("Interview date")).fill("2024-05-02")
    page.get_by_label(t("Interview place")).fill("서울")
    page.get_by_label(t("Interviewer")).fill(officer)
    page.get_by_label(t("Narrative in the original language")).fill(NARRATIVE)
    page.get_by_label(t("English translation (optional)")).fill(
        "In winter 2017 I did forced labour in Jongori."
    )
    page.get_by_label(t("Pseudonym code")).fill(pseudonym)
    page.get_by_label(t("Legal name (encrypted in the identity vault)")).fill("김영희")
    page.get_by_label(t("internal_analysis")).check()
    page.get_by_label(t("un_mechanisms")).check()
    page.get_by_label(t("Consent given on")).fill("2024-05-02")
    _shot(page, "02-officer-new-interview", run)
    page.get_by_role("button", name=t("Save interview")).click()
    page.wait_for_url("**/web/testimonies/*")
    testimony_url = page.url
    _code_incident(page, run, "교화소", "detention.kyohwaso", "2017-12", "전거리")
    assert page.url == testimony_url
    _code_incident(page, run, "고문", "torture.interrogation", "2016-05", "회령")
    attachment = tmp_path / "map.txt"
    attachment.write_text("손으로 그린 교화소 지도 설명", encoding="utf-8")
    page.get_by_label(t("Add an attachment")).set_input_files(str(attachment))
    page.get_by_role("button", name=t("Upload")).click()
    page.wait_for_url(testimony_url)
    assert page.get_by_role("link", name="map.txt").is_visible()
    kyohwaso = Taxonomy.load().categories["detention.kyohwaso"]  # labelled in the page's language
    label = kyohwaso.label_ko if run.lang == "ko" else kyohwaso.label_en
    assert page.locator("tbody tr").filter(has_text=label).count() >= 1
    _shot(page, "03-officer-testimony", run)

    # CSRF: a form posted with the session cookie but without the token is refused.
    forged = page.context.request.post(f"{server.url}/web/signout", form={"csrf_token": "forged"})
    assert forged.status == 403
    page.context.close()

    one_result = t("%(n)d results") % {"n": 1}
    words = t('Words or "a phrase" (AND, OR, NOT)')
    page = _sign_in(browser, server, investigator, run.lang)
    page.get_by_role("link", name=t("Search")).first.click()
    page.get_by_label(words).fill(f'"{PHRASE}"')
    page.get_by_role("button", name=t("Search"), exact=True).click()
    expect(page.get_by_role("status")).to_have_text(one_result)
    assert page.locator("mark").count() >= 1
    _shot(page, "04-investigator-search", run)
    page.get_by_label(words).fill("")
    page.locator("input[name=category][value='torture.interrogation']").check()
    page.get_by_role("button", name=t("Apply filters")).first.click()
    expect(page.get_by_role("status")).to_have_text(one_result)
    page.get_by_role("link", name=pseudonym).click()
    assert "김영희" not in page.content()
    page.get_by_role("link", name=t("Reveal identity…")).click()
    reason = page.get_by_label(t("Reason for revealing the identity"))
    assert reason.is_visible()
    reason.fill("교화소 수감자 명단과 대조하기 위해")
    page.get_by_role("button", name=t("Reveal identity")).click()
    assert "김영희" in page.content()
    _shot(page, "05-investigator-reveal", run)
    page.goto("/web/statistics")
    assert page.locator("svg.chart").count() == 2
    _shot(page, "06-investigator-statistics", run)
    # Role check: an investigator cannot open the administrator's pages.
    refused = page.goto("/web/admin/users")
    assert refused is not None and refused.status == 403
    page.context.close()

    page = _sign_in(browser, server, auditor, run.lang)
    page.get_by_role("link", name=t("Custody timeline")).first.click()
    page.get_by_label(t("Action"), exact=True).fill("identity.reveal")
    page.get_by_role("button", name=t("Filter"), exact=True).click()
    # The actor cell reads "username (role)": the other run's investigator does not match.
    reveals = page.locator("tbody tr").filter(has_text=f"{investigator} ({t('investigator')})")
    assert reveals.count() == 1
    _shot(page, "07-auditor-timeline", run)
    page.goto("/web/custody/verify")
    page.get_by_role("button", name=t("Verify now")).click()
    expect(page.locator("#verify-result")).to_have_text(
        _message(t("Verification passed: %(n)d events, no problem found."))
    )
    _shot(page, "08-auditor-verify", run)
    refused = page.goto(testimony_url)
    assert refused is not None and refused.status == 403
    page.context.close()

    # The administrator switches the pages to the other language, and they follow.
    page = _sign_in(browser, server, admin, run.lang)
    page.goto("/web/admin/cases")
    _shot(page, "09-admin-cases", run)
    page.get_by_label(t("Language")).select_option(run.other)
    page.get_by_role("button", name=t("Change"), exact=True).click()
    cases = translations(run.other).gettext("Cases")
    expect(page.get_by_role("heading", name=cases, exact=True)).to_be_visible()
    page.context.close()


def _testimony_with_consent(server: Server, officer: str, case: str, scopes: list[str]) -> str:
    """Entered through the API as the officer, to keep this test about the export pages."""
    from tests.factories import interview_record

    client = httpx.Client(base_url=server.url, timeout=30)
    try:
        login = client.post(
            "/api/v1/auth/login",
            json={"username": officer, "password": server.passwords[officer]},
        )
        client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        record = interview_record(case)
        record["consent"] = {"scopes": scopes, "given_on": "2024-03-14"}
        created = client.post("/api/v1/testimonies", json=record)
        assert created.status_code == 201, created.text
        testimony_id: str = created.json()["id"]
        return testimony_id
    finally:
        client.close()


@_in_each_language(screenshots="en")
def test_an_export_is_requested_approved_by_a_second_person_and_verified(
    browser: Browser, server: Server, tmp_path: Path, run: Run
) -> None:
    t = run.t
    case_code = run.code("CASE-E2E")
    officer, requester = run.name("kim.officer"), run.name("park.investigator")
    approver, profile_name = run.name("choi.investigator"), run.name("coi-e2e")
    profile = server.api.post(
        "/api/v1/exports/profiles", json={"name": profile_name, "kind": "un_mechanisms"}
    )
    assert profile.status_code == 201, profile.text
    _create_user(server, approver, "Choi", "investigator")
    if run.shots:  # the server fixture made the rest of the screenshot run's
        server.api.post(f"/api/v1/cases/{case_code}/members", json={"username": approver})
    else:
        _create_user(server, officer, officer, "officer")
        _create_user(server, requester, requester, "investigator")
        _create_case(server, case_code, "전거리 교화소", [officer, requester, approver])
    consented = _testimony_with_consent(server, officer, case_code, ["un_mechanisms"])
    internal_only = _testimony_with_consent(server, officer, case_code, ["internal_analysis"])

    page = _sign_in(browser, server, requester, run.lang)
    page.get_by_role("link", name=t("Exports")).first.click()
    page.get_by_label(t("Recipient profile")).select_option(profile_name)
    page.get_by_label(t("Purpose (recorded with the export)")).fill(
        "Submission to the commission of inquiry on detention in North Hamgyong"
    )
    page.get_by_label(case_code, exact=False).check()
    page.get_by_role("button", name=t("Request export")).click()
    page.wait_for_url("**/web/exports/*")
    export_url = page.url
    assert page.locator("#export-state").inner_text() == t("export:pending")
    assert page.get_by_role("link", name=consented).is_visible()
    assert page.get_by_role("heading", name=t("Left out")).is_visible()
    assert internal_only in page.locator("main").inner_text()
    # The requester is offered no way to approve their own request.
    assert page.get_by_role("button", name=t("Approve")).count() == 0
    _shot(page, "10-investigator-export-request", run)
    page.context.close()

    page = _sign_in(browser, server, approver, run.lang)
    page.get_by_role("link", name=t("Exports")).first.click()
    assert page.locator("tbody tr").filter(has_text=requester).count() >= 1
    _shot(page, "11-approver-queue", run)
    page.goto(export_url)
    page.get_by_label(t("Note on your decision")).fill(
        "Consent checked against the interview notes."
    )
    page.get_by_role("button", name=t("Approve")).click()
    page.wait_for_url(export_url)
    assert page.locator("#export-state").inner_text() == t("export:approved")
    page.context.close()

    page = _sign_in(browser, server, requester, run.lang)
    page.goto(export_url)
    page.get_by_role("button", name=t("Build the bag")).click()
    page.wait_for_url(export_url)
    assert page.locator("#export-state").inner_text() == t("export:built")
    _shot(page, "12-export-built", run)
    with page.expect_download() as download:
        page.get_by_role("link", name=t("Download the bag")).click()
    bag = tmp_path / download.value.suggested_filename
    download.value.save_as(bag)
    page.context.close()

    # The downloaded bag verifies offline, with no database and no network.
    verified = subprocess.run(
        [sys.executable, "-m", "cli.main", "bundle", "verify", str(bag)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_an_interview_draft_is_autosaved_survives_a_reload_and_resumes(
    browser: Browser, server: Server
) -> None:
    """In Korean only: the draft is the same in either language."""
    from playwright.sync_api import expect

    run = Run("ko", shots=True)
    t = run.t
    narrative = t("Narrative in the original language")
    legal_name = t("Legal name (encrypted in the identity vault)")
    draft_text = "2020년 가을 무산에서 국경을 넘다가 붙잡혔습니다. 아직 다 말하지 못했습니다."
    page = _sign_in(browser, server, "kim.officer", run.lang)
    page.goto("/web/interviews/new")
    page.get_by_label(t("Interview place")).fill("인천")
    page.get_by_label(narrative).fill(draft_text)
    page.get_by_label(legal_name).fill("이춘자")
    page.get_by_label(t("Label for this draft (optional)")).fill("무산 면담")
    # The form autosaves about ten seconds after the last change, and says so.
    expect(page.get_by_role("status")).to_have_text(
        _message(t("Draft saved %(time)s")), timeout=30_000
    )
    assert "/web/interviews/new?draft=" in page.url
    _shot(page, "16-officer-draft-saved", run)

    page.reload()  # as after a dropped connection: the text comes back from the server
    expect(page.get_by_label(narrative)).to_have_value(draft_text)
    expect(page.get_by_label(legal_name)).to_have_value("이춘자")

    page.goto("/web/interviews/new")
    expect(page.get_by_label(narrative)).to_have_value("")
    page.get_by_role("link", name=t("My drafts")).first.click()
    row = page.locator("tbody tr").filter(has_text="무산 면담")
    assert draft_text not in page.content()
    row.get_by_role("link", name=t("Resume")).click()
    expect(page.get_by_label(narrative)).to_have_value(draft_text)

    page.goto("/web/drafts")
    drafts = page.locator("tbody tr").filter(has_text="무산 면담")
    drafts.get_by_role("button", name=t("Discard")).click()
    page.wait_for_url("**/web/drafts")
    assert drafts.count() == 0
    page.context.close()


@_in_each_language(screenshots="ko")
def test_an_administrator_does_the_whole_job(browser: Browser, server: Server, run: Run) -> None:
    """Users, roles, a case and its officer, a recipient profile, a key rotation."""
    from playwright.sync_api import expect

    t = run.t
    admin, auditor = run.name("han.admin"), "lee.auditor"
    officer, staff = run.name("jung.officer"), run.name("seo.staff")
    case_code, profile_name = run.code("CASE-ADMIN-E2E"), run.name("coi-dprk-2026")
    # An administrator of its own: the officers' journey changes the "admin" account's language.
    _create_user(server, admin, "한 관리자", "admin")
    page = _sign_in(browser, server, admin, run.lang)
    nav = page.get_by_role("navigation", name=t("Main"))
    users = page.locator("tbody tr")

    nav.get_by_role("link", name=t("Users"), exact=True).click()
    expect(page.get_by_role("heading", name=t("Users"), exact=True)).to_be_visible()
    new_user = page.locator("form").filter(has=page.get_by_role("button", name=t("Create user")))
    for username, name in ((officer, "정 기록관"), (staff, "서 기록관")):
        new_user.get_by_label(t("Username")).fill(username)
        new_user.get_by_label(t("Name"), exact=True).fill(name)
        new_user.get_by_label(t("Role")).select_option("officer")
        new_user.get_by_role("button", name=t("Create user")).click()
        created = page.get_by_role("status")
        expect(created).to_contain_text(
            t("User %(u)s created. One-time password (shown once, give it in person):")
            % {"u": username}
        )
        server.passwords[username] = created.locator("strong").inner_text()
        assert len(server.passwords[username]) >= 12
        row = users.filter(has_text=username)
        expect(row).to_contain_text(name)
        expect(row.get_by_label(t("Role"), exact=True)).to_have_value("officer")
        expect(row.locator("td").nth(3)).to_have_text(t("active"))

    nav.get_by_role("link", name=t("Cases"), exact=True).click()
    page.get_by_label(t("Code")).fill(case_code)
    page.get_by_label(t("Title")).fill("회령 보위부 구류장")
    page.get_by_role("button", name=t("Create case")).click()
    case = page.locator("tbody tr").filter(has_text=case_code)
    expect(case).to_contain_text("회령 보위부 구류장")
    for username in (officer, staff):
        case.get_by_label(t("Username")).fill(username)
        case.get_by_role("button", name=t("Assign")).click()
        remove = t("Remove %(u)s from %(c)s") % {"u": username, "c": case_code}
        expect(case.get_by_role("button", name=remove)).to_be_visible()
    # An auditor cannot be assigned to a case, and the page says why.
    case.get_by_label(t("Username")).fill(auditor)
    case.get_by_role("button", name=t("Assign")).click()
    expect(page.get_by_role("alert")).to_contain_text(
        t("Only existing officers and investigators can be assigned to cases.")
    )
    expect(case).not_to_contain_text(auditor)

    # A role change is confirmed first, and the confirmation says what it will do.
    nav.get_by_role("link", name=t("Users"), exact=True).click()
    staff_row = users.filter(has_text=staff)
    staff_row.get_by_label(t("Role"), exact=True).select_option("auditor")
    page.get_by_role("button", name=t("Change the role of %(u)s…") % {"u": staff}).click()
    expect(
        page.get_by_role("heading", name=t("Change the role of %(u)s?") % {"u": staff})
    ).to_be_visible()
    main = page.locator("main")
    expect(main).to_contain_text(
        t("From %(old)s to %(new)s.") % {"old": t("officer"), "new": t("auditor")}
    )
    expect(main).to_contain_text(
        t("They leave these cases, which the new role cannot see: %(c)s.") % {"c": case_code}
    )
    page.get_by_role("button", name=t("Yes, change the role")).click()
    expect(page.get_by_role("status")).to_contain_text(
        t("%(u)s is now %(r)s; their open sessions have ended.") % {"u": staff, "r": t("auditor")}
    )
    expect(staff_row.get_by_label(t("Role"), exact=True)).to_have_value("auditor")
    _shot(page, "13-admin-users", run)
    nav.get_by_role("link", name=t("Cases"), exact=True).click()
    expect(case).to_contain_text(officer)
    expect(case).not_to_contain_text(staff)

    nav.get_by_role("link", name=t("Recipient profiles")).click()
    page.get_by_label(t("Name"), exact=True).fill(profile_name)
    page.get_by_label(t("Kind")).select_option("un_mechanisms")
    page.get_by_label(t("Original narrative")).check()
    page.get_by_label(t("Coded incidents")).check()
    page.get_by_role("button", name=t("Create profile")).click()
    expect(page.get_by_role("status")).to_have_text(
        t("Recipient profile %(n)s created.") % {"n": profile_name}
    )
    profile = page.locator("tbody tr").filter(has_text=profile_name)
    expect(profile.locator("td").nth(1)).to_have_text(t("un_mechanisms"))
    expect(profile.locator("td").nth(3)).to_have_text(
        f"{t('Coded incidents')}, {t('Original narrative')}"
    )
    expect(profile.locator("td").nth(4)).to_have_text(t("no"))
    _shot(page, "14-admin-profiles", run)

    # The keys: the run in the other language finds them already rotated once.
    purpose = t("Testimony content and attachments")
    nav.get_by_role("link", name=t("Keys"), exact=True).click()
    expect(page.get_by_role("heading", name=t("Key status"))).to_be_visible()
    content_keys = page.locator("tbody tr").filter(has_text=purpose)
    versions = [int(v) for v in content_keys.locator("td.num").all_inner_texts()]
    current = max(versions)
    assert sorted(versions) == list(range(1, current + 1))
    expect(page.locator("main")).to_contain_text("CUSTODIA_CHECKPOINT_PUBLISH_DIRS")
    rotate = t("Rotate: %(p)s…") % {"p": purpose}
    page.get_by_role("button", name=rotate).click()
    expect(
        page.get_by_role("heading", name=t("Rotate the keys: %(p)s?") % {"p": purpose})
    ).to_be_visible()
    expect(page.locator("main")).to_contain_text(
        t("A new key-encryption key (version %(v)d) is made and becomes the active one.")
        % {"v": current + 1}
    )
    page.get_by_role("link", name=t("Cancel")).click()
    expect(content_keys).to_have_count(current)  # cancelling rotated nothing
    page.get_by_role("button", name=rotate).click()
    page.get_by_role("button", name=t("Yes, rotate now")).click()
    expect(page.get_by_role("status")).to_contain_text(
        t("The %(p)s keys are now at version %(v)d; every data key of this purpose was re-wrapped.")
        % {"p": purpose, "v": current + 1}
    )
    expect(content_keys).to_have_count(current + 1)

    def version(v: int) -> Locator:
        return content_keys.filter(
            has=page.locator("td.num", has_text=re.compile(rf"^{v}$"))
        ).locator("td")

    expect(version(current + 1).nth(3)).to_have_text(t("yes"))
    expect(version(current).nth(3)).to_have_text(t("no"))
    _shot(page, "15-admin-keys", run)
    page.context.close()

    # The new officer signs in with the one-time password, sees the assigned case, and is
    # refused the administrator's pages.
    page = _sign_in(browser, server, officer, run.lang)
    page.get_by_role("navigation", name=t("Main")).get_by_role("link", name=t("My cases")).click()
    expect(page.get_by_role("link", name=case_code)).to_be_visible()
    refused = page.goto("/web/admin/users")
    assert refused is not None and refused.status == 403
    expect(page.get_by_role("heading", name=t("Not permitted"))).to_be_visible()
    assert staff not in page.content()
    page.context.close()
