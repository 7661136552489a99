"""Administrator pages: roles, unlocking, recipient profiles and key rotation.

Every change is a form carrying the session's CSRF token and goes through the same domain
service as the API, so it is refused, recorded (channel ``web``) and validated exactly the
same way. Changes that end someone's sessions or re-wrap keys show a confirmation page
first, which changes nothing.
"""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta
from typing import Any

import pyrage

from service.context import Role
from service.db.base import utcnow
from tests.factories import Account, Deployment
from tests.integration.web.conftest import Browser

USERS = "/web/admin/users"
PROFILES = "/web/admin/profiles"
KEYS = "/web/admin/keys"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


def as_admin(browser: Browser, deployment: Deployment) -> Browser:
    assert browser.sign_in(deployment.admin).status_code == 303
    return browser


def api_users(deployment: Deployment) -> dict[str, dict[str, Any]]:
    response = deployment.client.get("/api/v1/users", headers=deployment.admin.headers)
    assert response.status_code == 200, response.text
    return {u["username"]: u for u in response.json()}


def api_profiles(deployment: Deployment) -> dict[str, dict[str, Any]]:
    response = deployment.client.get("/api/v1/exports/profiles", headers=deployment.admin.headers)
    assert response.status_code == 200, response.text
    return {p["name"]: p for p in response.json()}


def key_version(deployment: Deployment, purpose: str = "content") -> int:
    response = deployment.client.get("/api/v1/keys", headers=deployment.admin.headers)
    assert response.status_code == 200, response.text
    versions: list[int] = [k["version"] for k in response.json() if k["purpose"] == purpose]
    return max(versions)


def token_works(deployment: Deployment, account: Account) -> bool:
    response = deployment.client.get("/api/v1/taxonomy", headers=account.headers)
    return response.status_code == 200


def actions_since(deployment: Deployment, before: int) -> list[tuple[str, str, str | None]]:
    return [(e["action"], e["channel"], e["actor"]) for e in deployment.custody_events()[before:]]


def age_key() -> str:
    return str(pyrage.x25519.Identity.generate().to_public())


def with_bad_checksum(key: str) -> str:
    return key[:-1] + ("q" if key[-1] != "q" else "p")


def visible_text(page: str) -> str:
    """What a person reads: the text between tags, and the labels read out to them."""
    labels = " ".join(re.findall(r'aria-label="([^"]*)"', page))
    return html.unescape(re.sub(r"<[^>]+>", " ", page) + " " + labels)


# ---- roles -----------------------------------------------------------------------------------


def test_a_role_change_shows_its_consequences_first_and_changes_nothing_until_confirmed(
    browser: Browser, web_deployment: Deployment
) -> None:
    case = web_deployment.case()
    officer = web_deployment.user(Role.OFFICER, cases=(case,))
    as_admin(browser, web_deployment)
    listing = browser.get(USERS)
    assert f'action="/web/admin/users/{officer.username}/role"' in listing.text
    before = len(web_deployment.custody_events())

    confirm = browser.post(
        f"{USERS}/{officer.username}/role", {"role": "auditor"}, token_from=USERS
    )

    assert confirm.status_code == 200, confirm.text
    assert 'name="confirm" value="yes"' in confirm.text
    assert 'name="role" value="auditor"' in confirm.text
    assert case in confirm.text  # the cases the officer will leave are named
    assert actions_since(web_deployment, before) == []
    assert api_users(web_deployment)[officer.username]["role"] == "officer"
    assert token_works(web_deployment, officer)


def test_a_confirmed_role_change_takes_effect_and_is_recorded_on_the_web_channel(
    browser: Browser, web_deployment: Deployment
) -> None:
    case = web_deployment.case()
    officer = web_deployment.user(Role.OFFICER, cases=(case,))
    as_admin(browser, web_deployment)
    before = len(web_deployment.custody_events())

    done = browser.post(
        f"{USERS}/{officer.username}/role", {"role": "auditor", "confirm": "yes"}, token_from=USERS
    )

    assert done.status_code == 200, done.text
    assert 'role="status"' in done.text
    assert api_users(web_deployment)[officer.username]["role"] == "auditor"
    assert actions_since(web_deployment, before) == [
        ("user.role_change", "web", web_deployment.admin.username)
    ]
    assert not token_works(web_deployment, officer)  # their sessions ended
    cases = web_deployment.client.get("/api/v1/cases", headers=web_deployment.admin.headers)
    assert next(c["members"] for c in cases.json() if c["code"] == case) == []


