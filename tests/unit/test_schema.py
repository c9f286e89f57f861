"""User and PatchOp payloads (RFC 7643 §2–§4, RFC 7644 §3.3 and §3.5.2, ENTRA.md §7 and §9.2): validation,
the translation between User JSON and ``MemberFields``, and what is refused with which ``scimType``."""
from __future__ import annotations

import json

import colander
import pytest

from tests.support import ADELE_FIELDS, FULL_USER
from wiggledesk_scim.domain.model import Address, Email, EnterpriseInfo, MemberFields, Name, PhoneNumber
from wiggledesk_scim.domain.scim.errors import ScimError
from wiggledesk_scim.domain.scim.messages import MAX_PATCH_OPERATIONS, PatchOperation, validate_patch
from wiggledesk_scim.domain.registry import USER
from wiggledesk_scim.domain.scim.schema import StrictMapping, _colander_schema, normalise, validate
from wiggledesk_scim.domain.scim.translation import fields_from_json, json_from_fields

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ACME = "urn:example:params:scim:schemas:extension:acme:2.0:User"
MANAGER_ID = "8c5a2f0e-3d1b-4f6a-9e2c-71b0d4a5c613"
ADELE = "adele.vance@contoso.example"


def fields_of(payload, *, active_default: bool = True) -> MemberFields:
    """The fields ``payload`` gives; ``active_default``: what an absent active keeps (as a PUT does)."""
    current = None if active_default else MemberFields(user_name="before", active=False)
    return fields_from_json(validate(payload), current=current)


def refusal(payload) -> ScimError:
    with pytest.raises(ScimError) as caught:
        validate(payload)
    return caught.value


def patch_refusal(payload) -> ScimError:
    with pytest.raises(ScimError) as caught:
        validate_patch(payload)
    return caught.value


# -- the payloads of ENTRA.md §7 -------------------------------------------------------------------

SEED_MAPPING_POST = {
    "active": True, "emails": [{"type": "work", "value": "example@example.info"}],
    "externalId": "d8ffd6a9-cede-41a4-815e-a52a53180333", "userName": "Example Username",
}

def test_seed_mapping_post_without_schemas_and_with_a_spaced_user_name_is_accepted():
    """ENTRA.md §7a: no ``schemas`` key means the core User, and a userName may contain a space."""
    assert fields_of(SEED_MAPPING_POST) == MemberFields(
        user_name="Example Username", external_id="d8ffd6a9-cede-41a4-815e-a52a53180333", active=True,
        emails=(Email("example@example.info", type="work"),))


def test_entra_full_mapping_post_gives_exactly_the_assigned_fields():
    """ENTRA.md §7b: nulls, empty roles, client meta and a null manager all leave nothing behind."""
    assert fields_of(FULL_USER) == ADELE_FIELDS


@pytest.mark.parametrize("user_name", ["", " ", "   ", "\t\n", None])
def test_an_empty_or_blank_username_is_refused_as_required(user_name):
    """Every member needs a userName with some text in it (declared required in the registry)."""
    error = refusal({"userName": user_name, "displayName": "Barbara"})
    assert (error.status, error.scim_type, error.detail) == (400, "invalidValue", "userName is required")


def test_active_not_given_defaults_on_create_and_keeps_the_current_value_otherwise():
    """``active`` absent or null is 'not given', so POST defaults it and PUT keeps the current value."""
    inactive = MemberFields(user_name="bjensen", active=False)
    assert fields_from_json(validate(SEED_MAPPING_POST), current=inactive).active is True
    assert fields_from_json(validate({"userName": "bjensen"})).active is True
    assert fields_from_json(validate({"userName": "bjensen"}), current=inactive).active is False
    assert fields_from_json(validate({"userName": "bjensen", "active": None}), current=inactive).active is False


@pytest.mark.parametrize("default", [True, False])
def test_absent_or_null_active_takes_the_callers_default(default):
    """``active`` missing or null is unassigned: the caller's default decides (§7 POST true, §11 PUT keeps)."""
    assert fields_of({"userName": "bjensen"}, active_default=default).active is default
    assert fields_of({"userName": "bjensen", "active": None}, active_default=default).active is default


# -- case-insensitive names (RFC 7643 §2.1) and URN-qualified keys ---------------------------------

