"""The embedded search backend: Whoosh over blind tokens, in a private directory.

Whoosh never sees a plaintext word: each text field arrives as its list of blind tokens and
is indexed as given (position i for the i-th token, no lowercasing, stemming or stop words),
so phrases still work. Coding metadata is indexed as exact keyword terms.

Security: Whoosh's table of contents and posting values are Python pickles, and unpickling
runs code. Anyone who can write into the index directory can therefore run code in the
service, so the directory is created 0700, files 0600, and a directory that group or others
can reach, or that another user owns, is refused.

Concurrency: one writer at a time, enforced by a per-directory ``threading.Lock`` inside the
process and Whoosh's file lock across processes (waited for up to ``lock_timeout`` seconds,
then :class:`IndexBusyError`). Readers never block. Each commit is fsynced before the new
table of contents is renamed into place, so ``upsert`` is durable when it returns.

Filters and facets use per-segment bitmaps (one Python int per keyword value, read once per
immutable segment and cached). The caller's cases and filters become a bitmap of allowed
documents that is handed to Whoosh as its ``filter``, so nothing outside it is ever scored,
counted or returned; facet counts are bit counts of value bitmaps AND the matches. At 10,000
documents this took ~1 ms against ~450-900 ms for ``whoosh.sorting`` with ``maptype=Count``
and up to ~450 ms for a pass over stored fields; building a segment's bitmaps costs
~0.2 s once per new segment. Whoosh's own ``Or`` of case terms as a filter took ~200 ms.

whoosh-reloaded 2.7.5 quirks avoided here: ``Searcher.refresh`` re-adds merged-away segments
(documents counted twice), unsigned ``NUMERIC`` ranges match everything, and a falsy
``filter`` means no filter at all.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import re
import stat
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from whoosh import fields as wf
from whoosh import query as wq
from whoosh import sorting
from whoosh.analysis import SpaceSeparatedTokenizer
from whoosh.filedb.filestore import FileStorage
from whoosh.filedb.structfile import StructFile
from whoosh.idsets import DocIdSet
from whoosh.index import LockError
from whoosh.writing import CLEAR

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

INDEX_NAME: Final = "custodia"
TOKEN_PATTERN: Final = re.compile(r"[A-Za-z0-9_-]+")
"""Blind tokens are urlsafe base64: anything else is a bug upstream, refused loudly."""

_NO_DATE: Final = 0
"""Column value of a missing date: below every real ordinal, so undated sorts last."""

# Facet name (interfaces.FACET_FIELDS) -> indexed keyword field holding its values.
_FACET_SOURCES: Final = {
    "category": "categories",
    "place": "places",
    "facility": "facilities",
    "institution": "institutions",
    "involvement": "involvements",
    "language": "language",
    "case": "case_id",
    "consent_scope": "consent_scopes",
    "year": "years",
}
_SET_FIELDS: Final = (
    "categories",
    "places",
    "facilities",
    "institutions",
    "involvements",
    "consent_scopes",
)
# SearchFilters attribute -> facet whose bitmaps answer it (ANY of the values matches).
_FILTER_FACETS: Final = (
    ("categories", "category"),
    ("places", "place"),
    ("facilities", "facility"),
    ("institutions", "institution"),
    ("involvements", "involvement"),
    ("languages", "language"),
    ("consent_scopes", "consent_scope"),
)

_DIRECTORY_LOCKS: dict[Path, threading.Lock] = {}
_DIRECTORY_LOCKS_GUARD = threading.Lock()


class IndexBusyError(TimeoutError):
    """Another process held the index's write lock for longer than the allowed wait."""


class IndexDirectoryError(PermissionError):
    """The index directory is unsafe to load pickles from (or is not a directory)."""


class IndexSchemaError(RuntimeError):
    """The directory holds an index built with another schema: rebuild it (reindex)."""


def _directory_lock(directory: Path) -> threading.Lock:
    """One lock per index directory for the whole process, however many instances open it."""
    with _DIRECTORY_LOCKS_GUARD:
        return _DIRECTORY_LOCKS.setdefault(directory, threading.Lock())


