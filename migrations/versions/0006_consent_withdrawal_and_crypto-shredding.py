"""consent withdrawal and crypto-shredding

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06

Reserved slot: work in progress in parallel fills this revision in, so the chain stays
linear. An unused slot is removed before it lands.
"""

from collections.abc import Sequence

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