def test_attribute_names_are_case_insensitive_at_every_level():
    """``UserName``, ``Emails``/``Value``/``Primary``, ``NAME``/``GivenName`` and enterprise keys in any case."""
    payload = {
        "SCHEMAS": [CORE.upper(), ENTERPRISE.lower()],
        "UserName": "bjensen", "EXTERNALID": "bj-1", "Active": False, "DISPLAYNAME": "Babs Jensen",
        "NAME": {"GivenName": "Barbara", "FAMILYNAME": "Jensen", "honorificprefix": "Ms"},
        "Emails": [{"Value": "bjensen@contoso.example", "Primary": True, "Type": "work", "DISPLAY": "Babs"}],
        "PhoneNumbers": [{"VALUE": "+44 7700 900123", "TYPE": "mobile", "PRIMARY": "True"}],
        "ADDRESSES": [{"StreetAddress": "18 Harbour Road", "LOCALITY": "Leeds", "PostalCode": "LS1 4AB",
                       "Type": "work"}],
        ENTERPRISE.upper(): {"EmployeeNumber": "42", "DEPARTMENT": "Tour Operations", "costcenter": "CC-7",
                             "Manager": {"VALUE": MANAGER_ID}},
    }
    assert fields_of(payload) == MemberFields(
        user_name="bjensen", external_id="bj-1", active=False, display_name="Babs Jensen",
        name=Name(given_name="Barbara", family_name="Jensen", honorific_prefix="Ms"),
        emails=(Email("bjensen@contoso.example", type="work", primary=True, display="Babs"),),
        phone_numbers=(PhoneNumber("+44 7700 900123", type="mobile", primary=True),),
        addresses=(Address(street_address="18 Harbour Road", locality="Leeds", postal_code="LS1 4AB",
                           type="work"),),
        enterprise=EnterpriseInfo(employee_number="42", department="Tour Operations", cost_center="CC-7",
                                  manager_id=MANAGER_ID),
    )


def test_urn_qualified_keys_name_core_and_enterprise_attributes_in_any_case():
    """``urn:…:core:2.0:User:userName`` and ``urn:…:enterprise:2.0:User:department`` are plain attribute keys."""
    payload = {
        f"{CORE}:userName": "bjensen",
        f"{CORE.upper()}:DISPLAYNAME": "Babs Jensen",
        f"{CORE}:name": {"givenName": "Barbara"},
        f"{ENTERPRISE}:department": "Tour Operations",
        f"{ENTERPRISE.upper()}:EMPLOYEENUMBER": "42",
        f"{ENTERPRISE}:manager": MANAGER_ID,
    }
    assert fields_of(payload) == MemberFields(
        user_name="bjensen", display_name="Babs Jensen", name=Name(given_name="Barbara"),
        enterprise=EnterpriseInfo(department="Tour Operations", employee_number="42", manager_id=MANAGER_ID))


# -- unassigned, ignored, read-only ----------------------------------------------------------------

def test_null_empty_string_empty_list_and_empty_object_mean_unassigned():
    """RFC 7643 §2.5: null, "", [] and {} leave an attribute (or sub-attribute) unassigned, at every level."""
    payload = {
        "userName": "bjensen", "externalId": "", "displayName": None, "nickName": "", "title": None,
        "name": {"givenName": None, "familyName": ""}, "emails": [], "phoneNumbers": None,
        "addresses": [{}], "profileUrl": None, "locale": "", "timezone": None,
        ENTERPRISE: {"department": "", "employeeNumber": None, "manager": None, "costCenter": {}},
    }
    assert fields_of(payload) == MemberFields(user_name="bjensen")


def test_null_entries_of_a_multi_valued_attribute_are_dropped():
    """A null entry in ``emails`` is no entry; the assigned ones are kept."""
    payload = {"userName": "bjensen", "emails": [None, {"value": "bjensen@contoso.example"}, {}]}
    assert fields_of(payload).emails == (Email("bjensen@contoso.example"),)


def test_empty_enterprise_object_or_null_means_no_enterprise_data():
    """The extension key with {} or null is the same as no extension."""
    assert fields_of({"userName": "bjensen", ENTERPRISE: {}}).enterprise == EnterpriseInfo()
    assert fields_of({"userName": "bjensen", ENTERPRISE: None}).enterprise == EnterpriseInfo()


def test_an_address_whose_parts_are_all_null_is_no_address():
    """ENTRA.md §13: empty address parts are unassigned, so an address with only nulls is not stored."""
    payload = {"userName": "bjensen",
               "addresses": [{"type": None, "region": None, "locality": ""},
                             {"type": "home", "locality": "Leeds"}]}
    assert fields_of(payload).addresses == (Address(type="home", locality="Leeds"),)


