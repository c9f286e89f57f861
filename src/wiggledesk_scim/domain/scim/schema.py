"""The SCIM User schema as we serve it, and the validation of User and PatchOp payloads (colander).

One table of attribute definitions (RFC 7643 §4.1 and §4.3, the attributes we store) drives three
things: the case-insensitive key normalisation of incoming payloads (RFC 7643 §2.1), the colander
schema that checks their types, and the ``/Schemas`` discovery document. ``fields_from_user`` and
``user_from_fields`` translate between a User's JSON and the domain's ``MemberFields``.
"""
from __future__ import annotations

import json
import re
from functools import cached_property
from dataclasses import dataclass
from typing import Any

import colander

from ..model import Address, Email, EnterpriseInfo, MemberFields, Name, PhoneNumber
from .errors import INVALID_SYNTAX, INVALID_VALUE, ScimError

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@dataclass(frozen=True)
class AttributeDef:
    """One attribute's characteristics, as RFC 7643 §7 publishes them."""

    name: str
    type: str = "string"
    description: str = ""
    multi_valued: bool = False
    required: bool = False
    case_exact: bool = False
    mutability: str = "readWrite"
    returned: str = "default"
    uniqueness: str = "none"
    sub_attributes: tuple["AttributeDef", ...] = ()
    canonical_values: tuple[str, ...] = ()
    reference_types: tuple[str, ...] = ()
    #: Required of the resource, but supplied by the service when a request leaves it out.
    defaulted: bool = False
    #: The most characters a string value may have (``MAX_STRING_LENGTH``, or ``MAX_INDEXED_LENGTH`` for
    #: the values uniqueness and filters look up through an index).
    max_length: int = 0

    def sub(self, name: str) -> "AttributeDef | None":
        return self._sub_by_lower_name.get(name.lower())

    @cached_property
    def _sub_by_lower_name(self) -> dict[str, "AttributeDef"]:
        return _by_lower_name(self.sub_attributes)


#: The most characters of any string attribute: generous for names, titles and addresses, and a bound on
#: what one request can make us store.
MAX_STRING_LENGTH = 1024
#: The most characters of userName, externalId and the values of emails and phoneNumbers, which unique
#: and search indexes hold: 512 characters of up to 4 bytes stay within PostgreSQL's B-tree entry limit
#: (2,704 bytes), so a long value is a 400 here rather than an index error. (An Entra userPrincipalName
#: has at most 113 characters, an e-mail address 254.)
MAX_INDEXED_LENGTH = 512
#: The most entries of one multi-valued attribute (emails, phoneNumbers, addresses).
MAX_VALUES = 100
#: The largest request body, in bytes (announced as bulk.maxPayloadSize). Entra's are a few kilobytes.
MAX_BODY_BYTES = 1_048_576


def payload_too_large(size: int | None = None) -> ScimError:
    """413 for a body over ``MAX_BODY_BYTES`` (``size`` if known)."""
    sent = f" ({size} bytes)" if size is not None else ""
    return ScimError(413, f"The request body{sent} is larger than {MAX_BODY_BYTES} bytes")


def _s(name, description, **kw) -> AttributeDef:
    return AttributeDef(name, "string", description, **{"max_length": MAX_STRING_LENGTH, **kw})


def _type(values) -> AttributeDef:
    return _s("type", "A label indicating the attribute's function.", canonical_values=values)


_PRIMARY = AttributeDef("primary", "boolean", "Whether this is the preferred value of its kind; at most one is.")