def prepare_directory(directory: Path) -> Path:
    """Create ``directory`` 0700 if absent; refuse one others could read or write.

    Raises:
        IndexDirectoryError: not a directory, owned by another user, or group/other bits set.
    """
    if not directory.exists():
        directory.mkdir(mode=0o700, parents=True)
        directory.chmod(0o700)  # mkdir's mode is filtered by the umask
    info = directory.lstat()
    if not stat.S_ISDIR(info.st_mode):
        raise IndexDirectoryError(f"search index path is not a directory: {directory}")
    if info.st_uid != os.getuid():
        raise IndexDirectoryError(f"search index directory is owned by another user: {directory}")
    if info.st_mode & 0o077:
        raise IndexDirectoryError(
            f"search index directory {directory} is accessible to group or others "
            f"(mode {stat.S_IMODE(info.st_mode):04o}); it must be 0700 because the index "
            "contains pickles that run code when loaded"
        )
    return directory.resolve()


class _DurableFileStorage(FileStorage):  # type: ignore[misc]
    """FileStorage whose files are private and whose commits survive a power cut.

    Whoosh publishes a commit by renaming a new table of contents into place (its only use
    of ``rename_file``). Before that rename we fsync every file not yet synced (the new
    segment and the TOC itself), and afterwards the directory.
    """

    def __init__(self, path: str) -> None:
        super().__init__(path, supports_mmap=True)
        self._synced: set[str] = set()

    def create_file(self, name: str, excl: bool = False, mode: str = "wb", **kwargs: Any) -> Any:
        if self.readonly:
            return super().create_file(name, excl=excl, mode=mode, **kwargs)
        flags = os.O_CREAT | os.O_WRONLY | (os.O_EXCL if excl else os.O_TRUNC)
        fd = os.open(self._fpath(name), flags, 0o600)
        self._synced.discard(name)
        return StructFile(os.fdopen(fd, mode), name=name, **kwargs)

    def lock(self, name: str) -> Any:
        # Whoosh's FileLock creates its file with the umask's mode; make it private first.
        with contextlib.suppress(FileExistsError):
            os.close(os.open(self._fpath(name), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        return super().lock(name)

    def rename_file(self, oldname: str, newname: str, safe: bool = False) -> None:
        present = set(self.list())
        self._synced &= present
        for name in sorted(present - self._synced):
            path = Path(self.folder) / name
            with contextlib.suppress(FileNotFoundError):
                if stat.S_ISREG(path.lstat().st_mode):
                    _fsync_path(path, os.O_RDONLY)
                    self._synced.add(name)
        super().rename_file(oldname, newname, safe=safe)
        self._synced.discard(oldname)
        self._synced.add(newname)
        _fsync_path(Path(self.folder), os.O_RDONLY | os.O_DIRECTORY)


def _cancel(writer: Any) -> None:
    """Cancel a writer; stop an MpWriter's forked workers first (cancel() leaves them alive)."""
    for task in getattr(writer, "tasks", ()):
        if isinstance(task, multiprocessing.process.BaseProcess) and task.is_alive():
            task.terminate()
            task.join(timeout=10)
    writer.cancel()


def _fsync_path(path: Path, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def build_schema() -> wf.Schema:
    """The index layout. Text fields take token *lists* (see :func:`_document_fields`)."""

    def keyword() -> wf.KEYWORD:
        return wf.KEYWORD(lowercase=False, commas=False, scorable=False)

    schema_fields: dict[str, Any] = {
        "testimony_id": wf.ID(unique=True, stored=True),
        "case_id": wf.ID(),
        "language": wf.ID(),
        "years": keyword(),
        "date_start": wf.NUMERIC(int, bits=32, sortable=True, default=_NO_DATE),
        "date_end": wf.NUMERIC(int, bits=32, sortable=True, default=_NO_DATE),
        "interview_date": wf.NUMERIC(int, bits=32, sortable=True),
    }
    for name in _SET_FIELDS:
        schema_fields[name] = keyword()
    for name in TEXT_FIELDS:
        # The analyzer only runs on a str value; we always pass lists, which Whoosh indexes
        # verbatim at positions 0, 1, 2, ... A space tokenizer gives a str the same meaning
        # (no lowercasing: blind tokens are case-sensitive base64).
        schema_fields[name] = wf.TEXT(analyzer=SpaceSeparatedTokenizer(), phrase=True)
    return wf.Schema(**schema_fields)


def _signature(schema: Any) -> list[tuple[str, ...]]:
    """What must match between the stored schema and ours (field objects lack a usable ==)."""
    return [
        (
            name,
            type(field).__name__,
            type(field.format).__name__,
            str(field.stored),
            str(field.unique),
            type(field.column_type).__name__,
        )
        for name, field in sorted(schema.items())
    ]


def _checked_tokens(tokens: Iterable[str]) -> list[str]:
    checked = list(tokens)
    for token in checked:
        if not isinstance(token, str) or not TOKEN_PATTERN.fullmatch(token):
            raise ValueError("blind tokens must be non-empty urlsafe base64 strings")
    return checked


def _document_fields(document: IndexedDocument) -> dict[str, Any]:
    """Keyword arguments for ``writer.add_document``: lists are indexed value by value.

    Passing lists (not joined strings) means facet values may contain any character,
    spaces and commas included, and text tokens skip the analyzer entirely.
    """
    values: dict[str, Any] = {
        "testimony_id": document.testimony_id,
        "case_id": str(document.case_id),
        "language": document.language,
        "interview_date": document.interview_date.toordinal(),
    }
    if document.date_start is not None:
        values["date_start"] = document.date_start.toordinal()
    if document.date_end is not None:
        values["date_end"] = document.date_end.toordinal()
    for name in _SET_FIELDS:
        members: frozenset[str] = getattr(document, name)
        if members:
            values[name] = sorted(members)
    if document.years:
        values["years"] = [str(year) for year in sorted(document.years)]
    for name, tokens in document.fields.items():
        if name not in TEXT_FIELDS:
            raise ValueError(f"unknown text field {name!r}")
        checked = _checked_tokens(tokens)
        if checked:
            values[name] = checked
    return values


def compile_query(node: QueryNode) -> wq.Query:
    """The Whoosh query for a blind query tree (phrases are exact, adjacent, in order).

    Raises:
        ValueError: unknown field, empty phrase or group, or a malformed token.
    """
    if isinstance(node, Phrase):
        if node.field not in TEXT_FIELDS:
            raise ValueError(f"unknown text field {node.field!r}")
        tokens = _checked_tokens(node.tokens)
        if not tokens:
            raise ValueError("a phrase needs at least one token")
        if len(tokens) == 1:
            return wq.Term(node.field, tokens[0])
        return wq.Phrase(node.field, tokens, slop=1)
    if isinstance(node, And | Or):
        if not node.children:
            raise ValueError("an And/Or node needs at least one child")
        children = [compile_query(child) for child in node.children]
        return wq.And(children) if isinstance(node, And) else wq.Or(children)
    if isinstance(node, Not):
        return wq.Not(compile_query(node.child))
    raise ValueError(f"unsupported query node {type(node).__name__}")


def _empty_facets() -> dict[str, dict[str, int]]:
    return {name: {} for name in FACET_FIELDS}


def _bitmap(docnums: Iterable[int], size: int) -> int:
    """Docnums as bits of one int, so set intersection and counting run in C."""
    bits = bytearray((size + 7) // 8)
    for docnum in docnums:
        bits[docnum >> 3] |= 1 << (docnum & 7)
    return int.from_bytes(bits, "little")


class _AllowedDocs(DocIdSet):  # type: ignore[misc]
    """Whoosh's ``filter=`` over a bitmap: membership is one byte lookup, nothing to build.

    Never pass an empty one: Whoosh treats a falsy filter as no filter at all.
    """

    def __init__(self, bitmap: int, size: int) -> None:
        self._bits = bitmap.to_bytes((size + 7) // 8, "little")
        self._count = bitmap.bit_count()

    def __contains__(self, docnum: object) -> bool:
        if not isinstance(docnum, int) or not 0 <= docnum >> 3 < len(self._bits):
            return False
        return bool(self._bits[docnum >> 3] >> (docnum & 7) & 1)

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[int]:
        for index, byte in enumerate(self._bits):
            if byte:
                yield from ((index << 3) + bit for bit in range(8) if byte >> bit & 1)


class _SearcherPool:
    """Idle searchers for reuse: opening one costs ~10 ms, checking it is current ~0.1 ms.

    A searcher is used by one thread at a time and replaced once a commit made it stale, so
    a search always sees the writes that returned before it started.
    """

    def __init__(self, index: Any, keep: int = 8) -> None:
        self._index = index
        self._keep = keep
        self._idle: list[Any] = []
        self._guard = threading.Lock()
        self._closed = False

    @contextlib.contextmanager
    def searcher(self) -> Iterator[Any]:
        with self._guard:
            searcher = self._idle.pop() if self._idle else None
        if searcher is not None and not searcher.up_to_date():
            # Not searcher.refresh(): whoosh-reloaded 2.7.5 re-adds merged-away segments
            # when it reuses readers, so a refreshed searcher can count documents twice.
            searcher.close()
            searcher = None
        if searcher is None:
            searcher = self._index.searcher()
        try:
            yield searcher
        finally:
            with self._guard:
                if self._closed or len(self._idle) >= self._keep:
                    searcher.close()
                else:
                    self._idle.append(searcher)

    def close(self) -> None:
        with self._guard:
            self._closed = True
            idle, self._idle = self._idle, []
        for searcher in idle:
            searcher.close()


@dataclass(frozen=True)
class _Segment:
    """What filters and facets need from one immutable segment, read once and cached.

    Deleted documents stay in here; they never match a query, so they are never counted.
    """

    size: int
    facets: dict[str, dict[str, int]]
    """Facet name -> value -> bitmap of the segment's documents having it."""
    date_start: list[int]
    date_end: list[int]
    """Date ordinals per document, ``_NO_DATE`` when absent."""

    def allowed(self, filters: SearchFilters) -> int:
        """Bitmap of the segment's documents inside ``filters`` (case confinement first)."""
        cases = self.facets["case"]
        allowed = 0
        for case_id in filters.case_ids:
            allowed |= cases.get(str(case_id), 0)
        for attribute, facet in _FILTER_FACETS:
            wanted: frozenset[str] = getattr(filters, attribute)
            if wanted and allowed:
                values = self.facets[facet]
                any_of = 0
                for value in wanted:
                    any_of |= values.get(value, 0)
                allowed &= any_of
        if filters.years and allowed:
            by_year = self.facets["year"]
            any_year = 0
            for year in filters.years:
                any_year |= by_year.get(str(year), 0)
            allowed &= any_year
        if filters.date_from is not None and allowed:
            low = filters.date_from.toordinal()
            allowed &= _bitmap((n for n, end in enumerate(self.date_end) if end >= low), self.size)
        if filters.date_to is not None and allowed:
            high = filters.date_to.toordinal()
            allowed &= _bitmap(
                (n for n, start in enumerate(self.date_start) if _NO_DATE < start <= high),
                self.size,
            )
        return allowed


class WhooshSearchIndex:
    """The :class:`~service.search.interfaces.SearchIndex` of the embedded tier."""

    def __init__(self, directory: Path, *, lock_timeout: float = 30.0, limitmb: int = 256) -> None:
        """Open (or create) the index in ``directory``.

        Raises:
            IndexDirectoryError: the directory is not private to this user (see module doc).
            IndexSchemaError: the index there was built with another schema.
        """
        self._directory = prepare_directory(directory)
        self._lock = _directory_lock(self._directory)
        self._lock_timeout = lock_timeout
        self._limitmb = limitmb
        self._storage = _DurableFileStorage(str(self._directory))
        self._segments: dict[str, _Segment] = {}
        self._segments_guard = threading.Lock()
        schema = build_schema()
        with self._lock:
            if self._storage.index_exists(INDEX_NAME):
                self._index = self._storage.open_index(INDEX_NAME)
                if _signature(self._index.schema) != _signature(schema):
                    raise IndexSchemaError(
                        "the search index was built with another schema; rebuild it"
                    )
            else:
                self._index = self._storage.create_index(schema, indexname=INDEX_NAME)
        self._searchers = _SearcherPool(self._index)

    # ---- writes ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _writer(self, **options: Any) -> Iterator[Any]:
        """A Whoosh writer under both locks; cancelled (and unlocked) if the body raises."""
        with self._lock:
            try:
                writer = self._index.writer(
                    timeout=self._lock_timeout, delay=0.05, limitmb=self._limitmb, **options
                )
            except LockError as error:
                raise IndexBusyError(
                    f"the search index stayed locked for {self._lock_timeout:g} s"
                ) from error
            try:
                yield writer
            except BaseException:
                _cancel(writer)
                raise

    def upsert(self, documents: Sequence[IndexedDocument]) -> None:
        """Add or replace documents in one commit; a repeated id keeps its last version."""
        latest = {document.testimony_id: document for document in documents}
        if not latest:
            return
        prepared = [_document_fields(document) for document in latest.values()]
        with self._writer() as writer:
            # What update_document does, with one searcher for the batch instead of one each.
            with writer.searcher() as searcher:
                for testimony_id in latest:
                    writer.delete_by_term("testimony_id", testimony_id, searcher=searcher)
            for values in prepared:
                writer.add_document(**values)
            writer.commit()

    def bulk_upsert(self, documents: Iterable[IndexedDocument], procs: int = 1) -> int:
        """Stream many documents into one commit (for ``reindex``); returns how many.

        With ``procs > 1`` Whoosh forks worker processes that each write a segment
        (``multisegment``): use it from the CLI, not from a threaded server. Whoosh drops a
        failed worker's documents silently, so the document count is checked afterwards.

        Raises:
            ValueError: an id occurs twice in ``documents`` (nothing is written).
            RuntimeError: documents went missing in a worker process.
        """
        if procs < 1:
            raise ValueError("procs must be >= 1")
        options: dict[str, Any] = {"procs": procs, "multisegment": True} if procs > 1 else {}
        seen: set[str] = set()
        deleted = 0
        with self._writer(**options) as writer:
            before = self._index.doc_count()
            with writer.searcher() as searcher:
                for document in documents:
                    if document.testimony_id in seen:
                        raise ValueError(f"testimony {document.testimony_id} given twice")
                    seen.add(document.testimony_id)
                    values = _document_fields(document)
                    deleted += writer.delete_by_term(
                        "testimony_id", document.testimony_id, searcher=searcher
                    )
                    writer.add_document(**values)
            writer.commit()
        after = self._index.doc_count()
        if after != before - deleted + len(seen):
            raise RuntimeError(
                f"bulk indexing lost documents ({after} indexed, expected "
                f"{before - deleted + len(seen)}); rebuild the index"
            )
        return len(seen)

    def delete(self, testimony_ids: Sequence[str]) -> None:
        """Remove documents; unknown ids are ignored (and cost no commit)."""
        if not testimony_ids:
            return
        with self._writer() as writer:
            deleted = 0
            with writer.searcher() as searcher:
                for testimony_id in set(testimony_ids):
                    deleted += writer.delete_by_term(
                        "testimony_id", testimony_id, searcher=searcher
                    )
            if deleted:
                writer.commit()
            else:
                writer.cancel()

    def clear(self) -> None:
        """Drop every document (a commit with no segments left)."""
        with self._writer() as writer:
            writer.commit(mergetype=CLEAR)

    def optimize(self) -> None:
        """Merge all segments into one and purge deleted documents (after a bulk load).

        Skipped when there is one segment without deletions: Whoosh would rewrite it whole.
        """
        with self._writer() as writer:
            with self._searchers.searcher() as searcher:
                done = (
                    len(_leaves(searcher)) <= 1 and searcher.doc_count() == searcher.doc_count_all()
                )
            if done:
                writer.cancel()
            else:
                writer.commit(optimize=True)

    def close(self) -> None:
        self._searchers.close()
        with self._segments_guard:
            self._segments.clear()
        self._index.close()

    # ---- reads -------------------------------------------------------------------------------

    def document_ids(self) -> set[str]:
        with self._searchers.searcher() as searcher:
            stored = searcher.reader().all_stored_fields()
            return {str(values["testimony_id"]) for values in stored}

    def search(
        self,
        query: QueryNode | None,
        filters: SearchFilters,
        *,
        sort: Sort = "relevance",
        offset: int = 0,
        limit: int = 20,
    ) -> SearchPage:
        """Matching documents, confined to ``filters`` by Whoosh's ``filter`` argument.

        The filter is the set of documents inside the caller's cases and filters, computed
        from the index's own postings before the query runs, so Whoosh never scores, counts
        or returns anything outside it.

        Raises:
            ValueError: negative offset, limit < 1, unknown sort or malformed query.
        """
        if offset < 0 or limit < 1:
            raise ValueError("offset must be >= 0 and limit >= 1")
        if sort not in ("relevance", "date"):
            raise ValueError(f"unknown sort {sort!r}")
        compiled = wq.Every() if query is None else compile_query(query)
        if not filters.case_ids:
            return SearchPage(total=0, hits=[], facets=_empty_facets())
        with self._searchers.searcher() as searcher:
            if searcher.doc_count() == 0:
                return SearchPage(total=0, hits=[], facets=_empty_facets())
            leaves = [(self._segment(leaf), base) for leaf, base in _leaves(searcher)]
            allowed = 0
            for segment, base in leaves:
                allowed |= segment.allowed(filters) << base
            if not allowed:
                return SearchPage(total=0, hits=[], facets=_empty_facets())
            size = searcher.doc_count_all()
            options: dict[str, Any] = {"limit": None, "filter": _AllowedDocs(allowed, size)}
            if sort == "date":
                options["sortedby"] = sorting.FieldFacet("date_start", reverse=True)
            results = searcher.search(compiled, **options)
            matched = results.docs()
            hits = [
                # Under date sort Whoosh reports the sort key as the score: report no score.
                ScoredHit(
                    testimony_id=str(hit["testimony_id"]),
                    score=float(hit.score) if sort == "relevance" else 0.0,
                )
                for hit in results[offset : offset + limit]
            ]
            facets = _facet_counts(leaves, _bitmap(matched, size))
        return SearchPage(total=len(matched), hits=hits, facets=facets)

    def _segment(self, leaf: Any) -> _Segment:
        """The cached :class:`_Segment` of a leaf reader (segments never change)."""
        key = str(leaf.segment().segment_id())
        cached = self._segments.get(key)
        if cached is not None:
            return cached
        size = int(leaf.doc_count_all())
        facets: dict[str, dict[str, int]] = {}
        for facet, field in _FACET_SOURCES.items():
            facets[facet] = {
                term.decode("utf-8"): _bitmap(leaf.postings(field, term).all_ids(), size)
                for term in leaf.lexicon(field)
            }
        segment = _Segment(
            size=size,
            facets=facets,
            date_start=_column(leaf, "date_start", size),
            date_end=_column(leaf, "date_end", size),
        )
        with self._segments_guard:
            if len(self._segments) > 1024:
                self._segments.clear()
            self._segments[key] = segment
        return segment


def _leaves(searcher: Any) -> list[tuple[Any, int]]:
    return [(leaf, int(base)) for leaf, base in searcher.reader().leaf_readers()]


def _column(leaf: Any, field: str, size: int) -> list[int]:
    if not leaf.has_column(field):
        return [_NO_DATE] * size
    return [int(value) for value in leaf.column_reader(field)]


def _facet_counts(leaves: list[tuple[_Segment, int]], matched: int) -> dict[str, dict[str, int]]:
    """Per facet value, how many matching documents have it (bit counts, in C)."""
    counts: dict[str, Counter[str]] = {name: Counter() for name in FACET_FIELDS}
    for segment, base in leaves:
        local = (matched >> base) & ((1 << segment.size) - 1)
        if not local:
            continue
        for facet, values in segment.facets.items():
            tally = counts[facet]
            for value, bitmap in values.items():
                hits = (bitmap & local).bit_count()
                if hits:
                    tally[value] += hits
    return {name: dict(tally) for name, tally in counts.items()}
