"""How fast are the scoring page (考核) and the daily monitor with a year of a big team's work? A script, not a test.

    .venv/bin/python bench/scoring.py [--cases 100000] [--reviews 50000] [--agents 30] [--seconds 10] [--fresh] [--profile]

It builds a SQLite database with the real migrations and ``flask demo-data --cases 0`` (the shops and the
staff), then, inside the app, brings the after-sales team to ``--agents`` agents and adds a year of their
work in bulk (``sa.insert`` with lists of dicts): ``--cases`` cases received over the last 365 days across the
demo shops, drawn and folded by the demo's own planner (demo/cases.py: every kind, most closed with
``closed_assignee_id``, ``refunded_at`` on the refunds, outcomes on the kinds that have one, the platform in
on the disputes and on a share of the refunds), and ``--reviews`` reviews on the daily lists of those days,
shared among the agents and worked as bench/reviews.py works them (most handled, some contacted, some with
a follow-up review). The per-day rollups are rebuilt with scoring/rollups.py's ``rebuild``. The data is
built in two steps, a tenth first, and both sizes are cached under bench/out/ (keyed by size, seed and the
code that shapes the data); a reused cache has its times moved to now, as bench/reviews.py moves them.

Then, on each size, the month before this one of the shop with the most closed cases gets its industry
values, the shop's figures, a bonus pool and the lead's judgements of every agent (scoring.months.save_values
and save_judgement), every shop gets its paid orders for the monitor's twelve months, and it is served with
gunicorn exactly as ``make run`` does (bench/board.py's server, reused). Logged in as ``lead``, one client
measures, in one run, side by side:

* the scoring page, ``GET /scoring/?shop=<id>&month=<last month>`` (full page),
* the daily monitor, ``GET /scoring/monitor`` (full page; reported as null while the app has no
  ``scoring.monitor`` route), and its poll when nothing changed (204),
* the bare route (``/ping``) for the ratios, as bench/board.py does.

Before every request to the scoring page or the monitor a writer process inside the app changes the data
behind them through the models (an outcome flipped, a closed case handed to another agent, a contact on a
negative review of the month's lists) and commits, so the rollups follow and no cache can hide the work;
the change is not timed. In-process with the app's test client, the SQL statements of one scoring page and
one monitor are counted on the small and on the full data (they must not grow), and the scoring page's
statements are timed one by one: the slowest is shown with its query plan.

The targets (issue #12): scoring page p95 <= 100 ms and monitor p95 <= 150 ms, one client. The last line
printed is one JSON object with every number. The server, the writer and the temporary files are stopped and
removed whatever happens. SQLite only, as bench/board.py and bench/reviews.py are.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import cProfile
import hashlib
import http.client
import inspect
import itertools
import json
import random
import re
import select
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
# This file shares its name with the app's ``scoring`` package: take its own folder off the path, or
# ``import scoring`` (in the steps run inside the app) would find this script.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench import board  # noqa: E402
from bench import reviews as review_bench  # noqa: E402
from bench.board import BIN, HX, LOGIN, OUT, SERVER_LABEL  # noqa: E402

TARGETS = {"scoring_p95_max_ms": 100.0, "monitor_p95_max_ms": 150.0}
MONITOR = "/scoring/monitor"
MONITOR_ENDPOINT = "scoring.monitor"
MONITOR_POLL = re.compile(r'id="scoring-monitor"[^>]*?hx-get="([^"]+)"')
RENDERS = 10  # in-process renders timed per URL whose queries are counted (the median is reported)
TIMED_RENDERS = 20  # in-process renders of the scoring page whose statements are timed one by one
SMALL_SHARE = 10  # the small size is a tenth of the cases and of the reviews
HISTORY_DAYS = 365
# What shapes the cached data besides the classes below: a change to any of these makes a new cache.
DATA_SOURCES = ("demo/__init__.py", "demo/accounts.py", "demo/cases.py", "demo/reviews.py", "cases/sla.py",
                "reviews/worklist.py", "models.py", "bench/reviews.py")
# The names of the agents added to demo's two (display names are data, as the demo's are).
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ("伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛", "明", "超", "霞", "平", "刚")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000, help="cases in the database (default 100000)")
    parser.add_argument("--reviews", type=int, default=50_000, help="reviews on the daily lists (default 50000)")
    parser.add_argument("--agents", type=int, default=30, help="agents of the after-sales team (default 30)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measuring time per request kind (default 10)")
    parser.add_argument("--seed", type=int, default=7, help="data seed (default 7, as make run)")
    parser.add_argument("--fresh", action="store_true", help="generate the data again instead of using the cache")
    parser.add_argument("--profile", action="store_true", help="also profile the scoring page and the monitor in-process (to stderr)")
    parser.add_argument("--step", choices=sorted(STEPS), help=argparse.SUPPRESS)  # one part, run inside the app
    parser.add_argument("--database", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--shop", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--month", help=argparse.SUPPRESS)
    parser.add_argument("--explain", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        print(json.dumps(STEPS[args.step](args), ensure_ascii=False, default=str), flush=True)
        return 0
    if not 1 <= args.seconds <= 300:
        parser.error("--seconds 1..300")
    if not 20_000 <= args.cases <= 1_000_000 or not 5_000 <= args.reviews <= 1_000_000 or not 3 <= args.agents <= 200:
        parser.error("--cases 20000..1000000, --reviews 5000..1000000, --agents 3..200")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the finally blocks run
    workdir = Path(tempfile.mkdtemp(prefix="scoring-bench-"))
    server = writer = None
    started = time.perf_counter()
    try:
        (small, big), data = prepare_databases(args, workdir)
        months = {"small": run_step("month", small, workdir), "big": run_step("month", big, workdir)}
        chosen = months["big"]
        where = ("--shop", str(chosen["shop_id"]), "--month", chosen["month"])
        queries = {"small": run_step("queries", small, workdir, *where),
                   "big": run_step("queries", big, workdir, *where, "--explain")}
        port = board.free_port()
        server = board.start_server(big, port, workdir)
        cookie = board.log_in(port)
        bare_path, stand_in = board.bare_route(port)
        writer = Writer(big, workdir, where)
        results = measure(args, port, cookie, bare_path, chosen, writer)
        writer.stop()
        board.stop_server(server)
        server = None
        if args.profile:  # to stderr, before the report, so the JSON stays the last line
            board.copy_database(big, workdir / "profile.db")
            run_step("profile", workdir / "profile.db", workdir, *where)
        report(args, data, months, bare_path, stand_in, results, writer.summary(), queries,
               round(time.perf_counter() - started, 1))
        return 0
    finally:
        if writer is not None:
            writer.stop()
        if server is not None:
            board.stop_server(server)
        shutil.rmtree(workdir, ignore_errors=True)


# --- the database ------------------------------------------------------------------------------------

def run_step(step: str, database: Path, workdir: Path, *extra: str) -> dict:
    """One part run inside the app, in a fresh process of the venv's python; its last line is its JSON.
    (bench/reviews.py's run_step runs bench/reviews.py: the same, for this script.)"""
    started = time.perf_counter()
    done = subprocess.run([str(BIN / "python"), str(Path(__file__).resolve()), "--step", step, "--database", str(database),
                           *extra], cwd=ROOT, env=board.server_env(database, workdir), stdout=subprocess.PIPE,
                          stderr=None if step == "profile" else subprocess.PIPE, text=True, timeout=3600)
    if done.returncode != 0:
        raise SystemExit(f"step {step} failed:\n{done.stdout[-3000:]}\n{(done.stderr or '')[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_seconds"] = round(time.perf_counter() - started, 2)
    return result


def sizes(args) -> list[tuple[int, int]]:
    """(cases, reviews) of the small and of the full database."""
    return [(args.cases // SMALL_SHARE, args.reviews // SMALL_SHARE), (args.cases, args.reviews)]


def cache_key(args) -> str:
    digest = hashlib.sha1()
    for source in (review_bench.History, ReviewHistory, CaseHistory, add_agents, step_build):
        digest.update(inspect.getsource(source).encode())
    digest.update(repr((HISTORY_DAYS, SMALL_SHARE, SURNAMES, GIVEN)).encode())
    for name in DATA_SOURCES:
        digest.update((ROOT / name).read_bytes())
    for migration in sorted((ROOT / "migrations" / "versions").glob("*.py")):
        digest.update(migration.read_bytes())
    return f"scoring-{args.cases}-{args.reviews}-{args.agents}agents-seed{args.seed}-{digest.hexdigest()[:10]}"


def prepare_databases(args, workdir: Path) -> tuple[tuple[Path, Path], dict]:
    """The small and the full database: from the cache (times moved to now) or built, the small one on the
    way to the full one (the full one is the small one grown)."""
    paths = (workdir / "small.db", workdir / "bench.db")
    key = cache_key(args)
    cached = (OUT / f"{key}-small.db", OUT / f"{key}.db")
    sidecar = OUT / f"{key}.json"
    if all(path.exists() for path in cached) and sidecar.exists() and not args.fresh:
        info = json.loads(sidecar.read_text())
        shift = datetime.now(UTC) - datetime.fromisoformat(info["generated_at"])
        zone = ZoneInfo(info["zone"])
        days = (datetime.now(zone).date() - datetime.fromisoformat(info["generated_at"]).astimezone(zone).date()).days
        started = time.perf_counter()
        for source, target in zip(cached, paths, strict=True):
            board.copy_database(source, target)
            review_bench.shift_all_times(target, shift, days)
            board.flask(["db", "upgrade"], target, workdir)
        info.update(cache="reused", shifted_seconds=round(shift.total_seconds()), shifted_days=days,
                    reuse_seconds=round(time.perf_counter() - started, 1))
    else:
        database = paths[1]
        board.flask(["db", "upgrade"], database, workdir)
        generated_at = datetime.now(UTC)
        started = time.perf_counter()
        output = board.flask(["demo-data", "--cases", "0", "--seed", str(args.seed)], database, workdir)
        info = {"generated_at": generated_at.isoformat(), "demo_seconds": round(time.perf_counter() - started, 1),
                "demo_output": output.splitlines()[-1] if output else "", "builds": []}
        OUT.mkdir(parents=True, exist_ok=True)
        for old in OUT.glob(f"scoring-{args.cases}-{args.reviews}-{args.agents}agents-seed{args.seed}-*"):
            old.unlink()
        for number, ((cases, reviews), target, cache) in enumerate(zip(sizes(args), paths, cached, strict=True)):
            built = run_step("build", database, workdir, "--cases", str(cases), "--reviews", str(reviews),
                             "--agents", str(args.agents), "--seed", str(args.seed + number))
            info["builds"].append(built)
            info["zone"] = built["zone"]
            if target != database:
                board.copy_database(database, target)
            partial = cache.with_suffix(".partial")
            board.copy_database(database, partial)
            partial.rename(cache)
        sidecar.write_text(json.dumps(info, ensure_ascii=False))
        info["cache"] = "generated"
    for size, path in zip(("small", "big"), paths, strict=True):
        with contextlib.closing(sqlite3.connect(path)) as connection:
            info[size] = {
                "cases": connection.execute("SELECT count(*) FROM cases").fetchone()[0],
                "closed": connection.execute("SELECT count(*) FROM cases WHERE state = 'closed'").fetchone()[0],
                "reviews": connection.execute("SELECT count(*) FROM reviews").fetchone()[0],
                "contacts": connection.execute("SELECT count(*) FROM review_contacts").fetchone()[0],
                "agents": connection.execute("SELECT count(*) FROM users JOIN teams ON teams.id = users.team_id "
                                             "WHERE users.role = 'agent' AND teams.function = 'aftersales'").fetchone()[0],
                "first_day": connection.execute("SELECT min(received_at) FROM cases").fetchone()[0][:10],
                "bytes": path.stat().st_size,
            }
    return paths, info


def add_agents(total: int, seed: int) -> list[int]:
    """The after-sales team brought to ``total`` active agents (the demo has two); their ids. They share the
    demo password's hash: hashing it 28 times would only cost time."""
    import sqlalchemy as sa

    from models import Team, User, db, default_compensation_limit, utcnow

    team = db.session.scalars(sa.select(Team).where(Team.function == "aftersales").order_by(Team.id)).first()
    in_team = sa.select(User.id).where(User.role == "agent", User.team_id == team.id, User.active.is_(True)).order_by(User.id)
    have = db.session.scalars(in_team).all()
    if len(have) < total:
        template = db.session.scalars(sa.select(User).where(User.username == "agent1")).one()
        taken = set(db.session.scalars(sa.select(User.username)))
        names = [surname + given for surname in SURNAMES for given in GIVEN]
        random.Random(seed).shuffle(names)
        rows, number = [], 1
        while len(have) + len(rows) < total:
            number += 1
            username = f"agent{number}"
            if username in taken:
                continue
            rows.append({"username": username, "display_name": names.pop(), "password_hash": template.password_hash,
                         "role": "agent", "team_id": team.id, "compensation_limit": default_compensation_limit("agent"),
                         "active": True, "session_generation": 1, "created_at": utcnow(), "version": 1})
        db.session.execute(sa.insert(User), rows)
        have = db.session.scalars(in_team).all()
    return list(have)


class CaseHistory:
    """A year of cases (inside the app: ``--step build``), drawn and folded by the demo's own planner
    (demo.cases.Planner, demo.cases.fold), then given to the agents: each agent has a workload of their own."""

    REFUND_KINDS = ("refund_only", "return_refund")
    PLATFORM_IN_REFUNDS = 0.07  # refunds the platform stepped into (the demo only marks disputes)

    def __init__(self, total: int, seed: int, agent_ids: list[int]):
        import sqlalchemy as sa
        from flask import current_app

        from cases import sla
        from demo.cases import HOUR_WEIGHTS, Planner, fold, open_count_for
        from models import Case, db, utcnow

        self.sa, self.db, self.Case, self.fold, self.open_count_for = sa, db, Case, fold, open_count_for
        self.total, self.rng, self.now = total, random.Random(seed), utcnow()
        self.zone = current_app.config["SHOP_TZ"]
        self.today = self.now.astimezone(self.zone).date()
        self.planner, self.rules = Planner(self.rng, self.now), sla.load_rules()
        self.hours = list(itertools.accumulate(HOUR_WEIGHTS))
        self.agents = agent_ids
        self.workload = list(itertools.accumulate(self.rng.lognormvariate(0, 0.35) for _ in agent_ids))

    def moment(self, day: date) -> datetime:
        hour = bisect_right(self.hours, self.rng.random() * self.hours[-1])
        local = datetime(day.year, day.month, day.day, hour, tzinfo=self.zone) + timedelta(seconds=self.rng.randrange(3600))
        return min(local.astimezone(UTC), self.now - timedelta(days=1))

    def agent(self) -> int:
        return self.agents[bisect_right(self.workload, self.rng.random() * self.workload[-1])]

    def build(self) -> dict:
        sa, db, Case, planner = self.sa, self.db, self.Case, self.planner
        existing = db.session.scalar(sa.select(sa.func.count()).select_from(Case))
        count = max(0, self.total - existing)
        open_count = min(count, self.open_count_for(count)) if count else 0
        rows = []
        for _ in range(count - open_count):
            category, kind = planner.draw_problem()
            received = self.moment(self.today - timedelta(days=self.rng.randint(1, HISTORY_DAYS)))
            rows.append(self.row(planner.closed_plan(category, kind, received)))
        for _ in range(open_count):  # still open: the last days', as the demo's are
            category, kind = planner.draw_problem()
            rows.append(self.row(planner.open_plan(category, kind, None)))
        rows.sort(key=lambda row: row["received_at"])  # ids grow with time
        for start in range(0, len(rows), 5000):
            db.session.execute(sa.insert(Case), rows[start:start + 5000])
        return {"added_cases": len(rows), "open": open_count}

    def row(self, plan) -> dict:
        row = self.fold(plan, self.rules, self.now, self.planner.users)
        owner = self.agent()
        row["assignee_id"] = owner
        if row["closed_at"] is not None:
            row["closed_assignee_id"] = owner
        if row["kind"] in self.REFUND_KINDS and row["refunded_at"] is not None and self.rng.random() < self.PLATFORM_IN_REFUNDS:
            row["platform_intervened"] = True
        return row


def bisect_right(cumulative: list[float], value: float) -> int:
    """The index ``value`` falls at in a cumulative list of weights."""
    return min(bisect.bisect(cumulative, value), len(cumulative) - 1)


class ReviewHistory(review_bench.History):
    """bench/reviews.py's review history, on the daily lists of the whole year (every review is listed) and
    shared among the agents: its ``listed`` works each review as far as its day allows."""

    def __init__(self, total: int, seed: int, agent_ids: list[int]):
        super().__init__(total, seed)
        agents = list(agent_ids)
        self.rng.shuffle(agents)
        self.turn = itertools.cycle(agents)

    def build(self) -> dict:
        from models import ReviewDay

        sa, db, Review = self.sa, self.db, self.Review
        existing = db.session.scalar(sa.select(sa.func.count()).select_from(Review))
        back = range(1, HISTORY_DAYS + 1)
        per_day = Counter(self.rng.choices(back, k=max(0, self.total - existing)))
        days = {row.day: row for row in db.session.scalars(sa.select(ReviewDay))}
        for offset in sorted(per_day, reverse=True):
            day = self.today - timedelta(days=offset)
            if day not in days:
                days[day] = ReviewDay(day=day, formed_at=self.worklist.list_forms_at(day, self.zone), snapshot_count=0)
                db.session.add(days[day])
            for _ in range(per_day[offset]):
                self.listed(day, days[day].formed_at)
        for start in range(0, len(self.reviews), 5000):
            db.session.execute(sa.insert(Review), self.reviews[start:start + 5000])
        for start in range(0, len(self.contacts), 5000):
            db.session.execute(sa.insert(self.ReviewContact), self.contacts[start:start + 5000])
        for day, count in db.session.execute(sa.select(Review.list_date, sa.func.count()).where(Review.list_date.is_not(None))
                                             .group_by(Review.list_date)):
            if day in days:
                days[day].snapshot_count = count
        return {"added_reviews": len(self.reviews), "added_contacts": len(self.contacts),
                "followed_up": sum(row["follow_up_contact_id"] is not None for row in self.reviews),
                "handled": sum(row["state"] == "handled" for row in self.reviews)}


# --- the steps run inside the app ---------------------------------------------------------------------

def step_build(args) -> dict:
    """The agents, then cases and reviews up to ``--cases`` and ``--reviews``, in one transaction: its commit
    brings the per-day rollups along (scoring/rollups.py notes the days of bulk inserts)."""
    from app import create_app
    from models import db

    with create_app().app_context():
        started = time.perf_counter()
        agents = add_agents(args.agents, args.seed)
        cases = CaseHistory(args.cases, args.seed, agents).build()
        drawn = time.perf_counter()
        reviews = ReviewHistory(args.reviews, args.seed, agents).build()
        history = time.perf_counter()
        db.session.commit()
        from flask import current_app

        return {**cases, **reviews, "agents": len(agents), "cases_seconds": round(drawn - started, 1),
                "reviews_seconds": round(history - drawn, 1), "commit_seconds": round(time.perf_counter() - history, 1),
                "zone": current_app.config["SHOP_TZ"].key}


def measured_month() -> tuple[int, str]:
    """The page's default month (last month) and the shop with the most cases closed in it."""
    import sqlalchemy as sa
    from flask import current_app

    from blueprints.scoring import previous_month
    from compensation.report import month_bounds
    from models import Case, db, utcnow

    month = previous_month(utcnow())
    start, end = month_bounds(month, current_app.config["SHOP_TZ"])
    shop_id = db.session.execute(sa.select(Case.shop_id, sa.func.count()).where(
        Case.state == "closed", Case.closed_at >= start, Case.closed_at < end)
        .group_by(Case.shop_id).order_by(sa.func.count().desc(), Case.shop_id).limit(1)).first()[0]
    return shop_id, month


def step_month(args) -> dict:
    """The rollups rebuilt; the measured month's industry values, shop figures, bonus pool and every scored
    person's judgements entered as a lead would; every shop's paid orders for the monitor's months."""
    import sqlalchemy as sa
    from flask import current_app

    from app import create_app
    from models import DailyFigure, Shop, Team, User, db, utcnow
    from scoring import months, rollups, rules
    from scoring.monitor import TREND_MONTHS, first_of_month, month_key

    app = create_app()
    rng = random.Random(args.seed)
    with app.app_context():
        zone = current_app.config["SHOP_TZ"]
        rebuild = getattr(rollups, "rebuild", None)
        started = time.perf_counter()
        kept = rebuild(zone) if rebuild is not None else None
        db.session.commit()
        rebuild_seconds = time.perf_counter() - started
        shop_id, month = measured_month()
        now = utcnow()
        lead = db.session.scalars(sa.select(User).where(User.username == LOGIN[0])).one()
        received = defaultdict(int)  # (shop, month) -> cases received, for believable paid orders
        for row in db.session.execute(sa.select(DailyFigure.shop_id, DailyFigure.day, DailyFigure.cases_received)):
            received[(row.shop_id, month_key(row.day))] += row.cases_received
        today = now.astimezone(zone).date()
        trend = [month_key(first_of_month(today, back)) for back in range(TREND_MONTHS - 1, -1, -1)]
        started = time.perf_counter()
        entered = 0
        for shop in db.session.scalars(sa.select(Shop).where(Shop.active.is_(True)).order_by(Shop.id)):
            for key in sorted(set(trend) | {month}):
                score_month = months.month_for(shop, key, create=True)
                industry = {"dispute_rate": f"{rng.uniform(0.02, 0.08):.3f}", "self_completion_rate": f"{rng.uniform(85, 95):.2f}",
                            "refund_only_days": f"{rng.uniform(0.8, 2.5):.2f}", "return_refund_days": f"{rng.uniform(3, 7):.2f}",
                            "dsr_description": "4.78", "dsr_service": "4.80", "dsr_logistics": "4.76"}
                shop_figures = {"paid_orders": str(max(1000, received[(shop.id, key)] * rng.randint(20, 30))),
                                "dsr_description": "4.85", "dsr_service": "4.88", "dsr_logistics": "4.74",
                                "dsr_description_vs_industry": f"{rng.uniform(10, 60):.2f}",
                                "dsr_service_vs_industry": f"{rng.uniform(10, 60):.2f}",
                                "dsr_logistics_vs_industry": f"{rng.uniform(-20, 30):.2f}"}
                pool = Decimal("30000.00") if (shop.id, key) == (shop_id, month) else None
                months.save_values(score_month, industry, shop_figures, pool, lead)
                entered += 1
        score_month = months.month_for(db.session.get(Shop, shop_id), month, create=True)
        _row, rule_set = months.in_force(score_month.shop, months.month_end(score_month, zone))
        aftersales = sa.or_(User.team_id.is_(None), User.team_id.in_(sa.select(Team.id).where(Team.function == "aftersales")))
        scored = db.session.scalars(sa.select(User).where(User.active.is_(True), User.role.in_(months.SCORED_ROLES), aftersales)
                                    .order_by(User.id)).all()  # whom the page scores (scoring.months.scored_users)
        judged = 0
        for user in scored:
            for part in rule_set["parts"]:
                if part["kind"] == rules.JUDGEMENT_POINTS:
                    value = str(rng.randint(max(part["min_points"], part["max_points"] - 4), part["max_points"]))
                elif part["kind"] == rules.JUDGEMENT_LEVELS:
                    keys = [level["key"] for level in part["levels"]]
                    value = rng.choices(keys, (70, 25, 5) if len(keys) == 3 else None)[0]
                elif part["kind"] == rules.DONE_OR_NOT:
                    value = "yes" if rng.random() < 0.9 else "no"
                else:
                    continue
                months.save_judgement(score_month, rule_set, user, part["key"], value, "bench: 本月表现", lead, now)
                judged += 1
        db.session.commit()
        return {"shop_id": shop_id, "shop": score_month.shop.name, "month": month, "rebuild": rebuild is not None,
                "rollup_rows": kept, "rebuild_seconds": round(rebuild_seconds, 2), "months_entered": entered,
                "judgements": judged, "scored_people": len(scored),
                "monitor_route": MONITOR_ENDPOINT in app.view_functions,
                "values_seconds": round(time.perf_counter() - started, 2), **month_sizes(shop_id, month)}


def month_sizes(shop_id: int, month: str) -> dict:
    """What the measured page reads: the shop's cases closed and refunded and its listed reviews in the month."""
    import sqlalchemy as sa
    from flask import current_app

    from compensation.report import month_bounds
    from models import Case, Review, db

    zone = current_app.config["SHOP_TZ"]
    start, end = month_bounds(month, zone)
    closed = db.session.scalar(sa.select(sa.func.count()).where(Case.shop_id == shop_id, Case.state == "closed",
                                                                Case.closed_at >= start, Case.closed_at < end))
    refunded = db.session.scalar(sa.select(sa.func.count()).where(Case.shop_id == shop_id, Case.refunded_at >= start,
                                                                  Case.refunded_at < end))
    listed = db.session.scalar(sa.select(sa.func.count()).where(
        Review.shop_id == shop_id, Review.list_date >= start.astimezone(zone).date(),
        Review.list_date < end.astimezone(zone).date()))
    return {"month_closed": closed, "month_refunded": refunded, "month_listed": listed}


class Changer:
    """One change behind the scoring page of ``shop_id``'s ``month`` per call, through the models and a commit,
    so the rollups follow as they do for a person's change: a case's outcome flipped, a closed case handed to
    another agent, or a contact on a negative review of the month's lists, in turn, for a random agent. Only
    ids are kept between calls (each call may run in its own app context)."""

    KINDS = ("outcome", "handover", "contact")

    def __init__(self, shop_id: int, month: str, seed: int):
        import sqlalchemy as sa
        from flask import current_app

        from cases.labels import OUTCOME_KINDS
        from compensation.report import month_bounds
        from models import Case, Review, Team, User, db
        from reviews.labels import NEGATIVE_MAX_RATING

        self.rng, self.count = random.Random(seed), 0
        self.zone = current_app.config["SHOP_TZ"]
        start, end = month_bounds(month, self.zone)
        self.agents = list(db.session.scalars(sa.select(User.id).join(Team, Team.id == User.team_id).where(
            User.role == "agent", User.active.is_(True), Team.function == "aftersales").order_by(User.id)))
        closed = (Case.shop_id == shop_id, Case.state == "closed", Case.closed_at >= start, Case.closed_at < end)
        self.closed_ids = list(db.session.scalars(sa.select(Case.id).where(*closed).order_by(Case.id)))
        with_outcome = tuple(kind for kinds in OUTCOME_KINDS.values() for kind in kinds)
        self.by_agent = defaultdict(list)
        for case_id, owner in db.session.execute(sa.select(Case.id, Case.closed_assignee_id).where(
                *closed, Case.kind.in_(with_outcome)).order_by(Case.id)):
            self.by_agent[owner].append(case_id)
        self.retained_kinds = OUTCOME_KINDS["retained"]
        self.reviews = db.session.execute(sa.select(Review.id, Review.list_date).where(
            Review.shop_id == shop_id, Review.rating <= NEGATIVE_MAX_RATING,
            Review.list_date >= start.astimezone(self.zone).date(),
            Review.list_date < end.astimezone(self.zone).date()).order_by(Review.id)).all()
        if not (self.agents and self.closed_ids and self.by_agent and self.reviews):
            raise SystemExit(f"nothing to change in shop {shop_id}'s {month}")

    def change(self) -> dict:
        from models import Case, ReviewContact, db

        kind = self.KINDS[self.count % len(self.KINDS)]
        self.count += 1
        started = time.perf_counter()
        if kind == "outcome":
            owner = self.rng.choice(sorted(owner for owner in self.by_agent if owner in self.agents) or sorted(self.by_agent))
            case = db.session.get(Case, self.rng.choice(self.by_agent[owner]))
            if case.kind in self.retained_kinds:
                case.outcome = None if case.outcome == "retained" else "retained"
            else:
                case.outcome = "not_upheld" if case.outcome == "upheld" else "upheld"
        elif kind == "handover":
            case = db.session.get(Case, self.rng.choice(self.closed_ids))
            case.closed_assignee_id = self.rng.choice([agent for agent in self.agents if agent != case.closed_assignee_id])
        else:
            review_id, day = self.rng.choice(self.reviews)
            db.session.add(ReviewContact(review_id=review_id, user_id=self.rng.choice(self.agents), channel="phone",
                                         outcome="no_answer", note="bench: a call",
                                         contacted_at=datetime(day.year, day.month, day.day, 15, tzinfo=self.zone)))
        db.session.commit()
        return {"kind": kind, "ms": round((time.perf_counter() - started) * 1000, 2)}


def step_writer(args) -> dict:
    """The writer: one change per "change" line read, answered with one JSON line, until its input ends."""
    from app import create_app

    app = create_app()
    with app.app_context():
        changer = Changer(args.shop, args.month, args.seed + 100)
        print(json.dumps({"ready": True}), flush=True)
        for line in sys.stdin:
            if line.strip() != "change":
                break
            print(json.dumps(changer.change()), flush=True)
    return {"changes": changer.count}


@contextlib.contextmanager
def timing_statements(app):
    """Every statement sent to the database with its parameters and its time: [(statement, parameters, seconds)]."""
    from sqlalchemy import event

    from models import db

    timed = []

    def before(conn, cursor, statement, parameters, context, executemany):
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    def after(conn, cursor, statement, parameters, context, executemany):
        timed.append((statement, parameters, time.perf_counter() - conn.info["bench_started"].pop()))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield timed
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


def step_queries(args) -> dict:
    """The statements of one scoring page and one monitor (the data changed just before each), their
    in-process render time; with ``--explain`` the scoring page's statements timed one by one, the slowest
    with its query plan."""
    import sqlalchemy as sa

    from app import create_app
    from models import Case, Review, db

    app = create_app()
    client = review_bench.logged_in_client(app)
    with app.app_context():
        changer = Changer(args.shop, args.month, args.seed + 200)
        data = {"cases": db.session.scalar(sa.select(sa.func.count()).select_from(Case)),
                "reviews": db.session.scalar(sa.select(sa.func.count()).select_from(Review))}

    def change():
        with app.app_context():  # left before the request: a request inside it would share its g
            changer.change()

    def counted(url: str) -> dict:
        change()
        with review_bench.counting_queries(app) as statements:
            response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        timings = []
        for _ in range(RENDERS):  # the render's own time, without a server or a network in front of it
            change()
            started = time.perf_counter()
            client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
        return {"url": url, "queries": len(statements), "bytes": len(response.data),
                "in_process_ms": round(statistics.median(timings), 2)}

    scoring_url = f"/scoring/?shop={args.shop}&month={args.month}"
    result = {**data, "scoring": counted(scoring_url)}
    result["monitor"] = counted(MONITOR) if MONITOR_ENDPOINT in app.view_functions else None
    if args.explain:
        result["statements"] = slowest_statements(app, client, scoring_url, change)
    return result


def slowest_statements(app, client, url: str, change) -> dict:
    """The page's statements timed over TIMED_RENDERS renders: the three slowest (median), and the plan of the first."""
    from models import db

    by_statement: dict[str, list[float]] = defaultdict(list)
    example = {}
    totals = []
    for _ in range(TIMED_RENDERS):
        change()
        with timing_statements(app) as timed:
            started = time.perf_counter()
            client.get(url)
            totals.append(time.perf_counter() - started)
        for statement, parameters, seconds in timed:
            by_statement[statement].append(seconds)
            example[statement] = parameters
    ranked = sorted(by_statement, key=lambda statement: -statistics.median(by_statement[statement]))
    render_ms = statistics.median(totals) * 1000
    sql_ms = sum(statistics.median(times) * len(times) / TIMED_RENDERS for times in by_statement.values()) * 1000
    top = [{"ms": round(statistics.median(by_statement[statement]) * 1000, 2),
            "per_render": len(by_statement[statement]) // TIMED_RENDERS,
            "sql": " ".join(statement.split())[:600]} for statement in ranked[:3]]
    plan = []
    if ranked:
        with app.app_context():
            prefix = "EXPLAIN QUERY PLAN " if db.engine.dialect.name == "sqlite" else "EXPLAIN "
            rows = db.session.connection().exec_driver_sql(prefix + ranked[0], example[ranked[0]]).all()
            plan = [" | ".join(str(value) for value in row) for row in rows]
    return {"render_ms": round(render_ms, 2), "sql_ms": round(sql_ms, 2), "statements": len(by_statement),
            "slowest": top, "plan_of_slowest": plan}


def step_profile(args) -> dict:
    """Where a scoring page and a monitor render spend their time (to stderr), the data changing between."""
    from app import create_app

    app = create_app()
    client = review_bench.logged_in_client(app)
    with app.app_context():
        changer = Changer(args.shop, args.month, args.seed + 300)
    urls = [f"/scoring/?shop={args.shop}&month={args.month}"] + ([MONITOR] if MONITOR_ENDPOINT in app.view_functions else [])
    figures = {}
    for url in urls:
        profiler = cProfile.Profile()
        renders, spent = 20, 0.0
        for _ in range(renders):
            with app.app_context():
                changer.change()
            started = time.perf_counter()
            profiler.enable()
            client.get(url)
            profiler.disable()
            spent += time.perf_counter() - started
        print(f"\nProfile: {renders} renders of {url} in-process, {spent / renders * 1000:.1f} ms each under the profiler",
              file=sys.stderr)
        review_bench.print_profile(profiler)
        figures[url] = round(spent / renders * 1000, 1)
    return figures


STEPS = {"build": step_build, "month": step_month, "queries": step_queries, "writer": step_writer,
         "profile": step_profile}


# --- the writer: the data changes between two requests ---------------------------------------------------

class Writer:
    """``--step writer`` in its own process: ``change()`` asks it for one change and waits until it is committed."""

    def __init__(self, database: Path, workdir: Path, where: tuple):
        self.log = open(workdir / "writer.log", "wb")
        self.process = subprocess.Popen(
            [str(BIN / "python"), str(Path(__file__).resolve()), "--step", "writer", "--database", str(database), *where],
            cwd=ROOT, env=board.server_env(database, workdir), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.log, text=True, bufsize=1, start_new_session=True)
        self.kinds, self.times = Counter(), []
        if not self.answer(60).get("ready"):
            raise SystemExit("the writer did not start")

    def answer(self, timeout: float) -> dict:
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline() if ready else ""
        if not line:
            self.log.flush()
            raise SystemExit(f"the writer stopped answering:\n{Path(self.log.name).read_text(errors='replace')[-3000:]}")
        return json.loads(line)

    def change(self) -> None:
        self.process.stdin.write("change\n")
        self.process.stdin.flush()
        done = self.answer(30)
        self.kinds[done["kind"]] += 1
        self.times.append(done["ms"])

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.log.close()

    def summary(self) -> dict:
        times = sorted(self.times)
        return {"changes": len(times), "kinds": dict(self.kinds),
                "change_p50_ms": times[len(times) // 2] if times else None}


# --- the load -------------------------------------------------------------------------------------------

def changing_client(port: int, path: str, headers: dict, seconds: float, writer: Writer) -> dict:
    """One keep-alive connection; before every request the writer changes the data behind the page (not timed).
    ``elapsed`` is the time spent in requests, so req/s is one client's renders per second of server time."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies, statuses, errors, busy = [], Counter(), 0, 0.0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end and len(latencies) < board.MAX_REQUESTS_PER_CLIENT:
        writer.change()
        sent = time.perf_counter()
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            errors += 1
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            continue
        took = time.perf_counter() - sent
        latencies.append(took * 1000)
        busy += took
        statuses[response.status] += 1
        if response.will_close:
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.close()
    return {"latencies": latencies, "statuses": dict(statuses), "errors": errors, "elapsed": busy}


def monitor_poll_url(port: int, cookie: str) -> str | None:
    status, _, body = board.request(port, MONITOR, headers={"Cookie": cookie})
    found = MONITOR_POLL.search(body.decode(errors="replace"))
    return None if status != 200 or found is None else found.group(1).replace("&amp;", "&")


def measure(args, port: int, cookie: str, bare_path: str, chosen: dict, writer: Writer) -> dict:
    """Warm up, then alternate the kinds in two rounds, so a noisy neighbour hurts all alike. One client:
    the targets are a render's latency. The pages are full pages, as a browser opens them."""
    authed = {"Cookie": cookie}
    scoring_url = f"/scoring/?shop={chosen['shop_id']}&month={chosen['month']}"
    changing = {"scoring": scoring_url}
    if chosen["monitor_route"]:
        changing["monitor"] = MONITOR
    rounds, parts = 2, defaultdict(list)

    def run(name: str, seconds: float) -> list[dict]:
        if name == "bare":
            return board.run_load(1, port, bare_path, {}, seconds, 200)
        if name == "monitor_poll":  # nothing changes while the poll is measured: it must answer 204
            return board.run_load(1, port, monitor_poll_url(port, cookie), {**authed, **HX}, seconds, 204, MONITOR_POLL)
        return [changing_client(port, changing[name], authed, seconds, writer)]

    kinds = ["bare", *changing] + (["monitor_poll"] if chosen["monitor_route"] and monitor_poll_url(port, cookie) else [])
    for name in kinds:
        run(name, 1.0)
    for _ in range(rounds):
        for name in kinds:
            parts[name].append(run(name, args.seconds / rounds))
    expected = {"monitor_poll": 204}
    return {name: board.summarise(parts[name], expected.get(name, 200), args.seconds) for name in kinds}


# --- the report ------------------------------------------------------------------------------------

def ratio(part: float | None, whole: float | None) -> float | None:
    return round(part / whole, 2) if part is not None and whole else None


def report(args, data: dict, months: dict, bare_path: str, stand_in: bool, results: dict, writer: dict, queries: dict,
           run_seconds: float) -> None:
    bare, scoring, monitor = results["bare"], results["scoring"], results.get("monitor")
    poll = results.get("monitor_poll")
    chosen, small, big = months["big"], data["small"], data["big"]
    scoring_ok = scoring["p95_ms"] <= TARGETS["scoring_p95_max_ms"]
    monitor_ok = None if monitor is None else monitor["p95_ms"] <= TARGETS["monitor_p95_max_ms"]
    counts = {"scoring": {str(queries["small"]["cases"]): queries["small"]["scoring"]["queries"],
                          str(queries["big"]["cases"]): queries["big"]["scoring"]["queries"]},
              "monitor": None if queries["big"]["monitor"] is None else {
                  str(queries["small"]["cases"]): queries["small"]["monitor"]["queries"],
                  str(queries["big"]["cases"]): queries["big"]["monitor"]["queries"]}}
    grows = {name: None if values is None else len(set(values.values())) > 1 for name, values in counts.items()}
    if data["cache"] == "reused":
        origin = (f"reused bench/out cache (times moved forward {timedelta(seconds=data['shifted_seconds'])}, dates "
                  f"{data['shifted_days']} days, {data['reuse_seconds']} s)")
    else:
        origin = "built now: " + ", ".join(f"{build['added_cases']:,} cases in {build['cases_seconds']} s, {build['added_reviews']:,} "
                                           f"reviews in {build['reviews_seconds']} s, commit with rollups {build['commit_seconds']} s"
                                           for build in data["builds"])
    print(f"Scoring benchmark: {big['cases']:,} cases ({big['closed']:,} closed) since {big['first_day']}, {big['reviews']:,} "
          f"listed reviews, {big['contacts']:,} contacts, {big['agents']} agents; SQLite ({big['bytes'] // 2**20} MB); data {origin}")
    print(f"Measured: {chosen['shop']} (shop {chosen['shop_id']}), {chosen['month']}: {chosen['month_closed']:,} cases closed, "
          f"{chosen['month_refunded']:,} refunded, {chosen['month_listed']:,} reviews listed; {chosen['judgements']} judgements "
          f"of {chosen['scored_people']} people; values entered for {chosen['months_entered']} shop months; rollups "
          + (f"rebuilt ({chosen['rollup_rows']:,} rows) in {chosen['rebuild_seconds']} s" if chosen["rebuild"]
             else "NOT rebuilt: scoring/rollups.py has no rebuild()"))
    print(f"Server: {SERVER_LABEL}, 127.0.0.1; one client with keep-alive, 2 rounds x {args.seconds / 2:g} s per kind after a "
          f"1 s warm-up; logged in as {LOGIN[0]}. Before every scoring or monitor request the writer changed the data "
          f"({writer['changes']} changes: {writer['kinds']}, p50 {writer['change_p50_ms']} ms each, not timed)")
    if stand_in:
        print("Bare route: the app has no GET /ping; /static/app.css stands in")
    if monitor is None:
        print(f"Monitor: the app has no {MONITOR_ENDPOINT} route yet: not measured (null)")
    print()
    print(f"{'request':<44}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'requests':>10}  statuses")
    rows = [("bare " + bare_path, bare), ("scoring page, data changing (200)", scoring)]
    if monitor is not None:
        rows.append(("monitor page, data changing (200)", monitor))
    if poll is not None:
        rows.append(("monitor poll, unchanged (204)", poll))
    for label, row in rows:
        statuses = " ".join(f"{code}x{count}" for code, count in row["statuses"].items())
        errors = f" errors x{row['errors']}" if row["errors"] else ""
        print(f"{label:<44}{row['rps']:>9.1f}{row['p50_ms']:>9.2f}{row['p95_ms']:>9.2f}{row['p99_ms']:>9.2f}"
              f"{row['requests']:>10}  {statuses}{errors}")
    print()
    print(f"scoring page p95: {scoring['p95_ms']} ms = {ratio(scoring['p95_ms'], bare['p95_ms'])} x bare p95 "
          f"(target <= {TARGETS['scoring_p95_max_ms']:g} ms): {'PASS' if scoring_ok else 'MISS'}")
    if monitor is not None:
        print(f"monitor p95: {monitor['p95_ms']} ms = {ratio(monitor['p95_ms'], bare['p95_ms'])} x bare p95 "
              f"(target <= {TARGETS['monitor_p95_max_ms']:g} ms): {'PASS' if monitor_ok else 'MISS'}")
    if poll is not None:
        print(f"monitor poll, unchanged: {ratio(poll['rps'], bare['rps'])} x bare throughput, p95 {poll['p95_ms']} ms")
    for name, values in counts.items():
        if values is None:
            continue
        sizes_text = ", ".join(f"{count} with {int(cases):,} cases" for cases, count in values.items())
        print(f"{name} queries per page: {sizes_text}: {'MISS (grows with the data)' if grows[name] else 'PASS (constant)'}")
    print(f"  in-process render (test client, median of {RENDERS}, data changed before each): scoring "
          f"{queries['small']['scoring']['in_process_ms']} ms / {queries['big']['scoring']['in_process_ms']} ms"
          + (f"; monitor {queries['small']['monitor']['in_process_ms']} ms / {queries['big']['monitor']['in_process_ms']} ms"
             if queries["big"]["monitor"] else "") + " (small / full data)")
    timed = queries["big"].get("statements")
    if timed:
        print(f"Scoring page statements, full data (median of {TIMED_RENDERS} renders): {timed['statements']} distinct, "
              f"{timed['sql_ms']} ms of SQL in a {timed['render_ms']} ms render; the slowest:")
        for item in timed["slowest"]:
            print(f"  {item['ms']:>8.2f} ms x{item['per_render']}  {item['sql'][:300]}")
        print("  plan of the slowest: " + "; ".join(timed["plan_of_slowest"]))
    summary = {
        "scoring_p95_ms": scoring["p95_ms"], "monitor_p95_ms": monitor["p95_ms"] if monitor else None,
        "bare_p95_ms": bare["p95_ms"], "scoring_to_bare_p95": ratio(scoring["p95_ms"], bare["p95_ms"]),
        "monitor_to_bare_p95": ratio(monitor["p95_ms"], bare["p95_ms"]) if monitor else None,
        "monitor_poll_to_bare_rps": ratio(poll["rps"], bare["rps"]) if poll else None,
        "monitor_route": chosen["monitor_route"], "queries_per_page": counts, "queries_grow": grows,
        "cases": big["cases"], "closed_cases": big["closed"], "reviews": big["reviews"], "contacts": big["contacts"],
        "agents": big["agents"], "small": small, "shop_id": chosen["shop_id"], "month": chosen["month"],
        "month_closed": chosen["month_closed"], "month_refunded": chosen["month_refunded"],
        "month_listed": chosen["month_listed"], "rollups_rebuilt": chosen["rebuild"],
        "rebuild_seconds": chosen["rebuild_seconds"], "data": data["cache"], "server": SERVER_LABEL, "clients": 1,
        "seconds_per_kind": args.seconds, "bare_path": bare_path, "bare_is_stand_in": stand_in,
        "bare": bare, "scoring": scoring, "monitor": monitor, "monitor_poll": poll, "writer": writer,
        "in_process": {size: {name: (value or {}).get("in_process_ms") for name, value in queries[size].items()
                              if name in ("scoring", "monitor")} for size in ("small", "big")},
        "slowest_statement": (timed or {}).get("slowest", [None])[0], "run_seconds": run_seconds,
        "targets": TARGETS, "pass": {"scoring_p95": scoring_ok, "monitor_p95": monitor_ok,
                                     "queries_constant": not any(grows.values())},
    }
    print(json.dumps(summary, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    sys.exit(main())
