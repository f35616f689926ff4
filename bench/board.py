"""How fast is the case board with a big shop's history? A script, not a test.

    .venv/bin/python bench/board.py [--cases 100000] [--seconds 10] [--clients 4] [--fresh] [--profile]

It builds a SQLite database with the real migrations and ``flask demo-data`` (cached
under bench/out/, keyed by case count, seed and the code that shapes the data: 100,000
cases take a minute or more), serves it with gunicorn exactly as ``make run`` does, logs
in as ``lead`` and measures, in one run, side by side:

* a board poll when nothing changed (``GET /cases/?v=<token>``, htmx, answers 204),
* the full board partial (``GET /cases/``, htmx, 200), with 5 of the cards it showed changed
  between two requests (their version bumped in the database, as an agent's action would), so a
  cache of rendered cards cannot hide the work: one client (``board_p95_ms``) and 4 clients
  (``board_loaded_p95_ms``),
* the same partial with every card it showed changed before each request (``board_rerender_p95_ms``):
  the price of a board no cache helps,
* a bare route of the same app (``/ping``; ``/static/app.css`` stands in while the app has none).

The machine is shared and noisy, so the figures that matter are ratios to the bare
route measured in the same run (``poll_to_bare``: poll throughput over bare throughput). The
load comes from a few client processes with keep-alive connections (``wrk`` is not assumed),
bounded in time and count, to 127.0.0.1 only. The last line printed is one JSON object with
every number. The server is stopped and the temporary files removed whatever happens.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import hashlib
import html
import http.client
import json
import multiprocessing
import os
import pstats
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
BIN = ROOT / ".venv" / "bin"
# `make run`'s server (see the Makefile): gunicorn, 2 workers, gthread with 4 threads, access log on.
SERVER_ARGS = ["--worker-class", "gthread", "--access-logfile", "-", "--logger-class", "live.QuietPollLogger",
               "--timeout", "120"]
WORKERS, THREADS = 2, 4  # as make run; --workers/--threads compare others (one worker with threads, say)
SERVER_LABEL = "gunicorn --workers {workers} --worker-class gthread --threads {threads}"
LOGIN = ("lead", "demo1234")
HX = {"HX-Request": "true"}
TARGETS = {"poll_to_bare_min": 0.9, "board_p95_max_ms": 10.0, "board_rerender_p95_max_ms": 20.0,
           "board_loaded_p95_max_ms": 40.0}
CHANGED_PER_REQUEST = 5
CARD_ID = re.compile(r'<article class="case-card[^"]*" id="case-(\d+)"')
MAX_REQUESTS_PER_CLIENT = 200_000
TOKEN_URL = re.compile(r'<section id="board"[^>]*?hx-get="([^"]+)"')
CSRF = re.compile(r'name="csrf_token"[^>]*?value="([^"]+)"')
# What shapes the cached data: a change to any of these makes a new cache.
DATA_SOURCES = ("demo/cases.py", "cases/sla.py", "cases/flow.py", "models.py")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000, help="demo cases in the database (default 100000)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measuring time per request kind (default 10)")
    parser.add_argument("--clients", type=int, default=4, help="client processes, one keep-alive connection each (default 4)")
    parser.add_argument("--seed", type=int, default=7, help="demo data seed (default 7, as make run)")
    parser.add_argument("--fresh", action="store_true", help="generate the data again instead of using the cache")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2, as make run)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (default 4, as make run)")
    parser.add_argument("--profile", action="store_true", help="also profile one board partial render in-process")
    args = parser.parse_args()
    if not 1 <= args.clients <= 16 or not 1 <= args.seconds <= 300:
        parser.error("--clients 1..16, --seconds 1..300")
    global WORKERS, THREADS  # noqa: PLW0603 - the server's shape, set once from the command line
    WORKERS, THREADS = args.workers, args.threads

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the finally blocks run
    workdir = Path(tempfile.mkdtemp(prefix="board-bench-"))
    server = None
    try:
        database, data = prepare_database(args, workdir)
        port = free_port()
        server = start_server(database, port, workdir)
        cookie = log_in(port)
        bare_path, stand_in = bare_route(port)
        poll_url = board_poll_url(port, cookie)
        results = measure(args, port, cookie, bare_path, poll_url, database)
        stop_server(server)
        server = None
        if args.profile:
            profile_board(database)  # to stderr, before the report, so the JSON stays the last line
        report(args, data, bare_path, stand_in, results)
        return 0
    finally:
        if server is not None:
            stop_server(server)
        shutil.rmtree(workdir, ignore_errors=True)


# --- the database ----------------------------------------------------------------------

def server_env(database: Path, workdir: Path) -> dict:
    env = dict(os.environ)
    env.update(DATABASE_URL=f"sqlite:///{database}", SECRET_KEY=secrets.token_hex(16),
               EVIDENCE_DIR=str(workdir / "evidence"), FLASK_APP="app")
    return env


def flask(args: list[str], database: Path, workdir: Path) -> str:
    done = subprocess.run([str(BIN / "flask"), "--app", "app", *args], cwd=ROOT, env=server_env(database, workdir),
                          capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise SystemExit(f"flask {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout.strip()


def cache_key(args) -> str:
    digest = hashlib.sha1()
    for name in DATA_SOURCES:
        digest.update((ROOT / name).read_bytes())
    for migration in sorted((ROOT / "migrations" / "versions").glob("*.py")):
        digest.update(migration.read_bytes())
    return f"board-{args.cases}-seed{args.seed}-{digest.hexdigest()[:10]}"


def prepare_database(args, workdir: Path) -> tuple[Path, dict]:
    """A migrated database with the demo data: from the cache (times moved to now) or generated."""
    database = workdir / "bench.db"
    key = cache_key(args)
    cached, sidecar = OUT / f"{key}.db", OUT / f"{key}.json"
    if cached.exists() and sidecar.exists() and not args.fresh:
        info = json.loads(sidecar.read_text())
        copy_database(cached, database)
        shift = datetime.now(UTC) - datetime.fromisoformat(info["generated_at"])
        shift_times(database, shift)
        flask(["db", "upgrade"], database, workdir)
        info.update(cache="reused", shifted_seconds=round(shift.total_seconds()))
    else:
        flask(["db", "upgrade"], database, workdir)
        generated_at = datetime.now(UTC)
        started = time.perf_counter()
        output = flask(["demo-data", "--cases", str(args.cases), "--seed", str(args.seed)], database, workdir)
        info = {"generated_at": generated_at.isoformat(), "demo_seconds": round(time.perf_counter() - started, 1),
                "demo_output": output.splitlines()[-1] if output else ""}
        OUT.mkdir(parents=True, exist_ok=True)
        for old in OUT.glob(f"board-{args.cases}-seed{args.seed}-*"):
            old.unlink()
        partial = cached.with_suffix(".partial")
        copy_database(database, partial)
        partial.rename(cached)
        sidecar.write_text(json.dumps(info))
        info["cache"] = "generated"
    with contextlib.closing(sqlite3.connect(database)) as connection:
        info["cases"], info["open_cases"] = connection.execute(
            "SELECT count(*), sum(state != 'closed') FROM cases").fetchone()
    return database, info


def copy_database(source: Path, target: Path) -> None:
    """SQLite's online backup: a consistent copy even with a write-ahead log beside the file."""
    with contextlib.closing(sqlite3.connect(source)) as src, contextlib.closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def shift_times(database: Path, shift: timedelta) -> None:
    """Move every case time (and its timeline) by ``shift``, so the clocks stand as when it was generated."""
    def moved(value):
        if value is None:
            return None
        return (datetime.fromisoformat(value) + shift).strftime("%Y-%m-%d %H:%M:%S.%f")

    def moved_pauses(value):
        if not value:
            return value
        pauses = [[None if t is None else (datetime.fromisoformat(t) + shift).isoformat() for t in pause]
                  for pause in json.loads(value)]
        return json.dumps(pauses)

    with contextlib.closing(sqlite3.connect(database)) as connection:
        connection.create_function("moved", 1, moved, deterministic=True)
        connection.create_function("moved_pauses", 1, moved_pauses, deterministic=True)
        columns = [row[1] for row in connection.execute("PRAGMA table_info(cases)") if row[2].upper() == "DATETIME"]
        assignments = ", ".join(f"{column} = moved({column})" for column in columns)
        with connection:
            connection.execute(f"UPDATE cases SET {assignments}, pauses = moved_pauses(pauses)")
            connection.execute("UPDATE timeline_events SET created_at = moved(created_at)")


