#!/usr/bin/env python3
"""Run the third-party SCIM conformance suite scim2-tester against a served wiggledesk-scim.

By default the service is started as production would run it: ``pserve`` serving a copy of
development.ini in a temporary directory, listening on a free port of 127.0.0.1, its database a fresh
SQLite file there (or, with ``--postgres URL``, a fresh schema in that PostgreSQL database, migrated with
the CLI and dropped afterwards). An organisation is onboarded with ``wiggledesk-scim CONFIG onboard`` and
its token is the bearer token of every request. The server is always stopped at the end.

With ``--base-url URL --token TOKEN`` the suite runs against a server that is already up instead
(it creates and deletes members of that token's organisation: use a throwaway one).

One line per check (status, check, resource type, reason; the data of every failure below it), then a
summary; the exit status is 1 if any check failed (ERROR or CRITICAL), 2 if the run could not start.

    .venv/bin/pip install -e '.[conformance]'      # once (make creates .venv)
    .venv/bin/python scripts/conformance.py         # SQLite; add --postgres URL, --trace FILE, -v
    .venv/bin/python scripts/conformance.py --base-url http://127.0.0.1:6543/scim/v2 --token TOKEN

The suite's random values are seeded (``--seed``, default 0), so a run can be repeated exactly.
"""
from __future__ import annotations

import argparse
import enum
import json
import random
import signal
import socket
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Iterator

from served import (Unusable, cli, environment, executable, free_port, fresh_postgres_schema,
                    ini_copy, working_directory)

SCIM_ROOT = "/scim/v2"
STARTUP_SECONDS = 60
EXIT_FAILED, EXIT_UNUSABLE = 1, 2

# scim2_tester.Status names, by what they mean for the summary.
PASSED = {"SUCCESS", "COMPLIANT", "ACCEPTABLE"}
WARNED = {"DEVIATION"}  # departs from a SHOULD of the RFC: reported, not a failure
FAILED = {"ERROR", "CRITICAL"}
SKIPPED = {"SKIPPED"}


# -- the served instance ------------------------------------------------------------------------------

@contextmanager
def served_instance(postgres: str | None, keep: bool) -> Iterator[tuple[str, str]]:
    """Serve a fresh instance with one onboarded organisation; yield (SCIM base URL, token)."""
    with ExitStack() as stack:
        directory = working_directory(stack, "wiggledesk-conformance-", keep)
        port = free_port()
        origin = f"http://127.0.0.1:{port}"
        if postgres:
            url = stack.enter_context(fresh_postgres_schema(postgres, "wiggledesk_conformance"))
            ini = ini_copy(directory, port, {"sqlalchemy.url": url, "wiggledesk.auto_migrate": "false"})
            cli(ini, "migrate")
        else:
            ini = ini_copy(directory, port, {"sqlalchemy.url": f"sqlite:///{directory / 'conformance.sqlite'}"})
            cli(ini, "migrate")  # auto_migrate would do it at startup too; the CLI reports failures better
        token = cli(ini, "onboard", "Conformance", "admin@conformance.example",
                     "--base-url", origin).strip().splitlines()[-1]

        log_path = directory / "pserve.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen([executable("pserve"), str(ini)], stdout=log, stderr=subprocess.STDOUT,
                                       env=environment(), cwd=directory)
        stack.callback(_stop, process)
        _wait_for(process, port, log_path)
        print(f"# serving {ini.name} with pserve (pid {process.pid}) on {origin}"
              f"{' with PostgreSQL' if postgres else ' with SQLite'}; log: "
              f"{log_path if keep else 'kept only with --keep'}", flush=True)
        try:
            yield origin + SCIM_ROOT, token
        finally:
            if process.poll() is not None:
                print(f"# pserve exited early with {process.returncode}:\n{log_path.read_text(errors='replace')}")


