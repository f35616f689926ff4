"""Forms of the shell (the language switch)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField
from wtforms.validators import DataRequired


class LanguageForm(FlaskForm):
    locale = HiddenField(validators=[DataRequired()])
