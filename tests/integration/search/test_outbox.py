"""The index follows the records through the transactional outbox, and can be checked and rebuilt.

Every create, edit, recoding and consent change enqueues its testimony in the record's own
transaction (``search_outbox``); the indexer drains the queue after commit and, in any case,
before each search. So a record committed while the indexer is not running (a crash between
commit and indexing) is searchable once the service runs again. ``custodia search check``
compares the index with the database and ``custodia reindex`` rebuilds it (docs/search.md).
"""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from service.app import create_app
from service.context import Role
from service.runtime import Runtime
from service.search.indexer import SearchIndexer
from service.search.outbox import SearchOutboxEntry
from tests.factories import Account, Deployment, interview_record
from tests.integration.search.corpus import BACKENDS, custodia, fresh_deployment


@dataclass
class Service:
    deployment: Deployment
    officer: Account
    investigator: Account

    def new_case(self) -> str:
        """A case of its own for one test, so its counts are not disturbed by the others."""
        code = self.deployment.case()
        for account in (self.officer, self.investigator):
            self.deployment.assign(code, account.username)
        return code

    def search(self, case: str, q: str = "", **params: Any) -> dict[str, Any]:
        response = self.deployment.client.get(
            "/api/v1/search",
            params={"q": q, "case": case, "snippets": "false", **params},
            headers=self.investigator.headers,
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def found(self, case: str, q: str = "", **params: Any) -> set[str]:
        return {hit["testimony_id"] for hit in self.search(case, q, **params)["hits"]}

    def send(self, method: str, path: str, body: dict[str, Any]) -> Any:
        response = self.deployment.client.request(
            method, f"/api/v1{path}", json=body, headers=self.officer.headers
        )
        assert response.status_code in (200, 201), response.text
        return response.json()

    def outbox(self) -> list[str]:
        with self.deployment.runtime.session_factory() as session:
            return list(session.scalars(select(SearchOutboxEntry.testimony_id)))

    def indexed(self) -> set[str]:
        return self.deployment.runtime.search_index.document_ids()

    def restart(self) -> None:
        """Stop the service and start it again on the same data directory and database."""
        deployment = self.deployment
        deployment.client.close()
        deployment.runtime.close()
        deployment.runtime = Runtime.open(deployment.settings)
        deployment.client = TestClient(
            create_app(deployment.settings, deployment.runtime), raise_server_exceptions=False
        )


@pytest.fixture(scope="module", params=BACKENDS)
def service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    with fresh_deployment(request, tmp_path_factory, request.param) as deployment:
        yield Service(
            deployment,
            deployment.user(Role.OFFICER),
            deployment.user(Role.INVESTIGATOR),
        )


def word() -> str:
    """A made-up English word no other testimony contains."""
    return "".join(secrets.choice(string.ascii_lowercase) for _ in range(10)) + "x"


def add_testimony(
    service: Service, case: str, translation: str = "", **changes: Any
) -> dict[str, Any]:
    record = interview_record(case, **changes)
    if translation:
        record["narrative"]["translation_en"] = translation
    created: dict[str, Any] = service.deployment.create_testimony(service.officer, record)
    return created


# ---- a crash between commit and indexing ------------------------------------------------------


def test_a_record_committed_while_the_indexer_is_stopped_is_found_after_a_restart(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    case, canary = service.new_case(), word()
    with monkeypatch.context() as stopped:
        stopped.setattr(SearchIndexer, "drain", lambda self, batch=500: 0)
        created = add_testimony(service, case, f"I was questioned about the {canary}.")
    assert service.outbox().count(created["id"]) == 1  # committed with the record
    assert created["id"] not in service.indexed()

    service.restart()

    assert service.found(case, canary) == {created["id"]}  # the search drained the outbox
    assert created["id"] in service.indexed()
    assert created["id"] not in service.outbox()
    assert service.search(case)["total"] == 1


def test_a_failed_record_leaves_nothing_in_the_outbox(service: Service) -> None:
    case = service.new_case()
    before = service.outbox()
    record = interview_record(case)
    record["incidents"][0]["categories"] = ["no_such_category"]
    response = service.deployment.client.post(
        "/api/v1/testimonies", json=record, headers=service.officer.headers
    )
    assert response.status_code == 422
    assert service.outbox() == before
    assert service.search(case)["total"] == 0


# ---- changes reach the index ------------------------------------------------------------------


def test_an_edit_replaces_the_indexed_words(service: Service) -> None:
    case, old, new = service.new_case(), word(), word()
    created = add_testimony(service, case, f"The {old} was in the cell.")
    assert service.found(case, old) == {created["id"]}
    service.send(
        "PATCH",
        f"/testimonies/{created['id']}",
        {"narrative": {"original": "2016년 회령에서.", "translation_en": f"The {new} was there."}},
    )
    assert service.found(case, old) == set()
    assert service.found(case, new) == {created["id"]}
    assert service.found(case, "보위부") == set()  # the old narrative is gone too
    assert service.found(case, "회령") == {created["id"]}
    assert service.search(case)["total"] == 1  # replaced, not added


def test_recoding_an_incident_moves_its_category_between_facets(service: Service) -> None:
    case = service.new_case()
    first = add_testimony(service, case)  # coded detention.arbitrary_arrest
    add_testimony(service, case)
    before = service.search(case)["facets"]["category"]
    assert before == {"detention": 2, "detention.arbitrary_arrest": 2}

    service.send(
        "PATCH",
        f"/testimonies/{first['id']}/incidents/{first['incident_ids'][0]}",
        {"categories": ["torture.interrogation"], "place": "Musan, North Hamgyong"},
    )
    facets = service.search(case)["facets"]
    assert facets["category"] == {
        "detention": 1,
        "detention.arbitrary_arrest": 1,
        "torture": 1,
        "torture.interrogation": 1,
    }
    assert facets["place"] == {"Hoeryong, North Hamgyong": 1, "Musan, North Hamgyong": 1}
    assert service.found(case, category="torture") == {first["id"]}
    assert first["id"] not in service.found(case, category="detention")

    service.send(
        "PATCH",
        f"/testimonies/{first['id']}/incidents/{first['incident_ids'][0]}",
        {"retracted": True},
    )
    facets = service.search(case)["facets"]
    assert facets["category"] == {"detention": 1, "detention.arbitrary_arrest": 1}
    assert service.found(case, category="torture") == set()
    assert service.search(case)["total"] == 2  # the testimony itself is still there


def test_withdrawn_consent_leaves_the_consent_scope_facet(service: Service) -> None:
    case = service.new_case()
    created = add_testimony(service, case)  # internal_analysis and un_mechanisms
    add_testimony(
        service, case, consent={"scopes": ["internal_analysis"], "given_on": "2024-03-14"}
    )
    assert service.search(case)["facets"]["consent_scope"] == {
        "internal_analysis": 2,
        "un_mechanisms": 1,
    }
    service.send(
        "POST",
        f"/testimonies/{created['id']}/consent",
        {"scope": "un_mechanisms", "kind": "withdrawn", "effective_on": "2024-06-01"},
    )
    assert service.search(case)["facets"]["consent_scope"] == {"internal_analysis": 2}
    assert service.found(case, consent_scope="un_mechanisms") == set()
    service.send(
        "POST",
        f"/testimonies/{created['id']}/consent",
        {"scope": "judicial_proceedings", "kind": "given", "effective_on": "2024-07-01"},
    )
    assert service.found(case, consent_scope="judicial_proceedings") == {created["id"]}


# ---- check and reindex ------------------------------------------------------------------------


def test_search_check_finds_a_document_missing_from_the_index_and_reindex_repairs_it(
    service: Service,
) -> None:
    deployment = service.deployment
    case = service.new_case()
    created = add_testimony(service, case)
    result = custodia(deployment, deployment.admin, "search", "check")
    assert result.exit_code == 0, result.output
    assert "differs" not in result.output

    deployment.runtime.search_index.delete([created["id"]])  # damage the index directly
    assert service.search(case)["total"] == 0

    result = custodia(deployment, deployment.admin, "search", "check")
    assert result.exit_code == 1
    assert f"missing: {created['id']}" in result.output
    assert "the index differs from the database: run 'custodia reindex'" in result.output

    events = len(deployment.custody_events())
    result = custodia(deployment, deployment.admin, "reindex")
    assert result.exit_code == 0, result.output
    testimonies = len(service.indexed())
    assert f"Indexed {testimonies} testimonies." in result.output
    [event] = [e for e in deployment.custody_events()[events:] if e["action"] == "search.reindex"]
    assert (event["actor"], event["channel"], event["outcome"]) == (
        deployment.admin.username,
        "cli",
        "ok",
    )
    assert json.loads(event["details"])["documents"] == testimonies

    assert service.found(case) == {created["id"]}
    result = custodia(deployment, deployment.admin, "search", "check")
    assert result.exit_code == 0, result.output


def test_only_administrators_check_or_rebuild_the_index(service: Service) -> None:
    deployment = service.deployment
    for args in (("search", "check"), ("reindex",)):
        for account in (service.officer, service.investigator):
            events = len(deployment.custody_events())
            result = custodia(deployment, account, *args)
            assert result.exit_code != 0, result.output
            actions = [e["action"] for e in deployment.custody_events()[events:]]
            assert "search.reindex" not in actions
