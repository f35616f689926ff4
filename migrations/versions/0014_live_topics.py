"""Timeline topics: a live region's token follows only the kinds of change it shows; the list's deadline order index.

The back-fill gives old events the topic their subject suggests; only the newest id of each topic
matters to a poll, so the rare old settings or account event filed under a broader topic only costs
one redraw. The rules for new events are models.event_topic.

Revision ID: 0014_live_topics
Revises: 0013_personal_data_money
Create Date: 2026-12-01 11:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014_live_topics'
down_revision = '0013_personal_data_money'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('timeline_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('topic', sa.String(length=16), nullable=True))
    op.execute("""
        UPDATE timeline_events SET topic = CASE
            WHEN subject_type = 'case' AND action LIKE 'compensation%' THEN 'compensation'
            WHEN subject_type = 'case' THEN 'cases'
            WHEN subject_type = 'user' AND action IN ('logged_in', 'logged_out', 'password_changed') THEN 'sessions'
            WHEN subject_type = 'user' THEN 'people'
            WHEN subject_type = 'settings' THEN 'clocks'
            WHEN subject_type = 'import' THEN 'cases'
            ELSE substr(subject_type, 1, 16)
        END""")
    with op.batch_alter_table('timeline_events', schema=None) as batch_op:
        batch_op.create_index('ix_timeline_topic', ['topic', 'id'], unique=False)
    # The case list sorts every state by deadline: read in this order instead of sorting all cases per page.
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index('ix_cases_due_order', ['next_due_at', 'received_at', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_due_order')
    with op.batch_alter_table('timeline_events', schema=None) as batch_op:
        batch_op.drop_index('ix_timeline_topic')
        batch_op.drop_column('topic')
