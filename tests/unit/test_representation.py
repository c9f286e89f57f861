"""Members as SCIM Users (RFC 7643 §4, ENTRA.md §7), projections (RFC 7644 §3.9, ENTRA.md §9.1), the
ListResponse (ENTRA.md §5) and the discovery documents (ENTRA.md §3, RFC 7643 §5–§7)."""
from __future__ import annotations

import copy
import re
from datetime import datetime, timedelta, timezone

import pytest

from wiggledesk_scim.domain.model import Address, Email, EnterpriseInfo, Member, MemberFields, Name, PhoneNumber
from wiggledesk_scim.domain.scim.representation import (list_response, project, schema_documents,
                                                        service_provider_config, user_resource,
                                                        resource_type_document)

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
BASE = "https://h.example/scim/v2"
USERS_BASE = "https://h.example/scim/v2/Users"
BJENSEN_ID = "2819c223-7f76-453a-919d-413861904646"
MANAGER_ID = "8c5a2f0e-3d1b-4f6a-9e2c-71b0d4a5c613"
CREATED = datetime(2026, 11, 23, 9, 14, 7, tzinfo=timezone.utc)
MODIFIED = datetime(2026, 11, 24, 17, 30, 0, tzinfo=timezone.utc)

EVERYTHING = MemberFields(
    user_name="bjensen", external_id="bj-1", active=True, display_name="Babs Jensen", nick_name="Babs",
    profile_url="https://profiles.example/bjensen", title="Tour Guide", user_type="Employee",
    preferred_language="en-GB", locale="en-GB", timezone="Europe/London",
    name=Name("Ms Barbara J Jensen III", "Jensen", "Barbara", "Jane", "Ms", "III"),
    emails=(Email("bjensen@contoso.example", "work", True, "Babs"), Email("babs@home.example", "home", False)),
    phone_numbers=(PhoneNumber("+44 7700 900123", "mobile"),),
    addresses=(Address("18 Harbour Road, Leeds", "18 Harbour Road", "Leeds", "West Yorkshire", "LS1 4AB", "GB",
                       "work", True),),
    enterprise=EnterpriseInfo("000417", "CC-210", "Contoso", "North", "Retail", MANAGER_ID),
)


def member(fields: MemberFields = EVERYTHING, **changes) -> Member:
    values = dict(id=BJENSEN_ID, organisation_id="org-contoso", fields=fields, created=CREATED,
                  last_modified=MODIFIED, version=3)
    values.update(changes)
    return Member(**values)


def walk(value, path="$"):
    """Every (path, value) pair in a JSON document, containers included."""
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk(item, f"{path}[{index}]")


def nulls(document) -> list[str]:
    return [path for path, value in walk(document) if value is None]


def empties(document) -> list[str]:
    return [path for path, value in walk(document) if value in ({}, [], "") and path != "$.Resources"]


# -- user_resource ----------------------------------------------------------------------------------

