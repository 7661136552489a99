"""Bulk import of testimonies from JSONL, one testimony per line.

Lines are committed in batches for speed, each inside its own savepoint: a bad line is
rolled back completely (its record, its custody events) and reported, and never leaves a
partial testimony behind.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from pydantic import ValidationError

from service.context import Principal, RequestContext
from service.custody.actions import Action, Outcome
from service.errors import DomainError
from service.runtime import Runtime, Scope
from service.testimony.schemas import TestimonyImport
from service.testimony.service import TestimonyService


@dataclass(frozen=True)
class LineProblem:
    line: int
    problem: str


@dataclass
class ImportReport:
    imported: int = 0
    rejected: list[LineProblem] = field(default_factory=list)
    stopped_early: bool = False
    testimony_ids: list[str] = field(default_factory=list)


def _describe_validation(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:5]:
        location = ".".join(str(p) for p in item.get("loc", ()))
        parts.append(f"{location or 'line'}: {item.get('msg')}")
    return "; ".join(parts)


def parse_line(text: str) -> TestimonyImport:
    """Raises ValueError with a message naming the field (never echoing the content)."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"not valid JSON (column {error.colno}: {error.msg})") from None
    try:
        return TestimonyImport.model_validate(raw)
    except ValidationError as error:
        raise ValueError(_describe_validation(error)) from None


def _numbered(lines: Iterable[str]) -> Iterator[tuple[int, str]]:
    for number, text in enumerate(lines, start=1):
        if text.strip():
            yield number, text


def import_lines(
    runtime: Runtime,
    context: RequestContext,
    principal: Principal,
    lines: Iterable[str],
    *,
    stop_on_error: bool = False,
    batch_size: int = 200,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    report = ImportReport()
    pending = _numbered(lines)

    def run_batch(scope: Scope) -> bool:
        """Imports up to batch_size lines; returns False once input is exhausted or stopped."""
        service = TestimonyService(scope)
        for _ in range(batch_size):
            item = next(pending, None)
            if item is None:
                return False
            number, text = item
            problem: str | None = None
            savepoint = scope.session.begin_nested()
            try:
                created = service.create(parse_line(text))
                savepoint.commit()
                report.imported += 1
                report.testimony_ids.append(created.id)
            except (ValueError, DomainError) as error:
                savepoint.rollback()
                problem = error.detail if isinstance(error, DomainError) else str(error)
            if progress:
                progress(number)
            if problem is not None:
                report.rejected.append(LineProblem(number, problem))
                scope.custody.append(
                    Action.IMPORT_LINE_REJECTED,
                    actor=principal,
                    object_type="import",
                    object_id=None,
                    outcome=Outcome.FAILED,
                    details={"line": number},
                )
                if stop_on_error:
                    report.stopped_early = True
                    return False
        return True

    while runtime.run(context, principal, run_batch):
        pass
    return report