def test_a_manager_with_a_null_value_is_no_manager():
    """RFC 7643 §2.5: ``"manager": {"value": null}`` has nothing assigned, like ``"manager": null``."""
    payload = {"userName": "bjensen", ENTERPRISE: {"department": "Retail", "manager": {"value": None}}}
    assert fields_of(payload).enterprise == EnterpriseInfo(department="Retail")


def test_attributes_we_do_not_store_and_unknown_ones_are_ignored():
    """ENTRA.md §7b: roles, entitlements, certificates, ims, photos, password, unknown names and unknown
    extensions are accepted and ignored, whatever their shape."""
    payload = {
        "schemas": [CORE, ACME],
        "userName": "bjensen",
        "roles": [{"value": "Retail", "primary": True}], "entitlements": [{"value": "helpdesk"}],
        "x509Certificates": [{"value": "MIIDQzCC"}], "ims": [{"type": "skype", "value": "bjensen"}],
        "photos": [{"type": "photo", "value": "https://photos.example/bjensen.jpg"}],
        "password": "t1meMa$heen", "groups": [{"value": "g-1"}],
        "favouriteColour": "teal", "Roles": "not even a list", "employeeNumber": 7,
        ACME: {"badge": 7, "userName": 3},
        f"{ACME}:badge": {"colour": "red"},
        f"{ENTERPRISE}:badge": "7", f"{ENTERPRISE}:department": None,
        3: "a non-string key from a hostile client",
    }
    assert fields_of(payload) == MemberFields(user_name="bjensen")


def test_id_and_meta_in_a_body_are_ignored():
    """RFC 7644 §3.3: read-only ``id`` and ``meta`` in a request body change nothing and are never refused."""
    payload = {"userName": "bjensen", "id": "someone-elses-id", "ID": 3,
               "meta": {"resourceType": "Group", "version": 'W/"99"', "created": "yesterday"}}
    assert fields_of(payload) == MemberFields(user_name="bjensen")


# -- active -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("sent, stored", [
    (True, True), (False, False), ("True", True), ("False", False), ("true", True), ("FALSE", False),
    ("tRuE", True),
])
def test_active_accepts_json_booleans_and_true_false_strings_in_any_case(sent, stored):
    """ENTRA.md §9.3: ``active`` is a JSON boolean or "True"/"False" in any case, stored as a boolean."""
    assert fields_of({"userName": "bjensen", "active": sent}, active_default=not stored).active is stored


@pytest.mark.parametrize("sent", [3, 0, 1, "maybe", "yes", "1", " true", ["true"], {"value": True}])
def test_active_refuses_anything_else(sent):
    """ENTRA.md §4, §7c: any other ``active`` is 400 invalidValue naming the attribute."""
    error = refusal({"userName": "bjensen", "active": sent})
    assert (error.status, error.scim_type) == (400, "invalidValue")
    assert "active" in error.detail


# -- wrong types and refusals ----------------------------------------------------------------------

@pytest.mark.parametrize("attributes, named", [
    ({"userName": 3}, "userName"),
    ({"userName": True}, "userName"),
    ({"userName": ["bjensen"]}, "userName"),
    ({"displayName": ["Babs"]}, "displayName"),
    ({"externalId": 58342554}, "externalId"),
    ({"emails": "x"}, "emails"),
    ({"emails": {"value": "bjensen@contoso.example"}}, "emails"),
    ({"emails": [1]}, "emails"),
    ({"emails": ["bjensen@contoso.example"]}, "emails"),
    ({"emails": [{"value": 3}]}, "emails"),
    ({"emails": [{"value": "bjensen@contoso.example", "primary": "maybe"}]}, "primary"),
    ({"emails": [{"type": "work"}]}, "emails"),
    ({"name": "x"}, "name"),
    ({"name": {"givenName": 3}}, "givenName"),
    ({"phoneNumbers": [{"type": "work"}]}, "phoneNumbers"),
    ({"phoneNumbers": "+44 113 496 0000"}, "phoneNumbers"),
    ({"addresses": [{"locality": 3}]}, "locality"),
    ({ENTERPRISE: "Retail"}, ENTERPRISE),
    ({ENTERPRISE: {"department": 3}}, "department"),
    ({ENTERPRISE: {"manager": 3}}, "manager"),
    ({f"{ENTERPRISE}:employeeNumber": 417}, "employeeNumber"),
])
def test_wrong_types_are_invalid_value_naming_the_attribute(attributes, named):
    """A value of the wrong JSON type is 400 invalidValue whose detail names the attribute to fix."""
    error = refusal({"userName": "bjensen", **attributes})
    assert (error.status, error.scim_type) == (400, "invalidValue")
    assert named in error.detail


