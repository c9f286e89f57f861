"""The page the ServiceProviderConfig's ``documentationUri`` points at: how to connect an identity provider.

Static text, no token needed, nothing about any organisation in it.
"""
from __future__ import annotations

from html import escape

from pyramid.response import Response

HELP_PATH = "/help/scim"

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>WiggleDesk SCIM provisioning</title></head>
<body>
<h1>Provisioning WiggleDesk members with SCIM 2.0</h1>
<p>An admin of your WiggleDesk organisation, with API access switched on for the organisation and for
themselves, copies their API token. In your identity provider's provisioning settings enter:</p>
<ul>
<li><strong>Tenant URL</strong>: <code>{root}</code> (<code>{root}/Users</code> works too)</li>
<li><strong>Secret Token</strong>: the admin's API token</li>
</ul>
<p>The recommended user mapping: <code>userPrincipalName</code> to <code>userName</code>,
<code>mail</code> to <code>emails[type eq "work"].value</code>, <code>Not([IsSoftDeleted])</code> to
<code>active</code>, <code>objectId</code> to <code>externalId</code>. Entra's default mapping works too.</p>
<p>Groups become WiggleDesk teams: in Microsoft Entra ID keep <em>Provision Microsoft Entra ID Groups</em>
at <em>Yes</em> with the default group mapping (<code>displayName</code>, matched; <code>objectId</code> to
<code>externalId</code>; <code>members</code>). Members of a team must be provisioned users of the same
organisation.</p>
<p>Members provisioned this way sign in with Microsoft or Google; they have no WiggleDesk password.</p>
</body></html>
"""


def help_view(request) -> Response:
    page = _PAGE.format(root=escape(request.application_url + "/scim/v2"))
    return Response(page, content_type="text/html", charset="utf-8")


def add_help_route(config) -> None:
    config.add_route("help_scim", HELP_PATH)
    config.add_view(help_view, route_name="help_scim", request_method="GET")