def test_an_administrator_is_offered_no_change_of_their_own_role_and_a_forced_one_is_refused(
    browser: Browser, web_deployment: Deployment
) -> None:
    admin = web_deployment.admin.username
    as_admin(browser, web_deployment)
    assert f'action="/web/admin/users/{admin}/role"' not in browser.get(USERS).text
    before = len(web_deployment.custody_events())

    confirm = browser.post(f"{USERS}/{admin}/role", {"role": "auditor"}, token_from=USERS)
    forced = browser.post(
        f"{USERS}/{admin}/role", {"role": "auditor", "confirm": "yes"}, token_from=USERS
    )

    assert confirm.status_code == 200 and 'name="confirm"' not in confirm.text
    assert forced.status_code == 409 and 'role="alert"' in forced.text
    assert api_users(web_deployment)[admin]["role"] == "admin"
    assert actions_since(web_deployment, before) == []


def test_choosing_the_role_a_user_already_has_offers_nothing_to_confirm_and_records_nothing(
    browser: Browser, web_deployment: Deployment
) -> None:
    officer = web_deployment.user(Role.OFFICER)
    as_admin(browser, web_deployment)
    before = len(web_deployment.custody_events())

    confirm = browser.post(
        f"{USERS}/{officer.username}/role", {"role": "officer"}, token_from=USERS
    )
    again = browser.post(
        f"{USERS}/{officer.username}/role", {"role": "officer", "confirm": "yes"}, token_from=USERS
    )

    assert confirm.status_code == 200 and 'name="confirm"' not in confirm.text
    assert again.status_code == 200
    assert actions_since(web_deployment, before) == []
    assert token_works(web_deployment, officer)


def test_an_unknown_role_or_user_is_refused_and_nothing_changes(
    browser: Browser, web_deployment: Deployment
) -> None:
    officer = web_deployment.user(Role.OFFICER)
    as_admin(browser, web_deployment)
    before = len(web_deployment.custody_events())

    bad_role = browser.post(
        f"{USERS}/{officer.username}/role",
        {"role": "superuser", "confirm": "yes"},
        token_from=USERS,
    )
    nobody = browser.post(
        f"{USERS}/nobody.by.that.name/role", {"role": "auditor", "confirm": "yes"}, token_from=USERS
    )

    assert bad_role.status_code == 422 and "superuser" not in visible_text(bad_role.text)
    assert nobody.status_code == 404
    assert api_users(web_deployment)[officer.username]["role"] == "officer"
    assert actions_since(web_deployment, before) == []


# ---- unlocking -------------------------------------------------------------------------------


def test_a_locked_out_account_gets_an_unlock_button_that_lets_the_right_password_in_at_once(
    browser: Browser, web_deployment: Deployment
) -> None:
    clock = Clock()
    web_deployment.runtime.clock = clock
    locked = web_deployment.user(Role.INVESTIGATOR)
    fine = web_deployment.user(Role.INVESTIGATOR)
    login = "/api/v1/auth/login"
    for _ in range(web_deployment.settings.login_lock_after):
        clock.now += timedelta(seconds=65)  # past every slow-down before the lock
        wrong = {"username": locked.username, "password": "not-the-password"}
        assert web_deployment.client.post(login, json=wrong).status_code == 401
    right = {"username": locked.username, "password": locked.password}
    assert web_deployment.client.post(login, json=right).status_code == 429
    as_admin(browser, web_deployment)
    listing = browser.get(USERS).text
    assert f'action="/web/admin/users/{locked.username}/unlock"' in listing
    assert f'action="/web/admin/users/{fine.username}/unlock"' not in listing
    before = len(web_deployment.custody_events())

    unlocked = browser.post(f"{USERS}/{locked.username}/unlock", {}, token_from=USERS)

    assert unlocked.status_code == 200, unlocked.text
    assert f'action="/web/admin/users/{locked.username}/unlock"' not in unlocked.text
    assert actions_since(web_deployment, before) == [
        ("user.unlock", "web", web_deployment.admin.username)
    ]
    assert web_deployment.client.post(login, json=right).status_code == 200


# ---- recipient profiles ----------------------------------------------------------------------


def test_a_profile_created_with_no_field_ticked_receives_its_kinds_default_fields(
    browser: Browser, web_deployment: Deployment
) -> None:
    as_admin(browser, web_deployment)
    before = len(web_deployment.custody_events())

    created = browser.post(
        PROFILES, {"name": "Analysis desk", "kind": "internal_analysis"}, token_from=PROFILES
    )

    assert created.status_code == 200, created.text
    profile = api_profiles(web_deployment)["Analysis desk"]
    assert profile["fields"] == ["incidents", "interview", "narrative_original", "translation_en"]
    assert (profile["include_identity"], profile["age_recipient"]) == (False, None)
    assert actions_since(web_deployment, before) == [
        ("export.profile_create", "web", web_deployment.admin.username)
    ]
    assert "Analysis desk" in browser.get(PROFILES).text


