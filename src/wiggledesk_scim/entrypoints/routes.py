"""The SCIM URL tree, mounted once per Tenant URL form (ENTRA.md §1), and which ScimApi call each path reaches.

Every method a route does not offer reaches ``ScimApi.unsupported`` (501 after authentication), except on
the read-only discovery documents (``ScimApi.read_only``, 405 with ``Allow: GET``); and a
path no route matches reaches ``ScimApi.unknown_endpoint`` through the not-found view (``views.py``),
so no request under the SCIM root is answered before its token is checked.
"""
from __future__ import annotations

from .views import scim_view

#: Every route also answers with one trailing slash (``/scim/v2/Users/``), which some clients add.
SLASH = "{trailing_slash:/?}"

#: (path below the prefix, route suffix, {HTTP method: ScimApi method}, the matchdict key passed on).
#: ``None`` as method means every method.
_ROUTES = (
    ("/Users", "users", {"GET": "list_users", "POST": "create_user"}, None),
    # Before /Users/{id}: RFC 7644 §3.4.3's query in a body.
    ("/Users/.search", "users_search", {"POST": "search_users"}, None),
    ("/Users/{id}", "user", {"GET": "get_user", "PUT": "replace_user", "PATCH": "patch_user",
                             "DELETE": "delete_user"}, "id"),
    # Discovery documents are read-only (RFC 7644 §4): any other method is 405 with Allow: GET.
    ("/ServiceProviderConfig", "service_provider_config", {"GET": "service_provider_config", None: "read_only"}, None),
    ("/ResourceTypes", "resource_types", {"GET": "list_resource_types", None: "read_only"}, None),
    ("/ResourceTypes/{name}", "resource_type", {"GET": "get_resource_type", None: "read_only"}, "name"),
    ("/Schemas", "schemas", {"GET": "list_schemas", None: "read_only"}, None),
    ("/Schemas/{urn}", "schema", {"GET": "get_schema", None: "read_only"}, "urn"),
    # Groups are not offered; every method gets ENTRA.md §3's 404 telling the admin what to switch off.
    ("/Groups", "groups", {None: "groups"}, None),
    ("/Groups/{rest:.+}", "groups_member", {None: "groups"}, None),
    # RFC 7644 endpoints we do not offer: 501, as the ServiceProviderConfig announces.
    ("/Bulk", "bulk", {None: "unsupported"}, None),
    ("/Me", "me", {None: "unsupported"}, None),
    ("/.search", "search", {"POST": "search_users"}, None),
)


def add_scim_routes(config, prefix: str, name_prefix: str) -> None:
    """Mount the SCIM tree under ``prefix`` (``/scim/v2`` or ``/scim/v2/Users``), route names starting
    with ``name_prefix``. Views receive ``prefix`` so that locations keep the form the client used."""
    for path, suffix, methods, argument in _ROUTES:
        route_name = f"{name_prefix}_{suffix}"
        config.add_route(route_name, prefix + path + SLASH)
        for http_method, operation in methods.items():
            # The catch-all (None) views refuse whatever the path names, so they take no argument.
            config.add_view(scim_view(operation, prefix, argument if http_method else None),
                            route_name=route_name, request_method=http_method)
        if None not in methods:
            # The least specific view on the route: any method not listed above.
            config.add_view(scim_view("unsupported", prefix), route_name=route_name)
