"""Forms of the handoff sheet: raising an item, the owing side's steps, the raiser's, links, the shift handoff, rules."""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, DateTimeLocalField, HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp

from forms.base import choices_from, coerce_id, team_choices
from handoffs.labels import DEFAULT_DUE_HOURS, HANDOFF_KINDS
from models import PERMISSIONS, User, db

WHEN = {"format": "%Y-%m-%dT%H:%M"}


def colleague_choices(empty_label):
    people = db.session.scalars(sa.select(User).where(User.active, User.role.in_(PERMISSIONS["work_handoffs"]))
                                .order_by(User.display_name)).all()
    return [SelectChoice(0, empty_label)] + [SelectChoice(person.id, person.display_name) for person in people]


class HandoffForm(FlaskForm):
    kind = SelectField(_l("Kind"), choices=choices_from({k: v for k, v in HANDOFF_KINDS.items() if k != "shift"}))
    owed_team_id = SelectField(_l("Owed by (team)"), coerce=coerce_id)
    owed_user_id = SelectField(_l("Owed by (person, optional)"), coerce=coerce_id, default=0)
    order_no = StringField(_l("Order number"), validators=[Optional(), Length(max=64)])
    case_id = HiddenField()
    request = TextAreaField(_l("What is asked"), validators=[DataRequired(), Length(max=2000)])
    due_at = DateTimeLocalField(_l("Due (shop time)"), validators=[Optional()], description=_l("Empty: the default for the kind."), **WHEN)
    invoice_details = TextAreaField(_l("Invoice details"), validators=[Optional(), Length(max=500)])
    items_to_send = StringField(_l("Accessory or gift to send"), validators=[Optional(), Length(max=300)])
    return_tracking_no = StringField(_l("Return tracking number"), validators=[Optional(), Length(max=64)])
    address = StringField(_l("Address"), validators=[Optional(), Length(max=300)])
    appointment_at = DateTimeLocalField(_l("Appointment (shop time)"), validators=[Optional()], **WHEN)
    contact_phone = StringField(_l("Buyer's phone for the other side"), validators=[
        Optional(), Length(max=32), Regexp(r"^[0-9+\- ]*$", message=_l("Digits, +, - and spaces only."))])
    share_phone = BooleanField(_l("Show the phone to an outside party's link"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.owed_team_id.choices = team_choices(include_none=False)
        self.owed_user_id.choices = colleague_choices(_l("(anyone in the team)"))


class RouteForm(FlaskForm):
    """Routing a case: the team it goes to and what is asked of them."""

    team_id = SelectField(_l("Team"), coerce=coerce_id)
    request = TextAreaField(_l("What is asked"), validators=[DataRequired(), Length(max=2000)])
    version = HiddenField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.team_id.choices = team_choices(include_none=False)


class AcknowledgeForm(FlaskForm):
    expected_at = DateTimeLocalField(_l("Expected by (shop time)"), validators=[Optional()], **WHEN)
    version = HiddenField()


class FollowUpForm(FlaskForm):
    text = TextAreaField(_l("Follow-up"), validators=[DataRequired(), Length(max=2000)])


class DoneForm(FlaskForm):
    note = TextAreaField(_l("What was done"), validators=[DataRequired(), Length(max=2000)])
    version = HiddenField()


class SendBackForm(FlaskForm):
    reason = TextAreaField(_l("Why it goes back"), validators=[DataRequired(), Length(max=2000)])
    version = HiddenField()


class HandoffFileForm(FlaskForm):
    file = FileField(_l("Photo or short video"), validators=[FileRequired()])


class LinkForm(FlaskForm):
    party = StringField(_l("Who gets the link"), validators=[DataRequired(), Length(max=64)],
                        description=_l("For example the installer's or the outsourced warehouse's name."))
    hours = IntegerField(_l("Valid for (hours)"), validators=[Optional(), NumberRange(min=1, max=720)])


class ShiftForm(FlaskForm):
    """The end-of-shift handoff: to whom, a general note, and a note per case (note_<case id>, added by the view)."""

    receiver_id = SelectField(_l("Hand to"), coerce=coerce_id)
    note = TextAreaField(_l("Note for the whole shift"), validators=[Optional(), Length(max=2000)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.receiver_id.choices = colleague_choices(_l("(choose)"))


class HandoffRulesForm(FlaskForm):
    ack_minutes = IntegerField(_l("Flag when not acknowledged within (minutes)"),
                               validators=[InputRequired(), NumberRange(min=5, max=24 * 60)])
    link_hours = IntegerField(_l("Outside parties' links open for (hours)"), validators=[InputRequired(), NumberRange(min=1, max=720)])


def rules_form(**values) -> HandoffRulesForm:
    """The rules form with one due-hours field per kind (due_<kind>)."""

    class Form(HandoffRulesForm):
        pass

    for kind, label in HANDOFF_KINDS.items():
        setattr(Form, f"due_{kind}", IntegerField(label, default=DEFAULT_DUE_HOURS[kind],
                                                  validators=[InputRequired(), NumberRange(min=1, max=24 * 30)]))
    return Form(**values)