def test_a_profile_receives_exactly_the_ticked_fields_and_identity_when_judicial(
    browser: Browser, web_deployment: Deployment
) -> None:
    as_admin(browser, web_deployment)
    key = age_key()

    created = browser.post(
        PROFILES,
        {
            "name": "Special tribunal",
            "kind": "judicial_proceedings",
            "fields": ["translation_en", "incidents"],
            "include_identity": "yes",
            "age_recipient": key,
        },
        token_from=PROFILES,
    )

    assert created.status_code == 200, created.text
    profile = api_profiles(web_deployment)["Special tribunal"]
    assert profile["fields"] == ["incidents", "translation_en"]
    assert (profile["include_identity"], profile["age_recipient"]) == (True, key)
    listing = browser.get(PROFILES).text
    assert "Special tribunal" in listing and key in listing


def test_identity_for_a_kind_that_may_never_receive_it_is_refused_and_nothing_is_created(
    browser: Browser, web_deployment: Deployment
) -> None:
    as_admin(browser, web_deployment)
    before = len(web_deployment.custody_events())

    refused = browser.post(
        PROFILES,
        {"name": "UN mechanism", "kind": "un_mechanisms", "include_identity": "yes"},
        token_from=PROFILES,
    )

    assert refused.status_code == 422
    assert 'id="profile-errors"' in refused.text
    assert "UN mechanism" not in api_profiles(web_deployment)
    assert actions_since(web_deployment, before) == []


def test_an_age_key_that_is_malformed_or_fails_its_checksum_is_refused_and_nothing_is_created(
    browser: Browser, web_deployment: Deployment
) -> None:
    as_admin(browser, web_deployment)
    before = len(web_deployment.custody_events())

    for name, key in (("Bad checksum", with_bad_checksum(age_key())), ("Not a key", "age1oops")):
        refused = browser.post(
            PROFILES,
            {"name": name, "kind": "un_mechanisms", "age_recipient": key},
            token_from=PROFILES,
        )

        assert refused.status_code == 422, name
        errors = re.search(r'id="profile-errors">(.*?)</div>', refused.text, re.S)
        assert errors and key not in errors.group(1)  # the problem is named, not repeated
    assert {"Bad checksum", "Not a key"}.isdisjoint(api_profiles(web_deployment))
    assert actions_since(web_deployment, before) == []


# ---- keys ------------------------------------------------------------------------------------


def test_a_key_rotation_shows_a_confirmation_first_then_rotates_and_records_it(
    browser: Browser, web_deployment: Deployment
) -> None:
    as_admin(browser, web_deployment)
    assert 'action="/web/admin/keys/content/rotate"' in browser.get(KEYS).text
    version = key_version(web_deployment)
    before = len(web_deployment.custody_events())

    confirm = browser.post(f"{KEYS}/content/rotate", {}, token_from=KEYS)

    assert confirm.status_code == 200 and 'name="confirm" value="yes"' in confirm.text
    assert key_version(web_deployment) == version
    assert actions_since(web_deployment, before) == []

    rotated = browser.post(f"{KEYS}/content/rotate", {"confirm": "yes"}, token_from=KEYS)

    assert rotated.status_code == 200, rotated.text
    assert key_version(web_deployment) == version + 1
    assert key_version(web_deployment, "identity") == 1
    assert actions_since(web_deployment, before) == [
        ("key.rotate", "web", web_deployment.admin.username)
    ]


def test_an_unknown_key_purpose_is_refused(browser: Browser, web_deployment: Deployment) -> None:
    as_admin(browser, web_deployment)

    response = browser.post(f"{KEYS}/search/rotate", {"confirm": "yes"}, token_from=KEYS)

    assert response.status_code == 400
    assert key_version(web_deployment) == 1


# ---- who may ---------------------------------------------------------------------------------


def test_non_administrators_are_refused_every_administrator_page_and_change(
    browser: Browser, web_deployment: Deployment
) -> None:
    target = web_deployment.user(Role.OFFICER)
    changes = [
        (f"{USERS}/{target.username}/role", {"role": "admin"}),
        (f"{USERS}/{target.username}/role", {"role": "admin", "confirm": "yes"}),
        (f"{USERS}/{target.username}/unlock", {}),
        (PROFILES, {"name": "Sneaky", "kind": "un_mechanisms"}),
        (PROFILES, {"name": "", "kind": ""}),
        (f"{KEYS}/content/rotate", {}),
        (f"{KEYS}/content/rotate", {"confirm": "yes"}),
    ]

    for role in (Role.OFFICER, Role.INVESTIGATOR, Role.AUDITOR):
        visitor = Browser(web_deployment)
        visitor.sign_in(web_deployment.user(role))
        for page in (USERS, PROFILES, KEYS):
            assert visitor.get(page).status_code == 403, (role, page)
        for path, form in changes:
            assert visitor.post(path, form).status_code == 403, (role, path, form)
        visitor.client.close()

    assert api_users(web_deployment)[target.username]["role"] == "officer"
    assert "Sneaky" not in api_profiles(web_deployment)
    assert key_version(web_deployment) == 1
    assert token_works(web_deployment, target)