#: Attributes of the core User schema that we store (RFC 7643 §4.1). ``id`` and ``meta`` are common
#: attributes (RFC 7643 §3.1), described by every resource rather than by this schema.
USER_ATTRIBUTES: tuple[AttributeDef, ...] = (
    _s("externalId", "The identifier of the member in the identity provider (Entra's objectId).",
       case_exact=True, max_length=MAX_INDEXED_LENGTH),
    _s("userName", "Unique identifier of the member within the organisation, typically the sign-in name.",
       required=True, uniqueness="server", max_length=MAX_INDEXED_LENGTH),
    AttributeDef("name", "complex", "The components of the member's real name.", sub_attributes=(
        _s("formatted", "The full name, formatted for display."),
        _s("familyName", "The family name."),
        _s("givenName", "The given name."),
        _s("middleName", "The middle name(s)."),
        _s("honorificPrefix", "The honorific prefix, such as Ms."),
        _s("honorificSuffix", "The honorific suffix, such as III."),
    )),
    _s("displayName", "The name of the member, suitable for display."),
    _s("nickName", "The casual way to address the member."),
    AttributeDef("profileUrl", "reference", "A URI of the member's online profile.",
                 reference_types=("external",), max_length=MAX_STRING_LENGTH),
    _s("title", "The member's title, such as Vice President."),
    _s("userType", "The relationship between the organisation and the member, such as Employee."),
    _s("preferredLanguage", "The member's preferred written or spoken language, such as en-GB."),
    _s("locale", "The member's default location for localisation, such as en-GB."),
    _s("timezone", "The member's time zone in IANA format, such as Europe/London."),
    # Declared required because a member always is active or not: absent from a POST it defaults to true,
    # and it cannot be removed, only set (RFC 7643 §4.1.1 leaves this to the service provider).
    AttributeDef("active", "boolean", "Whether the member may sign in; false once deprovisioned. Defaults to "
                 "true on creation.", required=True, defaulted=True),
    AttributeDef("emails", "complex", "E-mail addresses of the member; at most one per type.",
                 multi_valued=True, sub_attributes=(
                     _s("value", "The e-mail address.", max_length=MAX_INDEXED_LENGTH),
                     _s("display", "A human-readable name for the address."),
                     _type(("work", "home", "other")), _PRIMARY)),
    AttributeDef("phoneNumbers", "complex", "Phone numbers of the member; at most one per type.",
                 multi_valued=True, sub_attributes=(
                     _s("value", "The phone number, stored as sent.", max_length=MAX_INDEXED_LENGTH),
                     _s("display", "A human-readable form of the number."),
                     _type(("work", "home", "mobile", "fax", "pager", "other")), _PRIMARY)),
    AttributeDef("addresses", "complex", "Physical mailing addresses of the member; at most one per type.",
                 multi_valued=True, sub_attributes=(
                     _s("formatted", "The full address, formatted for display."),
                     _s("streetAddress", "The street address."),
                     _s("locality", "The city or locality."),
                     _s("region", "The state or region."),
                     _s("postalCode", "The postal code."),
                     _s("country", "The country, as an ISO 3166-1 alpha-2 code."),
                     _type(("work", "home", "other")), _PRIMARY)),
)

#: The enterprise User extension (RFC 7643 §4.3).
ENTERPRISE_ATTRIBUTES: tuple[AttributeDef, ...] = (
    _s("employeeNumber", "The member's number in the organisation."),
    _s("costCenter", "The member's cost centre."),
    _s("organization", "The member's organisation."),
    _s("division", "The member's division."),
    _s("department", "The member's department."),
    AttributeDef("manager", "complex", "The member's manager, a member of the same organisation.",
                 sub_attributes=(
                     _s("value", "The id of the manager's member resource.", case_exact=True),
                     # RFC 7643 §8.7.2 makes $ref writable; the id in value decides, a $ref sent is not kept.
                     AttributeDef("$ref", "reference", "The URI of the manager's member resource.",
                                  reference_types=("User",), max_length=MAX_STRING_LENGTH),
                     _s("displayName", "The manager's display name.", mutability="readOnly"),
                 )),
)

#: Attributes of the core User schema we accept and ignore (ENTRA.md §7b): never an error.
IGNORED_USER_ATTRIBUTES = frozenset(
    name.lower() for name in ("password", "ims", "photos", "groups", "entitlements", "roles",
                              "x509Certificates", "meta", "id", "schemas")
)


def _by_lower_name(attributes) -> dict[str, AttributeDef]:
    return {a.name.lower(): a for a in attributes}


