"""/healthz and /readyz: no token, a bare status, and readiness that follows the database and its schema."""
from __future__ import annotations

import logging

import pytest
from sqlalchemy import create_engine, text
from webtest import TestApp

from wiggledesk_scim.adapters.sqlalchemy import make_engine, migrate
from wiggledesk_scim.entrypoints.pyramid_app import CONTAINER_KEY, main


def _app(**settings) -> TestApp:
    return TestApp(main({}, **settings))


def _assert_bare(response, status: str) -> None:
    assert response.json == {"status": status}
    assert response.headers["Cache-Control"] == "no-store"
    assert "X-Request-Id" in response.headers


def test_healthz_answers_without_a_token():
    response = _app(**{"wiggledesk.storage": "memory"}).get("/healthz")
    assert response.status_int == 200
    _assert_bare(response, "ok")


def test_memory_storage_is_ready_at_once():
    app = _app(**{"wiggledesk.storage": "memory"})
    _assert_bare(app.get("/readyz"), "ok")
    assert app.head("/readyz").status_int == 200


def test_ready_when_the_database_is_at_the_head_revision(database_url, migrated_engine):
    app = _app(**{"wiggledesk.storage": "sqlalchemy", "sqlalchemy.url": database_url})
    try:
        _assert_bare(app.get("/readyz"), "ok")
    finally:
        app.app.registry[CONTAINER_KEY].engine.dispose()


def test_not_ready_until_migrate_has_run_then_ready_without_a_restart(database_url, caplog):
    app = _app(**{"wiggledesk.storage": "sqlalchemy", "sqlalchemy.url": database_url})
    engine = app.app.registry[CONTAINER_KEY].engine
    try:
        migrate.upgrade(engine, "0001")
        with caplog.at_level(logging.WARNING):
            response = app.get("/readyz", status=503)
        _assert_bare(response, "unavailable")
        assert "schema is at revision 0001" in caplog.text and "migrate" in caplog.text
        migrate.upgrade(engine)
        _assert_bare(app.get("/readyz"), "ok")
    finally:
        engine.dispose()


def test_still_ready_when_a_newer_release_has_migrated_during_an_upgrade(database_url, migrated_engine):
    """An upgrade migrates before the new release serves: the old processes see a revision they do not
    ship and keep serving (migrations only add), rather than all leaving the load balancer at once."""
    app = _app(**{"wiggledesk.storage": "sqlalchemy", "sqlalchemy.url": database_url})
    try:
        with migrated_engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '0999_from_the_next_release'"))
        _assert_bare(app.get("/readyz"), "ok")
    finally:
        app.app.registry[CONTAINER_KEY].engine.dispose()


def test_not_ready_while_the_database_does_not_answer_and_the_reason_stays_in_the_log(caplog):
    # A port nothing listens on (127.0.0.1 only): the connection is refused at once.
    url = "postgresql+psycopg://wiggledesk:secret-password@127.0.0.1:9/nowhere"
    app = _app(**{"wiggledesk.storage": "sqlalchemy", "sqlalchemy.url": url})
    try:
        with caplog.at_level(logging.WARNING):
            response = app.get("/readyz", status=503)
        _assert_bare(response, "unavailable")
        assert "does not answer" in caplog.text
        assert "secret-password" not in caplog.text and "secret-password" not in response.text
    finally:
        app.app.registry[CONTAINER_KEY].engine.dispose()


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_checks_take_reads_only(path):
    app = _app(**{"wiggledesk.storage": "memory"})
    assert app.post(path, status="*").status_int in (404, 405)
