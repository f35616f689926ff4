"""The demo's scoring: last month published with one appeal answered, this month a draft, made by the real rules."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import sqlalchemy as sa

import demo
from models import ScoreAppeal, ScoreAttribution, ScoreJudgement, ScoreMonth, TimelineEvent, User, db
from scoring import figures, months, rules

NOW = datetime(2026, 11, 3, 2, 0, tzinfo=UTC)  # 10:00 on 3 November in Shanghai: October is over and has its cases


def test_last_month_is_published_with_one_answered_appeal_and_this_month_is_a_draft(app):
    with app.app_context():
        demo.create(80, seed=7, now=NOW)
        zone = app.config["SHOP_TZ"]
        published, draft = db.session.scalars(sa.select(ScoreMonth).order_by(ScoreMonth.month)).all()
        assert (published.month, published.state, draft.month, draft.state) == ("2026-10", "published", "2026-11", "draft")
        assert published.shop.platform == "tmall" and draft.shop_id == published.shop_id
        assert months.month_end(published, zone) <= published.published_at <= NOW

        rows = published.snapshot["agents"]
        assert len(rows) >= 3 and all(Decimal(row["total"]) > 0 for row in rows)
        assert sum(Decimal(row["bonus"]) for row in rows) == published.bonus_pool == Decimal("6000.00")
        figures_entered = set(published.industry) | {f"shop.{key}" for key in published.shop_figures}
        assert figures_entered == set(figures.INDUSTRY_FIELDS) | {f"shop.{key}" for key in figures.SHOP_FIELDS}
        assert Decimal("0.3") <= Decimal(published.industry["dispute_rate"]) <= Decimal("0.6")
        judged_parts = [part["key"] for part in published.snapshot["rules"]["parts"] if part["kind"] in rules.JUDGEMENT_KINDS]
        for row in rows:
            for key in judged_parts:
                assert row["parts"][key]["judgement"]["text"], (row["name"], key)
        lead = db.session.scalar(User.by_username("lead"))
        own = db.session.scalars(sa.select(ScoreJudgement).where(ScoreJudgement.user_id == lead.id)).all()
        assert all(item.judged_by_id != lead.id for item in own)  # the manager judges the lead

        (appeal,) = db.session.scalars(sa.select(ScoreAppeal)).all()
        assert appeal.state == "accepted" and appeal.answer and appeal.answered_by_id == lead.id
        assert appeal.case_id is not None and appeal.user_id != lead.id
        moved = db.session.scalar(sa.select(ScoreAttribution))
        assert (moved.case_id, moved.from_user_id, moved.to_user_id) == (appeal.case_id, appeal.user_id, None)
        evidence = published.snapshot["evidence"][str(appeal.user_id)]
        assert all(appeal.case_id not in ids for ids in evidence.values())  # refrozen without the case
        assert published.published_at < appeal.created_at < appeal.answered_at <= NOW

        assert set(draft.industry) == set(figures.INDUSTRY_FIELDS) and not draft.shop_figures
        assert not db.session.scalar(sa.select(sa.func.count()).select_from(ScoreJudgement)
                                     .where(ScoreJudgement.score_month_id == draft.id))
        history = db.session.execute(sa.select(TimelineEvent.action, TimelineEvent.created_at).where(
            TimelineEvent.subject_type == "score_month", TimelineEvent.subject_id == published.id)
            .order_by(TimelineEvent.id)).all()
        actions = [action for action, _ in history]
        assert actions[0] == "values_saved" and actions[-3:] == ["published", "appealed", "appeal_accepted"]
        assert [at for _, at in history] == sorted(at for _, at in history) and history[-1][1] <= NOW
