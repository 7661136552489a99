"""The long-lived parts of a running Custodia, and the unit of work every interface uses.

HTTP routes, web pages and CLI commands all call ``Runtime.run``: one session per call,
committed on success and rolled back on error. A refused action is rolled back and its
refusal is then written to the custody log in a transaction of its own, so "every failed
authorisation is on the record" holds without the refused action leaving any trace.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from service.config import Settings
from service.context import Principal, RequestContext
from service.crypto.envelope import EnvelopeCipher
from service.crypto.interfaces import Keyring, ShredSecretStore
from service.crypto.keyring import FileKeyring
from service.crypto.shred import FileShredSecretStore
from service.custody.actions import Action, Outcome
from service.custody.models import CustodyCheckpoint
from service.custody.publish import publish_checkpoint
from service.custody.service import CheckpointPolicy, CustodyLog
from service.db.base import utcnow
from service.db.engine import make_engine, make_session_factory
from service.errors import DomainError
from service.storage.files import FileAttachmentStore
from service.storage.interfaces import AttachmentStore
from service.taxonomy.service import Taxonomy

if TYPE_CHECKING:
    from service.search.indexer import SearchIndexer
    from service.search.interfaces import SearchIndex

T = TypeVar("T")
log = logging.getLogger("custodia")


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    keyring: Keyring
    attachments: AttachmentStore
    taxonomy: Taxonomy
    clock: Callable[[], datetime] = utcnow

    @classmethod
    def open(cls, settings: Settings) -> Runtime:
        """Connect to an initialised deployment; raises KeyringError if ``init`` never ran."""
        engine = make_engine(settings.effective_database_url)
        keyring = FileKeyring.open(settings.keyring_path, passphrase=settings.passphrase)
        return cls(
            settings=settings,
            engine=engine,
            session_factory=make_session_factory(engine),
            keyring=keyring,
            attachments=FileAttachmentStore(settings.attachments_dir),
            taxonomy=Taxonomy.load(),
        )

    def close(self) -> None:
        if "search_index" in self.__dict__:
            self.search_index.close()
        self.engine.dispose()

    @cached_property
    def shred_secrets(self) -> ShredSecretStore:
        """Per-record secrets outside the database; deleting one crypto-shreds a record."""
        return FileShredSecretStore(self.settings.shred_secrets_path, self.keyring)

    @cached_property
    def envelope(self) -> EnvelopeCipher:
        return EnvelopeCipher(self.keyring, self.shred_secrets)

    @cached_property
    def search_index(self) -> SearchIndex:
        """Whoosh in the data directory, or PostgreSQL tables on the scaled tier."""
        backend = self.settings.search_backend
        if backend == "auto":
            backend = "whoosh" if self.engine.dialect.name == "sqlite" else "postgres"
        if backend == "postgres":
            from service.search.postgres_index import PostgresSearchIndex

            return PostgresSearchIndex(self.engine)
        from service.search.whoosh_index import WhooshSearchIndex

        return WhooshSearchIndex(self.settings.search_dir)

    @cached_property
    def search_indexer(self) -> SearchIndexer:
        from service.search.blind import BlindTokenizer
        from service.search.indexer import SearchIndexer

        return SearchIndexer(
            self.session_factory,
            self.search_index,
            self.envelope,
            BlindTokenizer(self.keyring.search_key()),
            self.taxonomy,
        )

    @cached_property
    def checkpoint_policy(self) -> CheckpointPolicy:
        return CheckpointPolicy(
            origin=self.settings.custody_origin,
            signing_key=self.keyring.signing_key,
            every_events=self.settings.checkpoint_every_events,
            every_minutes=self.settings.checkpoint_every_minutes,
        )

    def custody_log(
        self, session: Session, context: RequestContext, scope: Scope | None = None
    ) -> CustodyLog:
        """The custody log of one transaction; new checkpoints are published after commit."""

        def publish_after_commit(checkpoint: CustodyCheckpoint) -> None:
            if scope is None or not self.settings.checkpoint_publish_dirs:
                return
            note, size = checkpoint.signed_note, checkpoint.tree_size

            def publish() -> None:
                publish_checkpoint(
                    note,
                    size,
                    self.settings.checkpoint_publish_dirs,
                    self.keyring,
                    self.settings.custody_origin,
                )

            scope.after_commit(publish)

        return CustodyLog(
            session,
            context,
            self.checkpoint_policy,
            clock=self.clock,
            on_checkpoint=publish_after_commit,
        )

    def run(
        self,
        context: RequestContext,
        principal: Principal | None,
        work: Callable[[Scope], T],
    ) -> T:
        """Run ``work`` in one transaction; its custody events commit with it or not at all."""
        with self.session_factory() as session:
            scope = Scope(self, session, context, principal)
            try:
                result = work(scope)
                session.commit()
            except DomainError as error:
                session.rollback()
                scope.undo_side_effects()
                if error.refusal is not None:
                    self._record_refusal(context, principal, error)
                raise
            except BaseException:
                session.rollback()
                scope.undo_side_effects()
                raise
            scope.run_after_commit()
            return result

    def _record_refusal(
        self, context: RequestContext, principal: Principal | None, error: DomainError
    ) -> None:
        refusal = error.refusal
        assert refusal is not None
        try:
            self._write_refusal(context, principal, error)
        except Exception:
            # The refusal stands either way; a log that cannot take events is for the
            # verifier to report, and must not turn a 4xx into a 500.
            log.exception("could not record the refusal of %s", refusal.action)

    def _write_refusal(
        self, context: RequestContext, principal: Principal | None, error: DomainError
    ) -> None:
        refusal = error.refusal
        assert refusal is not None
        with self.session_factory() as session:
            if refusal.on_record is not None:
                refusal.on_record(session)
            self.custody_log(session, context).append(
                Action(refusal.action),
                actor=principal,
                object_type=refusal.object_type,
                object_id=refusal.object_id,
                outcome=Outcome.DENIED if refusal.denied else Outcome.FAILED,
                details={**refusal.details, "problem": error.slug},
                actor_name=refusal.actor_name,
            )
            session.commit()


@dataclass
class Scope:
    """What one unit of work's services share: the session, the actor, the custody log."""

    runtime: Runtime
    session: Session
    context: RequestContext
    principal: Principal | None
    _undo: list[Callable[[], object]] = field(default_factory=list)
    _after_commit: list[Callable[[], object]] = field(default_factory=list)

    @cached_property
    def custody(self) -> CustodyLog:
        return self.runtime.custody_log(self.session, self.context, self)

    def now(self) -> datetime:
        return self.runtime.clock()

    def on_rollback(self, undo: Callable[[], object]) -> None:
        """Register clean-up of a side effect outside the database (e.g. a stored file)."""
        self._undo.append(undo)

    def after_commit(self, action: Callable[[], object]) -> None:
        """Register work that must only happen once the transaction is durable."""
        if action not in self._after_commit:
            self._after_commit.append(action)

    def run_after_commit(self) -> None:
        for action in self._after_commit:
            try:
                action()
            except Exception:
                log.exception("an after-commit action failed")
        self._after_commit.clear()

    def undo_side_effects(self) -> None:
        self._after_commit.clear()
        for undo in reversed(self._undo):
            try:
                undo()
            except Exception:
                log.exception("could not undo a side effect after rollback")
        self._undo.clear()
