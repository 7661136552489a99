"""Search benchmark: Custodia's blind index (Whoosh, PostgreSQL) against plaintext baselines.

One run generates one synthetic corpus (seeded) and measures, side by side on it:

* ``custodia-whoosh``     ``WhooshSearchIndex.bulk_upsert(procs=1)`` over blind tokens;
                          ingest time includes analysis + HMAC (``analyze_terms`` +
                          ``BlindTokenizer.token``, exactly what ``SearchIndexer.build`` does)
* ``custodia-whoosh-p2``  the same with ``bulk_upsert(procs=2)`` (ingest only; its
                          multi-segment index is measured for size, then dropped)
* ``custodia-pg``         ``PostgresSearchIndex.upsert`` in batches of 200 (as ``rebuild``),
                          on a fresh database created here and dropped afterwards
* ``plain-whoosh``        plaintext Whoosh, ``StandardAnalyzer`` on the three text fields
                          (Korean is then whitespace eojeols), same facet fields; procs=1
* ``plain-whoosh-p2``     the same with ``procs=2`` (ingest only)
* ``fts5``                plaintext SQLite FTS5 (``unicode61``, contentless) in a temp file,
                          facet values in a side table

Queries (the same query text for every system, ~200 per type, sampled from the corpus
vocabulary, half common half rare) are run interleaved: for each query, every system in a
rotating order, so machine noise hits all systems alike and the ratios are same-run ratios.
Custodia systems go through ``parse_query`` (analysis + blinding of the query is timed) and
``index.search(..., limit=20)``, which always computes the total and all facets. The
baselines return the top 20 + exact total; for the ``faceted`` type also every facet's
counts over all matches.

    .venv/bin/python bench/search_bench.py --docs 10000
    .venv/bin/python bench/search_bench.py --docs 100000 --systems custodia-whoosh,plain-whoosh
    .venv/bin/python bench/search_bench.py --profile-only --docs 2000
    .venv/bin/python bench/search_bench.py --report /tmp/custodia-search-bench/*.json

Results go to ``--json`` (default ``/tmp/custodia-search-bench/search-<docs>-<time>.json``);
``--report`` combines several result files (medians over runs) into markdown tables.
Nothing under ``service/`` is modified; the service is used only through its public classes.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import cProfile
import gc
import io
import itertools
import json
import os
import platform
import pstats
import random
import resource
import secrets
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from service.search.analysis import analyze_terms, clear_analysis_cache  # noqa: E402
from service.search.blind import BlindTokenizer  # noqa: E402
from service.search.interfaces import IndexedDocument, SearchFilters  # noqa: E402
from service.search.query import parse_query  # noqa: E402

PG_ADMIN_DSN = os.environ.get(
    "CUSTODIA_BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
DEFAULT_OUT = Path(tempfile.gettempdir()) / "custodia-search-bench"
ALL_SYSTEMS = (
    "custodia-whoosh",
    "custodia-whoosh-p2",
    "custodia-pg",
    "plain-whoosh",
    "plain-whoosh-p2",
    "fts5",
)
# Ingest-only variants: the service's own rebuild pattern and bench-only prototypes.
EXTRA_SYSTEMS = (
    "custodia-whoosh-upsert200",
    "custodia-whoosh-limit2g",
    "custodia-pg-copy",
    "custodia-pg-copy-reindex",
    "custodia-pg-copy-par2",
)
QUERY_SYSTEMS = ("custodia-whoosh", "custodia-pg", "plain-whoosh", "fts5")
REPORT_SYSTEMS = (
    "custodia-whoosh", "custodia-whoosh-topk", "custodia-whoosh-phrase", "custodia-whoosh-topk+phrase",
    "custodia-pg", "custodia-pg-datesort", "plain-whoosh", "fts5",
)
QUERY_TYPES = (
    "term_en",
    "term_ko",
    "and2",
    "phrase_en",
    "phrase_ko",
    "filtered",
    "faceted",
)
TEXT_FIELDS = ("narrative", "translation", "description")

# ---- synthetic corpus ------------------------------------------------------------------------

# Frequent Hangul syllables: material for the synthetic stems of the long tail.
_KO_SYLLABLES = (
    "이다의는에을가고하지기리서사자대한로수도를어아나부정인시스니보주우해상제전일과게면장여국"
    "다마동들소적문조것만원방성발계무관회경비선그요용실구내안생신위간거오화분작공진라체학세연"
    "중물모개명현통결후교법터추함탈북강령청혜산온감옥노단련류석집결송환심문형밥죽병약"
)
# Real Korean nouns, most frequent first (head of the Zipf distribution).
_KO_REAL = (
    "사람 당시 우리 그때 어머니 아버지 보위부 조사 집 시간 생각 중국 동생 가족 구류장 "
    "안전부 마을 이야기 감방 국경 두만강 식량 배급 시장 장마당 탈북 보위원 보안원 간수 "
    "수감자 교화소 노동단련대 집결소 관리소 강제노동 송환 북송 구타 고문 예심 체포 "
    "심문 회령 온성 무산 혜산 청진 신의주 평양 함흥 남편 아이 친척 언니 오빠 할머니 "
    "공장 농장 학교 군대 경비대 초소 강물 겨울 여름 봄 가을 아침 저녁 밤 하루 "
    "한국 연길 도문 브로커 돈 옷 신발 밥 옥수수 죽 병 약 의사 병원 감옥 재판 판결 "
    "노동 작업 벌목 농사 석탄 광산 철도 기차 버스 트럭 집단 회의 총화 생활 사상 "
    "비판 처벌 폭행 발길질 몽둥이 무릎 자세 손 발 머리 얼굴 몸 피 상처 눈물 "
    "죽음 시체 장례 소식 편지 전화 라디오 드라마 성경 교회 선교사 비밀 신고 감시 "
    "인민반 반장 당원 간부 군인 경찰 검사 판사 변호사 증인 피해자 가해자 여성 남성 "
    "어린이 청소년 노인 임신 강제낙태 인신매매 결혼 이혼 출산 기아 영양실조 굶주림"
).split()
_KO_VERBAL = (
    "조사 구타 고문 체포 송환 북송 심문 노동 탈북 이동 수감 구금 처벌 폭행 감시 "
    "신고 비판 재판 판결 석방 도착 출발 탈출 도망 연락 결혼 출산 사망"
).split()
_KO_PREDICATES = (
    "있었습니다 없었습니다 갔습니다 왔습니다 보았습니다 들었습니다 말했습니다 받았습니다 "
    "먹었습니다 했습니다 살았습니다 몰랐습니다 알았습니다 죽었습니다 잡혔습니다 맞았습니다 "
    "있었다 없었다 갔다 왔다 보았다 들었다 말했다 받았다"
).split()
# Josa with their allomorph condition: 1 = after batchim, 2 = after vowel, 0 = any.
_KO_JOSA = (
    ("", 0, 6), ("은", 1, 2), ("는", 2, 2), ("이", 1, 3), ("가", 2, 3), ("을", 1, 3),
    ("를", 2, 3), ("에", 0, 2), ("에서", 0, 2), ("으로", 1, 1), ("로", 2, 1), ("의", 0, 1),
    ("도", 0, 1), ("와", 2, 1), ("과", 1, 1), ("에게", 0, 1), ("까지", 0, 1), ("부터", 0, 1),
    ("들이", 0, 1), ("만", 0, 1),
)
# Named facilities and other multi-word expressions, inserted now and then.
_KO_PHRASES = (
    "회령 보위부 구류장", "온성 보위부 구류장", "무산 안전부 구류장", "청진 집결소",
    "전거리 교화소", "개천 교화소", "요덕 관리소", "혜산 노동단련대", "함경북도 보위부",
    "양강도 보위부", "중국 공안", "두만강을 건너", "예심 과정에서", "무릎을 꿇고 앉아",
    "몽둥이로 맞았습니다", "강제로 북송되었습니다",
)
_EN_FUNCTION = (
    "the of and to a in was i my we were they he she it that for on with at from by as had "
    "not but there their them this his her into when after before then one two three no "
    "would could every all some other more many few again still only never always because "
    "so while me us our you your have has been be is are did do what who which where"
).split()
_EN_CONTENT = (
    "day days night week month months year years time people guards guard officers officer "
    "prison camp cell cells room police security border river china chinese north korea "
    "korean mother father brother sister family village town city station house work worked "
    "food rice water sick beaten beat beating interrogation interrogated asked told said "
    "took taken sent released arrested detained held kept crossed caught returned forced "
    "women men children others inside outside morning evening hours long small cold hungry "
    "kicked punched stick floor knees sit sitting kneel standing torture tortured confession "
    "statement investigator interrogator prosecutor trial sentence sentenced labour camp "
    "detention centre holding facility ministry state social bureau agents broker smuggled "
    "repatriated repatriation deported deportation escape escaped defector defectors market "
    "trade money bribe bribes paid corn porridge meal meals starvation hunger disease died "
    "death dead body bodies buried executed execution public shot shooting soldiers army "
    "fence wire mine mines farm factory logging coal railway train truck bus walk walked "
    "hit slapped blood wounds injury injured pain doctor hospital medicine pregnant abortion "
    "baby infant trafficked trafficking sold married husband wife daughter son grandmother "
    "church bible missionary radio dramas films phone call letter news information report"
).split()
_EN_PLACES = (
    "Hoeryong Chongjin Musan Hyesan Onsong Hamhung Pyongyang Sinuiju Kimchaek Yodok "
    "Kaechon Jongo-ri Tumen Yanji Shenyang Dandong Yanbian Jilin"
).split()
_EN_PHRASES = (
    "interrogation room", "beaten with a stick", "State Security Department",
    "holding centre in Hoeryong", "labour training camp", "forced to kneel",
    "sent back to North Korea", "Ministry of State Security", "crossed the Tumen river",
    "detention centre", "political prison camp", "public execution", "forced abortion",
    "without a trial", "sentenced to ten years",
)
_PLACES = (
    "회령", "온성", "무산", "혜산", "청진", "신의주", "평양", "함흥", "김책", "길주", "요덕",
    "개천", "전거리", "연길", "도문", "선양", "단둥", "Hoeryong", "Chongjin", "Musan",
    "Hyesan", "Onsong", "Yanji", "Tumen", "Shenyang",
)
_FACILITIES = (
    "회령 보위부 구류장", "온성 보위부 구류장", "무산 안전부 구류장", "청진 집결소",
    "전거리 교화소", "개천 교화소", "요덕 관리소", "혜산 노동단련대", "MSS holding centre",
    "MPS holding centre", "labour training camp", "kyohwaso No. 12", "border guard post",
    "Tumen detention centre", "provincial MSS detention facility",
)
_INSTITUTIONS = (
    "국가보위성", "사회안전성", "국경경비총국", "조선인민군", "Ministry of State Security",
    "Ministry of Social Security", "Border Guard Command", "Chinese Public Security Bureau",
)
_INVOLVEMENTS = ("victim", "victim", "victim", "direct_witness", "hearsay")
_SCOPES = ("internal_analysis", "un_mechanisms", "judicial_proceedings", "public_anonymised")
CASES = 20


def _final_consonant(syllable: str) -> int:
    code = ord(syllable) - 0xAC00
    return code % 28 if 0 <= code <= 11171 else 0


def _zipf_cum(n: int, s: float = 1.07) -> list[float]:
    return list(itertools.accumulate(1.0 / (rank**s) for rank in range(1, n + 1)))


def _taxonomy() -> dict[str, str | None]:
    data = json.loads((REPO / "schemas/taxonomy/violations.v1.json").read_text("utf-8"))
    return {c["code"]: c["parent"] for c in data["categories"]}


@dataclass
class Testimony:
    testimony_id: str
    case_id: int
    interview_date: date
    narrative: str
    translation: str
    description: str
    categories: frozenset[str]
    places: frozenset[str]
    facilities: frozenset[str]
    institutions: frozenset[str]
    involvements: frozenset[str]
    consent_scopes: frozenset[str]
    years: frozenset[int]
    date_start: date
    date_end: date


class Corpus:
    """Zipf(1.07) Korean and English vocabularies and the testimonies drawn from them.

    Korean: ~3,000 noun stems (real words first, then syllable pairs/triples), each used with
    a josa fitting its final consonant (or bare), so ~24k distinct eojeols; Sino-Korean verbs
    as ``stem+했습니다``/``당했습니다``; native predicates close sentences. English: function
    words (stop words included) first, then real content words, places and a synthetic
    pseudo-word tail to 20,000 words. Named facilities and fixed expressions are inserted
    now and then so common multi-word phrases exist.
    """

    def __init__(self, seed: int, *, ko_stems: int = 3000, en_vocab: int = 20000) -> None:
        rng = random.Random(seed)
        self.seed = seed
        stems = list(dict.fromkeys(_KO_REAL))
        seen = set(stems)
        while len(stems) < ko_stems:
            n = rng.choice((2, 2, 2, 2, 3, 3))
            stem = "".join(rng.choice(_KO_SYLLABLES) for _ in range(n))
            if stem not in seen:
                seen.add(stem)
                stems.append(stem)
        self.ko_stems = stems
        stem_cum = _zipf_cum(len(stems))
        forms: list[str] = []
        weights: list[float] = []
        prev = 0.0
        for stem, cum in zip(stems, stem_cum, strict=True):
            p = cum - prev
            prev = cum
            batchim = _final_consonant(stem[-1]) != 0
            fitting = [
                (j, w) for j, cond, w in _KO_JOSA
                if cond == 0 or (cond == 1) == batchim
            ]
            total = sum(w for _, w in fitting)
            for j, w in fitting:
                forms.append(stem + j)
                weights.append(p * w / total)
        self.ko_forms = forms
        self.ko_cum = list(itertools.accumulate(weights))
        en = list(dict.fromkeys(_EN_FUNCTION))
        content = list(dict.fromkeys(_EN_CONTENT + [p.lower() for p in _EN_PLACES]))
        rng.shuffle(content)
        en += content
        seen_en = set(en)
        consonants, vowels = "bcdfghklmnprstvwyz", "aeiou"
        while len(en) < en_vocab:
            word = "".join(
                rng.choice(consonants) + rng.choice(vowels) for _ in range(rng.choice((2, 2, 3, 3, 4)))
            ) + rng.choice(("", "", "", "s", "ed", "ing", "er", "ion"))
            if word not in seen_en:
                seen_en.add(word)
                en.append(word)
        self.en = en
        self.en_cum = _zipf_cum(len(en))
        self.en_rank = {w: i for i, w in enumerate(en)}
        self.function_words = frozenset(_EN_FUNCTION)
        self.taxonomy = _taxonomy()
        self.leaf_codes = sorted(c for c, p in self.taxonomy.items() if p)
        self.ko_counts: Counter[str] = Counter()  # stem -> bare/inflected occurrences (approx.)
        self.en_counts: Counter[str] = Counter()

    # -- text ---------------------------------------------------------------------------------

    def korean(self, rng: random.Random, words: int) -> str:
        forms = rng.choices(self.ko_forms, cum_weights=self.ko_cum, k=words)
        out: list[str] = []
        i = 0
        while i < len(forms):
            n = rng.randint(5, 11)
            sentence = forms[i : i + n]
            i += n
            if rng.random() < 0.06:
                sentence.insert(rng.randrange(len(sentence)), rng.choice(_KO_PHRASES) + "에서")
            r = rng.random()
            if r < 0.35:
                sentence.append(rng.choice(_KO_VERBAL) + rng.choice(("했습니다", "당했습니다", "되었습니다", "했다")))
            else:
                sentence.append(rng.choice(_KO_PREDICATES))
            out.append(" ".join(sentence) + ".")
        return " ".join(out)

    def english(self, rng: random.Random, words: int) -> str:
        picked = rng.choices(self.en, cum_weights=self.en_cum, k=words)
        out: list[str] = []
        i = 0
        while i < len(picked):
            n = rng.randint(8, 20)
            sentence = picked[i : i + n]
            i += n
            if rng.random() < 0.08:
                sentence.insert(rng.randrange(len(sentence)), rng.choice(_EN_PHRASES))
            if rng.random() < 0.1:
                sentence.insert(rng.randrange(len(sentence)), rng.choice(_EN_PLACES))
            sentence[0] = sentence[0].capitalize()
            out.append(" ".join(sentence) + ".")
        return " ".join(out)

    def ancestors(self, code: str) -> set[str]:
        out = {code}
        parent = self.taxonomy.get(code)
        while parent:
            out.add(parent)
            parent = self.taxonomy.get(parent)
        return out

    def descendants(self, code: str) -> set[str]:
        return {c for c in self.taxonomy if c == code or c.startswith(code + ".")}

    def testimony(self, number: int, words: int) -> Testimony:
        rng = random.Random(self.seed * 1_000_003 + number)
        ko_words = int(words * rng.uniform(0.36, 0.44))
        en_words = int(words * rng.uniform(0.36, 0.44))
        incidents = rng.randint(1, 3)
        desc_words = max(10, (words - ko_words - en_words) // incidents)
        categories: set[str] = set()
        places, facilities, institutions, involvements = set(), set(), set(), set()
        years: set[int] = set()
        starts, ends = [], []
        descriptions = []
        for _ in range(incidents):
            for code in rng.sample(self.leaf_codes, rng.randint(1, 2)):
                categories |= self.ancestors(code)
            place = rng.choice(_PLACES)
            facility = rng.choice(_FACILITIES)
            places.add(place)
            facilities.add(facility)
            institutions.add(rng.choice(_INSTITUTIONS))
            involvements.add(rng.choice(_INVOLVEMENTS))
            year = rng.randint(1995, 2023)
            precision = rng.random()
            if precision < 0.3:
                start, end = date(year, 1, 1), date(year, 12, 31)
            elif precision < 0.7:
                month = rng.randint(1, 12)
                start = date(year, month, 1)
                end = (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
            else:
                start = date(year, 1, 1) + timedelta(days=rng.randrange(364))
                end = start + timedelta(days=rng.choice((0, 0, 0, 3, 14, 60)))
            starts.append(start)
            ends.append(end)
            years |= set(range(start.year, end.year + 1))
            if rng.random() < 0.7:
                text = (
                    f"{rng.choice(('Beaten', 'Interrogated', 'Detained', 'Held'))} at {facility} "
                    f"({place}, {year}). " + self.english(rng, desc_words)
                )
            else:
                text = f"{facility}에서 {rng.choice(_KO_VERBAL)}당했습니다. " + self.korean(
                    rng, desc_words
                )
            descriptions.append(text)
        interview = max(ends) + timedelta(days=rng.randint(30, 3000))
        return Testimony(
            testimony_id=str(uuid.UUID(int=(self.seed << 64) | number, version=4)),
            case_id=1 + rng.randrange(CASES),
            interview_date=interview,
            narrative=self.korean(rng, ko_words),
            translation=self.english(rng, en_words),
            description=" ".join(descriptions),
            categories=frozenset(categories),
            places=frozenset(places),
            facilities=frozenset(facilities),
            institutions=frozenset(institutions),
            involvements=frozenset(involvements),
            consent_scopes=frozenset(s for s in _SCOPES if rng.random() < 0.6) or frozenset(
                {"internal_analysis"}
            ),
            years=frozenset(years),
            date_start=min(starts),
            date_end=max(ends),
        )

    def generate(self, docs: int, words: int) -> list[Testimony]:
        return [self.testimony(n, words) for n in range(docs)]


# ---- queries ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuerySpec:
    kind: str
    units: tuple[str, ...]
    """Search units: each a word or (if ``phrase``) a phrase; all must match (AND)."""
    phrase: bool = False
    category: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    facets: bool = False

    def custodia_text(self) -> str:
        return " ".join(f'"{u}"' if self.phrase else u for u in self.units)


def make_queries(corpus: Corpus, docs: list[Testimony], per_type: int, seed: int) -> dict[str, list[QuerySpec]]:
    """Query sets, half common (Zipf head) half rare (tail) terms, each known to occur."""
    rng = random.Random(seed + 17)
    # Which English content words / Korean stems actually occur (sampled docs suffice).
    sample = rng.sample(docs, min(len(docs), 400))
    en_seen: Counter[str] = Counter()
    ko_seen: Counter[str] = Counter()
    for t in sample:
        en_seen.update(w.strip(".,()").lower() for w in t.translation.split())
        ko_seen.update(w.strip(".,") for w in t.narrative.split())
    en_content = [w for w in corpus.en if w not in corpus.function_words and en_seen[w] > 0]
    ko_stems = [s for s in corpus.ko_stems if ko_seen[s] > 0]

    def pick(words: list[str], common: bool) -> str:
        head = max(20, len(words) // 50)
        return rng.choice(words[:head]) if common else rng.choice(words[head:])

    def en_term(i: int) -> str:
        return pick(en_content, i % 2 == 0)

    def ko_term(i: int) -> str:
        return pick(ko_stems, i % 2 == 0)

    def en_phrase(i: int) -> str:
        if i % 2 == 0:
            return rng.choice(_EN_PHRASES)
        while True:
            words = rng.choice(docs).translation.split()
            k = rng.randrange(len(words) - 3)
            run = words[k : k + rng.choice((2, 3))]
            if not any(w.endswith(".") for w in run[:-1]):
                cleaned = [w.strip(".,") for w in run]
                if sum(w.lower() not in corpus.function_words for w in cleaned) >= 1:
                    return " ".join(cleaned)

    def ko_phrase(i: int) -> str:
        if i % 2 == 0:
            return rng.choice(_KO_PHRASES)
        while True:
            words = rng.choice(docs).narrative.split()
            k = rng.randrange(len(words) - 2)
            run = words[k : k + 2]
            if not run[0].endswith("."):
                return " ".join(w.strip(".") for w in run)

    tops = sorted({c.split(".")[0] for c in corpus.leaf_codes})
    out: dict[str, list[QuerySpec]] = {t: [] for t in QUERY_TYPES}
    for i in range(per_type):
        out["term_en"].append(QuerySpec("term_en", (en_term(i),)))
        out["term_ko"].append(QuerySpec("term_ko", (ko_term(i),)))
        pair = (en_term(i), en_term(i + 1)) if i % 2 == 0 else (ko_term(i // 2), ko_term(i // 2 + 1))
        out["and2"].append(QuerySpec("and2", pair))
        out["phrase_en"].append(QuerySpec("phrase_en", (en_phrase(i),), phrase=True))
        out["phrase_ko"].append(QuerySpec("phrase_ko", (ko_phrase(i),), phrase=True))
        start = rng.randint(1995, 2018)
        term = en_term(i) if i % 2 == 0 else ko_term(i)
        out["filtered"].append(
            QuerySpec(
                "filtered", (term,), category=rng.choice(tops),
                date_from=date(start, 1, 1), date_to=date(start + rng.randint(1, 5), 12, 31),
            )
        )
        # Facets over a broad match set: frequent terms (a few hundred to all documents).
        common = rng.choice(en_content[:30]) if i % 2 == 0 else rng.choice(ko_stems[:30])
        out["faceted"].append(QuerySpec("faceted", (common,), facets=True))
    return out


# ---- systems ---------------------------------------------------------------------------------


def build_document(t: Testimony, blind: Callable[[str, str], str]) -> IndexedDocument:
    """What ``SearchIndexer.build`` produces (analysis + one HMAC per term, cached)."""
    texts = {"narrative": t.narrative, "translation": t.translation, "description": t.description}
    return IndexedDocument(
        testimony_id=t.testimony_id,
        case_id=t.case_id,
        language="ko",
        interview_date=t.interview_date,
        fields={name: [blind(name, term) for term in analyze_terms(text)] for name, text in texts.items()},
        categories=t.categories,
        places=t.places,
        facilities=t.facilities,
        institutions=t.institutions,
        involvements=t.involvements,
        consent_scopes=t.consent_scopes,
        years=t.years,
        date_start=t.date_start,
        date_end=t.date_end,
    )


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


_TICKS = os.sysconf("SC_CLK_TCK")


def pg_backend_cpu(dbname: str) -> float:
    """CPU seconds of the PostgreSQL backends serving ``dbname`` (read from /proc)."""
    total = 0.0
    needle = f" {dbname} ".encode()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                cmd = handle.read().replace(b"\0", b" ")
            if not cmd.startswith(b"postgres:") or needle not in cmd + b" ":
                continue
            with open(f"/proc/{entry.name}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / _TICKS
        except (FileNotFoundError, ProcessLookupError, PermissionError, IndexError):
            continue
    return total


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


@dataclass
class Meter:
    """Wall, own CPU, children CPU (forked Whoosh workers) and PostgreSQL backend CPU."""

    dbname: str | None = None
    wall: float = 0.0
    cpu: float = 0.0
    children: float = 0.0
    server: float = 0.0
    peak_rss_mb: float = 0.0
    rss_before_mb: float = 0.0

    def __enter__(self) -> Meter:
        gc.collect()
        with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")  # reset VmHWM: the peak below is this phase's own
        self.rss_before_mb = _status_kb("VmRSS:") / 1024
        self._w, self._c, self._k = time.perf_counter(), time.process_time(), _children_cpu()
        self._s = pg_backend_cpu(self.dbname) if self.dbname else 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._w
        self.cpu = time.process_time() - self._c
        self.children = _children_cpu() - self._k
        self.server = (pg_backend_cpu(self.dbname) - self._s) if self.dbname else 0.0
        self.peak_rss_mb = _status_kb("VmHWM:") / 1024

    def result(self, docs: int) -> dict[str, Any]:
        total_cpu = self.cpu + self.children + self.server
        return {
            "docs": docs,
            "wall_s": round(self.wall, 2),
            "client_cpu_s": round(self.cpu, 2),
            "worker_cpu_s": round(self.children, 2),
            "server_cpu_s": round(self.server, 2),
            "docs_per_s": round(docs / self.wall, 1),
            "docs_per_cpu_s": round(docs / total_cpu, 1) if total_cpu else None,
            "rss_before_mb": round(self.rss_before_mb),
            "peak_rss_mb": round(self.peak_rss_mb),
        }


class System:
    name = "?"

    def ingest(self, docs: list[Testimony]) -> dict[str, Any]:
        raise NotImplementedError

    def size_bytes(self) -> int:
        raise NotImplementedError

    def search(self, spec: QuerySpec) -> int:
        """Run one query; returns the total number of matches."""
        raise NotImplementedError

    def close(self) -> None:
        pass


def _custodia_filters(spec: QuerySpec, corpus: Corpus) -> SearchFilters:
    return SearchFilters(
        case_ids=frozenset(range(1, CASES + 1)),
        categories=frozenset(corpus.descendants(spec.category)) if spec.category else frozenset(),
        date_from=spec.date_from,
        date_to=spec.date_to,
    )


class CustodiaWhoosh(System):
    def __init__(self, workdir: Path, key: bytes, corpus: Corpus, procs: int) -> None:
        from service.search.whoosh_index import WhooshSearchIndex

        self.name = "custodia-whoosh" if procs == 1 else f"custodia-whoosh-p{procs}"
        self.path = workdir / self.name
        self.index = WhooshSearchIndex(self.path)
        self.key = key
        self.corpus = corpus
        self.procs = procs
        self.tokenizer = BlindTokenizer(key)

    def ingest(self, docs: list[Testimony]) -> dict[str, Any]:
        clear_analysis_cache()
        self.tokenizer = BlindTokenizer(self.key)
        blind = self.tokenizer.token
        with Meter() as meter:
            self.index.bulk_upsert((build_document(t, blind) for t in docs), procs=self.procs)
        out = meter.result(len(docs))
        out["hmac_cache"] = self.tokenizer.cache_stats()._asdict()
        return out

    def size_bytes(self) -> int:
        return dir_bytes(self.path)

    def search(self, spec: QuerySpec) -> int:
        node = parse_query(spec.custodia_text(), self.tokenizer.token)
        page = self.index.search(node, _custodia_filters(spec, self.corpus), limit=20)
        return page.total

    def close(self) -> None:
        self.index.close()


PROTOTYPES = ("topk", "phrase", "topk+phrase")


class CustodiaWhooshProto(CustodiaWhoosh):
    """PROTOTYPES (bench only, not service code) of ``WhooshSearchIndex.search`` changes,
    opened read-only on the index of an existing ``custodia-whoosh`` system:

    * ``topk``: score only the top ``offset + limit`` hits (Whoosh's TopCollector with
      block-quality skipping) and take the total and facet counts from the *unscored*
      match set (``searcher.docs_for_query`` AND the allowed bitmap); pass no filter when
      the allowed set is every live document. Queries with a multi-token phrase keep the
      stock path (a phrase would otherwise be evaluated twice).
    * ``phrase``: a phrase of blind tokens is matched by intersecting position *sets*
      (``{p - i}`` per token, C set operations) instead of Whoosh's SpanNear2 span
      objects; same documents, same spans, same scores.
    """

    def __init__(self, base: CustodiaWhoosh, variant: str) -> None:
        self.name = f"custodia-whoosh-{variant}"
        self.base = base
        self.path = base.path
        self.corpus = base.corpus
        self.index = _proto_index(base.path, topk="topk" in variant, fast_phrase="phrase" in variant)

    @property  # type: ignore[override]
    def tokenizer(self) -> BlindTokenizer:
        return self.base.tokenizer

    @tokenizer.setter
    def tokenizer(self, value: BlindTokenizer) -> None:  # pragma: no cover - unused
        pass

    def ingest(self, docs: list[Testimony]) -> dict[str, Any]:  # pragma: no cover
        raise RuntimeError("query-only prototype")


def _proto_index(path: Path, *, topk: bool, fast_phrase: bool) -> Any:
    from whoosh import matching
    from whoosh import query as wq
    from whoosh.query.spans import Span, SpanNear2

    from service.search import whoosh_index as wi
    from service.search.interfaces import And, Not, Or, Phrase

    class ExactPhraseMatcher(SpanNear2.SpanNear2Matcher):  # type: ignore[misc,name-defined]
        def _get_spans(self):  # type: ignore[no-untyped-def]
            ms = self.ms
            starts = set(ms[0].value_as("positions"))
            for i in range(1, len(ms)):
                starts.intersection_update([p - i for p in ms[i].value_as("positions")])
                if not starts:
                    return []
            n = len(ms) - 1
            return [Span(p, p + n) for p in sorted(starts)]

    class ExactPhrase(wq.Phrase):  # type: ignore[misc]
        def matcher(self, searcher, context=None):  # type: ignore[no-untyped-def]
            field = searcher.schema[self.fieldname]
            reader = searcher.reader()
            terms = []
            for word in self.words:
                word = field.to_bytes(word)
                if (self.fieldname, word) not in reader:
                    return matching.NullMatcher()
                terms.append(wq.Term(self.fieldname, word))
            return ExactPhraseMatcher([t.matcher(searcher, context) for t in terms])

    def compile_query(node: Any) -> Any:
        if not fast_phrase:
            return wi.compile_query(node)
        if isinstance(node, Phrase):
            tokens = wi._checked_tokens(node.tokens)
            if len(tokens) == 1:
                return wq.Term(node.field, tokens[0])
            return ExactPhrase(node.field, tokens, slop=1)
        if isinstance(node, And | Or):
            children = [compile_query(child) for child in node.children]
            return wq.And(children) if isinstance(node, And) else wq.Or(children)
        if isinstance(node, Not):
            return wq.Not(compile_query(node.child))
        raise ValueError(node)

    class ProtoWhooshIndex(wi.WhooshSearchIndex):
        def search(self, query, filters, *, sort="relevance", offset=0, limit=20):  # type: ignore[no-untyped-def]
            if query is None or sort != "relevance":
                return super().search(query, filters, sort=sort, offset=offset, limit=limit)
            compiled = compile_query(query)
            use_topk = topk and not _has_long_phrase(query)
            if not filters.case_ids:
                return wi.SearchPage(total=0, hits=[], facets=wi._empty_facets())
            with self._searchers.searcher() as searcher:
                if searcher.doc_count() == 0:
                    return wi.SearchPage(total=0, hits=[], facets=wi._empty_facets())
                leaves = [(self._segment(leaf), base) for leaf, base in wi._leaves(searcher)]
                allowed = 0
                for segment, base in leaves:
                    allowed |= segment.allowed(filters) << base
                if not allowed:
                    return wi.SearchPage(total=0, hits=[], facets=wi._empty_facets())
                size = searcher.doc_count_all()
                if use_topk:
                    everything = searcher.doc_count() == size and allowed.bit_count() == size
                    options: dict[str, Any] = {"limit": offset + limit}
                    if not everything:
                        options["filter"] = wi._AllowedDocs(allowed, size)
                    results = searcher.search(compiled, **options)
                    matched = wi._bitmap(searcher.docs_for_query(compiled), size) & allowed
                else:
                    results = searcher.search(
                        compiled, limit=None, filter=wi._AllowedDocs(allowed, size)
                    )
                    matched = wi._bitmap(results.docs(), size)
                hits = [
                    wi.ScoredHit(testimony_id=str(hit["testimony_id"]), score=float(hit.score))
                    for hit in results[offset : offset + limit]
                ]
                facets = wi._facet_counts(leaves, matched)
            return wi.SearchPage(total=matched.bit_count(), hits=hits, facets=facets)

    return ProtoWhooshIndex(path)


def _has_long_phrase(node: Any) -> bool:
    from service.search.interfaces import Not, Phrase

    if isinstance(node, Phrase):
        return len(node.tokens) > 1
    if isinstance(node, Not):
        return _has_long_phrase(node.child)
    return any(_has_long_phrase(child) for child in node.children)


class CustodiaPostgres(System):
    name = "custodia-pg"

    def __init__(self, key: bytes, corpus: Corpus, batch: int = 200) -> None:
        import psycopg
        from sqlalchemy import create_engine

        from service.db.migrate import upgrade_to_head
        from service.search.postgres_index import PostgresSearchIndex

        self.dbname = f"custodia_searchbench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{self.dbname}"')
        self.dsn = PG_ADMIN_DSN.rsplit("/", 1)[0] + "/" + self.dbname
        url = self.dsn.replace("postgresql://", "postgresql+psycopg://")
        upgrade_to_head(url)
        self.engine = create_engine(url, pool_size=2)
        self.index = PostgresSearchIndex(self.engine)
        self.key, self.corpus, self.batch = key, corpus, batch
        self.tokenizer = BlindTokenizer(key)

    def ingest(self, docs: list[Testimony]) -> dict[str, Any]:
        import psycopg

        clear_analysis_cache()
        self.tokenizer = BlindTokenizer(self.key)
        blind = self.tokenizer.token
        with self.engine.connect():  # warm the pool: connection set-up is not ingest
            pass
        with Meter(self.dbname) as meter:
            for start in range(0, len(docs), self.batch):
                self.index.upsert([build_document(t, blind) for t in docs[start : start + self.batch]])
        out = meter.result(len(docs))
        started = time.perf_counter()
        with psycopg.connect(self.dsn, autocommit=True) as connection:
            connection.execute("VACUUM ANALYZE search_documents")
        out["vacuum_analyze_s"] = round(time.perf_counter() - started, 2)
        return out

    def size_bytes(self) -> int:
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as connection:
            row = connection.execute("SELECT pg_total_relation_size('search_documents')").fetchone()
        return int(row[0]) if row else 0

    def search(self, spec: QuerySpec) -> int:
        node = parse_query(spec.custodia_text(), self.tokenizer.token)
        return self.index.search(node, _custodia_filters(spec, self.corpus), limit=20).total

    def close(self) -> None:
        import psycopg

        self.engine.dispose()
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')


class CustodiaPostgresDateSort(System):
    """Query-only view of a ``custodia-pg`` system with ``sort="date"``: the same statement
    without ``ts_rank_cd`` over every match, to show what relevance ranking costs."""

    name = "custodia-pg-datesort"

    def __init__(self, base: CustodiaPostgres) -> None:
        self.base = base

    def search(self, spec: QuerySpec) -> int:
        node = parse_query(spec.custodia_text(), self.base.tokenizer.token)
        filters = _custodia_filters(spec, self.base.corpus)
        return self.base.index.search(node, filters, sort="date", limit=20).total


class CustodiaWhooshUpsert200(CustodiaWhoosh):
    """Stock service path of ``SearchIndexer.rebuild``: ``upsert`` per batch of 200 (one
    durable Whoosh commit each), instead of one ``bulk_upsert``. Ingest only."""

    def __init__(self, workdir: Path, key: bytes, corpus: Corpus) -> None:
        super().__init__(workdir / "upsert200", key, corpus, 1)
        self.name = "custodia-whoosh-upsert200"

    def ingest(self, docs: list[Testimony]) -> dict[str, Any]:
        clear_analysis_cache()
        self.tokenizer = BlindTokenizer(self.key)
        blind = self.tokenizer.token
        with Meter() as meter:
            for start in range(0, len(docs), 200):
                self.index.upsert([build_document(t, blind) for t in docs[start : start + 200]])
        return meter.result(len(docs))


def _pg_row_dict(t: Testimony, blind: Callable[[str, str], str]) -> dict[str, Any]:
    from service.search import postgres_index as pi

    return pi._row(build_document(t, blind), pi.TSVECTOR_LIMIT)


_WORKER: dict[str, Any] = {}


def _pg_worker_init(key: bytes, columns: list[str]) -> None:
    clear_analysis_cache()
    _WORKER["blind"] = BlindTokenizer(key).token
    _WORKER["columns"] = columns


def _pg_worker_row(t: Testimony) -> list[Any]:
    row = _pg_row_dict(t, _WORKER["blind"])
    return [row[c] for c in _WORKER["columns"]]


class CustodiaWhooshLimit(CustodiaWhoosh):
    """``bulk_upsert(procs=1)`` with a larger Whoosh posting pool (``limitmb``, a constructor
    argument of ``WhooshSearchIndex``): postings stay in memory instead of being pickled
    to sorted run files and merged back. Ingest only."""

    def __init__(self, workdir: Path, key: bytes, corpus: Corpus, limitmb: int) -> None:
        from service.search.whoosh_index import WhooshSearchIndex

        super().__init__(workdir / f"limit{limitmb}", key, corpus, 1)
        self.index.close()
        self.index = WhooshSearchIndex(self.path, limitmb=limitmb)
        self.name = f"custodia-whoosh-limit{limitmb // 1024}g"


class CustodiaPostgresCopy(CustodiaPostgres):
    """PROTOTYPE (bench only) of a bulk path for ``rebuild`` on PostgreSQL: the same rows as
    ``PostgresSearchIndex.upsert`` (``postgres_index._row``: analysis + HMAC + tsvector
    literal) streamed with one ``COPY`` in one transaction instead of
    ``INSERT ... ON CONFLICT`` batches; with ``reindex`` the tokens GIN index is dropped
    first and built once at the end (same transaction)."""

    def __init__(self, key: bytes, corpus: Corpus, reindex: bool, procs: int = 1) -> None:
        super().__init__(key, corpus)
        self.reindex = reindex
        self.procs = procs
        self.name = "custodia-pg-copy-reindex" if reindex else "custodia-pg-copy"
        if procs > 1:
            self.name += f"-par{procs}"

    def _rows(self, docs: list[Testimony], columns: list[str]) -> Iterator[list[Any]]:
        """Rows built here, or (procs > 1) in forked workers that derive their own tokenizer."""
        if self.procs == 1:
            blind = self.tokenizer.token
            for t in docs:
                row = _pg_row_dict(t, blind)
                yield [row[c] for c in columns]
            return
        import multiprocessing

        pool = multiprocessing.get_context("fork").Pool(
            self.procs, initializer=_pg_worker_init, initargs=(self.key, columns)
        )
        try:
            yield from pool.imap(_pg_worker_row, docs, chunksize=25)
        finally:
            pool.close()
            pool.join()

    def ingest(self, docs: list[Testimony]) -> dict[str, Any]:
        import psycopg

        from service.search import postgres_index as pi

        clear_analysis_cache()
        self.tokenizer = BlindTokenizer(self.key)
        columns = [c.name for c in pi._table.c]
        with psycopg.connect(self.dsn) as connection, Meter(self.dbname) as meter:
            with connection.transaction():
                if self.reindex:
                    connection.execute("DROP INDEX ix_search_documents_tokens")
                with connection.cursor() as cursor:
                    with cursor.copy(f"COPY search_documents ({', '.join(columns)}) FROM STDIN") as copy:
                        for values in self._rows(docs, columns):
                            copy.write_row(values)
                if self.reindex:
                    connection.execute(
                        "CREATE INDEX ix_search_documents_tokens ON search_documents USING gin (tokens)"
                    )
        out = meter.result(len(docs))
        started = time.perf_counter()
        with psycopg.connect(self.dsn, autocommit=True) as connection:
            connection.execute("VACUUM ANALYZE search_documents")
        out["vacuum_analyze_s"] = round(time.perf_counter() - started, 2)
        return out


_PLAIN_FACETS = {
    "category": "categories", "place": "places", "facility": "facilities",
    "institution": "institutions", "involvement": "involvements", "language": "language",
    "case": "case_id", "consent_scope": "consent_scopes", "year": "years",
}


def _plain_values(t: Testimony) -> dict[str, Any]:
    return {
        "testimony_id": t.testimony_id,
        "case_id": str(t.case_id),
        "language": "ko",
        "interview_date": t.interview_date.toordinal(),
        "date_start": t.date_start.toordinal(),
        "date_end": t.date_end.toordinal(),
        "categories": sorted(t.categories),
        "places": sorted(t.places),
        "facilities": sorted(t.facilities),
        "institutions": sorted(t.institutions),
        "involvements": sorted(t.involvements),
        "consent_scopes": sorted(t.consent_scopes),
        "years": [str(y) for y in sorted(t.years)],
        "narrative": t.narrative,
        "translation": t.translation,
        "description": t.description,
    }


class PlainWhoosh(System):
    """Plaintext Whoosh: StandardAnalyzer text fields, the same keyword/numeric facet fields."""

    def __init__(self, workdir: Path, corpus: Corpus, procs: int) -> None:
        from whoosh import fields as wf
        from whoosh.analysis import StandardAnalyzer
        from whoosh.filedb.filestore import FileStorage

        self.name = "plain-whoosh" if procs == 1 else f"plain-whoosh-p{procs}"
        self.path = workdir / self.name
        self.path.mkdir(mode=0o700, parents=True)

        def keyword() -> Any:
            return wf.KEYWORD(lowercase=False, commas=False, scorable=False)

        schema_fields: dict[str, Any] = {
            "testimony_id": wf.ID(unique=True, stored=True),
            "case_id": wf.ID(),
            "language": wf.ID(),
            "years": keyword(),
            "date_start": wf.NUMERIC(int, bits=32, sortable=True),
            "date_end": wf.NUMERIC(int, bits=32, sortable=True),
            "interview_date": wf.NUMERIC(int, bits=32, sortable=True),
        }
        for name in ("categories", "places", "facilities", "institutions", "involvements", "consent_scopes"):
            schema_fields[name] = keyword()
        self.analyzer = StandardAnalyzer()
        for name in TEXT_FIELDS:
            schema_fields[name] = wf.TEXT(analyzer=self.analyzer, phrase=True)
        self.ix = FileStorage(str(self.path)).create_index(wf.Schema(**schema_fields))
        self.corpus, self.procs = corpus, procs
        self._searcher: Any = None

    def ingest(self, docs: list[Testimony]) -> dict[str, Any]:
        options: dict[str, Any] = {"limitmb": 256}
        if self.procs > 1:
            options.update(procs=self.procs, multisegment=True)
        with Meter() as meter:
            writer = self.ix.writer(**options)
            for t in docs:
                writer.add_document(**_plain_values(t))
            writer.commit()
        return meter.result(len(docs))

    def size_bytes(self) -> int:
        return dir_bytes(self.path)

    def _unit(self, text: str) -> Any:
        from whoosh import query as wq

        words = [tok.text for tok in self.analyzer(text)]
        if not words:
            return None
        per_field = [
            wq.Term(f, words[0]) if len(words) == 1 else wq.Phrase(f, words) for f in TEXT_FIELDS
        ]
        return wq.Or(per_field)

    def search(self, spec: QuerySpec) -> int:
        from whoosh import query as wq
        from whoosh import sorting

        if self._searcher is None:
            self._searcher = self.ix.searcher()
        units = [u for u in (self._unit(text) for text in spec.units) if u is not None]
        q = units[0] if len(units) == 1 else wq.And(units)
        options: dict[str, Any] = {"limit": 20}
        if spec.category:
            cats = wq.Or([wq.Term("categories", c) for c in sorted(self.corpus.descendants(spec.category))])
            options["filter"] = wq.And([
                cats,
                wq.NumericRange("date_end", spec.date_from.toordinal(), None),
                wq.NumericRange("date_start", None, spec.date_to.toordinal()),
            ])
        if spec.facets:
            options["groupedby"] = {
                name: sorting.FieldFacet(fieldname, allow_overlap=True, maptype=sorting.Count)
                for name, fieldname in _PLAIN_FACETS.items()
            }
        results = self._searcher.search(q, **options)
        _ids = [hit["testimony_id"] for hit in results]
        if spec.facets:
            _facets = {name: results.groups(name) for name in _PLAIN_FACETS}
        return len(results)

    def close(self) -> None:
        if self._searcher is not None:
            self._searcher.close()
        self.ix.close()


class Fts5(System):
    """Plaintext SQLite FTS5 (unicode61, contentless) + metadata and facet side tables."""

    name = "fts5"

    def __init__(self, workdir: Path, corpus: Corpus) -> None:
        self.path = workdir / "fts5.db"
        self.db = sqlite3.connect(self.path)
        self.db.executescript(
            """
            PRAGMA journal_mode=WAL;
            PRAGMA synchronous=NORMAL;
            CREATE VIRTUAL TABLE fts USING fts5(
                narrative, translation, description, content='', tokenize='unicode61');
            CREATE TABLE docs (id INTEGER PRIMARY KEY, testimony_id TEXT, case_id INTEGER,
                language TEXT, date_start INTEGER, date_end INTEGER);
            CREATE TABLE facets (doc INTEGER, facet TEXT, value TEXT);
            CREATE INDEX facets_doc ON facets (doc);
            CREATE INDEX facets_value ON facets (facet, value);
            """
        )
        self.corpus = corpus

    def ingest(self, docs: list[Testimony]) -> dict[str, Any]:
        with Meter() as meter:
            for start in range(0, len(docs), 1000):
                with self.db:
                    for rowid, t in enumerate(docs[start : start + 1000], start=start + 1):
                        self.db.execute(
                            "INSERT INTO docs VALUES (?, ?, ?, ?, ?, ?)",
                            (rowid, t.testimony_id, t.case_id, "ko",
                             t.date_start.toordinal(), t.date_end.toordinal()),
                        )
                        self.db.execute(
                            "INSERT INTO fts (rowid, narrative, translation, description) "
                            "VALUES (?, ?, ?, ?)",
                            (rowid, t.narrative, t.translation, t.description),
                        )
                        rows = [(rowid, "case", str(t.case_id)), (rowid, "language", "ko")]
                        for facet, attr in (("category", "categories"), ("place", "places"),
                                            ("facility", "facilities"), ("institution", "institutions"),
                                            ("involvement", "involvements"), ("consent_scope", "consent_scopes")):
                            rows += [(rowid, facet, v) for v in getattr(t, attr)]
                        rows += [(rowid, "year", str(y)) for y in t.years]
                        self.db.executemany("INSERT INTO facets VALUES (?, ?, ?)", rows)
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.db.execute("ANALYZE")
        return meter.result(len(docs))

    def size_bytes(self) -> int:
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return self.path.stat().st_size

    def fts_bytes(self) -> int | None:
        try:
            row = self.db.execute(
                "SELECT SUM(pgsize) FROM dbstat WHERE name LIKE 'fts%'"
            ).fetchone()
            return int(row[0])
        except sqlite3.Error:
            return None

    @staticmethod
    def _match(spec: QuerySpec) -> str:
        def quote(text: str) -> str:
            return '"' + text.replace('"', '""') + '"'

        return " AND ".join(quote(u) for u in spec.units)

    def search(self, spec: QuerySpec) -> int:
        match = self._match(spec)
        db = self.db
        if spec.category:
            cats = sorted(self.corpus.descendants(spec.category))
            marks = ",".join("?" * len(cats))
            where = (
                "fts MATCH ? AND docs.date_end >= ? AND docs.date_start <= ? AND EXISTS "
                f"(SELECT 1 FROM facets f WHERE f.doc = docs.id AND f.facet = 'category' "
                f"AND f.value IN ({marks}))"
            )
            params: list[Any] = [match, spec.date_from.toordinal(), spec.date_to.toordinal(), *cats]
            base = f"FROM fts JOIN docs ON docs.id = fts.rowid WHERE {where}"
            ids = db.execute(f"SELECT docs.testimony_id {base} ORDER BY fts.rank LIMIT 20", params).fetchall()
            total = db.execute(f"SELECT count(*) {base}", params).fetchone()[0]
            return int(total)
        rows = db.execute(
            "SELECT docs.testimony_id FROM (SELECT rowid FROM fts WHERE fts MATCH ? "
            "ORDER BY rank LIMIT 20) m JOIN docs ON docs.id = m.rowid",
            (match,),
        ).fetchall()
        total = db.execute("SELECT count(*) FROM fts WHERE fts MATCH ?", (match,)).fetchone()[0]
        if spec.facets:
            db.execute(
                "SELECT f.facet, f.value, count(*) FROM (SELECT rowid FROM fts WHERE fts MATCH ?) m "
                "JOIN facets f ON f.doc = m.rowid GROUP BY f.facet, f.value",
                (match,),
            ).fetchall()
        del rows
        return int(total)

    def close(self) -> None:
        self.db.close()


# ---- measuring -------------------------------------------------------------------------------


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * pct / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def machine_info() -> dict[str, Any]:
    import sqlalchemy
    import whoosh

    mem = 0
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1])
    cpu = "?"
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    pg = "?"
    with contextlib.suppress(Exception):
        import psycopg

        with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5) as c:
            pg = str(c.execute("SHOW server_version").fetchone()[0])
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gib": round(mem / 1024 / 1024, 1),
        "python": platform.python_version(),
        "whoosh": whoosh.versionstring(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": pg,
        "sqlalchemy": sqlalchemy.__version__,
        "loadavg": os.getloadavg(),
        "cpu_pressure": _pressure(),
    }


def _pressure() -> str:
    try:
        with open("/proc/pressure/cpu") as handle:
            return handle.readline().strip()
    except OSError:
        return "n/a"


def corpus_stats(docs: list[Testimony]) -> dict[str, Any]:
    sample = docs[: min(len(docs), 500)]
    words = [len(t.narrative.split()) + len(t.translation.split()) + len(t.description.split()) for t in sample]
    chars = [len(t.narrative) + len(t.translation) + len(t.description) for t in sample]
    utf8 = [len((t.narrative + t.translation + t.description).encode()) for t in sample]
    terms = [len(analyze_terms(t.narrative)) + len(analyze_terms(t.translation)) + len(analyze_terms(t.description)) for t in sample]
    return {
        "words_per_doc_mean": round(statistics.mean(words)),
        "chars_per_doc_mean": round(statistics.mean(chars)),
        "utf8_bytes_per_doc_mean": round(statistics.mean(utf8)),
        "custodia_terms_per_doc_mean": round(statistics.mean(terms)),
        "example_narrative": sample[0].narrative[:200],
        "example_translation": sample[0].translation[:200],
        "example_description": sample[0].description[:200],
    }


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run_queries(
    systems: list[System], queries: dict[str, list[QuerySpec]], rounds: int, warmup: int
) -> dict[str, Any]:
    """Interleaved: each query on every system (rotating order); p50/p95 per round."""
    for kind, specs in queries.items():
        for spec in specs[:warmup]:
            for system in systems:
                system.search(spec)
    raw: dict[str, dict[str, list[list[float]]]] = {
        s.name: {k: [] for k in queries} for s in systems
    }
    totals: dict[str, dict[str, list[int]]] = {s.name: {k: [] for k in queries} for s in systems}
    rotation = 0
    for r in range(rounds):
        for kind, specs in queries.items():
            per_system: dict[str, list[float]] = {s.name: [] for s in systems}
            started = time.perf_counter()
            for spec in specs:
                rotation += 1
                order = systems[rotation % len(systems):] + systems[: rotation % len(systems)]
                for system in order:
                    t0 = time.perf_counter()
                    total = system.search(spec)
                    per_system[system.name].append((time.perf_counter() - t0) * 1000)
                    if r == 0:
                        totals[system.name][kind].append(total)
            for name, values in per_system.items():
                raw[name][kind].append(values)
            log(f"  round {r + 1} {kind}: {time.perf_counter() - started:.1f} s")
    out: dict[str, Any] = {}
    for name, kinds in raw.items():
        out[name] = {}
        for kind, per_round in kinds.items():
            p50s = [percentile(v, 50) for v in per_round]
            p95s = [percentile(v, 95) for v in per_round]
            out[name][kind] = {
                "p50_ms": round(statistics.median(p50s), 2),
                "p95_ms": round(statistics.median(p95s), 2),
                "p50_ms_rounds": [round(x, 2) for x in p50s],
                "p95_ms_rounds": [round(x, 2) for x in p95s],
                "max_ms": round(max(max(v) for v in per_round), 1),
                "matches_median": statistics.median(totals[name][kind]),
                "matches_total": sum(totals[name][kind]),
            }
    # Same blind query on both Custodia backends must find the same documents.
    for other in ("custodia-pg", "custodia-pg-datesort", "custodia-whoosh-topk", "custodia-whoosh-phrase", "custodia-whoosh-topk+phrase"):
        if "custodia-whoosh" in totals and other in totals:
            out[f"_total_mismatches_vs_{other}"] = {
                kind: sum(a != b for a, b in zip(totals["custodia-whoosh"][kind], totals[other][kind], strict=True))
                for kind in queries
            }
    return out


# ---- profiles --------------------------------------------------------------------------------


def _inclusive(stats: pstats.Stats, member: Callable[[tuple[str, int, str]], bool]) -> float:
    """Time inside a set of functions, each call chain counted once (edges entering the set)."""
    total = 0.0
    for func, (_cc, _nc, _tt, _ct, callers) in stats.stats.items():  # type: ignore[attr-defined]
        if member(func):
            for caller, edge in callers.items():
                if not member(caller):
                    total += edge[3]
    return total


def _top(stats: pstats.Stats, n: int = 20) -> list[dict[str, Any]]:
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:n]  # type: ignore[attr-defined]
    out = []
    for (filename, line, name), (_cc, nc, tt, ct, _) in rows:
        short = filename.split("site-packages/")[-1].replace(str(REPO) + "/", "")
        out.append({"function": f"{short}:{line}({name})", "calls": nc, "tottime_s": round(tt, 3), "cumtime_s": round(ct, 3)})
    return out


def profile_ingest(docs: list[Testimony], workdir: Path, key: bytes, corpus: Corpus) -> dict[str, Any]:
    """cProfile of Custodia Whoosh bulk_upsert(procs=1) and of the PostgreSQL client side."""
    out: dict[str, Any] = {}
    system = CustodiaWhoosh(workdir / "profile", key, corpus, 1)
    profiler = cProfile.Profile()
    profiler.enable()
    system.ingest(docs)
    profiler.disable()
    system.close()
    stats = pstats.Stats(profiler, stream=io.StringIO())
    total = stats.total_tt  # type: ignore[attr-defined]
    DEFAULT_OUT.mkdir(parents=True, exist_ok=True)
    prof_path = DEFAULT_OUT / f"search-ingest-whoosh-{len(docs)}.prof"
    stats.dump_stats(prof_path)

    def in_file(part: str) -> Callable[[tuple[str, int, str]], bool]:
        return lambda f: part in f[0]

    groups = {
        "analysis (service/search/analysis.py)": in_file("service/search/analysis.py"),
        "HMAC blinding (blind.py + hmac)": lambda f: "service/search/blind.py" in f[0] or f[0].endswith("/hmac.py") or "_hashlib" in f[2] or "lru_cache" in f[2],
        "token validation (_checked_tokens regex)": lambda f: f[2] == "_checked_tokens",
        "Whoosh add_document (postings in memory)": lambda f: f[2] == "add_document" and "whoosh" in f[0],
        "Whoosh commit (sort runs, write segment)": lambda f: f[2] == "commit" and "whoosh" in f[0],
        "delete_by_term (per-document id lookup)": lambda f: f[2] == "delete_by_term",
    }
    out["whoosh_procs1"] = {
        "docs": len(docs),
        "profile_total_s": round(total, 2),
        "groups_s": {name: round(_inclusive(stats, m), 2) for name, m in groups.items()},
        "top_tottime": _top(stats),
        "prof_file": str(prof_path),
    }

    # The baseline's split, to see what a blind index can save at best.
    plain = PlainWhoosh(workdir, corpus, 1)
    profiler = cProfile.Profile()
    profiler.enable()
    plain.ingest(docs)
    profiler.disable()
    plain.close()
    stats = pstats.Stats(profiler, stream=io.StringIO())
    plain_groups = {
        "Whoosh analyzer (StandardAnalyzer chain)": in_file("whoosh/analysis/"),
        "Whoosh add_document (postings in memory)": lambda f: f[2] == "add_document" and "whoosh" in f[0],
        "Whoosh commit (sort runs, write segment)": lambda f: f[2] == "commit" and "whoosh" in f[0],
    }
    out["plain_whoosh_procs1"] = {
        "docs": len(docs),
        "profile_total_s": round(stats.total_tt, 2),  # type: ignore[attr-defined]
        "groups_s": {name: round(_inclusive(stats, m), 2) for name, m in plain_groups.items()},
        "top_tottime": _top(stats, 10),
    }

    # PostgreSQL: client side under cProfile, server CPU from /proc.
    with contextlib.suppress(Exception):
        pg = CustodiaPostgres(key, corpus)
        try:
            profiler = cProfile.Profile()
            profiler.enable()
            measured = pg.ingest(docs)
            profiler.disable()
            stats = pstats.Stats(profiler, stream=io.StringIO())
            pg_groups = {
                "analysis (service/search/analysis.py)": in_file("service/search/analysis.py"),
                "HMAC blinding (blind.py + hmac)": groups["HMAC blinding (blind.py + hmac)"],
                "encode_tokens (tsvector literal)": lambda f: f[2] == "encode_tokens",
                "SQLAlchemy/psycopg execute (incl. waiting for the server)": lambda f: f[2] == "execute" and "sqlalchemy/engine/base.py" in f[0],
                "VACUUM ANALYZE": lambda f: False,
            }
            out["postgres"] = {
                "docs": len(docs),
                "measured": measured,
                "profile_total_s": round(stats.total_tt, 2),  # type: ignore[attr-defined]
                "groups_s": {name: round(_inclusive(stats, m), 2) for name, m in pg_groups.items()},
                "top_tottime": _top(stats, 10),
            }
        finally:
            pg.close()
    return out


def profile_queries(system: System, queries: dict[str, list[QuerySpec]], n: int) -> dict[str, Any]:
    """cProfile of n queries per type against a Custodia Whoosh index (where the ms go)."""
    groups = {
        "parse_query (analysis + HMAC)": lambda f: f[2] == "parse_query",
        "Segment.allowed (filters -> bitmap)": lambda f: f[2] == "allowed" and "whoosh_index" in f[0],
        "whoosh searcher.search (match + score every hit, limit=None)": lambda f: f[2] == "search" and "whoosh/searching" in f[0],
        "  of which scoring (BM25F score)": lambda f: f[2] in ("score", "_score") and "whoosh/" in f[0],
        "  of which _AllowedDocs.__contains__ (filter)": lambda f: f[2] == "__contains__" and "whoosh_index" in f[0],
        "  of which phrase spans": lambda f: "whoosh/query/spans.py" in f[0] or "spans" in f[2],
        "results.docs() + _bitmap(matched)": lambda f: f[2] in ("docs", "_bitmap"),
        "_facet_counts": lambda f: f[2] == "_facet_counts",
        "hits page (stored fields)": lambda f: f[2] == "<listcomp>" and "whoosh_index" in f[0],
    }
    out: dict[str, Any] = {}
    for kind, specs in queries.items():
        profiler = cProfile.Profile()
        profiler.enable()
        for spec in specs[:n]:
            system.search(spec)
        profiler.disable()
        stats = pstats.Stats(profiler, stream=io.StringIO())
        total = stats.total_tt  # type: ignore[attr-defined]
        out[kind] = {
            "queries": min(n, len(specs)),
            "profile_total_s": round(total, 3),
            "groups_share": {name: round(_inclusive(stats, m) / total, 3) for name, m in groups.items()},
            "top_tottime": _top(stats, 8),
        }
    return out


# ---- main ------------------------------------------------------------------------------------


def make_system(name: str, workdir: Path, key: bytes, corpus: Corpus) -> System:
    if name == "custodia-whoosh":
        return CustodiaWhoosh(workdir, key, corpus, 1)
    if name == "custodia-whoosh-p2":
        return CustodiaWhoosh(workdir, key, corpus, 2)
    if name == "custodia-pg":
        return CustodiaPostgres(key, corpus)
    if name == "plain-whoosh":
        return PlainWhoosh(workdir, corpus, 1)
    if name == "plain-whoosh-p2":
        return PlainWhoosh(workdir, corpus, 2)
    if name == "fts5":
        return Fts5(workdir, corpus)
    if name == "custodia-whoosh-limit2g":
        return CustodiaWhooshLimit(workdir, key, corpus, 2048)
    if name == "custodia-whoosh-upsert200":
        return CustodiaWhooshUpsert200(workdir, key, corpus)
    if name in ("custodia-pg-copy", "custodia-pg-copy-reindex"):
        return CustodiaPostgresCopy(key, corpus, reindex=name.endswith("reindex"))
    if name == "custodia-pg-copy-par2":
        return CustodiaPostgresCopy(key, corpus, reindex=False, procs=2)
    raise ValueError(name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=10000)
    parser.add_argument("--words", type=int, default=1500, help="words per testimony (all fields)")
    parser.add_argument("--queries", type=int, default=200, help="queries per type")
    parser.add_argument("--faceted-queries", type=int, default=None, help="override for the faceted type")
    parser.add_argument("--rounds", type=int, default=2, help="passes over the query set")
    parser.add_argument("--warmup", type=int, default=20, help="warm-up queries per type and system")
    parser.add_argument("--systems", default=",".join(ALL_SYSTEMS))
    parser.add_argument("--seed", type=int, default=20240611)
    parser.add_argument("--profile", choices=("none", "ingest", "queries", "both"), default="none",
                        help="also cProfile ingest (--profile-docs docs) and/or 50 queries per type")
    parser.add_argument("--profile-only", action="store_true", help="only the cProfile runs")
    parser.add_argument("--prototypes", default="",
                        help=f"comma-separated query-only variants: {PROTOTYPES} (Whoosh), pg-datesort")
    parser.add_argument("--profile-docs", type=int, default=2000)
    parser.add_argument("--no-queries", action="store_true", help="ingest and size only")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--report", nargs="*", type=Path, help="combine result files, print markdown")
    args = parser.parse_args(argv)
    if args.report:
        print(report([json.loads(p.read_text()) for p in args.report]))
        return 0

    systems_wanted = [s for s in args.systems.split(",") if s]
    for name in systems_wanted:
        if name not in ALL_SYSTEMS + EXTRA_SYSTEMS:
            parser.error(f"unknown system {name}")
    started = time.time()
    result: dict[str, Any] = {
        "command": " ".join([".venv/bin/python", "bench/search_bench.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine_info(),
        "args": {k: str(v) for k, v in vars(args).items()},
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    log(f"generating {args.docs} testimonies")
    corpus = Corpus(args.seed)
    t0 = time.perf_counter()
    docs = corpus.generate(args.docs, args.words)
    result["generate_s"] = round(time.perf_counter() - t0, 1)
    result["corpus"] = corpus_stats(docs)
    result["corpus"].update(ko_eojeol_forms=len(corpus.ko_forms), en_vocab=len(corpus.en), docs=len(docs))
    log(f"corpus ready in {result['generate_s']} s: {result['corpus']['words_per_doc_mean']} words/doc")
    queries = make_queries(corpus, docs, args.queries, args.seed)
    if args.faceted_queries is not None:
        queries["faceted"] = queries["faceted"][: args.faceted_queries]
    result["query_examples"] = {k: [v.custodia_text() for v in specs[:6]] for k, specs in queries.items()}
    key = secrets.token_bytes(32)
    workdir = Path(tempfile.mkdtemp(prefix="custodia-search-bench-"))
    os.chmod(workdir, 0o700)
    systems: list[System] = []
    try:
        if args.profile in ("ingest", "both") or args.profile_only:
            n = min(args.profile_docs, len(docs))
            log(f"profiling Custodia Whoosh ingest of {n} docs")
            result["profile_ingest"] = profile_ingest(docs[:n], workdir / "p", key, corpus)
            if args.profile_only:
                qsys = CustodiaWhoosh(workdir / "pq", key, corpus, 1)
                qsys.ingest(docs)
                for specs in queries.values():
                    for spec in specs[:10]:
                        qsys.search(spec)
                result["profile_queries"] = profile_queries(qsys, queries, 50)
                qsys.close()
        if not args.profile_only:
            result["ingest"] = {}
            result["size_bytes"] = {}
            for name in systems_wanted:
                system = make_system(name, workdir, key, corpus)
                gc.collect()
                log(f"ingest {name}")
                result["ingest"][name] = system.ingest(docs)
                result["size_bytes"][name] = system.size_bytes()
                if isinstance(system, Fts5):
                    result["size_bytes"]["fts5 (fts tables only)"] = system.fts_bytes()
                log(f"  {result['ingest'][name]}  size {result['size_bytes'][name] / 1e6:.1f} MB")
                if name in QUERY_SYSTEMS and not args.no_queries:
                    systems.append(system)
                    for variant in filter(None, args.prototypes.split(",")):
                        if isinstance(system, CustodiaWhoosh) and variant in PROTOTYPES:
                            systems.append(CustodiaWhooshProto(system, variant))
                        if isinstance(system, CustodiaPostgres) and variant == "pg-datesort":
                            systems.append(CustodiaPostgresDateSort(system))
                else:
                    system.close()
                    if isinstance(system, CustodiaWhoosh | PlainWhoosh):
                        shutil.rmtree(system.path, ignore_errors=True)
            if systems:
                log(f"queries: {sum(len(v) for v in queries.values())} x {len(systems)} systems x {args.rounds} rounds")
                result["queries"] = run_queries(systems, queries, args.rounds, args.warmup)
                if args.profile in ("queries", "both"):
                    custodia = [s for s in systems if s.name == "custodia-whoosh"]
                    if custodia:
                        result["profile_queries"] = profile_queries(custodia[0], queries, 50)
    finally:
        for system in systems:
            with contextlib.suppress(Exception):
                system.close()
        shutil.rmtree(workdir, ignore_errors=True)
    result["elapsed_s"] = round(time.time() - started, 1)
    result["machine_end"] = {"loadavg": os.getloadavg(), "cpu_pressure": _pressure()}
    out = args.json or DEFAULT_OUT / f"search-{args.docs}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n")
    log(f"wrote {out}")
    print(report([result]))
    return 0


# ---- report ----------------------------------------------------------------------------------


def _med(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def _f(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def report(results: list[dict[str, Any]]) -> str:
    """Markdown tables; with several runs of one corpus size, medians over runs."""
    lines: list[str] = []
    by_docs: dict[int, list[dict[str, Any]]] = {}
    for r in results:
        by_docs.setdefault(int(r["corpus"]["docs"]), []).append(r)
    for docs, runs in sorted(by_docs.items()):
        runs = [r for r in runs if "ingest" in r]
        if not runs:
            continue
        lines.append(f"\n### {docs:,} documents ({len(runs)} run(s); medians over runs)\n")
        names = list(dict.fromkeys(n for r in runs for n in r["ingest"]))
        lines.append("| system | docs/s (wall) | docs/CPU-s | wall s | client CPU s | workers CPU s | PG server CPU s | size MB |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        for n in names:
            rows = [r["ingest"][n] for r in runs if n in r["ingest"]]
            size = _med(r["size_bytes"].get(n) for r in runs)
            lines.append(
                f"| {n} | {_f(_med(x['docs_per_s'] for x in rows))} | {_f(_med(x['docs_per_cpu_s'] for x in rows))} "
                f"| {_f(_med(x['wall_s'] for x in rows))} | {_f(_med(x['client_cpu_s'] for x in rows))} "
                f"| {_f(_med(x['worker_cpu_s'] for x in rows))} | {_f(_med(x['server_cpu_s'] for x in rows))} "
                f"| {_f(size / 1e6 if size else None)} |"
            )
        fts_only = _med(r["size_bytes"].get("fts5 (fts tables only)") for r in runs)
        if fts_only:
            lines.append(f"\nFTS5 tables alone (dbstat): {fts_only / 1e6:.1f} MB.")
        q_runs = [r["queries"] for r in runs if "queries" in r]
        if not q_runs:
            continue
        systems = [s for s in REPORT_SYSTEMS if any(s in q for q in q_runs)]
        lines.append("\nLatency ms, p50 / p95 (median over rounds and runs); matches = median total per query:\n")
        lines.append("| query | " + " | ".join(systems) + " | Custodia-Whoosh / plain-Whoosh p95 |")
        lines.append("|---|" + "---:|" * (len(systems) + 1))
        for kind in QUERY_TYPES:
            cells = []
            for s in systems:
                p50 = _med(q[s][kind]["p50_ms"] for q in q_runs if s in q and kind in q[s])
                p95 = _med(q[s][kind]["p95_ms"] for q in q_runs if s in q and kind in q[s])
                m = _med(q[s][kind]["matches_median"] for q in q_runs if s in q and kind in q[s])
                cells.append(f"{_f(p50)} / {_f(p95)} ({_f(m, 0)})")
            ratio = _med(
                q["custodia-whoosh"][kind]["p95_ms"] / q["plain-whoosh"][kind]["p95_ms"]
                for q in q_runs if "custodia-whoosh" in q and "plain-whoosh" in q
            )
            lines.append(f"| {kind} | " + " | ".join(cells) + f" | {_f(ratio, 2)} |")
        for key in sorted({k for q in q_runs for k in q if k.startswith("_total_mismatches")}):
            lines.append(f"\n{key[1:]} (queries whose total differs from custodia-whoosh): {[q.get(key) for q in q_runs]}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
