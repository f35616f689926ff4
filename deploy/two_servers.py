"""Two app servers behind nginx, on one machine: does the app work when any server may answer any request?

    .venv/bin/python deploy/two_servers.py        # from the project root, as root, on a Debian machine

It installs what is missing with apt (postgresql, redis-server, nginx, chromium, wrk), then starts, on
127.0.0.1 and free ports, in a temporary folder: a throwaway PostgreSQL, a Redis without persistence, the
database's migrations and ``flask demo-data`` run once, two gunicorns with deploy/gunicorn.conf.py sharing
the database, Redis, the keys and one folder for evidence and imports (in production a shared folder every
server mounts, NFS or the like), and nginx with deploy/nginx.conf rendered for them. nginx's copy adds the header
``X-Upstream`` (commented out in deploy/nginx.conf), so each answer says which server made it. Then, through
the proxy:

a. /health answers 200, and each server answers it directly;
b. two browsers log in (lead and agent1); agent1 watches the board while lead flags a case; the flag
   appears on agent1's board without a reload, and both servers answered the browsers' requests;
c. 11 wrong passwords from one client: 10 answered with the form, the 11th 429, both servers counted
   (Redis); a login from another address right after still gets through (the limit counts the client
   ProxyFix reports, not nginx);
d. a photo uploaded as evidence to server 1 downloads byte for byte from server 2;
e. 10 s each with 8 keep-alive clients (wrk): the board's unchanged poll (204) and the bare route /ping,
   requests per second and their ratio.

Each check prints PASS or FAIL; the last line is one JSON object with the figures. Everything started is
stopped and the temporary folder deleted, also on Ctrl-C or a failed check. Exit status 0 when every check
passes. About a minute, plus the installation the first time.
"""

from __future__ import annotations

import contextlib
import glob
import html
import json
import os
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import requests
from requests.adapters import HTTPAdapter

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
DEMO_PASSWORD = "demo1234"
CHROMIUM = "/usr/bin/chromium"
# The flags tests/browser/conftest.py runs Debian's Chromium with.
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]
BOARD_POLL = re.compile(r'<section id="board"[^>]*?hx-get="([^"]+)"')
CSRF = re.compile(r'name="csrf_token"[^>]*?value="([^"]+)"')
CARD = re.compile(r'<article class="case-card[^"]*" id="case-(\d+)"')
LOAD_SECONDS = 10
LOAD_CLIENTS = 8
OTHER_CLIENT = "127.0.0.2"  # the wrong-password client's own loopback address


# --- setting up -------------------------------------------------------------------------------

def install_missing() -> None:
    """apt-get install what this machine lacks, as .ci/run does; nothing when all is there."""
    wanted = {
        "postgresql": bool(glob.glob("/usr/lib/postgresql/*/bin/initdb")),
        "redis-server": bool(shutil.which("redis-server")),
        "nginx": bool(shutil.which("nginx")),
        "chromium": Path(CHROMIUM).exists(),
        "wrk": bool(shutil.which("wrk")),
    }
    missing = [package for package, present in wanted.items() if not present]
    if not missing:
        return
    print(f"installing {' '.join(missing)} …", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with services_not_started():
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env)


