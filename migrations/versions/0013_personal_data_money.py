"""Personal-data export log and compensation money guards.

The personal data log (/admin/personal-data) lists phone reveals and full-number exports, newest first:
an index on the timeline's action lets it read them (and count them for its pages) without scanning every
event. The money guard needs no column: its confirmation and reason are recorded in the timeline.

Revision ID: 0013_personal_data_money
Revises: 0012_notifications
Create Date: 2026-12-01 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013_personal_data_money'
down_revision = '0012_notifications'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('timeline_events', schema=None) as batch_op:
        batch_op.create_index('ix_timeline_action', ['action', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('timeline_events', schema=None) as batch_op:
        batch_op.drop_index('ix_timeline_action')
