"""Gunicorn settings: the server `make run` starts, for one app server of a deployment.

    .venv/bin/gunicorn -c deploy/gunicorn.conf.py app:app

From the environment: ``BIND`` (default 127.0.0.1:5000; an address the proxy can reach, e.g. 10.0.0.11:5000,
when nginx runs on another machine) and ``WEB_CONCURRENCY`` (worker processes, default 2: about two per core is
plenty, an unchanged poll is answered 204 in a fraction of a millisecond).
"""

import os

bind = os.environ.get("BIND", "127.0.0.1:5000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = 4
# A slow export or import may take a minute; the proxy's proxy_read_timeout (deploy/nginx.conf) matches this.
timeout = 120
# Longer than nginx keeps an idle upstream connection (keepalive_timeout 60s in deploy/nginx.conf): the proxy
# closes it first, so it never sends a request on a connection gunicorn is closing (a 502 for the client).
keepalive = 75
accesslog = "-"  # stdout: the journal under systemd
# The access log without the line of each poll answered 204 "nothing changed" (live.py).
logger_class = "live.QuietPollLogger"
