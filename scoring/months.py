"""A shop's scoring month: its rule set, the table of scores, publishing and reopening, the lead's judgements,
and appeals. Rules only, no request: the views pass the actor, the clock and the shop's zone.

- **Rule sets** are versioned rows (``RuleSet``): an edit adds the next version. A month is scored with the
  version in force at the month's end: the shop's own if it has one by then, else its platform's, else the
  DOMAIN.md §5 table (a platform other than Tmall gets the table as an unedited copy). Publishing pins it.
- **The table** is one dict, the same shape live (a draft) and frozen (a published month's ``snapshot``), so
  both are shown by one template and a published month never reads the data again.
- **Totals ≤ 0** get no bonus and do not reduce anyone else's share (``rules.split_bonus``).
- **Ranks** are competition ranks: equal totals share a rank and the next rank is skipped (1, 2, 2, 4).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from decimal import Decimal

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

import timeline
from compensation.report import month_bounds
from models import (
    PERMISSIONS,
    RuleSet,
    ScoreAcknowledgement,
    ScoreAppeal,
    ScoreAttribution,
    ScoreJudgement,
    ScoreMonth,
    Shop,
    Team,
    User,
    UserError,
    db,
    get_setting,
    record,
)
from scoring import figures, rules

SCORED_ROLES = ("agent", "reviewer")  # who gets a row even in a month without data
OPEN_APPEAL_STATES = ("open", "escalated")


def decimal_text(value: Decimal) -> str:
    return format(value, "f")


class ScoringRefused(UserError):
    """A scoring step that the rules refuse; its message is shown to the person."""


# --- rule sets ---------------------------------------------------------------------------------------------

def scope_of_shop(shop: Shop) -> str:
    return f"shop:{shop.id}"


def default_rules(scope: str, platform: str) -> dict:
    """The table as DOMAIN.md gives it: Tmall's own, any other platform or shop an editable copy of it."""
    return rules.copy_for(scope) if scope != "tmall" else rules.copy.deepcopy(rules.DEFAULT_TMALL_RULES)


def in_force(shop: Shop, at: datetime) -> tuple[RuleSet | None, dict]:
    """The rule set in force for ``shop`` at ``at``: the shop's latest version saved before it, else the
    platform's, else the defaults (no row). Two queries at most."""
    for scope in (scope_of_shop(shop), shop.platform):
        version = db.session.scalars(sa.select(RuleSet).where(RuleSet.scope == scope, RuleSet.created_at < at)
                                     .order_by(RuleSet.number.desc()).limit(1)).first()
        if version is not None:
            return version, version.rules
    return None, default_rules(shop.platform, shop.platform)


def latest(scope: str) -> RuleSet | None:
    return db.session.scalars(sa.select(RuleSet).where(RuleSet.scope == scope).order_by(RuleSet.number.desc()).limit(1)).first()


def history(scope: str) -> list[RuleSet]:
    return list(db.session.scalars(sa.select(RuleSet).where(RuleSet.scope == scope).order_by(RuleSet.number.desc())))


def save_rule_set(scope: str, rule_set: dict, note: str, actor: User, now: datetime, based_on: int | None) -> RuleSet:
    """The next version of ``scope``'s rule set. ``based_on`` is the version number the editor started from:
    someone else's save in between is refused rather than overwritten."""
    errors = rules.validate(rule_set)
    if errors:
        raise ScoringRefused(" ".join(errors))
    if not note.strip():
        raise ScoringRefused(_l("Say why the rules change."))
    current = latest(scope)
    if (current.number if current else 0) != (based_on or 0):
        raise ScoringRefused(_l("Someone saved these rules while you were editing. Reload to see their version."))
    version = RuleSet(scope=scope, number=(current.number if current else 0) + 1, rules=dict(rule_set, scope=scope),
                      note=note.strip()[:500], created_by_id=actor.id, created_at=now)
    db.session.add(version)
    db.session.flush()
    record(actor, "rule_set", version.id, "rules_saved", scope=scope, number=version.number, note=version.note,
           warnings=rules.weight_warnings(rule_set))
    return version


