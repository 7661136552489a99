"""bag provenance

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07

Bags re-imported from another Custodia (``bag_imports``: origin, export id, signed tag
manifest hash, signer key, and the bag's tag files sealed verbatim) and the provenance of
each imported testimony (``imported_testimonies``: its bag and its ids at the origin).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import service.db.base

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "bag_imports",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("origin_organization", sa.String(length=200), nullable=False),
        sa.Column("origin_export_id", sa.String(length=100), nullable=False),
        sa.Column("origin_log", sa.String(length=200), nullable=False),
        sa.Column("tagmanifest_sha256", sa.String(length=64), nullable=False),
        sa.Column("signer_public_key", sa.String(length=64), nullable=False),
        sa.Column("signer_trusted", sa.Boolean(), nullable=False),
        sa.Column("checkpoint_size", sa.BigInteger(), nullable=False),
        sa.Column("case_id", _ROW_ID, nullable=False),
        sa.Column("kek_version", sa.Integer(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("tag_files_ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("tag_files_sha256", sa.String(length=64), nullable=False),
        sa.Column("imported_at", service.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("imported_by", _ROW_ID, nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_bag_imports_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["imported_by"], ["users.id"], name=op.f("fk_bag_imports_imported_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bag_imports")),
        sa.UniqueConstraint("tagmanifest_sha256", name=op.f("uq_bag_imports_tagmanifest_sha256")),
    )
    op.create_index(op.f("ix_bag_imports_case_id"), "bag_imports", ["case_id"], unique=False)
    op.create_index(
        op.f("ix_bag_imports_origin_export_id"), "bag_imports", ["origin_export_id"], unique=False
    )
    op.create_index(
        op.f("ix_bag_imports_signer_public_key"), "bag_imports", ["signer_public_key"], unique=False
    )
    op.create_table(
        "imported_testimonies",
        sa.Column("testimony_id", sa.String(length=36), nullable=False),
        sa.Column("import_id", sa.String(length=36), nullable=False),
        sa.Column("signer_public_key", sa.String(length=64), nullable=False),
        sa.Column("original_testimony_id", sa.String(length=36), nullable=False),
        sa.Column("original_version", sa.Integer(), nullable=False),
        sa.Column("bag_directory", sa.String(length=40), nullable=False),
        sa.Column("original_ids_json", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["bag_imports.id"],
            name=op.f("fk_imported_testimonies_import_id_bag_imports"),
        ),
        sa.ForeignKeyConstraint(
            ["testimony_id"],
            ["testimonies.id"],
            name=op.f("fk_imported_testimonies_testimony_id_testimonies"),
        ),
        sa.PrimaryKeyConstraint("testimony_id", name=op.f("pk_imported_testimonies")),
        sa.UniqueConstraint(
            "signer_public_key",
            "original_testimony_id",
            name=op.f("uq_imported_testimonies_signer_public_key"),
        ),
    )
    op.create_index(
        op.f("ix_imported_testimonies_import_id"),
        "imported_testimonies",
        ["import_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_imported_testimonies_import_id"), table_name="imported_testimonies")
    op.drop_table("imported_testimonies")
    op.drop_index(op.f("ix_bag_imports_signer_public_key"), table_name="bag_imports")
    op.drop_index(op.f("ix_bag_imports_origin_export_id"), table_name="bag_imports")
    op.drop_index(op.f("ix_bag_imports_case_id"), table_name="bag_imports")
    op.drop_table("bag_imports")
