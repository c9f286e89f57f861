"""The Group resource type: WiggleDesk teams as SCIM Groups (RFC 7643 §4.2, ENTRA.md §14). Every Group
attribute is declared here and nowhere else; docs/adr/0010 says how to add one.

A team's members are kept apart from the team (``Attribute.apart``): one stored row per membership, so
a team of 100,000 members costs a PATCH adding one of them what it costs a team of ten.
"""
from __future__ import annotations

from ..model import TeamFields
from .declaration import (COMPLEX, IMMUTABLE, MAX_INDEXED_LENGTH, READ_ONLY, REFERENCE, SERVER, STRING, Attribute,
                          ResourceType, Schema)

CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"

#: The most members one request may name (a POST's or PUT's ``members``, one PATCH operation's value). Entra
#: sends a few hundred per PATCH; Okta's PUT sends a team's whole membership; a request body's 1 MB holds
#: about 20,000 of Entra's ``{"value": "<uuid>"}`` entries.
MAX_MEMBERS_PER_REQUEST = 20_000

GROUP_SCHEMA = Schema(CORE_GROUP, "Group", "A WiggleDesk team", attributes=(
    Attribute("externalId", STRING, "The identifier of the team in the identity provider (Entra's objectId).",
              case_exact=True, uniqueness=SERVER, max_length=MAX_INDEXED_LENGTH),
    Attribute("displayName", STRING, "The team's name, unique within the organisation (ignoring case).",
              required=True, uniqueness=SERVER, max_length=MAX_INDEXED_LENGTH),
    Attribute("members", COMPLEX, "The team's members: Users of the same organisation.", multi_valued=True,
              apart=True, max_values=MAX_MEMBERS_PER_REQUEST, sub_attributes=(
                  Attribute("value", STRING, "The id of the member's User resource.", case_exact=True,
                            mutability=IMMUTABLE),
                  Attribute("$ref", REFERENCE, "The URI of the member's User resource.", reference_types=("User",),
                            mutability=IMMUTABLE, field=None),
                  Attribute("display", STRING, "The member's displayName, else their userName.",
                            mutability=READ_ONLY, field=None),
                  Attribute("type", STRING, "The kind of member: always User (teams do not nest).",
                            canonical_values=("User",), mutability=IMMUTABLE, field=None),
              )),
))

GROUP = ResourceType(
    name="Group", endpoint="/Groups",
    description="A team of the WiggleDesk organisation the credential belongs to",
    schema=GROUP_SCHEMA, model=TeamFields,
)
