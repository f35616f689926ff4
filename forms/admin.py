"""Forms of the administration pages: accounts, teams, settings."""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, IntegerField, PasswordField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

from forms.base import MAX_LIMIT, USERNAME_RULE, MoneyField, choices_from, coerce_id, money_places, password_rules, team_choices
from models import ROLES, TEAM_FUNCTIONS, Team, User, db


class UserForm(FlaskForm):
    """Create or edit an account. ``editing`` is the user being edited, if any."""

    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64), USERNAME_RULE])
    display_name = StringField(_l("Name shown to colleagues"), validators=[DataRequired(), Length(max=64)])
    role = SelectField(_l("Role"), choices=choices_from(ROLES))
    team_id = SelectField(_l("Team"), coerce=coerce_id)
    compensation_limit = MoneyField(
        _l("Compensation limit (yuan)"),
        places=2,
        validators=[Optional(), money_places, NumberRange(min=0, max=MAX_LIMIT, message=_l("From 0 to 1,000,000 yuan."))],
        description=_l("Leave empty for the default of the role."),
    )
    unlimited = BooleanField(_l("No limit"))
    active = BooleanField(_l("Active (can log in)"), default=True)
    password = PasswordField(_l("Password"))
    version = HiddenField()
    submit = SubmitField(_l("Save"))

    def __init__(self, *args, editing: User | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.editing = editing
        self.team_id.choices = team_choices()
        if editing is None:
            self.password.validators = password_rules()
        else:
            self.password.validators = [Optional(), Length(min=8, max=128, message=_l("Between 8 and 128 characters."))]
            self.password.description = _l("Leave empty to keep the current password.")

    def validate_username(self, field):
        existing = db.session.scalar(User.by_username(field.data))
        if existing is not None and existing is not self.editing:
            raise ValidationError(_l("This username is taken."))

    def validate_team_id(self, field):
        if field.data and db.session.get(Team, field.data) is None:
            raise ValidationError(_l("Choose a team from the list."))


class TeamForm(FlaskForm):
    name = StringField(_l("Team name"), validators=[DataRequired(), Length(max=64)])
    function = SelectField(_l("Function"), choices=choices_from(TEAM_FUNCTIONS))
    active = BooleanField(_l("Active"), default=True)
    version = HiddenField()
    submit = SubmitField(_l("Save"))

    def __init__(self, *args, editing: Team | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.editing = editing

    def validate_name(self, field):
        field.data = field.data.strip()
        existing = db.session.scalar(sa.select(Team).where(Team.name == field.data))
        if existing is not None and existing is not self.editing:
            raise ValidationError(_l("A team with this name exists."))


class SettingsForm(FlaskForm):
    # The refresh interval is set on the case rules page only, beside the big-promotion one it alternates with.
    limit_agent = MoneyField(_l("Default compensation limit: agent"), places=2, validators=[InputRequired(), money_places, NumberRange(min=0, max=MAX_LIMIT)])
    limit_reviewer = MoneyField(_l("Default compensation limit: review specialist"), places=2, validators=[InputRequired(), money_places, NumberRange(min=0, max=MAX_LIMIT)])
    limit_lead = MoneyField(_l("Default compensation limit: team lead"), places=2, validators=[InputRequired(), money_places, NumberRange(min=0, max=MAX_LIMIT)])
    limit_manager = MoneyField(
        _l("Default compensation limit: shop manager"),
        places=2,
        validators=[Optional(), money_places, NumberRange(min=0, max=MAX_LIMIT)],
        description=_l("Leave empty for no limit."),
    )
    scoring_appeal_days = IntegerField(
        _l("Days an agent may appeal a published monthly score"),
        validators=[InputRequired(), NumberRange(min=1, max=31, message=_l("From 1 to 31 days."))],
    )
    submit = SubmitField(_l("Save settings"))
