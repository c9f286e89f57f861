"""The registry is the one home of an attribute: one declared there alone is validated, stored, read back,
filtered on, patched and published, with no other file touched.

The test declares a throwaway extension schema (a desk assignment) and serves it through the whole SCIM
layer over the in-memory storage, as an operator's build would after adding it to ``domain/registry``.
"""
from __future__ import annotations

import dataclasses

import pytest

from tests.unit.scim_requests import BASE, patch_body, scim_request
from wiggledesk_scim.adapters.memory import InMemoryUnitOfWork
from wiggledesk_scim.domain.registry import GROUP, USER, Attribute, Schema
from wiggledesk_scim.domain.registry.declaration import BOOLEAN, COMPLEX, READ_ONLY, SERVER, STRING
from wiggledesk_scim.domain.scim.representation import resource_type_document
from wiggledesk_scim.domain.scim.api import ScimApi
from wiggledesk_scim.domain.scim.errors import ScimError
from wiggledesk_scim.domain.services import MemberService

DESKS = "urn:example:params:scim:schemas:extension:desks:2.0:User"

#: Declared here and nowhere else: no model field, no column, no list in any module names it.
DESK_SCHEMA = Schema(DESKS, "Desks", "Where a member sits in the office", field=None, attributes=(
    Attribute("deskNumber", STRING, "The member's desk, such as 4-117.", max_length=16, uniqueness=SERVER),
    Attribute("hotDesking", BOOLEAN, "Whether the member books a desk per day.", default=False),
    Attribute("deskNotes", STRING, "Facilities' notes on the desk.", filterable=False),
    Attribute("assignedBy", STRING, "Who assigned the desk; WiggleDesk sets it.", mutability=READ_ONLY),
))
USERS_WITH_DESKS = USER.extended_with(DESK_SCHEMA)


@pytest.fixture
def desks(store, clock, ids, authority, onboarded) -> ScimApi:
    """The SCIM API serving Users with the desk extension, over the in-memory graph."""
    uow = InMemoryUnitOfWork(store, USERS_WITH_DESKS)
    return ScimApi(MemberService(uow, clock, ids, users=USERS_WITH_DESKS), authority, users=USERS_WITH_DESKS)


def _create(api: ScimApi, token: str, user_name: str, desk: dict) -> dict:
    body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", DESKS], "userName": user_name, DESKS: desk}
    return api.create_user(scim_request(token, body, method="POST")).body


def _refusal(call) -> ScimError:
    with pytest.raises(ScimError) as caught:
        call()
    return caught.value


def test_an_attribute_declared_only_in_the_registry_is_validated_stored_and_read_back(desks, token_a):
    """POST stores the extension's values; GET gives them back under the extension's URN, in schemas too."""
    created = _create(desks, token_a, "bjensen@contoso.example", {"DeskNumber": "4-117", "hotDesking": "True"})

    fetched = desks.get_user(scim_request(token_a), created["id"]).body

    assert fetched[DESKS] == {"deskNumber": "4-117", "hotDesking": True}
    assert _create(desks, token_a, "jsmith@contoso.example", {})[DESKS] == {"hotDesking": False}  # its default
    assert DESKS in fetched["schemas"]
    assert _refusal(lambda: _create(desks, token_a, "ada2@contoso.example", {"deskNumber": "x" * 17})).detail == (
        f"{DESKS}:deskNumber must be at most 16 characters long, got 17")
    assert _refusal(lambda: _create(desks, token_a, "ada3@contoso.example", {"hotDesking": "maybe"})).detail == (
        f'{DESKS}:hotDesking must be true or false, got "maybe"')


def test_its_declared_uniqueness_is_kept_by_the_store(desks, token_a):
    """uniqueness: server on the declaration alone makes a second member with that desk a 409."""
    _create(desks, token_a, "bjensen@contoso.example", {"deskNumber": "4-117"})

    error = _refusal(lambda: _create(desks, token_a, "jsmith@contoso.example", {"deskNumber": "4-117"}))

    assert (error.status, error.scim_type) == (409, "uniqueness")


def test_it_can_be_filtered_on_with_or_without_its_urn(desks, token_a):
    """Filters name it as clients do: URN-qualified, or alone since the name is unambiguous."""
    bjensen = _create(desks, token_a, "bjensen@contoso.example", {"deskNumber": "4-117", "hotDesking": True})
    _create(desks, token_a, "jsmith@contoso.example", {"deskNumber": "5-001", "hotDesking": False})

    for text in (f'{DESKS}:deskNumber eq "4-117"', 'desknumber sw "4-"', "hotDesking eq true"):
        listed = desks.list_users(scim_request(token_a, query={"filter": text})).body
        assert [r["id"] for r in listed["Resources"]] == [bjensen["id"]], text
    for text in ("hotDesking gt true", 'deskNotes eq "window"'):  # not an ordering; declared not filterable
        error = _refusal(lambda: desks.list_users(scim_request(token_a, query={"filter": text})))
        assert (error.status, error.scim_type) == (400, "invalidFilter"), text


