"""The shapes of recipient profiles and export requests crossing Custodia's boundaries."""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from service.errors import FieldProblem, Translate, fill, translate
from service.testimony.schemas import ConsentScope

_AGE_RECIPIENT = re.compile(r"^age1[02-9ac-hj-np-z]{58}$")


class RecipientKind(StrEnum):
    """Who receives a bag; each kind is one consent scope (``REQUIRED_SCOPE``)."""

    JUDICIAL_PROCEEDINGS = "judicial_proceedings"
    UN_MECHANISMS = "un_mechanisms"
    INTERNAL_ANALYSIS = "internal_analysis"
    PUBLIC_ANONYMISED = "public_anonymised"


REQUIRED_SCOPE: dict[RecipientKind, ConsentScope] = {
    kind: ConsentScope(kind.value) for kind in RecipientKind
}
"""The consent scope a testimony needs before it may go to each kind of recipient."""

IDENTITY_KINDS = frozenset({RecipientKind.JUDICIAL_PROCEEDINGS})
"""Only judicial proceedings may ever receive witness identity (and only when asked for)."""


class ExportField(StrEnum):
    """The parts of a testimony a profile may receive; identity is never one of them."""

    INTERVIEW = "interview"
    NARRATIVE_ORIGINAL = "narrative_original"
    TRANSLATION_EN = "translation_en"
    INCIDENTS = "incidents"
    ATTACHMENTS = "attachments"


DEFAULT_FIELDS: dict[RecipientKind, tuple[ExportField, ...]] = {
    RecipientKind.JUDICIAL_PROCEEDINGS: tuple(ExportField),
    RecipientKind.UN_MECHANISMS: tuple(ExportField),
    RecipientKind.INTERNAL_ANALYSIS: (
        ExportField.INTERVIEW,
        ExportField.NARRATIVE_ORIGINAL,
        ExportField.TRANSLATION_EN,
        ExportField.INCIDENTS,
    ),
    # Public use gets coded incidents and the translation only: an original narrative, the
    # interview place and attachments can identify a witness.
    RecipientKind.PUBLIC_ANONYMISED: (ExportField.TRANSLATION_EN, ExportField.INCIDENTS),
}


def _age_recipient(value: str) -> str:
    if not _AGE_RECIPIENT.fullmatch(value):
        raise ValueError("must be an age X25519 recipient (age1...)")
    return value


Name = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._-]{1,99}$")
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RecipientProfileCreate(Strict):
    name: Name
    kind: RecipientKind
    fields: list[ExportField] | None = Field(default=None, max_length=len(ExportField))
    include_identity: bool = False
    age_recipient: Annotated[str, AfterValidator(_age_recipient)] | None = None


class RecipientProfileRead(BaseModel):
    id: int
    name: str
    kind: RecipientKind
    required_scope: ConsentScope
    fields: list[ExportField]
    include_identity: bool
    age_recipient: str | None


class ExportRequestCreate(Strict):
    """Testimonies by id, by case code, or by a search query over the caller's cases."""

    profile: Name
    purpose: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=10, max_length=2000)
    ]
    testimony_ids: list[Annotated[str, StringConstraints(max_length=36)]] = Field(
        default_factory=list, max_length=1000
    )
    cases: list[Annotated[str, StringConstraints(max_length=64)]] = Field(
        default_factory=list, max_length=50
    )
    query: Annotated[str, StringConstraints(max_length=1000)] | None = None


class ExportDecision(Strict):
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] | None = None


class Exclusion(BaseModel):
    """A testimony left out of an export, and why.

    ``reason`` is the English sentence; ``reason_template`` and ``reason_params`` are its
    catalogue message and values, so a page can say it in the reader's language. Requests
    stored before the template was kept have only ``reason``.
    """

    testimony_id: str
    reason: str
    reason_template: str | None = None
    reason_params: dict[str, str] = {}

    @classmethod
    def because(cls, testimony_id: str, template: str, **params: str) -> Exclusion:
        reason = fill(template, params, template)
        return cls(
            testimony_id=testimony_id,
            reason=reason,
            reason_template=template,
            reason_params=params,
        )

    def translated(self, gettext: Translate) -> str:
        if self.reason_template is None:
            return self.reason
        return translate(gettext, self.reason_template, self.reason_params)

    def as_problem(self) -> FieldProblem:
        return FieldProblem(
            f"testimony:{self.testimony_id}",
            self.reason_template or self.reason,
            self.reason_params,
        )


class ExportStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    BUILT = "built"
    PURGED = "purged"


class ExportRead(BaseModel):
    id: str
    status: ExportStatus
    profile: str
    recipient_kind: RecipientKind
    purpose: str
    requested_by: str
    requested_at: dt.datetime
    decided_by: str | None
    decided_at: dt.datetime | None
    decision_note: str | None
    included: list[str]
    excluded: list[Exclusion]
    built_at: dt.datetime | None
    built_included: list[str] | None
    built_excluded: list[Exclusion] | None
    bag_size: int | None
    bag_sha256: str | None
    encrypted_to_recipient: bool
    expires_at: dt.datetime | None


class ImportedTestimonyRead(BaseModel):
    """One testimony of an imported bag: its id at the origin and here."""

    bag_directory: str
    original_id: str
    testimony_id: str
    incidents: dict[str, str]
    """Original incident id -> new incident id."""
    attachments: dict[str, str]
    """Bag file -> new attachment id."""


class BagImportRead(BaseModel):
    import_id: str
    case: str
    origin_organization: str
    origin_export_id: str
    tagmanifest_sha256: str
    signer_public_key: str
    signer_trusted: bool
    custody_events: int
    checkpoint_size: int
    warnings: list[str]
    testimonies: list[ImportedTestimonyRead]
