"""An invalid form comes back in the page's language: each problem names the field by the
label the person sees and says what is wrong, without pydantic's English, without the
internal location of the field and without the rejected input; the form stays filled in
and nothing is stored."""

from __future__ import annotations

import html
import re
import types
import typing
from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy import func, select

from service.context import Role
from service.drafts.schemas import DraftSave
from service.export.schemas import ExportRequestCreate
from service.testimony import models
from service.testimony.schemas import ConsentChange, IncidentIn, NarrativeIn
from service.testimony.schemas import TestimonyImport as InterviewRecord
from service.web.forms import field_label
from tests.factories import Account, Deployment, interview_record
from tests.integration.web.conftest import Browser

NARRATIVE = "2018년 가을 함흥 집결소에서 강제 노동을 했습니다."
ALERT = re.compile(r'<div class="error" role="alert">(.*?)</div>', re.DOTALL)
INTERNAL = (
    "interview.date",
    "<li>interview",
    "consent.scopes",
    "consent.given_on",
    "narrative.original",
    "witness.pseudonym",
    "<li>categories",
)
PYDANTIC = ("Input should", "String should", "List should", "Field required", "Value error")

# (form change, English problem line, Korean problem line)
INTERVIEW_CASES = {
    "missing-date": (
        {"interview_date": ""},
        "Interview date: This field is required.",
        "면담 일자: 필수 항목입니다.",
    ),
    "invalid-date": (
        {"interview_date": "2024-13-45"},
        "Interview date: Enter a valid date (YYYY-MM-DD).",
        "면담 일자: 올바른 날짜(YYYY-MM-DD)를 입력하십시오.",
    ),
    "no-consent-date": (
        {"consent_given_on": ""},
        "Consent given on: This field is required.",
        "동의 일자: 필수 항목입니다.",
    ),
    "empty-narrative": (
        {"narrative_original": ""},
        "Narrative in the original language: This field is required.",
        "원어 진술: 필수 항목입니다.",
    ),
    "pseudonym-with-spaces": (
        {"pseudonym": "W 17 <b>"},
        "Pseudonym code: This is not in the expected format.",
        "가명 코드: 형식이 올바르지 않습니다.",
    ),
}


def _interview(case: str, **changes: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "case": case,
        "interview_date": "2024-05-02",
        "interview_place": "Hamhung office",
        "language": "ko",
        "interviewer": "officer.park",
        "pseudonym": "W-FORM-1",
        "scopes": ["internal_analysis"],
        "consent_given_on": "2024-05-02",
        "narrative_original": NARRATIVE,
    }
    form.update(changes)
    return form


def _sign_in(deployment: Deployment, browser: Browser, language: str) -> tuple[str, Account]:
    browser.client.headers["Accept-Language"] = language
    case = deployment.case()
    officer = deployment.user(Role.OFFICER, cases=(case,))
    assert browser.sign_in(officer).status_code == 303
    return case, officer


def _problems(page: str) -> list[str]:
    alerts = ALERT.findall(page)
    assert len(alerts) == 1, page
    return [html.unescape(li) for li in re.findall(r"<li>(.*?)</li>", alerts[0], re.DOTALL)]


def _testimonies(deployment: Deployment) -> int:
    count: int = deployment.run(
        None, lambda s: s.session.scalar(select(func.count()).select_from(models.Testimony))
    )
    return count


def _assert_nothing_internal(page: str) -> None:
    for text in INTERNAL + PYDANTIC:
        assert text not in page, text


@pytest.mark.parametrize("language", ["ko", "en"])
@pytest.mark.parametrize("name", list(INTERVIEW_CASES))
def test_an_invalid_interview_names_the_field_in_the_pages_language_and_stores_nothing(
    browser: Browser, web_deployment: Deployment, language: str, name: str
) -> None:
    change, english, korean = INTERVIEW_CASES[name]
    case, _ = _sign_in(web_deployment, browser, language)
    before = _testimonies(web_deployment)

    response = browser.post("/web/interviews", _interview(case, **change))

    assert response.status_code == 422
    assert f'<html lang="{language}">' in response.text
    assert _problems(response.text) == [korean if language == "ko" else english]
    _assert_nothing_internal(response.text)
    for value in change.values():
        if value:
            assert html.escape(str(value)) not in ALERT.findall(response.text)[0]
    # The form comes back as typed.
    typed = {**_interview(case), **change}
    assert f'value="{typed["interview_place"]}"' in response.text
    assert f'value="{html.escape(typed["pseudonym"])}"' in response.text
    assert f'value="{typed["interview_date"]}"' in response.text
    if typed["narrative_original"]:
        assert typed["narrative_original"] in response.text
    for scope in typed["scopes"]:
        assert re.search(rf'value="{scope}"\s+checked', response.text)
    # Nothing stored.
    assert _testimonies(web_deployment) == before
    actions = {e["action"] for e in web_deployment.custody_events()}
    assert "testimony.create" not in actions and "witness.create" not in actions


