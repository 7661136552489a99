"""Officers correct a narrative or retract an incident in the pages; nothing is overwritten."""

from __future__ import annotations

from service.context import Role
from tests.factories import Account, Deployment, interview_record
from tests.integration.web.conftest import Browser

CORRECTED = "2018년 봄, 회령 집결소에서 조사를 받았습니다. (정정: 2017년이 아니라 2018년)"


def _entered(web_deployment: Deployment) -> tuple[Account, dict[str, object], str]:
    case = web_deployment.case()
    officer = web_deployment.user(Role.OFFICER, cases=(case,))
    return officer, web_deployment.create_testimony(officer, interview_record(case)), case


def _versions(web_deployment: Deployment, account: Account, testimony_id: object) -> list[int]:
    response = web_deployment.client.get(
        f"/api/v1/testimonies/{testimony_id}/versions", headers=account.headers
    )
    assert response.status_code == 200, response.text
    return [v["version"] for v in response.json()]


def test_a_corrected_narrative_becomes_a_new_version_and_the_old_one_stays(
    browser: Browser, web_deployment: Deployment
) -> None:
    officer, created, _ = _entered(web_deployment)
    page = f"/web/testimonies/{created['id']}"
    browser.sign_in(officer)
    form = browser.get(f"{page}/edit")
    assert form.status_code == 200 and 'name="narrative_original"' in form.text

    saved = browser.post(
        f"{page}/edit",
        {"narrative_original": CORRECTED, "translation_en": "Spring 2018, Hoeryong."},
        token_from=f"{page}/edit",
    )

    assert saved.status_code == 303 and saved.headers["location"] == f"{page}/versions"
    assert CORRECTED in browser.get(page).text
    assert _versions(web_deployment, officer, created["id"]) == [1, 2]
    events = [
        (e["action"], e["channel"])
        for e in web_deployment.custody_events()
        if e["object_id"] == created["id"]
    ]
    assert ("testimony.update", "web") in events


def test_an_empty_narrative_is_refused_and_no_version_is_written(
    browser: Browser, web_deployment: Deployment
) -> None:
    officer, created, _ = _entered(web_deployment)
    page = f"/web/testimonies/{created['id']}"
    browser.sign_in(officer)

    refused = browser.post(f"{page}/edit", {"narrative_original": ""}, token_from=f"{page}/edit")

    assert refused.status_code == 422 and 'role="alert"' in refused.text
    assert _versions(web_deployment, officer, created["id"]) == [1]


def test_investigators_and_officers_of_other_cases_cannot_correct(
    browser: Browser, web_deployment: Deployment
) -> None:
    officer, created, case = _entered(web_deployment)
    page = f"/web/testimonies/{created['id']}"
    browser.sign_in(web_deployment.user(Role.INVESTIGATOR, cases=(case,)))
    assert browser.get(f"{page}/edit").status_code == 403
    assert "/edit" not in browser.get(page).text and "/retract" not in browser.get(page).text
    token = browser.csrf(page)
    posted = browser.client.post(
        f"{page}/edit",
        data={"csrf_token": token, "narrative_original": CORRECTED},
        follow_redirects=False,
    )
    assert posted.status_code == 403

    outsider = Browser(web_deployment)
    outsider.sign_in(web_deployment.user(Role.OFFICER, cases=(web_deployment.case(),)))
    assert outsider.get(f"{page}/edit").status_code in (403, 404)
    outsider.client.close()
    assert _versions(web_deployment, officer, created["id"]) == [1]


def test_a_correction_without_the_form_token_is_refused(
    browser: Browser, web_deployment: Deployment
) -> None:
    officer, created, _ = _entered(web_deployment)
    browser.sign_in(officer)
    forged = browser.client.post(
        f"/web/testimonies/{created['id']}/edit",
        data={"csrf_token": "forged", "narrative_original": CORRECTED},
        follow_redirects=False,
    )
    assert forged.status_code == 403
    assert _versions(web_deployment, officer, created["id"]) == [1]


def test_a_retracted_incident_is_marked_and_kept(
    browser: Browser, web_deployment: Deployment
) -> None:
    officer, created, _ = _entered(web_deployment)
    incident_ids = created["incident_ids"]
    assert isinstance(incident_ids, list)
    incident = incident_ids[0]
    page = f"/web/testimonies/{created['id']}"
    browser.sign_in(officer)
    assert f"/incidents/{incident}/retract" in browser.get(page).text

    assert browser.post(
        f"{page}/incidents/{incident}/retract", {}, token_from=page
    ).status_code == (303)

    shown = browser.get(page).text
    assert f"/incidents/{incident}/retract" not in shown
    read = web_deployment.client.get(
        f"/api/v1/testimonies/{created['id']}", headers=officer.headers
    )
    assert [i["retracted"] for i in read.json()["incidents"] if i["id"] == incident] == [True]
    assert ("incident.update", "web") in [
        (e["action"], e["channel"])
        for e in web_deployment.custody_events()
        if e["object_id"] == incident
    ]
