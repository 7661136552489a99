"""Invariant 1: no plaintext at rest.

Unique canary phrases, made fresh for every run from random Latin letters and random Hangul
syllables, go in through every public path that accepts testimony content: a new testimony
(narrative, translation, incident description, the witness's identity), a new version, an
added and a recoded incident, the JSONL import of the CLI, and two attachments (plain text,
and a PNG carrying the canary in a text chunk, plus a file name made of canary words).

Then every byte the deployment keeps is searched for each phrase and each of its words:
every file under the data directory (database, WAL, keyring, attachments, search index,
scratch space, anything), every row of every database table read back through SQL (the
only way to see PostgreSQL's storage), any temporary file the process made, the custody
log, and every log line. Nothing may match. Finally the same canaries are read back,
decrypted, through the API, so the test cannot pass by losing the data.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import secrets
import stat
import string
import struct
import tempfile
import unicodedata
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest
from sqlalchemy import Engine, inspect, select, text
from typer.testing import CliRunner

from cli.main import app as cli_app
from service.context import Role
from service.testimony import models as testimony_models
from tests.factories import Account, Deployment, first_category, interview_record, unique

_random = secrets.SystemRandom()
HANGUL_FIRST, HANGUL_COUNT = 0xAC00, 11172
MIN_WORD_CHARS = 4
REVEAL_REASON = "Preparing a referral file for a prosecutor (canary test)."


# ---- canaries --------------------------------------------------------------------------------


def latin_word() -> str:
    """Random lower-case letters, ending in a letter no English stemmer strips (q, x, j),
    so a stemmed search token would still contain the whole word."""
    body = "".join(_random.choice(string.ascii_lowercase) for _ in range(_random.randint(7, 9)))
    return body + _random.choice("qxj")


def hangul_word() -> str:
    return "".join(
        chr(HANGUL_FIRST + _random.randrange(HANGUL_COUNT)) for _ in range(_random.randint(4, 6))
    )


def _base64_cores(data: bytes) -> Iterator[bytes]:
    """The base64 text of ``data`` at each of the three byte alignments it can have inside a
    longer value, trimmed to the characters that do not depend on the neighbouring bytes."""
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + data)
        first = -(-8 * offset // 6)
        last = 8 * (offset + len(data)) // 6
        yield encoded[first:last]


@dataclass(frozen=True)
class Canary:
    """One unique phrase written through one public path (``where``)."""

    where: str
    phrase: str

    @property
    def words(self) -> list[str]:
        return [w for w in re.findall(r"\w+", self.phrase) if len(w) >= MIN_WORD_CHARS]

    def forms(self) -> Iterator[tuple[str, bytes]]:
        """Every byte string that would betray the phrase or one of its words on disk."""
        for piece in dict.fromkeys([self.phrase, *self.words]):
            texts = {piece, unicodedata.normalize("NFD", piece)}  # Hangul may be decomposed
            for variant in texts:
                yield f"{piece!r} utf-8", variant.encode("utf-8")
                yield f"{piece!r} utf-16-le", variant.encode("utf-16-le")
                yield f"{piece!r} utf-16-be", variant.encode("utf-16-be")
            if any(ord(c) > 0x7F for c in piece):
                yield f"{piece!r} cp949/euc-kr", piece.encode("cp949")
                yield f"{piece!r} json-escaped", json.dumps(piece)[1:-1].encode("ascii")
            yield f"{piece!r} hex", piece.encode("utf-8").hex().encode("ascii")
            for core in _base64_cores(piece.encode("utf-8")):
                yield f"{piece!r} base64", core


@dataclass
class CanaryBook:
    canaries: dict[str, Canary] = field(default_factory=dict)

    def new(self, where: str, *, shape: Callable[[str], str] | None = None) -> str:
        """A fresh phrase (two Latin and two Hangul words) for the path ``where``."""
        phrase = f"{latin_word()} {hangul_word()} {latin_word()} {hangul_word()}"
        if shape is not None:
            phrase = shape(phrase)
        self.canaries[where] = Canary(where, phrase)
        return phrase

    def __getitem__(self, where: str) -> str:
        return self.canaries[where].phrase

    def hits(self, blob: bytes) -> list[str]:
        return [
            f"{canary.where}: {form}"
            for canary in self.canaries.values()
            for form, needle in canary.forms()
            if needle in blob
        ]


# ---- what "at rest" means ------------------------------------------------------------------


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def scan_files(book: CanaryBook, roots: Iterable[Path]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for root in roots:
        for path in files_under(root):
            hits = book.hits(path.read_bytes())
            if hits:
                found[str(path)] = hits
    return found


def dump_database(engine: Engine) -> bytes:
    """Every row of every table as raw bytes: binary columns as stored, others as text."""
    parts: list[bytes] = []
    with engine.connect() as connection:
        for table in inspect(connection).get_table_names():
            parts.append(f"\n== {table}\n".encode())
            for row in connection.execute(text(f'SELECT * FROM "{table}"')):
                for value in row:
                    if isinstance(value, bytes | bytearray | memoryview):
                        parts.append(bytes(value))
                    else:
                        parts.append(str(value).encode("utf-8"))
                    parts.append(b"\x1f")
    return b"".join(parts)


# ---- inputs that carry canaries ---------------------------------------------------------------


def png_with_text(comment: str) -> bytes:
    """A valid 1x1 PNG whose iTXt chunk holds ``comment`` in UTF-8."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    itxt = b"Comment\x00\x00\x00\x00\x00" + comment.encode("utf-8")
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"iTXt", itxt)
        + chunk(b"IDAT", zlib.compress(b"\x00\x00"))
        + chunk(b"IEND", b"")
    )


