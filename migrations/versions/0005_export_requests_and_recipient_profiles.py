"""export requests and recipient profiles

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06

Recipient profiles (what a kind of recipient may receive) and export requests (what an
investigator selected, who approved it, and the encrypted bag built from it).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "recipient_profiles",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("required_scope", sa.String(length=40), nullable=False),
        sa.Column("fields_json", sa.Text(), nullable=False),
        sa.Column("include_identity", sa.Boolean(), nullable=False),
        sa.Column("age_recipient", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", _ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_recipient_profiles_created_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recipient_profiles")),
        sa.UniqueConstraint("name", name=op.f("uq_recipient_profiles_name")),
    )
    op.create_table(
        "export_requests",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("profile_id", _ID, nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("included_json", sa.Text(), nullable=False),
        sa.Column("excluded_json", sa.Text(), nullable=False),
        sa.Column("requested_by", _ID, nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", _ID, nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("built_by", _ID, nullable=True),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("built_json", sa.Text(), nullable=True),
        sa.Column("bag_kek_version", sa.Integer(), nullable=True),
        sa.Column("bag_wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("bag_size", sa.BigInteger(), nullable=True),
        sa.Column("bag_sha256", sa.String(length=64), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["profile_id"],
            ["recipient_profiles.id"],
            name=op.f("fk_export_requests_profile_id_recipient_profiles"),
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"], ["users.id"], name=op.f("fk_export_requests_requested_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["users.id"], name=op.f("fk_export_requests_decided_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["built_by"], ["users.id"], name=op.f("fk_export_requests_built_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_requests")),
    )
    with op.batch_alter_table("export_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_export_requests_profile_id"), ["profile_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_export_requests_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("export_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_export_requests_status"))
        batch_op.drop_index(batch_op.f("ix_export_requests_profile_id"))
    op.drop_table("export_requests")
    op.drop_table("recipient_profiles")
