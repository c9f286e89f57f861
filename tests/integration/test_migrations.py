"""The migrations build exactly the schema ``tables.py`` describes, on SQLite and PostgreSQL; engines are
set up as the storage needs."""
from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import JSON, Boolean, column, create_engine, func, insert, inspect, select, table, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import NullPool

from tests.integration.units import in_unit
from tests.support import token_of, START
from wiggledesk_scim.adapters.memory import matches_filter
from wiggledesk_scim.adapters.sqlalchemy import SqlAlchemyStorage, engine_from_settings, make_engine, migrate
from wiggledesk_scim.adapters.sqlalchemy.mapping import DOCUMENT, USERS
from wiggledesk_scim.adapters.sqlalchemy.tables import UtcDateTime, metadata
from wiggledesk_scim.adapters.sqlalchemy.tables import members as members_table
from wiggledesk_scim.domain.activity import REFUSED, Activity
from wiggledesk_scim.domain.model import (AccessToken, AccessTokenGrant, ApiToken, ClientSecret, Email,
                                          FederatedTrust, Member, MemberFields, OAuthClient, Organisation, Reference,
                                          Team, TeamFields)
from wiggledesk_scim.domain.query import (And, AnyValue, Compare, Query, Operator, Present)
from wiggledesk_scim.domain.scim.representation import USER_DOCUMENTS
from tests.support import Attribute, COLLECTIONS


@pytest.fixture
def empty_engine(database_url):
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def test_an_empty_database_is_not_at_head(empty_engine):
    """A database never migrated has no revision, so a startup check can refuse it."""
    assert migrate.current_revision(empty_engine) is None
    assert not migrate.is_at_head(empty_engine)


def test_upgrade_of_an_empty_database_reaches_head(empty_engine):
    """Upgrading from nothing creates every table and records the newest revision."""
    reached = migrate.upgrade(empty_engine)

    assert reached == migrate.head_revision() == "0008"
    assert migrate.is_at_head(empty_engine)
    assert set(inspect(empty_engine).get_table_names()) == {
        "organisations", "members", "member_emails", "member_phone_numbers", "member_addresses", "api_tokens",
        "activity", "teams", "team_members", "oauth_clients", "client_secrets", "federated_trusts", "access_tokens",
        "alembic_version"}


def test_upgrading_twice_changes_nothing(migrated_engine):
    """Running the migration command again on an up-to-date database is harmless."""
    assert migrate.upgrade(migrated_engine) == migrate.head_revision()


def test_migrated_schema_matches_the_tables_module(migrated_engine):
    """Autogenerate finds nothing to add: the migrations and tables.py describe the same schema."""
    with migrated_engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)

    assert differences == []


def test_migrations_ship_with_the_package():
    """The script folder alembic reads is inside the package, with its environment and template."""
    assert (migrate.MIGRATIONS / "env.py").is_file()
    assert (migrate.MIGRATIONS / "script.py.mako").is_file()
    assert (migrate.MIGRATIONS / "versions" / "0001_initial.py").is_file()
    assert (migrate.MIGRATIONS / "versions" / "0002_search_keys_and_tables.py").is_file()
    assert (migrate.MIGRATIONS / "versions" / "0004_activity_trail.py").is_file()
    assert (migrate.MIGRATIONS / "versions" / "0005_teams.py").is_file()
    assert (migrate.MIGRATIONS / "versions" / "0006_oauth_clients.py").is_file()
    assert (migrate.MIGRATIONS / "versions" / "0007_tokens_outlive_their_owner.py").is_file()
    assert (migrate.MIGRATIONS / "versions" / "0008_member_documents.py").is_file()


# -- 0002: search keys and tables ------------------------------------------------------------------

CONTOSO = "00000000-0000-4000-8000-000000000001"
BJENSEN = "00000000-0000-4000-8000-000000000002"


