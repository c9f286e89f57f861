#!/usr/bin/env python3
"""What the application alone costs per request: the WSGI app called in a loop, in this process, no
server, no sockets, no threads. For profiling a change in seconds rather than in a benchmark's minutes;
the figures that count are ``run.py``'s (served, as a ratio to the hello-world of the same run).

    .venv/bin/python benchmarks/inprocess.py                          # every scenario, CPU µs per request
    .venv/bin/python benchmarks/inprocess.py --scenarios get --profile    # ... and cProfile's top functions
    .venv/bin/python benchmarks/inprocess.py --members 1000 --seconds 1   # a quick look
    valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
        .venv/bin/python benchmarks/inprocess.py --members 1000 --scenarios get --calls 1100   # minus --calls 100:
        # the instructions of 1,000 GETs, the same from run to run, whatever the machine's speed

The instance is made as ``run.py`` makes it (development.ini copied, migrated, onboarded, seeded in bulk
on SQLite), then the app is built from that ini as pserve builds it (``pyramid.paster.get_app``) and
called with environs shaped like Entra's requests. Each scenario is measured in rounds, interleaved with
the others, and its median printed with a bare hello-world's called the same way.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import quote

import run

import hello


def environ(method: str, path: str, query: str = "", token: str = "", body: bytes = b"") -> dict:
    env = {
        "REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "6543", "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr, "wsgi.multithread": True, "wsgi.multiprocess": False,
        "wsgi.run_once": False, "wsgi.version": (1, 0), "HTTP_HOST": "127.0.0.1:6543",
        "HTTP_ACCEPT": "application/scim+json", "HTTP_USER_AGENT": "Azure Active Directory SCIM Client",
    }
    if token:
        env["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    if body:
        env["CONTENT_TYPE"] = "application/scim+json; charset=utf-8"
        env["CONTENT_LENGTH"] = str(len(body))
    return env


class Requests:
    """Environs for each scenario, walking the seeded members."""

    def __init__(self, main: run.Organisation):
        self.main = main
        self.turn = 0
        self.template = run.post_template()

    def next(self, kind: str) -> tuple[dict, int]:
        self.turn += 1
        main, n = self.main, self.turn
        pick = n % len(main.ids)
        root = run.SCIM_ROOT + "/Users"
        if kind == "filter_external_id":
            query = "filter=" + quote(f'externalId eq "{main.external_ids[pick]}"')
            return environ("GET", root, query, main.token), 200
        if kind == "filter_user_name":
            query = "filter=" + quote(f'userName eq "{main.user_names[pick]}"')
            return environ("GET", root, query, main.token), 200
        if kind == "get":
            return environ("GET", f"{root}/{main.ids[pick]}", token=main.token), 200
        if kind == "healthz":
            # What any request costs before its own work: Pyramid's router, our tweens, the access log.
            return environ("GET", "/healthz"), 200
        if kind == "patch_active":
            # As run.py's scenario: "False", then "True" on the same member, so that every PATCH writes.
            value = "False" if n % 2 else "True"
            body = json.dumps({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                               "Operations": [{"op": "Replace", "path": "active", "value": value}]})
            return environ("PATCH", f"{root}/{main.ids[((n - 1) // 2) % len(main.ids)]}", token=main.token,
                           body=body.encode()), 200
        if kind == "post":
            body = self.template.replace("@@U@@", f"inproc-{time.time_ns()}-{n}")
            return environ("POST", root, token=main.token, body=body.encode()), 201
        raise SystemExit(f"unknown scenario {kind!r}")


def call(app, env: dict) -> int:
    status = []

    def start_response(line, headers, exc_info=None):
        status.append(int(line[:3]))

    body = app(env, start_response)
    for _ in body:
        pass
    close = getattr(body, "close", None)
    if close is not None:
        close()
    return status[0]


def checked_call(app, make) -> None:
    """One call of the next request ``make`` gives; a status other than the one it expects stops the run."""
    env, expected = make()
    status = call(app, env)
    if status != expected:
        raise SystemExit(f"expected {expected}, got {status} for {env['REQUEST_METHOD']} {env['PATH_INFO']}")


def measure(app, make, seconds: float) -> float:
    """CPU µs per request over ``seconds`` of calls."""
    count, began = 0, time.process_time()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for _ in range(20):
            checked_call(app, make)
        count += 20
    return (time.process_time() - began) / count * 1e6


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--scenarios", default="filter_external_id,filter_user_name,get,patch_active,post")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0, help="measured seconds per scenario and round")
    parser.add_argument("--profile", action="store_true", help="then profile each scenario (cProfile)")
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--calls", type=int, metavar="N",
                        help="instead of timing: make exactly N calls of each scenario, untimed (for counting "
                             "instructions under valgrind: the difference of two N is the calls' own)")
    args = parser.parse_args(argv)
    kinds = args.scenarios.split(",")
    with ExitStack() as stack:
        instance = stack.enter_context(run.served(None, keep=False, hello=False))
        origin = f"http://127.0.0.1:{instance.app.port}"
        instance.others.append(run.onboard(instance.ini, run.other_label(0), origin))
        run.seed(instance.ini, instance.others[0], 1000, 5000, "bulk")
        run.seed(instance.ini, instance.main, args.members, 5000, "bulk")
        from pyramid.paster import get_app
        # The access log goes where it would go under pserve (stderr), but not to this terminal.
        sys.stderr = open("/dev/null", "w")
        app = get_app(str(instance.ini), "main")
        requests = Requests(instance.main)
        if args.calls is not None:
            for kind in kinds:
                for _ in range(args.calls):
                    checked_call(app, lambda: requests.next(kind))
            return 0
        figures: dict[str, list[float]] = {kind: [] for kind in ["hello", *kinds]}
        for kind in kinds:  # warm every path once
            measure(app, lambda: requests.next(kind), 0.3)
        for round_ in range(args.rounds):
            figures["hello"].append(measure(hello.app, lambda: (environ("GET", "/"), 200), args.seconds))
            for kind in kinds[round_ % len(kinds):] + kinds[:round_ % len(kinds)]:
                figures[kind].append(measure(app, lambda: requests.next(kind), args.seconds))
        base = statistics.median(figures["hello"])
        print(f"# in-process, SQLite, N = {args.members:,}; {args.rounds} rounds x {args.seconds} s; "
              f"CPU µs per request (median), and as a multiple of the hello-world called the same way")
        for kind, values in figures.items():
            value = statistics.median(values)
            print(f"{kind:20s} {value:8.1f} µs  {value / base:6.1f}x   rounds: "
                  + " ".join(f"{v:.0f}" for v in values))
        if args.profile:
            for kind in kinds:
                profiler = cProfile.Profile()
                profiler.enable()
                measure(app, lambda: requests.next(kind), args.seconds * 2)
                profiler.disable()
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(args.top)
                print(f"\n## {kind}\n" + out.getvalue().split("\n", 6)[-1], file=sys.__stdout__)
    return 0


if __name__ == "__main__":
    sys.exit(main())
