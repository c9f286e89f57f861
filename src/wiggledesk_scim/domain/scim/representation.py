"""Members as SCIM Users (RFC 7643 §4), ListResponses (RFC 7644 §3.4.2), projections (§3.9) and the
discovery documents (RFC 7644 §4, RFC 7643 §5–7). Builds JSON-ready dicts; never serialises or does I/O.
"""
from __future__ import annotations

import hashlib
import json
import threading
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

from typing import Sequence

from ..model import Member, Reference, Rendition, Team
from ..ports import Rendering
from ..registry import GROUP, USER, Attribute, ResourceType
from .body import Serialised, json_bytes
from .filter import parse_path
from .errors import ScimError
from .translation import json_from_fields

LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
SERVICE_PROVIDER_CONFIG = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
RESOURCE_TYPE = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"

#: Returned whatever ``attributes`` or ``excludedAttributes`` say (ENTRA.md §9.1, RFC 7643 §7 "always").
ALWAYS_RETURNED = ("schemas", "id", "meta")


def timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC, to the second, as Entra's examples show."""
    # isoformat, not strftime: the same text at a fraction of the cost, twice in every resource. Stored
    # moments are in UTC already (the adapters' and the clock's), which needs no conversion.
    if moment.tzinfo is not timezone.utc:
        moment = moment.astimezone(timezone.utc)
    return moment.isoformat(timespec="seconds")[:19] + "Z"


def etag(member: Member | Team | Rendition) -> str:
    """``meta.version`` and the ETag header (RFC 7644 §3.14): weak, changing with every change."""
    return f'W/"{member.version}"'


def location(base_url: str, member_id: str, resource_type: ResourceType = USER) -> str:
    return f"{base_url}{resource_type.endpoint}/{member_id}"


def user_resource(member: Member, base_url: str, resource_type: ResourceType = USER,
                  groups: Sequence[Reference] = ()) -> dict:
    """The full resource for ``member``; locations are built on the SCIM root the request used. ``groups``:
    the member's teams (the read-only ``groups`` attribute), left out when there are none."""
    resource = _resource(member, base_url, resource_type)
    if groups:
        resource["groups"] = team_references(groups, base_url)
        resource["meta"] = resource.pop("meta")
    return resource


# -- the stored User document ----------------------------------------------------------------------

#: The SCIM root a stored document is rendered on: NUL, which no stored text can hold (``model.UNSTORABLE``),
#: so that in the document's JSON a string opening with it (``"\u0000``) is a location or a ``$ref``, and
#: no other string is: a value holding the six characters ``\u0000`` is written ``"…\\u0000``, its
#: backslash escaped.
_DOCUMENT_ROOT = "\x00"
_ROOT_IN_JSON = b'"\\u0000'
#: Where the member's teams (``groups``, kept apart from the member) go in a document: before ``meta``,
#: the last key of every resource (``user_resource``).
_META_IN_JSON = b',"meta":{"resourceType":'


def _document_form(resource_type: ResourceType) -> str:
    """What a stored document was rendered by: a digest of this module, ``translation`` and ``body`` (the
    rules that render and write a resource) and the resource type's schemas (what it holds). A release that
    changes any of them may render differently, so the documents an earlier one stored are rendered again,
    never served (``Rendering.kept``)."""
    digest = hashlib.sha256()
    here = Path(__file__).parent
    for module in ("representation.py", "translation.py", "body.py"):
        digest.update((here / module).read_bytes())
    digest.update(json.dumps(schema_documents("", (resource_type,)), sort_keys=True).encode())
    return digest.hexdigest()[:16]


class UserDocuments(Rendering):
    """Members as SCIM User documents, the form a store keeps beside each member (the SQL storage's
    ``members.document``) and GET and list requests answer from: the JSON of ``user_resource`` on a
    placeholder SCIM root and without ``groups`` (the member's teams are kept apart from them), which
    ``json`` fills in for a request; headed by the form of this release (``_document_form``) and the
    member's version (``Rendering.head``). Of members as the resource type ``resource_type`` (the User as
    declared, unless a test declares another)."""

    def __init__(self, resource_type: ResourceType = USER) -> None:
        self.resource_type = resource_type
        self.form = _document_form(resource_type)
        #: The member this thread rendered last (a value: the same object renders the same text), and its
        #: text: a write's response is the document its store rendered to keep, not a second rendering.
        self._last = threading.local()

    def render(self, member: Member) -> str:
        last = self._last
        if getattr(last, "member", None) is member:
            return last.text
        resource = user_resource(member, _DOCUMENT_ROOT, self.resource_type)
        text = self.head(member.version) + json_bytes(resource).decode()
        last.member, last.text = member, text
        return text

    def json(self, document: Rendition, base_url: str, groups: Sequence[Reference] = ()) -> bytes:
        """The User's JSON, as ``json_bytes(user_resource(member, base_url, groups=groups))`` writes it."""
        text = document.text
        root = b'"' + json_bytes(base_url)[1:-1]
        body = text[text.index("\n") + 1:].encode().replace(_ROOT_IN_JSON, root)
        if groups:
            at = body.rindex(_META_IN_JSON)
            body = b"".join((body[:at], b',"groups":', json_bytes(team_references(groups, base_url)), body[at:]))
        return body

    def resource(self, document: Rendition, base_url: str, groups: Sequence[Reference] = ()) -> Serialised:
        """The User, serialised ahead (``body.Serialised``): a mapping, read on first use."""
        return Serialised(self.json(document, base_url, groups))