def text_attachment(canary: str) -> bytes:
    """About 150 KB of notes, so the canary sits in several encryption chunks."""
    filler = "Interview notes, page {n}. The witness paused here.\n"
    lines = [filler.format(n=n) for n in range(3000)]
    for position in (0, 1300, 2999):
        lines.insert(position, f"{canary}\n")
    return "".join(lines).encode("utf-8")


def record_with_canaries(case: str, book: CanaryBook) -> dict[str, Any]:
    record = interview_record(case)
    record["narrative"] = {
        "original": f"2016년 5월 회령에서 {book.new('testimony.narrative.original')} 조사.",
        "translation_en": f"In May 2016 {book.new('testimony.narrative.translation_en')}.",
    }
    record["incidents"][0]["description"] = book.new("testimony.incident.description")
    record["witness"]["identity"] = {
        "legal_name": book.new("testimony.identity.legal_name"),
        "birth_year": 1985,
        "gender": "female",
        "contact": book.new("testimony.identity.contact"),
        "family_in_dprk": [
            f"어머니 {book.new('testimony.identity.family_in_dprk[0]')}",
            book.new("testimony.identity.family_in_dprk[1]"),
        ],
    }
    return record


def incident(description: str) -> dict[str, Any]:
    return {
        "categories": [first_category()],
        "date": "2017-04",
        "date_precision": "month",
        "involvement": "direct_witness",
        "description": description,
    }


def upload(
    deployment: Deployment,
    officer: Account,
    testimony_id: str,
    *,
    filename: str,
    media_type: str,
    content: bytes,
) -> dict[str, Any]:
    response = deployment.client.post(
        f"/api/v1/testimonies/{testimony_id}/attachments",
        content=content,
        headers={
            **officer.headers,
            "Content-Type": media_type,
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}",
        },
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def import_with_cli(
    deployment: Deployment, officer: Account, record: dict[str, Any], folder: Path
) -> str:
    """Imports one line through ``custodia import`` and returns the CLI's output."""
    path = folder / "import.jsonl"
    path.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    result = CliRunner().invoke(
        cli_app,
        [
            "--data-dir",
            str(deployment.settings.data_dir),
            "--database-url",
            deployment.settings.effective_database_url,
            "--user",
            officer.username,
            "import",
            str(path),
        ],
        env={"CUSTODIA_PASSWORD": officer.password},
    )
    assert result.exit_code == 0, result.output
    assert "Imported 1 testimony" in result.output
    return result.output


# ---- the specification ----------------------------------------------------------------------


@pytest.fixture
def spill_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where Python's ``tempfile`` puts files during the test, so they can be searched too."""
    path = tmp_path / "process-tmp"
    path.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(path))
    return path