# --- the month ---------------------------------------------------------------------------------------------

def month_for(shop: Shop, month: str, create: bool = False) -> ScoreMonth:
    """The shop's month. One nobody has touched yet is an empty draft, stored only when ``create``
    (a change is made to it): looking at a month changes nothing."""
    row = db.session.scalars(sa.select(ScoreMonth).where(ScoreMonth.shop_id == shop.id, ScoreMonth.month == month)).first()
    if row is None:
        row = ScoreMonth(shop_id=shop.id, month=month, industry={}, shop_figures={}, state="draft", reopen_count=0,
                         version=1)
        row.shop = shop
        if create:
            db.session.add(row)
            db.session.flush()
    return row


def save_values(score_month: ScoreMonth, industry: dict, shop_figures: dict, bonus_pool: Decimal | None, actor: User) -> dict:
    """The month's figures entered by a lead (decimal strings), refused once the month is published."""
    if score_month.state == "published":
        raise ScoringRefused(_l("The month is published: reopen it to change its figures."))
    changes = {}
    for name, old, new in (("industry", score_month.industry or {}, industry),
                           ("shop_figures", score_month.shop_figures or {}, shop_figures)):
        for key in set(old) | set(new):
            if old.get(key) != new.get(key):
                changes[f"{name}.{key}"] = [old.get(key), new.get(key)]
    if score_month.bonus_pool != bonus_pool:
        changes["bonus_pool"] = [score_month.bonus_pool, bonus_pool]
    score_month.industry, score_month.shop_figures, score_month.bonus_pool = dict(industry), dict(shop_figures), bonus_pool
    if changes:
        record(actor, "score_month", score_month.id, "values_saved", month=score_month.month, changes=changes)
    return changes


def month_end(score_month: ScoreMonth, zone: tzinfo) -> datetime:
    return month_bounds(score_month.month, zone)[1]


def judgement_value(part: dict, text: str):
    """A stored judgement as the rule reads it: a level key, whole points, or done (True) / not done."""
    if part["kind"] == rules.JUDGEMENT_POINTS:
        return int(text) if text.lstrip("-").isdigit() else text
    if part["kind"] == rules.DONE_OR_NOT:
        return text == "yes"
    return text


def check_judgement(part: dict, value: str, justification: str) -> None:
    if not justification.strip():
        raise ScoringRefused(_l("%(part)s needs a short justification.", part=part["name"]))
    if part["kind"] == rules.JUDGEMENT_LEVELS and value not in {level["key"] for level in part["levels"]}:
        raise ScoringRefused(_l("Choose a level for %(part)s.", part=part["name"]))
    if part["kind"] == rules.JUDGEMENT_POINTS:
        if not value.lstrip("-").isdigit() or not part["min_points"] <= int(value) <= part["max_points"]:
            raise ScoringRefused(_l("%(part)s takes whole points from %(low)s to %(high)s.", part=part["name"],
                                    low=part["min_points"], high=part["max_points"]))
    if part["kind"] == rules.DONE_OR_NOT and value not in ("yes", "no"):
        raise ScoringRefused(_l("Say whether %(part)s was done.", part=part["name"]))


