"""The search index holds no searchable word at rest, yet search finds every word.

Canary words, fresh random letters and random Hangul syllables for every run, go into a
testimony's narrative, translation and incident description. Then every byte of the search
index is scanned for each canary word and for every form the analyser derives from it: the
English stem, the Korean word without its particle, and each Korean two-syllable piece.
That is the Whoosh index directory and, on PostgreSQL, the ``search_documents`` and
``search_outbox`` tables read back as text (also while an entry waits in the outbox). None
may appear. Searching for the canaries still finds the testimony, so the test cannot pass by
indexing nothing. Known clear metadata (the testimony id, the facility name) must be found
by the same scan, so the scan cannot pass by reading nothing either.
"""

from __future__ import annotations

import secrets
import stat
import string
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from service.context import Role
from service.search.analysis import analyze_terms
from service.search.indexer import SearchIndexer
from tests.factories import Account, Deployment, interview_record
from tests.integration.search.corpus import BACKENDS, fresh_deployment

_random = secrets.SystemRandom()
HANGUL_FIRST, HANGUL_COUNT = 0xAC00, 11172
FACILITY = "Canary control facility"


def english_word() -> tuple[str, str]:
    """A random word ending in -ings and its (different, still long) stem."""
    while True:
        base = "".join(_random.choice(string.ascii_lowercase) for _ in range(9))
        word = base + "ings"
        [stem] = analyze_terms(word)
        # The stem must itself analyse to the stem, or searching for it tests the stemmer's
        # idempotence rather than the index (Porter2 is not idempotent for every string).
        if stem != word and len(stem) >= 7 and analyze_terms(stem) == [stem]:
            return word, stem


def korean_noun() -> str:
    """Four random syllables the analyser keeps whole, bare or before 에서, 까지 or 에게."""
    while True:
        noun = "".join(chr(HANGUL_FIRST + _random.randrange(HANGUL_COUNT)) for _ in range(4))
        bigrams = [noun[i : i + 2] for i in range(3)]
        if all(analyze_terms(noun + p) == bigrams for p in ("", "에서", "까지", "에게")):
            return noun


@dataclass(frozen=True)
class Canaries:
    english: tuple[tuple[str, str], ...]
    """(word, stem) pairs."""
    korean: tuple[str, ...]
    """Nouns; documents carry them with a particle."""

    @classmethod
    def fresh(cls) -> Canaries:
        return cls((english_word(), english_word()), (korean_noun(), korean_noun()))

    def needles(self) -> dict[str, str]:
        """Every string that must not be found, with what it is."""
        found: dict[str, str] = {}
        for word, stem in self.english:
            found[word] = "English canary"
            found[stem] = f"stem of {word}"
        for noun, particle in zip(self.korean, ("에서", "까지"), strict=True):
            found[noun + particle] = "Korean canary as written"
            found[noun] = f"particle-stripped form of {noun}{particle}"
            for i in range(len(noun) - 1):
                found[noun[i : i + 2]] = f"bigram of {noun}"
        return found

    def record(self, case: str) -> dict[str, Any]:
        (en1, _), (en2, _) = self.english
        ko1, ko2 = self.korean
        record = interview_record(case)
        record["narrative"] = {
            "original": f"2016년 5월 {ko1}에서 조사를 받았습니다.",
            "translation_en": f"In May 2016 I was questioned about the {en1} in the cell.",
        }
        incident = record["incidents"][0]
        incident["facility"] = FACILITY
        incident["description"] = f"Questioned about {en2}; {ko2}까지 빼앗겼다."
        return record


@dataclass
class Planted:
    deployment: Deployment
    investigator: Account
    canaries: Canaries
    indexed: str
    """A testimony carrying the canaries, indexed after its commit."""
    waiting: str
    """A second one, committed while indexing was stopped: only in the outbox for now."""
    dumps_while_waiting: dict[str, bytes]


def index_bytes(deployment: Deployment) -> dict[str, bytes]:
    """Every file of the Whoosh directory, and the search tables read back as text."""
    found: dict[str, bytes] = {}
    for path in sorted(deployment.settings.search_dir.rglob("*")):
        if path.is_file():
            found[str(path)] = path.read_bytes()
    with deployment.runtime.engine.connect() as connection:
        for table in ("search_documents", "search_outbox"):
            rows = connection.execute(text(f"SELECT * FROM {table}")).all()
            found[f"table {table}"] = "\n".join(repr(tuple(row)) for row in rows).encode()
    return found


