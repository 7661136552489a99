"""The scaled-tier search backend: blind tokens in a PostgreSQL tsvector with a GIN index.

Every API worker reads and writes the same table, and the index can be updated in the
record's own transaction (:meth:`PostgresSearchIndex.upsert_in`). Only the ``simple``
tsvector/tsquery *input* syntax is used (``CAST(:v AS tsvector)``), never a text-search
parser, so tokens are stored exactly as given. Every value is a bound parameter.

Encoding (one tsvector per document, all text fields together):

* Lexeme = field code + token (``n`` narrative, ``t`` translation, ``d`` description), so
  the same token string in two fields stays two lexemes and field scoping is exact.
* PostgreSQL keeps positions 1..16383 and at most 256 positions per lexeme. A field is
  therefore cut into chunks of ``CHUNK_LENGTH`` (4096) tokens with consecutive chunks
  overlapping by ``PHRASE_WINDOW - 1`` tokens; chunk k > 0 suffixes its lexemes with
  ``.k`` (``.`` never occurs in a token) and restarts positions at 1. Any phrase of up to
  ``PHRASE_WINDOW`` (64) tokens lies wholly inside one chunk, so phrases are exact at any
  length of text; a longer phrase straddling a chunk border is missed. A token repeated
  more than 256 times within one chunk loses phrase matches at its later occurrences.
* A term query is ``'ntok' | 'ntok.':*`` (any chunk); a phrase query is the OR over chunk
  numbers 0..K-1 of ``'na.k' <-> 'nb.k'``, where K is the largest chunk count in the table
  (read in the same snapshot as the search).
* A tsvector holds at most 1 MB of lexemes and positions (about 100,000 tokens of natural
  text). Chunks past ``max_tsvector_bytes`` are indexed without positions (suffix ``.x``):
  their words still match, their phrases do not. If even that does not fit, upsert
  raises ``ValueError``.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    CompoundSelect,
    Connection,
    Engine,
    Float,
    FromClause,
    Integer,
    Select,
    Table,
    Text,
    and_,
    bindparam,
    cast,
    delete,
    false,
    func,
    literal,
    null,
    select,
    true,
    union_all,
)
from sqlalchemy.dialects.postgresql import TSQUERY, TSVECTOR
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from service.search.interfaces import (
    FACET_FIELDS,
    TEXT_FIELDS,
    And,
    IndexedDocument,
    Not,
    Or,
    Phrase,
    QueryNode,
    ScoredHit,
    SearchFilters,
    SearchPage,
    Sort,
)
from service.search.models import SearchDocument

FIELD_CODES: Final = {"narrative": "n", "translation": "t", "description": "d"}
assert set(FIELD_CODES) == set(TEXT_FIELDS), "every text field needs a one-letter code"

TOKEN_PATTERN: Final = re.compile(r"[A-Za-z0-9_-]+")
CHUNK_LENGTH: Final = 4096
PHRASE_WINDOW: Final = 64
CHUNK_STRIDE: Final = CHUNK_LENGTH - (PHRASE_WINDOW - 1)
MAX_POSITIONS_PER_LEXEME: Final = 256
TSVECTOR_LIMIT: Final = (1 << 20) - 1
UNPOSITIONED_SUFFIX: Final = ".x"
BATCH_BYTES: Final = 8 << 20
"""Upper bound on tsvector text per INSERT statement (batches of many small documents)."""

_table = typing.cast(Table, SearchDocument.__table__)

_SET_COLUMNS: Final = (
    "categories",
    "places",
    "facilities",
    "institutions",
    "involvements",
    "consent_scopes",
)
# SearchFilters attribute -> array column (ANY of the values matches).
_ARRAY_FILTERS: Final = (
    ("categories", "categories"),
    ("places", "places"),
    ("facilities", "facilities"),
    ("institutions", "institutions"),
    ("involvements", "involvements"),
    ("consent_scopes", "consent_scopes"),
)
# Facet name -> (column, is an array).
_FACET_COLUMNS: Final = {
    "category": ("categories", True),
    "place": ("places", True),
    "facility": ("facilities", True),
    "institution": ("institutions", True),
    "involvement": ("involvements", True),
    "language": ("language", False),
    "case": ("case_id", False),
    "consent_scope": ("consent_scopes", True),
    "year": ("years", True),
}


@dataclass(frozen=True)
class EncodedTokens:
    """A document's tsvector literal and its number of positional chunks."""

    literal: str
    chunks: int


