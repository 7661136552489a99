"""A fixed corpus of twenty short fictional testimonies for the search specifications.

Every testimony below is invented for testing. The narratives are in Korean (two witnesses
were interviewed in English), with English translations, and their incidents are coded to
real categories of ``schemas/taxonomy/violations.v1.json``. Twelve belong to case A and
eight to case B. The words were chosen so that known queries have known answers: which
testimony mentions which word, in which field, is part of the specification, so edit the
texts only together with the tests that rely on them.

``built_world`` puts the corpus into a fresh deployment through the HTTP API (as a
documentation officer) and hands back a :class:`World` with accounts and helpers. Test
modules build it once per database (module-scoped fixtures), as that is the slow part.

The ``expected_*`` functions compute facet counts and statistics from the definitions
below, independently of the code under test: they are the oracle for whole-corpus checks;
small cases are written out by hand in the tests.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import shutil
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
from typer.testing import CliRunner, Result

from cli.main import app as cli_app
from service.context import Role
from tests.conftest import _pg_admin_connection, _pg_url
from tests.factories import Account, Deployment

if TYPE_CHECKING:
    from httpx2 import Response  # what the test client returns

CASE_A = "CASE-A"
CASE_B = "CASE-B"

HOERYONG = "Hoeryong, North Hamgyong"
ONSONG = "Onsong, North Hamgyong"
HYESAN = "Hyesan, Ryanggang"
MUSAN = "Musan, North Hamgyong"
CHONGJIN = "Chongjin, North Hamgyong"
KILJU = "Kilju, North Hamgyong"
KAECHON = "Kaechon, South Pyongan"
SINUIJU = "Sinuiju, North Pyongan"
YODOK = "Yodok, South Hamgyong"
TUMEN = "Tumen, Jilin (China)"
YANJI = "Yanji, Jilin (China)"
SHENYANG = "Shenyang, Liaoning (China)"

MSS = "Ministry of State Security"
MSOCS = "Ministry of Social Security"
BORDER_GUARD = "Border Guard Command"
CHINESE_POLICE = "Chinese Public Security"

MSS_HOLDING_CENTRE = "MSS holding centre"


@dataclass(frozen=True)
class Incident:
    categories: tuple[str, ...]
    date: str
    precision: str
    place: str | None
    facility: str | None
    institution: str | None
    involvement: str
    description: str
    date_end: str | None = None

    def as_record(self) -> dict[str, Any]:
        return {
            "categories": list(self.categories),
            "date": self.date,
            "date_precision": self.precision,
            "date_end": self.date_end,
            "place": self.place,
            "facility": self.facility,
            "perpetrator_institution": self.institution,
            "involvement": self.involvement,
            "description": self.description,
        }

    @property
    def first_day(self) -> dt.date:
        return self.days[0]

    @property
    def days(self) -> tuple[dt.date, dt.date]:
        """The first and last day the incident may have happened on."""
        if self.precision == "range":
            assert self.date_end is not None
            return dt.date.fromisoformat(self.date), dt.date.fromisoformat(self.date_end)
        parts = [int(p) for p in self.date.split("-")]
        if self.precision == "year":
            return dt.date(parts[0], 1, 1), dt.date(parts[0], 12, 31)
        if self.precision == "month":
            last = calendar.monthrange(parts[0], parts[1])[1]
            return dt.date(parts[0], parts[1], 1), dt.date(parts[0], parts[1], last)
        day = dt.date(*parts)
        return day, day


@dataclass(frozen=True)
class Entry:
    key: str
    case: str
    language: str
    scopes: tuple[str, ...]
    original: str
    translation: str | None
    incidents: tuple[Incident, ...] = ()

    def as_record(self, case_code: str) -> dict[str, Any]:
        return {
            "external_id": f"SEARCH-{self.key}",
            "case": case_code,
            "interview": {
                "date": "2024-03-14",
                "place": "Seoul",
                "language": self.language,
                "interviewer": "officer.kim",
            },
            "witness": {"pseudonym": f"W-{self.key}"},
            "consent": {"scopes": list(self.scopes), "given_on": "2024-03-14"},
            "narrative": {"original": self.original, "translation_en": self.translation},
            "incidents": [incident.as_record() for incident in self.incidents],
        }

    @property
    def first_day(self) -> dt.date | None:
        return min((i.first_day for i in self.incidents), default=None)


def _e(
    key: str,
    scopes: str,
    original: str,
    translation: str | None,
    *incidents: Incident,
    language: str = "ko",
) -> Entry:
    case = CASE_A if key.startswith("A") else CASE_B
    return Entry(key, case, language, tuple(scopes.split()), original, translation, incidents)


def _i(
    categories: str,
    when: str,
    precision: str,
    *,
    at: str | None,
    facility: str | None = None,
    by: str | None = None,
    role: str,
    text: str,
    until: str | None = None,
) -> Incident:
    return Incident(tuple(categories.split()), when, precision, at, facility, by, role, text, until)


# The table stays as written (one line per incident field group).
# fmt: off
CORPUS: tuple[Entry, ...] = (
    # ---- case A -----------------------------------------------------------------------------
    _e(
        "A01",
        "internal_analysis un_mechanisms",
        "2016년 5월 회령 보위부 구류장에서 조사를 받으며 매일 맞았습니다.",
        "In May 2016 I was beaten every day during interrogation in the MSS holding centre "
        "in Hoeryong.",
        _i(
            "detention.kuryujang torture.interrogation", "2016-05", "month",
            at=HOERYONG, facility=MSS_HOLDING_CENTRE, by=MSS, role="victim",
            text="Beaten during interrogation at the holding centre.",
        ),
    ),
    _e(
        "A02",
        "internal_analysis",
        "2015년 온성 노동단련대에서 여섯 달 동안 강제노동을 했습니다. 배급은 거의 없었습니다.",
        "In 2015 I did forced labour for six months in the Onsong labour training camp. "
        "There was almost no food.",
        _i(
            "detention.labour_training labour.detention_labour", "2015", "year",
            at=ONSONG, facility="Onsong labour training camp", by=MSOCS, role="victim",
            text="Forced labour in the training camp; guards beat those who fell behind.",
        ),
    ),
    _e(
        "A03",
        "internal_analysis judicial_proceedings",
        "전거리교화소에서 2년 넘게 복역했습니다. 굶주림으로 같은 방 수감자가 죽는 것을 보았습니다.",
        "I served more than two years in Chongori prison camp. I saw a cellmate die of hunger.",
        _i(
            "detention.kyohwaso", "2017-03-01", "range", until="2019-08-31",
            at=HOERYONG, facility="Chongori kyohwaso", by=MSOCS, role="victim",
            text="Imprisoned at Chongori.",
        ),
        _i(
            "life.death_in_custody detention_conditions.food", "2018", "year",
            at=HOERYONG, facility="Chongori kyohwaso", by=MSOCS, role="direct_witness",
            text="Death of a cellmate from starvation at Chongori.",
        ),
    ),
    _e(
        "A04",
        "internal_analysis un_mechanisms public_anonymised",
        "2019년 11월 혜산에서 한국드라마를 보다가 보위부에 체포되었습니다. "
        "보위부원들은 나를 발로 찼습니다.",
        "In November 2019 I was arrested in Hyesan by the MSS for watching South Korean dramas. "
        "The agents kicked me.",
        _i(
            "fundamental_freedoms.information detention.arbitrary_arrest", "2019-11-20", "day",
            at=HYESAN, by=MSS, role="victim",
            text="Arrested for watching foreign dramas.",
        ),
    ),
    _e(
        "A05",
        "internal_analysis un_mechanisms",
        "2014년 2월 중국 도문에서 공안에 잡혀 강제북송되었습니다. "
        "온성 보위부 구류장에서 다시 조사를 받았습니다.",
        "In February 2014 I was caught by Chinese police in Tumen and forcibly repatriated. "
        "In the Onsong MSS holding centre I was interrogated again.",
        _i(
            "repatriation.refoulement repatriation.detention_abroad", "2014-02", "month",
            at=TUMEN, facility="Tumen border detention centre", by=CHINESE_POLICE, role="victim",
            text="Arrested by Chinese police and handed over to North Korea.",
        ),
        _i(
            "repatriation.punishment_on_return torture.interrogation", "2014-03", "month",
            at=ONSONG, facility="Onsong MSS holding centre", by=MSS, role="victim",
            text="Interrogated after repatriation; beatings every night.",
        ),
    ),
    _e(
        "A06",
        "internal_analysis",
        "2010년에 삼촌 가족이 요덕수용소로 끌려갔다고 들었습니다. 그 뒤로 소식이 없습니다.",
        "In 2010 I heard that my uncle's family was taken to the Yodok camp. "
        "We never heard from them again.",
        _i(
            "enforced_disappearance.political_prisoners detention.guilt_by_association", "2010",
            "year",
            at=YODOK, facility="Yodok kwanliso", by=MSS, role="hearsay",
            text="Uncle's family taken to Yodok political prison camp.",
        ),
    ),
    _e(
        "A07",
        "un_mechanisms judicial_proceedings",
        "2012년 9월 혜산 장마당 근처에서 공개처형을 보았습니다. 학생들도 강제로 동원되었습니다.",
        "In September 2012 I saw a public execution near the Hyesan market. "
        "Students were also forced to attend.",
        _i(
            "life.death_penalty fair_trial.show_trial", "2012-09-03", "day",
            at=HYESAN, by=MSOCS, role="direct_witness",
            text="Public execution by shooting near the market.",
        ),
    ),
    _e(
        "A08",
        "internal_analysis public_anonymised",
        "After crossing the river in 2008 a broker sold me to a farmer in Yanji. I was forced "
        "into marriage and could not leave the house for five years.",
        None,
        _i(
            "sexual_violence.trafficking_forced_marriage", "2008-04-01", "range",
            until="2013-06-30", at=YANJI, role="victim",
            text="Sold by a broker into forced marriage.",
        ),
        language="en",
    ),
    _e(
        "A09",
        "internal_analysis un_mechanisms",
        "2011년 1월 무산 두만강에서 국경경비대가 강을 건너던 사람을 총으로 쏘았습니다.",
        "In January 2011 at the Tumen River near Musan, border guards shot a person who was "
        "crossing the river.",
        _i(
            "life.border_shooting", "2011-01", "month",
            at=MUSAN, by=BORDER_GUARD, role="direct_witness",
            text="Border guards shot a crosser on the ice.",
        ),
    ),
    _e(
        "A10",
        "internal_analysis",
        "2009년 청진 장마당에서 장사를 하다가 안전부에 잡혀 단련대에 보내졌습니다.",
        "In 2009 I was caught trading at the Chongjin market by the police and sent to a "
        "labour training camp.",
        _i(
            "economic_social.livelihood detention.labour_training", "2009", "year",
            at=CHONGJIN, facility="Chongjin labour training camp", by=MSOCS, role="victim",
            text="Sent to a labour training camp for private trading.",
        ),
    ),
    _e(
        "A11",
        "internal_analysis",
        "가족과 헤어진 지 십 년이 되었습니다.",
        "It has been ten years since I was separated from my family.",
    ),
    _e(
        "A12",
        "internal_analysis un_mechanisms",
        "2018년 7월 회령 보위부 구류장에서 여러 번 구타당했습니다.",
        "In July 2018 I was repeatedly assaulted in the Hoeryong MSS holding centre.",
        _i(
            "torture.interrogation", "2018-07", "month",
            at=HOERYONG, facility=MSS_HOLDING_CENTRE, by=MSS, role="victim",
            text="Assaulted by interrogators.",
        ),
    ),
    # ---- case B -----------------------------------------------------------------------------
    _e(
        "B01",
        "un_mechanisms judicial_proceedings",
        "개천교화소에서 3년 동안 탄광에서 일했습니다. 아파도 치료를 받지 못했습니다.",
        "For three years in Kaechon prison camp I worked in the coal mine. "
        "When I was sick I got no treatment.",
        _i(
            "detention.kyohwaso labour.detention_labour detention_conditions.medical_care",
            "2013-04-01", "range", until="2016-03-31",
            at=KAECHON, facility="Kaechon kyohwaso", by=MSOCS, role="victim",
            text="Forced labour in a coal mine; no medical treatment.",
        ),
    ),
    _e(
        "B02",
        "internal_analysis",
        "2017년 10월 신의주 보위부 구류장에 갇혔습니다. 경비대원들이 군화로 때렸습니다.",
        "In October 2017 I was locked up in the Sinuiju MSS holding centre. "
        "The guards struck me with their boots.",
        _i(
            "repatriation.punishment_on_return torture.disciplinary_violence", "2017-10-05", "day",
            at=SINUIJU, facility="Sinuiju MSS holding centre", by=MSS, role="victim",
            text="Kicked by guards in the cell.",
        ),
        _i(
            "detention_conditions.cells_sanitation", "2017-10-05", "range", until="2018-01-20",
            at=SINUIJU, facility="Sinuiju MSS holding centre", by=MSS, role="victim",
            text="Forty women in one cell without water.",
        ),
    ),
    _e(
        "B03",
        "internal_analysis public_anonymised",
        "2020년 코로나 봉쇄 때문에 혜산에서 장사를 할 수 없어 굶었습니다.",
        "In 2020 the COVID lockdown meant I could not trade in Hyesan and I went hungry.",
        _i(
            "economic_social.livelihood economic_social.pandemic_measures", "2020", "year",
            at=HYESAN, by=MSOCS, role="victim",
            text="장마당 폐쇄로 생계를 잃음.",
        ),
    ),
    _e(
        "B04",
        "un_mechanisms",
        "2014년 6월 온성에서 체포된 뒤 보위부가 나를 한 달 동안 가두었습니다.",
        "After my arrest in Onsong in June 2014 the MSS kept holding me in a detention centre "
        "for a month.",
        _i(
            "detention.arbitrary_arrest repatriation.punishment_on_return", "2014-06", "month",
            at=ONSONG, facility="Onsong MSS holding centre", by=MSS, role="victim",
            text="Held for a month without charge.",
        ),
    ),
    _e(
        "B05",
        "internal_analysis un_mechanisms",
        "2016년 회령에서 이웃이 성경을 가지고 있다가 보위부에 끌려가 사라졌습니다.",
        "In 2016 in Hoeryong a neighbour who owned a Bible was taken by the MSS and disappeared.",
        _i(
            "fundamental_freedoms.religion enforced_disappearance.political_prisoners", "2016",
            "year",
            at=HOERYONG, by=MSS, role="hearsay",
            text="Neighbour disappeared after a Bible was found.",
        ),
    ),
    _e(
        "B06",
        "judicial_proceedings",
        "In Shenyang brokers forced me to work in an online chat room. The beatings stopped only "
        "when I obeyed.",
        None,
        _i(
            "sexual_violence.trafficking_sexual_exploitation", "2005-03-01", "range",
            until="2007-12-31", at=SHENYANG, role="victim",
            text="Trafficked for sexual exploitation in Shenyang.",
        ),
        language="en",
    ),
    _e(
        "B07",
        "internal_analysis public_anonymised",
        "1997년 고난의 행군 때 길주에서 이웃들이 굶어 죽었습니다. "
        "2004년에는 아버지가 배급을 받지 못해 돌아가셨습니다.",
        "During the Arduous March in 1997 my neighbours in Kilju starved to death. "
        "In 2004 my father died because he received no rations.",
        _i(
            "economic_social.food_insecurity", "1997", "year",
            at=KILJU, role="direct_witness",
            text="Famine deaths among neighbours.",
        ),
        _i(
            "economic_social.food_distribution", "2004", "year",
            at=KILJU, role="direct_witness",
            text="Father died without rations.",
        ),
    ),
    _e(
        "B08",
        "internal_analysis un_mechanisms",
        "2021년 2월 회령 보위부에서 심문을 받으며 하루 종일 무릎을 꿇고 앉아 있어야 했습니다.",
        "In February 2021, during interrogations at the Hoeryong MSS, I had to kneel all day.",
        _i(
            "torture.stress_positions torture.interrogation", "2021-02-14", "day",
            at=HOERYONG, facility=MSS_HOLDING_CENTRE, by=MSS, role="victim",
            text="Forced to kneel all day during interrogation.",
        ),
    ),
)
# fmt: on


BY_KEY: dict[str, Entry] = {entry.key: entry for entry in CORPUS}
ALL = frozenset(BY_KEY)
IN_A = frozenset(k for k, e in BY_KEY.items() if e.case == CASE_A)
IN_B = frozenset(k for k, e in BY_KEY.items() if e.case == CASE_B)


def keys(text: str) -> set[str]:
    """``keys("A01 B02")`` -> ``{"A01", "B02"}``: expected results read like a list."""
    return set(text.split())


# ---- the oracle ------------------------------------------------------------------------------

FACETS = (
    "category",
    "place",
    "facility",
    "institution",
    "involvement",
    "language",
    "case",
    "consent_scope",
    "year",
)


def _with_ancestors(code: str) -> set[str]:
    parts = code.split(".")
    return {".".join(parts[: i + 1]) for i in range(len(parts))}


def expected_facets(selected: Iterable[str]) -> dict[str, dict[str, int]]:
    """Facet counts (documents per value) over the testimonies ``selected`` by key."""
    facets: dict[str, Counter[str]] = defaultdict(Counter)
    for key in selected:
        entry = BY_KEY[key]
        values: dict[str, set[str]] = defaultdict(set)
        values["language"].add(entry.language)
        values["case"].add(entry.case)
        values["consent_scope"].update(entry.scopes)
        for incident in entry.incidents:
            for code in incident.categories:
                values["category"] |= _with_ancestors(code)
            for name, value in (
                ("place", incident.place),
                ("facility", incident.facility),
                ("institution", incident.institution),
                ("involvement", incident.involvement),
            ):
                if value:
                    values[name].add(value)
            first, last = incident.days
            values["year"].update(str(y) for y in range(first.year, last.year + 1))
        for name, members in values.items():
            facets[name].update(members)
    return {name: dict(facets[name]) for name in FACETS}


def expected_statistics(selected: Iterable[str]) -> dict[str, Any]:
    """``GET /api/v1/statistics`` as JSON for the testimonies ``selected`` (incident counts)."""
    by_category_year: dict[str, Counter[str]] = defaultdict(Counter)
    tallies: dict[str, Counter[str]] = defaultdict(Counter)
    incidents = 0
    testimonies = set()
    for key in selected:
        for incident in BY_KEY[key].incidents:
            incidents += 1
            testimonies.add(key)
            year = str(incident.first_day.year)
            tallies["by_year"][year] += 1
            codes = set().union(*(_with_ancestors(c) for c in incident.categories))
            for code in codes:
                by_category_year[code][year] += 1
                tallies["by_category"][code] += 1
            tallies["by_place"][incident.place or "(unknown)"] += 1
            tallies["by_facility"][incident.facility or "(unknown)"] += 1
            tallies["by_institution"][incident.institution or "(unknown)"] += 1
            tallies["by_involvement"][incident.involvement] += 1
    result: dict[str, Any] = {"incidents": incidents, "testimonies": len(testimonies)}
    result["by_category_year"] = {code: dict(c) for code, c in by_category_year.items()}
    for name in (
        "by_category",
        "by_year",
        "by_place",
        "by_facility",
        "by_institution",
        "by_involvement",
    ):
        result[name] = dict(tallies[name])
    return result


def newest_first(selected: Iterable[str]) -> list[str]:
    """Keys by the earliest possible day of their incidents, newest first, undated last."""
    dated = [k for k in selected if BY_KEY[k].first_day is not None]
    dated.sort(key=lambda k: BY_KEY[k].first_day or dt.date.min, reverse=True)
    return dated + sorted(k for k in selected if BY_KEY[k].first_day is None)


# ---- the world -------------------------------------------------------------------------------


@dataclass
class World:
    """A deployment holding the corpus, and the people who use it."""

    deployment: Deployment
    backend: str
    officer: Account
    investigator: Account
    """An investigator assigned to both cases."""
    investigator_a: Account
    investigator_b: Account
    auditor: Account
    ids: dict[str, str] = field(default_factory=dict)
    """Corpus key -> testimony id."""
    incident_ids: dict[str, list[str]] = field(default_factory=dict)

    @property
    def key_of(self) -> dict[str, str]:
        return {testimony_id: key for key, testimony_id in self.ids.items()}

    def search(self, account: Account, **params: Any) -> Response:
        """``GET /api/v1/search``; list values repeat the parameter (``category=[a, b]``)."""
        query = {name.rstrip("_"): value for name, value in params.items()}
        return self.deployment.client.get("/api/v1/search", params=query, headers=account.headers)

    def result(self, account: Account, **params: Any) -> dict[str, Any]:
        response = self.search(account, **params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def found(self, q: str = "", *, account: Account | None = None, **params: Any) -> set[str]:
        """Keys of every testimony the query matches (all pages), checked against ``total``."""
        body = self.result(account or self.investigator, q=q, per_page=100, **params)
        found = [self.key_of[hit["testimony_id"]] for hit in body["hits"]]
        assert body["total"] == len(found) == len(set(found)), body
        return set(found)

    def statistics(self, account: Account, **params: Any) -> dict[str, Any]:
        response = self.deployment.client.get(
            "/api/v1/statistics", params=params, headers=account.headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


def custodia(deployment: Deployment, account: Account, *args: str, **env: str) -> Result:
    """Runs the ``custodia`` command in-process as ``account`` against ``deployment``."""
    base = [
        "--data-dir",
        str(deployment.settings.resolved_data_dir),
        "--database-url",
        deployment.settings.effective_database_url,
        "--user",
        account.username,
    ]
    environment: dict[str, str | None] = {"CUSTODIA_PASSWORD": account.password, **env}
    environment.setdefault("CUSTODIA_USER", None)
    return CliRunner().invoke(cli_app, [*base, *args], env=environment)


def cli_json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


BACKENDS = [
    pytest.param("sqlite", id="sqlite-whoosh"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]
"""Each database with the backend ``search_backend="auto"`` picks for it."""

ALL_BACKENDS = [
    *BACKENDS,
    pytest.param("postgresql+whoosh", id="postgresql-whoosh", marks=pytest.mark.postgres),
]
"""Also the embedded Whoosh index over a PostgreSQL database: both backends, one suite."""


@contextmanager
def fresh_deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, backend: str
) -> Iterator[Deployment]:
    """A new deployment on a migrated database of the kind ``backend`` names."""
    data_dir = tmp_path_factory.mktemp("search") / "data"
    database = None
    if backend == "sqlite":
        data_dir.mkdir(mode=0o700)
        shutil.copyfile(request.getfixturevalue("sqlite_template"), data_dir / "custodia.db")
        url = f"sqlite:///{data_dir / 'custodia.db'}"
    else:
        template = request.getfixturevalue("pg_template")
        database = f"custodia_t_{uuid.uuid4().hex[:12]}"
        with _pg_admin_connection() as connection:
            connection.execute(f'CREATE DATABASE "{database}" TEMPLATE "{template}"')
        url = _pg_url(database)
    settings = {"search_backend": "whoosh"} if backend.endswith("+whoosh") else {}
    deployment = Deployment.create(data_dir, url, **settings)
    try:
        yield deployment
    finally:
        deployment.close()
        if database is not None:
            with _pg_admin_connection() as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@contextmanager
def built_world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, backend: str
) -> Iterator[World]:
    """A fresh deployment holding the whole corpus (cases ``CASE-A`` and ``CASE-B``)."""
    with fresh_deployment(request, tmp_path_factory, backend) as deployment:
        deployment.case(CASE_A)
        deployment.case(CASE_B)
        both = (CASE_A, CASE_B)
        world = World(
            deployment=deployment,
            backend=backend,
            officer=deployment.user(Role.OFFICER, cases=both),
            investigator=deployment.user(Role.INVESTIGATOR, cases=both),
            investigator_a=deployment.user(Role.INVESTIGATOR, cases=(CASE_A,)),
            investigator_b=deployment.user(Role.INVESTIGATOR, cases=(CASE_B,)),
            auditor=deployment.user(Role.AUDITOR),
        )
        for entry in CORPUS:
            created = deployment.create_testimony(world.officer, entry.as_record(entry.case))
            world.ids[entry.key] = created["id"]
            world.incident_ids[entry.key] = created["incident_ids"]
        yield world
