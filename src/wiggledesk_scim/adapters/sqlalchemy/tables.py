"""The relational schema: organisations, members, the e-mail search index and API tokens.

Plain ``Table`` objects (no ORM mapping): ``repositories.py`` translates rows to domain values and back,
and the alembic migrations in ``migrations/`` create exactly this schema (``test_migrations`` compares).

A member is ONE row of ``members`` (docs/adr/0004-member-rows-and-email-index.md), so reading a member
is one SELECT and optimistic concurrency is one ``UPDATE ... WHERE version = ?``:

- scalar SCIM attributes are columns; those a filter compares ignoring case have a ``*_key`` column
  holding ``model.case_key`` of the value, computed in Python so every store lowers text the same way
  (SQLite's ``lower()`` knows ASCII only);
- the multi-valued ``emails``, ``phone_numbers`` and ``addresses`` are JSON lists;
- ``member_email_keys`` is a derived index of the e-mails (one row per e-mail, keys only), rewritten on
  every add and update, so e-mail filters are an indexed ``EXISTS`` instead of a JSON scan.

Uniqueness per organisation (userName ignoring case, externalId exactly) is enforced by unique indexes,
so two concurrent writers can never both win; NULL externalIds never collide, on SQLite and PostgreSQL.
Ids are UUID text. Times are timezone-aware UTC with microseconds (``UtcDateTime``).
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (JSON, Boolean, Column, DateTime, ForeignKey, Index, Integer, MetaData, String, Table,
                        Text)
from sqlalchemy.types import TypeDecorator

#: The conventional SQLAlchemy naming convention, so every constraint has a stable, predictable name
#: (migrations can address them, and a unique violation names the index that refused it).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

#: Names of the unique indexes a member write can violate, and the SCIM attribute each protects.
#: ``repositories.py`` turns a violation of one of them into ``UniquenessConflict``.
USER_NAME_INDEX = "uq_members_organisation_id_user_name_key"
EXTERNAL_ID_INDEX = "uq_members_organisation_id_external_id"

ID = String(36)


class UtcDateTime(TypeDecorator):
    """A timezone-aware UTC ``datetime`` in, the same instant as a timezone-aware UTC ``datetime`` out.

    PostgreSQL keeps ``timestamp with time zone`` and returns it in the session's time zone; SQLite has
    no time zones and returns naive values, so UTC is stored there and re-attached on the way out.
    Microseconds survive both. A naive value is refused: it would be stored as whatever it happens to be.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: the domain's times are timezone-aware UTC")
        value = value.astimezone(timezone.utc)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


organisations = Table(
    "organisations", metadata,
    Column("id", ID, primary_key=True),
    Column("name", Text, nullable=False),
    Column("api_access", Boolean, nullable=False),
)

members = Table(
    "members", metadata,
    Column("id", ID, primary_key=True),
    Column("organisation_id", ID, ForeignKey("organisations.id"), nullable=False),
    Column("user_name", Text, nullable=False),
    Column("user_name_key", Text, nullable=False),
    Column("external_id", Text),
    Column("active", Boolean, nullable=False),
    Column("display_name", Text),
    Column("display_name_key", Text),
    Column("nick_name", Text),
    Column("profile_url", Text),
    Column("title", Text),
    Column("user_type", Text),
    Column("preferred_language", Text),
    Column("locale", Text),
    Column("timezone", Text),
    Column("name_formatted", Text),
    Column("name_family_name", Text),
    Column("name_given_name", Text),
    Column("name_middle_name", Text),
    Column("name_honorific_prefix", Text),
    Column("name_honorific_suffix", Text),
    Column("emails", JSON, nullable=False),
    Column("phone_numbers", JSON, nullable=False),
    Column("addresses", JSON, nullable=False),
    Column("enterprise_employee_number", Text),
    Column("enterprise_cost_center", Text),
    Column("enterprise_organization", Text),
    Column("enterprise_division", Text),
    Column("enterprise_department", Text),
    # A member id of the same organisation, deliberately without a foreign key: deleting a manager must
    # not rewrite their reports (that would change content without a new version), as in memory.
    Column("manager_id", ID),
    Column("is_admin", Boolean, nullable=False),
    Column("api_access", Boolean, nullable=False),
    Column("created", UtcDateTime, nullable=False),
    Column("last_modified", UtcDateTime, nullable=False),
    Column("version", Integer, nullable=False),
    Index(USER_NAME_INDEX, "organisation_id", "user_name_key", unique=True),
    Index(EXTERNAL_ID_INDEX, "organisation_id", "external_id", unique=True),
    # Every list is "this organisation's members in creation order": the index serves filter and order.
    Index("ix_members_organisation_id_created_id", "organisation_id", "created", "id"),
)

member_email_keys = Table(
    "member_email_keys", metadata,
    Column("member_id", ID, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("organisation_id", ID, nullable=False),
    Column("value_key", Text, nullable=False),
    Column("type_key", Text),
    Index("ix_member_email_keys_organisation_id_value_key", "organisation_id", "value_key"),
)

api_tokens = Table(
    "api_tokens", metadata,
    Column("id", ID, primary_key=True),
    Column("organisation_id", ID, ForeignKey("organisations.id"), nullable=False),
    Column("admin_id", ID, ForeignKey("members.id", ondelete="CASCADE"), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("created", UtcDateTime, nullable=False),
    Column("last_used", UtcDateTime),
    Column("revoked", UtcDateTime),
    Index("uq_api_tokens_digest", "digest", unique=True),
    # Deleting a member cascades here; without an index PostgreSQL would scan every token to do it.
    Index("ix_api_tokens_admin_id", "admin_id"),
    Index("ix_api_tokens_organisation_id_created", "organisation_id", "created"),
)