def write_bjensen_at_0001(engine) -> None:
    """Contoso and Barbara Jensen as revision 0001 stored them: keys for userName and displayName only,
    e-mail keys in member_email_keys, phone numbers and addresses in JSON alone."""
    members = table("members", *(column(name) for name in (
        "id", "organisation_id", "user_name", "user_name_key", "external_id", "display_name",
        "display_name_key", "nick_name", "title", "locale", "name_family_name", "name_given_name",
        "enterprise_department", "manager_id", "version")),
        column("active", Boolean), column("is_admin", Boolean), column("api_access", Boolean),
        column("emails", JSON), column("phone_numbers", JSON), column("addresses", JSON),
        column("created", UtcDateTime), column("last_modified", UtcDateTime))
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO organisations (id, name, api_access) VALUES (:id, 'Contoso', :yes)"),
                           {"id": CONTOSO, "yes": True})
        connection.execute(insert(members).values(
            id=BJENSEN, organisation_id=CONTOSO, user_name="BJensen", user_name_key="bjensen",
            external_id="bjensen-entra-1", active=True, display_name="Babs Jensen", display_name_key="babs jensen",
            nick_name="Babs", title="Tour Guide", locale="en-US", name_family_name="Jensen",
            name_given_name="Barbara", enterprise_department="Tour Operations", manager_id=None, version=3,
            is_admin=False, api_access=False,
            emails=[{"value": "BJensen@Contoso.example", "type": "Work", "primary": True, "display": None},
                    {"value": "babs@jensen.example", "type": "home", "primary": None, "display": "Home"}],
            phone_numbers=[{"value": "+1 555 555 5555", "type": "work", "primary": True, "display": None}],
            addresses=[{"formatted": None, "street_address": "100 Universal City Plaza", "locality": "Hollywood",
                        "region": "CA", "postal_code": "91608", "country": "US", "type": "work",
                        "primary": True}],
            created=START, last_modified=START + timedelta(days=1, microseconds=7)))
        connection.execute(text(
            "INSERT INTO member_email_keys (member_id, position, organisation_id, value_key, type_key) "
            "VALUES (:m, 0, :o, 'bjensen@contoso.example', 'work'), (:m, 1, :o, 'babs@jensen.example', 'home')"),
            {"m": BJENSEN, "o": CONTOSO})


def add_member_before_0008(uow, member: Member) -> None:
    """``member`` added in ``uow`` as a release before 0008 adds one: their row without a document (the
    column is not there yet), and their search rows."""
    row = USERS.row(member)
    del row[DOCUMENT]
    uow.session.execute(insert(members_table).values(**row))
    for search_table, rows in USERS.search_rows(member):
        if rows:
            uow.session.execute(insert(search_table), rows)
    uow.members.db.on_write()


def run(engine, work):
    """``work(uow)`` in a unit of work of its own, committed, as a request would run it."""
    return in_unit(SqlAlchemyStorage(engine), work)


def search_ids(engine, query: Query) -> list[str]:
    return [member.id for member in run(engine, lambda uow: uow.members.search(CONTOSO, query).resources)]


#: Filters Barbara satisfies only if 0002 backfilled the keys and search rows from what 0001 stored.
BACKFILLED = [
    Compare(Attribute.NICK_NAME, Operator.EQ, "BABS"),
    Compare(Attribute.TITLE, Operator.SW, "tour"),
    Compare(Attribute.NAME_FAMILY_NAME, Operator.EW, "SEN"),
    Compare(Attribute.DEPARTMENT, Operator.CO, "OPERATION"),
    Compare(Attribute.LOCALE, Operator.GE, "EN"),
    Compare(Attribute.EMAIL_VALUE, Operator.EQ, "bjensen@CONTOSO.example"),
    Compare(Attribute.EMAIL_DISPLAY, Operator.EQ, "home"),
    AnyValue(COLLECTIONS["emails"], And(Compare(Attribute.EMAIL_TYPE, Operator.EQ, "work"),
                           Compare(Attribute.EMAIL_PRIMARY, Operator.EQ, True))),
    Compare(Attribute.PHONE_VALUE, Operator.CO, "555 5555"),
    AnyValue(COLLECTIONS["addresses"], And(Compare(Attribute.ADDRESS_LOCALITY, Operator.EQ, "HOLLYWOOD"),
                              Compare(Attribute.ADDRESS_POSTAL_CODE, Operator.EQ, "91608"))),
    Present(Attribute.ADDRESS_COUNTRY),
]