@contextlib.contextmanager
def services_not_started():
    """Debian starts a package's service on install (nginx on port 80, PostgreSQL's main cluster …): this
    script runs its own, so forbid that while installing (policy-rc.d, exit 101), unless a policy exists."""
    policy = Path("/usr/sbin/policy-rc.d")
    if policy.exists():
        yield
        return
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    try:
        yield
    finally:
        policy.unlink()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(ready, what: str, process: subprocess.Popen | None = None, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with status {process.returncode}")
        with contextlib.suppress(OSError, requests.RequestException):
            if ready():
                return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not start within {seconds:.0f} s")


def _die_with_parent():  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Stack:
    """What the script started, in order, so that ``stop`` undoes all of it whatever happened."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.processes: list[subprocess.Popen] = []
        self.pg_data: Path | None = None
        self.pg_bin = Path(sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))[-1])

    def spawn(self, name: str, args: list[str], env: dict | None = None) -> subprocess.Popen:
        """A child in its own process group (Ctrl-C reaches only this script, which stops it in turn)."""
        log = open(self.folder / f"{name}.log", "wb")
        process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True, preexec_fn=_die_with_parent)
        log.close()
        self.processes.append(process)
        return process

    def as_postgres(self, command: str) -> None:
        subprocess.run(["su", "postgres", "-s", "/bin/sh", "-c", command], check=True, stdout=subprocess.DEVNULL)

    def start_postgres(self, port: int) -> None:
        folder = self.folder / "pg"
        folder.mkdir()
        shutil.chown(folder, "postgres", "postgres")
        self.as_postgres(f"{self.pg_bin}/initdb -D {folder}/data -U postgres -A trust -E UTF8 --locale=C.UTF-8")
        self.pg_data = folder / "data"
        self.as_postgres(f"{self.pg_bin}/pg_ctl -D {folder}/data -l {folder}/log -w -o "
                         f"'-h 127.0.0.1 -p {port} -k {folder} -c fsync=off -c synchronous_commit=off' start")
        self.as_postgres(f"{self.pg_bin}/createdb -h 127.0.0.1 -p {port} -U postgres aftersales")

    def start_redis(self, port: int) -> None:
        process = self.spawn("redis", ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                                       "--appendonly", "no", "--dir", str(self.folder)])
        wait_until(lambda: socket.create_connection(("127.0.0.1", port), timeout=1).close() is None,
                   "redis-server", process)

    def start_app(self, name: str, port: int, env: dict) -> None:
        env = {**env, "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "2"}
        process = self.spawn(name, [str(BIN / "gunicorn"), "-c", "deploy/gunicorn.conf.py", "app:app"], env)
        wait_until(lambda: requests.get(f"http://127.0.0.1:{port}/ping", timeout=2).ok, name, process)

    def start_nginx(self, port: int, app_ports: list[int]) -> None:
        config = render_nginx(self.folder / "nginx", port, app_ports)
        process = self.spawn("nginx", ["nginx", "-c", str(config), "-p", str(config.parent), "-e",
                                       str(config.parent / "error.log")])
        wait_until(lambda: requests.get(f"http://127.0.0.1:{port}/ping", timeout=2).ok, "nginx", process)

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)  # gunicorn's master and workers, nginx's too
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=5)
        if self.pg_data is not None:
            with contextlib.suppress(subprocess.CalledProcessError):
                self.as_postgres(f"{self.pg_bin}/pg_ctl -D {self.pg_data} -m immediate stop")


def render_nginx(folder: Path, port: int, app_ports: list[int]) -> Path:
    """deploy/nginx.conf with its placeholders filled and X-Upstream on, in a main config that keeps every
    file nginx writes (pid, logs, buffers) in ``folder``."""
    folder.mkdir()
    site = (ROOT / "deploy" / "nginx.conf").read_text()
    for placeholder, value in {"{{LISTEN}}": f"127.0.0.1:{port}", "{{SERVER_NAME}}": "_",
                               "{{APP1}}": f"127.0.0.1:{app_ports[0]}", "{{APP2}}": f"127.0.0.1:{app_ports[1]}"}.items():
        site = site.replace(placeholder, value)
    site = site.replace("# add_header X-Upstream", "add_header X-Upstream")
    (folder / "aftersales.conf").write_text(site)
    main = folder / "nginx.conf"
    main.write_text(f"""
daemon off;
worker_processes 1;  # one worker: its round robin alternates strictly between the two servers
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {folder}/access.log;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    include {folder}/aftersales.conf;
}}
""")
    return main


def app_environment(folder: Path, pg_port: int, redis_port: int) -> dict:
    """What every app server shares: one database, one Redis, the same keys, one folder for files."""
    shared = folder / "shared"  # production: a shared folder every server mounts (NFS or the like)
    env = {key: value for key, value in os.environ.items() if key not in ("SHOP_TIMEZONE", "RATELIMIT_STORAGE_URI")}
    env.update({
        "DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:{pg_port}/aftersales",
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "SECRET_KEY": secrets.token_hex(32),
        "CREDENTIALS_KEY": secrets.token_hex(32),
        "EVIDENCE_DIR": str(shared / "evidence"),
        "IMPORT_DIR": str(shared / "imports"),
        "TRUSTED_PROXIES": "1",
    })
    return env


def flask(args: list[str], env: dict) -> None:
    done = subprocess.run([str(BIN / "flask"), "--app", "app", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


# --- the checks -------------------------------------------------------------------------------

class Servers:
    """The proxy's address and a name for each app server, as X-Upstream tells it (127.0.0.1:PORT)."""

    def __init__(self, proxy_port: int, app_ports: list[int]):
        self.proxy = f"http://127.0.0.1:{proxy_port}"
        self.apps = app_ports
        self.names = {f"127.0.0.1:{port}": f"server{number}" for number, port in enumerate(app_ports, 1)}

    def which(self, response) -> str:
        """server1, server2, or what nginx wrote (several addresses when it tried the next server)."""
        upstream = response.headers.get("x-upstream", "")  # requests: any case; Playwright: lower case
        return self.names.get(upstream, upstream or "none")


