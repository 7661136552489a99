"""initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-25 17:18:04.180867
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    
    op.create_table('custody_events',
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor_name', sa.String(length=64), nullable=True),
    sa.Column('actor_role', sa.String(length=20), nullable=True),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('outcome', sa.String(length=10), nullable=False),
    sa.Column('object_type', sa.String(length=32), nullable=False),
    sa.Column('object_id', sa.String(length=64), nullable=True),
    sa.Column('object_sha256', sa.String(length=64), nullable=True),
    sa.Column('details_json', sa.Text(), nullable=False),
    sa.Column('leaf_hash', sa.LargeBinary(length=32), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_custody_events'))
    )
    with op.batch_alter_table('custody_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_custody_events_action'), ['action'], unique=False)
        batch_op.create_index(batch_op.f('ix_custody_events_actor_id'), ['actor_id'], unique=False)

    op.create_table('custody_head',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('id = 1', name=op.f('ck_custody_head_single_row')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_custody_head'))
    )
    # The custody log starts empty; appending locks and advances this single row.
    op.bulk_insert(sa.table('custody_head', sa.column('id', sa.Integer()), sa.column('size', sa.BigInteger())), [{'id': 1, 'size': 0}])
    op.create_table('users',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('password_hash', sa.Text(), nullable=False),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('failed_logins', sa.Integer(), nullable=False),
    sa.Column('last_failed_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    op.create_table('auth_sessions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_auth_sessions_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_auth_sessions')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_auth_sessions_token_hash'))
    )
    with op.batch_alter_table('auth_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_auth_sessions_user_id'), ['user_id'], unique=False)

    op.create_table('cases',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_cases_created_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cases')),
    sa.UniqueConstraint('code', name=op.f('uq_cases_code'))
    )
    op.create_table('case_members',
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('assigned_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['assigned_by'], ['users.id'], name=op.f('fk_case_members_assigned_by_users')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_members_case_id_cases')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_case_members_user_id_users')),
    sa.PrimaryKeyConstraint('case_id', 'user_id', name=op.f('pk_case_members'))
    )
    with op.batch_alter_table('case_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_members_user_id'), ['user_id'], unique=False)

    op.create_table('witnesses',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('pseudonym', sa.String(length=64), nullable=False),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_witnesses_case_id_cases')),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_witnesses_created_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_witnesses')),
    sa.UniqueConstraint('pseudonym', name=op.f('uq_witnesses_pseudonym'))
    )
    with op.batch_alter_table('witnesses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_witnesses_case_id'), ['case_id'], unique=False)

    op.create_table('identity_records',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('witness_id', sa.String(length=36), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('kek_version', sa.Integer(), nullable=False),
    sa.Column('wrapped_key', sa.LargeBinary(), nullable=True),
    sa.Column('identity_ciphertext', sa.LargeBinary(), nullable=False),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_identity_records_created_by_users')),
    sa.ForeignKeyConstraint(['witness_id'], ['witnesses.id'], name=op.f('fk_identity_records_witness_id_witnesses')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identity_records')),
    sa.UniqueConstraint('witness_id', 'version', name=op.f('uq_identity_records_witness_id'))
    )
    with op.batch_alter_table('identity_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_identity_records_witness_id'), ['witness_id'], unique=False)

    op.create_table('testimonies',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('external_id', sa.String(length=100), nullable=True),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('witness_id', sa.String(length=36), nullable=False),
    sa.Column('current_version', sa.Integer(), nullable=False),
    sa.Column('kek_version', sa.Integer(), nullable=False),
    sa.Column('wrapped_key', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('shredded_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_testimonies_case_id_cases')),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_testimonies_created_by_users')),
    sa.ForeignKeyConstraint(['witness_id'], ['witnesses.id'], name=op.f('fk_testimonies_witness_id_witnesses')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_testimonies')),
    sa.UniqueConstraint('external_id', name=op.f('uq_testimonies_external_id'))
    )
    with op.batch_alter_table('testimonies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_testimonies_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_testimonies_witness_id'), ['witness_id'], unique=False)

    op.create_table('attachments',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('testimony_id', sa.String(length=36), nullable=False),
    sa.Column('media_type', sa.String(length=100), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('kek_version', sa.Integer(), nullable=False),
    sa.Column('wrapped_key', sa.LargeBinary(), nullable=True),
    sa.Column('meta_ciphertext', sa.LargeBinary(), nullable=False),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_attachments_created_by_users')),
    sa.ForeignKeyConstraint(['testimony_id'], ['testimonies.id'], name=op.f('fk_attachments_testimony_id_testimonies')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attachments'))
    )
    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_attachments_testimony_id'), ['testimony_id'], unique=False)

    op.create_table('consent_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('testimony_id', sa.String(length=36), nullable=False),
    sa.Column('scope', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('effective_on', sa.Date(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['recorded_by'], ['users.id'], name=op.f('fk_consent_events_recorded_by_users')),
    sa.ForeignKeyConstraint(['testimony_id'], ['testimonies.id'], name=op.f('fk_consent_events_testimony_id_testimonies')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_events'))
    )
    with op.batch_alter_table('consent_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consent_events_testimony_id'), ['testimony_id'], unique=False)

    op.create_table('incidents',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('testimony_id', sa.String(length=36), nullable=False),
    sa.Column('current_version', sa.Integer(), nullable=False),
    sa.Column('date_start', sa.Date(), nullable=False),
    sa.Column('date_end', sa.Date(), nullable=False),
    sa.Column('date_precision', sa.String(length=8), nullable=False),
    sa.Column('place', sa.String(length=200), nullable=True),
    sa.Column('facility', sa.String(length=200), nullable=True),
    sa.Column('perpetrator_institution', sa.String(length=200), nullable=True),
    sa.Column('involvement', sa.String(length=20), nullable=False),
    sa.Column('retracted', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['testimony_id'], ['testimonies.id'], name=op.f('fk_incidents_testimony_id_testimonies')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incidents'))
    )
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_incidents_date_start'), ['date_start'], unique=False)
        batch_op.create_index(batch_op.f('ix_incidents_place'), ['place'], unique=False)
        batch_op.create_index(batch_op.f('ix_incidents_testimony_id'), ['testimony_id'], unique=False)

    op.create_table('testimony_versions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('testimony_id', sa.String(length=36), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('interview_date', sa.Date(), nullable=False),
    sa.Column('interview_place', sa.String(length=200), nullable=False),
    sa.Column('language', sa.String(length=16), nullable=False),
    sa.Column('interviewer', sa.String(length=200), nullable=False),
    sa.Column('content_ciphertext', sa.LargeBinary(), nullable=False),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_testimony_versions_created_by_users')),
    sa.ForeignKeyConstraint(['testimony_id'], ['testimonies.id'], name=op.f('fk_testimony_versions_testimony_id_testimonies')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_testimony_versions')),
    sa.UniqueConstraint('testimony_id', 'version', name=op.f('uq_testimony_versions_testimony_id'))
    )
    with op.batch_alter_table('testimony_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_testimony_versions_testimony_id'), ['testimony_id'], unique=False)

    op.create_table('incident_categories',
    sa.Column('incident_id', sa.String(length=36), nullable=False),
    sa.Column('code', sa.String(length=120), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_incident_categories_incident_id_incidents')),
    sa.PrimaryKeyConstraint('incident_id', 'code', name=op.f('pk_incident_categories'))
    )
    with op.batch_alter_table('incident_categories', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_incident_categories_code'), ['code'], unique=False)

    op.create_table('incident_versions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('incident_id', sa.String(length=36), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('categories_json', sa.String(length=2000), nullable=False),
    sa.Column('date_start', sa.Date(), nullable=False),
    sa.Column('date_end', sa.Date(), nullable=False),
    sa.Column('date_precision', sa.String(length=8), nullable=False),
    sa.Column('place', sa.String(length=200), nullable=True),
    sa.Column('facility', sa.String(length=200), nullable=True),
    sa.Column('perpetrator_institution', sa.String(length=200), nullable=True),
    sa.Column('involvement', sa.String(length=20), nullable=False),
    sa.Column('retracted', sa.Boolean(), nullable=False),
    sa.Column('content_ciphertext', sa.LargeBinary(), nullable=False),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_incident_versions_created_by_users')),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_incident_versions_incident_id_incidents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_versions')),
    sa.UniqueConstraint('incident_id', 'version', name=op.f('uq_incident_versions_incident_id'))
    )
    with op.batch_alter_table('incident_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_incident_versions_incident_id'), ['incident_id'], unique=False)

    


def downgrade() -> None:
    
    with op.batch_alter_table('incident_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incident_versions_incident_id'))

    op.drop_table('incident_versions')
    with op.batch_alter_table('incident_categories', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incident_categories_code'))

    op.drop_table('incident_categories')
    with op.batch_alter_table('testimony_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_testimony_versions_testimony_id'))

    op.drop_table('testimony_versions')
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incidents_testimony_id'))
        batch_op.drop_index(batch_op.f('ix_incidents_place'))
        batch_op.drop_index(batch_op.f('ix_incidents_date_start'))

    op.drop_table('incidents')
    with op.batch_alter_table('consent_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consent_events_testimony_id'))

    op.drop_table('consent_events')
    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_attachments_testimony_id'))

    op.drop_table('attachments')
    with op.batch_alter_table('testimonies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_testimonies_witness_id'))
        batch_op.drop_index(batch_op.f('ix_testimonies_case_id'))

    op.drop_table('testimonies')
    with op.batch_alter_table('identity_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_identity_records_witness_id'))

    op.drop_table('identity_records')
    with op.batch_alter_table('witnesses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_witnesses_case_id'))

    op.drop_table('witnesses')
    with op.batch_alter_table('case_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_members_user_id'))

    op.drop_table('case_members')
    op.drop_table('cases')
    with op.batch_alter_table('auth_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_auth_sessions_user_id'))

    op.drop_table('auth_sessions')
    op.drop_table('users')
    op.drop_table('custody_head')
    with op.batch_alter_table('custody_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_custody_events_actor_id'))
        batch_op.drop_index(batch_op.f('ix_custody_events_action'))

    op.drop_table('custody_events')
    
