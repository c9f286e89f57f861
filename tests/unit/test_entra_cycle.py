"""Every request form of ENTRA.md, replayed against the SCIM API over in-memory storage, in the order
of a provisioning cycle: Test Connection, matching, create, update, deprovision, restore, hard delete."""
from __future__ import annotations

import json

import pytest

from tests.unit.scim_requests import (BASE, BASE_USERS, ENTERPRISE, FULL_USER, SEED_USER, patch_body,
                                      scim_request)
from wiggledesk_scim.domain.scim.errors import ScimError

EMPTY_LIST = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
              "totalResults": 0, "Resources": [], "startIndex": 1, "itemsPerPage": 0}
GUID = "41d1c5e2-5f7a-4d8e-9b0c-3a6f2e1d7c44"
SCIM_JSON = "application/scim+json; charset=utf-8"


def create(scim, token, body, base=BASE):
    return scim.create_user(scim_request(token, body, base=base, method="POST"))


def find(scim, token, filter_text, base=BASE, **query):
    return scim.list_users(scim_request(token, base=base, query={"filter": filter_text, **query}))


def patch(scim, token, member_id, *operations, base=BASE):
    return scim.patch_user(scim_request(token, patch_body(*operations), base=base, method="PATCH"), member_id)


@pytest.mark.parametrize("filter_text", [
    f'userName eq "{GUID}"',
    f'externalId eq "{GUID}"',
])
@pytest.mark.parametrize("base", [BASE, BASE_USERS])
def test_test_connection_gets_exactly_the_empty_list_response(scim, token_a, filter_text, base):
    """Test Connection's lookup of a random GUID answers 200 with exactly the empty ListResponse (§5)."""
    response = find(scim, token_a, filter_text, base=base)
    assert response.status == 200
    assert response.body == EMPTY_LIST
    assert list(response.body) == list(EMPTY_LIST)
    assert response.headers["Content-Type"] == SCIM_JSON


@pytest.mark.parametrize("query", [
    {"attributes": "userName"},
    {"excludedAttributes": "members"},
    {"aadOptscim062020": ""},
    {"excludedAttributes": "members,displayName", "aadOptscim062020": "1"},
])
def test_test_connection_tolerates_projections_and_unknown_parameters(scim, token_a, query):
    """attributes, excludedAttributes with names a User lacks, and unknown flags never cause an error (§1, §5)."""
    response = find(scim, token_a, f'userName eq "{GUID}"', **query)
    assert response.body == EMPTY_LIST


def test_seed_mapping_create_answers_201_with_the_member(scim, token_a):
    """The announcement's body, without schemas and with a space in userName, is created as is (§7a)."""
    response = create(scim, token_a, SEED_USER)
    assert response.status == 201
    member_id = response.body["id"]
    assert response.body == {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": member_id,
        "externalId": "d8ffd6a9-cede-41a4-815e-a52a53180333",
        "userName": "Example Username",
        "active": True,
        "emails": [{"type": "work", "value": "example@example.info"}],
        "meta": {"resourceType": "User", "created": "2026-11-23T09:14:07Z",
                 "lastModified": "2026-11-23T09:14:07Z",
                 "location": f"{BASE}/Users/{member_id}", "version": 'W/"1"'},
    }
    assert response.headers["Location"] == response.body["meta"]["location"]
    assert response.headers["ETag"] == 'W/"1"'
    assert response.headers["Content-Type"] == SCIM_JSON


