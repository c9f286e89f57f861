"""The WSGI application: PasteDeploy's ``main`` builds the container and hands each request a unit of work.

What it owns: the transaction per request (pyramid_tm) and its retries (pyramid_retry), the request id,
routes and views. What it does not: any SCIM rule (``domain.scim``), any storage detail (``adapters``),
any setting's meaning (``wiring``).
"""
from __future__ import annotations

import itertools
import os
import re
import secrets

from pyramid.config import Configurator
from pyramid.decorator import reify
from pyramid.request import Request
from pyramid.tweens import EXCVIEW
from pyramid_tm import explicit_manager

from ..domain.scim.messages import MAX_BODY_BYTES
from .access_log import add_access_log
from .help import add_help_route
from .routes import add_scim_routes
from .views import REQUEST_ID_HEADER, add_error_views
from .health import add_health_routes
from .oauth import add_oauth_routes
from .ops import add_ops_console
from .request_scope import READING_METHODS, open_uow
from .wiring import CONTAINER_KEY, build_container, container_of

#: An incoming request id is reused only if it is short and plain, since it ends up in our logs
#: and response headers; anything else is replaced by a fresh one.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")

#: Both trees Entra may call (ENTRA.md §1). Their order decides the one path both have,
#: ``/scim/v2/Users/.search`` (the first tree's); ``routes.add_scim_routes`` keeps the second tree's
#: member route from taking the first tree's fixed names (``/scim/v2/Users/Users``) for member ids.
SCIM_TREES = (("/scim/v2/Users", "scim_users_root"), ("/scim/v2", "scim"))
SCIM_ROOT = "/scim/v2"


def main(global_config, **settings):
    """PasteDeploy's app factory (``use = egg:wiggledesk-scim``), and the tests' way in."""
    container = build_container(settings)
    config = Configurator(settings=settings, request_factory=AppRequest)
    config.registry[CONTAINER_KEY] = container
    # One transaction manager per request that may write (``AppRequest.tm``), strict about work outside
    # a transaction; and a veto that aborts on every 4xx/5xx, so an error rendered by an exception view
    # still rolls back. A GET or HEAD has no transaction to manage: its reading unit of work ends its
    # own (``AppRequest.scim``). pyramid_tm's tween is added directly rather than by ``config.include``, whose
    # ``add_request_method`` makes Pyramid build a request class per request (docs/performance.md).
    config.add_settings({
        "tm.commit_veto": "pyramid_tm.default_commit_veto",
        "tm.annotate_user": False,  # there is no Pyramid security policy to ask
        "tm.activate_hook": _may_write,
    })
    config.add_tween("pyramid_tm.tm_tween_factory", over=EXCVIEW)
    # A request whose transaction lost a race (serialization failure, deadlock) runs again from the
    # start, in a fresh transaction, before the client sees a 503 (views.py marks those errors retryable).
    # The number of attempts is the ini's, as wiring validated it: pyramid_retry's own parsing would
    # stop startup with a bare traceback on a wrong value.
    config.add_settings({"retry.attempts": container.settings.retry_attempts,
                         "retry.activate_hook": _retry_attempts})
    config.include("pyramid_retry")
    add_scim_routes(config, SCIM_TREES)
    add_oauth_routes(config)  # the token endpoint and its metadata, at the server's root
    add_help_route(config)
    add_health_routes(config)
    add_ops_console(config, container.settings)  # only if the ini sets ops credentials
    add_error_views(config, scim_root=SCIM_ROOT)
    # Outside the last-resort tween that add_error_views adds, so each line has the final status.
    add_access_log(config, container.settings)
    return config.make_wsgi_app()


class AppRequest(Request):
    """Pyramid's request with what every view and script here uses, built on first use."""

    @reify
    def tm(self):
        """This request's own transaction manager (pyramid_tm's tween begins and ends its transaction)."""
        return explicit_manager(self)

    @reify
    def uow(self):
        """A unit of work that may write, in the request's transaction (scripts and the CLI use it)."""
        return open_uow(self, read_only=False)

    @reify
    def scim(self):
        """The SCIM API for this request; a GET or HEAD gets a reading unit of work."""
        return container_of(self).api(open_uow(self))

    @reify
    def request_id(self) -> str:
        """The client's X-Request-Id if it is short and plain (it ends up in our logs), else a new one:
        kept in the environ, so that every attempt at the request (pyramid_retry) logs the same id."""
        request_id = self.environ.get(_REQUEST_ID_KEY)
        if request_id is None:
            incoming = self.environ.get(_REQUEST_ID_ENVIRON, "")
            request_id = incoming if _SANE_REQUEST_ID.fullmatch(incoming) else new_request_id()
            self.environ[_REQUEST_ID_KEY] = request_id
        return request_id


_REQUEST_ID_KEY = "wiggledesk.request_id"
#: Where WSGI puts the X-Request-Id header (CGI's form of its name), read without WebOb's header view.
_REQUEST_ID_ENVIRON = "HTTP_" + REQUEST_ID_HEADER.upper().replace("-", "_")


def _retry_attempts(request) -> int | None:
    """pyramid_retry's activation hook: one attempt only where no transaction can lose a race, and for a
    body that may be over the limit.

    Only a writing transaction on a storage whose transactions can lose races (PostgreSQL's serialization
    failures and deadlocks: ``storage.races``) can be tried again with success. A GET or HEAD has no
    transaction (its reading unit takes no part in one, and a lost connection is a 503 that trying again
    at once would not mend), and SQLite's and the memory storage's writers take turns; for them a second
    attempt could never be made, and one attempt spares the request pyramid_retry's copy of its body
    into a seekable buffer. A body that may be over the limit (a Content-Length above it, or a write's body without one, which
    ends where the input ends, as a chunked body may be handed over) is not copied either: to try a
    request again pyramid_retry first copies its body, all of it, and the 413 must come before such a
    body is read to its end (``views.read_body``)."""
    if request.method in READING_METHODS or not container_of(request).storage.races:
        return 1
    environ = request.environ
    length = environ.get("CONTENT_LENGTH")
    if not length:
        return 1 if environ.get("wsgi.input_terminated") else None
    try:
        return None if int(length) <= MAX_BODY_BYTES else 1
    except ValueError:
        return 1


class _RequestIds:
    """Fresh request ids shaped like a UUID (36 characters): 80 random bits drawn once per process, then a
    48-bit counter. Unique across processes and restarts (the random part) and within one (the counter),
    at a fraction of a ``uuid4`` per request, whose ``os.urandom`` is a system call every time."""

    def __init__(self) -> None:
        self.reseed()
        # A forked child (a pre-forking server) draws its own random part.
        os.register_at_fork(after_in_child=self.reseed)

    def reseed(self) -> None:
        random = secrets.token_hex(10)
        self._prefix = f"{random[:8]}-{random[8:12]}-{random[12:16]}-{random[16:]}-"
        self._counter = itertools.count(1)  # next() on it is atomic under the GIL: safe across threads

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._counter) & 0xFFFFFFFFFFFF:012x}"


#: A request id for a request that brought no usable one.
new_request_id = _RequestIds()


def _may_write(request) -> bool:
    """pyramid_tm's activation hook: a transaction for every request but a GET or HEAD."""
    return request.method not in READING_METHODS
