"""The ceiling: a bare WSGI hello-world, served by the same waitress settings as the application.

``benchmarks/run.py`` serves it with ``pserve`` from an ini that is the application's ini with only the
``[app:main]`` section replaced (``use = call:hello:make_app``), so waitress runs with exactly the same
``[server:main]`` (threads = 4, 127.0.0.1) and whatever the benchmark measures beyond this is the cost
of the application itself.

Standalone, for a quick look: ``.venv/bin/python benchmarks/hello.py [PORT]`` (waitress, threads=4).
"""
from __future__ import annotations

import sys

BODY = b"Hello, world!\n"
HEADERS = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(BODY)))]


def app(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]


def make_app(global_config=None, **settings):
    """PasteDeploy's ``call:`` factory."""
    return app


if __name__ == "__main__":
    from waitress import serve

    serve(app, listen=f"127.0.0.1:{int(sys.argv[1]) if len(sys.argv) > 1 else 6544}", threads=4)
