"""The WSGI application over WebTest, with pyramid_tm live and a fresh database per test (SQLite and PostgreSQL).

What belongs here: what only the assembled app can show. Routing of both Tenant URL forms, the HTTP
shape of answers (status, headers, content types, absolute locations), and that a request's database
transaction really commits on 2xx and really aborts on 4xx/5xx. SCIM rules themselves are pinned in
tests/unit; waitress and real sockets in test_server.py.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import replace
from urllib.parse import quote, urlsplit

import pytest

from pyramid.scripting import prepare
from webob import Request
from webtest import TestApp

from tests.integration.failures import add_commit_failure_route
from wiggledesk_scim.domain.access import MALFORMED_AUTHORIZATION
from wiggledesk_scim.domain.services import MemberService
from wiggledesk_scim.domain.registry.declaration import MAX_INDEXED_LENGTH
from wiggledesk_scim.domain.scim.messages import MAX_BODY_BYTES
from wiggledesk_scim.entrypoints.pyramid_app import CONTAINER_KEY, main

SCIM_JSON = "application/scim+json; charset=utf-8"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
#: The two Tenant URL forms admins enter (ENTRA.md §1); Entra appends /Users, /ServiceProviderConfig ...
TREES = ("/scim/v2", "/scim/v2/Users")
HOST = "http://localhost"
NOBODY = "5171a35d-8207-4e06-8ce2-0f1b2c3d4e5f"

#: ENTRA.md §7a, WiggleDesk's seed mapping: no schemas, a userName with a space.
SEED_BODY = {"active": True, "emails": [{"type": "work", "value": "example@example.info"}],
             "externalId": "d8ffd6a9-cede-41a4-815e-a52a53180333", "userName": "Example Username"}


# -- the app, its database and an onboarded organisation ------------------------------------------

@pytest.fixture
def app(database_url, migrated_engine):
    """``main()`` as PasteDeploy calls it, over the test's own freshly migrated database."""
    wsgi_app = main({}, **{"wiggledesk.storage": "sqlalchemy", "sqlalchemy.url": database_url})
    yield wsgi_app
    wsgi_app.registry[CONTAINER_KEY].engine.dispose()


@pytest.fixture
def testapp(app) -> TestApp:
    return TestApp(app)


def in_transaction(app, work):
    """Run ``work(container, uow)`` in a transaction of its own, wired as the CLI wires it."""
    env = prepare(registry=app.registry)
    try:
        request = env["request"]
        with request.tm:
            return work(request.registry[CONTAINER_KEY], request.uow)
    finally:
        env["closer"]()


@pytest.fixture
def contoso(app):
    """Contoso, onboarded as `wiggledesk-scim onboard` does it: organisation, admin, token."""
    return in_transaction(app, lambda container, uow: container.onboard(uow, "Contoso", "ada@contoso.example"))


@pytest.fixture
def fabrikam(app, contoso):
    return in_transaction(app, lambda container, uow: container.onboard(uow, "Fabrikam", "grace@fabrikam.example"))


def stored_members(app, organisation_id):
    """The organisation's members as the database holds them, read in a transaction of its own."""
    def read(container, uow):
        with uow:
            return {m.user_name: m for m in uow.members.search(organisation_id, _everything()).resources}
    return in_transaction(app, read)


def stored_token(app, organisation_id):
    def read(container, uow):
        with uow:
            (token,) = uow.tokens.list_for_organisation(organisation_id)
            return token
    return in_transaction(app, read)


def _everything():
    from wiggledesk_scim.domain.query import Query
    return Query(filter=None, start_index=1, count=1000)


class Scim:
    """A SCIM client over WebTest for one token and one Tenant URL form. Returns WebTest responses;
    never asserts a status itself, so each test states the status it expects."""

    def __init__(self, testapp: TestApp, token: str | None, tree: str = "/scim/v2"):
        self.testapp = testapp
        self.token = token
        self.tree = tree

    def headers(self, extra=None):
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        headers.update(extra or {})
        return headers

    def url(self, path: str) -> str:
        return path if path.startswith("http") or path.startswith("/scim") else self.tree + path

    def request(self, method: str, path: str, body=None, content_type="application/scim+json", headers=None):
        url = self.url(path)
        if url.startswith("http"):
            parts = urlsplit(url)
            assert f"{parts.scheme}://{parts.netloc}" == HOST
            url = parts.path + (f"?{parts.query}" if parts.query else "")
        extra = dict(headers or {})
        if body is not None:
            extra.setdefault("Content-Type", content_type)
            body = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
        return self.testapp.request(url, method=method, body=body or b"", headers=self.headers(extra),
                                    expect_errors=True)

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, body, **kwargs):
        return self.request("POST", path, body, **kwargs)

    def patch(self, path, body, **kwargs):
        return self.request("PATCH", path, body, **kwargs)

    def put(self, path, body, **kwargs):
        return self.request("PUT", path, body, **kwargs)

    def delete(self, path, **kwargs):
        return self.request("DELETE", path, **kwargs)

    def find(self, attribute: str, value: str):
        return self.get(f"/Users?filter={attribute}+eq+%22{quote(value, safe='')}%22")


@pytest.fixture(params=TREES, ids=["tenant-url-scim-v2", "tenant-url-scim-v2-Users"])
def scim(request, testapp, contoso) -> Scim:
    """Contoso's client, once for each Tenant URL form."""
    return Scim(testapp, contoso.token, request.param)


def assert_scim_json(response):
    assert response.headers["Content-Type"] == SCIM_JSON
    return response.json


def assert_error(response, status: int, scim_type: str | None = None) -> dict:
    assert response.status_int == status, response.text
    body = assert_scim_json(response)
    assert body["schemas"] == [ERROR]
    assert body["status"] == str(status)
    assert body.get("scimType") == scim_type
    assert body["detail"]
    return body


# -- Test Connection, matching, and the whole life of a member -------------------------------------

