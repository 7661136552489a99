"""Testimonies: creation, reading, versioned edits, incident coding and consent.

Every method checks the caller's role and case first (``service.access.policy``), then
seals content under the testimony's own data key, and appends its custody event in the
caller's transaction. Plaintext exists only in memory and in the returned read models.
"""

from __future__ import annotations

import json
import uuid
from datetime import date
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, select

from service.access.models import Case, User
from service.access.policy import Permission, require, require_in_case
from service.context import Principal
from service.crypto.envelope import FieldContext
from service.crypto.interfaces import KeyPurpose, ShredId
from service.custody.actions import Action
from service.errors import (
    AuthenticationError,
    ConflictError,
    FieldProblem,
    InvalidInputError,
    NotFoundError,
    ShreddedError,
)
from service.export.models import BagImport, ImportedTestimony
from service.runtime import Scope
from service.search.outbox import enqueue
from service.testimony.content import ContentReader, testimony_key_context
from service.testimony.models import (
    ConsentEvent,
    Incident,
    IncidentCategory,
    IncidentVersion,
    Testimony,
    TestimonyVersion,
)
from service.testimony.schemas import (
    ConsentChange,
    ConsentScope,
    ConsentScopeState,
    IncidentIn,
    IncidentRead,
    IncidentUpdate,
    InterviewRead,
    NarrativeRead,
    ProvenanceRead,
    TestimonyCreated,
    TestimonyImport,
    TestimonyRead,
    TestimonyUpdate,
    TestimonyVersionRead,
)
from service.testimony.sealing import content_digest, new_salt, seal_document
from service.witness.models import Witness
from service.witness.service import WitnessService

CONTENT_KEY_ID = 1


