"""SCIM Groups as WiggleDesk teams (ENTRA.md §14), driven through ``ScimApi`` on the in-memory store: every
request form Entra and Okta send, the answers §14 names, and what a refusal leaves (nothing changed)."""
from __future__ import annotations

import json

import pytest

from tests.unit.scim_requests import BASE, BASE_USERS, SEED_USER, patch_body, scim_request
from wiggledesk_scim.domain.activity import REFUSED, TEAM_CREATE, TEAM_DELETE, TEAM_RENAME, TEAM_REPLACE, TEAM_UPDATE
from wiggledesk_scim.domain.registry.group import MAX_MEMBERS_PER_REQUEST
from wiggledesk_scim.domain.scim.errors import ScimError

CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
MICROSOFT_GROUP = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/Group"
LEEDS_ID = "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159"


def body(response) -> dict:
    """A response's body as the client reads it (members are serialised ahead, as bytes)."""
    return json.loads(response.body_bytes())


def refused(call) -> ScimError:
    with pytest.raises(ScimError) as info:
        call()
    return info.value


def entra_group(name: str = "Leeds office", external_id: str = LEEDS_ID, members=()) -> dict:
    """ENTRA.md §14's create body."""
    return {"schemas": [CORE_GROUP, MICROSOFT_GROUP], "externalId": external_id, "displayName": name,
            "members": [{"value": m} for m in members], "meta": {"resourceType": "Group"}}


class Scim:
    """Short calls on one organisation's token."""

    def __init__(self, api, token: str, base: str = BASE):
        self.api, self.token, self.base = api, token, base

    def request(self, payload=None, **kwargs):
        return scim_request(self.token, payload, base=self.base, **kwargs)

    def create_user(self, user_name: str, **extra) -> str:
        return self.api.create_user(self.request({**SEED_USER, "userName": user_name, "externalId": user_name,
                                                  **extra}, method="POST")).body["id"]

    def create(self, payload=None, **kwargs):
        return self.api.create_group(self.request(payload or entra_group(), method="POST", **kwargs))

    def get(self, group_id: str, **query):
        return self.api.get_group(self.request(query=query), group_id)

    def list(self, **query):
        return self.api.list_groups(self.request(query=query))

    def patch(self, group_id: str, *operations, query=None, headers=None):
        return self.api.patch_group(self.request(patch_body(*operations), method="PATCH", query=query,
                                                 headers=headers), group_id)

    def put(self, group_id: str, payload, headers=None):
        return self.api.replace_group(self.request(payload, method="PUT", headers=headers), group_id)

    def delete(self, group_id: str, headers=None):
        return self.api.delete_group(self.request(method="DELETE", headers=headers), group_id)

    def member_ids(self, group_id: str) -> list[str]:
        return [m["value"] for m in body(self.get(group_id)).get("members", [])]


@pytest.fixture
def a(scim, token_a) -> Scim:
    return Scim(scim, token_a)


@pytest.fixture
def b(scim, token_b) -> Scim:
    return Scim(scim, token_b)


@pytest.fixture
def people(a) -> list[str]:
    """Four members of Contoso: ids of alan, bea, cy, dee."""
    return [a.create_user(f"{name}@contoso.example", displayName=name.title() if name != "dee" else None)
            for name in ("alan", "bea", "cy", "dee")]


@pytest.fixture
def leeds(a) -> dict:
    return body(a.create())


@pytest.fixture
def unchanged(store):
    """Asserts at the end of the test that no team, membership or member changed since it began."""
    before = (dict(store.teams), dict(store.memberships), dict(store.members))
    yield
    assert (dict(store.teams), dict(store.memberships), dict(store.members)) == before


# -- create ---------------------------------------------------------------------------------------

def test_entras_create_is_201_with_location_etag_and_no_members(a, store):
    """§14: Entra's body with its extra Microsoft schema URN and an empty members list."""
    response = a.create()
    created = body(response)
    assert response.status == 201
    assert created == {"schemas": [CORE_GROUP], "id": created["id"], "externalId": LEEDS_ID,
                       "displayName": "Leeds office",
                       "meta": {"resourceType": "Group", "created": "2026-11-23T09:14:07Z",
                                "lastModified": "2026-11-23T09:14:07Z",
                                "location": f"{BASE}/Groups/{created['id']}", "version": 'W/"1"'}}
    assert response.headers["Location"] == f"{BASE}/Groups/{created['id']}"
    assert response.headers["ETag"] == 'W/"1"'
    assert list(store.teams) == [created["id"]]


