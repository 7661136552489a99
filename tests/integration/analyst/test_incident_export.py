"""Analyst exports: coded incidents for statistics, and nothing that tells a story or a name.

Rows come only from the caller's cases and only from testimonies whose consent covers
``internal_analysis``; each export is a custody event with its filters and its count.
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from cli.main import app as cli_app
from service.analyst.service import COLUMNS
from service.context import Role
from tests.factories import Account, Deployment, first_category, interview_record

API = "/api/v1"
SECRET_WORDS = ("홍길순", "+82 10 0000 0000", "회령", "Beaten during interrogation", "every day")


def _export(deployment: Deployment, who: Account, **params: Any) -> Any:
    response = deployment.client.get(
        f"{API}/analyst-exports/incidents", params=params, headers=who.headers
    )
    assert response.status_code == 200, response.text
    return response


def _events(deployment: Deployment) -> list[dict[str, Any]]:
    return [
        {**e, "details": json.loads(e["details"])}
        for e in deployment.custody_events()
        if e["action"] == "analyst_export.incidents"
    ]


def test_the_csv_holds_the_coding_and_no_narrative_or_identity(deployment: Deployment) -> None:
    case = deployment.case()
    officer = deployment.user(Role.OFFICER, cases=(case,))
    investigator = deployment.user(Role.INVESTIGATOR, cases=(case,))
    created = deployment.create_testimony(officer, interview_record(case))

    response = _export(deployment, investigator, format="csv")

    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert tuple(rows[0]) == COLUMNS
    assert rows == [
        {
            "case": case,
            "pseudonym": created["witness_pseudonym"],
            "categories": first_category(),
            "date_start": "2016-05-01",
            "date_end": "2016-05-31",
            "date_precision": "month",
            "place": "Hoeryong, North Hamgyong",
            "facility": "MSS holding centre",
            "institution": "Ministry of State Security",
            "involvement": "victim",
        }
    ]
    for word in SECRET_WORDS:
        assert word not in response.text
    assert created["id"] not in response.text


def test_the_json_export_matches_and_counts_what_consent_kept_out(
    deployment: Deployment,
) -> None:
    case = deployment.case()
    officer = deployment.user(Role.OFFICER, cases=(case,))
    investigator = deployment.user(Role.INVESTIGATOR, cases=(case,))
    deployment.create_testimony(officer, interview_record(case))
    deployment.create_testimony(
        officer,
        interview_record(case, consent={"scopes": ["un_mechanisms"], "given_on": "2024-03-14"}),
    )

    body = _export(deployment, investigator, format="json").json()

    assert body["consent_scope"] == "internal_analysis"
    assert body["excluded_testimonies"] == 1
    assert len(body["incidents"]) == 1
    assert set(body["incidents"][0]) == set(COLUMNS)
    assert body["incidents"][0]["categories"] == [first_category()]
    [event] = _events(deployment)
    assert event["actor"] == investigator.username
    assert event["details"]["rows"] == 1
    assert event["details"]["excluded_testimonies"] == 1
    assert event["details"]["filters"] == {
        "cases": [],
        "category": None,
        "date_from": None,
        "date_to": None,
    }


def test_only_the_callers_cases_are_exported(deployment: Deployment) -> None:
    mine, theirs = deployment.case(), deployment.case()
    officer = deployment.user(Role.OFFICER, cases=(mine, theirs))
    investigator = deployment.user(Role.INVESTIGATOR, cases=(mine,))
    deployment.create_testimony(officer, interview_record(mine))
    deployment.create_testimony(officer, interview_record(theirs))

    everything = _export(deployment, investigator, format="json").json()["incidents"]
    asked_for_theirs = _export(deployment, investigator, format="json", case=theirs).json()

    assert [row["case"] for row in everything] == [mine]
    assert asked_for_theirs["incidents"] == []
    assert _events(deployment)[-1]["details"]["filters"]["cases"] == [theirs]


def test_filters_by_category_and_dates(deployment: Deployment) -> None:
    case = deployment.case()
    officer = deployment.user(Role.OFFICER, cases=(case,))
    investigator = deployment.user(Role.INVESTIGATOR, cases=(case,))
    deployment.create_testimony(officer, interview_record(case))
    parent = first_category().rsplit(".", 1)[0]

    by_parent = _export(deployment, investigator, format="json", category=parent).json()
    too_late = _export(deployment, investigator, format="json", **{"from": "2017-01-01"}).json()
    in_range = _export(
        deployment, investigator, format="json", **{"from": "2016-05-15", "to": "2016-06-01"}
    ).json()

    assert len(by_parent["incidents"]) == 1
    assert too_late["incidents"] == []
    assert len(in_range["incidents"]) == 1


def test_spreadsheet_formulas_in_coded_values_are_defused(deployment: Deployment) -> None:
    case = deployment.case()
    officer = deployment.user(Role.OFFICER, cases=(case,))
    investigator = deployment.user(Role.INVESTIGATOR, cases=(case,))
    record = interview_record(case)
    record["incidents"][0]["place"] = '=HYPERLINK("http://evil.example","x")'
    deployment.create_testimony(officer, record)

    rows = list(csv.DictReader(io.StringIO(_export(deployment, investigator).text)))

    assert rows[0]["place"] == '\'=HYPERLINK("http://evil.example","x")'


def test_the_cli_writes_a_private_file_and_records_the_export(
    deployment: Deployment, tmp_path: Path
) -> None:
    case = deployment.case()
    officer = deployment.user(Role.OFFICER, cases=(case,))
    investigator = deployment.user(Role.INVESTIGATOR, cases=(case,))
    deployment.create_testimony(officer, interview_record(case))
    target = tmp_path / "incidents.csv"
    settings = deployment.settings

    result = CliRunner().invoke(
        cli_app,
        [
            "--data-dir",
            str(settings.resolved_data_dir),
            "--database-url",
            settings.effective_database_url,
            "--user",
            investigator.username,
            "analyst-export",
            "--format",
            "csv",
            "--case",
            case,
            "--output",
            str(target),
        ],
        env={"CUSTODIA_PASSWORD": investigator.password},
    )

    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert len(list(csv.DictReader(io.StringIO(target.read_text())))) == 1
    [event] = _events(deployment)
    assert (event["channel"], event["details"]["filters"]["cases"]) == ("cli", [case])


def test_officers_auditors_and_admins_may_not_export(deployment: Deployment) -> None:
    case = deployment.case()
    officer = deployment.user(Role.OFFICER, cases=(case,))
    auditor = deployment.user(Role.AUDITOR)
    for who in (officer, auditor, deployment.admin):
        response = deployment.client.get(f"{API}/analyst-exports/incidents", headers=who.headers)
        assert (who.role, response.status_code) == (who.role, 403)
    assert _events(deployment) == []