def test_upgrade_from_0001_backfills_keys_and_search_rows(database_url):
    """A member written at 0001 is found after 0002 by every attribute the new keys and tables serve,
    exactly as the in-memory reference finds her, and nothing else changed about her."""
    engine = make_engine(database_url)
    try:
        migrate.upgrade(engine, "0001")
        write_bjensen_at_0001(engine)

        migrate.upgrade(engine)

        bjensen = run(engine, lambda uow: uow.members.get(CONTOSO, BJENSEN))
        assert (bjensen.user_name, bjensen.version, bjensen.fields.emails[0]) == (
            "BJensen", 3, Email(value="BJensen@Contoso.example", type="Work", primary=True))
        for query in BACKFILLED:
            assert matches_filter(bjensen, query), query
            assert search_ids(engine, Query(filter=query)) == [BJENSEN], query
        assert search_ids(engine, Query(filter=Compare(Attribute.PHONE_TYPE, Operator.EQ, "home"))) == []
        with engine.connect() as connection:
            assert [connection.execute(select(func.count()).select_from(table(name))).scalar_one()
                    for name in ("member_emails", "member_phone_numbers", "member_addresses")] == [2, 1, 1]
    finally:
        engine.dispose()


def test_downgrade_to_0001_and_back_keeps_members_and_tokens(migrated_engine):
    """0002 can be undone (member_email_keys rebuilt from member_emails) without losing a member or
    API token, and redone to a schema tables.py still matches."""
    member = Member(id=BJENSEN, organisation_id=CONTOSO, created=START, last_modified=START,
                    fields=MemberFields(user_name="bjensen", title="Tour Guide",
                                        emails=(Email(value="bjensen@contoso.example", type="work"),)))
    token = ApiToken(id="00000000-0000-4000-8000-000000000003", organisation_id=CONTOSO, admin_id=BJENSEN,
                     digest="c0ffee" * 8, created=START)
    run(migrated_engine, lambda uow: (uow.organisations.add(Organisation(id=CONTOSO, name="Contoso")),
                                      uow.members.add(member), uow.tokens.add(token)))

    with migrated_engine.begin() as connection:
        command.downgrade(migrate.alembic_config(connection), "0001")
    assert migrate.current_revision(migrated_engine) == "0001"
    with migrated_engine.connect() as connection:
        assert connection.execute(text("SELECT value_key, type_key FROM member_email_keys")).all() == [
            ("bjensen@contoso.example", "work")]
        assert connection.execute(text("SELECT count(*) FROM api_tokens")).scalar_one() == 1
        assert "title_key" not in {c["name"] for c in inspect(connection).get_columns("members")}

    migrate.upgrade(migrated_engine)

    with migrated_engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []
    assert search_ids(migrated_engine, Query(filter=Compare(Attribute.TITLE, Operator.EQ, "tour guide"))) == [
        BJENSEN]
    assert search_ids(migrated_engine, Query(filter=Compare(Attribute.EMAIL_TYPE, Operator.EQ, "WORK"))) == [
        BJENSEN]


def test_upgrade_to_0003_names_existing_tokens_and_leaves_them_without_expiry(database_url):
    """A token issued before 0003 keeps working: named "API token", no expiry, everything else as it was."""
    engine = make_engine(database_url)
    try:
        migrate.upgrade(engine, "0002")
        member = Member(id=BJENSEN, organisation_id=CONTOSO, created=START, last_modified=START,
                        fields=MemberFields(user_name="bjensen"), is_admin=True, api_access=True)
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO organisations (id, name, api_access) VALUES (:id, 'Contoso', :on)"),
                               {"id": CONTOSO, "on": True})
        run(engine, lambda uow: add_member_before_0008(uow, member))
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO api_tokens (id, organisation_id, admin_id, digest, created) "
                                    "VALUES (:id, :org, :admin, :digest, :created)"),
                               {"id": "00000000-0000-4000-8000-000000000003", "org": CONTOSO, "admin": BJENSEN,
                                "digest": "c0ffee" * 8, "created": START})

        migrate.upgrade(engine)

        token = run(engine, lambda uow: token_of(uow, "c0ffee" * 8))
        assert (token.name, token.expires, token.revoked, token.created) == ("API token", None, None, START)
        with engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), metadata) == []
    finally:
        engine.dispose()



