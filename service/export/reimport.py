"""Re-import: a bag exported by another Custodia becomes testimonies here, with provenance.

Nothing is written before the bag proves itself: the caller's right to create testimonies
in the target case is checked first, then the bag is read into memory (decrypted in memory
when it is age-encrypted, so none of it reaches this server's disk), then the offline
verifier (:mod:`service.export.verify`) checks it whole. A failure refuses the import and
names the first file at fault. Then, in the caller's one transaction, each testimony is
created through :class:`TestimonyService` (encryption, custody events, search outbox and
authorisation as for any new record), with its consent history, coded incidents,
translation and attachments, and a provenance row naming the bag and the ids the records
had at the origin. The bag's tag files (bag-info, manifests, signature, the origin's custody
events, inclusion proofs and checkpoints) are kept verbatim, sealed under the import's own
data key. Any failure rolls the whole import back.

A bag is imported once: a second import of the same bag (same signed tag manifest), or of a
testimony already imported from the same origin (same signer key and original id), is
refused and the refusal is on the record.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import select

from service.access.models import Case
from service.crypto.envelope import FieldContext
from service.crypto.interfaces import KeyPurpose
from service.custody.actions import Action
from service.errors import ConflictError, DomainError, FieldProblem, RefusalRecord, fill
from service.export.models import BagImport, ImportedTestimony
from service.export.schemas import BagImportRead, ImportedTestimonyRead
from service.export.verify import (
    BagReport,
    BagVerificationError,
    Progress,
    read_bag,
    read_bag_archive,
    verify_bag_files,
)
from service.runtime import Scope
from service.testimony.attachments import AttachmentService
from service.testimony.models import Testimony
from service.testimony.schemas import (
    ConsentChange,
    ConsentIn,
    ConsentScopeState,
    IdentityIn,
    IncidentIn,
    IncidentRead,
    IncidentUpdate,
    InterviewIn,
    NarrativeIn,
    TestimonyImport,
    WitnessIn,
)
from service.testimony.sealing import content_digest, new_salt, open_document, seal_document
from service.testimony.service import CONTENT_KEY_ID, TestimonyService
from service.witness.models import Witness

MAX_IMPORT_BAG_BYTES = 1 << 30
"""A bag is held in memory while it is verified and imported; larger ones are refused."""

AGE_MAGIC = b"age-encryption.org/"
"""How an age-encrypted file begins (the age format's version line)."""

DOCUMENT_FORMAT = "custodia-export-testimony/1"
_DIRECTORY = re.compile(r"^data/testimonies/\d{3,6}$")


class BagRefusedError(DomainError):
    """The bag does not verify or cannot be re-imported; nothing of it was stored."""

    slug = "bag-refused"
    title = "The bag cannot be imported"
    status = 422


def bag_import_key_context(import_id: str) -> bytes:
    return f"bag-import:{import_id}".encode()


def _refusal(code: str, problem: str, **details: Any) -> RefusalRecord:
    return RefusalRecord(
        action=Action.BAG_IMPORT.value,
        object_type="bag_import",
        object_id=None,
        details={"case": code, "reason": problem, **details},
        denied=False,
    )


def _content_refusal(
    case: str, name: str, problem: str, *, field: str | None = None, **params: Any
) -> BagRefusedError:
    """A bag that verifies but cannot become testimonies here; ``problem`` is a template."""
    return BagRefusedError(
        "The bag cannot be imported, nothing was imported: %(file)s: %(problem)s",
        file=name,
        problem=fill(problem, params, problem),
        errors=[FieldProblem(name, field or problem, {} if field else params)],
        refusal=_refusal(case, "content", file=name),
    )


class _BagTestimony(BaseModel):
    """The parts of ``testimony.json`` a re-import reads (schemas/export-testimony...)."""

    model_config = ConfigDict(extra="allow")

    format: str
    export_id: str
    testimony_id: str
    witness_pseudonym: str
    version: int
    consent: list[ConsentScopeState]
    files: dict[str, str]
    interview: InterviewIn | None = None
    incidents: list[IncidentRead] = []
    attachments: list[dict[str, Any]] = []
    witness_identity: dict[str, Any] | None = None


@dataclass
class _Item:
    directory: str
    doc: _BagTestimony


def _incident_in(incident: IncidentRead) -> IncidentIn:
    precision = incident.date_precision.value
    start = incident.date_start
    text = {
        "year": f"{start.year:04d}",
        "month": f"{start.year:04d}-{start.month:02d}",
    }.get(precision, start.isoformat())
    return IncidentIn(
        categories=incident.categories,
        date=text,
        date_precision=incident.date_precision,
        date_end=incident.date_end.isoformat() if precision == "range" else None,
        place=incident.place,
        facility=incident.facility,
        perpetrator_institution=incident.perpetrator_institution,
        involvement=incident.involvement,
        description=incident.description,
    )


def open_tag_files(scope: Scope, bag_import: BagImport) -> dict[str, bytes]:
    """The bag's tag files as they arrived, for a caller already cleared to see them."""
    assert bag_import.wrapped_key is not None
    data_key = scope.runtime.envelope.unwrap(
        KeyPurpose.CONTENT,
        bag_import.kek_version,
        bag_import.wrapped_key,
        bag_import_key_context(bag_import.id),
    )
    document = open_document(
        data_key,
        bag_import.tag_files_ciphertext,
        FieldContext("bag_import", bag_import.id, "tag_files", 1),
    )
    return {name: base64.b64decode(data) for name, data in document["files"].items()}


class BagImportService:
    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self._session = scope.session
        self._testimonies = TestimonyService(scope)

    def import_bag(
        self,
        source: Path,
        case: str,
        *,
        identity: Path | None = None,
        trusted_key: Ed25519PublicKey | None = None,
        progress: Progress | None = None,
    ) -> BagImportRead:
        """Verifies the bag at ``source`` (directory, tar, or age tar with ``identity``) and
        imports every testimony in it into ``case``.

        Requires the right to create testimonies in ``case`` (NotFoundError or
        AccessDeniedError otherwise). Raises BagRefusedError naming the first file at fault
        when the bag does not verify or lacks what a testimony needs, ConflictError when the
        bag or one of its testimonies was imported before, and whatever creating a
        testimony raises (e.g. an unknown category); nothing is stored in any of these cases.
        """
        return self._import(
            case,
            lambda: read_bag(source, identity, max_bytes=MAX_IMPORT_BAG_BYTES),
            trusted_key,
            progress,
        )

    def import_archive(
        self,
        raw: bytes,
        filename: str,
        case: str,
        *,
        trusted_key: Ed25519PublicKey | None = None,
        progress: Progress | None = None,
    ) -> BagImportRead:
        """As :meth:`import_bag`, for a bag's tar already in memory (an upload); ``filename``
        names it in refusals. Nothing of it is written to disk.

        An age-encrypted bag is refused (BagRefusedError): decrypting it here would need the
        recipient's private identity sent along with it, so it is imported on the server with
        ``custodia import-bag --identity`` instead. Raises as :meth:`import_bag` otherwise.
        """

        def read() -> dict[str, bytes]:
            if raw.startswith(AGE_MAGIC):
                raise BagRefusedError(
                    "The bag is encrypted with age. Import it on the server with "
                    "'custodia import-bag --identity', so that the private identity never "
                    "travels over the network; nothing was imported.",
                    refusal=_refusal(case, "encrypted"),
                )
            return read_bag_archive(raw, filename, max_bytes=MAX_IMPORT_BAG_BYTES)

        return self._import(case, read, trusted_key, progress)

    def _import(
        self,
        case: str,
        read: Callable[[], dict[str, bytes]],
        trusted_key: Ed25519PublicKey | None,
        progress: Progress | None,
    ) -> BagImportRead:
        """The one import path: authorise, ``read`` the bag into memory, verify, write."""
        principal = self._testimonies.principal()
        target = self._testimonies.writable_case(case)
        step = progress or (lambda _step, _done, _total: None)
        try:
            files = read()
            report = verify_bag_files(files, trusted_key, step)
        except BagVerificationError as error:
            raise BagRefusedError(
                "The bag does not verify, nothing was imported: %(problem)s",
                problem=str(error),
                errors=[
                    FieldProblem(
                        error.path, "fails verification: %(problem)s", {"problem": error.message}
                    )
                ],
                refusal=_refusal(case, "verification", file=error.path),
            ) from None
        except (OSError, ValueError) as error:
            raise BagRefusedError(
                "Cannot read the bag: %(problem)s",
                problem=str(error),
                refusal=_refusal(case, "unreadable"),
            ) from None
        tagmanifest = hashlib.sha256(files["tagmanifest-sha256.txt"]).hexdigest()
        items = self._items(files, report, case)
        self._refuse_duplicates(report, tagmanifest, items, target, case)

        bag = self._record_bag(files, report, tagmanifest, target)
        imported: list[ImportedTestimonyRead] = []
        for number, item in enumerate(items, 1):
            step("testimonies", number - 1, len(items))
            imported.append(self._import_one(files, item, bag, target))
            step("testimonies", number, len(items))
        self._scope.custody.append(
            Action.BAG_IMPORT,
            actor=principal,
            object_type="bag_import",
            object_id=bag.id,
            object_sha256=tagmanifest,
            details={
                "case_id": target.id,
                "origin_export_id": report.export_id,
                "origin_organization": bag.origin_organization,
                "signer_public_key": report.signer_public_key,
                "signer_trusted": report.signer_trusted,
                "checkpoint_size": report.checkpoint_size,
                "testimonies": {t.original_id: t.testimony_id for t in imported},
            },
        )
        return BagImportRead(
            import_id=bag.id,
            case=target.code,
            origin_organization=bag.origin_organization,
            origin_export_id=report.export_id,
            tagmanifest_sha256=tagmanifest,
            signer_public_key=report.signer_public_key,
            signer_trusted=report.signer_trusted,
            custody_events=report.events,
            checkpoint_size=report.checkpoint_size,
            warnings=report.warnings,
            testimonies=imported,
        )

    # ---- checks before anything is written ------------------------------------------------

    def _items(self, files: Mapping[str, bytes], report: BagReport, case: str) -> list[_Item]:
        """Every testimony document of the bag, parsed; refuses what cannot be re-imported."""
        directories = sorted(
            {
                str(PurePosixPath(name).parent)
                for name in files
                if name.startswith("data/testimonies/") and name.endswith("/testimony.json")
            }
        )

        def refuse(name: str, problem: str, **params: Any) -> BagRefusedError:
            return _content_refusal(case, name, problem, **params)

        if not directories:
            raise refuse("data/testimonies", "the bag holds no testimony")
        items = []
        for directory in directories:
            name = f"{directory}/testimony.json"
            if not _DIRECTORY.fullmatch(directory):
                raise refuse(name, "is not in a data/testimonies/NNN directory")
            try:
                doc = _BagTestimony.model_validate_json(files[name])
            except ValidationError as error:
                where = ".".join(str(p) for p in error.errors()[0]["loc"])
                raise refuse(
                    name, "is not a Custodia testimony document (%(where)s)", where=where
                ) from None
            if doc.format != DOCUMENT_FORMAT or doc.export_id != report.export_id:
                raise refuse(
                    name, "is not a %(format)s document of this export", format=DOCUMENT_FORMAT
                )
            if doc.interview is None or "narrative_original" not in doc.files:
                raise refuse(
                    name,
                    "the bag was made without the interview or the original narrative, which "
                    "a re-imported testimony needs",
                )
            items.append(_Item(directory, doc))
        return items

    def _refuse_duplicates(
        self,
        report: BagReport,
        tagmanifest: str,
        items: list[_Item],
        target: Case,
        case: str,
    ) -> None:
        earlier = self._session.scalar(
            select(BagImport).where(BagImport.tagmanifest_sha256 == tagmanifest)
        )
        if earlier is not None:
            raise ConflictError(
                "This bag (export %(export_id)s) was already imported on %(date)s as import "
                "%(import_id)s; nothing was imported.",
                export_id=report.export_id,
                date=earlier.imported_at.date().isoformat(),
                import_id=earlier.id,
                refusal=_refusal(case, "duplicate bag", earlier_import_id=earlier.id),
            )
        signer = report.signer_public_key
        for item in items:
            local = self._session.scalar(
                select(ImportedTestimony.testimony_id).where(
                    ImportedTestimony.signer_public_key == signer,
                    ImportedTestimony.original_testimony_id == item.doc.testimony_id,
                )
            )
            if local is not None:
                raise ConflictError(
                    "Testimony %(testimony_id)s of this origin was already imported "
                    "(another bag); nothing was imported.",
                    testimony_id=item.doc.testimony_id,
                    refusal=_refusal(
                        case, "duplicate testimony", original_testimony_id=item.doc.testimony_id
                    ),
                )
            witness = self._session.scalar(
                select(Witness).where(Witness.pseudonym == item.doc.witness_pseudonym)
            )
            if witness is not None and not self._imported_witness(witness, signer, target):
                # The same pseudonym here may be someone else: never merge two people.
                raise ConflictError(
                    "The pseudonym '%(pseudonym)s' of %(directory)s is already in use here; "
                    "nothing was imported.",
                    pseudonym=item.doc.witness_pseudonym,
                    directory=item.directory,
                    errors=[FieldProblem(f"{item.directory}/testimony.json", "pseudonym in use")],
                    refusal=_refusal(case, "pseudonym in use", file=item.directory),
                )

    def _imported_witness(self, witness: Witness, signer: str, target: Case) -> bool:
        """The witness came from an earlier bag of the same origin into the same case."""
        if witness.case_id != target.id:
            return False
        found = self._session.scalar(
            select(ImportedTestimony.testimony_id)
            .join(Testimony, Testimony.id == ImportedTestimony.testimony_id)
            .where(
                Testimony.witness_id == witness.id, ImportedTestimony.signer_public_key == signer
            )
            .limit(1)
        )
        return found is not None

    # ---- writing ----------------------------------------------------------------------------

    def _record_bag(
        self, files: Mapping[str, bytes], report: BagReport, tagmanifest: str, target: Case
    ) -> BagImport:
        import_id = str(uuid.uuid4())
        key = self._scope.runtime.envelope.new_wrapped_key(
            KeyPurpose.CONTENT, bag_import_key_context(import_id)
        )
        document = {
            "import_id": import_id,
            "files": {
                name: base64.b64encode(data).decode("ascii")
                for name, data in sorted(files.items())
                if not name.startswith("data/")
            },
            "salt": new_salt(),
        }
        info = report.bag_info
        bag = BagImport(
            id=import_id,
            origin_organization=info.get("Source-Organization", "")[:200] or "-",
            origin_export_id=report.export_id[:100],
            origin_log=info.get("Custodia-Log-Origin", "")[:200] or "-",
            tagmanifest_sha256=tagmanifest,
            signer_public_key=report.signer_public_key,
            signer_trusted=report.signer_trusted,
            checkpoint_size=report.checkpoint_size,
            case_id=target.id,
            kek_version=key.kek_version,
            wrapped_key=key.wrapped,
            tag_files_ciphertext=seal_document(
                key.data_key,
                CONTENT_KEY_ID,
                document,
                FieldContext("bag_import", import_id, "tag_files", 1),
            ),
            tag_files_sha256=content_digest(document),
            imported_at=self._scope.now(),
            imported_by=self._testimonies.principal().user_id,
        )
        self._session.add(bag)
        self._session.flush()
        return bag

    def _text(self, files: Mapping[str, bytes], name: str, case: str) -> str:
        try:
            return files[name].decode("utf-8")
        except KeyError:
            problem = "is named in testimony.json but missing"
        except UnicodeDecodeError:
            problem = "is not UTF-8 text"
        raise _content_refusal(case, name, problem)

    def _import_one(
        self, files: Mapping[str, bytes], item: _Item, bag: BagImport, target: Case
    ) -> ImportedTestimonyRead:
        doc, directory = item.doc, item.directory
        assert doc.interview is not None  # checked by _items
        service = self._testimonies
        translation = None
        if "translation_en" in doc.files:
            translation = self._text(
                files, f"{directory}/{doc.files['translation_en']}", target.code
            )
        identity = None
        if doc.witness_identity is not None:
            identity = IdentityIn.model_validate(
                {k: v for k, v in doc.witness_identity.items() if k != "version"}
            )
        record = TestimonyImport(
            case=target.code,
            interview=doc.interview,
            witness=WitnessIn(pseudonym=doc.witness_pseudonym, identity=identity),
            # The consent history is replayed below, grant by grant, with its dates.
            consent=ConsentIn(scopes=[], given_on=doc.interview.date),
            narrative=NarrativeIn(
                original=self._text(
                    files, f"{directory}/{doc.files['narrative_original']}", target.code
                ),
                translation_en=translation,
            ),
            incidents=[_incident_in(i) for i in doc.incidents],
        )
        created = service.create(record)
        for state in doc.consent:
            if state.given_on is not None:
                service.change_consent(
                    created.id,
                    ConsentChange(scope=state.scope, kind="given", effective_on=state.given_on),
                )
            if state.withdrawn_on is not None:
                service.change_consent(
                    created.id,
                    ConsentChange(
                        scope=state.scope, kind="withdrawn", effective_on=state.withdrawn_on
                    ),
                )
        incidents = {}
        for original, new_id in zip(doc.incidents, created.incident_ids, strict=True):
            incidents[original.id] = new_id
            if original.retracted:
                service.update_incident(created.id, new_id, IncidentUpdate(retracted=True))
        attachments = {}
        for entry in doc.attachments:
            name = f"{directory}/{entry.get('file', '')}"
            data = files.get(name)
            if data is None or hashlib.sha256(data).hexdigest() != entry.get("sha256"):
                raise _content_refusal(
                    target.code,
                    name,
                    "missing, or not the file whose SHA-256 testimony.json records",
                    field="missing or altered",
                )
            uploaded = AttachmentService(self._scope).upload(
                created.id,
                PurePosixPath(name).name,
                str(entry.get("media_type", "")),
                io.BytesIO(data),
            )
            attachments[name] = uploaded.id
        self._session.add(
            ImportedTestimony(
                testimony_id=created.id,
                import_id=bag.id,
                signer_public_key=bag.signer_public_key,
                original_testimony_id=doc.testimony_id,
                original_version=doc.version,
                bag_directory=directory,
                original_ids_json=json.dumps(
                    {"incidents": incidents, "attachments": attachments}, sort_keys=True
                ),
            )
        )
        self._session.flush()
        self._scope.custody.append(
            Action.TESTIMONY_IMPORTED_FROM_BAG,
            actor=service.principal(),
            object_type="testimony",
            object_id=created.id,
            object_sha256=created.content_sha256,
            details={
                "import_id": bag.id,
                "origin_export_id": bag.origin_export_id,
                "original_testimony_id": doc.testimony_id,
                "original_version": doc.version,
                "bag_directory": directory,
                "incidents": incidents,
                "attachments": attachments,
            },
        )
        return ImportedTestimonyRead(
            bag_directory=directory,
            original_id=doc.testimony_id,
            testimony_id=created.id,
            incidents=incidents,
            attachments=attachments,
        )
