#!/usr/bin/env python3
"""Where one scenario's time goes: py-spy samples the served pserve process while the benchmark's load
generator drives that scenario, then the samples are summed per function.

    .venv/bin/pip install py-spy                     # once; not a dependency of the project
    .venv/bin/python benchmarks/hotspots.py           # filter by externalId, SQLite, N = 10,000, c = 1
    .venv/bin/python benchmarks/hotspots.py --scenario post --seconds 20 --flamegraph /tmp/post.svg

The instance is served and seeded exactly as by benchmarks/run.py (same options for the database and N).
Prints, per function (``file:function``), the share of samples in which it is on the stack (inclusive)
and at the top of it (self), grouped also by package (our code, SQLAlchemy, Pyramid, waitress, ...).
By default py-spy samples only the thread holding the GIL (``--gil``): that is where the process's CPU
goes, and it leaves out the time a waitress thread spends waiting for the GIL after handing a response to
the I/O thread (``trigger._physical_pull``, ``dispatcher.send``), which py-spy otherwise counts as
active. ``--all-threads`` samples every non-idle thread instead. Work done in C with the GIL released
(SQLite's own query execution) is then not attributed; with indexed single-row lookups it is small.
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path

import load
import run

FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def short_file(path: str) -> str:
    for marker in ("/site-packages/", "/src/", "/lib/python3"):
        if marker in path:
            tail = path.split(marker, 1)[1]
            return tail.split("/", 1)[1] if marker == "/lib/python3" and "/" in tail else tail
    return path


def package(file: str) -> str:
    if file.startswith("wiggledesk_scim/"):
        return "wiggledesk_scim/" + file.split("/")[1]
    return file.split("/", 1)[0].removesuffix(".py") if "/" in file else file.removesuffix(".py")


def summarise(raw: Path, top: int) -> str:
    inclusive: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    packages_self: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = []
        for frame in stack.split(";"):
            match = FRAME.match(frame)
            if not match:
                continue
            if match["function"].startswith("process ") or match["function"].startswith("thread "):
                continue
            frames.append(f"{short_file(match['file'])}:{match['function']}")
        if not frames:
            continue
        for name in set(frames):
            inclusive[name] += samples
        self_time[frames[-1]] += samples
        packages_self[package(frames[-1].rsplit(":", 1)[0])] += samples
    if not total:
        return "py-spy recorded no samples"
    out = [f"{total} samples", "", "self time by package:"]
    out += [f"  {n / total:6.1%}  {name}" for name, n in packages_self.most_common(12)]
    out += ["", f"top {top} functions by self time:"]
    out += [f"  {n / total:6.1%}  {name}" for name, n in self_time.most_common(top)]
    out += ["", f"top {top} of our functions by inclusive time (on the stack):"]
    ours = [(name, n) for name, n in inclusive.most_common() if name.startswith("wiggledesk_scim/")]
    out += [f"  {n / total:6.1%}  {name}" for name, n in ours[:top]]
    out += ["", f"top {top} functions of other packages by inclusive time:"]
    theirs = [(name, n) for name, n in inclusive.most_common()
              if not name.startswith("wiggledesk_scim/") and not name.startswith(("waitress/", "threading"))]
    out += [f"  {n / total:6.1%}  {name}" for name, n in theirs[:top]]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default="filter_external_id", choices=run.SCENARIOS)
    parser.add_argument("--postgres", metavar="URL")
    parser.add_argument("-n", "--members", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=15.0, help="seconds sampled (default 15)")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second (default 200)")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--all-threads", action="store_true",
                        help="sample every non-idle thread, not only the one holding the GIL")
    parser.add_argument("--idle", action="store_true",
                        help="with --all-threads: idle (waiting) threads too, to see where requests wait")
    parser.add_argument("--seed", choices=("add", "bulk"), default="add")
    parser.add_argument("--raw", type=Path, help="keep py-spy's collapsed stacks in this file")
    parser.add_argument("--flamegraph", type=Path, help="also write py-spy's flame graph (SVG) here")
    args = parser.parse_args(argv)
    try:
        py_spy = run.executable("py-spy")
    except run.Unusable:
        print("profile: py-spy is not installed; .venv/bin/pip install py-spy", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="wiggledesk-profile-") as directory, \
            run.served(args.postgres, keep=False) as instance:
        run.prepare(instance, args.members, 3, 1000, 5000, args.seed)
        run.check(instance)
        raw = args.raw or Path(directory) / "stacks.txt"
        record = [py_spy, "record", "--pid", str(instance.app.pid), "--rate", str(args.rate),
                  "--duration", str(int(args.seconds)), "--nonblocking"] + ([] if args.all_threads else ["--gil"]) + (["--idle"] if args.idle else [])
        commands = [record + ["--format", "raw", "--output", str(raw)]]
        if args.flamegraph:
            commands.append(record + ["--format", "flamegraph", "--output", str(args.flamegraph)])
        for number, command in enumerate(commands):
            finished: list[subprocess.CompletedProcess] = []
            thread = threading.Thread(target=lambda c=command, into=finished: into.append(
                subprocess.run(c, capture_output=True, text=True, check=False)))
            scenario = run.scenario(args.scenario, instance.main, f"profile{number}")
            thread.start()
            load.run_phase("python", instance.app.port, scenario, args.concurrency, 0.5, args.seconds + 1.0,
                           on_start=lambda: None, on_stop=lambda: None)
            thread.join()
            if finished[0].returncode != 0:
                print(f"profile: py-spy failed: {finished[0].stderr.strip()}", file=sys.stderr)
                return 2
        print(f"# {args.scenario}, {instance.backend}, N = {args.members:,}, c = {args.concurrency}, "
              f"py-spy --nonblocking{'' if args.all_threads else ' --gil'} at {args.rate} Hz for {int(args.seconds)} s")
        print(summarise(raw, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
