"""Flask extensions, created here unbound and bound to the app in create_app.

They live in their own module so blueprints can import them (the limiter
decorates the login view) without importing app.py.
"""

from flask import request
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect
from htmx_flask import Htmx

babel = Babel()
csrf = CSRFProtect()
htmx = Htmx()
login_manager = LoginManager()
migrate = Migrate()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


@limiter.request_filter
def _only_login_is_limited() -> bool:
    """Skip the limiter's bookkeeping on every route but the ones it limits: login and outside parties' links."""
    return not (request.endpoint == "auth.login" or (request.endpoint or "").startswith("handoff_links."))
