"""Forms of the login and password pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length

from forms.base import password_rules


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)])
    remember = BooleanField(_l("Keep me logged in on this computer"))
    submit = SubmitField(_l("Log in"))


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=256)])
    new_password = PasswordField(_l("New password"), validators=password_rules())
    confirm = PasswordField(
        _l("Repeat the new password"),
        validators=[DataRequired(), EqualTo("new_password", message=_l("The two new passwords differ."))],
    )
    submit = SubmitField(_l("Change password"))


SOUND_LABEL = _l("Play a short sound")
BROWSER_LABEL = _l("Show a browser notification")


class NotificationsForm(FlaskForm):
    """One's own switches for a new urgent item (a case assigned to me, an approval, a handoff to my team)."""

    sound = BooleanField(SOUND_LABEL)
    browser = BooleanField(BROWSER_LABEL, description=_l("Your browser asks for its permission when you tick this."))
    version = HiddenField()
    submit = SubmitField(_l("Save"))