def save_judgement(score_month: ScoreMonth, rule_set: dict, user: User, part_key: str, value: str, justification: str,
                   actor: User, now: datetime, allow_published: bool = False) -> ScoreJudgement:
    if score_month.state == "published" and not allow_published:
        raise ScoringRefused(_l("The month is published: reopen it to change a judgement."))
    part = next((part for part in rule_set["parts"] if part["key"] == part_key and part["kind"] in rules.JUDGEMENT_KINDS), None)
    if part is None:
        raise ScoringRefused(_l("That part is not the lead's judgement."))
    value, justification = (value or "").strip(), (justification or "").strip()[:500]
    check_judgement(part, value, justification)
    row = db.session.scalars(sa.select(ScoreJudgement).where(ScoreJudgement.score_month_id == score_month.id,
                                                             ScoreJudgement.user_id == user.id,
                                                             ScoreJudgement.part == part_key)).first()
    old = (row.value, row.justification) if row else (None, None)
    if row is None:
        row = ScoreJudgement(score_month_id=score_month.id, user_id=user.id, part=part_key)
        db.session.add(row)
    row.value, row.justification, row.judged_by_id, row.judged_at = value, justification, actor.id, now
    if old != (value, justification):
        record(actor, "score_month", score_month.id, "judged", month=score_month.month, agent=user.display_name,
               part=part["name"], value=value, old=old[0], justification=justification)
    return row


def judgements_of(score_month: ScoreMonth) -> dict[int, dict[str, ScoreJudgement]]:
    found: dict = {}
    for row in db.session.scalars(sa.select(ScoreJudgement).where(ScoreJudgement.score_month_id == score_month.id)):
        found.setdefault(row.user_id, {})[row.part] = row
    return found


# --- the table -------------------------------------------------------------------------------------------

@dataclass
class Table:
    """A month's scores as shown: the live computation of a draft, or a published month's frozen snapshot."""

    data: dict

    @property
    def agents(self) -> list[dict]:
        return self.data["agents"]

    def agent(self, user_id: int) -> dict | None:
        return next((row for row in self.agents if row["user_id"] == user_id), None)


def scored_users(data: figures.MonthData, judged: dict) -> list[User]:
    """Active agents and reviewers of the after-sales team, and anyone the month's data or judgements count for."""
    ids = {user_id for user_id, agent in data.agents.items() if agent.busy} | set(judged)
    aftersales = sa.or_(User.team_id.is_(None), User.team_id.in_(sa.select(Team.id).where(Team.function == "aftersales")))
    statement = sa.select(User).where(sa.or_(sa.and_(User.active.is_(True), User.role.in_(SCORED_ROLES), aftersales),
                                             User.id.in_(ids)))
    return list(db.session.scalars(statement.order_by(User.display_name, User.id)))


def _agent_row(user: User, rule_set: dict, data: figures.MonthData, judged: dict) -> dict:
    figure_values, industry, basis = figures.part_inputs(data, user.id)
    own = judged.get(user.id, {})
    judgements, justifications = {}, {}
    for part in rule_set["parts"]:
        row = own.get(part["key"])
        if part["kind"] in rules.JUDGEMENT_KINDS and row is not None:
            judgements[part["key"]] = judgement_value(part, row.value)
            justifications[part["key"]] = {"value": row.value, "text": row.justification}
    score = rules.score_month(rule_set, figure_values, industry, judgements)
    parts = {}
    for part in rule_set["parts"]:
        scored = score.parts[part["key"]]
        parts[part["key"]] = {"points": decimal_text(scored.points), "sentences": [[t, v] for t, v in scored.sentences],
                              "basis": basis.get(part["key"]), "judgement": justifications.get(part["key"])}
    return {"user_id": user.id, "name": user.display_name, "username": user.username,
            "total": decimal_text(score.total), "parts": parts}


def _rank_and_split(rows: list[dict], pool: Decimal | None) -> None:
    rows.sort(key=lambda row: (-Decimal(row["total"]), row["name"], row["user_id"]))
    for position, row in enumerate(rows):
        same = position and Decimal(rows[position - 1]["total"]) == Decimal(row["total"])
        row["rank"] = rows[position - 1]["rank"] if same else position + 1
    shares = rules.split_bonus(pool, {row["user_id"]: Decimal(row["total"]) for row in rows}) if pool is not None else {}
    for row in rows:
        row["bonus"] = decimal_text(shares[row["user_id"]]) if row["user_id"] in shares else None


