"""The handoff sheet's rules: raising an item, the owing side's acknowledgement and work, the raiser's
confirmation, the clocks, routing a case to a team, the end-of-shift handoff and outside parties' links.

Plain functions over models, the acting person and ``now``; every change lands in the timeline
(subject "handoff", and the linked case's own timeline where it concerns the case). The caller commits.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta, tzinfo

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask_babel import lazy_gettext as _l

from cases import evidence, sla
from cases import flow as case_flow
from cases.board import OPEN_STATES as OPEN_CASE_STATES
from handoffs.labels import DEFAULT_DUE_HOURS, HANDOFF_KINDS, KIND_FOR_FUNCTION, OPEN_STATES, OWED_FUNCTION, UNFINISHED_STATES
from models import (
    Case,
    Handoff,
    HandoffFile,
    HandoffLink,
    ShiftCase,
    Team,
    TimelineEvent,
    User,
    UserError,
    db,
    get_setting,
    record,
)

MAJOR_CASE_KINDS = ("complaint", "dispute")
LINK_TOKEN_BYTES = 32  # 256 bits: not guessable, whatever the rate limit lets through


class HandoffRefused(UserError):
    """A step the handoff's rules do not allow; the message is for the person who tried."""


# --- clocks --------------------------------------------------------------------------------------

def due_hours(kind: str) -> int:
    overrides = get_setting("handoff_due_hours") or {}
    return int(overrides.get(kind, DEFAULT_DUE_HOURS[kind]))


def ack_window() -> timedelta:
    return timedelta(minutes=int(get_setting("handoff_ack_minutes")))


def status(item: Handoff, now: datetime, ack: timedelta) -> str:
    """on_time, flagged (not acknowledged in time), overdue (past its due time), waiting (done, for the raiser), closed."""
    if item.state == "closed":
        return "closed"
    if item.state == "done":
        return "waiting"
    if now >= item.due_at:
        return "overdue"
    if item.state == "open" and now >= item.created_at + ack:
        return "flagged"
    return "on_time"


def next_change(item: Handoff, now: datetime, ack: timedelta) -> datetime | None:
    """The next moment the item's status changes with no data change (for a live region's token)."""
    if item.state in ("closed", "done"):
        return None
    moments = [item.due_at]
    if item.state == "open":
        moments.append(item.created_at + ack)
    upcoming = [moment for moment in moments if moment > now]
    return min(upcoming) if upcoming else None


# --- who may do what --------------------------------------------------------------------------

def owes(user: User, item: Handoff) -> bool:
    """The owing side: its team, the named person, or a lead."""
    return user.can("lead_handoffs") or item.owed_user_id == user.id or (user.team_id is not None and user.team_id == item.owed_team_id)


def raised(user: User, item: Handoff) -> bool:
    """The raising side: the person, their team, or a lead."""
    return user.can("lead_handoffs") or item.raised_by_id == user.id or (
        user.team_id is not None and user.team_id == item.raised_team_id)


def _require(allowed: bool) -> None:
    if not allowed:
        raise HandoffRefused(_l("This step belongs to the other side of the handoff."))


def _require_state(item: Handoff, *states: str) -> None:
    if item.state not in states:
        raise HandoffRefused(_l("This handoff has moved on meanwhile; look at it again."))


# --- raising ----------------------------------------------------------------------------------

def team_for_kind(kind: str) -> Team | None:
    """The active team a kind goes to by default."""
    return db.session.scalar(sa.select(Team).where(Team.function == OWED_FUNCTION[kind], Team.active).order_by(Team.id).limit(1))