def session_from(address: str | None = None) -> requests.Session:
    """A requests session whose connections leave from ``address`` (another client, to nginx's eyes)."""
    session = requests.Session()
    if address:
        class FromAddress(HTTPAdapter):
            def init_poolmanager(self, *args, **kwargs):
                super().init_poolmanager(*args, **{**kwargs, "source_address": (address, 0)})

        session.mount("http://", FromAddress())
    return session


def csrf_token(page: str) -> str:
    return html.unescape(CSRF.search(page).group(1))


def log_in(servers: Servers, session: requests.Session, username: str, password: str = DEMO_PASSWORD):
    token = csrf_token(session.get(f"{servers.proxy}/auth/login", timeout=10).text)
    return session.post(f"{servers.proxy}/auth/login", timeout=10, allow_redirects=False,
                        data={"username": username, "password": password, "csrf_token": token})


def check_health(servers: Servers) -> tuple[bool, dict]:
    proxied = requests.get(f"{servers.proxy}/health", timeout=10)
    direct = [requests.get(f"http://127.0.0.1:{port}/health", timeout=10).status_code for port in servers.apps]
    detail = {"proxy": proxied.status_code, "server1": direct[0], "server2": direct[1]}
    return proxied.status_code == 200 and direct == [200, 200], detail


def check_browsers(servers: Servers) -> tuple[bool, dict]:
    """lead flags a case; agent1's board, open since before, shows the flag at its next poll."""
    from playwright.sync_api import sync_playwright

    answered: dict[str, int] = {}
    marker = f"two-servers-{secrets.token_hex(3)}"

    def count(response):
        name = servers.which(response)
        answered[name] = answered.get(name, 0) + 1

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            lead, agent = (browser.new_context(base_url=servers.proxy) for _ in range(2))
            for context in (lead, agent):
                context.on("response", count)
            lead_page, board_page = lead.new_page(), agent.new_page()
            browser_log_in(lead_page, "lead")
            browser_log_in(board_page, "agent1")
            board_page.goto("/cases/")
            case_id = CARD.search(board_page.content()).group(1)
            loads = []
            board_page.on("load", lambda: loads.append(time.monotonic()))  # a reload would fire it

            lead_page.goto(f"/cases/{case_id}")
            lead_page.locator(f"#flag-{case_id}").select_option("red")
            lead_page.locator(f"#flag-note-{case_id}").fill(marker)
            with lead_page.expect_response(lambda r: r.url.endswith(f"/cases/{case_id}/flag")) as posted:
                lead_page.locator(f"form[action$='/cases/{case_id}/flag'] button[type=submit]").click()
            flagged, flag_status = time.monotonic(), posted.value.status
            card = board_page.locator(f"#case-{case_id}")
            seen = None
            with contextlib.suppress(Exception):
                card.filter(has_text=marker).wait_for(timeout=30_000)
                seen = round(time.monotonic() - flagged, 1)
        finally:
            browser.close()
    both = {"server1", "server2"} <= answered.keys()
    detail = {"case": int(case_id), "flag_post": flag_status, "seen_after_s": seen,
              "board_reloaded": bool(loads), "answered_by": answered}
    return seen is not None and not loads and both and flag_status == 200, detail


def browser_log_in(page, username: str) -> None:
    """As tests/browser/conftest.py logs in."""
    page.goto("/auth/login")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(DEMO_PASSWORD)
    page.locator("form button[type=submit]").click()
    page.wait_for_url(lambda url: "/auth/login" not in url)


