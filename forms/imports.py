"""Forms of the case import: upload, the column mapping, confirmation."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import HiddenField, SelectField, StringField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Regexp, ValidationError

import spreadsheets
from forms import base
from models import PLATFORMS, Shop, db

TOKEN_RULE = Regexp(r"^[A-Za-z0-9_-]{32}$")


def shop_choices():
    return [SelectChoice(0, _l("(each row names its shop)"))] + base.shop_choices()


class UploadForm(FlaskForm):
    file = FileField(_l("Export file"), validators=[
        FileRequired(_l("Choose the file to import.")),
        FileAllowed(["csv", "xlsx"], _l("Only CSV or Excel .xlsx files.")),
    ])
    platform = SelectField(_l("Platform"), choices=[SelectChoice(key, label) for key, label in PLATFORMS.items()])
    shop_id = SelectField(_l("Shop for rows without a shop"), coerce=base.coerce_id, default=0)
    submit = SubmitField(_l("Preview"))

    def __init__(self, *args, max_bytes: int, max_rows: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.shop_id.choices = shop_choices()
        self.file.description = _("CSV (UTF-8 or GBK) or Excel .xlsx; at most %(size)s and %(rows)s rows.",
                                  size=spreadsheets.size_text(max_bytes), rows=f"{max_rows:,}")

    def validate_shop_id(self, field):
        if not field.data:
            return
        shop = db.session.get(Shop, field.data)
        if shop is None or not shop.active:
            raise ValidationError(_l("Choose a shop from the list."))
        if shop.platform != self.platform.data:
            raise ValidationError(_l("This shop is on %(platform)s; choose that platform or another shop.",
                                     platform=shop.platform_label))


class ConfirmForm(FlaskForm):
    token = HiddenField(validators=[DataRequired(), TOKEN_RULE])
    submit = SubmitField(_l("Import"))


PHONE_EXPORT_REASON_LENGTH = (2, 200)


class PhoneExportForm(FlaskForm):
    """A file with buyers' full phone numbers: the person says why; the reason goes into the personal data log.

    The filter's fields come with it as plain inputs (cases.board.CaseFilter reads them).
    """

    reason = StringField(_l("Why you need the full numbers"), filters=[lambda value: value.strip() if value else value], validators=[
        DataRequired(_l("Say why you need the full numbers.")),
        Length(*PHONE_EXPORT_REASON_LENGTH, message=_l("Between %(min)d and %(max)d characters.")),
    ])


class ForgetMappingForm(FlaskForm):
    platform = HiddenField(validators=[DataRequired()])
    submit = SubmitField(_l("Forget the saved mapping"))

    def validate_platform(self, field):
        if field.data not in PLATFORMS:
            raise ValidationError(_l("Unknown platform."))


def mapping_form(headers: list[str], module, selected: dict | None = None, **kwargs) -> FlaskForm:
    """One select per field of an area's import ``module`` (its FIELDS, REQUIRED and field_title), offering the
    file's headers; ``selected`` presets them (no form data)."""

    class MappingForm(FlaskForm):
        token = HiddenField(validators=[DataRequired(), TOKEN_RULE])
        preview = SubmitField()  # the buttons and their words are in the template
        save = SubmitField()

    options = [SelectChoice("", _l("(not imported)"))] + [SelectChoice(h, h) for h in dict.fromkeys(headers) if h]
    for name in module.FIELDS:
        label = module.field_title(name)
        if name in module.REQUIRED:
            label = _("%(field)s (required)", field=label)
        setattr(MappingForm, f"map_{name}", SelectField(label, choices=options, default=""))
    if selected is not None:
        kwargs.update({f"map_{name}": selected.get(name, "") for name in module.FIELDS})
        return MappingForm(formdata=None, **kwargs)
    return MappingForm(**kwargs)
