"""Incident statistics for the caller's cases: ``GET /api/v1/statistics`` and ``custodia stats``.

Statistics count coded incidents (not testimonies) from the coding columns, without
decrypting anything: by category and year (an incident counts under its category and every
parent category, once, in the year its possible dates begin), by place, facility,
perpetrator institution and involvement. Case B of the corpus is written out by hand below;
the other views are checked against the corpus oracle.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.search.corpus import (
    ALL,
    BACKENDS,
    CASE_A,
    CASE_B,
    HOERYONG,
    HYESAN,
    IN_A,
    IN_B,
    KAECHON,
    KILJU,
    MSOCS,
    MSS,
    MSS_HOLDING_CENTRE,
    ONSONG,
    SHENYANG,
    SINUIJU,
    World,
    built_world,
    cli_json,
    custodia,
    expected_statistics,
)

SVG = "{http://www.w3.org/2000/svg}"

CASE_B_STATISTICS: dict[str, Any] = {
    "incidents": 10,  # B02 and B07 have two incidents each
    "testimonies": 8,
    "by_category_year": {
        "detention": {"2013": 1, "2014": 1},
        "detention.arbitrary_arrest": {"2014": 1},
        "detention.kyohwaso": {"2013": 1},
        "detention_conditions": {"2013": 1, "2017": 1},
        "detention_conditions.cells_sanitation": {"2017": 1},  # Oct 2017 - Jan 2018: 2017
        "detention_conditions.medical_care": {"2013": 1},
        "economic_social": {"1997": 1, "2004": 1, "2020": 1},
        "economic_social.food_distribution": {"2004": 1},
        "economic_social.food_insecurity": {"1997": 1},
        "economic_social.livelihood": {"2020": 1},
        "economic_social.pandemic_measures": {"2020": 1},
        "enforced_disappearance": {"2016": 1},
        "enforced_disappearance.political_prisoners": {"2016": 1},
        "fundamental_freedoms": {"2016": 1},
        "fundamental_freedoms.religion": {"2016": 1},
        "labour": {"2013": 1},
        "labour.detention_labour": {"2013": 1},
        "repatriation": {"2014": 1, "2017": 1},
        "repatriation.punishment_on_return": {"2014": 1, "2017": 1},
        "sexual_violence": {"2005": 1},
        "sexual_violence.trafficking_sexual_exploitation": {"2005": 1},
        # B08's one incident has two torture codes: the parent counts it once.
        "torture": {"2017": 1, "2021": 1},
        "torture.disciplinary_violence": {"2017": 1},
        "torture.interrogation": {"2021": 1},
        "torture.stress_positions": {"2021": 1},
    },
    "by_category": {
        "detention": 2,
        "detention.arbitrary_arrest": 1,
        "detention.kyohwaso": 1,
        "detention_conditions": 2,
        "detention_conditions.cells_sanitation": 1,
        "detention_conditions.medical_care": 1,
        "economic_social": 3,
        "economic_social.food_distribution": 1,
        "economic_social.food_insecurity": 1,
        "economic_social.livelihood": 1,
        "economic_social.pandemic_measures": 1,
        "enforced_disappearance": 1,
        "enforced_disappearance.political_prisoners": 1,
        "fundamental_freedoms": 1,
        "fundamental_freedoms.religion": 1,
        "labour": 1,
        "labour.detention_labour": 1,
        "repatriation": 2,
        "repatriation.punishment_on_return": 2,
        "sexual_violence": 1,
        "sexual_violence.trafficking_sexual_exploitation": 1,
        "torture": 2,
        "torture.disciplinary_violence": 1,
        "torture.interrogation": 1,
        "torture.stress_positions": 1,
    },
    "by_year": {
        "1997": 1,
        "2004": 1,
        "2005": 1,
        "2013": 1,
        "2014": 1,
        "2016": 1,
        "2017": 2,
        "2020": 1,
        "2021": 1,
    },
    "by_place": {
        HOERYONG: 2,
        SINUIJU: 2,
        KILJU: 2,
        KAECHON: 1,
        HYESAN: 1,
        ONSONG: 1,
        SHENYANG: 1,
    },
    "by_facility": {
        "(unknown)": 5,
        "Sinuiju MSS holding centre": 2,
        "Kaechon kyohwaso": 1,
        "Onsong MSS holding centre": 1,
        MSS_HOLDING_CENTRE: 1,
    },
    "by_institution": {MSS: 5, MSOCS: 2, "(unknown)": 3},
    "by_involvement": {"victim": 7, "direct_witness": 2, "hearsay": 1},
}


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    with built_world(request, tmp_path_factory, request.param) as built:
        yield built


def test_statistics_count_the_incidents_of_the_callers_case_exactly(world: World) -> None:
    assert world.statistics(world.investigator_b) == CASE_B_STATISTICS


def test_the_hand_written_counts_agree_with_the_corpus_oracle() -> None:
    assert expected_statistics(IN_B) == CASE_B_STATISTICS


def test_statistics_cover_every_case_of_the_caller_and_no_other(world: World) -> None:
    assert world.statistics(world.investigator) == expected_statistics(ALL)
    assert world.statistics(world.investigator_a) == expected_statistics(IN_A)
    assert world.statistics(world.investigator, case=CASE_B) == CASE_B_STATISTICS
    assert world.statistics(world.investigator_b, case=CASE_A) == expected_statistics(())
    assert world.statistics(world.officer) == expected_statistics(ALL)


def test_counts_are_largest_first(world: World) -> None:
    stats = world.statistics(world.investigator)
    for name in ("by_category", "by_place", "by_facility", "by_institution", "by_involvement"):
        counts = list(stats[name].values())
        assert counts == sorted(counts, reverse=True), name
    assert list(stats["by_year"]) == sorted(stats["by_year"])


def test_reading_statistics_is_recorded(world: World) -> None:
    before = len(world.deployment.custody_events())
    world.statistics(world.investigator_b, case=CASE_B)
    [event] = world.deployment.custody_events()[before:]
    assert (event["action"], event["actor"]) == ("statistics.read", world.investigator_b.username)


def test_custodia_stats_json_agrees_with_the_api(world: World) -> None:
    for account in (world.investigator_b, world.investigator):
        printed = cli_json(custodia(world.deployment, account, "stats", "--json"))
        assert printed == world.statistics(account)
    printed = cli_json(
        custodia(world.deployment, world.investigator, "stats", "--json", "--case", CASE_B)
    )
    assert printed == CASE_B_STATISTICS


def test_custodia_stats_chart_is_an_svg_with_the_category_labels(
    world: World, tmp_path: Path
) -> None:
    chart = tmp_path / "out.svg"
    result = custodia(world.deployment, world.investigator_b, "stats", "--chart", str(chart))
    assert result.exit_code == 0, result.output
    assert "10 incidents in 8 testimonies." in result.output
    root = ET.parse(chart).getroot()  # well-formed, or this raises
    assert root.tag == f"{SVG}svg"
    texts = [element.text or "" for element in root.iter(f"{SVG}text")]
    top_level = {code for code in CASE_B_STATISTICS["by_category"] if "." not in code}
    assert top_level <= set(texts)
    assert not any("." in label and label.split(".")[0] in top_level for label in texts)
    titles = {element.text for element in root.iter(f"{SVG}title")}
    assert {"detention: 2", "economic_social: 3", "torture: 2"} <= titles
    assert {f"{HOERYONG}: 2", f"{KILJU}: 2", "2017: 2"} <= titles
    # Nothing of case A is drawn.
    assert not any("Yodok" in (title or "") or "Yanji" in (title or "") for title in titles)
