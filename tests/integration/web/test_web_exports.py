"""Export pages: one investigator requests, a second approves and builds; never the same."""

from __future__ import annotations

import re

from service.context import Role
from tests.factories import Deployment, interview_record
from tests.integration.web.conftest import Browser


def test_two_investigators_request_approve_build_and_download(
    browser: Browser, web_deployment: Deployment
) -> None:
    case = web_deployment.case()
    officer = web_deployment.user(Role.OFFICER, cases=(case,))
    created = web_deployment.create_testimony(officer, interview_record(case))
    profile = web_deployment.client.post(
        "/api/v1/exports/profiles",
        json={"name": "UN-OHCHR Seoul", "kind": "un_mechanisms"},
        headers=web_deployment.admin.headers,
    )
    assert profile.status_code == 201, profile.text
    browser.sign_in(web_deployment.user(Role.INVESTIGATOR, cases=(case,)))
    requested = browser.post(
        "/web/exports",
        {
            "profile": "UN-OHCHR Seoul",
            "purpose": "Submission to the UN accountability repository.",
            "cases": [case],
        },
    )
    assert requested.status_code == 303, requested.text
    export_path = requested.headers["location"]
    export_id = export_path.rsplit("/", 1)[1]
    own = browser.post(f"{export_path}/approve", {"note": "self"})
    assert own.status_code == 403  # the requester may not approve

    second = Browser(web_deployment)
    second.sign_in(web_deployment.user(Role.INVESTIGATOR, cases=(case,)))
    page = second.get(export_path)
    assert created["id"] in page.text and "/approve" in page.text
    assert second.post(f"{export_path}/approve", {"note": "checked"}).status_code == 303
    assert second.post(f"{export_path}/build", {}).status_code == 303
    bag = second.get(f"{export_path}/bag")
    assert bag.status_code == 200 and bag.headers["content-type"] == "application/x-tar"
    assert re.search(r'id="export-state">[^<]+<', second.get(export_path).text)
    actions = [
        (e["action"], e["channel"])
        for e in web_deployment.custody_events()
        if e["object_id"] == export_id
    ]
    for action in ("export.request", "export.approve", "export.build", "export.download"):
        assert (action, "web") in actions


def test_officers_have_no_export_pages(browser: Browser, web_deployment: Deployment) -> None:
    browser.sign_in(web_deployment.user(Role.OFFICER))
    assert browser.get("/web/exports").status_code == 403
