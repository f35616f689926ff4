"""Forms of the case board, the case page and the rules a lead sets."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    HiddenField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, DataRequired, InputRequired, Length, NumberRange, Optional, Regexp, ValidationError

from cases import sla
from cases.board import agent_options
from cases.bulk import MAX_CASES as BULK_MAX
from cases.bulk import TARGETS as BULK_TARGETS
from cases.labels import CASE_CATEGORIES, CASE_KINDS, CASE_STATES, FLAGS, OUTCOMES, PRIORITIES, RESPONSIBILITIES, WAITING_FOR
from forms.base import (
    MONEY_RANGE,
    MoneyField,
    MultiCheckboxField,
    choices_from,
    coerce_id,
    money_places,
    optional_choices,
    shop_choices,
    worker_choices,
)
from models import CENT
from spreadsheets import clean_text

PHONE = re.compile(r"^[0-9+\- ]*$")


def text_of(value, limit: int, *, single_line: bool = True) -> str:
    """Typed text normalised as an import normalises a cell (spreadsheets.clean_text): line endings, control
    characters and spaces alike, so that saving a case unchanged changes nothing an import compares."""
    return clean_text(value or "", limit, single_line=single_line)[0]


class CaseForm(FlaskForm):
    """Create or edit a case."""

    shop_id = SelectField(_l("Shop"), coerce=coerce_id)
    order_no = StringField(_l("Order number"), validators=[DataRequired(), Length(max=64)])
    platform_case_id = StringField(_l("Platform after-sales number"), validators=[Optional(), Length(max=64)])
    # Some exports have no buyer name (the newer Tmall one, Douyin's): their cases are known by the platform's number.
    buyer_nick = StringField(_l("Buyer nickname"), validators=[Length(max=64)])
    buyer_phone = StringField(_l("Buyer phone"), validators=[Optional(), Length(max=32)])
    kind = SelectField(_l("Kind"), choices=choices_from(CASE_KINDS))
    category = SelectField(_l("Problem category"), choices=choices_from(CASE_CATEGORIES))
    priority = SelectField(_l("Priority"), coerce=int, choices=[SelectChoice(k, v) for k, v in PRIORITIES.items()], default=2)
    assignee_id = SelectField(_l("Assignee"), coerce=coerce_id)
    order_amount = MoneyField(_l("Order amount (yuan)"), places=2, validators=[InputRequired(), money_places, MONEY_RANGE])
    refund_amount = MoneyField(_l("Refund amount (yuan)"), places=2, validators=[Optional(), money_places, MONEY_RANGE])
    reship_cost = MoneyField(_l("Reship cost (yuan)"), places=2, validators=[Optional(), money_places, MONEY_RANGE],
                             description=_l("Goods and postage of what was sent again."))
    freight_cost = MoneyField(_l("Freight paid by the shop (yuan)"), places=2, validators=[Optional(), money_places, MONEY_RANGE],
                              description=_l("Return or exchange freight the shop paid."))
    summary = TextAreaField(_l("What the buyer says"), validators=[Optional(), Length(max=500)])
    flag = SelectField(_l("Flag"), choices=optional_choices(FLAGS, _l("(no flag)")), default="")
    flag_note = StringField(_l("Flag note"), validators=[Optional(), Length(max=200)])
    # With seconds, as the marketplaces give it (an import compares it to the second); typed by hand, without.
    platform_deadline_at = DateTimeLocalField(_l("Platform deadline"), format=["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"],
                                              validators=[Optional()], render_kw={"step": 1},
                                              description=_l("When the marketplace acts by itself if we do not (shop time)."))
    platform_deadline_note = StringField(_l("What the platform will do then"), validators=[Optional(), Length(max=100)])
    version = HiddenField()
    submit = SubmitField(_l("Save"))

    def __init__(self, *args, masked_phone: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.shop_id.choices = shop_choices()
        self.assignee_id.choices = worker_choices()
        # Editing shows the stored number masked; sending the mask back unchanged keeps the number.
        self.masked_phone = masked_phone

    @property
    def phone_unchanged(self) -> bool:
        return bool(self.masked_phone) and (self.buyer_phone.data or "").strip() == self.masked_phone

    def case_values(self, zone, case=None) -> dict:
        """The values a case is created or changed with (times typed in shop time ``zone``)."""
        deadline = self.platform_deadline_at.data
        return {
            "shop_id": self.shop_id.data,
            "order_no": text_of(self.order_no.data, 64),
            "platform_case_id": text_of(self.platform_case_id.data, 64) or None,
            "buyer_nick": text_of(self.buyer_nick.data, 64),
            "buyer_phone": case.buyer_phone if case is not None and self.phone_unchanged else (self.buyer_phone.data or "").strip() or None,
            "kind": self.kind.data,
            "category": self.category.data,
            "priority": self.priority.data,
            "assignee_id": self.assignee_id.data or None,
            "order_amount": self.order_amount.data.quantize(CENT),
            "refund_amount": self.refund_amount.data.quantize(CENT) if self.refund_amount.data is not None else None,
            "reship_cost": self.reship_cost.data.quantize(CENT) if self.reship_cost.data is not None else None,
            "freight_cost": self.freight_cost.data.quantize(CENT) if self.freight_cost.data is not None else None,
            "summary": text_of(self.summary.data, 500, single_line=False),
            "flag": self.flag.data or None,
            "flag_note": text_of(self.flag_note.data, 200),
            "platform_deadline_at": self.deadline_kept(deadline, zone, case),
            "platform_deadline_note": text_of(self.platform_deadline_note.data, 100),
        }

    @staticmethod
    def deadline_kept(typed, zone, case):
        """The typed deadline in ``zone``; the stored one when it shows as typed (a browser may send it without
        its seconds or fractions), so that saving unchanged keeps the marketplace's exact moment."""
        if typed is None:
            return None
        stored = case.platform_deadline_at if case is not None else None
        if stored is not None:
            local = stored.astimezone(zone).replace(tzinfo=None)
            if local.replace(microsecond=0) == typed or (typed.second == 0 and local.replace(second=0, microsecond=0) == typed):
                return stored
        return typed.replace(tzinfo=zone)

    def validate_buyer_nick(self, field):
        if not (field.data or "").strip() and not (self.platform_case_id.data or "").strip():
            raise ValidationError(_l("Give the buyer's nickname, or the platform after-sales number."))

    def validate_buyer_phone(self, field):
        if not self.phone_unchanged and not PHONE.match(field.data or ""):
            raise ValidationError(_l("Digits, +, - and spaces only."))

    def validate_refund_amount(self, field):
        if field.data is not None and self.order_amount.data is not None and field.data > self.order_amount.data:
            raise ValidationError(_l("The refund cannot exceed the order amount."))


