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


def parse_line(line: str | bytes) -> TestimonyImport:
    """Raises ValueError with a message naming the field (never echoing the content)."""
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ValueError(f"not valid UTF-8 (byte {error.start + 1})") from None
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"not valid JSON (column {error.colno}: {error.msg})") from None
    try:
        return TestimonyImport.model_validate(raw)
    except ValidationError as error:
        raise ValueError(_describe_validation(error)) from None


def _numbered(lines: Iterable[str | bytes]) -> Iterator[tuple[int, str | bytes]]:
    for number, text in enumerate(lines, start=1):
        if text.strip():
            yield number, text


def _record_refusal(scope: Scope, principal: Principal, error: DomainError, line: int) -> None:
    """A refused line is on the record as a refusal, like a refused request (invariant 2).

    The line's savepoint was rolled back; the refusal is written in the batch's transaction.
    """
    refusal = error.refusal
    assert refusal is not None
    if refusal.on_record is not None:
        refusal.on_record(scope.session)
    scope.custody.append(
        Action(refusal.action),
        actor=principal,
        object_type=refusal.object_type,
        object_id=refusal.object_id,
        outcome=Outcome.DENIED if refusal.denied else Outcome.FAILED,
        details={**refusal.details, "problem": error.slug, "line": line},
        actor_name=refusal.actor_name,
    )


def import_lines(
    runtime: Runtime,
    context: RequestContext,
    principal: Principal,
    lines: Iterable[str | bytes],
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
            refused: DomainError | None = None
            savepoint = scope.session.begin_nested()
            try:
                created = service.create(parse_line(text))
                savepoint.commit()
                report.imported += 1
                report.testimony_ids.append(created.id)
            except (ValueError, DomainError) as error:
                savepoint.rollback()
                problem = error.detail if isinstance(error, DomainError) else str(error)
                if isinstance(error, DomainError) and error.refusal is not None:
                    refused = error
            if progress:
                progress(number)
            if refused is not None:
                _record_refusal(scope, principal, refused, number)
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
