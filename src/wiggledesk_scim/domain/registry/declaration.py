"""How a resource type is declared once: its schemas, their attributes with the characteristics of
RFC 7643 §7, and how each attribute maps to the domain model.

A declaration is plain data (``Attribute``, ``Schema``); ``ResourceType`` derives from it everything the
layers need, so no layer keeps a list of attributes of its own:

- ``paths``: each attribute a filter may name or a query may sort by (``Path``), with the accessor the
  in-memory evaluator reads it through and the model path the SQL adapter maps to a column;
- ``collections``: the multi-valued complex attributes, whose values filters search one by one;
- ``leaves``: the stored pieces a change is made of (``Leaf``): the activity trail names them, the SQL
  adapter writes the columns of those that changed, ``diff`` compares two states by them;
- the validation (``scim.schema``), the JSON translation (``scim.translation``) and the discovery
  documents (``scim.representation``) walk the attributes themselves.

How an attribute maps to the model: a schema's values live on the resource's model object (the core
schema: ``MemberFields`` itself), on one of its fields (``Schema.field``: the enterprise extension on
``MemberFields.enterprise``), or, for a schema with no model class of its own, in the model's generic
``extra`` mapping keyed by the attribute's URN path. An attribute's field is its name in snake case unless
it says otherwise; a complex attribute's value is an instance of its ``model`` (``Name``), a tuple of them
when multi-valued, or, with ``stored_as``, just the value of one sub-attribute (the manager's id).
Knows nothing of SCIM's wire format, HTTP, colander or storage.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import cached_property
from operator import attrgetter
from typing import Any, Callable

STRING = "string"
BOOLEAN = "boolean"
DATETIME = "dateTime"
REFERENCE = "reference"
COMPLEX = "complex"
INTEGER = "integer"
DECIMAL = "decimal"

READ_WRITE = "readWrite"
READ_ONLY = "readOnly"
IMMUTABLE = "immutable"
WRITE_ONLY = "writeOnly"

ALWAYS = "always"
DEFAULT = "default"
NEVER = "never"
REQUEST = "request"

NONE = "none"
SERVER = "server"
GLOBAL = "global"

#: The most characters of any string attribute: generous for names, titles and addresses, and a bound on
#: what one request can make us store.
MAX_STRING_LENGTH = 1024
#: The most characters of the values that unique and search indexes hold (userName, externalId, the values
#: of emails and phoneNumbers): 512 characters of up to 4 bytes stay within PostgreSQL's B-tree entry
#: limit (2,704 bytes), so a long value is a 400 rather than an index error. (An Entra userPrincipalName
#: has at most 113 characters, an e-mail address 254.)
MAX_INDEXED_LENGTH = 512
#: The most entries of one multi-valued attribute.
MAX_VALUES = 100

#: Where an attribute's ``field`` is derived from its name (the default).
_DERIVED = "<derived>"


def snake(name: str) -> str:
    """``preferredLanguage`` -> ``preferred_language``: a SCIM name as a model field name."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