def compute(score_month: ScoreMonth, zone: tzinfo, now: datetime, rule_set_row: RuleSet | None = None,
            rule_set: dict | None = None) -> Table:
    """The month's table from the data as it is now (a fixed number of queries whatever the agents or rows)."""
    if rule_set is None:
        rule_set_row, rule_set = in_force(score_month.shop, month_end(score_month, zone))
    data = figures.month_data(score_month, zone)
    judged = judgements_of(score_month)
    rows = [_agent_row(user, rule_set, data, judged) for user in scored_users(data, judged)]
    _rank_and_split(rows, score_month.bonus_pool)
    return Table({"month": score_month.month, "shop_id": score_month.shop_id, "computed_at": now.isoformat(),
                  "rule_set": {"id": rule_set_row.id if rule_set_row else None, "scope": rule_set.get("scope"),
                               "number": rule_set_row.number if rule_set_row else 0},
                  "rules": rule_set, "industry": dict(score_month.industry or {}),
                  "shop_figures": dict(score_month.shop_figures or {}),
                  "pool": decimal_text(score_month.bonus_pool) if score_month.bonus_pool is not None else None,
                  "agents": rows, "evidence": {}})


def table_of(score_month: ScoreMonth, zone: tzinfo, now: datetime) -> Table:
    if score_month.state == "published" and score_month.snapshot:
        return Table(score_month.snapshot)
    return compute(score_month, zone, now)


def _freeze(score_month: ScoreMonth, table: Table, zone: tzinfo) -> None:
    evidence = figures.evidence(score_month, zone)
    table.data["evidence"] = {str(user_id): parts for user_id, parts in evidence.items()}
    score_month.snapshot = table.data


def publish(score_month: ScoreMonth, actor: User, now: datetime, zone: tzinfo) -> Table:
    if score_month.state == "published":
        raise ScoringRefused(_l("The month is already published."))
    if now < month_end(score_month, zone):
        raise ScoringRefused(_l("A month can be published once it is over."))
    table = compute(score_month, zone, now)
    missing = [_("%(name)s: %(part)s", name=row["name"], part=part["name"]) for row in table.agents
               for part in table.data["rules"]["parts"]
               if part["kind"] in rules.JUDGEMENT_KINDS and row["parts"][part["key"]]["judgement"] is None]
    if missing:
        raise ScoringRefused(_l("Enter the lead's judgements first: %(missing)s.", missing=timeline.list_text(missing[:8])))
    _freeze(score_month, table, zone)
    score_month.state, score_month.published_at, score_month.published_by_id = "published", now, actor.id
    score_month.rule_set_id = table.data["rule_set"]["id"]
    record(actor, "score_month", score_month.id, "published", month=score_month.month,
           totals={row["name"]: row["total"] for row in table.agents})
    return table


def reopen(score_month: ScoreMonth, reason: str, actor: User) -> None:
    if score_month.state != "published":
        raise ScoringRefused(_l("Only a published month can be reopened."))
    if not reason.strip():
        raise ScoringRefused(_l("Say why the month is reopened."))
    score_month.state = "draft"
    score_month.reopen_count += 1
    record(actor, "score_month", score_month.id, "reopened", month=score_month.month, reason=reason.strip()[:500])


def refreeze(score_month: ScoreMonth, user_ids: set[int], zone: tzinfo, now: datetime) -> dict:
    """Recompute the rows of ``user_ids`` from the data as it is now and freeze them into the published
    snapshot; every other row stays as published. Ranks and bonus shares follow the new totals."""
    snapshot = dict(score_month.snapshot)
    rule_set = snapshot["rules"]
    data = figures.month_data(score_month, zone)
    judged = judgements_of(score_month)
    users = {user.id: user for user in db.session.scalars(sa.select(User).where(User.id.in_(user_ids)))}
    rows = [row for row in snapshot["agents"] if row["user_id"] not in user_ids]
    before = {row["user_id"]: row["total"] for row in snapshot["agents"]}
    rows += [_agent_row(users[user_id], rule_set, data, judged) for user_id in user_ids if user_id in users]
    _rank_and_split(rows, score_month.bonus_pool)
    evidence = dict(snapshot.get("evidence") or {})
    fresh = figures.evidence(score_month, zone, user_ids)
    for user_id in user_ids:
        evidence[str(user_id)] = fresh.get(user_id, {})
    snapshot.update(agents=rows, evidence=evidence, refrozen_at=now.isoformat())
    score_month.snapshot = snapshot
    return {row["user_id"]: [before.get(row["user_id"]), row["total"]] for row in rows if row["user_id"] in user_ids}


