"""Load generators for benchmarks/run.py: wrk when it is on PATH, else a Python one.

Both drive the same scenarios (``Scenario``) in a closed loop: ``concurrency`` persistent HTTP/1.1
connections to 127.0.0.1, each sending its next request as soon as the previous answer is read. Both
run in processes of their own, never in the benchmark's process, and both call ``on_start`` /
``on_stop`` right around the measured window, so the caller can read the server's CPU time and memory
exactly there.

The Python generator: one forked process per connection (so a slow client thread never holds another
one back behind the GIL), a raw-socket HTTP/1.1 client that sends prebuilt request bytes and parses only
the status line and the framing headers. Every process warms up until a common start instant, then counts
the requests that complete inside the measured window ``[start, stop]``; the in-flight request at each
edge is not counted (the server's CPU for it is split across the edges the same way).

wrk: one run for the warm-up, one for the measured window (its own duration and count); ``on_start`` /
``on_stop`` are read right before it starts and after it ends, so its connection setup is inside the
window. The Lua script is generated per run; percentiles come from wrk's own histogram.
"""
from __future__ import annotations

import base64
import json
import math
import multiprocessing
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence
from urllib.parse import quote, quote_plus

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SCIM_JSON = "application/scim+json; charset=utf-8"
FORM = "application/x-www-form-urlencoded"
#: Entra's request for an access token (RFC 6749 §4.4.2), the client authenticated by its Basic header.
TOKEN_PATH = "/oauth2/token"
TOKEN_FORM = b"grant_type=client_credentials&scope=scim"

#: What a scenario's requests look like; each kind has a Python and a Lua implementation below.
KINDS = ("hello", "filter_external_id", "filter_user_name", "get", "patch_active", "post", "token",
         "group_get", "group_patch_member")
#: The kinds only the Python generator drives (benchmarks/groups.py's; no Lua for them).
PYTHON_ONLY = ("group_get", "group_patch_member")


@dataclass
class Scenario:
    """One measured workload: ``kind`` (``KINDS``), the values it draws from (``values``: externalIds,
    userNames or member ids; none for ``hello`` and ``post``), the bearer token and the SCIM root path.
    ``post_body`` is a JSON text in which ``@@U@@`` is replaced by a unique word per request."""

    name: str
    kind: str
    expect: int
    values: Sequence[str] = ()
    token: str = ""
    root: str = "/scim/v2"
    post_body: str = ""
    #: A word that makes this run's POST userNames differ from every earlier run's.
    tag: str = ""
    #: The team (SCIM Group) id the ``group_*`` kinds address.
    group: str = ""
    #: ``token``: the client's credentials as its ``Authorization: Basic`` value (``basic_credentials``).
    basic: str = ""


@dataclass
class PhaseResult:
    requests: int
    seconds: float
    latencies_us: list[float] = field(repr=False)   # sorted; empty with wrk (percentiles below instead)
    statuses: dict[str, int] = field(default_factory=dict)
    errors: int = 0              # connection failures, timeouts, unexpected statuses
    p50_us: float | None = None
    p99_us: float | None = None
    generator: str = "python"
    #: CPU seconds the load processes used inside the window (Python generator only).
    client_cpu_s: float | None = None

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


def percentile(sorted_values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_values) - 1e-9))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def which_wrk() -> str | None:
    return shutil.which("wrk")


def run_phase(generator: str, port: int, scenario: Scenario, concurrency: int, warmup: float, duration: float,
              on_start: Callable[[], None], on_stop: Callable[[], None]) -> PhaseResult:
    if generator == "wrk" and scenario.kind not in PYTHON_ONLY:
        return _run_wrk(port, scenario, concurrency, warmup, duration, on_start, on_stop)
    return _run_python(port, scenario, concurrency, warmup, duration, on_start, on_stop)


# -- the requests, in Python --------------------------------------------------------------------------

def _request(method: str, path: str, token: str, body: bytes | None = None, *, content_type: str = SCIM_JSON,
             authorization: str | None = None) -> bytes:
    """The bytes of one request; ``authorization`` (a whole header value) in place of ``Bearer token``."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Accept: application/scim+json",
             "User-Agent: wiggledesk-benchmark"]
    if authorization is None and token:
        authorization = f"Bearer {token}"
    if authorization:
        lines.append(f"Authorization: {authorization}")
    if body is not None:
        lines += [f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + (body or b"")


def basic_credentials(client_id: str, secret: str) -> str:
    """RFC 6749 §2.3.1: the client id and secret each form-urlencoded, joined by a colon, base64."""
    return base64.b64encode(f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()).decode("ascii")


def token_request(basic: str) -> bytes:
    """``POST /oauth2/token`` as Entra sends it: client credentials, scope scim, the client in Basic."""
    return _request("POST", TOKEN_PATH, "", TOKEN_FORM, content_type=FORM, authorization=f"Basic {basic}")


def filter_path(root: str, attribute: str, value: str) -> str:
    """Entra's lookup: ``GET /Users?filter=externalId+eq+%22…%22`` (the spaces as ``+``)."""
    return f"{root}/Users?filter={attribute}+eq+%22{quote(value, safe='')}%22"


