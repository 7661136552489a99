"""What a draft of the guided interview holds: the form as typed, valid or not.

A draft is not a testimony: any field may be blank or half-typed, so these models bound
only lengths and shapes. ``TestimonyImport`` validates the interview when it is submitted.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Short = Annotated[str, StringConstraints(max_length=300)]
Long = Annotated[str, StringConstraints(max_length=2_000_000)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DraftForm(_Strict):
    """Every field of the interview form except the witness's identity."""

    case: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    external_id: Short = ""
    interview_date: Short = ""
    interview_place: Short = ""
    language: Short = "ko"
    interviewer: Short = ""
    pseudonym: Short = ""
    scopes: list[Annotated[str, StringConstraints(max_length=64)]] = Field(
        default_factory=list, max_length=16
    )
    consent_given_on: Short = ""
    narrative_original: Long = ""
    translation_en: Long = ""


class DraftIdentity(_Strict):
    """The identity fields; sealed under an identity-vault key, apart from the form."""

    legal_name: Short = ""
    birth_year: Short = ""
    gender: Short = ""
    contact: Short = ""
    family_in_dprk: Annotated[str, StringConstraints(max_length=100_000)] = ""

    def is_blank(self) -> bool:
        return not any(v.strip() for v in self.model_dump().values())


class DraftSave(_Strict):
    """One save of the form. ``label`` is the officer's own name for the draft (sealed)."""

    label: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    form: DraftForm
    identity: DraftIdentity = Field(default_factory=DraftIdentity)


class DraftSaved(BaseModel):
    id: str
    version: int
    created: bool
    updated_at: dt.datetime


class DraftSummary(BaseModel):
    """A line of the drafts list: no narrative, no identity."""

    id: str
    case_code: str
    label: str
    created_at: dt.datetime
    updated_at: dt.datetime
    expires_at: dt.datetime


class DraftRead(DraftSummary):
    version: int
    form: DraftForm
    identity: DraftIdentity
