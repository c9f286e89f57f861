"""The migrations build exactly the schema ``tables.py`` describes, on SQLite and PostgreSQL; engines are
set up as the storage needs."""
from __future__ import annotations

import sqlite3

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import NullPool

from wiggledesk_scim.adapters.sqlalchemy import engine_from_settings, make_engine, migrate
from wiggledesk_scim.adapters.sqlalchemy.tables import metadata


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

    assert reached == migrate.head_revision() == "0001"
    assert migrate.is_at_head(empty_engine)
    assert set(inspect(empty_engine).get_table_names()) >= {
        "organisations", "members", "member_email_keys", "api_tokens", "alembic_version"}


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
    """Every SQLite transaction starts with BEGIN IMMEDIATE, so a reader never has to upgrade its lock."""
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
