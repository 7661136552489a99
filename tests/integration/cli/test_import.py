"""``custodia import``: testimonies from JSONL, one per line, through the real CLI.

A good file imports completely. A file with bad lines imports every good line, reports each
bad one by its line number in the file with a reason a person can act on (and without
repeating the line's content), exits non-zero, and keeps nothing of the bad lines: no
testimony, witness, identity, incident or consent row. ``--stop-on-error`` stops at the
first bad line. The progress display degrades to plain text when nobody is watching.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from sqlalchemy import func, select
from typer.testing import CliRunner

from cli.main import app
from service.context import Role
from service.db.models import Base
from service.errors import InvalidInputError
from service.testimony import service as testimony_service
from tests.factories import Account, Deployment, interview_record

REPO = Path(__file__).resolve().parents[3]
SAMPLE = REPO / "schemas" / "samples" / "testimonies.sample.jsonl"
RECORD_TABLES = ("testimonies", "witnesses", "identity_records", "incidents", "consent_events")


def custodia(deployment: Deployment, account: Account, *args: str) -> Result:
    """Runs the CLI in-process as ``account`` against the deployment's data and database."""
    return CliRunner().invoke(
        app,
        [
            "--data-dir",
            str(deployment.settings.data_dir),
            "--database-url",
            deployment.settings.effective_database_url,
            "--user",
            account.username,
            *args,
        ],
        env={"CUSTODIA_PASSWORD": account.password},
    )


def write_jsonl(path: Path, lines: Iterable[str | dict[str, Any]]) -> Path:
    path.write_text(
        "".join(
            (line if isinstance(line, str) else json.dumps(line, ensure_ascii=False)) + "\n"
            for line in lines
        ),
        encoding="utf-8",
    )
    return path


def counts(deployment: Deployment) -> dict[str, int]:
    with deployment.runtime.engine.connect() as connection:
        return {
            name: connection.execute(
                select(func.count()).select_from(Base.metadata.tables[name])
            ).scalar_one()
            for name in RECORD_TABLES
        }


def column(deployment: Deployment, table: str, name: str) -> set[Any]:
    rows = Base.metadata.tables[table]
    with deployment.runtime.engine.connect() as connection:
        return set(connection.execute(select(rows.c[name])).scalars())


def rejected_lines(output: str) -> dict[int, str]:
    """The "Rejected lines" table as {line number: problem}, re-joining wrapped cells."""
    rejected: dict[int, str] = {}
    current: int | None = None
    for text in output.splitlines():
        cells = text.split("│")
        if len(cells) != 4:
            continue
        number, problem = cells[1].strip(), cells[2].strip()
        if number.isdigit():
            current = int(number)
            rejected[current] = problem
        elif current is not None and not number:
            rejected[current] += " " + problem
    return rejected


@pytest.fixture
def officer(deployment: Deployment) -> tuple[str, Account]:
    case = deployment.case()
    return case, deployment.user(Role.OFFICER, cases=(case,))