# --- the agent's side: acknowledging and appealing ---------------------------------------------------------

def appeal_deadline(score_month: ScoreMonth) -> datetime | None:
    if score_month.published_at is None:
        return None
    return score_month.published_at + timedelta(days=int(get_setting("scoring_appeal_days")))


def acknowledged(score_month: ScoreMonth, user: User) -> ScoreAcknowledgement | None:
    return db.session.get(ScoreAcknowledgement, (score_month.id, user.id))


def acknowledge(score_month: ScoreMonth, user: User, now: datetime) -> None:
    if score_month.state != "published":
        raise ScoringRefused(_l("The month is not published yet."))
    if acknowledged(score_month, user) is None:
        db.session.add(ScoreAcknowledgement(score_month_id=score_month.id, user_id=user.id, acknowledged_at=now))
        record(user, "score_month", score_month.id, "acknowledged", month=score_month.month)


def appeal(score_month: ScoreMonth, user: User, part_key: str, case_id: int | None, comment: str, now: datetime) -> ScoreAppeal:
    """An agent appeals one part of their published score, or one case's attribution, within the window."""
    if score_month.state != "published":
        raise ScoringRefused(_l("Only a published month can be appealed."))
    if now > appeal_deadline(score_month):
        raise ScoringRefused(_l("The appeal window of this month closed on %(day)s.",
                                day=appeal_deadline(score_month).strftime("%Y-%m-%d %H:%M UTC")))
    if not comment.strip():
        raise ScoringRefused(_l("Say why you appeal."))
    row = Table(score_month.snapshot).agent(user.id)
    if row is None or part_key not in row["parts"]:
        raise ScoringRefused(_l("You have no score for that part this month."))
    if case_id is not None and case_id not in (score_month.snapshot.get("evidence", {}).get(str(user.id), {}).get(part_key) or []):
        raise ScoringRefused(_l("That case is not behind your figure for this part."))
    duplicate = db.session.scalars(sa.select(ScoreAppeal).where(
        ScoreAppeal.score_month_id == score_month.id, ScoreAppeal.user_id == user.id, ScoreAppeal.part == part_key,
        ScoreAppeal.case_id.is_(None) if case_id is None else ScoreAppeal.case_id == case_id,
        ScoreAppeal.state.in_(OPEN_APPEAL_STATES))).first()
    if duplicate is not None:
        raise ScoringRefused(_l("You already have an open appeal for this."))
    item = ScoreAppeal(score_month_id=score_month.id, user_id=user.id, part=part_key, case_id=case_id,
                       comment=comment.strip()[:1000], created_at=now)
    db.session.add(item)
    db.session.flush()
    record(user, "score_month", score_month.id, "appealed", month=score_month.month, appeal=item.id, part=part_key,
           case=case_id, comment=item.comment)
    return item


def may_decide(item: ScoreAppeal, actor: User) -> bool:
    """A lead answers an open appeal; an escalated one waits for a manager."""
    if item.state == "open":
        return actor.can("lead_scoring") and actor.id != item.user_id
    if item.state == "escalated":
        return actor.can("decide_escalated_appeals") and actor.id != item.user_id
    return False


def _check_deciding(item: ScoreAppeal, actor: User) -> None:
    if item.state not in OPEN_APPEAL_STATES:
        raise ScoringRefused(_l("This appeal has been answered."))
    if not may_decide(item, actor):
        raise ScoringRefused(_l("An escalated appeal is decided by a manager.") if item.state == "escalated"
                             else _l("You cannot decide your own appeal."))