def raise_handoff(*, kind: str, raiser: User, owed_team: Team, request: str, now: datetime, order_no: str = "",
                  case: Case | None = None, owed_user: User | None = None, due_at: datetime | None = None,
                  **details) -> Handoff:
    """A new item, owed by ``owed_team``. ``details``: the fields a kind carries (invoice_details, items_to_send,
    return_tracking_no, address, appointment_at, contact_phone, share_phone)."""
    if kind not in HANDOFF_KINDS:
        raise HandoffRefused(_l("Unknown kind of handoff."))
    request = request.strip()
    order_no = (order_no or (case.order_no if case else "")).strip()
    if not request:
        raise HandoffRefused(_l("Say what is asked."))
    if not order_no and case is None:
        raise HandoffRefused(_l("Give the order number or the case: it is the key both teams look things up by."))
    if owed_team is None or not owed_team.active:
        raise HandoffRefused(_l("Choose an active team."))
    if owed_user is not None and not owed_user.active:
        raise HandoffRefused(_l("Choose an active colleague."))
    if kind == "installer" and not ((details.get("address") or "").strip() and details.get("appointment_at")):
        raise HandoffRefused(_l("An installer needs the address and the appointment time."))
    if due_at is not None and due_at <= now:
        raise HandoffRefused(_l("The due time must be in the future."))
    item = Handoff(
        kind=kind, state="open", raised_by_id=raiser.id, raised_team_id=raiser.team_id, owed_team_id=owed_team.id,
        owed_user_id=owed_user.id if owed_user else None, case_id=case.id if case else None, order_no=order_no[:64],
        request=request[:2000], due_at=due_at or now + timedelta(hours=due_hours(kind)), created_at=now,
        major=case is not None and (case.kind in MAJOR_CASE_KINDS or case.priority == 0),
        invoice_details=(details.get("invoice_details") or "").strip()[:500],
        items_to_send=(details.get("items_to_send") or "").strip()[:300],
        return_tracking_no=(details.get("return_tracking_no") or "").strip()[:64],
        address=(details.get("address") or "").strip()[:300], appointment_at=details.get("appointment_at"),
        contact_phone=(details.get("contact_phone") or (case.buyer_phone if case else "") or "").strip()[:32],
        share_phone=bool(details.get("share_phone")),
    )
    db.session.add(item)
    db.session.flush()
    record(raiser, "handoff", item.id, "handoff_raised", kind=kind, team=owed_team.name, order_no=item.order_no,
           case=item.case_id, request=item.request)
    if case is not None:
        record(raiser, "case", case.id, "handoff_raised", handoff=item.id, kind=kind, team=owed_team.name)
    return item


def route_case(case: Case, team: Team, request: str, actor: User, rules: sla.Rules, now: datetime) -> Handoff:
    """Routing a case to a department is a handoff owed by that team; the department-response clock follows it."""
    kind = KIND_FOR_FUNCTION.get(team.function, "operations")
    item = raise_handoff(kind=kind, raiser=actor, owed_team=team, request=request, now=now, case=case)
    case_flow.mark_milestone(case, "routed", actor, rules, now, team.name)
    return item


# --- the owing side ------------------------------------------------------------------------------

def _who(user: User | None, party: str) -> str:
    return user.display_name if user is not None else party


def acknowledge(item: Handoff, user: User | None, expected_at: datetime | None, now: datetime, *,
                party: str = "", rules: sla.Rules | None = None) -> None:
    """The owing side has seen it and says when to expect the result. ``party``: an outside link's holder."""
    if user is not None:
        _require(owes(user, item))
    _require_state(item, "open")
    if expected_at is not None and expected_at <= now:
        raise HandoffRefused(_l("The expected time must be in the future."))
    item.state, item.acknowledged_at, item.acknowledged_by, item.expected_at = "acknowledged", now, _who(user, party)[:64], expected_at
    record(user, "handoff", item.id, "handoff_acknowledged", by=_who(user, party), expected=expected_at, via="link" if party else "")
    _department_responded(item, user, now, rules)


def _department_responded(item: Handoff, user: User | None, now: datetime, rules: sla.Rules | None) -> None:
    """A routed case's department-response clock stops when its handoff is first answered."""
    case = item.case
    if case is None or case.routed_at is None or case.department_response_at is not None or rules is None:
        return
    case.department_response_at = now
    record(user, "case", case.id, "milestone", milestone="department_responded", detail=item.owed_team.name)
    case_flow.refresh_deadlines(case, rules, now)


def follow_up(item: Handoff, user: User | None, text: str, now: datetime, *, party: str = "") -> None:
    """Either side (or an outside party) adds a follow-up; it changes no state."""
    if user is not None:
        _require(owes(user, item) or raised(user, item))
    text = text.strip()
    if not text:
        raise HandoffRefused(_l("The follow-up is empty."))
    if item.state == "closed":
        raise HandoffRefused(_l("This handoff is closed."))
    record(user, "handoff", item.id, "handoff_followed_up", text=text[:2000], by=_who(user, party), via="link" if party else "")
    item.updated_at = now


