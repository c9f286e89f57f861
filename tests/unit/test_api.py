"""The SCIM API's refusals, tenancy, PUT, paging, versions and discovery, driven without a web server.

Every refusal test also proves that nothing stored changed."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest

from tests.unit.scim_requests import BASE, BASE_USERS, ENTERPRISE, FULL_USER, SEED_USER, patch_body, scim_request
from wiggledesk_scim.domain import access
from wiggledesk_scim.domain.oauth import ClientService, TokenEndpoint
from wiggledesk_scim.domain.scim.api import LowerCaseHeaders, ScimRequest
from wiggledesk_scim.domain.scim.body import json_bytes
from wiggledesk_scim.domain.scim.errors import ScimError

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


@pytest.fixture
def adele(scim, token_a) -> dict:
    """Adele Vance, created in Contoso with Entra's full mapping."""
    return scim.create_user(scim_request(token_a, FULL_USER, method="POST")).body


@pytest.fixture
def unchanged(store, adele):
    """Asserts at the end of the test that no organisation or member changed since the test began."""
    before = (dict(store.organisations), dict(store.members))
    yield
    assert (dict(store.organisations), dict(store.members)) == before


def refused(call) -> ScimError:
    with pytest.raises(ScimError) as info:
        call()
    error = info.value
    body = error.body()
    assert body["schemas"] == [ERROR_SCHEMA]
    assert body["status"] == str(error.status)
    assert body["detail"]
    return error


# -- authentication (ENTRA.md §2) -------------------------------------------------------------

@pytest.mark.parametrize("authorization", [None, ""])
def test_a_request_without_a_bearer_token_is_401(scim, unchanged, authorization):
    """No Authorization header is a 401 that says to paste the token, with no ``error`` in the challenge."""
    headers = {} if authorization is None else {"Authorization": authorization}
    error = refused(lambda: scim.list_users(scim_request(None, headers=headers)))
    assert error.status == 401
    assert error.detail == access.NO_TOKEN
    assert error.headers["WWW-Authenticate"] == 'Bearer realm="WiggleDesk"'
    assert error.scim_type is None


@pytest.mark.parametrize("given", [{"If-Match": 'W/"3"', "AUTHORIZATION": "Bearer a"},
                                   LowerCaseHeaders({"if-match": 'W/"3"', "authorization": "Bearer a"})])
def test_a_request_header_is_found_by_its_name_in_any_case(given):
    """Headers as a client's dict gives them (any case) or as a server gathers them (``LowerCaseHeaders``,
    names in lower case already) answer the same to a name asked for in any case."""
    request = ScimRequest(base_url=BASE, headers=given)
    assert [request.header(name) for name in ("if-match", "IF-MATCH", "Authorization", "If-None-Match")] == [
        'W/"3"', 'W/"3"', "Bearer a", None]


@pytest.mark.parametrize(("authorization", "challenge"), [
    ("Bearer", 'Bearer realm="WiggleDesk", error="invalid_token"'),
    ("Bearer ", 'Bearer realm="WiggleDesk", error="invalid_token"'),
    ("Basic YWRhOnNlY3JldA==", 'Bearer realm="WiggleDesk"'),
    ("Token abc", 'Bearer realm="WiggleDesk"')])
def test_a_header_that_is_not_bearer_token_is_401_saying_how_it_must_read(scim, unchanged, authorization,
                                                                           challenge):
    """ENTRA.md §2.1: an Authorization header that is not ``Bearer <token>`` has its own detail; another
    scheme is no bearer token sent (RFC 6750 §3.1), a malformed Bearer one refused."""
    error = refused(lambda: scim.list_users(scim_request(None, headers={"Authorization": authorization})))
    assert (error.status, error.detail, error.scim_type) == (401, access.MALFORMED_AUTHORIZATION, None)
    assert error.headers["WWW-Authenticate"] == challenge


def test_the_bearer_scheme_is_matched_ignoring_case(scim, token_a):
    """RFC 7235 §2.1: "bearer" and "BEARER" are the same scheme."""
    response = scim.list_users(scim_request(None, headers={"Authorization": f"bEaReR {token_a}"}))
    assert response.status == 200


def test_an_unknown_token_is_401(scim, unchanged, token_a):
    """A token WiggleDesk never issued is refused with advice to create a new one."""
    error = refused(lambda: scim.list_users(scim_request(token_a + "x")))
    assert (error.status, error.detail) == (401, access.UNKNOWN_TOKEN)
    assert error.headers["WWW-Authenticate"] == 'Bearer realm="WiggleDesk", error="invalid_token"'


