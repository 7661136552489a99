"""The ``custodia`` command: the same domain services as the HTTP API, without HTTP.

Commands that touch records run as a named user (``--user``; password from
``CUSTODIA_PASSWORD`` or a prompt) and are custody events on channel ``cli``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli.common import (
    console,
    context,
    errors,
    fail,
    opened_runtime,
    read_password_stdin,
    run_as_user,
    signed_in,
    state,
)
from cli.custody import custody_app
from cli.drafts import drafts_app
from cli.export import bundle_app, export_app
from cli.reimport import import_bag
from cli.search import reindex, search_app, stats
from cli.shred import analyst_export, shred_app
from service.access.keys import KeyService
from service.access.schemas import CaseCreate, UserCreate
from service.access.service import CaseService, UserService
from service.config import Settings
from service.context import Role
from service.crypto.errors import CryptoError
from service.crypto.interfaces import KeyPurpose
from service.errors import DomainError
from service.setup import initialise, is_initialised
from service.taxonomy.service import Taxonomy
from service.testimony.importer import import_lines
from service.testimony.schemas import TestimonyImport
from service.testimony.service import TestimonyService

app = typer.Typer(
    help="Custodia: encrypted testimonies with a verifiable chain of custody.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
user_app = typer.Typer(help="Manage user accounts (administrators).", no_args_is_help=True)
case_app = typer.Typer(
    help="Manage cases and their members (administrators).", no_args_is_help=True
)
taxonomy_app = typer.Typer(help="The violation taxonomy.", no_args_is_help=True)
testimony_app = typer.Typer(help="Read testimonies.", no_args_is_help=True)
schema_app = typer.Typer(help="JSON Schemas shipped in schemas/.", no_args_is_help=True)
key_app = typer.Typer(help="Key status and rotation (administrators).", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(case_app, name="case")
app.add_typer(taxonomy_app, name="taxonomy")
app.add_typer(testimony_app, name="testimony")
app.add_typer(schema_app, name="schema")
app.add_typer(key_app, name="key")
app.add_typer(custody_app, name="custody")
app.add_typer(search_app, name="search")
app.add_typer(export_app, name="export")
app.add_typer(bundle_app, name="bundle")
app.add_typer(drafts_app, name="drafts")
app.command("import-bag")(import_bag)
app.command("reindex")(reindex)
app.command("stats")(stats)
app.add_typer(shred_app, name="shred")
app.command("analyst-export")(analyst_export)

IMPORT_SCHEMA_PATH = (
    Path(__file__).resolve().parents[1] / "schemas" / "testimony-import.schema.json"
)


@app.callback()
def main_options(
    data_dir: Annotated[
        Path | None, typer.Option(envvar="CUSTODIA_DATA_DIR", help="Data directory.")
    ] = None,
    database_url: Annotated[
        str | None, typer.Option(envvar="CUSTODIA_DATABASE_URL", help="SQLAlchemy database URL.")
    ] = None,
    user: Annotated[
        str | None, typer.Option("--user", envvar="CUSTODIA_USER", help="Act as this user.")
    ] = None,
) -> None:
    overrides: dict[str, object] = {}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    if database_url is not None:
        overrides["database_url"] = database_url
    state.settings = Settings().model_copy(update=overrides)
    state.username = user


# ---- set-up and serving --------------------------------------------------------------------


@app.command()
def init(
    admin: Annotated[str, typer.Option(help="Username of the first administrator.")] = "admin",
    password_stdin: Annotated[bool, typer.Option(help="Read the admin password from stdin.")] = (
        False
    ),
) -> None:
    """Create the data directory, keyring and database, and the first administrator."""
    password = read_password_stdin() if password_stdin else None
    try:
        result = initialise(state.settings, admin_username=admin, admin_password=password)
    except (DomainError, CryptoError) as error:
        raise fail(str(error)) from None
    where = state.settings.resolved_data_dir
    if result.created_keyring:
        console.print(f"Created keyring in {state.settings.keyring_path} (mode 0600).")
    if result.admin is None:
        console.print(f"{where} is already initialised; nothing to do.")
        return
    console.print(f"Initialised Custodia in {where}.")
    if result.admin.one_time_password:
        console.print(
            f"First administrator [bold]{admin}[/]; one-time password (shown once, store it "
            f"safely):\n[bold yellow]{result.admin.one_time_password}[/]",
            highlight=False,
        )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    init_if_needed: Annotated[bool, typer.Option(help="Run 'init' first when needed.")] = False,
    ssl_certfile: Annotated[
        Path | None, typer.Option(help="Serve HTTPS with this PEM certificate (chain).")
    ] = None,
    ssl_keyfile: Annotated[
        Path | None, typer.Option(help="The certificate's PEM private key.")
    ] = None,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            help="Behind a TLS-terminating proxy: the proxy's address(es), comma-separated. "
            "Only then are X-Forwarded-Proto/For trusted, so cookies get the Secure flag."
        ),
    ] = None,
) -> None:
    """Serve the HTTP API and the web pages.

    Without TLS here or a trusted proxy in front, cookies cannot be marked Secure: serve
    plain HTTP on 127.0.0.1 only.
    """
    import uvicorn

    from service.app import create_app

    if (ssl_certfile is None) != (ssl_keyfile is None):
        raise fail("Give both --ssl-certfile and --ssl-keyfile, or neither.")
    if init_if_needed and not is_initialised(state.settings):
        init(admin="admin", password_stdin=False)
    if not is_initialised(state.settings):
        raise fail("Not initialised: run 'custodia init' first.")
    uvicorn.run(
        create_app(state.settings),
        host=host,
        port=port,
        proxy_headers=forwarded_allow_ips is not None,
        forwarded_allow_ips=forwarded_allow_ips,
        ssl_certfile=str(ssl_certfile) if ssl_certfile else None,
        ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None,
        server_header=False,
    )


# ---- users, cases, keys --------------------------------------------------------------------


@user_app.command("add")
def user_add(
    username: str,
    role: Annotated[Role, typer.Option(help="officer, investigator, auditor or admin.")],
    display_name: Annotated[str | None, typer.Option(help="Full name to display.")] = None,
    password_stdin: Annotated[bool, typer.Option(help="Read the new password from stdin.")] = (
        False
    ),
) -> None:
    """Create an account; without --password-stdin a one-time password is printed once."""
    password = read_password_stdin() if password_stdin else None
    try:
        data = UserCreate(
            username=username, display_name=display_name or username, role=role, password=password
        )
    except ValueError as error:
        raise fail(f"invalid user: {error}") from None
    created = run_as_user(lambda s: UserService(s).create(data))
    console.print(f"Created {created.user.role.value} [bold]{created.user.username}[/].")
    if created.one_time_password:
        console.print(
            f"One-time password: [bold yellow]{created.one_time_password}[/]", highlight=False
        )


@user_app.command("list")
def user_list() -> None:
    """List accounts with their role and state."""
    users = run_as_user(lambda s: UserService(s).list())
    table = Table("username", "name", "role", "state", title="Users")
    for user in users:
        state_text = "disabled" if user.disabled else ("locked" if user.locked else "active")
        table.add_row(user.username, user.display_name, user.role.value, state_text)
    console.print(table)


@user_app.command("disable")
def user_disable(username: str) -> None:
    """Disable an account and end all its sessions."""
    run_as_user(lambda s: UserService(s).set_disabled(username, True))
    console.print(f"Disabled {username}; its sessions are revoked.")


@user_app.command("enable")
def user_enable(username: str) -> None:
    """Re-enable an account and clear its lock."""
    run_as_user(lambda s: UserService(s).set_disabled(username, False))
    console.print(f"Enabled {username}.")


@case_app.command("add")
def case_add(code: str, title: Annotated[str, typer.Option(help="Descriptive title.")]) -> None:
    """Create a case (a compartment of testimonies)."""
    try:
        data = CaseCreate(code=code, title=title)
    except ValueError as error:
        raise fail(f"invalid case: {error}") from None
    case = run_as_user(lambda s: CaseService(s).create(data))
    console.print(f"Created case [bold]{case.code}[/].")


@case_app.command("assign")
def case_assign(
    code: str,
    username: str,
    remove: Annotated[bool, typer.Option(help="Remove instead of assign.")] = False,
) -> None:
    """Give (or with --remove take away) a user's access to a case."""
    case = run_as_user(lambda s: CaseService(s).set_assignment(code, username, not remove))
    console.print(f"Case {case.code} members: {', '.join(case.members) or '(none)'}")