def mark_done(item: Handoff, user: User | None, note: str, now: datetime, *, party: str = "",
              rules: sla.Rules | None = None) -> None:
    """The owing side did what was asked; the raiser confirms or sends it back."""
    if user is not None:
        _require(owes(user, item))
    _require_state(item, *OPEN_STATES)
    note = note.strip()
    if not note:
        raise HandoffRefused(_l("Say what was done."))
    if item.acknowledged_at is None:
        item.acknowledged_at, item.acknowledged_by = now, _who(user, party)[:64]
        _department_responded(item, user, now, rules)
    item.state, item.done_at, item.done_note = "done", now, note[:2000]
    record(user, "handoff", item.id, "handoff_done", note=item.done_note, by=_who(user, party), via="link" if party else "")


def add_file(item: Handoff, upload, user: User | None, now: datetime, *, party: str = "") -> HandoffFile:
    """A photo or video of what was done, checked like a case's evidence."""
    if user is not None:
        _require(owes(user, item) or raised(user, item))
    if item.state == "closed":
        raise HandoffRefused(_l("This handoff is closed."))
    kept = HandoffFile(handoff_id=item.id, added_by=_who(user, party)[:64], added_at=now, **evidence.save_upload(upload, f"h{item.id}"))
    db.session.add(kept)
    record(user, "handoff", item.id, "handoff_file_added", name=kept.original_name, by=_who(user, party), via="link" if party else "")
    return kept


def files_of(item: Handoff) -> list[HandoffFile]:
    return db.session.scalars(sa.select(HandoffFile).where(HandoffFile.handoff_id == item.id).order_by(HandoffFile.id)).all()


# --- the raising side ---------------------------------------------------------------------------

def close(item: Handoff, user: User, now: datetime) -> None:
    _require(raised(user, item))
    _require_state(item, "done")
    item.state, item.closed_at = "closed", now
    record(user, "handoff", item.id, "handoff_closed")


def send_back(item: Handoff, user: User, reason: str, now: datetime) -> None:
    _require(raised(user, item))
    _require_state(item, "done")
    reason = reason.strip()
    if not reason:
        raise HandoffRefused(_l("Say why it goes back."))
    item.state, item.done_at, item.sent_back_count = "sent_back", None, item.sent_back_count + 1
    record(user, "handoff", item.id, "handoff_sent_back", reason=reason[:2000])


def open_for_case(case_id: int) -> list[Handoff]:
    return db.session.scalars(sa.select(Handoff).where(Handoff.case_id == case_id, Handoff.state.in_(UNFINISHED_STATES))
                              .order_by(Handoff.id)).all()


def of_case(case_id: int) -> list[Handoff]:
    return db.session.scalars(sa.select(Handoff).where(Handoff.case_id == case_id).order_by(Handoff.id)).all()


def check_case_closing(case: Case, reason: str, actor: User) -> None:
    """Closing a case whose handoffs are still open needs an explicit reason, which goes to its timeline."""
    still_open = open_for_case(case.id)
    if not still_open:
        return
    if not reason.strip():
        raise HandoffRefused(_l("Handoffs %(refs)s are still open: close them, or say why the case closes anyway.",
                                refs=", ".join(item.reference for item in still_open)))
    record(actor, "case", case.id, "noted", text=str(_l("Closed with open handoffs %(refs)s: %(reason)s",
                                                         refs=", ".join(item.reference for item in still_open),
                                                         reason=reason.strip()[:1000])))


# --- the end-of-shift handoff ---------------------------------------------------------------------

def unfinished_cases(user: User) -> list[Case]:
    """The cases a person still owns that are not finished."""
    return db.session.scalars(sa.select(Case).where(Case.assignee_id == user.id, Case.state.in_(OPEN_CASE_STATES))
                              .order_by(Case.next_due_at.is_(None), Case.next_due_at, Case.id)).all()