def _checked(tokens: Sequence[str]) -> Sequence[str]:
    for token in tokens:
        if not isinstance(token, str) or not TOKEN_PATTERN.fullmatch(token):
            raise ValueError("blind tokens must be non-empty urlsafe base64 strings")
    return tokens


def _lexeme_bytes(lexeme: str, positions: int) -> int:
    """Bytes a lexeme takes in a tsvector's string area (see PostgreSQL's ts_type.h)."""
    size = len(lexeme) + (len(lexeme) & 1)
    return size + 2 + 2 * min(positions, MAX_POSITIONS_PER_LEXEME) if positions else size


def encode_tokens(
    fields: Mapping[str, Sequence[str]], max_bytes: int = TSVECTOR_LIMIT
) -> EncodedTokens:
    """The tsvector literal for a document's text fields (see the module docstring).

    Raises:
        ValueError: unknown field, malformed token, or too much distinct text to index.
    """
    entries: list[str] = []
    budget = max_bytes
    chunks = 1
    unpositioned: set[str] = set()
    for name, tokens in fields.items():
        if name not in FIELD_CODES:
            raise ValueError(f"unknown text field {name!r}")
        code = FIELD_CODES[name]
        _checked(tokens)
        count = max(1, -(-max(len(tokens) - PHRASE_WINDOW + 1, 0) // CHUNK_STRIDE))
        for chunk in range(count):
            start = chunk * CHUNK_STRIDE
            window = tokens[start : start + CHUNK_LENGTH]
            suffix = f".{chunk}" if chunk else ""
            positions: dict[str, list[int]] = {}
            for offset, token in enumerate(window, start=1):
                positions.setdefault(token, []).append(offset)
            cost = sum(_lexeme_bytes(code + t + suffix, len(p)) for t, p in positions.items())
            if unpositioned or cost > budget:
                unpositioned.update(code + token + UNPOSITIONED_SUFFIX for token in positions)
                continue
            budget -= cost
            chunks = max(chunks, chunk + 1)
            for token, where in positions.items():
                entries.append(f"'{code}{token}{suffix}':{','.join(map(str, where))}")
    if unpositioned:
        budget -= sum(_lexeme_bytes(lexeme, 0) for lexeme in unpositioned)
        if budget < 0:
            raise ValueError("the document is too long for the PostgreSQL search index")
        entries.extend(f"'{lexeme}'" for lexeme in sorted(unpositioned))
    return EncodedTokens(" ".join(entries), chunks)


def compile_tsquery(node: QueryNode, chunks: int) -> str:
    """The tsquery text for a blind query tree, every operand quoted as a lexeme.

    Raises:
        ValueError: unknown field, empty phrase or group, or a malformed token.
    """
    if isinstance(node, Phrase):
        if node.field not in FIELD_CODES:
            raise ValueError(f"unknown text field {node.field!r}")
        if not node.tokens:
            raise ValueError("a phrase needs at least one token")
        code = FIELD_CODES[node.field]
        tokens = _checked(node.tokens)
        if len(tokens) == 1:
            return f"('{code}{tokens[0]}' | '{code}{tokens[0]}.':*)"
        alternatives = [
            "(" + " <-> ".join(f"'{code}{t}{f'.{k}' if k else ''}'" for t in tokens) + ")"
            for k in range(max(chunks, 1))
        ]
        return "(" + " | ".join(alternatives) + ")"
    if isinstance(node, And | Or):
        if not node.children:
            raise ValueError("an And/Or node needs at least one child")
        operator = " & " if isinstance(node, And) else " | "
        return "(" + operator.join(compile_tsquery(c, chunks) for c in node.children) + ")"
    if isinstance(node, Not):
        return f"!{compile_tsquery(node.child, chunks)}"
    raise ValueError(f"unsupported query node {type(node).__name__}")


def _has_phrase(node: QueryNode) -> bool:
    if isinstance(node, Phrase):
        return len(node.tokens) > 1
    if isinstance(node, Not):
        return _has_phrase(node.child)
    return any(_has_phrase(child) for child in node.children)


def _row(document: IndexedDocument, max_bytes: int) -> dict[str, Any]:
    encoded = encode_tokens(document.fields, max_bytes)
    row: dict[str, Any] = {
        "testimony_id": document.testimony_id,
        "case_id": document.case_id,
        "language": document.language,
        "interview_date": document.interview_date,
        "date_start": document.date_start,
        "date_end": document.date_end,
        "years": sorted(document.years),
        "chunks": encoded.chunks,
        "tokens": encoded.literal,
    }
    for name in _SET_COLUMNS:
        row[name] = sorted(getattr(document, name))
    return row


def _batches(rows: Sequence[dict[str, Any]]) -> Iterator[Sequence[dict[str, Any]]]:
    start, size = 0, 0
    for index, row in enumerate(rows):
        size += len(row["tokens"])
        if size > BATCH_BYTES and index > start:
            yield rows[start:index]
            start, size = index, len(row["tokens"])
    if start < len(rows):
        yield rows[start:]


def _upsert_statement() -> Any:
    """INSERT ... ON CONFLICT DO UPDATE, the tsvector passed as text and cast by the server."""
    names = [column.name for column in _table.c]
    values: dict[str, Any] = {name: bindparam(name) for name in names}
    values["tokens"] = cast(bindparam("tokens", type_=Text()), TSVECTOR)
    insert = pg_insert(_table).values(values)
    return insert.on_conflict_do_update(
        index_elements=[_table.c.testimony_id],
        set_={name: insert.excluded[name] for name in names if name != "testimony_id"},
    )


_UPSERT = _upsert_statement()


def _write_rows(connection: Connection, documents: Sequence[IndexedDocument], budget: int) -> None:
    latest = {document.testimony_id: document for document in documents}
    rows = [_row(document, budget) for document in latest.values()]
    for batch in _batches(rows):
        connection.execute(_UPSERT, list(batch))


def _delete_rows(connection: Connection, testimony_ids: Sequence[str]) -> None:
    if testimony_ids:
        ids = sorted(set(testimony_ids))
        connection.execute(delete(_table).where(_table.c.testimony_id.in_(ids)))


def _where(filters: SearchFilters) -> ColumnElement[bool]:
    """Confinement and filters as one SQL condition (all values bound)."""
    if not filters.case_ids:
        return false()
    conditions: list[ColumnElement[bool]] = [_table.c.case_id.in_(sorted(filters.case_ids))]
    for attribute, column in _ARRAY_FILTERS:
        wanted: frozenset[str] = getattr(filters, attribute)
        if wanted:
            conditions.append(
                _table.c[column].bool_op("&&")(literal(sorted(wanted), ARRAY(Text())))
            )
    if filters.languages:
        conditions.append(_table.c.language.in_(sorted(filters.languages)))
    if filters.years:
        conditions.append(
            _table.c.years.bool_op("&&")(literal(sorted(filters.years), ARRAY(Integer())))
        )
    if filters.date_from is not None:
        conditions.append(_table.c.date_end >= filters.date_from)
    if filters.date_to is not None:
        conditions.append(_table.c.date_start <= filters.date_to)
    return and_(true(), *conditions)


_PAGE_ROW: Final = "#"
_TOTAL_ROW: Final = ""


def _search_statement(
    where: ColumnElement[bool], score: ColumnElement[float], sort: Sort, offset: int, limit: int
) -> CompoundSelect[str, str, int, float]:
    """Total, every facet's counts and the page, from one pass over the matching rows.

    Rows are ``(kind, value, count, score)``: kind ``""`` carries the total, ``"#"`` a hit
    (value = testimony id, count = its position on the page), any other kind a facet value.
    Each tsvector is read once, for the match and its rank, however many facets there are.
    """
    columns = sorted({column for column, _ in _FACET_COLUMNS.values()} | {"testimony_id"})
    matched = (
        select(*(_table.c[name] for name in columns), _table.c.date_start, score.label("score"))
        .where(where)
        .cte("matched")
    )
    order = (
        [matched.c.date_start.desc().nulls_last(), matched.c.testimony_id]
        if sort == "date"
        else [matched.c.score.desc(), matched.c.testimony_id]
    )
    page = (
        select(
            matched.c.testimony_id,
            matched.c.score,
            func.row_number().over(order_by=order).label("position"),
        )
        .order_by(*order)
        .offset(offset)
        .limit(limit)
        .subquery("page")
    )
    no_score = cast(null(), Float)
    parts: list[Select[str, str, int, float]] = [
        select(literal(_TOTAL_ROW), cast(null(), Text), func.count(), no_score).select_from(
            matched
        ),
        select(literal(_PAGE_ROW), page.c.testimony_id, page.c.position, page.c.score),
    ]
    for facet, (column, is_array) in _FACET_COLUMNS.items():
        if is_array:
            unnested = func.unnest(matched.c[column]).table_valued("value").render_derived()
            value = cast(unnested.c.value, Text)
            source: FromClause = matched.join(unnested, true())
        else:
            value = cast(matched.c[column], Text)
            source = matched
        parts.append(
            select(literal(facet), value, func.count(), no_score)
            .select_from(source)
            .group_by(value)
        )
    return union_all(*parts)


class PostgresSearchIndex:
    """The :class:`~service.search.interfaces.SearchIndex` of the scaled tier."""

    def __init__(self, engine: Engine, *, max_tsvector_bytes: int = TSVECTOR_LIMIT) -> None:
        """Use ``engine`` (PostgreSQL only) and the ``search_documents`` table it holds.

        Raises:
            ValueError: the engine is not PostgreSQL.
        """
        if engine.dialect.name != "postgresql":
            raise ValueError("PostgresSearchIndex needs a PostgreSQL engine")
        self._engine = engine
        self._budget = min(max_tsvector_bytes, TSVECTOR_LIMIT)

    # ---- writes ------------------------------------------------------------------------------

    def upsert(self, documents: Sequence[IndexedDocument]) -> None:
        """Add or replace documents in one transaction; a repeated id keeps its last version."""
        with self._engine.begin() as connection:
            _write_rows(connection, documents, self._budget)

    def upsert_in(self, session: Session, documents: Sequence[IndexedDocument]) -> None:
        """Like :meth:`upsert`, inside the caller's transaction (committed with the record)."""
        _write_rows(session.connection(), documents, self._budget)

    def delete(self, testimony_ids: Sequence[str]) -> None:
        with self._engine.begin() as connection:
            _delete_rows(connection, testimony_ids)

    def delete_in(self, session: Session, testimony_ids: Sequence[str]) -> None:
        """Like :meth:`delete`, inside the caller's transaction."""
        _delete_rows(session.connection(), testimony_ids)

    def clear(self) -> None:
        with self._engine.begin() as connection:
            connection.execute(delete(_table))

    def close(self) -> None:
        """Nothing to release: the engine belongs to the caller."""

    # ---- reads -------------------------------------------------------------------------------

    def document_ids(self) -> set[str]:
        with self._engine.connect() as connection:
            return set(connection.execute(select(_table.c.testimony_id)).scalars())

    def search(
        self,
        query: QueryNode | None,
        filters: SearchFilters,
        *,
        sort: Sort = "relevance",
        offset: int = 0,
        limit: int = 20,
    ) -> SearchPage:
        """Matching documents; confinement is part of the statement's WHERE clause.

        The chunk count (only for phrases) and the results are read in one REPEATABLE READ
        snapshot; total, facets and page come from one statement.

        Raises:
            ValueError: negative offset, limit < 1, unknown sort or malformed query.
        """
        if offset < 0 or limit < 1:
            raise ValueError("offset must be >= 0 and limit >= 1")
        if sort not in ("relevance", "date"):
            raise ValueError(f"unknown sort {sort!r}")
        if query is not None:
            compile_tsquery(query, 1)  # validate before touching the database
        if not filters.case_ids:
            return SearchPage(total=0, hits=[], facets={name: {} for name in FACET_FIELDS})
        with (
            self._engine.connect().execution_options(
                isolation_level="REPEATABLE READ"
            ) as connection,
            connection.begin(),
        ):
            where = _where(filters)
            score: ColumnElement[float] = literal(0.0)
            if query is not None:
                chunks = 1
                if _has_phrase(query):
                    chunks = connection.execute(
                        select(func.coalesce(func.max(_table.c.chunks), 1))
                    ).scalar_one()
                tsquery = cast(literal(compile_tsquery(query, chunks), Text()), TSQUERY)
                where = and_(where, _table.c.tokens.bool_op("@@")(tsquery))
                if sort == "relevance":
                    score = func.ts_rank_cd(_table.c.tokens, tsquery)
            statement = _search_statement(where, score, sort, offset, limit)
            rows = connection.execute(statement).all()
        facets: dict[str, dict[str, int]] = {name: {} for name in FACET_FIELDS}
        total = 0
        page: list[tuple[int, ScoredHit]] = []
        for kind, value, count, rank in rows:
            if kind == _TOTAL_ROW:
                total = int(count)
            elif kind == _PAGE_ROW:
                page.append((int(count), ScoredHit(testimony_id=str(value), score=float(rank))))
            elif value is not None:
                facets[str(kind)][str(value)] = int(count)
        hits = [hit for _, hit in sorted(page, key=lambda item: item[0])]
        return SearchPage(total=total, hits=hits, facets=facets)


__all__ = [
    "CHUNK_LENGTH",
    "PHRASE_WINDOW",
    "EncodedTokens",
    "PostgresSearchIndex",
    "compile_tsquery",
    "encode_tokens",
]
