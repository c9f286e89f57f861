"""The OAuth 2.0 endpoints at the server's root (ENTRA.md §2.2, §2.3): ``POST /oauth2/token`` and RFC 8414's
``GET /.well-known/oauth-authorization-server``.

A thin view: the form body becomes ``{parameter: [values]}`` (repeats kept, so the domain can refuse
them), one ``TokenEndpoint.token`` call in the request's unit of work answers it, and its answer (or the
raised ``OAuthError``) becomes RFC 6749 §5.1/§5.2 JSON with ``Cache-Control: no-store`` and ``Pragma:
no-cache``. What it adds: the Content-Type check, the 405 for other methods, and the 429 of fair use
(``domain.fair_use.TokenFailures``). What it never does: log the body, the Authorization header or any
credential; a refusal is logged as its ``reason``, which names the failed check and nothing secret.
"""
from __future__ import annotations

import logging
import math
from urllib.parse import parse_qs

from pyramid.response import Response

from ..domain import catalogue as c
from ..domain.oauth import METADATA_PATH, TOKEN_PATH, OAuthError, authorization_server_metadata, parse_basic
from ..domain.scim.body import json_bytes
from ..domain.scim.errors import ScimError
from .views import read_body
from .wiring import container_of

log = logging.getLogger(__name__)

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
JSON_CONTENT_TYPE = "application/json"
#: RFC 6749 §5.1: a token response (and, so that no proxy keeps one, every answer here) is never cached.
NO_STORE = (("Cache-Control", "no-store"), ("Pragma", "no-cache"))
#: RFC 6749 §5.2: the challenge of an invalid_client answer to a client that used HTTP Basic.
BASIC_CHALLENGE = 'Basic realm="WiggleDesk"'



class OAuthRefusal(Exception):
    """An answer of the token endpoint that is not a token, raised (never returned) so that pyramid_tm's
    veto sees the 4xx and the request's transaction aborts."""

    def __init__(self, status: int, error: str, description: str, headers: dict[str, str] | None = None):
        super().__init__(f"{error}: {description}")
        self.status = status
        self.body = {"error": error, "error_description": description}
        self.headers = dict(headers or {})

    @classmethod
    def of(cls, error: OAuthError) -> "OAuthRefusal":
        headers = {"WWW-Authenticate": BASIC_CHALLENGE} if error.basic_challenge else {}
        return cls(error.status, error.error, error.description, headers)


def _refused(refusal: c.Refusal, headers: dict[str, str] | None = None) -> OAuthRefusal:
    """The answer the catalogue declares ``refusal`` to be."""
    return OAuthRefusal(refusal.status, refusal.code, refusal.format(), headers)


def _json(status: int, body: dict, headers: dict[str, str] | None = None) -> Response:
    payload = json_bytes(body)
    headerlist = [*(headers or {}).items(), *NO_STORE, ("Content-Type", JSON_CONTENT_TYPE),
                  ("Content-Length", str(len(payload)))]
    return Response(status=status, headerlist=headerlist, app_iter=[payload])


def _form(request) -> dict[str, list[str]]:
    """The body's parameters, each with every value sent; raises ``OAuthRefusal`` for anything but a
    form-urlencoded UTF-8 body (RFC 6749 §3.2)."""
    if (request.content_type or "").lower() != FORM_CONTENT_TYPE:
        raise _refused(c.NOT_A_FORM)
    try:
        body = read_body(request.environ)
    except ScimError as error:  # over MAX_BODY_BYTES: no token request is that long
        raise OAuthRefusal(error.status, "invalid_request", error.detail) from None
    try:
        return parse_qs(body.decode("utf-8"), keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise _refused(c.UNREADABLE_FORM) from None


def _claimed_client_id(form: dict[str, list[str]], authorization: str | None) -> str | None:
    """The client id the request claims to be (Basic's, else the body's), for fair use only: the domain
    decides whether it is well formed and genuine."""
    if authorization:
        try:
            basic = parse_basic(authorization)
        except ValueError:
            return None
        if basic is not None:
            return basic[0]
    values = form.get("client_id") or [None]
    return values[0]


def _too_many(wait: float) -> OAuthRefusal:
    return _refused(c.TOO_MANY_FAILURES, {"Retry-After": str(max(1, math.ceil(wait)))})


def token_view(request) -> Response:
    """``POST /oauth2/token``."""
    if request.method != "POST":
        raise _refused(c.POST_ONLY, {"Allow": "POST"})
    container = container_of(request)
    form = _form(request)
    authorization = request.environ.get("HTTP_AUTHORIZATION")
    failures = container.token_failures
    claimed = _claimed_client_id(form, authorization) if failures is not None else None
    if failures is not None:
        # Over budget: refused before the credentials are checked, so a guess made now learns nothing.
        wait = failures.waiting(claimed)
        if wait:
            log.info("Token request refused: too many failures for the client (request id %s)",
                     request.request_id)
            raise _too_many(wait)
    try:
        # One unit of work of the request's transaction: the token is written in it, and pyramid_tm
        # commits after the view (or aborts on the raised refusal).
        answer = container.token_endpoint(request.uow).token(form, authorization)
    except OAuthError as error:
        log.info("Token request refused (%s): %s (request id %s)", error.error, error.reason, request.request_id)
        if failures is not None:
            wait = failures.failed(claimed, error.organisation_id)
            if wait:
                raise _too_many(wait) from None
        raise OAuthRefusal.of(error) from None
    return _json(200, answer)


def metadata_view(request) -> Response:
    """``GET /.well-known/oauth-authorization-server`` (RFC 8414): no token needed. The issuer is the origin
    the request arrived at (waitress rewrites it from a trusted proxy's X-Forwarded-* headers), as the
    ServiceProviderConfig's documentationUri is."""
    if request.method not in ("GET", "HEAD"):
        raise _refused(c.GET_ONLY, {"Allow": "GET"})
    payload = json_bytes(authorization_server_metadata(request.application_url))
    return Response(status=200, headerlist=[("Content-Type", JSON_CONTENT_TYPE),
                                            ("Content-Length", str(len(payload)))], app_iter=[payload])


def oauth_refusal_view(refusal: OAuthRefusal, request) -> Response:
    return _json(refusal.status, refusal.body, refusal.headers)


def add_oauth_routes(config) -> None:
    config.add_route("oauth_token", TOKEN_PATH)
    config.add_view(token_view, route_name="oauth_token")
    config.add_route("oauth_metadata", METADATA_PATH)
    config.add_view(metadata_view, route_name="oauth_metadata")
    config.add_exception_view(oauth_refusal_view, context=OAuthRefusal)