def team_references(teams: Sequence[Reference], base_url: str) -> list[dict]:
    """A member's teams as the User's ``groups`` (RFC 7643 §4.1.2: ``direct``, as teams do not nest)."""
    prefix = f"{base_url}{GROUP.endpoint}/"
    return [{"value": team.value, "$ref": prefix + team.value, "display": team.display, "type": "direct"}
            for team in teams]


def group_resource(team: Team, base_url: str, resource_type: ResourceType = GROUP) -> dict:
    """The resource for ``team``, without its members (kept apart: ``groups.render_members`` renders them)."""
    return _resource(team, base_url, resource_type)


def _resource(resource_object: Member | Team, base_url: str, resource_type: ResourceType) -> dict:
    attributes = json_from_fields(resource_object.fields, resource_type, base_url)
    schemas = [resource_type.schema.urn] + [extension.urn for extension in resource_type.extensions
                                            if extension.urn in attributes]
    resource = {"schemas": schemas, "id": resource_object.id}
    resource.update(attributes)
    resource["meta"] = {
        "resourceType": resource_type.name,
        "created": timestamp(resource_object.created),
        "lastModified": timestamp(resource_object.last_modified),
        "location": location(base_url, resource_object.id, resource_type),
        "version": etag(resource_object),
    }
    return resource


# -- attributes / excludedAttributes (RFC 7644 §3.9) ------------------------------------------

def parse_names(text: str | None, resource_type: ResourceType) -> list[tuple[str, str | None]]:
    """(top-level key, sub-attribute or None) for each name; names the resource does not have are ignored
    (Entra sends excludedAttributes=members, ENTRA.md §5). An extension's attribute is (its URN, the
    attribute): projections narrow an extension by its attributes."""
    names = []
    for raw in (text or "").split(","):
        raw = raw.strip()
        if not raw:
            continue
        whole = resource_type.schema_of(raw)
        if whole is not None and whole is not resource_type.schema:
            names.append((whole.urn, None))
            continue
        try:
            path = parse_path(raw)
        except ScimError:
            continue
        schema = resource_type.schema if path.urn is None else resource_type.schema_of(path.urn)
        if schema is resource_type.schema:
            names.append((path.attribute, path.sub_attribute))
        elif schema is not None:
            names.append((schema.urn, path.attribute))
    return names


def listed(name: str, attributes: str | None, excluded: str | None,
           resource_type: ResourceType) -> tuple[bool, frozenset[str] | None]:
    """Whether a response narrowed by ``attributes`` / ``excludedAttributes`` holds the attribute ``name`` of
    the core schema, and which of its sub-attributes (lower case; None: all). For an attribute kept apart
    (a team's ``members``, a member's ``groups``), asked before it is read, so that a response without it
    never reads it (Entra always sends ``excludedAttributes=members``)."""
    if not attributes and not excluded:
        return True, None  # Entra's look-ups and GETs: nothing narrows the response
    lowered = name.lower()
    wanted, unwanted = parse_names(attributes, resource_type), parse_names(excluded, resource_type)
    if wanted:
        named = [sub for key, sub in wanted if key.lower() == lowered]
        if not named:
            return False, None
        return True, (None if None in named else frozenset(sub.lower() for sub in named))
    dropped = [sub for key, sub in unwanted if key.lower() == lowered]
    if None in dropped:
        return False, None
    if dropped:
        attribute = resource_type.schema.attribute(name)
        kept = {sub.name.lower() for sub in attribute.sub_attributes} - {sub.lower() for sub in dropped}
        return True, frozenset(kept)
    return True, None


def _key(resource: dict, name: str) -> str | None:
    lowered = name.lower()
    return next((k for k in resource if k.lower() == lowered), None)


def project(resource: dict, attributes: str | None = None, excluded: str | None = None,
            resource_type: ResourceType = USER) -> dict:
    """``resource`` narrowed by the ``attributes`` / ``excludedAttributes`` query parameters."""
    if not attributes and not excluded:
        return resource
    wanted, unwanted = parse_names(attributes, resource_type), parse_names(excluded, resource_type)
    if not wanted and not unwanted:
        return resource
    if wanted:
        subs_by_key: dict[str, set[str] | None] = {}
        for name, sub in wanted:
            key = _key(resource, name)
            if key is None or key in ALWAYS_RETURNED:
                continue
            if sub is None:
                subs_by_key[key] = None
            elif subs_by_key.get(key, set()) is not None:
                subs_by_key.setdefault(key, set()).add(sub.lower())
        result = {k: v for k, v in resource.items() if k in ALWAYS_RETURNED}
        for key, subs in subs_by_key.items():
            picked = resource[key] if subs is None else _pick(resource[key], subs)
            if picked:
                result[key] = picked
    else:
        result = dict(resource)
        for name, sub in unwanted:
            key = _key(result, name)
            if key is None or key in ALWAYS_RETURNED:
                continue
            if sub is None:
                del result[key]
            else:
                trimmed = _drop(result[key], sub)
                if trimmed:
                    result[key] = trimmed
                else:
                    del result[key]
    ordered = {k: result[k] for k in resource if k in result}
    ordered["schemas"] = [s for s in resource["schemas"] if s == resource_type.schema.urn or s in ordered]
    return ordered


