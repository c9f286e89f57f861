"""The relational schema: organisations, members, the members' search tables, teams and their memberships,
API tokens, OAuth clients (their secrets, trusts and access tokens) and the activity trail.

Plain ``Table`` objects (no ORM mapping): ``repositories.py`` translates rows to domain values and back,
and the alembic migrations in ``migrations/`` create exactly this schema (``test_migrations`` compares).

A member is ONE row of ``members`` (docs/adr/0004-member-rows-and-email-index.md), so reading a member
is one SELECT and optimistic concurrency is one ``UPDATE ... WHERE version = ?``; filters and sorting
read derived columns and tables (docs/adr/0005-search-keys-and-tables.md):

- scalar SCIM attributes are columns; each string one a filter compares ignoring case
  (``CASE_INSENSITIVE``) has a ``<column>_key`` twin holding ``model.case_key`` of the value, computed
  in Python so every store lowers text the same way (SQLite's ``lower()`` knows ASCII only);
- the multi-valued ``emails``, ``phone_numbers`` and ``addresses`` are JSON lists, the source of a
  member's representation;
- ``member_emails``, ``member_phone_numbers`` and ``member_addresses`` hold one row per value of those
  lists, with the key of each sub-attribute and ``primary``: derived search rows, rewritten on every add
  and update, so a filter on a sub-attribute is an indexed ``EXISTS`` instead of a JSON scan.

A team is one row of ``teams``, its displayName keyed as a member's text is; its members are NOT in that
row but one row each in ``team_members`` (the Group's ``members`` is declared ``apart``), so adding one
member to a team of 100,000 writes one row, and a member's teams are an index range.

Uniqueness per organisation (userName and a team's displayName ignoring case, externalId exactly) is
enforced by unique indexes, so two concurrent writers can never both win; NULL externalIds never collide,
on SQLite and PostgreSQL. A membership refers to its team and its member by foreign keys that cascade,
so deleting either leaves no membership behind, and none can be added for a member deleted meanwhile.
Ids are UUID text. Times are timezone-aware UTC with microseconds (``UtcDateTime``).

An OAuth client is one row of ``oauth_clients``; its secrets (``client_secrets``), its federated trust
(``federated_trusts``, at most one: the client id is its primary key) and the access tokens issued to it
(``access_tokens``) refer to it. Secrets and access tokens are stored as SHA-256 digests, each unique, so
the checks that find them by digest are one unique-index look-up joined by primary keys. Their foreign
keys cascade on delete, and that choice is deliberate even though no code deletes a client or a secret
(they are revoked, and the rows stay for the console and the trail; only expired access tokens are
deleted, by pruning, which no foreign key refers to): should one ever be deleted by hand, what was issued
under it stops existing with it, which the token checks read as "unknown", exactly as the in-memory store
answers for a credential whose client or secret is gone. ``access_tokens.secret_id`` must never be
``SET NULL``: NULL means "issued on a client assertion", so it would turn a deleted secret's tokens into
ones no secret revocation ends. The cascades into ``access_tokens`` have no index of their own to use:
pruning keeps that table to a few hours of tokens (one per client per hour), so a scan on a delete that
never happens is cheaper than an index kept up on every issue. ``oauth_clients.organisation_id`` does not
cascade: organisations are never deleted, as for members, teams and API tokens.
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (JSON, BigInteger, Boolean, Column, DateTime, ForeignKey, Index, Integer, MetaData, String,
                        Table, Text, false)
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
TEAM_DISPLAY_NAME_INDEX = "uq_teams_organisation_id_display_name_key"
TEAM_EXTERNAL_ID_INDEX = "uq_teams_organisation_id_external_id"

ID = String(36)


class UtcDateTime(TypeDecorator):
    """A timezone-aware UTC ``datetime`` in, the same instant as a timezone-aware UTC ``datetime`` out.

    PostgreSQL keeps ``timestamp with time zone`` and returns it in the session's time zone; SQLite has
    no time zones and returns naive values, so UTC is stored there and re-attached on the way out.
    Microseconds survive both. A naive value is refused: it would be stored as whatever it happens to be.

    Filters compare these columns with ``<``/``>`` and sort by them. PostgreSQL compares instants. SQLite
    compares the stored text, which SQLAlchemy writes as ``YYYY-MM-DD HH:MM:SS.ffffff`` (always six
    digits of microseconds, always UTC here): fixed width, so text order is time order, and a bound
    comparison value goes through this same type, so both sides have that form.
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

#: The members columns holding a string attribute whose schema says ``caseExact: false``; each has a
#: ``<column>_key`` twin with ``model.case_key`` of its value (None stays None), which filters compare
#: and sorting orders by. A new such attribute is one more name here (and a migration).
CASE_INSENSITIVE = (
    "user_name", "display_name", "nick_name", "profile_url", "title", "user_type", "preferred_language",
    "locale", "timezone", "name_formatted", "name_family_name", "name_given_name", "name_middle_name",
    "name_honorific_prefix", "name_honorific_suffix", "enterprise_employee_number", "enterprise_cost_center",
    "enterprise_organization", "enterprise_division", "enterprise_department",
)

