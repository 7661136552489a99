"""End to end in a real browser (Debian's chromium via Playwright) against a real server.

Skipped, with the reason shown, when /usr/bin/chromium is missing; CI installs it.
Set CUSTODIA_SCREENSHOTS=docs/screenshots to save screenshots of the main pages.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from service.config import Settings
from service.setup import initialise

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
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield chromium
        chromium.close()


def _shot(page: object, name: str) -> None:
    target = os.environ.get("CUSTODIA_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(target) / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


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


def _sign_in(browser: object, server: Server, username: str):  # type: ignore[no-untyped-def]
    context = browser.new_context(base_url=server.url, locale="ko-KR")  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto("/web/signin")
    page.get_by_label("사용자 이름").fill(username)
    page.get_by_label("비밀번호").fill(server.passwords[username])
    page.get_by_role("button", name="로그인").click()
    page.wait_for_url("**/web/")
    return page


def _code_incident(page, query: str, code: str, date: str, place: str) -> None:  # type: ignore[no-untyped-def]
    page.get_by_role("link", name="사건 코딩").click()
    page.get_by_label("분류 체계 검색 (한국어 또는 영어)").fill(query)
    page.get_by_role("button", name="분류 검색").click()
    page.locator(f"input[name=categories][value='{code}']").check()
    page.get_by_label("날짜 (YYYY, YYYY-MM 또는 YYYY-MM-DD)").fill(date)
    page.get_by_label("날짜 정밀도").select_option("month")
    page.get_by_label("장소", exact=True).fill(place)
    page.get_by_label("증인의 관여 유형").select_option("victim")
    page.get_by_role("button", name="사건 저장").click()


def test_officer_investigator_auditor_in_the_browser(
    browser: object, server: Server, tmp_path: Path
) -> None:
    page = _sign_in(browser, server, "kim.officer")
    _shot(page, "01-officer-home")
    page.get_by_role("link", name="새 면담").first.click()
    page.get_by_label("면담 일자").fill("2024-05-02")
    page.get_by_label("면담 장소").fill("서울")
    page.get_by_label("면담자").fill("kim.officer")
    page.get_by_label("원어 진술").fill(NARRATIVE)
    page.get_by_label("영어 번역 (선택)").fill("In winter 2017 I did forced labour in Jongori.")
    page.get_by_label("가명 코드").fill("W-E2E-1")
    page.get_by_label("법적 성명 (신원 보관소에 암호화)").fill("김영희")
    page.get_by_label("내부 분석").check()
    page.get_by_label("유엔 메커니즘").check()
    page.get_by_label("동의 일자").fill("2024-05-02")
    _shot(page, "02-officer-new-interview")
    page.get_by_role("button", name="면담 저장").click()
    page.wait_for_url("**/web/testimonies/*")
    testimony_url = page.url
    _code_incident(page, "교화소", "detention.kyohwaso", "2017-12", "전거리")
    assert page.url == testimony_url
    _code_incident(page, "고문", "torture.interrogation", "2016-05", "회령")
    attachment = tmp_path / "map.txt"
    attachment.write_text("손으로 그린 교화소 지도 설명", encoding="utf-8")
    page.get_by_label("첨부 파일 추가").set_input_files(str(attachment))
    page.get_by_role("button", name="업로드").click()
    page.wait_for_url(testimony_url)
    assert page.get_by_role("link", name="map.txt").is_visible()
    assert page.locator("tbody tr").filter(has_text="교화소").count() >= 1
    _shot(page, "03-officer-testimony")

    # CSRF: a form posted with the session cookie but without the token is refused.
    forged = page.context.request.post(f"{server.url}/web/signout", form={"csrf_token": "forged"})
    assert forged.status == 403
    page.context.close()

    page = _sign_in(browser, server, "park.investigator")
    page.get_by_role("link", name="검색").first.click()
    page.get_by_label('단어 또는 "구문" (AND, OR, NOT)').fill(f'"{PHRASE}"')
    page.get_by_role("button", name="검색", exact=True).click()
    assert "검색 결과 1건" in page.get_by_role("status").inner_text()
    assert page.locator("mark").count() >= 1
    _shot(page, "04-investigator-search")
    page.get_by_label('단어 또는 "구문" (AND, OR, NOT)').fill("")
    page.locator("input[name=category][value='torture.interrogation']").check()
    page.get_by_role("button", name="필터 적용").first.click()
    assert "검색 결과 1건" in page.get_by_role("status").inner_text()
    page.get_by_role("link", name="W-E2E-1").click()
    assert "김영희" not in page.content()
    page.get_by_role("link", name="신원 공개…").click()
    assert page.get_by_label("신원 공개 사유").is_visible()
    page.get_by_label("신원 공개 사유").fill("교화소 수감자 명단과 대조하기 위해")
    page.get_by_role("button", name="신원 공개").click()
    assert "김영희" in page.content()
    _shot(page, "05-investigator-reveal")
    page.goto("/web/statistics")
    assert page.locator("svg.chart").count() == 2
    _shot(page, "06-investigator-statistics")
    # Role check: an investigator cannot open the administrator's pages.
    assert page.goto("/web/admin/users").status == 403  # type: ignore[union-attr]
    page.context.close()

    page = _sign_in(browser, server, "lee.auditor")
    page.get_by_role("link", name="관리 연속성 기록").first.click()
    page.get_by_label("동작").fill("identity.reveal")
    page.get_by_role("button", name="필터").click()
    assert page.locator("tbody tr").filter(has_text="park.investigator").count() == 1
    _shot(page, "07-auditor-timeline")
    page.goto("/web/custody/verify")
    page.get_by_role("button", name="지금 검증").click()
    assert "검증 통과" in page.locator("#verify-result").inner_text()
    _shot(page, "08-auditor-verify")
    assert page.goto(testimony_url).status == 403  # type: ignore[union-attr]
    page.context.close()

    page = _sign_in(browser, server, "admin")
    page.goto("/web/admin/cases")
    _shot(page, "09-admin-cases")
    page.get_by_label("언어").select_option("en")
    page.get_by_role("button", name="변경").click()
    assert page.get_by_role("heading", name="Cases").is_visible()
    page.context.close()


def _sign_in_english(browser: object, server: Server, username: str):  # type: ignore[no-untyped-def]
    context = browser.new_context(base_url=server.url, locale="en-GB", accept_downloads=True)  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto("/web/signin")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(server.passwords[username])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/web/")
    return page


def _testimony_with_consent(server: Server, scopes: list[str]) -> str:
    """Entered through the API as the officer, to keep this test about the export pages."""
    from tests.factories import interview_record

    officer = httpx.Client(base_url=server.url, timeout=30)
    try:
        login = officer.post(
            "/api/v1/auth/login",
            json={"username": "kim.officer", "password": server.passwords["kim.officer"]},
        )
        officer.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        record = interview_record("CASE-E2E")
        record["consent"] = {"scopes": scopes, "given_on": "2024-03-14"}
        created = officer.post("/api/v1/testimonies", json=record)
        assert created.status_code == 201, created.text
        testimony_id: str = created.json()["id"]
        return testimony_id
    finally:
        officer.close()


def test_an_export_is_requested_approved_by_a_second_person_and_verified_in_english(
    browser: object, server: Server, tmp_path: Path
) -> None:
    profile = server.api.post(
        "/api/v1/exports/profiles", json={"name": "coi-e2e", "kind": "un_mechanisms"}
    )
    assert profile.status_code == 201, profile.text
    _create_user(server, "choi.investigator", "Choi", "investigator")
    server.api.post("/api/v1/cases/CASE-E2E/members", json={"username": "choi.investigator"})
    consented = _testimony_with_consent(server, ["un_mechanisms"])
    internal_only = _testimony_with_consent(server, ["internal_analysis"])

    page = _sign_in_english(browser, server, "park.investigator")
    page.get_by_role("link", name="Exports").first.click()
    page.get_by_label("Recipient profile").select_option("coi-e2e")
    page.get_by_label("Purpose (recorded with the export)").fill(
        "Submission to the commission of inquiry on detention in North Hamgyong"
    )
    page.get_by_label("CASE-E2E", exact=False).check()
    page.get_by_role("button", name="Request export").click()
    page.wait_for_url("**/web/exports/*")
    export_url = page.url
    assert "pending approval" in page.locator("#export-state").inner_text()
    assert page.get_by_role("link", name=consented).is_visible()
    assert page.get_by_role("heading", name="Left out").is_visible()
    assert internal_only in page.locator("main").inner_text()
    # The requester is offered no way to approve their own request.
    assert page.get_by_role("button", name="Approve").count() == 0
    _shot(page, "10-investigator-export-request")
    page.context.close()

    page = _sign_in_english(browser, server, "choi.investigator")
    page.get_by_role("link", name="Exports").first.click()
    assert page.locator("tbody tr").filter(has_text="park.investigator").count() >= 1
    _shot(page, "11-approver-queue")
    page.goto(export_url)
    page.get_by_label("Note on your decision").fill("Consent checked against the interview notes.")
    page.get_by_role("button", name="Approve").click()
    page.wait_for_url(export_url)
    assert page.locator("#export-state").inner_text() == "approved"
    page.context.close()

    page = _sign_in_english(browser, server, "park.investigator")
    page.goto(export_url)
    page.get_by_role("button", name="Build the bag").click()
    page.wait_for_url(export_url)
    assert page.locator("#export-state").inner_text() == "built"
    _shot(page, "12-export-built")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the bag").click()
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
    browser: object, server: Server
) -> None:
    from playwright.sync_api import expect

    draft_text = "2020년 가을 무산에서 국경을 넘다가 붙잡혔습니다. 아직 다 말하지 못했습니다."
    page = _sign_in(browser, server, "kim.officer")
    page.goto("/web/interviews/new")
    page.get_by_label("면담 장소").fill("인천")
    page.get_by_label("원어 진술").fill(draft_text)
    page.get_by_label("법적 성명 (신원 보관소에 암호화)").fill("이춘자")
    page.get_by_label("이 초안의 이름표 (선택)").fill("무산 면담")
    # The form autosaves about ten seconds after the last change, and says so.
    expect(page.get_by_role("status")).to_contain_text("초안 저장됨", timeout=30_000)
    assert "/web/interviews/new?draft=" in page.url
    _shot(page, "16-officer-draft-saved")

    page.reload()  # as after a dropped connection: the text comes back from the server
    expect(page.get_by_label("원어 진술")).to_have_value(draft_text)
    expect(page.get_by_label("법적 성명 (신원 보관소에 암호화)")).to_have_value("이춘자")

    page.goto("/web/interviews/new")
    expect(page.get_by_label("원어 진술")).to_have_value("")
    page.get_by_role("link", name="내 초안").first.click()
    row = page.locator("tbody tr").filter(has_text="무산 면담")
    assert draft_text not in page.content()
    row.get_by_role("link", name="이어서 작성").click()
    expect(page.get_by_label("원어 진술")).to_have_value(draft_text)

    page.goto("/web/drafts")
    page.locator("tbody tr").filter(has_text="무산 면담").get_by_role("button", name="폐기").click()
    page.wait_for_url("**/web/drafts")
    assert page.locator("tbody tr").filter(has_text="무산 면담").count() == 0
    page.context.close()


def test_an_administrator_does_the_whole_job_in_korean(browser: object, server: Server) -> None:
    """Users, roles, a case and its officer, a recipient profile, a key rotation, in Korean."""
    from playwright.sync_api import expect

    # An administrator of its own: the first test stores English on the "admin" account.
    _create_user(server, "han.admin", "한 관리자", "admin")
    page = _sign_in(browser, server, "han.admin")
    nav = page.get_by_role("navigation", name="주 메뉴")
    users = page.locator("tbody tr")

    nav.get_by_role("link", name="사용자", exact=True).click()
    expect(page.get_by_role("heading", name="사용자", exact=True)).to_be_visible()
    new_user = page.locator("form").filter(has=page.get_by_role("button", name="사용자 만들기"))
    for username, name in (("jung.officer", "정 기록관"), ("seo.staff", "서 기록관")):
        new_user.get_by_label("사용자 이름").fill(username)
        new_user.get_by_label("이름", exact=True).fill(name)
        new_user.get_by_label("역할").select_option("officer")
        new_user.get_by_role("button", name="사용자 만들기").click()
        created = page.get_by_role("status")
        expect(created).to_contain_text(f"사용자 {username}을(를) 만들었습니다. 일회용 비밀번호")
        server.passwords[username] = created.locator("strong").inner_text()
        assert len(server.passwords[username]) >= 12
        row = users.filter(has_text=username)
        expect(row).to_contain_text(name)
        expect(row.get_by_label("역할", exact=True)).to_have_value("officer")
        expect(row.locator("td").nth(3)).to_have_text("활성")

    nav.get_by_role("link", name="사건", exact=True).click()
    page.get_by_label("코드").fill("CASE-ADMIN-E2E")
    page.get_by_label("제목").fill("회령 보위부 구류장")
    page.get_by_role("button", name="사건 만들기").click()
    case = page.locator("tbody tr").filter(has_text="CASE-ADMIN-E2E")
    expect(case).to_contain_text("회령 보위부 구류장")
    for username in ("jung.officer", "seo.staff"):
        case.get_by_label("사용자 이름").fill(username)
        case.get_by_role("button", name="배정").click()
        expect(
            case.get_by_role("button", name=f"CASE-ADMIN-E2E에서 {username} 제외")
        ).to_be_visible()
    # An auditor cannot be assigned to a case, and the page says why.
    case.get_by_label("사용자 이름").fill("lee.auditor")
    case.get_by_role("button", name="배정").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "사건에는 등록된 기록관과 조사관만 배정할 수 있습니다."
    )
    expect(case).not_to_contain_text("lee.auditor")

    # A role change is confirmed first, and the confirmation says what it will do.
    nav.get_by_role("link", name="사용자", exact=True).click()
    users.filter(has_text="seo.staff").get_by_label("역할", exact=True).select_option("auditor")
    page.get_by_role("button", name="seo.staff 계정의 역할 변경…").click()
    expect(
        page.get_by_role("heading", name="seo.staff 계정의 역할을 바꾸시겠습니까?")
    ).to_be_visible()
    main = page.locator("main")
    expect(main).to_contain_text("기록관 역할에서 감사자 역할로 바뀝니다.")
    expect(main).to_contain_text("새 역할로는 볼 수 없는 다음 사건에서 빠집니다: CASE-ADMIN-E2E.")
    page.get_by_role("button", name="예, 역할을 바꿉니다").click()
    expect(page.get_by_role("status")).to_contain_text(
        "seo.staff 계정은 이제 감사자 역할입니다. 열려 있던 세션은 모두 종료되었습니다."
    )
    expect(users.filter(has_text="seo.staff").get_by_label("역할", exact=True)).to_have_value(
        "auditor"
    )
    _shot(page, "13-admin-users")
    nav.get_by_role("link", name="사건", exact=True).click()
    expect(case).to_contain_text("jung.officer")
    expect(case).not_to_contain_text("seo.staff")

    nav.get_by_role("link", name="수신처 프로필").click()
    page.get_by_label("이름", exact=True).fill("coi-dprk-2026")
    page.get_by_label("종류").select_option("un_mechanisms")
    page.get_by_label("원어 진술").check()
    page.get_by_label("코딩된 사건").check()
    page.get_by_role("button", name="프로필 만들기").click()
    expect(page.get_by_role("status")).to_have_text("수신처 프로필을 만들었습니다: coi-dprk-2026")
    profile = page.locator("tbody tr").filter(has_text="coi-dprk-2026")
    expect(profile.locator("td").nth(1)).to_have_text("유엔 메커니즘")
    expect(profile.locator("td").nth(3)).to_have_text("코딩된 사건, 원어 진술")
    expect(profile.locator("td").nth(4)).to_have_text("아니요")
    _shot(page, "14-admin-profiles")

    nav.get_by_role("link", name="키", exact=True).click()
    expect(page.get_by_role("heading", name="키 상태")).to_be_visible()
    content_keys = page.locator("tbody tr").filter(has_text="증언 내용과 첨부 파일")
    expect(content_keys).to_have_count(1)
    expect(content_keys.locator("td").nth(1)).to_have_text("1")
    expect(page.locator("main")).to_contain_text("CUSTODIA_CHECKPOINT_PUBLISH_DIRS")
    page.get_by_role("button", name="교체: 증언 내용과 첨부 파일…").click()
    expect(
        page.get_by_role("heading", name="키를 교체하시겠습니까? (증언 내용과 첨부 파일)")
    ).to_be_visible()
    expect(page.locator("main")).to_contain_text(
        "새 키 암호화 키(버전 2)를 만들어 유효한 키로 씁니다."
    )
    page.get_by_role("link", name="취소").click()
    expect(content_keys).to_have_count(1)  # cancelling rotated nothing
    page.get_by_role("button", name="교체: 증언 내용과 첨부 파일…").click()
    page.get_by_role("button", name="예, 지금 교체합니다").click()
    expect(page.get_by_role("status")).to_contain_text(
        "증언 내용과 첨부 파일 키가 이제 버전 2입니다. 이 용도의 모든 데이터 키를 다시 감쌌습니다."
    )
    expect(content_keys).to_have_count(2)
    expect(
        content_keys.filter(has=page.locator("td.num", has_text="2")).locator("td").nth(3)
    ).to_have_text("예")
    expect(
        content_keys.filter(has=page.locator("td.num", has_text="1")).locator("td").nth(3)
    ).to_have_text("아니요")
    _shot(page, "15-admin-keys")
    page.context.close()

    # The new officer signs in with the one-time password, sees the assigned case, and is
    # refused the administrator's pages.
    page = _sign_in(browser, server, "jung.officer")
    page.get_by_role("navigation", name="주 메뉴").get_by_role("link", name="내 사건").click()
    expect(page.get_by_role("link", name="CASE-ADMIN-E2E")).to_be_visible()
    refused = page.goto("/web/admin/users")
    assert refused is not None and refused.status == 403
    expect(page.get_by_role("heading", name="허용되지 않습니다")).to_be_visible()
    assert "seo.staff" not in page.content()
    page.context.close()