# --- the server --------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _die_with_parent():  # pragma: no cover - runs in the child between fork and exec
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def server_label() -> str:
    label = SERVER_LABEL.format(workers=WORKERS, threads=THREADS)
    return label + (" (as make run)" if (WORKERS, THREADS) == (2, 4) else "")


def start_server(database: Path, port: int, workdir: Path) -> subprocess.Popen:
    log = open(workdir / "server.log", "wb")
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), *SERVER_ARGS, "--workers", str(WORKERS), "--threads", str(THREADS),
         "--bind", f"127.0.0.1:{port}", "app:app"],
        cwd=ROOT, env=server_env(database, workdir), stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True, preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )
    server.log_path, server.log_file = workdir / "server.log", log
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited:\n{server.log_path.read_text(errors='replace')[-3000:]}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            if request(port, "/auth/login")[0] == 200:
                return server
        time.sleep(0.2)
    stop_server(server)
    raise SystemExit("gunicorn did not answer within 60 s")


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)  # its own process group: the master and its workers
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=5)
    server.log_file.close()


def request(port: int, path: str, method: str = "GET", headers: dict | None = None, body: str | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        connection.close()


def session_cookie(headers) -> str:
    cookies = [value.split(";", 1)[0] for name, value in headers if name.lower() == "set-cookie"]
    return "; ".join(cookies)


def log_in(port: int) -> str:
    status, headers, body = request(port, "/auth/login")
    token = CSRF.search(body.decode())
    if status != 200 or token is None:
        raise SystemExit(f"login page: status {status}, no CSRF token")
    form = urlencode({"username": LOGIN[0], "password": LOGIN[1], "csrf_token": html.unescape(token.group(1))})
    status, answer, _ = request(port, "/auth/login", "POST", {
        "Cookie": session_cookie(headers), "Content-Type": "application/x-www-form-urlencoded"}, form)
    if status != 302:
        raise SystemExit(f"login as {LOGIN[0]} refused (status {status}); is this demo data?")
    return session_cookie(answer)


def bare_route(port: int) -> tuple[str, bool]:
    status, _, body = request(port, "/ping")
    if status == 200 and body.strip() == b"ok":
        return "/ping", False
    return "/static/app.css", True


def board_poll_url(port: int, cookie: str) -> str:
    status, _, body = request(port, "/cases/", headers={"Cookie": cookie, **HX})
    found = TOKEN_URL.search(body.decode())
    if status != 200 or found is None:
        raise SystemExit(f"board partial: status {status}, no poll URL in it")
    return html.unescape(found.group(1))


# --- the load ---------------------------------------------------------------------------------

def change_cards(database: sqlite3.Connection, shown: list[int], how_many: int | None, turn: int) -> None:
    """Bump the version of ``how_many`` of the cards last shown (all when None), as an agent's action would:
    the next render must draw them again. Outside the measured time."""
    if not shown:
        return
    if how_many is None:
        chosen = shown
    else:
        start = (turn * how_many) % len(shown)
        chosen = (shown[start:] + shown[:start])[:how_many]
    with database:
        database.execute(f"UPDATE cases SET version = version + 1 WHERE id IN ({','.join('?' * len(chosen))})", chosen)


def client(job: tuple) -> dict:
    """One keep-alive connection sending one request after another until time is up.

    With ``change`` (a database path and how many cards, None for all), cards shown by the previous
    answer are changed in the database before each request."""
    port, path, headers, seconds, expected, start_at, token_url, change = job
    database = None
    if change is not None:
        database = sqlite3.connect(change[0], timeout=30, isolation_level=None)
        database.execute("PRAGMA busy_timeout = 30000")
    shown: list[int] = []
    turn = 0
    time.sleep(max(0.0, start_at - time.time()))
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies, statuses, errors = [], Counter(), 0
    started = time.perf_counter()
    end = started + seconds
    while time.perf_counter() < end and len(latencies) < MAX_REQUESTS_PER_CLIENT:
        if database is not None:
            change_cards(database, shown, change[1], turn)
            turn += 1
        sent = time.perf_counter()
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException):
            errors += 1
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            continue
        latencies.append((time.perf_counter() - sent) * 1000)
        statuses[response.status] += 1
        if database is not None and response.status == 200:
            shown = [int(found) for found in CARD_ID.findall(body.decode(errors="replace"))]
        if expected == 204 and response.status == 200:
            # A clock on the board turned colour, so the token expired: the answer carries the new one.
            found = token_url.search(body.decode(errors="replace"))
            if found:
                path = html.unescape(found.group(1))
        if response.will_close:
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.close()
    if database is not None:
        database.close()
    return {"latencies": latencies, "statuses": dict(statuses), "errors": errors, "elapsed": time.perf_counter() - started}


