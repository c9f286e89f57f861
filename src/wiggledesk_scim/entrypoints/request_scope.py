"""A request's storage scope: the unit of work a request gets, and its closing once the request is done.

Shared by the SCIM app (``pyramid_app``) and the ops console (``ops``), so that neither imports the
other. What it does not do: begin or end transactions (pyramid_tm does), or choose the storage (the
container's, from ``wiring``).
"""
from __future__ import annotations

import logging

from .wiring import container_of

log = logging.getLogger(__name__)

#: Requests that only read: they get a reading unit of work (``SqlAlchemyStorage.open``) and no
#: transaction of pyramid_tm's.
READING_METHODS = frozenset({"GET", "HEAD"})


def open_uow(request, *, read_only: bool | None = None):
    """A unit of work of the container's storage for ``request``, closed by a finished callback.
    ``read_only``: a reading unit; by default, when the request's method only reads (GET, HEAD).
    A unit that may write takes part in the request's transactions (``request.tm``)."""
    if read_only is None:
        read_only = request.method in READING_METHODS
    # A reading unit takes no part in a transaction manager's transactions (``SqlAlchemyStorage.open``).
    uow = container_of(request).storage.open(None if read_only else request.tm, read_only=read_only)
    request.add_finished_callback(lambda _request: _close(uow, _request))
    return uow


def _close(uow, request) -> None:
    """Close ``uow`` once the response is made. A failure is logged, not raised: by then the COMMIT has
    run (or the work was given up) and the response stands; raised, it would replace that response with
    waitress's plain 500, outside every view and tween."""
    try:
        uow.close()
    except Exception as error:
        log.warning("Could not close the unit of work (%s) of request id %s", type(error).__name__,
                    request.request_id)
