"""``custodia custody``: checkpoints, proofs, the verifier and the auditor's views."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from cli.common import (
    console,
    errors,
    fail,
    opened_runtime,
    run_as_user,
    signed_in,
    signed_in_without_recording,
)
from cli.common import context as cli_context
from service.custody.audit import CustodyService, EventFilter
from service.custody.merkle import MerkleError
from service.custody.note import NoteError, VerifierKey, parse_verifier_key
from service.custody.verify import VerificationReport
from service.errors import DomainError

custody_app = typer.Typer(help="The chain of custody (auditors).", no_args_is_help=True)
proof_app = typer.Typer(help="Inclusion and consistency proofs as JSON.", no_args_is_help=True)
custody_app.add_typer(proof_app, name="proof")


def _echo_json(model: object) -> None:
    dump = getattr(model, "model_dump_json", None)
    typer.echo(dump(indent=2) if dump else json.dumps(model, indent=2, ensure_ascii=False))


@custody_app.command("checkpoint")
def checkpoint(
    new: Annotated[bool, typer.Option("--new", help="Sign a fresh checkpoint now.")] = False,
) -> None:
    """Print the latest signed checkpoint (or make one with --new) as JSON."""
    result = run_as_user(
        lambda s: (
            CustodyService(s).make_checkpoint() if new else CustodyService(s).latest_checkpoint()
        )
    )
    _echo_json(result)


@custody_app.command("publish")
def publish() -> None:
    """Copy the latest checkpoint to every configured witness location."""
    paths = run_as_user(lambda s: CustodyService(s).publish_latest())
    for path in paths:
        console.print(f"published {path}")


@proof_app.command("inclusion")
def proof_inclusion(
    index: int,
    tree_size: Annotated[
        int | None, typer.Option(help="Tree size (default: last checkpoint).")
    ] = None,
) -> None:
    """Proof that event INDEX is in the log."""
    _echo_json(run_as_user(lambda s: CustodyService(s).inclusion(index, tree_size)))


@proof_app.command("consistency")
def proof_consistency(
    first: int,
    second: Annotated[
        int | None, typer.Argument(help="Larger size (default: last checkpoint).")
    ] = None,
) -> None:
    """Proof that the log of size FIRST is a prefix of the log of size SECOND."""
    _echo_json(run_as_user(lambda s: CustodyService(s).consistency(first, second)))


def _load_keys(values: list[str]) -> list[VerifierKey]:
    keys = []
    for value in values:
        text = Path(value).read_text(encoding="utf-8").strip() if Path(value).is_file() else value
        try:
            keys.append(parse_verifier_key(text))
        except NoteError as error:
            raise fail(f"not a verifier key: {value}: {error}", 2) from None
    return keys


@custody_app.command("verify")
def verify(
    against: Annotated[
        list[Path] | None,
        typer.Option("--against", help="A published checkpoint file to check the log against."),
    ] = None,
    key: Annotated[
        list[str] | None,
        typer.Option("--key", help="A trusted verifier key (vkey text or a file holding it)."),
    ] = None,
) -> None:
    """Recompute every leaf, node and checkpoint; exit 1 naming the first bad entry."""
    published = []
    for path in against or []:
        try:
            published.append((str(path), path.read_text(encoding="utf-8")))
        except OSError as error:
            raise fail(f"cannot read {path}: {error.strerror}", 2) from None
    keys = _load_keys(key or [])
    with opened_runtime() as runtime:
        try:
            try:
                principal = signed_in(runtime)
            except (SQLAlchemyError, MerkleError):
                errors.print(
                    "[yellow]warning:[/] the custody log cannot take new events, so this run "
                    "and its sign-in cannot be recorded; verifying anyway."
                )
                principal = signed_in_without_recording(runtime)
            with Progress(
                TextColumn("verifying"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=errors,
            ) as progress:
                task = progress.add_task("verify", total=None)
                report = runtime.run(
                    cli_context(),
                    principal,
                    lambda s: CustodyService(s).verify(
                        published=published,
                        extra_keys=keys,
                        progress=lambda done, total: progress.update(
                            task, completed=done, total=total
                        ),
                    ),
                )
        except DomainError as error:
            raise fail(error.detail) from None
    _print_report(report)
    if not report.ok:
        raise typer.Exit(1)


def _print_report(report: VerificationReport) -> None:
    table = Table("check", "result", title="Custody verification")
    table.add_row("events recomputed", str(report.events))
    table.add_row("log head", str(report.head_size))
    table.add_row("root hash", report.root_hash.hex())
    table.add_row("inner tree nodes", str(report.tree_nodes_checked))
    table.add_row("stored checkpoints", str(report.checkpoints_checked))
    table.add_row("published checkpoints", str(report.published_checked))
    table.add_row("object hashes", str(report.object_hashes_checked))
    table.add_row(
        "verdict", "[green]OK[/]" if report.ok else f"[red]{len(report.findings)} problem(s)[/]"
    )
    console.print(table)
    first = report.first
    if first is not None:
        console.print(f"[bold red]First bad entry:[/] {first}", highlight=False)
        for finding in report.findings[:20]:
            if finding is not first:
                console.print(f"  also: {finding}", highlight=False)


@custody_app.command("events")
def events(
    actor: Annotated[str | None, typer.Option(help="Only this username.")] = None,
    action: Annotated[
        str | None, typer.Option(help="Only this action, e.g. identity.reveal.")
    ] = None,
    object_type: Annotated[str | None, typer.Option(help="Only this object type.")] = None,
    object_id: Annotated[str | None, typer.Option(help="Only this object id.")] = None,
    channel: Annotated[str | None, typer.Option(help="api, web or cli.")] = None,
    since: Annotated[datetime | None, typer.Option(help="From this time (UTC).")] = None,
    until: Annotated[datetime | None, typer.Option(help="Before this time (UTC).")] = None,
    cursor: Annotated[int, typer.Option(help="Start at this sequence number.")] = 0,
    limit: Annotated[int, typer.Option(help="At most this many events.")] = 50,
) -> None:
    """The custody timeline as a table."""
    filters = EventFilter(actor, action, object_type, object_id, channel, since, until)
    page = run_as_user(lambda s: CustodyService(s).events(filters, cursor=cursor, limit=limit))
    table = Table(
        "seq",
        "time (UTC)",
        "actor",
        "role",
        "channel",
        "action",
        "outcome",
        "object",
        title="Custody timeline",
    )
    for event in page.events:
        style = "" if event.outcome == "ok" else "red"
        table.add_row(
            str(event.seq),
            event.time.strftime("%Y-%m-%d %H:%M:%S"),
            event.actor or "-",
            event.role or "-",
            event.channel,
            event.action,
            event.outcome,
            f"{event.object_type} {event.object_id or ''}".strip(),
            style=style,
        )
    console.print(table)
    if page.next_cursor is not None:
        console.print(f"more: --cursor {page.next_cursor}")


@custody_app.command("activity")
def activity(
    since: Annotated[datetime | None, typer.Option(help="From this time (UTC).")] = None,
) -> None:
    """Who did what, how often: a table and a bar per user."""
    rows = run_as_user(lambda s: CustodyService(s).activity(since))
    table = Table(
        "actor", "role", "action", "outcome", "count", "first", "last", title="Activity by user"
    )
    for row in rows:
        table.add_row(
            row.actor or "-",
            row.role or "-",
            row.action,
            row.outcome,
            str(row.count),
            row.first.strftime("%Y-%m-%d %H:%M"),
            row.last.strftime("%Y-%m-%d %H:%M"),
        )
    console.print(table)
    totals = Counter[str]()
    for row in rows:
        totals[row.actor or "-"] += row.count
    widest = max(totals.values(), default=1)
    for actor, count in totals.most_common():
        bar = "█" * max(1, round(40 * count / widest))
        console.print(f"{actor:>20} {bar} {count}", highlight=False)
