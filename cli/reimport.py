"""``custodia import-bag``: verify a bag from another Custodia, then import it with provenance."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

from cli.common import console, context, errors, fail, opened_runtime, signed_in
from service.errors import DomainError
from service.export.reimport import BagImportService
from service.export.verify import load_public_key


def import_bag(
    path: Annotated[Path, typer.Argument(exists=True, help="Bag directory or tar file.")],
    case: Annotated[str, typer.Option(help="Case to import into (you must be able to write).")],
    identity: Annotated[
        Path | None,
        typer.Option(
            exists=True, dir_okay=False, help="age identity file, for a bag encrypted to us."
        ),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(
            help="The origin's published key: PEM file, or verifier key (name+id+base64|@FILE)."
        ),
    ] = None,
) -> None:
    """Verify a bag exported by another Custodia and import its testimonies into CASE.

    Nothing is imported unless the whole bag verifies; the imported testimonies keep their
    origin, original ids and custody proofs (shown as 'provenance' when read).
    """
    try:
        trusted = load_public_key(key) if key else None
    except (OSError, ValueError) as error:
        raise fail(f"cannot use --key: {error}", 2) from None
    with opened_runtime() as runtime:
        try:
            principal = signed_in(runtime)
        except DomainError as error:
            raise fail(error.detail) from None
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=errors,
        ) as progress:
            tasks: dict[str, TaskID] = {}

            def step(name: str, done: int, total: int) -> None:
                label = name if name == "testimonies" else f"verify: {name}"
                if label not in tasks:
                    tasks[label] = progress.add_task(label, total=total)
                progress.update(tasks[label], completed=done)

            try:
                result = runtime.run(
                    context(),
                    principal,
                    lambda s: BagImportService(s).import_bag(
                        path, case, identity=identity, trusted_key=trusted, progress=step
                    ),
                )
            except DomainError as error:
                raise fail(f"IMPORT REFUSED: {error.detail}") from None
    for warning in result.warnings:
        errors.print(f"[bold yellow]warning:[/] {warning}", highlight=False)
    table = Table(
        "bag directory",
        "original testimony",
        "new testimony",
        "incidents",
        "attachments",
        title=f"Imported from {result.origin_organization} (export {result.origin_export_id})",
    )
    for item in result.testimonies:
        table.add_row(
            item.bag_directory,
            item.original_id,
            item.testimony_id,
            str(len(item.incidents)),
            str(len(item.attachments)),
        )
    console.print(table)
    console.print(
        f"Import {result.import_id} into case {result.case}: {len(result.testimonies)} "
        f"testimon{'y' if len(result.testimonies) == 1 else 'ies'}; the bag's "
        f"{result.custody_events} custody events and its checkpoint (tree size "
        f"{result.checkpoint_size}) are kept with them.",
        highlight=False,
    )