def test_upgrade_to_0004_keeps_everything_and_starts_an_empty_trail(database_url):
    """Organisations, members and tokens written at 0003 are unchanged by 0004, whose trail starts empty and
    takes records; downgrading to 0003 drops the trail and nothing else."""
    engine = make_engine(database_url)
    try:
        migrate.upgrade(engine, "0003")
        contoso = Organisation(id=CONTOSO, name="Contoso")
        member = Member(id=BJENSEN, organisation_id=CONTOSO, created=START, last_modified=START,
                        fields=MemberFields(user_name="bjensen", title="Tour Guide",
                                            emails=(Email(value="bjensen@contoso.example", type="work"),)),
                        is_admin=True, api_access=True)
        token = ApiToken(id="00000000-0000-4000-8000-000000000003", organisation_id=CONTOSO, admin_id=BJENSEN,
                         digest="c0ffee" * 8, created=START, name="Entra", expires=START + timedelta(days=90))
        run(engine, lambda uow: (uow.organisations.add(contoso), add_member_before_0008(uow, member), uow.tokens.add(token)))

        assert migrate.upgrade(engine) == migrate.head_revision()

        def everything(uow):
            return (uow.organisations.get(CONTOSO), uow.members.get(CONTOSO, BJENSEN),
                    token_of(uow, token.digest),
                    uow.members.search(CONTOSO, Query(filter=Compare(Attribute.EMAIL_VALUE, Operator.EQ,
                                                                           "BJENSEN@contoso.example"))).total)
        assert run(engine, everything) == (contoso, member, token, 1)
        assert run(engine, lambda uow: uow.activity.list(CONTOSO)) == []
        refusal = Activity(at=START, organisation_id=CONTOSO, event=REFUSED, member_id=BJENSEN, status=412)
        run(engine, lambda uow: uow.activity.record(refusal))
        assert run(engine, lambda uow: uow.activity.list(CONTOSO)) == [refusal]
        with engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), metadata) == []

        with engine.begin() as connection:
            command.downgrade(migrate.alembic_config(connection), "0003")

        assert "activity" not in inspect(engine).get_table_names()

        def everything_at_0003(uow):
            # Read by a search: this release's look-up of one member brings their teams along, and 0003
            # has no teams.
            found = uow.members.search(CONTOSO, Query(filter=Compare(Attribute.EMAIL_VALUE, Operator.EQ,
                                                                     "BJENSEN@contoso.example")))
            return uow.organisations.get(CONTOSO), found.resources, token_of(uow, token.digest)
        assert run(engine, everything_at_0003) == (contoso, (member,), token)
    finally:
        engine.dispose()

def test_upgrade_to_0005_keeps_everything_and_adds_teams_and_the_trails_team_columns(database_url):
    """What 0004 stored (members, tokens, the trail) is unchanged by 0005, whose teams start empty and take
    teams with members; a record written by the previous release (no team columns) reads back with none;
    downgrading to 0004 drops the teams and the new columns, and nothing else."""
    engine = make_engine(database_url)
    try:
        migrate.upgrade(engine, "0004")
        contoso = Organisation(id=CONTOSO, name="Contoso")
        member = Member(id=BJENSEN, organisation_id=CONTOSO, created=START, last_modified=START,
                        fields=MemberFields(user_name="bjensen"), is_admin=True, api_access=True)
        token = ApiToken(id="00000000-0000-4000-8000-000000000003", organisation_id=CONTOSO, admin_id=BJENSEN,
                         digest="c0ffee" * 8, created=START)
        run(engine, lambda uow: (uow.organisations.add(contoso), add_member_before_0008(uow, member), uow.tokens.add(token)))
        created = Activity(at=START, organisation_id=CONTOSO, event="create", member_id=BJENSEN,
                           attributes=("userName",))
        write_record_as_of(engine, "0004", created)

        assert migrate.upgrade(engine) == migrate.head_revision()

        def everything(uow):
            return (uow.organisations.get(CONTOSO), uow.members.get(CONTOSO, BJENSEN), token_of(uow, token.digest),
                    uow.activity.list(CONTOSO))
        assert run(engine, everything) == (contoso, member, token, [created])
        team = Team(id="00000000-0000-4000-8000-000000000004", organisation_id=CONTOSO,
                    fields=TeamFields("Tour Guides"), created=START, last_modified=START)
        run(engine, lambda uow: (uow.teams.add(team), uow.teams.add_members(CONTOSO, team.id, [BJENSEN])))
        assert run(engine, lambda uow: uow.teams.teams_of(CONTOSO, [BJENSEN])) == {
            BJENSEN: (Reference(team.id, "Tour Guides"),)}
        with engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), metadata) == []

        with engine.begin() as connection:
            command.downgrade(migrate.alembic_config(connection), "0004")

        assert not {"teams", "team_members"} & set(inspect(engine).get_table_names())
        assert {"team_id", "added", "removed"}.isdisjoint(c["name"] for c in inspect(engine).get_columns("activity"))
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM activity")).scalar_one() == 1
            assert connection.execute(text("SELECT count(*) FROM members")).scalar_one() == 1
    finally:
        engine.dispose()