@pytest.mark.parametrize("query", [
    "filter=userName+eq+%2241d1c5e2-5f7a-4d8e-9b0c-3a6f2e1d7c44%22",
    "filter=userName%20eq%20%2241d1c5e2-5f7a-4d8e-9b0c-3a6f2e1d7c44%22",
    'filter=userName eq "41d1c5e2-5f7a-4d8e-9b0c-3a6f2e1d7c44"&aadOptscim062020',
    "filter=externalId+eq+%2241d1c5e2-5f7a-4d8e-9b0c-3a6f2e1d7c44%22&excludedAttributes=members",
])
def test_test_connection_gets_exactly_the_empty_list_response(scim, query):
    """Entra's Test Connection query for a random GUID answers 200 and ENTRA.md §5's body, under both trees."""
    response = scim.get(f"/Users?{query}")
    assert response.status_int == 200
    assert assert_scim_json(response) == {"schemas": [LIST_RESPONSE], "totalResults": 0, "Resources": [],
                                          "startIndex": 1, "itemsPerPage": 0}


def test_member_lifecycle_under_each_tenant_url(app, scim, contoso):
    """Create, read, match, patch, replace, deprovision and delete a member, with absolute locations in the
    tree's own form that answer GET."""
    created = scim.post("/Users", SEED_BODY)
    assert created.status_int == 201, created.text
    user = assert_scim_json(created)
    location = created.headers["Location"]
    assert location == f"{HOST}{scim.tree}/Users/{user['id']}"
    assert user["meta"]["location"] == location
    assert created.headers["ETag"] == user["meta"]["version"] == 'W/"1"'

    fetched = scim.get(location)
    assert fetched.status_int == 200
    assert assert_scim_json(fetched) == user

    by_external_id = scim.find("externalId", SEED_BODY["externalId"]).json
    assert (by_external_id["totalResults"], by_external_id["Resources"]) == (1, [user])
    assert scim.find("userName", "EXAMPLE USERNAME").json["Resources"] == [user]

    patched = scim.patch(location, {"schemas": [PATCH_OP], "Operations": [
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "example@fabrikam.example"}]})
    assert patched.status_int == 200, patched.text
    assert patched.json["emails"] == [{"type": "work", "value": "example@fabrikam.example"}]
    assert patched.headers["ETag"] == patched.json["meta"]["version"] == 'W/"2"'

    replaced = scim.put(location, {"schemas": [CORE_USER], "userName": "Example Username",
                                   "externalId": SEED_BODY["externalId"], "displayName": "Example Person"})
    assert replaced.status_int == 200, replaced.text
    assert replaced.json["displayName"] == "Example Person"
    assert "emails" not in replaced.json
    assert replaced.json["active"] is True

    deprovisioned = scim.patch(location, {"schemas": [PATCH_OP], "Operations": [
        {"op": "Replace", "path": "active", "value": "False"}]})
    assert deprovisioned.status_int == 200 and deprovisioned.json["active"] is False
    still_matched = scim.find("externalId", SEED_BODY["externalId"]).json["Resources"]
    assert [m["active"] for m in still_matched] == [False]

    deleted = scim.delete(location)
    assert deleted.status_int == 204
    assert deleted.body == b""
    assert "Content-Type" not in deleted.headers and "Content-Length" not in deleted.headers
    assert_error(scim.get(location), 404)
    assert scim.find("externalId", SEED_BODY["externalId"]).json["totalResults"] == 0
    assert "Example Username" not in stored_members(app, contoso.organisation.id)


def test_a_member_is_reachable_under_either_tree_with_locations_in_that_form(testapp, contoso):
    """The trees are one service: a member created under /scim/v2 is read under /scim/v2/Users/Users and
    gets that form's location there."""
    created = Scim(testapp, contoso.token, "/scim/v2").post("/Users", SEED_BODY).json
    other = Scim(testapp, contoso.token, "/scim/v2/Users").get(f"/Users/{created['id']}")
    assert other.status_int == 200
    assert other.json["meta"]["location"] == f"{HOST}/scim/v2/Users/Users/{created['id']}"


@pytest.mark.parametrize("path, expected", [
    ("/scim/v2/Users", LIST_RESPONSE),
    ("/scim/v2/Users/", LIST_RESPONSE),
    ("/scim/v2/Users/Users", LIST_RESPONSE),
    ("/scim/v2/Users/Users/", LIST_RESPONSE),
    ("/scim/v2/ServiceProviderConfig", "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"),
    ("/scim/v2/Users/ServiceProviderConfig", "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"),
    ("/scim/v2/Users/ServiceProviderConfig/", "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"),
    ("/scim/v2/ResourceTypes", LIST_RESPONSE),
    ("/scim/v2/Users/ResourceTypes", LIST_RESPONSE),
    ("/scim/v2/ResourceTypes/User", "urn:ietf:params:scim:schemas:core:2.0:ResourceType"),
    ("/scim/v2/Users/ResourceTypes/User", "urn:ietf:params:scim:schemas:core:2.0:ResourceType"),
    ("/scim/v2/Schemas", LIST_RESPONSE),
    ("/scim/v2/Users/Schemas", LIST_RESPONSE),
    (f"/scim/v2/Schemas/{CORE_USER}", "urn:ietf:params:scim:schemas:core:2.0:Schema"),
    (f"/scim/v2/Users/Schemas/{ENTERPRISE_USER}", "urn:ietf:params:scim:schemas:core:2.0:Schema"),
])
def test_every_path_form_reaches_its_endpoint(testapp, contoso, path, expected):
    """Both trees, with and without a trailing slash: the second tree's fixed names are never taken
    for member ids of the first."""
    response = Scim(testapp, contoso.token).get(path)
    assert response.status_int == 200, response.text
    assert assert_scim_json(response)["schemas"] == [expected]


