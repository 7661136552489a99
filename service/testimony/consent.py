"""The one answer to "does this testimony's current consent cover this use?".

Exports, sharing and analyst exports call :func:`consent_covers` (or :func:`require_consent`,
or :func:`covered_testimony_ids` for many at once) at the moment they use a testimony, never a
cached state, so a recorded withdrawal stops every later use under that scope at once.

Rules (docs/decisions.md, "Consent withdrawal"):

* the history is replayed in the order it was recorded; the last event of a scope decides;
* a withdrawal takes effect when it is recorded, whatever its ``effective_on`` date says
  (a witness who asks to stop is never kept in for a few more days);
* a grant covers use from its ``effective_on`` date on, so a grant dated in the future
  does not cover today;
* a shredded testimony is covered by nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.db.base import utcnow
from service.errors import ConsentRefusedError
from service.testimony.models import ConsentEvent, Testimony
from service.testimony.schemas import ConsentScope

__all__ = ["consent_covers", "covered_testimony_ids", "require_consent"]


def _today() -> date:
    return utcnow().date()


def covered_testimony_ids(
    session: Session, testimony_ids: Iterable[str], scope: ConsentScope, *, on: date | None = None
) -> set[str]:
    """The subset of ``testimony_ids`` whose current consent covers ``scope`` on ``on``.

    ``on`` defaults to today (UTC). Unknown and shredded testimonies are never covered.
    """
    wanted = set(testimony_ids)
    if not wanted:
        return set()
    day = on or _today()
    live = set(
        session.scalars(
            select(Testimony.id).where(Testimony.id.in_(wanted), Testimony.shredded_at.is_(None))
        )
    )
    last: dict[str, tuple[str, date]] = {}
    for testimony_id, kind, effective_on in session.execute(
        select(ConsentEvent.testimony_id, ConsentEvent.kind, ConsentEvent.effective_on)
        .where(ConsentEvent.testimony_id.in_(live), ConsentEvent.scope == ConsentScope(scope).value)
        .order_by(ConsentEvent.id)
    ):
        last[testimony_id] = (kind, effective_on)
    return {
        testimony_id
        for testimony_id, (kind, effective_on) in last.items()
        if kind == "given" and effective_on <= day
    }


def consent_covers(
    session: Session, testimony_id: str, scope: ConsentScope, *, on: date | None = None
) -> bool:
    """True if the testimony's current consent covers ``scope`` (see the module rules)."""
    return testimony_id in covered_testimony_ids(session, [testimony_id], scope, on=on)


def require_consent(
    session: Session, testimony_id: str, scope: ConsentScope, *, on: date | None = None
) -> None:
    """Raises ConsentRefusedError unless the testimony's consent covers ``scope``."""
    if not consent_covers(session, testimony_id, scope, on=on):
        raise ConsentRefusedError(
            "The witness's consent for testimony '%(testimony_id)s' does not cover "
            "'%(scope)s' (never given, not yet in force, or withdrawn).",
            testimony_id=testimony_id,
            scope=ConsentScope(scope).value,
        )
