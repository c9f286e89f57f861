"""The validation of resource payloads (POST, PUT, and the result of a PATCH), derived from the registry.

Each resource type's attribute declarations (``domain/registry``) drive two steps: the case-insensitive
key normalisation of incoming payloads (RFC 7643 §2.1; unassigned values, RFC 7643 §2.5, and unknown or
read-only attributes dropped), and the colander schema that checks their types and bounds. What this
module does not do: turn the validated JSON into the domain model (``translation``), or parse PatchOp and
list messages (``messages``).
"""
from __future__ import annotations

import json
from typing import Any

import colander

from .. import catalogue as c
from ..model import unstorable_reason
from ..registry import USER, Attribute, ResourceType, Schema
from ..registry.declaration import BOOLEAN
from .errors import refuse


def describe(value: Any) -> str:
    """A short JSON rendering of a value a client sent, for a refusal's detail."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):  # pragma: no cover - input comes from json.loads
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def parse_boolean(value: Any) -> bool | None:
    """A JSON boolean, or the strings "True"/"False" in any case (Entra, ENTRA.md §9.3); None for anything
    else. colander's Boolean would take any unknown string as true."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.lower()
        if lowered == "true":
            return True
        if lowered == "false":
            return False
    return None


def unassigned(value: Any) -> bool:
    """RFC 7643 §2.5: null, "", [] and {} all mean that the attribute has no value."""
    return value is None or value == "" or value == [] or value == {}


def canonical_complex(attribute: Attribute, value: Any) -> Any:
    """A complex value with canonical sub-attribute names (unknown ones dropped); a bare value where the
    attribute takes one means its ``value``; anything else is left for validation to refuse."""
    if not isinstance(value, dict):
        if attribute.bare_value and isinstance(value, str):
            return {"value": value}
        return value
    entry = {}
    for key, sub_value in value.items():
        sub = attribute.sub(key) if isinstance(key, str) else None
        if sub is not None:
            entry[sub.name] = sub_value
    return entry


# -- case-insensitive keys, unassigned values -------------------------------------------------------

def _normalise_value(attribute: Attribute, value: Any) -> Any:
    if not attribute.complex:
        return value
    if attribute.multi_valued:
        if not isinstance(value, list):
            return value  # colander reports the wrong type
        entries = (_drop_unassigned(canonical_complex(attribute, entry)) for entry in value)
        return [entry for entry in entries if not unassigned(entry)]
    return _drop_unassigned(canonical_complex(attribute, value))


def _drop_unassigned(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: sub_value for key, sub_value in value.items() if not unassigned(sub_value)}
    return value


def _assign(target: dict, attribute: Attribute, value: Any) -> None:
    """Set the normalised value unless it is unassigned, also once its null parts are gone."""
    if not unassigned(value):
        value = _normalise_value(attribute, value)
        if not unassigned(value):
            target[attribute.name] = value


def normalise(payload: dict, resource: ResourceType = USER) -> dict:
    """The payload with canonical attribute names, unassigned values removed, and unknown attributes
    dropped. An extension's attributes, if any, sit under its URN. URN-qualified keys
    (``urn:...:User:userName``) are accepted for any of the resource type's schemas."""
    result: dict[str, Any] = {}
    for key, value in payload.items():
        if not isinstance(key, str):
            continue
        schema, name = _schema_and_name(resource, key)
        if schema is None:
            continue
        if name is None:  # the extension's object
            if not isinstance(value, (dict, type(None))):
                raise refuse(c.EXTENSION_NOT_AN_OBJECT, urn=schema.urn)
            extension = result.setdefault(schema.urn, {})
            for sub_key, sub_value in (value or {}).items():
                attribute = schema.attribute(str(sub_key))
                if attribute is not None:
                    _assign(extension, attribute, sub_value)
            continue
        attribute = schema.attribute(name)
        if attribute is not None:
            _assign(result if schema is resource.schema else result.setdefault(schema.urn, {}), attribute, value)
    for schema in resource.extensions:
        if result.get(schema.urn) == {}:
            del result[schema.urn]
    return result


