"""Known queries return known testimonies (docs/search.md, "Query language" and filters).

The corpus (``corpus.py``) is searched through ``GET /api/v1/search`` by an investigator
assigned to both of its cases, on SQLite with the embedded Whoosh index, on PostgreSQL with
the PostgreSQL backend, and on PostgreSQL with Whoosh: both backends pass the same suite.

Expected results are sets of corpus keys (``keys("A01 B02")``); the texts in ``corpus.py``
show why each testimony matches.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.search.corpus import (
    ALL,
    ALL_BACKENDS,
    CASE_A,
    CASE_B,
    HOERYONG,
    HYESAN,
    IN_A,
    MSS_HOLDING_CENTRE,
    MUSAN,
    World,
    built_world,
    expected_facets,
    keys,
    newest_first,
)


@pytest.fixture(scope="module", params=ALL_BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    with built_world(request, tmp_path_factory, request.param) as built:
        yield built


def problem(world: World, **params: Any) -> dict[str, Any]:
    """The problem document of a search that must be refused as invalid input."""
    response = world.search(world.investigator, **params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    return body


# ---- words --------------------------------------------------------------------------------------


def test_english_words_are_stemmed_the_same_way_in_queries_and_documents(world: World) -> None:
    # "beatings", "beating", "beat" all become "beat": A02 says "beat", A05 "beatings" (in an
    # incident description) and B06 "beatings" (in an English narrative).
    assert world.found("beatings") == keys("A02 A05 B06")
    assert world.found("beating") == keys("A02 A05 B06")
    assert world.found("beat") == keys("A02 A05 B06")
    # ...but Snowball leaves the participle "beaten" alone, so the two do not meet.
    assert world.found("beaten") == keys("A01")
    # "interrogated", "interrogation(s)" and "interrogators" share the stem "interrog".
    assert world.found("interrogated") == keys("A01 A05 A12 B08")
    assert world.found("INTERROGATION") == keys("A01 A05 A12 B08")


def test_korean_words_match_inside_inflected_forms(world: World) -> None:
    # 보위부 (State Security) occurs as 보위부, 보위부에서, 보위부에, 보위부가, 보위부원들은.
    mss = keys("A01 A04 A05 A12 B02 B04 B05 B08")
    assert world.found("보위부") == mss
    # A query word loses its particle exactly as document words do.
    assert world.found("보위부에서") == mss
    assert world.found("보위부를") == mss
    # 구타당했습니다 ("was beaten", A12) and 구타를 both come down to 구타.
    assert world.found("구타") == keys("A12")
    assert world.found("구타를") == keys("A12")


def test_a_named_facility_in_korean_finds_only_that_facility(world: World) -> None:
    assert world.found("전거리교화소") == keys("A03")  # Chongori, written 전거리교화소에서
    assert world.found("개천교화소") == keys("B01")  # Kaechon
    # The facility type alone matches inside both names (Korean bigrams need no spaces).
    assert world.found("교화소") == keys("A03 B01")


def test_a_phrase_matches_only_adjacent_words_in_order(world: World) -> None:
    # B04 says "kept holding me in a detention centre": both words, not next to each other.
    assert world.found("holding centre") == keys("A01 A05 A12 B02 B04")
    assert world.found('"holding centre"') == keys("A01 A05 A12 B02")
    assert world.found('"centre holding"') == set()
    # Korean phrases too: B05 has 회령 and 보위부 in one sentence, apart.
    assert world.found("회령 보위부") == keys("A01 A12 B05 B08")
    assert world.found('"회령 보위부"') == keys("A01 A12 B08")


def test_stop_words_inside_a_phrase_take_no_position(world: World) -> None:
    # Documented cost of dense positions: "the" is dropped, so this is "holding centre".
    assert world.found('"holding the centre"') == keys("A01 A05 A12 B02")


def test_a_query_of_stop_words_only_matches_everything_in_the_filters(world: World) -> None:
    assert world.found("the") == ALL
    assert world.found("the", case=CASE_A) == IN_A


# ---- boolean operators ------------------------------------------------------------------------


def test_words_are_anded_unless_joined_by_or(world: World) -> None:
    assert world.found("beatings interrogated") == keys("A05")
    assert world.found("beatings AND interrogated") == keys("A05")
    assert world.found("beatings OR kicked") == keys("A02 A05 B06 A04 B02")


def test_not_and_minus_exclude_words_phrases_and_groups(world: World) -> None:
    mss = keys("A01 A04 A05 A12 B02 B04 B05 B08")
    held = keys("A01 A05 A12 B02")
    assert world.found('보위부 NOT "holding centre"') == mss - held
    assert world.found('보위부 -"holding centre"') == mss - held
    assert world.found("interrogated NOT beaten") == keys("A05 A12 B08")
    assert world.found("interrogated -beaten") == keys("A05 A12 B08")
    assert world.found("holding -(beaten OR kicked)") == keys("A05 A12 B04")
    assert world.found("holding NOT (beaten OR kicked)") == keys("A05 A12 B04")


def test_parentheses_group(world: World) -> None:
    assert world.found("(beaten OR kicked) 회령") == keys("A01")
    assert world.found("(beaten OR kicked) AND (hyesan OR 신의주)") == keys("A04 B02")


# ---- field scoping --------------------------------------------------------------------------


def test_field_prefixes_scope_a_word_or_phrase_to_one_text(world: World) -> None:
    # A04's translation says "kicked"; B02's incident description does.
    assert world.found("kicked") == keys("A04 B02")
    assert world.found("translation:kicked") == keys("A04")
    assert world.found("description:kicked") == keys("B02")
    # 장마당 (market) is in the Korean narratives of A07 and A10, and B03's Korean description.
    assert world.found("장마당") == keys("A07 A10 B03")
    assert world.found("narrative:장마당") == keys("A07 A10")
    assert world.found("description:장마당") == keys("B03")
    # The narrative is the original language: B06 was told in English.
    assert world.found("narrative:beatings") == keys("B06")
    assert world.found("translation:beatings") == set()
    assert world.found("description:beatings") == keys("A02 A05")
    assert world.found('translation:"holding centre"') == keys("A01 A05 A12 B02")
    assert world.found('description:"holding centre"') == keys("A01")
    assert world.found("description:(beaten OR kicked)") == keys("A01 B02")
    assert world.found("interrogated -translation:interrogated") == keys("A12")


def test_field_aliases(world: World) -> None:
    assert world.found("original:장마당") == world.found("narrative:장마당")
    assert world.found("en:kicked") == world.found("translation:kicked")
    assert world.found("incident:kicked") == world.found("description:kicked")


def test_an_unknown_field_is_refused(world: World) -> None:
    body = problem(world, q="witness:kicked")
    assert body["errors"][0]["field"] == "q"
    assert "narrative, translation, description" in body["errors"][0]["message"]


# ---- what cannot be searched ----------------------------------------------------------------


@pytest.mark.parametrize(
    "q", ["beat*", "b?at", "beaten~", "beaten~2", "보위*", '"holding centre"~3', "-kick*"]
)
def test_prefix_wildcard_and_fuzzy_queries_are_refused_with_the_reason(
    world: World, q: str
) -> None:
    body = problem(world, q=q)
    assert body["errors"] == [{"field": "q", "message": body["detail"]}]
    assert "Prefix, wildcard and fuzzy matching are impossible" in body["detail"]
    assert "keyed hashes of whole words" in body["detail"]


@pytest.mark.parametrize(
    ("q", "reason"),
    [
        ('"holding centre', "Unbalanced quotation mark"),
        ('holding centre"', "Unbalanced quotation mark"),
        ("(beaten OR kicked", "Unbalanced parenthesis"),
        ("(beaten OR (kicked)", "Unbalanced parenthesis"),
        ("beaten OR kicked)", "Unexpected ')'"),
        (")beaten(", "Unexpected ')'"),
        ("NOT beaten", "cannot consist only of NOT"),
    ],
)
def test_malformed_queries_are_refused_naming_q(world: World, q: str, reason: str) -> None:
    body = problem(world, q=q)
    assert [error["field"] for error in body["errors"]] == ["q"]
    assert reason in body["detail"]


# ---- filters ---------------------------------------------------------------------------------


def test_a_category_includes_its_child_categories(world: World) -> None:
    assert world.found(category="detention") == keys("A01 A02 A03 A04 A06 A10 B01 B04")
    assert world.found(category="detention.kyohwaso") == keys("A03 B01")
    assert world.found(category="torture") == keys("A01 A05 A12 B02 B08")
    # Several values of one filter are alternatives.
    assert world.found(category=["life", "sexual_violence"]) == keys("A03 A07 A08 A09 B06")
    assert world.found("보위부", category="torture") == keys("A01 A05 A12 B02 B08")


def test_an_unknown_category_is_refused(world: World) -> None:
    body = problem(world, category="detention.gulag")
    assert [error["field"] for error in body["errors"]] == ["category"]


def test_dates_match_incidents_that_may_have_happened_in_the_range(world: World) -> None:
    # A01 happened in May 2016 (month precision), B05 in 2016 (year precision).
    assert world.found(from_="2016-05-31", to="2016-05-31") == keys("A01 B05")
    assert world.found(from_="2016-06-01", to="2016-06-30") == keys("B05")
    # A02 in 2015 (year); B01 from April 2013 to March 2016 (range).
    assert world.found(from_="2015-06-01", to="2015-06-30") == keys("A02 B01")
    # A03's range ends on 31 August 2019; A04 is 20 November 2019 (day).
    assert world.found(from_="2019-08-31", to="2019-08-31") == keys("A03")
    assert world.found(from_="2019-09-01", to="2019-10-31") == set()
    assert world.found(from_="2019-11-20", to="2019-11-20") == keys("A04")
    # Open-ended ranges; B06's range starts on 1 March 2005.
    assert world.found(from_="2020-01-01") == keys("B03 B08")
    assert world.found(to="2005-02-28") == keys("B07")
    assert world.found(to="2005-03-01") == keys("B06 B07")
    # A testimony without incidents has no date, so any date filter leaves it out.
    assert "A11" not in world.found(to="2100-01-01")


def test_dates_between_two_incidents_of_one_testimony_do_not_match(world: World) -> None:
    assert world.found(from_="2000-01-01", to="2000-12-31") == set()


def test_coding_filters_select_exact_values(world: World) -> None:
    assert world.found(place=HYESAN) == keys("A04 A07 B03")
    assert world.found(place=[HYESAN, MUSAN]) == keys("A04 A07 A09 B03")
    assert world.found(place="Hyesan") == set()  # values are exact, not words
    assert world.found(facility=MSS_HOLDING_CENTRE) == keys("A01 A12 B08")
    assert world.found(institution="Chinese Public Security") == keys("A05")
    assert world.found(involvement="hearsay") == keys("A06 B05")
    assert world.found(involvement="direct_witness") == keys("A03 A07 A09 B07")
    assert world.found(case=CASE_B) == keys("B01 B02 B03 B04 B05 B06 B07 B08")
    assert world.found(case=[CASE_A, CASE_B]) == ALL
    assert world.found(language="en") == keys("A08 B06")
    assert world.found(consent_scope="judicial_proceedings") == keys("A03 A07 B01 B06")


def test_different_filters_all_apply(world: World) -> None:
    assert world.found(category="torture", place=HOERYONG) == keys("A01 A12 B08")
    assert world.found("interrogated", category="torture", place=HOERYONG) == keys("A01 A12 B08")
    assert world.found(category="torture", involvement="direct_witness") == set()
    assert world.found(place=HOERYONG, from_="2018-01-01", to="2018-12-31") == keys("A03 A12")


def test_filters_apply_to_the_testimony_not_to_each_incident(world: World) -> None:
    # A05's refoulement happened in Tumen and its second incident in Onsong: the testimony
    # has both, so it matches (docs/search.md: "any of its incidents ... and any ...").
    assert world.found(category="repatriation.refoulement", place="Onsong, North Hamgyong") == (
        keys("A05")
    )


# ---- facets ---------------------------------------------------------------------------------


def test_facets_count_every_matching_testimony_exactly(world: World) -> None:
    body = world.result(world.investigator, category="detention.kyohwaso", per_page=1)
    assert body["total"] == 2
    assert len(body["hits"]) == 1  # facets cover all matches, not only the page
    assert body["facets"] == {
        "category": {
            "detention": 2,
            "detention.kyohwaso": 2,
            "detention_conditions": 2,
            "detention_conditions.food": 1,  # A03's second incident
            "detention_conditions.medical_care": 1,
            "life": 1,
            "life.death_in_custody": 1,
            "labour": 1,
            "labour.detention_labour": 1,
        },
        "place": {HOERYONG: 1, "Kaechon, South Pyongan": 1},
        "facility": {"Chongori kyohwaso": 1, "Kaechon kyohwaso": 1},
        "institution": {"Ministry of Social Security": 2},
        "involvement": {"victim": 2, "direct_witness": 1},
        "language": {"ko": 2},
        "case": {CASE_A: 1, CASE_B: 1},
        "consent_scope": {"internal_analysis": 1, "judicial_proceedings": 2, "un_mechanisms": 1},
        "year": {"2013": 1, "2014": 1, "2015": 1, "2016": 1, "2017": 1, "2018": 1, "2019": 1},
    }


@pytest.mark.parametrize(
    ("params", "matching"),
    [
        ({}, ALL),
        ({"q": "보위부"}, keys("A01 A04 A05 A12 B02 B04 B05 B08")),
        ({"q": "forced OR camp"}, keys("A02 A03 A06 A07 A08 A10 B01 B06 B08")),
        ({"category": "detention"}, keys("A01 A02 A03 A04 A06 A10 B01 B04")),
        ({"case": CASE_A}, IN_A),
    ],
    ids=["everything", "korean-word", "or", "category", "case"],
)
def test_facets_agree_with_the_corpus(
    world: World, params: dict[str, Any], matching: set[str]
) -> None:
    body = world.result(world.investigator, per_page=3, **params)
    assert body["total"] == len(matching)
    assert body["facets"] == expected_facets(matching)


# ---- order and pages --------------------------------------------------------------------------


def test_sort_by_date_puts_the_latest_incidents_first_and_undated_last(world: World) -> None:
    body = world.result(world.investigator, sort="date", per_page=100)
    order = [world.key_of[hit["testimony_id"]] for hit in body["hits"]]
    assert order == newest_first(ALL)
    assert order[:3] == ["B08", "B03", "A04"]
    assert order[-2:] == ["B07", "A11"]
    body = world.result(world.investigator, q="보위부", sort="date")
    order = [world.key_of[hit["testimony_id"]] for hit in body["hits"]]
    assert order == ["B08", "A04", "A12", "B02", "A01", "B05", "B04", "A05"]


def test_relevance_order_has_non_increasing_scores(world: World) -> None:
    body = world.result(world.investigator, q="interrogated OR 보위부")
    scores = [hit["score"] for hit in body["hits"]]
    assert len(scores) == 8
    assert scores == sorted(scores, reverse=True)
    assert all(score > 0 for score in scores)


def test_pages_split_the_matches_and_keep_the_total(world: World) -> None:
    pages = [
        world.result(world.investigator, sort="date", per_page=6, page=page)
        for page in (1, 2, 3, 4)
    ]
    assert [body["total"] for body in pages] == [20, 20, 20, 20]
    assert [len(body["hits"]) for body in pages] == [6, 6, 6, 2]
    assert [(body["page"], body["per_page"]) for body in pages] == [(1, 6), (2, 6), (3, 6), (4, 6)]
    order = [world.key_of[hit["testimony_id"]] for body in pages for hit in body["hits"]]
    assert order == newest_first(ALL)
    beyond = world.result(world.investigator, sort="date", per_page=6, page=5)
    assert beyond["total"] == 20
    assert beyond["hits"] == []
    assert beyond["facets"] == pages[0]["facets"]


@pytest.mark.parametrize(
    "params",
    [{"per_page": 0}, {"per_page": 101}, {"page": 0}, {"sort": "score"}, {"from_": "2016-13"}],
)
def test_out_of_range_paging_and_sorting_are_refused(world: World, params: dict[str, Any]) -> None:
    problem(world, **params)


# ---- hits -----------------------------------------------------------------------------------


def test_a_hit_carries_its_coding_and_highlighted_snippets(world: World) -> None:
    body = world.result(world.investigator, q='구타 OR "holding centre"', case=CASE_A)
    hits = {world.key_of[hit["testimony_id"]]: hit for hit in body["hits"]}
    assert set(hits) == keys("A01 A05 A12")
    a12 = hits["A12"]
    assert a12["case"] == CASE_A
    assert a12["witness_pseudonym"] == "W-A12"
    assert a12["language"] == "ko"
    assert [
        (i["categories"], i["date_start"], i["date_end"], i["place"], i["facility"])
        for i in a12["incidents"]
    ] == [(["torture.interrogation"], "2018-07-01", "2018-07-31", HOERYONG, MSS_HOLDING_CENTRE)]
    highlighted = {
        name: [part["text"] for part in parts if part["highlight"]]
        for name, parts in a12["snippets"].items()
    }
    assert highlighted == {"narrative": ["구타당했습니다."], "translation": ["holding", "centre."]}
    narrative = "".join(part["text"] for part in a12["snippets"]["narrative"])
    assert narrative == "2018년 7월 회령 보위부 구류장에서 여러 번 구타당했습니다."