@dataclass(frozen=True, eq=False)
class Attribute:
    """One attribute or sub-attribute as RFC 7643 §7 publishes it, plus how we store and query it.

    ``required``: a create or replace without it is refused. ``default``: what a create without it gets
    (so it is never unassigned, and cannot be removed, only set: ``active``). ``max_length``: the most
    characters of a string value. ``filterable``/``sortable``: whether filters may name it and ``sortBy``
    order by it (sorting needs a single value: sub-attributes of multi-valued attributes never sort).
    ``field``: the model field holding it (None: not stored; a read-only sub-attribute such as the
    manager's displayName, or a ``$ref`` built from ``value``). ``model``: a complex attribute's value class.
    ``stored_as``: a complex attribute stored as just that sub-attribute's value. ``bare_value``: a plain
    value sent where the complex one belongs means its ``value`` (Entra's manager, ENTRA.md §9.6).
    ``apart``: a multi-valued attribute kept apart from the model, one stored row per value, because it
    may hold far more values than a resource should carry (a team's members, a member's teams): no
    ``field``; its values are written and read through their own repository methods, and filters reach
    them through the resource's ``collections`` all the same. ``max_values``: the most values one request
    may give it.
    """

    name: str
    type: str = STRING
    description: str = ""
    sub_attributes: tuple["Attribute", ...] = ()
    multi_valued: bool = False
    required: bool = False
    case_exact: bool = False
    mutability: str = READ_WRITE
    returned: str = DEFAULT
    uniqueness: str = NONE
    canonical_values: tuple[str, ...] = ()
    reference_types: tuple[str, ...] = ()
    filterable: bool = True
    sortable: bool = True
    default: Any = None
    max_length: int = MAX_STRING_LENGTH
    field: str | None = _DERIVED
    model: type | None = None
    stored_as: str | None = None
    bare_value: bool = False
    apart: bool = False
    max_values: int = MAX_VALUES

    def __post_init__(self) -> None:
        if self.apart:
            if not (self.type == COMPLEX and self.multi_valued):
                raise ValueError(f"{self.name}: only a multi-valued complex attribute can be kept apart")
            object.__setattr__(self, "field", None)
        if self.field == _DERIVED:
            object.__setattr__(self, "field", snake(self.name.lstrip("$")))
        if self.type not in DECLARABLE_TYPES:
            raise ValueError(f"{self.name}: attributes of type {self.type} are not served yet")
        if self.type == COMPLEX and self.field is not None and self.model is None and self.stored_as is None:
            raise ValueError(f"complex attribute {self.name} needs a model class or stored_as")

    @property
    def complex(self) -> bool:
        return self.type == COMPLEX

    @property
    def stored(self) -> bool:
        return self.field is not None

    @property
    def writable(self) -> bool:
        return self.mutability != READ_ONLY

    def sub(self, name: str) -> "Attribute | None":
        """The sub-attribute called ``name``, compared ignoring case (RFC 7643 §2.1)."""
        return self._subs_by_lower_name.get(name.lower())

    @cached_property
    def _subs_by_lower_name(self) -> dict[str, "Attribute"]:
        return {sub.name.lower(): sub for sub in self.sub_attributes}

    @cached_property
    def stored_subs(self) -> tuple["Attribute", ...]:
        return tuple(sub for sub in self.sub_attributes if sub.stored)

    @cached_property
    def filterable_subs(self) -> tuple["Attribute", ...]:
        return tuple(sub for sub in self.stored_subs if sub.filterable)

    @cached_property
    def value_sub(self) -> "Attribute | None":
        """The ``value`` sub-attribute, which a complex attribute named alone in a filter means."""
        return self.sub("value")

    @cached_property
    def reference_sub(self) -> "Attribute | None":
        """A ``$ref`` built from ``value``: the location of the resource the value names."""
        ref = self.sub("$ref")
        return ref if ref is not None and not ref.stored and ref.reference_types else None


@dataclass(frozen=True, eq=False)
class Schema:
    """A schema (RFC 7643 §7): its URN, name, description and attributes, and where its values live on the
    resource's model: on the model object itself (``field`` ""), on one of its fields (``field`` names it,
    ``model`` is that field's class), or in the model's ``extra`` mapping (``model`` None and ``field``
    None: a schema declared with no model class of its own)."""

    urn: str
    name: str
    description: str
    attributes: tuple[Attribute, ...]
    field: str | None = ""
    model: type | None = None

    def __post_init__(self) -> None:
        if self.in_extra and any(attribute.complex for attribute in self.attributes):
            raise ValueError(f"{self.urn}: a schema without a model class holds simple attributes only")

    @property
    def in_extra(self) -> bool:
        return self.field is None

    def attribute(self, name: str) -> Attribute | None:
        return self._by_lower_name.get(name.lower())

    @cached_property
    def stored_attributes(self) -> tuple[Attribute, ...]:
        return tuple(attribute for attribute in self.attributes if attribute.stored)

    @cached_property
    def _by_lower_name(self) -> dict[str, Attribute]:
        return {attribute.name.lower(): attribute for attribute in self.attributes}


@dataclass(frozen=True, eq=False)
class Collection:
    """A multi-valued complex attribute, as filters see it: its values are searched one by one."""

    name: str                         # "emails"
    attribute: Attribute
    #: The model path of its tuple of values, from the resource (``("fields", "emails")``); for one kept
    #: apart, the name under which the value being filtered carries them (``("members",)``).
    model_path: tuple[str, ...]
    entries: Callable[[Any], tuple]

    @property
    def apart(self) -> bool:
        return self.attribute.apart

    def __repr__(self) -> str:
        return f"Collection({self.name})"


