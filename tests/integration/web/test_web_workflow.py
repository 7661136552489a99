"""The pages do the work through the domain services: every read is on the record."""

from __future__ import annotations

import re

from service.context import Role
from tests.factories import Deployment, first_category
from tests.integration.web.conftest import Browser

NARRATIVE = "2017년 겨울 전거리 교화소에서 강제 노동을 했습니다. 매일 새벽까지 일했습니다."


def _interview(case: str, pseudonym: str) -> dict[str, object]:
    return {
        "case": case,
        "interview_date": "2024-05-02",
        "interview_place": "서울",
        "language": "ko",
        "interviewer": "officer.lee",
        "pseudonym": pseudonym,
        "legal_name": "김영희",
        "birth_year": "1979",
        "family_in_dprk": "언니 (청진)",
        "scopes": ["internal_analysis", "un_mechanisms"],
        "consent_given_on": "2024-05-02",
        "narrative_original": NARRATIVE,
        "translation_en": "In winter 2017 I did forced labour in Jongori prison camp.",
    }


def _enter_testimony(web_deployment: Deployment, browser: Browser, case: str) -> str:
    response = browser.post("/web/interviews", _interview(case, "W-WEB-1"))
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert re.fullmatch(r"/web/testimonies/[0-9a-f-]{36}", location)
    return location.rsplit("/", 1)[1]


def test_officer_enters_codes_and_attaches_through_the_pages(
    browser: Browser, web_deployment: Deployment
) -> None:
    case = web_deployment.case()
    browser.sign_in(web_deployment.user(Role.OFFICER, cases=(case,)))
    testimony_id = _enter_testimony(web_deployment, browser, case)
    incident = {
        "intent": "save",
        "categories": [first_category()],
        "date": "2017-12",
        "date_precision": "month",
        "place": "Jongori",
        "facility": "Kyohwaso No. 12",
        "involvement": "victim",
        "description": "강제 노동",
    }
    assert browser.post(f"/web/testimonies/{testimony_id}/incidents", incident).status_code == 303
    token = browser.csrf(f"/web/testimonies/{testimony_id}")
    upload = browser.client.post(
        f"/web/testimonies/{testimony_id}/attachments",
        data={"csrf_token": token},
        files={"file": ("note.txt", "손으로 그린 지도 설명".encode(), "text/plain")},
        follow_redirects=False,
    )
    assert upload.status_code == 303, upload.text
    page = browser.get(f"/web/testimonies/{testimony_id}")
    assert NARRATIVE in page.text and "note.txt" in page.text and "Jongori" in page.text
    assert "김영희" not in page.text  # identity only after a reason
    actions = [(e["action"], e["channel"]) for e in web_deployment.custody_events()]
    for action in ("testimony.create", "incident.create", "attachment.create", "testimony.read"):
        assert (action, "web") in actions


def test_an_upload_without_the_csrf_token_stores_nothing(
    browser: Browser, web_deployment: Deployment
) -> None:
    case = web_deployment.case()
    browser.sign_in(web_deployment.user(Role.OFFICER, cases=(case,)))
    testimony_id = _enter_testimony(web_deployment, browser, case)
    response = browser.client.post(
        f"/web/testimonies/{testimony_id}/attachments",
        data={"csrf_token": "forged"},
        files={"file": ("x.txt", b"text", "text/plain")},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert "attachment.create" not in {e["action"] for e in web_deployment.custody_events()}


def test_a_rejected_interview_comes_back_filled_in_and_stores_nothing(
    browser: Browser, web_deployment: Deployment
) -> None:
    case = web_deployment.case()
    browser.sign_in(web_deployment.user(Role.OFFICER, cases=(case,)))
    form = {**_interview(case, "W-WEB-2"), "consent_given_on": ""}
    response = browser.post("/web/interviews", form)
    assert response.status_code == 422
    assert "동의 일자: 필수 항목입니다." in response.text and "W-WEB-2" in response.text
    assert "testimony.create" not in {e["action"] for e in web_deployment.custody_events()}


def test_investigator_finds_by_korean_phrase_and_facet_then_reveals_with_a_reason(
    browser: Browser, web_deployment: Deployment
) -> None:
    case = web_deployment.case()
    officer = Browser(web_deployment)
    officer.sign_in(web_deployment.user(Role.OFFICER, cases=(case,)))
    testimony_id = _enter_testimony(web_deployment, officer, case)
    browser.sign_in(web_deployment.user(Role.INVESTIGATOR, cases=(case,)))
    found = browser.post("/web/search", {"q": '"강제 노동"'}, token_from="/web/search")
    assert found.status_code == 200 and testimony_id in found.text
    assert "<mark>" in found.text
    by_facet = browser.post("/web/search", {"language": "ko"}, token_from="/web/search")
    assert testimony_id in by_facet.text
    no_reason = browser.post("/web/witnesses/W-WEB-1/reveal", {"reason": "short"})
    assert no_reason.status_code == 422 and "김영희" not in no_reason.text
    reason = "Cross-checking the witness against the prison-camp list"
    revealed = browser.post("/web/witnesses/W-WEB-1/reveal", {"reason": reason})
    assert revealed.status_code == 200 and "김영희" in revealed.text
    reveal = [e for e in web_deployment.custody_events() if e["action"] == "identity.reveal"]
    assert len(reveal) == 1 and reveal[0]["channel"] == "web"
    assert browser.get("/web/statistics").status_code == 200


def test_auditor_sees_the_timeline_verifies_and_downloads(
    browser: Browser, web_deployment: Deployment
) -> None:
    browser.sign_in(web_deployment.user(Role.AUDITOR))
    timeline = browser.get("/web/custody?action=auth.login")
    assert timeline.status_code == 200 and "auth.login" in timeline.text
    verified = browser.post("/web/custody/verify", {})
    assert verified.status_code == 200 and 'id="verify-result"' in verified.text
    assert 'class="ok"' in verified.text
    checkpoint = browser.post("/web/custody/checkpoints", {})
    assert checkpoint.status_code == 200 and "— custodia.example/custody" in checkpoint.text
    download = browser.get("/web/custody/download?format=csv")
    assert download.status_code == 200 and download.text.startswith("seq,")
    assert download.headers["cache-control"] == "no-store"
