"""Both catalogues ship compiled, and Korean has a translation for every message."""

from __future__ import annotations

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

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