def check_wrong_passwords(servers: Servers) -> tuple[bool, dict]:
    """11 wrong passwords for agent1 from one client: 10 forms again, then 429; counted across both servers."""
    guesser = session_from(OTHER_CLIENT)
    token = csrf_token(guesser.get(f"{servers.proxy}/auth/login", timeout=10).text)
    statuses, answered = [], []
    for attempt in range(11):
        response = guesser.post(f"{servers.proxy}/auth/login", timeout=10, allow_redirects=False,
                                data={"username": "agent1", "password": f"wrong-{attempt}", "csrf_token": token})
        statuses.append(response.status_code)
        answered.append(servers.which(response))
    # Another address is not refused: the limit counts the client ProxyFix reports, not nginx's address.
    other = log_in(servers, session_from(), "agent1").status_code
    detail = {"client": OTHER_CLIENT, "statuses": statuses, "answered_by": answered, "other_client_login": other}
    passed = statuses == [200] * 10 + [429] and {"server1", "server2"} <= set(answered) and other == 302
    return passed, detail


def tiny_png() -> bytes:
    """A 1×1 PNG with a random text chunk: bytes no other upload has."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    text = b"Comment\x00" + secrets.token_hex(8).encode()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"tEXt", text)
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x80\x00")) + chunk(b"IEND", b""))


def next_goes_to(servers: Servers, session: requests.Session, name: str) -> None:
    """Send /ping until the one just answered was the other server: round robin sends the next to ``name``."""
    for _ in range(6):
        if servers.which(session.get(f"{servers.proxy}/ping", timeout=10)) != name:
            return


def check_evidence(servers: Servers) -> tuple[bool, dict]:
    """Upload a photo to a case on server 1; download it until server 2 answers; same bytes."""
    lead = session_from()
    log_in(servers, lead, "lead")
    board = lead.get(f"{servers.proxy}/cases/", timeout=10).text
    case_id = CARD.search(board).group(1)
    case_url = f"{servers.proxy}/cases/{case_id}"
    token = csrf_token(lead.get(case_url, timeout=10).text)
    photo = tiny_png()
    next_goes_to(servers, lead, "server1")
    upload = lead.post(f"{case_url}/evidence", timeout=30, allow_redirects=False,
                       data={"csrf_token": token}, files={"file": ("two-servers.png", photo, "image/png")})
    ids = [int(found) for found in re.findall(rf"/cases/{case_id}/evidence/(\d+)", lead.get(case_url, timeout=10).text)]
    detail = {"case": int(case_id), "upload_status": upload.status_code, "uploaded_on": servers.which(upload)}
    if not ids:
        return False, {**detail, "error": "no evidence on the case page"}
    downloads = []
    for _ in range(6):
        download = lead.get(f"{case_url}/evidence/{max(ids)}", timeout=10)
        downloads.append((servers.which(download), download.status_code))
        if downloads[-1][0] == "server2":
            break
    detail.update(downloaded_from=[name for name, _status in downloads], same_bytes=download.content == photo)
    passed = (upload.status_code in (302, 303) and detail["uploaded_on"] == "server1"
              and downloads[-1] == ("server2", 200) and download.content == photo)
    return passed, detail


def run_wrk(url: str, headers: dict) -> dict:
    """wrk's figures for LOAD_SECONDS with LOAD_CLIENTS keep-alive connections."""
    args = ["wrk", "--threads", "2", "--connections", str(LOAD_CLIENTS), "--duration", f"{LOAD_SECONDS}s"]
    for name, value in headers.items():
        args += ["--header", f"{name}: {value}"]
    out = subprocess.run([*args, url], capture_output=True, text=True, timeout=LOAD_SECONDS + 30).stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    failed = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {"rps": float(found.group(1)) if found else 0.0, "non_2xx": int(failed.group(1)) if failed else 0,
            "socket_errors": errors.group(0) if errors else ""}


