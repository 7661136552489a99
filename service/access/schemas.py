"""Shapes of users, cases and sessions at Custodia's boundaries."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from service.context import Role

Username = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z][a-z0-9._-]{1,63}$")
]
CaseCode = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$")
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginRequest(Strict):
    username: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class LoginResult(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_at: datetime
    username: str
    role: Role


class UserCreate(Strict):
    username: Username
    display_name: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
    ]
    role: Role
    password: Annotated[str, StringConstraints(max_length=256)] | None = None


class UserUpdate(Strict):
    """What an administrator may change on an account: its one role."""

    role: Role


class UserRead(BaseModel):
    id: int
    username: str
    display_name: str
    role: Role
    disabled: bool
    locked: bool
    created_at: datetime


class OwnAccountRead(BaseModel):
    """What any signed-in person may see of their own account."""

    username: str
    display_name: str
    role: Role
    language: str | None
    """Interface language of the web pages; None until they choose one."""


class OwnAccountUpdate(Strict):
    """What a person may change on their own account: the interface language."""

    language: str


class UserCreated(BaseModel):
    user: UserRead
    one_time_password: str | None


class CaseCreate(Strict):
    code: CaseCode
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]


class CaseRead(BaseModel):
    id: int
    code: str
    title: str
    members: list[str]
    created_at: datetime


class CaseAssignment(Strict):
    username: Username


class KeyVersionRead(BaseModel):
    purpose: str
    version: int
    created_at: datetime
    active: bool
