"""A resource's JSON (validated, keyed by canonical name; extensions under their URNs) ⇄ the domain model,
both ways derived from the registry's declarations of how each attribute maps to the model.

What this module does not do: validate (``schema``), or add ``id``, ``schemas`` and ``meta``
(``representation``).
"""
from __future__ import annotations

from operator import attrgetter
from typing import Any, Callable

import colander

from ..registry import RESOURCE_TYPES, USER, Attribute, ResourceType, Schema
from ..registry.declaration import extra_key

def _opt(value: Any) -> Any:
    """None for what validation may leave for an absent value (None or colander's null)."""
    return None if value is colander.null else value


# -- JSON -> model ----------------------------------------------------------------------------------

def _model_value(attribute: Attribute, value: Any) -> Any:
    """The model's value of one attribute from its validated JSON."""
    value = _opt(value)
    if not attribute.complex:
        return value
    if attribute.multi_valued:
        model, subs = attribute.model, attribute.stored_subs
        return tuple(model(**{sub.field: _opt(entry.get(sub.name)) for sub in subs}) for entry in value or ())
    if attribute.stored_as is not None:
        return None if value is None else _opt(value.get(attribute.stored_as))
    if value is None:
        return attribute.model()
    return attribute.model(**{sub.field: _opt(value.get(sub.name)) for sub in attribute.stored_subs})


def fields_from_json(resource_json: dict, resource: ResourceType = USER, current: Any = None) -> Any:
    """The resource's content (``resource.model``) from its validated JSON. An attribute with a default
    that the JSON leaves out gets ``current``'s value if given (a PUT keeps ``active``), else its default
    (a POST creates an active member)."""
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for schema in resource.schemas:
        core = schema is resource.schema
        container_json = resource_json if core else (resource_json.get(schema.urn) or {})
        container_now = None
        if current is not None:
            container_now = current if core or schema.in_extra else getattr(current, schema.field)
        own: dict[str, Any] = {}
        for attribute in schema.stored_attributes:
            value = _model_value(attribute, container_json.get(attribute.name))
            if value is None and attribute.default is not None:
                value = attribute.default if current is None else _current(schema, attribute, container_now)
            if schema.in_extra:
                if value is not None:
                    extra[extra_key(schema, attribute)] = value
            else:
                own[attribute.field] = value
        if core:
            values.update(own)
        elif not schema.in_extra:
            values[schema.field] = schema.model(**own)
    return resource.model(**values, extra=extra)


def _current(schema: Schema, attribute: Attribute, container: Any) -> Any:
    if schema.in_extra:
        return container.extra.get(extra_key(schema, attribute), attribute.default)
    return getattr(container, attribute.field)


# -- model -> JSON ----------------------------------------------------------------------------------

#: What ``_compact`` leaves out besides None: an empty object or list (compared by value, as ``==`` does).
_EMPTY = ({}, [])

Render = Callable[[Any, str | None], Any]


def _compact(mapping: dict) -> dict:
    return {key: value for key, value in mapping.items() if value is not None and value not in _EMPTY}


def _renderer(attribute: Attribute) -> Render:
    """How one attribute's model value becomes JSON (None: unassigned), given the SCIM root for ``$ref``s."""
    if not attribute.complex:
        return lambda value, base_url: value
    subs = tuple((sub.name, attrgetter(sub.field)) for sub in attribute.stored_subs)
    if attribute.multi_valued:
        return lambda value, base_url: [_compact({name: read(entry) for name, read in subs}) for entry in value]
    if attribute.stored_as is not None:
        reference = attribute.reference_sub
        endpoint = RESOURCE_TYPES[reference.reference_types[0]].endpoint if reference is not None else None

        def render(value, base_url):
            if value is None:
                return None
            rendered = {attribute.stored_as: value}
            if endpoint is not None and base_url is not None:
                rendered[reference.name] = f"{base_url}{endpoint}/{value}"
            return rendered
        return render
    return lambda value, base_url: _compact({name: read(value) for name, read in subs})


#: Per resource type, per schema: where the schema's values are, and each stored attribute's name,
#: reader and renderer. Built once per resource type (they are immutable).
_PLANS: dict[ResourceType, tuple] = {}


def _plan(resource: ResourceType) -> tuple:
    plan = _PLANS.get(resource)
    if plan is None:
        steps = []
        for schema in resource.schemas:
            if schema.in_extra:
                read_container = attrgetter("extra")
                readers = [(a.name, (lambda key: lambda extra: extra.get(key))(extra_key(schema, a)), _renderer(a))
                           for a in schema.attributes if a.stored]
            else:
                read_container = attrgetter(schema.field) if schema.field else (lambda fields: fields)
                readers = [(a.name, attrgetter(a.field), _renderer(a)) for a in schema.attributes if a.stored]
            steps.append((None if schema is resource.schema else schema.urn, read_container, tuple(readers)))
        plan = _PLANS[resource] = tuple(steps)
    return plan


def json_from_fields(fields: Any, resource: ResourceType = USER, base_url: str | None = None) -> dict:
    """The resource's attributes keyed by canonical name, unassigned ones left out (RFC 7643 §2.5), each
    extension under its URN when it has any; ``$ref``s built on ``base_url`` when given. No id, schemas
    or meta."""
    result: dict[str, Any] = {}
    for urn, read_container, readers in _plan(resource):
        container = read_container(fields)
        target = result if urn is None else {}
        for name, read, render in readers:
            value = render(read(container), base_url)
            if value is not None and value not in _EMPTY:
                target[name] = value
        if urn is not None and target:
            result[urn] = target
    return result