def test_an_expired_access_token_is_401_whose_challenge_says_it_expired(scim, uow, clock, ids, contoso):
    """ENTRA.md §2.2: an expired access token's 401 carries error_description="The access token expired", so
    that Entra fetches a new one; a valid one is accepted."""
    created = ClientService(uow, clock, ids).create_client(contoso.organisation.id, "Entra")
    endpoint = TokenEndpoint(uow, clock, ids, verifier=None)
    issued = endpoint.token({"grant_type": ["client_credentials"], "client_id": [created.client.id],
                             "client_secret": [created.secret.plaintext]})
    assert scim.list_users(scim_request(issued["access_token"])).status == 200
    clock.advance(issued["expires_in"])
    error = refused(lambda: scim.list_users(scim_request(issued["access_token"])))
    assert (error.status, error.detail) == (401, access.EXPIRED_ACCESS_TOKEN)
    assert error.headers["WWW-Authenticate"] == ('Bearer realm="WiggleDesk", error="invalid_token", '
                                                 'error_description="The access token expired"')


def test_a_revoked_token_is_401(scim, store, uow, token_a, clock):
    """A revoked token is refused with a 401 that says it was revoked."""
    with uow:
        token = uow.tokens.find_by_digest(access.digest(token_a))
        uow.tokens.add(replace(token, revoked=clock.now()))
        uow.commit()
    error = refused(lambda: scim.list_users(scim_request(token_a)))
    assert (error.status, error.detail) == (401, access.REVOKED.format(when="2026-11-23 09:14 UTC"))


def _change_admin(uow, contoso, **settings):
    with uow:
        admin = uow.members.get(contoso.organisation.id, contoso.admin.id)
        uow.members.update(admin.with_settings(**settings), expected_version=admin.version)
        uow.commit()


def test_a_token_of_an_admin_who_is_no_longer_admin_is_401(scim, uow, contoso, token_a):
    """Once its owner is no longer an admin, the token is refused with 401."""
    _change_admin(uow, contoso, is_admin=False)
    error = refused(lambda: scim.list_users(scim_request(token_a)))
    assert (error.status, error.detail) == (401, access.NOT_ADMIN)


def test_a_token_of_an_admin_with_api_access_off_is_403(scim, uow, contoso, token_a):
    """A genuine token whose owner's API access is off is 403, saying what to switch on."""
    _change_admin(uow, contoso, api_access=False)
    error = refused(lambda: scim.list_users(scim_request(token_a)))
    assert (error.status, error.detail) == (403, access.ADMIN_OFF)
    assert "WWW-Authenticate" not in error.headers


def test_a_token_of_an_organisation_with_api_access_off_is_403(scim, uow, contoso, token_a):
    """A genuine token of an organisation whose API access is off is 403."""
    with uow:
        uow.organisations.update(replace(contoso.organisation, api_access=False))
        uow.commit()
    error = refused(lambda: scim.list_users(scim_request(token_a)))
    assert (error.status, error.detail) == (403, access.ORGANISATION_OFF)


def test_an_admin_deprovisioned_by_entra_loses_their_token(scim, contoso, token_a, token_b):
    """When Entra deprovisions the admin who owns the token, the token stops working (§10)."""
    scim.patch_user(scim_request(token_a, patch_body({"op": "Replace", "path": "active", "value": "False"})),
                    contoso.admin.id)
    error = refused(lambda: scim.list_users(scim_request(token_a)))
    assert (error.status, error.detail) == (401, access.DEACTIVATED)
    assert scim.list_users(scim_request(token_b)).status == 200


@pytest.mark.parametrize("call", [
    lambda scim, req: scim.service_provider_config(req),
    lambda scim, req: scim.list_schemas(req),
    lambda scim, req: scim.list_resource_types(req),
    lambda scim, req: scim.list_groups(req),
    lambda scim, req: scim.get_group(req, "00000000-0000-4000-8000-000000000099"),
    lambda scim, req: scim.unsupported(req),
    lambda scim, req: scim.method_not_allowed(req, ("GET", "HEAD")),
    lambda scim, req: scim.unknown_endpoint(req),
    lambda scim, req: scim.get_user(req, "00000000-0000-4000-8000-000000000099"),
])
def test_every_endpoint_asks_for_the_token_first(scim, call):
    """Discovery, Groups, unknown paths and ids all answer 401 without a token: nothing is revealed (§2)."""
    error = refused(lambda: call(scim, scim_request(None)))
    assert error.status == 401


# -- isolation between organisations ------------------------------------------------------------