@pytest.mark.parametrize("payload", [
    {}, {"displayName": "Babs Jensen"}, {"userName": ""}, {"userName": None},
    {"schemas": [CORE], "externalId": "bj-1"},
])
def test_missing_or_empty_user_name_is_invalid_value(payload):
    """ENTRA.md §7c: a User without a userName is 400 invalidValue naming userName."""
    error = refusal(payload)
    assert (error.status, error.scim_type) == (400, "invalidValue")
    assert "userName" in error.detail


@pytest.mark.parametrize("payload", [[], "bjensen", None, 3, [{"userName": "bjensen"}]])
def test_a_body_that_is_not_an_object_is_invalid_syntax(payload):
    """A User body must be a JSON object."""
    error = refusal(payload)
    assert (error.status, error.scim_type) == (400, "invalidSyntax")


@pytest.mark.parametrize("attribute, entries", [
    ("emails", [{"type": "work", "value": ADELE}, {"type": "work", "value": "adele@fabrikam.example"}]),
    ("emails", [{"type": "work", "value": ADELE}, {"type": "Work", "value": "adele@fabrikam.example"}]),
    ("phoneNumbers", [{"type": "mobile", "value": "+44 7700 900123"},
                      {"type": "MOBILE", "value": "+44 7700 900456"}]),
    ("addresses", [{"type": "home", "locality": "Leeds"}, {"type": "Home", "locality": "York"}]),
])
def test_two_entries_of_the_same_type_are_invalid_value(attribute, entries):
    """ENTRA.md §7b: one entry per type per multi-valued attribute, types compared ignoring case."""
    error = refusal({"userName": "bjensen", attribute: entries})
    assert (error.status, error.scim_type) == (400, "invalidValue")
    assert attribute in error.detail


def test_entries_without_a_type_or_of_different_types_may_coexist():
    """The one-per-type rule only bites on equal types; untyped entries are not duplicates of each other."""
    fields = fields_of({"userName": "bjensen", "emails": [
        {"value": "bjensen@contoso.example"}, {"value": "babs@contoso.example"},
        {"type": "work", "value": "b.jensen@contoso.example"}, {"type": "home", "value": "babs@home.example"}]})
    assert len(fields.emails) == 4


@pytest.mark.parametrize("attribute, entries", [
    ("emails", [{"type": "work", "value": ADELE, "primary": True},
                {"type": "home", "value": "adele@home.example", "primary": "True"}]),
    ("phoneNumbers", [{"type": "work", "value": "+44 113 496 0000", "primary": True},
                      {"type": "mobile", "value": "+44 7700 900123", "primary": True}]),
    ("addresses", [{"type": "work", "locality": "Leeds", "primary": True},
                   {"type": "home", "locality": "York", "primary": True}]),
])
def test_two_primaries_are_invalid_value(attribute, entries):
    """RFC 7643 §2.4: at most one value of a multi-valued attribute is primary."""
    error = refusal({"userName": "bjensen", attribute: entries})
    assert (error.status, error.scim_type) == (400, "invalidValue")
    assert attribute in error.detail


@pytest.mark.parametrize("schemas", [CORE, [ENTERPRISE], [], [3], {"0": CORE}, [CORE[:-1]]])
def test_schemas_not_a_list_or_without_the_core_user_is_invalid_value(schemas):
    """When ``schemas`` is sent it must be a list containing the core User URN."""
    error = refusal({"schemas": schemas, "userName": "bjensen"})
    assert (error.status, error.scim_type) == (400, "invalidValue")
    assert "schemas" in error.detail


def test_schemas_may_name_unknown_extensions_and_null_schemas_is_absent():
    """An extension URN we do not know is no reason to refuse, and ``"schemas": null`` is no schemas."""
    assert fields_of({"schemas": [CORE, ACME], "userName": "bjensen"}) == MemberFields(user_name="bjensen")
    assert fields_of({"schemas": None, "userName": "bjensen"}) == MemberFields(user_name="bjensen")


