"""How the User's declaration (domain/registry) maps to the relational schema of ``tables.py``.

Derived, never listed: a stored leaf of the resource (``registry.Leaf``) lives in the ``members`` column
named by its model path (``name.given_name`` -> ``name_given_name``, ``enterprise.department`` ->
``enterprise_department``); a string one that is not case-exact has a ``<column>_key`` twin holding
``model.case_key`` of its value, which filters compare and sorting orders by; a multi-valued one is a JSON
list in its column and one row per value in its search table ``member_<column>``, which holds the key of
each filterable string sub-attribute (``value_key``) and each boolean one as is (``primary``). The tables
themselves stay written out in ``tables.py`` (and the migrations); ``test_migrations`` proves the two agree.

What it does not do: run statements (``repositories.py``), or build queries (``queries.py``).
"""
from __future__ import annotations

from typing import Any, Callable

from sqlalchemy import Table

from ...domain.model import Member, case_key
from ...domain.registry import USER, Attribute, Collection, Leaf, Path, ResourceType
from ...domain.registry.declaration import REFERENCE, STRING
from . import tables

#: Columns whose names are older than the convention: renaming one would break the processes of the
#: previous release during a rolling upgrade (they keep serving while the next release migrates).
_LEGACY_NAMES = {"enterprise_manager_id": "manager_id"}

#: The members columns beside a member's fields: WiggleDesk's own settings and the bookkeeping.
MEMBER_OWN_COLUMNS = ("is_admin", "api_access", "last_modified", "version")


def column_name(model_path: tuple[str, ...]) -> str:
    """The ``members`` column holding the value at ``model_path`` (from the member's fields, or the
    member's own ``id``/``created``/``last_modified``)."""
    name = "_".join(part for part in model_path if part != "fields")
    return _LEGACY_NAMES.get(name, name)


def keyed(attribute: Attribute | Path) -> bool:
    """Whether filters compare a ``<column>_key`` twin (text compared ignoring case) rather than the column."""
    return attribute.type in (STRING, REFERENCE) and not attribute.case_exact


def search_table(collection: Collection) -> Table:
    return tables.metadata.tables["member_" + column_name(collection.model_path)]


def search_column(sub: Attribute | Path, field: str) -> str:
    """The column of a collection's search table that filters compare for one sub-attribute."""
    return f"{field}_key" if keyed(sub) else field


def filter_column(path: Path) -> str:
    """The column a filter on ``path`` compares: in ``members``, or in its collection's search table."""
    if path.collection is not None:
        return search_column(path, path.model_path[-1])
    name = column_name(path.model_path)
    return f"{name}_key" if keyed(path) else name


# -- members rows ⇄ members --------------------------------------------------------------------------

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


class MemberMapping:
    """The rows of one resource type's members, derived once from its declaration."""

    def __init__(self, users: ResourceType):
        self.users = users
        self.leaf_columns: dict[Leaf, Columns] = {leaf: _leaf_columns(leaf) for leaf in users.leaves}
        self.keyed_columns = tuple(column_name(leaf.model_path) for leaf in users.leaves
                                   if not leaf.attribute.multi_valued and keyed(leaf.attribute))
        self.collections = tuple((collection, search_table(collection), tuple(
            (sub.field, search_column(sub, sub.field)) for sub in collection.attribute.filterable_subs))
            for collection in users.collections.values())
        self.unique_by_column = {filter_column(path): path for path in users.unique}
        self._readers = self._build_readers()

    def row(self, member: Member) -> dict[str, Any]:
        """Every column of ``member``'s ``members`` row."""
        row: dict[str, Any] = {"id": member.id, "organisation_id": member.organisation_id,
                               "created": member.created}
        fields = member.fields
        for leaf, columns in self.leaf_columns.items():
            row.update(columns(leaf.read(fields)))
        for name in MEMBER_OWN_COLUMNS:
            row[name] = getattr(member, name)
        return row

    def changed_row(self, member: Member, changes: tuple[Leaf, ...]) -> dict[str, Any]:
        """The columns of ``member``'s row that ``changes`` touch, with the version and lastModified."""
        row: dict[str, Any] = {}
        fields = member.fields
        for leaf in changes:
            row.update(self.leaf_columns[leaf](leaf.read(fields)))
        row["last_modified"] = member.last_modified
        row["version"] = member.version
        return row

    def changed_tables(self, changes: tuple[Leaf, ...] | None) -> list[Table]:
        """The search tables to rewrite for ``changes`` (all of them when not known)."""
        return [table for collection, table, _ in self.collections
                if changes is None or any(leaf.attribute is collection.attribute for leaf in changes)]

    def search_rows(self, member: Member) -> list[tuple[Table, list[dict[str, Any]]]]:
        """Each search table with the rows it holds for ``member``: one per value, keys lowered in Python."""
        found = []
        for collection, table, columns in self.collections:
            rows = []
            for position, entry in enumerate(collection.entries(member)):
                row = {"member_id": member.id, "organisation_id": member.organisation_id, "position": position}
                for field, column in columns:
                    value = getattr(entry, field)
                    row[column] = case_key(value) if value is not None and column != field else value
                rows.append(row)
            found.append((table, rows))
        return found

    def _build_readers(self) -> tuple:
        """Per schema, how its part of the fields is read back from a row."""
        readers = []
        for schema in self.users.schemas:
            attributes = []
            for attribute in schema.stored_attributes:
                name = column_name(("fields", *self.users.attribute_path(schema, attribute)))
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

    def member(self, row: dict[str, Any]) -> Member:
        values: dict[str, Any] = {}
        for field, model, attributes in self._readers:
            own = {name: read(row) for name, read in attributes}
            if field:
                values[field] = model(**own)
            else:
                values.update(own)
        return Member(id=row["id"], organisation_id=row["organisation_id"], fields=self.users.model(**values),
                      created=row["created"], last_modified=row["last_modified"], version=row["version"],
                      is_admin=row["is_admin"], api_access=row["api_access"])


#: The mapping of the User resource type as declared: the one the SQL storage serves.
USERS = MemberMapping(USER)