def _client_process(job: tuple, results) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's clean-up handler
    try:
        results.send(client(job))
    except Exception as error:  # reported by the parent
        results.send({"latencies": [], "statuses": {}, "errors": 1, "elapsed": 0.0, "failure": repr(error)})
    finally:
        results.close()


def run_load(clients: int, port: int, path: str, headers: dict, seconds: float, expected: int,
             token_url: re.Pattern = TOKEN_URL, change: tuple | None = None) -> list[dict]:
    """``clients`` processes at once; one that dies or hangs is stopped and counted, never waited for.

    ``token_url`` finds a live region's new poll URL in a 200 answer to a poll (the board's by default);
    ``change`` (database path, cards per request or None for all) changes shown cards between requests."""
    context = multiprocessing.get_context("fork")  # the parent has no threads, so forking is safe
    start_at = time.time() + 0.2  # every client starts together
    running = []
    for _ in range(clients):
        receiver, sender = context.Pipe(duplex=False)
        job = (port, path, headers, seconds, expected, start_at, token_url, change)
        process = context.Process(target=_client_process, args=(job, sender))
        process.start()
        sender.close()
        running.append((process, receiver))
    deadline = time.monotonic() + seconds + 45  # the run, plus one request's timeout
    outcomes = []
    for process, receiver in running:
        outcome = {"latencies": [], "statuses": {}, "errors": 1, "elapsed": 0.0, "failure": "no answer"}
        if receiver.poll(max(0.0, deadline - time.monotonic())):
            with contextlib.suppress(EOFError):
                outcome = receiver.recv()
        receiver.close()
        process.join(timeout=5)
        if process.is_alive():
            process.kill()
            process.join()
        outcomes.append(outcome)
    return outcomes