def hand_over_shift(giver: User, receiver: User, notes: dict[int, str], note: str, now: datetime) -> Handoff:
    """All of ``giver``'s unfinished cases, each with its note, offered to ``receiver`` in one step.

    Nothing moves yet: the cases change owner when the receiver accepts.
    """
    if receiver.id == giver.id or not receiver.active or not receiver.can("work_cases"):
        raise HandoffRefused(_l("Hand the shift to an active colleague who works cases."))
    cases = unfinished_cases(giver)
    if not cases:
        raise HandoffRefused(_l("You have no unfinished case to hand over."))
    pending = db.session.scalar(sa.select(Handoff.id).where(Handoff.kind == "shift", Handoff.raised_by_id == giver.id,
                                                            Handoff.state == "open"))
    if pending:
        raise HandoffRefused(_l("Your shift handoff H%(id)s is still waiting to be accepted.", id=pending))
    team = receiver.team or giver.team
    if team is None:
        raise HandoffRefused(_l("The colleague has no team; ask an administrator to set one."))
    item = raise_handoff(kind="shift", raiser=giver, owed_team=team, owed_user=receiver, now=now,
                         request=note.strip() or str(_l("Unfinished cases of my shift")), order_no="-")
    for case in cases:
        db.session.add(ShiftCase(handoff_id=item.id, case_id=case.id, note=(notes.get(case.id) or "").strip()[:500]))
    return item


def accept_shift(item: Handoff, receiver: User, rules: sla.Rules, now: datetime) -> int:
    """The receiver takes the cases: each still owned by the giver changes owner now. Returns how many moved."""
    if item.kind != "shift":
        raise HandoffRefused(_l("This is not a shift handoff."))
    if item.owed_user_id != receiver.id:
        raise HandoffRefused(_l("Only the colleague it was handed to accepts it."))
    _require_state(item, "open")
    moved = 0
    for entry in db.session.scalars(sa.select(ShiftCase).where(ShiftCase.handoff_id == item.id)):
        case = entry.case
        if case.assignee_id != item.raised_by_id or case.state not in OPEN_CASE_STATES:
            continue  # taken or finished by someone meanwhile
        case_flow.assign(case, receiver, receiver, rules, now)
        if entry.note:
            record(receiver, "case", case.id, "noted", text=str(_l("Shift handoff note: %(note)s", note=entry.note)))
        moved += 1
    item.state = "closed"
    item.accepted_at = item.acknowledged_at = item.done_at = item.closed_at = now
    item.acknowledged_by = receiver.display_name[:64]
    record(receiver, "handoff", item.id, "shift_accepted", cases=moved)
    return moved


def local_midnight(now: datetime, zone: tzinfo) -> datetime:
    local = now.astimezone(zone)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def uncovered_cases(now: datetime, zone: tzinfo) -> list[Case]:
    """Open cases whose owner is not at work today: nobody, a disabled account, or no sign of them since midnight.

    At work today: logged in or did anything recorded in the timeline since the shop's midnight.
    """
    at_work = sa.select(TimelineEvent.actor_id).where(TimelineEvent.created_at >= local_midnight(now, zone),
                                                      TimelineEvent.actor_id.is_not(None))
    active = sa.select(User.id).where(User.active)
    return db.session.scalars(
        sa.select(Case).where(Case.state.in_(OPEN_CASE_STATES),
                              sa.or_(Case.assignee_id.is_(None), Case.assignee_id.not_in(at_work), Case.assignee_id.not_in(active)))
        .order_by(Case.next_due_at.is_(None), Case.next_due_at, Case.id).limit(500)).all()


# --- outside parties' links ------------------------------------------------------------------------

