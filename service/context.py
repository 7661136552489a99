"""Who is acting, and through which interface: passed explicitly into every domain service."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    OFFICER = "officer"
    INVESTIGATOR = "investigator"
    AUDITOR = "auditor"
    ADMIN = "admin"


class Channel(StrEnum):
    API = "api"
    WEB = "web"
    CLI = "cli"
    SYSTEM = "system"


@dataclass(frozen=True)
class Principal:
    """An authenticated user, as established by a valid session token or CLI password.

    ``language`` is the interface language the user stored (None: not chosen), read from
    the same row the token was checked against. It is a display preference only: no
    permission depends on it and custody events do not record it.
    """

    user_id: int
    username: str
    role: Role
    session_id: int | None = None
    language: str | None = None


@dataclass(frozen=True)
class RequestContext:
    """Request metadata recorded on custody events (never content)."""

    channel: Channel
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    client_address: str | None = None

    def metadata(self) -> dict[str, str]:
        meta = {"request_id": self.request_id}
        if self.client_address:
            meta["client"] = self.client_address
        return meta