def test_another_organisations_member_is_invisible(scim, unchanged, adele, token_b):
    """Fabrikam's token gets 404 for Contoso's member on every verb, and empty filters (§2)."""
    for call in (lambda: scim.get_user(scim_request(token_b), adele["id"]),
                 lambda: scim.patch_user(scim_request(token_b, patch_body(
                     {"op": "replace", "path": "active", "value": False})), adele["id"]),
                 lambda: scim.replace_user(scim_request(token_b, FULL_USER), adele["id"]),
                 lambda: scim.delete_user(scim_request(token_b), adele["id"])):
        error = refused(call)
        assert error.status == 404
        assert error.detail == f"No member with id {adele['id']} in this organisation"
    for filter_text in ('userName eq "adele.vance@contoso.example"', 'externalId eq "adele.vance"',
                        f'id eq "{adele["id"]}"'):
        body = scim.list_users(scim_request(token_b, query={"filter": filter_text})).body
        assert body["totalResults"] == 0


def test_the_same_user_name_may_exist_in_two_organisations(scim, adele, token_b):
    """userName and externalId are unique per organisation, not across them."""
    other = scim.create_user(scim_request(token_b, FULL_USER)).body
    assert other["id"] != adele["id"]
    listed = scim.list_users(scim_request(token_b)).body
    assert [r["userName"] for r in listed["Resources"]] == ["grace@fabrikam.example", "adele.vance@contoso.example"]


def test_a_manager_from_another_organisation_is_refused_like_a_missing_one(scim, token_a, token_b, adele):
    """Naming another organisation's member as manager gives the same 400 as an id that never existed."""
    stranger = scim.create_user(scim_request(token_b, SEED_USER)).body["id"]
    details = []
    for manager in (stranger, "00000000-0000-4000-8000-000000000999"):
        error = refused(lambda: scim.patch_user(scim_request(token_a, patch_body(
            {"op": "Add", "path": f"{ENTERPRISE}:manager", "value": manager})), adele["id"]))
        assert (error.status, error.scim_type) == (400, "invalidValue")
        details.append(error.detail.replace(manager, "ID"))
    assert details[0] == details[1]


# -- bad input: a clear 4xx and nothing changed ----------------------------------------------------

@pytest.mark.parametrize("body, scim_type", [
    (b"{not json", "invalidSyntax"),
    (b"", "invalidSyntax"),
    (b"\xff\xfe{}", "invalidSyntax"),
    (b"[1, 2]", "invalidSyntax"),
    (b'{"userName": NaN}', "invalidSyntax"),
    (b"[" * 100000 + b"]" * 100000, "invalidSyntax"),
    (b'{"active": true}', "invalidValue"),
    (b'{"userName": ""}', "invalidValue"),
    (b'{"userName": "bj\\u0000ensen"}', "invalidValue"),
    (b'{"userName": "bj\\ud800ensen"}', "invalidValue"),
    (b'{"userName": "bjensen", "active": 3}', "invalidValue"),
    (b'{"userName": "bjensen", "emails": "x"}', "invalidValue"),
    (b'{"userName": "bjensen", "emails": [{"type": "work", "value": "a@b"}, {"type": "work", "value": "c@d"}]}',
     "invalidValue"),
])
def test_a_bad_create_is_400_and_stores_nothing(scim, unchanged, token_a, body, scim_type):
    """Unparsable JSON is invalidSyntax; a missing or mistyped attribute is invalidValue (§7c)."""
    error = refused(lambda: scim.create_user(scim_request(token_a, body)))
    assert (error.status, error.scim_type) == (400, scim_type)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_a_body_that_is_not_json_by_content_type_is_415(scim, unchanged, token_a, content_type):
    """Only application/scim+json and application/json are accepted as request bodies."""
    error = refused(lambda: scim.create_user(scim_request(token_a, SEED_USER,
                                                          headers={"Content-Type": content_type})))
    assert error.status == 415


@pytest.mark.parametrize("content_type", ["application/json", "application/scim+json; charset=utf-8",
                                          "Application/JSON; charset=UTF-8"])
def test_json_and_scim_json_are_both_accepted(scim, token_a, content_type):
    """Entra sends application/scim+json, sometimes application/json, with or without charset (§1)."""
    response = scim.create_user(scim_request(token_a, SEED_USER, headers={"Content-Type": content_type}))
    assert response.status == 201