def _schema_and_name(resource: ResourceType, key: str) -> tuple[Schema | None, str | None]:
    """Which schema a payload key belongs to, and the attribute it names (None: an extension's object)."""
    if key[:4].lower() != "urn:":
        return resource.schema, key
    schema = resource.schema_of(key)
    if schema is not None:
        return (schema, None) if schema is not resource.schema else (None, None)
    urn, _, name = key.rpartition(":")
    schema = resource.schema_of(urn)
    return (schema, name) if schema is not None else (None, None)


# -- colander types that keep JSON's types honest ---------------------------------------------

class StrictString(colander.String):
    """A JSON string of at most ``max_length`` characters that a database can store; colander's String
    would quietly turn 3 into "3"."""

    def __init__(self, max_length: int):
        super().__init__()
        self.max_length = max_length

    def deserialize(self, node, cstruct):
        if cstruct is colander.null or cstruct == "":
            return colander.null
        if not isinstance(cstruct, str):
            raise colander.Invalid(node, c.NOT_A_STRING.problem(got=describe(cstruct)))
        if len(cstruct) > self.max_length:
            raise colander.Invalid(node, c.TOO_LONG.problem(limit=self.max_length, length=len(cstruct)))
        reason = unstorable_reason(cstruct)
        if reason is not None:
            raise colander.Invalid(node, c.UNSTORABLE[reason].problem())
        return cstruct


class RequiredString(StrictString):
    """A string a resource cannot be without: only whitespace counts as missing."""

    def deserialize(self, node, cstruct):
        if isinstance(cstruct, str) and not cstruct.strip():
            return colander.null
        return super().deserialize(node, cstruct)


class ScimBoolean(colander.SchemaType):
    """``parse_boolean``'s values; anything else is refused."""

    def deserialize(self, node, cstruct):
        if cstruct is colander.null:
            return colander.null
        value = parse_boolean(cstruct)
        if value is None:
            raise colander.Invalid(node, c.NOT_A_BOOLEAN.problem(got=describe(cstruct)))
        return value

    def serialize(self, node, appstruct):  # pragma: no cover - we only deserialize
        return appstruct


class StrictMapping(colander.Mapping):
    """A JSON object; keys no child names are ignored. Deserialised as colander's ``Mapping`` does,
    except that a child with no value and a ``missing`` to give is given it at once rather than after
    deserialising ``null`` (what every type here answers for it; ``_node`` declares no ``drop``), since
    most of a payload's attributes are absent. A complaint hands the whole object to colander's own
    ``Mapping``, which gathers every child's under its position."""

    def __init__(self):
        super().__init__(unknown="ignore")

    def deserialize(self, node, cstruct):
        if cstruct is colander.null:
            return colander.null
        if not isinstance(cstruct, dict):
            raise colander.Invalid(node, c.NOT_AN_OBJECT.problem(got=describe(cstruct)))
        result = {}
        for child in node.children:
            name = child.name
            value = cstruct.get(name, colander.null)
            if value is colander.null and child.missing is not colander.required:
                result[name] = child.missing
                continue
            try:
                result[name] = child.deserialize(value)
            except colander.Invalid:
                return super().deserialize(node, cstruct)
        return result


class StrictSequence(colander.Sequence):
    """A JSON list of at most ``max_values`` entries (the attribute's ``max_values``)."""

    def __init__(self, max_values: int):
        super().__init__()
        self.max_values = max_values

    def deserialize(self, node, cstruct):
        if cstruct is not colander.null and not isinstance(cstruct, list):
            raise colander.Invalid(node, c.NOT_A_LIST.problem(got=describe(cstruct)))
        if cstruct is not colander.null and len(cstruct) > self.max_values:
            raise colander.Invalid(node, c.TOO_MANY_VALUES.problem(limit=self.max_values, count=len(cstruct)))
        return super().deserialize(node, cstruct)


