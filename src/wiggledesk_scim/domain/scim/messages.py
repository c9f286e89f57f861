"""SCIM's request messages other than resources: PatchOp (RFC 7644 §3.5.2), the list and search
parameters (RFC 7644 §3.4.2, §3.4.3), and the bound on a request body.

Checked for form and type only: what a PATCH path names is ``patch``'s business, what a filter says
``filter``'s.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import colander

from .. import catalogue as c
from .errors import ScimError, refuse
from .schema import StrictMapping, StrictString, describe, invalid_detail

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

#: The largest request body, in bytes. Entra's are a few kilobytes.
MAX_BODY_BYTES = 1_048_576


def payload_too_large(size: int | None = None) -> ScimError:
    """413 for a body over ``MAX_BODY_BYTES`` (``size`` if known)."""
    if size is None:
        return refuse(c.BODY_TOO_LARGE, limit=MAX_BODY_BYTES)
    return refuse(c.BODY_TOO_LARGE_SIZED, size=size, limit=MAX_BODY_BYTES)


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
            raise colander.Invalid(node, c.REQUIRED.problem())
        if isinstance(cstruct, str) and cstruct.lower() in ("add", "replace", "remove"):
            return cstruct.lower()
        raise colander.Invalid(node, c.NOT_AN_OPERATION.problem(got=describe(cstruct)))

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
        raise refuse(c.BODY_NOT_AN_OBJECT)
    keys = {k.lower(): k for k in payload if isinstance(k, str)}
    schemas = payload.get(keys.get("schemas"))
    if schemas is not None and (not isinstance(schemas, list) or PATCH_OP not in schemas):
        raise refuse(c.MESSAGE_SCHEMA, urn=PATCH_OP)
    operations = payload.get(keys.get("operations"))
    if not isinstance(operations, list) or not operations:
        raise refuse(c.NO_OPERATIONS)
    if len(operations) > MAX_PATCH_OPERATIONS:
        raise refuse(c.TOO_MANY_OPERATIONS, limit=MAX_PATCH_OPERATIONS)
    result = []
    for number, operation in enumerate(operations, start=1):
        if isinstance(operation, dict):
            operation = {k.lower() if isinstance(k, str) else k: v for k, v in operation.items()}
        try:
            parsed = _OPERATION.deserialize(operation)
        except colander.Invalid as error:
            raise refuse(c.OPERATION_MALFORMED, number=number, problems=invalid_detail(error)) from None
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
    raise refuse(c.NOT_AN_INTEGER, attribute=name, got=describe(value))


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
    raise refuse(c.NOT_ATTRIBUTE_NAMES, attribute=key)


def _text(key: str, value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise refuse(c.NOT_A_STRING, attribute=key, got=describe(value))


def list_parameters_from_search(payload: Any) -> ListParameters:
    """The list parameters of a SearchRequest body (RFC 7644 §3.4.3)."""
    if not isinstance(payload, dict):
        raise refuse(c.SEARCH_NOT_AN_OBJECT)
    lowered = {str(k).lower(): v for k, v in payload.items()}
    schemas = lowered.get("schemas")
    if schemas is not None and (not isinstance(schemas, list) or SEARCH_REQUEST not in schemas):
        raise refuse(c.MESSAGE_SCHEMA, urn=SEARCH_REQUEST)
    return ListParameters(
        filter=_text("filter", lowered.get("filter")),
        start_index=_integer_parameter("startIndex", lowered.get("startindex")),
        count=_integer_parameter("count", lowered.get("count")),
        sort_by=_text("sortBy", lowered.get("sortby")),
        sort_order=_text("sortOrder", lowered.get("sortorder")),
        attributes=_names("attributes", lowered.get("attributes")),
        excluded_attributes=_names("excludedAttributes", lowered.get("excludedattributes")),
    )
