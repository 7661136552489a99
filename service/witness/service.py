"""Witnesses and the identity vault.

Identity documents are sealed under the IDENTITY key purpose, never the content keys, and
are only ever decrypted by ``reveal``, which demands a reason and records it.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select

from service.access.policy import Permission, require, require_in_case
from service.context import Principal
from service.crypto.envelope import FieldContext
from service.crypto.errors import CryptoError
from service.crypto.interfaces import KeyPurpose, ShredId
from service.crypto.shred import ShreddedKeyError
from service.custody.actions import Action
from service.errors import (
    AuthenticationError,
    ConflictError,
    FieldProblem,
    IntegrityCheckError,
    NotFoundError,
    ShreddedError,
)
from service.runtime import Scope
from service.shred.models import ShredRequest
from service.testimony.models import Testimony
from service.testimony.schemas import IdentityIn, IdentityRead
from service.testimony.sealing import content_digest, new_salt, open_document, seal_document
from service.witness.models import IdentityRecord, Witness

IDENTITY_KEY_ID = 1


def identity_key_context(witness_id: str) -> bytes:
    return f"identity:{witness_id}".encode()


class WitnessService:
    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self._session = scope.session

    def principal(self) -> Principal:
        if self._scope.principal is None:
            raise AuthenticationError("Sign in first.")
        return self._scope.principal

    def get_or_create(self, pseudonym: str, case_id: int) -> tuple[Witness, bool]:
        """A pseudonym belongs to one case; reusing it in another case is a conflict."""
        principal = self.principal()
        witness = self._session.scalar(select(Witness).where(Witness.pseudonym == pseudonym))
        if witness is not None:
            if witness.case_id != case_id:
                raise ConflictError(
                    "The pseudonym '%(pseudonym)s' is already in use.",
                    errors=[FieldProblem("witness.pseudonym", "already in use")],
                    pseudonym=pseudonym,
                )
            return witness, False
        witness = Witness(
            id=str(uuid.uuid4()),
            pseudonym=pseudonym,
            case_id=case_id,
            created_at=self._scope.now(),
            created_by=principal.user_id,
        )
        self._session.add(witness)
        self._session.flush()
        self._scope.custody.append(
            Action.WITNESS_CREATE,
            actor=principal,
            object_type="witness",
            object_id=witness.id,
        )
        return witness, True

    def store_identity(self, witness: Witness, identity: IdentityIn) -> None:
        """Appends a new identity version; earlier versions stay in the vault."""
        principal = self.principal()
        version = (
            self._session.scalar(
                select(func.max(IdentityRecord.version)).where(
                    IdentityRecord.witness_id == witness.id
                )
            )
            or 0
        ) + 1
        document: dict[str, Any] = {
            "witness_id": witness.id,
            "version": version,
            **identity.model_dump(mode="json"),
            "salt": new_salt(),
        }
        envelope = self._scope.runtime.envelope
        shred_id = ShredId.witness(witness.id)
        key = envelope.new_wrapped_key(
            KeyPurpose.IDENTITY, identity_key_context(witness.id), shred_id=shred_id
        )
        if key.new_shred_secret:
            self._scope.on_rollback(lambda: envelope.destroy_shred_secret(shred_id))
        ctx = FieldContext("identity", witness.id, "identity", version)
        self._session.add(
            IdentityRecord(
                witness_id=witness.id,
                version=version,
                kek_version=key.kek_version,
                wrapped_key=key.wrapped,
                identity_ciphertext=seal_document(key.data_key, IDENTITY_KEY_ID, document, ctx),
                content_sha256=content_digest(document),
                created_at=self._scope.now(),
                created_by=principal.user_id,
            )
        )
        self._session.flush()
        self._scope.custody.append(
            Action.IDENTITY_UPDATE,
            actor=principal,
            object_type="identity",
            object_id=witness.id,
            object_sha256=content_digest(document),
            details={"version": version},
        )

    def _identity_shredded(self, witness_id: str) -> bool:
        return (
            self._session.scalar(
                select(ShredRequest.id)
                .join(Testimony, Testimony.id == ShredRequest.testimony_id)
                .where(Testimony.witness_id == witness_id, ShredRequest.identity_shredded)
                .limit(1)
            )
            is not None
        )

    def reveal(self, pseudonym: str, reason: str) -> IdentityRead:
        """Decrypts the latest identity for a caller entitled to the witness's case.

        The reason is recorded on the custody event; raises NotFoundError for an unknown witness,
        one outside the caller's cases, or one without an identity on file.
        """
        principal = self.principal()
        # The role check comes before the lookup, so a caller who may never reveal identities
        # gets the same 403 for every pseudonym and cannot probe which witnesses exist.
        require(principal, Permission.IDENTITY_REVEAL, object_type="witness", object_id=pseudonym)
        witness = self._session.scalar(select(Witness).where(Witness.pseudonym == pseudonym))
        not_found = "No witness with pseudonym '%(pseudonym)s'."
        if witness is None:
            raise NotFoundError(not_found, pseudonym=pseudonym)
        require_in_case(
            self._session,
            principal,
            Permission.IDENTITY_REVEAL,
            case_id=witness.case_id,
            object_type="witness",
            object_id=pseudonym,
            detail=not_found,
            params={"pseudonym": pseudonym},
        )
        record = self._session.scalar(
            select(IdentityRecord)
            .where(IdentityRecord.witness_id == witness.id)
            .order_by(IdentityRecord.version.desc())
            .limit(1)
        )
        if record is None or record.wrapped_key is None:
            if self._identity_shredded(witness.id):
                raise ShreddedError(
                    "The identity of witness '%(pseudonym)s' was crypto-shredded.",
                    pseudonym=pseudonym,
                )
            raise NotFoundError(
                "No identity is on file for witness '%(pseudonym)s'.", pseudonym=pseudonym
            )
        try:
            data_key = self._scope.runtime.envelope.unwrap(
                KeyPurpose.IDENTITY,
                record.kek_version,
                record.wrapped_key,
                identity_key_context(witness.id),
                shred_id=ShredId.witness(witness.id),
            )
        except ShreddedKeyError:
            raise ShreddedError(
                "The identity of witness '%(pseudonym)s' was crypto-shredded.", pseudonym=pseudonym
            ) from None
        except CryptoError as error:
            raise IntegrityCheckError(
                str(error), object_type="identity", object_id=witness.id
            ) from None
        document = open_document(
            data_key,
            record.identity_ciphertext,
            FieldContext("identity", witness.id, "identity", record.version),
        )
        self._scope.custody.append(
            Action.IDENTITY_REVEAL,
            actor=principal,
            object_type="identity",
            object_id=witness.id,
            object_sha256=content_digest(document),
            details={"version": record.version, "reason": reason},
        )
        return IdentityRead(
            pseudonym=witness.pseudonym,
            version=record.version,
            legal_name=document["legal_name"],
            birth_year=document.get("birth_year"),
            gender=document.get("gender"),
            contact=document.get("contact"),
            family_in_dprk=list(document.get("family_in_dprk") or []),
        )
