#!/usr/bin/env python3
"""Soak: Entra-shaped load for a chosen time against the app served as pserve serves it, reporting
errors, p99 latency and the server's memory over time (issue 7).

    .venv/bin/python benchmarks/soak.py --minutes 10                 # SQLite, N = 10,000
    .venv/bin/python benchmarks/soak.py --minutes 10 --postgres postgresql+psycopg://root@127.0.0.1:5432/test
    .venv/bin/python benchmarks/soak.py --minutes 1 --members 1000   # a quick look

The app is served and seeded as by benchmarks/run.py (``run.served``, ``run.prepare``). The load is the
mix of an Entra cycle, at concurrency 8 from a separate process: windows of ``--window`` seconds, each a
scenario in turn (filter by externalId, filter by userName, GET, PATCH active, POST), so that every
minute holds every kind of request. Each window prints one line (errors, statuses, req/s, p99, the
server's RSS at its end); the end prints a summary per minute, the verdict (no errors, memory flat:
the last minute's RSS within ``--rss-slack`` MB of the first's) and appends JSON lines to
benchmarks/results/soak.jsonl. Only 127.0.0.1 is contacted; it stops by itself.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import load
import run

HERE = Path(__file__).resolve().parent
MIX = ("filter_external_id", "filter_user_name", "get", "patch_active", "post")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the load runs (default 10)")
    parser.add_argument("--postgres", metavar="URL", help="serve from a fresh schema of this PostgreSQL database")
    parser.add_argument("--members", type=int, default=10_000, help="members seeded first (default 10,000)")
    parser.add_argument("--concurrency", type=int, default=8, help="connections at once (default 8)")
    parser.add_argument("--window", type=float, default=5.0, help="seconds per window (default 5)")
    parser.add_argument("--rss-slack", type=float, default=8.0,
                        help="MB the last minute's RSS may exceed the first's and still count as flat (default 8)")
    parser.add_argument("--results", type=Path, default=HERE / "results" / "soak.jsonl")
    args = parser.parse_args(argv)

    run_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    generator = "wrk" if load.which_wrk() else "python"
    windows = []
    with run.served(args.postgres, keep=False, hello=False) as instance:
        run.prepare(instance, args.members, 1, 100, 5000, "bulk")
        run.check(instance)
        server = instance.app
        print(f"# soak {run_id}: {instance.backend}, N = {args.members:,}, c = {args.concurrency}, "
              f"{args.minutes:g} min in {args.window:g} s windows, generator {generator}, server pid {server.pid}",
              flush=True)
        started = time.monotonic()
        deadline = started + args.minutes * 60
        number = 0
        while time.monotonic() < deadline:
            kind = MIX[number % len(MIX)]
            scenario = run.scenario(kind, instance.main, f"{run_id}-{number}")
            result = load.run_phase(generator, server.port, scenario, args.concurrency, 0.0, args.window,
                                    on_start=lambda: None, on_stop=lambda: None)
            if server.process.poll() is not None:
                print(f"# the server exited:\n{server.log()[-3000:]}", file=sys.stderr)
                return 1
            rss_mb = run.status_field(server.pid, "VmRSS") / 1024
            window = {"type": "window", "run_id": run_id, "backend": instance.backend, "number": number,
                      "minute": int((time.monotonic() - started) // 60), "scenario": kind,
                      "requests": result.requests, "rps": round(result.rps, 1), "errors": result.errors,
                      "statuses": result.statuses, "p99_ms": None if result.p99_us is None else round(result.p99_us / 1000, 2),
                      "rss_mb": round(rss_mb, 1)}
            windows.append(window)
            print(f"#  {window['minute']:>3} min  {kind:<20} {window['rps']:>7.1f} req/s  p99 {window['p99_ms']} ms  "
                  f"errors {window['errors']}  RSS {window['rss_mb']} MB", flush=True)
            number += 1

    minutes = sorted({w["minute"] for w in windows})
    print("\n| minute | requests | errors | worst p99 ms | RSS MB at its end |")
    print("|---|---|---|---|---|")
    per_minute = []
    for minute in minutes:
        of = [w for w in windows if w["minute"] == minute]
        row = {"minute": minute, "requests": sum(w["requests"] for w in of), "errors": sum(w["errors"] for w in of),
               "p99_ms": max((w["p99_ms"] or 0) for w in of), "rss_mb": of[-1]["rss_mb"]}
        per_minute.append(row)
        print(f"| {minute} | {row['requests']} | {row['errors']} | {row['p99_ms']} | {row['rss_mb']} |")
    errors = sum(w["errors"] for w in windows)
    growth = per_minute[-1]["rss_mb"] - per_minute[0]["rss_mb"]
    flat = growth <= args.rss_slack
    print(f"\nerrors: {errors}; RSS from {per_minute[0]['rss_mb']} to {per_minute[-1]['rss_mb']} MB "
          f"({growth:+.1f}, {'flat' if flat else 'GROWING'}); worst p99 {max(r['p99_ms'] for r in per_minute)} ms")
    args.results.parent.mkdir(parents=True, exist_ok=True)
    with open(args.results, "a") as out:
        for record in windows + [{"type": "summary", "run_id": run_id, "errors": errors, "rss_growth_mb": growth,
                                  "per_minute": per_minute}]:
            out.write(json.dumps(record) + "\n")
    return 0 if errors == 0 and flat else 1


if __name__ == "__main__":
    sys.exit(main())
