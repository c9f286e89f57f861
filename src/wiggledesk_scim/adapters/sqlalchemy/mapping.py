"""How each resource type's declaration (domain/registry) maps to the relational schema of ``tables.py``.

Derived, never listed. A resource type's rows live in its table (``TABLES``: a User is a member, a Group a
team), one row per resource, whose singular name prefixes everything else it owns. A stored leaf of the
resource (``registry.Leaf``) lives in the column named by its model path (``name.given_name`` ->
``name_given_name``, ``enterprise.department`` -> ``enterprise_department``); a string one that is not
case-exact has a ``<column>_key`` twin holding ``model.case_key`` of its value, which filters compare and
sorting orders by. A multi-valued one is a JSON list in its column and one row per value in its search table
``<row>_<column>`` (``member_emails``), which holds the key of each filterable string sub-attribute
(``value_key``) and each boolean one as is (``primary``). One kept apart (``Attribute.apart``: a team's
``members``) has no column at all: its values are the rows of its membership table ``<row>_<name>``
(``team_members``), and its ``value``, the id of the resource it refers to, is that resource's ``<row>_id``
column (``member_id``). Either table names the resource a row belongs to in ``<row>_id`` (``member_id`` in
``member_emails``, ``team_id`` in ``team_members``) and holds its ``organisation_id``, so a filter on a
collection is a subquery of that table alone. The resource object's own fields beside its content (a
member's ``is_admin``, every resource's ``last_modified`` and ``version``) are columns of the same names.

The tables themselves stay written out in ``tables.py`` (and the migrations); ``test_mapping`` proves that
they and the declarations agree, ``test_migrations`` that the migrations build them.

What it does not do: run statements (``repositories.py``), or build queries (``queries.py``).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from sqlalchemy import Table

from ...domain.model import Member, Team, case_key
from ...domain.ports import Rendering
from ...domain.registry import GROUP, USER, Attribute, Collection, Leaf, Path, ResourceType
from ...domain.registry.declaration import REFERENCE, STRING
from ...domain.scim.representation import USER_DOCUMENTS
from . import tables

#: Each resource type's table, in WiggleDesk's words: a User is a member, a Group a team.
TABLES = {"User": "members", "Group": "teams"}

#: Columns whose names are older than the convention: renaming one would break the processes of the
#: previous release during a rolling upgrade (they keep serving while the next release migrates).
_LEGACY_NAMES = {"enterprise_manager_id": "manager_id"}

#: The fields of a resource object that are not columns of its own kind: its identity and creation time
#: (written once, by ``row``) and its content (``fields``, the leaves' columns).
_IDENTITY = ("id", "organisation_id", "created", "fields")

#: What every change of a resource writes besides the leaves it changes.
_CHANGE_COLUMNS = ("last_modified", "version")

#: The column holding a resource's rendition (``ResourceMapping.rendering``), written with every change.
DOCUMENT = "document"


def row_name(resource_name: str) -> str:
    """What one row of the resource type ``resource_name`` is called: ``member`` for a User."""
    return TABLES[resource_name].removesuffix("s")


def column_name(model_path: tuple[str, ...]) -> str:
    """The column holding the value at ``model_path`` (from the resource's fields, or the resource
    object's own ``id``/``created``/``last_modified``)."""
    name = "_".join(part for part in model_path if part != "fields")
    return _LEGACY_NAMES.get(name, name)


def keyed(attribute: Attribute | Path) -> bool:
    """Whether filters compare a ``<column>_key`` twin (text compared ignoring case) rather than the column."""
    return attribute.type in (STRING, REFERENCE) and not attribute.case_exact


def search_column(sub: Attribute | Path, field: str) -> str:
    """The column of a collection's search table that filters compare for one sub-attribute."""
    return f"{field}_key" if keyed(sub) else field


@dataclass(frozen=True, eq=False)
class CollectionTable:
    """Where filters find the values of one collection: its search table, or, for a collection kept apart,
    its membership table. ``owner``: the column naming the resource a row belongs to; ``columns``: the
    column each filterable sub-attribute (by model field) is compared in."""

    collection: Collection
    table: Table
    owner: str
    columns: dict[str, str]

    @property
    def apart(self) -> bool:
        return self.collection.apart


def _collection_table(row: str, collection: Collection) -> CollectionTable:
    attribute = collection.attribute
    columns = {sub.field: search_column(sub, sub.field) for sub in attribute.filterable_subs}
    if attribute.apart:
        # Its value is the id of the resource it refers to (a member's id, for a team's members).
        reference = attribute.reference_sub
        if attribute.value_sub is None or reference is None:
            raise ValueError(f"{attribute.name} is kept apart, so its value must be a reference ($ref) to a "
                             f"resource, whose id its membership table holds")
        columns[attribute.value_sub.field] = f"{row_name(reference.reference_types[0])}_id"
    table = tables.metadata.tables[f"{row}_{column_name(collection.model_path)}"]
    return CollectionTable(collection, table, f"{row}_id", columns)


# -- rows ⇄ resource objects ------------------------------------------------------------------------

Columns = Callable[[Any], dict[str, Any]]


def _leaf_columns(leaf: Leaf) -> Columns:
    """The columns (with their keys) that hold ``leaf``'s value."""
    if leaf.model_path[0] == "extra":
        raise ValueError(f"{leaf.name} has no column: the SQL storage stores the attributes of tables.py only")
    name = column_name(leaf.model_path)
    attribute = leaf.attribute
    if attribute.multi_valued:
        fields = tuple(sub.field for sub in attribute.stored_subs)
        return lambda values: {name: [{field: getattr(entry, field) for field in fields} for entry in values]}
    if keyed(attribute):
        key = f"{name}_key"
        return lambda value: {name: value, key: None if value is None else case_key(value)}
    return lambda value: {name: value}


class ResourceMapping:
    """The rows of one resource type, derived once from its declaration: ``resource``, whose resource
    objects are instances of ``model`` (``Member``, ``Team``: their ``fields`` are ``resource.model``).
    ``rendering``: the rendition kept in each row's ``document`` column, rendered with every write of the
    row (None: the table has no such column)."""

    def __init__(self, resource: ResourceType, model: type, rendering: Rendering | None = None):
        self.resource = resource
        self.model = model
        self.rendering = rendering
        self.row_name = row_name(resource.name)
        self.table: Table = tables.metadata.tables[TABLES[resource.name]]
        self.own_columns = tuple(field.name for field in dataclasses.fields(model) if field.name not in _IDENTITY)
        self.leaf_columns: dict[Leaf, Columns] = {leaf: _leaf_columns(leaf) for leaf in resource.leaves}
        self.keyed_columns = tuple(column_name(leaf.model_path) for leaf in resource.leaves
                                   if not leaf.attribute.multi_valued and keyed(leaf.attribute))
        self.collection_tables = {collection: _collection_table(self.row_name, collection)
                                  for collection in resource.collections.values()}
        #: The search tables, rewritten with the resource (the collections kept apart have their own writes).
        self.search_tables = tuple(each for each in self.collection_tables.values() if not each.apart)
        self.unique_by_column = {self.filter_column(path): path for path in resource.unique}
        key_twins = {f"{name}_key" for name in self.keyed_columns}
        #: The columns a resource is read from: everything but what is derived from it (the ``_key`` twins,
        #: the rendition).
        self.read_columns = tuple(column for column in self.table.c
                                  if column.name not in key_twins and column.name != DOCUMENT)
        #: The columns a rendition is read from (with the version it must have been rendered at).
        self.rendition_columns = (self.table.c.id, self.table.c.version, self.table.c[DOCUMENT]) if rendering else ()
        self._readers = self._build_readers()

    def __repr__(self) -> str:
        return f"ResourceMapping({self.resource.name})"

    def filter_column(self, path: Path) -> str:
        """The column a filter on ``path`` compares: in the resource's table, or in its collection's table
        (``collection_tables``)."""
        if path.collection is not None:
            return self.collection_tables[path.collection].columns[path.model_path[-1]]
        name = column_name(path.model_path)
        return f"{name}_key" if keyed(path) else name

    def row(self, resource: Any) -> dict[str, Any]:
        """Every column of ``resource``'s row."""
        row: dict[str, Any] = {"id": resource.id, "organisation_id": resource.organisation_id,
                               "created": resource.created}
        fields = resource.fields
        for leaf, columns in self.leaf_columns.items():
            row.update(columns(leaf.read(fields)))
        for name in self.own_columns:
            row[name] = getattr(resource, name)
        if self.rendering is not None:
            row[DOCUMENT] = self.rendering.render(resource)
        return row

    def changed_row(self, resource: Any, changes: tuple[Leaf, ...]) -> dict[str, Any]:
        """The columns of ``resource``'s row that ``changes`` touch, with the version and lastModified."""
        row: dict[str, Any] = {}
        fields = resource.fields
        for leaf in changes:
            row.update(self.leaf_columns[leaf](leaf.read(fields)))
        for name in _CHANGE_COLUMNS:
            row[name] = getattr(resource, name)
        if self.rendering is not None:
            row[DOCUMENT] = self.rendering.render(resource)
        return row

    def changed_tables(self, changes: tuple[Leaf, ...] | None) -> list[Table]:
        """The search tables to rewrite for ``changes`` (all of them when not known)."""
        return [each.table for each in self.search_tables
                if changes is None or any(leaf.attribute is each.collection.attribute for leaf in changes)]

    def search_rows(self, resource: Any,
                    tables: Sequence[Table] | None = None) -> list[tuple[Table, list[dict[str, Any]]]]:
        """Each search table (of ``tables``, when given) with the rows it holds for ``resource``: one per
        value, keys lowered in Python."""
        found = []
        for each in self.search_tables:
            if tables is not None and each.table not in tables:
                continue
            rows = []
            for position, entry in enumerate(each.collection.entries(resource)):
                row = {each.owner: resource.id, "organisation_id": resource.organisation_id, "position": position}
                for field, column in each.columns.items():
                    value = getattr(entry, field)
                    row[column] = case_key(value) if value is not None and column != field else value
                rows.append(row)
            found.append((each.table, rows))
        return found

    def _build_readers(self) -> tuple:
        """Per schema, how its part of the fields is read back from a row."""
        readers = []
        for schema in self.resource.schemas:
            attributes = []
            for attribute in schema.stored_attributes:
                name = column_name(("fields", *self.resource.attribute_path(schema, attribute)))
                if attribute.multi_valued:
                    attributes.append((attribute.field, (lambda n, model: lambda row: tuple(
                        model(**entry) for entry in row[n]))(name, attribute.model)))
                elif attribute.complex and attribute.stored_as is None:
                    subs = tuple((sub.field, f"{name}_{sub.field}") for sub in attribute.stored_subs)
                    attributes.append((attribute.field, (lambda subs, model: lambda row: model(
                        **{field: row[column] for field, column in subs}))(subs, attribute.model)))
                else:
                    attributes.append((attribute.field, (lambda n: lambda row: row[n])(name)))
            readers.append((schema.field, schema.model, tuple(attributes)))
        return tuple(readers)

    def resource_of(self, row: dict[str, Any]) -> Any:
        """The resource object (a ``Member``, a ``Team``) a row of the resource's table holds."""
        values: dict[str, Any] = {}
        for field, model, attributes in self._readers:
            own = {name: read(row) for name, read in attributes}
            if field:
                values[field] = model(**own)
            else:
                values.update(own)
        return self.model(id=row["id"], organisation_id=row["organisation_id"],
                          fields=self.resource.model(**values), created=row["created"],
                          **{name: row[name] for name in self.own_columns})


#: The mappings of the resource types as declared: the ones the SQL storage serves.
USERS = ResourceMapping(USER, Member, USER_DOCUMENTS)
GROUPS = ResourceMapping(GROUP, Team)
