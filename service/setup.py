"""Initialising a deployment: data directory, keyring, schema and the first administrator."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import inspect

from service.access.schemas import UserCreated
from service.access.service import UserService
from service.config import Settings
from service.context import Channel, RequestContext
from service.crypto.keyring import FileKeyring
from service.custody.actions import Action
from service.db.engine import make_engine
from service.db.migrate import upgrade_to_head
from service.runtime import Runtime


@dataclass(frozen=True)
class InitResult:
    created_keyring: bool
    admin: UserCreated | None


def prepare_data_dir(settings: Settings) -> None:
    """Owner-only directories: the data directory holds keys and ciphertext."""
    for path in (
        settings.resolved_data_dir,
        settings.keyring_path.parent,
        settings.attachments_dir,
        settings.search_dir,
        settings.tmp_dir,
    ):
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.chmod(0o700)


def is_initialised(settings: Settings) -> bool:
    if not settings.keyring_path.exists():
        return False
    engine = make_engine(settings.effective_database_url)
    try:
        return inspect(engine).has_table("users")
    finally:
        engine.dispose()


def initialise(
    settings: Settings, *, admin_username: str, admin_password: str | None
) -> InitResult:
    """Idempotent for directories, keyring and schema; creates the admin only once.

    Returns the admin's one-time password when none was given, to be shown exactly once.
    """
    prepare_data_dir(settings)
    created = False
    if not settings.keyring_path.exists():
        FileKeyring.create(settings.keyring_path, passphrase=settings.passphrase)
        created = True
    upgrade_to_head(settings.effective_database_url)
    runtime = Runtime.open(settings)
    try:
        context = RequestContext(channel=Channel.CLI)

        def bootstrap(scope: object) -> UserCreated | None:
            from service.access.models import User
            from service.runtime import Scope

            assert isinstance(scope, Scope)
            if scope.session.query(User.id).first() is not None:
                return None
            if created:
                scope.custody.append(
                    Action.KEYRING_INIT,
                    actor=None,
                    object_type="keyring",
                    object_id="file",
                    actor_name="init",
                )
            return UserService(scope).bootstrap_admin(admin_username, admin_password)

        admin = runtime.run(context, None, bootstrap)
    finally:
        runtime.close()
    return InitResult(created_keyring=created, admin=admin)
