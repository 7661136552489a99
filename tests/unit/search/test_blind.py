"""Specification of blind-index tokens: keyed, per-field, plaintext-free."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import pickle
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.search.analysis import analyze, analyze_terms
from service.search.blind import MIN_KEY_BYTES, BlindTokenizer

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]+")


def reference_token(key: bytes, field: str, term: str, digest_bytes: int = 12) -> str:
    """The documented construction, spelled out independently."""
    mac = hmac.new(key, field.encode() + b"\x1f" + term.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:digest_bytes]).decode().rstrip("=")


def test_token_is_truncated_hmac_sha256_of_field_unit_separator_term() -> None:
    blind = BlindTokenizer(KEY)
    assert blind.token("body", "prison") == reference_token(KEY, "body", "prison")
    assert blind.token("body", "보위") == reference_token(KEY, "body", "보위")


@pytest.mark.parametrize(("digest_bytes", "length"), [(8, 11), (12, 16), (16, 22), (32, 43)])
def test_tokens_are_compact_unpadded_urlsafe_ascii(digest_bytes: int, length: int) -> None:
    tok = BlindTokenizer(KEY, digest_bytes=digest_bytes).token("body", "prison")
    assert len(tok) == length
    assert TOKEN_RE.fullmatch(tok)
    assert tok == reference_token(KEY, "body", "prison", digest_bytes)


def test_tokens_are_deterministic_for_a_key() -> None:
    a, b = BlindTokenizer(KEY), BlindTokenizer(KEY, cache_size=0)
    text = "보위부에서 조사를 받았다; he was beaten"
    assert a.blind_tokens("body", text) == b.blind_tokens("body", text)
    assert a.blind_tokens("body", text) == a.blind_tokens("body", text)


def test_tokens_differ_across_keys() -> None:
    assert BlindTokenizer(KEY).token("body", "prison") != BlindTokenizer(OTHER_KEY).token(
        "body", "prison"
    )


def test_tokens_differ_across_fields() -> None:
    blind = BlindTokenizer(KEY)
    assert blind.token("body", "prison") != blind.token("title", "prison")
    # The separator keeps "a" + "bc" and "ab" + "c" apart.
    assert blind.token("a", "bc") != blind.token("ab", "c")


def test_blind_tokens_follow_analysis_positions() -> None:
    blind = BlindTokenizer(KEY)
    text = "He was detained by the 보위부 in 2010년에"
    expected = [(blind.token("body", t.text), t.position) for t in analyze(text)]
    assert blind.blind_tokens("body", text) == expected
    assert [pos for _, pos in expected] == list(range(len(expected)))


def test_blind_phrase_is_a_contiguous_run_in_the_blind_document() -> None:
    blind = BlindTokenizer(KEY)
    doc = [tok for tok, _ in blind.blind_tokens("body", "그는 보위부에서 조사를 받았다")]
    query = [tok for tok, _ in blind.blind_tokens("body", "보위부 조사")]
    assert len(query) == 3
    assert any(doc[i : i + 3] == query for i in range(len(doc) - 2))


def test_empty_text_gives_no_tokens() -> None:
    assert BlindTokenizer(KEY).blind_tokens("body", "  \n ") == []


@settings(database=None, derandomize=True, max_examples=200)
@given(st.text(min_size=1, max_size=200))
def test_no_token_contains_an_input_word(text: str) -> None:
    # Deterministic examples: a 16-char random token can contain a given
    # 3-letter string by chance (~5e-5), so a random run could flake.
    blind = BlindTokenizer(KEY)
    words = [w for w in re.findall(r"\w+", text) if len(w) >= 3]
    words += [t for t in analyze_terms(text) if len(t) >= 3]
    for tok, _ in blind.blind_tokens("body", text):
        assert TOKEN_RE.fullmatch(tok)
        for word in words:
            assert word not in tok
            assert word.casefold() not in tok


@settings(database=None, derandomize=True, max_examples=100)
@given(
    st.lists(st.sampled_from(["prison", "detention", "guard", "beaten", "hoeryong"]), min_size=1)
)
def test_no_token_contains_real_words(words: list[str]) -> None:
    blind = BlindTokenizer(KEY)
    for tok, _ in blind.blind_tokens("body", " ".join(words)):
        assert not any(w[:4] in tok.lower() for w in words)


def test_cache_is_bounded_and_counts_hits() -> None:
    blind = BlindTokenizer(KEY, cache_size=8)
    for i in range(100):
        blind.token("body", f"term{i}")
    stats = blind.cache_stats()
    assert stats.currsize <= 8
    assert stats.maxsize == 8
    assert stats.misses == 100
    blind.token("body", "term99")
    assert blind.cache_stats().hits == 1
    blind.cache_clear()
    assert blind.cache_stats().currsize == 0


def test_cache_can_be_disabled() -> None:
    blind = BlindTokenizer(KEY, cache_size=0)
    assert blind.token("body", "x") == blind.token("body", "x") == reference_token(KEY, "body", "x")
    assert blind.cache_stats().currsize == 0


@pytest.mark.parametrize("length", [0, 1, 16, MIN_KEY_BYTES - 1])
def test_short_keys_are_refused(length: int) -> None:
    key = b"\xab" * length
    with pytest.raises(ValueError, match="at least 32 bytes") as err:
        BlindTokenizer(key)
    assert repr(key) not in str(err.value)
    assert "\\xab" not in str(err.value)


def test_a_32_byte_key_is_accepted_and_a_str_key_is_refused() -> None:
    BlindTokenizer(b"k" * MIN_KEY_BYTES)
    with pytest.raises(TypeError):
        BlindTokenizer("k" * 64)  # type: ignore[arg-type]


@pytest.mark.parametrize("kwargs", [{"digest_bytes": 7}, {"digest_bytes": 33}, {"cache_size": -1}])
def test_bad_parameters_are_refused(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        BlindTokenizer(KEY, **kwargs)


@pytest.mark.parametrize("field", ["", "bo\x1fdy"])
def test_fields_must_be_non_empty_and_separator_free(field: str) -> None:
    blind = BlindTokenizer(KEY)
    with pytest.raises(ValueError, match="field"):
        blind.token(field, "prison")
    with pytest.raises(ValueError, match="field"):
        blind.blind_tokens(field, "")


def test_repr_and_str_hide_the_key() -> None:
    secret = b"S3cr3t-search-key-do-not-log-!!!" + b"\x00\xff"
    blind = BlindTokenizer(secret)
    for shown in (repr(blind), str(blind), f"{blind!r}"):
        assert "redacted" in shown
        for form in (
            repr(secret),
            secret.hex(),
            base64.b64encode(secret).decode(),
            "S3cr3t",
        ):
            assert form not in shown


def test_the_tokenizer_cannot_be_pickled_or_copied() -> None:
    blind = BlindTokenizer(KEY)
    with pytest.raises(TypeError):
        pickle.dumps(blind)
    with pytest.raises(TypeError):
        copy.deepcopy(blind)
    with pytest.raises(TypeError):
        copy.copy(blind)


@settings(database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=100), st.sampled_from(["body", "title", "translation"]))
def test_cache_never_changes_the_result(text: str, field: str) -> None:
    cached, uncached = BlindTokenizer(KEY, cache_size=4), BlindTokenizer(KEY, cache_size=0)
    assert cached.blind_tokens(field, text) == uncached.blind_tokens(field, text)
    for term in analyze_terms(text):
        assert cached.token(field, term) == reference_token(KEY, field, term)
