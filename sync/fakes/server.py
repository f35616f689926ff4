"""Serve fake platforms over HTTP on loopback: each under its family's prefix (/taobao, /jd, /douyin)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from sync.fakes.base import FakePlatform


class Dispatcher:
    def __init__(self, platforms: dict[str, FakePlatform]):
        self.platforms = platforms

    def __call__(self, environ, start_response):
        prefix, _, rest = environ.get("PATH_INFO", "/").lstrip("/").partition("/")
        platform = self.platforms.get(prefix)
        if platform is None:
            return Response("no such fake platform", status=404)(environ, start_response)
        environ = dict(environ, PATH_INFO="/" + rest, SCRIPT_NAME=environ.get("SCRIPT_NAME", "") + "/" + prefix)
        return platform(environ, start_response)


@dataclass
class Running:
    url: str
    server: object
    thread: threading.Thread
    platforms: dict

    def api_url(self, family: str) -> str:
        """What a shop's connection names as its endpoint to reach this fake."""
        return self.url + "/" + family + self.platforms[family].path

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(5)


def serve(platforms: list[FakePlatform], host: str = "127.0.0.1", port: int = 0) -> Running:
    """Start a threaded server for ``platforms`` (port 0: any free one) and return how to reach it."""
    by_family = {platform.family: platform for platform in platforms}
    server = make_server(host, port, Dispatcher(by_family), threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="fake-platforms", daemon=True)
    thread.start()
    return Running(f"http://{host}:{server.server_port}", server, thread, by_family)


__all__ = ["Request", "Response", "Running", "serve"]
