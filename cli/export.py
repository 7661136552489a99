"""``custodia export`` (profiles, requests, approval, build, download, purge) and
``custodia bundle verify`` (offline: no database, no network)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

from cli.common import console, errors, fail, run_as_user
from service.export.schemas import (
    ExportDecision,
    ExportField,
    ExportRequestCreate,
    RecipientKind,
    RecipientProfileCreate,
)
from service.export.service import ExportService
from service.export.verify import BagVerificationError, load_public_key, verify_bag_at

export_app = typer.Typer(help="Evidence exports as signed BagIt bags.", no_args_is_help=True)
profile_app = typer.Typer(help="Recipient profiles (administrators).", no_args_is_help=True)
export_app.add_typer(profile_app, name="profile")
bundle_app = typer.Typer(help="Check an export bag offline.", no_args_is_help=True)


def _echo(model: object) -> None:
    dump = getattr(model, "model_dump_json", None)
    typer.echo(dump(indent=2) if dump else json.dumps(model, indent=2, ensure_ascii=False))


@profile_app.command("add")
def profile_add(
    name: str,
    kind: Annotated[RecipientKind, typer.Option(help="Kind of recipient.")],
    field: Annotated[
        list[ExportField] | None, typer.Option(help="A field it may receive (repeatable).")
    ] = None,
    include_identity: Annotated[
        bool, typer.Option(help="Send witness identity (judicial proceedings only).")
    ] = False,
    age_recipient: Annotated[
        str | None, typer.Option(help="Encrypt bags to this age public key (age1...).")
    ] = None,
) -> None:
    """Define a recipient and what it may receive."""
    body = RecipientProfileCreate(
        name=name,
        kind=kind,
        fields=field or None,
        include_identity=include_identity,
        age_recipient=age_recipient,
    )
    _echo(run_as_user(lambda s: ExportService(s).create_profile(body)))


@profile_app.command("list")
def profile_list() -> None:
    for profile in run_as_user(lambda s: ExportService(s).list_profiles()):
        _echo(profile)


@export_app.command("request")
def request(
    profile: Annotated[str, typer.Option(help="Recipient profile name.")],
    purpose: Annotated[str, typer.Option(help="Why this export is made (recorded).")],
    testimony: Annotated[list[str] | None, typer.Option(help="Testimony id (repeatable).")] = None,
    case: Annotated[list[str] | None, typer.Option(help="Every testimony of a case.")] = None,
    query: Annotated[str | None, typer.Option(help="Testimonies matching a search.")] = None,
) -> None:
    """Request an export; prints what consent let in and what it left out, and why."""
    body = ExportRequestCreate(
        profile=profile,
        purpose=purpose,
        testimony_ids=testimony or [],
        cases=case or [],
        query=query,
    )
    _echo(run_as_user(lambda s: ExportService(s).request(body)))


@export_app.command("list")
def list_exports() -> None:
    for export in run_as_user(lambda s: ExportService(s).list_exports()):
        _echo(export)


@export_app.command("show")
def show(export_id: str) -> None:
    _echo(run_as_user(lambda s: ExportService(s).get(export_id)))


@export_app.command("approve")
def approve(export_id: str, note: Annotated[str | None, typer.Option()] = None) -> None:
    """Approve someone else's export request."""
    _echo(
        run_as_user(lambda s: ExportService(s).decide(export_id, True, ExportDecision(note=note)))
    )


@export_app.command("reject")
def reject(export_id: str, note: Annotated[str | None, typer.Option()] = None) -> None:
    _echo(
        run_as_user(lambda s: ExportService(s).decide(export_id, False, ExportDecision(note=note)))
    )


@export_app.command("build")
def build(export_id: str) -> None:
    """Build the signed bag of an approved export (consent is checked again)."""
    _echo(run_as_user(lambda s: ExportService(s).build(export_id)))


@export_app.command("download")
def download(
    export_id: str, output: Annotated[Path, typer.Option("--output", "-o", help="Tar file.")]
) -> None:
    """Write the bag (a tar) to OUTPUT; refuses to overwrite a file."""
    if output.exists():
        raise fail(f"{output} exists; choose another name.")
    result = run_as_user(lambda s: ExportService(s).download(export_id))
    with output.open("xb") as handle:
        for chunk in result.chunks:
            handle.write(chunk)
    console.print(f"wrote {output} ({result.size} bytes, sha256 {result.sha256})", highlight=False)


@export_app.command("purge-expired")
def purge_expired() -> None:
    """Delete every bag past its expiry (administrators); each deletion is recorded."""
    purged = run_as_user(lambda s: ExportService(s).purge_expired())
    console.print(f"purged {len(purged)} expired bag(s)")
    for export_id in purged:
        console.print(f"  {export_id}")


@bundle_app.command("verify")
def bundle_verify(
    path: Annotated[Path, typer.Argument(help="Bag directory or tar file.")],
    key: Annotated[
        str | None,
        typer.Option(help="Trusted signer key: PEM file, or verifier key (name+id+base64|@FILE)."),
    ] = None,
    identity: Annotated[
        Path | None, typer.Option(help="age identity file, for a bag encrypted to you (.age).")
    ] = None,
) -> None:
    """Check a bag with no database and no network; names the first failure."""
    try:
        trusted = load_public_key(key) if key else None
    except (OSError, ValueError) as error:
        raise fail(f"cannot use --key: {error}", 2) from None
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=errors,
            transient=True,
        ) as progress:
            tasks: dict[str, TaskID] = {}

            def step(name: str, done: int, total: int) -> None:
                if name not in tasks:
                    tasks[name] = progress.add_task(name, total=total)
                progress.update(tasks[name], completed=done)

            report = verify_bag_at(path, trusted, step, identity)
    except BagVerificationError as error:
        raise fail(f"VERIFICATION FAILED: {error}") from None
    except (OSError, ValueError) as error:
        raise fail(f"cannot read {path}: {error}", 2) from None
    for warning in report.warnings:
        errors.print(f"[bold yellow]warning:[/] {warning}", highlight=False)
    console.print(
        f"OK: bag of export {report.export_id}: {report.payload_files} payload files from "
        f"{report.testimonies} testimonies, {report.events} custody events included in the "
        f"signed checkpoint at tree size {report.checkpoint_size}, consistent with the one at "
        f"size {report.previous_checkpoint_size}.",
        highlight=False,
    )
