"""Building SCIM requests the way Entra sends them, for tests that drive ``ScimApi`` without a server."""
from __future__ import annotations

import json

from tests.support import ENTERPRISE, FULL_USER, SEED_USER  # noqa: F401  (re-exported for the SCIM tests)
from wiggledesk_scim.domain.scim.api import ScimRequest

BASE = "https://h.example/scim/v2"
BASE_USERS = "https://h.example/scim/v2/Users"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def scim_request(token: str | None, body=None, *, base: str = BASE, query: dict | None = None,
                 headers: dict | None = None, method: str = "GET", path: str = "",
                 request_id: str | None = None) -> ScimRequest:
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
                       method=method, path=path, request_id=request_id)


def patch_body(*operations: dict) -> dict:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}