def patch_body(active: bool) -> bytes:
    """Entra's deactivate/reactivate: a PatchOp replacing ``active`` with the *string* "False"/"True"."""
    return json.dumps({"schemas": [PATCH_OP], "Operations": [
        {"op": "Replace", "path": "active", "value": "True" if active else "False"}]}).encode()


def members_patch_body(op: str, member_ids: Sequence[str]) -> bytes:
    """Entra's default membership delta: ``Add`` / ``Remove`` of ``members`` with a value array."""
    return json.dumps({"schemas": [PATCH_OP], "Operations": [
        {"op": op, "path": "members", "value": [{"value": member_id} for member_id in member_ids]}]}).encode()


def requests_for(scenario: Scenario, worker: int, workers: int) -> Iterator[bytes]:
    """The endless request stream of connection ``worker`` of ``workers``."""
    rng = random.Random(f"{scenario.name}/{scenario.tag}/{worker}")
    values, token, root = scenario.values, scenario.token, scenario.root
    kind = scenario.kind
    if kind == "hello":
        data = _request("GET", "/", "")
        while True:
            yield data
    elif kind in ("filter_external_id", "filter_user_name"):
        attribute = "externalId" if kind == "filter_external_id" else "userName"
        while True:
            yield _request("GET", filter_path(root, attribute, rng.choice(values)), token)
    elif kind == "get":
        while True:
            yield _request("GET", f"{root}/Users/{rng.choice(values)}", token)
    elif kind == "patch_active":
        # Each connection walks its own members from a random start: False then True on the same
        # member, so every request really changes the member and the members end as they began.
        off, on = patch_body(False), patch_body(True)
        mine = values[worker::workers]
        position = rng.randrange(len(mine))
        while True:
            path = f"{root}/Users/{mine[position % len(mine)]}"
            yield _request("PATCH", path, token, off)
            yield _request("PATCH", path, token, on)
            position += 1
    elif kind == "token":
        data = token_request(scenario.basic)
        while True:
            yield data
    elif kind == "post":
        counter = 0
        while True:
            counter += 1
            unique = f"{scenario.tag}-{worker}-{counter}"
            yield _request("POST", f"{root}/Users", token, scenario.post_body.replace("@@U@@", unique).encode())
    elif kind == "group_get":
        # What Entra reads before every delta: the group without its members.
        data = _request("GET", f"{root}/Groups/{scenario.group}?excludedAttributes=members", token)
        while True:
            yield data
    elif kind == "group_patch_member":
        # As patch_active: each connection walks its own members (none of them in the group), Add then
        # Remove of the same one, so every request changes the membership and the group ends as it began.
        path = f"{root}/Groups/{scenario.group}"
        mine = values[worker::workers]
        position = rng.randrange(len(mine))
        while True:
            member_id = mine[position % len(mine)]
            yield _request("PATCH", path, token, members_patch_body("Add", [member_id]))
            yield _request("PATCH", path, token, members_patch_body("Remove", [member_id]))
            position += 1
    else:
        raise ValueError(f"unknown scenario kind {kind!r}")


# -- a minimal HTTP/1.1 client ------------------------------------------------------------------------

class _Connection:
    def __init__(self, port: int):
        self.port = port
        self.sock: socket.socket | None = None
        self.buffer = b""
        self.reconnects = 0

    def open(self) -> None:
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def _fill(self) -> None:
        chunk = self.sock.recv(262144)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buffer += chunk

    def exchange(self, data: bytes) -> int:
        """Send one request, read its whole response; return the status."""
        if self.sock is None:
            self.open()
        self.sock.sendall(data)
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end >= 0:
                break
            self._fill()
        head = self.buffer[:end].decode("latin-1")
        self.buffer = self.buffer[end + 4:]
        status = int(head[9:12])
        length, chunked, close = None, False, False
        for line in head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
            elif name == "connection" and "close" in value.lower():
                close = True
        if chunked:
            self._skip_chunked()
        elif length is not None:
            while len(self.buffer) < length:
                self._fill()
            self.buffer = self.buffer[length:]
        elif status in (204, 304) or 100 <= status < 200:
            pass
        else:  # no framing: the body ends with the connection
            close = True
        if close:
            self.close()
            self.reconnects += 1
        return status

    def _skip_chunked(self) -> None:
        while True:
            while (end := self.buffer.find(b"\r\n")) < 0:
                self._fill()
            size = int(self.buffer[:end].split(b";")[0], 16)
            self.buffer = self.buffer[end + 2:]
            if size == 0:  # optional trailers, then an empty line
                while True:
                    while (end := self.buffer.find(b"\r\n")) < 0:
                        self._fill()
                    line, self.buffer = self.buffer[:end], self.buffer[end + 2:]
                    if not line:
                        return
            while len(self.buffer) < size + 2:
                self._fill()
            self.buffer = self.buffer[size + 2:]


