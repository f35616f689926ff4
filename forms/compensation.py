"""Forms of compensation: requests, decisions, payment, refunds, budgets, limits."""

from __future__ import annotations

from decimal import Decimal

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp

from compensation.labels import COMPENSATION_REASONS, PAYOUTS
from forms.base import MAX_LIMIT, MONEY_RANGE, MoneyField, choices_from, coerce_id, money_places, shop_choices
from models import CENT

COMPENSATION_RANGE = NumberRange(min=CENT, max=Decimal("100000"), message=_l("Enter an amount above 0 and at most 100,000 yuan."))


class CompensationForm(FlaskForm):
    amount = MoneyField(_l("Amount (yuan)"), places=2, validators=[InputRequired(), money_places, COMPENSATION_RANGE])
    reason = SelectField(_l("Reason"), choices=choices_from(COMPENSATION_REASONS))
    payout = SelectField(_l("Paid by"), choices=choices_from(PAYOUTS))
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=500)])


class DecisionForm(FlaskForm):
    """Approve, reject or forward. A rejection needs a note, and paying back more than the buyer paid needs the
    confirmation and a reason: both are the rules' to refuse (compensation.rules.decide), with the figures."""

    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=500)])
    confirm_over_order = BooleanField(_l("I confirm paying back more than the buyer paid"))
    over_order_reason = StringField(_l("Why pay back more than the buyer paid"), validators=[Optional(), Length(max=200)])
    version = HiddenField()


class PaidForm(FlaskForm):
    channel = SelectField(_l("Paid by"), choices=choices_from(PAYOUTS))
    reference = StringField(_l("Payment reference"), validators=[DataRequired(), Length(max=100)])


class RefundForm(FlaskForm):
    amount = MoneyField(_l("Refund (yuan)"), places=2, validators=[InputRequired(), money_places, MONEY_RANGE])
    reason = StringField(_l("Why it differs from the proposal"), validators=[Optional(), Length(max=300)])
    version = HiddenField()


class BudgetForm(FlaskForm):
    shop_id = SelectField(_l("Shop"), coerce=coerce_id)
    month = StringField(_l("Month"), validators=[DataRequired(), Regexp(r"^20\d\d-(0[1-9]|1[0-2])$", message=_l("A month such as 2026-11."))])
    amount = MoneyField(_l("Budget (yuan)"), places=2, validators=[InputRequired(), money_places, MONEY_RANGE])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.shop_id.choices = shop_choices()


class LimitForm(FlaskForm):
    compensation_limit = MoneyField(_l("Compensation limit (yuan)"), places=2,
                                      validators=[Optional(), money_places, NumberRange(min=0, max=MAX_LIMIT, message=_l("From 0 to 1,000,000 yuan."))])
    unlimited = BooleanField(_l("No limit"))
    version = HiddenField()

    def validate(self, extra_validators=None) -> bool:
        # Checked here, not in validate_compensation_limit: Optional() ends that chain on an empty field.
        valid = super().validate(extra_validators)
        if valid and self.compensation_limit.data is None and not self.unlimited.data:
            self.compensation_limit.errors = [_l("Enter a limit or tick No limit.")]
            return False
        return valid
