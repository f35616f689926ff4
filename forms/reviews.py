"""Forms of the review worklist: the steps on a review, the lead's settings and reply templates."""

from __future__ import annotations

import re

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateTimeLocalField, HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp, ValidationError

from forms.base import MultiCheckboxField, choices_from, coerce_id
from models import PERMISSIONS, PLATFORMS, User, db
from reviews import worklist
from reviews.labels import CHANNELS, CONTACT_OUTCOMES, OUTCOMES

WHEN = {"format": "%Y-%m-%dT%H:%M"}
CLOCK = Regexp(r"^([01]\d|2[0-3]):[0-5]\d$", message=_l("A time of day such as 10:00."))
EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")
ROBOT_KINDS = ("wecom", "dingtalk")


def reviewer_choices(empty_label=None):
    people = db.session.scalars(sa.select(User).where(User.active, User.role.in_(PERMISSIONS["work_reviews"]))
                                .order_by(User.display_name)).all()
    head = [SelectChoice(0, empty_label)] if empty_label is not None else []
    return head + [SelectChoice(person.id, person.display_name) for person in people]


def cause_choices():
    return [SelectChoice(cause, cause) for cause in worklist.causes()]


class ContactForm(FlaskForm):
    channel = SelectField(_l("Channel"), choices=choices_from(CHANNELS))
    outcome = SelectField(_l("Outcome"), choices=choices_from(CONTACT_OUTCOMES))
    contacted_at = DateTimeLocalField(_l("When (shop time)"), validators=[Optional()],
                                      description=_l("Empty: now."), **WHEN)
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=500)])
    version = HiddenField()


class HandleForm(FlaskForm):
    outcome = SelectField(_l("What was done"), choices=choices_from(OUTCOMES))
    reply = TextAreaField(_l("Reply as posted"), validators=[Optional(), Length(max=5000)])
    case_id = SelectField(_l("Case to link"), coerce=coerce_id, default=0, validate_choice=False)
    note = TextAreaField(_l("Reason or note"), validators=[Optional(), Length(max=500)])
    version = HiddenField()


class CauseForm(FlaskForm):
    cause = SelectField(_l("Cause"))
    version = HiddenField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.cause.choices = cause_choices()


class FollowUpForm(FlaskForm):
    text = TextAreaField(_l("Follow-up review text"), validators=[DataRequired(), Length(max=5000)])
    followed_up_at = DateTimeLocalField(_l("When (shop time)"), validators=[InputRequired()], **WHEN)
    version = HiddenField()


class AssignForm(FlaskForm):
    assignee_id = SelectField(_l("Reviewer"), coerce=coerce_id)
    version = HiddenField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.assignee_id.choices = reviewer_choices(_l("(nobody)"))


class VersionOnlyForm(FlaskForm):
    version = HiddenField()


class TemplateForm(FlaskForm):
    body = TextAreaField(_l("Body"), validators=[Optional(), Length(max=2000)])
    version = HiddenField()

    def validate_body(self, field):
        found = worklist.forbidden_in(field.data or "")
        if found:
            raise ValidationError(_l("Marketplace rules forbid offering anything for a review (%(words)s); "
                                     "this template cannot be saved.", words="、".join(found)))


def _lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _check_addresses(field):
    bad = [line for line in re.split(r"[\s,;，；]+", field.data or "") if line and not EMAIL.match(line)]
    if bad:
        # gettext, not the lazy form: a lazy string counts as safe markup, and the value is what was typed
        raise ValidationError(_("Not an email address: %(value)s", value=bad[0][:80]))


class SettingsForm(FlaskForm):
    """The lead's settings; the reply windows' fields (window_<platform>_…) are added per platform."""

    list_time = StringField(_l("The day's list forms at"), validators=[DataRequired(), CLOCK])
    summary_time = StringField(_l("The end-of-day summary is sent at"), validators=[DataRequired(), CLOCK])
    assignment = SelectField(_l("Sharing out"), choices=[SelectChoice("round_robin", _l("Round-robin among the reviewers")),
                                                         SelectChoice("manual", _l("By hand"))])
    reviewers = MultiCheckboxField(_l("Reviewers sharing the list (none ticked: every review specialist)"), coerce=int)
    causes = TextAreaField(_l("Causes, one per line"), validators=[DataRequired(), Length(max=2000)])
    opening = TextAreaField(_l("Brand's opening line"), validators=[Optional(), Length(max=200)])
    closing = TextAreaField(_l("Brand's closing line"), validators=[Optional(), Length(max=200)])
    emails = TextAreaField(_l("Summary to (department head)"), validators=[Optional(), Length(max=2000)])
    cc = TextAreaField(_l("In copy (the brand)"), validators=[Optional(), Length(max=2000)])
    robots = TextAreaField(_l("Group robots, one per line: wecom URL, or dingtalk URL SECRET"),
                           validators=[Optional(), Length(max=4000)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reviewers.choices = reviewer_choices()

    def validate_causes(self, field):
        causes = _lines(field.data)
        if any(len(cause) > 32 for cause in causes):
            raise ValidationError(_l("A cause has at most 32 characters."))
        if len(set(causes)) != len(causes):
            raise ValidationError(_l("A cause is listed twice."))
        if worklist.OTHER_CAUSE not in causes:
            raise ValidationError(_l("Keep “%(cause)s”: a review that fits no cause needs it.", cause=worklist.OTHER_CAUSE))

    def validate_opening(self, field):
        if worklist.forbidden_in(field.data or ""):
            raise ValidationError(_l("Marketplace rules forbid offering anything for a review."))

    validate_closing = validate_opening

    def validate_emails(self, field):
        _check_addresses(field)

    def validate_cc(self, field):
        _check_addresses(field)

    def validate_robots(self, field):
        for line in _lines(field.data):
            parts = line.split()
            if parts[0] not in ROBOT_KINDS or len(parts) not in (2, 3) or not parts[1].startswith(("https://", "http://")):
                raise ValidationError(_l("Write each robot as: wecom URL, or dingtalk URL SECRET."))

    def cause_list(self) -> list[str]:
        return _lines(self.causes.data)

    def email_list(self, field) -> list[str]:
        return [item for item in re.split(r"[\s,;，；]+", field.data or "") if item]

    def robot_list(self, previous: list[dict]) -> list[dict]:
        """Robots as stored; a line naming a known URL without its secret keeps the stored secret."""
        known = {robot.get("url"): robot.get("secret", "") for robot in previous}
        robots = []
        for line in _lines(self.robots.data):
            kind, url, *secret = line.split()
            robots.append({"kind": kind, "url": url, "secret": secret[0] if secret else known.get(url, "")})
        return robots


def settings_form(**values) -> SettingsForm:
    """The settings form with each platform's reply window (max characters, days, closes at a follow-up)."""

    class Form(SettingsForm):
        pass

    for platform, label in PLATFORMS.items():
        setattr(Form, f"window_{platform}_chars", IntegerField(
            _l("%(platform)s: reply at most (characters)", platform=label), validators=[InputRequired(), NumberRange(min=1, max=5000)]))
        setattr(Form, f"window_{platform}_days", IntegerField(
            _l("%(platform)s: reply within (days)", platform=label), validators=[InputRequired(), NumberRange(min=1, max=365)]))
        setattr(Form, f"window_{platform}_follow_up", BooleanField(_l("%(platform)s: no reply after a follow-up review",
                                                                     platform=label)))
    return Form(**values)
