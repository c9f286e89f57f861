"""PATCH (RFC 7644 §3.5.2) with Entra's habits (ENTRA.md §9.2–§9.7, §10), applied as a pure edit of
``MemberFields`` through ``compile_patch(validate_patch(body))``."""
from __future__ import annotations

from dataclasses import replace

import pytest

from tests.support import ADELE_FIELDS as SUPPORT_ADELE
from wiggledesk_scim.domain.model import Address, Email, EnterpriseInfo, MemberFields, Name, PhoneNumber
from wiggledesk_scim.domain.scim.errors import ScimError
from wiggledesk_scim.domain.scim import patch as patch_module
from wiggledesk_scim.domain.scim.patch import _apply_operation, compile_patch, parse_target, revalidate
from wiggledesk_scim.domain.registry import ENTERPRISE_USER
from wiggledesk_scim.domain.scim.messages import validate_patch
from wiggledesk_scim.domain.scim.schema import validate as validate_whole
from wiggledesk_scim.domain.scim.translation import fields_from_json, json_from_fields

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
MANAGER = f"{ENTERPRISE}:manager"
MANAGER_ID = "8c5a2f0e-3d1b-4f6a-9e2c-71b0d4a5c613"
ADELE = "adele.vance@contoso.example"
FABRIKAM = "adele@fabrikam.example"

#: Adele as Entra's full mapping created her (ENTRA.md §7b), with a manager.
ADELE_FIELDS = replace(SUPPORT_ADELE, enterprise=replace(SUPPORT_ADELE.enterprise, manager_id=MANAGER_ID))
BJENSEN = MemberFields(user_name="bjensen")


def patched(fields: MemberFields, *operations: dict) -> MemberFields:
    """``fields`` after a PatchOp carrying ``operations``, as the service would apply it."""
    body = {"schemas": [PATCH_OP], "Operations": list(operations)}
    return compile_patch(validate_patch(body))(fields)


def refusal(fields: MemberFields, *operations: dict) -> ScimError:
    with pytest.raises(ScimError) as caught:
        patched(fields, *operations)
    return caught.value


def op(name: str, path: str | None = None, **value) -> dict:
    """One operation; ``op("Add", "nickName", value="Addy")``."""
    operation = {"op": name}
    if path is not None:
        operation["path"] = path
    operation.update(value)
    return operation


def with_enterprise(fields: MemberFields, **changes) -> MemberFields:
    return replace(fields, enterprise=replace(fields.enterprise, **changes))


# -- single attributes and active (§9.2, §9.3, §10) ------------------------------------------------

def test_entras_single_attribute_patch_applies_every_operation():
    """ENTRA.md §9.3: Replace displayName, Add nickName and Replace active "False" all apply."""
    assert patched(ADELE_FIELDS,
                   op("Replace", "displayName", value="Adele V."),
                   op("Add", "nickName", value="Addy"),
                   op("Replace", "active", value="False")) == replace(
        ADELE_FIELDS, display_name="Adele V.", nick_name="Addy", active=False)


@pytest.mark.parametrize("name", ["replace", "add", "Replace", "Add"])
@pytest.mark.parametrize("path, value, expected", [
    ("displayName", "Adele V.", replace(ADELE_FIELDS, display_name="Adele V.")),
    ("DisplayName", "Adele V.", replace(ADELE_FIELDS, display_name="Adele V.")),
    ("nickName", "Addy", replace(ADELE_FIELDS, nick_name="Addy")),
    ("userName", "adele@fabrikam.example", replace(ADELE_FIELDS, user_name="adele@fabrikam.example")),
    ("externalId", "58342554-38d6-4ec8-948c-50044d0a33fd",
     replace(ADELE_FIELDS, external_id="58342554-38d6-4ec8-948c-50044d0a33fd")),
    ("title", "Store Director", replace(ADELE_FIELDS, title="Store Director")),
    ("timezone", "Europe/London", replace(ADELE_FIELDS, timezone="Europe/London")),
    ("profileUrl", "https://profiles.example/adele", replace(ADELE_FIELDS, profile_url="https://profiles.example/adele")),
    ("name.familyName", "Vance-Price", replace(ADELE_FIELDS, name=replace(ADELE_FIELDS.name, family_name="Vance-Price"))),
    ("name.middleName", "Jo", replace(ADELE_FIELDS, name=replace(ADELE_FIELDS.name, middle_name="Jo"))),
    (f"{CORE}:displayName", "Adele V.", replace(ADELE_FIELDS, display_name="Adele V.")),
    (f"{ENTERPRISE}:department", "Marketing", with_enterprise(ADELE_FIELDS, department="Marketing")),
    (f"{ENTERPRISE.upper()}:COSTCENTER", "CC-999", with_enterprise(ADELE_FIELDS, cost_center="CC-999")),
])
def test_add_and_replace_set_a_single_attribute(name, path, value, expected):
    """RFC 7644 §3.5.2.1/§3.5.2.3: add and replace on a single-valued attribute both set it; others stay."""
    assert patched(ADELE_FIELDS, op(name, path, value=value)) == expected