def _pick(value, subs: set[str]):
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k.lower() in subs}
    if isinstance(value, list):
        return [p for p in (_pick(entry, subs) for entry in value) if p]
    return None


def _drop(value, sub: str):
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k.lower() != sub.lower()}
    if isinstance(value, list):
        return [d for d in (_drop(entry, sub) for entry in value) if d]
    return value


def list_response(resources: list[dict], total: int, start_index: int) -> dict:
    """RFC 7644 §3.4.2; the key order of ENTRA.md §5, ``Resources`` present even when empty."""
    return {"schemas": [LIST_RESPONSE], "totalResults": total, "Resources": resources,
            "startIndex": start_index, "itemsPerPage": len(resources)}


# -- discovery -------------------------------------------------------------------------------

def _origin(base_url: str) -> str:
    parts = urlsplit(base_url)
    return f"{parts.scheme}://{parts.netloc}"


def service_provider_config(base_url: str, max_results: int) -> dict:
    """What the service offers, no more and no less (ENTRA.md §3)."""
    return {
        "schemas": [SERVICE_PROVIDER_CONFIG],
        "documentationUri": f"{_origin(base_url)}/help/scim",
        "patch": {"supported": True},
        # Bulk is not offered, so its bounds are 0 (ENTRA.md §3). maxPayloadSize is about bulk requests;
        # the bound on every other body (schema.MAX_BODY_BYTES) is stated by the 413 and the README.
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": max_results},
        "changePassword": {"supported": False},
        "sort": {"supported": True},
        "etag": {"supported": True},
        # ENTRA.md §3: the OAuth client (the gallery's choice) first, the admin's API token beside it.
        "authenticationSchemes": [{
            "type": "oauth2", "name": "OAuth 2.0 client credentials",
            "description": f"Access tokens from {_origin(base_url)}/oauth2/token (client secret or Entra "
                           "workload identity)",
            "specUri": "https://www.rfc-editor.org/rfc/rfc6749", "primary": True,
        }, {
            "type": "oauthbearertoken", "name": "WiggleDesk API token",
            "description": "Bearer token created by a WiggleDesk admin", "primary": False,
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": f"{base_url}/ServiceProviderConfig"},
    }


def resource_type_document(base_url: str, resource_type: ResourceType = USER) -> dict:
    """RFC 7643 §6."""
    document = {
        "schemas": [RESOURCE_TYPE],
        "id": resource_type.name,
        "name": resource_type.name,
        "endpoint": resource_type.endpoint,
        "description": resource_type.description,
        "schema": resource_type.schema.urn,
    }
    if resource_type.extensions:
        document["schemaExtensions"] = [{"schema": extension.urn, "required": False}
                                        for extension in resource_type.extensions]
    document["meta"] = {"resourceType": "ResourceType",
                        "location": f"{base_url}/ResourceTypes/{resource_type.name}"}
    return document


def _attribute_document(attribute: Attribute) -> dict:
    document = {
        "name": attribute.name,
        "type": attribute.type,
        "multiValued": attribute.multi_valued,
        "description": attribute.description,
        "required": attribute.required,
        "caseExact": attribute.case_exact,
        "mutability": attribute.mutability,
        "returned": attribute.returned,
        "uniqueness": attribute.uniqueness,
    }
    if attribute.canonical_values:
        document["canonicalValues"] = list(attribute.canonical_values)
    if attribute.reference_types:
        document["referenceTypes"] = list(attribute.reference_types)
    if attribute.sub_attributes:
        document["subAttributes"] = [_attribute_document(sub) for sub in attribute.sub_attributes]
    return document


def schema_documents(base_url: str, resource_types: tuple[ResourceType, ...] = (USER,)) -> list[dict]:
    """Every schema of the resource types, with every attribute we store (RFC 7643 §7)."""
    return [
        {"schemas": [SCHEMA], "id": schema.urn, "name": schema.name, "description": schema.description,
         "attributes": [_attribute_document(attribute) for attribute in schema.attributes],
         "meta": {"resourceType": "Schema", "location": f"{base_url}/Schemas/{schema.urn}"}}
        for resource_type in resource_types for schema in resource_type.schemas
    ]


#: The User documents of this release.
USER_DOCUMENTS = UserDocuments()