USER_BY_NAME = _by_lower_name(USER_ATTRIBUTES)
ENTERPRISE_BY_NAME = _by_lower_name(ENTERPRISE_ATTRIBUTES)


# -- case-insensitive keys (RFC 7643 §2.1) and "null means unassigned" (RFC 7643 §2.5) ------------

def _unassigned(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _normalise_value(definition: AttributeDef, value: Any) -> Any:
    if definition.type != "complex":
        return value
    if definition.multi_valued:
        if not isinstance(value, list):
            return value  # colander reports the wrong type
        entries = (_normalise_complex(definition, entry) for entry in value)
        return [entry for entry in entries if not _unassigned(entry)]
    return _normalise_complex(definition, value)


def _normalise_complex(definition: AttributeDef, value: Any) -> Any:
    if not isinstance(value, dict):
        # Entra sends the manager as a plain id (ENTRA.md §9.6).
        if definition.name == "manager" and isinstance(value, str):
            return {"value": value}
        return value
    result = {}
    for key, sub_value in value.items():
        sub = definition.sub(key) if isinstance(key, str) else None
        if sub is not None and not _unassigned(sub_value):
            result[sub.name] = sub_value
    return result


def _assign(target: dict, definition: AttributeDef, value: Any) -> None:
    """Set the normalised value unless it is unassigned, also once its null parts are gone."""
    if not _unassigned(value):
        value = _normalise_value(definition, value)
        if not _unassigned(value):
            target[definition.name] = value


def normalise_user(payload: dict) -> dict:
    """The payload with canonical attribute names, unassigned values removed, and unknown or read-only
    attributes dropped. The enterprise extension, if present, sits under ``ENTERPRISE_USER``.
    URN-qualified keys (``urn:...:User:userName``) are accepted for either schema."""
    result: dict[str, Any] = {}
    extension: dict[str, Any] = {}
    for key, value in payload.items():
        if not isinstance(key, str):
            continue
        lowered = key.lower()
        if lowered == ENTERPRISE_USER.lower():
            if not isinstance(value, (dict, type(None))):
                raise ScimError(400, f"{ENTERPRISE_USER} must be an object", INVALID_VALUE)
            for sub_key, sub_value in (value or {}).items():
                definition = ENTERPRISE_BY_NAME.get(str(sub_key).lower())
                if definition is not None:
                    _assign(extension, definition, sub_value)
            continue
        if lowered.startswith(ENTERPRISE_USER.lower() + ":"):
            definition = ENTERPRISE_BY_NAME.get(lowered[len(ENTERPRISE_USER) + 1:])
            if definition is not None:
                _assign(extension, definition, value)
            continue
        if lowered.startswith(CORE_USER.lower() + ":"):
            lowered = lowered[len(CORE_USER) + 1:]
        definition = USER_BY_NAME.get(lowered)
        if definition is not None:
            _assign(result, definition, value)
    if extension:
        result[ENTERPRISE_USER] = extension
    return result


# -- colander types that keep JSON's types honest ---------------------------------------------

def _describe(value: Any) -> str:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):  # pragma: no cover - input comes from json.loads
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class StrictString(colander.String):
    """A JSON string of at most ``max_length`` characters; colander's String would quietly turn 3 into "3"."""

    def __init__(self, max_length: int):
        super().__init__()
        self.max_length = max_length

    def deserialize(self, node, cstruct):
        if cstruct is colander.null or cstruct == "":
            return colander.null
        if not isinstance(cstruct, str):
            raise colander.Invalid(node, f"must be a string, got {_describe(cstruct)}")
        if len(cstruct) > self.max_length:
            raise colander.Invalid(node, f"must be at most {self.max_length} characters long, got {len(cstruct)}")
        if "\x00" in cstruct:
            # PostgreSQL cannot store NUL in text, and no real attribute holds one.
            raise colander.Invalid(node, "must not contain the NUL character")
        if _LONE_SURROGATE.search(cstruct):
            # JSON's \ud800 escapes can carry half a character, which no database can store as text.
            raise colander.Invalid(node, "must not contain an unpaired surrogate (\\ud800-\\udfff)")
        return cstruct


