"""The board's deadline order (the earlier of ours and the platform's), agents on duty.

A case's stored deadline (next_due_at) and at-risk moment (next_risk_at) now count the marketplace's own
deadline while the case is not closed (cases/sla.summary). The back-fill does in SQL what the application now
does on every change: the earlier of the stored value and the platform deadline, and for the at-risk moment
the platform deadline less the at-risk share of the time from receipt. Written out here, not imported, so the
revision keeps doing what it did when it was written.

The column's order index gains the ties (received_at, id), so a board column is read in order with no sort;
it replaces ix_cases_state_due, whose queries (state, then next_due_at) it serves as well.

Revision ID: 0010_board
Revises: 0009_daily_figures
Create Date: 2026-12-01 10:00:00.000000

"""
import json

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010_board'
down_revision = '0009_daily_figures'
branch_labels = None
depends_on = None


def upgrade():
    # The default as text ('0', false on both databases): an expression default would make SQLite's batch mode
    # copy the users table, which the foreign keys pointing at it refuse.
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('on_duty', sa.Boolean(), server_default='0', nullable=False))

    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_state_due')
        batch_op.create_index('ix_cases_state_due_order', ['state', 'next_due_at', 'received_at', 'id'], unique=False)

    backfill_platform_deadlines()


def at_risk_fraction(bind) -> float:
    stored = bind.execute(sa.text("SELECT value FROM settings WHERE key = 'at_risk_percent'")).scalar()
    return (int(json.loads(stored)) if stored is not None else 25) / 100


def backfill_platform_deadlines():
    bind = op.get_bind()
    fraction = at_risk_fraction(bind)
    if bind.dialect.name == 'postgresql':
        platform_risk = '(platform_deadline_at - (platform_deadline_at - received_at) * :fraction)'
    else:  # SQLite keeps times as text: through julian days, back to the text it compares and reads
        platform_risk = ("datetime(julianday(platform_deadline_at)"
                         " - (julianday(platform_deadline_at) - julianday(received_at)) * :fraction)")
    risk = f'CASE WHEN received_at < platform_deadline_at THEN {platform_risk} ELSE platform_deadline_at END'
    open_with_deadline = "state <> 'closed' AND platform_deadline_at IS NOT NULL"
    bind.execute(sa.text(f"UPDATE cases SET next_due_at = platform_deadline_at WHERE {open_with_deadline}"
                         " AND (next_due_at IS NULL OR platform_deadline_at < next_due_at)"))
    bind.execute(sa.text(f"UPDATE cases SET next_risk_at = {risk} WHERE {open_with_deadline}"
                         f" AND (next_risk_at IS NULL OR {risk} < next_risk_at)"), {"fraction": fraction})


def downgrade():
    # The back-filled deadlines stay: they are the application's to recompute, and earlier code reads them as
    # it read any stored deadline.
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_state_due_order')
        batch_op.create_index('ix_cases_state_due', ['state', 'next_due_at'], unique=False)

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('on_duty')
