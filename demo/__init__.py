"""A believable demo shop: platforms, staff across roles and teams, and their work.

Every later capability extends ``create``, with one module per area. Texts here are the project's own.
"""

from __future__ import annotations

import random
from datetime import datetime

from demo.accounts import DEMO_PASSWORD, SHOPS, create_accounts, demo_logins
from demo.cases import create_cases
from demo.compensation import create_compensations
from demo.handoffs import create_handoffs
from demo.reviews import create_reviews
from demo.scoring import create_scoring
from models import utcnow

__all__ = ["DEMO_PASSWORD", "create", "demo_logins"]


def create(case_count: int = 200, seed: int = 7, *, now: datetime | None = None, bulk: bool | None = None) -> str:
    """Shops, staff, ``case_count`` cases and their work; the same seed (and database) gives the same data.

    ``now`` (default: the clock) is when the data is loaded; ``bulk`` forces or forbids the
    fast path, which is otherwise taken above demo.cases.BULK_ABOVE cases.
    """
    rng = random.Random(seed)
    created = create_accounts()
    message = f"demo data: {len(SHOPS)} shops, {created} new accounts (password {DEMO_PASSWORD})"
    if case_count <= 0:
        return message
    now = now or utcnow()
    open_cases = create_cases(rng, case_count, now, bulk)
    requests = create_compensations(rng, now)
    handoffs = create_handoffs(rng, now)
    reviews, listed, handled = create_reviews(rng, now)
    create_scoring(rng, now)
    return (f"{message}, {case_count} cases ({open_cases} open), {requests} compensation requests, {handoffs} handoffs, "
            f"{reviews} reviews (today's list: {listed}, {handled} handled)")
