"""Catalogue extraction for Python sources: page texts and the domain's refusal messages.

Babel's own Python extractor drops a message whose call contains another marked call
(``ConflictError("...", errors=[FieldProblem(...)])`` loses the outer text), and domain
refusals are exactly that shape. This extractor reads the syntax tree instead, so every
template a person may see is found; ``make locales`` uses it through ``babel.cfg``.
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import IO, Any

PAGE_KEYWORDS = {"_": 0, "gettext": 0, "N_": 0}

DOMAIN_ERRORS = frozenset(
    {
        "DomainError",
        "InvalidInputError",
        "NotFoundError",
        "ConflictError",
        "AuthenticationError",
        "LoginThrottledError",
        "AccessDeniedError",
        "ConsentRefusedError",
        "ShreddedError",
        "PayloadTooLargeError",
        "UnsupportedMediaTypeError",
        "IntegrityCheckError",
        "BagRefusedError",
    }
)
"""Every ``DomainError`` class (a unit test keeps this in step with the code)."""

MESSAGE_ARGUMENT = {
    **PAGE_KEYWORDS,
    **dict.fromkeys(DOMAIN_ERRORS, 0),
    "FieldProblem": 1,
    "because": 1,
    "_syntax": 0,
}
"""Callable name -> position of the message template among its arguments."""


@dataclass(frozen=True)
class Unextractable:
    """A message built at run time (f-string, concatenation): it can never be translated."""

    line: int
    call: str
    source: str


def _name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def _constants(tree: ast.Module) -> dict[str, list[str]]:
    """``name = "text"`` anywhere in the file (also ``a, b = "text", ...``): a message kept in
    a variable before it is raised is still a message."""
    found: dict[str, list[str]] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assign):
            continue
        for target in node.targets:
            pairs: list[tuple[ast.expr, ast.expr]] = [(target, node.value)]
            if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                pairs = list(zip(target.elts, node.value.elts, strict=False))
            for name, value in pairs:
                if (
                    isinstance(name, ast.Name)
                    and isinstance(value, ast.Constant)
                    and isinstance(value.value, str)
                ):
                    found.setdefault(name.id, []).append(value.value)
    return found


def _walk(source: bytes) -> Iterator[tuple[int, str, ast.expr, dict[str, list[str]]]]:
    tree = ast.parse(source)
    constants = _constants(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = _name(node)
            position = MESSAGE_ARGUMENT.get(name or "")
            if name is not None and position is not None and len(node.args) > position:
                yield node.lineno, name, node.args[position], constants


def _texts(argument: ast.expr, constants: dict[str, list[str]]) -> list[str] | None:
    """The message(s) an argument can be: a literal, a module constant, or either branch of a
    conditional between those; None when it is built at run time."""
    if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
        return [argument.value]
    if isinstance(argument, ast.Name) and argument.id in constants:
        return constants[argument.id]
    if isinstance(argument, ast.IfExp):
        body, orelse = _texts(argument.body, constants), _texts(argument.orelse, constants)
        if body is not None and orelse is not None:
            return body + orelse
    return None


def _pass_through(argument: ast.expr) -> bool:
    """A lower layer's reason handed on (``str(error)``, a variable): English by design."""
    return isinstance(argument, ast.Call | ast.Name | ast.Attribute | ast.Subscript | ast.BoolOp)


def unextractable(source: bytes) -> list[Unextractable]:
    """Messages of the marked calls that are assembled at run time."""
    return [
        Unextractable(line, name, ast.unparse(argument))
        for line, name, argument, constants in _walk(source)
        if _texts(argument, constants) is None and not _pass_through(argument)
    ]


def extract(
    fileobj: IO[bytes], keywords: Collection[str], comment_tags: Collection[str], options: Any
) -> Iterator[tuple[int, str, str, list[str]]]:
    """The Babel extraction method (``[service.web.extract.extract: service/**.py]``).

    Every message is reported as found by ``_`` (a keyword Babel always knows), since the
    marked calls are this module's, not the command line's.
    """
    del keywords, comment_tags, options
    for line, _called, argument, constants in _walk(fileobj.read()):
        for text in _texts(argument, constants) or []:
            yield line, "_", text, []
