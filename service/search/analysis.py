"""In-memory text analysis for the blind search index (English, Korean, mixed).

Why this module exists: the index never stores a plaintext term, so every
document and every query is analysed here, in memory, and only the blinded
output of :mod:`service.search.blind` is ever written.  Documents and queries
go through *exactly* the same code path, so a query's tokens are a contiguous
run of a matching document's tokens.

Pipeline (one pass, no language detection needed)
-------------------------------------------------
1. Unicode NFKC, then ``str.casefold`` on the whole text (full-width Latin,
   ligatures, half-width katakana, compatibility jamo are folded first).
2. Split into *eojeol*-like chunks: maximal runs of letters/digits (``[^\\W_]``),
   an apostrophe may join two runs (``escapee's``, ``don't``).  Punctuation
   and whitespace are separators.
3. Inside a chunk, split by script: Hangul runs, other-CJK runs (Han, kana),
   and everything else ("Latin": Latin/digits and any other alphabet).

   * Latin: ``'s`` / trailing apostrophe dropped, other apostrophes removed,
     stop words (:data:`ENGLISH_STOP_WORDS`) dropped, remaining words stemmed
     with Snowball English (Porter2) from Whoosh.  We use Snowball rather than
     ``whoosh.lang.porter.stem`` because the latter does not undouble
     consonants (``running`` -> ``runn``); pure digit runs are not stemmed.
   * Hangul: one suffix (particle/ending) stripped, see *Korean rules*, then
     overlapping character bigrams like Lucene's CJKBigramFilter; a
     one-syllable remainder is emitted as a unigram.
   * Other CJK (Han, hiragana, katakana): bigrams, lone character as unigram
     (Lucene CJKBigramFilter default, no stacked unigrams).

Positions
---------
Positions are *dense*: the i-th emitted token has position ``i``.  Stop words
and stripped particles consume no position, and bigrams of consecutive
eojeols are adjacent (``보위부에서 조사를`` -> 보위@0 위부@1 조사@2).  Hence a
phrase query matches iff its token list occurs as a contiguous slice of the
document's token list (the same at any offset), and analysis of
``a + " " + b`` is the concatenation of analysis of ``a`` and ``b``.  Cost:
a stop word or sentence boundary does not break a phrase ("prison in
Hoeryong" matches "prison of Hoeryong"); we accept that for simplicity and
because gap sizes would leak a little more structure into the index.
Tokens never share a position.

Korean rules (light, dictionary-free stemming)
----------------------------------------------
For each Hangul run at most ONE suffix is removed, longest match first:

* Particles (josa) and a few compound particles: 에서는 에서도 에서 에게서
  에게 한테 께서 으로/로 까지 부터 처럼 보다 이나/나 이라고/라고 ...
* Verb/copula endings, only for Sino-Korean ``하다``/``되다``/``당하다``
  verbs and the copula (했다, 했습니다, 하였다, 되었다, 당했다, 입니다,
  이었다, 였다 ...): they turn ``구타당했다``/``구타했다``/``구타를`` into
  the same stem ``구타``.  Other verb morphology is left alone (not cheap,
  not safe without a dictionary).
* Allomorph check: particles whose form depends on the preceding syllable's
  final consonant (batchim) are only stripped when it fits: 은/이/을/과/이나
  after a batchim, 는/가/를/와/나 after a vowel, 으로 after a non-ㄹ batchim,
  로 after a vowel or ㄹ.  This keeps 국가, 마을, 아이, 사과 intact.
* Minimum stem: endings and the unconditioned 의/만 need >= 2 syllables
  left; every other particle needs >= 1.  ``도`` ("also") alone is never
  stripped because it ends every province name (평안도, 양강도 ...).
* A short exception list (:data:`KOREAN_NO_STRIP`, e.g. 김정은, 휴가, 결과,
  도로) and blocking endings (주의, 회의, 정의) are never stripped.
* Then a plural ``들`` is removed if >= 2 syllables remain (탈북자들은 -> 탈북자).
* A Hangul run glued to a preceding non-Hangul run in the same eojeol
  (``UN에서``, ``2010년에``, ``北韓에서``) may be stripped to nothing.

Known limits: a noun whose last syllable looks like a fitting particle is
cut when bare but kept when inflected (``고양이`` -> 고양, ``고양이가`` ->
고양이).  A bare query is then a prefix of the inflected form and still
matches (less precisely), but the inflected query ``고양이가`` misses a bare
``고양이``; frequent cases go into :data:`KOREAN_NO_STRIP`.  A one-syllable
noun with 의/만 keeps the particle (``집의`` -> 집의).

Memory: a bounded chunk -> terms cache holds plaintext words in process
memory (never on disk); :func:`clear_analysis_cache` drops it.

Performance
-----------
measured: CPU time (``time.process_time``), best of 3, one core, CPython
3.11 on a shared, busy 2-core VM; synthetic Zipf(s=1.07) text (an English-like
vocabulary of ~20k words with real stop words, a Korean vocabulary of ~24k
noun+particle/ending eojeols, and a mixed text alternating their sentences),
~20 MB each, fed as 64 KiB documents starting from a cold cache:

=====================  =========  =========  =========
                       English    Korean     mixed
=====================  =========  =========  =========
``analyze_terms``      14 MB/s    25 MB/s    14 MB/s
``analyze`` (Tokens)   9.0 MB/s   7.8 MB/s   7.0 MB/s
=====================  =========  =========  =========

Korean is cheaper per byte (3 UTF-8 bytes per syllable) but emits more
tokens, so building :class:`Token` objects dominates ``analyze``; indexing
code should use ``analyze_terms``.  Worst case, every word distinct so the
chunk cache never hits: ~1.3 MB/s English (Snowball stemming dominates),
~3.8 MB/s Korean.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Final

from whoosh.lang.snowball.english import (
    EnglishStemmer,
)

__all__ = [
    "ENGLISH_STOP_WORDS",
    "KOREAN_NO_STRIP",
    "Token",
    "analyze",
    "analyze_query_phrase",
    "analyze_terms",
    "clear_analysis_cache",
]


@dataclass(frozen=True, slots=True)
class Token:
    """One analysed term and its position (dense, 0-based) in the text."""

    text: str
    position: int


#: Small fixed stop list (Lucene's English set minus "no"/"not": negation
#: matters in testimony, e.g. "was not beaten").
# fmt: off
ENGLISH_STOP_WORDS: Final[frozenset[str]] = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is",
    "it", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these", "they",
    "this", "to", "was", "will", "with",
})
# fmt: on

# --- scripts ---------------------------------------------------------------

_HANGUL_CLASS: Final = "\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\uac00-\ud7a3\ud7b0-\ud7ff"
_CJK_CLASS: Final = (
    "\u3005-\u3007\u3021-\u3029\u3031-\u3035\u303b-\u303c"
    "\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uf900-\ufaff\U00020000-\U0003134f"
)
# Word chunks: letters/digits (no underscore), apostrophe only between runs.
_CHUNK_RE: Final = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")
_SCRIPT_RE: Final = re.compile(f"([{_HANGUL_CLASS}]+)|([{_CJK_CLASS}]+)")
_LANG_TAG_RE: Final = re.compile(r"[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*")

_STEMMER: Final = EnglishStemmer()

# --- Korean suffix table -----------------------------------------------------

_ANY: Final = 0
_BATCHIM: Final = 1  # preceding syllable has a final consonant
_VOWEL: Final = 2  # preceding syllable ends in a vowel
_VOWEL_OR_RIEUL: Final = 3  # vowel or final ㄹ (로)
_BATCHIM_NOT_RIEUL: Final = 4  # final consonant other than ㄹ (으로)
_BLOCK: Final = -1  # sentinel: this ending is part of the word, stop looking

_RIEUL_FINAL: Final = 8  # index of ㄹ among the 28 jongseong values

# suffix -> (condition, minimum syllables left); longest suffix tried first.
_SUFFIX_RULES: Final[dict[str, tuple[int, int]]] = {}


def _add(cond: int, min_stem: int, words: str) -> None:
    for w in words.split():
        _SUFFIX_RULES[w] = (cond, min_stem)


# Multi-syllable particles: rarely the end of a noun, one syllable may remain.
_add(_ANY, 1, "에서는 에서도 에서의 에서부터 에서 에게서 에게는 에게도 에게")
_add(_ANY, 1, "한테서 한테는 한테 께서는 께서 에는 에도 까지는 까지도 까지")
_add(_ANY, 1, "부터는 부터 처럼 보다는 보다 마저 조차 밖에 만큼 하고")
_add(_BATCHIM_NOT_RIEUL, 1, "으로부터 으로는 으로도 으로서 으로써 으로")
_add(_VOWEL_OR_RIEUL, 1, "로부터 로는 로도 로서 로써")
_add(_BATCHIM, 1, "이라고 이라는 이나 과는 과의 과도")
_add(_VOWEL, 1, "라고 라는 와는 와의 와도")
# One-syllable particles whose allomorph pins down the preceding syllable.
_add(_BATCHIM, 1, "은 이 을 과")
_add(_VOWEL, 1, "는 가 를 와 나")
_add(_VOWEL_OR_RIEUL, 1, "로")
_add(_ANY, 1, "에 께")
# Unconditioned, frequent as a noun's last syllable: keep two syllables.
_add(_ANY, 2, "의 만")
# Copula and 하다/되다/당하다 endings (two syllables must remain).
_add(_BATCHIM, 2, "이었다 이었습니다 이었고 이었던 이며 이고")
_add(_VOWEL, 2, "였다 였습니다 였고 였던")
_add(_ANY, 2, "이다 입니다")
_add(
    _ANY,
    2,
    """했다 했습니다 했고 했으며 했는데 했던 했지만 했으나 하였다 하였습니다
    하였고 하였던 하였으나 하여 해서 하는 하던 하게 하기 하지 한다 합니다
    하며 하면 하자 해야""",
)
_add(
    _ANY,
    2,
    """되었다 되었습니다 되었고 되었던 됐다 됐습니다 됐던 되어 되어서 돼서
    되고 되는 되면 되자 된다 됩니다""",
)
_add(
    _ANY,
    2,
    """당했다 당했습니다 당했고 당했던 당하였다 당하고 당하는 당한 당해 당해서
    당하여 당하기""",
)
# Endings that are really part of a noun (-주의 "-ism", 회의, 정의).
_add(_BLOCK, 0, "주의 회의 정의")

_MAX_SUFFIX: Final = max(len(s) for s in _SUFFIX_RULES)

#: Whole eojeols never stripped: frequent words that merely look inflected.
KOREAN_NO_STRIP: Final[frozenset[str]] = frozenset(
    {"김정은", "휴가", "대가", "주가", "결과", "성과", "일과", "도로", "미로", "하나"}
)

# --- caches -------------------------------------------------------------------

# Chunk -> analysed terms.  Plaintext lives here (memory only, never disk);
# bounded, and wiped wholesale when full (cheap, keeps the hot path simple).
_CHUNK_CACHE: dict[str, tuple[str, ...]] = {}
_CHUNK_CACHE_MAX: Final = 65536
_CACHEABLE_LEN: Final = 48  # longer chunks (URLs, blobs) are rare: not worth memory


def clear_analysis_cache() -> None:
    """Drop cached plaintext chunks (e.g. after a bulk import)."""
    _CHUNK_CACHE.clear()


# --- per-script analysers ---------------------------------------------------


def _grams(run: str) -> tuple[str, ...]:
    """Overlapping bigrams, or the lone unigram, as Lucene's CJKBigramFilter."""
    n = len(run)
    if n <= 2:
        return (run,) if n else ()
    return tuple([run[i : i + 2] for i in range(n - 1)])


