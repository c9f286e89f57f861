"""The ops console's routes and views: HTML pages rendered by Jinja2, behind HTTP Basic, read-only.

Each view makes one call to ``domain.console.Console`` (which reads through ``Operations``) on a
reading unit of work, and renders the result. The console answers its own statuses (401, 400, 404,
405) as plain HTML responses, returned rather than raised, because the app's exception views answer
in SCIM JSON; GET and HEAD run outside any transaction, so returning an error commits nothing.
What it does not do: change a setting (the CLI does), or show a token's secret or digest (it never
has them: ``ApiToken`` holds the digest, and no template names it).
"""
from __future__ import annotations

import logging
from datetime import datetime
from importlib import resources
from urllib.parse import parse_qsl

from pyramid.renderers import render
from pyramid.response import Response
from pyramid_jinja2 import EXTRAS_CONFIG_PHASE, IJinja2Environment
from jinja2 import StrictUndefined

from ...domain.access import LAST_USED_PRECISION
from ...domain.activity import EVENTS, lock_out, membership_change
from ...domain.console import MAX_LIMIT, Console, Health, TrailFilter
from ...domain.errors import InvalidValue, NotFound
from ..request_scope import open_uow
from ..wiring import CONTAINER_KEY, AppSettings, container_of
from .credentials import CHALLENGE, BasicSignIn

log = logging.getLogger(__name__)

PREFIX = "/ops"
_TEMPLATES = "wiggledesk_scim.entrypoints.ops:templates/"
#: Where the sign-in checker lives in Pyramid's registry.
SIGN_IN_KEY = "wiggledesk.ops.sign_in"
_READING = ("GET", "HEAD")

#: Sent with every console response. The pages hold organisations' settings and member ids: never
#: cached, never framed; the CSP allows the one style sheet and nothing else (there is no script).
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
}

_STYLE_SHEET = resources.files(__package__).joinpath("static", "console.css").read_bytes()


def add_ops_console(config, settings: AppSettings) -> None:
    """The console's routes, if ``ops.username`` and ``ops.password_hash`` are set; otherwise nothing,
    so every path under /ops/ is as unknown as any other (404)."""
    if settings.ops_credentials is None:
        return
    clock = config.registry[CONTAINER_KEY].clock
    config.registry[SIGN_IN_KEY] = BasicSignIn(settings.ops_credentials, clock)
    config.include("pyramid_jinja2")
    # After pyramid_jinja2 has built its environment from the jinja2.* settings: autoescaping stays on
    # whatever those say, and a misspelt name in a template fails the tests instead of rendering blank.
    config.action(("wiggledesk-ops-jinja2",), lambda: _tune(config.registry), order=EXTRAS_CONFIG_PHASE)
    config.add_route("ops_style_sheet", f"{PREFIX}/console.css")
    config.add_route("ops_organisations", f"{PREFIX}/")
    config.add_route("ops_organisation", f"{PREFIX}/organisations/{{organisation_id}}")
    config.add_route("ops_bare", PREFIX)
    config.add_route("ops_unknown", f"{PREFIX}/*rest")
    config.add_view(style_sheet_view, route_name="ops_style_sheet")
    config.add_view(_signed_in(organisations_view), route_name="ops_organisations")
    config.add_view(_signed_in(organisation_view), route_name="ops_organisation")
    config.add_view(_signed_in(bare_view), route_name="ops_bare")
    config.add_view(_signed_in(unknown_view), route_name="ops_unknown")


def _tune(registry) -> None:
    environment = registry.getUtility(IJinja2Environment, name=".jinja2")
    environment.autoescape = True
    environment.undefined = StrictUndefined
    environment.filters["utc"] = _utc
    environment.filters["health"] = Health.of
    environment.filters["membership_change"] = membership_change
    environment.filters["lock_out"] = lock_out
    environment.globals["last_used_precision"] = LAST_USED_PRECISION


def _utc(moment: datetime | None, absent: str = "never") -> str:
    return absent if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


# -- the views ----------------------------------------------------------------------------------------