@pytest.mark.parametrize("tree", TREES)
def test_discovery_locations_follow_the_tree(testapp, contoso, tree):
    """The ServiceProviderConfig's meta.location is under the root the client used."""
    body = Scim(testapp, contoso.token, tree).get("/ServiceProviderConfig").json
    assert body["meta"]["location"] == f"{HOST}{tree}/ServiceProviderConfig"


@pytest.mark.parametrize("suffix", ["", "/"])
def test_member_path_answers_with_or_without_trailing_slash(scim, suffix):
    """/Users/{id}/ is the member, like /Users/{id}."""
    user = scim.post("/Users", SEED_BODY).json
    response = scim.get(f"/Users/{user['id']}{suffix}")
    assert response.status_int == 200
    assert response.json["id"] == user["id"]


def test_another_organisations_member_is_not_found(testapp, contoso, fabrikam):
    """Isolation holds through the whole stack: Fabrikam's token cannot see Contoso's member."""
    user = Scim(testapp, contoso.token).post("/Users", SEED_BODY).json
    assert_error(Scim(testapp, fabrikam.token).get(f"/Users/{user['id']}"), 404)
    assert Scim(testapp, fabrikam.token).find("userName", "Example Username").json["totalResults"] == 0


# -- content types ----------------------------------------------------------------------------------

@pytest.mark.parametrize("content_type", ["application/scim+json", "application/json",
                                          "application/scim+json; charset=utf-8", "application/json; charset=UTF-8"])
def test_request_bodies_are_accepted_as_scim_json_or_json(scim, content_type):
    """Entra sends either media type, with or without a charset (ENTRA.md §1)."""
    response = scim.post("/Users", SEED_BODY, content_type=content_type)
    assert response.status_int == 201, response.text
    assert response.headers["Content-Type"] == SCIM_JSON


def test_other_request_media_types_are_415(scim):
    """A body that says it is not JSON is refused with a SCIM error, in SCIM JSON."""
    assert_error(scim.post("/Users", b"userName=bjensen", content_type="application/x-www-form-urlencoded"), 415)


def test_unparsable_json_is_400_invalid_syntax(scim):
    assert_error(scim.post("/Users", b'{"userName": '), 400, "invalidSyntax")


@pytest.mark.parametrize("accept", [None, "application/scim+json", "application/json", "*/*", "text/html"])
@pytest.mark.parametrize("path, status", [("/Users", 200), (f"/Users/{NOBODY}", 404)])
def test_responses_are_scim_json_whatever_the_accept_header(testapp, contoso, accept, path, status):
    """Every body is application/scim+json; charset=utf-8 (ENTRA.md §1), success or error."""
    headers = {"Accept": accept} if accept else {}
    response = Scim(testapp, contoso.token).get(path, headers=headers)
    assert response.status_int == status
    assert response.headers["Content-Type"] == SCIM_JSON


def test_a_not_modified_answer_has_no_body_and_no_content_type(scim):
    """304, like 204, carries neither body nor Content-Type."""
    created = scim.post("/Users", SEED_BODY)
    response = scim.get(created.headers["Location"], headers={"If-None-Match": created.headers["ETag"]})
    assert response.status_int == 304
    assert response.body == b"" and "Content-Type" not in response.headers


# -- the request's transaction ---------------------------------------------------------------------

def test_a_patch_failing_in_its_second_operation_changes_nothing(app, scim, contoso):
    """ENTRA.md §9.2: all or nothing; the first operation's change is not in the database."""
    location = scim.post("/Users", SEED_BODY).headers["Location"]
    response = scim.patch(location, {"schemas": [PATCH_OP], "Operations": [
        {"op": "Replace", "path": "displayName", "value": "Changed"},
        {"op": "Replace", "path": "active", "value": "maybe"}]})
    assert_error(response, 400, "invalidValue")
    stored = stored_members(app, contoso.organisation.id)["Example Username"]
    assert stored.fields.display_name is None and stored.version == 1


def test_a_patch_failing_on_uniqueness_changes_nothing(app, scim, contoso):
    """ENTRA.md §9.7: a 409 on userName in a PATCH with other changes leaves the member as it was."""
    scim.post("/Users", {"userName": "bjensen"})
    location = scim.post("/Users", SEED_BODY).headers["Location"]
    response = scim.patch(location, {"Operations": [
        {"op": "Replace", "path": "displayName", "value": "Changed"},
        {"op": "Replace", "path": "userName", "value": "BJensen"}]})
    assert_error(response, 409, "uniqueness")
    stored = stored_members(app, contoso.organisation.id)["Example Username"]
    assert stored.fields.display_name is None and stored.version == 1


def test_the_longest_indexed_values_fit_the_index_and_one_more_character_is_a_400(app, scim, contoso):
    """userName and emails.value at their bound, in 4-byte characters, fit the unique and search indexes
    (PostgreSQL's B-tree entry limit); one character more is refused before it reaches the database."""
    longest = "\U0001F600" * MAX_INDEXED_LENGTH
    created = scim.post("/Users", {"userName": longest, "emails": [{"value": longest}], "active": True})
    assert created.status_int == 201 and created.json["userName"] == longest
    assert assert_scim_json(scim.find("userName", longest))["totalResults"] == 1
    assert_error(scim.post("/Users", {"userName": longest + "x", "active": True}), 400, "invalidValue")
    assert_error(scim.post("/Users", {"userName": "x", "emails": [{"value": longest + "x"}], "active": True}),
                 400, "invalidValue")


def test_a_conflicting_post_leaves_no_row(app, scim, contoso):
    """A 409 POST stores nothing: the organisation still has its admin and the first member only."""
    assert scim.post("/Users", {"userName": "bjensen"}).status_int == 201
    assert_error(scim.post("/Users", {"userName": "BJENSEN", "externalId": "other"}), 409, "uniqueness")
    assert sorted(stored_members(app, contoso.organisation.id)) == ["ada@contoso.example", "bjensen"]


