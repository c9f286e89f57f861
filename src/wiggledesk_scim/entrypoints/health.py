"""Health checks for load balancers and orchestrators, at the server root and without a token.

``/healthz``: the process answers (liveness). ``/readyz``: the process can serve, that is its storage
answers and the database schema is the one this release expects (readiness; a release whose
``migrate`` has not run yet is not ready). Both answer a bare status and nothing else: no version, no
database name, no reason. The reason a check failed goes to the log.
"""
from __future__ import annotations

import logging

from pyramid.response import Response

from .wiring import container_of

log = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"

_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def _status(code: int, status: str) -> Response:
    response = Response(json_body={"status": status}, status=code, content_type="application/json",
                        charset="utf-8")
    response.headers.update(_HEADERS)
    return response


def healthz_view(request) -> Response:
    return _status(200, "ok")


def readyz_view(request) -> Response:
    problem = container_of(request).readiness_problem()
    if problem is not None:
        log.warning("Not ready: %s", problem)
        return _status(503, "unavailable")
    return _status(200, "ok")


def add_health_routes(config) -> None:
    config.add_route("healthz", HEALTH_PATH)
    config.add_route("readyz", READY_PATH)
    config.add_view(healthz_view, route_name="healthz", request_method=("GET", "HEAD"))
    config.add_view(readyz_view, route_name="readyz", request_method=("GET", "HEAD"))