def test_a_create_with_members_makes_them_the_first_members(a, people):
    """Okta sends the initial membership in the POST; the answer lists it, ordered by id, with display."""
    response = a.create(entra_group(members=[people[1], people[0], people[3]]))
    assert body(response)["members"] == [
        {"value": people[0], "$ref": f"{BASE}/Users/{people[0]}", "type": "User", "display": "Alan"},
        {"value": people[1], "$ref": f"{BASE}/Users/{people[1]}", "type": "User", "display": "Bea"},
        {"value": people[3], "$ref": f"{BASE}/Users/{people[3]}", "type": "User", "display": "dee@contoso.example"},
    ]


def test_locations_follow_the_tenant_url_form(scim, token_a):
    """Under the /scim/v2/Users Tenant URL, a group lives at .../Users/Groups/{id} (ENTRA.md §1)."""
    created = body(Scim(scim, token_a, BASE_USERS).create())
    assert created["meta"]["location"] == f"{BASE_USERS}/Groups/{created['id']}"


@pytest.mark.parametrize("name", ["Leeds office", "LEEDS OFFICE", "leeds office"])
def test_the_same_display_name_in_any_case_is_409(a, leeds, name, unchanged):
    error = refused(lambda: a.create(entra_group(name=name, external_id="another")))
    assert (error.status, error.scim_type) == (409, "uniqueness")
    assert error.detail == f'displayName "{name}" is already used by another team'


def test_the_same_external_id_is_409(a, leeds, unchanged):
    error = refused(lambda: a.create(entra_group(name="York office")))
    assert (error.status, error.scim_type) == (409, "uniqueness")
    assert "externalId" in error.detail


def test_the_same_team_name_may_exist_in_two_organisations(a, b, leeds):
    assert b.create().status == 201


@pytest.mark.parametrize("payload, detail", [
    ({"schemas": [CORE_GROUP]}, "displayName is required"),
    ({"schemas": [CORE_GROUP], "displayName": "   "}, "displayName is required"),
    ({"schemas": [CORE_GROUP], "displayName": 7}, "displayName must be a string"),
    ({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "displayName": "x"},
     f"schemas must include {CORE_GROUP}"),
    ({"displayName": "x", "members": [{"display": "Alan"}]}, "every entry of members needs a value"),
    ({"displayName": "x", "members": "alan"}, "members must be a list"),
])
def test_an_invalid_group_is_400_and_nothing_is_created(a, store, payload, detail):
    error = refused(lambda: a.create(payload))
    assert (error.status, error.scim_type) == (400, "invalidValue")
    assert detail in error.detail
    assert store.teams == {}


def test_a_member_that_is_not_a_user_of_the_organisation_is_400_naming_it(a, b, people, leeds, store):
    """Unknown ids, another organisation's member, a group's id: 400 invalidValue, nothing created."""
    theirs = b.create_user("zed@fabrikam.example")
    error = refused(lambda: a.create(entra_group(name="York", external_id="y", members=[
        people[0], "nobody", theirs, leeds["id"]])))
    assert (error.status, error.scim_type) == (400, "invalidValue")
    assert error.detail == (f'members: "nobody", "{theirs}", "{leeds["id"]}" are not Users of this organisation')
    assert len(store.teams) == 1


# -- read and list ----------------------------------------------------------------------------------

def test_get_by_id_and_entras_read_without_members(a, people, leeds):
    a.patch(leeds["id"], {"op": "Add", "path": "members", "value": [{"value": people[0]}]})
    full = body(a.get(leeds["id"]))
    assert [m["value"] for m in full["members"]] == [people[0]]
    narrowed = body(a.get(leeds["id"], excludedAttributes="members"))
    assert "members" not in narrowed and narrowed["displayName"] == "Leeds office"
    assert list(body(a.get(leeds["id"], attributes="displayName"))) == ["schemas", "id", "displayName", "meta"]
    assert body(a.get(leeds["id"], attributes="members.value"))["members"] == [{"value": people[0]}]
    assert body(a.get(leeds["id"], excludedAttributes="members.$ref,members.type"))["members"] == [
        {"value": people[0], "display": "Alan"}]


