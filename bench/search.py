"""How fast is the case list's search at 100,000 cases? A script, not a test.

    .venv/bin/python bench/search.py [--cases 100000] [--seconds 10] [--fresh]

It uses bench/board.py's database (the real migrations and ``flask demo-data``, cached under bench/out/) and
server (gunicorn as ``make run``), with one fixed SECRET_KEY for the run: the demo data may have been made
under another key, so ``flask cases search-rebuild`` first recomputes the phone digests under this one (as an
operator would after changing the key; its time is reported). Logged in as ``lead``, one client measures the
list partial (``GET /cases/list``, htmx) with

* ``q`` = a buyer's full phone number, typed as ``+86 138-xxxx-xxxx`` (the digest lookup),
* ``q`` = an agent's display name (assignee prefix),
* ``q`` = two words of one case's description (the two most common words of a random description: the
  intersection the term index has to do is as large as it gets for that description),
* no ``q`` (the list as it is), and the bare route (``/ping``) for the ratios.

In-process, each search's statement is shown with SQLite's query plan (on stderr), so a scan would be seen.
The last line printed is one JSON object: p95 per kind, the ratio of each search's p95 to the bare route's and
to the unfiltered list's, and how many cases each search found. SQLite only, as bench/board.py is.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench import board  # noqa: E402

SECRET_KEY = "search-bench-" + "k" * 32  # one key for the rebuild and the server: the digests must agree
COUNT = re.compile(r'name="everything" value="y">\s*([^<]*?)(\d+)')
FOUND = re.compile(r'href="/cases/(\d+)"')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000, help="demo cases in the database (default 100000)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measuring time per request kind (default 10)")
    parser.add_argument("--seed", type=int, default=7, help="demo data seed (default 7, as make run)")
    parser.add_argument("--fresh", action="store_true", help="generate the data again instead of using the cache")
    args = parser.parse_args()
    if not 1 <= args.seconds <= 300:
        parser.error("--seconds 1..300")

    original_env = board.server_env
    board.server_env = lambda database, workdir: {**original_env(database, workdir), "SECRET_KEY": SECRET_KEY}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(tempfile.mkdtemp(prefix="search-bench-"))
    server = None
    try:
        database, data = board.prepare_database(args, workdir)
        started = time.perf_counter()
        rebuilt = board.flask(["cases", "search-rebuild"], database, workdir)
        data["rebuild_seconds"] = round(time.perf_counter() - started, 1)
        data["rebuild_output"] = rebuilt.splitlines()[-1] if rebuilt else ""
        queries = pick_queries(database)
        port = board.free_port()
        server = board.start_server(database, port, workdir)
        cookie = board.log_in(port)
        bare_path, stand_in = board.bare_route(port)
        results, found = measure(args, port, cookie, bare_path, queries)
        board.stop_server(server)
        server = None
        plans = explain(database, queries)
        report(args, data, bare_path, stand_in, queries, results, found, plans)
        return 0
    finally:
        if server is not None:
            board.stop_server(server)
        shutil.rmtree(workdir, ignore_errors=True)


def pick_queries(database: Path) -> dict[str, str]:
    """A phone number, an agent's name and two words of a description, from the data itself."""
    rng = random.Random(7)
    with contextlib.closing(sqlite3.connect(database)) as connection:
        phones = [row[0] for row in connection.execute(
            "SELECT buyer_phone FROM cases WHERE buyer_phone GLOB '1[3-9][0-9]*' AND length(buyer_phone) = 11 LIMIT 200")]
        phone = rng.choice(phones)
        name = connection.execute(
            "SELECT u.display_name FROM users u JOIN cases c ON c.assignee_id = u.id GROUP BY u.id ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()[0]
        frequency = dict(connection.execute("SELECT term, count(*) FROM case_terms GROUP BY term"))
        with_words = [row[0] for row in connection.execute(
            "SELECT case_id FROM case_terms GROUP BY case_id HAVING count(*) >= 3 LIMIT 2000")]
        words = []
        while len(words) < 2:
            case_id = rng.choice(with_words)
            terms = [row[0] for row in connection.execute("SELECT term FROM case_terms WHERE case_id = ?", (case_id,))]
            words = sorted(terms, key=lambda term: -frequency[term])[:2]
    return {"phone": f"+86 {phone[:3]}-{phone[3:7]}-{phone[7:]}", "name": name, "words": " ".join(words)}


def list_path(q: str | None) -> str:
    return "/cases/list" + (f"?{urlencode({'q': q})}" if q else "")


def found_count(port: int, cookie: str, q: str) -> int:
    status, _, body = board.request(port, list_path(q), headers={"Cookie": cookie, **board.HX})
    text = body.decode()
    if status != 200:
        raise SystemExit(f"list with q={q!r}: status {status}")
    total = re.search(r'<p class="muted">\D*(\d+)', text)
    return int(total.group(1)) if total else len(set(FOUND.findall(text)))


def measure(args, port: int, cookie: str, bare_path: str, queries: dict[str, str]):
    authed = {"Cookie": cookie, **board.HX}
    kinds = {"bare": (bare_path, {}), "list": (list_path(None), authed),
             **{name: (list_path(q), authed) for name, q in queries.items()}}
    found = {name: found_count(port, cookie, q) for name, q in queries.items()}
    for path, headers in kinds.values():  # warm up
        board.run_load(1, port, path, headers, 1.0, 200)
    rounds, parts = 2, {name: [] for name in kinds}
    for _ in range(rounds):  # alternate, so a noisy neighbour hurts all alike
        for name, (path, headers) in kinds.items():
            parts[name].append(board.run_load(1, port, path, headers, args.seconds / rounds, 200))
    return {name: board.summarise(parts[name], 200, args.seconds) for name in kinds}, found


def explain(database: Path, queries: dict[str, str]) -> dict[str, list[str]]:
    """SQLite's plan of each search's list statement, built by the app itself (to stderr, and in the JSON)."""
    os.environ.update(DATABASE_URL=f"sqlite:///{database}", SECRET_KEY=SECRET_KEY)
    from app import create_app
    from cases import board as case_board
    from models import User, db, utcnow

    app = create_app()
    plans = {}
    with app.test_request_context():
        lead = db.session.scalar(db.select(User).where(User.username == board.LOGIN[0]))
        for name, q in queries.items():
            stmt = case_board.list_statement(case_board.CaseFilter(q=q), lead, utcnow()).limit(50)
            compiled = stmt.compile(db.engine, compile_kwargs={"literal_binds": True})
            rows = db.session.execute(db.text(f"EXPLAIN QUERY PLAN {compiled}")).all()
            plans[name] = [row[-1] for row in rows]
            print(f"plan for q={q!r}:", *("  " + line for line in plans[name]), sep="\n", file=sys.stderr)
        db.engine.dispose()
    return plans


def report(args, data, bare_path, stand_in, queries, results, found, plans) -> None:
    bare, plain = results["bare"], results["list"]
    print(f"Search benchmark: {data['cases']:,} cases, SQLite; demo data {data['cache']}; "
          f"phone digests rebuilt in {data['rebuild_seconds']} s ({data['rebuild_output']})")
    print(f"Server: {board.SERVER_LABEL}, 127.0.0.1; one client, 2 rounds x {args.seconds / 2:g} s per kind after a 1 s warm-up")
    if stand_in:
        print("Bare route: /static/app.css stands in (the app has no /ping)")
    print()
    print(f"{'request':<48}{'found':>7}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'requests':>10}")
    labels = {"bare": f"bare {bare_path}", "list": "list partial, no search"}
    for name, row in results.items():
        label = labels.get(name, f"list partial, q = {queries.get(name, '')}")
        print(f"{label:<48}{found.get(name, ''):>7}{row['rps']:>9.1f}{row['p50_ms']:>9.2f}{row['p95_ms']:>9.2f}{row['requests']:>10}")
    scans = {name: [line for line in plan if line.startswith("SCAN") and "cases" in line] for name, plan in plans.items()}
    summary = {
        "cases": data["cases"], "data": data["cache"], "rebuild_seconds": data["rebuild_seconds"],
        "server": board.SERVER_LABEL, "seconds_per_kind": args.seconds, "bare_path": bare_path,
        "queries": queries, "found": found,
        "bare_p95_ms": bare["p95_ms"], "list_p95_ms": plain["p95_ms"],
        **{f"{name}_p95_ms": results[name]["p95_ms"] for name in queries},
        **{f"{name}_to_bare": round(results[name]["p95_ms"] / bare["p95_ms"], 1) if bare["p95_ms"] else None for name in queries},
        **{f"{name}_to_list": round(results[name]["p95_ms"] / plain["p95_ms"], 2) if plain["p95_ms"] else None for name in queries},
        "table_scans": scans, "results": results,
    }
    print(json.dumps(summary, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    sys.exit(main())