@pytest.fixture
def caching_app(database_url, app):
    """The app with ``wiggledesk.token_cache_seconds = 10``: a token it accepted is trusted for 10 s."""
    wsgi_app = main({}, **{"wiggledesk.storage": "sqlalchemy", "sqlalchemy.url": database_url,
                           "wiggledesk.token_cache_seconds": "10"})
    yield wsgi_app
    wsgi_app.registry[CONTAINER_KEY].engine.dispose()


def test_a_refused_write_rolls_back_and_a_successful_one_commits(app, contoso):
    """With the token checked on every request (the default), a writing request stamps the token's last
    use inside its own transaction: a 404 aborts that write, a 201 commits it, as seen from a new
    transaction."""
    client = Scim(TestApp(app), contoso.token)
    assert stored_token(app, contoso.organisation.id).last_used is None
    assert_error(client.patch(f"/Users/{NOBODY}", {"Operations": [
        {"op": "replace", "path": "displayName", "value": "Nobody"}]}), 404)
    assert stored_token(app, contoso.organisation.id).last_used is None
    assert client.post("/Users", SEED_BODY).status_int == 201
    assert stored_token(app, contoso.organisation.id).last_used is not None


def test_a_read_stamps_the_tokens_last_use_in_a_transaction_of_its_own(app, contoso):
    """A GET only reads (on SQLite, beside any writer, without waiting): the token's use is recorded
    apart and committed at once, whatever the read answers."""
    client = Scim(TestApp(app), contoso.token)
    assert_error(client.get(f"/Users/{NOBODY}"), 404)
    assert stored_token(app, contoso.organisation.id).last_used is not None


def test_a_created_member_is_committed(app, scim, contoso):
    """A 201 is durable: the member is in the database for the next transaction."""
    scim.post("/Users", SEED_BODY)
    assert "Example Username" in stored_members(app, contoso.organisation.id)


# -- what is not offered, and paths that do not exist ------------------------------------------------

#: Every SCIM route below a Tenant URL and the methods it has (HEAD as GET): what a 405's Allow must list.
ROUTE_METHODS = {
    "/Users": "GET, HEAD, POST",
    f"/Users/{NOBODY}": "GET, HEAD, PUT, PATCH, DELETE",
    "/Users/.search": "POST",
    "/Groups": "GET, HEAD, POST",
    f"/Groups/{NOBODY}": "GET, HEAD, PUT, PATCH, DELETE",
    "/Groups/.search": "POST",
    "/ServiceProviderConfig": "GET, HEAD",
    "/ResourceTypes": "GET, HEAD",
    "/ResourceTypes/User": "GET, HEAD",
    "/Schemas": "GET, HEAD",
    f"/Schemas/{CORE_USER}": "GET, HEAD",
    "/.search": "POST",
}
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def send_any(scim, method: str, path: str):
    return scim.request(method, path, {} if method in ("POST", "PUT", "PATCH") else None)


def test_a_method_a_route_does_not_have_is_405_allowing_exactly_the_methods_it_answers(scim):
    """RFC 7231 §6.5.5: a method a route does not have (PUT /Users, GET /.search, a write to a discovery
    document) is 405 with a SCIM error body and Allow listing the route's methods; none of those is a 405.
    Every route, under both Tenant URL forms."""
    for path, allowed in ROUTE_METHODS.items():
        for method in METHODS:
            response = send_any(scim, method, path)
            if method in allowed.split(", "):
                assert response.status_int != 405, (method, path)
                continue
            assert response.status_int == 405, (method, path, response.text)
            assert response.headers["Allow"] == allowed, (method, path)
            if method != "HEAD":  # a HEAD answer has no body
                # /scim/v2/Users/.search is the /scim/v2/Users tree's /.search (routes.py), and named so.
                named = "/.search" if (scim.tree, path) == ("/scim/v2", "/Users/.search") else path
                assert assert_error(response, 405)["detail"] == (f"{method} is not allowed on {named}, which "
                                                                 f"allows {allowed}")


def test_a_405_answers_with_a_trailing_slash_too_and_only_after_the_token(scim, testapp):
    """/Users/ is /Users; without a token a wrong method is a 401 like everything under the SCIM root."""
    response = scim.request("PUT", "/Users/", {})
    assert_error(response, 405)
    assert response.headers["Allow"] == "GET, HEAD, POST"
    assert_error(Scim(testapp, None, scim.tree).request("PUT", "/Users", {}), 401)


@pytest.mark.parametrize("path", ["/Bulk", "/Me"])
def test_what_the_service_does_not_offer_is_501_whatever_the_method(scim, path):
    """RFC 7644 §3.12: /Bulk and /Me are not offered at all (as the ServiceProviderConfig says): 501, no Allow."""
    for method in METHODS:
        response = send_any(scim, method, path)
        assert response.status_int == 501, (method, path)
        assert "Allow" not in response.headers
        if method != "HEAD":
            assert_error(response, 501)



@pytest.mark.parametrize("path", ["/scim/v2", "/scim/v2/", "/scim/v2/Nothing", "/scim/v2/Users/Users/x/y",
                                  "/scim/v2/Groups", "/scim/v2/Bulk", "/scim/v2/%FF", f"/scim/v2/Users/{NOBODY}"])
def test_nothing_under_the_scim_root_answers_without_a_token(testapp, path):
    """ENTRA.md §2: authentication comes before routing, so no path or id is revealed to a stranger."""
    response = Scim(testapp, None).get(path)
    assert_error(response, 401)
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="WiggleDesk"'


@pytest.mark.parametrize(("header", "challenge"), [
    ("{token}", 'Bearer realm="WiggleDesk"'), ("Basic {token}", 'Bearer realm="WiggleDesk"'),
    ("Bearer {token} {token}", 'Bearer realm="WiggleDesk", error="invalid_token"')])
