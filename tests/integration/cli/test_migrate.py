"""``wiggledesk-scim CONFIG migrate`` on SQLite and PostgreSQL: the sentence it ends with, from an empty
database, from an older revision, and again at the latest."""
from __future__ import annotations

from pathlib import Path

import pytest

from wiggledesk_scim.adapters.sqlalchemy import make_engine, migrate


@pytest.fixture
def ini(tmp_path: Path, database_url: str) -> Path:
    """As the command tests' ini, over a database nothing has migrated yet."""
    path = tmp_path / "test.ini"
    path.write_text("[app:main]\nuse = egg:wiggledesk-scim\nwiggledesk.storage = sqlalchemy\n"
                    f"sqlalchemy.url = {database_url.replace('%', '%%')}\n")
    return path


def test_migrate_says_it_reached_the_latest_revision_and_then_that_it_was_there(wiggledesk):
    head = migrate.head_revision()

    assert wiggledesk("migrate") == (
        0, f"The database schema is now at revision {head}, the latest (it had none before).\n", "")
    assert wiggledesk("migrate") == (0, f"The database schema was already at the latest revision, {head}.\n", "")


def test_migrate_from_an_older_revision_says_which_it_was_at(wiggledesk, database_url):
    engine = make_engine(database_url)
    try:
        migrate.upgrade(engine, "0003")
    finally:
        engine.dispose()

    assert wiggledesk("migrate") == (
        0, f"The database schema is now at revision {migrate.head_revision()}, the latest (it was at 0003).\n", "")