def accept(item: ScoreAppeal, score_month: ScoreMonth, answer: str, actor: User, now: datetime, zone: tzinfo, *,
           move_to: User | None = None, new_value: str | None = None, justification: str = "") -> dict:
    """Accept an appeal: a case's attribution moves out of the agent's month (to ``move_to``, or to nobody);
    a judgement part takes the new value; then the affected rows are recomputed and re-frozen."""
    _check_deciding(item, actor)
    if score_month.state != "published":
        raise ScoringRefused(_l("Reopened months are changed directly; publish it again instead."))
    if not answer.strip():
        raise ScoringRefused(_l("Say what was decided."))
    affected = {item.user_id}
    if item.case_id is not None:
        if move_to is not None and move_to.id == item.user_id:
            raise ScoringRefused(_l("Move the case to someone else, or to nobody."))
        db.session.add(ScoreAttribution(score_month_id=score_month.id, case_id=item.case_id, from_user_id=item.user_id,
                                        to_user_id=move_to.id if move_to else None, appeal_id=item.id))
        if move_to is not None:
            affected.add(move_to.id)
    elif new_value:
        rule_set = score_month.snapshot["rules"]
        save_judgement(score_month, rule_set, item.user, item.part, new_value, justification or answer, actor, now,
                       allow_published=True)
    db.session.flush()
    changed = refreeze(score_month, affected, zone, now)
    item.state, item.answer, item.answered_by_id, item.answered_at = "accepted", answer.strip()[:1000], actor.id, now
    record(actor, "score_month", score_month.id, "appeal_accepted", month=score_month.month, appeal=item.id,
           case=item.case_id, moved_to=move_to.display_name if move_to else None, answer=item.answer,
           totals={str(user_id): pair for user_id, pair in changed.items()})
    return changed


def reject(item: ScoreAppeal, score_month: ScoreMonth, answer: str, actor: User, now: datetime) -> None:
    _check_deciding(item, actor)
    if not answer.strip():
        raise ScoringRefused(_l("Say why the appeal is rejected."))
    item.state, item.answer, item.answered_by_id, item.answered_at = "rejected", answer.strip()[:1000], actor.id, now
    record(actor, "score_month", score_month.id, "appeal_rejected", month=score_month.month, appeal=item.id,
           answer=item.answer)


def escalate(item: ScoreAppeal, score_month: ScoreMonth, answer: str, actor: User, now: datetime) -> None:
    if item.state != "open" or not may_decide(item, actor):
        raise ScoringRefused(_l("Only an open appeal can be escalated, by a lead."))
    item.state, item.escalated_at = "escalated", now
    item.answer = answer.strip()[:1000]
    record(actor, "score_month", score_month.id, "appeal_escalated", month=score_month.month, appeal=item.id,
           note=item.answer)


def appeals_of(score_month: ScoreMonth, user: User | None = None) -> list[ScoreAppeal]:
    statement = sa.select(ScoreAppeal).where(ScoreAppeal.score_month_id == score_month.id)
    if user is not None:
        statement = statement.where(ScoreAppeal.user_id == user.id)
    return list(db.session.scalars(statement.order_by(ScoreAppeal.created_at.desc(), ScoreAppeal.id.desc())
                                   .options(sa.orm.selectinload(ScoreAppeal.user))))


def appeal_counts(score_month: ScoreMonth) -> dict[str, int]:
    counts = dict.fromkeys(("open", "escalated", "accepted", "rejected"), 0)
    counts.update(db.session.execute(sa.select(ScoreAppeal.state, sa.func.count()).where(
        ScoreAppeal.score_month_id == score_month.id).group_by(ScoreAppeal.state)).all())
    return counts


def can_lead(user: User) -> bool:
    return user.role in PERMISSIONS["lead_scoring"]