@pytest.mark.parametrize("sent, stored", [
    ("False", False), ("True", True), (False, False), (True, True), ("false", False), ("TRUE", True),
])
def test_active_accepts_booleans_and_true_false_strings(sent, stored):
    """ENTRA.md §9.3: active as a JSON boolean or as "True"/"False" in any case, stored as a boolean."""
    start = replace(ADELE_FIELDS, active=not stored)
    assert patched(start, op("Replace", "active", value=sent)) == replace(ADELE_FIELDS, active=stored)


@pytest.mark.parametrize("operation, active", [
    (op("Replace", "active", value="False"), False),
    (op("replace", value={"active": False}), False),
    (op("Replace", "active", value="True"), True),
    (op("replace", value={"active": True}), True),
])
def test_deprovision_and_restore_change_only_active(operation, active):
    """ENTRA.md §10: both deprovision forms (and their restore twins) flip active and keep everything else."""
    start = replace(ADELE_FIELDS, active=not active)
    assert patched(start, operation) == replace(ADELE_FIELDS, active=active)


@pytest.mark.parametrize("name", ["Replace", "Add"])
@pytest.mark.parametrize("cleared", [None, ""])
@pytest.mark.parametrize("path, expected", [
    ("title", replace(ADELE_FIELDS, title=None)),
    ("displayName", replace(ADELE_FIELDS, display_name=None)),
    ("externalId", replace(ADELE_FIELDS, external_id=None)),
    ("name.givenName", replace(ADELE_FIELDS, name=replace(ADELE_FIELDS.name, given_name=None))),
    ("name", replace(ADELE_FIELDS, name=Name())),
    (f"{ENTERPRISE}:department", with_enterprise(ADELE_FIELDS, department=None)),
    (f"{ENTERPRISE}:employeeNumber", with_enterprise(ADELE_FIELDS, employee_number=None)),
])
def test_null_or_empty_value_clears_an_optional_attribute(name, cleared, path, expected):
    """ENTRA.md §9.2: a value of null or "" on an optional attribute clears it."""
    assert patched(ADELE_FIELDS, op(name, path, value=cleared)) == expected


@pytest.mark.parametrize("cleared", [None, "", []])
@pytest.mark.parametrize("path, expected", [
    ("phoneNumbers", replace(ADELE_FIELDS, phone_numbers=())),
    ("emails", replace(ADELE_FIELDS, emails=())),
    ("addresses", replace(ADELE_FIELDS, addresses=())),
])
def test_replace_with_null_or_empty_clears_a_multi_valued_attribute(cleared, path, expected):
    """ENTRA.md §9.2, RFC 7643 §2.5: replacing a multi-valued attribute with null, "" or [] removes every entry."""
    assert patched(ADELE_FIELDS, op("Replace", path, value=cleared)) == expected


@pytest.mark.parametrize("cleared", [None, ""])
def test_null_or_empty_value_on_a_typed_email_value_clears_that_email(cleared):
    """ENTRA.md §9.2: clearing ``emails[type eq "work"].value`` leaves no work e-mail, as Remove does."""
    start = replace(ADELE_FIELDS, emails=(Email(ADELE, "work", True), Email("adele@home.example", "home")))
    result = patched(start, op("Replace", 'emails[type eq "work"].value', value=cleared))
    assert result == replace(ADELE_FIELDS, emails=(Email("adele@home.example", "home"),))


@pytest.mark.parametrize("cleared", [None, ""])
def test_clearing_the_user_name_is_invalid_value(cleared):
    """userName is required: clearing it is 400 invalidValue naming userName, never an empty member."""
    error = refusal(ADELE_FIELDS, op("Replace", "userName", value=cleared))
    assert (error.status, error.scim_type) == (400, "invalidValue")
    assert "userName" in error.detail