def test_user_resource_renders_every_field_exactly():
    """RFC 7643 §4: a member with every field becomes exactly this User, camelCase, meta last."""
    resource = user_resource(member(), BASE)
    assert resource == {
        "schemas": [CORE, ENTERPRISE],
        "id": BJENSEN_ID,
        "externalId": "bj-1", "userName": "bjensen",
        "name": {"formatted": "Ms Barbara J Jensen III", "familyName": "Jensen", "givenName": "Barbara",
                 "middleName": "Jane", "honorificPrefix": "Ms", "honorificSuffix": "III"},
        "displayName": "Babs Jensen", "nickName": "Babs", "profileUrl": "https://profiles.example/bjensen",
        "title": "Tour Guide", "userType": "Employee", "preferredLanguage": "en-GB", "locale": "en-GB",
        "timezone": "Europe/London", "active": True,
        "emails": [{"value": "bjensen@contoso.example", "display": "Babs", "type": "work", "primary": True},
                   {"value": "babs@home.example", "type": "home", "primary": False}],
        "phoneNumbers": [{"value": "+44 7700 900123", "type": "mobile"}],
        "addresses": [{"formatted": "18 Harbour Road, Leeds", "streetAddress": "18 Harbour Road",
                       "locality": "Leeds", "region": "West Yorkshire", "postalCode": "LS1 4AB",
                       "country": "GB", "type": "work", "primary": True}],
        ENTERPRISE: {"employeeNumber": "000417", "costCenter": "CC-210", "organization": "Contoso",
                     "division": "North", "department": "Retail",
                     "manager": {"value": MANAGER_ID, "$ref": f"{BASE}/Users/{MANAGER_ID}"}},
        "meta": {"resourceType": "User", "created": "2026-11-23T09:14:07Z",
                 "lastModified": "2026-11-24T17:30:00Z", "location": f"{BASE}/Users/{BJENSEN_ID}",
                 "version": 'W/"3"'},
    }
    assert list(resource)[:2] == ["schemas", "id"] and list(resource)[-1] == "meta"


def test_minimal_member_has_exactly_the_always_present_attributes():
    """ENTRA.md §7: id, schemas, userName, active and meta are always there; nothing unassigned is."""
    assert user_resource(member(MemberFields(user_name="bjensen"), version=1), BASE) == {
        "schemas": [CORE], "id": BJENSEN_ID, "userName": "bjensen", "active": True,
        "meta": {"resourceType": "User", "created": "2026-11-23T09:14:07Z",
                 "lastModified": "2026-11-24T17:30:00Z", "location": f"{BASE}/Users/{BJENSEN_ID}",
                 "version": 'W/"1"'},
    }


@pytest.mark.parametrize("fields", [EVERYTHING, MemberFields(user_name="bjensen", active=False),
                                    MemberFields(user_name="bjensen", name=Name(given_name="Barbara"),
                                                 emails=(Email("bjensen@contoso.example"),))],
                         ids=["everything", "inactive", "sparse"])
def test_user_resource_contains_no_null_and_no_empty_value_anywhere(fields):
    """ENTRA.md §7: unassigned attributes are left out, never sent as null or as an empty object or list."""
    resource = user_resource(member(fields), BASE)
    assert nulls(resource) == []
    assert empties(resource) == []


def test_active_is_present_even_when_false():
    """ENTRA.md §10: a deactivated member carries ``"active": false``, a JSON boolean."""
    resource = user_resource(member(MemberFields(user_name="bjensen", active=False)), BASE)
    assert resource["active"] is False


@pytest.mark.parametrize("base", [BASE, USERS_BASE])
def test_locations_are_built_on_the_base_the_request_used(base):
    """ENTRA.md §1: meta.location and the manager's $ref live under whichever tree the request came in on."""
    resource = user_resource(member(), base)
    assert resource["meta"]["location"] == f"{base}/Users/{BJENSEN_ID}"
    assert resource[ENTERPRISE]["manager"] == {"value": MANAGER_ID, "$ref": f"{base}/Users/{MANAGER_ID}"}


def test_users_base_gives_the_doubled_users_path():
    """ENTRA.md §1: a request under /scim/v2/Users gets …/scim/v2/Users/Users/{id}."""
    assert user_resource(member(), USERS_BASE)["meta"]["location"] == (
        f"https://h.example/scim/v2/Users/Users/{BJENSEN_ID}")


@pytest.mark.parametrize("enterprise, schemas", [
    (EnterpriseInfo(), [CORE]),
    (EnterpriseInfo(department="Retail"), [CORE, ENTERPRISE]),
    (EnterpriseInfo(manager_id=MANAGER_ID), [CORE, ENTERPRISE]),
])
def test_enterprise_urn_is_in_schemas_only_with_enterprise_data(enterprise, schemas):
    """ENTRA.md §7: the enterprise URN is listed, and its key present, only when the member has enterprise data."""
    resource = user_resource(member(MemberFields(user_name="bjensen", enterprise=enterprise)), BASE)
    assert resource["schemas"] == schemas
    assert (ENTERPRISE in resource) is (ENTERPRISE in schemas)