# -- manager -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("manager", [
    MANAGER_ID,
    {"value": MANAGER_ID},
    {"Value": MANAGER_ID},
    {"value": MANAGER_ID, "$ref": f"https://h.example/scim/v2/Users/{MANAGER_ID}", "displayName": "Ada"},
])
def test_manager_is_accepted_as_a_plain_id_or_as_an_object(manager):
    """ENTRA.md §7b, §9.6: a string id and ``{"value": id}`` both set the manager; read-only parts are ignored."""
    fields = fields_of({"userName": "bjensen", ENTERPRISE: {"manager": manager}})
    assert fields.enterprise == EnterpriseInfo(manager_id=MANAGER_ID)


# -- user_from_fields ----------------------------------------------------------------------------------

def test_user_from_fields_leaves_unassigned_values_out():
    """RFC 7643 §2.5: a member with only a userName becomes exactly userName and active, nothing null."""
    assert json_from_fields(MemberFields(user_name="bjensen")) == {"userName": "bjensen", "active": True}


def test_user_from_fields_keeps_false_values_and_renders_every_field():
    """False is a value, not an absence; every stored field appears under its camelCase name."""
    fields = MemberFields(
        user_name="bjensen", external_id="bj-1", active=False, display_name="Babs Jensen", nick_name="Babs",
        profile_url="https://profiles.example/bjensen", title="Tour Guide", user_type="Employee",
        preferred_language="en-GB", locale="en-GB", timezone="Europe/London",
        name=Name("Ms Barbara J Jensen III", "Jensen", "Barbara", "Jane", "Ms", "III"),
        emails=(Email("bjensen@contoso.example", "work", True, "Babs"), Email("babs@home.example", "home", False)),
        phone_numbers=(PhoneNumber("+44 7700 900123", "mobile", None, "07700 900123"),),
        addresses=(Address("18 Harbour Road, Leeds", "18 Harbour Road", "Leeds", "West Yorkshire", "LS1 4AB",
                           "GB", "work", True),),
        enterprise=EnterpriseInfo("000417", "CC-210", "Contoso", "North", "Retail", MANAGER_ID),
    )
    assert json_from_fields(fields, base_url="https://h.example/scim/v2") == {
        "externalId": "bj-1", "userName": "bjensen",
        "name": {"formatted": "Ms Barbara J Jensen III", "familyName": "Jensen", "givenName": "Barbara",
                 "middleName": "Jane", "honorificPrefix": "Ms", "honorificSuffix": "III"},
        "displayName": "Babs Jensen", "nickName": "Babs", "profileUrl": "https://profiles.example/bjensen",
        "title": "Tour Guide", "userType": "Employee", "preferredLanguage": "en-GB", "locale": "en-GB",
        "timezone": "Europe/London", "active": False,
        "emails": [{"value": "bjensen@contoso.example", "display": "Babs", "type": "work", "primary": True},
                   {"value": "babs@home.example", "type": "home", "primary": False}],
        "phoneNumbers": [{"value": "+44 7700 900123", "display": "07700 900123", "type": "mobile"}],
        "addresses": [{"formatted": "18 Harbour Road, Leeds", "streetAddress": "18 Harbour Road",
                       "locality": "Leeds", "region": "West Yorkshire", "postalCode": "LS1 4AB",
                       "country": "GB", "type": "work", "primary": True}],
        ENTERPRISE: {"employeeNumber": "000417", "costCenter": "CC-210", "organization": "Contoso",
                     "division": "North", "department": "Retail",
                     "manager": {"value": MANAGER_ID, "$ref": f"https://h.example/scim/v2/Users/{MANAGER_ID}"}},
    }


