"""Turning HTML form fields into the domain's input models, and uploads into bytes.

Uploads are parsed in memory (bounded by the attachment size limit the app enforces on
the request body): a spooled temporary file would put an unencrypted attachment on disk.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from python_multipart.multipart import MultipartParser, parse_options_header

from service.errors import FieldProblem, InvalidInputError, Translate, translate, untranslated
from service.web.messages import N_


def blank_to_none(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


FIELD_LABELS: dict[str, str] = {
    # The guided interview (TestimonyImport; DraftSave's form and identity by their names).
    "external_id": N_("Reference number (optional)"),
    "case": N_("Case"),
    "interview.date": N_("Interview date"),
    "interview_date": N_("Interview date"),
    "interview.place": N_("Interview place"),
    "interview_place": N_("Interview place"),
    "language": N_("Language of the interview"),
    "interviewer": N_("Interviewer"),
    "pseudonym": N_("Pseudonym code"),
    "legal_name": N_("Legal name (encrypted in the identity vault)"),
    "birth_year": N_("Year of birth"),
    "gender": N_("Gender"),
    "contact": N_("Contact"),
    "family_in_dprk": N_("Family members in the DPRK (one per line)"),
    "scopes": N_("Consent scopes"),
    "consent.given_on": N_("Consent given on"),
    "consent_given_on": N_("Consent given on"),
    "original": N_("Narrative in the original language"),
    "narrative_original": N_("Narrative in the original language"),
    "translation_en": N_("English translation (optional)"),
    "label": N_("Label for this draft (optional)"),
    # An incident (IncidentIn; also each of an import's incidents).
    "categories": N_("Violation categories"),
    "date": N_("Date (YYYY, YYYY-MM or YYYY-MM-DD)"),
    "date_precision": N_("Date precision"),
    "date_end": N_("End date (for a range)"),
    "place": N_("Place"),
    "facility": N_("Facility"),
    "perpetrator_institution": N_("Perpetrator institution"),
    "involvement": N_("Involvement of the witness"),
    "description": N_("Description"),
    # A consent change (ConsentChange).
    "scope": N_("Scope"),
    "kind": N_("Change"),
    "effective_on": N_("Effective on"),
    # An export request (ExportRequestCreate).
    "profile": N_("Recipient profile"),
    "purpose": N_("Purpose (recorded with the export)"),
    "cases": N_("Cases to include"),
    "testimony_ids": N_("Or testimony ids (one per line)"),
}
"""The label a form shows for an input location: the longest dotted suffix listed wins
(``interview.date`` before ``date``), list indices ignored (``consent.scopes.0``)."""

_DATE = N_("Enter a valid date (YYYY-MM-DD).")
_DATETIME = N_("Enter a valid date and time.")
_CHOICE = N_("Choose one of the options offered.")
_WHOLE_NUMBER = N_("Enter a whole number.")
_YES_NO = N_("Choose yes or no.")
ERROR_MESSAGES: dict[str, str] = {
    "missing": N_("This field is required."),
    "string_too_short": N_("Enter at least %(min_length)s characters."),
    "string_too_short_1": N_("This field must not be empty."),
    "string_too_long": N_("Enter at most %(max_length)s characters."),
    "string_pattern_mismatch": N_("This is not in the expected format."),
    "string_type": N_("Enter text."),
    "date_parsing": _DATE,
    "date_from_datetime_parsing": _DATE,
    "date_from_datetime_inexact": _DATE,
    "date_type": _DATE,
    "datetime_parsing": _DATETIME,
    "datetime_from_date_parsing": _DATETIME,
    "datetime_type": _DATETIME,
    "enum": _CHOICE,
    "literal_error": _CHOICE,
    "too_short": N_("Give at least %(min_length)s entries."),
    "too_short_1": N_("Choose at least one."),
    "too_long": N_("Give at most %(max_length)s entries."),
    "list_type": N_("Give a list of entries."),
    "int_parsing": _WHOLE_NUMBER,
    "int_type": _WHOLE_NUMBER,
    "int_from_float": _WHOLE_NUMBER,
    "greater_than_equal": N_("Must be %(ge)s or more."),
    "less_than_equal": N_("Must be %(le)s or less."),
    "greater_than": N_("Must be more than %(gt)s."),
    "less_than": N_("Must be less than %(lt)s."),
    "bool_parsing": _YES_NO,
    "bool_type": _YES_NO,
    "extra_forbidden": N_("This field is not accepted."),
    # Raised by our own validators (service.testimony.schemas).
    "control_characters": N_("This must not contain control characters."),
    "blank_external_id": N_("This must not be only spaces; leave it empty instead."),
    "date_shape": N_("Write it as %(shape)s to match the date precision."),
    "month_range": N_("The month must be between 01 and 12."),
    "calendar_date": N_("This date does not exist in the calendar."),
    "date_end_required": N_("Required when the date precision is “%(precision)s”."),
    "date_end_before_date": N_("Must not be before the start date."),
    "date_end_not_allowed": N_("Only allowed when the date precision is “%(precision)s”."),
}
"""One English template per pydantic error ``type`` (the catalogue msgid), with ``%(name)s``
placeholders from the error's ``ctx``. A type not listed keeps pydantic's own message."""


def field_label(location: Sequence[object]) -> str | None:
    """The English label (a msgid) of the form field at a pydantic location, if known."""
    names = [str(part) for part in location if not isinstance(part, int)]
    for start in range(len(names)):
        label = FIELD_LABELS.get(".".join(names[start:]))
        if label is not None:
            return label
    return None


def field_message(
    location: Sequence[object],
    kind: str,
    gettext: Translate,
    ctx: Mapping[str, Any] | None = None,
    fallback: str = "",
) -> str:
    """``Label: problem`` in the reader's language, never echoing the rejected input.

    ``kind`` and ``ctx`` are a pydantic error's ``type`` and ``ctx``; ``fallback`` is its
    English ``msg``, shown (after the label) for a type without a template of its own.
    """
    ctx = dict(ctx or {})
    if "field" in ctx:  # a model-level check of ours, about one of the model's fields
        location = (*location, ctx["field"])
    if kind in ("string_too_short", "too_short") and ctx.get("min_length") == 1:
        kind += "_1"
    template = ERROR_MESSAGES.get(kind)
    if template is not None:
        problem = translate(gettext, template, ctx)
    elif kind in ("value_error", "assertion_error") and "error" in ctx:
        problem = gettext(str(ctx["error"]))  # a literal English message of a validator
    else:
        problem = fallback
    label = field_label(location)
    return f"{gettext(label)}: {problem}" if label else problem


def problems(error: ValidationError, gettext: Translate = untranslated) -> list[str]:
    """One line per invalid field, in the reader's language, labelled as the form labels it."""
    out: list[str] = []
    for entry in error.errors():
        # An empty form field is a missing one, whatever the type it failed to parse as.
        kind = "missing" if entry.get("input") == "" else entry.get("type", "")
        line = field_message(
            entry.get("loc", ()),
            kind,
            gettext,
            entry.get("ctx"),
            entry.get("msg", ""),
        )
        if line not in out:  # e.g. two unknown scopes read the same
            out.append(line)
    return out