def check_throughput(servers: Servers) -> tuple[bool, dict]:
    """The board's unchanged poll against the bare route, both through the proxy."""
    lead = session_from()
    log_in(servers, lead, "lead")
    board = lead.get(f"{servers.proxy}/cases/", timeout=10).text
    poll_url = servers.proxy + html.unescape(BOARD_POLL.search(board).group(1))
    headers = {"HX-Request": "true", "Cookie": "; ".join(f"{c.name}={c.value}" for c in lead.cookies)}
    before = requests.get(poll_url, headers=headers, timeout=10).status_code
    poll = run_wrk(poll_url, headers)
    after = requests.get(poll_url, headers=headers, timeout=10).status_code  # 204 still: every poll was 204
    bare = run_wrk(f"{servers.proxy}/ping", {})
    ratio = round(poll["rps"] / bare["rps"], 2) if bare["rps"] else 0.0
    detail = {"poll_rps": poll["rps"], "bare_rps": bare["rps"], "poll_to_bare": ratio,
              "poll_status_before_after": [before, after], "non_2xx": poll["non_2xx"] + bare["non_2xx"],
              "socket_errors": [poll["socket_errors"], bare["socket_errors"]]}
    passed = before == after == 204 and poll["rps"] > 0 and bare["rps"] > 0 and detail["non_2xx"] == 0
    return passed, detail


CHECKS = [
    ("a", "/health through the proxy and on each server", check_health),
    ("b", "a change in one browser appears on another's board, both servers answering", check_browsers),
    ("c", "the 11th wrong password is refused (429), counted across both servers", check_wrong_passwords),
    ("d", "evidence uploaded on server 1 downloads from server 2", check_evidence),
    ("e", f"throughput with {LOAD_CLIENTS} clients for {LOAD_SECONDS} s: unchanged board poll and /ping", check_throughput),
]


def run_checks(servers: Servers, results: dict) -> None:
    """Run every check in turn, filling ``results`` as they end (an interruption keeps those done)."""
    for key, title, check in CHECKS:
        try:
            passed, detail = check(servers)
        except Exception as error:  # a check that breaks fails; the others still run
            passed, detail = False, {"error": f"{type(error).__name__}: {error}"}
        results[key] = {"passed": passed, **detail}
        print(f"{'PASS' if passed else 'FAIL'} {key}. {title}: {json.dumps(detail, ensure_ascii=False)}", flush=True)


# --- main ---------------------------------------------------------------------------------------

def start_everything(stack: Stack) -> Servers:
    pg_port, redis_port, proxy_port = free_port(), free_port(), free_port()
    app_ports = [free_port(), free_port()]
    print(f"PostgreSQL :{pg_port}, Redis :{redis_port}, app servers :{app_ports[0]} :{app_ports[1]}, "
          f"nginx :{proxy_port}, in {stack.folder}", flush=True)
    stack.start_postgres(pg_port)
    stack.start_redis(redis_port)
    env = app_environment(stack.folder, pg_port, redis_port)
    flask(["db", "upgrade"], env)  # once, before any server starts
    flask(["demo-data", "--cases", "200"], env)
    for number, port in enumerate(app_ports, 1):
        stack.start_app(f"server{number}", port, env)
    stack.start_nginx(proxy_port, app_ports)
    return Servers(proxy_port, app_ports)


def stop_on_term(signum, frame):
    raise KeyboardInterrupt  # the same clean-up as Ctrl-C


def main() -> int:
    if os.geteuid() != 0:
        print("run as root: it installs packages and runs PostgreSQL as the postgres user", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, stop_on_term)
    install_missing()
    folder = Path(tempfile.mkdtemp(prefix="two-servers-"))
    folder.chmod(0o755)  # the postgres user and nginx's workers reach their files inside
    stack = Stack(folder)
    results: dict = {}
    try:
        servers = start_everything(stack)
        run_checks(servers, results)
    except KeyboardInterrupt:
        print("interrupted: stopping everything", flush=True)
    except Exception as error:
        print(f"FAIL setting up: {error}", flush=True)
        for log in sorted(folder.glob("*.log")):
            print(f"--- {log.name} (end)\n{log.read_text(errors='replace')[-1500:]}", flush=True)
    finally:
        stack.stop()
        shutil.rmtree(folder, ignore_errors=True)
    passed = len(results) == len(CHECKS) and all(result["passed"] for result in results.values())
    summary = {"passed": passed, **{key: result.get("passed") for key, result in results.items()}}
    figures = results.get("e", {})
    summary.update({name: figures.get(name) for name in ("poll_rps", "bare_rps", "poll_to_bare")})
    summary["board_change_seen_after_s"] = results.get("b", {}).get("seen_after_s")
    summary["checks"] = results
    print(json.dumps(summary, ensure_ascii=False))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