def test_full_default_mapping_is_echoed_without_nulls(scim, token_a):
    """Entra's default mapping (§7b): every non-null value echoed; nulls, roles and meta dropped."""
    body = create(scim, token_a, FULL_USER).body
    assert body["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE]
    assert body["externalId"] == "adele.vance"
    assert body["displayName"] == "Adele Vance"
    assert body["title"] == "Retail Manager"
    assert body["preferredLanguage"] == "en-GB"
    assert body["name"] == {"formatted": "Adele Vance", "givenName": "Adele", "familyName": "Vance"}
    assert body["emails"] == [{"primary": True, "type": "work", "value": "adele.vance@contoso.example"}]
    assert body["addresses"] == [{"type": "work", "formatted": "Building 4, Floor 2",
                                  "streetAddress": "18 Harbour Road", "locality": "Leeds",
                                  "postalCode": "LS1 4AB", "country": "GB", "primary": False}]
    assert body["phoneNumbers"] == FULL_USER["phoneNumbers"]
    assert body[ENTERPRISE] == {"employeeNumber": "000417", "department": "Retail", "costCenter": "CC-210",
                                "organization": "Contoso", "division": "North"}
    assert "nickName" not in body and "roles" not in body
    assert body["meta"]["resourceType"] == "User" and "created" in body["meta"]


@pytest.mark.parametrize("base", [BASE, BASE_USERS])
def test_a_whole_cycle_under_either_tenant_url(scim, token_a, clock, base):
    """Match, create, change mail, deprovision, restore and hard delete, with the locations of the base used."""
    assert find(scim, token_a, 'externalId eq "d8ffd6a9-cede-41a4-815e-a52a53180333"', base=base).body == EMPTY_LIST
    created = create(scim, token_a, SEED_USER, base=base)
    member_id = created.body["id"]
    assert created.headers["Location"] == f"{base}/Users/{member_id}"

    hit = find(scim, token_a, 'externalId eq "d8ffd6a9-cede-41a4-815e-a52a53180333"', base=base).body
    assert (hit["totalResults"], hit["itemsPerPage"], hit["startIndex"]) == (1, 1, 1)
    assert hit["Resources"] == [created.body]

    clock.advance(60)
    changed = patch(scim, token_a, member_id,
                    {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "ex@fabrikam.example"},
                    base=base)
    assert changed.status == 200
    assert changed.body["emails"] == [{"type": "work", "value": "ex@fabrikam.example"}]
    assert changed.headers["ETag"] == changed.body["meta"]["version"] == 'W/"2"'
    assert changed.body["meta"]["lastModified"] == "2026-11-23T09:15:07Z"
    assert changed.body["meta"]["created"] == "2026-11-23T09:14:07Z"

    gone = patch(scim, token_a, member_id, {"op": "Replace", "path": "active", "value": "False"}, base=base)
    assert gone.body["active"] is False
    assert {k: v for k, v in gone.body.items() if k not in ("active", "meta")} == \
        {k: v for k, v in changed.body.items() if k not in ("active", "meta")}
    still_found = find(scim, token_a, 'userName eq "example username"', base=base).body
    assert still_found["Resources"][0]["active"] is False

    back = patch(scim, token_a, member_id, {"op": "replace", "value": {"active": True}}, base=base)
    assert back.body["active"] is True
    assert {k: v for k, v in back.body.items() if k != "meta"} == \
        {k: v for k, v in changed.body.items() if k != "meta"}

    deleted = scim.delete_user(scim_request(token_a, base=base, method="DELETE"), member_id)
    assert (deleted.status, deleted.body) == (204, None)
    with pytest.raises(ScimError) as missing:
        scim.get_user(scim_request(token_a, base=base), member_id)
    assert missing.value.status == 404
    assert find(scim, token_a, 'externalId eq "d8ffd6a9-cede-41a4-815e-a52a53180333"', base=base).body == EMPTY_LIST


def test_get_on_meta_location_returns_the_member(scim, token_a):
    """meta.location under the /Users tenant URL is .../Users/Users/{id}, and GET there returns the member (§1)."""
    created = create(scim, token_a, SEED_USER, base=BASE_USERS).body
    assert created["meta"]["location"] == f"{BASE_USERS}/Users/{created['id']}"
    fetched = scim.get_user(scim_request(token_a, base=BASE_USERS), created["id"])
    assert fetched.body == created
    assert fetched.headers["ETag"] == 'W/"1"'


@pytest.mark.parametrize("filter_text", [
    'userName eq "adele.vance@contoso.example"',
    'USERNAME EQ "Adele.Vance@Contoso.Example"',
    'externalId eq "adele.vance"',
    'emails[type eq "work"].value eq "adele.vance@contoso.example"',
    'emails[type eq "work" and value eq "adele.vance@contoso.example"]',
    'emails.value eq "ADELE.VANCE@contoso.example"',
    'userName eq "adele.vance@contoso.example" and externalId eq "adele.vance"',
])
def test_matching_queries_find_the_member(scim, token_a, filter_text):
    """Each matching form of §6 finds the member: userName ignoring case, mail in three spellings."""
    created = create(scim, token_a, FULL_USER).body
    body = find(scim, token_a, filter_text).body
    assert body["totalResults"] == 1
    assert body["Resources"][0]["id"] == created["id"]


def test_external_id_compares_exactly(scim, token_a):
    """externalId is case-exact (RFC 7643 §3.1): a different case is a miss."""
    create(scim, token_a, FULL_USER)
    assert find(scim, token_a, 'externalId eq "ADELE.VANCE"').body == EMPTY_LIST


@pytest.mark.parametrize("operations", [
    [{"op": "Replace", "path": "active", "value": "False"}],
    [{"op": "replace", "value": {"active": False}}],
    [{"op": "replace", "path": "active", "value": False}],
])
def test_both_deprovision_forms_keep_the_member_and_mark_it_inactive(scim, token_a, operations):
    """Both soft-delete bodies of §10 answer 200 with active false, and every other attribute stays."""
    created = create(scim, token_a, FULL_USER).body
    response = patch(scim, token_a, created["id"], *operations)
    assert response.status == 200
    assert response.body["active"] is False
    fetched = scim.get_user(scim_request(token_a), created["id"]).body
    assert {k: v for k, v in fetched.items() if k not in ("active", "meta")} == \
        {k: v for k, v in created.items() if k not in ("active", "meta")}


@pytest.mark.parametrize("value", ["True", "true", True])
def test_restore_brings_the_member_back_unchanged(scim, token_a, value):
    """Restore (§10) is the same request with True: the member returns with everything they had."""
    created = create(scim, token_a, FULL_USER).body
    patch(scim, token_a, created["id"], {"op": "Replace", "path": "active", "value": "False"})
    restored = patch(scim, token_a, created["id"], {"op": "Replace", "path": "active", "value": value}).body
    assert {k: v for k, v in restored.items() if k != "meta"} == {k: v for k, v in created.items() if k != "meta"}
    assert restored["meta"]["version"] == 'W/"3"'


def test_entra_updates_many_attributes_in_one_patch(scim, token_a):
    """Several operations in one PATCH (§9.7) all apply: userName, mail, familyName, department, active."""
    created = create(scim, token_a, FULL_USER).body
    body = patch(
        scim, token_a, created["id"],
        {"op": "Replace", "path": "userName", "value": "adele.price@contoso.example"},
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "adele.price@contoso.example"},
        {"op": "Replace", "path": "name.familyName", "value": "Price"},
        {"op": "Replace", "path": f"{ENTERPRISE}:department", "value": "Marketing"},
        {"op": "Replace", "path": "active", "value": "False"},
    ).body
    assert body["userName"] == "adele.price@contoso.example"
    assert body["emails"][0]["value"] == "adele.price@contoso.example"
    assert body["name"]["familyName"] == "Price"
    assert body[ENTERPRISE]["department"] == "Marketing"
    assert body["active"] is False
    assert body["meta"]["version"] == 'W/"2"'