def parse_model(
    model: type[BaseModel], data: dict[str, Any], gettext: Translate = untranslated
) -> tuple[Any, list[str]]:
    """The model, or ``None`` and the problems as ``problems`` words them."""
    try:
        return model.model_validate(data), []
    except ValidationError as error:
        return None, problems(error, gettext)


@dataclass
class _Part:
    headers: dict[str, str] = field(default_factory=dict)
    data: bytearray = field(default_factory=bytearray)


@dataclass
class Upload:
    fields: dict[str, str]
    filename: str | None
    media_type: str
    content: io.BytesIO


def parse_upload(body: bytes, content_type: str) -> Upload:
    """One file and its text fields from a multipart/form-data body, all in memory."""
    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise InvalidInputError(
            "The upload is not multipart/form-data.",
            errors=[FieldProblem("content-type", "no boundary")],
        )
    parts: list[_Part] = []
    current = _Part()
    name, value = bytearray(), bytearray()

    def begin() -> None:
        nonlocal current
        current = _Part()

    def header_end() -> None:
        current.headers[name.decode("latin-1").lower()] = value.decode("utf-8", "replace")
        name.clear()
        value.clear()

    callbacks: Any = {
        "on_part_begin": begin,
        "on_part_data": lambda d, s, e: current.data.extend(d[s:e]),
        "on_header_field": lambda d, s, e: name.extend(d[s:e]),
        "on_header_value": lambda d, s, e: value.extend(d[s:e]),
        "on_header_end": header_end,
        "on_part_end": lambda: parts.append(current),
    }
    parser = MultipartParser(boundary, callbacks)
    parser.write(body)
    parser.finalize()
    fields: dict[str, str] = {}
    upload = Upload(fields, None, "application/octet-stream", io.BytesIO())
    for part in parts:
        _, disposition = parse_options_header(part.headers.get("content-disposition", ""))
        part_name = disposition.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in disposition:
            upload.filename = disposition[b"filename"].decode("utf-8", "replace")
            upload.media_type = part.headers.get("content-type", upload.media_type)
            upload.content = io.BytesIO(bytes(part.data))
        else:
            fields[part_name] = part.data.decode("utf-8", "replace")
    return upload