def _worker(channel, port: int, scenario: Scenario, worker: int, workers: int) -> None:
    connection = _Connection(port)
    latencies = array("d")
    statuses: dict[int, int] = {}
    errors = 0
    try:
        connection.open()
        channel.send("ready")
        start, stop = channel.recv()
        stream = requests_for(scenario, worker, workers)
        clock = time.monotonic
        cpu_start = None
        while True:
            now = clock()
            if now >= stop:
                break
            if cpu_start is None and now >= start:
                cpu_start = time.process_time()
            data = next(stream)
            try:
                status = connection.exchange(data)
            except (OSError, ValueError):
                connection.close()
                status = 0
            done = clock()
            if start <= done <= stop:
                latencies.append((done - now) * 1e6)
                statuses[status] = statuses.get(status, 0) + 1
                if status != scenario.expect:
                    errors += 1
        client_cpu = time.process_time() - (cpu_start if cpu_start is not None else time.process_time())
    except BaseException as exc:  # report, never hang the coordinator
        channel.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    finally:
        connection.close()
    channel.send(("done", latencies.tobytes(), statuses, errors, client_cpu))


def _run_python(port: int, scenario: Scenario, concurrency: int, warmup: float, duration: float,
                on_start: Callable[[], None], on_stop: Callable[[], None]) -> PhaseResult:
    context = multiprocessing.get_context("fork")  # the scenario's values are inherited, not pickled
    channels, processes = [], []
    try:
        for worker in range(concurrency):
            mine, theirs = context.Pipe()
            process = context.Process(target=_worker, args=(theirs, port, scenario, worker, concurrency),
                                      daemon=True)
            process.start()
            channels.append(mine)
            processes.append(process)
        for channel in channels:
            if not channel.poll(30):
                raise RuntimeError("a load process did not connect within 30 s")
            message = channel.recv()
            if message != "ready":
                raise RuntimeError(f"a load process failed: {message[1]}")
        start = time.monotonic() + warmup
        stop = start + duration
        for channel in channels:
            channel.send((start, stop))
        _sleep_until(start)
        on_start()
        _sleep_until(stop)
        on_stop()
        latencies: list[float] = []
        statuses: dict[str, int] = {}
        errors = 0
        client_cpu = 0.0
        for channel in channels:
            if not channel.poll(60):
                raise RuntimeError("a load process did not report within 60 s of the window's end")
            message = channel.recv()
            if message[0] != "done":
                raise RuntimeError(f"a load process failed: {message[1]}")
            _, raw, worker_statuses, worker_errors, worker_cpu = message
            client_cpu += worker_cpu
            values = array("d")
            values.frombytes(raw)
            latencies.extend(values)
            for status, count in worker_statuses.items():
                statuses[str(status)] = statuses.get(str(status), 0) + count
            errors += worker_errors
        latencies.sort()
        return PhaseResult(requests=len(latencies), seconds=duration, latencies_us=latencies, statuses=statuses,
                           errors=errors, p50_us=percentile(latencies, 0.50), p99_us=percentile(latencies, 0.99),
                           client_cpu_s=client_cpu)
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join()


def _sleep_until(instant: float) -> None:
    while (left := instant - time.monotonic()) > 0:
        time.sleep(min(left, 0.5))


# -- wrk ------------------------------------------------------------------------------------------------

