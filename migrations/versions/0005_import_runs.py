"""Imports claimed once; a case's natural key made unique.

A case without a platform case number is known by (platform, order number, kind,
duplicate_serial). Cases that already share platform, order and kind are kept, every one:
the oldest keeps serial 0 and the later ones are numbered 1, 2 … so the new unique index
holds without touching any other value.

Revision ID: 0005_import_runs
Revises: 0004_board_index
Create Date: 2026-11-30 17:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005_import_runs'
down_revision = '0004_board_index'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('import_runs',
    sa.Column('token', sa.String(length=32), nullable=False),
    sa.Column('area', sa.String(length=16), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('claimed_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('result', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_import_runs_user_id_users')),
    sa.PrimaryKeyConstraint('token', name=op.f('pk_import_runs'))
    )
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('duplicate_serial', sa.Integer(), server_default='0', nullable=False))

    cases = sa.table('cases', sa.column('id', sa.Integer), sa.column('platform', sa.String),
                     sa.column('order_no', sa.String), sa.column('kind', sa.String),
                     sa.column('platform_case_id', sa.String), sa.column('duplicate_serial', sa.Integer))
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(cases.c.id, cases.c.platform, cases.c.order_no, cases.c.kind)
        .where(cases.c.platform_case_id.is_(None))
        .order_by(cases.c.platform, cases.c.order_no, cases.c.kind, cases.c.id)
    )
    seen = {}
    for case_id, platform, order_no, kind in rows.all():
        key = (platform, order_no, kind)
        serial = seen.get(key, -1) + 1
        seen[key] = serial
        if serial:
            connection.execute(sa.update(cases).where(cases.c.id == case_id).values(duplicate_serial=serial))

    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index('uq_cases_natural_key', ['platform', 'order_no', 'kind', 'duplicate_serial'], unique=True,
                              sqlite_where=sa.text('platform_case_id IS NULL'), postgresql_where=sa.text('platform_case_id IS NULL'))


def downgrade():
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('uq_cases_natural_key', sqlite_where=sa.text('platform_case_id IS NULL'),
                            postgresql_where=sa.text('platform_case_id IS NULL'))
        batch_op.drop_column('duplicate_serial')

    op.drop_table('import_runs')
