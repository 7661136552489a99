"""Anyone signed in reads their own account and chooses the interface language over HTTP."""

from __future__ import annotations

from service.context import Role
from tests.factories import Deployment

ME = "/api/v1/me"


def test_each_role_reads_its_own_account_and_nothing_more(deployment: Deployment) -> None:
    for role in Role:
        account = deployment.user(role)
        me = deployment.client.get(ME, headers=account.headers)
        assert me.status_code == 200, me.text
        assert me.json() == {
            "username": account.username,
            "display_name": me.json()["display_name"],
            "role": role.value,
            "language": None,
        }


def test_the_language_set_over_http_is_the_one_the_web_pages_use(
    deployment: Deployment,
) -> None:
    officer = deployment.user(Role.OFFICER)
    changed = deployment.client.patch(ME, json={"language": "EN "}, headers=officer.headers)
    assert changed.status_code == 200, changed.text
    assert changed.json()["language"] == "en"
    assert deployment.client.get(ME, headers=officer.headers).json()["language"] == "en"

    # A browser that asks for Korean still gets the language stored on the account.
    web = deployment.client
    signin = web.get("/web/signin", headers={"Accept-Language": "ko"})
    assert signin.status_code == 200
    token = signin.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    signed_in = web.post(
        "/web/signin",
        data={"csrf_token": token, "username": officer.username, "password": officer.password},
        headers={"Accept-Language": "ko"},
        follow_redirects=False,
    )
    assert signed_in.status_code == 303, signed_in.text
    home = web.get("/web/", headers={"Accept-Language": "ko"})
    assert '<html lang="en"' in home.text


def test_an_unoffered_language_is_refused_and_nothing_is_stored(deployment: Deployment) -> None:
    investigator = deployment.user(Role.INVESTIGATOR)
    refused = deployment.client.patch(ME, json={"language": "fr"}, headers=investigator.headers)
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["errors"] == [{"field": "language", "message": "not an offered language"}]
    assert deployment.client.get(ME, headers=investigator.headers).json()["language"] is None
    extra = deployment.client.patch(
        ME, json={"language": "en", "role": "admin"}, headers=investigator.headers
    )
    assert extra.status_code == 422  # the role is not the caller's to change
    assert deployment.client.get(ME, headers=investigator.headers).json()["role"] == "investigator"


def test_without_a_token_there_is_no_account(deployment: Deployment) -> None:
    assert deployment.client.get(ME).status_code == 401
    assert deployment.client.patch(ME, json={"language": "en"}).status_code == 401