_LUA = r"""
-- generated by benchmarks/load.py for scenario %(name)s
local kind = %(kind)s
local token = %(token)s
local root = %(root)s
local data_file = %(data_file)s
local post_body = %(post_body)s
local tag = %(tag)s
local basic = %(basic)s
local threads_total = %(threads)d
local next_tid = 0

function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
end

local function urlencode(s)
  return (string.gsub(s, "[^%%w%%-%%._~]", function(c) return string.format("%%%%%%02X", string.byte(c)) end))
end

function init(args)
  values = {}
  if data_file ~= "" then
    for line in io.lines(data_file) do values[#values + 1] = line end
  end
  math.randomseed(1000 + tid)
  counter = 0
  mine = {}
  for i = tid + 1, #values, threads_total do mine[#mine + 1] = values[i] end
  position = (#mine > 0) and math.random(#mine) or 1
  headers = {["Accept"] = "application/scim+json", ["User-Agent"] = "wiggledesk-benchmark"}
  if token ~= "" then headers["Authorization"] = "Bearer " .. token end
  body_headers = {}
  for k, v in pairs(headers) do body_headers[k] = v end
  body_headers["Content-Type"] = "application/scim+json; charset=utf-8"
  patch_off = '{"schemas": ["%(patch_op)s"], "Operations": [{"op": "Replace", "path": "active", "value": "False"}]}'
  patch_on = '{"schemas": ["%(patch_op)s"], "Operations": [{"op": "Replace", "path": "active", "value": "True"}]}'
  form_headers = {["Accept"] = "application/scim+json", ["User-Agent"] = "wiggledesk-benchmark",
                  ["Authorization"] = "Basic " .. basic, ["Content-Type"] = %(form)s}
end

function request()
  counter = counter + 1
  if kind == "hello" then
    return wrk.format("GET", "/", headers)
  elseif kind == "filter_external_id" or kind == "filter_user_name" then
    local attribute = (kind == "filter_external_id") and "externalId" or "userName"
    local value = values[math.random(#values)]
    return wrk.format("GET", root .. "/Users?filter=" .. attribute .. "+eq+%%22" .. urlencode(value) .. "%%22", headers)
  elseif kind == "get" then
    return wrk.format("GET", root .. "/Users/" .. values[math.random(#values)], headers)
  elseif kind == "patch_active" then
    local step = math.floor((counter - 1) / 2)
    local id = mine[((position + step - 1) %% #mine) + 1]
    local body = ((counter %% 2) == 1) and patch_off or patch_on
    return wrk.format("PATCH", root .. "/Users/" .. id, body_headers, body)
  elseif kind == "token" then
    return wrk.format("POST", %(token_path)s, form_headers, %(token_form)s)
  else -- post
    local unique = tag .. "-" .. tid .. "-" .. counter
    local body = string.gsub(post_body, "@@U@@", unique)
    return wrk.format("POST", root .. "/Users", body_headers, body)
  end
end

function done(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
                 + summary.errors.status + summary.errors.timeout
  io.write(string.format('WRKJSON {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, "errors": %%d, "status_errors": %%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), errors, summary.errors.status))
end
"""


def _lua_string(text: str) -> str:
    level = "=" * 4
    while f"]{level}]" in text:
        level += "="
    return f"[{level}[{text}]{level}]"


def _wrk_once(wrk: str, port: int, scenario: Scenario, concurrency: int, seconds: float, tag: str,
              directory: Path, data_file: str) -> dict:
    threads = max(1, min(concurrency, os.cpu_count() or 1))
    script = directory / f"{scenario.name}-{tag}.lua"
    script.write_text(_LUA % {
        "name": scenario.name, "kind": _lua_string(scenario.kind), "token": _lua_string(scenario.token),
        "root": _lua_string(scenario.root), "data_file": _lua_string(data_file),
        "post_body": _lua_string(scenario.post_body), "tag": _lua_string(tag), "threads": threads,
        "patch_op": PATCH_OP, "basic": _lua_string(scenario.basic), "form": _lua_string(FORM),
        "token_path": _lua_string(TOKEN_PATH), "token_form": _lua_string(TOKEN_FORM.decode())})
    done = subprocess.run([wrk, f"-t{threads}", f"-c{concurrency}", f"-d{max(1, round(seconds))}s",
                           "--timeout", "30s", "-s", str(script), f"http://127.0.0.1:{port}/"],
                          capture_output=True, text=True, timeout=seconds + 120)
    for line in done.stdout.splitlines():
        if line.startswith("WRKJSON "):
            return json.loads(line[len("WRKJSON "):])
    raise RuntimeError(f"wrk gave no result (exit {done.returncode}): {done.stderr.strip() or done.stdout.strip()}")


def _run_wrk(port: int, scenario: Scenario, concurrency: int, warmup: float, duration: float,
             on_start: Callable[[], None], on_stop: Callable[[], None]) -> PhaseResult:
    wrk = which_wrk()
    if not wrk:
        raise RuntimeError("wrk is not on PATH")
    with tempfile.TemporaryDirectory(prefix="wiggledesk-wrk-") as name:
        directory = Path(name)
        data_file = ""
        if scenario.values:
            data_file = str(directory / "values.txt")
            Path(data_file).write_text("\n".join(scenario.values) + "\n")
        if warmup > 0:
            _wrk_once(wrk, port, scenario, concurrency, warmup, f"{scenario.tag}w", directory, data_file)
        on_start()
        result = _wrk_once(wrk, port, scenario, concurrency, duration, f"{scenario.tag}m", directory, data_file)
        on_stop()
    seconds = result["duration_us"] / 1e6
    return PhaseResult(requests=result["requests"], seconds=seconds, latencies_us=[], statuses={},
                       errors=result["errors"], p50_us=float(result["p50_us"]), p99_us=float(result["p99_us"]),
                       generator="wrk")
