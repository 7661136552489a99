"""custody merkle tree and checkpoints

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 17:24:11.520168
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from service.custody.merkle import MemorySubtreeStore


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('custody_checkpoints',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tree_size', sa.BigInteger(), nullable=False),
    sa.Column('root_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('signed_note', sa.Text(), nullable=False),
    sa.Column('key_name', sa.String(length=200), nullable=False),
    sa.Column('reason', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_custody_checkpoints'))
    )
    with op.batch_alter_table('custody_checkpoints', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_custody_checkpoints_tree_size'), ['tree_size'], unique=False)

    op.create_table('custody_tree_nodes',
    sa.Column('level', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('idx', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('hash', sa.LargeBinary(length=32), nullable=False),
    sa.PrimaryKeyConstraint('level', 'idx', name=op.f('pk_custody_tree_nodes'))
    )
    with op.batch_alter_table('custody_head', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('last_checkpoint_size', sa.BigInteger(), nullable=False, server_default='0')
        )
        batch_op.add_column(sa.Column('last_checkpoint_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('custody_head', schema=None) as batch_op:
        batch_op.alter_column('last_checkpoint_size', server_default=None)
    _backfill_tree_nodes()


def _backfill_tree_nodes() -> None:
    """Build the inner nodes for events logged before the tree existed."""
    connection = op.get_bind()
    leaves = connection.execute(sa.text('SELECT leaf_hash FROM custody_events ORDER BY seq'))
    store = MemorySubtreeStore()
    nodes = sa.table(
        'custody_tree_nodes',
        sa.column('level', sa.Integer()),
        sa.column('idx', sa.BigInteger()),
        sa.column('hash', sa.LargeBinary()),
    )
    batch: list[dict[str, object]] = []
    for (leaf,) in leaves:
        for level, index, digest in store.append(bytes(leaf)):
            if level > 0:
                batch.append({'level': level, 'idx': index, 'hash': digest})
        if len(batch) >= 5000:
            op.bulk_insert(nodes, batch)
            batch = []
    if batch:
        op.bulk_insert(nodes, batch)



def downgrade() -> None:
    with op.batch_alter_table('custody_head', schema=None) as batch_op:
        batch_op.drop_column('last_checkpoint_at')
        batch_op.drop_column('last_checkpoint_size')

    op.drop_table('custody_tree_nodes')
    with op.batch_alter_table('custody_checkpoints', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_custody_checkpoints_tree_size'))

    op.drop_table('custody_checkpoints')
