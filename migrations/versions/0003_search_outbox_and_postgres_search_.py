"""search outbox and postgres search documents

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 18:23:30.644124
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('search_documents',
    sa.Column('testimony_id', sa.String(length=36), nullable=False),
    sa.Column('case_id', sa.BigInteger(), nullable=False),
    sa.Column('language', sa.String(length=16), nullable=False),
    sa.Column('interview_date', sa.Date(), nullable=False),
    sa.Column('date_start', sa.Date(), nullable=True),
    sa.Column('date_end', sa.Date(), nullable=True),
    sa.Column('categories', postgresql.ARRAY(sa.Text()).with_variant(sa.JSON(), 'sqlite'), nullable=False),
    sa.Column('places', postgresql.ARRAY(sa.Text()).with_variant(sa.JSON(), 'sqlite'), nullable=False),
    sa.Column('facilities', postgresql.ARRAY(sa.Text()).with_variant(sa.JSON(), 'sqlite'), nullable=False),
    sa.Column('institutions', postgresql.ARRAY(sa.Text()).with_variant(sa.JSON(), 'sqlite'), nullable=False),
    sa.Column('involvements', postgresql.ARRAY(sa.Text()).with_variant(sa.JSON(), 'sqlite'), nullable=False),
    sa.Column('consent_scopes', postgresql.ARRAY(sa.Text()).with_variant(sa.JSON(), 'sqlite'), nullable=False),
    sa.Column('years', postgresql.ARRAY(sa.Integer()).with_variant(sa.JSON(), 'sqlite'), nullable=False),
    sa.Column('chunks', sa.SmallInteger(), nullable=False),
    sa.Column('tokens', postgresql.TSVECTOR().with_variant(sa.Text(), 'sqlite'), nullable=False),
    sa.PrimaryKeyConstraint('testimony_id', name=op.f('pk_search_documents'))
    )
    with op.batch_alter_table('search_documents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_search_documents_case_id'), ['case_id'], unique=False)
        batch_op.create_index('ix_search_documents_categories', ['categories'], unique=False, postgresql_using='gin')
        batch_op.create_index(batch_op.f('ix_search_documents_chunks'), ['chunks'], unique=False)
        batch_op.create_index('ix_search_documents_tokens', ['tokens'], unique=False, postgresql_using='gin')

    op.create_table('search_outbox',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('testimony_id', sa.String(length=36), nullable=False),
    sa.Column('enqueued_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_search_outbox'))
    )
    with op.batch_alter_table('search_outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_search_outbox_testimony_id'), ['testimony_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('search_outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_search_outbox_testimony_id'))

    op.drop_table('search_outbox')
    with op.batch_alter_table('search_documents', schema=None) as batch_op:
        batch_op.drop_index('ix_search_documents_tokens', postgresql_using='gin')
        batch_op.drop_index(batch_op.f('ix_search_documents_chunks'))
        batch_op.drop_index('ix_search_documents_categories', postgresql_using='gin')
        batch_op.drop_index(batch_op.f('ix_search_documents_case_id'))

    op.drop_table('search_documents')
