"""Interview drafts through the pages: saved encrypted, the owner's alone, gone when done."""

from __future__ import annotations

import json
import re
import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update

from service.context import Role
from service.crypto.interfaces import ShredId
from service.drafts.models import InterviewDraft
from service.runtime import Scope
from tests.factories import Account, Deployment
from tests.integration.web.conftest import Browser

NARRATIVE = "2019년 봄 회령 보위부 구류장에서 조사를 받았습니다."
LEGAL_NAME = "박순희"
JSON = {"Accept": "application/json"}


def _form(case: str, **changes: Any) -> dict[str, Any]:
    return {
        "case": case,
        "interview_date": "2024-05-02",
        "interview_place": "서울",
        "language": "ko",
        "interviewer": "officer.kim",
        "pseudonym": "W-DRAFT-1",
        "legal_name": LEGAL_NAME,
        "birth_year": "1981",
        "family_in_dprk": "어머니 (회령)",
        "scopes": ["internal_analysis"],
        "consent_given_on": "2024-05-02",
        "narrative_original": NARRATIVE,
        "draft_label": "오전 면담",
        **changes,
    }


def _officer(deployment: Deployment, browser: Browser) -> tuple[str, Account]:
    case = deployment.case()
    officer = deployment.user(Role.OFFICER, cases=(case,))
    assert browser.sign_in(officer).status_code == 303
    return case, officer


def _autosave(browser: Browser, data: dict[str, Any]) -> Any:
    """What static/drafts.js sends: the form url-encoded, with the page's token."""
    form = {"csrf_token": browser.csrf("/web/interviews/new"), **data}
    return browser.client.post("/web/drafts", data=form, headers=JSON, follow_redirects=False)


def _rows(deployment: Deployment) -> int:
    count: int = deployment.run(
        None,
        lambda s: s.session.scalar(select(func.count()).select_from(InterviewDraft)),
    )
    return count


def _draft_events(deployment: Deployment) -> list[dict[str, Any]]:
    return [
        e
        for e in deployment.custody_events()
        if e["object_type"] == "interview_draft" or e["action"].startswith("draft.")
    ]


def test_an_autosaved_draft_resumes_with_everything_typed(
    browser: Browser, web_deployment: Deployment
) -> None:
    case, officer = _officer(web_deployment, browser)
    saved = _autosave(browser, _form(case))
    assert saved.status_code == 200, saved.text
    draft_id = saved.json()["id"]
    assert re.fullmatch(r"[0-9a-f-]{36}", draft_id)
    again = _autosave(browser, _form(case, draft_id=draft_id, translation_en="In spring 2019"))
    assert again.json() == {**again.json(), "id": draft_id, "version": 2}

    listing = browser.get("/web/drafts")
    assert listing.status_code == 200
    assert case in listing.text and "오전 면담" in listing.text
    assert NARRATIVE not in listing.text and LEGAL_NAME not in listing.text
    assert f"/web/interviews/new?draft={draft_id}" in listing.text

    page = browser.get(f"/web/interviews/new?draft={draft_id}")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert NARRATIVE in page.text and LEGAL_NAME in page.text and "In spring 2019" in page.text
    assert f'name="draft_id" value="{draft_id}"' in page.text
    assert 'value="internal_analysis" checked' in page.text

    events = [(e["action"], e["actor"]) for e in _draft_events(web_deployment)]
    # Two saves, one create: autosaves do not flood the log. The resume is a recorded read.
    assert events == [("draft.create", officer.username), ("draft.read", officer.username)]
    text = json.dumps(web_deployment.custody_events(), ensure_ascii=False)
    assert NARRATIVE not in text and LEGAL_NAME not in text and "오전 면담" not in text


def test_the_save_draft_button_works_without_script(
    browser: Browser, web_deployment: Deployment
) -> None:
    case, _ = _officer(web_deployment, browser)
    # A half-filled form: no date, no consent. A draft takes it; the interview would not.
    response = browser.post(
        "/web/drafts",
        _form(case, interview_date="", consent_given_on=""),
        token_from="/web/interviews/new",
    )
    assert response.status_code == 303
    location = response.headers["location"]
    assert re.fullmatch(r"/web/interviews/new\?draft=[0-9a-f-]{36}", location)
    resumed = browser.get(location)
    assert NARRATIVE in resumed.text and "초안 저장됨" in resumed.text


