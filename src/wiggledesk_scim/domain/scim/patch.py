"""PATCH (RFC 7644 §3.5.2) with Entra's habits (ENTRA.md §9): PatchOp -> a pure edit of ``MemberFields``.

``compile_patch`` checks the whole PatchOp and every path before anything is read, and returns an
``edit`` function. The edit works on the member's User JSON: each operation is applied in turn and the
result re-validated, so an operation that leaves the member invalid fails there, named by its number,
and since the edit is pure nothing of a failed PATCH is ever stored.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

from ..model import MemberFields, case_key
from . import filter as scim_filter
from .errors import INVALID_PATH, INVALID_VALUE, MUTABILITY, NO_TARGET, ScimError
from .schema import (ENTERPRISE_BY_NAME, ENTERPRISE_USER, USER_BY_NAME, AttributeDef, PatchOperation,
                     fields_from_user, user_from_fields, validate_user)

#: Core attributes a client may not change: a PATCH naming them is refused (RFC 7644 §3.5.2).
READ_ONLY = frozenset({"id", "meta", "groups"})
#: Core attributes we accept and do not store (ENTRA.md §7b): an operation on them changes nothing.
NOT_STORED = frozenset(name.lower() for name in ("password", "ims", "photos", "entitlements", "roles",
                                                  "x509Certificates", "schemas"))


@dataclass(frozen=True)
class Target:
    """Where an operation applies: an attribute of the core schema or of the enterprise extension
    (``extension``), optionally narrowed by a value filter and/or to one sub-attribute."""

    definition: AttributeDef | None          # None: the whole enterprise extension
    extension: bool = False
    value_filter: scim_filter.Node | None = None
    sub: AttributeDef | None = None


IGNORED = Target(None)


def _invalid_path(path: str, why: str = "is not a valid path") -> ScimError:
    return ScimError(400, f'"{path}" {why}', INVALID_PATH)


def parse_target(path: str) -> Target:
    """The target of a PATCH path; ``invalidPath`` for a malformed or unknown one."""
    text = path.strip()
    if text.lower() == ENTERPRISE_USER.lower():
        return Target(None, extension=True)
    value_filter = None
    sub_text = None
    if "[" in text:
        head, _, rest = text.partition("[")
        condition, bracket, tail = rest.rpartition("]")
        if not bracket or (tail and not tail.startswith(".")):
            raise _invalid_path(path)
        try:
            value_filter = scim_filter.parse_filter(condition)
        except ScimError as error:
            raise ScimError(400, f'"{path}": {error.detail}', INVALID_PATH) from None
        sub_text = tail[1:] or None if tail else None
        if tail and not sub_text:
            raise _invalid_path(path)
        text = head
    try:
        parsed = scim_filter.parse_path(text)
    except ScimError:
        raise _invalid_path(path) from None
    if value_filter is not None and parsed.sub_attribute is not None:
        raise _invalid_path(path)
    sub_name = sub_text or parsed.sub_attribute
    if parsed.urn == ENTERPRISE_USER:
        if parsed.attribute.lower() == "schemas":
            return IGNORED  # some clients repeat the extension's URN inside its object
        definition, extension = ENTERPRISE_BY_NAME.get(parsed.attribute.lower()), True
    elif parsed.urn in (None, scim_filter.CORE_USER):
        lowered = parsed.attribute.lower()
        if lowered in READ_ONLY:
            raise ScimError(400, f"{parsed.attribute} is read-only and cannot be changed", MUTABILITY)
        if lowered in NOT_STORED:
            return IGNORED
        definition, extension = USER_BY_NAME.get(lowered), False
    else:
        return IGNORED  # an extension we do not know: accepted and ignored, as on POST
    if definition is None:
        raise _invalid_path(path, "names no attribute of the User schema")
    if value_filter is not None and not definition.multi_valued:
        raise _invalid_path(path, "puts a value filter on an attribute that is not multi-valued")
    sub = None
    if sub_name is not None:
        sub = definition.sub(sub_name)
        if sub is None:
            raise _invalid_path(path, "names no sub-attribute of " + definition.name)
    return Target(definition, extension, value_filter, sub)


def _unassigned(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _container(user: dict, target: Target) -> dict:
    return user.setdefault(ENTERPRISE_USER, {}) if target.extension else user


def _canonical_entry(definition: AttributeDef, value: Any) -> Any:
    """A complex value with canonical sub-attribute names; anything else is left for validation."""
    if definition.name == "manager" and isinstance(value, str):
        return {"value": value}
    if not isinstance(value, dict):
        return value
    entry = {}
    for key, sub_value in value.items():
        sub = definition.sub(key) if isinstance(key, str) else None
        if sub is not None:
            entry[sub.name] = sub_value
    return entry


def _merge(entry: dict, changes: dict) -> dict:
    """Set the sub-attributes ``changes`` names (unassigned ones cleared); keep the others."""
    merged = dict(entry)
    for key, value in changes.items():
        if _unassigned(value):
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _same_type(a: dict, b: dict) -> bool:
    return (isinstance(a.get("type"), str) and isinstance(b.get("type"), str)
            and case_key(a["type"]) == case_key(b["type"]))


def _is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _only_one_primary(entries: list, written: list) -> list:
    """RFC 7643 §2.4: at most one primary value; the one just written wins."""
    winners = [e for e in written if isinstance(e, dict) and _is_true(e.get("primary"))]
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
            removals = [_canonical_entry(definition, v) for v in values] if has_value else []
            entries = [e for e in entries if removals and not _matches_any(e, removals)]
        elif op == "replace":
            entries = written = [_canonical_entry(definition, v) for v in values if not _unassigned(v)]
        else:
            # add merges: a value of a type already present updates that entry rather than making a
            # second one of that type; an identical value is not added twice.
            for new in (_canonical_entry(definition, v) for v in values if not _unassigned(v)):
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
    if target.sub is not None and _unassigned(value):
        op = "remove"  # null or "" clears (ENTRA.md §9.2); an e-mail without its value is no e-mail
    if op == "remove":
        if target.sub is None or (target.sub.name == "value" and definition.name != "addresses"):
            entries = [e for i, e in enumerate(entries) if i not in matched]
        else:
            for i in matched:
                entries[i].pop(target.sub.name, None)
        container[definition.name] = entries
        return

    changes = {target.sub.name: value} if target.sub is not None else _canonical_entry(definition, value)
    if not isinstance(changes, dict):
        raise ScimError(400, f"the value for {definition.name} must be an object", INVALID_VALUE)
    if matched:
        for i in matched:
            entries[i] = _merge(entries[i], changes)
            written.append(entries[i])
    else:
        # Entra adds a first work e-mail with replace as well as add (ENTRA.md §9.4).
        pinned = _constraints(target.value_filter) if target.value_filter is not None else {}
        if pinned is None:
            raise ScimError(400, f"no value of {definition.name} matches the filter", NO_TARGET)
        if _unassigned(value):
            return
        entries.append(_merge(_canonical_entry(definition, pinned), changes))
        written.append(entries[-1])
    container[definition.name] = _only_one_primary(entries, written)


def _apply_single(container: dict, target: Target, op: str, value: Any) -> None:
    definition = target.definition
    name = definition.name
    if target.sub is not None:
        current = dict(container.get(name) or {})
        if op == "remove" or _unassigned(value):
            current.pop(target.sub.name, None)
        else:
            current[target.sub.name] = value
        container[name] = current
        return
    if op == "remove" or _unassigned(value):
        if definition.defaulted:
            # Unassigned is not a state such an attribute can have: active is true or false.
            raise ScimError(400, f"{name} cannot be removed, only set; to deactivate, replace it with false",
                            INVALID_VALUE)
        container.pop(name, None)
        return
    if definition.type == "complex" and definition.name != "manager" and isinstance(value, dict):
        # A complex value sets only the sub-attributes it names (RFC 7644 §3.5.2.3, ENTRA.md §9.5).
        container[name] = _merge(container.get(name) or {}, _canonical_entry(definition, value))
    else:
        container[name] = _canonical_entry(definition, value)


def _apply(user: dict, op: str, target: Target, value: Any, has_value: bool) -> None:
    if target is IGNORED:
        return
    if target.definition is None:  # the whole enterprise extension
        if op == "remove":
            user.pop(ENTERPRISE_USER, None)
            return
        if not isinstance(value, dict):
            raise ScimError(400, f"the value for {ENTERPRISE_USER} must be an object", INVALID_VALUE)
        for key, sub_value in value.items():
            _apply(user, op, parse_target(f"{ENTERPRISE_USER}:{key}"), sub_value, True)
        return
    container = _container(user, target)
    if target.definition.multi_valued:
        _apply_multi(container, target, op, value, has_value)
    else:
        _apply_single(container, target, op, value)


def _apply_operation(user: dict, operation: PatchOperation, target: Target | None) -> None:
    if target is not None:
        if operation.op != "remove" and not operation.has_value:
            raise ScimError(400, f"{operation.op} needs a value", INVALID_VALUE)
        _apply(user, operation.op, target, operation.value, operation.has_value)
        return
    if operation.op == "remove":
        raise ScimError(400, "remove needs a path", NO_TARGET)
    if not isinstance(operation.value, dict):
        raise ScimError(400, f"{operation.op} without a path needs an object value", INVALID_VALUE)
    _apply_value_object(user, operation.op, operation.value)


def _apply_value_object(user: dict, op: str, value: dict) -> None:
    # Each key is a path: plain, dotted (name.givenName) or URN-qualified (ENTRA.md §9.5); the core
    # schema's URN as a key holds more of them.
    for key, sub_value in value.items():
        if str(key).lower() == scim_filter.CORE_USER.lower() and isinstance(sub_value, dict):
            _apply_value_object(user, op, sub_value)
        else:
            _apply(user, op, parse_target(str(key)), sub_value, True)


def _describe(number: int, operation: PatchOperation) -> str:
    return f"Operation {number} ({operation.op}{' ' + operation.path if operation.path else ''})"


Edit = Callable[[MemberFields], MemberFields]


def _new_active(operation: PatchOperation, target: Target | None) -> bool | None:
    """The value an operation that only sets ``active`` to a valid boolean gives it (Entra's deprovision
    and restore: ``replace active "False"``), else None. Such an operation needs no trip through the
    User JSON and its validation, which would decide the same (``ScimBoolean``)."""
    if (operation.op == "remove" or not operation.has_value or target is None or target.definition is None
            or target.definition.name != "active" or target.extension or target.value_filter is not None
            or target.sub is not None):
        return None
    value = operation.value
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def revalidate(before: dict, after: dict) -> dict:
    """``validate_user(after)``'s attributes, where ``before`` (a stored member, valid) became ``after``
    through one operation: only the top-level attributes the operation changed go through validation
    again, with ``userName`` (required) beside them; the others are kept as they were. Each attribute
    validates on its own (no rule spans two), so this is the whole check at a fraction of its cost."""
    changed = {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}
    if not changed:
        return before
    payload = {key: after[key] for key in changed | {"userName"} if key in after}
    validated, _ = validate_user(payload)
    kept = {key: value for key, value in before.items() if key not in changed}
    kept.update((key, validated[key]) for key in changed if key in validated)
    return kept


def compile_patch(operations: list[PatchOperation]) -> Edit:
    """Check every path now, and return the edit that applies the operations, all or nothing."""
    targets = []
    for number, operation in enumerate(operations, start=1):
        try:
            targets.append(parse_target(operation.path) if operation.path is not None else None)
        except ScimError as error:
            raise ScimError(error.status, f"{_describe(number, operation)}: {error.detail}",
                            error.scim_type) from None

    direct = [_new_active(operation, target) for operation, target in zip(operations, targets)]

    def edit(fields: MemberFields) -> MemberFields:
        current = fields
        for number, (operation, target) in enumerate(zip(operations, targets), start=1):
            active = direct[number - 1]
            if active is not None:
                current = replace(current, active=active)
                continue
            before, user = user_from_fields(current), user_from_fields(current)
            try:
                _apply_operation(user, operation, target)
                if not user.get(ENTERPRISE_USER):
                    user.pop(ENTERPRISE_USER, None)
                validated = revalidate(before, user)
            except ScimError as error:
                raise ScimError(error.status, f"{_describe(number, operation)}: {error.detail}",
                                error.scim_type) from None
            current = fields_from_user(validated, active_default=current.active)
        return current

    return edit