def test_upgrade_to_0006_keeps_everything_and_adds_oauth_clients(database_url):
    """What 0005 stored (members, tokens, teams, the trail) is unchanged by 0006, whose OAuth tables start
    empty and take a client with its secret, trust and access token; downgrading to 0005 drops those four
    tables and nothing else."""
    engine = make_engine(database_url)
    try:
        migrate.upgrade(engine, "0005")
        contoso = Organisation(id=CONTOSO, name="Contoso")
        member = Member(id=BJENSEN, organisation_id=CONTOSO, created=START, last_modified=START,
                        fields=MemberFields(user_name="bjensen"), is_admin=True, api_access=True)
        token = ApiToken(id="00000000-0000-4000-8000-000000000003", organisation_id=CONTOSO, admin_id=BJENSEN,
                         digest="c0ffee" * 8, created=START)
        team = Team(id="00000000-0000-4000-8000-000000000004", organisation_id=CONTOSO,
                    fields=TeamFields("Tour Guides"), created=START, last_modified=START)
        record = Activity(at=START, organisation_id=CONTOSO, event=REFUSED, member_id=BJENSEN, status=412)
        run(engine, lambda uow: (uow.organisations.add(contoso), add_member_before_0008(uow, member), uow.tokens.add(token),
                                 uow.teams.add(team), uow.teams.add_members(CONTOSO, team.id, [BJENSEN])))
        write_record_as_of(engine, "0006", record)

        assert migrate.upgrade(engine) == migrate.head_revision()

        def everything(uow):
            return (uow.organisations.get(CONTOSO), uow.members.get(CONTOSO, BJENSEN), token_of(uow, token.digest),
                    uow.teams.teams_of(CONTOSO, [BJENSEN]), uow.activity.list(CONTOSO))
        before = (contoso, member, token, {BJENSEN: (Reference(team.id, "Tour Guides"),)}, [record])
        assert run(engine, everything) == before
        client = OAuthClient(id="00000000-0000-4000-8000-000000000005", organisation_id=CONTOSO,
                             name="Entra provisioning", created=START)
        secret = ClientSecret(id="00000000-0000-4000-8000-000000000006", client_id=client.id, digest="5e" * 32,
                              created=START, expires=START + timedelta(days=730))
        trust = FederatedTrust.for_tenant(client.id, "contoso.onmicrosoft.com", audience="api://AzureADTokenExchange",
                                          subject="entra-app")
        access = AccessToken(id="00000000-0000-4000-8000-000000000007", client_id=client.id, secret_id=secret.id,
                             organisation_id=CONTOSO, digest="ac" * 32, created=START,
                             expires=START + timedelta(hours=1))
        run(engine, lambda uow: (uow.clients.add(client), uow.clients.add_secret(secret), uow.clients.set_trust(trust),
                                 uow.access_tokens.add(access)))
        assert run(engine, lambda uow: (uow.access_tokens.grant_by_digest(access.digest),
                                        uow.clients.get_trust(client.id))) == (
            AccessTokenGrant(token=access, client=client, secret=secret, organisation_api_access=True), trust)
        with engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), metadata) == []

        with engine.begin() as connection:
            command.downgrade(migrate.alembic_config(connection), "0005")

        assert not {"oauth_clients", "client_secrets", "federated_trusts", "access_tokens"} & set(
            inspect(engine).get_table_names())
        with engine.connect() as connection:
            assert [connection.execute(text(f"SELECT count(*) FROM {name}")).scalar_one()
                    for name in ("organisations", "members", "api_tokens", "teams", "team_members", "activity")
                    ] == [1, 1, 1, 1, 1, 1]
    finally:
        engine.dispose()


#: The trail's columns that a release at each revision writes for the records these tests keep: never
#: one a later revision added (0005: the team columns; 0007: ``token_owner``).
_TRAIL_COLUMNS_AT = {"0004": ("at", "organisation_id", "event", "member_id", "attributes"),
                     "0006": ("at", "organisation_id", "event", "member_id", "attributes", "status")}
_TRAIL_TYPES = {"at": UtcDateTime, "attributes": JSON}


