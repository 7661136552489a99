"""The violation taxonomy: versioned data in ``schemas/taxonomy``, loaded once and read-only."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.errors import FieldProblem, InvalidInputError

SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "schemas"
TAXONOMY_FILE = SCHEMAS_DIR / "taxonomy" / "violations.v1.json"


@dataclass(frozen=True)
class Citation:
    report: str
    paragraphs: tuple[int, ...]

    def __str__(self) -> str:
        paras = ", ".join(str(p) for p in self.paragraphs)
        label = "para." if len(self.paragraphs) == 1 else "paras."
        return f"{self.report} report, {label} {paras}"


@dataclass(frozen=True)
class Category:
    code: str
    parent: str | None
    label_en: str
    label_ko: str
    definition: str
    legal_basis: tuple[str, ...]
    citations: tuple[Citation, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "parent": self.parent,
            "label": {"en": self.label_en, "ko": self.label_ko},
            "definition": self.definition,
            "legal_basis": list(self.legal_basis),
            "citations": [
                {"report": c.report, "paragraphs": list(c.paragraphs), "text": str(c)}
                for c in self.citations
            ],
        }


class Taxonomy:
    def __init__(self, name: str, version: str, categories: Iterable[Category]) -> None:
        self.name = name
        self.version = version
        self.categories: dict[str, Category] = {c.code: c for c in categories}

    @classmethod
    def load(cls, path: Path = TAXONOMY_FILE) -> Taxonomy:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            raw["taxonomy"],
            raw["version"],
            (
                Category(
                    code=item["code"],
                    parent=item.get("parent"),
                    label_en=item["label"]["en"],
                    label_ko=item["label"]["ko"],
                    definition=item["definition"],
                    legal_basis=tuple(item.get("legal_basis", ())),
                    citations=tuple(
                        Citation(c["report"], tuple(c["paragraphs"])) for c in item["citations"]
                    ),
                )
                for item in raw["categories"]
            ),
        )

    def children(self, code: str) -> list[Category]:
        return [c for c in self.categories.values() if c.parent == code]

    def descendants_and_self(self, code: str) -> set[str]:
        """The code and every code below it, for filters that include child categories."""
        prefix = code + "."
        return {c for c in self.categories if c == code or c.startswith(prefix)}

    def validate_codes(self, codes: Iterable[str], field: str) -> list[str]:
        """Returns the codes de-duplicated in order; raises InvalidInputError for unknown ones."""
        seen: list[str] = []
        unknown: list[str] = []
        for code in codes:
            if code not in self.categories:
                unknown.append(code)
            elif code not in seen:
                seen.append(code)
        if unknown:
            valid = ", ".join(sorted(self.categories))
            raise InvalidInputError(
                "Unknown violation category: %(codes)s. Valid codes: %(valid)s."
                if len(unknown) == 1
                else "Unknown violation categories: %(codes)s. Valid codes: %(valid)s.",
                errors=[
                    FieldProblem(field, "unknown category '%(code)s'", {"code": code})
                    for code in unknown
                ],
                codes=", ".join(unknown),
                valid=valid,
            )
        return seen