def summarise(parts: list[list[dict]], expected: int, seconds: float) -> dict:
    runs = [run for part in parts for run in part]
    latencies = sorted(value for run in runs for value in run["latencies"])
    statuses = Counter()
    for run in runs:
        statuses.update(run["statuses"])
    elapsed = sum(max(run["elapsed"] for run in part) for part in parts) or seconds

    def percentile(q: float) -> float:
        if not latencies:
            return float("nan")
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))], 2)

    return {"rps": round(statuses[expected] / elapsed, 1), "p50_ms": percentile(0.50), "p95_ms": percentile(0.95),
            "p99_ms": percentile(0.99), "requests": len(latencies), "expected_status": expected,
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "errors": sum(run["errors"] for run in runs),
            "client_failures": sorted({run["failure"] for run in runs if "failure" in run})[:3]}


def measure(args, port: int, cookie: str, bare_path: str, poll_url: str, database: Path) -> dict:
    """Warm up, then alternate the kinds in two rounds, so a noisy neighbour hurts all alike."""
    authed = {"Cookie": cookie, **HX}
    five, every = (str(database), CHANGED_PER_REQUEST), (str(database), None)
    kinds = {"bare": (bare_path, {}, 200, None), "poll": (poll_url, authed, 204, None), "board": ("/cases/", authed, 200, five)}
    rounds, parts = 2, {name: [] for name in kinds}
    singles, rerenders = [], []
    for path, headers, expected, change in kinds.values():
        run_load(args.clients, port, path, headers, 1.0, expected, change=change)
    for _ in range(rounds):
        for name, (path, headers, expected, change) in kinds.items():
            parts[name].append(run_load(args.clients, port, path, headers, args.seconds / rounds, expected, change=change))
        singles.append(run_load(1, port, "/cases/", authed, args.seconds / rounds, 200, change=five))
        rerenders.append(run_load(1, port, "/cases/", authed, args.seconds / rounds, 200, change=every))
    results = {name: summarise(parts[name], kinds[name][2], args.seconds) for name in kinds}
    results["board_1_client"] = summarise(singles, 200, args.seconds)
    results["board_rerender"] = summarise(rerenders, 200, args.seconds)
    return results