@dataclass(frozen=True, eq=False)
class Path:
    """An attribute a filter may name, with what its comparisons need.

    ``path`` is how messages name it (``userName``, ``name.familyName``, ``emails.value``, ``department``).
    ``read`` reads its value from the resource (the ``Member``), or, for a sub-attribute of a collection,
    from one value of it. ``model_path`` says where the value lives, from the resource
    (``("fields", "name", "family_name")``; for a collection's sub-attribute, from one value: ``("value",)``).
    """

    path: str
    type: str
    case_exact: bool
    sortable: bool
    model_path: tuple[str, ...]
    read: Callable[[Any], Any]
    collection: Collection | None = None
    attribute: Attribute | None = None

    @property
    def sub_attribute(self) -> str | None:
        """``value`` for ``emails.value``; None for a singular attribute."""
        return self.path.rsplit(".", 1)[1] if self.collection is not None else None

    def __repr__(self) -> str:
        return f"Path({self.path})"


@dataclass(frozen=True, eq=False)
class Leaf:
    """A stored piece of a resource that changes as one: a singular attribute, one sub-attribute of a
    singular complex one (``name.givenName``), or a whole multi-valued attribute (``emails``).

    ``name`` is its SCIM name as the activity trail records it (the extension's full URN path for an
    extension attribute); ``model_path`` where it lives from the resource's fields
    (``("name", "given_name")``); ``attribute`` what it holds (a collection's whole attribute for one)."""

    name: str
    model_path: tuple[str, ...]
    attribute: Attribute
    read: Callable[[Any], Any]
    schema: Schema

    def __repr__(self) -> str:
        return f"Leaf({self.name})"


#: RFC 7643 §3.1's common attributes a filter may name, held by the resource object itself (a ``Member``, a
#: ``Team``): (SCIM path, type, case-exact, the resource object's field).
COMMON = (("id", STRING, True, "id"), ("meta.created", DATETIME, False, "created"),
          ("meta.lastModified", DATETIME, False, "last_modified"))

#: The types an attribute may be declared with (numbers and binary ones are not served yet).
DECLARABLE_TYPES = frozenset({STRING, BOOLEAN, REFERENCE, COMPLEX})

#: What a stored leaf holds when it has no value: None, or no values at all.
_UNASSIGNED = (None, ())


def _compared_as(type_: str) -> str:
    """The type a filter compares an attribute as: a reference is text."""
    return STRING if type_ == REFERENCE else type_


def _reader(model_path: tuple[str, ...]) -> Callable[[Any], Any]:
    """Reads ``model_path`` from an object; a key of the ``extra`` mapping for an attribute kept there."""
    if len(model_path) >= 2 and model_path[-2] == "extra":
        container, key = attrgetter(".".join(model_path[:-1])), model_path[-1]
        return lambda obj: container(obj).get(key)
    return attrgetter(".".join(model_path))


#: The key of an attribute of a schema without a model class in the model's ``extra`` mapping.
def extra_key(schema: Schema, attribute: Attribute) -> str:
    return f"{schema.urn}:{attribute.name}"


