"""Per-person notification switches: a short sound and a browser notification on a new urgent item.

Both start off for everyone (server default false fills the rows already there); a person switches them on.

Revision ID: 0012_notifications
Revises: 0011_case_search
Create Date: 2026-12-01 10:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0012_notifications'
down_revision = '0011_case_search'
branch_labels = None
depends_on = None


def upgrade():
    # The default as text ('0', false on both databases), as 0010 does: an expression default would make
    # SQLite's batch mode copy the users table, which the foreign keys pointing at it refuse.
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('notify_sound', sa.Boolean(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('notify_browser', sa.Boolean(), server_default='0', nullable=False))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('notify_browser')
        batch_op.drop_column('notify_sound')