def leaks(dumps: dict[str, bytes], needles: dict[str, str]) -> list[str]:
    problems = []
    for where, data in dumps.items():
        lowered = data.lower()
        for needle, what in needles.items():
            # UTF-16 only for longer needles: 4 random bytes could occur by chance.
            encodings = ("utf-8", "utf-16-le", "utf-16-be") if len(needle) >= 4 else ("utf-8",)
            for encoding in encodings:
                if needle.lower().encode(encoding) in lowered:
                    problems.append(f"{what} {needle!r} ({encoding}) in {where}")
    return problems


@pytest.fixture(scope="module", params=BACKENDS)
def planted(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Planted]:
    with fresh_deployment(request, tmp_path_factory, request.param) as deployment:
        case = deployment.case()
        officer = deployment.user(Role.OFFICER, cases=(case,))
        investigator = deployment.user(Role.INVESTIGATOR, cases=(case,))
        canaries = Canaries.fresh()
        indexed = deployment.create_testimony(officer, canaries.record(case))["id"]
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(SearchIndexer, "drain", lambda self, batch=500: 0)
            waiting = deployment.create_testimony(officer, canaries.record(case))["id"]
        assert waiting not in deployment.runtime.search_index.document_ids()
        yield Planted(deployment, investigator, canaries, indexed, waiting, index_bytes(deployment))


def found_ids(planted: Planted, q: str) -> set[str]:
    response = planted.deployment.client.get(
        "/api/v1/search",
        params={"q": q, "snippets": "false"},
        headers=planted.investigator.headers,
    )
    assert response.status_code == 200, response.text
    return {hit["testimony_id"] for hit in response.json()["hits"]}


def test_no_canary_word_stem_or_bigram_is_in_the_index_while_an_entry_waits(
    planted: Planted,
) -> None:
    dumps = planted.dumps_while_waiting
    assert planted.waiting.encode() in dumps["table search_outbox"]  # the entry is waiting
    assert leaks(dumps, planted.canaries.needles()) == []


def test_no_canary_word_stem_or_bigram_is_in_the_index_yet_search_finds_them(
    planted: Planted,
) -> None:
    both = {planted.indexed, planted.waiting}  # the search drains the outbox first
    (en1, stem1), (en2, _) = planted.canaries.english
    ko1, ko2 = planted.canaries.korean
    assert found_ids(planted, en1) == both
    assert found_ids(planted, stem1) == both  # the stem is a word too
    assert found_ids(planted, f"translation:{en1}") == both
    assert found_ids(planted, f"description:{en2}") == both
    assert found_ids(planted, f"narrative:{ko1}") == both  # written 에서, asked bare
    assert found_ids(planted, f"{ko2}에게") == both  # written 까지, asked with 에게
    assert found_ids(planted, f'"{ko1}에서 조사를"') == both
    dumps = index_bytes(planted.deployment)
    assert leaks(dumps, planted.canaries.needles()) == []
    # The scan reads what the index holds: ids and coding metadata are there in clear.
    everything = b"".join(dumps.values())
    assert planted.indexed.encode() in everything
    assert planted.waiting.encode() in everything
    assert FACILITY.encode() in everything


def test_the_search_directory_is_private_to_the_service(planted: Planted) -> None:
    directory = planted.deployment.settings.search_dir
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for path in directory.rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        # Whoosh loads pickles from here: nobody else may write anything in it.
        assert mode == 0o600, f"{path} is mode {mode:04o}"


def test_whoosh_holds_documents_only_where_it_is_the_backend(planted: Planted) -> None:
    files = [p for p in Path(planted.deployment.settings.search_dir).rglob("*") if p.is_file()]
    with planted.deployment.runtime.engine.connect() as connection:
        rows = connection.execute(text("SELECT COUNT(*) FROM search_documents")).scalar_one()
    if planted.deployment.runtime.engine.dialect.name == "sqlite":
        assert files, "the embedded index lives in the search directory"
        assert rows == 0
    else:
        assert rows == 2