@pytest.mark.parametrize("path, expected", [
    ("title", replace(ADELE_FIELDS, title=None)),
    ("nickName", ADELE_FIELDS),
    ("name.givenName", replace(ADELE_FIELDS, name=replace(ADELE_FIELDS.name, given_name=None))),
    ("name", replace(ADELE_FIELDS, name=Name())),
    (f"{ENTERPRISE}:division", with_enterprise(ADELE_FIELDS, division=None)),
    ("emails", replace(ADELE_FIELDS, emails=())),
    ("Addresses", replace(ADELE_FIELDS, addresses=())),
])
def test_remove_clears_an_attribute(path, expected):
    """RFC 7644 §3.5.2.2: remove with a path unassigns the attribute it names, and only that one."""
    assert patched(ADELE_FIELDS, op("Remove", path)) == expected


# -- typed multi-valued attributes by value path (§9.4) --------------------------------------------

def test_entras_value_path_patch_updates_the_entries_of_each_type():
    """ENTRA.md §9.4: each sub-attribute is set on the entry of its type; the other entries and parts stay."""
    result = patched(ADELE_FIELDS,
                     op("Replace", 'emails[type eq "work"].value', value=FABRIKAM),
                     op("Add", 'phoneNumbers[type eq "mobile"].value', value="+44 7700 900456"),
                     op("Replace", 'addresses[type eq "work"].locality', value="York"))
    assert result == replace(
        ADELE_FIELDS,
        emails=(Email(FABRIKAM, type="work", primary=True),),
        phone_numbers=(PhoneNumber("+44 113 496 0000", type="work"),
                       PhoneNumber("+44 7700 900456", type="mobile"),
                       PhoneNumber("+44 113 496 0999", type="fax")),
        addresses=(replace(ADELE_FIELDS.addresses[0], locality="York"),),
    )


def test_value_path_type_is_compared_ignoring_case():
    """``type eq "WORK"`` finds the work entry: types compare like other caseExact-false strings."""
    result = patched(ADELE_FIELDS, op("Replace", 'EMAILS[TYPE EQ "WORK"].VALUE', value=FABRIKAM))
    assert result == replace(ADELE_FIELDS, emails=(Email(FABRIKAM, type="work", primary=True),))


@pytest.mark.parametrize("name", ["Add", "Replace", "add", "replace"])
@pytest.mark.parametrize("path, value, expected", [
    ('emails[type eq "work"].value', ADELE, replace(BJENSEN, emails=(Email(ADELE, type="work"),))),
    ('phoneNumbers[type eq "mobile"].value', "+44 7700 900456",
     replace(BJENSEN, phone_numbers=(PhoneNumber("+44 7700 900456", type="mobile"),))),
    ('addresses[type eq "home"].locality', "York", replace(BJENSEN, addresses=(Address(locality="York", type="home"),))),
    ('emails[type eq "work"]', {"value": ADELE, "primary": True},
     replace(BJENSEN, emails=(Email(ADELE, type="work", primary=True),))),
])
def test_add_and_replace_create_the_typed_entry_when_none_exists(name, path, value, expected):
    """ENTRA.md §9.4: with no entry of that type, both Add and Replace create ``{"type": …, <sub>: value}``."""
    assert patched(BJENSEN, op(name, path, value=value)) == expected


@pytest.mark.parametrize("name", ["Add", "Replace"])
def test_a_filter_pinning_several_sub_attributes_creates_an_entry_with_all_of_them(name):
    """``emails[type eq "work" and value eq "x"].primary`` with no such entry creates it with type and value."""
    path = 'emails[type eq "work" and value eq "bjensen@contoso.example"].primary'
    assert patched(BJENSEN, op(name, path, value=True)) == replace(
        BJENSEN, emails=(Email("bjensen@contoso.example", "work", True),))


@pytest.mark.parametrize("path", ['emails[type ne "work"].value', 'emails[type eq "work" or type eq "home"].value',
                                  'emails[value pr].value'])
def test_a_filter_that_matches_nothing_and_pins_nothing_is_no_target(path):
    """RFC 7644 §3.5.2.3: with no match and no simple ``eq`` to build an entry from, the answer is noTarget."""
    error = refusal(BJENSEN, op("Replace", path, value="bjensen@contoso.example"))
    assert (error.status, error.scim_type) == (400, "noTarget")
    assert "emails" in error.detail


def test_unknown_sub_attributes_of_a_new_entry_are_dropped():
    """Sub-attributes the schema does not define are ignored, as on POST."""
    result = patched(BJENSEN, op("Add", "emails", value=[{"value": "bjensen@contoso.example", "colour": "teal"}]))
    assert result == replace(BJENSEN, emails=(Email("bjensen@contoso.example"),))