class StateForm(FlaskForm):
    target = HiddenField(validators=[DataRequired()])
    # Quick actions post only what they need; an absent select is "", not an invalid choice.
    waiting_for = SelectField(_l("Waiting for"), choices=optional_choices(WAITING_FOR, _l("(choose)")), default="")
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=2000)])
    responsibility = SelectField(_l("Responsible party"), choices=optional_choices(RESPONSIBILITIES, _l("(choose)")), default="")
    person = StringField(_l("Responsible person"), validators=[Optional(), Length(max=64)])
    cause = TextAreaField(_l("Cause"), validators=[Optional(), Length(max=2000)])
    result = TextAreaField(_l("What was done"), validators=[Optional(), Length(max=2000)])
    buyer_feedback = TextAreaField(_l("Buyer feedback"), validators=[Optional(), Length(max=2000)])
    outcome = SelectField(_l("Outcome"), choices=optional_choices(OUTCOMES, _l("(none of these)")), default="")
    handoffs_reason = TextAreaField(_l("Why close with handoffs still open"), validators=[Optional(), Length(max=1000)])
    version = HiddenField()


class NoteForm(FlaskForm):
    text = TextAreaField(_l("Note"), validators=[DataRequired(), Length(max=2000)])


class FlagForm(FlaskForm):
    flag = SelectField(_l("Flag"), choices=optional_choices(FLAGS, _l("(no flag)")), default="")
    flag_note = StringField(_l("Flag note"), validators=[Optional(), Length(max=200)])
    version = HiddenField()


