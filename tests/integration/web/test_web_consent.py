"""An officer records a consent change on the testimony page; a withdrawal bites at once."""

from __future__ import annotations

from service.context import Role
from tests.factories import Deployment, interview_record
from tests.integration.web.conftest import Browser


def _consent_change(browser: Browser, testimony_id: str, **fields: str) -> int:
    page = f"/web/testimonies/{testimony_id}"
    return browser.post(f"{page}/consent", fields, token_from=page).status_code


def test_a_withdrawal_recorded_on_the_page_refuses_the_next_export_under_that_scope(
    browser: Browser, web_deployment: Deployment
) -> None:
    case = web_deployment.case()
    officer = web_deployment.user(Role.OFFICER, cases=(case,))
    created = web_deployment.create_testimony(officer, interview_record(case))
    browser.sign_in(officer)
    page = browser.get(f"/web/testimonies/{created['id']}")
    assert 'action="/web/testimonies/' in page.text and 'name="effective_on"' in page.text

    status = _consent_change(
        browser, created["id"], scope="un_mechanisms", kind="withdrawn", effective_on="2024-06-01"
    )

    assert status == 303
    shown = browser.get(f"/web/testimonies/{created['id']}").text
    assert "2024-06-01" in shown
    events = [
        (e["action"], e["channel"], e["actor"])
        for e in web_deployment.custody_events()
        if e["object_id"] == created["id"]
    ]
    assert ("consent.withdraw", "web", officer.username) in events
    admin = web_deployment.admin.headers
    profile = {"name": "UN-OHCHR", "kind": "un_mechanisms"}
    assert (
        web_deployment.client.post("/api/v1/exports/profiles", json=profile, headers=admin)
    ).status_code == 201
    investigator = web_deployment.user(Role.INVESTIGATOR, cases=(case,))
    requested = web_deployment.client.post(
        "/api/v1/exports",
        json={"profile": "UN-OHCHR", "purpose": "Submission after withdrawal", "cases": [case]},
        headers=investigator.headers,
    )
    assert requested.status_code == 403, requested.text  # nothing left to export
    refusal = requested.json()
    assert refusal["type"].endswith("/consent-refused")
    assert refusal["errors"] == [
        {
            "field": f"testimony:{created['id']}",
            "message": "consent to 'un_mechanisms' was withdrawn on 2024-06-01",
        }
    ]


def test_a_malformed_consent_change_is_refused_and_nothing_is_recorded(
    browser: Browser, web_deployment: Deployment
) -> None:
    case = web_deployment.case()
    officer = web_deployment.user(Role.OFFICER, cases=(case,))
    created = web_deployment.create_testimony(officer, interview_record(case))
    browser.sign_in(officer)
    before = len(web_deployment.custody_events())

    for bad in (
        {"scope": "everything", "kind": "withdrawn", "effective_on": "2024-06-01"},
        {"scope": "un_mechanisms", "kind": "maybe", "effective_on": "2024-06-01"},
        {"scope": "un_mechanisms", "kind": "withdrawn", "effective_on": "not a date"},
    ):
        assert _consent_change(browser, created["id"], **bad) == 422

    actions = [e["action"] for e in web_deployment.custody_events()[before:]]
    assert "consent.withdraw" not in actions and "consent.give" not in actions


def test_only_officers_of_the_case_may_change_consent(
    browser: Browser, web_deployment: Deployment
) -> None:
    case = web_deployment.case()
    officer = web_deployment.user(Role.OFFICER, cases=(case,))
    created = web_deployment.create_testimony(officer, interview_record(case))
    change = {"scope": "un_mechanisms", "kind": "withdrawn", "effective_on": "2024-06-01"}

    browser.sign_in(web_deployment.user(Role.INVESTIGATOR, cases=(case,)))
    assert "/consent" not in browser.get(f"/web/testimonies/{created['id']}").text
    assert _consent_change(browser, created["id"], **change) == 403

    other = Browser(web_deployment)
    other.sign_in(web_deployment.user(Role.OFFICER, cases=(web_deployment.case(),)))
    assert other.post(f"/web/testimonies/{created['id']}/consent", change).status_code in (403, 404)
    other.client.close()


def test_a_consent_change_without_the_form_token_is_refused(
    browser: Browser, web_deployment: Deployment
) -> None:
    case = web_deployment.case()
    officer = web_deployment.user(Role.OFFICER, cases=(case,))
    created = web_deployment.create_testimony(officer, interview_record(case))
    browser.sign_in(officer)
    forged = browser.client.post(
        f"/web/testimonies/{created['id']}/consent",
        data={
            "csrf_token": "forged",
            "scope": "un_mechanisms",
            "kind": "withdrawn",
            "effective_on": "2024-06-01",
        },
        follow_redirects=False,
    )
    assert forged.status_code == 403
    assert "consent.withdraw" not in [e["action"] for e in web_deployment.custody_events()]