@pytest.mark.parametrize("fields", [
    MemberFields(user_name="bjensen"),
    MemberFields(user_name="bjensen", active=False),
    ADELE_FIELDS,
    MemberFields(
        user_name="bjensen", external_id="bj-1", active=False, display_name="Babs Jensen", nick_name="Babs",
        profile_url="https://profiles.example/bjensen", title="Tour Guide", user_type="Employee",
        preferred_language="en-GB", locale="en-GB", timezone="Europe/London",
        name=Name("Ms Barbara J Jensen III", "Jensen", "Barbara", "Jane", "Ms", "III"),
        emails=(Email("bjensen@contoso.example", "work", True, "Babs"), Email("babs@home.example", "home", False),
                Email("b@untyped.example")),
        phone_numbers=(PhoneNumber("+44 7700 900123", "mobile", None, "07700 900123"),),
        addresses=(Address(locality="Leeds", type="home"),),
        enterprise=EnterpriseInfo(manager_id=MANAGER_ID),
    ),
], ids=["minimal", "inactive", "adele", "everything"])
@pytest.mark.parametrize("base_url", [None, "https://h.example/scim/v2"])
def test_fields_survive_a_round_trip_through_user_json(fields, base_url):
    """fields -> User JSON (serialised and parsed again) -> fields gives back equal fields."""
    user = json.loads(json.dumps(json_from_fields(fields, base_url=base_url)))
    assert fields_of(user, active_default=not fields.active) == fields


# -- validate_patch ------------------------------------------------------------------------------------

@pytest.mark.parametrize("sent, op", [
    ("add", "add"), ("Add", "add"), ("ADD", "add"), ("replace", "replace"), ("Replace", "replace"),
    ("REPLACE", "replace"), ("remove", "remove"), ("Remove", "remove"), ("rEmOvE", "remove"),
])
def test_patch_op_is_matched_ignoring_case(sent, op):
    """ENTRA.md §9.2: Entra sends Add/Replace/Remove capitalised; any case is accepted."""
    operations = validate_patch({"schemas": [PATCH_OP],
                                 "Operations": [{"op": sent, "path": "displayName", "value": "Babs"}]})
    assert operations == [PatchOperation(op, "displayName", "Babs", True)]


def test_patch_keys_are_case_insensitive_and_schemas_may_be_missing():
    """RFC 7643 §2.1: ``Operations``, ``Op``, ``Path``, ``Value`` in any case; a missing schemas is tolerated."""
    operations = validate_patch({"OPERATIONS": [
        {"Op": "Replace", "Path": "active", "Value": "False"},
        {"OP": "add", "PATH": "nickName", "VALUE": "Babs"},
        {"op": "Remove", "path": f"{ENTERPRISE}:manager"},
    ]})
    assert operations == [
        PatchOperation("replace", "active", "False", True),
        PatchOperation("add", "nickName", "Babs", True),
        PatchOperation("remove", f"{ENTERPRISE}:manager", None, False),
    ]


def test_patch_distinguishes_a_null_value_from_no_value():
    """``"value": null`` is a value that clears; no ``value`` at all is something else."""
    assert validate_patch({"Operations": [{"op": "replace", "path": "nickName", "value": None}]}) == [
        PatchOperation("replace", "nickName", None, True)]
    assert validate_patch({"Operations": [{"op": "replace", "path": "nickName"}]}) == [
        PatchOperation("replace", "nickName", None, False)]