def test_an_authorization_header_not_of_the_form_bearer_token_says_how_it_must_read(testapp, contoso, header,
                                                                                    challenge):
    """ENTRA.md §2.1: a token pasted without "Bearer ", under another scheme or doubled is a 401 of its own,
    which never repeats what was sent."""
    response = testapp.get("/scim/v2/Users", headers={"Authorization": header.format(token=contoso.token)},
                           expect_errors=True)
    body = assert_error(response, 401)
    assert body["detail"] == MALFORMED_AUTHORIZATION
    assert response.headers["WWW-Authenticate"] == challenge
    assert contoso.token not in response.text


@pytest.mark.parametrize("path", ["/scim/v2", "/scim/v2/Nothing", "/scim/v2/Users/Users/x/y", "/scim/v2/%FF",
                                  "/scim/v2/Users/Users/.."])
def test_unknown_paths_under_the_scim_root_are_404_once_authenticated(testapp, contoso, path):
    assert_error(Scim(testapp, contoso.token).get(path), 404)


@pytest.mark.parametrize("path", ["/", "/favicon.ico", "/scim", "/scim/v1/Users"])
def test_paths_outside_the_scim_root_are_a_plain_scim_404(testapp, path):
    """Outside /scim/v2 there is nothing to protect: 404 with a SCIM body pointing at the service."""
    response = testapp.get(path, expect_errors=True)
    body = assert_error(response, 404)
    assert "http://localhost/scim/v2" in body["detail"]
    assert "WWW-Authenticate" not in response.headers


def test_a_query_that_is_not_utf8_is_no_server_error(scim):
    """Undecodable bytes in a filter are no 5xx: the filter just matches nothing."""
    response = scim.get("/Users?filter=userName+eq+%22%FF%FE%22")
    assert response.status_int == 200
    assert response.json["totalResults"] == 0


# -- the unexpected --------------------------------------------------------------------------------

def _explode(*args, **kwargs):
    raise RuntimeError("connection to db.internal:5432 failed for user wiggledesk")


def test_an_unexpected_error_is_a_bare_logged_500(scim, monkeypatch, caplog):
    """A bug answers RFC 7644's error body naming only the request id; the traceback goes to the log."""
    monkeypatch.setattr(MemberService, "rendition", _explode)
    response = scim.get(f"/Users/{NOBODY}", headers={"X-Request-Id": "entra-4711"})
    assert response.status_int == 500
    assert assert_scim_json(response) == {"schemas": [ERROR], "status": "500",
                                          "detail": "Internal server error (request id entra-4711)"}
    assert response.headers["X-Request-Id"] == "entra-4711"
    assert "db.internal" not in response.text and "Traceback" not in response.text
    (record,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "entra-4711" in record.getMessage()
    assert record.exc_info[0] is RuntimeError


def test_an_unexpected_error_after_a_write_aborts_the_transaction(app, scim, contoso, monkeypatch):
    """The member the service already flushed is not committed when the request then fails with a 500."""
    provision = MemberService.provision

    def provision_then_explode(self, *args, **kwargs):
        provision(self, *args, **kwargs)
        _explode()

    monkeypatch.setattr(MemberService, "provision", provision_then_explode)
    assert scim.post("/Users", SEED_BODY).status_int == 500
    assert "Example Username" not in stored_members(app, contoso.organisation.id)


def test_an_error_while_committing_is_a_bare_logged_500(app, testapp, contoso, caplog):
    """A COMMIT failing after the view answered 201 is no success: a bare 500, logged, and nothing stored."""
    path = add_commit_failure_route(app)
    response = testapp.post(path, json.dumps(SEED_BODY).encode(), expect_errors=True,
                            headers={"Authorization": f"Bearer {contoso.token}",
                                     "Content-Type": "application/scim+json"})
    assert response.status_int == 500
    request_id = response.headers["X-Request-Id"]
    assert assert_scim_json(response)["detail"] == f"Internal server error (request id {request_id})"
    assert any(request_id in r.getMessage() and r.exc_info for r in caplog.records)
    # The COMMIT failed (FailingVote's RuntimeError), after the view had answered 201.
    assert any(r.getMessage().startswith("Unexpected RuntimeError") for r in caplog.records)
    assert "Example Username" not in stored_members(app, contoso.organisation.id)


def test_a_body_over_the_bound_is_a_413_whatever_its_framing_and_stores_nothing(app, testapp, contoso):
    """Over MAX_BODY_BYTES: a 413 on the Content-Length, and for a body without one (chunked, which
    waitress hands over as a terminated input) once that many bytes were read."""
    body = json.dumps({**SEED_BODY, "displayName": "d" * MAX_BODY_BYTES}).encode()
    headers = {"Authorization": f"Bearer {contoso.token}", "Content-Type": "application/scim+json"}
    response = testapp.post("/scim/v2/Users", body, headers=headers, status=413)
    assert assert_scim_json(response)["detail"] == f"The request body ({len(body)} bytes) is larger than {MAX_BODY_BYTES} bytes"
    chunked = Request.blank("/scim/v2/Users", method="POST", body=body, headers=headers)
    del chunked.environ["CONTENT_LENGTH"]
    chunked.environ["wsgi.input_terminated"] = True
    refused = chunked.get_response(app)
    assert refused.status_int == 413
    assert refused.json["detail"] == f"The request body is larger than {MAX_BODY_BYTES} bytes"
    assert "Example Username" not in stored_members(app, contoso.organisation.id)


def test_every_response_forbids_caching_and_sniffing(testapp, contoso, monkeypatch):
    """Cache-Control: no-store and X-Content-Type-Options: nosniff on answers, refusals, a 304, a 404
    outside the SCIM tree and a 500 alike."""
    client = Scim(testapp, contoso.token)
    created = client.post("/Users", SEED_BODY)
    monkeypatch.setattr(MemberService, "query_renditions", _explode)
    responses = [created, client.get(f"/Users/{created.json['id']}"), client.get("/Users/nobody"),
                 Scim(testapp, None).get("/Users"), testapp.get("/nowhere", status=404),
                 client.get(f"/Users/{created.json['id']}", headers={"If-None-Match": created.headers["ETag"]}),
                 client.get("/ServiceProviderConfig"), client.get("/Users")]
    assert [r.status_int for r in responses] == [201, 200, 404, 401, 404, 304, 200, 500]
    for response in responses:
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_tokens_never_reach_the_logs(testapp, contoso, monkeypatch, caplog):
    """Neither a token nor its digest is logged, at any level, whatever happens to the request."""
    caplog.set_level(logging.DEBUG)
    wrong = "wdscim_" + "x" * 43
    client = Scim(testapp, contoso.token)
    client.post("/Users", SEED_BODY)
    client.get("/Users?filter=userName+eq+%22Example+Username%22")
    client.get("/Nothing")
    Scim(testapp, wrong).get("/Users")
    monkeypatch.setattr(MemberService, "query_renditions", _explode)
    assert client.get("/Users").status_int == 500
    logged = caplog.text + "".join(repr(r.args) for r in caplog.records)
    for secret in (contoso.token, wrong):
        assert secret not in logged
        assert hashlib.sha256(secret.encode()).hexdigest() not in logged


# -- request ids ----------------------------------------------------------------------------------

def test_a_plain_request_id_is_echoed(testapp):
    response = testapp.get("/", headers={"X-Request-Id": "b4b7c3b6-0c5e-4c2e-9a77-2c1d2f1e0a9b"},
                           expect_errors=True)
    assert response.headers["X-Request-Id"] == "b4b7c3b6-0c5e-4c2e-9a77-2c1d2f1e0a9b"


@pytest.mark.parametrize("incoming", ["", "x" * 200, "evil\tvalue", "<script>", "a b"])
def test_an_odd_request_id_is_replaced_by_a_fresh_one(testapp, incoming):
    response = testapp.get("/", headers={"X-Request-Id": incoming}, expect_errors=True)
    assert response.headers["X-Request-Id"] != incoming
    assert len(response.headers["X-Request-Id"]) == 36


def test_fresh_request_ids_differ_per_request_and_per_process(testapp):
    import os
    import re
    import subprocess
    import sys

    shape = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
    ids = [testapp.get("/", expect_errors=True).headers["X-Request-Id"] for _ in range(3)]
    assert all(shape.fullmatch(request_id) for request_id in ids)
    assert len(set(ids)) == 3
    # Another process (and a forked child) draws its own random part.
    script = ("import os; from wiggledesk_scim.entrypoints.pyramid_app import new_request_id as n; a = n()\n"
              "r, w = os.pipe()\n"
              "if os.fork() == 0: os.write(w, n().encode()); os._exit(0)\n"
              "os.wait(); print(a, os.read(r, 64).decode())")
    other, child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                                  check=True).stdout.split()
    prefixes = {request_id[:24] for request_id in (ids[0], other, child)}
    assert len(prefixes) == 3


