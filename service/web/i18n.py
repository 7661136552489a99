"""Korean and English for the web pages, from the Babel catalogues beside this module."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from babel.support import NullTranslations, Translations
from starlette.requests import Request

from service.web.security import LANGUAGE_COOKIE

LOCALES_DIR = Path(__file__).parent / "locales"
LANGUAGES = {"ko": "한국어", "en": "English"}
DEFAULT_LANGUAGE = "ko"


@cache
def translations(language: str) -> NullTranslations:
    """The compiled catalogue; a missing .mo fails loudly rather than showing English."""
    catalogue = LOCALES_DIR / language / "LC_MESSAGES" / "messages.mo"
    if not catalogue.is_file():
        raise FileNotFoundError(f"missing compiled catalogue {catalogue}; run `make locales`")
    return Translations.load(str(LOCALES_DIR), [language])


def choose_language(request: Request, stored: str | None = None) -> str:
    """The signed-in user's stored choice, else this browser's (cookie), else its
    Accept-Language preference, else Korean."""
    if stored in LANGUAGES:
        return stored
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    accept = request.headers.get("accept-language", "").lower()
    for part in accept.split(","):
        tag = part.split(";")[0].strip()[:2]
        if tag in LANGUAGES:
            return tag
    return DEFAULT_LANGUAGE