members = Table(
    "members", metadata,
    Column("id", ID, primary_key=True),
    Column("organisation_id", ID, ForeignKey("organisations.id"), nullable=False),
    Column("user_name", Text, nullable=False),
    Column("external_id", Text),
    Column("active", Boolean, nullable=False),
    Column("display_name", Text),
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
    # The member as a SCIM User document (domain/scim/representation.UserDocuments), written with every
    # change of the member; GET and list requests answer from it. NULL (or out of date) in a row an earlier
    # release wrote: the member is then rendered from the row.
    Column("document", Text),
    # userName is required, so its key is too (and the unique index below relies on it).
    *(Column(f"{name}_key", Text, nullable=name != "user_name") for name in CASE_INSENSITIVE),
    Index(USER_NAME_INDEX, "organisation_id", "user_name_key", unique=True),
    Index(EXTERNAL_ID_INDEX, "organisation_id", "external_id", unique=True),
    # Every list is "this organisation's members in creation order": the index serves filter and order.
    Index("ix_members_organisation_id_created_id", "organisation_id", "created", "id"),
)

#: Each multi-valued attribute's search table and the sub-attributes it keys (all ``caseExact: false``;
#: ``primary`` is a boolean column of every one).
SEARCH_TABLE_KEYS = {
    "member_emails": ("value", "display", "type"),
    "member_phone_numbers": ("value", "display", "type"),
    "member_addresses": ("formatted", "street_address", "locality", "region", "postal_code", "country", "type"),
}


