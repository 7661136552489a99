"""Invariant 6: bad input gets a clear error and loses nothing.

Each row of ``BAD_INPUTS`` is one kind of bad request. Every one must be answered with a
4xx ``application/problem+json`` whose ``errors`` name the offending field where there is
one, without a stack trace and without echoing the submitted testimony text, and must leave
the deployment exactly as it was: the same number of rows in every table of the database,
and the same files in attachment storage, the search index and scratch space. The only
thing a refused request may add is what ``Runtime.run`` writes for a refusal
(``DomainError.refusal``): one ``access.denied`` custody event when the caller asked for a
record outside their cases, and nothing at all for plain bad input.

Because every row must leave the deployment unchanged, the rows share one deployment per
database (built once per module) and each row compares the state just before and after.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import func, inspect, select, table

from service.context import Role
from tests.conftest import _pg_admin_connection, _pg_url
from tests.factories import Account, Deployment, first_category, interview_record, unique

MAX_ATTACHMENT_BYTES = 1024
PROBLEM = "https://custodia.example/problems/"
# Sent in every narrative and file below; no response may ever contain it.
SECRET_TEXT = "보위부 구류장에서 있었던 일 — the account nobody may echo back"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@dataclass
class World:
    deployment: Deployment
    officer: Account
    case: str
    other_case: str
    testimony_id: str
    incident_id: str
    external_id: str

    @property
    def client(self) -> httpx.Client:
        return self.deployment.client

    def record(self, **changes: Any) -> dict[str, Any]:
        """A valid new testimony carrying SECRET_TEXT; ``changes`` replace top-level parts."""
        record = interview_record(self.case)
        record["narrative"]["original"] = SECRET_TEXT
        record.update(changes)
        return record


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """One deployment (attachments limited to 1 KiB) holding one testimony."""
    data_dir = tmp_path_factory.mktemp("bad-inputs") / "data"
    database = None
    if request.param == "sqlite":
        data_dir.mkdir(mode=0o700)
        shutil.copyfile(request.getfixturevalue("sqlite_template"), data_dir / "custodia.db")
        url = f"sqlite:///{data_dir / 'custodia.db'}"
    else:
        template = request.getfixturevalue("pg_template")
        database = f"custodia_t_{uuid.uuid4().hex[:12]}"
        with _pg_admin_connection() as connection:
            connection.execute(f'CREATE DATABASE "{database}" TEMPLATE "{template}"')
        url = _pg_url(database)
    deployment = Deployment.create(data_dir, url, max_attachment_bytes=MAX_ATTACHMENT_BYTES)
    try:
        case, other_case = deployment.case(), deployment.case()
        officer = deployment.user(Role.OFFICER, cases=(case,))
        external_id = unique("EXT-TAKEN-")
        created = deployment.create_testimony(
            officer, interview_record(case, external_id=external_id)
        )
        yield World(
            deployment,
            officer,
            case,
            other_case,
            created["id"],
            created["incident_ids"][0],
            external_id,
        )
    finally:
        deployment.close()
        if database is not None:
            with _pg_admin_connection() as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


# ---- requests --------------------------------------------------------------------------------


def post_testimony(make: Callable[[World], Any]) -> Callable[[World], httpx.Response]:
    def send(w: World) -> httpx.Response:
        return w.client.post("/api/v1/testimonies", json=make(w), headers=w.officer.headers)

    return send


def post_raw(body: bytes) -> Callable[[World], httpx.Response]:
    def send(w: World) -> httpx.Response:
        return w.client.post(
            "/api/v1/testimonies",
            content=body,
            headers={**w.officer.headers, "Content-Type": "application/json"},
        )

    return send


def with_interview(**changes: Any) -> Callable[[World], dict[str, Any]]:
    def make(w: World) -> dict[str, Any]:
        record = w.record()
        record["interview"].update(changes)
        return record

    return make


def with_witness(**changes: Any) -> Callable[[World], dict[str, Any]]:
    def make(w: World) -> dict[str, Any]:
        record = w.record()
        record["witness"].update(changes)
        return record

    return make


def with_identity(**changes: Any) -> Callable[[World], dict[str, Any]]:
    def make(w: World) -> dict[str, Any]:
        record = w.record()
        record["witness"]["identity"].update(changes)
        return record

    return make


def with_consent(**changes: Any) -> Callable[[World], dict[str, Any]]:
    def make(w: World) -> dict[str, Any]:
        record = w.record()
        record["consent"].update(changes)
        return record

    return make


def with_incident(**changes: Any) -> Callable[[World], dict[str, Any]]:
    def make(w: World) -> dict[str, Any]:
        record = w.record()
        record["incidents"][0].update(changes)
        for key in [k for k, v in changes.items() if v is None]:
            del record["incidents"][0][key]
        return record

    return make


def upload(
    content: bytes | Callable[[], Iterator[bytes]],
    *,
    media_type: str = "text/plain",
    disposition: str | None = "attachment; filename*=UTF-8''notes.txt",
    testimony: Callable[[World], str] = lambda w: w.testimony_id,
) -> Callable[[World], httpx.Response]:
    def send(w: World) -> httpx.Response:
        headers = {**w.officer.headers, "Content-Type": media_type}
        if disposition is not None:
            headers["Content-Disposition"] = disposition
        body = content() if callable(content) else content
        return w.client.post(
            f"/api/v1/testimonies/{testimony(w)}/attachments", content=body, headers=headers
        )

    return send


def upload_named(name: str, *, encoded: bool = True) -> Callable[[World], httpx.Response]:
    disposition = (
        f"attachment; filename*=UTF-8''{quote(name, safe='')}"
        if encoded
        else f'attachment; filename="{name}"'
    )
    return upload(SECRET_TEXT.encode(), disposition=disposition)


def streamed_over_the_limit() -> Iterator[bytes]:
    """Sent chunked, without Content-Length, so only the streaming check can stop it."""
    for _ in range(8):
        yield (SECRET_TEXT + "\n").encode() * 4


def patch(
    path: Callable[[World], str], body: Callable[[World], Any]
) -> Callable[[World], httpx.Response]:
    def send(w: World) -> httpx.Response:
        return w.client.patch(path(w), json=body(w), headers=w.officer.headers)

    return send


# ---- the table -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BadInput:
    name: str
    send: Callable[[World], httpx.Response]
    status: int
    problem: str
    fields: tuple[str, ...] = ()
    """Each must be named by an entry of ``errors`` (that field or one inside it)."""
    detail: str | None = None
    recorded: tuple[str, ...] = ()
    """Custody actions the refusal appends; nothing otherwise."""


def row(
    name: str,
    send: Callable[[World], httpx.Response],
    status: int,
    problem: str,
    *fields: str,
    detail: str | None = None,
    recorded: tuple[str, ...] = (),
) -> Any:
    return pytest.param(BadInput(name, send, status, problem, fields, detail, recorded), id=name)


VALIDATION, NOT_FOUND = "validation-failed", "not-found"

# One row per bad request: name, request, status, problem type, fields ``errors`` must name.
# fmt: off
BAD_INPUTS = [
    # -- the body as a whole
    row("malformed-json", post_raw(b'{"case": "X",,}'), 422, VALIDATION, "body",
        detail="body"),
    row("body-is-a-list", post_raw(b"[1, 2]"), 422, VALIDATION, "body"),
    row("body-is-a-string", post_raw(b'"a testimony"'), 422, VALIDATION, "body"),
    row("unknown-top-level-field", post_testimony(lambda w: {**w.record(), "surprise": 1}),
        422, VALIDATION, "surprise"),
    row("missing-narrative", post_testimony(
        lambda w: {k: v for k, v in w.record().items() if k != "narrative"}),
        422, VALIDATION, "narrative"),
    row("missing-interview", post_testimony(
        lambda w: {k: v for k, v in w.record().items() if k != "interview"}),
        422, VALIDATION, "interview"),
    row("narrative-with-unknown-field", post_testimony(
        lambda w: w.record(narrative={"original": SECRET_TEXT, "summary": SECRET_TEXT})),
        422, VALIDATION, "narrative.summary"),
    row("narrative-not-a-string", post_testimony(
        lambda w: w.record(narrative={"original": [SECRET_TEXT]})),
        422, VALIDATION, "narrative.original"),
    row("incidents-not-a-list", post_testimony(lambda w: w.record(incidents={"a": 1})),
        422, VALIDATION, "incidents"),
    # -- coding
    row("unknown-category", post_testimony(with_incident(categories=["torture.tickling"])),
        422, VALIDATION, "incidents[0].categories", detail="Valid codes: "),
    row("second-incident-unknown-category", post_testimony(lambda w: w.record(incidents=[
        w.record()["incidents"][0],
        {**w.record()["incidents"][0], "categories": [first_category(), "nope"]},
    ])), 422, VALIDATION, "incidents[1].categories"),
    # -- dates
    row("interview-month-13", post_testimony(with_interview(date="2016-13")),
        422, VALIDATION, "interview.date"),
    row("interview-february-30", post_testimony(with_interview(date="2016-02-30")),
        422, VALIDATION, "interview.date"),
    row("interview-yesterday", post_testimony(with_interview(date="yesterday")),
        422, VALIDATION, "interview.date"),
    row("incident-month-13", post_testimony(with_incident(date="2016-13")),
        422, VALIDATION, "incidents[0]"),
    row("incident-february-30", post_testimony(
        with_incident(date="2016-02-30", date_precision="day")),
        422, VALIDATION, "incidents[0]"),
    row("incident-yesterday", post_testimony(with_incident(date="yesterday")),
        422, VALIDATION, "incidents[0]"),
    row("day-given-for-month-precision", post_testimony(
        with_incident(date="2016-05-14", date_precision="month")),
        422, VALIDATION, "incidents[0]"),
    row("year-given-for-day-precision", post_testimony(
        with_incident(date="2016", date_precision="day")),
        422, VALIDATION, "incidents[0]"),
    row("unknown-precision", post_testimony(with_incident(date_precision="decade")),
        422, VALIDATION, "incidents[0].date_precision"),
    row("range-ends-before-it-starts", post_testimony(
        with_incident(date="2016-05-10", date_precision="range", date_end="2016-05-01")),
        422, VALIDATION, "incidents[0]"),
    row("range-without-end", post_testimony(
        with_incident(date="2016-05-10", date_precision="range")),
        422, VALIDATION, "incidents[0]"),
    row("end-without-range", post_testimony(
        with_incident(date="2016-05", date_end="2016-06-01")),
        422, VALIDATION, "incidents[0]"),
    # -- types and enumerations
    row("birth-year-not-a-number", post_testimony(with_identity(birth_year="abc")),
        422, VALIDATION, "witness.identity.birth_year"),
    row("birth-year-1066", post_testimony(with_identity(birth_year=1066)),
        422, VALIDATION, "witness.identity.birth_year"),
    row("scopes-not-a-list", post_testimony(with_consent(scopes="internal_analysis")),
        422, VALIDATION, "consent.scopes"),
    row("unknown-scope", post_testimony(with_consent(scopes=["internal_analysis", "press"])),
        422, VALIDATION, "consent.scopes[1]"),
    row("unknown-involvement", post_testimony(with_incident(involvement="bystander")),
        422, VALIDATION, "incidents[0].involvement"),
    # -- text
    row("empty-narrative", post_testimony(
        lambda w: w.record(narrative={"original": ""})),
        422, VALIDATION, "narrative.original"),
    row("overlong-interview-place", post_testimony(with_interview(place="서" * 201)),
        422, VALIDATION, "interview.place"),
    row("overlong-legal-name", post_testimony(with_identity(legal_name="가" * 301)),
        422, VALIDATION, "witness.identity.legal_name"),
    row("overlong-external-id", post_testimony(lambda w: w.record(external_id="E" * 101)),
        422, VALIDATION, "external_id"),
    row("blank-external-id", post_testimony(lambda w: w.record(external_id="  ")),
        422, VALIDATION, "external_id"),
    row("nul-in-interview-place", post_testimony(with_interview(place="Seoul\x00Busan")),
        422, VALIDATION, "interview.place"),
    row("terminal-escape-in-facility", post_testimony(
        with_incident(facility="\x1b[2J\x1b[31mMSS\x1b[0m")),
        422, VALIDATION, "incidents[0].facility"),
    row("pseudonym-with-spaces", post_testimony(with_witness(pseudonym="W 17")),
        422, VALIDATION, "witness.pseudonym"),
    row("pseudonym-with-path", post_testimony(with_witness(pseudonym="../W-17")),
        422, VALIDATION, "witness.pseudonym"),
    # -- references to other records
    row("unknown-case", post_testimony(lambda w: w.record(case="NO-SUCH-CASE")),
        404, NOT_FOUND, "case"),
    row("case-not-assigned-to-the-officer", post_testimony(
        lambda w: w.record(case=w.other_case)),
        404, NOT_FOUND, recorded=("access.denied",)),
    row("duplicate-external-id", post_testimony(lambda w: w.record(external_id=w.external_id)),
        409, "conflict", "external_id"),
    # -- attachments
    row("upload-over-the-limit", upload(b"x" * (MAX_ATTACHMENT_BYTES + 1)),
        413, "payload-too-large"),
    row("upload-streamed-over-the-limit", upload(streamed_over_the_limit),
        413, "payload-too-large"),
    row("filename-climbing-out", upload_named("../../etc/passwd"), 422, VALIDATION, "filename"),
    row("filename-climbing-out-unencoded", upload_named("../../etc/passwd", encoded=False),
        422, VALIDATION, "filename"),
    row("filename-with-folder", upload_named("a/b.png"), 422, VALIDATION, "filename"),
    row("filename-with-backslash", upload_named("a\\b.png"), 422, VALIDATION, "filename"),
    row("filename-dot-dot", upload_named(".."), 422, VALIDATION, "filename"),
    row("filename-hidden", upload_named(".hidden"), 422, VALIDATION, "filename"),
    row("filename-with-nul", upload_named("notes\x00.png"), 422, VALIDATION, "filename"),
    row("filename-with-newline", upload_named("notes\n.txt"), 422, VALIDATION, "filename"),
    row("filename-with-escape", upload_named("\x1b[31mnotes.txt"), 422, VALIDATION,
        "filename"),
    row("filename-too-long", upload_named("가" * 90 + ".txt"), 422, VALIDATION, "filename"),
    row("executable", upload(b"MZ\x90\x00" + SECRET_TEXT.encode(),
        media_type="application/x-msdownload"), 415, "unsupported-media-type",
        "content-type"),
    row("html-declared-as-png", upload(
        f"<html><body>{SECRET_TEXT}</body></html>".encode(), media_type="image/png"),
        415, "unsupported-media-type", "content-type"),
    row("png-declared-as-pdf", upload(PNG, media_type="application/pdf"),
        415, "unsupported-media-type", "content-type"),
    row("no-content-disposition", upload(SECRET_TEXT.encode(), disposition=None),
        422, VALIDATION, "content-disposition"),
    row("content-disposition-without-name", upload(SECRET_TEXT.encode(),
        disposition="attachment"), 422, VALIDATION, "content-disposition"),
    row("upload-to-missing-testimony", upload(SECRET_TEXT.encode(),
        testimony=lambda w: str(uuid.uuid4())), 404, NOT_FOUND),
    # -- edits
    row("patch-missing-incident", patch(
        lambda w: f"/api/v1/testimonies/{w.testimony_id}/incidents/{uuid.uuid4()}",
        lambda w: {"description": SECRET_TEXT}), 404, NOT_FOUND),
    row("patch-incident-unknown-category", patch(
        lambda w: f"/api/v1/testimonies/{w.testimony_id}/incidents/{w.incident_id}",
        lambda w: {"categories": ["nope"], "description": SECRET_TEXT}),
        422, VALIDATION, "categories"),
    row("patch-incident-bad-date", patch(
        lambda w: f"/api/v1/testimonies/{w.testimony_id}/incidents/{w.incident_id}",
        lambda w: {"date": "2016-02-30", "date_precision": "day"}),
        422, VALIDATION, "date"),
    row("patch-incident-precision-not-fitting-the-kept-date", patch(
        lambda w: f"/api/v1/testimonies/{w.testimony_id}/incidents/{w.incident_id}",
        lambda w: {"date_precision": "day"}),
        422, VALIDATION, "date"),
    row("patch-incident-range-without-end", patch(
        lambda w: f"/api/v1/testimonies/{w.testimony_id}/incidents/{w.incident_id}",
        lambda w: {"date": "2016-05-01", "date_precision": "range"}),
        422, VALIDATION, "date"),
    row("patch-incident-end-date-without-range", patch(
        lambda w: f"/api/v1/testimonies/{w.testimony_id}/incidents/{w.incident_id}",
        lambda w: {"date_end": "2016-06-30"}),
        422, VALIDATION, "date"),
    row("patch-missing-testimony", patch(
        lambda w: f"/api/v1/testimonies/{uuid.uuid4()}",
        lambda w: {"narrative": {"original": SECRET_TEXT}}), 404, NOT_FOUND),
    row("patch-testimony-empty-narrative", patch(
        lambda w: f"/api/v1/testimonies/{w.testimony_id}",
        lambda w: {"narrative": {"original": ""}}), 422, VALIDATION, "narrative.original"),
    row("patch-testimony-unknown-field", patch(
        lambda w: f"/api/v1/testimonies/{w.testimony_id}",
        lambda w: {"narrative": {"original": SECRET_TEXT}, "case": w.other_case}),
        422, VALIDATION, "case"),
    row("add-incident-unknown-category", lambda w: w.client.post(
        f"/api/v1/testimonies/{w.testimony_id}/incidents",
        json={**interview_record(w.case)["incidents"][0], "categories": ["nope"]},
        headers=w.officer.headers), 422, VALIDATION, "categories"),
]
# fmt: on


# ---- what "loses nothing" means ----------------------------------------------------------------


@dataclass(frozen=True)
class State:
    rows: dict[str, int]
    files: list[str]
    custody_size: int


def snapshot(w: World) -> State:
    """Row counts of every table in the database, and every file and directory the deployment
    keeps outside it (attachments, search index, scratch space), at any depth: a refused
    upload must not even leave an empty directory behind."""
    with w.deployment.runtime.engine.connect() as connection:
        rows = {
            name: connection.execute(select(func.count()).select_from(table(name))).scalar_one()
            for name in inspect(connection).get_table_names()
        }
    root = w.deployment.settings.resolved_data_dir
    files = sorted(
        str(p.relative_to(root)) + ("/" if p.is_dir() else "")
        for p in root.rglob("*")
        if not p.name.startswith("custodia.db")
    )
    return State(rows, files, rows["custody_events"])


def custody_actions_since(w: World, size: int) -> list[str]:
    return [e["action"] for e in w.deployment.custody_events()[size:]]


def named_fields(problem: dict[str, Any]) -> list[str]:
    return [entry["field"] for entry in problem.get("errors", [])]


def names(reported: list[str], expected: str) -> bool:
    return any(f == expected or f.startswith((expected + ".", expected + "[")) for f in reported)


@pytest.mark.parametrize("bad", BAD_INPUTS)
def test_bad_input_is_refused_clearly_and_changes_nothing(world: World, bad: BadInput) -> None:
    before = snapshot(world)

    response = bad.send(world)

    assert response.status_code == bad.status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == PROBLEM + bad.problem
    assert problem["status"] == bad.status
    assert problem["title"]
    for expected in bad.fields:
        assert names(named_fields(problem), expected), (expected, problem)
    if bad.detail is not None:
        assert bad.detail in problem["detail"], problem
    assert "Traceback" not in response.text
    assert SECRET_TEXT not in response.text
    assert json.dumps(SECRET_TEXT)[1:-1] not in response.text

    after = snapshot(world)
    assert custody_actions_since(world, before.custody_size) == list(bad.recorded)
    assert after.files == before.files
    changed = {t: (before.rows[t], n) for t, n in after.rows.items() if before.rows[t] != n}
    if bad.recorded:
        # A recorded refusal grows the custody log, and with it the log's own tree tables.
        changed = {t: n for t, n in changed.items() if not t.startswith("custody_")}
    assert changed == {}


def test_the_same_upload_succeeds_when_it_is_within_the_limits(world: World) -> None:
    """Guards the table: its uploads fail for the reason they name, not for some other."""
    before = snapshot(world)

    response = upload(b"x" * MAX_ATTACHMENT_BYTES)(world)

    assert response.status_code == 201, response.text
    after = snapshot(world)
    assert after.rows["attachments"] == before.rows["attachments"] + 1
    new = set(after.files) - set(before.files)
    stored = [f for f in new if f.startswith("attachments/") and not f.endswith("/")]
    assert len(stored) == 1


def test_a_valid_record_is_accepted_by_the_same_requests(world: World) -> None:
    """Guards the table: the base record the rows spoil is itself valid."""
    response = post_testimony(lambda w: w.record())(world)

    assert response.status_code == 201, response.text