@pytest.mark.parametrize("body, field", [
    ({"userName": "Adele.Vance@Contoso.Example"}, "userName"),
    ({"userName": "someone.else", "externalId": "adele.vance"}, "externalId"),
])
def test_a_duplicate_is_409_uniqueness(scim, unchanged, token_a, body, field):
    """userName is unique ignoring case and externalId exactly, per organisation (§8)."""
    error = refused(lambda: scim.create_user(scim_request(token_a, body)))
    assert (error.status, error.scim_type) == (409, "uniqueness")
    assert error.detail.startswith(f'{field} "')


def test_a_patch_into_a_taken_user_name_changes_nothing(scim, store, token_a, adele):
    """A PATCH whose userName is taken is 409, and its other operations are not applied either (§9.7)."""
    other = scim.create_user(scim_request(token_a, SEED_USER)).body
    before = dict(store.members)
    error = refused(lambda: scim.patch_user(scim_request(token_a, patch_body(
        {"op": "Replace", "path": "displayName", "value": "Someone"},
        {"op": "Replace", "path": "userName", "value": "ADELE.VANCE@contoso.example"})), other["id"]))
    assert (error.status, error.scim_type) == (409, "uniqueness")
    assert dict(store.members) == before


@pytest.mark.parametrize("operations, scim_type", [
    ([{"op": "remove"}], "noTarget"),
    ([{"op": "frobnicate", "path": "displayName", "value": "x"}], "invalidSyntax"),
    ([{"op": "replace", "path": "emails[type eq", "value": "x"}], "invalidPath"),
    ([{"op": "replace", "path": "favouriteColour", "value": "x"}], "invalidPath"),
    ([{"op": "replace", "path": "id", "value": "x"}], "mutability"),
    ([{"op": "replace", "path": "displayName", "value": "New"},
      {"op": "replace", "path": "active", "value": "maybe"}], "invalidValue"),
])
def test_a_bad_patch_is_400_and_changes_nothing(scim, unchanged, token_a, adele, operations, scim_type):
    """A bad PATCH is refused as a whole with the scimType of its fault (§4, §9.2)."""
    error = refused(lambda: scim.patch_user(scim_request(token_a, patch_body(*operations)), adele["id"]))
    assert (error.status, error.scim_type) == (400, scim_type)


def test_a_patch_error_names_the_failing_operation(scim, token_a, adele):
    """All or nothing, and the detail says which operation failed (§9.2)."""
    error = refused(lambda: scim.patch_user(scim_request(token_a, patch_body(
        {"op": "replace", "path": "displayName", "value": "New"},
        {"op": "Replace", "path": "active", "value": "maybe"})), adele["id"]))
    assert error.detail.startswith("Operation 2")
    assert '"maybe"' in error.detail


@pytest.mark.parametrize("body", [b'{"Operations": []}', b'{"schemas": ["x"], "Operations": [{"op": "add"}]}',
                                  b"[]"])
def test_a_malformed_patch_op_is_invalid_syntax(scim, unchanged, token_a, adele, body):
    """A body that is not a PatchOp is 400 invalidSyntax."""
    error = refused(lambda: scim.patch_user(scim_request(token_a, body), adele["id"]))
    assert (error.status, error.scim_type) == (400, "invalidSyntax")


@pytest.mark.parametrize("filter_text, named", [
    ('favouriteColour eq "teal"', "favouriteColour"),
    ("active gt true", "gt"),
    ('userName zz "adele"', "zz"),
    ('userName eq "unterminated', "position"),
])
def test_a_bad_filter_is_400_invalid_filter(scim, unchanged, token_a, filter_text, named):
    """An unknown attribute or operator, or broken syntax, is invalidFilter naming the culprit (§6)."""
    error = refused(lambda: scim.list_users(scim_request(token_a, query={"filter": filter_text})))
    assert (error.status, error.scim_type) == (400, "invalidFilter")
    assert named in error.detail


@pytest.mark.parametrize("member_id", ["00000000-0000-4000-8000-000000000999", "not-a-uuid", "Users", "' OR 1=1"])
def test_an_unknown_or_malformed_id_is_404(scim, unchanged, token_a, member_id):
    """GET of an id that does not exist in this organisation is a 404 without scimType (§9.1)."""
    error = refused(lambda: scim.get_user(scim_request(token_a), member_id))
    assert (error.status, error.scim_type) == (404, None)


# -- PUT (ENTRA.md §11) ----------------------------------------------------------------------------

