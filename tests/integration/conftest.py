"""Databases for the integration tests: a SQLite file, a fresh PostgreSQL schema, either one migrated.

Fixtures, all function-scoped so every test starts from an empty database:

- ``sqlite_url``: a SQLite file in the test's ``tmp_path`` (not created until first used).
- ``postgres_url``: a new schema in the PostgreSQL database named by ``WIGGLEDESK_TEST_POSTGRES_URL``
  (default ``postgresql+psycopg://root@127.0.0.1:5432/test``), made the connections' search_path through
  the URL's ``options`` query (libpq's ``-csearch_path=...``), and dropped with everything in it after the
  test. Unreachable server: the test is skipped with the reason, unless ``WIGGLEDESK_REQUIRE_POSTGRES=1``
  (CI), which makes it a failure instead.
- ``postgres_icu_url``: the same, in a database (created once per run, dropped at its end) whose default
  collation is ICU's English one, which orders "émile" before "zoe": proof that the storage orders by
  code point whatever the database's collation. Skipped if the server cannot create one (PostgreSQL
  before 15, or built without ICU), unless ``WIGGLEDESK_REQUIRE_POSTGRES=1``, which makes it a failure.
- ``database_url``: parametrised over both, ids ``sqlite`` and ``postgresql`` (marked ``postgres``).
- ``migrated_engine``: an engine (``make_engine``) on ``database_url``, migrated to head, disposed after.

A test class can pin ``database_url`` to one backend by overriding it (``def database_url(self,
sqlite_url): return sqlite_url``) and keep using ``migrated_engine``.
"""
from __future__ import annotations

import os
import uuid
from typing import Iterator

import pytest
from sqlalchemy import URL, Engine, create_engine, make_url, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from wiggledesk_scim.adapters.sqlalchemy import make_engine, migrate
from wiggledesk_scim.adapters.sqlalchemy.scratch import fresh_postgres_schema

POSTGRES_URL_VARIABLE = "WIGGLEDESK_TEST_POSTGRES_URL"
REQUIRE_POSTGRES_VARIABLE = "WIGGLEDESK_REQUIRE_POSTGRES"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://root@127.0.0.1:5432/test"


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    """A SQLite database file of this test's own."""
    return f"sqlite:///{tmp_path / 'wiggledesk.sqlite'}"


@pytest.fixture(scope="session")
def postgres_server() -> URL:
    """The PostgreSQL server the tests may use, checked once per run; skips (or fails, in CI) if it is
    not there."""
    url = make_url(os.environ.get(POSTGRES_URL_VARIABLE) or DEFAULT_POSTGRES_URL)
    engine = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except DBAPIError as error:
        first_line = (str(error.orig).strip().splitlines() or ["no details"])[0]
        reason = (f"PostgreSQL is not reachable at {url.render_as_string(hide_password=True)} "
                  f"({first_line}). Start it, or point {POSTGRES_URL_VARIABLE} at one "
                  f"(a role that may create schemas), to run these tests.")
        if os.environ.get(REQUIRE_POSTGRES_VARIABLE) == "1":
            pytest.fail(f"{reason} {REQUIRE_POSTGRES_VARIABLE}=1 forbids skipping them.")
        pytest.skip(reason)
    finally:
        engine.dispose()
    return url


@pytest.fixture
def postgres_url(postgres_server: URL) -> Iterator[str]:
    """A URL whose connections work in a fresh, empty schema of their own (dropped after the test)."""
    with fresh_postgres_schema(postgres_server, "wiggledesk_test") as url:
        yield url


@pytest.fixture(scope="session")
def postgres_icu_server(postgres_server: URL) -> Iterator[URL]:
    """A database of its own on the PostgreSQL server, with ICU's English collation as its default."""
    database = f"wiggledesk_test_icu_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_server, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            # LOCALE_PROVIDER needs PostgreSQL 15; CREATE DATABASE cannot run in a transaction.
            connection.execute(text(f'CREATE DATABASE "{database}" TEMPLATE template0 ENCODING \'UTF8\' '
                                    f"LOCALE_PROVIDER icu ICU_LOCALE 'en' LOCALE 'C.UTF-8'"))
    except DBAPIError as error:
        admin.dispose()
        first_line = (str(error.orig).strip().splitlines() or ["no details"])[0]
        reason = f"cannot create a database with an ICU collation ({first_line})"
        if os.environ.get(REQUIRE_POSTGRES_VARIABLE) == "1":
            pytest.fail(f"{reason}; {REQUIRE_POSTGRES_VARIABLE}=1 forbids skipping its tests.")
        pytest.skip(reason)
    try:
        yield postgres_server.set(database=database)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{database}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def postgres_icu_url(postgres_icu_server: URL) -> Iterator[str]:
    """A fresh schema in the ICU-collated database (dropped after the test)."""
    with fresh_postgres_schema(postgres_icu_server, "wiggledesk_test") as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request) -> str:
    """An empty database of each kind in turn."""
    return request.getfixturevalue({"sqlite": "sqlite_url", "postgresql": "postgres_url"}[request.param])


@pytest.fixture
def migrated_engine(database_url: str) -> Iterator[Engine]:
    """An engine on ``database_url`` with the schema migrated to head."""
    engine = make_engine(database_url)
    try:
        migrate.upgrade(engine)
        yield engine
    finally:
        engine.dispose()