# -- memory storage ---------------------------------------------------------------------------------

def test_memory_storage_serves_without_a_database():
    """``wiggledesk.storage = memory`` needs no database: onboard, create, match, delete."""
    app = main({}, **{"wiggledesk.storage": "memory"})
    contoso = in_transaction(app, lambda container, uow: container.onboard(uow, "Contoso", "ada@contoso.example"))
    client = Scim(TestApp(app), contoso.token, "/scim/v2/Users")
    created = client.post("/Users", SEED_BODY)
    assert created.status_int == 201
    assert client.find("externalId", SEED_BODY["externalId"]).json["totalResults"] == 1
    assert client.delete(created.headers["Location"]).status_int == 204
    assert client.find("externalId", SEED_BODY["externalId"]).json["totalResults"] == 0


def test_a_unit_of_work_that_fails_to_close_is_logged_and_the_answer_stands(monkeypatch, caplog):
    """Closing the request's unit of work comes after the answer: a failure there is a warning naming
    the request id, never a replaced response."""
    from wiggledesk_scim.entrypoints.wiring import InMemoryRequestUnitOfWork

    def close(self) -> None:
        raise ConnectionResetError("the pool is gone")

    app = main({}, **{"wiggledesk.storage": "memory"})
    contoso = in_transaction(app, lambda container, uow: container.onboard(uow, "Contoso", "ada@contoso.example"))
    monkeypatch.setattr(InMemoryRequestUnitOfWork, "close", close)
    client = Scim(TestApp(app), contoso.token, "/scim/v2")

    with caplog.at_level(logging.WARNING):
        created = client.post("/Users", SEED_BODY)
        found = client.find("externalId", SEED_BODY["externalId"])

    assert (created.status_int, found.json["totalResults"]) == (201, 1)
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert warnings == [f"Could not close the unit of work (ConnectionResetError) of request id "
                        f"{response.headers['X-Request-Id']}" for response in (created, found)]


#: Run in a fresh interpreter by the next test: memory storage serves a write, a read, a store that
#: cannot answer (503) and an unexpected error (500), then reports what it imported.
_MEMORY_ONLY_SCRIPT = """
import json, sys
from webtest import TestApp
from wiggledesk_scim.adapters.memory import InMemoryMemberRepository
from wiggledesk_scim.domain.errors import StoreUnavailable
from wiggledesk_scim.entrypoints.pyramid_app import CONTAINER_KEY, main

app = main({}, **{"wiggledesk.storage": "memory", "wiggledesk.access_log": "off"})
container = app.registry[CONTAINER_KEY]
token = container.onboard(container.storage.open(None), "Contoso", "ada@contoso.example").token
client = TestApp(app)
headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
statuses = [client.post("/scim/v2/Users", json.dumps({"userName": "bjensen@contoso.example"}),
                        headers=headers).status_int,
            client.get("/scim/v2/Users", headers=headers).status_int]
for error in (StoreUnavailable("down"), RuntimeError("a bug")):
    def search(self, organisation_id, query, error=error):
        raise error
    InMemoryMemberRepository.search = search
    statuses.append(client.get("/scim/v2/Users", headers=headers, expect_errors=True).status_int)
print(json.dumps({"statuses": statuses,
                  "loaded": sorted(name for name in sys.modules if name.split(".")[0] == "sqlalchemy")}))
"""


