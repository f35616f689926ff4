"""Forms of marketplace sync: connecting a shop to its open platform."""

from __future__ import annotations

from urllib.parse import urlsplit

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateTimeLocalField, HiddenField, IntegerField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

from models import PLATFORMS, Shop, ShopConnection, db

SECRET_LIMIT = 512  # the platforms' secrets and tokens are 32 to about 100 characters


def _single_line(form, field):
    if field.data and any(character in field.data for character in "\r\n\t"):
        raise ValidationError(_l("One line, without tabs."))


class ConnectionForm(FlaskForm):
    """Connect a shop, or change its connection (``editing``: the ShopConnection). Secrets are never shown back:
    on an edit, an empty secret or token keeps the stored one."""

    shop_name = StringField(_l("Shop name"), validators=[DataRequired(), Length(max=64), _single_line])
    platform = SelectField(_l("Platform"))
    shop_ref = StringField(_l("The shop's name or id on the platform"), validators=[DataRequired(), Length(max=64),
                                                                                     _single_line],
                           description=_l("Taobao/Tmall: the seller nick; JD: the vender id; Douyin: the shop id. "
                                          "Records of another shop are refused."))
    app_key = StringField(_l("App key"), validators=[DataRequired(), Length(max=128), _single_line])
    app_secret = PasswordField(_l("App secret"), validators=[Length(max=SECRET_LIMIT), _single_line])
    access_token = PasswordField(_l("Access token (session)"), validators=[Length(max=SECRET_LIMIT), _single_line])
    token_expires_at = DateTimeLocalField(_l("Token expires at"), format=["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"],
                                          validators=[Optional()],
                                          description=_l("As the platform's authorisation page says; shown in the "
                                                         "header when it has passed."))
    api_url = StringField(_l("API address"), validators=[Optional(), Length(max=300), _single_line],
                          description=_l("Leave empty for the platform's own address."))
    first_sync_days = IntegerField(_l("First sync goes back (days)"), default=7,
                                   validators=[InputRequired(), NumberRange(min=1, max=90)])
    sync_reviews = BooleanField(_l("Sync reviews too"), default=True)
    active = BooleanField(_l("Sync this shop"), default=True)
    version = HiddenField()

    def __init__(self, *args, editing=None, platforms: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.editing = editing
        self.platform.choices = [(key, str(label)) for key, label in (platforms or PLATFORMS).items()]
        if editing is None:
            self.app_secret.validators = [DataRequired(), *self.app_secret.validators]
            self.access_token.validators = [DataRequired(), *self.access_token.validators]
        else:
            self.platform.data = editing.shop.platform  # shown, not changed: the records already synced are of it
            for secret in (self.app_secret, self.access_token):
                secret.description = _l("Stored encrypted and never shown. Leave empty to keep it.")

    def validate_shop_name(self, field):
        shop = db.session.scalar(sa.select(Shop).where(Shop.name == field.data.strip()))
        if shop is None:
            return
        if self.editing is not None:
            if shop.id == self.editing.shop_id:
                return
            raise ValidationError(_l("Another shop has this name."))
        if shop.platform != self.platform.data:
            raise ValidationError(_l("A shop of this name sells on another platform."))
        if shop.id in connected_shop_ids():
            raise ValidationError(_l("This shop is connected already: change its connection instead."))

    def validate_api_url(self, field):
        if not field.data:
            return
        parts = urlsplit(field.data.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValidationError(_l("An address such as https://eco.taobao.com/router/rest."))


def connected_shop_ids() -> set[int]:
    return set(db.session.scalars(sa.select(ShopConnection.shop_id)))


class ScheduleForm(FlaskForm):
    """How often every connected shop is synced."""

    sync_minutes = IntegerField(_l("Sync every (minutes)"), validators=[InputRequired(), NumberRange(min=1, max=60)])
    sync_promo_minutes = IntegerField(_l("In big-promotion mode, every (minutes)"),
                                      validators=[InputRequired(), NumberRange(min=1, max=60)])

    def validate_sync_promo_minutes(self, field):
        if field.data and self.sync_minutes.data and field.data > self.sync_minutes.data:
            raise ValidationError(_l("Big promotions sync at least as often as usual."))