def _latin_terms(run: str) -> tuple[str, ...]:
    """Stop-word filter and stem one Latin (or other alphabet) word."""
    if "'" in run or "\u2019" in run:
        run = run.replace("\u2019", "'")
        if run.endswith("'s"):
            run = run[:-2]
        run = run.replace("'", "")
        if not run:
            return ()
    if run in ENGLISH_STOP_WORDS:
        return ()
    if run.isdigit():
        return (run,)
    stem = str(_STEMMER.stem(run))
    return (stem,) if stem else (run,)


def _final_ok(syllable: str, cond: int) -> bool:
    """Does the syllable's final consonant fit the particle's allomorph?"""
    code = ord(syllable) - 0xAC00
    if not 0 <= code <= 11171:
        return False  # bare jamo: cannot tell, do not strip
    final = code % 28
    if cond == _BATCHIM:
        return final != 0
    if cond == _VOWEL:
        return final == 0
    if cond == _VOWEL_OR_RIEUL:
        return final in (0, _RIEUL_FINAL)
    return final not in (0, _RIEUL_FINAL)  # _BATCHIM_NOT_RIEUL


def _strip_korean(word: str, attached: bool) -> str:
    """Remove at most one particle/ending, then a plural 들 (see module doc)."""
    if word in KOREAN_NO_STRIP:
        return word
    n = len(word)
    for k in range(min(_MAX_SUFFIX, n), 0, -1):
        rule = _SUFFIX_RULES.get(word[n - k :])
        if rule is None:
            continue
        cond, min_stem = rule
        if cond == _BLOCK:
            break
        left = n - k
        if left < (0 if attached else min_stem):
            continue
        if left and cond != _ANY and not _final_ok(word[left - 1], cond):
            continue
        word = word[:left]
        break
    if word.endswith("들") and len(word) - 1 >= (0 if attached else 2):
        word = word[:-1]
    return word


