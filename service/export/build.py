"""Assembling an approved export into a signed BagIt bag, encrypted at rest on the server.

Order matters, because the bag proves itself: (1) consent is checked again; (2) each
testimony's payload files are written and an ``export.package`` custody event records
their SHA-256; (3) the custody events of every exported object, the package events
included, are gathered and a checkpoint is signed over the log; (4) inclusion proofs for
those events, the checkpoint, and a consistency proof from the checkpoint that preceded the
build are written as tag files; (5) manifests, tag manifests and the detached signature
close the bag. The tar stream goes straight through envelope encryption into
``<data_dir>/exports``: decrypted testimony never touches the server's disk.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from service.crypto.interfaces import KeyPurpose
from service.crypto.stream import encrypt_stream
from service.custody.actions import Action
from service.custody.merkle import consistency_proof, inclusion_proof, root
from service.custody.models import CustodyCheckpoint, CustodyEvent, CustodyTreeNode
from service.custody.publish import verifier_key
from service.custody.service import event_fields
from service.custody.tree import DatabaseSubtrees
from service.errors import ConsentRefusedError, RefusalRecord
from service.export.bag import SIGNATURE_FILE, BagWriter
from service.export.models import ExportRequest, RecipientProfile
from service.export.schemas import (
    IDENTITY_KINDS,
    REQUIRED_SCOPE,
    Exclusion,
    ExportField,
    ExportStatus,
    RecipientKind,
)
from service.export.service import bag_key_context, bag_store, consent_exclusion, expiry
from service.runtime import Scope
from service.testimony.attachments import AttachmentService
from service.testimony.models import Testimony
from service.testimony.schemas import TestimonyRead
from service.testimony.service import TestimonyService
from service.witness.service import WitnessService

DOCUMENT_FORMAT = "custodia-export-testimony/1"
SCHEMA_ID = "https://custodia.example/schemas/export-testimony.schema.json"


class _IterReader:
    """``read(size)`` over an iterator of byte chunks, for ``encrypt_stream`` and age.

    With ``hashed`` it also takes the SHA-256 of what it hands out; ``encrypt_stream``
    hashes its plaintext itself, so only the age path needs this.
    """

    def __init__(self, chunks: Iterator[bytes], *, hashed: bool) -> None:
        self._chunks = chunks
        self._buffer = bytearray()
        self.sha256 = hashlib.sha256() if hashed else None
        self.size = 0

    def read(self, size: int = -1, /) -> bytes:
        if size >= 0 and not self._buffer:
            # The common case: a whole chunk of the wanted size, passed on without copying.
            chunk = next(self._chunks, None)
            if chunk is None:
                return b""
            if len(chunk) == size:
                return self._count(chunk)
            self._buffer += chunk
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        if size < 0:
            size = len(self._buffer)
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return self._count(data)

    def _count(self, data: bytes) -> bytes:
        if self.sha256 is not None:
            self.sha256.update(data)
        self.size += len(data)
        return data


class _ProofNodes:
    """The stored tree's nodes that the bag's proofs need, read in batched queries.

    ``DatabaseSubtrees`` costs one query per node, about 15 per inclusion proof: for an
    export of 1,000 testimonies (some 7,000 custody events) that was most of the build's
    time. Walking the proofs once over a store that only records which nodes they ask for
    gives the (level, index) pairs; they are then read with one ``IN`` query per level and
    batch. A node that was not fetched is read as before, and a node that is not stored
    raises MerkleError as before, so the proofs are the same.
    """

    _BATCH = 500

    def __init__(self, session: Session) -> None:
        self._session = session
        self._nodes: dict[tuple[int, int], bytes] = {}
        self._fallback = DatabaseSubtrees(session)

    def prefetch(self, wanted: Iterable[tuple[int, int]]) -> None:
        by_level: dict[int, set[int]] = defaultdict(set)
        for level, index in wanted:
            by_level[level].add(index)
        for level, indices in sorted(by_level.items()):
            ordered = sorted(indices)
            for start in range(0, len(ordered), self._BATCH):
                batch = ordered[start : start + self._BATCH]
                if level == 0:
                    query = select(CustodyEvent.seq, CustodyEvent.leaf_hash).where(
                        CustodyEvent.seq.in_(batch)
                    )
                else:
                    query = select(CustodyTreeNode.idx, CustodyTreeNode.hash).where(
                        CustodyTreeNode.level == level, CustodyTreeNode.idx.in_(batch)
                    )
                for index, value in self._session.execute(query):
                    self._nodes[(level, index)] = bytes(value)

    def subtree(self, level: int, index: int) -> bytes:
        value = self._nodes.get((level, index))
        if value is None:
            value = self._nodes[(level, index)] = self._fallback.subtree(level, index)
        return value


class _WantedNodes:
    """A ``SubtreeHashes`` that records what is asked for and answers with zeros."""

    def __init__(self) -> None:
        self.wanted: set[tuple[int, int]] = set()

    def subtree(self, level: int, index: int) -> bytes:
        self.wanted.add((level, index))
        return bytes(32)


class _HashingWriter:
    """Passes writes to ``sink`` and hashes them: what a download will deliver."""

    def __init__(self, sink: BinaryIO) -> None:
        self._sink = sink
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.size += len(data)
        return self._sink.write(data)

    def flush(self) -> None:
        self._sink.flush()


def _extension(media_type: str) -> str:
    return mimetypes.guess_extension(media_type, strict=False) or ".bin"


def _json_bytes(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode()


_EVENT_BATCH = 500


def _event_lines(session: Session, leaves: list[tuple[int, bytes]]) -> list[bytes]:
    """``custody/events.jsonl``: the events' canonical bytes, read in batches by seq."""
    out: list[bytes] = []
    for start in range(0, len(leaves), _EVENT_BATCH):
        seqs = [seq for seq, _ in leaves[start : start + _EVENT_BATCH]]
        # The session's identity map holds clean objects weakly: each batch is freed
        # once its lines are written.
        for event in session.scalars(
            select(CustodyEvent).where(CustodyEvent.seq.in_(seqs)).order_by(CustodyEvent.seq)
        ):
            out.append(event_fields(event).canonical_bytes() + b"\n")
    return out


