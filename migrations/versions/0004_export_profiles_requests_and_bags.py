"""export recipient profiles, requests, approvals and bags

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05

Reserved for the export feature (service/export/), so that features built side by side keep one linear revision chain.
"""

from collections.abc import Sequence

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