class ScimBoolean(colander.SchemaType):
    """A JSON boolean, or the strings "True"/"False" in any case (Entra, ENTRA.md §9.3); nothing else.
    colander's Boolean would take any unknown string as true."""

    def deserialize(self, node, cstruct):
        if cstruct is colander.null:
            return colander.null
        if isinstance(cstruct, bool):
            return cstruct
        if isinstance(cstruct, str) and cstruct.lower() in ("true", "false"):
            return cstruct.lower() == "true"
        raise colander.Invalid(node, f"must be true or false, got {_describe(cstruct)}")

    def serialize(self, node, appstruct):  # pragma: no cover - we only deserialize
        return appstruct


class StrictMapping(colander.Mapping):
    def __init__(self):
        super().__init__(unknown="ignore")

    def deserialize(self, node, cstruct):
        if cstruct is not colander.null and not isinstance(cstruct, dict):
            raise colander.Invalid(node, f"must be an object, got {_describe(cstruct)}")
        return super().deserialize(node, cstruct)


class StrictSequence(colander.Sequence):
    def deserialize(self, node, cstruct):
        if cstruct is not colander.null and not isinstance(cstruct, list):
            raise colander.Invalid(node, f"must be a list, got {_describe(cstruct)}")
        if cstruct is not colander.null and len(cstruct) > MAX_VALUES:
            raise colander.Invalid(node, f"may have at most {MAX_VALUES} entries, got {len(cstruct)}")
        return super().deserialize(node, cstruct)


def _node(definition: AttributeDef, name: str | None = None) -> colander.SchemaNode:
    missing = colander.required if definition.required and not definition.defaulted else None
    if definition.type == "complex":
        children = [_node(sub) for sub in definition.sub_attributes if sub.mutability != "readOnly"]
        entry = colander.SchemaNode(StrictMapping(), *children, name=name or definition.name,
                                    missing=missing)
        if definition.multi_valued:
            entry.missing = colander.required
            return colander.SchemaNode(StrictSequence(), entry, name=name or definition.name, missing=())
        return entry
    kind = ScimBoolean() if definition.type == "boolean" else StrictString(definition.max_length)
    return colander.SchemaNode(kind, name=name or definition.name, missing=missing)


def _user_schema() -> colander.SchemaNode:
    nodes = [_node(definition) for definition in USER_ATTRIBUTES]
    extension = colander.SchemaNode(StrictMapping(), *[_node(d) for d in ENTERPRISE_ATTRIBUTES],
                                    name=ENTERPRISE_USER, missing=None)
    return colander.SchemaNode(StrictMapping(), *nodes, extension)


USER_SCHEMA = _user_schema()


def _invalid_detail(error: colander.Invalid) -> str:
    problems = []
    for path, message in error.asdict().items():
        path = path.replace(ENTERPRISE_USER + ".", ENTERPRISE_USER + ":")
        if message == "Required":
            problems.append(f"{path} is required")
        else:
            problems.append(f"{path} {message}")
    return "; ".join(sorted(problems))


def _check_multi_valued(user: dict) -> None:
    for name in ("emails", "phoneNumbers", "addresses"):
        seen_types = set()
        primaries = 0
        for entry in user.get(name) or ():
            kind = entry.get("type")
            if kind is not None:
                if kind.lower() in seen_types:
                    raise ScimError(400, f'{name} has more than one entry of type "{kind}"', INVALID_VALUE)
                seen_types.add(kind.lower())
            primaries += bool(entry.get("primary"))
            if name != "addresses" and entry.get("value") is None:
                raise ScimError(400, f"every entry of {name} needs a value", INVALID_VALUE)
        if primaries > 1:
            raise ScimError(400, f"at most one entry of {name} may be primary", INVALID_VALUE)


