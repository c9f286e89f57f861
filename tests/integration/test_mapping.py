"""tables.py (and so the migrations, which test_migrations compares with it) agrees with the registry: every
stored User attribute has its column, its key twin when compared ignoring case, its search table when
multi-valued and its unique index when unique; and no members column is unexplained."""
from __future__ import annotations

import pytest

from wiggledesk_scim.adapters.sqlalchemy import tables
from wiggledesk_scim.adapters.sqlalchemy.mapping import (MEMBER_OWN_COLUMNS, USERS, MemberMapping, column_name,
                                                         keyed)
from wiggledesk_scim.domain.registry import USER, Attribute, Schema
from wiggledesk_scim.domain.registry.declaration import NONE


def _leaf_columns() -> set[str]:
    columns = set()
    for leaf in USER.leaves:
        name = column_name(leaf.model_path)
        columns.add(name)
        if not leaf.attribute.multi_valued and keyed(leaf.attribute):
            columns.add(f"{name}_key")
    return columns


def test_every_members_column_is_a_stored_attribute_its_key_or_bookkeeping():
    """The members table holds exactly the registry's leaves (with key twins), the member's own columns
    and its identity: nothing the registry does not explain, nothing it declares missing."""
    expected = _leaf_columns() | set(MEMBER_OWN_COLUMNS) | {"id", "organisation_id", "created"}
    assert {column.name for column in tables.members.c} == expected


def test_the_case_insensitive_columns_are_the_registrys():
    """tables.py's list of key twins is the registry's text attributes that are not case-exact."""
    assert set(tables.CASE_INSENSITIVE) == set(USERS.keyed_columns)


@pytest.mark.parametrize("collection", list(USER.collections.values()), ids=lambda c: c.name)
def test_every_multi_valued_attribute_has_its_search_table(collection):
    """Each multi-valued attribute's filterable sub-attributes are columns of its search table."""
    table = tables.metadata.tables["member_" + column_name(collection.model_path)]
    (mapped,) = [columns for c, _, columns in USERS.collections if c is collection]
    assert {column for _, column in mapped} | {"member_id", "position", "organisation_id"} == {
        column.name for column in table.c}
    assert {column for _, column in mapped if column.endswith("_key")} == {
        f"{key}_key" for key in tables.SEARCH_TABLE_KEYS[table.name]}


def test_every_unique_attribute_has_a_unique_index_per_organisation():
    """uniqueness: server in the registry is a unique index on (organisation_id, its column)."""
    unique = {tuple(column.name for column in index.columns) for index in tables.members.indexes if index.unique}
    declared = {("organisation_id", column) for column in USERS.unique_by_column}
    assert declared and declared == unique
    assert {path.path for path in USERS.unique_by_column.values()} == {
        attribute.name for attribute in USER.schema.attributes if attribute.uniqueness != NONE}


def test_an_attribute_without_a_column_is_refused_when_the_mapping_is_built():
    """A schema declared without a model class lives in the model's extra mapping, which tables.py has no
    column for: the SQL storage says so at startup rather than losing its values."""
    extension = Schema("urn:example:params:scim:schemas:extension:desks:2.0:User", "Desks", "Desks",
                       field=None, attributes=(Attribute("deskNumber"),))
    with pytest.raises(ValueError, match="deskNumber has no column"):
        MemberMapping(USER.extended_with(extension))