def test_an_interview_without_any_consent_scope_is_kept_and_allows_no_use(
    browser: Browser, web_deployment: Deployment
) -> None:
    """A witness may agree only to the record being kept: as over the API, the form stores
    it, and consent can be given later on the testimony page."""
    case, _ = _sign_in(web_deployment, browser, "en")
    before = _testimonies(web_deployment)
    response = browser.post("/web/interviews", _interview(case, scopes=[]))
    assert response.status_code == 303, response.text
    assert _testimonies(web_deployment) == before + 1


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("ko", ["면담 일자: 필수 항목입니다."]),
        ("en", ["Interview date: This field is required."]),
    ],
)
def test_every_problem_of_a_form_is_listed_once(
    browser: Browser, web_deployment: Deployment, language: str, expected: list[str]
) -> None:
    case, _ = _sign_in(web_deployment, browser, language)
    form = _interview(case, interview_date="", scopes=["press", "radio"])
    response = browser.post("/web/interviews", form)
    assert response.status_code == 422
    wrong_scope = {
        "ko": "동의 범위: 제시된 선택지 중 하나를 고르십시오.",
        "en": "Consent scopes: Choose one of the options offered.",
    }[language]
    assert _problems(response.text) == [expected[0], wrong_scope]
    assert "press" not in ALERT.findall(response.text)[0]


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("ko", "침해 분류: 하나 이상 선택하십시오."),
        ("en", "Violation categories: Choose at least one."),
    ],
)
def test_an_incident_without_a_category_is_refused_in_the_pages_language(
    browser: Browser, web_deployment: Deployment, language: str, expected: str
) -> None:
    case, officer = _sign_in(web_deployment, browser, language)
    testimony_id = web_deployment.create_testimony(officer, interview_record(case))["id"]
    coded_before = [e for e in web_deployment.custody_events() if e["action"] == "incident.create"]
    incident = {
        "intent": "save",
        "date": "2018-10",
        "date_precision": "month",
        "place": "Hamhung",
        "facility": "Holding centre 9",
        "involvement": "direct_witness",
        "description": "집결소 노동",
    }

    response = browser.post(f"/web/testimonies/{testimony_id}/incidents", incident)

    assert response.status_code == 422
    assert f'<html lang="{language}">' in response.text
    assert _problems(response.text) == [expected]
    _assert_nothing_internal(response.text)
    for value in ("2018-10", "Hamhung", "Holding centre 9"):
        assert f'value="{value}"' in response.text
    assert "집결소 노동" in response.text
    assert re.search(r'value="month"\s+selected', response.text)
    assert re.search(r'value="direct_witness"\s+selected', response.text)
    coded = [e for e in web_deployment.custody_events() if e["action"] == "incident.create"]
    assert coded == coded_before


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("ko", "종료 날짜 (기간인 경우): 날짜 정밀도가 “기간”이면 반드시 입력해야 합니다."),
        ("en", "End date (for a range): Required when the date precision is “range”."),
    ],
)
def test_a_check_of_our_own_is_worded_for_the_form_too(
    browser: Browser, web_deployment: Deployment, language: str, expected: str
) -> None:
    """The API says ``date_end is required when date_precision is 'range'``; the page says
    it with the form's labels, in the page's language."""
    case, officer = _sign_in(web_deployment, browser, language)
    testimony_id = web_deployment.create_testimony(officer, interview_record(case))["id"]
    incident = {
        "intent": "save",
        "categories": [interview_record(case)["incidents"][0]["categories"][0]],
        "date": "2018-10-01",
        "date_precision": "range",
        "involvement": "victim",
    }
    response = browser.post(f"/web/testimonies/{testimony_id}/incidents", incident)
    assert response.status_code == 422
    assert _problems(response.text) == [expected]
    assert "date_end" not in ALERT.findall(response.text)[0]


def _leaf_locations(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every field location of an input model, nested models opened."""
    found: list[tuple[str, ...]] = []
    for name, info in model.model_fields.items():
        location = (*prefix, name)
        found.append(location)
        pending: list[Any] = [info.annotation]
        while pending:
            annotation = pending.pop()
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                found.extend(_leaf_locations(annotation, location))
            elif isinstance(annotation, types.UnionType) or typing.get_origin(annotation) in (
                typing.Union,
                list,
                typing.Annotated,
            ):
                pending.extend(typing.get_args(annotation))
    return found


@pytest.mark.parametrize(
    ("model", "not_on_the_form"),
    [
        (
            InterviewRecord,
            {"interview", "witness", "witness.identity", "consent", "narrative", "incidents"},
        ),
        (IncidentIn, set()),
        (NarrativeIn, set()),
        (ConsentChange, set()),
        (ExportRequestCreate, {"query"}),
        (DraftSave, {"form", "identity"}),
    ],
)
def test_every_field_of_a_form_model_has_a_label(
    model: type[BaseModel], not_on_the_form: set[str]
) -> None:
    unlabelled = [
        ".".join(loc)
        for loc in _leaf_locations(model)
        if field_label(loc) is None and ".".join(loc) not in not_on_the_form
    ]
    assert unlabelled == []
    # Lists are labelled by their field, whatever the index.
    assert field_label(("consent", "scopes", 3)) == "Consent scopes"
    assert field_label(("incidents", 0, "date")) == field_label(("date",))
    assert field_label(("interview", "date")) == "Interview date"