# --- the report ------------------------------------------------------------------------------------

def report(args, data: dict, bare_path: str, stand_in: bool, results: dict) -> None:
    bare, poll, board = results["bare"], results["poll"], results["board"]
    single, rerender = results["board_1_client"], results["board_rerender"]
    ratio = round(poll["rps"] / bare["rps"], 3) if bare["rps"] else None
    # Latency targets are judged on one client (a render's latency) and, separately, under load.
    checks = {
        "poll_throughput": ratio is not None and ratio >= TARGETS["poll_to_bare_min"],
        "board_p95": single["p95_ms"] <= TARGETS["board_p95_max_ms"],
        "board_rerender_p95": rerender["p95_ms"] <= TARGETS["board_rerender_p95_max_ms"],
        "board_loaded_p95": board["p95_ms"] <= TARGETS["board_loaded_p95_max_ms"],
    }
    loaded_floor = round(1000 * args.clients / board["rps"], 1) if board["rps"] else None
    if data["cache"] == "reused":
        origin = (f"reused bench/out cache, generated in {data['demo_seconds']} s "
                  f"(times moved forward {timedelta(seconds=data['shifted_seconds'])})")
    else:
        origin = f"generated now: flask demo-data took {data['demo_seconds']} s"
    print(f"Board benchmark: {data['cases']:,} cases ({data['open_cases']:,} open), SQLite; demo data {origin}")
    print(f"Server: {server_label()}, 127.0.0.1; load: {args.clients} client processes with keep-alive, "
          f"2 rounds x {args.seconds / 2:g} s per kind after a 1 s warm-up; logged in as {LOGIN[0]}")
    print(f"Between two board requests a client changes {CHANGED_PER_REQUEST} of the cards it was shown "
          "(every card, in the re-render run), outside the measured time")
    if stand_in:
        print("Bare route: the app has no GET /ping yet; /static/app.css stands in (a static file: "
              "slightly more work than a bare string, so the ratio flatters the poll less, not more)")
    print()
    print(f"{'request':<44}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'requests':>10}  statuses")
    rows = (("bare " + bare_path, bare), ("board poll, unchanged (204)", poll),
            (f"board partial, {args.clients} clients, 5 changed (200)", board),
            ("board partial, 1 client, 5 changed (200)", single),
            ("board partial, 1 client, all changed (200)", rerender))
    for label, row in rows:
        statuses = " ".join(f"{code}x{count}" for code, count in row["statuses"].items())
        errors = f" errors x{row['errors']}" if row["errors"] else ""
        print(f"{label:<44}{row['rps']:>9.1f}{row['p50_ms']:>9.2f}{row['p95_ms']:>9.2f}{row['p99_ms']:>9.2f}"
              f"{row['requests']:>10}  {statuses}{errors}")
    print()

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "MISS"

    print(f"poll / bare throughput: {ratio} (target >= {TARGETS['poll_to_bare_min']}): {verdict(checks['poll_throughput'])}")
    print(f"board partial p95, 1 client: {single['p95_ms']} ms (target <= {TARGETS['board_p95_max_ms']:g}): "
          f"{verdict(checks['board_p95'])}")
    print(f"board partial p95, every card re-rendered: {rerender['p95_ms']} ms "
          f"(target <= {TARGETS['board_rerender_p95_max_ms']:g}): {verdict(checks['board_rerender_p95'])}")
    print(f"board partial p95, {args.clients} clients: {board['p95_ms']} ms (target <= {TARGETS['board_loaded_p95_max_ms']:g}): "
          f"{verdict(checks['board_loaded_p95'])}; with {args.clients} always in flight the mean latency cannot be "
          f"below {loaded_floor} ms (queueing on 2 cores)")
    summary = {
        "cases": data["cases"], "open_cases": data["open_cases"], "data": data["cache"],
        "demo_data_seconds": data["demo_seconds"], "server": server_label(), "clients": args.clients,
        "seconds_per_kind": args.seconds, "bare_path": bare_path, "bare_is_stand_in": stand_in,
        "changed_per_request": CHANGED_PER_REQUEST,
        "bare": bare, "poll": poll, "board": board, "board_1_client": single, "board_rerender": rerender,
        "poll_to_bare": ratio, "board_p95_ms": single["p95_ms"], "board_rerender_p95_ms": rerender["p95_ms"],
        "board_loaded_p95_ms": board["p95_ms"], "board_loaded_mean_floor_ms": loaded_floor,
        "board_to_bare_p95": round(single["p95_ms"] / bare["p95_ms"], 1) if bare["p95_ms"] else None,
        "targets": TARGETS, "pass": checks,
    }
    print(json.dumps(summary, ensure_ascii=False), flush=True)


def profile_board(database: Path) -> None:
    """Where one board partial render spends its time (in this process, against the same data)."""
    os.environ.update(DATABASE_URL=f"sqlite:///{database}", SECRET_KEY=secrets.token_hex(16))
    sys.path.insert(0, str(ROOT))
    from app import create_app

    app = create_app()
    client_ = app.test_client()
    page = client_.get("/auth/login").get_data(as_text=True)
    token = html.unescape(CSRF.search(page).group(1))
    client_.post("/auth/login", data={"username": LOGIN[0], "password": LOGIN[1], "csrf_token": token})
    for _ in range(3):
        client_.get("/cases/", headers=HX)
    profiler = cProfile.Profile()
    renders = 20
    started = time.perf_counter()
    profiler.enable()
    for _ in range(renders):
        client_.get("/cases/", headers=HX)
    profiler.disable()
    print(f"\nProfile: {renders} board partial renders in-process, {(time.perf_counter() - started) / renders * 1000:.1f} ms "
          "each under the profiler", file=sys.stderr)
    stats = pstats.Stats(profiler, stream=sys.stderr)
    stats.sort_stats("cumulative").print_stats(30)
    stats.sort_stats("tottime").print_stats(20)


if __name__ == "__main__":
    sys.exit(main())
