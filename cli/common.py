"""What every CLI command shares: settings, the acting user, one unit of work, errors."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import typer
from rich.console import Console

from service.access.auth import AuthService
from service.config import Settings
from service.context import Channel, Principal, RequestContext
from service.crypto.errors import CryptoError
from service.errors import DomainError
from service.runtime import Runtime, Scope
from service.setup import is_initialised

T = TypeVar("T")

console = Console()
errors = Console(stderr=True)


class State:
    settings: Settings
    username: str | None = None


state = State()


def fail(message: str, code: int = 1) -> typer.Exit:
    errors.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


@contextmanager
def opened_runtime() -> Iterator[Runtime]:
    if not is_initialised(state.settings):
        raise fail(f"{state.settings.resolved_data_dir} is not initialised: run 'custodia init'.")
    try:
        runtime = Runtime.open(state.settings)
    except CryptoError as error:
        raise fail(str(error)) from None
    try:
        yield runtime
    finally:
        runtime.close()


def context() -> RequestContext:
    return RequestContext(channel=Channel.CLI)


def credentials() -> tuple[str, str]:
    if not state.username:
        raise fail("Name the acting user with --user (or CUSTODIA_USER).", 2)
    password = os.environ.get("CUSTODIA_PASSWORD")
    if password is None:
        password = typer.prompt(f"Password for {state.username}", hide_input=True)
    return state.username, password


def signed_in(runtime: Runtime) -> Principal:
    username, password = credentials()
    return runtime.run(
        context(), None, lambda s: AuthService(s).verify_cli_password(username, password)
    )


def signed_in_without_recording(runtime: Runtime) -> Principal:
    """Only for verifying a custody log too damaged to record the sign-in."""
    username, password = credentials()
    return runtime.run(
        context(),
        None,
        lambda s: AuthService(s).check_credentials_without_recording(username, password),
    )


def run_as_user(work: Callable[[Scope], T]) -> T:
    """Signs in, runs ``work`` in one transaction, and turns domain errors into exit codes."""
    with opened_runtime() as runtime:
        try:
            principal = signed_in(runtime)
            return runtime.run(context(), principal, work)
        except DomainError as error:
            raise fail(error.detail) from None


def read_password_stdin() -> str:
    password = sys.stdin.readline().rstrip("\n")
    if not password:
        raise fail("No password on standard input.", 2)
    return password
