"""user language

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

The web interface's language as a preference of each account (``users.language``), so it
follows the user to any browser. Null means not chosen: the browser's cookie or
Accept-Language decides, as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("language", sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("language")
