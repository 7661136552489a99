"""A user's interface language, stored on their own account (issue #7).

Every role may choose, only for itself; only the offered languages are stored; and the
choice is a display preference, so it is kept out of the custody log.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from service.access.models import User
from service.access.service import LANGUAGES, UserService
from service.context import Principal, Role
from service.errors import AuthenticationError, InvalidInputError
from service.runtime import Scope
from tests.factories import Account, Deployment


def principal_of(deployment: Deployment, account: Account) -> Principal:
    def work(scope: Scope) -> int:
        user_id = scope.session.scalar(select(User.id).where(User.username == account.username))
        assert user_id is not None
        return user_id

    return Principal(deployment.run(None, work), account.username, account.role)


def stored_language(deployment: Deployment, account: Account) -> str | None:
    def work(scope: Scope) -> str | None:
        return scope.session.scalar(select(User.language).where(User.username == account.username))

    result: str | None = deployment.run(None, work)
    return result


def set_language(deployment: Deployment, principal: Principal, language: str) -> str:
    result: str = deployment.run(principal, lambda s: UserService(s).set_own_language(language))
    return result


def own_language(deployment: Deployment, principal: Principal) -> str | None:
    result: str | None = deployment.run(principal, lambda s: UserService(s).own_language())
    return result


def test_the_offered_languages_are_korean_and_english() -> None:
    assert LANGUAGES == ("ko", "en")


def test_a_new_account_has_chosen_no_language(deployment: Deployment) -> None:
    officer = deployment.user(Role.OFFICER)
    assert stored_language(deployment, officer) is None
    assert own_language(deployment, principal_of(deployment, officer)) is None


@pytest.mark.parametrize("role", list(Role))
def test_every_role_sets_its_own_language(deployment: Deployment, role: Role) -> None:
    account = deployment.user(role)
    principal = principal_of(deployment, account)
    assert set_language(deployment, principal, "en") == "en"
    assert stored_language(deployment, account) == "en"
    assert own_language(deployment, principal) == "en"
    assert set_language(deployment, principal, "ko") == "ko"
    assert stored_language(deployment, account) == "ko"


def test_the_code_is_stored_in_its_canonical_form(deployment: Deployment) -> None:
    investigator = deployment.user(Role.INVESTIGATOR)
    assert set_language(deployment, principal_of(deployment, investigator), " EN ") == "en"
    assert stored_language(deployment, investigator) == "en"


@pytest.mark.parametrize("language", ["fr", "", "english", "ko-KR", "e"])
def test_a_language_that_is_not_offered_is_refused_and_nothing_changes(
    deployment: Deployment, language: str
) -> None:
    auditor = deployment.user(Role.AUDITOR)
    principal = principal_of(deployment, auditor)
    set_language(deployment, principal, "en")
    with pytest.raises(InvalidInputError) as refused:
        set_language(deployment, principal, language)
    assert [p.location for p in refused.value.errors] == ["language"]
    assert stored_language(deployment, auditor) == "en"


def test_one_users_choice_leaves_every_other_account_alone(deployment: Deployment) -> None:
    kim = deployment.user(Role.OFFICER)
    lee = deployment.user(Role.OFFICER)
    set_language(deployment, principal_of(deployment, lee), "ko")
    set_language(deployment, principal_of(deployment, kim), "en")
    assert stored_language(deployment, kim) == "en"
    assert stored_language(deployment, lee) == "ko"
    assert stored_language(deployment, deployment.admin) is None


def test_without_a_signed_in_user_nothing_is_set(deployment: Deployment) -> None:
    with pytest.raises(AuthenticationError):
        deployment.run(None, lambda s: UserService(s).set_own_language("en"))
    with pytest.raises(AuthenticationError):
        deployment.run(None, lambda s: UserService(s).own_language())


def test_choosing_a_language_is_not_a_custody_event(deployment: Deployment) -> None:
    """A display preference is neither an access to the record nor a change to it."""
    officer = deployment.user(Role.OFFICER)
    principal = principal_of(deployment, officer)
    before = deployment.custody_events()
    set_language(deployment, principal, "en")
    with pytest.raises(InvalidInputError):
        set_language(deployment, principal, "xx")
    assert deployment.custody_events() == before
