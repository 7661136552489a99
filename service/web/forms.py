"""Turning HTML form fields into the domain's input models, and uploads into bytes.

Uploads are parsed in memory (bounded by the attachment size limit the app enforces on
the request body): a spooled temporary file would put an unencrypted attachment on disk.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from python_multipart.multipart import MultipartParser, parse_options_header

from service.errors import FieldProblem, InvalidInputError


def blank_to_none(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def problems(error: ValidationError) -> list[str]:
    """Field-located messages, never echoing the rejected input."""
    out = []
    for entry in error.errors():
        location = ".".join(str(p) for p in entry.get("loc", ()))
        out.append(f"{location}: {entry.get('msg', '')}")
    return out


def parse_model(model: type[BaseModel], data: dict[str, Any]) -> tuple[Any, list[str]]:
    try:
        return model.model_validate(data), []
    except ValidationError as error:
        return None, problems(error)


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