def validate_user(payload: Any) -> tuple[dict, bool]:
    """Check a User payload (POST, PUT, or the result of a PATCH): the validated attributes keyed by
    canonical name, and whether ``active`` was given. Raises ``ScimError`` 400 ``invalidValue``."""
    if not isinstance(payload, dict):
        raise ScimError(400, "The request body must be a JSON object", INVALID_SYNTAX)
    schemas = next((v for k, v in payload.items() if isinstance(k, str) and k.lower() == "schemas"), None)
    if schemas is not None:
        if not isinstance(schemas, list) or not all(isinstance(s, str) for s in schemas):
            raise ScimError(400, "schemas must be a list of schema URNs", INVALID_VALUE)
        if CORE_USER.lower() not in (s.lower() for s in schemas):
            raise ScimError(400, f"schemas must include {CORE_USER}", INVALID_VALUE)
    normalised = normalise_user(payload)
    try:
        user = USER_SCHEMA.deserialize(normalised)
    except colander.Invalid as error:
        raise ScimError(400, _invalid_detail(error), INVALID_VALUE) from None
    _check_multi_valued(user)
    return user, "active" in normalised


# -- JSON <-> MemberFields --------------------------------------------------------------------

def _opt(value):
    return None if value is colander.null else value


def fields_from_user(user: dict, *, active_default: bool = True) -> MemberFields:
    """``MemberFields`` from a validated User (see ``validate_user``); ``active_default`` when it has no
    ``active``."""
    name = user.get("name") or {}
    extension = user.get(ENTERPRISE_USER) or {}
    manager = extension.get("manager") or {}
    active = user.get("active")
    return MemberFields(
        user_name=user["userName"],
        external_id=_opt(user.get("externalId")),
        active=active if isinstance(active, bool) else active_default,
        name=Name(
            formatted=_opt(name.get("formatted")), family_name=_opt(name.get("familyName")),
            given_name=_opt(name.get("givenName")), middle_name=_opt(name.get("middleName")),
            honorific_prefix=_opt(name.get("honorificPrefix")),
            honorific_suffix=_opt(name.get("honorificSuffix")),
        ),
        display_name=_opt(user.get("displayName")),
        nick_name=_opt(user.get("nickName")),
        profile_url=_opt(user.get("profileUrl")),
        title=_opt(user.get("title")),
        user_type=_opt(user.get("userType")),
        preferred_language=_opt(user.get("preferredLanguage")),
        locale=_opt(user.get("locale")),
        timezone=_opt(user.get("timezone")),
        emails=tuple(Email(value=e["value"], type=_opt(e.get("type")), primary=e.get("primary"),
                           display=_opt(e.get("display"))) for e in user.get("emails") or ()),
        phone_numbers=tuple(PhoneNumber(value=p["value"], type=_opt(p.get("type")),
                                        primary=p.get("primary"), display=_opt(p.get("display")))
                            for p in user.get("phoneNumbers") or ()),
        addresses=tuple(Address(
            formatted=_opt(a.get("formatted")), street_address=_opt(a.get("streetAddress")),
            locality=_opt(a.get("locality")), region=_opt(a.get("region")),
            postal_code=_opt(a.get("postalCode")), country=_opt(a.get("country")),
            type=_opt(a.get("type")), primary=a.get("primary"),
        ) for a in user.get("addresses") or ()),
        enterprise=EnterpriseInfo(
            employee_number=_opt(extension.get("employeeNumber")),
            cost_center=_opt(extension.get("costCenter")),
            organization=_opt(extension.get("organization")),
            division=_opt(extension.get("division")),
            department=_opt(extension.get("department")),
            manager_id=_opt(manager.get("value")),
        ),
    )


#: What ``_compact`` leaves out besides None: an empty object or list (compared by value, as ``==`` does).
_EMPTY = ({}, [])


def _compact(mapping: dict) -> dict:
    return {key: value for key, value in mapping.items() if value is not None and value not in _EMPTY}


