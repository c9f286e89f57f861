"""PATCH (RFC 7644 §3.5.2) with Entra's habits (ENTRA.md §9): PatchOp -> a pure edit of ``MemberFields``.

``compile_patch`` checks the whole PatchOp and every path before anything is read, and returns an
``edit`` function. The edit works on the member's User JSON: each operation is applied in turn and the
result re-validated, so an operation that leaves the member invalid fails there, named by its number,
and since the edit is pure nothing of a failed PATCH is ever stored.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

from .. import catalogue as c
from ..model import case_key
from ..registry import USER, Attribute, ResourceType, Schema
from ..registry.declaration import BOOLEAN, READ_ONLY
from . import filter as scim_filter
from .errors import ScimError, refuse, wrap
from .messages import PatchOperation
from .schema import canonical_complex, parse_boolean, unassigned, validate
from .translation import fields_from_json, json_from_fields

#: Common attributes (RFC 7643 §3.1) a client may not change: a PATCH naming them is refused.
COMMON_READ_ONLY = frozenset({"id", "meta"})


@dataclass(frozen=True)
class Target:
    """Where an operation applies: an attribute of one of the resource's schemas, optionally narrowed by a
    value filter and/or to one sub-attribute; or, with no ``definition``, a whole extension."""

    definition: Attribute | None
    schema: Schema | None = None            # None (with no definition): nothing we store, ignored
    core: bool = True
    value_filter: scim_filter.Node | None = None
    sub: Attribute | None = None


IGNORED = Target(None)


def parse_target(path: str, resource: ResourceType = USER) -> Target:
    """The target of a PATCH path; ``invalidPath`` for a malformed or unknown one."""
    text = path.strip()
    whole = resource.schema_of(text) if text[:4].lower() == "urn:" else None
    if whole is not None and whole is not resource.schema:
        return Target(None, whole, core=False)
    value_filter = None
    sub_text = None
    if "[" in text:
        head, _, rest = text.partition("[")
        condition, bracket, tail = rest.rpartition("]")
        if not bracket or (tail and not tail.startswith(".")):
            raise refuse(c.PATH_INVALID, path=path)
        try:
            value_filter = scim_filter.parse_filter(condition)
        except ScimError as error:
            raise wrap(c.IN_PATH_FILTER, error, path=path) from None
        sub_text = tail[1:] or None if tail else None
        if tail and not sub_text:
            raise refuse(c.PATH_INVALID, path=path)
        text = head
    try:
        parsed = scim_filter.parse_path(text)
    except ScimError:
        raise refuse(c.PATH_INVALID, path=path) from None
    if value_filter is not None and parsed.sub_attribute is not None:
        raise refuse(c.PATH_INVALID, path=path)
    sub_name = sub_text or parsed.sub_attribute
    schema = resource.schema if parsed.urn is None else resource.schema_of(parsed.urn)
    lowered = parsed.attribute.lower()
    if schema is None:
        return IGNORED  # an extension we do not know: accepted and ignored, as on POST
    if schema is not resource.schema:
        if lowered == "schemas":
            return IGNORED  # some clients repeat the extension's URN inside its object
    else:
        if lowered in COMMON_READ_ONLY:
            raise refuse(c.READ_ONLY_ATTRIBUTE, attribute=parsed.attribute)
        if lowered in resource.unstored or lowered == "schemas":
            return IGNORED
    definition = schema.attribute(lowered)
    if definition is None:
        raise refuse(c.PATH_NO_ATTRIBUTE, path=path, resource=resource.name)
    if definition.mutability == READ_ONLY:
        raise refuse(c.READ_ONLY_ATTRIBUTE, attribute=definition.name)
    if value_filter is not None and not definition.multi_valued:
        raise refuse(c.PATH_FILTER_ON_SINGLE, path=path)
    sub = None
    if sub_name is not None:
        sub = definition.sub(sub_name)
        if sub is None:
            raise refuse(c.PATH_NO_SUB_ATTRIBUTE, path=path, attribute=definition.name)
    return Target(definition, schema, schema is resource.schema, value_filter, sub)


def _container(resource_json: dict, target: Target) -> dict:
    return resource_json if target.core else resource_json.setdefault(target.schema.urn, {})


def _merge(entry: dict, changes: dict) -> dict:
    """Set the sub-attributes ``changes`` names (unassigned ones cleared); keep the others."""
    merged = dict(entry)
    for key, value in changes.items():
        if unassigned(value):
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _same_type(a: dict, b: dict) -> bool:
    return (isinstance(a.get("type"), str) and isinstance(b.get("type"), str)
            and case_key(a["type"]) == case_key(b["type"]))


def _only_one_primary(entries: list, written: list) -> list:
    """RFC 7643 §2.4: at most one primary value; the one just written wins."""
    winners = [e for e in written if isinstance(e, dict) and parse_boolean(e.get("primary")) is True]
    if not winners:
        return entries
    keep = winners[-1]
    return [dict(e, primary=False) if isinstance(e, dict) and e is not keep and e.get("primary") else e
            for e in entries]


def _constraints(node: scim_filter.Node) -> dict | None:
    """The sub-attribute values a value filter pins (``type eq "work" and ...``), to create an entry
    where none matches (Entra, ENTRA.md §9.4); None if the filter pins nothing that simply."""
    if isinstance(node, scim_filter.Conjunction):
        left, right = _constraints(node.left), _constraints(node.right)
        return None if left is None or right is None else {**left, **right}
    if (isinstance(node, scim_filter.Comparison) and node.operator == "eq" and node.path.urn is None
            and node.path.sub_attribute is None and node.value is not None):
        return {node.path.attribute: node.value}
    return None


def _matches_any(entry: dict, removals: list) -> bool:
    return any(isinstance(r, dict) and r and all(
        case_key(str(entry.get(k))) == case_key(str(v)) for k, v in r.items()) for r in removals)


def _apply_multi(container: dict, target: Target, op: str, value: Any, has_value: bool) -> None:
    definition = target.definition
    entries = [dict(e) if isinstance(e, dict) else e for e in container.get(definition.name) or []]
    written: list = []
    if target.value_filter is None and target.sub is None:
        values = value if isinstance(value, list) else [value]
        if op == "remove":
            # A value names the entries to remove (a form some clients use); without one, all go.
            removals = [canonical_complex(definition, v) for v in values] if has_value else []
            entries = [e for e in entries if removals and not _matches_any(e, removals)]
        elif op == "replace":
            entries = written = [canonical_complex(definition, v) for v in values if not unassigned(v)]
        else:
            # add merges: a value of a type already present updates that entry rather than making a
            # second one of that type; an identical value is not added twice.
            for new in (canonical_complex(definition, v) for v in values if not unassigned(v)):
                index = next((i for i, e in enumerate(entries)
                              if isinstance(e, dict) and isinstance(new, dict) and _same_type(e, new)), None)
                if index is not None:
                    entries[index] = _merge(entries[index], new)
                    written.append(entries[index])
                elif new not in entries:
                    entries.append(new)
                    written.append(new)
        container[definition.name] = _only_one_primary(entries, written)
        return

    matched = [i for i, e in enumerate(entries) if isinstance(e, dict) and (
        target.value_filter is None or scim_filter.matches_value(e, target.value_filter))]
    if target.sub is not None and unassigned(value):
        op = "remove"  # null or "" clears (ENTRA.md §9.2); an e-mail without its value is no e-mail
    if op == "remove":
        if target.sub is None or target.sub is definition.value_sub:
            entries = [e for i, e in enumerate(entries) if i not in matched]
        else:
            for i in matched:
                entries[i].pop(target.sub.name, None)
        container[definition.name] = entries
        return

    changes = {target.sub.name: value} if target.sub is not None else canonical_complex(definition, value)
    if not isinstance(changes, dict):
        raise refuse(c.VALUE_NOT_AN_OBJECT, attribute=definition.name)
    if matched:
        for i in matched:
            entries[i] = _merge(entries[i], changes)
            written.append(entries[i])
    else:
        # Entra adds a first work e-mail with replace as well as add (ENTRA.md §9.4).
        pinned = _constraints(target.value_filter) if target.value_filter is not None else {}
        if pinned is None:
            raise refuse(c.NO_MATCHING_VALUE, attribute=definition.name)
        if unassigned(value):
            return
        entries.append(_merge(canonical_complex(definition, pinned), changes))
        written.append(entries[-1])
    container[definition.name] = _only_one_primary(entries, written)


def _apply_single(container: dict, target: Target, op: str, value: Any) -> None:
    definition = target.definition
    name = definition.name
    if target.sub is not None:
        current = dict(container.get(name) or {})
        if op == "remove" or unassigned(value):
            current.pop(target.sub.name, None)
        else:
            current[target.sub.name] = value
        container[name] = current
        return
    if op == "remove" or unassigned(value):
        if definition.default is not None:
            # Unassigned is not a state such an attribute can have: active is true or false.
            raise refuse(c.ACTIVE_CANNOT_BE_REMOVED, attribute=name)
        container.pop(name, None)
        return
    if definition.complex and definition.stored_as is None and isinstance(value, dict):
        # A complex value sets only the sub-attributes it names (RFC 7644 §3.5.2.3, ENTRA.md §9.5).
        container[name] = _merge(container.get(name) or {}, canonical_complex(definition, value))
    else:
        container[name] = canonical_complex(definition, value)


def _apply(resource_json: dict, op: str, target: Target, value: Any, has_value: bool,
           resource: ResourceType) -> None:
    if target is IGNORED:
        return
    if target.definition is None:  # a whole extension
        urn = target.schema.urn
        if op == "remove":
            resource_json.pop(urn, None)
            return
        if not isinstance(value, dict):
            raise refuse(c.VALUE_NOT_AN_OBJECT, attribute=urn)
        for key, sub_value in value.items():
            _apply(resource_json, op, parse_target(f"{urn}:{key}", resource), sub_value, True, resource)
        return
    container = _container(resource_json, target)
    if target.definition.multi_valued:
        _apply_multi(container, target, op, value, has_value)
    else:
        _apply_single(container, target, op, value)


def _apply_operation(resource_json: dict, operation: PatchOperation, target: Target | None,
                     resource: ResourceType = USER) -> None:
    if target is not None:
        if operation.op != "remove" and not operation.has_value:
            raise refuse(c.NEEDS_A_VALUE, op=operation.op)
        _apply(resource_json, operation.op, target, operation.value, operation.has_value, resource)
        return
    if operation.op == "remove":
        raise refuse(c.REMOVE_NEEDS_A_PATH)
    if not isinstance(operation.value, dict):
        raise refuse(c.PATHLESS_NEEDS_AN_OBJECT, op=operation.op)
    _apply_value_object(resource_json, operation.op, operation.value, resource)


def _apply_value_object(resource_json: dict, op: str, value: dict, resource: ResourceType) -> None:
    # Each key is a path: plain, dotted (name.givenName) or URN-qualified (ENTRA.md §9.5); the core
    # schema's URN as a key holds more of them.
    for key, sub_value in value.items():
        if str(key).lower() == resource.schema.urn.lower() and isinstance(sub_value, dict):
            _apply_value_object(resource_json, op, sub_value, resource)
        else:
            _apply(resource_json, op, parse_target(str(key), resource), sub_value, True, resource)


def in_operation(error: ScimError, number: int, operation: PatchOperation) -> ScimError:
    """``error`` naming the operation it was about: ``Operation 2 (replace displayName): ...``."""
    return wrap(c.IN_OPERATION, error, number=number,
                operation=f"{operation.op} {operation.path}" if operation.path else operation.op)


Edit = Callable[[Any], Any]


def _direct_field(operation: PatchOperation, target: Target | None) -> tuple[str, bool] | None:
    """(model field, value) for an operation that only sets a singular boolean of the core schema to a
    valid boolean (Entra's deprovision and restore: ``replace active "False"``), else None. Such an
    operation needs no trip through the JSON and its validation, which would decide the same
    (``parse_boolean`` is the one reading of a boolean)."""
    if (operation.op == "remove" or not operation.has_value or target is None or target.definition is None
            or not target.core or target.definition.type != BOOLEAN or target.definition.multi_valued
            or target.value_filter is not None or target.sub is not None):
        return None
    value = parse_boolean(operation.value)
    return None if value is None else (target.definition.field, value)


def revalidate(before: dict, after: dict, resource: ResourceType = USER) -> dict:
    """``validate(after)``'s attributes, where ``before`` (a stored resource, valid) became ``after``
    through one operation: only the top-level attributes the operation changed go through validation
    again, with the required ones beside them; the others are kept as they were. Each attribute
    validates on its own (no rule spans two), so this is the whole check at a fraction of its cost."""
    changed = {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}
    if not changed:
        return before
    required = {attribute.name for attribute in resource.schema.attributes if attribute.required}
    payload = {key: after[key] for key in changed | required if key in after}
    validated = validate(payload, resource)
    kept = {key: value for key, value in before.items() if key not in changed}
    kept.update((key, validated[key]) for key in changed if key in validated)
    return kept


def compile_patch(operations: list[PatchOperation], resource: ResourceType = USER,
                  numbers: Sequence[int] | None = None) -> Edit:
    """Check every path now, and return the edit that applies the operations, all or nothing. ``numbers``:
    the operations' numbers in the request, for refusals (when they are some of its operations)."""
    numbers = tuple(numbers) if numbers is not None else tuple(range(1, len(operations) + 1))
    targets = []
    for number, operation in zip(numbers, operations):
        try:
            targets.append(parse_target(operation.path, resource) if operation.path is not None else None)
        except ScimError as error:
            raise in_operation(error, number, operation) from None

    direct = [_direct_field(operation, target) for operation, target in zip(operations, targets)]

    def edit(fields):
        current = fields
        for number, operation, target, shortcut in zip(numbers, operations, targets, direct):
            if shortcut is not None:
                current = replace(current, **{shortcut[0]: shortcut[1]})
                continue
            before, resource_json = json_from_fields(current, resource), json_from_fields(current, resource)
            try:
                _apply_operation(resource_json, operation, target, resource)
                for extension in resource.extensions:
                    if not resource_json.get(extension.urn):
                        resource_json.pop(extension.urn, None)
                validated = revalidate(before, resource_json, resource)
            except ScimError as error:
                raise in_operation(error, number, operation) from None
            current = fields_from_json(validated, resource, current=current)
        return current

    return edit