class TestimonyService:
    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self._session = scope.session
        self._content = ContentReader(scope.session, scope.runtime.envelope)

    # ---- helpers -------------------------------------------------------------------------

    def data_key(self, testimony: Testimony) -> bytes:
        return self._content.data_key(testimony)

    def _current_version(self, testimony: Testimony) -> TestimonyVersion:
        return self._content.current_version(testimony)

    def _open_version(self, data_key: bytes, version: TestimonyVersion) -> dict[str, Any]:
        return self._content.open_version(data_key, version)

    def _incident_read(self, data_key: bytes, incident: Incident) -> IncidentRead:
        return self._content.incident_read(data_key, incident)

    def _reindex(self, testimony_id: str) -> None:
        """Queue the testimony for the search index in this transaction; drain after commit."""
        enqueue(self._session, testimony_id)
        self._scope.after_commit(self._scope.runtime.search_indexer.drain)

    def principal(self) -> Principal:
        if self._scope.principal is None:
            raise AuthenticationError("Sign in first.")
        return self._scope.principal

    def load(self, testimony_id: str, permission: Permission) -> Testimony:
        """The testimony if the caller may act on it; NotFoundError (recorded) otherwise."""
        principal = self.principal()
        require(principal, permission, object_type="testimony", object_id=testimony_id)
        testimony = self._session.get(Testimony, testimony_id)
        not_found = "No testimony with id '%(testimony_id)s'."
        if testimony is None:
            raise NotFoundError(not_found, testimony_id=testimony_id)
        require_in_case(
            self._session,
            principal,
            permission,
            case_id=testimony.case_id,
            object_type="testimony",
            object_id=testimony_id,
            detail=not_found,
            params={"testimony_id": testimony_id},
        )
        if testimony.shredded_at is not None:
            # Only after the case check: outsiders learn nothing, not even that it is gone.
            raise ShreddedError("Testimony '%(id)s' was crypto-shredded.", id=testimony_id)
        return testimony

    def writable_case(self, code: str) -> Case:
        """The case if the caller may create testimonies in it; raises (recorded) otherwise."""
        return self._case_for_create(code)

    def _provenance(self, testimony_id: str) -> ProvenanceRead | None:
        row = self._session.execute(
            select(ImportedTestimony, BagImport)
            .join(BagImport, BagImport.id == ImportedTestimony.import_id)
            .where(ImportedTestimony.testimony_id == testimony_id)
        ).first()
        if row is None:
            return None
        imported, bag = row
        return ProvenanceRead(
            import_id=bag.id,
            origin_organization=bag.origin_organization,
            origin_export_id=bag.origin_export_id,
            original_testimony_id=imported.original_testimony_id,
            original_version=imported.original_version,
            tagmanifest_sha256=bag.tagmanifest_sha256,
            signer_public_key=bag.signer_public_key,
            signer_trusted=bag.signer_trusted,
            imported_at=bag.imported_at,
        )

    def _case_for_create(self, code: str) -> Case:
        principal = self.principal()
        require(principal, Permission.TESTIMONY_CREATE, object_type="case", object_id=code)
        case = self._session.scalar(select(Case).where(Case.code == code))
        # A case the officer is not assigned to gets the very answer of an unknown case.
        detail, errors = "No case with code '%(code)s'.", [FieldProblem("case", "unknown case")]
        if case is None:
            raise NotFoundError(detail, errors=errors, code=code)
        require_in_case(
            self._session,
            principal,
            Permission.TESTIMONY_CREATE,
            case_id=case.id,
            object_type="case",
            object_id=code,
            detail=detail,
            params={"code": code},
            errors=errors,
        )
        return case

    # ---- create --------------------------------------------------------------------------

    def create(self, data: TestimonyImport) -> TestimonyCreated:
        """Stores a whole interview: witness, identity, narrative, consent and incidents."""
        principal = self.principal()
        case = self._case_for_create(data.case)
        taxonomy = self._scope.runtime.taxonomy
        for index, incident in enumerate(data.incidents):
            taxonomy.validate_codes(incident.categories, f"incidents[{index}].categories")
        if data.external_id and self._session.scalar(
            select(Testimony.id).where(Testimony.external_id == data.external_id)
        ):
            raise ConflictError(
                "A testimony with external_id '%(external_id)s' exists.",
                errors=[FieldProblem("external_id", "already imported")],
                external_id=data.external_id,
            )
        witnesses = WitnessService(self._scope)
        witness, _ = witnesses.get_or_create(data.witness.pseudonym, case.id)
        if data.witness.identity is not None:
            witnesses.store_identity(witness, data.witness.identity)

        testimony_id = str(uuid.uuid4())
        envelope = self._scope.runtime.envelope
        shred_id = ShredId.testimony(testimony_id)
        key = envelope.new_wrapped_key(
            KeyPurpose.CONTENT, testimony_key_context(testimony_id), shred_id=shred_id
        )
        # The secret is durable before the row commits; a rolled-back create removes it.
        self._scope.on_rollback(lambda: envelope.destroy_shred_secret(shred_id))
        testimony = Testimony(
            id=testimony_id,
            external_id=data.external_id,
            case_id=case.id,
            witness_id=witness.id,
            current_version=1,
            kek_version=key.kek_version,
            wrapped_key=key.wrapped,
            created_at=self._scope.now(),
            created_by=principal.user_id,
        )
        self._session.add(testimony)
        self._session.flush()
        version = self._add_version(
            testimony,
            key.data_key,
            1,
            data.interview.model_dump(mode="json"),
            data.narrative.original,
            data.narrative.translation_en,
        )
        self._scope.custody.append(
            Action.TESTIMONY_CREATE,
            actor=principal,
            object_type="testimony",
            object_id=testimony_id,
            object_sha256=version.content_sha256,
            details={"version": 1, "case_id": case.id, "witness_id": witness.id},
        )
        for scope_name in data.consent.scopes:
            self._record_consent(testimony, scope_name, "given", data.consent.given_on)
        incident_ids = [
            self._create_incident(testimony, key.data_key, incident).id
            for incident in data.incidents
        ]
        self._reindex(testimony_id)
        return TestimonyCreated(
            id=testimony_id,
            version=1,
            witness_pseudonym=witness.pseudonym,
            incident_ids=incident_ids,
            content_sha256=version.content_sha256,
        )

    def _add_version(
        self,
        testimony: Testimony,
        data_key: bytes,
        number: int,
        interview: dict[str, Any],
        original: str,
        translation: str | None,
    ) -> TestimonyVersion:
        document = {
            "testimony_id": testimony.id,
            "version": number,
            "interview": interview,
            "narrative_original": original,
            "translation_en": translation,
            "salt": new_salt(),
        }
        ctx = FieldContext("testimony", testimony.id, "content", number)
        version = TestimonyVersion(
            testimony_id=testimony.id,
            version=number,
            interview_date=date.fromisoformat(interview["date"]),
            interview_place=interview["place"],
            language=interview["language"],
            interviewer=interview["interviewer"],
            content_ciphertext=seal_document(data_key, CONTENT_KEY_ID, document, ctx),
            content_sha256=content_digest(document),
            created_at=self._scope.now(),
            created_by=self.principal().user_id,
        )
        self._session.add(version)
        self._session.flush()
        return version

    # ---- read ----------------------------------------------------------------------------

    def read(self, testimony_id: str) -> TestimonyRead:
        """Decrypts the current version; the read itself is a custody event."""
        from service.testimony.attachments import AttachmentService

        principal = self.principal()
        testimony = self.load(testimony_id, Permission.TESTIMONY_READ)
        data_key = self.data_key(testimony)
        version = self._current_version(testimony)
        document = self._open_version(data_key, version)
        incidents = [
            self._incident_read(data_key, incident)
            for incident in self._session.scalars(
                select(Incident)
                .where(Incident.testimony_id == testimony.id)
                .order_by(Incident.date_start, Incident.id)
            )
        ]
        attachments = AttachmentService(self._scope).list_for(testimony)
        self._scope.custody.append(
            Action.TESTIMONY_READ,
            actor=principal,
            object_type="testimony",
            object_id=testimony.id,
            object_sha256=version.content_sha256,
            details={"version": version.version},
        )
        case_code = self._session.get_one(Case, testimony.case_id).code
        pseudonym = self._session.get_one(Witness, testimony.witness_id).pseudonym
        return TestimonyRead(
            id=testimony.id,
            external_id=testimony.external_id,
            case=case_code,
            witness_pseudonym=pseudonym,
            version=version.version,
            content_sha256=version.content_sha256,
            interview=InterviewRead.model_validate(document["interview"]),
            narrative=NarrativeRead(
                original=document["narrative_original"],
                translation_en=document["translation_en"],
            ),
            incidents=incidents,
            consent=self.consent_state(testimony.id),
            attachments=attachments,
            provenance=self._provenance(testimony.id),
        )

    def history(self, testimony_id: str) -> list[TestimonyVersionRead]:
        principal = self.principal()
        testimony = self.load(testimony_id, Permission.TESTIMONY_READ)
        data_key = self.data_key(testimony)
        versions = list(
            self._session.scalars(
                select(TestimonyVersion)
                .where(TestimonyVersion.testimony_id == testimony.id)
                .order_by(TestimonyVersion.version)
            )
        )
        names: dict[int, str] = {
            user_id: username
            for user_id, username in self._session.execute(
                select(User.id, User.username).where(User.id.in_({v.created_by for v in versions}))
            )
        }
        result = []
        for version in versions:
            document = self._open_version(data_key, version)
            result.append(
                TestimonyVersionRead(
                    version=version.version,
                    created_at=version.created_at.isoformat(),
                    created_by=names.get(version.created_by, "?"),
                    content_sha256=version.content_sha256,
                    interview=InterviewRead.model_validate(document["interview"]),
                    narrative=NarrativeRead(
                        original=document["narrative_original"],
                        translation_en=document["translation_en"],
                    ),
                )
            )
        self._scope.custody.append(
            Action.TESTIMONY_HISTORY_READ,
            actor=principal,
            object_type="testimony",
            object_id=testimony.id,
            details={"versions": len(result)},
        )
        return result

    # ---- edit ----------------------------------------------------------------------------

    def update(self, testimony_id: str, change: TestimonyUpdate) -> TestimonyCreated:
        """Appends a new version; the previous one stays readable in the history."""
        principal = self.principal()
        testimony = self.load(testimony_id, Permission.TESTIMONY_EDIT)
        data_key = self.data_key(testimony)
        current = self._open_version(data_key, self._current_version(testimony))
        interview = (
            change.interview.model_dump(mode="json") if change.interview else current["interview"]
        )
        original = change.narrative.original if change.narrative else current["narrative_original"]
        translation = (
            change.narrative.translation_en if change.narrative else current["translation_en"]
        )
        number = testimony.current_version + 1
        version = self._add_version(testimony, data_key, number, interview, original, translation)
        testimony.current_version = number
        self._scope.custody.append(
            Action.TESTIMONY_UPDATE,
            actor=principal,
            object_type="testimony",
            object_id=testimony.id,
            object_sha256=version.content_sha256,
            details={"version": number},
        )
        incident_ids = list(
            self._session.scalars(select(Incident.id).where(Incident.testimony_id == testimony.id))
        )
        self._reindex(testimony.id)
        return TestimonyCreated(
            id=testimony.id,
            version=number,
            witness_pseudonym=self._session.get_one(Witness, testimony.witness_id).pseudonym,
            incident_ids=incident_ids,
            content_sha256=version.content_sha256,
        )

    # ---- incidents -----------------------------------------------------------------------

    def add_incident(self, testimony_id: str, data: IncidentIn) -> IncidentRead:
        testimony = self.load(testimony_id, Permission.INCIDENT_CODE)
        self._scope.runtime.taxonomy.validate_codes(data.categories, "categories")
        data_key = self.data_key(testimony)
        incident = self._create_incident(testimony, data_key, data)
        self._reindex(testimony.id)
        return self._incident_read(data_key, incident)

    def _create_incident(self, testimony: Testimony, data_key: bytes, data: IncidentIn) -> Incident:
        start, end = data.date_range()
        incident = Incident(
            id=str(uuid.uuid4()),
            testimony_id=testimony.id,
            current_version=0,
            date_start=start,
            date_end=end,
            date_precision=data.date_precision.value,
            place=data.place,
            facility=data.facility,
            perpetrator_institution=data.perpetrator_institution,
            involvement=data.involvement.value,
            retracted=False,
        )
        self._session.add(incident)
        self._session.flush()
        self._write_incident_version(
            incident,
            data_key,
            list(dict.fromkeys(data.categories)),
            data.description,
            Action.INCIDENT_CREATE,
        )
        return incident

    def update_incident(
        self, testimony_id: str, incident_id: str, change: IncidentUpdate
    ) -> IncidentRead:
        """Recodes an incident as a new version; omitted fields keep their values."""
        testimony = self.load(testimony_id, Permission.INCIDENT_CODE)
        incident = self._session.get(Incident, incident_id)
        if incident is None or incident.testimony_id != testimony.id:
            raise NotFoundError(
                "No incident with id '%(incident_id)s' in this testimony.", incident_id=incident_id
            )
        data_key = self.data_key(testimony)
        previous = self._incident_read(data_key, incident)
        if any(v is not None for v in (change.date, change.date_precision, change.date_end)):
            dating = {
                "date": change.date or _partial_date_text(previous),
                "date_precision": change.date_precision or previous.date_precision,
                "date_end": change.date_end,
            }
        else:
            dating = {
                "date": _partial_date_text(previous),
                "date_precision": previous.date_precision,
                "date_end": previous.date_end.isoformat()
                if previous.date_precision == "range"
                else None,
            }
        updates = change.model_dump(
            exclude_unset=True, exclude={"date", "date_precision", "date_end", "retracted"}
        )
        try:
            merged = IncidentIn.model_validate(
                {
                    **previous.model_dump(
                        include={
                            "categories",
                            "place",
                            "facility",
                            "perpetrator_institution",
                            "involvement",
                            "description",
                        }
                    ),
                    **{k: v for k, v in updates.items() if v is not None},
                    **dating,
                }
            )
        except ValidationError as error:
            # The change is valid alone but not with the fields it keeps (e.g. a new precision
            # that does not fit the old date): a 422 naming the field, not a 500.
            raise InvalidInputError(
                "The incident would not be valid after this change.",
                errors=[
                    FieldProblem(".".join(str(p) for p in e["loc"]) or "date", e["msg"])
                    for e in error.errors()
                ],
            ) from None
        self._scope.runtime.taxonomy.validate_codes(merged.categories, "categories")
        start, end = merged.date_range()
        incident.date_start, incident.date_end = start, end
        incident.date_precision = merged.date_precision.value
        incident.place = merged.place
        incident.facility = merged.facility
        incident.perpetrator_institution = merged.perpetrator_institution
        incident.involvement = merged.involvement.value
        if change.retracted is not None:
            incident.retracted = change.retracted
        self._write_incident_version(
            incident,
            data_key,
            list(dict.fromkeys(merged.categories)),
            merged.description,
            Action.INCIDENT_UPDATE,
        )
        self._reindex(testimony.id)
        return self._incident_read(data_key, incident)

    def _write_incident_version(
        self,
        incident: Incident,
        data_key: bytes,
        categories: list[str],
        description: str | None,
        action: Action,
    ) -> None:
        number = incident.current_version + 1
        document = {
            "incident_id": incident.id,
            "testimony_id": incident.testimony_id,
            "version": number,
            "categories": sorted(categories),
            "date_start": incident.date_start.isoformat(),
            "date_end": incident.date_end.isoformat(),
            "date_precision": incident.date_precision,
            "place": incident.place,
            "facility": incident.facility,
            "perpetrator_institution": incident.perpetrator_institution,
            "involvement": incident.involvement,
            "retracted": incident.retracted,
            "description": description,
            "salt": new_salt(),
        }
        ctx = FieldContext("incident", incident.id, "content", number)
        digest = content_digest(document)
        self._session.add(
            IncidentVersion(
                incident_id=incident.id,
                version=number,
                categories_json=json.dumps(categories),
                date_start=incident.date_start,
                date_end=incident.date_end,
                date_precision=incident.date_precision,
                place=incident.place,
                facility=incident.facility,
                perpetrator_institution=incident.perpetrator_institution,
                involvement=incident.involvement,
                retracted=incident.retracted,
                content_ciphertext=seal_document(data_key, CONTENT_KEY_ID, document, ctx),
                content_sha256=digest,
                created_at=self._scope.now(),
                created_by=self.principal().user_id,
            )
        )
        incident.current_version = number
        self._session.execute(
            delete(IncidentCategory).where(IncidentCategory.incident_id == incident.id)
        )
        self._session.add_all(IncidentCategory(incident_id=incident.id, code=c) for c in categories)
        self._session.flush()
        self._scope.custody.append(
            action,
            actor=self.principal(),
            object_type="incident",
            object_id=incident.id,
            object_sha256=digest,
            details={
                "version": number,
                "testimony_id": incident.testimony_id,
                "categories": sorted(categories),
            },
        )

    # ---- consent -------------------------------------------------------------------------

    def change_consent(self, testimony_id: str, change: ConsentChange) -> list[ConsentScopeState]:
        testimony = self.load(testimony_id, Permission.CONSENT_RECORD)
        self._record_consent(testimony, change.scope, change.kind, change.effective_on)
        self._reindex(testimony.id)
        return self.consent_state(testimony.id)

    def _record_consent(
        self, testimony: Testimony, scope: ConsentScope, kind: str, effective_on: date
    ) -> None:
        event = ConsentEvent(
            testimony_id=testimony.id,
            scope=scope.value,
            kind=kind,
            effective_on=effective_on,
            recorded_at=self._scope.now(),
            recorded_by=self.principal().user_id,
        )
        self._session.add(event)
        self._session.flush()
        self._scope.custody.append(
            Action.CONSENT_GIVE if kind == "given" else Action.CONSENT_WITHDRAW,
            actor=self.principal(),
            object_type="testimony",
            object_id=testimony.id,
            details={
                "scope": scope.value,
                "effective_on": effective_on.isoformat(),
                "consent_event_id": event.id,
            },
        )

    def consent_state(self, testimony_id: str) -> list[ConsentScopeState]:
        """Replays the grant/withdrawal history into the current state of each scope."""
        state: dict[str, ConsentScopeState] = {}
        for event in self._session.scalars(
            select(ConsentEvent)
            .where(ConsentEvent.testimony_id == testimony_id)
            .order_by(ConsentEvent.id)
        ):
            previous = state.get(event.scope)
            if event.kind == "given":
                state[event.scope] = ConsentScopeState(
                    scope=ConsentScope(event.scope),
                    given_on=event.effective_on,
                    withdrawn_on=None,
                    active=True,
                )
            else:
                state[event.scope] = ConsentScopeState(
                    scope=ConsentScope(event.scope),
                    given_on=previous.given_on if previous else None,
                    withdrawn_on=event.effective_on,
                    active=False,
                )
        return [state[k] for k in sorted(state)]


def _partial_date_text(incident: IncidentRead) -> str:
    precision = incident.date_precision.value
    start = incident.date_start
    if precision == "year":
        return f"{start.year:04d}"
    if precision == "month":
        return f"{start.year:04d}-{start.month:02d}"
    return start.isoformat()