def test_creating_a_typed_entry_keeps_the_entries_of_other_types():
    """A new work e-mail joins the existing home e-mail rather than replacing it."""
    start = replace(BJENSEN, emails=(Email("babs@home.example", "home"),))
    assert patched(start, op("Replace", 'emails[type eq "work"].value', value="bjensen@contoso.example")) == replace(
        BJENSEN, emails=(Email("babs@home.example", "home"), Email("bjensen@contoso.example", "work")))


@pytest.mark.parametrize("path, expected", [
    ('emails[type eq "work"]', replace(ADELE_FIELDS, emails=())),
    ('phoneNumbers[type eq "fax"]', replace(ADELE_FIELDS, phone_numbers=ADELE_FIELDS.phone_numbers[:2])),
    ('phoneNumbers[type eq "Mobile"]', replace(ADELE_FIELDS, phone_numbers=(
        ADELE_FIELDS.phone_numbers[0], ADELE_FIELDS.phone_numbers[2]))),
    ('addresses[type eq "work"]', replace(ADELE_FIELDS, addresses=())),
    ('emails[type eq "work"].value', replace(ADELE_FIELDS, emails=())),
    ('addresses[type eq "work"].locality', replace(ADELE_FIELDS, addresses=(
        replace(ADELE_FIELDS.addresses[0], locality=None),))),
    ('emails[type eq "home"]', ADELE_FIELDS),
])
def test_remove_by_value_path_deletes_the_matching_entry(path, expected):
    """ENTRA.md §9.4: Remove ``emails[type eq "work"]`` deletes that entry; a sub-attribute path clears only it."""
    assert patched(ADELE_FIELDS, op("Remove", path)) == expected


def test_remove_with_a_value_removes_only_the_entries_it_names():
    """Remove on ``emails`` with a value list removes the matching entries and keeps the rest."""
    start = replace(BJENSEN, emails=(Email("bjensen@contoso.example", "work"), Email("babs@home.example", "home")))
    result = patched(start, op("Remove", "emails", value=[{"value": "BABS@home.example"}]))
    assert result == replace(BJENSEN, emails=(Email("bjensen@contoso.example", "work"),))


def test_replace_of_a_whole_multi_valued_attribute_replaces_every_entry():
    """RFC 7644 §3.5.2.3: replace on ``phoneNumbers`` without a filter sets exactly the values given."""
    result = patched(ADELE_FIELDS, op("Replace", "phoneNumbers", value=[{"type": "home", "value": "+44 113 496 0123"}]))
    assert result == replace(ADELE_FIELDS, phone_numbers=(PhoneNumber("+44 113 496 0123", type="home"),))


@pytest.mark.parametrize("operation", [
    op("Add", "emails", value=[{"type": "work", "value": FABRIKAM}]),
    op("Add", "emails", value={"type": "Work", "value": FABRIKAM}),
    op("add", value={"emails": [{"Type": "WORK", "Value": FABRIKAM}]}),
])
def test_add_of_a_value_whose_type_is_present_updates_that_entry(operation):
    """Adding a work e-mail when one exists updates it (other parts kept) instead of making a second work entry."""
    (email,) = patched(ADELE_FIELDS, operation).emails
    assert (email.value, email.type.lower(), email.primary) == (FABRIKAM, "work", True)


def test_add_of_an_identical_untyped_value_is_not_duplicated():
    """Adding a value that is already there leaves one copy."""
    start = replace(BJENSEN, emails=(Email("bjensen@contoso.example"),))
    assert patched(start, op("Add", "emails", value=[{"value": "bjensen@contoso.example"}])) == start


@pytest.mark.parametrize("primary", [True, "True", "true", "TRUE"])
@pytest.mark.parametrize("how", ["add", "value path"])
def test_setting_primary_on_one_entry_makes_the_others_non_primary(primary, how):
    """RFC 7643 §2.4: the entry just made primary wins; the previous primary becomes false."""
    start = replace(BJENSEN, emails=(Email("bjensen@contoso.example", "work", True), Email("babs@home.example", "home")))
    if how == "add":
        operation = op("Add", "emails", value=[{"type": "home", "value": "babs@home.example", "primary": primary}])
    else:
        operation = op("Replace", 'emails[type eq "home"].primary', value=primary)
    assert patched(start, operation) == replace(BJENSEN, emails=(
        Email("bjensen@contoso.example", "work", False), Email("babs@home.example", "home", True)))


# -- path-less value objects (§9.5) -----------------------------------------------------------------

