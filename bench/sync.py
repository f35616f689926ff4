"""Marketplace sync of 10,000 after-sales records from the fake Taobao open platform (#15).

    .venv/bin/python bench/sync.py [--records 10000] [--small 1000]

A throwaway SQLite database with the real migrations and the demo's shops; the Taobao fake (sync/fakes/taobao.py)
served over HTTP on loopback holds ``--records`` refunds of the tmall shop modified over the last two days
(60 % still open, so the connector also asks taobao.refund.get for their deadlines, as it must on the real
platform). Phases, each timed (perf_counter) with its SQL statements counted (before_cursor_execute):

  fetch_only     the connector alone pages through every record (HTTP, signing, JSON, mapping): the floor
                 the same run sets for what sync adds
  first_sync     a run of the shop as the scheduler makes it: every record creates a case
  second_sync    20 % of the refunds moved on the platform (returned, refunded, refused, customer service
                 in), then the next run: those cases move, the rest are unchanged
  quiet_sync     a run with nothing changed (only the overlap comes again)

The same phases run at ``--small`` records: statements per record show whether the cost grows per record or
per page. The last line is JSON; the exit status is 1 when a run does not end "ok" or the counts are off.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402
from flask_migrate import upgrade  # noqa: E402

from app import create_app  # noqa: E402
from demo.accounts import create_accounts  # noqa: E402
from models import Case, Shop, User, db, utcnow  # noqa: E402
from sync import runner, shops  # noqa: E402
from sync.connectors import connector_class  # noqa: E402
from sync.credentials import credentials_of  # noqa: E402
from sync.fakes.server import serve  # noqa: E402
from sync.fakes.taobao import FLOW, FakeTaobao  # noqa: E402

MIGRATIONS = str(Path(__file__).resolve().parent.parent / "migrations")
SHOP = "天猫旗舰店"
MOVES = ("WAIT_SELLER_CONFIRM_GOODS", "SUCCESS", "SELLER_REFUSE_BUYER", "CLOSED")


class Statements:
    def __init__(self):
        self.count = 0

    def __call__(self, *args):
        self.count += 1


def measure(figures: dict, phase: str, statements: Statements, work):
    statements.count = 0
    started = time.perf_counter()
    result = work()
    figures[phase] = {"seconds": round(time.perf_counter() - started, 2), "statements": statements.count}
    return result


def bench(records: int, folder: Path) -> dict:
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / f'sync-{records}.db'}", "SECRET_KEY": "bench",
                      "CREDENTIALS_KEY": "bench", "EVIDENCE_DIR": str(folder / "evidence"),
                      "IMPORT_DIR": str(folder / "imports")})
    rng = random.Random(15)
    fake = FakeTaobao(shop_ref=SHOP)
    now = utcnow()
    for number in range(records):
        status = rng.choice(FLOW[:3]) if rng.random() < 0.6 else rng.choice(("SUCCESS", "CLOSED"))
        record = fake.new_after_sale(status=status)
        fake.put("cases", record["refund_id"], record, now - timedelta(hours=48) + timedelta(seconds=17 * number % 170_000))
    running = serve([fake])
    figures: dict = {"records": records}
    with app.app_context():
        upgrade(directory=MIGRATIONS)
        create_accounts()
        statements = Statements()
        sa.event.listen(db.engine, "before_cursor_execute", statements)
        shop = db.session.scalar(sa.select(Shop).where(Shop.name == SHOP))
        shops.connect(SHOP, shop.platform, {"shop_ref": SHOP, "app_key": fake.app_key, "token_expires_at": None,
                                            "api_url": running.api_url("taobao"), "first_sync_days": 3,
                                            "sync_reviews": False, "active": True},
                      {"app_secret": fake.app_secret, "access_token": fake.access_token},
                      db.session.scalar(User.by_username("admin")), now)
        db.session.commit()
        connection_id = shops.connection_of_shop(shop.id).id
        connector = connector_class(shop.platform)(credentials_of(shops.connection_of_shop(shop.id)))

        def fetch_all():
            end, fetched = runner.whole_second_after(utcnow()), 0
            start = end - timedelta(days=3)
            while start < end:
                window_end = min(end, start + timedelta(seconds=connector.window or 10**9))
                page_no = 1
                while True:
                    page = connector.fetch("cases", start, window_end, page_no)
                    fetched += sum(1 for record in page.records if connector.row("cases", record))
                    if not (page.has_more and page.records):
                        break
                    page_no += 1
                start = window_end
            return fetched

        def one_run():
            assert runner.claim(connection_id, utcnow(), "bench")
            done = runner.sync_shop(connection_id, who="bench")
            return argparse.Namespace(outcome=done.outcome, created=done.created, updated=done.updated,
                                      fetched=done.fetched, pages=done.pages, error=done.error)

        fetched = measure(figures, "fetch_only", statements, fetch_all)
        first = measure(figures, "first_sync", statements, one_run)
        moved = rng.sample(sorted(fake.records["cases"]), records // 5)
        for refund_id in moved:
            fake.change_after_sale(refund_id, status=rng.choice(MOVES))
        second = measure(figures, "second_sync", statements, one_run)
        quiet = measure(figures, "quiet_sync", statements, one_run)
        cases = db.session.scalar(sa.select(sa.func.count()).select_from(Case).where(Case.platform_case_id.is_not(None)))
    running.stop()
    figures["checks"] = {
        "fetched": fetched == records, "first_created": (first.outcome, first.created) == ("ok", records),
        "cases": cases == records, "second_updated": second.outcome == "ok" and second.updated <= len(moved),
        "quiet": quiet.outcome == "ok" and quiet.created == 0,
    }
    figures["first_sync"].update(created=first.created, pages=first.pages)
    figures["second_sync"].update(updated=second.updated, moved=len(moved))
    figures["quiet_sync"].update(updated=quiet.updated, fetched=quiet.fetched)
    for phase in ("first_sync", "second_sync"):
        changed = figures[phase].get("created") or figures[phase].get("updated") or 1
        figures[phase]["statements_per_record"] = round(figures[phase]["statements"] / changed, 2)
        figures[phase]["ms_per_record"] = round(figures[phase]["seconds"] * 1000 / changed, 2)
    figures["first_sync_over_fetch"] = round(figures["first_sync"]["seconds"] / max(figures["fetch_only"]["seconds"], 0.01), 2)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--small", type=int, default=1_000)
    options = parser.parse_args()
    logging.disable(logging.INFO)
    folder = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    try:
        small = bench(options.small, folder)
        big = bench(options.records, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    for figures in (small, big):
        print(f"{figures['records']:>6} records: " + ", ".join(
            f"{phase} {figures[phase]['seconds']} s / {figures[phase]['statements']} statements"
            for phase in ("fetch_only", "first_sync", "second_sync", "quiet_sync")))
    print(json.dumps({"small": small, "big": big}, ensure_ascii=False))
    return 0 if all(small["checks"].values()) and all(big["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
