"""Marketplace sync: shops' connections to their open platforms, cursors, runs and the records they skipped.

Four new tables; nothing existing changes, and the downgrade drops only them.

Revision ID: 0016_marketplace_sync
Revises: 0015_platform_status
Create Date: 2026-12-01 10:16:23.160574

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016_marketplace_sync'
down_revision = '0015_platform_status'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('shop_connections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('app_key', sa.String(length=128), nullable=False),
    sa.Column('sealed', sa.Text(), nullable=False),
    sa.Column('token_expires_at', sa.DateTime(), nullable=True),
    sa.Column('shop_ref', sa.String(length=64), nullable=False),
    sa.Column('api_url', sa.String(length=300), nullable=False),
    sa.Column('first_sync_days', sa.Integer(), nullable=False),
    sa.Column('sync_reviews', sa.Boolean(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('stop_reason', sa.String(length=500), nullable=False),
    sa.Column('token_refused', sa.Boolean(), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('next_run_at', sa.DateTime(), nullable=True),
    sa.Column('lease_until', sa.DateTime(), nullable=True),
    sa.Column('leased_by', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_shop_connections_shop_id_shops')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shop_connections')),
    sa.UniqueConstraint('shop_id', name=op.f('uq_shop_connections_shop_id'))
    )
    with op.batch_alter_table('shop_connections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shop_connections_next_run_at'), ['next_run_at'], unique=False)

    op.create_table('sync_cursors',
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('since', sa.DateTime(), nullable=False),
    sa.Column('window_end', sa.DateTime(), nullable=True),
    sa.Column('next_page', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_sync_cursors_shop_id_shops')),
    sa.PrimaryKeyConstraint('shop_id', 'kind', name=op.f('pk_sync_cursors'))
    )
    op.create_table('sync_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('run_by', sa.String(length=100), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=True),
    sa.Column('pages', sa.Integer(), nullable=False),
    sa.Column('fetched', sa.Integer(), nullable=False),
    sa.Column('created', sa.Integer(), nullable=False),
    sa.Column('updated', sa.Integer(), nullable=False),
    sa.Column('skipped', sa.Integer(), nullable=False),
    sa.Column('retries', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=12), nullable=False),
    sa.Column('error', sa.String(length=500), nullable=False),
    sa.ForeignKeyConstraint(['requested_by_id'], ['users.id'], name=op.f('fk_sync_runs_requested_by_id_users')),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_sync_runs_shop_id_shops')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_runs'))
    )
    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.create_index('ix_sync_runs_shop', ['shop_id', 'id'], unique=False)

    op.create_table('sync_problems',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('record_id', sa.String(length=64), nullable=False),
    sa.Column('message', sa.String(length=500), nullable=False),
    sa.Column('skipped', sa.Boolean(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['sync_runs.id'], name=op.f('fk_sync_problems_run_id_sync_runs')),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_sync_problems_shop_id_shops')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_problems'))
    )
    with op.batch_alter_table('sync_problems', schema=None) as batch_op:
        batch_op.create_index('ix_sync_problems_shop', ['shop_id', 'id'], unique=False)



def downgrade():
    with op.batch_alter_table('sync_problems', schema=None) as batch_op:
        batch_op.drop_index('ix_sync_problems_shop')

    op.drop_table('sync_problems')
    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_sync_runs_shop')

    op.drop_table('sync_runs')
    op.drop_table('sync_cursors')
    with op.batch_alter_table('shop_connections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shop_connections_next_run_at'))

    op.drop_table('shop_connections')
