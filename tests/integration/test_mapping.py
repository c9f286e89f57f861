"""tables.py (and so the migrations, which test_migrations compares with it) agrees with the registry: every
stored attribute of each resource type has its column in the type's table, its key twin when compared
ignoring case, its search table when multi-valued, its membership table when kept apart, and its unique
index when unique; and no column of a resource type's table is unexplained."""
from __future__ import annotations

import pytest

from wiggledesk_scim.adapters.sqlalchemy import tables
from tests.integration.test_repository_contract import at, bjensen_fields
from wiggledesk_scim.adapters.sqlalchemy.mapping import DOCUMENT, GROUPS, USERS, ResourceMapping, column_name, keyed
from wiggledesk_scim.domain.model import Member, MemberFields, Team, TeamFields
from wiggledesk_scim.domain.registry import GROUP, RESOURCE_TYPES, USER, Attribute, Schema
from wiggledesk_scim.domain.registry.declaration import NONE

MAPPINGS = [USERS, GROUPS]


def _leaf_columns(mapping: ResourceMapping) -> set[str]:
    columns = set()
    for leaf in mapping.resource.leaves:
        name = column_name(leaf.model_path)
        columns.add(name)
        if not leaf.attribute.multi_valued and keyed(leaf.attribute):
            columns.add(f"{name}_key")
    return columns


def test_every_resource_type_served_has_a_mapping():
    """The SQL storage maps every resource type the registry declares."""
    assert {mapping.resource.name for mapping in MAPPINGS} == set(RESOURCE_TYPES)


@pytest.mark.parametrize("mapping", MAPPINGS, ids=repr)
def test_every_column_is_a_stored_attribute_its_key_or_bookkeeping(mapping):
    """A resource type's table holds exactly the registry's leaves (with key twins), the resource object's
    own columns and its identity, and its rendition if it keeps one: nothing the registry does not explain,
    nothing it declares missing."""
    expected = _leaf_columns(mapping) | set(mapping.own_columns) | {"id", "organisation_id", "created"}
    if mapping.rendering is not None:
        expected.add(DOCUMENT)
    assert {column.name for column in mapping.table.c} == expected


def test_a_teams_table_holds_no_members():
    """The Group's members are kept apart: the teams table has no column for them, only its own."""
    assert {column.name for column in tables.teams.c} == {
        "id", "organisation_id", "display_name", "display_name_key", "external_id", "created", "last_modified",
        "version"}
    assert GROUPS.own_columns == ("last_modified", "version")


def test_the_case_insensitive_columns_are_the_registrys():
    """tables.py's list of the members' key twins is the User's text attributes that are not case-exact;
    the teams' one key twin is the Group's displayName."""
    assert set(tables.CASE_INSENSITIVE) == set(USERS.keyed_columns)
    assert GROUPS.keyed_columns == ("display_name",)


@pytest.mark.parametrize("collection", list(USER.collections.values()), ids=lambda c: c.name)
def test_every_multi_valued_attribute_has_its_search_table(collection):
    """Each multi-valued attribute's filterable sub-attributes are columns of its search table."""
    table = tables.metadata.tables["member_" + column_name(collection.model_path)]
    (mapped,) = [each for each in USERS.search_tables if each.collection is collection]
    assert mapped.table is table and mapped.owner == "member_id"
    assert set(mapped.columns.values()) | {"member_id", "position", "organisation_id"} == {
        column.name for column in table.c}
    assert {column for column in mapped.columns.values() if column.endswith("_key")} == {
        f"{key}_key" for key in tables.SEARCH_TABLE_KEYS[table.name]}


def test_a_teams_members_are_the_rows_of_its_membership_table():
    """The Group's members, kept apart, are team_members: the owner (team_id) and the member its value
    names (member_id, the User's row: its $ref's referenceTypes) as the primary key, each a foreign key
    that cascades, and the organisation; members.value filters compare member_id. Nothing else."""
    (members,) = GROUP.collections.values()
    mapped = GROUPS.collection_tables[members]
    assert mapped.apart and GROUPS.search_tables == ()
    assert (mapped.table, mapped.owner, mapped.columns) == (tables.team_members, "team_id", {"value": "member_id"})
    assert GROUPS.filter_column(GROUP.path("members.value")) == "member_id"
    assert {column.name for column in tables.team_members.c} == {"team_id", "member_id", "organisation_id"}
    assert [column.name for column in tables.team_members.primary_key] == ["team_id", "member_id"]
    references = {(key.parent.name, key.column.table.name, key.ondelete) for key in tables.team_members.foreign_keys}
    assert references == {("team_id", "teams", "CASCADE"),
                          ("member_id", tables.members.name, "CASCADE")}


def test_no_other_table_is_named_for_a_resource_type():
    """Every table beginning with a resource type's row name is that type's search or membership table:
    none is left over from an attribute that is no longer declared."""
    owned = {each.table.name for mapping in MAPPINGS for each in mapping.collection_tables.values()}
    prefixes = tuple(f"{mapping.row_name}_" for mapping in MAPPINGS)
    assert {name for name in tables.metadata.tables if name.startswith(prefixes)} == owned


@pytest.mark.parametrize("mapping", MAPPINGS, ids=repr)
def test_every_unique_attribute_has_a_unique_index_per_organisation(mapping):
    """uniqueness: server in the registry is a unique index on (organisation_id, its column), named by the
    naming convention (which is how a violation is told apart)."""
    indexes = {tuple(column.name for column in index.columns): index.name
               for index in mapping.table.indexes if index.unique}
    declared = {("organisation_id", column) for column in mapping.unique_by_column}
    assert declared and declared == set(indexes)
    assert all(name == f"uq_{mapping.table.name}_{'_'.join(columns)}" for columns, name in indexes.items())
    assert {path.path for path in mapping.unique_by_column.values()} == {
        attribute.name for attribute in mapping.resource.schema.attributes if attribute.uniqueness != NONE}


@pytest.mark.parametrize("mapping", MAPPINGS, ids=repr)
def test_a_row_reads_back_as_the_resource_it_was_written_from(mapping):
    """``resource_of(row(x)) == x``, for the richest member and team the registry can describe."""
    if mapping is USERS:
        resource = Member(id="m", organisation_id="o", fields=MemberFields(user_name="bjensen", **bjensen_fields()),
                          created=at("2026-11-23T09:14:07+00:00"), last_modified=at("2026-11-24T09:14:07+00:00"),
                          version=3, is_admin=True, api_access=True)
    else:
        resource = Team(id="t", organisation_id="o", fields=TeamFields("Tour Guides", external_id="tg-1"),
                        created=at("2026-11-23T09:14:07+00:00"), last_modified=at("2026-11-24T09:14:07+00:00"),
                        version=3)
    assert mapping.resource_of(mapping.row(resource)) == resource


def test_an_attribute_without_a_column_is_refused_when_the_mapping_is_built():
    """A schema declared without a model class lives in the model's extra mapping, which tables.py has no
    column for: the SQL storage says so at startup rather than losing its values."""
    extension = Schema("urn:example:params:scim:schemas:extension:desks:2.0:User", "Desks", "Desks",
                       field=None, attributes=(Attribute("deskNumber"),))
    with pytest.raises(ValueError, match="deskNumber has no column"):
        ResourceMapping(USER.extended_with(extension), Member)