@case_app.command("list")
def case_list() -> None:
    """Cases visible to the acting user."""
    cases = run_as_user(lambda s: CaseService(s).list())
    table = Table("code", "title", "members", title="Cases")
    for case in cases:
        table.add_row(case.code, case.title, ", ".join(case.members))
    console.print(table)


@key_app.command("status")
def key_status() -> None:
    """Key-encryption key versions per purpose (no key material)."""
    versions = run_as_user(lambda s: KeyService(s).status())
    table = Table("purpose", "version", "created", "active", title="Key-encryption keys")
    for v in versions:
        table.add_row(
            v.purpose, str(v.version), v.created_at.isoformat(), "yes" if v.active else ""
        )
    console.print(table)


@key_app.command("rotate")
def key_rotate(purpose: KeyPurpose) -> None:
    """Add a key-encryption key version and re-wrap every data key under it."""
    version = run_as_user(lambda s: KeyService(s).rotate(purpose))
    console.print(f"{purpose.value} keys now at version {version}.")


# ---- taxonomy, testimonies, import ---------------------------------------------------------


@taxonomy_app.command("list")
def taxonomy_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The violation categories with their labels and report citations."""
    taxonomy = Taxonomy.load()
    if as_json:
        payload = {
            "taxonomy": taxonomy.name,
            "version": taxonomy.version,
            "categories": [c.as_dict() for c in taxonomy.categories.values()],
        }
        typer.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    table = Table(
        "code", "English", "한국어", "cited from", title=f"{taxonomy.name} {taxonomy.version}"
    )
    for category in taxonomy.categories.values():
        indent = "  " * category.code.count(".")
        table.add_row(
            indent + category.code,
            category.label_en,
            category.label_ko,
            "; ".join(str(c) for c in category.citations),
        )
    console.print(table)


@testimony_app.command("show")
def testimony_show(
    testimony_id: str, as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False
) -> None:
    """Decrypt and show one testimony (a custody event)."""
    record = run_as_user(lambda s: TestimonyService(s).read(testimony_id))
    if as_json:
        typer.echo(record.model_dump_json(indent=2))
        return
    console.print(
        f"[bold]Testimony {record.id}[/] (version {record.version}, case {record.case}, "
        f"witness {record.witness_pseudonym})"
    )
    console.print(
        f"Interview {record.interview.date} in {record.interview.place} "
        f"({record.interview.language}) by {record.interview.interviewer}"
    )
    # Testimony text is printed without markup: a "[" in a narrative is not a style.
    console.print("\n[bold]Narrative[/]")
    console.print(record.narrative.original, markup=False, highlight=False)
    if record.narrative.translation_en:
        console.print("\n[bold]Translation[/]")
        console.print(record.narrative.translation_en, markup=False, highlight=False)
    table = Table(
        "id",
        "categories",
        "date",
        "place",
        "facility",
        "institution",
        "involvement",
        title="Incidents",
    )
    for incident in record.incidents:
        table.add_row(
            incident.id[:8],
            ", ".join(incident.categories),
            f"{incident.date_start}..{incident.date_end}",
            escape(incident.place or ""),
            escape(incident.facility or ""),
            escape(incident.perpetrator_institution or ""),
            incident.involvement.value,
        )
    console.print(table)
    scopes = ", ".join(
        f"{c.scope.value}{'' if c.active else ' (withdrawn)'}" for c in record.consent
    )
    console.print(f"Consent: {scopes or 'none'}")


@app.command("import")
def import_file(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    stop_on_error: Annotated[bool, typer.Option(help="Stop at the first bad line.")] = False,
) -> None:
    """Import testimonies from a JSONL file; each bad line is rolled back and reported."""
    with path.open("rb") as handle:
        total = sum(1 for _ in handle)
    with opened_runtime() as runtime:
        try:
            principal = signed_in(runtime)
        except DomainError as error:
            raise fail(error.detail) from None
        with (
            path.open("rb") as handle,
            Progress(
                TextColumn("[progress.description]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=errors,
            ) as progress,
        ):
            task = progress.add_task("importing", total=total)
            report = import_lines(
                runtime,
                context(),
                principal,
                handle,
                stop_on_error=stop_on_error,
                progress=lambda line: progress.update(task, completed=line),
            )
    console.print(f"Imported {report.imported} testimon{'y' if report.imported == 1 else 'ies'}.")
    if report.rejected:
        table = Table("line", "problem", title="Rejected lines (nothing of them was stored)")
        for item in report.rejected:
            table.add_row(str(item.line), item.problem)
        console.print(table)
        if report.stopped_early:
            console.print("Stopped at the first bad line (--stop-on-error).")
        raise typer.Exit(1)


@schema_app.command("export")
def schema_export(
    check: Annotated[bool, typer.Option(help="Fail if the file is out of date.")] = False,
) -> None:
    """Write schemas/testimony-import.schema.json from the import model."""
    text = import_schema_text()
    if check:
        current = (
            IMPORT_SCHEMA_PATH.read_text(encoding="utf-8") if IMPORT_SCHEMA_PATH.exists() else ""
        )
        if current != text:
            raise fail(f"{IMPORT_SCHEMA_PATH.name} is out of date: run 'custodia schema export'.")
        console.print("Import schema is up to date.")
        return
    IMPORT_SCHEMA_PATH.write_text(text, encoding="utf-8")
    console.print(f"Wrote {IMPORT_SCHEMA_PATH}.")


def import_schema_text() -> str:
    schema = TestimonyImport.model_json_schema()
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://custodia.example/schemas/testimony-import.schema.json",
        **schema,
    }
    return json.dumps(schema, ensure_ascii=False, indent=2) + "\n"


def main() -> None:
    app()


if __name__ == "__main__":
    main()
