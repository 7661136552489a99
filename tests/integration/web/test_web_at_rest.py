"""Content entered through the pages never reaches disk in plaintext (invariant 1)."""

from __future__ import annotations

import secrets

from service.context import Role
from tests.factories import Deployment
from tests.integration.web.conftest import Browser


def test_web_entry_and_upload_leave_no_plaintext_under_the_data_directory(
    browser: Browser, web_deployment: Deployment
) -> None:
    canary = f"canary{secrets.token_hex(6)}"
    korean = "탈북민증언카나리아"
    case = web_deployment.case()
    browser.sign_in(web_deployment.user(Role.OFFICER, cases=(case,)))
    response = browser.post(
        "/web/interviews",
        {
            "case": case,
            "interview_date": "2024-05-02",
            "interview_place": "Seoul",
            "language": "ko",
            "interviewer": "officer.lee",
            "pseudonym": "W-CANARY-1",
            "legal_name": f"{canary}name",
            "scopes": ["internal_analysis"],
            "consent_given_on": "2024-05-02",
            "narrative_original": f"{korean} {canary} narrative",
        },
    )
    testimony_id = response.headers["location"].rsplit("/", 1)[1]
    token = browser.csrf(f"/web/testimonies/{testimony_id}")
    upload = browser.client.post(
        f"/web/testimonies/{testimony_id}/attachments",
        data={"csrf_token": token},
        files={"file": ("c.txt", f"{canary} attachment {korean}".encode(), "text/plain")},
        follow_redirects=False,
    )
    assert upload.status_code == 303
    assert canary in browser.get(f"/web/testimonies/{testimony_id}").text

    needles = [canary.encode(), korean.encode("utf-8"), korean.encode("utf-16-le")]
    for path in web_deployment.settings.resolved_data_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(n in data for n in needles), path
