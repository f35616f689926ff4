"""The platform's status on a case, triage kept from imports, and conflicts waiting for a person.

Adds what the marketplace says of a case (our key of its status, its own words for the status, the goods and
the intervention), the triage fields a person set in the app (``triaged``), and the differences between the
two (``platform_conflicts``). Existing cases keep everything they have; ``triaged`` is filled from the
timeline: a case created through the form was triaged by the person who typed it, and a field a person
changed afterwards (an edit, a flag) is theirs. Nothing is lost: the downgrade drops only the new columns.

Revision ID: 0015_platform_status
Revises: 0014_live_topics
Create Date: 2026-12-01 07:10:00.000000

"""
import json

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015_platform_status'
down_revision = '0014_live_topics'
branch_labels = None
depends_on = None

TRIAGE_FIELDS = ("category", "priority", "flag", "flag_note", "summary")  # cases.flow.TRIAGE_FIELDS, as of this revision


def upgrade():
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('platform_status', sa.String(length=24), nullable=True))
        batch_op.add_column(sa.Column('platform_status_text', sa.String(length=64), server_default='', nullable=False))
        batch_op.add_column(sa.Column('platform_goods_status', sa.String(length=32), server_default='', nullable=False))
        batch_op.add_column(sa.Column('platform_intervention', sa.String(length=32), server_default='', nullable=False))
        batch_op.add_column(sa.Column('triaged', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('platform_conflicts', sa.JSON(), nullable=True))
    fill_triaged(op.get_bind())
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.alter_column('triaged', existing_type=sa.JSON(), nullable=False)
        batch_op.alter_column('platform_conflicts', existing_type=sa.JSON(), nullable=False)


def _detail(value):
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return {}
    return value or {}


def fill_triaged(connection):
    """Each case's person-set triage fields, from its timeline (in chunks: any number of events)."""
    triaged: dict[int, set] = {}
    events = sa.text("SELECT id, subject_id, action, detail FROM timeline_events WHERE subject_type = 'case' "
                     "AND action IN ('created', 'updated', 'flagged') AND id > :after ORDER BY id LIMIT 5000")
    after = 0
    while True:
        rows = connection.execute(events, {"after": after}).all()
        if not rows:
            break
        for event_id, case_id, action, detail in rows:
            detail = _detail(detail)
            fields = set()
            if action == "created" and detail.get("via") not in ("import", "sync"):
                fields = set(TRIAGE_FIELDS)
            elif action == "updated":
                fields = set(detail.get("changes") or {}) & set(TRIAGE_FIELDS)
            elif action == "flagged":
                fields = {"flag", "flag_note"}
            if fields:
                triaged.setdefault(case_id, set()).update(fields)
            after = event_id
    update = sa.text("UPDATE cases SET triaged = :triaged WHERE id = :id").bindparams(sa.bindparam("triaged", type_=sa.JSON))
    connection.execute(sa.text("UPDATE cases SET triaged = :empty, platform_conflicts = :empty")
                       .bindparams(sa.bindparam("empty", type_=sa.JSON)), {"empty": []})
    chunk = []
    for case_id, fields in triaged.items():
        chunk.append({"id": case_id, "triaged": sorted(fields)})
        if len(chunk) == 1000:
            connection.execute(update, chunk)
            chunk = []
    if chunk:
        connection.execute(update, chunk)


def downgrade():
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_column('platform_conflicts')
        batch_op.drop_column('triaged')
        batch_op.drop_column('platform_intervention')
        batch_op.drop_column('platform_goods_status')
        batch_op.drop_column('platform_status_text')
        batch_op.drop_column('platform_status')