@dataclass(frozen=True, eq=False)
class ResourceType:
    """A resource type (RFC 7643 §6) declared once: the core schema, its extensions, the common attributes
    served for every resource (``id``, ``meta``) and how they map to the model.

    ``model`` is the class of the resource's content (``MemberFields``), held by the resource object as
    ``fields``; ``common`` are the attributes a filter may name that the resource object holds itself
    (``id``, ``meta.created``), as (SCIM path, type, case-exact, the resource object's field): ``COMMON``.
    ``unstored`` names core attributes of the RFC's schema we accept and ignore (ENTRA.md §7b).
    """

    name: str
    endpoint: str
    description: str
    schema: Schema
    model: type
    extensions: tuple[Schema, ...] = ()
    common: tuple[tuple[str, str, bool, str], ...] = COMMON
    unstored: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        for extension in self.extensions:
            if any(attribute.multi_valued for attribute in extension.attributes):
                # Filters search the values of the core schema's multi-valued attributes only.
                raise ValueError(f"{extension.urn}: multi-valued attributes belong to the core schema")

    def extended_with(self, *schemas: Schema) -> "ResourceType":
        """This resource type with more extension schemas."""
        return replace(self, extensions=self.extensions + schemas)

    @property
    def schemas(self) -> tuple[Schema, ...]:
        return (self.schema, *self.extensions)

    def schema_of(self, urn: str) -> Schema | None:
        """The schema whose URN is ``urn``, ignoring case."""
        return self._schemas_by_lower_urn.get(urn.lower())

    @cached_property
    def _schemas_by_lower_urn(self) -> dict[str, Schema]:
        return {schema.urn.lower(): schema for schema in self.schemas}

    # -- where a schema's values live -------------------------------------------------------------

    @staticmethod
    def attribute_path(schema: Schema, attribute: Attribute) -> tuple[str, ...]:
        """The model path, from the resource's fields, of ``attribute``'s value."""
        if schema.in_extra:
            return ("extra", extra_key(schema, attribute))
        return (schema.field, attribute.field) if schema.field else (attribute.field,)

    # -- filters and sorting ----------------------------------------------------------------------

    @cached_property
    def collections(self) -> dict[str, Collection]:
        """Each multi-valued complex attribute of the core schema that is stored in the model, or kept apart
        and filterable, by lower-case name. One kept apart is read from the object being filtered under
        its name in snake case: a store evaluating a filter in Python hands it the resource with them."""
        found = {}
        for attribute in self.schema.attributes:
            if not (attribute.complex and attribute.multi_valued):
                continue
            if attribute.stored:
                model_path = ("fields", *self.attribute_path(self.schema, attribute))
            elif attribute.apart and attribute.filterable:
                model_path = (snake(attribute.name),)
            else:
                continue
            found[attribute.name.lower()] = Collection(attribute.name, attribute, model_path, _reader(model_path))
        return found

    @cached_property
    def _paths(self) -> tuple[dict[tuple[str | None, str], Path], dict[tuple[str, str], Path]]:
        """(singular paths by (schema URN or None for the common ones, lower-case dotted name),
        collection sub-attribute paths by (lower-case collection name, lower-case sub-attribute))."""
        singular: dict[tuple[str | None, str], Path] = {}
        subs: dict[tuple[str, str], Path] = {}
        for path, type_, case_exact, member_field in self.common:
            singular[(None, path.lower())] = Path(path, type_, case_exact, True, (member_field,),
                                                  attrgetter(member_field))
        for schema in self.schemas:
            for attribute in schema.attributes:
                if not attribute.filterable or not (attribute.stored or attribute.apart):
                    continue
                if attribute.complex and attribute.multi_valued:
                    collection = self.collections[attribute.name.lower()]
                    for sub in attribute.filterable_subs:
                        subs[(attribute.name.lower(), sub.name.lower())] = Path(
                            f"{attribute.name}.{sub.name}", _compared_as(sub.type), sub.case_exact, False,
                            (sub.field,), attrgetter(sub.field), collection, sub)
                    continue
                model_path = ("fields", *self.attribute_path(schema, attribute))
                if attribute.complex and attribute.stored_as is not None:
                    sub = attribute.sub(attribute.stored_as)
                    path = Path(f"{attribute.name}.{sub.name}", _compared_as(sub.type), sub.case_exact,
                                attribute.sortable and sub.sortable, model_path, _reader(model_path),
                                attribute=sub)
                    singular[(schema.urn, f"{attribute.name}.{sub.name}".lower())] = path
                    # Named alone, a complex attribute means its value (RFC 7644 §3.4.2.2).
                    singular[(schema.urn, attribute.name.lower())] = path
                elif attribute.complex:
                    for sub in attribute.filterable_subs:
                        sub_path = (*model_path, sub.field)
                        singular[(schema.urn, f"{attribute.name}.{sub.name}".lower())] = Path(
                            f"{attribute.name}.{sub.name}", _compared_as(sub.type), sub.case_exact,
                            attribute.sortable and sub.sortable, sub_path, _reader(sub_path), attribute=sub)
                else:
                    singular[(schema.urn, attribute.name.lower())] = Path(
                        attribute.name, _compared_as(attribute.type), attribute.case_exact, attribute.sortable,
                        model_path,
                        _reader(model_path), attribute=attribute)
        return singular, subs

    @cached_property
    def paths(self) -> tuple[Path, ...]:
        """Every attribute a filter may name, once each."""
        singular, subs = self._paths
        return tuple({id(p): p for p in (*singular.values(), *subs.values())}.values())

    def singular_path(self, urn: str | None, dotted: str) -> Path | None:
        """The singular attribute ``dotted`` (lower case, ``name.familyname``) of the schema ``urn`` (None:
        a common attribute such as ``id`` or ``meta.created``)."""
        return self._paths[0].get((urn, dotted))

    def collection_path(self, collection: str, sub: str) -> Path | None:
        """The sub-attribute ``sub`` of the collection ``collection`` (both lower case)."""
        return self._paths[1].get((collection, sub))

    def path(self, dotted: str) -> Path:
        """The filterable attribute called ``dotted`` (``active``, ``emails.value``, ``meta.created``, an
        extension's by its name alone), for code that queries by a known attribute; ``KeyError`` if none.
        (Clients' filters are resolved by ``scim.filter``, with every SCIM rule.)"""
        lowered = dotted.lower()
        for urn in (None, *(schema.urn for schema in self.schemas)):
            found = self.singular_path(urn, lowered)
            if found is not None:
                return found
        collection, _, sub = lowered.partition(".")
        found = self.collection_path(collection, sub)
        if found is None:
            raise KeyError(dotted)
        return found

    # -- changes ------------------------------------------------------------------------------------

    @cached_property
    def leaves(self) -> tuple[Leaf, ...]:
        """The stored pieces of the resource's content, in the core schema's order, then the extensions'."""
        found = []
        for schema in self.schemas:
            prefix = "" if schema is self.schema else schema.urn + ":"
            for attribute in schema.stored_attributes:
                model_path = self.attribute_path(schema, attribute)
                if attribute.complex and not attribute.multi_valued and attribute.stored_as is None:
                    for sub in attribute.stored_subs:
                        sub_path = (*model_path, sub.field)
                        found.append(Leaf(f"{prefix}{attribute.name}.{sub.name}", sub_path, sub,
                                          _reader(sub_path), schema))
                else:
                    found.append(Leaf(prefix + attribute.name, model_path, attribute, _reader(model_path), schema))
        return tuple(found)

    @cached_property
    def _leaves_by_container(self) -> tuple[tuple[Callable[[Any], Any], tuple[Leaf, ...]], ...]:
        """The leaves grouped by the model object holding them, so ``diff`` skips a whole unchanged one
        (most changes touch one attribute: comparing ``name`` or ``enterprise`` once is cheaper)."""
        groups: dict[tuple[str, ...], list[Leaf]] = {}
        for leaf in self.leaves:
            container = leaf.model_path[:1] if len(leaf.model_path) > 1 else ()
            groups.setdefault(container, []).append(leaf)
        return tuple((_reader(container) if container else (lambda fields: fields), tuple(leaves))
                     for container, leaves in groups.items())

    def diff(self, before: Any, after: Any) -> tuple[Leaf, ...]:
        """The leaves whose values differ between two states of the resource's content, in ``leaves``'
        order. The one comparison of two states: the trail names these, the SQL adapter writes them."""
        if before == after:
            return ()
        changed = []
        for container, leaves in self._leaves_by_container:
            if container(before) == container(after):
                continue
            changed.extend(leaf for leaf in leaves if leaf.read(before) != leaf.read(after))
        order = self._leaf_order
        return tuple(sorted(changed, key=order.__getitem__))

    def assigned(self, fields: Any) -> tuple[Leaf, ...]:
        """The leaves that hold a value in ``fields`` (a new resource's: what its create gave it)."""
        return tuple(leaf for leaf in self.leaves if leaf.read(fields) not in _UNASSIGNED)

    @cached_property
    def _leaf_order(self) -> dict[Leaf, int]:
        return {leaf: index for index, leaf in enumerate(self.leaves)}

    @cached_property
    def unique(self) -> tuple[Path, ...]:
        """The attributes whose values are unique within an organisation (``uniqueness: server``)."""
        return tuple(self.singular_path(schema.urn, attribute.name.lower())
                     for schema in self.schemas for attribute in schema.attributes
                     if attribute.uniqueness != NONE and attribute.stored and not attribute.complex)