@pytest.mark.parametrize("name", ["replace", "Replace", "add", "Add"])
def test_entras_path_less_value_applies_plain_dotted_and_urn_keys(name):
    """ENTRA.md §9.5: plain, dotted and URN-qualified keys each set their attribute; the rest is kept."""
    value = {
        "displayName": "Adele Vance",
        "name.givenName": "Adele", "name.familyName": "Vance-Price",
        f"{ENTERPRISE}:employeeNumber": "000418",
        f"{ENTERPRISE}:department": "Marketing",
        "active": False,
    }
    assert patched(ADELE_FIELDS, op(name, value=value)) == replace(
        ADELE_FIELDS, active=False,
        name=Name(formatted="Adele Vance", given_name="Adele", family_name="Vance-Price"),
        enterprise=replace(ADELE_FIELDS.enterprise, employee_number="000418", department="Marketing"))


def test_path_less_keys_are_case_insensitive_and_may_carry_the_core_urn():
    """Keys of a path-less value are attribute paths: any case, optionally qualified by the core URN."""
    value = {"DISPLAYNAME": "Adele V.", f"{CORE}:nickName": "Addy", "Name.GivenName": "Adèle",
             f"{ENTERPRISE.upper()}:DIVISION": "South"}
    assert patched(ADELE_FIELDS, op("replace", value=value)) == replace(
        ADELE_FIELDS, display_name="Adele V.", nick_name="Addy",
        name=replace(ADELE_FIELDS.name, given_name="Adèle"), enterprise=replace(ADELE_FIELDS.enterprise, division="South"))


@pytest.mark.parametrize("operation", [
    op("replace", "name", value={"familyName": "Vance-Price"}),
    op("Add", "name", value={"FamilyName": "Vance-Price"}),
    op("replace", value={"name": {"familyName": "Vance-Price"}}),
])
def test_complex_value_sets_only_the_sub_attributes_it_names(operation):
    """RFC 7644 §3.5.2.3: a complex value merges; formatted and givenName keep their values."""
    assert patched(ADELE_FIELDS, operation) == replace(
        ADELE_FIELDS, name=Name(formatted="Adele Vance", given_name="Adele", family_name="Vance-Price"))


def test_null_sub_attribute_in_a_complex_value_clears_only_that_one():
    """Inside a merged complex value, null unassigns that sub-attribute and leaves its siblings."""
    assert patched(ADELE_FIELDS, op("replace", "name", value={"formatted": None})) == replace(
        ADELE_FIELDS, name=Name(given_name="Adele", family_name="Vance"))


@pytest.mark.parametrize("operation", [
    op("replace", value={ENTERPRISE: {"department": "Marketing", "manager": "11111111-2222-4333-8444-555555555555"}}),
    op("Add", ENTERPRISE, value={"Department": "Marketing", "Manager": {"value": "11111111-2222-4333-8444-555555555555"}}),
    op("replace", value={ENTERPRISE.upper(): {"DEPARTMENT": "Marketing",
                                              "manager": "11111111-2222-4333-8444-555555555555"}}),
])
def test_whole_enterprise_urn_as_a_key_merges_its_object(operation):
    """ENTRA.md §9.5: the enterprise URN with an object sets the attributes it names and keeps the others."""
    assert patched(ADELE_FIELDS, operation) == with_enterprise(
        ADELE_FIELDS, department="Marketing", manager_id="11111111-2222-4333-8444-555555555555")


def test_remove_of_the_enterprise_urn_clears_the_whole_extension():
    """Remove with the extension's URN as path unassigns every enterprise attribute."""
    assert patched(ADELE_FIELDS, op("Remove", ENTERPRISE)) == replace(ADELE_FIELDS, enterprise=EnterpriseInfo())


# -- manager (§9.6) -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["Add", "Replace", "add", "replace"])
@pytest.mark.parametrize("value", [MANAGER_ID, {"value": MANAGER_ID}, {"Value": MANAGER_ID},
                                   {"value": MANAGER_ID, "$ref": f"https://h.example/scim/v2/Users/{MANAGER_ID}"}])
def test_manager_is_set_from_a_plain_id_or_an_object(name, value):
    """ENTRA.md §9.6: Add or Replace of the manager with a string id or ``{"value": id}`` sets the manager id."""
    assert patched(BJENSEN, op(name, MANAGER, value=value)) == with_enterprise(BJENSEN, manager_id=MANAGER_ID)


def test_manager_in_a_path_less_value_is_set():
    """A URN-qualified manager key in a path-less value sets the manager too."""
    assert patched(BJENSEN, op("Add", value={MANAGER: MANAGER_ID})) == with_enterprise(BJENSEN, manager_id=MANAGER_ID)


