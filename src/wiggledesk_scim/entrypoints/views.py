"""Thin views: a WebOb request becomes a ``ScimRequest``, one ``ScimApi`` call answers it, and the
``ScimResponse`` (or the raised ``ScimError``) becomes a WebOb response.

The views decide nothing about SCIM: content types, JSON parsing, authentication and every status come
from ``domain.scim``. They only add the backstops no SCIM call can give: unknown paths, a SCIM 503 with
Retry-After when the database cannot answer (wherever that surfaces: in the SCIM call as the domain's
``StoreUnavailable``, or at the COMMIT after the view as the database library's error, which the
container's storage reads: the views import no storage adapter), and a bare 500 for the unexpected,
logged with the request id and never with the token or the body.
"""
from __future__ import annotations

import logging
from urllib.parse import parse_qsl

from pyramid.exceptions import URLDecodeError
from pyramid.httpexceptions import HTTPException, HTTPNotFound
from pyramid.response import Response
from pyramid.tweens import INGRESS
from pyramid_retry import is_last_attempt, mark_error_retryable

from ..domain import catalogue as c
from ..domain.errors import StoreUnavailable
from ..domain.scim.api import SCIM_CONTENT_TYPE, LowerCaseHeaders, ScimRequest, ScimResponse
from ..domain.scim.body import json_bytes
from ..domain.scim.errors import ERROR_SCHEMA, ScimError, from_domain, refuse
from ..domain.scim.messages import MAX_BODY_BYTES, payload_too_large
from .wiring import container_of

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-Id"
_REQUEST_ID_LOWER = REQUEST_ID_HEADER.lower()


# -- requests and responses -------------------------------------------------------------------------

def to_scim_request(request, prefix: str) -> ScimRequest:
    """The plain request ``ScimApi`` takes. ``base_url`` is built from the scheme and host the request
    arrived with (waitress rewrites them from a trusted proxy's X-Forwarded-* headers) and the tree's
    prefix, so that locations point back at the form of Tenant URL the client uses."""
    return ScimRequest(
        base_url=_application_url(request) + prefix,
        headers=_headers(request.environ),
        query=_query(request.environ.get("QUERY_STRING", "")),
        body=read_body(request.environ),
        method=request.method,
        path=_path_below(request, prefix),
        request_id=request.request_id,
    )


#: The application URL (WebOb's ``request.application_url``) of each origin requests arrived at lately,
#: by what it is made of: a client names the host, so the entries are bounded (cleared when full).
_APPLICATION_URLS: dict[tuple, str] = {}
_APPLICATION_URLS_MAX = 256


def _application_url(request) -> str:
    environ = request.environ
    key = (environ.get("wsgi.url_scheme"), environ.get("HTTP_HOST"), environ.get("SERVER_NAME"),
           environ.get("SERVER_PORT"), environ.get("SCRIPT_NAME"))
    url = _APPLICATION_URLS.get(key)
    if url is None:
        url = request.application_url
        if len(_APPLICATION_URLS) >= _APPLICATION_URLS_MAX:
            _APPLICATION_URLS.clear()
        _APPLICATION_URLS[key] = url
    return url


#: Where ``read_body`` keeps the body it read, for a second reading (the not-found view's, say).
_BODY_KEY = "wiggledesk.body"


def read_body(environ) -> bytes:
    """The request body, read from the WSGI input as WebOb's ``request.body`` reads it (``Content-Length``
    bytes, or to the end when the server says the input is terminated, as waitress does for a chunked
    body), without copying it into a seekable buffer first. A body over ``MAX_BODY_BYTES`` is a 413,
    refused on its Content-Length before a byte of it is read, or once that many bytes of a chunked one
    were."""
    body = environ.get(_BODY_KEY)
    if body is None:
        stream = environ.get("wsgi.input")
        try:
            length = int(environ.get("CONTENT_LENGTH") or -1)
        except ValueError:
            length = -1
        if length > MAX_BODY_BYTES:
            raise payload_too_large(length)
        if stream is None or length == 0:
            body = b""
        elif length > 0:
            body = stream.read(length)
        else:
            body = stream.read(MAX_BODY_BYTES + 1) if environ.get("wsgi.input_terminated") else b""
            if len(body) > MAX_BODY_BYTES:
                raise payload_too_large()
        environ[_BODY_KEY] = body
    return body


def _headers(environ) -> LowerCaseHeaders:
    """The request's headers, read from the WSGI environ as WebOb's ``request.headers`` reads them
    (``HTTP_X_REQUEST_ID`` is ``x-request-id``), without building its view of them; names in lower case,
    as ``ScimRequest.header`` looks them up."""
    headers = LowerCaseHeaders({key[5:].replace("_", "-").lower(): value for key, value in environ.items()
                                if key[:5] == "HTTP_"})
    for key, name in (("CONTENT_TYPE", "content-type"), ("CONTENT_LENGTH", "content-length")):
        if environ.get(key):
            headers[name] = environ[key]
    return headers


