"""Alembic's environment for the service's schema.

Online, it migrates over the connection handed in by ``migrate.py`` (``config.attributes["connection"]``),
else over an engine built by ``make_engine`` from the config option ``sqlalchemy.url`` (so a plain
``alembic -c some.ini upgrade head`` gets SQLite's foreign keys and locking right too). Offline
(``--sql``), it renders SQL for that URL.
"""
from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from wiggledesk_scim.adapters.sqlalchemy.tables import metadata
from wiggledesk_scim.adapters.sqlalchemy.unit_of_work import make_engine

config = context.config
target_metadata = metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things: later migrations rebuild tables in "batch" mode there.
        render_as_batch=connection.dialect.name == "sqlite",
    )


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("No database to migrate: pass a connection, or set sqlalchemy.url")
    return url


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True,
                      dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(_url())
    try:
        with engine.connect() as connection:
            _configure(connection)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