def _search_table(name: str, *indexes: Index) -> Table:
    """One row per value of a member's multi-valued attribute, at its ``position`` in the JSON list."""
    return Table(
        name, metadata,
        Column("member_id", ID, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
        Column("position", Integer, primary_key=True),
        Column("organisation_id", ID, nullable=False),
        *(Column(f"{sub_attribute}_key", Text) for sub_attribute in SEARCH_TABLE_KEYS[name]),
        Column("primary", Boolean),
        *indexes,
    )


# The primary key (member_id, position) serves the EXISTS correlated to one member; these indexes serve
# the look-ups by value across an organisation (emails.value eq "ada@contoso.example"). No address
# sub-attribute identifies anybody, so addresses need none.
member_emails = _search_table(
    "member_emails", Index("ix_member_emails_organisation_id_value_key", "organisation_id", "value_key"))
member_phone_numbers = _search_table(
    "member_phone_numbers",
    Index("ix_member_phone_numbers_organisation_id_value_key", "organisation_id", "value_key"))
member_addresses = _search_table("member_addresses")

teams = Table(
    "teams", metadata,
    Column("id", ID, primary_key=True),
    Column("organisation_id", ID, ForeignKey("organisations.id"), nullable=False),
    Column("display_name", Text, nullable=False),
    # displayName is required and compared ignoring case (its unique index is on the key), like userName.
    Column("display_name_key", Text, nullable=False),
    Column("external_id", Text),
    Column("created", UtcDateTime, nullable=False),
    Column("last_modified", UtcDateTime, nullable=False),
    Column("version", Integer, nullable=False),
    Index(TEAM_DISPLAY_NAME_INDEX, "organisation_id", "display_name_key", unique=True),
    Index(TEAM_EXTERNAL_ID_INDEX, "organisation_id", "external_id", unique=True),
    Index("ix_teams_organisation_id_created_id", "organisation_id", "created", "id"),
)

#: One row per member of a team. The primary key (team_id, member_id) serves "the team's members in order
#: of id" and every add or remove by (team, member); the index (member_id, team_id) serves "the member's
#: teams" and the cascade when a member is deleted. ``organisation_id`` (the team's, which is the member's)
#: scopes a filter on ``members.value`` to the organisation without a join.
team_members = Table(
    "team_members", metadata,
    Column("team_id", ID, ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
    Column("member_id", ID, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    Column("organisation_id", ID, nullable=False),
    Index("ix_team_members_member_id_team_id", "member_id", "team_id"),
)

api_tokens = Table(
    "api_tokens", metadata,
    Column("id", ID, primary_key=True),
    Column("organisation_id", ID, ForeignKey("organisations.id"), nullable=False),
    # No foreign key: a member's hard delete revokes their tokens and keeps them (ENTRA.md §2.1), so a
    # token may name an owner who is gone; the token check's outer join reads that as "deleted".
    Column("admin_id", ID, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("created", UtcDateTime, nullable=False),
    Column("last_used", UtcDateTime),
    Column("revoked", UtcDateTime),
    Column("name", Text, nullable=False),
    Column("expires", UtcDateTime),
    Index("uq_api_tokens_digest", "digest", unique=True),
    # Deleting a member revokes their tokens: found by this index, not by a scan of every token.
    Index("ix_api_tokens_admin_id", "admin_id"),
    Index("ix_api_tokens_organisation_id_created", "organisation_id", "created"),
)

#: The provisioning activity trail (domain/activity.py): append-only, read newest first, pruned by age.
activity = Table(
    "activity", metadata,
    # Written in order, so among records of one instant the higher id is the later one ("newest first"
    # is ``at DESC, id DESC``). SQLite: INTEGER PRIMARY KEY is the rowid, which every index holds anyway.
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    # No foreign keys at all. Organisations are never deleted, so one on organisation_id would protect
    # nothing, and it would make the trail able to fail the very write it describes, or to lose a refusal
    # written apart, over bookkeeping. Members are hard-deleted and their trail must stay (it is what
    # support reads after a delete). So member_id and token_id are plain ids.
    Column("organisation_id", ID, nullable=False),
    Column("event", Text, nullable=False),
    Column("member_id", ID),
    # The SCIM names of the attributes a change set (a JSON list of strings; never their values).
    Column("attributes", JSON, nullable=False),
    Column("token_id", ID),
    Column("request_id", Text),
    Column("status", Integer),
    Column("scim_type", Text),
    # A team's events (or a refusal on /Groups): the team, and how many members the change added and took
    # out (counts, never who). A plain id, like member_id: teams are deleted and their trail stays.
    Column("team_id", ID),
    Column("added", Integer),
    Column("removed", Integer),
    # A deprovision or delete of the admin whose API token the request came with (it locks that token out).
    Column("token_owner", Boolean, nullable=False, server_default=false()),
    # One index per way the trail is read, each ending in the order it is read in, so a page of the
    # newest records is a backward index scan that stops after ``limit`` rows, however long the trail:
    # an organisation's trail (and its counts since a time), one member's, and every organisation's
    # by time (pruning, and the counts across organisations).
    Index("ix_activity_organisation_id_at_id", "organisation_id", "at", "id"),
    Index("ix_activity_organisation_id_member_id_at_id", "organisation_id", "member_id", "at", "id"),
    Index("ix_activity_at", "at"),
)

#: An organisation's OAuth 2.0 clients (docs/adr/0012-oauth-token-endpoint.md): revoked, never deleted.
oauth_clients = Table(
    "oauth_clients", metadata,
    Column("id", ID, primary_key=True),
    Column("organisation_id", ID, ForeignKey("organisations.id"), nullable=False),
    Column("name", Text, nullable=False),
    Column("created", UtcDateTime, nullable=False),
    Column("revoked", UtcDateTime),
    Column("last_used", UtcDateTime),
    # The organisation's clients oldest first (the CLI's list, the ops console).
    Index("ix_oauth_clients_organisation_id_created", "organisation_id", "created"),
)

#: A client's secrets, as SHA-256 digests; several may be active at once (rotation without downtime).
client_secrets = Table(
    "client_secrets", metadata,
    Column("id", ID, primary_key=True),
    Column("client_id", ID, ForeignKey("oauth_clients.id", ondelete="CASCADE"), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("created", UtcDateTime, nullable=False),
    Column("expires", UtcDateTime, nullable=False),
    Column("revoked", UtcDateTime),
    Column("last_used", UtcDateTime),
    # The token endpoint's look-up of a presented secret.
    Index("uq_client_secrets_digest", "digest", unique=True),
    # A client's secrets (listing them), and the cascade from its client.
    Index("ix_client_secrets_client_id", "client_id"),
)

#: A client's workload identity federation: at most one per client, replaced when set again.
federated_trusts = Table(
    "federated_trusts", metadata,
    Column("client_id", ID, ForeignKey("oauth_clients.id", ondelete="CASCADE"), primary_key=True),
    Column("tenant", Text, nullable=False),
    Column("issuer", Text, nullable=False),
    Column("audience", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("jwks_uri", Text, nullable=False),
)

#: Access tokens issued at the token endpoint, as SHA-256 digests; never updated, deleted once expired.
access_tokens = Table(
    "access_tokens", metadata,
    Column("id", ID, primary_key=True),
    Column("client_id", ID, ForeignKey("oauth_clients.id", ondelete="CASCADE"), nullable=False),
    # NULL: issued on a client assertion, under no secret.
    Column("secret_id", ID, ForeignKey("client_secrets.id", ondelete="CASCADE")),
    # The client's organisation, copied so the principal is read from the token's own row; the client's
    # foreign key already vouches for it (organisations are never deleted).
    Column("organisation_id", ID, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("created", UtcDateTime, nullable=False),
    Column("expires", UtcDateTime, nullable=False),
    # Every SCIM request's look-up of a presented access token.
    Index("uq_access_tokens_digest", "digest", unique=True),
    # Pruning: a range of the oldest, however many tokens are still alive.
    Index("ix_access_tokens_expires", "expires"),
)
