"""The page the ServiceProviderConfig's ``documentationUri`` points at: the setup guide (``entrypoints.guide``),
and its style sheet.

Public: no token needed, nothing about any organisation in it; the only thing taken from the request is
the address it came to, shown as the Tenant URL and token endpoint to enter.
"""
from __future__ import annotations

from pyramid.response import Response

from . import guide

HELP_PATH = "/help/scim"

#: The page runs no script and loads nothing but its own style sheet; it may not be framed. It is the
#: same for everyone at an address, so caches may keep it for an hour.
SECURITY_HEADERS = {
    "Cache-Control": "public, max-age=3600",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'none'; "
                               "frame-ancestors 'none'; base-uri 'none'",
}


def help_view(request) -> Response:
    response = Response(guide.page(request.application_url), content_type="text/html", charset="utf-8")
    response.headers.update(SECURITY_HEADERS)
    return response


def style_sheet_view(request) -> Response:
    response = Response(guide.style_sheet(), content_type="text/css", charset="utf-8")
    response.headers.update(SECURITY_HEADERS)
    return response


def add_help_route(config) -> None:
    config.add_route("help_scim", HELP_PATH)
    config.add_view(help_view, route_name="help_scim", request_method="GET")
    config.add_route("help_style_sheet", guide.STYLE_SHEET_PATH)
    config.add_view(style_sheet_view, route_name="help_style_sheet", request_method="GET")