def test_memory_storage_never_loads_sqlalchemy():
    """An app on memory storage serves SCIM requests, its error answers included, without importing
    SQLAlchemy: the views ask the container's storage what an error means."""
    import subprocess
    import sys

    # Warnings are errors there too, but for the one pytest.ini lets through (WebOb's cgi import).
    run = subprocess.run([sys.executable, "-W", "error", "-W", "ignore:'cgi' is deprecated:DeprecationWarning",
                          "-c", _MEMORY_ONLY_SCRIPT], capture_output=True, text=True)

    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report == {"statuses": [201, 200, 503, 500], "loaded": []}


# -- settings ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("settings, words", [
    ({"wiggledesk.storage": "redis"}, "wiggledesk.storage = 'redis' is not a storage we have"),
    ({}, "sqlalchemy.url is not set"),
    ({"sqlalchemy.url": "env:WIGGLEDESK_TEST_UNSET_VARIABLE"}, "WIGGLEDESK_TEST_UNSET_VARIABLE, which is not set"),
    ({"sqlalchemy.url": "postgres at db.internal"}, "sqlalchemy.url is not a database URL"),
    ({"wiggledesk.storage": "memory", "wiggledesk.scim.max_results": "5000"}, "from 1 to 1000"),
    ({"wiggledesk.storage": "memory", "wiggledesk.scim.max_results": "lots"}, "must be a whole number"),
    ({"wiggledesk.storage": "memory", "wiggledesk.auto_migrate": "sometimes"}, "write wiggledesk.auto_migrate = true"),
    ({"wiggledesk.storage": "memory", "wiggledesk.token_cache_seconds": "-1"},
     "wiggledesk.token_cache_seconds = '-1' must be a whole number from 0 to 300"),
    ({"wiggledesk.storage": "memory", "wiggledesk.public_url": "scim.example"}, "wiggledesk.public_url"),
])
def test_bad_settings_stop_startup_with_a_message_naming_the_key(settings, words, monkeypatch):
    """``main()`` checks the ini once, and says what to write instead."""
    from wiggledesk_scim.entrypoints.wiring import SettingsError

    monkeypatch.delenv("WIGGLEDESK_TEST_UNSET_VARIABLE", raising=False)
    with pytest.raises(SettingsError, match=re.escape(words)):
        main({}, **settings)


def test_the_database_url_may_come_from_the_environment(sqlite_url, monkeypatch):
    """``sqlalchemy.url = env:NAME`` reads the URL from NAME, as production.ini does."""
    from wiggledesk_scim.entrypoints.wiring import AppSettings

    monkeypatch.setenv("WIGGLEDESK_TEST_DATABASE_URL", sqlite_url)
    settings = AppSettings.from_settings({"sqlalchemy.url": "env:WIGGLEDESK_TEST_DATABASE_URL",
                                          "sqlalchemy.pool_size": "3"})
    assert settings.database_url == sqlite_url
    assert settings.engine_settings == {"sqlalchemy.url": sqlite_url, "sqlalchemy.pool_size": "3",
                                        "sqlalchemy.hide_parameters": True}


def test_the_documentation_uri_of_the_service_provider_config_is_served(testapp, contoso):
    """ServiceProviderConfig's documentationUri answers with the setup help, naming this host's Tenant URL."""
    spc = testapp.get("/scim/v2/ServiceProviderConfig",
                      headers={"Authorization": f"Bearer {contoso.token}"}).json
    page = testapp.get(urlsplit(spc["documentationUri"]).path)
    assert page.content_type == "text/html"
    assert "http://localhost/scim/v2" in page.text
    assert "Provision Microsoft Entra ID Groups" in page.text


# -- searching and sorting (RFC 7644 §3.4.2.3, §3.4.3) ------------------------------------------------

@pytest.fixture
def crew(scim):
    """Three more members of Contoso, created in this order."""
    for user_name, family in (("bjensen", "Jensen"), ("ecarter", "Carter"), ("adavis", "Davis")):
        assert scim.post("/Users", {"userName": user_name, "name": {"familyName": family},
                                    "emails": [{"type": "work", "value": f"{user_name}@contoso.example"}]}
                         ).status_int == 201


@pytest.mark.parametrize("path", ["/Users/.search", "/.search"])
def test_post_search_answers_like_a_filtered_list(scim, crew, path):
    """POST .search takes the query in its body: filter, sort, paging and attribute lists (§3.4.3)."""
    response = scim.post(path, {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                                "filter": 'emails[value ew "@contoso.example"] and not (userName eq "adavis")',
                                "sortBy": "name.familyName", "sortOrder": "descending",
                                "startIndex": 1, "count": 2, "attributes": ["userName"]})
    assert response.status_int == 200
    body = assert_scim_json(response)
    assert body["totalResults"] == 3
    # Descending puts the admin, who has no family name, first (RFC 7644 §3.4.2.3).
    assert [r["userName"] for r in body["Resources"]] == ["ada@contoso.example", "bjensen"]
    assert set(body["Resources"][0]) == {"schemas", "id", "userName", "meta"}
    assert body["Resources"][0]["meta"]["location"].startswith(f"{HOST}{scim.tree}/Users/")


def test_get_sorts_by_any_single_valued_attribute(scim, crew):
    """sortBy/sortOrder on GET; members without the attribute come last when ascending (§3.4.2.3)."""
    names = lambda query: [r["userName"] for r in assert_scim_json(scim.get(f"/Users?{query}"))["Resources"]]
    assert names("sortBy=name.familyName") == ["ecarter", "adavis", "bjensen", "ada@contoso.example"]
    assert names("sortBy=userName&sortOrder=descending") == ["ecarter", "bjensen", "adavis", "ada@contoso.example"]
    assert names("sortBy=meta.created&count=2") == ["ada@contoso.example", "bjensen"]