class LinkRefused(Exception):
    """The link is unknown, expired or revoked (``reason``)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_link(item: Handoff, party: str, user: User, now: datetime, hours: int | None = None) -> str:
    """A new secret link for ``party``; returns the token, which is shown once and kept only as a hash."""
    _require(raised(user, item) or owes(user, item))
    if item.state == "closed":
        raise HandoffRefused(_l("This handoff is closed."))
    party = party.strip()
    if not party:
        raise HandoffRefused(_l("Say who gets the link."))
    token = secrets.token_urlsafe(LINK_TOKEN_BYTES)
    hours = hours or int(get_setting("handoff_link_hours"))
    link = HandoffLink(handoff_id=item.id, token_hash=token_hash(token), party=party[:64], created_by_id=user.id,
                       created_at=now, expires_at=now + timedelta(hours=hours))
    db.session.add(link)
    db.session.flush()
    record(user, "handoff", item.id, "link_created", party=link.party, link=link.id, expires=link.expires_at)
    return token


def revoke_link(link: HandoffLink, user: User, now: datetime) -> None:
    _require(raised(user, link.handoff) or owes(user, link.handoff))
    if link.revoked_at is None:
        link.revoked_at = now
        record(user, "handoff", link.handoff_id, "link_revoked", party=link.party, link=link.id)


def open_link(token: str, now: datetime) -> HandoffLink:
    """The link a token opens, or LinkRefused. Looked up by hash: the token itself is never stored."""
    if not token or len(token) > 100:
        raise LinkRefused("unknown")
    link = db.session.scalar(sa.select(HandoffLink).where(HandoffLink.token_hash == token_hash(token)))
    if link is None:
        raise LinkRefused("unknown")
    if link.revoked_at is not None:
        raise LinkRefused("revoked")
    if now >= link.expires_at:
        raise LinkRefused("expired")
    return link


def links_of(item: Handoff) -> list[HandoffLink]:
    return db.session.scalars(sa.select(HandoffLink).where(HandoffLink.handoff_id == item.id).order_by(HandoffLink.id)).all()


# --- what each team sees -----------------------------------------------------------------------------

def with_row_relations(stmt):
    """What an inbox row shows, loaded in the same query: the count of queries does not grow with the items."""
    return stmt.options(so.joinedload(Handoff.raised_by), so.joinedload(Handoff.raised_team),
                        so.joinedload(Handoff.owed_team), so.joinedload(Handoff.owed_user))


def owed_by(team_id: int | None, user: User):
    """Unfinished items the team (or the person by name) owes, soonest due first."""
    mine = Handoff.owed_user_id == user.id
    owner = sa.or_(Handoff.owed_team_id == team_id, mine) if team_id is not None else mine
    return with_row_relations(sa.select(Handoff).where(owner, Handoff.state.in_(UNFINISHED_STATES)).order_by(Handoff.due_at, Handoff.id))


def raised_by(team_id: int | None, user: User):
    """Unfinished items the team (or the person) raised and waits for."""
    mine = Handoff.raised_by_id == user.id
    owner = sa.or_(Handoff.raised_team_id == team_id, mine) if team_id is not None else mine
    return with_row_relations(sa.select(Handoff).where(owner, Handoff.state.in_(UNFINISHED_STATES)).order_by(Handoff.due_at, Handoff.id))


def waiting_count(user: User) -> int:
    """The header's number: items the person's team (or the person) must act on."""
    mine = Handoff.owed_user_id == user.id
    owner = sa.or_(Handoff.owed_team_id == user.team_id, mine) if user.team_id is not None else mine
    return db.session.scalar(sa.select(sa.func.count()).where(owner, Handoff.state.in_(OPEN_STATES))) or 0


def late_for_lead(now: datetime, ack: timedelta) -> int:
    """A lead's number: major-complaint items not acknowledged in time, anywhere."""
    return db.session.scalar(sa.select(sa.func.count()).where(
        Handoff.major.is_(True), Handoff.state == "open", Handoff.created_at <= now - ack)) or 0


def next_major_flag(now: datetime, ack: timedelta) -> datetime | None:
    """When the next major-complaint item turns unacknowledged-in-time (the lead's counter changes then)."""
    oldest = db.session.scalar(sa.select(sa.func.min(Handoff.created_at)).where(
        Handoff.major.is_(True), Handoff.state == "open", Handoff.created_at > now - ack))
    return oldest + ack if oldest else None


def export_statement(team_id: int | None, start: datetime, end: datetime):
    """Items raised in [start, end), by or for one team (or all), oldest first."""
    stmt = with_row_relations(sa.select(Handoff).where(Handoff.created_at >= start, Handoff.created_at < end))
    if team_id:
        stmt = stmt.where(sa.or_(Handoff.owed_team_id == team_id, Handoff.raised_team_id == team_id))
    return stmt.order_by(Handoff.created_at, Handoff.id)