def write_record_as_of(engine, revision: str, record: Activity) -> None:
    """``record`` as the release at ``revision`` writes one: only the columns it knows."""
    names = _TRAIL_COLUMNS_AT[revision]
    trail = table("activity", *(column(name, _TRAIL_TYPES.get(name)) for name in names))
    values = {name: getattr(record, name) for name in names}
    values["attributes"] = list(record.attributes)
    with engine.begin() as connection:
        connection.execute(insert(trail).values(**values))


def test_upgrade_to_0007_lets_tokens_outlive_their_owner_and_marks_lock_outs(database_url):
    """At 0007 a token stays, revoked, after its owner's hard delete (no foreign key to cascade), and reads
    as the token of a deleted owner; a record the previous release wrote reads back with ``token_owner``
    false, and one that sets it keeps it. Downgrading to 0006 deletes the ownerless token (the foreign key
    comes back) and drops the column, and nothing else."""
    engine = make_engine(database_url)
    try:
        migrate.upgrade(engine, "0006")
        contoso = Organisation(id=CONTOSO, name="Contoso")
        member = Member(id=BJENSEN, organisation_id=CONTOSO, created=START, last_modified=START,
                        fields=MemberFields(user_name="bjensen"), is_admin=True, api_access=True)
        token = ApiToken(id="00000000-0000-4000-8000-000000000003", organisation_id=CONTOSO, admin_id=BJENSEN,
                         digest="c0ffee" * 8, created=START)
        run(engine, lambda uow: (uow.organisations.add(contoso), add_member_before_0008(uow, member), uow.tokens.add(token)))
        earlier = Activity(at=START, organisation_id=CONTOSO, event=REFUSED, member_id=BJENSEN, status=401)
        write_record_as_of(engine, "0006", earlier)

        assert migrate.upgrade(engine) == migrate.head_revision()

        assert run(engine, lambda uow: uow.activity.list(CONTOSO)) == [earlier]
        deleted = Activity(at=START + timedelta(minutes=1), organisation_id=CONTOSO, event="delete", member_id=BJENSEN,
                           token_id=token.id, token_owner=True)
        later = START + timedelta(minutes=1)
        run(engine, lambda uow: (uow.members.remove(CONTOSO, BJENSEN), uow.tokens.revoke_all_of(CONTOSO, BJENSEN, later),
                                 uow.activity.record(deleted)))
        grant = run(engine, lambda uow: uow.tokens.find_grant(token.digest))
        assert (grant.token.revoked, grant.owner_deleted) == (later, True)
        assert run(engine, lambda uow: uow.activity.list(CONTOSO)) == [deleted, earlier]
        with engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), metadata) == []

        with engine.begin() as connection:
            command.downgrade(migrate.alembic_config(connection), "0006")

        assert "token_owner" not in {c["name"] for c in inspect(engine).get_columns("activity")}
        assert [fk["referred_table"] for fk in inspect(engine).get_foreign_keys("api_tokens")
                if fk["constrained_columns"] == ["admin_id"]] == ["members"]
        with engine.connect() as connection:
            assert [connection.execute(text(f"SELECT count(*) FROM {name}")).scalar_one()
                    for name in ("organisations", "members", "api_tokens", "activity")] == [1, 0, 0, 2]
    finally:
        engine.dispose()


def test_upgrade_to_0008_keeps_members_and_renders_those_without_a_document(database_url):
    """A member written before 0008 has no document: a GET renders them from their row, and their next
    change writes one. Downgrading to 0007 drops the column and nothing else: the member, their search
    rows and their team stay."""
    engine = make_engine(database_url)
    try:
        migrate.upgrade(engine, "0007")
        member = Member(id=BJENSEN, organisation_id=CONTOSO, created=START, last_modified=START,
                        fields=MemberFields(user_name="bjensen", emails=(Email(value="bjensen@contoso.example"),)))
        team = Team(id="00000000-0000-4000-8000-000000000004", organisation_id=CONTOSO,
                    fields=TeamFields("Tour Guides"), created=START, last_modified=START)
        run(engine, lambda uow: (uow.organisations.add(Organisation(id=CONTOSO, name="Contoso")),
                                 add_member_before_0008(uow, member), uow.teams.add(team),
                                 uow.teams.add_members(CONTOSO, team.id, [BJENSEN])))

        assert migrate.upgrade(engine) == migrate.head_revision() == "0008"

        def document() -> str | None:
            with engine.connect() as connection:
                return connection.execute(select(members_table.c.document)).scalar_one()
        assert document() is None
        read = in_unit(SqlAlchemyStorage(engine), lambda uow: uow.members.rendition(CONTOSO, BJENSEN, USER_DOCUMENTS),
                       read_only=True)
        assert read == USER_DOCUMENTS.rendition(member)
        changed = member.with_fields(MemberFields(user_name="bjensen", title="Guide", emails=member.fields.emails),
                                     START + timedelta(minutes=1))
        run(engine, lambda uow: uow.members.update(changed, expected_version=1))
        assert document() == USER_DOCUMENTS.render(changed)
        with engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), metadata) == []

        with engine.begin() as connection:
            command.downgrade(migrate.alembic_config(connection), "0007")

        assert "document" not in {c["name"] for c in inspect(engine).get_columns("members")}
        with engine.connect() as connection:
            assert [connection.execute(text(f"SELECT count(*) FROM {name}")).scalar_one()
                    for name in ("members", "member_emails", "team_members")] == [1, 1, 1]
    finally:
        engine.dispose()