def organisations_view(request) -> Response:
    overviews = _console(request).organisations()
    return _page(request, "organisations.jinja2", overviews=overviews)


def organisation_view(request) -> Response:
    query = _query(request)
    problem = None
    try:
        trail_filter = TrailFilter.parse(event=query.get("event", ""), member_id=query.get("member_id", ""),
                                         since=query.get("since", ""), limit=query.get("limit", ""))
    except InvalidValue as error:
        trail_filter, problem = None, error.detail
    try:
        page = _console(request).organisation(request.matchdict["organisation_id"], trail_filter)
    except NotFound:
        return _page(request, "problem.jinja2", status=404, title="No such organisation",
                     message="No organisation has that id.")
    except InvalidValue as error:  # a name several organisations share
        return _page(request, "problem.jinja2", status=400, title="Which organisation?", message=error.detail)
    return _page(request, "organisation.jinja2", status=400 if problem else 200, page=page,
                 trail_filter=trail_filter, problem=problem, events=EVENTS, max_limit=MAX_LIMIT,
                 tokens={token.id: token for token in page.overview.tokens},
                 form={name: query.get(name, "") for name in ("event", "member_id", "since", "limit")})


def bare_view(request) -> Response:
    return _secured(Response(status=302, location=request.route_path("ops_organisations")))


def unknown_view(request) -> Response:
    return _page(request, "problem.jinja2", status=404, title="Not found",
                 message="The ops console has no page at this address.")


def style_sheet_view(request) -> Response:
    """The console's one style sheet; no secret in it, so it is served without signing in."""
    if request.method not in _READING:
        return _not_allowed(request)
    response = Response(body=_STYLE_SHEET, content_type="text/css", charset="utf-8")
    _secured(response)
    response.headers["Cache-Control"] = "max-age=3600"
    return response


# -- plumbing -----------------------------------------------------------------------------------------

def _signed_in(view):
    """``view``, once the request has shown the ops credentials and asks only to read."""

    def signed_in(request) -> Response:
        authorization = request.environ.get("HTTP_AUTHORIZATION")
        if not request.registry[SIGN_IN_KEY].accepts(authorization):
            if authorization:
                # Neither the username nor the header: either may hold the password, typed in a hurry.
                log.warning("Refused a sign-in to the ops console (request id %s)", request.request_id)
            return _unauthorised()
        if request.method not in _READING:
            return _not_allowed(request)
        return view(request)

    signed_in.__name__ = signed_in.__qualname__ = view.__name__
    return signed_in


def _query(request) -> dict[str, str]:
    """The query's parameters, the last of a repeated name winning. Bytes that are not UTF-8 become
    U+FFFD rather than an error (WebOb's ``request.GET`` raises): the filter then refuses or matches
    nothing, and the page says so."""
    # WSGI hands the query string over as latin-1; undo that to reach the bytes the browser sent.
    raw = request.environ.get("QUERY_STRING", "").encode("latin-1", "replace").decode("utf-8", "replace")
    return dict(parse_qsl(raw, keep_blank_values=True, encoding="utf-8", errors="replace"))


def _console(request) -> Console:
    return Console(container_of(request).operations(open_uow(request, read_only=True)))


def _page(request, template: str, *, status: int = 200, **values) -> Response:
    values.setdefault("now", container_of(request).clock.now())
    body = render(_TEMPLATES + template, values, request=request)
    return _secured(Response(body=body, status=status, content_type="text/html", charset="utf-8"))


def _unauthorised() -> Response:
    response = Response(body="Sign in with the ops console's username and password.\n", status=401,
                        content_type="text/plain", charset="utf-8")
    response.headers["WWW-Authenticate"] = CHALLENGE
    return _secured(response)


def _not_allowed(request) -> Response:
    response = _page(request, "problem.jinja2", status=405, title="Read-only",
                     message="The ops console only shows; change settings with the wiggledesk-scim command.")
    response.headers["Allow"] = ", ".join(_READING)
    return response


def _secured(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response
