"""A black-box fuzz of the running app: generated methods, paths, query strings, headers and bodies sent
over real HTTP to pserve (development.ini, SQLite). No answer is a 5xx (but the 501 that refuses what the
service does not offer), and a write refused with a 4xx changes nothing.

The CI run sends ``WIGGLEDESK_FUZZ_EXAMPLES`` requests (default 1,500); a longer run is
``WIGGLEDESK_FUZZ_EXAMPLES=50000 .venv/bin/pytest tests/integration/test_fuzz_served.py`` (README, "Tests").
"""
from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.integration.test_server import Server, free_port, http, ini_copy, onboard, without_database_variable
from tests.support import FULL_USER
from tests.unit.test_fuzz import ENTERPRISE, filters, json_values, operations

EXAMPLES = int(os.environ.get("WIGGLEDESK_FUZZ_EXAMPLES", "1500"))
WRITES = {"POST", "PUT", "PATCH", "DELETE"}

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    """pserve on a copy of development.ini, Contoso onboarded and one member created; (base, token, member)."""
    directory = tmp_path_factory.mktemp("fuzz")
    port = free_port()
    env = without_database_variable()
    ini = ini_copy("development.ini", directory, port, wiggledesk__access_log="off", wiggledesk__fair_use__rate="0")
    base = f"http://127.0.0.1:{port}"
    token = onboard(ini, "Contoso", "ada@contoso.example", base, env)
    server = Server(ini, port, env).start()
    try:
        member = http("POST", f"{base}/scim/v2/Users", FULL_USER, token).json["id"]
        yield base, token, member, server
    finally:
        server.stop()


PATHS = ["/scim/v2/Users", "/scim/v2/Users/{member}", "/scim/v2/Users/{random}", "/scim/v2/Users/.search",
         "/scim/v2/.search", "/scim/v2/ServiceProviderConfig", "/scim/v2/ResourceTypes", "/scim/v2/ResourceTypes/User",
         f"/scim/v2/Schemas/{ENTERPRISE}", "/scim/v2/Schemas/x", "/scim/v2/Groups", "/scim/v2/Bulk", "/scim/v2/Me",
         "/scim/v2/Users/Users/{member}", "/scim/v2/Users/Users", "/scim/v2/{random}", "/{random}", "/healthz",
         "/readyz", "/ops/", "/help/scim"]
CONTENT_TYPES = ["application/scim+json", "application/json", "application/scim+json; charset=utf-8", "text/plain",
                 "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "", "application/json; charset=latin-1"]
AUTHORIZATIONS = ["{token}", "bearer {token}", "Bearer", "Bearer wdscim_nope", "Basic YTpi", "", "Bearer {token} extra"]


@st.composite
def requests(draw):
    method = draw(st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "FROB"]))
    path = draw(st.sampled_from(PATHS)).replace("{random}", quote(draw(st.text(max_size=40)), safe=""))
    query = draw(st.dictionaries(st.sampled_from(["filter", "count", "startIndex", "attributes", "excludedAttributes",
                                                  "sortBy", "sortOrder", "x"]),
                                 filters() | st.text(max_size=20), max_size=3))
    kind = draw(st.integers(0, 3))
    if kind == 0:
        body = None
    elif kind == 1:
        body = draw(st.binary(max_size=200))
    elif kind == 2:
        body = json.dumps(draw(json_values)).encode()
    else:
        body = json.dumps({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                           "Operations": draw(st.lists(operations, max_size=3))}).encode()
    headers = {}
    authorization = draw(st.sampled_from(AUTHORIZATIONS))
    if authorization:
        headers["Authorization"] = authorization if authorization.startswith(("B", "b")) else "Bearer " + authorization
    content_type = draw(st.sampled_from(CONTENT_TYPES))
    if content_type:
        headers["Content-Type"] = content_type
    if draw(st.booleans()):
        headers[draw(st.sampled_from(["If-Match", "If-None-Match", "X-Request-Id", "Accept", "X-Forwarded-Host"]))] = \
            draw(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40))
    return method, path, query, body, headers


def send(base: str, token: str, member: str, method: str, path: str, query: dict, body, headers: dict) -> int:
    url = base + path.replace("{member}", member)
    if query:
        url += "?" + urlencode(query)
    request = urllib.request.Request(url, data=body, method=method)
    for name, value in headers.items():
        request.add_header(name, value.replace("{token}", token))
    try:
        with _opener.open(request, timeout=60) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        error.read()
        error.close()
        return error.code


def snapshot(base: str, token: str) -> list:
    listed = http("GET", f"{base}/scim/v2/Users?count=1000", token=token).json
    return sorted((r["id"], r["meta"]["version"]) for r in listed["Resources"])


@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                 HealthCheck.data_too_large])
@given(request=requests())
def test_no_generated_request_gets_a_5xx_and_a_refused_write_changes_nothing(target, request):
    base, token, member, server = target
    method, path, query, body, headers = request
    before = snapshot(base, token) if method in WRITES else None
    status = send(base, token, member, method, path, query, body, headers)
    assert status < 500 or status == 501, (status, method, path, query, headers, body[:200] if body else body)
    if before is not None and 400 <= status < 500:
        assert snapshot(base, token) == before, (status, method, path, query, body[:200] if body else body)
    assert server.process.poll() is None, server.log()
