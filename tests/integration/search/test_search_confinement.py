"""Search stays inside the caller's cases, and every search is on the custody record.

An investigator assigned to case A of the corpus never learns anything about case B through
search or statistics: no hit, no snippet, no total and no facet count, whatever the query
or filters (DESIGN.md "Search over encrypted text": confinement happens inside the engine).
Auditors and administrators may not search at all. Each search is a ``search.query``
custody event holding the filters, a keyed hash of the query and the returned ids, never
the query text; each snippet decrypted for a returned hit is a ``testimony.snippet_read``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.factories import Account
from tests.integration.search.corpus import (
    ALL,
    BACKENDS,
    BY_KEY,
    CASE_A,
    CASE_B,
    FACETS,
    HOERYONG,
    IN_A,
    IN_B,
    World,
    built_world,
    expected_facets,
    expected_statistics,
)

NO_FACETS: dict[str, dict[str, int]] = {name: {} for name in FACETS}


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    with built_world(request, tmp_path_factory, request.param) as built:
        yield built


def search_as(world: World, account: Account, **params: Any) -> dict[str, Any]:
    return world.result(account, per_page=100, **params)


def hit_keys(world: World, body: dict[str, Any]) -> set[str]:
    return {world.key_of[hit["testimony_id"]] for hit in body["hits"]}


def events_after(world: World, seq: int, action: str | None = None) -> list[dict[str, Any]]:
    """Custody events after ``seq`` (of one action), their details parsed from JSON."""
    return [
        {**event, "details": json.loads(event["details"] or "{}")}
        for event in world.deployment.custody_events()
        if event["seq"] > seq and (action is None or event["action"] == action)
    ]


def last_seq(world: World) -> int:
    events = world.deployment.custody_events()
    return int(events[-1]["seq"]) if events else 0


# ---- nothing from other cases ------------------------------------------------------------------


def test_an_empty_query_counts_only_the_callers_cases(world: World) -> None:
    body = search_as(world, world.investigator_a)
    assert body["total"] == len(IN_A) == 12
    assert hit_keys(world, body) == IN_A
    assert body["facets"] == expected_facets(IN_A)
    assert body["facets"]["case"] == {CASE_A: 12}
    assert {hit["case"] for hit in body["hits"]} == {CASE_A}


@pytest.mark.parametrize(
    ("q", "in_a"),
    [
        # 보위부 is in four testimonies of each case; "holding centre" in A01 A05 A12 B02.
        ('보위부 NOT "holding centre"', {"A04"}),
        ('보위부 -"holding centre"', {"A04"}),
        ("interrogated -beaten", {"A05", "A12"}),
        ("(hyesan OR 회령) NOT kicked", {"A01", "A07", "A12"}),
    ],
)
def test_a_not_query_excludes_within_the_callers_cases_only(
    world: World, q: str, in_a: set[str]
) -> None:
    body = search_as(world, world.investigator_a, q=q)
    assert hit_keys(world, body) == in_a
    assert body["total"] == len(in_a)
    assert body["facets"] == expected_facets(in_a)


@pytest.mark.parametrize("q", ["Bible", "성경", "개천교화소", "description:장마당", "Shenyang"])
def test_words_found_only_in_another_case_give_nothing_at_all(world: World, q: str) -> None:
    assert world.found(q, account=world.investigator) <= IN_B  # they do exist, in case B
    assert world.found(q, account=world.investigator)
    body = search_as(world, world.investigator_a, q=q)
    assert body["total"] == 0
    assert body["hits"] == []
    assert body["facets"] == NO_FACETS


def test_a_case_filter_naming_a_case_the_caller_is_not_in_matches_nothing(world: World) -> None:
    for params in ({"case": CASE_B}, {"case": CASE_B, "q": "보위부"}, {"case": "NO-SUCH-CASE"}):
        body = search_as(world, world.investigator_a, **params)
        assert (body["total"], body["hits"], body["facets"]) == (0, [], NO_FACETS), params
    body = search_as(world, world.investigator_a, case=[CASE_A, CASE_B])
    assert hit_keys(world, body) == IN_A
    assert body["facets"] == expected_facets(IN_A)


def test_filters_and_sorting_never_widen_the_confinement(world: World) -> None:
    for params in (
        {"place": HOERYONG},  # A01 A03 A12 in case A; B05 B08 in case B
        {"category": "torture", "sort": "date"},
        {"language": "en"},
        {"from": "1990-01-01", "to": "2030-12-31"},
    ):
        body = search_as(world, world.investigator_a, **params)
        assert hit_keys(world, body) <= IN_A, params
        assert set(body["facets"]["case"]) <= {CASE_A}, params
        assert body["total"] == len(body["hits"])


def test_snippets_come_only_from_the_callers_testimonies(world: World) -> None:
    body = search_as(world, world.investigator_a, q="보위부 OR 장마당")
    assert hit_keys(world, body) == {"A01", "A04", "A05", "A12", "A07", "A10"}
    for hit in body["hits"]:
        entry = BY_KEY[world.key_of[hit["testimony_id"]]]
        assert hit["snippets"]
        for name, parts in hit["snippets"].items():
            text = "".join(part["text"] for part in parts)
            source = {"narrative": entry.original, "translation": entry.translation or ""}.get(
                name, " ".join(i.description for i in entry.incidents)
            )
            assert text in source


def test_statistics_count_only_the_callers_cases(world: World) -> None:
    stats = world.statistics(world.investigator_a)
    assert stats == expected_statistics(IN_A)
    assert stats["incidents"] == 13
    assert "Kaechon, South Pyongan" not in stats["by_place"]  # B01's place
    assert "sexual_violence.trafficking_sexual_exploitation" not in stats["by_category"]  # B06
    assert world.statistics(world.investigator_a, case=CASE_B) == expected_statistics(())
    assert world.statistics(world.investigator_a, case=[CASE_A, CASE_B]) == stats
    assert world.statistics(world.investigator) == expected_statistics(ALL)


# ---- who may search -----------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["auditor", "admin"])
@pytest.mark.parametrize("path", ["/api/v1/search", "/api/v1/statistics"])
def test_auditors_and_administrators_may_not_search_or_count(
    world: World, who: str, path: str
) -> None:
    account = world.auditor if who == "auditor" else world.deployment.admin
    before = last_seq(world)
    for params in ({}, {"q": "보위부"}, {"case": CASE_A}):
        response = world.deployment.client.get(path, params=params, headers=account.headers)
        assert response.status_code == 403, response.text
        assert "hits" not in response.json()
    actions = {event["action"] for event in events_after(world, before)}
    assert not actions & {"search.query", "statistics.read", "testimony.snippet_read"}


# ---- the custody record ---------------------------------------------------------------------


def test_each_search_is_recorded_with_filters_keyed_query_hash_and_returned_ids(
    world: World,
) -> None:
    q = '"holding centre" 회령'
    before = last_seq(world)
    body = world.result(
        world.investigator,
        q=q,
        category="torture",
        place=HOERYONG,
        from_="2016-01-01",
        to="2018-12-31",
        sort="date",
        per_page=1,
    )
    assert body["total"] == 2  # A01 (2016) and A12 (2018); B08 (2021) is out of range
    [event] = events_after(world, before, "search.query")
    assert event["actor"] == world.investigator.username
    assert event["outcome"] == "ok"
    assert event["object_type"] == "search"
    details = event["details"]
    assert details["filters"] == {
        "categories": ["torture"],
        "places": [HOERYONG],
        "from": "2016-01-01",
        "to": "2018-12-31",
    }
    assert details["returned"] == [hit["testimony_id"] for hit in body["hits"]]
    assert details["returned"] == [world.ids["A12"]]
    assert (details["sort"], details["page"], details["total"]) == ("date", 1, 2)
    assert re.fullmatch(r"[0-9a-f]{32}", details["query_hmac"])
    # Keyed: not a plain hash of the query anyone could recompute from a guess.
    for plain in (q, " ".join(q.split())):
        for algorithm in ("sha256", "sha512", "md5", "sha1"):
            digest = hashlib.new(algorithm, plain.encode()).hexdigest()
            assert details["query_hmac"] not in digest
    # The query text appears nowhere in the event, not even a word of it.
    recorded = json.dumps(event, ensure_ascii=False).lower()
    for fragment in (q, "holding", "centre", "회령", "hold", "centr"):
        assert fragment.lower() not in recorded


def test_the_query_hash_is_stable_for_one_query_and_differs_between_queries(
    world: World,
) -> None:
    before = last_seq(world)
    for q in ("beatings", "  beatings ", "beaten", ""):
        world.result(world.investigator_a, q=q, snippets="false")
    hashes = [e["details"]["query_hmac"] for e in events_after(world, before, "search.query")]
    assert len(hashes) == 4
    assert hashes[0] == hashes[1]  # surrounding white space does not matter
    assert len({hashes[0], hashes[2], hashes[3]}) == 3


def test_snippet_reads_are_recorded_only_for_the_returned_hits(world: World) -> None:
    before = last_seq(world)
    body = world.result(world.investigator_a, q="보위부", per_page=2)
    assert body["total"] == 4  # A01 A04 A05 A12; only two are on this page
    returned = [hit["testimony_id"] for hit in body["hits"]]
    assert all(hit["snippets"] for hit in body["hits"])
    reads = events_after(world, before, "testimony.snippet_read")
    assert sorted(event["object_id"] for event in reads) == sorted(returned)
    assert {event["actor"] for event in reads} == {world.investigator_a.username}
    assert all(event["object_sha256"] for event in reads)
    [search] = events_after(world, before, "search.query")
    assert search["details"]["returned"] == returned


def test_without_snippets_nothing_is_decrypted_or_recorded_as_read(world: World) -> None:
    before = last_seq(world)
    body = world.result(world.investigator_a, q="보위부", snippets="false")
    assert body["total"] == 4
    assert all(hit["snippets"] == {} for hit in body["hits"])
    assert events_after(world, before, "testimony.snippet_read") == []
    assert len(events_after(world, before, "search.query")) == 1


def test_an_empty_query_decrypts_no_snippets(world: World) -> None:
    before = last_seq(world)
    body = world.result(world.investigator_a, category="torture")
    assert body["total"] == 3  # A01 A05 A12
    assert all(hit["snippets"] == {} for hit in body["hits"])
    assert events_after(world, before, "testimony.snippet_read") == []