def test_an_unknown_or_another_organisations_group_is_404(a, b, leeds):
    assert refused(lambda: b.get(leeds["id"])).status == 404
    assert refused(lambda: a.get("00000000-0000-4000-8000-000000000099")).status == 404
    assert refused(lambda: b.patch(leeds["id"], {"op": "replace", "path": "displayName", "value": "x"})).status == 404
    assert refused(lambda: b.delete(leeds["id"])).status == 404
    assert body(a.get(leeds["id"]))["displayName"] == "Leeds office"


def test_if_none_match_with_the_current_etag_is_304(a, leeds):
    response = a.api.get_group(a.request(headers={"If-None-Match": 'W/"1"'}), leeds["id"])
    assert (response.status, response.body, response.headers["ETag"]) == (304, None, 'W/"1"')


@pytest.mark.parametrize("text", ['displayName eq "Leeds office"', 'displayName eq "LEEDS OFFICE"',
                                  f'externalId eq "{LEEDS_ID}"', 'displayName sw "leeds"'])
def test_entras_matching_query_finds_the_group(a, leeds, text):
    listed = body(a.list(filter=text, excludedAttributes="members"))
    assert listed["totalResults"] == 1
    assert listed["Resources"][0]["id"] == leeds["id"] and "members" not in listed["Resources"][0]


def test_a_miss_is_an_empty_list_and_other_organisations_are_invisible(a, b, leeds):
    assert body(b.list(filter='displayName eq "Leeds office"')) == {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": 0, "Resources": [],
        "startIndex": 1, "itemsPerPage": 0}
    assert body(b.list(filter=f'id eq "{leeds["id"]}"'))["totalResults"] == 0


def test_filters_on_members_find_a_members_teams(a, people):
    york = body(a.create(entra_group("York", "y", [people[0], people[1]])))
    hull = body(a.create(entra_group("Hull", "h", [people[1]])))
    for text in (f'members.value eq "{people[1]}"', f'members[value eq "{people[1]}"]'):
        assert [g["id"] for g in body(a.list(filter=text, sortBy="displayName"))["Resources"]] == [
            hull["id"], york["id"]]
    assert [g["id"] for g in body(a.list(filter=f'members.value eq "{people[0]}"'))["Resources"]] == [york["id"]]
    assert body(a.list(filter=f'members.value eq "{people[2]}"'))["totalResults"] == 0


def test_paging_and_sorting_as_for_users(a):
    for name in ("Cardiff", "Aberdeen", "Bath"):
        a.create(entra_group(name, name))
    page = body(a.list(sortBy="displayName", sortOrder="descending", startIndex="2", count="1"))
    assert (page["totalResults"], page["startIndex"], page["itemsPerPage"]) == (3, 2, 1)
    assert page["Resources"][0]["displayName"] == "Bath"
    assert refused(lambda: a.list(filter='members.display eq "x"')).scim_type == "invalidFilter"


def test_searching_by_post(a, leeds):
    response = a.api.search_groups(a.request({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                                              "filter": 'displayName eq "leeds office"',
                                              "excludedAttributes": ["members"]}, method="POST"))
    assert [g["id"] for g in body(response)["Resources"]] == [leeds["id"]]


def test_a_list_with_members_lists_each_groups_own(a, people):
    a.create(entra_group("York", "y", [people[0]]))
    a.create(entra_group("Hull", "h", [people[1], people[2]]))
    listed = body(a.list(sortBy="displayName"))["Resources"]
    assert [[m["value"] for m in g.get("members", [])] for g in listed] == [[people[1], people[2]], [people[0]]]


# -- membership changes ------------------------------------------------------------------------------