@pytest.mark.parametrize("query, scim_type", [
    ("sortBy=emails.value", "invalidValue"),
    ("sortBy=userName&sortOrder=sideways", "invalidValue"),
    ("filter=name.familyName+co+", "invalidFilter"),
])
def test_a_bad_sort_or_filter_is_400(scim, crew, query, scim_type):
    """Sorting by a multi-valued attribute, an unknown sortOrder and a broken filter are refused."""
    assert_error(scim.get(f"/Users?{query}"), 400, scim_type)


def test_a_search_body_that_is_not_a_search_request_is_400(scim):
    """A .search body must be a SearchRequest object."""
    assert_error(scim.post("/Users/.search", [1, 2]), 400, "invalidSyntax")
    assert_error(scim.post("/Users/.search", {"count": "many"}), 400, "invalidValue")


# -- other identity providers --------------------------------------------------------------------------

OKTA_USER = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "userName": "isaac.brock@contoso.example",
    "name": {"givenName": "Isaac", "familyName": "Brock"},
    "emails": [{"primary": True, "value": "isaac.brock@contoso.example", "type": "work"}],
    "displayName": "Isaac Brock", "locale": "en-US", "externalId": "00ujl29u0le5T6Aj10h7",
    "groups": [], "password": "1mz050nq", "active": True,
}


def test_oktas_flow_of_lookups_posts_and_puts(scim):
    """Okta matches by userName with startIndex=1&count=100, creates, updates and deactivates with PUT."""
    lookup = '/Users?filter=userName%20eq%20%22isaac.brock%40contoso.example%22&startIndex=1&count=100'
    assert assert_scim_json(scim.get(lookup))["totalResults"] == 0
    created = scim.post("/Users", OKTA_USER)
    assert created.status_int == 201
    member = created.json
    assert "password" not in member and "groups" not in member
    found = assert_scim_json(scim.get(lookup))
    assert (found["totalResults"], found["Resources"][0]["id"]) == (1, member["id"])

    update = dict(member, name={"givenName": "Isaac", "familyName": "Brock-Smith"}, displayName="Isaac B-S")
    replaced = scim.put(f"/Users/{member['id']}", update)
    assert replaced.status_int == 200
    assert replaced.json["name"]["familyName"] == "Brock-Smith"
    assert replaced.headers["ETag"] == 'W/"2"'

    deactivated = scim.put(f"/Users/{member['id']}", dict(replaced.json, active=False))
    assert deactivated.json["active"] is False
    assert assert_scim_json(scim.get(lookup))["Resources"][0]["active"] is False
    reactivated = scim.patch(f"/Users/{member['id']}", {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "value": {"active": True}}]})
    assert reactivated.json["active"] is True
    assert reactivated.json["name"]["familyName"] == "Brock-Smith"


def test_a_put_echoing_the_whole_resource_changes_nothing(scim):
    """A PUT of exactly what GET returned (meta and id included) keeps the version."""
    member = scim.post("/Users", OKTA_USER).json
    echoed = scim.put(f"/Users/{member['id']}", member)
    assert echoed.status_int == 200
    assert echoed.headers["ETag"] == 'W/"1"'


def test_oneloginss_flow_with_the_enterprise_extension(scim):
    """OneLogin looks up by userName, creates with the enterprise extension, updates with PUT, deletes."""
    enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", enterprise],
            "userName": "mara.lind@contoso.example", "externalId": "48734412",
            "name": {"givenName": "Mara", "familyName": "Lind"},
            "emails": [{"value": "mara.lind@contoso.example", "type": "work", "primary": True}],
            "title": "Engineer", enterprise: {"department": "R&D", "employeeNumber": "1207"}}
    assert assert_scim_json(scim.find("userName", "mara.lind@contoso.example"))["totalResults"] == 0
    member = scim.post("/Users", body).json
    assert member[enterprise] == {"department": "R&D", "employeeNumber": "1207"}
    changed = scim.put(f"/Users/{member['id']}", dict(body, title="Lead Engineer",
                                                     **{enterprise: {"department": "Platform"}}))
    assert changed.json["title"] == "Lead Engineer"
    assert changed.json[enterprise] == {"department": "Platform"}
    assert scim.delete(f"/Users/{member['id']}").status_int == 204
    assert assert_scim_json(scim.find("userName", "mara.lind@contoso.example"))["totalResults"] == 0


def test_a_token_switched_off_elsewhere_is_refused_at_once_by_default_and_within_the_ttl_if_cached(
        app, caching_app, testapp, contoso):
    """The default app checks the token on every request, so a switch made elsewhere (here, another
    transaction) is felt by the very next request; an app configured with
    ``wiggledesk.token_cache_seconds = 10`` trusts a token it accepted for that long."""
    cached, checking = Scim(TestApp(caching_app), contoso.token), Scim(testapp, contoso.token)
    assert cached.get("/Users").status_int == checking.get("/Users").status_int == 200

    def switch_off(container, uow):
        with uow:
            uow.organisations.update(replace(contoso.organisation, api_access=False))
            uow.commit()
    in_transaction(app, switch_off)

    assert_error(checking.get("/Users"), 403)
    assert cached.get("/Users").status_int == 200
    assert caching_app.registry[CONTAINER_KEY].accepted_tokens.ttl.total_seconds() == 10
    assert app.registry[CONTAINER_KEY].accepted_tokens is None


def test_deprovisioning_the_tokens_own_admin_is_refused_at_once_despite_the_cache(testapp, contoso):
    """Entra deprovisions the admin whose token it uses: this process forgets the token, so the next
    request is refused (401) rather than served for the rest of the TTL."""
    scim = Scim(testapp, contoso.token)
    response = scim.patch(f"/Users/{contoso.admin.id}", {"Operations": [
        {"op": "replace", "path": "active", "value": False}]})
    assert response.status_int == 200
    assert_error(scim.get("/Users"), 401)