def test_manager_is_rendered_as_value_and_ref():
    """ENTRA.md §9.6: the manager is ``{"value": id, "$ref": base/Users/id}``, or Entra resends it every cycle."""
    resource = user_resource(member(MemberFields(user_name="bjensen",
                                                 enterprise=EnterpriseInfo(manager_id=MANAGER_ID))), BASE)
    assert resource[ENTERPRISE] == {"manager": {"value": MANAGER_ID, "$ref": f"{BASE}/Users/{MANAGER_ID}"}}


@pytest.mark.parametrize("moment, text", [
    (datetime(2026, 11, 23, 9, 14, 7, 987654, tzinfo=timezone.utc), "2026-11-23T09:14:07Z"),
    (datetime(2026, 11, 23, 11, 14, 7, tzinfo=timezone(timedelta(hours=2))), "2026-11-23T09:14:07Z"),
    (datetime(2026, 11, 23, 1, 0, 0, tzinfo=timezone(timedelta(hours=-9))), "2026-11-23T10:00:00Z"),
])
def test_timestamps_are_rfc3339_utc_with_z(moment, text):
    """ENTRA.md §7: created and lastModified are RFC 3339 in UTC, written with 'Z'."""
    meta = user_resource(member(created=moment, last_modified=moment), BASE)["meta"]
    assert meta["created"] == meta["lastModified"] == text
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta["created"])


@pytest.mark.parametrize("version", [1, 2, 41])
def test_version_is_a_weak_etag_of_the_member_version(version):
    """RFC 7644 §3.14: meta.version is ``W/"n"`` and moves with the member's version."""
    assert user_resource(member(version=version), BASE)["meta"]["version"] == f'W/"{version}"'


# -- project: attributes / excludedAttributes (RFC 7644 §3.9) -----------------------------------------

FULL = user_resource(member(), BASE)


def test_attributes_keeps_only_those_plus_id_schemas_and_meta():
    """ENTRA.md §9.1: ``attributes=userName,emails`` returns those plus id, schemas and meta, in resource order."""
    projected = project(FULL, attributes="userName,emails")
    assert projected == {"schemas": [CORE], "id": BJENSEN_ID, "userName": "bjensen",
                         "emails": FULL["emails"], "meta": FULL["meta"]}
    assert list(projected) == ["schemas", "id", "userName", "emails", "meta"]


@pytest.mark.parametrize("attributes, key, expected", [
    ("name.givenName", "name", {"givenName": "Barbara"}),
    ("name.givenName,name.familyName", "name", {"familyName": "Jensen", "givenName": "Barbara"}),
    ("emails.value", "emails", [{"value": "bjensen@contoso.example"}, {"value": "babs@home.example"}]),
    ("emails.value,emails", "emails", FULL["emails"]),
    ("emails,emails.value", "emails", FULL["emails"]),
    ("addresses.locality", "addresses", [{"locality": "Leeds"}]),
])
def test_attributes_may_select_sub_attributes(attributes, key, expected):
    """RFC 7644 §3.9: ``name.givenName`` keeps only that sub-attribute; the whole attribute wins over a part."""
    projected = project(FULL, attributes=attributes)
    assert projected[key] == expected
    assert set(projected) == {"schemas", "id", "meta", key}


@pytest.mark.parametrize("attributes, expected", [
    (f"{ENTERPRISE}:department", {"department": "Retail"}),
    (f"{ENTERPRISE}:manager", {"manager": FULL[ENTERPRISE]["manager"]}),
    (f"{ENTERPRISE.upper()}:EMPLOYEENUMBER", {"employeeNumber": "000417"}),
    (ENTERPRISE, FULL[ENTERPRISE]),
    (ENTERPRISE.lower(), FULL[ENTERPRISE]),
])
def test_attributes_select_enterprise_parts_by_urn_prefix_or_whole_urn(attributes, expected):
    """Enterprise attributes are named ``urn:…:enterprise:2.0:User:name`` or as the whole URN."""
    projected = project(FULL, attributes=attributes)
    assert projected == {"schemas": [CORE, ENTERPRISE], "id": BJENSEN_ID, ENTERPRISE: expected,
                         "meta": FULL["meta"]}