def _proofs_json(tree_size: int, root_hash: str, entries: Iterable[dict[str, Any]]) -> list[bytes]:
    """The bytes ``_json_bytes`` gives for the inclusion-proofs document, one entry at a time.

    Building the whole document as Python lists and strings first took more memory than
    the bag's other work together for a few thousand events.
    """
    out = [b'{\n  "proofs": [']
    for entry in entries:
        text = json.dumps(entry, ensure_ascii=False, indent=2, sort_keys=True)
        out.append(
            (b",\n    " if len(out) > 1 else b"\n    ") + text.replace("\n", "\n    ").encode()
        )
    out.append(b"]" if len(out) == 1 else b"\n  ]")
    tail = json.dumps({"root_hash": root_hash, "tree_size": tree_size}, indent=2, sort_keys=True)
    out.append(b",\n" + tail[2:].encode() + b"\n")
    return out


class _Packager:
    """Writes one export's payload and custody tag files through a ``BagWriter``."""

    def __init__(
        self, scope: Scope, export: ExportRequest, profile: RecipientProfile, names: dict[str, Any]
    ) -> None:
        self.scope = scope
        self.export = export
        self.profile = profile
        self.kind = RecipientKind(profile.kind)
        self.fields = {ExportField(f) for f in json.loads(profile.fields_json)}
        self.identity = profile.include_identity and self.kind in IDENTITY_KINDS
        self.names = names
        self.objects: dict[str, set[str]] = {"export": {export.id}}
        self.writer = BagWriter(
            root=f"custodia-export-{export.id}", mtime=int(scope.now().timestamp())
        )
        self.checkpoint_size = 0

    def _object(self, object_type: str, object_id: str) -> None:
        self.objects.setdefault(object_type, set()).add(object_id)

    def testimony_document(self, read: TestimonyRead, directory: str) -> dict[str, Any]:
        """The testimony redacted to the profile: only the fields it may receive."""
        doc: dict[str, Any] = {
            "$schema": SCHEMA_ID,
            "format": DOCUMENT_FORMAT,
            "export_id": self.export.id,
            "testimony_id": read.id,
            "case": read.case,
            "witness_pseudonym": read.witness_pseudonym,
            "version": read.version,
            "content_sha256": read.content_sha256,
            "consent": [c.model_dump(mode="json") for c in read.consent],
            "consent_basis": REQUIRED_SCOPE[self.kind].value,
            "fields": sorted(f.value for f in self.fields),
            "files": {},
        }
        if ExportField.INTERVIEW in self.fields:
            doc["interview"] = read.interview.model_dump(mode="json")
        if ExportField.NARRATIVE_ORIGINAL in self.fields:
            doc["files"]["narrative_original"] = "narrative-original.txt"
            doc["language"] = read.interview.language
        if ExportField.TRANSLATION_EN in self.fields and read.narrative.translation_en:
            doc["files"]["translation_en"] = "translation-en.txt"
        if ExportField.INCIDENTS in self.fields:
            doc["incidents"] = [i.model_dump(mode="json") for i in read.incidents]
        if ExportField.ATTACHMENTS in self.fields:
            doc["attachments"] = [
                {
                    "file": f"attachments/{k:02d}{_extension(a.media_type)}",
                    "media_type": a.media_type,
                    "size_bytes": a.size_bytes,
                    "sha256": a.sha256,
                }
                for k, a in enumerate(read.attachments, 1)
            ]
        return doc

    def package(self, number: int, testimony_id: str) -> Iterator[bytes]:
        scope, writer = self.scope, self.writer
        read = TestimonyService(scope).read(testimony_id)
        directory = f"data/testimonies/{number:03d}"
        doc = self.testimony_document(read, directory)
        if self.identity:
            identity = WitnessService(scope).reveal(
                read.witness_pseudonym,
                f"Export {self.export.id} to '{self.profile.name}' for judicial proceedings",
            )
            doc["witness_identity"] = identity.model_dump(mode="json", exclude={"pseudonym"})
            testimony = scope.session.get_one(Testimony, testimony_id)
            self._object("identity", testimony.witness_id)
            self._object("witness", testimony.witness_id)
        self._object("testimony", read.id)
        for incident in read.incidents if ExportField.INCIDENTS in self.fields else []:
            self._object("incident", incident.id)
        paths = [f"{directory}/testimony.json"]
        yield from writer.add_bytes(paths[0], _json_bytes(doc))
        if "narrative_original" in doc["files"]:
            paths.append(f"{directory}/narrative-original.txt")
            yield from writer.add_bytes(paths[-1], read.narrative.original.encode("utf-8"))
        if "translation_en" in doc["files"] and read.narrative.translation_en:
            paths.append(f"{directory}/translation-en.txt")
            yield from writer.add_bytes(paths[-1], read.narrative.translation_en.encode("utf-8"))
        exported = read.attachments if "attachments" in doc else []
        for entry, attachment in zip(doc.get("attachments", []), exported, strict=True):
            download = AttachmentService(scope).download(read.id, attachment.id)
            paths.append(f"{directory}/{entry['file']}")
            self._object("attachment", attachment.id)
            yield from writer.add_stream(paths[-1], attachment.size_bytes, download.chunks)
        scope.custody.append(
            Action.EXPORT_PACKAGE,
            actor=scope.principal,
            object_type="testimony",
            object_id=read.id,
            # The version that was packaged (what the verifier checks against the stored
            # versions); the hashes of the files written for it are in ``files``.
            object_sha256=read.content_sha256,
            details={
                "export_id": self.export.id,
                "directory": directory,
                "files": {p: writer.payload[p].sha256 for p in paths},
            },
        )

    def custody_files(self, previous: CustodyCheckpoint | None) -> Iterator[bytes]:
        session, writer = self.scope.session, self.writer
        wanted = or_(
            *(
                and_(CustodyEvent.object_type == kind, CustodyEvent.object_id.in_(sorted(ids)))
                for kind, ids in self.objects.items()
            )
        )
        # Only (seq, leaf hash) pairs stay in memory; the events themselves are read in
        # batches, so the build does not hold thousands of ORM objects at once.
        leaves = [
            (seq, bytes(leaf))
            for seq, leaf in session.execute(
                select(CustodyEvent.seq, CustodyEvent.leaf_hash)
                .where(wanted)
                .order_by(CustodyEvent.seq)
            )
        ]
        checkpoint = self.scope.custody.checkpoint(reason="export")
        size = self.checkpoint_size = checkpoint.tree_size
        before = previous or checkpoint
        asked = _WantedNodes()
        for seq, _ in leaves:
            inclusion_proof(seq, size, asked)
        root(before.tree_size, asked)
        consistency_proof(before.tree_size, size, asked)
        store = _ProofNodes(session)
        store.prefetch(asked.wanted)
        del asked
        lines = _event_lines(session, leaves)
        yield from writer.add_stream("custody/events.jsonl", sum(map(len, lines)), lines)
        del lines
        proofs = _proofs_json(
            size,
            checkpoint.root_hash.hex(),
            (
                {
                    "seq": seq,
                    "leaf_hash": leaf.hex(),
                    "proof": [p.hex() for p in inclusion_proof(seq, size, store)],
                }
                for seq, leaf in leaves
            ),
        )
        yield from writer.add_stream("custody/inclusion-proofs.json", sum(map(len, proofs)), proofs)
        del proofs
        yield from writer.add_bytes("custody/checkpoint.txt", checkpoint.signed_note.encode())
        yield from writer.add_bytes("custody/previous-checkpoint.txt", before.signed_note.encode())
        consistency = {
            "first": before.tree_size,
            "second": size,
            "first_root": root(before.tree_size, store).hex(),
            "second_root": checkpoint.root_hash.hex(),
            "proof": [p.hex() for p in consistency_proof(before.tree_size, size, store)],
        }
        yield from writer.add_bytes("custody/consistency-proof.json", _json_bytes(consistency))
        runtime = self.scope.runtime
        vkey = verifier_key(runtime.keyring, runtime.settings.custody_origin) + "\n"
        yield from writer.add_bytes("custody/log.vkey", vkey.encode())

    def bag_info(self) -> dict[str, str]:
        export, runtime = self.export, self.scope.runtime
        now = self.scope.now()
        withheld = sorted({f.value for f in ExportField} - {f.value for f in self.fields})
        return {
            "Source-Organization": runtime.settings.export_source_organization,
            "Bagging-Date": now.date().isoformat(),
            "External-Identifier": export.id,
            "External-Description": "Custodia evidence export (docs/export-format.md)",
            "Custodia-Export-Id": export.id,
            "Custodia-Requester": str(self.names["requester"]),
            "Custodia-Requested-At": export.requested_at.isoformat(),
            "Custodia-Approver": str(self.names["approver"]),
            "Custodia-Approved-At": export.decided_at.isoformat() if export.decided_at else "-",
            "Custodia-Built-At": now.isoformat(),
            "Custodia-Purpose": export.purpose,
            "Custodia-Recipient": self.profile.name,
            "Custodia-Recipient-Kind": self.kind.value,
            "Custodia-Consent-Basis": (
                f"Every testimony in this bag has active consent to "
                f"'{REQUIRED_SCOPE[self.kind].value}' at build time; each testimony.json "
                f"carries its consent history"
            ),
            "Custodia-Fields": ", ".join(sorted(f.value for f in self.fields)),
            "Custodia-Withheld": ", ".join(withheld + ([] if self.identity else ["identity"])),
            "Custodia-Log-Origin": runtime.settings.custody_origin,
            "Custodia-Checkpoint-Size": str(self.checkpoint_size),
        }


