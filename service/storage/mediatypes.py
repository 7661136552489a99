"""Checks that an upload's first bytes match the media type it claims.

The allow-list is a setting; this table says what each accepted type looks like, so a
renamed executable or HTML page is refused rather than stored as a "PDF".
"""

from __future__ import annotations

from collections.abc import Callable


def _starts(*prefixes: bytes) -> Callable[[bytes], bool]:
    return lambda head: any(head.startswith(prefix) for prefix in prefixes)


def _riff(kind: bytes) -> Callable[[bytes], bool]:
    return lambda head: head[:4] == b"RIFF" and head[8:12] == kind


def _mp4(head: bytes) -> bool:
    return head[4:8] == b"ftyp"


def _text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        # A multi-byte character may be cut at the end of the sniffed prefix.
        return error.start >= len(head) - 3
    return True


SIGNATURES: dict[str, Callable[[bytes], bool]] = {
    "application/pdf": _starts(b"%PDF-"),
    "image/jpeg": _starts(b"\xff\xd8\xff"),
    "image/png": _starts(b"\x89PNG\r\n\x1a\n"),
    "image/tiff": _starts(b"II*\x00", b"MM\x00*"),
    "audio/mpeg": _starts(b"ID3", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"),
    "audio/ogg": _starts(b"OggS"),
    "audio/wav": _riff(b"WAVE"),
    "audio/x-wav": _riff(b"WAVE"),
    "audio/mp4": _mp4,
    "video/mp4": _mp4,
    "text/plain": _text,
}

SNIFF_BYTES = 512


def content_matches(media_type: str, head: bytes) -> bool:
    """True when ``head`` (the first bytes of the upload) looks like ``media_type``."""
    check = SIGNATURES.get(media_type)
    return check is not None and check(head)
