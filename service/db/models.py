"""Imports every model so ``Base.metadata`` is complete for Alembic and tests."""

from service.access.models import AuthSession, Case, CaseMember, LoginThrottle, User
from service.custody.models import CustodyEvent, CustodyHead
from service.db.base import Base
from service.drafts.models import InterviewDraft
from service.export.models import BagImport, ExportRequest, ImportedTestimony, RecipientProfile
from service.search.models import SearchDocument
from service.search.outbox import SearchOutboxEntry
from service.shred.models import ShredRequest
from service.testimony.models import (
    Attachment,
    ConsentEvent,
    Incident,
    IncidentCategory,
    IncidentVersion,
    Testimony,
    TestimonyVersion,
)
from service.witness.models import IdentityRecord, Witness

__all__ = [
    "Attachment",
    "AuthSession",
    "BagImport",
    "Base",
    "Case",
    "CaseMember",
    "ConsentEvent",
    "CustodyEvent",
    "CustodyHead",
    "ExportRequest",
    "IdentityRecord",
    "ImportedTestimony",
    "Incident",
    "IncidentCategory",
    "IncidentVersion",
    "InterviewDraft",
    "LoginThrottle",
    "RecipientProfile",
    "SearchDocument",
    "SearchOutboxEntry",
    "ShredRequest",
    "Testimony",
    "TestimonyVersion",
    "User",
    "Witness",
]
