"""Attachments: streamed through encryption to the store, never whole in memory or on disk.

Each attachment has its own data key. Its file name and the SHA-256 of the original are
sealed with it, since both can identify a witness or confirm a known file.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import select

from service.access.policy import Permission
from service.crypto.envelope import FieldContext
from service.crypto.errors import CryptoError, StreamTooLargeError
from service.crypto.interfaces import KeyPurpose, ShredId
from service.crypto.shred import ShreddedKeyError
from service.crypto.stream import ByteReader, encrypt_stream, iter_decrypt
from service.custody.actions import Action
from service.errors import (
    FieldProblem,
    IntegrityCheckError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    ShreddedError,
    UnsupportedMediaTypeError,
)
from service.runtime import Scope
from service.storage.mediatypes import SNIFF_BYTES, content_matches
from service.testimony.models import Attachment, Testimony
from service.testimony.schemas import AttachmentRead
from service.testimony.sealing import content_digest, new_salt, open_document, seal_document
from service.testimony.service import CONTENT_KEY_ID, TestimonyService

_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")
MAX_FILENAME_BYTES = 255


def check_filename(name: str) -> str:
    """Returns the NFC form; raises InvalidInputError for names that could act as paths."""
    name = unicodedata.normalize("NFC", name.strip())
    problem = None
    if not name:
        problem = "a file name is required"
    elif _UNSAFE_NAME.search(name) or name in {".", ".."} or name.startswith("."):
        problem = "must be a plain file name, without folders, control characters or a leading dot"
    elif len(name.encode("utf-8")) > MAX_FILENAME_BYTES:
        problem = f"must be at most {MAX_FILENAME_BYTES} bytes"
    if problem:
        raise InvalidInputError(
            "The file name is not acceptable: %(problem)s.",
            errors=[FieldProblem("filename", problem)],
            problem=problem,
        )
    return name


def attachment_key_context(attachment_id: str) -> bytes:
    return f"attachment:{attachment_id}".encode()


class _Prefixed:
    """A reader that first returns bytes already consumed for sniffing."""

    def __init__(self, head: bytes, rest: ByteReader) -> None:
        self._head = head
        self._rest = rest

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size < 0:
                data, self._head = self._head + self._rest.read(), b""
                return data
            data, self._head = self._head[:size], self._head[size:]
            return data
        return self._rest.read(size)


@dataclass(frozen=True)
class AttachmentDownload:
    info: AttachmentRead
    chunks: Iterator[bytes]


class AttachmentService:
    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self._session = scope.session
        self._testimonies = TestimonyService(scope)

    def upload(
        self, testimony_id: str, filename: str, media_type: str, source: ByteReader
    ) -> AttachmentRead:
        """Raises InvalidInputError, UnsupportedMediaTypeError or PayloadTooLargeError.

        On any failure nothing is kept: the partial ciphertext file is removed.
        """
        principal = self._testimonies.principal()
        testimony = self._testimonies.load(testimony_id, Permission.ATTACHMENT_UPLOAD)
        name = check_filename(filename)
        settings = self._scope.runtime.settings
        media_type = media_type.split(";")[0].strip().lower()
        if media_type not in settings.allowed_media_types:
            raise UnsupportedMediaTypeError(
                "Files of type '%(media_type)s' are not accepted. Accepted: %(accepted)s.",
                errors=[FieldProblem("content-type", "not on the allow-list")],
                media_type=media_type,
                accepted=", ".join(settings.allowed_media_types),
            )
        head = source.read(SNIFF_BYTES)
        if not content_matches(media_type, head):
            raise UnsupportedMediaTypeError(
                "The file's content does not look like '%(media_type)s'.",
                errors=[FieldProblem("content-type", "content does not match the declared type")],
                media_type=media_type,
            )
        attachment_id = str(uuid.uuid4())
        envelope = self._scope.runtime.envelope
        shred_id = ShredId.testimony(testimony.id)
        key = envelope.new_wrapped_key(
            KeyPurpose.CONTENT, attachment_key_context(attachment_id), shred_id=shred_id
        )
        if key.new_shred_secret:  # a testimony from before shred binding: see docs
            self._scope.on_rollback(lambda: envelope.destroy_shred_secret(shred_id))
        store = self._scope.runtime.attachments
        try:
            with store.writer(attachment_id) as sink:
                result = encrypt_stream(
                    key.data_key,
                    _Prefixed(head, source),
                    sink,
                    aad=attachment_key_context(attachment_id),
                    max_plaintext_bytes=settings.max_attachment_bytes,
                )
        except StreamTooLargeError:
            raise PayloadTooLargeError(
                "The file is larger than the limit of %(limit)s bytes.",
                errors=[FieldProblem("body", "too large")],
                limit=settings.max_attachment_bytes,
            ) from None
        self._scope.on_rollback(lambda: store.delete(attachment_id))
        document = {
            "attachment_id": attachment_id,
            "testimony_id": testimony.id,
            "filename": name,
            "media_type": media_type,
            "size_bytes": result.plaintext_size,
            "sha256": result.plaintext_sha256,
            "salt": new_salt(),
        }
        digest = content_digest(document)
        ctx = FieldContext("attachment", attachment_id, "meta", 1)
        self._session.add(
            Attachment(
                id=attachment_id,
                testimony_id=testimony.id,
                media_type=media_type,
                size_bytes=result.plaintext_size,
                kek_version=key.kek_version,
                wrapped_key=key.wrapped,
                meta_ciphertext=seal_document(key.data_key, CONTENT_KEY_ID, document, ctx),
                content_sha256=digest,
                created_at=self._scope.now(),
                created_by=principal.user_id,
            )
        )
        self._session.flush()
        self._scope.custody.append(
            Action.ATTACHMENT_CREATE,
            actor=principal,
            object_type="attachment",
            object_id=attachment_id,
            object_sha256=digest,
            details={"testimony_id": testimony.id, "size_bytes": result.plaintext_size},
        )
        return AttachmentRead(
            id=attachment_id,
            filename=name,
            media_type=media_type,
            size_bytes=result.plaintext_size,
            sha256=result.plaintext_sha256,
        )

    def _key_and_meta(self, attachment: Attachment) -> tuple[bytes, dict[str, object]]:
        if attachment.wrapped_key is None:
            raise NotFoundError("No attachment with id '%(id)s'.", id=attachment.id)
        try:
            data_key = self._scope.runtime.envelope.unwrap(
                KeyPurpose.CONTENT,
                attachment.kek_version,
                attachment.wrapped_key,
                attachment_key_context(attachment.id),
                shred_id=ShredId.testimony(attachment.testimony_id),
            )
        except ShreddedKeyError:
            raise ShreddedError(
                "Attachment '%(id)s' was crypto-shredded.", id=attachment.id
            ) from None
        except CryptoError as error:
            raise IntegrityCheckError(
                str(error), object_type="attachment", object_id=attachment.id
            ) from None
        meta = open_document(
            data_key,
            attachment.meta_ciphertext,
            FieldContext("attachment", attachment.id, "meta", 1),
        )
        return data_key, meta

    def list_for(self, testimony: Testimony) -> list[AttachmentRead]:
        """Metadata of a testimony's attachments, for a caller already cleared to read it."""
        result = []
        for attachment in self._session.scalars(
            select(Attachment)
            .where(Attachment.testimony_id == testimony.id, Attachment.wrapped_key.is_not(None))
            .order_by(Attachment.created_at, Attachment.id)
        ):
            _, meta = self._key_and_meta(attachment)
            result.append(
                AttachmentRead(
                    id=attachment.id,
                    filename=str(meta["filename"]),
                    media_type=attachment.media_type,
                    size_bytes=attachment.size_bytes,
                    sha256=str(meta["sha256"]),
                )
            )
        return result

    def download(self, testimony_id: str, attachment_id: str) -> AttachmentDownload:
        """Checks the whole ciphertext before anything is released, then streams it.

        Raises IntegrityCheckError for a truncated, altered or swapped file.
        """
        principal = self._testimonies.principal()
        testimony = self._testimonies.load(testimony_id, Permission.ATTACHMENT_READ)
        attachment = self._session.get(Attachment, attachment_id)
        if attachment is None or attachment.testimony_id != testimony.id:
            raise NotFoundError(
                "No attachment with id '%(attachment_id)s' in this testimony.",
                attachment_id=attachment_id,
            )
        data_key, meta = self._key_and_meta(attachment)
        store = self._scope.runtime.attachments
        aad = attachment_key_context(attachment.id)
        digest = hashlib.sha256()
        try:
            with store.reader(attachment.id) as handle:
                for chunk in iter_decrypt(data_key, handle, aad):
                    digest.update(chunk)
        except FileNotFoundError:
            raise IntegrityCheckError(
                "The stored file of attachment %(id)s is missing.",
                object_type="attachment",
                object_id=attachment.id,
                id=attachment.id,
            ) from None
        except CryptoError as error:
            raise IntegrityCheckError(
                "Attachment %(id)s: %(error)s.",
                object_type="attachment",
                object_id=attachment.id,
                id=attachment.id,
                error=error,
            ) from None
        if digest.hexdigest() != meta["sha256"]:
            raise IntegrityCheckError(
                "Attachment %(id)s: the stored file does not match its recorded SHA-256.",
                object_type="attachment",
                object_id=attachment.id,
                id=attachment.id,
            )
        self._scope.custody.append(
            Action.ATTACHMENT_READ,
            actor=principal,
            object_type="attachment",
            object_id=attachment.id,
            object_sha256=attachment.content_sha256,
            details={"testimony_id": testimony.id},
        )
        info = AttachmentRead(
            id=attachment.id,
            filename=str(meta["filename"]),
            media_type=attachment.media_type,
            size_bytes=attachment.size_bytes,
            sha256=str(meta["sha256"]),
        )

        def chunks() -> Iterator[bytes]:
            with store.reader(attachment_id) as handle:
                yield from iter_decrypt(data_key, handle, aad)

        return AttachmentDownload(info=info, chunks=chunks())