@pytest.mark.parametrize("operation", [
    op("Remove", MANAGER),
    op("Remove", MANAGER, value=MANAGER_ID),
    op("Remove", MANAGER, value={"value": MANAGER_ID}),
    op("Replace", MANAGER, value=""),
    op("Replace", MANAGER, value=None),
    op("replace", value={MANAGER: None}),
])
def test_manager_is_cleared_by_remove_or_an_empty_replace(operation):
    """ENTRA.md §9.6: Remove (with or without a value) and Replace with "" or null all clear the manager only."""
    assert patched(ADELE_FIELDS, operation) == with_enterprise(ADELE_FIELDS, manager_id=None)


# -- several operations, all or nothing (§9.2, §9.7) -----------------------------------------------------

def test_several_operations_all_apply_in_order():
    """ENTRA.md §9.7: userName, work e-mail, familyName, department and active change in one PATCH."""
    result = patched(ADELE_FIELDS,
                     op("Replace", "userName", value=FABRIKAM),
                     op("Replace", 'emails[type eq "work"].value', value=FABRIKAM),
                     op("Replace", "name.familyName", value="Vance-Price"),
                     op("Replace", f"{ENTERPRISE}:department", value="Marketing"),
                     op("Replace", "active", value="False"))
    assert result == replace(
        ADELE_FIELDS, user_name=FABRIKAM, active=False, emails=(Email(FABRIKAM, "work", True),),
        name=replace(ADELE_FIELDS.name, family_name="Vance-Price"),
        enterprise=replace(ADELE_FIELDS.enterprise, department="Marketing"))


def test_later_operations_see_the_result_of_earlier_ones():
    """Operations apply in order: a remove after an add of the same attribute leaves it unassigned."""
    assert patched(ADELE_FIELDS, op("Add", "nickName", value="Addy"), op("Remove", "nickName"),
                   op("Add", "title", value="Store Director")) == replace(ADELE_FIELDS, title="Store Director")


@pytest.mark.parametrize("third, scim_type", [
    (op("Replace", "active", value="maybe"), "invalidValue"),
    (op("Replace", "userName", value=None), "invalidValue"),
    (op("Remove"), "noTarget"),
    (op("Replace", "favouriteColour", value="teal"), "invalidPath"),
    (op("Replace", "id", value="someone-else"), "mutability"),
])
def test_a_failing_third_operation_fails_the_whole_patch_and_is_named(third, scim_type):
    """ENTRA.md §9.2: all or nothing; the error names "Operation 3" and the input fields are untouched."""
    fields = replace(ADELE_FIELDS)
    with pytest.raises(ScimError) as caught:
        patched(fields, op("Replace", "displayName", value="Adele V."), op("Add", "nickName", value="Addy"), third)
    assert (caught.value.status, caught.value.scim_type) == (400, scim_type)
    assert caught.value.detail.startswith("Operation 3")
    assert fields == ADELE_FIELDS


