"""The access log: one line per request, in the format ``wiggledesk.access_log`` names (plain or JSON lines),
on the process's stderr or in the file ``wiggledesk.access_log.file`` names, flushed as it is written.

What a line holds: when the request arrived (UTC), its request id, the organisation whose token was
accepted, the method, the route's name, the status and the time the app took. What it never holds,
because each can carry a token or personal data: headers, the path (a filter holds userNames and
e-mail addresses; a route name says just as well which endpoint was asked), the query string, bodies.
Every value is ours or checked, so none contains a space, a quote or an ``=``.
"""
from __future__ import annotations

import os
import sys
import threading
import time

import orjson
from pyramid.tweens import INGRESS

from . import views
from .wiring import ACCESS_LOG_FILE_KEY, CONTAINER_KEY, AppSettings, SettingsError

#: The name the lines are known by (the README's, the tests'). They do not go through ``logging``: a
#: line is built and written straight to its stream under a lock, at half the cost of a log
#: record (docs/performance.md), and never reaches the root logger's console twice.
ACCESS_LOGGER = "wiggledesk_scim.access"

#: The outermost tween but Pyramid's ingress, so that the status is the one the client gets (a
#: last-resort 500 included) and the duration covers pyramid_tm's commit as well.
_LAST_RESORT_TWEEN = f"{views.__name__}.last_resort_tween_factory"

#: Methods logged as they are; any other is logged as ``OTHER``, since a method is typed by the client.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})

#: Where this process's lines go, once ``add_access_log`` has opened it.
_sink: "_Stderr | _File | None" = None


def add_access_log(config, settings: AppSettings) -> None:
    """Open the access log (once per process, at startup: a file that cannot be opened stops it) and add
    its tween, unless the log is ``off``."""
    global _sink
    close_access_log()
    if settings.access_log == "off":
        return
    _sink = _open_sink(settings.access_log_file)
    config.add_tween(f"{__name__}.access_log_tween_factory", under=INGRESS, over=_LAST_RESORT_TWEEN)


def close_access_log() -> None:
    """Close the file ``add_access_log`` opened, if any (the next ``main()`` in this process opens its own;
    tests close a file before leaving)."""
    global _sink
    sink, _sink = _sink, None
    if sink is not None:
        sink.close()


class _Stderr:
    """The process's stderr as it is when a line is written, not as it was at startup, so a replaced
    ``sys.stderr`` never receives writes after it is closed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def write(self, line: str) -> None:
        with self._lock:
            stream = sys.stderr
            stream.write(line + "\n")
            stream.flush()

    def close(self) -> None:
        pass


class _File:
    """A file opened at startup for appending, and opened again when logrotate has moved it away.

    Whether that happened is asked once a second, not before every line (which would cost more than
    the line): a line or two written in the second after a rotation land at the end of the moved file,
    and none is lost."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stream = self._open()
        self._checked = time.monotonic()

    def _open(self):
        stream = open(self.path, "a", encoding="utf-8")
        self._identity = self._file_identity(os.fstat(stream.fileno()))
        return stream

    @staticmethod
    def _file_identity(status) -> tuple[int, int]:
        return status.st_dev, status.st_ino

    def write(self, line: str) -> None:
        with self._lock:
            now = time.monotonic()
            if now - self._checked >= 1.0:
                self._checked = now
                self._reopen_if_moved()
            self._stream.write(line + "\n")
            self._stream.flush()

    def _reopen_if_moved(self) -> None:
        try:
            moved = self._file_identity(os.stat(self.path)) != self._identity
        except FileNotFoundError:
            moved = True
        if moved:
            self._stream.close()
            self._stream = self._open()

    def close(self) -> None:
        with self._lock:
            self._stream.close()


def _open_sink(path: str | None) -> "_Stderr | _File":
    if path is None:
        return _Stderr()
    try:
        return _File(path)
    except OSError as error:
        raise SettingsError(f"{ACCESS_LOG_FILE_KEY} = {path}: cannot open it for appending "
                            f"({error.strerror or error}); name a file in a directory this process may "
                            f"write to, or leave the key out to log to stderr") from None


# -- the lines ----------------------------------------------------------------------------------------

#: The last second ``_utc`` formatted, and its text: requests arriving in the same second share it.
_last_second: tuple[int, str] = (-1, "")


def _utc(moment: float) -> str:
    """ISO 8601 in UTC with milliseconds: ``2026-11-23T09:14:07.123Z``."""
    global _last_second
    seconds = int(moment)
    second, text = _last_second  # one tuple, replaced whole: safe across threads
    if second != seconds:
        text = time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(seconds))
        _last_second = (seconds, text)
    return f"{text}.{int((moment - seconds) * 1000):03d}Z"


def plain_line(arrived: float, request_id: str, organisation_id: str | None, method: str,
               route: str | None, status: int, duration_ms: float) -> str:
    """``key=value`` pairs, ``-`` for no organisation or no route."""
    return (f"time={_utc(arrived)} request_id={request_id} organisation_id={organisation_id or '-'} "
            f"method={method} route={route or '-'} status={status} duration_ms={duration_ms:.3f}")


def json_line(arrived: float, request_id: str, organisation_id: str | None, method: str,
              route: str | None, status: int, duration_ms: float) -> str:
    """One JSON object, ``null`` for no organisation or no route."""
    return orjson.dumps({
        "time": _utc(arrived), "request_id": request_id, "organisation_id": organisation_id,
        "method": method, "route": route, "status": status, "duration_ms": round(duration_ms, 3),
    }).decode()


LINES = {"plain": plain_line, "json": json_line}


# -- the tween ----------------------------------------------------------------------------------------

def access_log_tween_factory(handler, registry):
    write = _sink.write
    line = LINES[registry[CONTAINER_KEY].settings.access_log]
    clock = time.perf_counter

    def access_log_tween(request):
        arrived = time.time()
        started = clock()
        status = 500  # what waitress answers if an error escapes even the last-resort tween
        try:
            response = handler(request)
            status = response.status_int
            return response
        finally:
            duration_ms = (clock() - started) * 1000
            # Only a SCIM API built for this request knows whose token was accepted; asking
            # ``request.scim`` here would build one (and a unit of work) for a health check.
            api = request.__dict__.get("scim")
            principal = api.principal if api is not None else None
            route = request.matched_route
            method = request.method
            write(line(arrived, request.request_id, principal.organisation_id if principal else None,
                       method if method in _METHODS else "OTHER", route.name if route else None,
                       status, duration_ms))

    return access_log_tween