def _analyze_chunk(chunk: str) -> tuple[str, ...]:
    """Analyse one eojeol/word chunk (cache miss path)."""
    if chunk.isascii():
        return _latin_terms(chunk)
    out: list[str] = []
    pos = 0
    for m in _SCRIPT_RE.finditer(chunk):
        start = m.start()
        if start > pos:
            out += _latin_terms(chunk[pos:start])
        hangul = m.group(1)
        if hangul is not None:
            out += _grams(_strip_korean(hangul, attached=start > 0))
        else:
            out += _grams(m.group(2))
        pos = m.end()
    if pos < len(chunk):
        out += _latin_terms(chunk[pos:])
    return tuple(out)


def _check_hint(language_hint: str | None) -> None:
    if language_hint is not None and not _LANG_TAG_RE.fullmatch(language_hint):
        raise ValueError("language_hint must be a BCP 47 style tag such as 'ko' or 'en'")


# --- public API -------------------------------------------------------------


def analyze_terms(text: str) -> list[str]:
    """Analysed terms in order; term ``i`` has position ``i``.

    The fast path for indexing (no per-token object); :func:`analyze` wraps it.
    """
    if not text:
        return []
    norm = unicodedata.normalize("NFKC", text).casefold()
    out: list[str] = []
    cache = _CHUNK_CACHE
    get = cache.get
    for chunk in _CHUNK_RE.findall(norm):
        terms = get(chunk)
        if terms is None:
            terms = _analyze_chunk(chunk)
            if len(chunk) <= _CACHEABLE_LEN:
                if len(cache) >= _CHUNK_CACHE_MAX:
                    cache.clear()
                cache[chunk] = terms
        out += terms
    return out


def analyze(text: str, *, language_hint: str | None = None) -> list[Token]:
    """Analyse document text into positioned tokens.

    ``language_hint`` is validated but deliberately does not change the output:
    script is detected per run, so a wrong or missing hint can never make a
    document and a query disagree.
    """
    _check_hint(language_hint)
    terms = analyze_terms(text)
    return list(map(Token, terms, range(len(terms))))


def analyze_query_phrase(text: str, *, language_hint: str | None = None) -> list[Token]:
    """Analyse a query phrase exactly as a document (same tokens, positions)."""
    return analyze(text, language_hint=language_hint)