# -- refusals ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("operation, scim_type, named", [
    (op("Remove"), "noTarget", "remove"),
    (op("remove", value={"nickName": "Addy"}), "noTarget", "remove"),
    (op("Replace", "favouriteColour", value="teal"), "invalidPath", "favouriteColour"),
    (op("Replace", "name.nickname", value="Addy"), "invalidPath", "name.nickname"),
    (op("Replace", "emails.colour", value="teal"), "invalidPath", "emails.colour"),
    (op("Replace", f"{ENTERPRISE}:badge", value="7"), "invalidPath", "badge"),
    (op("Replace", 'emails[type eq "work"', value=FABRIKAM), "invalidPath", "emails"),
    (op("Replace", 'emails[type eq "work"]x', value=FABRIKAM), "invalidPath", "emails"),
    (op("Replace", 'emails[type eq "work"].', value=FABRIKAM), "invalidPath", "emails"),
    (op("Replace", 'emails[type eq ].value', value=FABRIKAM), "invalidPath", "emails"),
    (op("Replace", 'emails[type eq "work"].colour', value="teal"), "invalidPath", "colour"),
    (op("Replace", 'displayName[type eq "work"]', value="Addy"), "invalidPath", "displayName"),
    (op("Replace", 'emails.value[type eq "work"]', value=FABRIKAM), "invalidPath", "emails"),
    (op("Replace", "name.givenName.first", value="Adele"), "invalidPath", "name.givenName.first"),
    (op("Replace", "name.", value="Adele"), "invalidPath", "name."),
    (op("Replace", "id", value="someone-else"), "mutability", "id"),
    (op("Replace", "ID", value="someone-else"), "mutability", "ID"),
    (op("Remove", "meta"), "mutability", "meta"),
    (op("Replace", f"{CORE}:id", value="someone-else"), "mutability", "id"),
    (op("Add", "nickName"), "invalidValue", "add"),
    (op("Replace", "nickName"), "invalidValue", "replace"),
    (op("Replace", "active", value="maybe"), "invalidValue", "active"),
    (op("Replace", "active", value=3), "invalidValue", "active"),
    (op("Replace", "displayName", value=3), "invalidValue", "displayName"),
    (op("Replace", "name", value="Adele Vance"), "invalidValue", "name"),
    (op("Add", "emails", value="x"), "invalidValue", "emails"),
    (op("Add", 'emails[type eq "home"]', value="adele@home.example"), "invalidValue", "emails"),
    (op("replace", value="Adele Vance"), "invalidValue", "value"),
    (op("Replace", ENTERPRISE, value="Retail"), "invalidValue", ENTERPRISE),
    (op("Replace", f"{ENTERPRISE}:department", value=["Retail"]), "invalidValue", "department"),
])
def test_refusals_carry_the_right_scim_type_and_name_the_problem(operation, scim_type, named):
    """ENTRA.md §4: remove without path is noTarget, bad or unknown paths invalidPath, id mutability, bad values
    invalidValue; the detail names the attribute, path or operation."""
    error = refusal(ADELE_FIELDS, operation)
    assert (error.status, error.scim_type) == (400, scim_type)
    assert named in error.detail
    assert error.detail.startswith("Operation 1")


@pytest.mark.parametrize("operation", [
    op("Add", "roles", value=[{"value": "Retail"}]),
    op("Replace", "entitlements", value=[{"value": "helpdesk"}]),
    op("Remove", "x509Certificates"),
    op("Add", "password", value="t1meMa$heen"),
    op("Add", 'roles[primary eq true].value', value="Retail"),
    op("Replace", "urn:example:params:scim:schemas:extension:acme:2.0:User:badge", value="7"),
    op("Remove", "urn:example:params:scim:schemas:extension:acme:2.0:User:badge"),
    op("replace", value={"roles": [], "entitlements": [{"value": "helpdesk"}],
                         "urn:example:params:scim:schemas:extension:acme:2.0:User:badge": 7}),
])
def test_not_stored_attributes_and_unknown_extensions_are_accepted_without_change(operation):
    """ENTRA.md §7b, §13: roles, entitlements and unknown extensions are accepted and change nothing."""
    assert patched(ADELE_FIELDS, operation) == ADELE_FIELDS


@pytest.mark.parametrize("operation", [
    op("Replace", "displayName", value="Adele Vance"),
    op("Add", "emails", value=[{"type": "work", "value": ADELE}]),
    op("Replace", 'emails[type eq "work"].value', value=ADELE),
    op("Replace", "active", value="True"),
    op("Remove", "nickName"),
    op("Remove", 'emails[type eq "home"]'),
    op("Replace", 'emails[type eq "home"].value', value=None),
    op("replace", value={"name": {"givenName": "Adele"}, MANAGER: MANAGER_ID}),
])
def test_a_patch_that_changes_nothing_returns_equal_fields(operation):
    """A no-op patch yields fields equal to the input, so the member's version does not move."""
    assert patched(ADELE_FIELDS, operation) == ADELE_FIELDS


def test_the_core_schema_urn_as_a_key_holds_more_paths():
    """A path-less value may nest core attributes under the core schema's URN (RFC 7644 §3.5.2)."""
    result = patched(ADELE_FIELDS, op("replace", value={CORE: {"displayName": "Adele V.", "name.givenName": "Ada"}}))
    assert (result.display_name, result.name.given_name) == ("Adele V.", "Ada")


def test_an_empty_object_on_a_value_filter_that_matches_nothing_changes_nothing():
    """Replacing a missing typed entry with an empty object creates nothing."""
    assert patched(ADELE_FIELDS, op("Replace", 'emails[type eq "home"]', value={})) == ADELE_FIELDS


# -- re-validating only what an operation changed ---------------------------------------------------------

