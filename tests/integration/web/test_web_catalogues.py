"""Both catalogues ship compiled; Korean has a translation for every message the pages and
the domain's refusals can show."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

import service
from service.errors import AccessDeniedError, DomainError, FieldProblem, NotFoundError
from service.export.schemas import Exclusion
from service.web.extract import DOMAIN_ERRORS, unextractable
from service.web.i18n import LOCALES_DIR, translations


def test_every_message_has_a_korean_translation() -> None:
    with (LOCALES_DIR / "ko" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        catalogue = read_po(f)
    untranslated = [m.id for m in catalogue if m.id and not m.string]
    assert untranslated == []


def test_the_compiled_catalogues_match_their_sources() -> None:
    for language in ("ko", "en"):
        folder = LOCALES_DIR / language / "LC_MESSAGES"
        with (folder / "messages.po").open("rb") as f:
            source = {m.id: m.string for m in read_po(f) if m.id and m.string}
        with (folder / "messages.mo").open("rb") as f:
            compiled = {m.id: m.string for m in read_mo(f) if m.id}
        assert compiled == source, f"run `make locales` ({language})"
    assert translations("ko").gettext("Sign in") == "로그인"
    assert translations("en").gettext("facet:case") == "Case"


# ---- the domain's refusals are catalogue messages too ------------------------------------

REPOSITORY = Path(__file__).resolve().parents[3]
PLACEHOLDER = re.compile(r"%\((\w+)\)[sdr]")


def _extracted() -> dict[str, list[str]]:
    """Every message the catalogue extraction finds (``make locales``'s mapping), and where."""
    with (LOCALES_DIR.parent / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    found: dict[str, list[str]] = {}
    for filename, line, message, _comments, _context in extract_from_dir(
        str(REPOSITORY), method_map, options_map
    ):
        if isinstance(message, str):
            found.setdefault(message, []).append(f"{filename}:{line}")
    return found


def test_every_message_in_the_code_has_a_korean_translation_with_the_same_placeholders() -> None:
    with (LOCALES_DIR / "ko" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        korean = {m.id: m.string for m in read_po(f) if isinstance(m.id, str) and m.id}
    extracted = _extracted()
    assert "No case with code '%(code)s'." in extracted  # domain refusals are found
    assert "The username '%(username)s' is taken." in extracted  # even with nested marks
    untranslated = {m: where for m, where in extracted.items() if not korean.get(m)}
    assert untranslated == {}, "add Korean translations (make locales, then the ko .po)"
    mismatched = [
        m
        for m in extracted
        if set(PLACEHOLDER.findall(m)) != set(PLACEHOLDER.findall(str(korean[m])))
    ]
    assert mismatched == []


def test_no_refusal_message_is_assembled_at_run_time() -> None:
    """An f-string or concatenation can never match a catalogue entry: use placeholders."""
    built = [
        f"{path.relative_to(REPOSITORY)}:{item.line} {item.call}({item.source})"
        for path in sorted((REPOSITORY / "service").rglob("*.py"))
        for item in unextractable(path.read_bytes())
    ]
    assert built == []


def test_the_extractor_knows_every_domain_error_class() -> None:
    for module in pkgutil.walk_packages(service.__path__, "service."):
        importlib.import_module(module.name)

    def family(cls: type[DomainError]) -> set[str]:
        return {cls.__name__}.union(*(family(sub) for sub in cls.__subclasses__()))

    assert family(DomainError) == set(DOMAIN_ERRORS)


def test_a_refusal_fills_its_translated_template_and_translates_vocabulary_only() -> None:
    korean = translations("ko").gettext
    denied = AccessDeniedError(
        "The %(role)s role may not perform '%(permission)s'.",
        role="auditor",
        permission="user.manage",
    )
    assert denied.detail == "The auditor role may not perform 'user.manage'."
    assert denied.translated(korean) == "감사자 역할로는 'user.manage' 작업을 할 수 없습니다."
    # A user called "admin" stays "admin": only role, scope and kind parameters are words.
    missing = NotFoundError("No user named '%(username)s'.", username="admin")
    assert missing.translated(korean) == "이름이 'admin'인 사용자가 없습니다."
    problem = FieldProblem("password", "at least %(limit)s characters", {"limit": 12})
    assert problem.as_dict() == {"field": "password", "message": "at least 12 characters"}
    assert problem.text(korean) == "12자 이상"


def test_a_translation_with_broken_placeholders_falls_back_to_english() -> None:
    error = NotFoundError("No case with code '%(code)s'.", code="C-1")
    assert error.translated(lambda _: "사건 %(wrong)s 없음") == "No case with code 'C-1'."


def test_why_a_testimony_was_left_out_of_an_export_reads_in_korean() -> None:
    left_out = Exclusion.because(
        "t-1",
        "consent to '%(scope)s' was withdrawn on %(date)s",
        scope="un_mechanisms",
        date="2025-01-02",
    )
    assert left_out.reason == "consent to 'un_mechanisms' was withdrawn on 2025-01-02"
    korean = left_out.translated(translations("ko").gettext)
    assert "2025-01-02" in korean and "철회" in korean and "un_mechanisms" not in korean
    stored_before_templates = Exclusion(testimony_id="t-1", reason="an older reason")
    assert stored_before_templates.translated(translations("ko").gettext) == "an older reason"