@pytest.mark.parametrize("attributes", ["USERNAME,Emails", "username , EMAILS", f"{CORE}:userName,emails",
                                        f"{CORE.upper()}:UserName,emails"])
def test_attribute_names_are_case_insensitive_and_may_carry_the_core_urn(attributes):
    """RFC 7643 §2.1: projection names in any case or URN-qualified select the camelCase keys."""
    assert project(FULL, attributes=attributes) == project(FULL, attributes="userName,emails")


def test_attributes_sub_attribute_names_are_case_insensitive():
    """``NAME.GIVENNAME`` and ``Emails.Value`` select the same parts as their camelCase spelling."""
    assert project(FULL, attributes="NAME.GIVENNAME,Emails.Value") == project(
        FULL, attributes="name.givenName,emails.value")


@pytest.mark.parametrize("excluded, removed", [
    ("emails", ["emails"]),
    ("emails,name,phoneNumbers", ["emails", "name", "phoneNumbers"]),
    ("EMAILS, Title", ["emails", "title"]),
    ("active", ["active"]),
])
def test_excluded_attributes_removes_the_named_ones(excluded, removed):
    """RFC 7644 §3.9: ``excludedAttributes`` drops the named attributes and keeps everything else."""
    assert project(FULL, excluded=excluded) == {k: v for k, v in FULL.items() if k not in removed}


@pytest.mark.parametrize("excluded, key, expected", [
    ("name.givenName", "name", {k: v for k, v in FULL["name"].items() if k != "givenName"}),
    ("emails.display,emails.primary", "emails",
     [{"value": "bjensen@contoso.example", "type": "work"}, {"value": "babs@home.example", "type": "home"}]),
    (f"{ENTERPRISE}:manager", ENTERPRISE, {k: v for k, v in FULL[ENTERPRISE].items() if k != "manager"}),
])
def test_excluded_attributes_may_remove_sub_attributes(excluded, key, expected):
    """Excluding ``name.givenName`` keeps the rest of name."""
    assert project(FULL, excluded=excluded)[key] == expected


def test_excluding_every_part_of_an_attribute_removes_the_attribute():
    """Excluding all sub-attributes leaves no empty object or list behind."""
    projected = project(FULL, excluded="phoneNumbers.value,phoneNumbers.type")
    assert "phoneNumbers" not in projected
    assert empties(projected) == []


def test_excluding_all_enterprise_data_drops_its_urn_from_schemas():
    """Without enterprise attributes left, the response no longer lists the extension."""
    projected = project(FULL, excluded=ENTERPRISE)
    assert ENTERPRISE not in projected
    assert projected["schemas"] == [CORE]


@pytest.mark.parametrize("excluded", ["id", "schemas", "meta", "ID,Schemas,META", "meta.version,meta.location"])
def test_id_schemas_and_meta_can_never_be_excluded(excluded):
    """RFC 7643 §7 ``returned: always``: id, schemas and meta survive any excludedAttributes."""
    assert project(FULL, excluded=excluded) == FULL


@pytest.mark.parametrize("names", ["members", "members,displayName.x", "groups", "name..x", ".",
                                   "urn:example:params:scim:schemas:extension:acme:2.0:User:badge"])
def test_names_a_user_does_not_have_are_ignored(names):
    """ENTRA.md §5: ``excludedAttributes=members`` and other unknown names are ignored, never an error."""
    assert project(FULL, excluded=names) == FULL
    assert project(FULL, attributes=f"userName,{names}") == project(FULL, attributes="userName")


