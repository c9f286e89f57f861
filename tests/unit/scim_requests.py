"""Building SCIM requests the way Entra sends them, for tests that drive ``ScimApi`` without a server."""
from __future__ import annotations

import json

from wiggledesk_scim.domain.scim.api import ScimRequest

BASE = "https://h.example/scim/v2"
BASE_USERS = "https://h.example/scim/v2/Users"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def scim_request(token: str | None, body=None, *, base: str = BASE, query: dict | None = None,
                 headers: dict | None = None, method: str = "GET", path: str = "") -> ScimRequest:
    """A request as Entra sends it: bearer token, ``application/scim+json``, a JSON body if given."""
    all_headers = {"Content-Type": "application/scim+json"}
    if token is not None:
        all_headers["Authorization"] = f"Bearer {token}"
    all_headers.update(headers or {})
    if body is None:
        raw = b""
    elif isinstance(body, bytes):
        raw = body
    else:
        raw = json.dumps(body).encode("utf-8")
    return ScimRequest(base_url=base, headers=all_headers, query=query or {}, body=raw,
                       method=method, path=path)


def patch_body(*operations: dict) -> dict:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


SEED_USER = {
    "active": True,
    "emails": [{"type": "work", "value": "example@example.info"}],
    "externalId": "d8ffd6a9-cede-41a4-815e-a52a53180333",
    "userName": "Example Username",
}

FULL_USER = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
    "externalId": "adele.vance", "userName": "adele.vance@contoso.example", "active": True,
    "displayName": "Adele Vance", "title": "Retail Manager", "preferredLanguage": "en-GB",
    "nickName": None,
    "name": {"formatted": "Adele Vance", "givenName": "Adele", "familyName": "Vance"},
    "emails": [{"primary": True, "type": "work", "value": "adele.vance@contoso.example"}],
    "addresses": [{"type": "work", "formatted": "Building 4, Floor 2", "streetAddress": "18 Harbour Road",
                   "locality": "Leeds", "region": None, "postalCode": "LS1 4AB", "country": "GB",
                   "primary": False}],
    "phoneNumbers": [{"type": "work", "value": "+44 113 496 0000"},
                     {"type": "mobile", "value": "+44 7700 900123"},
                     {"type": "fax", "value": "+44 113 496 0999"}],
    "roles": [],
    "meta": {"resourceType": "User"},
    ENTERPRISE: {"employeeNumber": "000417", "department": "Retail", "costCenter": "CC-210",
                 "organization": "Contoso", "division": "North", "manager": None},
}
