"""Every SearchIndex implementation must behave exactly like this (run against each one).

The specification is the class ``IndexSpecification``; ``TestWhooshSearchIndex`` and
``TestPostgresSearchIndex`` run it against the embedded and the scaled backend. Tokens are
synthetic ("tA", "tB", ...): the index never analyses text, it only stores blind tokens.
Backend-specific guarantees (directory safety, locking, transactions, size limits) follow
the shared specification.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from whoosh.fields import ID, Schema
from whoosh.filedb.filestore import FileStorage

from service.db.base import Base
from service.db.engine import make_engine
from service.search.interfaces import (
    FACET_FIELDS,
    And,
    IndexedDocument,
    Not,
    Or,
    Phrase,
    QueryNode,
    SearchFilters,
    SearchIndex,
    SearchPage,
    Sort,
)
from service.search.models import SearchDocument
from service.search.postgres_index import (
    CHUNK_LENGTH,
    PHRASE_WINDOW,
    PostgresSearchIndex,
    encode_tokens,
)
from service.search.whoosh_index import (
    INDEX_NAME,
    IndexBusyError,
    IndexDirectoryError,
    IndexSchemaError,
    WhooshSearchIndex,
)

AnyIndex = WhooshSearchIndex | PostgresSearchIndex
Reopen = Callable[[], AnyIndex]
INTERVIEW = date(2021, 3, 4)


def _both_satisfy_the_protocol(w: WhooshSearchIndex, p: PostgresSearchIndex) -> list[SearchIndex]:
    """Checked by mypy: both classes structurally implement the SearchIndex protocol."""
    return [w, p]


def doc(
    testimony_id: str,
    narrative: Sequence[str] = (),
    *,
    case: int = 1,
    translation: Sequence[str] = (),
    description: Sequence[str] = (),
    **metadata: Any,
) -> IndexedDocument:
    fields = {"narrative": list(narrative), "translation": list(translation)}
    if description:
        fields["description"] = list(description)
    metadata.setdefault("language", "ko")
    metadata.setdefault("interview_date", INTERVIEW)
    return IndexedDocument(testimony_id=testimony_id, case_id=case, fields=fields, **metadata)


def term(token: str, field: str = "narrative") -> Phrase:
    return Phrase(field, (token,))


def phrase(*tokens: str, field: str = "narrative") -> Phrase:
    return Phrase(field, tokens)


def find(
    index: AnyIndex,
    query: QueryNode | None = None,
    *,
    cases: frozenset[int] = frozenset({1}),
    sort: Sort = "relevance",
    offset: int = 0,
    limit: int = 50,
    **filters: Any,
) -> SearchPage:
    return index.search(
        query, SearchFilters(case_ids=cases, **filters), sort=sort, offset=offset, limit=limit
    )


def ids(page: SearchPage) -> set[str]:
    return {hit.testimony_id for hit in page.hits}


def ordered(page: SearchPage) -> list[str]:
    return [hit.testimony_id for hit in page.hits]


def matches(index: AnyIndex, query: QueryNode | None, **kwargs: Any) -> set[str]:
    page = find(index, query, **kwargs)
    assert page.total == len(page.hits), "test pages are large enough to hold every match"
    return ids(page)


def filler(count: int, start: int = 0) -> list[str]:
    """Tokens that never form the phrases under test."""
    return [f"f{(start + i) % 499}" for i in range(count)]


class IndexSpecification:
    """The behaviour every SearchIndex shares; subclasses provide ``index`` and ``reopen``."""

    # ---- terms and boolean queries --------------------------------------------------------

    def test_term_matches_documents_containing_the_token(self, index: AnyIndex) -> None:
        index.upsert([doc("a", ["tA", "tB"]), doc("b", ["tB"]), doc("c", ["tC"])])
        assert matches(index, term("tB")) == {"a", "b"}
        assert matches(index, term("tZ")) == set()

    def test_tokens_are_case_sensitive(self, index: AnyIndex) -> None:
        index.upsert([doc("a", ["tA"]), doc("b", ["ta"])])
        assert matches(index, term("tA")) == {"a"}
        assert matches(index, term("TA")) == set()

    def test_and_requires_every_child(self, index: AnyIndex) -> None:
        index.upsert([doc("a", ["tA", "tB"]), doc("b", ["tA"]), doc("c", ["tB", "tC", "tA"])])
        assert matches(index, And((term("tA"), term("tB")))) == {"a", "c"}
        assert matches(index, And((term("tA"), term("tB"), term("tC")))) == {"c"}

    def test_or_requires_any_child(self, index: AnyIndex) -> None:
        index.upsert([doc("a", ["tA"]), doc("b", ["tB"]), doc("c", ["tC"])])
        assert matches(index, Or((term("tA"), term("tB")))) == {"a", "b"}

    def test_and_not_excludes_documents_matching_the_negated_child(self, index: AnyIndex) -> None:
        index.upsert([doc("a", ["tA", "tB"]), doc("b", ["tA"]), doc("c", ["tB"])])
        assert matches(index, And((term("tA"), Not(term("tB"))))) == {"b"}

    def test_top_level_not_means_every_filtered_document_except(self, index: AnyIndex) -> None:
        index.upsert(
            [
                doc("a", ["tA"]),
                doc("b", ["tB"]),
                doc("c", []),
                doc("other-case", ["tB"], case=2),
            ]
        )
        page = find(index, Not(term("tA")))
        assert ids(page) == {"b", "c"}
        assert page.total == 2

    def test_not_inside_or_and_nested_groups(self, index: AnyIndex) -> None:
        index.upsert([doc("a", ["tA", "tB"]), doc("b", ["tB"]), doc("c", ["tC"])])
        assert matches(index, Or((term("tC"), Not(term("tB"))))) == {"c"}
        query = And((Or((term("tA"), term("tC"))), Not(And((term("tA"), term("tB"))))))
        assert matches(index, query) == {"c"}

    # ---- phrases and fields ---------------------------------------------------------------

    def test_phrase_matches_adjacent_tokens_in_order(self, index: AnyIndex) -> None:
        index.upsert(
            [
                doc("adjacent", ["tX", "tA", "tB", "tY"]),
                doc("apart", ["tA", "tX", "tB"]),
                doc("reversed", ["tB", "tA"]),
            ]
        )
        assert matches(index, phrase("tA", "tB")) == {"adjacent"}
        assert matches(index, phrase("tB", "tA")) == {"reversed"}

    def test_three_token_phrase_needs_the_whole_run(self, index: AnyIndex) -> None:
        index.upsert(
            [
                doc("run", ["tA", "tB", "tC"]),
                doc("broken", ["tA", "tB", "tX", "tC"]),
                doc("overlap", ["tA", "tB", "tA", "tC", "tB", "tC"]),
            ]
        )
        assert matches(index, phrase("tA", "tB", "tC")) == {"run"}

    def test_phrase_with_a_repeated_token(self, index: AnyIndex) -> None:
        index.upsert([doc("twice", ["tA", "tA", "tB"]), doc("once", ["tA", "tB", "tA"])])
        assert matches(index, phrase("tA", "tA")) == {"twice"}
        assert matches(index, phrase("tA", "tA", "tB")) == {"twice"}

    def test_query_is_scoped_to_its_field(self, index: AnyIndex) -> None:
        index.upsert(
            [
                doc("narr", ["tA", "tB"]),
                doc("trans", [], translation=["tA", "tB"]),
                doc("desc", [], description=["tA"]),
            ]
        )
        assert matches(index, term("tA")) == {"narr"}
        assert matches(index, term("tA", "translation")) == {"trans"}
        assert matches(index, term("tA", "description")) == {"desc"}
        assert matches(index, phrase("tA", "tB", field="translation")) == {"trans"}

    def test_phrase_never_spans_two_fields(self, index: AnyIndex) -> None:
        index.upsert([doc("a", ["tX", "tA"], translation=["tB", "tY"])])
        assert matches(index, phrase("tA", "tB")) == set()
        assert matches(index, phrase("tA", "tB", field="translation")) == set()

    def test_same_token_in_two_fields_keeps_positions_apart(self, index: AnyIndex) -> None:
        index.upsert([doc("a", ["tA", "tX"], translation=["tY", "tB"])])
        # tA is at 0 in narrative and tB at 1 in translation: not a phrase anywhere.
        assert matches(index, phrase("tA", "tB")) == set()
        index.upsert([doc("b", ["tA", "tZ"], translation=["tA", "tB"])])
        assert matches(index, phrase("tA", "tB", field="translation")) == {"b"}
        assert matches(index, phrase("tA", "tB")) == set()

    def test_long_document_phrases_match_anywhere(self, index: AnyIndex) -> None:
        length = 20_000
        tokens = filler(length)
        # Around every multiple of 4096 and of 4033 (where a chunked backend may cut).
        probes = [0, 4000, 4030, 4032, 4034, 4094, 4096, 8064, 8127, 8129, 12_345, 16_383]
        for number, at in enumerate(probes):
            tokens[at : at + 2] = [f"pA{number}", f"pB{number}"]
        tokens[-3:] = ["endA", "endB", "endC"]
        long_run = [f"L{i}" for i in range(PHRASE_WINDOW)]
        tokens[12_100 : 12_100 + PHRASE_WINDOW] = long_run
        index.upsert([doc("long", tokens), doc("short", ["endA", "endC", "endB"])])

        assert matches(index, phrase("endA", "endB", "endC")) == {"long"}
        assert matches(index, phrase("endA", "endC")) == {"short"}
        assert matches(index, term("endC")) == {"long", "short"}
        for number in range(len(probes)):
            assert matches(index, phrase(f"pA{number}", f"pB{number}")) == {"long"}, number
            assert matches(index, phrase(f"pB{number}", f"pA{number}")) == set(), number
        assert matches(index, phrase(*long_run)) == {"long"}
        assert matches(index, phrase("endC", "endB")) == {"short"}

    def test_long_translation_alongside_a_short_narrative(self, index: AnyIndex) -> None:
        translation = [*filler(9_000), "tA", "tB"]
        index.upsert([doc("a", ["tB", "tA"], translation=translation), doc("b", ["tA", "tB"])])
        assert matches(index, phrase("tA", "tB")) == {"b"}
        assert matches(index, phrase("tA", "tB", field="translation")) == {"a"}

    # ---- filters and confinement ----------------------------------------------------------

    def test_each_set_filter_matches_any_of_its_values(self, index: AnyIndex) -> None:
        index.upsert(
            [
                doc(
                    "a",
                    ["tA"],
                    categories=frozenset({"A", "A.1"}),
                    places=frozenset({"Hoeryong, North Hamgyong"}),
                    facilities=frozenset({"Camp 15"}),
                    institutions=frozenset({"MSS"}),
                    involvements=frozenset({"victim"}),
                    consent_scopes=frozenset({"research"}),
                ),
                doc(
                    "b",
                    ["tA"],
                    language="en",
                    categories=frozenset({"B"}),
                    places=frozenset({"Hyesan"}),
                    facilities=frozenset({"Jongori"}),
                    institutions=frozenset({"MPS"}),
                    involvements=frozenset({"witness"}),
                    consent_scopes=frozenset({"publication", "research"}),
                ),
                doc("c", ["tA"]),
            ]
        )
        assert matches(index, None, categories=frozenset({"A.1"})) == {"a"}
        assert matches(index, None, categories=frozenset({"A", "B"})) == {"a", "b"}
        assert matches(index, None, places=frozenset({"Hoeryong, North Hamgyong"})) == {"a"}
        assert matches(index, None, places=frozenset({"Hoeryong"})) == set()
        assert matches(index, None, facilities=frozenset({"Jongori"})) == {"b"}
        assert matches(index, None, institutions=frozenset({"MSS", "MPS"})) == {"a", "b"}
        assert matches(index, None, involvements=frozenset({"witness"})) == {"b"}
        assert matches(index, None, languages=frozenset({"en"})) == {"b"}
        assert matches(index, None, languages=frozenset({"ko", "en"})) == {"a", "b", "c"}
        assert matches(index, None, consent_scopes=frozenset({"research"})) == {"a", "b"}
        assert matches(index, None, consent_scopes=frozenset({"publication"})) == {"b"}
        assert matches(index, None, categories=frozenset({"Z"})) == set()

    def test_filters_combine_with_and_and_with_the_query(self, index: AnyIndex) -> None:
        index.upsert(
            [
                doc("a", ["tA"], categories=frozenset({"A"}), places=frozenset({"P1"})),
                doc("b", ["tA"], categories=frozenset({"A"}), places=frozenset({"P2"})),
                doc("c", ["tB"], categories=frozenset({"A"}), places=frozenset({"P1"})),
                doc("d", ["tA"], categories=frozenset({"B"}), places=frozenset({"P1"})),
            ]
        )
        combined = {"categories": frozenset({"A"}), "places": frozenset({"P1"})}
        assert matches(index, None, **combined) == {"a", "c"}
        assert matches(index, term("tA"), **combined) == {"a"}
        assert matches(index, Not(term("tA")), **combined) == {"c"}

    def test_date_filters_select_incidents_that_may_overlap_the_range(
        self, index: AnyIndex
    ) -> None:
        index.upsert(
            [
                doc("1990s", date_start=date(1995, 1, 1), date_end=date(1999, 12, 31)),
                doc("2003", date_start=date(2003, 5, 1), date_end=date(2003, 5, 1)),
                doc("2010s", date_start=date(2010, 1, 1), date_end=date(2012, 6, 30)),
                doc("undated"),
            ]
        )
        everything = {"1990s", "2003", "2010s", "undated"}
        assert matches(index, None) == everything
        assert matches(index, None, date_from=date(2000, 1, 1)) == {"2003", "2010s"}
        assert matches(index, None, date_to=date(2000, 1, 1)) == {"1990s"}
        assert matches(index, None, date_from=date(1999, 12, 31)) == {"1990s", "2003", "2010s"}
        assert matches(index, None, date_to=date(2003, 5, 1)) == {"1990s", "2003"}
        window = {"date_from": date(1998, 1, 1), "date_to": date(2011, 1, 1)}
        assert matches(index, None, **window) == {"1990s", "2003", "2010s"}
        gap = {"date_from": date(2004, 1, 1), "date_to": date(2009, 12, 31)}
        assert matches(index, None, **gap) == set()
        day = {"date_from": date(2003, 5, 1), "date_to": date(2003, 5, 1)}
        assert matches(index, None, **day) == {"2003"}

    def test_documents_outside_the_cases_are_never_returned_or_counted(
        self, index: AnyIndex
    ) -> None:
        index.upsert(
            [
                doc("mine", ["tA"], case=1, categories=frozenset({"A"})),
                doc("mine-too", ["tB"], case=3, categories=frozenset({"A"})),
                doc("theirs", ["tA"], case=2, categories=frozenset({"A", "SECRET"})),
                doc("theirs-too", ["tB"], case=4, places=frozenset({"Elsewhere"})),
            ]
        )
        cases = frozenset({1, 3})
        for query in (None, term("tA"), term("tB"), Not(term("tA")), Not(term("tZ"))):
            page = find(index, query, cases=cases)
            assert ids(page) <= {"mine", "mine-too"}
            assert page.total == len(page.hits)
            assert "SECRET" not in page.facets["category"]
            assert page.facets["place"] == {}
            assert set(page.facets["case"]) <= {"1", "3"}
        assert matches(index, Not(term("tZ")), cases=cases) == {"mine", "mine-too"}
        assert find(index, None, cases=cases).facets["category"] == {"A": 2}
        assert matches(index, None, cases=frozenset({2})) == {"theirs"}

    def test_no_cases_means_no_results_for_any_query(self, index: AnyIndex) -> None:
        index.upsert([doc("a", ["tA"]), doc("b", ["tB"], case=2)])
        for query in (None, term("tA"), Not(term("tA"))):
            page = find(index, query, cases=frozenset())
            assert page.total == 0
            assert page.hits == []
            assert all(counts == {} for counts in page.facets.values())

    def test_unknown_case_matches_nothing(self, index: AnyIndex) -> None:
        index.upsert([doc("a", ["tA"])])
        assert find(index, None, cases=frozenset({999})).total == 0

    # ---- facets -----------------------------------------------------------------------------

    def test_facets_count_every_match_not_only_the_page(self, index: AnyIndex) -> None:
        index.upsert(
            [
                doc(
                    f"d{number}",
                    ["tA"],
                    case=1 + number % 2,
                    language="en" if number < 3 else "ko",
                    categories=frozenset({"A", "A.1"} if number < 4 else {"A"}),
                    places=frozenset({"Hoeryong, North Hamgyong"} if number == 0 else set()),
                    facilities=frozenset({"Camp 15"} if number < 2 else set()),
                    institutions=frozenset({"MSS", "MPS"} if number == 5 else set()),
                    involvements=frozenset({"victim", "witness"} if number < 5 else {"victim"}),
                    consent_scopes=frozenset({"research"} if number % 3 == 0 else set()),
                    years=frozenset({2001, 2002} if number < 2 else {2005}),
                )
                for number in range(10)
            ]
            + [doc("no-match", ["tZ"], categories=frozenset({"A", "B"}), years=frozenset({1999}))]
        )
        page = find(index, term("tA"), cases=frozenset({1, 2}), limit=1)
        assert page.total == 10
        assert len(page.hits) == 1
        assert page.facets == {
            "category": {"A": 10, "A.1": 4},
            "place": {"Hoeryong, North Hamgyong": 1},
            "facility": {"Camp 15": 2},
            "institution": {"MSS": 1, "MPS": 1},
            "involvement": {"victim": 10, "witness": 5},
            "language": {"en": 3, "ko": 7},
            "case": {"1": 5, "2": 5},
            "consent_scope": {"research": 4},
            "year": {"2001": 2, "2002": 2, "2005": 8},
        }

    def test_facets_follow_the_filters_and_list_every_facet_name(self, index: AnyIndex) -> None:
        index.upsert(
            [
                doc("a", ["tA"], categories=frozenset({"A"}), years=frozenset({2001})),
                doc("b", ["tA"], categories=frozenset({"B"}), years=frozenset({2002})),
            ]
        )
        page = find(index, None, categories=frozenset({"B"}))
        assert set(page.facets) == set(FACET_FIELDS)
        assert page.facets["category"] == {"B": 1}
        assert page.facets["year"] == {"2002": 1}
        empty = find(index, term("tZ"))
        assert empty.total == 0
        assert empty.facets == {name: {} for name in FACET_FIELDS}

    # ---- ordering and pagination ------------------------------------------------------------

    def test_pages_partition_the_results_and_report_the_total(self, index: AnyIndex) -> None:
        index.upsert([doc(f"d{n:02}", ["tA"] * (1 + n % 4) + ["tB"]) for n in range(23)])
        for sort in ("relevance", "date"):
            seen: list[str] = []
            for offset in range(0, 30, 5):
                page = find(index, term("tB"), sort=sort, offset=offset, limit=5)
                assert page.total == 23
                seen.extend(ordered(page))
            assert len(seen) == 23
            assert set(seen) == {f"d{n:02}" for n in range(23)}
        beyond = find(index, term("tB"), offset=100, limit=5)
        assert beyond.total == 23
        assert beyond.hits == []
        assert beyond.facets["case"] == {"1": 23}

    def test_relevance_puts_documents_matching_more_of_the_query_first(
        self, index: AnyIndex
    ) -> None:
        index.upsert(
            [
                doc("one", ["tA", "tX", "tY", "tZ"]),
                doc("both", ["tA", "tB", "tX", "tY"]),
                doc("none", ["tX"]),
            ]
        )
        page = find(index, Or((term("tA"), term("tB"))))
        assert ordered(page) == ["both", "one"]
        assert page.hits[0].score > page.hits[1].score > 0

    def test_date_sort_is_newest_incident_first_and_undated_last(self, index: AnyIndex) -> None:
        index.upsert(
            [
                doc("undated-1", ["tA"]),
                doc("1998", ["tA"], date_start=date(1998, 3, 1), date_end=date(1998, 3, 2)),
                doc("2015", ["tA"], date_start=date(2015, 7, 9), date_end=date(2016, 1, 1)),
                doc("undated-2", ["tA"]),
                doc("2004", ["tA"], date_start=date(2004, 1, 1), date_end=date(2020, 1, 1)),
            ]
        )
        page = find(index, term("tA"), sort="date")
        assert ordered(page)[:3] == ["2015", "2004", "1998"]
        assert set(ordered(page)[3:]) == {"undated-1", "undated-2"}
        second = find(index, None, sort="date", offset=1, limit=2)
        assert ordered(second) == ["2004", "1998"]

    # ---- writes -----------------------------------------------------------------------------

    def test_upsert_replaces_tokens_and_metadata(self, index: AnyIndex) -> None:
        index.upsert([doc("a", ["tOld", "tKeep"], categories=frozenset({"OLD"}), case=1)])
        index.upsert([doc("a", ["tKeep", "tNew"], categories=frozenset({"NEW"}), case=2)])
        both = frozenset({1, 2})
        assert matches(index, term("tOld"), cases=both) == set()
        assert matches(index, phrase("tKeep", "tNew"), cases=both) == {"a"}
        assert matches(index, None, cases=frozenset({1})) == set()
        page = find(index, None, cases=both)
        assert page.total == 1
        assert page.facets["category"] == {"NEW": 1}
        assert index.document_ids() == {"a"}

    def test_upsert_of_one_id_twice_in_a_batch_keeps_the_last(self, index: AnyIndex) -> None:
        first, last = doc("a", ["tFirst"]), doc("a", ["tLast"])
        index.upsert([first, doc("b", ["tB"]), last])
        assert matches(index, term("tFirst")) == set()
        assert matches(index, term("tLast")) == {"a"}
        assert index.document_ids() == {"a", "b"}

    def test_upsert_of_nothing_changes_nothing(self, index: AnyIndex) -> None:
        index.upsert([])
        assert index.document_ids() == set()
        assert find(index, None).total == 0

    def test_delete_removes_documents_and_ignores_unknown_ids(self, index: AnyIndex) -> None:
        index.upsert([doc("a", ["tA"]), doc("b", ["tA"]), doc("c", ["tA"])])
        index.delete(["a", "unknown"])
        index.delete([])
        index.delete(["never-there"])
        assert matches(index, term("tA")) == {"b", "c"}
        assert matches(index, Not(term("tZ"))) == {"b", "c"}
        assert index.document_ids() == {"b", "c"}
        assert find(index, None).facets["case"] == {"1": 2}

    def test_document_ids_lists_every_indexed_testimony(self, index: AnyIndex) -> None:
        assert index.document_ids() == set()
        index.upsert([doc("a", ["tA"], case=1), doc("b", [], case=7)])
        index.upsert([doc("a", ["tB"], case=1)])
        assert index.document_ids() == {"a", "b"}

    def test_clear_drops_everything_and_the_index_stays_usable(self, index: AnyIndex) -> None:
        index.upsert([doc("a", ["tA"]), doc("b", ["tB"])])
        index.clear()
        assert index.document_ids() == set()
        assert find(index, None).total == 0
        index.upsert([doc("c", ["tA"])])
        assert matches(index, term("tA")) == {"c"}

    def test_documents_survive_reopening(self, index: AnyIndex, reopen: Reopen) -> None:
        index.upsert([doc("a", ["tA", "tB"], categories=frozenset({"A"}))])
        other = reopen()
        try:
            assert other.document_ids() == {"a"}
            assert matches(other, phrase("tA", "tB")) == {"a"}
        finally:
            other.close()

    def test_an_edit_is_visible_to_a_second_instance(self, index: AnyIndex, reopen: Reopen) -> None:
        other = reopen()
        try:
            assert other.document_ids() == set()
            index.upsert([doc("a", ["tA"])])
            assert matches(other, term("tA")) == {"a"}
            other.delete(["a"])
            assert index.document_ids() == set()
        finally:
            other.close()

    # ---- refusals ---------------------------------------------------------------------------

    @pytest.mark.parametrize(
        "query",
        [
            Phrase("body", ("tA",)),
            Phrase("narrative", ()),
            Phrase("narrative", ("t A",)),
            Phrase("narrative", ("t'A",)),
            And(()),
            Or(()),
            Not(Phrase("narrative", ("tA", ""))),
        ],
    )
    def test_malformed_queries_are_refused(self, index: AnyIndex, query: QueryNode) -> None:
        with pytest.raises(ValueError):
            find(index, query)

    @pytest.mark.parametrize(
        "document",
        [
            doc("a", ["tA", "t A"]),
            doc("a", ["tA'"]),
            doc("a", ["tA", ""]),
            replace(doc("a", ["tA"]), fields={"body": ["tA"]}),
        ],
    )
    def test_malformed_documents_are_refused(
        self, index: AnyIndex, document: IndexedDocument
    ) -> None:
        with pytest.raises(ValueError):
            index.upsert([doc("ok", ["tA"]), document])
        assert index.document_ids() == set()

    @pytest.mark.parametrize(("offset", "limit"), [(-1, 10), (0, 0), (0, -5)])
    def test_bad_paging_is_refused(self, index: AnyIndex, offset: int, limit: int) -> None:
        with pytest.raises(ValueError):
            find(index, None, offset=offset, limit=limit)


# ---- the embedded backend ---------------------------------------------------------------------


class TestWhooshSearchIndex(IndexSpecification):
    @pytest.fixture
    def index(self, tmp_path: Path) -> Iterator[WhooshSearchIndex]:
        index = WhooshSearchIndex(tmp_path / "index")
        try:
            yield index
        finally:
            index.close()

    @pytest.fixture
    def reopen(self, tmp_path: Path) -> Reopen:
        return lambda: WhooshSearchIndex(tmp_path / "index")


def test_whoosh_keeps_every_file_private_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        index = WhooshSearchIndex(tmp_path / "nested" / "index")
        index.upsert([doc("t-1", ["a1", "b2"])])  # a write takes Whoosh's lock file too
        index.close()
    finally:
        os.umask(previous)
    directory = tmp_path / "nested" / "index"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in directory.iterdir()}
    assert any(name.endswith("_WRITELOCK") for name in modes)
    assert {name: mode for name, mode in modes.items() if mode != 0o600} == {}


@pytest.mark.parametrize("mode", [0o755, 0o770, 0o707, 0o701, 0o740])
def test_whoosh_refuses_a_directory_others_can_reach(tmp_path: Path, mode: int) -> None:
    directory = tmp_path / "index"
    directory.mkdir()
    directory.chmod(mode)
    with pytest.raises(IndexDirectoryError, match="pickles"):
        WhooshSearchIndex(directory)


def test_whoosh_refuses_an_index_built_with_another_schema(tmp_path: Path) -> None:
    directory = tmp_path / "index"
    WhooshSearchIndex(directory).close()
    storage = FileStorage(str(directory))
    storage.create_index(Schema(testimony_id=ID(stored=True)), indexname=INDEX_NAME)
    with pytest.raises(IndexSchemaError):
        WhooshSearchIndex(directory)


def test_whoosh_refuses_a_file_in_place_of_the_directory(tmp_path: Path) -> None:
    path = tmp_path / "index"
    path.write_text("not an index")
    path.chmod(0o600)
    with pytest.raises(IndexDirectoryError):
        WhooshSearchIndex(path)


def test_whoosh_waits_a_bounded_time_for_another_writer(tmp_path: Path) -> None:
    index = WhooshSearchIndex(tmp_path / "index", lock_timeout=0.2)
    lock = index._storage.lock(f"{INDEX_NAME}_WRITELOCK")  # as another process would hold it
    assert lock.acquire()
    try:
        with pytest.raises(IndexBusyError):
            index.upsert([doc("a", ["tA"])])
    finally:
        lock.release()
    index.upsert([doc("a", ["tA"])])
    assert index.document_ids() == {"a"}
    index.close()


def test_whoosh_writers_in_threads_take_turns(tmp_path: Path) -> None:
    index = WhooshSearchIndex(tmp_path / "index")
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for number in range(5):
                index.upsert([doc(f"w{worker}-{number}", [f"tW{worker}"])])
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(index.document_ids()) == 20
    assert matches(index, term("tW3")) == {f"w3-{n}" for n in range(5)}
    index.close()


@pytest.mark.parametrize("procs", [1, 2])
def test_whoosh_bulk_upsert_replaces_and_adds(tmp_path: Path, procs: int) -> None:
    index = WhooshSearchIndex(tmp_path / "index")
    index.upsert([doc("d0", ["tOld"]), doc("gone", ["tOld"])])
    documents = (doc(f"d{n}", ["tA", f"tN{n}"], categories=frozenset({"A"})) for n in range(250))
    assert index.bulk_upsert(documents, procs=procs) == 250
    assert len(index.document_ids()) == 251
    assert matches(index, term("tOld")) == {"gone"}
    assert find(index, term("tA")).total == 250
    assert find(index, term("tA")).facets["category"] == {"A": 250}
    index.optimize()
    assert matches(index, phrase("tA", "tN7")) == {"d7"}
    assert find(index, None).total == 251
    index.close()


def test_whoosh_bulk_upsert_refuses_a_repeated_id_and_writes_nothing(tmp_path: Path) -> None:
    index = WhooshSearchIndex(tmp_path / "index")
    with pytest.raises(ValueError, match="twice"):
        index.bulk_upsert([doc("a", ["tA"]), doc("b", ["tB"]), doc("a", ["tC"])])
    assert index.document_ids() == set()
    index.upsert([doc("c", ["tC"])])
    assert index.document_ids() == {"c"}
    index.close()


# ---- the scaled backend -----------------------------------------------------------------------


def _search_engine(database_url: str) -> Engine:
    engine = make_engine(database_url)
    # The Alembic migration for search_documents may not exist yet; create_all is a no-op
    # once it does.
    Base.metadata.create_all(engine, tables=[SearchDocument.__table__])  # type: ignore[list-item]
    return engine


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
class TestPostgresSearchIndex(IndexSpecification):
    @pytest.fixture
    def engine(self, database_url: str) -> Iterator[Engine]:
        engine = _search_engine(database_url)
        try:
            yield engine
        finally:
            engine.dispose()

    @pytest.fixture
    def index(self, engine: Engine) -> PostgresSearchIndex:
        return PostgresSearchIndex(engine)

    @pytest.fixture
    def reopen(self, engine: Engine) -> Reopen:
        return lambda: PostgresSearchIndex(engine)

    def test_index_writes_join_the_callers_transaction(
        self, engine: Engine, index: PostgresSearchIndex
    ) -> None:
        index.upsert([doc("kept", ["tA"])])
        with Session(engine) as session:
            index.upsert_in(session, [doc("rolled-back", ["tA"])])
            index.delete_in(session, ["kept"])
            assert set(session.scalars(select(SearchDocument.testimony_id))) == {"rolled-back"}
            session.rollback()
        assert index.document_ids() == {"kept"}
        with Session(engine) as session, session.begin():
            index.upsert_in(session, [doc("committed", ["tA"])])
            index.delete_in(session, ["kept"])
        assert matches(index, term("tA")) == {"committed"}

    def test_text_past_the_size_budget_matches_words_but_not_phrases(self, engine: Engine) -> None:
        index = PostgresSearchIndex(engine, max_tsvector_bytes=30_000)
        tokens = filler(3 * CHUNK_LENGTH)  # ~12 kB of lexemes and positions per chunk
        tokens[-2:] = ["tailA", "tailB"]
        index.upsert([doc("huge", ["headA", "headB", *tokens])])
        assert matches(index, phrase("headA", "headB")) == {"huge"}
        assert matches(index, term("tailB")) == {"huge"}
        assert matches(index, And((term("tailA"), term("headA")))) == {"huge"}
        assert matches(index, phrase("tailA", "tailB")) == set()

    def test_a_document_too_large_even_without_positions_is_refused(self, engine: Engine) -> None:
        index = PostgresSearchIndex(engine, max_tsvector_bytes=10_000)
        with pytest.raises(ValueError, match="too long"):
            index.upsert([doc("huge", [f"u{n}" for n in range(5_000)])])
        assert index.document_ids() == set()


def test_postgres_encoding_chunks_long_fields_with_overlap() -> None:
    tokens = [f"t{n}" for n in range(10_000)]
    encoded = encode_tokens({"narrative": tokens, "translation": ["tA"]})
    assert encoded.chunks == 3
    lexemes = dict(entry.split(":") for entry in encoded.literal.split(" "))
    assert lexemes["'nt0'"] == "1"
    assert lexemes["'nt4095'"] == "4096"
    stride = CHUNK_LENGTH - PHRASE_WINDOW + 1
    assert lexemes[f"'nt{stride}.1'"] == "1"
    assert lexemes["'ttA'"] == "1"
    assert all(0 < int(p) <= CHUNK_LENGTH for v in lexemes.values() for p in v.split(","))


def test_postgres_refuses_a_non_postgresql_engine(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with pytest.raises(ValueError, match="PostgreSQL"):
            PostgresSearchIndex(engine)
    finally:
        engine.dispose()
