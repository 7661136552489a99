"""Every custody action name in one list, so auditors and tests can enumerate them."""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    LOGIN = "auth.login"
    LOGIN_FAILED = "auth.login_failed"
    LOGOUT = "auth.logout"
    TOKEN_REJECTED = "auth.token_rejected"  # noqa: S105 - an action name
    ACCESS_DENIED = "access.denied"
    INTEGRITY_FAILURE = "integrity.failure"

    USER_CREATE = "user.create"
    USER_DISABLE = "user.disable"
    USER_ENABLE = "user.enable"
    USER_ROLE_CHANGE = "user.role_change"
    USER_UNLOCK = "user.unlock"
    CASE_CREATE = "case.create"
    CASE_ASSIGN = "case.assign"
    CASE_UNASSIGN = "case.unassign"
    KEYRING_INIT = "key.init"
    KEY_ROTATE = "key.rotate"

    TESTIMONY_CREATE = "testimony.create"
    TESTIMONY_READ = "testimony.read"
    TESTIMONY_UPDATE = "testimony.update"
    TESTIMONY_HISTORY_READ = "testimony.history_read"
    INCIDENT_CREATE = "incident.create"
    INCIDENT_UPDATE = "incident.update"
    CONSENT_GIVE = "consent.give"
    CONSENT_WITHDRAW = "consent.withdraw"
    ATTACHMENT_CREATE = "attachment.create"
    ATTACHMENT_READ = "attachment.read"
    WITNESS_CREATE = "witness.create"
    IDENTITY_REVEAL = "identity.reveal"
    IDENTITY_UPDATE = "identity.update"
    IMPORT_LINE_REJECTED = "import.line_rejected"
    DRAFT_CREATE = "draft.create"
    DRAFT_READ = "draft.read"
    DRAFT_DISCARD = "draft.discard"
    DRAFT_SUBMIT = "draft.submit"
    DRAFT_EXPIRE = "draft.expire"

    SHRED_REQUEST = "shred.request"
    SHRED_APPROVE = "shred.approve"
    SHRED_EXECUTE = "shred.execute"
    SHRED_BIND_LEGACY_KEYS = "shred.bind_legacy_keys"
    ANALYST_EXPORT = "analyst_export.incidents"

    SEARCH = "search.query"
    TESTIMONY_SNIPPET_READ = "testimony.snippet_read"
    SEARCH_REINDEX = "search.reindex"
    STATISTICS_READ = "statistics.read"

    CUSTODY_EXPORT = "custody.export"
    CHECKPOINT_REQUEST = "custody.checkpoint_request"
    CUSTODY_VERIFY = "custody.verify"

    RECIPIENT_PROFILE_CREATE = "export.profile_create"
    EXPORT_REQUEST = "export.request"
    EXPORT_APPROVE = "export.approve"
    EXPORT_REJECT = "export.reject"
    EXPORT_PACKAGE = "export.package"
    EXPORT_BUILD = "export.build"
    EXPORT_DOWNLOAD = "export.download"
    EXPORT_PURGE = "export.purge"
    BAG_IMPORT = "bag.import"
    TESTIMONY_IMPORTED_FROM_BAG = "testimony.imported_from_bag"


class Outcome(StrEnum):
    OK = "ok"
    DENIED = "denied"
    FAILED = "failed"