def test_it_can_be_patched_by_path_and_without_one(desks, token_a):
    """PATCH sets it by its URN path, and path-less with the extension's object; remove clears it."""
    member_id = _create(desks, token_a, "bjensen@contoso.example", {"deskNumber": "4-117"})["id"]

    def patched(*operations) -> dict:
        return desks.patch_user(scim_request(token_a, patch_body(*operations), method="PATCH"), member_id).body

    assert patched({"op": "Replace", "path": f"{DESKS}:deskNumber", "value": "4-200"})[DESKS] == {
        "deskNumber": "4-200", "hotDesking": False}
    assert patched({"op": "Add", "value": {DESKS: {"hotDesking": "False"}}})[DESKS] == {
        "deskNumber": "4-200", "hotDesking": False}
    assert patched({"op": "Remove", "path": f"{DESKS}:deskNumber"})[DESKS] == {"hotDesking": False}
    assert patched({"op": "Remove", "path": DESKS})[DESKS] == {"hotDesking": False}  # it has a default
    error = _refusal(lambda: patched({"op": "Replace", "path": f"{DESKS}:assignedBy", "value": "Ada"}))
    assert (error.status, error.scim_type) == (400, "mutability")


def test_a_change_to_it_is_named_in_the_activity_trail(desks, token_a, uow, contoso):
    """The trail's attribute names come from the registry too: the extension's full URN path."""
    member_id = _create(desks, token_a, "bjensen@contoso.example", {"deskNumber": "4-117"})["id"]
    desks.patch_user(scim_request(token_a, patch_body({"op": "Replace", "path": f"{DESKS}:deskNumber",
                                                         "value": "4-200"}), method="PATCH"), member_id)

    with uow:
        newest = uow.activity.list(contoso.organisation.id, member_id=member_id, limit=1)[0]

    assert newest.attributes == (f"{DESKS}:deskNumber",)


def test_it_is_published_in_schemas_and_resource_types(desks, token_a):
    """/Schemas lists the extension with its attributes' characteristics; /ResourceTypes names it."""
    document = desks.get_schema(scim_request(token_a), DESKS).body
    resource_type = desks.get_resource_type(scim_request(token_a), "User").body

    assert [(a["name"], a["type"], a["uniqueness"]) for a in document["attributes"]] == [
        ("deskNumber", "string", "server"), ("hotDesking", "boolean", "none"), ("deskNotes", "string", "none"),
        ("assignedBy", "string", "none")]
    assert document["meta"]["location"] == f"{BASE}/Schemas/{DESKS}"
    assert {"schema": DESKS, "required": False} in resource_type["schemaExtensions"]


def test_a_put_that_leaves_out_an_attribute_with_a_default_keeps_its_value(desks, token_a):
    """As for active: a PUT without hotDesking keeps the current value; it clears what has none."""
    member_id = _create(desks, token_a, "bjensen@contoso.example", {"deskNumber": "4-117", "hotDesking": True})["id"]

    put = desks.replace_user(scim_request(token_a, {"userName": "bjensen@contoso.example"}, method="PUT"),
                             member_id).body

    assert put[DESKS] == {"hotDesking": True}


# -- what the declaration itself refuses and derives --------------------------------------------------

@pytest.mark.parametrize("declare, message", [
    (lambda: Attribute("badge", COMPLEX), "complex attribute badge needs a model class or stored_as"),
    (lambda: Attribute("floor", "integer"), "floor: attributes of type integer are not served yet"),
    (lambda: Schema(DESKS, "Desks", "", field=None, attributes=(Attribute("badge", COMPLEX, stored_as="value"),)),
     "a schema without a model class holds simple attributes only"),
    (lambda: USER.extended_with(Schema(DESKS, "Desks", "", attributes=(Attribute("desks", multi_valued=True),))),
     "multi-valued attributes belong to the core schema"),
    (lambda: Attribute("desk", apart=True), "desk: only a multi-valued complex attribute can be kept apart"),
])
def test_a_declaration_the_layers_could_not_serve_is_refused_when_made(declare, message):
    """A declaration that some layer could not derive its part from fails at once, saying why."""
    with pytest.raises(ValueError, match=message):
        declare()


def test_paths_name_what_filters_name_and_say_so_in_their_reprs():
    """``path`` finds the filterable attributes by their SCIM names; their reprs read as those names."""
    assert repr(USER.path("userName")) == "Path(userName)" and USER.path("userName").sub_attribute is None
    assert USER.path("emails.value").sub_attribute == "value"
    assert repr(USER.path("emails.value").collection) == "Collection(emails)"
    assert repr(USER.leaves[0]) == "Leaf(externalId)"
    with pytest.raises(KeyError):
        USER.path("shoeSize")


def test_a_resource_type_without_extensions_publishes_none():
    """/ResourceTypes names extensions only when there are some."""
    document = resource_type_document(BASE, dataclasses.replace(USER, extensions=()))
    assert "schemaExtensions" not in document and document["schema"] == USER.schema.urn


def test_an_attribute_kept_apart_is_a_collection_filters_reach_but_no_leaf_of_the_model():
    """A team's members are rows of their own: filterable as ``members.value``, never part of TeamFields;
    a member's ``groups`` (not filterable) is neither."""
    members = GROUP.collections["members"]
    assert members.apart and members.model_path == ("members",)
    assert GROUP.path("members.value").collection is members
    assert [leaf.name for leaf in GROUP.leaves] == ["externalId", "displayName"]
    assert "groups" not in USER.collections and all(leaf.name != "groups" for leaf in USER.leaves)
