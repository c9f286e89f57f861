"""The server ``pserve`` runs (``[server:main] use = egg:wiggledesk-scim#main``): waitress, with every
setting of that section passed on as waitress reads it, and an operator's sentence, not a traceback, when
it cannot take the address it is told to listen on.

What it does not do: anything once the server listens. Serving, threads, proxies and request limits are
waitress's, as its own ``egg:waitress#main`` would run them.
"""
from __future__ import annotations

import errno
import logging
import sys

from waitress.server import create_server

#: Why a bind fails, in the operator's words, by errno.
_BIND_FAILURES = {
    errno.EADDRINUSE: "the address is already in use (is another server running?)",
    errno.EADDRNOTAVAIL: "this machine has no such address",
    errno.EACCES: "this user may not listen there (a port below 1024 needs privileges)",
}


class CannotListen(Exception):
    """The server could not take its address; the message is one line for the operator."""


def serve(app, global_conf, **settings) -> int:
    """PasteDeploy's server runner (``paste.server_runner``): waitress's ``serve``, save that a failure
    to bind raises ``CannotListen`` naming the address and the setting that chose it.

    pserve swallows a ``SystemExit`` raised here (it prints "Exiting ..." and exits 0), so the refusal
    leaves as an exception pserve lets through, which the excepthook set here prints instead of a
    traceback; the interpreter then exits with status 1, as for any uncaught exception."""
    logging.basicConfig()  # as waitress.serve does: idempotent once the ini's logging is set up
    try:
        server = create_server(app, **settings)
    except OSError as error:
        reason = _BIND_FAILURES.get(error.errno)
        if reason is None:
            raise
        sys.excepthook = _one_line(sys.excepthook)
        raise CannotListen(f"Cannot listen on {_address(settings)}: {reason}; `{_setting(settings)}` in "
                           f"[server:main] of {_ini(global_conf)} sets the address.") from None
    server.print_listen("Serving on http://{}:{}")
    server.run()
    return 0


def _address(settings) -> str:
    """What the settings told waitress to listen on (waitress's own default when they say nothing)."""
    if settings.get("unix_socket"):
        return settings["unix_socket"]
    if settings.get("listen"):
        return settings["listen"]
    return f"{settings.get('host', '0.0.0.0')}:{settings.get('port', '8080')}"


def _setting(settings) -> str:
    """The setting of [server:main] that chose the address."""
    if settings.get("unix_socket"):
        return "unix_socket"
    if not settings.get("listen") and ("host" in settings or "port" in settings):
        return "host` and `port"
    return "listen"


def _ini(global_conf) -> str:
    return global_conf.get("__file__") or "the ini"


def _one_line(previous):
    """An excepthook that prints a ``CannotListen`` as its message alone on stderr, and hands anything
    else to ``previous``."""
    def hook(exc_type, exc, traceback) -> None:
        if isinstance(exc, CannotListen):
            print(exc, file=sys.stderr)
            return
        previous(exc_type, exc, traceback)
    return hook