def _wait_for(process: subprocess.Popen, port: int, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise Unusable(f"pserve exited with {process.returncode}:\n{log_path.read_text(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise Unusable(f"pserve did not answer on port {port} within {STARTUP_SECONDS}s:\n"
                   f"{log_path.read_text(errors='replace')}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)


# -- the suite --------------------------------------------------------------------------------------

class Trace:
    """Every HTTP exchange of the suite, one JSON object a line (``--trace FILE``)."""

    def __init__(self, path: Path):
        self.file = open(path, "w", encoding="utf-8")
        self.count = 0

    def __call__(self, response: Any) -> None:  # an httpx2 "response" event hook
        response.read()
        request = response.request
        self.count += 1
        self.file.write(json.dumps({
            "n": self.count, "method": request.method, "url": str(request.url),
            "request": _body(request.content), "status": response.status_code,
            "response": _body(response.content)}, ensure_ascii=False) + "\n")

    def close(self) -> None:
        self.file.close()


def _body(content: bytes) -> Any:
    if not content:
        return None
    try:
        return json.loads(content)
    except ValueError:
        return content.decode("utf-8", errors="replace")


def run_checks(base_url: str, token: str, include: set[str] | None, exclude: set[str] | None,
               resource_types: list[str] | None, trace: Trace | None = None) -> list[Any]:
    try:
        import httpx2
        from scim2_client.engines.httpx2 import SyncSCIMClient
        from scim2_tester import check_server
    except ImportError as exc:
        raise Unusable(f"{exc}. Install the suite: .venv/bin/pip install -e '.[conformance]'") from exc

    # trust_env=False: no proxy from the environment between the suite and the server.
    http = httpx2.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"},
                         trust_env=False, timeout=30,
                         event_hooks={"response": [trace]} if trace else None)
    with http:
        try:  # one look first, so that a wrong address or token is one clear message, not every check failing
            answer = http.get("/ServiceProviderConfig")
        except httpx2.HTTPError as exc:
            raise Unusable(f"cannot reach {base_url}: {exc}") from exc
        if answer.status_code in (401, 403):
            raise Unusable(f"{base_url} refused the token ({answer.status_code}): {answer.text.strip()}")
        client = SyncSCIMClient(http)  # no models given: check_server describes the server by discovery
        return check_server(client, raise_exceptions=False, include_tags=include, exclude_tags=exclude,
                            resource_types=resource_types)


def _plain(value: Any, depth: int = 0) -> Any:
    """``value`` (models, responses, exceptions, containers of them) as JSON-serialisable data."""
    if depth > 8:
        return repr(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v, depth + 1) for v in value]
    if hasattr(value, "status_code") and hasattr(value, "text"):  # an HTTP response
        request = getattr(value, "request", None)
        try:
            body = value.json()
        except Exception:
            body = value.text
        described = {"status": value.status_code, "body": body}
        if request is not None:
            described = {"request": f"{request.method} {request.url}", **described}
        return described
    if isinstance(value, BaseException):
        described: dict[str, Any] = {"exception": f"{type(value).__name__}: {value}"}
        source = getattr(value, "source", None)
        if source is not None:
            described["source"] = _plain(source, depth + 1)
        return described
    if hasattr(value, "model_dump"):
        try:
            return value.model_dump(mode="json", exclude_none=True)
        except Exception:
            try:
                return value.model_dump(mode="json")
            except Exception:
                return repr(value)
    if isinstance(value, enum.Enum):
        return value.value
    return repr(value)