def _path_below(request, prefix: str) -> str:
    """The path below the tree's prefix (``/Bulk``), for error details."""
    try:
        path = request.path_info
    except UnicodeDecodeError:
        path = request.environ.get("PATH_INFO", "")
    return path[len(prefix):] if path.startswith(prefix) else path


def _query(query_string: str) -> dict[str, str]:
    """Decoded query parameters, the last value of a repeated name winning. Undecodable bytes become
    U+FFFD instead of an error: a filter with them simply matches nothing."""
    # WSGI hands the query string over as latin-1; undo that to reach the bytes the client sent.
    raw = query_string.encode("latin-1", "replace").decode("utf-8", "replace")
    return dict(parse_qsl(raw, keep_blank_values=True, encoding="utf-8", errors="replace"))


def to_response(scim_response: ScimResponse) -> Response:
    if scim_response.body is None:
        # 204 and 304 carry neither a body nor Content-Type/Content-Length (RFC 9110 §8.6, §15.4.5).
        headers = [(name, value) for name, value in scim_response.headers.items()
                   if name.lower() not in ("content-type", "content-length")]
        return Response(status=scim_response.status, headerlist=headers, app_iter=[])
    return _body_response(scim_response.status, scim_response.body_pieces(), scim_response.headers)


def error_response(error: ScimError) -> Response:
    return _json_response(error.status, error.body(), error.headers)


def _json_response(status: int, body: dict, headers: dict[str, str] | None = None) -> Response:
    return _body_response(status, json_bytes(body), headers or {})


def _body_response(status: int, payload: bytes | list[bytes], headers: dict[str, str]) -> Response:
    """Every body goes out as SCIM JSON, whatever the client's Accept said (ENTRA.md §1). A body in pieces
    (``ScimResponse.body_pieces``) is written piece by piece, never joined into one more copy."""
    pieces = [payload] if isinstance(payload, bytes) else payload
    headerlist = [(name, value) for name, value in headers.items()
                  if name.lower() not in ("content-type", "content-length")]
    headerlist += [("Content-Type", SCIM_CONTENT_TYPE), ("Content-Length", str(sum(map(len, pieces))))]
    return Response(status=status, headerlist=headerlist, app_iter=pieces)


def internal_error_response(request) -> Response:
    """RFC 7644 §3.12's error body with nothing internal in it; the request id finds the log entry."""
    return _json_response(500, {
        "schemas": [ERROR_SCHEMA],
        "status": "500",
        "detail": c.INTERNAL_ERROR.format(request_id=request.request_id),
    })


# -- the views --------------------------------------------------------------------------------------

#: The order an ``Allow`` header lists methods in: reads first, then writes as RFC 9110 lists them.
_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def scim_view(methods: dict[str | None, str], prefix: str, argument: str | None = None):
    """The one view of a route: ``ScimApi.<methods[request.method]>`` (HEAD as GET), with the matched
    path segment ``argument`` if given. Any other method is ``methods[None]`` if the route has one (an
    endpoint we do not offer), else ``ScimApi.method_not_allowed`` with the methods this view answers as
    ``Allow``: derived here, from the one table of them, so the header can never disagree with the view.

    One view that looks the method up, rather than a view per method with a ``request_method``
    predicate: Pyramid tries such views one after the other and builds an exception (a whole WebOb
    response) for each that does not match."""
    operations = {method: operation for method, operation in methods.items() if method is not None}
    if "GET" in operations:
        operations.setdefault("HEAD", operations["GET"])
    allowed = tuple(sorted(operations, key=_METHOD_ORDER.index))
    fallback = methods.get(None)

    def view(request):
        operation = operations.get(request.method)
        scim_request = to_scim_request(request, prefix)
        if operation is None:
            # The catch-all refuses whatever the path names, so it takes no argument.
            if fallback is None:
                return to_response(request.scim.method_not_allowed(scim_request, allowed))
            return to_response(getattr(request.scim, fallback)(scim_request))
        call = getattr(request.scim, operation)
        if argument is None:
            return to_response(call(scim_request))
        return to_response(call(scim_request, request.matchdict[argument]))

    view.__name__ = view.__qualname__ = "scim_" + "_".join(
        sorted(set(operations.values()) | {fallback or "method_not_allowed"}))
    return view


def scim_error_view(error: ScimError, request) -> Response:
    """Every SCIM refusal. Raised, never returned, so that pyramid_tm's veto sees the 4xx/5xx and the
    request's transaction aborts."""
    return error_response(error)