def _node(attribute: Attribute, name: str | None = None) -> colander.SchemaNode:
    missing = colander.required if attribute.required else None
    name = name or attribute.name
    if attribute.complex:
        children = [_node(sub) for sub in attribute.sub_attributes if sub.writable]
        entry = colander.SchemaNode(StrictMapping(), *children, name=name, missing=missing)
        if attribute.multi_valued:
            entry.missing = colander.required
            return colander.SchemaNode(StrictSequence(attribute.max_values), entry, name=name, missing=())
        return entry
    if attribute.type == BOOLEAN:
        kind = ScimBoolean()
    else:  # a string or a reference: the registry declares no other simple type (DECLARABLE_TYPES)
        kind = (RequiredString if attribute.required else StrictString)(attribute.max_length)
    return colander.SchemaNode(kind, name=name, missing=missing)


#: Each resource type's colander schema, built on first use (a resource type is immutable).
_COLANDER: dict[ResourceType, colander.SchemaNode] = {}


def _colander_schema(resource: ResourceType) -> colander.SchemaNode:
    schema = _COLANDER.get(resource)
    if schema is None:
        nodes = [_node(attribute) for attribute in resource.schema.attributes if attribute.writable]
        for extension in resource.extensions:
            nodes.append(colander.SchemaNode(StrictMapping(), *[_node(a) for a in extension.attributes
                                                               if a.writable],
                                             name=extension.urn, missing=None))
        schema = _COLANDER[resource] = colander.SchemaNode(StrictMapping(), *nodes)
    return schema


#: What colander itself says of a missing required value (its one message that reaches a client).
_COLANDER_REQUIRED = "Required"


def invalid_detail(error: colander.Invalid, resource: ResourceType = USER) -> str:
    """colander's complaints as the ``{problems}`` of a refusal: ``userName is required; emails.0.value
    must be a string, got 3``. Each complaint is a catalogue entry's ``problem()``, after its path."""
    problems = []
    for path, message in error.asdict().items():
        for extension in resource.extensions:
            path = path.replace(extension.urn + ".", extension.urn + ":")
        problem = c.REQUIRED.problem() if message == _COLANDER_REQUIRED else message
        problems.append(f"{path} {problem}")
    return c.SEPARATOR.join(sorted(problems))


def _check_multi_valued(resource_json: dict, resource: ResourceType) -> None:
    """At most one value per type and one primary value (RFC 7643 §2.4), and a value in every entry of an
    attribute whose entries have one."""
    for schema in resource.schemas:
        container = resource_json if schema is resource.schema else resource_json.get(schema.urn) or {}
        for attribute in schema.attributes:
            if not (attribute.complex and attribute.multi_valued):
                continue
            name = attribute.name
            typed, primary, valued = (attribute.sub(sub) is not None for sub in ("type", "primary", "value"))
            seen_types = set()
            primaries = 0
            for entry in container.get(name) or ():
                kind = entry.get("type") if typed else None
                if kind is not None:
                    if kind.lower() in seen_types:
                        raise refuse(c.TYPE_TWICE, attribute=name, type=kind)
                    seen_types.add(kind.lower())
                primaries += bool(entry.get("primary")) if primary else 0
                if valued and entry.get("value") is None:
                    raise refuse(c.ENTRY_WITHOUT_VALUE, attribute=name)
            if primaries > 1:
                raise refuse(c.TWO_PRIMARIES, attribute=name)


def validate(payload: Any, resource: ResourceType = USER) -> dict:
    """Check a resource payload (POST, PUT, or the result of a PATCH): the validated attributes keyed by
    canonical name, extensions under their URNs. Raises ``ScimError`` 400 ``invalidValue``."""
    if not isinstance(payload, dict):
        raise refuse(c.BODY_NOT_AN_OBJECT)
    schemas = next((v for k, v in payload.items() if isinstance(k, str) and k.lower() == "schemas"), None)
    if schemas is not None:
        core = resource.schema.urn
        if not isinstance(schemas, list) or not all(isinstance(s, str) for s in schemas):
            raise refuse(c.SCHEMAS_NOT_A_LIST)
        if core.lower() not in (s.lower() for s in schemas):
            raise refuse(c.SCHEMAS_WITHOUT_CORE, urn=core)
    normalised = normalise(payload, resource)
    try:
        validated = _colander_schema(resource).deserialize(normalised)
    except colander.Invalid as error:
        raise refuse(c.ATTRIBUTE_PROBLEMS, problems=invalid_detail(error, resource)) from None
    _check_multi_valued(validated, resource)
    return validated