def test_the_shipped_sample_imports_completely(deployment: Deployment) -> None:
    records = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]
    cases = sorted({r["case"] for r in records})
    for code in cases:
        deployment.case(code)
    officer = deployment.user(Role.OFFICER, cases=tuple(cases))
    investigator = deployment.user(Role.INVESTIGATOR, cases=tuple(cases))

    result = custodia(deployment, officer, "import", str(SAMPLE))

    assert result.exit_code == 0, result.output
    assert f"Imported {len(records)} testimonies." in result.stdout
    assert "Rejected" not in result.output
    assert counts(deployment) == {
        "testimonies": len(records),
        "witnesses": len({r["witness"]["pseudonym"] for r in records}),
        "identity_records": sum(1 for r in records if r["witness"].get("identity")),
        "incidents": sum(len(r["incidents"]) for r in records),
        "consent_events": sum(len(r["consent"]["scopes"]) for r in records),
    }
    assert column(deployment, "testimonies", "external_id") == {r["external_id"] for r in records}
    created = [e for e in deployment.custody_events() if e["action"] == "testimony.create"]
    assert len(created) == len(records)
    assert {e["channel"] for e in created} == {"cli"}

    # What went in is what comes out, decrypted, for an investigator on the case.
    last = records[-1]
    testimony_id = created[-1]["object_id"]  # lines are imported in file order
    response = deployment.client.get(
        f"/api/v1/testimonies/{testimony_id}", headers=investigator.headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["narrative"]["original"] == last["narrative"]["original"]
    assert body["narrative"]["translation_en"] == last["narrative"]["translation_en"]
    assert sorted(c for i in body["incidents"] for c in i["categories"]) == sorted(
        c for i in last["incidents"] for c in i["categories"]
    )


def test_bad_lines_are_reported_by_number_and_nothing_of_them_is_kept(
    deployment: Deployment, officer: tuple[str, Account], tmp_path: Path
) -> None:
    case, account = officer
    good = [interview_record(case) for _ in range(5)]
    unknown_category = interview_record(case)
    unknown_category["incidents"][0]["categories"] = ["torture.tickling"]
    unknown_case = interview_record("CASE-THAT-DOES-NOT-EXIST")
    no_narrative = {k: v for k, v in interview_record(case).items() if k != "narrative"}
    bad = [unknown_category, unknown_case, no_narrative]
    path = write_jsonl(
        tmp_path / "mixed.jsonl",
        [
            good[0],  # 1
            '{"external_id": "EXT-BROKEN", "case": ',  # 2: not JSON
            good[1],  # 3
            unknown_category,  # 4
            good[2],  # 5
            unknown_case,  # 6
            "",  # 7: blank lines are skipped, and still counted
            good[3],  # 8
            no_narrative,  # 9
            good[4],  # 10
        ],
    )
    before = counts(deployment)

    result = custodia(deployment, account, "import", str(path))

    assert result.exit_code != 0
    assert "Imported 5 testimonies." in result.stdout
    rejected = rejected_lines(result.stdout)
    assert sorted(rejected) == [2, 4, 6, 9]
    assert "not valid JSON" in rejected[2]
    assert "Unknown violation category: torture.tickling" in rejected[4]
    assert "CASE-THAT-DOES-NOT-EXIST" in rejected[6]
    assert "narrative" in rejected[9]
    for record in [*good, *bad]:
        assert record["witness"]["identity"]["legal_name"] not in result.output

    after = counts(deployment)
    assert {t: after[t] - before[t] for t in RECORD_TABLES} == {
        "testimonies": 5,
        "witnesses": 5,
        "identity_records": 5,
        "incidents": 5,
        "consent_events": 10,
    }
    stored_ids = column(deployment, "testimonies", "external_id")
    stored_pseudonyms = column(deployment, "witnesses", "pseudonym")
    assert {r["external_id"] for r in good} <= stored_ids
    assert not {r["external_id"] for r in bad} & stored_ids
    assert not {r["witness"]["pseudonym"] for r in bad} & stored_pseudonyms
    line_events = [
        json.loads(e["details"])["line"]
        for e in deployment.custody_events()
        if e["action"] == "import.line_rejected"
    ]
    assert line_events == [2, 4, 6, 9]


def test_a_line_that_fails_after_writing_is_rolled_back_whole(
    deployment: Deployment,
    officer: tuple[str, Account],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Real bad lines are caught before anything is written; this one fails at its last
    step, after its witness, identity, testimony, consent and custody rows were flushed."""
    case, account = officer
    create_incident = testimony_service.TestimonyService._create_incident

    def failing_late(
        self: testimony_service.TestimonyService, testimony: Any, key: bytes, data: Any
    ) -> Any:
        if data.description == "FAIL LATE":
            raise InvalidInputError("simulated failure after the testimony was written")
        return create_incident(self, testimony, key, data)

    monkeypatch.setattr(testimony_service.TestimonyService, "_create_incident", failing_late)
    late = interview_record(case)
    late["incidents"][0]["description"] = "FAIL LATE"
    first, last = interview_record(case), interview_record(case)
    path = write_jsonl(tmp_path / "late.jsonl", [first, late, last])
    before = counts(deployment)
    events_before = len(deployment.custody_events())

    result = custodia(deployment, account, "import", str(path))

    assert result.exit_code != 0
    assert sorted(rejected_lines(result.stdout)) == [2]
    after = counts(deployment)
    assert {t: after[t] - before[t] for t in RECORD_TABLES} == {
        "testimonies": 2,
        "witnesses": 2,
        "identity_records": 2,
        "incidents": 2,
        "consent_events": 4,
    }
    assert late["external_id"] not in column(deployment, "testimonies", "external_id")
    assert late["witness"]["pseudonym"] not in column(deployment, "witnesses", "pseudonym")
    actions = [e["action"] for e in deployment.custody_events()[events_before:]]
    assert actions.count("testimony.create") == 2
    assert actions.count("witness.create") == 2
    assert actions.count("import.line_rejected") == 1


def test_stop_on_error_stops_at_the_first_bad_line(
    deployment: Deployment, officer: tuple[str, Account], tmp_path: Path
) -> None:
    case, account = officer
    first, after_the_error = interview_record(case), interview_record(case)
    path = write_jsonl(
        tmp_path / "stops.jsonl", [first, "not json at all", after_the_error, "{also bad"]
    )

    result = custodia(deployment, account, "import", "--stop-on-error", str(path))

    assert result.exit_code != 0
    assert "Imported 1 testimony." in result.stdout
    assert sorted(rejected_lines(result.stdout)) == [2]
    assert "--stop-on-error" in result.stdout
    assert column(deployment, "testimonies", "external_id") == {first["external_id"]}
    assert after_the_error["witness"]["pseudonym"] not in column(
        deployment, "witnesses", "pseudonym"
    )


def test_a_line_in_a_case_the_officer_is_not_assigned_to_is_refused_on_the_record(
    deployment: Deployment, officer: tuple[str, Account], tmp_path: Path
) -> None:
    case, account = officer
    elsewhere = deployment.case()
    path = write_jsonl(
        tmp_path / "elsewhere.jsonl", [interview_record(case), interview_record(elsewhere)]
    )

    result = custodia(deployment, account, "import", str(path))

    assert result.exit_code != 0
    assert sorted(rejected_lines(result.stdout)) == [2]
    assert counts(deployment)["testimonies"] == 1
    assert "No case with code" in rejected_lines(result.stdout)[2]
    refusals = [
        (e["action"], e["outcome"], e["object_id"], json.loads(e["details"])["line"])
        for e in deployment.custody_events()
        if e["outcome"] != "ok"
    ]
    assert refusals == [
        ("access.denied", "denied", elsewhere, 2),
        ("import.line_rejected", "failed", None, 2),
    ]


def test_progress_stays_plain_text_when_the_output_is_not_a_terminal(
    deployment: Deployment, officer: tuple[str, Account], tmp_path: Path
) -> None:
    """Run as a real process with pipes (as under cron or CI), not a terminal."""
    case, account = officer
    lines = 40
    path = write_jsonl(tmp_path / "batch.jsonl", [interview_record(case) for _ in range(lines)])
    environment = {
        k: v for k, v in os.environ.items() if k not in {"FORCE_COLOR", "TTY_COMPATIBLE"}
    }
    environment.update(
        CUSTODIA_PASSWORD=account.password, TERM="xterm-256color", COLUMNS="80", PYTHONPATH=""
    )

    process = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli.main",
            "--data-dir",
            str(deployment.settings.data_dir),
            "--database-url",
            deployment.settings.effective_database_url,
            "--user",
            account.username,
            "import",
            str(path),
        ],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert process.returncode == 0, process.stderr
    assert f"Imported {lines} testimonies." in process.stdout
    assert "Traceback" not in process.stderr
    for stream in (process.stdout, process.stderr):
        assert "\x1b" not in stream  # no colours or cursor movement
        assert "\r" not in stream  # no redrawing in place
    assert len(process.stderr.splitlines()) <= 2, process.stderr  # not one line per update
    assert counts(deployment)["testimonies"] == lines


def test_a_line_that_is_not_utf8_is_reported_like_any_other_bad_line(
    deployment: Deployment, officer: tuple[str, Account], tmp_path: Path
) -> None:
    case, account = officer
    first, last = interview_record(case), interview_record(case)
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(
        json.dumps(first).encode()
        + b'\n{"external_id": "caf\xe9"}\n'
        + json.dumps(last).encode()
        + b"\n"
    )

    result = custodia(deployment, account, "import", str(path))

    assert not isinstance(result.exception, UnicodeError), "the import crashed"
    assert result.exit_code == 1
    assert sorted(rejected_lines(result.stdout)) == [2]
    assert column(deployment, "testimonies", "external_id") == {
        first["external_id"],
        last["external_id"],
    }


def test_rejected_line_parser_rejoins_wrapped_cells() -> None:
    """Guards the helper the tests above read the CLI's table with."""
    table = "\n".join(
        [
            "┃ line ┃ problem                ┃",
            "│ 2    │ not valid JSON (column │",
            "│      │ 3: Expecting value)    │",
            "│ 14   │ No case with code 'X'. │",
        ]
    )
    assert rejected_lines(table) == {
        2: "not valid JSON (column 3: Expecting value)",
        14: "No case with code 'X'.",
    }
