"""Consent governs use (DESIGN.md invariant 5): ``consent_covers`` is the one answer.

A recorded withdrawal stops every later use under that scope at once, whatever date the
withdrawal names; a grant covers use from its effective date on; a shredded testimony is
covered by nothing.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from typing import Any

import pytest

from service.context import Role
from service.errors import ConsentRefusedError
from service.runtime import Scope
from service.testimony.consent import consent_covers, covered_testimony_ids, require_consent
from service.testimony.schemas import ConsentScope
from tests.factories import Account, Deployment, interview_record

API = "/api/v1"
TODAY = date.today()
REASON = "The witness withdrew all consent and asked for destruction."


def _change(
    deployment: Deployment, officer: Account, testimony_id: str, scope: str, kind: str, on: date
) -> None:
    response = deployment.client.post(
        f"{API}/testimonies/{testimony_id}/consent",
        json={"scope": scope, "kind": kind, "effective_on": on.isoformat()},
        headers=officer.headers,
    )
    assert response.status_code == 200, response.text


def _covers(deployment: Deployment, testimony_id: str, scope: ConsentScope) -> bool:
    result: bool = deployment.run(None, lambda s: consent_covers(s.session, testimony_id, scope))
    return result


def _exported_pseudonyms(deployment: Deployment, investigator: Account) -> list[str]:
    response = deployment.client.get(
        f"{API}/analyst-exports/incidents", params={"format": "csv"}, headers=investigator.headers
    )
    assert response.status_code == 200, response.text
    return [row["pseudonym"] for row in csv.DictReader(io.StringIO(response.text))]


def _setup(deployment: Deployment) -> tuple[Account, Account, dict[str, Any]]:
    case = deployment.case()
    officer = deployment.user(Role.OFFICER, cases=(case,))
    investigator = deployment.user(Role.INVESTIGATOR, cases=(case,))
    created = deployment.create_testimony(officer, interview_record(case))
    return officer, investigator, created


def test_a_withdrawal_stops_exports_under_that_scope_at_once(deployment: Deployment) -> None:
    officer, investigator, created = _setup(deployment)
    assert _exported_pseudonyms(deployment, investigator) == [created["witness_pseudonym"]]

    # Dated next month, yet in force the moment it is recorded.
    _change(
        deployment,
        officer,
        created["id"],
        "internal_analysis",
        "withdrawn",
        TODAY + timedelta(days=30),
    )

    assert _covers(deployment, created["id"], ConsentScope.INTERNAL_ANALYSIS) is False
    assert _exported_pseudonyms(deployment, investigator) == []
    export_events = [
        e for e in deployment.custody_events() if e["action"] == "analyst_export.incidents"
    ]
    assert [
        (json.loads(e["details"])["rows"], json.loads(e["details"])["excluded_testimonies"])
        for e in export_events
    ] == [(1, 0), (0, 1)]


def test_withdrawing_one_scope_leaves_the_others_in_force(deployment: Deployment) -> None:
    officer, investigator, created = _setup(deployment)

    _change(deployment, officer, created["id"], "un_mechanisms", "withdrawn", TODAY)

    assert _covers(deployment, created["id"], ConsentScope.UN_MECHANISMS) is False
    assert _covers(deployment, created["id"], ConsentScope.INTERNAL_ANALYSIS) is True
    assert _exported_pseudonyms(deployment, investigator) == [created["witness_pseudonym"]]


def test_a_grant_covers_use_from_its_effective_date(deployment: Deployment) -> None:
    officer, _, created = _setup(deployment)
    tid = created["id"]
    assert _covers(deployment, tid, ConsentScope.JUDICIAL_PROCEEDINGS) is False  # never given

    _change(deployment, officer, tid, "judicial_proceedings", "given", TODAY + timedelta(days=7))
    assert _covers(deployment, tid, ConsentScope.JUDICIAL_PROCEEDINGS) is False  # not yet

    later: bool = deployment.run(
        None,
        lambda s: consent_covers(
            s.session, tid, ConsentScope.JUDICIAL_PROCEEDINGS, on=TODAY + timedelta(days=7)
        ),
    )
    assert later is True


def test_consent_given_again_after_a_withdrawal_covers_again(deployment: Deployment) -> None:
    officer, _, created = _setup(deployment)
    tid = created["id"]
    _change(deployment, officer, tid, "internal_analysis", "withdrawn", TODAY)
    _change(deployment, officer, tid, "internal_analysis", "given", TODAY)

    assert _covers(deployment, tid, ConsentScope.INTERNAL_ANALYSIS) is True


def test_require_consent_refuses_outside_the_scopes(deployment: Deployment) -> None:
    _, _, created = _setup(deployment)

    def refused(scope: Scope) -> None:
        require_consent(scope.session, created["id"], ConsentScope.PUBLIC_ANONYMISED)

    with pytest.raises(ConsentRefusedError) as error:
        deployment.run(None, refused)
    assert error.value.status == 403
    deployment.run(
        None,
        lambda s: require_consent(s.session, created["id"], ConsentScope.INTERNAL_ANALYSIS),
    )


def test_a_shredded_testimony_is_covered_by_nothing(deployment: Deployment) -> None:
    _, _, created = _setup(deployment)
    kept = created["id"]
    second_admin = deployment.user(Role.ADMIN)
    request = deployment.client.post(
        f"{API}/shred-requests",
        json={"testimony_id": kept, "reason": REASON},
        headers=deployment.admin.headers,
    )
    assert request.status_code == 201, request.text
    approved = deployment.client.post(
        f"{API}/shred-requests/{request.json()['id']}:approve", headers=second_admin.headers
    )
    assert approved.status_code == 200, approved.text

    covered: set[str] = deployment.run(
        None,
        lambda s: covered_testimony_ids(
            s.session, [kept, "00000000-0000-4000-8000-000000000000"], ConsentScope.UN_MECHANISMS
        ),
    )
    assert covered == set()
