"""The shapes of testimony data crossing Custodia's boundaries.

``TestimonyImport`` is the import format: one per JSONL line, and the body of
``POST /api/v1/testimonies``. ``schemas/testimony-import.schema.json`` is generated from it
(``custodia schema export``), and a test keeps the two in step.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic_core import PydanticCustomError

_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


# Our validators raise ``PydanticCustomError`` with a ``type`` of their own: the API shows
# the English message, and the web pages (``service.web.forms``) show a text of their own
# for each type, in the reader's language. ``ctx["field"]``, where given, names the field a
# model-level check is about.


def _plain_text(value: str) -> str:
    """Metadata kept in clear columns and shown in terminals carries no control characters:
    PostgreSQL cannot store NUL in text, and an escape sequence would act on a terminal."""
    if _CONTROL_CHARACTERS.search(value):
        raise PydanticCustomError("control_characters", "must not contain control characters")
    return value


def _external_id(value: str) -> str:
    if not value:
        raise PydanticCustomError(
            "blank_external_id", "must not be blank; leave external_id out instead"
        )
    return _plain_text(value)


ShortText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_plain_text),
]
LongText = Annotated[str, StringConstraints(min_length=1, max_length=2_000_000)]
Pseudonym = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$")
]
CaseCode = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$")
]
LanguageTag = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]


class ConsentScope(StrEnum):
    INTERNAL_ANALYSIS = "internal_analysis"
    UN_MECHANISMS = "un_mechanisms"
    JUDICIAL_PROCEEDINGS = "judicial_proceedings"
    PUBLIC_ANONYMISED = "public_anonymised"


class Involvement(StrEnum):
    VICTIM = "victim"
    DIRECT_WITNESS = "direct_witness"
    HEARSAY = "hearsay"


class DatePrecision(StrEnum):
    YEAR = "year"
    MONTH = "month"
    DAY = "day"
    RANGE = "range"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InterviewIn(Strict):
    date: dt.date
    place: ShortText
    language: LanguageTag
    interviewer: ShortText


class IdentityIn(Strict):
    legal_name: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)
    ]
    birth_year: int | None = Field(default=None, ge=1900, le=2100)
    gender: ShortText | None = None
    contact: Annotated[str, StringConstraints(max_length=1000)] | None = None
    family_in_dprk: list[Annotated[str, StringConstraints(max_length=500)]] = Field(
        default_factory=list, max_length=50
    )


class WitnessIn(Strict):
    pseudonym: Pseudonym
    identity: IdentityIn | None = None


class ConsentIn(Strict):
    scopes: list[ConsentScope] = Field(max_length=10)
    given_on: dt.date


class NarrativeIn(Strict):
    original: LongText
    translation_en: LongText | None = None


def _parse_partial_date(
    text: str, precision: DatePrecision, field: str = "date"
) -> tuple[dt.date, dt.date]:
    """Raises ``PydanticCustomError`` (a ``ValueError``) naming ``field``."""
    parts = text.split("-")
    expected = {DatePrecision.YEAR: 1, DatePrecision.MONTH: 2}.get(precision, 3)
    if len(parts) != expected or not all(p.isascii() and p.isdigit() for p in parts):
        raise PydanticCustomError(
            "date_shape",
            "{field} must be written {shape} for precision '{precision}'",
            {
                "field": field,
                "shape": {1: "YYYY", 2: "YYYY-MM", 3: "YYYY-MM-DD"}[expected],
                "precision": precision.value,
            },
        )
    year, month = int(parts[0]), int(parts[1]) if expected > 1 else 1
    if expected == 2 and not 1 <= month <= 12:
        raise PydanticCustomError(
            "month_range", "month must be between 01 and 12", {"field": field}
        )
    try:
        if expected == 1:
            return dt.date(year, 1, 1), dt.date(year, 12, 31)
        if expected == 2:
            last = calendar.monthrange(year, month)[1]
            return dt.date(year, month, 1), dt.date(year, month, last)
        day = dt.date(year, month, int(parts[2]))
    except ValueError as error:  # a day or month the calendar does not have, or year 0
        raise PydanticCustomError(
            "calendar_date",
            "{field} is not a date in the calendar ({reason})",
            {"field": field, "reason": str(error)},
        ) from None
    return day, day


class IncidentIn(Strict):
    categories: list[Annotated[str, StringConstraints(max_length=120)]] = Field(
        min_length=1, max_length=20
    )
    date: Annotated[str, StringConstraints(strip_whitespace=True, max_length=10)]
    date_precision: DatePrecision
    date_end: Annotated[str, StringConstraints(strip_whitespace=True, max_length=10)] | None = None
    place: ShortText | None = None
    facility: ShortText | None = None
    perpetrator_institution: ShortText | None = None
    involvement: Involvement
    description: LongText | None = None

    @model_validator(mode="after")
    def _dates_are_consistent(self) -> IncidentIn:
        self.date_range()
        return self

    def date_range(self) -> tuple[dt.date, dt.date]:
        """The first and last day the incident may have happened on; raises ValueError
        (a ``PydanticCustomError`` whose ``field`` names the date it is about)."""
        if self.date_precision is DatePrecision.RANGE:
            if not self.date_end:
                raise PydanticCustomError(
                    "date_end_required",
                    "date_end is required when date_precision is 'range'",
                    {"field": "date_end", "precision": DatePrecision.RANGE.value},
                )
            start, _ = _parse_partial_date(self.date, DatePrecision.DAY)
            end, _ = _parse_partial_date(self.date_end, DatePrecision.DAY, "date_end")
            if end < start:
                raise PydanticCustomError(
                    "date_end_before_date", "date_end is before date", {"field": "date_end"}
                )
            return start, end
        if self.date_end is not None:
            raise PydanticCustomError(
                "date_end_not_allowed",
                "date_end is only allowed when date_precision is 'range'",
                {"field": "date_end", "precision": DatePrecision.RANGE.value},
            )
        return _parse_partial_date(self.date, self.date_precision)


class TestimonyImport(Strict):
    """One testimony as entered by a documentation officer or imported from JSONL."""

    external_id: (
        Annotated[
            str,
            StringConstraints(strip_whitespace=True, max_length=100),
            AfterValidator(_external_id),
        ]
        | None
    ) = None
    case: CaseCode
    interview: InterviewIn
    witness: WitnessIn
    consent: ConsentIn
    narrative: NarrativeIn
    incidents: list[IncidentIn] = Field(default_factory=list, max_length=200)


class TestimonyUpdate(Strict):
    """A new version: omitted parts are carried over from the current version."""

    interview: InterviewIn | None = None
    narrative: NarrativeIn | None = None


class IncidentUpdate(Strict):
    categories: list[Annotated[str, StringConstraints(max_length=120)]] | None = Field(
        default=None, min_length=1, max_length=20
    )
    date: Annotated[str, StringConstraints(strip_whitespace=True, max_length=10)] | None = None
    date_precision: DatePrecision | None = None
    date_end: Annotated[str, StringConstraints(strip_whitespace=True, max_length=10)] | None = None
    place: ShortText | None = None
    facility: ShortText | None = None
    perpetrator_institution: ShortText | None = None
    involvement: Involvement | None = None
    description: LongText | None = None
    retracted: bool | None = None


class ConsentChange(Strict):
    scope: ConsentScope
    kind: Literal["given", "withdrawn"]
    effective_on: dt.date


class IdentityRevealRequest(Strict):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=10, max_length=1000)]


# ---- read models -------------------------------------------------------------------------


class InterviewRead(BaseModel):
    date: dt.date
    place: str
    language: str
    interviewer: str


class NarrativeRead(BaseModel):
    original: str
    translation_en: str | None


class IncidentRead(BaseModel):
    id: str
    version: int
    categories: list[str]
    date_start: dt.date
    date_end: dt.date
    date_precision: DatePrecision
    place: str | None
    facility: str | None
    perpetrator_institution: str | None
    involvement: Involvement
    description: str | None
    retracted: bool
    content_sha256: str


class ConsentScopeState(BaseModel):
    scope: ConsentScope
    given_on: dt.date | None
    withdrawn_on: dt.date | None
    active: bool


class AttachmentRead(BaseModel):
    id: str
    filename: str
    media_type: str
    size_bytes: int
    sha256: str


class ProvenanceRead(BaseModel):
    """Where a testimony re-imported from another Custodia's export bag came from."""

    import_id: str
    origin_organization: str
    origin_export_id: str
    original_testimony_id: str
    original_version: int
    tagmanifest_sha256: str
    signer_public_key: str
    signer_trusted: bool
    imported_at: dt.datetime


class TestimonyRead(BaseModel):
    id: str
    external_id: str | None
    case: str
    witness_pseudonym: str
    version: int
    content_sha256: str
    interview: InterviewRead
    narrative: NarrativeRead
    incidents: list[IncidentRead]
    consent: list[ConsentScopeState]
    attachments: list[AttachmentRead]
    provenance: ProvenanceRead | None = None
    """Set for a testimony imported from a bag (``custodia import-bag``)."""


class TestimonyVersionRead(BaseModel):
    version: int
    created_at: str
    created_by: str
    content_sha256: str
    interview: InterviewRead
    narrative: NarrativeRead


class TestimonyCreated(BaseModel):
    id: str
    version: int
    witness_pseudonym: str
    incident_ids: list[str]
    content_sha256: str


class IdentityRead(BaseModel):
    pseudonym: str
    version: int
    legal_name: str
    birth_year: int | None
    gender: str | None
    contact: str | None
    family_in_dprk: list[str]