@pytest.mark.parametrize("attributes, excluded", [(None, None), ("", ""), (" , ", None), (None, ",")])
def test_no_names_means_the_whole_resource(attributes, excluded):
    """Absent or empty parameters leave the default representation untouched."""
    assert project(FULL, attributes=attributes, excluded=excluded) == FULL


def test_project_does_not_change_the_resource_it_is_given():
    """Projection builds a new document; the member's full representation is not edited."""
    resource = user_resource(member(), BASE)
    before = copy.deepcopy(resource)
    project(resource, attributes="name.givenName,emails.value")
    project(resource, excluded=f"name.givenName,emails,{ENTERPRISE}:manager")
    assert resource == before


# -- list_response --------------------------------------------------------------------------------------

def test_empty_list_response_is_exactly_entras_test_connection_answer():
    """ENTRA.md §5: the empty ListResponse, with these keys in this order."""
    response = list_response([], 0, 1)
    assert response == {"schemas": [LIST_RESPONSE], "totalResults": 0, "Resources": [], "startIndex": 1,
                        "itemsPerPage": 0}
    assert list(response) == ["schemas", "totalResults", "Resources", "startIndex", "itemsPerPage"]


def test_list_response_counts_the_page_and_the_total_separately():
    """RFC 7644 §3.4.2.4: itemsPerPage is this page's size; totalResults counts every match."""
    resources = [FULL, user_resource(member(MemberFields(user_name="adele.vance@contoso.example"),
                                            id=MANAGER_ID), BASE)]
    assert list_response(resources, 7, 3) == {"schemas": [LIST_RESPONSE], "totalResults": 7,
                                              "Resources": resources, "startIndex": 3, "itemsPerPage": 2}


def test_count_zero_page_carries_only_the_total():
    """RFC 7644 §3.4.2.4: count=0 gives totalResults and an empty Resources list."""
    assert list_response([], 5, 1) == {"schemas": [LIST_RESPONSE], "totalResults": 5, "Resources": [],
                                       "startIndex": 1, "itemsPerPage": 0}


# -- discovery (ENTRA.md §3) ------------------------------------------------------------------------------

def test_service_provider_config_is_exactly_what_entra_md_announces():
    """ENTRA.md §3: the SPC announces patch, filter (maxResults), etag; sort (once built); no bulk or changePassword."""
    assert service_provider_config(BASE, 200) == {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://h.example/help/scim",
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": 200},
        "changePassword": {"supported": False},
        "sort": {"supported": True},
        "etag": {"supported": True},
        "authenticationSchemes": [
            {"type": "oauth2", "name": "OAuth 2.0 client credentials",
             "description": "Access tokens from https://h.example/oauth2/token (client secret or Entra "
                            "workload identity)",
             "specUri": "https://www.rfc-editor.org/rfc/rfc6749", "primary": True},
            {"type": "oauthbearertoken", "name": "WiggleDesk API token",
             "description": "Bearer token created by a WiggleDesk admin", "primary": False}],
        "meta": {"resourceType": "ServiceProviderConfig", "location": f"{BASE}/ServiceProviderConfig"},
    }


@pytest.mark.parametrize("base, documentation", [
    (USERS_BASE, "https://h.example/help/scim"),
    ("http://localhost:6543/scim/v2", "http://localhost:6543/help/scim"),
])
def test_service_provider_config_follows_the_base_it_was_asked_on(base, documentation):
    """ENTRA.md §1: the SPC's location is under the request's base; the help page is on the same origin."""
    document = service_provider_config(base, 200)
    assert document["documentationUri"] == documentation
    assert document["meta"]["location"] == f"{base}/ServiceProviderConfig"


def test_service_provider_config_announces_the_configured_max_results():
    """filter.maxResults is the page cap the service enforces, whatever it is configured to."""
    assert service_provider_config(BASE, 50)["filter"] == {"supported": True, "maxResults": 50}