def test_an_administrator_form_without_this_sessions_token_is_refused_and_changes_nothing(
    browser: Browser, web_deployment: Deployment
) -> None:
    officer = web_deployment.user(Role.OFFICER)
    as_admin(browser, web_deployment)
    before = len(web_deployment.custody_events())
    forms = [
        (f"{USERS}/{officer.username}/role", {"role": "auditor", "confirm": "yes"}),
        (f"{USERS}/{officer.username}/unlock", {}),
        (PROFILES, {"name": "Forged profile", "kind": "un_mechanisms"}),
        (f"{KEYS}/content/rotate", {"confirm": "yes"}),
    ]

    for path, form in forms:
        for token in ({"csrf_token": "forged"}, {}):
            sent = browser.client.post(path, data={**token, **form}, follow_redirects=False)
            assert sent.status_code == 403, (path, token)

    assert api_users(web_deployment)[officer.username]["role"] == "officer"
    assert "Forged profile" not in api_profiles(web_deployment)
    assert key_version(web_deployment) == 1
    assert actions_since(web_deployment, before) == []
    assert token_works(web_deployment, officer)


# ---- language --------------------------------------------------------------------------------

ALLOWED_LATIN = {"Custodia", "English", "UTC", "age", "CUSTODIA", "CHECKPOINT", "PUBLISH", "DIRS"}
"""Latin-script words a Korean page may show: the product, the language switch, the age tool
and a setting's name (CUSTODIA_CHECKPOINT_PUBLISH_DIRS), none of them translatable."""


def english_left(page: str, *names: str) -> set[str]:
    words = set(re.findall(r"[A-Za-z]{3,}", visible_text(page)))
    allowed = ALLOWED_LATIN | {w for n in names for w in re.findall(r"[A-Za-z]{3,}", n)}
    return words - allowed


def test_the_administrator_pages_are_all_korean_when_korean_is_chosen(
    browser: Browser, web_deployment: Deployment
) -> None:
    case = web_deployment.case("NH-2024")
    officer = web_deployment.user(Role.OFFICER, cases=(case,), name="kim")
    as_admin(browser, web_deployment)
    switched = browser.post("/web/language", {"language": "ko", "next": USERS}, token_from=USERS)
    assert switched.status_code == 303
    key = age_key()
    assert (
        browser.post(
            PROFILES,
            {"name": "Tribunal", "kind": "judicial_proceedings", "age_recipient": key},
            token_from=PROFILES,
        ).status_code
        == 200
    )
    names = ("admin", "kim", f"Case {case}", "Tribunal", key)  # data, shown as typed
    pages = {
        "users": browser.get(USERS),
        "role confirm": browser.post(
            f"{USERS}/{officer.username}/role", {"role": "auditor"}, token_from=USERS
        ),
        "own role confirm": browser.post(
            f"{USERS}/admin/role", {"role": "auditor"}, token_from=USERS
        ),
        "role changed": browser.post(
            f"{USERS}/{officer.username}/role",
            {"role": "auditor", "confirm": "yes"},
            token_from=USERS,
        ),
        "role refused": browser.post(
            f"{USERS}/admin/role", {"role": "auditor", "confirm": "yes"}, token_from=USERS
        ),
        "unlocked": browser.post(f"{USERS}/{officer.username}/unlock", {}, token_from=USERS),
        "profiles": browser.get(PROFILES),
        "profile refused": browser.post(
            PROFILES,
            {
                "name": "UN",
                "kind": "un_mechanisms",
                "include_identity": "yes",
                "age_recipient": with_bad_checksum(key),
            },
            token_from=PROFILES,
        ),
        "keys": browser.get(KEYS),
        "rotate confirm": browser.post(f"{KEYS}/identity/rotate", {}, token_from=KEYS),
        "rotated": browser.post(f"{KEYS}/identity/rotate", {"confirm": "yes"}, token_from=KEYS),
        "cases": browser.get("/web/admin/cases"),
    }

    for name, page in pages.items():
        assert page.status_code < 500, name
        assert '<html lang="ko">' in page.text, name
        assert english_left(page.text, *names) == set(), name
