"""Who may do what: every authorisation rule of Custodia lives here.

A check returns nothing or raises. Refusals carry a ``RefusalRecord`` so the unit of work
writes an ``access.denied`` custody event after rolling the attempted action back. Records in
a case the caller is not assigned to answer "not found", so their existence does not leak.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.access.models import CaseMember
from service.context import Principal, Role
from service.errors import AccessDeniedError, FieldProblem, NotFoundError, RefusalRecord


class Permission(StrEnum):
    TESTIMONY_CREATE = "testimony:create"
    TESTIMONY_READ = "testimony:read"
    TESTIMONY_EDIT = "testimony:edit"
    INCIDENT_CODE = "incident:code"
    CONSENT_RECORD = "consent:record"
    ATTACHMENT_UPLOAD = "attachment:upload"
    ATTACHMENT_READ = "attachment:read"
    IDENTITY_REVEAL = "identity:reveal"
    CASE_LIST_OWN = "case:list-own"
    CASE_MANAGE = "case:manage"
    USER_MANAGE = "user:manage"
    KEY_MANAGE = "key:manage"
    CUSTODY_READ = "custody:read"
    TAXONOMY_READ = "taxonomy:read"
    RECIPIENT_READ = "recipient:read"
    RECIPIENT_MANAGE = "recipient:manage"
    EXPORT_REQUEST = "export:request"
    EXPORT_APPROVE = "export:approve"
    EXPORT_PURGE = "export:purge"
    SHRED_REQUEST = "shred:request"
    SHRED_APPROVE = "shred:approve"
    ANALYST_EXPORT = "analyst-export:incidents"
    DRAFT_PURGE = "draft:purge"


_OFFICER = {
    Permission.TESTIMONY_CREATE,
    Permission.TESTIMONY_READ,
    Permission.TESTIMONY_EDIT,
    Permission.INCIDENT_CODE,
    Permission.CONSENT_RECORD,
    Permission.ATTACHMENT_UPLOAD,
    Permission.ATTACHMENT_READ,
    Permission.IDENTITY_REVEAL,
    Permission.CASE_LIST_OWN,
    Permission.TAXONOMY_READ,
}
_INVESTIGATOR = {
    Permission.ANALYST_EXPORT,
    Permission.TESTIMONY_READ,
    Permission.ATTACHMENT_READ,
    Permission.IDENTITY_REVEAL,
    Permission.CASE_LIST_OWN,
    Permission.TAXONOMY_READ,
    # Exports: one investigator requests, a second one (never the same) approves; see
    # service/export/service.py. Officers, auditors and administrators never export.
    Permission.RECIPIENT_READ,
    Permission.EXPORT_REQUEST,
    Permission.EXPORT_APPROVE,
}
_AUDITOR = {Permission.CUSTODY_READ, Permission.TAXONOMY_READ}
_ADMIN = {
    Permission.SHRED_REQUEST,
    Permission.SHRED_APPROVE,
    Permission.CASE_MANAGE,
    Permission.USER_MANAGE,
    Permission.KEY_MANAGE,
    Permission.TAXONOMY_READ,
    # Administrators define recipients and delete expired bags; they never see a bag.
    Permission.RECIPIENT_READ,
    Permission.RECIPIENT_MANAGE,
    Permission.EXPORT_PURGE,
    # Expired interview drafts of every officer are deleted unread (never opened).
    Permission.DRAFT_PURGE,
}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OFFICER: frozenset(_OFFICER),
    Role.INVESTIGATOR: frozenset(_INVESTIGATOR),
    Role.AUDITOR: frozenset(_AUDITOR),
    Role.ADMIN: frozenset(_ADMIN),
}

# Permissions that are further limited to the cases a user is assigned to.
CASE_SCOPED = frozenset(
    {
        Permission.TESTIMONY_CREATE,
        Permission.TESTIMONY_READ,
        Permission.TESTIMONY_EDIT,
        Permission.INCIDENT_CODE,
        Permission.CONSENT_RECORD,
        Permission.ATTACHMENT_UPLOAD,
        Permission.ATTACHMENT_READ,
        Permission.IDENTITY_REVEAL,
        Permission.ANALYST_EXPORT,
    }
)


def has_permission(principal: Principal, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[principal.role]


def require(
    principal: Principal,
    permission: Permission,
    *,
    object_type: str = "system",
    object_id: str | None = None,
) -> None:
    """Raises AccessDeniedError (recorded) unless the role grants the permission."""
    if not has_permission(principal, permission):
        raise AccessDeniedError(
            "The %(role)s role may not perform '%(permission)s'.",
            role=principal.role.value,
            permission=permission.value,
            refusal=RefusalRecord(
                action="access.denied",
                object_type=object_type,
                object_id=object_id,
                details={"permission": permission.value, "reason": "role"},
            ),
        )


def require_second_person(
    principal: Principal,
    permission: Permission,
    *,
    requested_by: int,
    object_type: str,
    object_id: str,
) -> None:
    """Two-person rule: whoever approves a request (e.g. a shred) must not have made it.

    Raises AccessDeniedError (recorded) for the requester, after the role check.
    """
    require(principal, permission, object_type=object_type, object_id=object_id)
    if principal.user_id == requested_by:
        raise AccessDeniedError(
            "A request must be approved by a second administrator, not by its requester.",
            refusal=RefusalRecord(
                action="access.denied",
                object_type=object_type,
                object_id=object_id,
                details={"permission": permission.value, "reason": "own_request"},
            ),
        )


def assigned_case_ids(session: Session, principal: Principal) -> set[int]:
    return set(
        session.scalars(select(CaseMember.case_id).where(CaseMember.user_id == principal.user_id))
    )


def require_in_case(
    session: Session,
    principal: Principal,
    permission: Permission,
    *,
    case_id: int,
    object_type: str,
    object_id: str,
    detail: str,
    params: Mapping[str, Any],
    errors: Sequence[FieldProblem] = (),
) -> None:
    """Role check plus case assignment; a record outside the caller's cases is 'not found'.

    Callers pass the ``detail`` template, ``params`` and ``errors`` they answer a missing
    record with, so the two answers are identical (in every language) and existence does
    not leak.
    """
    require(principal, permission, object_type=object_type, object_id=object_id)
    if permission not in CASE_SCOPED:
        return
    member = session.get(CaseMember, (case_id, principal.user_id))
    if member is None:
        raise NotFoundError(
            detail,
            errors=errors,
            refusal=RefusalRecord(
                action="access.denied",
                object_type=object_type,
                object_id=object_id,
                details={"permission": permission.value, "reason": "case_not_assigned"},
            ),
            **params,
        )
