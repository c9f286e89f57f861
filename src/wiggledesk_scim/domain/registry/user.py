"""The User resource type: WiggleDesk members as SCIM Users (RFC 7643 §4.1), with the enterprise extension
(RFC 7643 §4.3). Every User attribute is declared here and nowhere else; docs/adr/0010 says how to add one.
"""
from __future__ import annotations

from ..model import Address, Email, EnterpriseInfo, MemberFields, Name, PhoneNumber
from .declaration import (BOOLEAN, COMPLEX, MAX_INDEXED_LENGTH, READ_ONLY, REFERENCE, SERVER, STRING,
                          Attribute, ResourceType, Schema)

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def _text(name: str, description: str, **characteristics) -> Attribute:
    return Attribute(name, STRING, description, **characteristics)


def _type(*values: str) -> Attribute:
    return _text("type", "A label indicating the attribute's function.", canonical_values=values)


_PRIMARY = Attribute("primary", BOOLEAN, "Whether this is the preferred value of its kind; at most one is.")

USER_SCHEMA = Schema(CORE_USER, "User", "A WiggleDesk member", attributes=(
    _text("externalId", "The identifier of the member in the identity provider (Entra's objectId).",
          case_exact=True, uniqueness=SERVER, max_length=MAX_INDEXED_LENGTH),
    _text("userName", "Unique identifier of the member within the organisation, typically the sign-in name.",
          required=True, uniqueness=SERVER, max_length=MAX_INDEXED_LENGTH),
    Attribute("name", COMPLEX, "The components of the member's real name.", model=Name, sub_attributes=(
        _text("formatted", "The full name, formatted for display."),
        _text("familyName", "The family name."),
        _text("givenName", "The given name."),
        _text("middleName", "The middle name(s)."),
        _text("honorificPrefix", "The honorific prefix, such as Ms."),
        _text("honorificSuffix", "The honorific suffix, such as III."),
    )),
    _text("displayName", "The name of the member, suitable for display."),
    _text("nickName", "The casual way to address the member."),
    Attribute("profileUrl", REFERENCE, "A URI of the member's online profile.", reference_types=("external",)),
    _text("title", "The member's title, such as Vice President."),
    _text("userType", "The relationship between the organisation and the member, such as Employee."),
    _text("preferredLanguage", "The member's preferred written or spoken language, such as en-GB."),
    _text("locale", "The member's default location for localisation, such as en-GB."),
    _text("timezone", "The member's time zone in IANA format, such as Europe/London."),
    # Not required: absent from a POST it is true. It cannot be removed, only set (RFC 7643 §4.1.1 leaves
    # this to the service provider): a member always is active or not.
    Attribute("active", BOOLEAN, "Whether the member may sign in; false once deprovisioned. Defaults to true "
              "on creation.", default=True),
    Attribute("emails", COMPLEX, "E-mail addresses of the member; at most one per type.", multi_valued=True,
              model=Email, sub_attributes=(
                  _text("value", "The e-mail address.", max_length=MAX_INDEXED_LENGTH),
                  _text("display", "A human-readable name for the address."),
                  _type("work", "home", "other"), _PRIMARY)),
    Attribute("phoneNumbers", COMPLEX, "Phone numbers of the member; at most one per type.", multi_valued=True,
              model=PhoneNumber, sub_attributes=(
                  _text("value", "The phone number, stored as sent.", max_length=MAX_INDEXED_LENGTH),
                  _text("display", "A human-readable form of the number."),
                  _type("work", "home", "mobile", "fax", "pager", "other"), _PRIMARY)),
    Attribute("addresses", COMPLEX, "Physical mailing addresses of the member; at most one per type.",
              multi_valued=True, model=Address, sub_attributes=(
                  _text("formatted", "The full address, formatted for display."),
                  _text("streetAddress", "The street address."),
                  _text("locality", "The city or locality."),
                  _text("region", "The state or region."),
                  _text("postalCode", "The postal code."),
                  _text("country", "The country, as an ISO 3166-1 alpha-2 code."),
                  _type("work", "home", "other"), _PRIMARY)),
    # Memberships change through /Groups only (RFC 7643 §4.1.2): read-only here, and kept apart.
    Attribute("groups", COMPLEX, "The teams the member is in; changed through /Groups only.", multi_valued=True,
              apart=True, mutability=READ_ONLY, filterable=False, sub_attributes=(
                  _text("value", "The id of the team's Group resource.", case_exact=True, mutability=READ_ONLY),
                  Attribute("$ref", REFERENCE, "The URI of the team's Group resource.", reference_types=("Group",),
                            mutability=READ_ONLY, field=None),
                  _text("display", "The team's displayName.", mutability=READ_ONLY, field=None),
                  _text("type", "How the member is in the team: directly (teams do not nest).",
                        canonical_values=("direct",), mutability=READ_ONLY, field=None),
              )),
))

ENTERPRISE_SCHEMA = Schema(
    ENTERPRISE_USER, "EnterpriseUser", "Enterprise attributes of a WiggleDesk member",
    field="enterprise", model=EnterpriseInfo, attributes=(
        _text("employeeNumber", "The member's number in the organisation."),
        _text("costCenter", "The member's cost centre."),
        _text("organization", "The member's organisation."),
        _text("division", "The member's division."),
        _text("department", "The member's department."),
        Attribute("manager", COMPLEX, "The member's manager, a member of the same organisation.",
                  field="manager_id", stored_as="value", bare_value=True, sub_attributes=(
                      _text("value", "The id of the manager's member resource.", case_exact=True),
                      # RFC 7643 §8.7.2 makes $ref writable; the id in value decides, a $ref sent is not kept.
                      Attribute("$ref", REFERENCE, "The URI of the manager's member resource.",
                                reference_types=("User",), field=None),
                      _text("displayName", "The manager's display name.", mutability=READ_ONLY, field=None),
                  )),
    ))

USER = ResourceType(
    name="User", endpoint="/Users", description="A member of the WiggleDesk organisation the API token belongs to",
    schema=USER_SCHEMA, extensions=(ENTERPRISE_SCHEMA,), model=MemberFields,
    # Attributes of RFC 7643's User schema we accept and do not store (ENTRA.md §7b).
    unstored=frozenset(name.lower() for name in ("password", "ims", "photos", "entitlements", "roles",
                                                  "x509Certificates")),
)