# -- engines as the storage needs them ---------------------------------------------------------------

def test_sqlite_engine_creates_the_database_folder(tmp_path):
    """A SQLite file in a folder that does not exist yet (var/ on a fresh checkout) still opens."""
    engine = make_engine(f"sqlite:///{tmp_path / 'var' / 'db' / 'wiggledesk.sqlite'}")
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    finally:
        engine.dispose()

    assert (tmp_path / "var" / "db" / "wiggledesk.sqlite").is_file()


def test_sqlite_engine_enforces_foreign_keys(sqlite_url):
    """SQLite leaves foreign keys off by default; the storage's cascades need them on."""
    engine = make_engine(sqlite_url)
    migrate.upgrade(engine)
    try:
        with pytest.raises(IntegrityError):
            with engine.begin() as connection:
                connection.execute(text("INSERT INTO organisations (id, name, api_access) "
                                        "VALUES ('o', 'Contoso', 1)"))
                connection.execute(text(
                    "INSERT INTO api_tokens (id, organisation_id, admin_id, digest, created) "
                    "VALUES ('t', 'o', 'nobody', 'd', '2026-11-23 09:14:07.000000')"))
    finally:
        engine.dispose()


def test_sqlite_transactions_take_the_write_lock_at_begin(sqlite_url):
    """Every transaction on an engine connection (a writing unit's, a migration's) starts with BEGIN
    IMMEDIATE, so a unit that reads and then writes never has to upgrade its lock. (Reading units take
    a plain BEGIN on a connection of their own: test_sqlite.py.)"""
    engine = make_engine(sqlite_url, connect_args={"timeout": 0.1})
    try:
        with engine.connect() as holder:
            holder.execute(text("SELECT 1"))  # begins, and so holds the write lock
            other = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), timeout=0.1)
            try:
                with pytest.raises(sqlite3.OperationalError, match="locked"):
                    other.execute("BEGIN IMMEDIATE")
            finally:
                other.close()
    finally:
        engine.dispose()


def test_engine_from_settings_takes_prefixed_ini_strings(sqlite_url):
    """Every ``sqlalchemy.*`` ini key reaches the engine, with its string turned into the right type."""
    engine = engine_from_settings({"sqlalchemy.url": sqlite_url, "sqlalchemy.echo": "false",
                                   "sqlalchemy.pool_size": "3", "wiggledesk.storage": "sqlalchemy"})
    try:
        assert engine.echo is False
        assert engine.pool.size() == 3
        assert engine.url.database == sqlite_url.removeprefix("sqlite:///")
    finally:
        engine.dispose()


def test_engine_from_settings_without_a_url_says_which_key_is_missing():
    """A missing URL is reported by its ini key, not as a bare KeyError."""
    with pytest.raises(ValueError, match="sqlalchemy.url"):
        engine_from_settings({"sqlalchemy.echo": "true"})


@pytest.mark.postgres
def test_postgres_engine_replaces_a_connection_the_server_dropped(postgres_url):
    """A pooled connection the server closed (restart, idle timeout) is replaced, not handed to a request."""
    engine = make_engine(postgres_url)
    killer = create_engine(postgres_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with killer.connect() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

        with engine.connect() as connection:
            assert connection.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid
    finally:
        killer.dispose()
        engine.dispose()