def test_no_canary_reaches_disk_on_any_path_yet_all_read_back(
    deployment: Deployment,
    tmp_path: Path,
    spill_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    book = CanaryBook()
    case = deployment.case()
    officer = deployment.user(Role.OFFICER, cases=(case,))
    investigator = deployment.user(Role.INVESTIGATOR, cases=(case,))
    client = deployment.client

    # -- write through every public path ---------------------------------------------------
    record = record_with_canaries(case, book)
    created = deployment.create_testimony(officer, record)
    testimony_id = created["id"]

    response = client.patch(
        f"/api/v1/testimonies/{testimony_id}",
        json={
            "narrative": {
                "original": book.new("update.narrative.original"),
                "translation_en": book.new("update.narrative.translation_en"),
            }
        },
        headers=officer.headers,
    )
    assert response.status_code == 200, response.text

    response = client.post(
        f"/api/v1/testimonies/{testimony_id}/incidents",
        json=incident(book.new("add_incident.description")),
        headers=officer.headers,
    )
    assert response.status_code == 201, response.text
    response = client.post(
        f"/api/v1/testimonies/{testimony_id}/incidents",
        json=incident("To be recoded."),
        headers=officer.headers,
    )
    assert response.status_code == 201, response.text
    response = client.patch(
        f"/api/v1/testimonies/{testimony_id}/incidents/{response.json()['id']}",
        json={"description": book.new("recode_incident.description")},
        headers=officer.headers,
    )
    assert response.status_code == 200, response.text

    notes = text_attachment(book.new("attachment.text/plain"))
    drawing = png_with_text(book.new("attachment.image/png"))
    notes_name = book.new("attachment.filename", shape=lambda p: p.replace(" ", "-") + ".txt")
    uploaded_notes = upload(
        deployment,
        officer,
        testimony_id,
        filename=notes_name,
        media_type="text/plain",
        content=notes,
    )
    uploaded_drawing = upload(
        deployment,
        officer,
        testimony_id,
        filename="drawing.png",
        media_type="image/png",
        content=drawing,
    )

    imported = interview_record(case, external_id=unique("CANARY-IMPORT-"))
    imported["narrative"]["original"] = book.new("import.narrative.original")
    imported["narrative"]["translation_en"] = book.new("import.narrative.translation_en")
    imported["incidents"][0]["description"] = book.new("import.incident.description")
    imported["witness"]["identity"]["legal_name"] = book.new("import.identity.legal_name")
    imported["witness"]["identity"]["family_in_dprk"] = [book.new("import.identity.family")]
    cli_output = import_with_cli(deployment, officer, imported, tmp_path)

    # -- nothing at rest: files, database rows, temporary files --------------------------------
    data_dir = deployment.settings.resolved_data_dir
    scanned = files_under(data_dir)
    assert len(files_under(deployment.settings.attachments_dir)) == 2
    assert deployment.settings.keyring_path in scanned
    if deployment.settings.effective_database_url.startswith("sqlite"):
        # The scan reads the database's pages: clear metadata such as a pseudonym is there.
        pseudonym = created["witness_pseudonym"].encode()
        assert any(pseudonym in path.read_bytes() for path in scanned)
    assert scan_files(book, [data_dir, spill_dir]) == {}
    dump = dump_database(deployment.runtime.engine)
    assert created["witness_pseudonym"].encode() in dump  # the dump really holds the rows
    assert book.hits(dump) == []

    # -- everything reads back, decrypted ----------------------------------------------------
    read = client.get(f"/api/v1/testimonies/{testimony_id}", headers=investigator.headers)
    assert read.status_code == 200, read.text
    current = read.json()
    assert book["update.narrative.original"] == current["narrative"]["original"]
    assert book["update.narrative.translation_en"] == current["narrative"]["translation_en"]
    descriptions = {i["description"] for i in current["incidents"]}
    assert {
        book["testimony.incident.description"],
        book["add_incident.description"],
        book["recode_incident.description"],
    } <= descriptions
    assert {a["filename"] for a in current["attachments"]} == {notes_name, "drawing.png"}

    history = client.get(
        f"/api/v1/testimonies/{testimony_id}/versions", headers=investigator.headers
    )
    assert history.status_code == 200, history.text
    first_version = history.json()[0]["narrative"]
    assert book["testimony.narrative.original"] in first_version["original"]
    assert book["testimony.narrative.translation_en"] in first_version["translation_en"]

    identity = reveal(deployment, investigator, created["witness_pseudonym"])
    assert identity["legal_name"] == book["testimony.identity.legal_name"]
    assert identity["contact"] == book["testimony.identity.contact"]
    assert identity["family_in_dprk"] == [
        f"어머니 {book['testimony.identity.family_in_dprk[0]']}",
        book["testimony.identity.family_in_dprk[1]"],
    ]

    for attachment, original, name in (
        (uploaded_notes, notes, notes_name),
        (uploaded_drawing, drawing, "drawing.png"),
    ):
        download = client.get(
            f"/api/v1/testimonies/{testimony_id}/attachments/{attachment['id']}",
            headers=investigator.headers,
        )
        assert download.status_code == 200, download.text
        assert download.content == original
        assert unquote(download.headers["content-disposition"]).endswith(f"''{name}")

    imported_id = deployment.run(
        None,
        lambda scope: scope.session.scalar(
            select(testimony_models.Testimony.id).where(
                testimony_models.Testimony.external_id == imported["external_id"]
            )
        ),
    )
    read = client.get(f"/api/v1/testimonies/{imported_id}", headers=investigator.headers)
    assert read.status_code == 200, read.text
    assert read.json()["narrative"]["original"] == book["import.narrative.original"]
    assert read.json()["incidents"][0]["description"] == book["import.incident.description"]
    identity = reveal(deployment, investigator, imported["witness"]["pseudonym"])
    assert identity["legal_name"] == book["import.identity.legal_name"]
    assert identity["family_in_dprk"] == [book["import.identity.family"]]

    # -- still nothing at rest after the reads, nor once the database is checkpointed -----------
    assert scan_files(book, [data_dir, spill_dir]) == {}
    deployment.runtime.engine.dispose()  # SQLite folds its WAL into the main file
    assert scan_files(book, [data_dir, spill_dir]) == {}
    assert book.hits(dump_database(deployment.runtime.engine)) == []

    # -- nor in the custody log, the logs or the CLI's output --------------------------------
    custody = json.dumps(deployment.custody_events(), ensure_ascii=False).encode("utf-8")
    assert REVEAL_REASON.encode() in custody  # the reason is on the record ...
    assert book.hits(custody) == []  # ... the content is not
    assert caplog.records, "the deployment logged nothing; is log capture working?"
    assert book.hits(caplog.text.encode("utf-8")) == []
    assert book.hits(cli_output.encode("utf-8")) == []


def reveal(deployment: Deployment, account: Account, pseudonym: str) -> dict[str, Any]:
    response = deployment.client.post(
        f"/api/v1/witnesses/{pseudonym}/identity:reveal",
        json={"reason": REVEAL_REASON},
        headers=account.headers,
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_the_scanner_finds_a_canary_in_every_form_it_looks_for() -> None:
    """Guards the guard: a scanner that cannot see the canary would pass vacuously."""
    book = CanaryBook()
    phrase = book.new("self-test")
    canary = book.canaries["self-test"]
    latin, hangul = canary.words[0], canary.words[1]
    padding = secrets.token_bytes(50)
    samples = {
        "utf-8": phrase.encode("utf-8"),
        "utf-16-le": hangul.encode("utf-16-le"),
        "utf-16-be": latin.encode("utf-16-be"),
        "cp949": hangul.encode("cp949"),
        "nfd": unicodedata.normalize("NFD", hangul).encode("utf-8"),
        "json": json.dumps({"narrative": phrase}).encode("ascii"),
        "hex": phrase.encode("utf-8").hex().encode("ascii"),
    }
    for offset in range(3):
        samples[f"base64+{offset}"] = base64.b64encode(
            padding[:offset] + latin.encode("utf-8") + padding
        )
    for name, sample in samples.items():
        assert book.hits(padding + sample + padding), name
    assert book.hits(padding + b"zzzz" + padding) == []


# ---- file permissions --------------------------------------------------------------------


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """Creates files as if the operator's umask let everyone read: Custodia must not care."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def test_keys_and_ciphertext_are_private_to_the_service_account(
    database_url: str, tmp_path: Path, permissive_umask: None
) -> None:
    deployment = Deployment.create(tmp_path / "data", database_url)
    try:
        case = deployment.case()
        officer = deployment.user(Role.OFFICER, cases=(case,))
        created = deployment.create_testimony(officer, interview_record(case))
        upload(
            deployment,
            officer,
            created["id"],
            filename="notes.txt",
            media_type="text/plain",
            content=b"notes",
        )
        settings = deployment.settings

        def mode(path: Path) -> int:
            return stat.S_IMODE(path.stat().st_mode)

        assert mode(settings.keyring_path) == 0o600
        for directory in (
            settings.resolved_data_dir,
            settings.keyring_path.parent,
            settings.attachments_dir,
            settings.search_dir,
            settings.tmp_dir,
        ):
            assert mode(directory) == 0o700, directory
        stored = files_under(settings.attachments_dir)
        assert len(stored) == 1
        for path in stored:
            assert mode(path) & 0o077 == 0, path
            assert mode(path.parent) & 0o077 == 0, path.parent
    finally:
        deployment.close()