def user_from_fields(fields: MemberFields, manager_ref: str | None = None) -> dict:
    """The User attributes of ``fields`` keyed by canonical name, unassigned ones left out
    (RFC 7643 §2.5); the enterprise extension under its URN. No id, schemas or meta."""
    enterprise = fields.enterprise
    manager = None
    if enterprise.manager_id is not None:
        manager = {"value": enterprise.manager_id}
        if manager_ref is not None:
            manager["$ref"] = manager_ref
    return _compact({
        "externalId": fields.external_id,
        "userName": fields.user_name,
        "name": _compact({
            "formatted": fields.name.formatted, "familyName": fields.name.family_name,
            "givenName": fields.name.given_name, "middleName": fields.name.middle_name,
            "honorificPrefix": fields.name.honorific_prefix, "honorificSuffix": fields.name.honorific_suffix,
        }),
        "displayName": fields.display_name,
        "nickName": fields.nick_name,
        "profileUrl": fields.profile_url,
        "title": fields.title,
        "userType": fields.user_type,
        "preferredLanguage": fields.preferred_language,
        "locale": fields.locale,
        "timezone": fields.timezone,
        "active": fields.active,
        "emails": [_compact({"value": e.value, "display": e.display, "type": e.type, "primary": e.primary})
                   for e in fields.emails],
        "phoneNumbers": [_compact({"value": p.value, "display": p.display, "type": p.type,
                                   "primary": p.primary}) for p in fields.phone_numbers],
        "addresses": [_compact({
            "formatted": a.formatted, "streetAddress": a.street_address, "locality": a.locality,
            "region": a.region, "postalCode": a.postal_code, "country": a.country, "type": a.type,
            "primary": a.primary,
        }) for a in fields.addresses],
        ENTERPRISE_USER: _compact({
            "employeeNumber": enterprise.employee_number, "costCenter": enterprise.cost_center,
            "organization": enterprise.organization, "division": enterprise.division,
            "department": enterprise.department, "manager": manager,
        }),
    })


# -- PatchOp (RFC 7644 §3.5.2) ----------------------------------------------------------------

@dataclass(frozen=True)
class PatchOperation:
    op: str                 # "add", "replace" or "remove"
    path: str | None
    value: Any
    has_value: bool


class _AnyJson(colander.SchemaType):
    def deserialize(self, node, cstruct):
        return cstruct

    def serialize(self, node, appstruct):  # pragma: no cover - we only deserialize
        return appstruct


class _OperationName(colander.SchemaType):
    def deserialize(self, node, cstruct):
        # Entra sends Add/Replace/Remove capitalised (ENTRA.md §9.2).
        if cstruct is colander.null:
            raise colander.Invalid(node, "Required")
        if isinstance(cstruct, str) and cstruct.lower() in ("add", "replace", "remove"):
            return cstruct.lower()
        raise colander.Invalid(node, f"must be add, replace or remove, got {_describe(cstruct)}")

    def serialize(self, node, appstruct):  # pragma: no cover - we only deserialize
        return appstruct


#: The longest PATCH path: an attribute, a value filter as long as a filter may be, and a sub-attribute.
MAX_PATH_LENGTH = 2048

_OPERATION = colander.SchemaNode(
    StrictMapping(),
    colander.SchemaNode(_OperationName(), name="op"),
    colander.SchemaNode(StrictString(MAX_PATH_LENGTH), name="path", missing=None),
    colander.SchemaNode(_AnyJson(), name="value", missing=colander.null),
)

MAX_PATCH_OPERATIONS = 1000


