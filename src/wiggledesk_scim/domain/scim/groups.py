"""What is particular to SCIM Groups (WiggleDesk teams, ENTRA.md §14), minus HTTP: the ``members`` of a
request (POST, PUT, and every PatchOp shape Entra and Okta send) as member ids and a ``MembershipChange``,
and a team's members as JSON.

``members`` is kept apart from the team's fields (``registry.group``), so a PATCH splits in two: the
operations on ``members`` fold into one ``MembershipChange`` (applied by ``TeamService`` to the rows they
name), and the others compile into an edit of the fields as for Users (``patch.compile_patch``).
"""
from __future__ import annotations

from typing import Any, Iterator

import orjson

from .. import catalogue as c
from ..model import Reference
from ..registry import GROUP, RESOURCE_TYPES, ResourceType
from ..teams import UNCHANGED, MembershipChange
from . import filter as scim_filter
from .body import SerialisedList
from .errors import ScimError, refuse
from .messages import PatchOperation
from .patch import Edit, Target, compile_patch, in_operation, parse_target
from .schema import describe

#: How many members are turned into JSON at a time: a 100,000-member team is never a list of dicts.
RENDER_BATCH = 2_000


def _apart(resource: ResourceType) -> dict[str, Any]:
    """The core schema's attributes kept apart (``members``), by lower-case name."""
    return {a.name.lower(): a for a in resource.schema.attributes if a.apart}


def member_ids(value: Any, resource: ResourceType = GROUP, name: str = "members") -> tuple[str, ...]:
    """The ids a ``members`` value names: a list of ``{"value": id}`` objects (Entra adds ``"$ref": null``,
    Okta ``display``), or one such object. ``invalidValue`` for anything else."""
    attribute = _apart(resource)[name.lower()]
    entries = value if isinstance(value, list) else [value]
    if len(entries) > attribute.max_values:
        raise refuse(c.MEMBERS_TOO_MANY, attribute=attribute.name, limit=attribute.max_values, count=len(entries))
    ids = []
    for entry in entries:
        found = None
        if isinstance(entry, dict):
            found = next((v for k, v in entry.items() if isinstance(k, str) and k.lower() == "value"), None)
        if not isinstance(found, str) or not found.strip():
            raise refuse(c.MEMBER_WITHOUT_VALUE, attribute=attribute.name, got=describe(entry))
        ids.append(found)
    return tuple(dict.fromkeys(ids))


def _filtered_ids(node: scim_filter.Node, path: str) -> list[str]:
    """The ids a value filter on ``members`` names: ``value eq "…"``, or several joined by ``or``."""
    if isinstance(node, scim_filter.Disjunction):
        return _filtered_ids(node.left, path) + _filtered_ids(node.right, path)
    if (isinstance(node, scim_filter.Comparison) and node.operator == "eq" and isinstance(node.value, str)
            and node.path.urn is None and node.path.sub_attribute is None and node.path.attribute.lower() == "value"):
        return [node.value]
    raise refuse(c.MEMBERS_BY_VALUE_ONLY, path=path)


def _membership(change: MembershipChange, operation: PatchOperation, target: Target, resource: ResourceType,
                value: Any, has_value: bool) -> MembershipChange:
    """``change`` followed by one operation on ``members``."""
    path = operation.path or target.definition.name
    if target.sub is not None:
        raise refuse(c.MEMBERS_WHOLE, path=path)
    if target.value_filter is not None:
        if operation.op != "remove":
            raise refuse(c.MEMBERS_FILTER_REMOVES, path=path)
        return change.removing(_filtered_ids(target.value_filter, path))
    if operation.op == "remove":
        # A value names the members to remove (Entra); without one, everyone goes (RFC 7644 §3.5.2.2).
        return change.removing(member_ids(value, resource)) if has_value else change.setting(())
    if not has_value:
        raise refuse(c.NEEDS_A_VALUE, op=operation.op)
    ids = member_ids(value, resource) if value not in (None, []) else ()
    return change.setting(ids) if operation.op == "replace" else change.adding(ids)


def compile_group_patch(operations: list[PatchOperation],
                        resource: ResourceType = GROUP) -> tuple[Edit, MembershipChange]:
    """The PatchOp as (an edit of the team's fields, the change of its membership), every path and every
    member value checked now; a refusal names the operation by its number."""
    apart = _apart(resource)
    change = UNCHANGED
    field_operations: list[tuple[int, PatchOperation]] = []
    for number, operation in enumerate(operations, start=1):
        try:
            if operation.path is not None:
                target = parse_target(operation.path, resource)
                if target.definition is not None and target.definition.apart:
                    change = _membership(change, operation, target, resource, operation.value, operation.has_value)
                else:
                    field_operations.append((number, operation))
                continue
            value = operation.value
            if operation.op != "remove" and isinstance(value, dict):
                # Path-less: each key of the value object is a path; members among them change membership.
                rest = {}
                for key, sub_value in value.items():
                    definition = apart.get(str(key).lower())
                    if definition is None:
                        rest[key] = sub_value
                    else:
                        change = _membership(change, operation, Target(definition), resource, sub_value, True)
                if rest or not value:
                    field_operations.append((number, PatchOperation(operation.op, None, rest, True)))
                continue
            field_operations.append((number, operation))
        except ScimError as error:
            raise in_operation(error, number, operation) from None
    if not field_operations:
        return (lambda fields: fields), change
    numbers, remaining = zip(*field_operations)
    return compile_patch(list(remaining), resource, numbers=numbers), change


def render_members(base_url: str, subs: frozenset[str] | None = None, resource: ResourceType = GROUP):
    """A ``read`` for ``TeamRepository.members``: a team's members as the JSON of its ``members`` attribute,
    built in batches as the store reads them into a ``SerialisedList``, whose pieces the response writes
    out as they are: a large team is never a list of dicts in memory, nor its JSON copied once more into
    one body. ``subs``: the sub-attributes to keep (lower case), all if None."""
    member_type = RESOURCE_TYPES[_apart(resource)["members"].sub("$ref").reference_types[0]]
    prefix = f"{base_url}{member_type.endpoint}/"

    def entry(reference: Reference) -> dict:
        rendered = {"value": reference.value, "$ref": prefix + reference.value, "type": member_type.name,
                    "display": reference.display}
        return {k: v for k, v in rendered.items() if v is not None and (subs is None or k.lower() in subs)}

    def read(references: Iterator[Reference]) -> SerialisedList | None:
        """The members' JSON; None for a team without members (an unassigned attribute is left out)."""
        pieces = []
        batch = []
        for reference in references:
            batch.append(entry(reference))
            if len(batch) >= RENDER_BATCH:
                pieces.append(orjson.dumps(batch)[1:-1])
                batch = []
        if batch:
            pieces.append(orjson.dumps(batch)[1:-1])
        return SerialisedList(pieces) if pieces else None
    return read