def test_put_replaces_everything_and_keeps_active_when_absent(scim, token_a, adele):
    """Attributes missing from a PUT become unassigned; a missing active keeps its value; id and meta are ignored."""
    scim.patch_user(scim_request(token_a, patch_body({"op": "replace", "path": "active", "value": False})),
                    adele["id"])
    body = {"userName": "adele.vance@contoso.example", "displayName": "Adele", "id": "ignored",
            "meta": {"version": 'W/"77"'}}
    replaced = scim.replace_user(scim_request(token_a, body), adele["id"])
    assert replaced.status == 200
    assert replaced.body["id"] == adele["id"]
    assert replaced.body["active"] is False
    assert replaced.body["displayName"] == "Adele"
    assert "emails" not in replaced.body and "externalId" not in replaced.body and ENTERPRISE not in replaced.body
    assert replaced.body["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:User"]
    assert replaced.headers["ETag"] == 'W/"3"'


def test_put_with_active_sets_it(scim, token_a, adele):
    """A PUT that says active false deprovisions."""
    body = dict(FULL_USER, active=False)
    assert scim.replace_user(scim_request(token_a, body), adele["id"]).body["active"] is False


@pytest.mark.parametrize("body, status, scim_type", [
    ({"displayName": "No userName"}, 400, "invalidValue"),
    ({"userName": "Example Username"}, 409, "uniqueness"),
])
def test_a_bad_put_is_refused_and_changes_nothing(scim, store, token_a, adele, body, status, scim_type):
    """PUT without userName is 400; into a taken userName is 409; nothing changes."""
    scim.create_user(scim_request(token_a, SEED_USER))
    before = dict(store.members)
    error = refused(lambda: scim.replace_user(scim_request(token_a, body), adele["id"]))
    assert (error.status, error.scim_type) == (status, scim_type)
    assert dict(store.members) == before


# -- versions (RFC 7644 §3.14) -----------------------------------------------------------------------

def test_a_stale_if_match_is_412_and_a_current_one_succeeds(scim, unchanged, token_a, adele):
    """If-Match with an old version is refused with 412; the current version is accepted."""
    stale = {"If-Match": 'W/"0"'}
    for call in (lambda: scim.patch_user(scim_request(token_a, patch_body(
                     {"op": "replace", "path": "displayName", "value": "x"}), headers=stale), adele["id"]),
                 lambda: scim.replace_user(scim_request(token_a, FULL_USER, headers=stale), adele["id"]),
                 lambda: scim.delete_user(scim_request(token_a, headers=stale), adele["id"])):
        assert refused(call).status == 412


def test_a_current_if_match_is_accepted(scim, token_a, adele):
    """If-Match with the member's ETag lets the change through."""
    response = scim.patch_user(scim_request(token_a, patch_body(
        {"op": "replace", "path": "displayName", "value": "x"}), headers={"If-Match": 'W/"1"'}), adele["id"])
    assert response.headers["ETag"] == 'W/"2"'


def test_if_none_match_with_the_current_etag_is_304(scim, token_a, adele):
    """A GET whose If-None-Match is the current ETag answers 304 without a body."""
    response = scim.get_user(scim_request(token_a, headers={"If-None-Match": 'W/"1"'}), adele["id"])
    assert (response.status, response.body, response.headers["ETag"]) == (304, None, 'W/"1"')


def test_a_no_op_patch_keeps_the_version(scim, token_a, adele):
    """Sending what is already there changes nothing, so the version stays (Entra re-sends every cycle)."""
    response = scim.patch_user(scim_request(token_a, patch_body(
        {"op": "Replace", "path": "displayName", "value": "Adele Vance"})), adele["id"])
    assert response.headers["ETag"] == 'W/"1"'


# -- listing and paging (ENTRA.md §6) ---------------------------------------------------------------

@pytest.fixture
def six_members(scim, token_a, clock):
    """Contoso's admin plus five members created a second apart: bjensen1 … bjensen5."""
    for n in range(1, 6):
        clock.advance()
        scim.create_user(scim_request(token_a, {"userName": f"bjensen{n}"}))


def _page(scim, token, **query):
    body = scim.list_users(scim_request(token, query={k: str(v) for k, v in query.items()})).body
    return body["totalResults"], body["startIndex"], body["itemsPerPage"], [r["userName"] for r in body["Resources"]]