@pytest.mark.parametrize("base", [BASE, USERS_BASE])
def test_user_resource_type_is_the_one_entra_md_describes(base):
    """ENTRA.md §3: one resource type User at /Users with the core schema and the optional enterprise extension."""
    document = resource_type_document(base)
    assert document["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"]
    assert (document["id"], document["name"], document["endpoint"], document["schema"]) == (
        "User", "User", "/Users", CORE)
    assert document["schemaExtensions"] == [{"schema": ENTERPRISE, "required": False}]
    assert document["meta"] == {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/User"}
    assert nulls(document) == []


SCHEMAS = schema_documents(BASE)
CHARACTERISTICS = ("type", "multiValued", "required", "caseExact", "mutability", "returned", "uniqueness")


def attributes_of(document: dict):
    """Every attribute definition of a schema document, sub-attributes included, with its dotted name."""
    for attribute in document["attributes"]:
        yield attribute["name"], attribute
        for sub in attribute.get("subAttributes", ()):
            yield f'{attribute["name"]}.{sub["name"]}', sub


def test_schemas_are_the_core_user_and_the_enterprise_extension():
    """ENTRA.md §3: /Schemas lists exactly the core User schema and the enterprise User extension."""
    assert [document["id"] for document in SCHEMAS] == [CORE, ENTERPRISE]
    for document in SCHEMAS:
        assert document["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:Schema"]
        assert document["meta"] == {"resourceType": "Schema", "location": f'{BASE}/Schemas/{document["id"]}'}


@pytest.mark.parametrize("document", SCHEMAS, ids=["core", "enterprise"])
def test_every_attribute_states_every_characteristic_in_camel_case(document):
    """RFC 7643 §7: each attribute and sub-attribute gives type, multiValued, required, caseExact, mutability,
    returned and uniqueness, with the RFC's camelCase values."""
    for name, attribute in attributes_of(document):
        assert all(key in attribute for key in CHARACTERISTICS), name
        assert attribute["type"] in {"string", "boolean", "decimal", "integer", "dateTime", "binary",
                                     "reference", "complex"}, name
        assert all(isinstance(attribute[key], bool) for key in ("multiValued", "required", "caseExact")), name
        assert attribute["mutability"] in {"readOnly", "readWrite", "immutable", "writeOnly"}, name
        assert attribute["returned"] in {"always", "never", "default", "request"}, name
        assert attribute["uniqueness"] in {"none", "server", "global"}, name
        assert ("subAttributes" in attribute) is (attribute["type"] == "complex"), name


def test_schema_documents_contain_no_null_anywhere():
    """ENTRA.md §3: discovery documents are free of null values."""
    assert nulls(SCHEMAS) == []
    assert nulls(service_provider_config(BASE, 200)) == []


def test_user_name_is_required_case_insensitive_and_server_unique():
    """ENTRA.md §3: userName is required true, caseExact false, uniqueness server."""
    (user_name,) = [a for a in SCHEMAS[0]["attributes"] if a["name"] == "userName"]
    assert (user_name["required"], user_name["caseExact"], user_name["uniqueness"]) == (True, False, "server")
    assert (user_name["type"], user_name["multiValued"], user_name["mutability"]) == ("string", False, "readWrite")


def test_every_attribute_we_render_is_described_by_the_schemas():
    """ENTRA.md §3: the schemas list every attribute we store; each rendered key and sub-key has a definition."""
    described = {name.lower() for document in SCHEMAS for name, _ in attributes_of(document)}
    for key, value in FULL.items():
        if key in ("schemas", "id", "meta"):
            continue
        parts = value if key == ENTERPRISE else {key: value}
        for name, part in parts.items():
            assert name.lower() in described, name
            for entry in (part if isinstance(part, list) else [part]):
                for sub in (entry if isinstance(entry, dict) else {}):
                    assert f"{name}.{sub}".lower() in described, f"{name}.{sub}"
