"""The SCIM URL tree, mounted once per Tenant URL form (ENTRA.md §1), and which ScimApi call each path reaches.

A method a route does not offer reaches ``ScimApi.method_not_allowed`` (405 after authentication, with
``Allow`` derived from the route's methods below, by ``views.scim_view``); what the service does not offer
at all (/Bulk, /Me) reaches ``ScimApi.unsupported`` (501); and a path no route matches reaches
``ScimApi.unknown_endpoint`` through the not-found view (``views.py``), so no request under the SCIM root
is answered before its token is checked.
"""
from __future__ import annotations

import re

from .views import scim_view

#: Every route also answers with one trailing slash (``/scim/v2/Users/``), which some clients add.
SLASH = "{trailing_slash:/?}"

#: (path below the prefix, route suffix, {HTTP method: ScimApi method}, the matchdict key passed on).
#: ``None`` as method means every method (the endpoints we do not offer); otherwise the methods listed are
#: the route's, the only declaration of them: any other is a 405 whose ``Allow`` lists them. HEAD is
#: answered (and allowed) as GET.
_ROUTES = (
    ("/Users", "users", {"GET": "list_users", "POST": "create_user"}, None),
    # Before /Users/{id}: RFC 7644 §3.4.3's query in a body.
    ("/Users/.search", "users_search", {"POST": "search_users"}, None),
    ("/Users/{id}", "user", {"GET": "get_user", "PUT": "replace_user", "PATCH": "patch_user",
                             "DELETE": "delete_user"}, "id"),
    # Discovery documents are read-only (RFC 7644 §4).
    ("/ServiceProviderConfig", "service_provider_config", {"GET": "service_provider_config"}, None),
    ("/ResourceTypes", "resource_types", {"GET": "list_resource_types"}, None),
    ("/ResourceTypes/{name}", "resource_type", {"GET": "get_resource_type"}, "name"),
    ("/Schemas", "schemas", {"GET": "list_schemas"}, None),
    ("/Schemas/{urn}", "schema", {"GET": "get_schema"}, "urn"),
    # Teams (ENTRA.md §14).
    ("/Groups", "groups", {"GET": "list_groups", "POST": "create_group"}, None),
    ("/Groups/.search", "groups_search", {"POST": "search_groups"}, None),
    ("/Groups/{id}", "group", {"GET": "get_group", "PUT": "replace_group", "PATCH": "patch_group",
                               "DELETE": "delete_group"}, "id"),
    # RFC 7644 endpoints we do not offer: 501, as the ServiceProviderConfig announces.
    ("/Bulk", "bulk", {None: "unsupported"}, None),
    ("/Me", "me", {None: "unsupported"}, None),
    ("/.search", "search", {"POST": "search_all"}, None),
)


#: The first segment of every fixed path above (``Users``, ``Schemas``, ``.search`` ...).
_FIXED_NAMES = sorted({path.split("/")[1] for path, *_ in _ROUTES})

#: A member id in ``/Users/{id}``: any one segment but a fixed name, so that the ``/scim/v2`` tree's
#: member route can be tried first without taking ``/scim/v2/Users/Users`` (the other tree's
#: collection) or ``/scim/v2/Users/Schemas`` for members. Member ids are UUIDs, never one of those.
_MEMBER_ID = "{id:(?!(?:%s)/?$)[^/]+}" % "|".join(re.escape(name) for name in _FIXED_NAMES)

#: Entra's own requests (ENTRA.md §1): the routes Pyramid tries first, since it tries routes in order.
_HOT = ("users", "user")


def add_scim_routes(config, trees) -> None:
    """Mount the SCIM tree under each ``(prefix, name_prefix)`` of ``trees`` (``/scim/v2`` and
    ``/scim/v2/Users``), route names starting with ``name_prefix``. Views receive ``prefix`` so that
    locations keep the form the client used.

    Pyramid tries routes in the order they were added, so Entra's look-ups and writes (``/Users``,
    ``/Users/{id}``) of every tree come first; the other routes follow tree by tree, in ``trees``'s order,
    which decides the one path both trees have (``/scim/v2/Users/.search``)."""
    hot = [(tree, route) for tree in trees for route in _ROUTES if route[1] in _HOT]
    rest = [(tree, route) for tree in trees for route in _ROUTES if route[1] not in _HOT]
    for (prefix, name_prefix), (path, suffix, methods, argument) in hot + rest:
        pattern = prefix + path.replace("{id}", _MEMBER_ID) + SLASH
        config.add_route(f"{name_prefix}_{suffix}", pattern)
        config.add_view(scim_view(methods, prefix, argument), route_name=f"{name_prefix}_{suffix}")