def test_path_less_value_object_with_dotted_and_urn_keys(scim, token_a):
    """A path-less replace applies plain, dotted and URN-qualified keys; other name parts stay (§9.5)."""
    created = create(scim, token_a, FULL_USER).body
    body = patch(scim, token_a, created["id"], {"op": "replace", "value": {
        "displayName": "Adele Vance", "name.givenName": "Adele", "name.familyName": "Vance-Price",
        f"{ENTERPRISE}:employeeNumber": "000418", f"{ENTERPRISE}:department": "Marketing",
        "active": False}}).body
    assert body["name"] == {"formatted": "Adele Vance", "givenName": "Adele", "familyName": "Vance-Price"}
    assert body[ENTERPRISE]["employeeNumber"] == "000418"
    assert body[ENTERPRISE]["department"] == "Marketing"
    assert body[ENTERPRISE]["costCenter"] == "CC-210"
    assert body["active"] is False


def test_value_paths_update_or_create_typed_entries(scim, token_a):
    """§9.4: an existing typed entry is updated, a missing one is created by Add and by Replace."""
    created = create(scim, token_a, SEED_USER).body
    body = patch(
        scim, token_a, created["id"],
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "adele@fabrikam.example"},
        {"op": "Add", "path": 'phoneNumbers[type eq "mobile"].value', "value": "+44 7700 900456"},
        {"op": "Replace", "path": 'addresses[type eq "work"].locality', "value": "York"},
    ).body
    assert body["emails"] == [{"type": "work", "value": "adele@fabrikam.example"}]
    assert body["phoneNumbers"] == [{"type": "mobile", "value": "+44 7700 900456"}]
    assert body["addresses"] == [{"type": "work", "locality": "York"}]
    removed = patch(scim, token_a, created["id"], {"op": "Remove", "path": 'emails[type eq "work"]'}).body
    assert "emails" not in removed


def test_manager_set_as_a_plain_id_is_returned_as_a_reference(scim, token_a):
    """Entra sets the manager as a plain id (§9.6); it comes back as {"value", "$ref"} and clears with Remove."""
    boss = create(scim, token_a, SEED_USER).body
    adele = create(scim, token_a, FULL_USER).body
    body = patch(scim, token_a, adele["id"],
                 {"op": "Add", "path": f"{ENTERPRISE}:manager", "value": boss["id"]}).body
    assert body[ENTERPRISE]["manager"] == {"value": boss["id"], "$ref": f"{BASE}/Users/{boss['id']}"}
    again = patch(scim, token_a, adele["id"],
                  {"op": "Replace", "path": f"{ENTERPRISE}:manager", "value": {"value": boss["id"]}})
    assert again.body["meta"]["version"] == body["meta"]["version"], "re-sending the same manager is no change"
    cleared = patch(scim, token_a, adele["id"],
                    {"op": "Remove", "path": f"{ENTERPRISE}:manager", "value": boss["id"]}).body
    assert "manager" not in cleared[ENTERPRISE]