@pytest.mark.parametrize("query, expected", [
    ({}, (6, 1, 6, ["ada@contoso.example", "bjensen1", "bjensen2", "bjensen3", "bjensen4", "bjensen5"])),
    ({"startIndex": 2, "count": 2}, (6, 2, 2, ["bjensen1", "bjensen2"])),
    ({"startIndex": 0, "count": 1}, (6, 1, 1, ["ada@contoso.example"])),
    ({"startIndex": -5, "count": 1}, (6, 1, 1, ["ada@contoso.example"])),
    ({"count": 0}, (6, 1, 0, [])),
    ({"count": -3}, (6, 1, 0, [])),
    ({"startIndex": 6, "count": 10}, (6, 6, 1, ["bjensen5"])),
    ({"startIndex": 7}, (6, 7, 0, [])),
    ({"StartIndex": 3, "COUNT": 1}, (6, 3, 1, ["bjensen2"])),
])
def test_paging_follows_rfc_7644(scim, token_a, six_members, query, expected):
    """startIndex is 1-based (below 1 means 1), count=0 gives only the total, order is by creation."""
    assert _page(scim, token_a, **query) == expected


def test_count_is_capped_at_max_results(members, authority, onboarded, token_a, six_members):
    """count above filter.maxResults is cut to it."""
    from wiggledesk_scim.domain.scim.api import ScimApi
    small = ScimApi(members, authority, max_results=2)
    assert _page(small, token_a, count=100)[2] == 2


@pytest.mark.parametrize("query", [{"startIndex": "one"}, {"count": "1.5"}, {"count": "\u00b2"}, {"count": "\u0663"},
                                   {"startIndex": "9" * 101}])
def test_a_non_integer_page_parameter_is_400(scim, token_a, query):
    """startIndex and count must be integers."""
    error = refused(lambda: scim.list_users(scim_request(token_a, query=query)))
    assert (error.status, error.scim_type) == (400, "invalidValue")


# -- discovery and what is not offered (ENTRA.md §3) ----------------------------------------------------