class PlatformConflictForm(FlaskForm):
    """A person settles one difference between the platform and the case (cases/platform.settle_conflict)."""

    field = HiddenField(validators=[DataRequired(), AnyOf(("state", "category", "priority", "flag", "flag_note", "summary"))])
    decision = HiddenField(validators=[DataRequired(), AnyOf(("platform", "ours"))])
    version = HiddenField()


class MilestoneForm(FlaskForm):
    milestone = HiddenField(validators=[DataRequired()])
    detail = StringField(_l("Department"), validators=[Optional(), Length(max=64)])
    version = HiddenField()


class AssignForm(FlaskForm):
    assignee_id = SelectField(_l("Assignee"), coerce=coerce_id)
    version = HiddenField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.assignee_id.choices = worker_choices()


class TickForm(FlaskForm):
    step = HiddenField(validators=[DataRequired(), Length(max=300)])
    done = HiddenField()


class EvidenceForm(FlaskForm):
    file = FileField(_l("Photo or short video"), validators=[FileRequired()])


class DurationField(StringField):
    """A duration typed in hours and minutes ("2小时30分", "2 h 30 min", "2:30", "90"); ``data`` is whole minutes.

    Shown back as the words the rules page uses, so what a lead reads is what they can type."""

    def process_formdata(self, valuelist):
        if not valuelist or not valuelist[0].strip():
            self.data = None
            return
        try:
            self.data = sla.parse_duration(valuelist[0])
        except sla.DurationError as refused:
            self.data = None
            raise ValueError(str(refused.message)) from None

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return sla.duration_text(self.data) if self.data is not None else ""


class CaseRulesForm(FlaskForm):
    promo_mode = BooleanField(_l("Big-promotion mode (tighter deadlines, faster refresh)"))
    round_robin_new_cases = BooleanField(_l("Share new unassigned cases in turn among the colleagues on duty"),
                                         description=_l("Whoever has the fewest open cases gets the next one; with nobody on duty "
                                                        "new cases stay unassigned."))
    poll_seconds = IntegerField(_l("Refresh interval (seconds)"), validators=[InputRequired(), NumberRange(min=2, max=300, message=_l("From 2 to 300 seconds."))])
    promo_poll_seconds = IntegerField(_l("Refresh interval in big promotions (seconds)"), validators=[InputRequired(), NumberRange(min=2, max=300, message=_l("From 2 to 300 seconds."))])
    at_risk_percent = IntegerField(_l("At risk when less than this share of the time is left (%)"), validators=[InputRequired(), NumberRange(min=1, max=90)])
    pausing_waits = MultiCheckboxField(_l("Clocks pause while waiting for"), choices=choices_from(WAITING_FOR))
    business_hours = BooleanField(_l("Count only business hours"))
    opens = StringField(_l("Opens at"), default="09:00", validators=[Regexp(r"^([01]\d|2[0-3]):[0-5]\d$", message=_l("A time such as 09:00."))])
    closes = StringField(_l("Closes at"), default="22:00", validators=[Regexp(r"^([01]\d|2[0-3]):[0-5]\d$", message=_l("A time such as 09:00."))])
    weekdays = MultiCheckboxField(_l("Working days"), coerce=int, choices=[
        SelectChoice(0, _l("Mon")), SelectChoice(1, _l("Tue")), SelectChoice(2, _l("Wed")), SelectChoice(3, _l("Thu")),
        SelectChoice(4, _l("Fri")), SelectChoice(5, _l("Sat")), SelectChoice(6, _l("Sun"))])
    submit = SubmitField(_l("Save rules"))

    def validate_weekdays(self, field):
        if self.business_hours.data and not field.data:
            raise ValidationError(_l("Choose at least one working day."))

    def validate_closes(self, field):
        if self.business_hours.data and field.data == self.opens.data:
            raise ValidationError(_l("Opening and closing times must differ."))


