"""Forms of the scoring area: the month's figures, the lead's judgements, publishing, appeals, the rules, and the
after-sales report's settings and its send button."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import HiddenField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, DataRequired, Length, Optional, Regexp, ValidationError

from forms.base import MONEY_RANGE, MoneyField, coerce_id, money_places, worker_choices
from forms.reviews import CLOCK, _check_addresses
from scoring.figures import decimal_text
from scoring.labels import INDUSTRY_LABELS, SHOP_LABELS

ADDRESS_SEPARATORS = re.compile(r"[\s,;，；]+")


class ReportSettingsForm(FlaskForm):
    """Who gets the monthly report (the robots are the review summary's) and when, on the 1st."""

    emails = TextAreaField(_l("Monthly report to (the manager)"), validators=[Optional(), Length(max=2000)],
                           description=_l("E-mail addresses, one per line. The group robots are those of the review summary."))
    report_time = StringField(_l("Sent on the 1st at"), validators=[DataRequired(), CLOCK])

    def validate_emails(self, field):
        _check_addresses(field)

    def email_list(self) -> list[str]:
        return [item for item in ADDRESS_SEPARATORS.split(self.emails.data or "") if item]


class SendReportForm(FlaskForm):
    """The send button: the period shown on the page."""

    period = HiddenField(validators=[AnyOf(("week", "month"))])
    start = HiddenField(validators=[Regexp(r"^\d{4}-\d{2}-\d{2}$")])


def _figure_check(key):
    def check(form, field):
        if (field.data or "").strip():
            try:
                decimal_text(key, field.data)
            except ValueError as problem:
                raise ValidationError(str(problem)) from None
    return check


class MonthValuesForm(FlaskForm):
    """The industry values, the shop's figures and the bonus pool of one month (fields added below)."""

    bonus_pool = MoneyField(_l("Bonus pool (yuan)"), validators=[Optional(), money_places, MONEY_RANGE])
    version = HiddenField()

    def values(self) -> tuple[dict, dict]:
        industry = {key: decimal_text(key, getattr(self, f"industry_{key}").data) for key in INDUSTRY_LABELS
                    if (getattr(self, f"industry_{key}").data or "").strip()}
        shop = {key: decimal_text(key, getattr(self, f"shop_{key}").data) for key in SHOP_LABELS
                if (getattr(self, f"shop_{key}").data or "").strip()}
        return industry, shop


for _key, _label in INDUSTRY_LABELS.items():
    setattr(MonthValuesForm, f"industry_{_key}", StringField(_label, validators=[Optional(), Length(max=32), _figure_check(_key)]))
for _key, _label in SHOP_LABELS.items():
    setattr(MonthValuesForm, f"shop_{_key}", StringField(_label, validators=[Optional(), Length(max=32), _figure_check(_key)]))


class JudgementForm(FlaskForm):
    user_id = HiddenField(validators=[DataRequired()])
    part = HiddenField(validators=[DataRequired(), Length(max=32)])
    value = StringField(_l("Judgement"), validators=[DataRequired(), Length(max=32)])
    justification = StringField(_l("Why"), validators=[DataRequired(), Length(max=500)])


class ReasonForm(FlaskForm):
    reason = TextAreaField(_l("Why"), validators=[DataRequired(), Length(max=500)])
    version = HiddenField()


class AppealForm(FlaskForm):
    part = HiddenField(validators=[DataRequired(), Length(max=32)])
    case_id = HiddenField(validators=[Optional()])
    comment = TextAreaField(_l("Why you appeal"), validators=[DataRequired(), Length(max=1000)])


DECISIONS = {"accept": _l("Accept"), "reject": _l("Reject"), "escalate": _l("Escalate to the manager")}


class DecideForm(FlaskForm):
    decision = SelectField(_l("Decision"), choices=[SelectChoice(key, label) for key, label in DECISIONS.items()])
    answer = TextAreaField(_l("Answer"), validators=[DataRequired(), Length(max=1000)])
    move_to = SelectField(_l("The case counts for"), coerce=coerce_id, default=0)
    new_value = StringField(_l("New judgement"), validators=[Optional(), Length(max=32)])
    version = HiddenField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.move_to.choices = worker_choices()


class RulesForm(FlaskForm):
    """The numbers come as fields named after rules.editable_fields; the form carries the rest."""

    note = StringField(_l("Why the rules change"), validators=[DataRequired(), Length(max=500)])
    based_on = HiddenField()


class ValuesImportForm(FlaskForm):
    file = FileField(_l("CSV or Excel file"), validators=[FileRequired()])