ENTERPRISE_URN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
ONE_OPERATION_EACH = [
    {"op": "Replace", "path": "active", "value": "False"},
    {"op": "Replace", "path": "active", "value": "maybe"},
    {"op": "Replace", "path": "displayName", "value": 42},
    {"op": "Remove", "path": "userName"},
    {"op": "Replace", "path": "userName", "value": ""},
    {"op": "Replace", "path": "name.givenName", "value": "Adèle"},
    {"op": "Replace", "path": "name", "value": {"familyName": ["not", "text"]}},
    {"op": "Add", "path": 'emails[type eq "work"].value', "value": "adele@fabrikam.example"},
    {"op": "Add", "path": "emails", "value": [{"value": "a@b.example", "primary": True}]},
    {"op": "Add", "path": "emails", "value": [{"type": "home", "primary": "yes"}]},
    {"op": "Remove", "path": "addresses"},
    {"op": "Add", "path": "phoneNumbers", "value": [{"type": "fax", "value": "+1 555 0100"}]},
    {"op": "Replace", "path": f"{ENTERPRISE_URN}:manager", "value": "26118915-6090-4610-87e4-49d8ca9f808d"},
    {"op": "Replace", "path": f"{ENTERPRISE_URN}:department", "value": {"nested": True}},
    {"op": "Remove", "path": ENTERPRISE_URN},
    {"op": "Replace", "value": {"title": "Director", "nickName": None, f"{ENTERPRISE_URN}:division": "South"}},
    {"op": "Add", "value": {"preferredLanguage": 7}},
    {"op": "Replace", "path": "locale", "value": "en-GB"},
    {"op": "Replace", "path": "displayName", "value": "Adele Vance"},  # what it already is
]


@pytest.mark.parametrize("operation", ONE_OPERATION_EACH, ids=lambda o: f"{o['op']} {o.get('path', '(no path)')}")
def test_revalidating_what_changed_decides_as_validating_everything(operation):
    """``revalidate`` (only the attributes an operation changed) accepts and refuses exactly what
    ``validate`` of the whole result does, and yields the same member."""
    (parsed,) = validate_patch({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                                "Operations": [operation]})
    target = parse_target(parsed.path) if parsed.path is not None else None
    before, after = json_from_fields(ADELE_FIELDS), json_from_fields(ADELE_FIELDS)
    _apply_operation(after, parsed, target)  # every operation here applies; validation decides
    if not after.get(ENTERPRISE_USER):
        after.pop(ENTERPRISE_USER, None)

    def outcome(validate):
        try:
            return fields_from_json(validate(), current=ADELE_FIELDS)
        except ScimError as error:
            return (error.status, error.scim_type, error.detail)

    whole = outcome(lambda: validate_whole(after))
    assert outcome(lambda: revalidate(before, after)) == whole


ACTIVE_OPERATIONS = [
    {"op": "Replace", "path": "active", "value": "False"},
    {"op": "Replace", "path": "active", "value": "TRUE"},
    {"op": "replace", "path": "Active", "value": False},
    {"op": "Add", "path": "active", "value": True},
    {"op": "Replace", "path": "active", "value": "maybe"},
    {"op": "Replace", "path": "active", "value": 0},
    {"op": "Replace", "path": "active", "value": None},
    {"op": "Replace", "path": "active"},
    {"op": "Remove", "path": "active"},
    {"op": "Replace", "path": "urn:ietf:params:scim:schemas:core:2.0:User:active", "value": "false"},
    {"op": "Replace", "value": {"active": "False"}},
]


@pytest.mark.parametrize("operation", ACTIVE_OPERATIONS, ids=lambda o: f"{o['op']} {o.get('path')} {o.get('value')!r}")
@pytest.mark.parametrize("active", [True, False], ids=["from active", "from inactive"])
def test_setting_active_directly_decides_as_the_user_json_does(operation, active, monkeypatch):
    """An operation that only sets ``active`` skips the trip through the User JSON; the result, or the
    refusal, is exactly what that trip gives (every other operation takes it)."""
    fields = replace(ADELE_FIELDS, active=active)
    (parsed,) = validate_patch({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                                "Operations": [operation]})

    def outcome():
        try:
            return compile_patch([parsed])(fields)
        except ScimError as error:
            return (error.status, error.scim_type, error.detail)

    direct = outcome()
    monkeypatch.setattr(patch_module, "_direct_field", lambda operation, target: None)
    assert direct == outcome()


def test_entras_deprovision_and_restore_take_the_direct_way():
    """Entra's forms (ENTRA.md §9.3: the strings "False"/"True") are the ones the shortcut serves."""
    for value, expected in (("False", False), ("True", True)):
        (parsed,) = validate_patch({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                                    "Operations": [{"op": "Replace", "path": "active", "value": value}]})
        assert patch_module._direct_field(parsed, parse_target(parsed.path)) == ("active", expected)