class SlaPolicyForm(FlaskForm):
    clock = SelectField(_l("Clock"))
    kind = SelectField(_l("Kind"), choices=optional_choices(CASE_KINDS, _l("(every kind)")))
    priority = SelectField(_l("Priority"), choices=[SelectChoice("", _l("(every priority)"))] + [SelectChoice(str(k), v) for k, v in PRIORITIES.items()])
    minutes = DurationField(_l("Duration"), validators=[InputRequired(message=_l("Enter a duration, for example 2 h 30 min."))],
                            description=_l("Hours and minutes, for example 2 h 30 min, 2:30 or 90 (minutes)."))
    promo_minutes = DurationField(_l("Duration in big promotions"),
                                  validators=[InputRequired(message=_l("Enter a duration, for example 2 h 30 min."))])
    submit = SubmitField(_l("Save clock"))

    def __init__(self, *args, clock_labels=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.clock.choices = choices_from(clock_labels or {})

    def validate_promo_minutes(self, field):
        if field.data and self.minutes.data and field.data > self.minutes.data:
            raise ValidationError(_l("Big promotions tighten deadlines: at most the normal minutes."))


class ProcedureForm(FlaskForm):
    steps = TextAreaField(_l("Steps, one per line"), validators=[DataRequired(), Length(max=5000)])
    quick_replies = TextAreaField(_l("Quick replies, one per line"), validators=[Optional(), Length(max=5000)])
    version = HiddenField()
    submit = SubmitField(_l("Save procedure"))


class BulkForm(FlaskForm):
    """One action on the cases ticked on the list (cases/bulk.py), or on every case of its filter.

    ``rows`` are the ticked cases as "id:version" the page showed; ``shown`` every row of the page (used when
    "select all on this page" is ticked, so it works without JavaScript); ``everything`` asks for every case
    of the filter, which is first shown for confirmation with the versions read then.
    """

    action = SelectField(_l("Action"), choices=[SelectChoice("assign", _l("Assign")), SelectChoice("state", _l("Change state")),
                                                SelectChoice("flag", _l("Set flag")), SelectChoice("note", _l("Add note"))])
    rows = SelectMultipleField(validate_choice=False)
    shown = SelectMultipleField(validate_choice=False)
    page_all = BooleanField(_l("Select all on this page"))
    everything = BooleanField()
    assignee_id = SelectField(_l("Assign to"), coerce=coerce_id, validate_choice=False)  # checked when assigning
    target = SelectField(_l("New state"), default="",
                         choices=[SelectChoice("", _l("(choose)"))] + [SelectChoice(k, CASE_STATES[k]) for k in BULK_TARGETS])
    waiting_for = SelectField(_l("Waiting for"), choices=optional_choices(WAITING_FOR, _l("(choose)")), default="")
    state_note = StringField(_l("Why (needed to reopen)"), validators=[Optional(), Length(max=2000)])
    flag = SelectField(_l("Flag"), choices=optional_choices(FLAGS, _l("(no flag)")), default="")
    flag_note = StringField(_l("Flag note"), validators=[Optional(), Length(max=200)])
    note = StringField(_l("Note"), validators=[Length(max=2000)])  # not Optional(): a blank note must reach validate_note

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.assignee_id.choices = [SelectChoice(0, _l("(nobody)"))] + [
            SelectChoice(int(user_id), name) for user_id, name in agent_options()]

    def validate_rows(self, field):
        if len(field.data or []) > BULK_MAX or len(self.shown.data or []) > BULK_MAX:
            raise ValidationError(_l("A bulk action takes at most %(max)s cases at a time.", max=BULK_MAX))

    def validate_target(self, field):
        if self.action.data == "state" and not field.data:
            raise ValidationError(_l("Choose the new state."))

    def validate_waiting_for(self, field):
        if self.action.data == "state" and self.target.data == "waiting" and not field.data:
            raise ValidationError(_l("Say what the cases are waiting for."))

    def validate_note(self, field):
        if self.action.data == "note" and not (field.data or "").strip():
            raise ValidationError(_l("Write the note."))

    def validate_assignee_id(self, field):
        if self.action.data == "assign" and field.data not in {choice.value for choice in field.choices}:
            raise ValidationError(_l("Choose whom to assign to."))


class DutyForm(FlaskForm):
    """Switch someone on or off duty: the state wanted, not a toggle, so a double click changes nothing twice."""

    on = HiddenField(validators=[DataRequired(), AnyOf(("0", "1"))])
