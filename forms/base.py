"""What every form module shares: money checks, choices from label tables, button-only forms."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DecimalField, HiddenField, SelectMultipleField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Regexp, StopValidation, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from models import MAX_ID, PERMISSIONS, PLATFORMS, Shop, Team, User, db

USERNAME_RULE = Regexp(r"^[A-Za-z0-9_.-]+$", message=_l("Use letters, digits, dot, dash or underscore only."))


MAX_LIMIT = Decimal("1000000")
MONEY_CEILING = Decimal("1E12")  # far above any range checked below, small enough to quantize to fen


def coerce_id(value) -> int:
    """An id from a form: a whole number a database id can be; anything else is not a valid choice."""
    number = int(value)
    if not 0 <= number <= MAX_ID:
        raise ValueError("id out of range")
    return number


class MoneyField(DecimalField):
    """Yuan as a finite Decimal. 'NaN', 'Infinity' and '1e309' are refused here, before any check compares them."""

    def __init__(self, label=None, validators=None, **kwargs):
        kwargs.setdefault("places", 2)
        super().__init__(label, validators, **kwargs)

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        if self.data is not None and (not self.data.is_finite() or abs(self.data) >= MONEY_CEILING):
            self.data = None
            raise ValueError(str(_l("Enter an amount in yuan, such as 12.50.")))


def money_places(form, field):
    """Yuan have fen and no finer: at most two decimal places."""
    if field.data is None:
        return
    if not field.data.is_finite():
        raise StopValidation(_l("Enter an amount in yuan, such as 12.50."))
    if field.data.as_tuple().exponent < -2:
        raise ValidationError(_l("At most two decimal places."))


class EmptyForm(FlaskForm):
    """For button-only POSTs: carries the CSRF token and nothing else."""

    submit = SubmitField(_l("Confirm"))


def password_rules():
    return [DataRequired(), Length(min=8, max=128, message=_l("Between 8 and 128 characters."))]


def team_choices(include_none: bool = True):
    teams = db.session.scalars(sa.select(Team).where(Team.active).order_by(Team.name)).all()
    choices = [SelectChoice(0, _l("(no team)"))] if include_none else []
    return choices + [SelectChoice(team.id, team.name) for team in teams]


def choices_from(labels: dict) -> list[SelectChoice]:
    return [SelectChoice(key, label) for key, label in labels.items()]


MONEY_RANGE = NumberRange(min=0, max=MAX_LIMIT, message=_l("From 0 to 1,000,000 yuan."))


def shop_choices():
    shops = db.session.scalars(sa.select(Shop).where(Shop.active).order_by(Shop.platform, Shop.name)).all()
    return [SelectChoice(shop.id, f"{PLATFORMS.get(shop.platform, shop.platform)} · {shop.name}") for shop in shops]


def worker_choices(include_none: bool = True):
    people = db.session.scalars(
        sa.select(User).where(User.active, User.role.in_(PERMISSIONS["work_cases"])).order_by(User.display_name)
    ).all()
    choices = [SelectChoice(0, _l("(nobody)"))] if include_none else []
    return choices + [SelectChoice(user.id, user.display_name) for user in people]


def optional_choices(labels: dict, empty_label) -> list[SelectChoice]:
    return [SelectChoice("", empty_label)] + choices_from(labels)


class VersionForm(FlaskForm):
    """A button that changes a case: carries the version the person saw."""

    version = HiddenField()


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()