def validate_patch(payload: Any) -> list[PatchOperation]:
    """The operations of a PatchOp body, in order; ``invalidSyntax`` if it is not one."""
    if not isinstance(payload, dict):
        raise ScimError(400, "The request body must be a JSON object", INVALID_SYNTAX)
    keys = {k.lower(): k for k in payload if isinstance(k, str)}
    schemas = payload.get(keys.get("schemas"))
    if schemas is not None and (not isinstance(schemas, list) or PATCH_OP not in schemas):
        raise ScimError(400, f"schemas must be [\"{PATCH_OP}\"]", INVALID_SYNTAX)
    operations = payload.get(keys.get("operations"))
    if not isinstance(operations, list) or not operations:
        raise ScimError(400, "A PatchOp needs a non-empty Operations list", INVALID_SYNTAX)
    if len(operations) > MAX_PATCH_OPERATIONS:
        raise ScimError(400, f"A PatchOp may carry at most {MAX_PATCH_OPERATIONS} operations", INVALID_SYNTAX)
    result = []
    for number, operation in enumerate(operations, start=1):
        if isinstance(operation, dict):
            operation = {k.lower() if isinstance(k, str) else k: v for k, v in operation.items()}
        try:
            parsed = _OPERATION.deserialize(operation)
        except colander.Invalid as error:
            raise ScimError(400, f"Operation {number}: {_invalid_detail(error)}", INVALID_SYNTAX) from None
        has_value = parsed["value"] is not colander.null
        result.append(PatchOperation(parsed["op"], parsed["path"], parsed["value"] if has_value else None,
                                     has_value))
    return result


# -- list and search parameters (RFC 7644 §3.4.2, §3.4.3) ----------------------------------------

SEARCH_REQUEST = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


@dataclass(frozen=True)
class ListParameters:
    """What a list request (GET query or POST .search body) asks for, checked for type only."""

    filter: str | None = None
    start_index: int | None = None
    count: int | None = None
    sort_by: str | None = None
    sort_order: str | None = None
    attributes: str | None = None             # comma-separated, as in a query string
    excluded_attributes: str | None = None


def _integer_parameter(name: str, value: Any) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value.strip())
    raise ScimError(400, f"{name} must be an integer, got {_describe(value)}", INVALID_VALUE)


#: An integer as a query string writes it: ASCII digits only (``str.isdigit`` also takes "²"), and few
#: enough of them for ``int`` to read (Python refuses more than 4,300 digits).
_INTEGER = re.compile(r"[+-]?[0-9]{1,100}")


def list_parameters_from_query(query) -> ListParameters:
    """The list parameters of a GET query string; names are matched ignoring case, others ignored."""
    lowered = {str(k).lower(): v for k, v in query.items()}
    return ListParameters(
        filter=lowered.get("filter"),
        start_index=_integer_parameter("startIndex", lowered.get("startindex")),
        count=_integer_parameter("count", lowered.get("count")),
        sort_by=lowered.get("sortby"),
        sort_order=lowered.get("sortorder"),
        attributes=lowered.get("attributes"),
        excluded_attributes=lowered.get("excludedattributes"),
    )


def _names(key: str, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ",".join(value)
    raise ScimError(400, f"{key} must be a list of attribute names", INVALID_VALUE)


def _text(key: str, value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ScimError(400, f"{key} must be a string, got {_describe(value)}", INVALID_VALUE)


def list_parameters_from_search(payload: Any) -> ListParameters:
    """The list parameters of a SearchRequest body (RFC 7644 §3.4.3)."""
    if not isinstance(payload, dict):
        raise ScimError(400, "A SearchRequest must be a JSON object", INVALID_SYNTAX)
    lowered = {str(k).lower(): v for k, v in payload.items()}
    schemas = lowered.get("schemas")
    if schemas is not None and (not isinstance(schemas, list) or SEARCH_REQUEST not in schemas):
        raise ScimError(400, f'schemas must be ["{SEARCH_REQUEST}"]', INVALID_SYNTAX)
    return ListParameters(
        filter=_text("filter", lowered.get("filter")),
        start_index=_integer_parameter("startIndex", lowered.get("startindex")),
        count=_integer_parameter("count", lowered.get("count")),
        sort_by=_text("sortBy", lowered.get("sortby")),
        sort_order=_text("sortOrder", lowered.get("sortorder")),
        attributes=_names("attributes", lowered.get("attributes")),
        excluded_attributes=_names("excludedAttributes", lowered.get("excludedattributes")),
    )
