"""One FlaskForm per action. Database checks live in validate_<field>."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    DecimalField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    EqualTo,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    StopValidation,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from models import (
    CASE_CATEGORIES,
    CASE_KINDS,
    COMPENSATION_REASONS,
    FLAGS,
    PAYOUTS,
    PERMISSIONS,
    PLATFORMS,
    PRIORITIES,
    RESPONSIBILITIES,
    ROLES,
    TEAM_FUNCTIONS,
    WAITING_FOR,
    Shop,
    Team,
    User,
    db,
)

USERNAME_RULE = Regexp(r"^[A-Za-z0-9_.-]+$", message=_l("Use letters, digits, dot, dash or underscore only."))
MAX_LIMIT = Decimal("1000000")


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


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)])
    remember = BooleanField(_l("Keep me logged in on this computer"))
    submit = SubmitField(_l("Log in"))


def password_rules():
    return [DataRequired(), Length(min=8, max=128, message=_l("Between 8 and 128 characters."))]


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=256)])
    new_password = PasswordField(_l("New password"), validators=password_rules())
    confirm = PasswordField(
        _l("Repeat the new password"),
        validators=[DataRequired(), EqualTo("new_password", message=_l("The two new passwords differ."))],
    )
    submit = SubmitField(_l("Change password"))


class LanguageForm(FlaskForm):
    locale = HiddenField(validators=[DataRequired()])


def team_choices(include_none: bool = True):
    teams = db.session.scalars(sa.select(Team).where(Team.active).order_by(Team.name)).all()
    choices = [SelectChoice(0, _l("(no team)"))] if include_none else []
    return choices + [SelectChoice(team.id, team.name) for team in teams]


def choices_from(labels: dict) -> list[SelectChoice]:
    return [SelectChoice(key, label) for key, label in labels.items()]


class UserForm(FlaskForm):
    """Create or edit an account. ``editing`` is the user being edited, if any."""

    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64), USERNAME_RULE])
    display_name = StringField(_l("Name shown to colleagues"), validators=[DataRequired(), Length(max=64)])
    role = SelectField(_l("Role"), choices=choices_from(ROLES))
    team_id = SelectField(_l("Team"), coerce=int)
    compensation_limit = DecimalField(
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
    poll_seconds = IntegerField(
        _l("Refresh interval of live pages (seconds)"),
        validators=[InputRequired(), NumberRange(min=2, max=300, message=_l("From 2 to 300 seconds."))],
    )
    limit_agent = DecimalField(_l("Default compensation limit: agent"), places=2, validators=[InputRequired(), money_places, NumberRange(min=0, max=MAX_LIMIT)])
    limit_reviewer = DecimalField(_l("Default compensation limit: review specialist"), places=2, validators=[InputRequired(), money_places, NumberRange(min=0, max=MAX_LIMIT)])
    limit_lead = DecimalField(_l("Default compensation limit: team lead"), places=2, validators=[InputRequired(), money_places, NumberRange(min=0, max=MAX_LIMIT)])
    limit_manager = DecimalField(
        _l("Default compensation limit: shop manager"),
        places=2,
        validators=[Optional(), money_places, NumberRange(min=0, max=MAX_LIMIT)],
        description=_l("Leave empty for no limit."),
    )
    submit = SubmitField(_l("Save settings"))


# --- cases -----------------------------------------------------------------------

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


class CaseForm(FlaskForm):
    """Create or edit a case."""

    shop_id = SelectField(_l("Shop"), coerce=int)
    order_no = StringField(_l("Order number"), validators=[DataRequired(), Length(max=64)])
    platform_case_id = StringField(_l("Platform after-sales number"), validators=[Optional(), Length(max=64)])
    buyer_nick = StringField(_l("Buyer nickname"), validators=[DataRequired(), Length(max=64)])
    buyer_phone = StringField(_l("Buyer phone"), validators=[Optional(), Length(max=32), Regexp(r"^[0-9+\- ]*$", message=_l("Digits, +, - and spaces only."))])
    kind = SelectField(_l("Kind"), choices=choices_from(CASE_KINDS))
    category = SelectField(_l("Problem category"), choices=choices_from(CASE_CATEGORIES))
    priority = SelectField(_l("Priority"), coerce=int, choices=[SelectChoice(k, v) for k, v in PRIORITIES.items()], default=2)
    assignee_id = SelectField(_l("Assignee"), coerce=int)
    order_amount = DecimalField(_l("Order amount (yuan)"), places=2, validators=[InputRequired(), money_places, MONEY_RANGE])
    refund_amount = DecimalField(_l("Refund amount (yuan)"), places=2, validators=[Optional(), money_places, MONEY_RANGE])
    summary = TextAreaField(_l("What the buyer says"), validators=[Optional(), Length(max=500)])
    flag = SelectField(_l("Flag"), choices=optional_choices(FLAGS, _l("(no flag)")), default="")
    flag_note = StringField(_l("Flag note"), validators=[Optional(), Length(max=200)])
    platform_deadline_at = DateTimeLocalField(_l("Platform deadline"), format="%Y-%m-%dT%H:%M", validators=[Optional()],
                                              description=_l("When the marketplace acts by itself if we do not (shop time)."))
    platform_deadline_note = StringField(_l("What the platform will do then"), validators=[Optional(), Length(max=100)])
    version = HiddenField()
    submit = SubmitField(_l("Save"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.shop_id.choices = shop_choices()
        self.assignee_id.choices = worker_choices()

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
    version = HiddenField()


class NoteForm(FlaskForm):
    text = TextAreaField(_l("Note"), validators=[DataRequired(), Length(max=2000)])


class FlagForm(FlaskForm):
    flag = SelectField(_l("Flag"), choices=optional_choices(FLAGS, _l("(no flag)")), default="")
    flag_note = StringField(_l("Flag note"), validators=[Optional(), Length(max=200)])
    version = HiddenField()


class MilestoneForm(FlaskForm):
    milestone = HiddenField(validators=[DataRequired()])
    detail = StringField(_l("Department"), validators=[Optional(), Length(max=64)])
    version = HiddenField()


class AssignForm(FlaskForm):
    assignee_id = SelectField(_l("Assignee"), coerce=int)
    version = HiddenField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.assignee_id.choices = worker_choices()


class VersionForm(FlaskForm):
    """A button that changes a case: carries the version the person saw."""

    version = HiddenField()


class TickForm(FlaskForm):
    step = HiddenField(validators=[DataRequired(), Length(max=300)])
    done = HiddenField()


class EvidenceForm(FlaskForm):
    file = FileField(_l("Photo or short video"), validators=[FileRequired()])


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class CaseRulesForm(FlaskForm):
    promo_mode = BooleanField(_l("Big-promotion mode (tighter deadlines, faster refresh)"))
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
    minutes = IntegerField(_l("Minutes"), validators=[InputRequired(), NumberRange(min=1, max=60 * 24 * 30)])
    promo_minutes = IntegerField(_l("Minutes in big promotions"), validators=[InputRequired(), NumberRange(min=1, max=60 * 24 * 30)])
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


# --- compensation ------------------------------------------------------------------

COMPENSATION_RANGE = NumberRange(min=Decimal("0.01"), max=Decimal("100000"), message=_l("Enter an amount above 0 and at most 100,000 yuan."))


class CompensationForm(FlaskForm):
    amount = DecimalField(_l("Amount (yuan)"), places=2, validators=[InputRequired(), money_places, COMPENSATION_RANGE])
    reason = SelectField(_l("Reason"), choices=choices_from(COMPENSATION_REASONS))
    payout = SelectField(_l("Paid by"), choices=choices_from(PAYOUTS))
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=500)])


class DecisionForm(FlaskForm):
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=500)])
    version = HiddenField()


class PaidForm(FlaskForm):
    channel = SelectField(_l("Paid by"), choices=choices_from(PAYOUTS))
    reference = StringField(_l("Payment reference"), validators=[DataRequired(), Length(max=100)])


class RefundForm(FlaskForm):
    amount = DecimalField(_l("Refund (yuan)"), places=2, validators=[InputRequired(), money_places, MONEY_RANGE])
    reason = StringField(_l("Why it differs from the proposal"), validators=[Optional(), Length(max=300)])
    version = HiddenField()


class BudgetForm(FlaskForm):
    shop_id = SelectField(_l("Shop"), coerce=int)
    month = StringField(_l("Month"), validators=[DataRequired(), Regexp(r"^20\d\d-(0[1-9]|1[0-2])$", message=_l("A month such as 2026-11."))])
    amount = DecimalField(_l("Budget (yuan)"), places=2, validators=[InputRequired(), money_places, MONEY_RANGE])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.shop_id.choices = shop_choices()


class LimitForm(FlaskForm):
    compensation_limit = DecimalField(_l("Compensation limit (yuan)"), places=2,
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