def test_submitting_the_interview_deletes_its_draft_and_its_secret(
    browser: Browser, web_deployment: Deployment
) -> None:
    case, officer = _officer(web_deployment, browser)
    draft_id = _autosave(browser, _form(case)).json()["id"]
    secret = web_deployment.settings.shred_secrets_path / f"{ShredId.draft(draft_id).name}.key"
    assert secret.is_file()

    response = browser.post("/web/interviews", _form(case, draft_id=draft_id))
    assert response.status_code == 303, response.text
    testimony_id = response.headers["location"].rsplit("/", 1)[1]

    assert _rows(web_deployment) == 0
    assert not secret.exists()
    assert browser.get(f"/web/interviews/new?draft={draft_id}").status_code == 404
    submitted = [e for e in _draft_events(web_deployment) if e["action"] == "draft.submit"]
    assert len(submitted) == 1 and submitted[0]["actor"] == officer.username
    assert json.loads(submitted[0]["details"])["testimony_id"] == testimony_id


def test_a_rejected_interview_keeps_its_draft(browser: Browser, web_deployment: Deployment) -> None:
    case, _ = _officer(web_deployment, browser)
    draft_id = _autosave(browser, _form(case)).json()["id"]
    response = browser.post("/web/interviews", _form(case, draft_id=draft_id, consent_given_on=""))
    assert response.status_code == 422
    assert f'name="draft_id" value="{draft_id}"' in response.text
    assert _rows(web_deployment) == 1


def test_discarding_deletes_the_draft_for_good(
    browser: Browser, web_deployment: Deployment
) -> None:
    case, _ = _officer(web_deployment, browser)
    draft_id = _autosave(browser, _form(case)).json()["id"]
    response = browser.post(f"/web/drafts/{draft_id}/discard", {}, token_from="/web/drafts")
    assert response.status_code == 303 and response.headers["location"] == "/web/drafts"
    assert _rows(web_deployment) == 0
    assert "오전 면담" not in browser.get("/web/drafts").text
    assert browser.get(f"/web/interviews/new?draft={draft_id}").status_code == 404
    # An autosave still in flight for it starts a new draft instead of reviving this one.
    assert _autosave(browser, _form(case, draft_id=draft_id)).status_code == 404
    actions = [e["action"] for e in _draft_events(web_deployment)]
    assert actions.count("draft.discard") == 1


def test_another_user_cannot_tell_a_draft_exists(
    browser: Browser, web_deployment: Deployment
) -> None:
    case, _ = _officer(web_deployment, browser)
    draft_id = _autosave(browser, _form(case)).json()["id"]

    colleague = web_deployment.user(Role.OFFICER, cases=(case,))
    other = Browser(web_deployment)
    try:
        other.sign_in(colleague)
        unknown = "00000000-0000-4000-8000-000000000000"
        mine = other.get(f"/web/interviews/new?draft={draft_id}")
        nobody = other.get(f"/web/interviews/new?draft={unknown}")
        assert mine.status_code == nobody.status_code == 404
        assert mine.text.replace(draft_id, "X") == nobody.text.replace(unknown, "X")
        assert NARRATIVE not in mine.text and LEGAL_NAME not in mine.text
        assert "오전 면담" not in other.get("/web/drafts").text
        overwrite = _autosave(other, _form(case, draft_id=draft_id, narrative_original="바꿈"))
        assert overwrite.status_code == 404
        discard = other.post(f"/web/drafts/{draft_id}/discard", {}, token_from="/web/drafts")
        assert discard.status_code == 404
        # Submitting with someone else's draft id makes the interview but leaves the draft.
        assert other.post("/web/interviews", _form(case, draft_id=draft_id)).status_code == 303
    finally:
        other.client.close()
    assert _rows(web_deployment) == 1
    assert NARRATIVE in browser.get(f"/web/interviews/new?draft={draft_id}").text

    admin = Browser(web_deployment)
    try:
        admin.sign_in(web_deployment.admin)
        assert admin.get(f"/web/interviews/new?draft={draft_id}").status_code == 403
        assert admin.get("/web/drafts").status_code == 403
    finally:
        admin.client.close()
    refusals = [
        e
        for e in web_deployment.custody_events()
        if e["action"] == "access.denied" and e["object_id"] == draft_id
    ]
    assert {json.loads(e["details"]).get("reason") for e in refusals} >= {"owner"}


def test_drafts_are_refused_without_the_csrf_token(
    browser: Browser, web_deployment: Deployment
) -> None:
    case, _ = _officer(web_deployment, browser)
    forged = browser.client.post(
        "/web/drafts", data={"csrf_token": "forged", **_form(case)}, headers=JSON
    )
    assert forged.status_code == 403
    missing = browser.client.post("/web/drafts", data=_form(case), headers=JSON)
    assert missing.status_code == 403
    # The form check lets multipart through for uploads; drafts refuse it outright.
    token = browser.csrf("/web/interviews/new")
    multipart = browser.client.post(
        "/web/drafts",
        data={"csrf_token": token, **_form(case)},
        files={"x": ("x.txt", b"x", "text/plain")},
        headers=JSON,
    )
    assert multipart.status_code == 403
    draft_id = _autosave(browser, _form(case)).json()["id"]
    discard = browser.client.post(
        f"/web/drafts/{draft_id}/discard", data={"csrf_token": "forged"}, follow_redirects=False
    )
    assert discard.status_code == 403
    assert _rows(web_deployment) == 1