def not_found_view(scim_root: str):
    """A path no route matches. Under the SCIM root the token is checked first (ENTRA.md §2: an
    unauthenticated request must not learn which paths exist); elsewhere it is a plain SCIM 404."""

    def view(exc, request):
        # The raw PATH_INFO, because a path that is not UTF-8 lands here too (URLDecodeError).
        path = request.environ.get("PATH_INFO", "")
        if path == scim_root or path.startswith(scim_root + "/"):
            try:
                request.scim.unknown_endpoint(to_scim_request(request, scim_root))
            except ScimError as error:
                return error_response(error)
            except Exception as unexpected:
                return _log_unexpected(unexpected, request)
        return error_response(refuse(c.NOTHING_HERE, root=request.application_url + scim_root))

    view.__name__ = view.__qualname__ = "scim_not_found"
    return view


def http_exception_view(exc: HTTPException, request) -> Response:
    """Any other HTTP refusal Pyramid or WebOb raise, as a SCIM error body."""
    if exc.code is None or exc.code < 400:
        return exc
    return _json_response(exc.code, {"schemas": [ERROR_SCHEMA], "status": str(exc.code),
                                     "detail": exc.title})


def unexpected_error_view(exc: Exception, request) -> Response:
    return _log_unexpected(exc, request)


def _log_unexpected(exc: BaseException, request) -> Response:
    trouble = _store_trouble(exc, request)
    if trouble is not None:
        return _store_unavailable(exc, trouble, request)
    # The method and path only: the headers hold the token, the query and body personal data.
    log.error("Unexpected %s while answering %s %s (request id %s)", type(exc).__name__,
              request.method, request.environ.get("PATH_INFO", ""), request.request_id,
              exc_info=(type(exc), exc, exc.__traceback__))
    return internal_error_response(request)


def _store_trouble(exc: BaseException, request) -> StoreUnavailable | None:
    """What ``exc`` says about the database: the domain's ``StoreUnavailable`` as raised, or the one that
    the storage's own error means (a failed COMMIT, which pyramid_tm runs after the view); None otherwise.
    The storage decides, so that only the storage in use knows its database library."""
    return container_of(request).storage.unavailable(exc)


def _store_unavailable(exc: BaseException, trouble: StoreUnavailable, request) -> Response:
    """The SCIM 503 with Retry-After; a serialization failure or deadlock is first marked retryable, so
    that pyramid_retry sends the request through again (in a fresh transaction) unless this was its last
    attempt (and only if the error is the request's own, which pyramid_retry looks at, not one a backstop
    met on the way). Logged as one line: the error's class, never its message, which may hold SQL
    parameters."""
    retrying = (trouble.retryable and getattr(request, "exception", None) is exc
                and not is_last_attempt(request))
    if retrying:
        mark_error_retryable(exc)
    cause = trouble.__cause__ if trouble is exc else exc
    cause = getattr(cause, "orig", None) or cause or trouble
    log.warning("Database unavailable (%s) while answering %s %s (request id %s)%s", type(cause).__name__,
                request.method, request.environ.get("PATH_INFO", ""), request.request_id,
                "; retrying" if retrying else "")
    return error_response(from_domain(trouble))


#: On every response unless its view chose otherwise: SCIM answers hold personal data, which no proxy or
#: browser cache should keep, and no body of ours is to be sniffed into another type than it says.
SECURITY_HEADERS = (("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff"))


def last_resort_tween_factory(handler, registry):
    """Outside pyramid_tm: an error while committing (after the view answered) that no exception view
    answered gets the same answer as an error in a view (a 503 if the database could not answer, else
    the bare, logged 500), not waitress's plain-text page. Every response, that one
    included, carries the request id (X-Request-Id), which the logs name too, and ``SECURITY_HEADERS``."""

    def last_resort_tween(request):
        try:
            response = handler(request)
        except Exception as exc:
            response = _log_unexpected(exc, request)
        # On the header list itself, in one pass over it: WebOb's ``response.headers`` would go through
        # the whole list for every header asked about or set.
        headerlist = response.headerlist
        present = {name.lower() for name, _ in headerlist}
        if _REQUEST_ID_LOWER in present:
            response.headers[REQUEST_ID_HEADER] = request.request_id
        else:
            headerlist.append((REQUEST_ID_HEADER, request.request_id))
        headerlist.extend(header for header in SECURITY_HEADERS if header[0].lower() not in present)
        return response

    return last_resort_tween


def add_error_views(config, scim_root: str) -> None:
    config.add_exception_view(scim_error_view, context=ScimError)
    config.add_exception_view(not_found_view(scim_root), context=HTTPNotFound)
    config.add_exception_view(not_found_view(scim_root), context=URLDecodeError)
    config.add_exception_view(http_exception_view, context=HTTPException)
    config.add_exception_view(unexpected_error_view, context=Exception)
    config.add_tween(f"{__name__}.last_resort_tween_factory", under=INGRESS)
