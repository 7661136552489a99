"""The investigator's query language, parsed and blinded in memory.

Syntax: words and ``"quoted phrases"``; ``AND`` (implied between terms), ``OR``, ``NOT`` or
a leading ``-``; parentheses; field scoping with ``narrative:``, ``translation:`` or
``description:`` before a word, phrase or group. Each word is analysed exactly as documents
are (English stemming, Korean particle stripping and bigrams), so a Korean word becomes a
phrase of its bigrams. Prefix, wildcard and fuzzy matching are impossible over keyed
tokens: the index holds only keyed hashes of whole terms, so there is nothing to expand.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from service.errors import FieldProblem, InvalidInputError
from service.search.analysis import analyze_terms
from service.search.interfaces import TEXT_FIELDS, And, Not, Or, Phrase, QueryNode

FIELD_ALIASES = {
    "narrative": "narrative",
    "original": "narrative",
    "translation": "translation",
    "en": "translation",
    "description": "description",
    "incident": "description",
}
MAX_QUERY_LENGTH = 1000
UNSUPPORTED = (
    "Prefix, wildcard and fuzzy matching are impossible in Custodia: the index holds only "
    "keyed hashes of whole words, so there is nothing to expand. Search for whole words or "
    'quoted phrases (Korean words match inside longer words, e.g. "보위부" finds "보위부에서").'
)

# A leading "-" is NOT for whatever follows it: a word, a "phrase", a (group) or field:term.
_TOKEN_RE = re.compile(
    r"\s*(?:(?P<lparen>\()|(?P<rparen>\))|(?P<minus>-)(?=[^\s)])"
    r'|(?P<field>[A-Za-z_]+):(?=["(\w])|"(?P<phrase>[^"]*)"|(?P<word>[^\s()"]+))'
)


@dataclass(frozen=True)
class _Tok:
    kind: str
    value: str


def _lex(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN_RE.match(text, position)
        if match is None or match.end() == position:
            raise _syntax('Unbalanced quotation mark: close every " you open.')
        position = match.end()
        kind = match.lastgroup or ""
        value = match.group(kind) if kind else ""
        if kind == "word" and value in {"AND", "OR", "NOT"}:
            kind = value
        elif kind == "minus":
            kind = "NOT"
        if kind in {"word", "phrase"} and re.search(r"[*?~]", value):
            raise _syntax(UNSUPPORTED)
        tokens.append(_Tok(kind, value))
    return tokens


def _syntax(message: str, **params: Any) -> InvalidInputError:
    return InvalidInputError(message, errors=[FieldProblem("q", message, params)], **params)


class _Parser:
    """Recursive descent: or_expr := and_expr (OR and_expr)*; and_expr := unary+; ..."""

    def __init__(self, tokens: list[_Tok], blind: Callable[[str, str], str]) -> None:
        self._tokens = tokens
        self._at = 0
        self._blind = blind

    def _peek(self) -> _Tok | None:
        return self._tokens[self._at] if self._at < len(self._tokens) else None

    def _take(self) -> _Tok:
        token = self._tokens[self._at]
        self._at += 1
        return token

    def parse(self) -> QueryNode | None:
        node = self._or(None)
        leftover = self._peek()
        if leftover is not None:
            raise _syntax("Unexpected '%(token)s' in the query.", token=leftover.value or ")")
        return node

    def _or(self, field: str | None) -> QueryNode | None:
        parts = [self._and(field)]
        while (token := self._peek()) is not None and token.kind == "OR":
            self._take()
            parts.append(self._and(field))
        kept = tuple(p for p in parts if p is not None)
        if not kept:
            return None
        return kept[0] if len(kept) == 1 else Or(kept)

    def _and(self, field: str | None) -> QueryNode | None:
        parts: list[QueryNode] = []
        while (token := self._peek()) is not None and token.kind not in {"OR", "rparen"}:
            if token.kind == "AND":
                self._take()
                continue
            node = self._unary(field)
            if node is not None:
                parts.append(node)
        if not parts:
            return None
        if all(isinstance(p, Not) for p in parts):
            raise _syntax("A query cannot consist only of NOT terms: say what to look for too.")
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def _unary(self, field: str | None) -> QueryNode | None:
        token = self._take()
        if token.kind == "NOT":
            if self._peek() is None:
                raise _syntax("NOT must be followed by a word, phrase or group.")
            child = self._unary(field)
            return Not(child) if child is not None else None
        if token.kind == "field":
            name = FIELD_ALIASES.get(token.value.lower())
            if name is None:
                raise _syntax(
                    "Unknown field '%(field)s'. Fields: narrative, translation, description.",
                    field=token.value,
                )
            if self._peek() is None:
                raise _syntax(
                    "'%(field)s:' must be followed by a word, phrase or group.", field=token.value
                )
            return self._unary(name)
        if token.kind == "lparen":
            node = self._or(field)
            closing = self._peek()
            if closing is None or closing.kind != "rparen":
                raise _syntax("Unbalanced parenthesis: close every ( you open.")
            self._take()
            return node
        if token.kind == "rparen":
            raise _syntax("Unbalanced parenthesis: ')' without '('.")
        return self._terms(token.value, field)

    def _terms(self, text: str, field: str | None) -> QueryNode | None:
        terms = analyze_terms(text)
        if not terms:
            return None  # only stop words or punctuation
        fields = (field,) if field else TEXT_FIELDS
        phrases = tuple(
            Phrase(name, tuple(self._blind(name, term) for term in terms)) for name in fields
        )
        return phrases[0] if len(phrases) == 1 else Or(phrases)


def parse_query(text: str, blind: Callable[[str, str], str]) -> QueryNode | None:
    """Parse and blind a query; None for an empty one. Raises InvalidInputError naming ``q``."""
    if len(text) > MAX_QUERY_LENGTH:
        raise _syntax("The query is longer than %(limit)s characters.", limit=str(MAX_QUERY_LENGTH))
    return _Parser(_lex(text), blind).parse()


def query_terms(text: str) -> set[str]:
    """The analysed (plaintext, in-memory) terms of a query, for highlighting snippets."""
    return {
        term
        for tok in _lex(text)
        if tok.kind in {"word", "phrase"}
        for term in analyze_terms(tok.value)
    }
