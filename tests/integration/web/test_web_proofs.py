"""The auditor's proof page checks each proof against the signed checkpoint, not the tables."""

from __future__ import annotations

import html
import re
from pathlib import Path

from sqlalchemy import update

from service.context import Role
from service.custody.models import CustodyEvent
from service.custody.publish import checkpoint_filename
from tests.factories import Account, Deployment, interview_record
from tests.integration.web.conftest import Browser


def _checkpoint(browser: Browser) -> int:
    made = browser.post("/web/custody/checkpoints", {}, token_from="/web/custody/checkpoints")
    assert made.status_code == 200, made.text
    size = re.search(r"<dt>[^<]+</dt><dd>(\d+)</dd>", made.text)
    assert size, made.text
    return int(size.group(1))


def _result(page: str, element: str) -> tuple[str, str]:
    found = re.search(rf'<p id="{element}" role="status" class="(\w+)">([^<]*)', page)
    assert found, page
    return found.group(1), found.group(2)


def _one_testimony_then_auditor(browser: Browser, deployment: Deployment) -> tuple[str, Account]:
    """A testimony on the record (its case and officer returned), the browser an auditor's."""
    case = deployment.case()
    officer = deployment.user(Role.OFFICER, cases=(case,))
    deployment.create_testimony(officer, interview_record(case))
    browser.sign_in(deployment.user(Role.AUDITOR))
    return case, officer


def _alter_the_first_event(deployment: Deployment) -> None:
    with deployment.runtime.engine.begin() as connection:
        connection.execute(
            update(CustodyEvent).where(CustodyEvent.seq == 1).values(actor_name="someone-else")
        )


def test_inclusion_and_consistency_proofs_hold_against_signed_checkpoints(
    browser: Browser, web_deployment: Deployment
) -> None:
    case, officer = _one_testimony_then_auditor(browser, web_deployment)
    earlier = _checkpoint(browser)
    web_deployment.create_testimony(officer, interview_record(case))
    later = _checkpoint(browser)
    assert later > earlier

    inclusion = browser.get(f"/web/custody/proofs?index=1&tree_size={later}")
    consistency = browser.get(f"/web/custody/proofs?first={earlier}&second={later}")

    assert inclusion.status_code == 200
    assert _result(inclusion.text, "inclusion-result")[0] == "ok"
    assert _result(consistency.text, "consistency-result")[0] == "ok"


def test_an_event_altered_in_the_database_fails_its_inclusion_check_on_the_page(
    browser: Browser, web_deployment: Deployment
) -> None:
    _one_testimony_then_auditor(browser, web_deployment)
    size = _checkpoint(browser)
    _alter_the_first_event(web_deployment)

    page = browser.get(f"/web/custody/proofs?index=1&tree_size={size}")

    outcome, message = _result(page.text, "inclusion-result")
    assert outcome == "error" and "leaf hash" in message


def test_verify_now_names_the_kind_of_the_first_bad_entry_in_korean(
    browser: Browser, web_deployment: Deployment
) -> None:
    _one_testimony_then_auditor(browser, web_deployment)
    _alter_the_first_event(web_deployment)

    page = browser.post("/web/custody/verify", {}, token_from="/web/custody/verify")

    first = re.search(r'<p id="first-bad">(.*?)</p>', page.text, re.DOTALL)
    assert page.status_code == 200 and first, page.text
    assert "#1" in first.group(1) and "<strong>내용이 변경됨</strong>" in first.group(1)
    assert '<span lang="en">the stored leaf hash does not match' in first.group(1)


def test_only_auditors_see_proofs(browser: Browser, web_deployment: Deployment) -> None:
    browser.sign_in(web_deployment.user(Role.INVESTIGATOR))
    assert browser.get("/web/custody/proofs?index=0").status_code == 403


def test_an_auditor_publishes_the_latest_checkpoint_to_the_witness_locations(
    database_url: str, tmp_path: Path
) -> None:
    witness = tmp_path / "witness"
    deployment = Deployment.create(
        tmp_path / "data", database_url, checkpoint_publish_dirs=(witness,)
    )
    browser = Browser(deployment)
    browser.client.headers["Accept-Language"] = "en"
    try:
        browser.sign_in(deployment.user(Role.AUDITOR))
        page = browser.get("/web/custody/checkpoints")
        assert "Publish the latest checkpoint to 1 witness locations" in page.text
        size = _checkpoint(browser)
        published = browser.post(
            "/web/custody/checkpoints/publish", {}, token_from="/web/custody/checkpoints"
        )
        assert published.status_code == 200, published.text
        copy = witness / checkpoint_filename(size)
        assert copy.name in published.text
        # The copy is the signed note the page shows, byte for byte.
        latest = browser.get("/web/custody/checkpoints").text
        signed = re.search(r'<pre class="mono">([^<]*)</pre>', latest)
        assert signed and html.unescape(signed.group(1)) == copy.read_text()

        # Without the form token the publishing is refused.
        forged = browser.client.post(
            "/web/custody/checkpoints/publish", data={"csrf_token": "x"}, follow_redirects=False
        )
        assert forged.status_code == 403
    finally:
        browser.client.close()
        deployment.close()


def test_publishing_needs_the_auditor_role_and_configured_witnesses(
    browser: Browser, web_deployment: Deployment
) -> None:
    browser.sign_in(web_deployment.user(Role.AUDITOR))
    page = browser.get("/web/custody/checkpoints")
    assert "CUSTODIA_CHECKPOINT_PUBLISH_DIRS" in page.text
    assert 'action="/web/custody/checkpoints/publish"' not in page.text
    refused = browser.post(
        "/web/custody/checkpoints/publish", {}, token_from="/web/custody/checkpoints"
    )
    assert refused.status_code == 422

    admin = Browser(web_deployment)
    try:
        admin.sign_in(web_deployment.user(Role.ADMIN))
        denied = admin.post("/web/custody/checkpoints/publish", {}, token_from="/web/")
        assert denied.status_code == 403
    finally:
        admin.client.close()
