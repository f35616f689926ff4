"""Marketplace sync's scheduled job (see scheduler.py): every pass, the connected shops that are due.

The slot is short (10 s) so that a "sync now" starts within one scheduler pass; each shop's own interval
(``sync_minutes``, 5 by default, 2 in big-promotion mode) decides whether it is due, and its lease in the
database (sync/runner.claim) keeps two servers from syncing it at the same time. app.py imports this module.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

import scheduler
from sync import runner


@scheduler.job("sync.shops", every=timedelta(seconds=10))
def sync_shops(now: datetime, zone: tzinfo) -> dict | None:
    runs = runner.run_due(now)
    if not runs:
        return None
    return {"shops": len(runs), "created": sum(run.created for run in runs), "updated": sum(run.updated for run in runs),
            "skipped": sum(run.skipped for run in runs), "not_ok": sum(run.outcome != "ok" for run in runs)}