def recheck_consent(
    scope: Scope, export: ExportRequest, kind: RecipientKind
) -> tuple[list[str], list[Exclusion]]:
    """Testimonies still covered by consent now, and the ones that no longer are."""
    kept: list[str] = []
    dropped: list[Exclusion] = []
    for testimony_id in json.loads(export.included_json):
        testimony = scope.session.get(Testimony, testimony_id)
        exclusion = (
            Exclusion.because(testimony_id, "the testimony no longer exists")
            if testimony is None
            else consent_exclusion(scope, testimony, kind)
        )
        if exclusion is None:
            kept.append(testimony_id)
        else:
            dropped.append(exclusion)
    return kept, dropped


def build_bag(
    scope: Scope, export: ExportRequest, profile: RecipientProfile, names: dict[str, Any]
) -> None:
    """Writes the encrypted bag and marks the export built; raises ConsentRefusedError
    (recorded) when consent was withdrawn for every testimony since the approval."""
    kind = RecipientKind(profile.kind)
    kept, dropped = recheck_consent(scope, export, kind)
    if not kept:
        raise ConsentRefusedError(
            "Consent no longer covers any testimony of this export; nothing was built.",
            errors=[e.as_problem() for e in dropped],
            refusal=RefusalRecord(
                action=Action.EXPORT_BUILD.value,
                object_type="export",
                object_id=export.id,
                details={"reason": "consent", "excluded": [e.model_dump() for e in dropped]},
                denied=False,
            ),
        )
    session = scope.session
    previous = session.scalar(
        select(CustodyCheckpoint)
        .order_by(CustodyCheckpoint.tree_size.desc(), CustodyCheckpoint.id.desc())
        .limit(1)
    )
    packager = _Packager(scope, export, profile, names)
    signing_key = scope.runtime.keyring.signing_key()

    def produce() -> Iterator[bytes]:
        for number, testimony_id in enumerate(kept, 1):
            yield from packager.package(number, testimony_id)
        yield from packager.custody_files(previous)
        yield from packager.writer.finish(packager.bag_info(), signing_key)

    runtime = scope.runtime
    store = bag_store(scope)
    scope.on_rollback(lambda: store.delete(export.id))
    source = _IterReader(produce(), hashed=bool(profile.age_recipient))
    kek_version: int | None = None
    wrapped: bytes | None = None
    if profile.age_recipient:
        # Encrypted to the recipient alone: the server cannot read its own copy, and the
        # download is the age file itself.
        import pyrage

        recipient = pyrage.x25519.Recipient.from_str(profile.age_recipient)
        with store.writer(export.id) as sink:
            delivered = _HashingWriter(sink)
            pyrage.encrypt_io(source, delivered, [recipient])
        assert source.sha256 is not None
        bag_size, bag_sha256 = delivered.size, delivered.sha256.hexdigest()
        tar_sha256 = source.sha256.hexdigest()
    else:
        key = runtime.envelope.new_wrapped_key(KeyPurpose.CONTENT, bag_key_context(export.id))
        with store.writer(export.id) as sink:
            result = encrypt_stream(key.data_key, source, sink, aad=bag_key_context(export.id))
        kek_version, wrapped = key.kek_version, key.wrapped
        # The stored file is the envelope; the download (and bag_sha256) is the tar itself.
        bag_size, bag_sha256 = result.plaintext_size, result.plaintext_sha256
        tar_sha256 = bag_sha256
    now = scope.now()
    export.status = ExportStatus.BUILT.value
    export.built_by = scope.principal.user_id if scope.principal else None
    export.built_at = now
    export.built_json = json.dumps(
        {
            "included": kept,
            "excluded": [e.model_dump() for e in dropped],
            "age": bool(profile.age_recipient),
            "tar_sha256": tar_sha256,
        }
    )
    export.bag_kek_version = kek_version
    export.bag_wrapped_key = wrapped
    export.bag_size = bag_size
    export.bag_sha256 = bag_sha256
    export.expires_at = expiry(now, runtime.settings.export_ttl_hours)
    session.flush()
    tagmanifest = packager.writer.tags["tagmanifest-sha256.txt"].sha256
    scope.custody.append(
        Action.EXPORT_BUILD,
        actor=scope.principal,
        object_type="export",
        object_id=export.id,
        object_sha256=bag_sha256,
        details={
            "included": kept,
            "excluded_at_build": [e.model_dump() for e in dropped],
            "checkpoint_size": packager.checkpoint_size,
            "tagmanifest_sha256": tagmanifest,
            "bag_size": bag_size,
            "tar_sha256": tar_sha256,
            "encrypted_to_recipient": bool(profile.age_recipient),
            "signature_sha256": packager.writer.tags[SIGNATURE_FILE].sha256,
        },
    )
