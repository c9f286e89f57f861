"""Serving a throwaway copy of development.ini for the tools (scripts/conformance.py, benchmarks/run.py):
the ini copy, the CLI, a fresh PostgreSQL schema. Not used by the service or its tests."""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


class Unusable(Exception):
    """The run cannot start (missing dependency, CLI step failing, server that does not come up, ...)."""


def executable(name: str) -> str:
    beside = BIN / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if not found:
        raise Unusable(f"{name} is not installed next to {sys.executable} nor on PATH; "
                       f"run this script with the project's venv (.venv/bin/python)")
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ini_copy(directory: Path, port: int, settings: dict[str, str]) -> Path:
    """development.ini copied into ``directory``, listening on 127.0.0.1:``port``, ``settings`` replaced
    (or set, where the ini has the key commented out)
    (as tests/integration/test_server.py copies it)."""
    text = (REPO / "development.ini").read_text()
    text, count = re.subn(r"(?m)^listen = .*$", f"listen = 127.0.0.1:{port}", text)
    if count != 1:
        raise Unusable("development.ini has no single 'listen = ...' line to replace")
    for key, value in settings.items():
        line = f"{key} = {value.replace('%', '%%')}"  # ConfigParser interpolates '%'
        # A key the ini leaves at its default is there commented out ("# key = default"): set it there.
        text, count = re.subn(rf"(?m)^(# )?{re.escape(key)} = .*$", lambda _match, line=line: line, text)
        if count != 1:
            raise Unusable(f"development.ini has no single '{key} = ...' line (set or commented out) to replace")
    target = directory / "development.ini"
    target.write_text(text)
    return target


def environment(**extra: str) -> dict[str, str]:
    # The ini names its database itself; a stray variable must not redirect the CLI or the server.
    environ = {k: v for k, v in os.environ.items() if k != "WIGGLEDESK_DATABASE_URL"}
    environ.update(extra)
    return environ


def cli(ini: Path, *args: str, timeout: float = 300) -> str:
    """``wiggledesk-scim INI ARGS...``; its stdout, or ``Unusable`` with its reason."""
    done = subprocess.run([executable("wiggledesk-scim"), str(ini), *args], capture_output=True, text=True,
                          timeout=timeout, env=environment(), cwd=ini.parent)
    if done.returncode != 0:
        raise Unusable(f"wiggledesk-scim {' '.join(args)} failed ({done.returncode}): "
                       f"{done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


@contextmanager
def fresh_postgres_schema(url: str, prefix: str) -> Iterator[str]:
    """A URL whose connections use a new schema of ``url``'s database, dropped on leaving."""
    from wiggledesk_scim.adapters.sqlalchemy.scratch import fresh_postgres_schema as scratch_schema

    with ExitStack() as stack:
        try:
            url_in_schema = stack.enter_context(scratch_schema(url, prefix, connect_timeout=5))
        except Exception as exc:
            raise Unusable(f"cannot create a schema in {url}: {str(exc).strip().splitlines()[0]}") from exc
        yield url_in_schema


def working_directory(stack: ExitStack, prefix: str, keep: bool) -> Path:
    """A fresh temporary directory for one served instance, removed when ``stack`` closes unless ``keep``
    (then its path is printed, to look at the ini, the database and the server's log afterwards)."""
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    if keep:
        print(f"# working directory (kept): {directory}", flush=True)
    else:
        stack.callback(shutil.rmtree, directory, ignore_errors=True)
    return directory
