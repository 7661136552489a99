"""The officer-to-investigator path end to end through the real HTTP app."""

from __future__ import annotations

from service.context import Role
from tests.factories import Deployment, interview_record


def test_officer_enters_and_investigator_reads_a_testimony(deployment: Deployment) -> None:
    case = deployment.case()
    officer = deployment.user(Role.OFFICER, cases=(case,))
    investigator = deployment.user(Role.INVESTIGATOR, cases=(case,))
    created = deployment.create_testimony(officer, interview_record(case))

    response = deployment.client.get(
        f"/api/v1/testimonies/{created['id']}", headers=investigator.headers
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["narrative"]["original"].startswith("2016년 5월 회령")
    assert body["incidents"][0]["place"] == "Hoeryong, North Hamgyong"
    assert {c["scope"] for c in body["consent"]} == {"internal_analysis", "un_mechanisms"}
    actions = [e["action"] for e in deployment.custody_events()]
    assert "testimony.create" in actions and actions[-1] == "testimony.read"
