"""consent withdrawal and crypto-shredding

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06

Two-person shred requests, and the tombstone columns a shredded testimony keeps (why, and
which approved request). The shred secrets themselves live outside the database.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import service.db.base

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_USER_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "shred_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("testimony_id", sa.String(length=36), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("destroy_identity", sa.Boolean(), nullable=False),
        sa.Column("requested_by", _USER_ID, nullable=False),
        sa.Column("requested_at", service.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("approved_by", _USER_ID, nullable=True),
        sa.Column("approved_at", service.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("identity_shredded", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["approved_by"], ["users.id"], name=op.f("fk_shred_requests_approved_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"], ["users.id"], name=op.f("fk_shred_requests_requested_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["testimony_id"],
            ["testimonies.id"],
            name=op.f("fk_shred_requests_testimony_id_testimonies"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shred_requests")),
    )
    op.create_index(
        op.f("ix_shred_requests_testimony_id"), "shred_requests", ["testimony_id"], unique=False
    )
    with op.batch_alter_table("testimonies") as batch:
        batch.add_column(sa.Column("shred_reason", sa.String(length=1000), nullable=True))
        batch.add_column(sa.Column("shred_request_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("testimonies") as batch:
        batch.drop_column("shred_request_id")
        batch.drop_column("shred_reason")
    op.drop_index(op.f("ix_shred_requests_testimony_id"), table_name="shred_requests")
    op.drop_table("shred_requests")