def test_hard_delete_frees_user_name_and_external_id(scim, token_a):
    """After DELETE (§12) every verb on the id is 404 and the userName and externalId can be used again."""
    member_id = create(scim, token_a, SEED_USER).body["id"]
    scim.delete_user(scim_request(token_a, method="DELETE"), member_id)
    for call in (lambda: scim.get_user(scim_request(token_a), member_id),
                 lambda: patch(scim, token_a, member_id, {"op": "replace", "path": "active", "value": True}),
                 lambda: scim.replace_user(scim_request(token_a, SEED_USER, method="PUT"), member_id),
                 lambda: scim.delete_user(scim_request(token_a, method="DELETE"), member_id)):
        with pytest.raises(ScimError) as refused:
            call()
        assert refused.value.status == 404
    assert create(scim, token_a, SEED_USER).status == 201


def test_a_retried_create_is_a_conflict_the_matching_query_resolves(scim, token_a):
    """A POST retried after a timeout gets 409 uniqueness, and the matching query finds the member (§8)."""
    first = create(scim, token_a, SEED_USER).body
    with pytest.raises(ScimError) as conflict:
        create(scim, token_a, SEED_USER)
    assert (conflict.value.status, conflict.value.scim_type) == (409, "uniqueness")
    assert find(scim, token_a, 'userName eq "Example Username"').body["Resources"] == [first]


# -- the group leg (ENTRA.md §14) ---------------------------------------------------------------------

def group_patch(scim, token, group_id, *operations, base=BASE):
    return scim.patch_group(scim_request(token, patch_body(*operations), base=base, method="PATCH"), group_id)


def team_members(scim, token, group_id, base=BASE) -> list[str]:
    body = json.loads(scim.get_group(scim_request(token, base=base), group_id).body_bytes())
    return [member["value"] for member in body.get("members", [])]


@pytest.mark.parametrize("base", [BASE, BASE_USERS])
def test_a_whole_group_cycle_under_either_tenant_url(scim, token_a, base):
    """Entra's group leg: match (miss), create, add members, rename, remove one with each removal shape,
    deactivate a member (membership kept), hard-delete a member (membership gone), delete the group."""
    users = [create(scim, token_a, {**SEED_USER, "userName": f"u{i}@contoso.example", "externalId": f"x{i}"},
                    base=base).body["id"] for i in range(4)]
    matching = {"excludedAttributes": "members", "filter": 'displayName eq "Leeds office"'}
    assert scim.list_groups(scim_request(token_a, base=base, query=matching)).body == EMPTY_LIST

    created = scim.create_group(scim_request(token_a, {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group",
                    "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/Group"],
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159", "displayName": "Leeds office", "members": [],
        "meta": {"resourceType": "Group"}}, base=base, method="POST"))
    group_id = json.loads(created.body_bytes())["id"]
    assert (created.status, created.headers["Location"]) == (201, f"{base}/Groups/{group_id}")
    found = scim.list_groups(scim_request(token_a, base=base, query=matching)).body
    assert [g["id"] for g in found["Resources"]] == [group_id] and "members" not in found["Resources"][0]

    added = group_patch(scim, token_a, group_id, {"op": "Add", "path": "members",
                                                   "value": [{"$ref": None, "value": u} for u in users]}, base=base)
    assert (added.status, added.headers["ETag"]) == (204, 'W/"2"')
    renamed = group_patch(scim, token_a, group_id, {"op": "Replace", "path": "displayName", "value": "Leeds & York"},
                          base=base)
    assert renamed.status == 204
    read = scim.get_group(scim_request(token_a, base=base, query={"excludedAttributes": "members"}), group_id).body
    assert read["displayName"] == "Leeds & York" and "members" not in read

    group_patch(scim, token_a, group_id, {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": users[0]}]},
                base=base)
    group_patch(scim, token_a, group_id, {"op": "remove", "path": f'members[value eq "{users[1]}"]'}, base=base)
    assert team_members(scim, token_a, group_id, base) == users[2:]

    patch(scim, token_a, users[2], {"op": "Replace", "path": "active", "value": "False"}, base=base)
    assert team_members(scim, token_a, group_id, base) == users[2:]
    scim.delete_user(scim_request(token_a, base=base, method="DELETE"), users[3])
    assert team_members(scim, token_a, group_id, base) == [users[2]]

    deleted = scim.delete_group(scim_request(token_a, base=base, method="DELETE"), group_id)
    assert (deleted.status, deleted.body) == (204, None)
    with pytest.raises(ScimError) as missing:
        scim.get_group(scim_request(token_a, base=base), group_id)
    assert missing.value.status == 404
    assert scim.get_user(scim_request(token_a, base=base), users[2]).body["active"] is False
