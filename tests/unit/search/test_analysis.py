"""Specification of the in-memory analysis that feeds the blind index."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.search.analysis import (
    ENGLISH_STOP_WORDS,
    Token,
    analyze,
    analyze_query_phrase,
    analyze_terms,
    clear_analysis_cache,
)

# No example database: tests must not write files into the work tree.
_SETTINGS = settings(database=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])


def terms(text: str) -> list[str]:
    return [t.text for t in analyze(text)]


def find_run(haystack: list[str], needle: list[str]) -> int:
    """Start index of ``needle`` as a contiguous slice of ``haystack``, or -1."""
    for i in range(len(haystack) - len(needle) + 1):
        if haystack[i : i + len(needle)] == needle:
            return i
    return -1


# --- Token -----------------------------------------------------------------


def test_token_is_a_frozen_value() -> None:
    tok = Token("beat", 3)
    assert tok == Token("beat", 3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        tok.text = "other"  # type: ignore[misc]


# --- English -----------------------------------------------------------------


def test_porter2_stemming_conflates_beatings_with_beat_but_not_beaten() -> None:
    assert terms("beatings") == ["beat"]
    assert terms("beating") == ["beat"]
    assert terms("beat") == ["beat"]
    # Porter-family stemmers do not undo irregular participles.
    assert terms("beaten") == ["beaten"]


def test_stemming_undoubles_consonants() -> None:
    assert terms("running detained escapees") == ["run", "detain", "escape"]


def test_stop_words_are_dropped_but_negation_is_kept() -> None:
    assert terms("the prison of the camp") == ["prison", "camp"]
    assert terms("he was not beaten") == ["he", "not", "beaten"]
    assert "not" not in ENGLISH_STOP_WORDS
    assert "the" in ENGLISH_STOP_WORDS


def test_case_folding() -> None:
    assert terms("PRISON Prison prison") == ["prison"] * 3


def test_nfkc_folds_full_width_letters_and_digits() -> None:
    assert terms("ＰＲＩＳＯＮ ２０１０") == terms("prison 2010") == ["prison", "2010"]


def test_possessive_and_apostrophes() -> None:
    assert terms("escapee's") == terms("escapee") == ["escape"]
    assert terms("escapee\u2019s") == ["escape"]
    assert terms("it's") == []  # "it" is a stop word


def test_punctuation_and_underscores_separate_words() -> None:
    assert terms("north-korean_border,camp") == ["north", "korean", "border", "camp"]


@pytest.mark.parametrize("text", ["", " ", "   \n\t  ", "。、!?—...", "\u3000"])
def test_empty_and_separator_only_text_yields_nothing(text: str) -> None:
    assert analyze(text) == []
    assert analyze_terms(text) == []


# --- Korean ------------------------------------------------------------------


def test_particles_are_stripped_before_bigramming() -> None:
    assert terms("보위부에서") == ["보위", "위부"] == terms("보위부")
    assert terms("구류장에") == ["구류", "류장"] == terms("구류장")


@pytest.mark.parametrize(
    "particle",
    ["는", "가", "를", "와", "로", "나", "에", "에서", "에서는", "에게", "에게서", "께",
     "까지", "부터", "라고", "한테", "처럼", "보다", "의", "만", "로부터"],
)  # fmt: skip
def test_particles_after_a_vowel_final_noun(particle: str) -> None:
    assert terms("보위부" + particle) == ["보위", "위부"]


@pytest.mark.parametrize(
    "particle", ["은", "이", "을", "과", "으로", "이나", "이라고", "에서", "에", "의"]
)
def test_particles_after_a_consonant_final_noun(particle: str) -> None:
    assert terms("구류장" + particle) == ["구류", "류장"]


def test_allomorph_mismatch_keeps_nouns_that_end_like_a_particle() -> None:
    # 가 only follows a vowel, 을 and 이 only a final consonant.
    assert terms("국가") == ["국가"] == terms("국가를")
    assert terms("마을") == ["마을"] == terms("마을에서")
    assert terms("아이") == ["아이"] == terms("아이가")


def test_exception_list_and_province_names_are_not_cut() -> None:
    assert terms("김정은") == ["김정", "정은"] == terms("김정은이")
    assert terms("양강도") == ["양강", "강도"] == terms("양강도에서")


def test_one_syllable_stem_becomes_a_unigram() -> None:
    assert terms("집") == ["집"]
    assert terms("집에") == ["집"]
    assert terms("돈을") == ["돈"]


def test_a_particle_alone_is_not_stripped_to_nothing() -> None:
    assert terms("에서") == ["에서"]
    assert terms("은") == ["은"]


def test_sino_korean_verb_endings_and_plural() -> None:
    stem = ["구타"]
    assert terms("구타를") == terms("구타했다") == terms("구타당했다") == stem
    assert terms("구타했습니다") == terms("구타되었다") == stem
    assert terms("탈북자들은") == terms("탈북자") == ["탈북", "북자"]


def test_other_verb_morphology_is_left_alone() -> None:
    assert terms("받았다") == ["받았", "았다"]


def test_bigrams_and_dense_positions_across_eojeols() -> None:
    toks = analyze("두만강을 건넜다")
    assert toks == [Token("두만", 0), Token("만강", 1), Token("건넜", 2), Token("넜다", 3)]


def test_particle_glued_to_latin_digits_or_han_is_dropped() -> None:
    assert terms("UN에서") == ["un"]
    assert terms("2010년에") == ["2010", "년"]
    assert terms("北韓에서") == ["北韓"]


# --- other CJK ----------------------------------------------------------------


def test_han_runs_are_bigrams_and_a_lone_han_is_a_unigram() -> None:
    assert terms("強制送還") == ["強制", "制送", "送還"]
    assert terms("國") == ["國"]


# --- mixed text and phrases -----------------------------------------------------


def test_mixed_korean_english_sentence() -> None:
    text = "In 2010 he was detained by the 보위부 at a 구류장 in Hoeryong (회령에서)."
    assert analyze(text) == [
        Token("2010", 0),
        Token("he", 1),
        Token("detain", 2),
        Token("보위", 3),
        Token("위부", 4),
        Token("구류", 5),
        Token("류장", 6),
        Token("hoeryong", 7),
        Token("회령", 8),
    ]


@pytest.mark.parametrize(
    ("document", "phrase"),
    [
        ("그는 보위부에서 조사를 받았다. 그 후 구류장에 갇혔다.", "보위부 조사"),
        ("그는 보위부에서 조사를 받았다.", "보위부에서 조사를"),
        ("They crossed the Tumen River at night and were beaten.", "crossing the tumen river"),
        ("Agents of the 보위부 beat detainees in Hoeryong.", "보위부 beat detainees"),
    ],
)
def test_a_phrase_in_a_document_is_a_contiguous_run_of_positions(
    document: str, phrase: str
) -> None:
    doc = analyze(document)
    query = analyze_query_phrase(phrase)
    assert query
    start = find_run([t.text for t in doc], [t.text for t in query])
    assert start >= 0
    run = doc[start : start + len(query)]
    assert [t.position for t in run] == list(range(run[0].position, run[0].position + len(query)))
    assert [t.position - query[0].position for t in query] == list(range(len(query)))


def test_query_and_document_analysis_are_identical() -> None:
    text = "보위부에서 Beatings ＡＢＣ 強制送還"
    assert analyze_query_phrase(text) == analyze(text)


def test_language_hint_is_validated_and_does_not_change_tokens() -> None:
    text = "보위부에서 beatings"
    assert analyze(text, language_hint="ko") == analyze(text, language_hint="en") == analyze(text)
    assert analyze_query_phrase(text, language_hint="ko-KR") == analyze(text)
    with pytest.raises(ValueError, match="language_hint"):
        analyze(text, language_hint="ko kr")


def test_results_do_not_depend_on_the_cache() -> None:
    text = "보위부에서 조사를 받았다 and was beaten"
    first = analyze(text)
    clear_analysis_cache()
    assert analyze(text) == first == analyze(text)


# --- properties -------------------------------------------------------------------

_PARTICLES = [
    "",
    "은",
    "는",
    "이",
    "가",
    "을",
    "를",
    "에서",
    "에게",
    "으로",
    "로",
    "의",
    "들은",
    "했다",
]
_chars = st.one_of(
    st.sampled_from("abcdefghijklmnopqrstuvwxyzABCXYZ0123456789'’"),
    st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3),
    st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),
    st.characters(min_codepoint=0xFF01, max_codepoint=0xFF5E),
    st.characters(min_codepoint=0x3040, max_codepoint=0x30FF),
)
_hangul_word = st.builds(
    lambda noun, particle: noun + particle,
    st.text(st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3), min_size=1, max_size=4),
    st.sampled_from(_PARTICLES),
)
_word = st.one_of(st.text(_chars, min_size=1, max_size=10), _hangul_word)
_sep = st.sampled_from([" ", "  ", "\n", ", ", ". ", " (", ") ", "\t", "\u3000"])
mixed_text = st.builds(
    lambda pairs: "".join(w + s for w, s in pairs), st.lists(st.tuples(_word, _sep), max_size=12)
)


@_SETTINGS
@given(st.one_of(st.text(), mixed_text))
def test_positions_are_dense_and_query_analysis_matches(text: str) -> None:
    toks = analyze(text)
    assert [t.position for t in toks] == list(range(len(toks)))
    assert all(t.text for t in toks)
    assert analyze_query_phrase(text) == toks
    assert [t.text for t in toks] == analyze_terms(text)


@_SETTINGS
@given(st.one_of(st.text(), mixed_text), mixed_text, st.one_of(st.text(), mixed_text))
def test_analysis_is_compositional_so_phrases_always_match(
    before: str, phrase: str, after: str
) -> None:
    doc = analyze_terms(before + " " + phrase + " " + after)
    query = analyze_terms(phrase)
    assert doc == analyze_terms(before) + query + analyze_terms(after)
    assert find_run(doc, query) >= 0