def test_entras_default_add_and_remove_shapes(a, people, leeds, store):
    """§14: Add/Remove with a value array (Entra sends "$ref": null beside each value); 204 with the ETag."""
    added = a.patch(leeds["id"], {"op": "Add", "path": "members", "value": [
        {"$ref": None, "value": people[0]}, {"$ref": None, "value": people[1]}]})
    assert (added.status, added.body, added.headers["ETag"]) == (204, None, 'W/"2"')
    assert a.member_ids(leeds["id"]) == people[:2]
    removed = a.patch(leeds["id"], {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": people[1]}]})
    assert (removed.status, removed.headers["ETag"]) == (204, 'W/"3"')
    assert a.member_ids(leeds["id"]) == people[:1]


def test_the_aadoptscim062020_removal_shape(a, people, leeds):
    a.patch(leeds["id"], {"op": "add", "path": "members", "value": [{"value": p} for p in people]})
    a.patch(leeds["id"], {"op": "remove", "path": f'members[value eq "{people[2]}"]'},
            {"op": "remove", "path": f'members[value eq "{people[0]}" or value eq "{people[3]}"]'})
    assert a.member_ids(leeds["id"]) == [people[1]]


def test_adding_a_member_twice_or_removing_a_non_member_is_no_error_and_no_new_version(a, people, leeds, store):
    """Entra retries: the same delta again changes nothing, so the version stays."""
    a.patch(leeds["id"], {"op": "Add", "path": "members", "value": [{"value": people[0]}]})
    again = a.patch(leeds["id"], {"op": "Add", "path": "members", "value": [{"value": people[0]}]},
                    {"op": "Remove", "path": "members", "value": [{"value": people[1]}]},
                    {"op": "remove", "path": 'members[value eq "not-anybody"]'})
    assert (again.status, again.headers["ETag"]) == (204, 'W/"2"')
    assert a.member_ids(leeds["id"]) == [people[0]]


def test_remove_without_a_value_empties_the_group_and_replace_sets_it_exactly(a, people, leeds):
    a.patch(leeds["id"], {"op": "add", "path": "members", "value": [{"value": p} for p in people[:3]]})
    a.patch(leeds["id"], {"op": "Replace", "path": "members", "value": [{"value": people[2]}, {"value": people[3]}]})
    assert a.member_ids(leeds["id"]) == people[2:]
    a.patch(leeds["id"], {"op": "Remove", "path": "members"})
    assert a.member_ids(leeds["id"]) == []


def test_operations_apply_in_order(a, people, leeds):
    """Several operations per request, in any mix: the last word on a member wins."""
    a.patch(leeds["id"], {"op": "add", "path": "members", "value": [{"value": people[0]}, {"value": people[1]}]},
            {"op": "remove", "path": f'members[value eq "{people[0]}"]'},
            {"op": "remove", "path": "members"},
            {"op": "add", "path": "members", "value": {"value": people[2]}},
            {"op": "add", "value": {"members": [{"value": people[3]}]}},
            {"op": "remove", "path": "members", "value": [{"value": people[2]}]})
    assert a.member_ids(leeds["id"]) == [people[3]]


def test_an_unknown_member_in_a_patch_is_400_and_the_whole_patch_changes_nothing(a, b, people, leeds, store):
    theirs = b.create_user("zed@fabrikam.example")
    before = (dict(store.teams), dict(store.memberships))
    error = refused(lambda: a.patch(leeds["id"], {"op": "replace", "path": "displayName", "value": "Leeds & York"},
                                    {"op": "Add", "path": "members", "value": [{"value": people[0]},
                                                                               {"value": theirs}]}))
    assert (error.status, error.scim_type) == (400, "invalidValue")
    assert error.detail == f'members: "{theirs}" is not a User of this organisation'
    assert (dict(store.teams), dict(store.memberships)) == before


@pytest.mark.parametrize("operation, detail", [
    ({"op": "add", "path": "members", "value": [{"display": "Alan"}]}, "every entry of members needs a value"),
    ({"op": "add", "path": "members", "value": ["alan"]}, "every entry of members needs a value"),
    ({"op": "add", "path": "members"}, "add needs a value"),
    ({"op": "replace", "path": 'members[value eq "x"]', "value": {"value": "y"}}, "can only remove them"),
    ({"op": "remove", "path": 'members[display eq "Alan"]'}, 'members can be picked by value eq'),
    ({"op": "remove", "path": "members.value"}, "members are added and removed whole"),
    ({"op": "replace", "path": "id", "value": "x"}, "id is read-only"),
    ({"op": "replace", "path": "displayName", "value": ""}, "displayName is required"),
    ({"op": "remove", "path": "displayName"}, "displayName is required"),
    ({"op": "replace", "path": "owner", "value": "x"}, "names no attribute of the Group schema"),
    ({"op": "remove"}, "remove needs a path"),
    ({"op": "replace", "value": "Leeds"}, "replace without a path needs an object value"),
])
def test_a_bad_operation_is_400_naming_it(a, people, leeds, operation, detail, unchanged):
    error = refused(lambda: a.patch(leeds["id"], {"op": "add", "path": "externalId", "value": "ok"}, operation))
    assert error.status == 400
    assert error.detail.startswith("Operation 2 (")
    assert detail in error.detail


def test_too_many_members_in_one_operation_is_400(a, leeds, unchanged):
    value = [{"value": f"m{i}"} for i in range(MAX_MEMBERS_PER_REQUEST + 1)]
    error = refused(lambda: a.patch(leeds["id"], {"op": "add", "path": "members", "value": value}))
    assert f"members may have at most {MAX_MEMBERS_PER_REQUEST} entries in one request" in error.detail


# -- other changes ----------------------------------------------------------------------------------

def test_rename_with_a_path_and_path_less(a, leeds, store):
    assert a.patch(leeds["id"], {"op": "Replace", "path": "displayName", "value": "Leeds & York"}).status == 204
    assert body(a.get(leeds["id"]))["displayName"] == "Leeds & York"
    a.patch(leeds["id"], {"op": "replace", "value": {"displayName": "Leeds", "externalId": "new-object-id"}})
    renamed = body(a.get(leeds["id"]))
    assert (renamed["displayName"], renamed["externalId"], renamed["meta"]["version"]) == (
        "Leeds", "new-object-id", 'W/"3"')


def test_a_rename_to_a_taken_name_is_409(a, leeds):
    york = body(a.create(entra_group("York", "y")))
    error = refused(lambda: a.patch(york["id"], {"op": "replace", "path": "displayName", "value": "LEEDS office"}))
    assert (error.status, error.scim_type) == (409, "uniqueness")
    assert body(a.get(york["id"]))["meta"]["version"] == 'W/"1"'


def test_a_patch_asking_for_attributes_answers_200_with_the_group_so_narrowed(a, people, leeds):
    response = a.patch(leeds["id"], {"op": "add", "path": "members", "value": [{"value": people[0]}]},
                       query={"excludedAttributes": "members"})
    assert response.status == 200 and "members" not in body(response)
    response = a.patch(leeds["id"], {"op": "replace", "path": "displayName", "value": "Leeds"},
                       query={"attributes": "members"})
    assert [m["value"] for m in body(response)["members"]] == [people[0]]
    assert response.headers["ETag"] == 'W/"3"'


def test_if_match_applies_as_for_users(a, leeds, unchanged):
    error = refused(lambda: a.patch(leeds["id"], {"op": "replace", "path": "displayName", "value": "x"},
                                    headers={"If-Match": 'W/"7"'}))
    assert error.status == 412
    assert refused(lambda: a.delete(leeds["id"], headers={"If-Match": 'W/"7"'})).status == 412


def test_okta_put_replaces_name_and_whole_membership(a, people, leeds):
    a.patch(leeds["id"], {"op": "add", "path": "members", "value": [{"value": people[0]}, {"value": people[1]}]})
    response = a.put(leeds["id"], {"schemas": [CORE_GROUP], "displayName": "Leeds & York",
                                   "members": [{"value": people[1], "display": "Bea"}, {"value": people[2]}]})
    replaced = body(response)
    assert response.status == 200
    assert (replaced["displayName"], "externalId" in replaced) == ("Leeds & York", False)
    assert [m["value"] for m in replaced["members"]] == [people[1], people[2]]
    a.put(leeds["id"], {"schemas": [CORE_GROUP], "displayName": "Leeds & York"})
    assert a.member_ids(leeds["id"]) == []


# -- lifecycle ---------------------------------------------------------------------------------------

def test_a_deactivated_member_keeps_their_teams_and_a_deleted_one_leaves_them(a, people, leeds):
    york = body(a.create(entra_group("York", "y", [people[0]])))
    a.patch(leeds["id"], {"op": "add", "path": "members", "value": [{"value": people[0]}, {"value": people[1]}]})
    a.api.patch_user(a.request(patch_body({"op": "Replace", "path": "active", "value": "False"}), method="PATCH"),
                     people[0])
    assert a.member_ids(leeds["id"]) == people[:2] and a.member_ids(york["id"]) == [people[0]]
    a.api.delete_user(a.request(method="DELETE"), people[0])
    assert a.member_ids(leeds["id"]) == [people[1]] and a.member_ids(york["id"]) == []
    # Each team's membership changed, so each has a new version.
    assert body(a.get(york["id"]))["meta"]["version"] == 'W/"2"'


def test_deleting_a_group_leaves_its_members_alone(a, people, leeds, store):
    a.patch(leeds["id"], {"op": "add", "path": "members", "value": [{"value": people[0]}]})
    assert a.delete(leeds["id"]).status == 204
    assert refused(lambda: a.get(leeds["id"])).status == 404
    assert people[0] in store.members


def test_a_user_shows_their_teams_read_only(a, people, leeds):
    york = body(a.create(entra_group("York", "y", [people[0]])))
    a.patch(leeds["id"], {"op": "add", "path": "members", "value": [{"value": people[0]}]})
    user = a.api.get_user(a.request(), people[0]).body
    assert user["groups"] == sorted([
        {"value": leeds["id"], "$ref": f"{BASE}/Groups/{leeds['id']}", "display": "Leeds office", "type": "direct"},
        {"value": york["id"], "$ref": f"{BASE}/Groups/{york['id']}", "display": "York", "type": "direct"}],
        key=lambda g: g["value"])
    assert list(user)[-1] == "meta"
    assert "groups" not in a.api.get_user(a.request(query={"excludedAttributes": "groups"}), people[0]).body
    listed = a.api.list_users(a.request(query={"filter": f'id eq "{people[0]}"'})).body["Resources"][0]
    assert [g["value"] for g in listed["groups"]] == [g["value"] for g in user["groups"]]
    error = refused(lambda: a.api.patch_user(a.request(patch_body(
        {"op": "add", "path": "groups", "value": [{"value": leeds["id"]}]}), method="PATCH"), people[1]))
    assert (error.status, error.scim_type) == (400, "mutability")


# -- the trail ---------------------------------------------------------------------------------------

def test_the_trail_records_team_events_with_ids_and_counts_only(a, people, store):
    created = body(a.create(entra_group(members=[people[0]])))
    group_id = created["id"]
    a.patch(group_id, {"op": "add", "path": "members", "value": [{"value": people[1]}, {"value": people[2]}]},
            {"op": "remove", "path": f'members[value eq "{people[0]}"]'})
    a.patch(group_id, {"op": "replace", "path": "displayName", "value": "Leeds & York"})
    a.put(group_id, {"schemas": [CORE_GROUP], "displayName": "Leeds & York", "members": [{"value": people[1]}]})
    refused(lambda: a.patch(group_id, {"op": "add", "path": "members", "value": [{"value": "nobody"}]}))
    a.delete(group_id)
    records = [r for r in store.activity if r.team_id == group_id]
    assert [(r.event, r.attributes, r.added, r.removed, r.status) for r in records] == [
        (TEAM_CREATE, ("externalId", "displayName"), 1, None, None),
        (TEAM_UPDATE, (), 2, 1, None),
        (TEAM_RENAME, ("displayName",), None, None, None),
        (TEAM_REPLACE, ("externalId",), 0, 1, None),
        (REFUSED, (), None, None, 400),
        (TEAM_DELETE, (), None, None, None),
    ]
    assert all(r.member_id is None for r in records)


# -- POST /.search at the root: every resource type ----------------------------------------------------

def root_search(a, **query):
    return body(a.api.search_all(a.request({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                                            **query}, method="POST", path="/.search")))


def test_a_root_search_finds_users_then_groups_and_pages_across_both(a, people):
    """RFC 7644 §3.4.3: Users first, then Groups, paged as one list; displayName is in both schemas."""
    team = body(a.create(entra_group("Bea's team", "t")))
    found = root_search(a, filter='displayName sw "bea"')
    assert [(r["meta"]["resourceType"], r["id"]) for r in found["Resources"]] == [("User", people[1]),
                                                                                 ("Group", team["id"])]
    second = root_search(a, filter='displayName sw "bea"', startIndex=2, count=1)
    assert (second["totalResults"], second["startIndex"], [r["id"] for r in second["Resources"]]) == (
        2, 2, [team["id"]])
    assert root_search(a, filter='displayName sw "bea"', count=0)["totalResults"] == 2


def test_a_root_search_on_an_attribute_one_type_lacks_searches_the_other(a, people, leeds):
    assert [r["id"] for r in root_search(a, filter=f'members.value eq "{people[0]}"')["Resources"]] == []
    assert [r["id"] for r in root_search(a, filter='userName eq "alan@contoso.example"')["Resources"]] == [people[0]]
    error = refused(lambda: root_search(a, filter='shoeSize eq "9"'))
    assert (error.status, error.scim_type) == (400, "invalidFilter")
