"""``custodia shred ...`` (two-person crypto-shredding) and ``custodia analyst-export``."""

from __future__ import annotations

import os
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli.common import console, errors, fail, run_as_user
from service.analyst.service import AnalystExportService, IncidentFilters, render_csv, render_json
from service.shred.schemas import ShredRequestCreate
from service.shred.service import ShredService

shred_app = typer.Typer(
    help="Crypto-shred testimonies: one administrator requests, a second approves.",
    no_args_is_help=True,
)


def _progress(label: str) -> Progress:
    return Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=errors
    )


@shred_app.command("request")
def shred_request(
    testimony_id: str,
    reason: Annotated[str, typer.Option(help="Why it must be destroyed (no identifying details).")],
    destroy_identity: Annotated[
        bool,
        typer.Option(help="Destroy the witness's identity even if they have other testimonies."),
    ] = False,
) -> None:
    """Ask for a testimony to be crypto-shredded; nothing happens until a second admin approves."""
    try:
        body = ShredRequestCreate(
            testimony_id=testimony_id, reason=reason, destroy_identity=destroy_identity
        )
    except ValueError as error:
        raise fail(f"Invalid request: {error}", 2) from None
    created = run_as_user(lambda s: ShredService(s).request(body))
    console.print(
        f"Shred request [bold]{created.id}[/] recorded for testimony {created.testimony_id}. "
        "A different administrator must approve it: "
        f"custodia shred approve {created.id}",
        highlight=False,
    )


@shred_app.command("approve")
def shred_approve(
    request_id: int,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Approve another administrator's request: destroys the testimony's keys. Irreversible."""
    if not yes and not typer.confirm(
        f"Approving shred request {request_id} destroys the testimony for good. Continue?"
    ):
        raise typer.Exit(1)
    result = run_as_user(lambda s: ShredService(s).approve(request_id))
    console.print(
        f"Testimony {result.testimony_id} was crypto-shredded (request {result.id}, requested "
        f"by {escape(result.requested_by)}, approved by {escape(result.approved_by or '?')}); "
        f"{result.attachments_deleted} attachment(s) deleted; witness identity "
        f"{'destroyed' if result.identity_shredded else 'kept (other testimonies remain)'}.",
        highlight=False,
    )
    if result.legacy_key:
        errors.print(
            "warning: this testimony's key predated shred binding; backups taken before "
            "'custodia shred bind-legacy' ran can still be decrypted (docs/security.md)."
        )


@shred_app.command("list")
def shred_list() -> None:
    """Shred requests waiting for approval."""
    pending = run_as_user(lambda s: ShredService(s).pending())
    table = Table("id", "testimony", "requested by", "requested at", "identity", "reason")
    for row in pending:
        table.add_row(
            str(row.id),
            row.testimony_id,
            escape(row.requested_by),
            row.requested_at.isoformat(timespec="seconds"),
            "destroy" if row.destroy_identity else "with last testimony",
            escape(row.reason),
        )
    console.print(table)


@shred_app.command("finish")
def shred_finish() -> None:
    """Complete shreds interrupted after approval (destroy leftover secrets and files)."""
    count = run_as_user(lambda s: ShredService(s).finish_pending())
    console.print(f"Completed {count} interrupted shred(s).")


@shred_app.command("bind-legacy")
def shred_bind_legacy() -> None:
    """Bind data keys made before shred binding to shred secrets (key managers)."""
    with _progress("binding keys") as progress:
        task = progress.add_task("bind", total=None)
        result = run_as_user(
            lambda s: ShredService(s).bind_legacy_keys(
                progress=lambda done, total: progress.update(task, completed=done, total=total)
            )
        )
    console.print(
        f"Bound {result.testimonies} testimony, {result.attachments} attachment and "
        f"{result.identities} identity key(s). Backups taken before now still hold the "
        "unbound keys: see docs/security.md."
    )


def analyst_export(
    output_format: Annotated[
        Literal["csv", "json"], typer.Option("--format", help="csv or json.")
    ] = "csv",
    case: Annotated[list[str] | None, typer.Option(help="Only these case codes.")] = None,
    category: Annotated[str | None, typer.Option(help="A category code (and its children).")] = (
        None
    ),
    date_from: Annotated[str | None, typer.Option("--from", help="YYYY-MM-DD")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="YYYY-MM-DD")] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here (mode 0600), not stdout.")
    ] = None,
) -> None:
    """Coded incidents of your cases for statistics: no narrative, no identity (a custody event).

    Only testimonies whose consent covers internal_analysis are included.
    """
    try:
        filters = IncidentFilters(
            cases=tuple(case or ()),
            category=category,
            date_from=date.fromisoformat(date_from) if date_from else None,
            date_to=date.fromisoformat(date_to) if date_to else None,
        )
    except ValueError:
        raise fail("Dates must be YYYY-MM-DD.", 2) from None
    with _progress("exporting incidents") as progress:
        task = progress.add_task("export", total=None)
        export = run_as_user(
            lambda s: AnalystExportService(s).incidents(
                filters,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
        )
    text = render_json(export) + "\n" if output_format == "json" else "".join(render_csv(export))
    if output is None:
        sys.stdout.write(text)
    else:
        try:
            fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise fail(f"{output} exists; choose a new file name.") from None
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
    errors.print(
        f"{len(export.rows)} incident(s) exported; {export.excluded_testimonies} testimony(ies) "
        "left out because their consent does not cover internal analysis.",
        highlight=False,
    )
