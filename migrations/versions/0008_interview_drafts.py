"""interview drafts

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

Server-side drafts of the guided interview form (``interview_drafts``): the form and the
witness's identity sealed under two data keys of the draft's own, bound to a per-draft
shred secret outside the database. Only the owner, the case and the times are in clear.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import service.db.base

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "interview_drafts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("owner_id", _ROW_ID, nullable=False),
        sa.Column("case_id", _ROW_ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content_kek_version", sa.Integer(), nullable=False),
        sa.Column("content_wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("label_ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("content_ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("identity_kek_version", sa.Integer(), nullable=False),
        sa.Column("identity_wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("identity_ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", service.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", service.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_interview_drafts_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_interview_drafts_owner_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interview_drafts")),
    )
    op.create_index(
        op.f("ix_interview_drafts_case_id"), "interview_drafts", ["case_id"], unique=False
    )
    op.create_index(
        op.f("ix_interview_drafts_owner_id"), "interview_drafts", ["owner_id"], unique=False
    )
    op.create_index(
        op.f("ix_interview_drafts_updated_at"), "interview_drafts", ["updated_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_interview_drafts_updated_at"), table_name="interview_drafts")
    op.drop_index(op.f("ix_interview_drafts_owner_id"), table_name="interview_drafts")
    op.drop_index(op.f("ix_interview_drafts_case_id"), table_name="interview_drafts")
    op.drop_table("interview_drafts")