def _indent(text: str, prefix: str = "      ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def report(results: list[Any], verbose: bool, width: int) -> dict[str, int]:
    counts = {"passed": 0, "warned": 0, "failed": 0, "skipped": 0}
    by_status: dict[str, int] = {}
    for result in results:
        status = result.status.name
        by_status[status] = by_status.get(status, 0) + 1
        if status in FAILED:
            counts["failed"] += 1
        elif status in WARNED:
            counts["warned"] += 1
        elif status in SKIPPED:
            counts["skipped"] += 1
        else:
            counts["passed"] += 1
        where = f" [{result.resource_type}]" if result.resource_type else ""
        reason = (result.reason or "").strip()
        first, _, rest = reason.partition("\n")
        print(f"{status:<10} {result.title}{where}" + (f": {first}" if first else ""))
        if rest:
            print(_indent(rest))
        show_data = verbose or status in FAILED or status in WARNED
        if show_data and result.data is not None:
            data = json.dumps(_plain(result.data), ensure_ascii=False, default=repr)
            if width and len(data) > width:
                data = data[:width] + f" ... ({len(data) - width} more characters; -v shows all)"
            print(_indent(f"data: {data}"))
        if (status in FAILED and verbose) and result.description:
            print(_indent(f"check: {result.description.strip().splitlines()[0]}"))
    print()
    print("by status: " + ", ".join(f"{name} {n}" for name, n in sorted(by_status.items())))
    if counts["warned"]:
        print(f"{counts['warned']} deviations (RFC SHOULD not followed) are counted as neither passed nor failed")
    print(f"conformance: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")
    return counts


# -- command line -----------------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Run scim2-tester's conformance checks against wiggledesk-scim. By default a fresh "
                    "instance is served with pserve from a copy of development.ini on 127.0.0.1 and "
                    "stopped afterwards.")
    target = parser.add_argument_group("target")
    target.add_argument("--base-url", metavar="URL",
                        help="check an already running server at this SCIM root, e.g. "
                             "http://127.0.0.1:6543/scim/v2 (needs --token)")
    target.add_argument("--token", help="the bearer token for --base-url (from `wiggledesk-scim CONFIG onboard`)")
    target.add_argument("--postgres", metavar="URL",
                        help="serve from a fresh schema in this PostgreSQL database instead of SQLite, "
                             "e.g. postgresql+psycopg://root@127.0.0.1:5432/test (the schema is dropped after)")
    target.add_argument("--keep", action="store_true",
                        help="keep the temporary directory (ini, SQLite file, pserve.log)")
    checks = parser.add_argument_group("checks (scim2-tester's own options)")
    checks.add_argument("--include-tag", action="append", metavar="TAG",
                        help="run only checks with this tag (repeatable), e.g. discovery, crud, crud:read, "
                             "patch, patch:add, misc")
    checks.add_argument("--exclude-tag", action="append", metavar="TAG", help="skip checks with this tag (repeatable)")
    checks.add_argument("--resource-type", action="append", metavar="NAME", help="only this resource type, e.g. User")
    output = parser.add_argument_group("output")
    output.add_argument("-v", "--verbose", action="store_true",
                        help="print the data of every check, in full, and each failed check's purpose")
    checks.add_argument("--seed", type=int, default=0,
                        help="seed of the random values the suite generates (default 0), so that a run "
                             "can be repeated exactly")
    output.add_argument("--trace", type=Path, metavar="FILE",
                        help="write every HTTP exchange (method, URL, request body, status, response body) "
                             "to FILE, one JSON object a line")
    output.add_argument("--width", type=int, default=1500, metavar="N",
                        help="cut the data printed for a check after N characters (default 1500; 0: never)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if bool(args.base_url) != bool(args.token):
        _parser().error("--base-url and --token go together")
    if args.base_url and args.postgres:
        _parser().error("--postgres serves an instance of its own; it cannot be combined with --base-url")
    include = set(args.include_tag) if args.include_tag else None
    exclude = set(args.exclude_tag) if args.exclude_tag else None
    width = 0 if args.verbose else args.width
    # SIGTERM unwinds like Ctrl-C, so the server we started is stopped and the temporary files go.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    random.seed(args.seed)  # scim2-tester draws booleans, enum values and the primary entry from `random`
    trace = None
    try:
        import scim2_tester  # noqa: F401  (fail before starting anything)
        from importlib.metadata import version
        print(f"# scim2-tester {version('scim2-tester')}, scim2-client {version('scim2-client')}, "
              f"scim2-models {version('scim2-models')}; --seed {args.seed}", flush=True)
        trace = Trace(args.trace) if args.trace else None
        if args.base_url:
            results = run_checks(args.base_url.rstrip("/"), args.token, include, exclude, args.resource_type, trace)
        else:
            with served_instance(args.postgres, args.keep) as (base_url, token):
                results = run_checks(base_url, token, include, exclude, args.resource_type, trace)
    except ImportError as exc:
        print(f"conformance: {exc}. Install the suite: .venv/bin/pip install -e '.[conformance]'", file=sys.stderr)
        return EXIT_UNUSABLE
    except Unusable as exc:
        print(f"conformance: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    finally:
        if trace:
            trace.close()
    if trace:
        print(f"# {trace.count} HTTP exchanges written to {args.trace}")
    counts = report(results, args.verbose, width)
    return EXIT_FAILED if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
