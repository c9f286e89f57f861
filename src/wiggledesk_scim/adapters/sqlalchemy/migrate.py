"""Schema migrations from code: bring a database to a revision, and tell where it stands.

Alembic's command API with a ``Config`` built here (the migrations ship inside the package), so the CLI,
the tests and a deployment script need no alembic.ini. The engine's connection is handed to
``migrations/env.py`` through ``config.attributes["connection"]``.
"""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

#: The alembic script folder: env.py, script.py.mako and versions/.
MIGRATIONS = Path(__file__).resolve().with_name("migrations")


def alembic_config(connection: Connection | None = None) -> Config:
    """An alembic ``Config`` for the package's migrations, over ``connection`` when given."""
    config = Config()
    # ConfigParser interpolates "%": a path containing one must not be read as a reference.
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Migrate the database to ``revision`` (default: the newest) and return the revision it is at.

    One transaction, where the database has transactional DDL (PostgreSQL, and SQLite as
    ``make_engine`` sets it up): a failed migration leaves the schema as it was.
    """
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)
    return current_revision(engine)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None for a database never migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """The newest revision the package ships."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def shipped_revisions() -> frozenset[str]:
    """Every revision the package ships, its head and all before it."""
    return frozenset(script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions())


def is_at_head(engine: Engine) -> bool:
    """Whether the database has the schema this code expects (for a startup check)."""
    return current_revision(engine) == head_revision()