def test_a_case_the_officer_may_not_write_to_takes_no_draft(
    browser: Browser, web_deployment: Deployment
) -> None:
    _officer(web_deployment, browser)
    elsewhere = web_deployment.case()
    response = _autosave(browser, _form(elsewhere))
    assert response.status_code == 404
    assert _rows(web_deployment) == 0


def test_expired_drafts_are_deleted_on_access_and_by_the_purge(
    browser: Browser, web_deployment: Deployment
) -> None:
    case, _ = _officer(web_deployment, browser)
    old = _autosave(browser, _form(case, draft_label="old")).json()["id"]
    fresh = _autosave(browser, _form(case, draft_label="fresh")).json()["id"]
    ttl = timedelta(hours=web_deployment.settings.draft_ttl_hours)

    def age(scope: Scope) -> None:
        scope.session.execute(
            update(InterviewDraft)
            .where(InterviewDraft.id == old)
            .values(updated_at=scope.now() - ttl - timedelta(minutes=1))
        )

    web_deployment.run(None, age)
    listing = browser.get("/web/drafts")
    assert "fresh" in listing.text and ">old<" not in listing.text
    assert browser.get(f"/web/interviews/new?draft={old}").status_code == 404
    secrets_dir = web_deployment.settings.shred_secrets_path
    assert not (secrets_dir / f"{ShredId.draft(old).name}.key").exists()
    assert (secrets_dir / f"{ShredId.draft(fresh).name}.key").exists()
    expired = [e for e in _draft_events(web_deployment) if e["action"] == "draft.expire"]
    assert [(e["object_id"], e["actor"]) for e in expired] == [(old, "system")]

    def age_all(scope: Scope) -> None:
        scope.session.execute(
            update(InterviewDraft).values(updated_at=scope.now() - ttl - timedelta(minutes=1))
        )

    web_deployment.run(None, age_all)
    from service.access.auth import AuthService
    from service.drafts.service import DraftService

    admin = web_deployment.run(
        None,
        lambda s: AuthService(s).verify_cli_password(
            web_deployment.admin.username, web_deployment.admin.password
        ),
    )
    assert web_deployment.run(admin, lambda s: DraftService(s).purge_expired()) == [fresh]
    assert _rows(web_deployment) == 0


def test_no_draft_content_reaches_the_disk_in_plaintext(
    browser: Browser, web_deployment: Deployment
) -> None:
    canary = f"canary{secrets.token_hex(6)}"
    korean = "초안증언카나리아"
    case, _ = _officer(web_deployment, browser)
    form = _form(
        case,
        narrative_original=f"{korean} {canary} narrative",
        legal_name=f"{canary}name",
        contact=f"{canary}@example.org",
        draft_label=f"{canary} label",
    )
    draft_id = _autosave(browser, form).json()["id"]
    _autosave(browser, {**form, "draft_id": draft_id, "translation_en": f"{canary} translation"})
    assert canary in browser.get(f"/web/interviews/new?draft={draft_id}").text

    needles = [canary.encode(), korean.encode("utf-8"), korean.encode("utf-16-le")]
    for path in web_deployment.settings.resolved_data_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(n in data for n in needles), path


def test_key_rotation_rewraps_draft_keys_and_drafts_still_open(
    browser: Browser, web_deployment: Deployment
) -> None:
    from service.access.auth import AuthService
    from service.access.keys import KeyService
    from service.crypto.interfaces import KeyPurpose

    case, _ = _officer(web_deployment, browser)
    draft_id = _autosave(browser, _form(case)).json()["id"]
    admin = web_deployment.run(
        None,
        lambda s: AuthService(s).verify_cli_password(
            web_deployment.admin.username, web_deployment.admin.password
        ),
    )
    for purpose in (KeyPurpose.CONTENT, KeyPurpose.IDENTITY):
        web_deployment.run(admin, lambda s, p=purpose: KeyService(s).rotate(p))

    def versions(scope: Scope) -> tuple[int, int]:
        draft = scope.session.get(InterviewDraft, draft_id)
        assert draft is not None
        return draft.content_kek_version, draft.identity_kek_version

    assert web_deployment.run(None, versions) == (2, 2)
    page = browser.get(f"/web/interviews/new?draft={draft_id}")
    assert NARRATIVE in page.text and LEGAL_NAME in page.text
