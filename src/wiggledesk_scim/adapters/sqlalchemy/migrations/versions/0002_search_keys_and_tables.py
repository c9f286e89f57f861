"""Search keys for every case-insensitive attribute; search tables for emails, phoneNumbers and addresses.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24

``members`` gains a ``<column>_key`` for each case-insensitive string column that lacked one, and the
e-mail-only ``member_email_keys`` gives way to ``member_emails``, ``member_phone_numbers`` and
``member_addresses`` (one row per value, every sub-attribute keyed, ``primary``); see
docs/adr/0005-search-keys-and-tables.md. Existing members are backfilled from their columns and JSON.

Written out in full rather than importing ``tables.py`` (so this revision keeps doing what it did when
the tables change later); ``test_migrations`` checks the result against ``tables.py``.
"""
from __future__ import annotations

from typing import Any, Iterator, Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: Union[str, Sequence[str], None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

ID = sa.String(36)

#: The members columns that get a ``_key`` here (user_name and display_name had theirs in 0001).
NEW_KEYED = (
    "nick_name", "profile_url", "title", "user_type", "preferred_language", "locale", "timezone",
    "name_formatted", "name_family_name", "name_given_name", "name_middle_name", "name_honorific_prefix",
    "name_honorific_suffix", "enterprise_employee_number", "enterprise_cost_center", "enterprise_organization",
    "enterprise_division", "enterprise_department",
)

#: Each search table: the JSON column it is derived from, and the sub-attributes it keys.
SEARCH_TABLES = {
    "member_emails": ("emails", ("value", "display", "type")),
    "member_phone_numbers": ("phone_numbers", ("value", "display", "type")),
    "member_addresses": ("addresses", ("formatted", "street_address", "locality", "region", "postal_code",
                                       "country", "type")),
}

#: Members read and rewritten per round trip during the backfill, to bound memory on large databases.
BATCH = 500


def _key(value: str | None) -> str | None:
    # model.case_key as of this revision (str.lower), frozen here so the backfill never changes meaning.
    return None if value is None else value.lower()


def upgrade() -> None:
    for name in NEW_KEYED:
        op.add_column("members", sa.Column(f"{name}_key", sa.Text(), nullable=True))
    for table, (_, sub_attributes) in SEARCH_TABLES.items():
        op.create_table(
            table,
            sa.Column("member_id", ID, nullable=False),
            sa.Column("position", sa.Integer(), nullable=False),
            sa.Column("organisation_id", ID, nullable=False),
            *(sa.Column(f"{sub_attribute}_key", sa.Text(), nullable=True) for sub_attribute in sub_attributes),
            sa.Column("primary", sa.Boolean(), nullable=True),
            sa.ForeignKeyConstraint(["member_id"], ["members.id"], ondelete="CASCADE",
                                    name=op.f(f"fk_{table}_member_id_members")),
            sa.PrimaryKeyConstraint("member_id", "position", name=op.f(f"pk_{table}")),
        )
    op.create_index("ix_member_emails_organisation_id_value_key", "member_emails",
                    ["organisation_id", "value_key"])
    op.create_index("ix_member_phone_numbers_organisation_id_value_key", "member_phone_numbers",
                    ["organisation_id", "value_key"])
    _backfill(op.get_bind())
    op.drop_table("member_email_keys")


def _in_batches(connection: sa.Connection, members: sa.TableClause) -> Iterator[list[Any]]:
    """Every row of ``members``, ``BATCH`` at a time, in id order (keyset paging, so no row is missed)."""
    last = None
    while True:
        query = sa.select(members).order_by(members.c.id).limit(BATCH)
        if last is not None:
            query = query.where(members.c.id > last)
        rows = connection.execute(query).all()
        if not rows:
            return
        yield rows
        last = rows[-1].id


def _backfill(connection: sa.Connection) -> None:
    members = sa.table("members", sa.column("id", ID), *(sa.column(f"{name}_key") for name in NEW_KEYED))
    set_keys = (sa.update(members).where(members.c.id == sa.bindparam("member"))
                .values({f"{name}_key": sa.bindparam(f"new_{name}_key") for name in NEW_KEYED}))
    reader = sa.table("members", sa.column("id", ID), sa.column("organisation_id", ID),
                      *(sa.column(name, sa.Text()) for name in NEW_KEYED),
                      *(sa.column(json_column, sa.JSON()) for json_column, _ in SEARCH_TABLES.values()))
    for rows in _in_batches(connection, reader):
        connection.execute(set_keys, [
            {"member": row.id, **{f"new_{name}_key": _key(getattr(row, name)) for name in NEW_KEYED}}
            for row in rows])
        for table, (json_column, sub_attributes) in SEARCH_TABLES.items():
            search_rows = [
                {"member_id": row.id, "organisation_id": row.organisation_id, "position": position,
                 "primary": entry.get("primary"),
                 **{f"{sub_attribute}_key": _key(entry.get(sub_attribute)) for sub_attribute in sub_attributes}}
                for row in rows for position, entry in enumerate(getattr(row, json_column))]
            if search_rows:
                target = sa.table(table, *(sa.column(name) for name in search_rows[0]))
                connection.execute(sa.insert(target), search_rows)


def downgrade() -> None:
    op.create_table(
        "member_email_keys",
        sa.Column("member_id", ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("organisation_id", ID, nullable=False),
        sa.Column("value_key", sa.Text(), nullable=False),
        sa.Column("type_key", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], ondelete="CASCADE",
                                name=op.f("fk_member_email_keys_member_id_members")),
        sa.PrimaryKeyConstraint("member_id", "position", name=op.f("pk_member_email_keys")),
    )
    op.create_index("ix_member_email_keys_organisation_id_value_key", "member_email_keys",
                    ["organisation_id", "value_key"])
    op.execute("INSERT INTO member_email_keys (member_id, position, organisation_id, value_key, type_key) "
               "SELECT member_id, position, organisation_id, value_key, type_key FROM member_emails")
    for table in SEARCH_TABLES:
        op.drop_table(table)
    # In place, not in batch mode: SQLite (3.35+) drops an unindexed column itself, whereas a batch
    # rebuild would drop the old members table, and with foreign keys on that deletes every API token.
    for name in NEW_KEYED:
        op.drop_column("members", f"{name}_key")