def test_patch_without_path_keeps_the_value_object():
    """A path-less operation carries its value object unchanged, for the edit to read key by key."""
    value = {"name.givenName": "Barbara", f"{ENTERPRISE}:department": "Tour Operations", "active": False}
    assert validate_patch({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": value}]}) == [
        PatchOperation("replace", None, value, True)]


@pytest.mark.parametrize("payload", [
    {"schemas": [CORE], "Operations": [{"op": "add", "path": "nickName", "value": "Babs"}]},
    {"schemas": PATCH_OP, "Operations": [{"op": "add", "path": "nickName", "value": "Babs"}]},
    {"schemas": [], "Operations": [{"op": "add", "path": "nickName", "value": "Babs"}]},
    {"schemas": [PATCH_OP]},
    {"schemas": [PATCH_OP], "Operations": []},
    {"schemas": [PATCH_OP], "Operations": None},
    {"schemas": [PATCH_OP], "Operations": {"op": "add", "path": "nickName", "value": "Babs"}},
    {"schemas": [PATCH_OP], "Operations": "add nickName"},
    {"op": "add", "path": "nickName", "value": "Babs"},
])
def test_patch_with_wrong_schemas_or_without_operations_is_invalid_syntax(payload):
    """RFC 7644 §3.5.2: a PatchOp names its schema (if at all) correctly and carries a non-empty Operations list."""
    error = patch_refusal(payload)
    assert (error.status, error.scim_type) == (400, "invalidSyntax")


@pytest.mark.parametrize("operation, named", [
    (3, "Operation 2"),
    ("add", "Operation 2"),
    (None, "Operation 2"),
    ([{"op": "add"}], "Operation 2"),
    ({"op": "merge", "path": "nickName", "value": "Babs"}, "merge"),
    ({"op": "delete", "path": "nickName"}, "delete"),
    ({"op": 1, "path": "nickName"}, "op"),
    ({"op": "add", "path": 3, "value": "Babs"}, "path"),
])
def test_malformed_operation_is_invalid_syntax_naming_it(operation, named):
    """A non-object operation, an unknown op or a non-string path is invalidSyntax naming operation and field."""
    error = patch_refusal({"Operations": [{"op": "add", "path": "nickName", "value": "Babs"}, operation]})
    assert (error.status, error.scim_type) == (400, "invalidSyntax")
    assert "Operation 2" in error.detail
    assert named in error.detail


def test_operation_without_op_is_refused_in_plain_words():
    """ENTRA.md §4: the detail says, in plain words, that the operation needs an op; no library internals."""
    error = patch_refusal({"Operations": [{"path": "nickName", "value": "Babs"}]})
    assert (error.status, error.scim_type) == (400, "invalidSyntax")
    assert "Operation 1" in error.detail and "op" in error.detail
    assert "colander" not in error.detail


@pytest.mark.parametrize("payload", [[], "Operations", None, 3, [{"op": "add"}]])
def test_patch_body_that_is_not_an_object_is_invalid_syntax(payload):
    """A PatchOp body must be a JSON object."""
    error = patch_refusal(payload)
    assert (error.status, error.scim_type) == (400, "invalidSyntax")


def test_patch_with_too_many_operations_is_invalid_syntax():
    """The number of operations in one PatchOp is bounded; one past the limit is refused."""
    operation = {"op": "replace", "path": "nickName", "value": "Babs"}
    assert len(validate_patch({"Operations": [operation] * MAX_PATCH_OPERATIONS})) == MAX_PATCH_OPERATIONS
    error = patch_refusal({"Operations": [operation] * (MAX_PATCH_OPERATIONS + 1)})
    assert (error.status, error.scim_type) == (400, "invalidSyntax")
    assert str(MAX_PATCH_OPERATIONS) in error.detail


def test_unknown_keys_of_the_enterprise_extension_are_ignored():
    """An enterprise key we do not know is dropped, like any unknown attribute (ENTRA.md §7b)."""
    user = validate({"userName": "bjensen", ENTERPRISE: {"department": "Retail", "shoeSize": "44"}})
    assert fields_from_json(user).enterprise == EnterpriseInfo(department="Retail")


# -- colander ------------------------------------------------------------------------------------

class _ColandersOwnMapping(StrictMapping):
    """A JSON object deserialised by colander's own ``Mapping``, every child in turn."""

    def deserialize(self, node, cstruct):
        if cstruct is not colander.null and not isinstance(cstruct, dict):
            return super().deserialize(node, cstruct)  # the same refusal
        return colander.Mapping.deserialize(self, node, cstruct)


def _as_colander_would(schema: colander.SchemaNode) -> colander.SchemaNode:
    copy, nodes = schema.clone(), []
    nodes.append(copy)
    while nodes:
        node = nodes.pop()
        if isinstance(node.typ, StrictMapping):
            node.typ = _ColandersOwnMapping()
        nodes.extend(node.children)
    return copy


def _outcome(schema: colander.SchemaNode, payload: dict):
    try:
        return schema.deserialize(normalise(payload))
    except colander.Invalid as error:
        return error.asdict()


@pytest.mark.parametrize("payload", [
    FULL_USER, SEED_MAPPING_POST, {"userName": "bjensen"}, {}, {"displayName": "Babs"},
    {"userName": 3, "name": {"givenName": 3, "familyName": "Jensen"},
     "emails": [{"value": 3}, {"type": "work"}, {"value": "b@contoso.example", "primary": "maybe"}]},
    {"userName": "bjensen", ENTERPRISE: {"department": 3, "manager": {"value": 3}, "costCenter": "x" * 2000}},
    {"userName": "bjensen", "addresses": [{"locality": 3}, {"region": "Leeds", "primary": "no"}], "name": "x"},
])
def test_an_object_deserialises_as_colanders_own_mapping_would(payload):
    """StrictMapping gives an absent attribute its ``missing`` without deserialising null: the same
    attributes, defaults included, and the same complaints at the same places as colander's Mapping."""
    schema = _colander_schema(USER)
    assert _outcome(schema, payload) == _outcome(_as_colander_would(schema), payload)
