"""Decrypting a testimony's current content, for callers already cleared to do so.

``TestimonyService`` uses it after its authorisation checks; the search indexer uses it
as part of indexing an action that was itself recorded. Nothing here checks access.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.crypto.envelope import EnvelopeCipher, FieldContext
from service.crypto.errors import CryptoError
from service.crypto.interfaces import KeyPurpose, ShredId
from service.crypto.shred import ShreddedKeyError
from service.errors import IntegrityCheckError, ShreddedError
from service.testimony.models import Incident, IncidentVersion, Testimony, TestimonyVersion
from service.testimony.schemas import IncidentRead
from service.testimony.sealing import open_document


def testimony_key_context(testimony_id: str) -> bytes:
    return f"testimony:{testimony_id}".encode()


class ContentReader:
    def __init__(self, session: Session, envelope: EnvelopeCipher) -> None:
        self._session = session
        self._envelope = envelope

    def data_key(self, testimony: Testimony) -> bytes:
        """Raises ShreddedError for a shredded testimony, IntegrityCheckError if tampered.

        A row that still holds its wrapped key but whose shred secret is gone (a database
        restored from before a shred) is shredded too: the key cannot be opened.
        """
        if testimony.wrapped_key is None or testimony.shredded_at is not None:
            raise ShreddedError("Testimony '%(id)s' was crypto-shredded.", id=testimony.id)
        try:
            return self._envelope.unwrap(
                KeyPurpose.CONTENT,
                testimony.kek_version,
                testimony.wrapped_key,
                testimony_key_context(testimony.id),
                shred_id=ShredId.testimony(testimony.id),
            )
        except ShreddedKeyError:
            raise ShreddedError(
                "Testimony '%(id)s' was crypto-shredded.", id=testimony.id
            ) from None
        except CryptoError as error:
            raise IntegrityCheckError(
                str(error), object_type="testimony", object_id=testimony.id
            ) from None

    def current_version(self, testimony: Testimony) -> TestimonyVersion:
        return self._session.scalars(
            select(TestimonyVersion).where(
                TestimonyVersion.testimony_id == testimony.id,
                TestimonyVersion.version == testimony.current_version,
            )
        ).one()

    def open_version(self, data_key: bytes, version: TestimonyVersion) -> dict[str, Any]:
        return open_document(
            data_key,
            version.content_ciphertext,
            FieldContext("testimony", version.testimony_id, "content", version.version),
        )

    def incidents(self, testimony: Testimony) -> list[Incident]:
        return list(
            self._session.scalars(
                select(Incident)
                .where(Incident.testimony_id == testimony.id)
                .order_by(Incident.date_start, Incident.id)
            )
        )

    def incident_read(self, data_key: bytes, incident: Incident) -> IncidentRead:
        version = self._session.scalars(
            select(IncidentVersion).where(
                IncidentVersion.incident_id == incident.id,
                IncidentVersion.version == incident.current_version,
            )
        ).one()
        document = open_document(
            data_key,
            version.content_ciphertext,
            FieldContext("incident", incident.id, "content", version.version),
        )
        return IncidentRead(
            id=incident.id,
            version=version.version,
            categories=json.loads(version.categories_json),
            date_start=incident.date_start,
            date_end=incident.date_end,
            date_precision=incident.date_precision,
            place=incident.place,
            facility=incident.facility,
            perpetrator_institution=incident.perpetrator_institution,
            involvement=incident.involvement,
            description=document["description"],
            retracted=incident.retracted,
            content_sha256=version.content_sha256,
        )