@pytest.mark.parametrize("base", [BASE, BASE_USERS])
def test_discovery_documents_name_the_base_used(scim, token_a, base):
    """ServiceProviderConfig, ResourceTypes and Schemas answer with locations on the base used."""
    spc = scim.service_provider_config(scim_request(token_a, base=base)).body
    assert spc["meta"]["location"] == f"{base}/ServiceProviderConfig"
    assert spc["filter"] == {"supported": True, "maxResults": 200}
    types = scim.list_resource_types(scim_request(token_a, base=base)).body
    assert types["totalResults"] == 2
    assert [(t["id"], t["endpoint"], t["schema"]) for t in types["Resources"]] == [
        ("User", "/Users", "urn:ietf:params:scim:schemas:core:2.0:User"),
        ("Group", "/Groups", "urn:ietf:params:scim:schemas:core:2.0:Group")]
    assert "schemaExtensions" not in types["Resources"][1]
    assert scim.get_resource_type(scim_request(token_a, base=base), "User").body["id"] == "User"
    assert scim.get_resource_type(scim_request(token_a, base=base), "Group").body["endpoint"] == "/Groups"
    schemas = scim.list_schemas(scim_request(token_a, base=base)).body
    assert [s["id"] for s in schemas["Resources"]] == [
        "urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE, "urn:ietf:params:scim:schemas:core:2.0:Group"]
    one = scim.get_schema(scim_request(token_a, base=base), ENTERPRISE).body
    assert one["meta"]["location"] == f"{base}/Schemas/{ENTERPRISE}"


def test_unknown_resource_types_and_schemas_are_404(scim, token_a):
    """A resource type we do not serve, and unknown schema URNs, are not found."""
    error = refused(lambda: scim.get_resource_type(scim_request(token_a), "Widget"))
    assert (error.status, error.detail) == (404, 'No resource type "Widget"; WiggleDesk serves User and Group')
    assert refused(lambda: scim.get_schema(scim_request(token_a), "urn:x")).status == 404


def test_bulk_is_501(scim, token_a):
    """What the ServiceProviderConfig does not announce is refused with 501 (§3)."""
    error = refused(lambda: scim.unsupported(scim_request(token_a, method="POST", path="/Bulk")))
    assert error.status == 501
    assert "POST /Bulk" in error.detail


def test_an_unknown_endpoint_is_404_once_authenticated(scim, token_a):
    """Paths we do not serve are 404, but only for a caller with a valid token."""
    error = refused(lambda: scim.unknown_endpoint(scim_request(token_a, path="/Widgets")))
    assert error.status == 404


def test_a_strong_if_match_is_read_like_a_weak_one(scim, token_a, adele):
    """If-Match "1" names the same version as W/"1"."""
    response = scim.patch_user(scim_request(token_a, patch_body(
        {"op": "replace", "path": "displayName", "value": "x"}), headers={"If-Match": '"1"'}), adele["id"])
    assert response.headers["ETag"] == 'W/"2"'


def test_a_body_without_content_type_is_read_as_json(scim, token_a):
    """A client that omits Content-Type still gets its JSON read."""
    request = scim_request(token_a, SEED_USER)
    request = type(request)(base_url=request.base_url, query={}, body=request.body,
                            headers={"Authorization": f"Bearer {token_a}"})
    assert scim.create_user(request).status == 201


def test_a_response_serialises_to_compact_utf8_json(scim, token_a):
    """Bodies are UTF-8 JSON without ASCII escapes; a response without a body has no bytes."""
    body = dict(SEED_USER, displayName="Zoë")
    response = scim.create_user(scim_request(token_a, body))
    assert '"displayName":"Zoë"'.encode() in response.body_bytes()
    deleted = scim.delete_user(scim_request(token_a), response.body["id"])
    assert deleted.body_bytes() == b""
    assert "Content-Type" not in deleted.headers


@pytest.mark.parametrize("body", [
    {"displayName": "Zoë 東京 🎉", "title": None, "active": True, "count": 3, "list": [1, "a", False]},
    {"detail": 'quote " backslash \\ slash / tab \t newline \n bell \x07 del \x7f nbsp \xa0'},
    {"emails": [], "meta": {}},
], ids=["non-ASCII and scalars", "escapes", "empty containers"])
def test_bodies_serialise_as_the_standard_library_would(body):
    """json_bytes (orjson) writes the same bytes as the standard library's compact, non-ASCII form."""
    assert json_bytes(body) == json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def test_a_string_utf8_cannot_carry_is_escaped_rather_than_refused():
    """A lone surrogate (JSON's \\ud800 decodes to one) cannot be UTF-8: it goes out escaped, not as a 500."""
    body = {"displayName": "half \ud800 pair"}
    written = json_bytes(body)
    assert written == b'{"displayName":"half \\ud800 pair"}'
    assert json.loads(written) == body


def test_a_scim_error_describes_itself():
    """The repr of a SCIM error carries its status, scimType and detail, for logs and test output."""
    assert repr(ScimError(409, "taken", "uniqueness")) == "ScimError(409, 'uniqueness', 'taken')"


# -- sorting and POST .search (RFC 7644 §3.4.2.3, §3.4.3) ---------------------------------------------

SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


@pytest.fixture
def named_crew(scim, token_a, clock):
    """Three members with family names, created a second apart, and Contoso's admin without one."""
    for user_name, family in (("bjensen", "Jensen"), ("ecarter", "carter"), ("adavis", "Davis")):
        clock.advance()
        scim.create_user(scim_request(token_a, {"userName": user_name, "name": {"familyName": family}}))


def _names(response) -> list[str]:
    return [r["userName"] for r in response.body["Resources"]]


@pytest.mark.parametrize("query, expected", [
    ({"sortBy": "name.familyName"}, ["ecarter", "adavis", "bjensen", "ada@contoso.example"]),
    ({"sortBy": "name.familyName", "sortOrder": "Descending"}, ["ada@contoso.example", "bjensen", "adavis", "ecarter"]),
    ({"sortBy": "userName", "startIndex": "2", "count": "2"}, ["adavis", "bjensen"]),
    ({"SORTBY": "meta.created", "sortorder": "descending", "count": "1"}, ["adavis"]),
    ({"sortOrder": "descending"}, ["ada@contoso.example", "bjensen", "ecarter", "adavis"]),
])
def test_lists_sort_case_insensitively_with_unassigned_last(scim, token_a, named_crew, query, expected):
    """sortBy compares as filters do (ignoring case); unassigned last ascending, first descending; ties by creation."""
    assert _names(scim.list_users(scim_request(token_a, query=query))) == expected


@pytest.mark.parametrize("query", [{"sortBy": "emails.value"}, {"sortBy": "favouriteColour"},
                                   {"sortBy": "userName", "sortOrder": "upwards"}])
def test_an_unsupported_sort_is_400_invalid_value(scim, token_a, query):
    """Sorting needs a single-valued attribute and ascending or descending."""
    error = refused(lambda: scim.list_users(scim_request(token_a, query=query)))
    assert (error.status, error.scim_type) == (400, "invalidValue")


def test_search_takes_the_query_in_its_body(scim, token_a, named_crew):
    """POST .search answers like GET with the same parameters, attribute lists included."""
    response = scim.search_users(scim_request(token_a, {
        "schemas": [SEARCH], "filter": 'name.familyName pr and not (userName sw "e")',
        "sortBy": "userName", "startIndex": 1, "count": 5, "attributes": ["userName", "name.familyName"],
        "excludedAttributes": "meta"}, method="POST", path="/Users/.search"))
    assert response.status == 200
    assert response.body["totalResults"] == 2
    assert response.body["Resources"][0] == {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                             "id": response.body["Resources"][0]["id"], "userName": "adavis",
                                             "name": {"familyName": "Davis"},
                                             "meta": response.body["Resources"][0]["meta"]}


@pytest.mark.parametrize("body, scim_type", [
    ([1], "invalidSyntax"),
    ({"schemas": ["urn:wrong"]}, "invalidSyntax"),
    ({"filter": 3}, "invalidValue"),
    ({"attributes": [1]}, "invalidValue"),
    ({"count": "lots"}, "invalidValue"),
    ({"count": True}, "invalidValue"),
    ({"filter": 'userName eq "a" and'}, "invalidFilter"),
])
def test_a_bad_search_request_is_400(scim, token_a, body, scim_type):
    """A body that is not a well-typed SearchRequest is refused with the scimType of its fault."""
    error = refused(lambda: scim.search_users(scim_request(token_a, body, method="POST")))
    assert (error.status, error.scim_type) == (400, scim_type)


def test_search_counts_accept_integers_and_numeric_strings(scim, token_a, named_crew):
    """count and startIndex may be JSON integers or numeric strings ("+2" included); empty means default."""
    body = {"schemas": [SEARCH], "startIndex": "+2", "count": 1, "filter": "", "sortBy": " "}
    assert scim.search_users(scim_request(token_a, body)).body["startIndex"] == 2
    assert scim.list_users(scim_request(token_a, query={"count": " "})).body["itemsPerPage"] == 4


@pytest.mark.parametrize("method, path, allowed", [
    ("PUT", "/Users", ("GET", "HEAD", "POST")),
    ("POST", "/Schemas", ("GET", "HEAD")),
])
def test_a_method_the_endpoint_does_not_have_is_405_allowing_the_ones_it_has(scim, token_a, method, path,
                                                                             allowed):
    """RFC 7231 §6.5.5: 405 with Allow listing the endpoint's methods as given, a SCIM error body whose
    detail names them, after authentication; not 501, which is for what the service does not offer."""
    error = refused(lambda: scim.method_not_allowed(scim_request(token_a, method=method, path=path), allowed))

    assert (error.status, error.scim_type, error.headers) == (405, None, {"Allow": ", ".join(allowed)})
    assert error.body() == {"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": "405",
                            "detail": f"{method} is not allowed on {path}, which allows {', '.join(allowed)}"}
    assert refused(lambda: scim.method_not_allowed(scim_request(None), allowed)).status == 401


def test_a_405_is_recorded_in_the_trail_of_the_tokens_organisation(scim, token_a, uow, contoso):
    """A refused method is a refused request like any other: in the trail, with its status."""
    refused(lambda: scim.method_not_allowed(scim_request(token_a, method="DELETE", path="/Users"), ("GET",)))

    with uow:
        (record,) = uow.activity.list(contoso.organisation.id)
    assert (record.event, record.status, record.scim_type) == ("refused", 405, None)


@pytest.mark.parametrize("operation", [{"op": "remove", "path": "active"},
                                       {"op": "replace", "path": "active", "value": None},
                                       {"op": "replace", "value": {"active": ""}}])
def test_active_cannot_be_removed_only_set(scim, unchanged, token_a, adele, operation):
    """A member is active or not: removing active is refused rather than silently ignored."""
    error = refused(lambda: scim.patch_user(scim_request(token_a, patch_body(operation)), adele["id"]))
    assert (error.status, error.scim_type) == (400, "invalidValue")


def test_a_manager_with_its_ref_and_an_extension_object_carrying_schemas_are_accepted(scim, token_a, adele):
    """$ref is writable (RFC 7643 §8.7.2) but the id decides; a schemas key inside the extension is ignored."""
    boss = scim.create_user(scim_request(token_a, SEED_USER)).body
    body = scim.patch_user(scim_request(token_a, patch_body({"op": "add", "path": ENTERPRISE, "value": {
        "schemas": [ENTERPRISE], "employeeNumber": "000999",
        "manager": {"value": boss["id"], "$ref": "https://elsewhere.example/Users/x"}}})), adele["id"]).body
    assert body[ENTERPRISE]["employeeNumber"] == "000999"
    assert body[ENTERPRISE]["manager"] == {"value": boss["id"], "$ref": f"{BASE}/Users/{boss['id']}"}
