"""Database trouble is not a 500: the assembled app (WebTest over ``main()``) against a database that is
busy, unreachable, dropped its connections, or gives up a transaction over a serialization failure or
a deadlock.

Every such request answers RFC 7644's error body with status 503 and a ``Retry-After`` (Entra retries
on it) and changes nothing; the app recovers by itself once the database answers again (pool pre-ping,
no restart); and a transaction that lost a race is tried again in full (pyramid_retry, ``retry.attempts``)
before the client sees a 503. The races are real: a concurrent transaction's committed update, or a
PostgreSQL trigger raising the very SQLSTATE a given number of times (a sequence counts, and
``nextval`` is not rolled back with the failed transaction).
"""
from __future__ import annotations

import json
import logging
import re
import socket
import sqlite3
import uuid

import pytest
from pyramid.scripting import prepare
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool
from webtest import TestApp

from wiggledesk_scim.adapters.sqlalchemy import make_engine, migrate, prepared
from wiggledesk_scim.domain.scim.errors import RETRY_AFTER_SECONDS, STORE_UNAVAILABLE_DETAIL
from wiggledesk_scim.entrypoints.pyramid_app import CONTAINER_KEY, main
from wiggledesk_scim.entrypoints.wiring import AppSettings, SettingsError

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SCIM_JSON = "application/scim+json; charset=utf-8"
SEED_BODY = {"userName": "bjensen@contoso.example", "externalId": "bjensen", "active": True,
             "emails": [{"type": "work", "value": "bjensen@contoso.example", "primary": True}]}
DISPLAY_NAME = {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "displayName",
                                                       "value": "Barbara Jensen"}]}


# -- the app and a client -------------------------------------------------------------------------

class App:
    """``main()`` as PasteDeploy calls it, a WebTest client with Contoso's token, and ways to look in."""

    def __init__(self, url: str, **settings):
        self.wsgi = main({}, **{"wiggledesk.storage": "sqlalchemy", "sqlalchemy.url": url, **settings})
        self.testapp = TestApp(self.wsgi)
        self.token = "not-a-token"
        self.organisation_id = None

    @property
    def engine(self):
        return self.wsgi.registry[CONTAINER_KEY].engine

    def close(self) -> None:
        self.engine.dispose()

    def in_transaction(self, work):
        env = prepare(registry=self.wsgi.registry)
        try:
            with env["request"].tm:
                return work(env["request"].registry[CONTAINER_KEY], env["request"].uow)
        finally:
            env["closer"]()

    def onboard(self) -> "App":
        onboarding = self.in_transaction(
            lambda container, uow: container.onboard(uow, "Contoso", "ada@contoso.example"))
        self.token, self.organisation_id = onboarding.token, onboarding.organisation.id
        return self

    def request(self, method: str, path: str, body=None, request_id: str | None = None):
        headers = {"Authorization": f"Bearer {self.token}"}
        if request_id:
            headers["X-Request-Id"] = request_id
        if body is not None:
            headers["Content-Type"] = "application/scim+json"
        return self.testapp.request("/scim/v2" + path, method=method, headers=headers, expect_errors=True,
                                    body=json.dumps(body).encode() if body is not None else b"")

    def user_names(self) -> dict[str, str | None]:
        """Each stored member's userName and displayName, read through a unit of work of its own."""
        from wiggledesk_scim.domain.query import Query

        def read(container, uow):
            with uow:
                page = uow.members.search(self.organisation_id, Query(start_index=1, count=1000))
                return {m.user_name: m.fields.display_name for m in page.resources}
        return self.in_transaction(read)


def assert_unavailable(response) -> None:
    """The 503 every kind of database trouble answers."""
    assert response.status_int == 503, response.text
    assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert response.headers["Content-Type"] == SCIM_JSON
    assert response.json == {"schemas": [ERROR], "status": "503", "detail": STORE_UNAVAILABLE_DETAIL}


def migrated(url: str) -> str:
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    return url


def warnings_about(caplog, request_id: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING and request_id in r.getMessage()]


# -- SQLite busy ----------------------------------------------------------------------------------

@pytest.fixture
def sqlite_app(sqlite_url):
    """Contoso on a SQLite file whose busy timeout is 0.2 s (the URL's ``?timeout=``), with Barbara."""
    app = App(migrated(sqlite_url) + "?timeout=0.2").onboard()
    try:
        assert app.request("POST", "/Users", SEED_BODY).status_int == 201
        yield app
    finally:
        app.close()


def test_a_sqlite_file_locked_by_another_process_is_a_503_and_nothing_is_written(sqlite_app, sqlite_url, caplog):
    """Another connection holding SQLite's write lock past the busy timeout: a POST and a PATCH each get a
    503 with Retry-After and a SCIM body, write nothing, and log one warning naming the request id and
    the error's class; once the lock is released the same requests succeed, with no restart."""
    (member_id,) = [r["id"] for r in sqlite_app.request("GET", "/Users").json["Resources"]
                    if r["userName"] == SEED_BODY["userName"]]
    other = sqlite3.connect(make_url(sqlite_url).database, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        created = sqlite_app.request("POST", "/Users", {**SEED_BODY, "userName": "adele@contoso.example",
                                                        "externalId": "adele"}, request_id="busy-post")
        patched = sqlite_app.request("PATCH", f"/Users/{member_id}", DISPLAY_NAME, request_id="busy-patch")
        assert_unavailable(created)
        assert_unavailable(patched)
        for request_id in ("busy-post", "busy-patch"):
            (warning,) = warnings_about(caplog, request_id)
            assert "OperationalError" in warning and "locked" not in warning
        other.execute("ROLLBACK")
    finally:
        other.close()
    assert sqlite_app.user_names() == {"ada@contoso.example": None, SEED_BODY["userName"]: None}

    assert sqlite_app.request("PATCH", f"/Users/{member_id}", DISPLAY_NAME).status_int == 200
    assert sqlite_app.request("POST", "/Users", {**SEED_BODY, "userName": "adele@contoso.example",
                                                 "externalId": "adele"}).status_int == 201
    assert sqlite_app.user_names() == {"ada@contoso.example": None, "adele@contoso.example": None,
                                       SEED_BODY["userName"]: "Barbara Jensen"}


def test_a_sqlite_unique_violation_is_still_a_409_not_a_503(sqlite_app):
    """Only "the database cannot answer now" is a 503: a taken userName stays the client's 409."""
    response = sqlite_app.request("POST", "/Users", SEED_BODY)
    assert response.status_int == 409
    assert response.json["scimType"] == "uniqueness"


# -- PostgreSQL unreachable, and back ------------------------------------------------------------

def closed_port() -> int:
    """A local TCP port nothing listens on (bound, read, released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_postgresql_is_a_503_for_reads_and_writes(caplog):
    """No server at the URL (connection refused): GET and POST answer 503 with Retry-After, the warning
    names the error's class, and neither body nor log holds the URL or its password."""
    app = App(f"postgresql+psycopg://scim:s3cret-pw@127.0.0.1:{closed_port()}/scim")
    try:
        for method, body in (("GET", None), ("POST", SEED_BODY)):
            response = app.request(method, "/Users", body, request_id=f"down-{method}")
            assert_unavailable(response)
            assert "s3cret" not in response.text and "127.0.0.1" not in response.text
            (warning,) = warnings_about(caplog, f"down-{method}")
            assert "OperationalError" in warning
        assert not any("s3cret" in r.getMessage() for r in caplog.records)
        assert app.testapp.get("/readyz", expect_errors=True).status_int == 503
    finally:
        app.close()


def terminate_backends(postgres_url: str, application_name: str) -> int:
    """Terminate, from outside the app, every server process serving ``application_name``: what a
    server restart or a failover does to the app's pooled connections. Returns how many there were."""
    killer = create_engine(postgres_url, poolclass=NullPool)
    try:
        with killer.connect() as connection:
            return len(connection.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :name"),
                {"name": application_name}).all())
    finally:
        killer.dispose()


@pytest.fixture
def application_name() -> str:
    return f"wiggledesk-trouble-{uuid.uuid4().hex[:12]}"


@pytest.mark.postgres
def test_postgresql_connections_dropped_by_the_server_are_replaced_without_a_restart(
        postgres_url, application_name):
    """Every pooled connection terminated by the server (as a restart does): the next GET and POST are
    served, since pre-ping replaces a dead connection before the request uses it."""
    app = App(migrated(postgres_url), **{"sqlalchemy.connect_args": {"application_name": application_name},
                                         "sqlalchemy.pool_size": "2"}).onboard()
    try:
        assert app.request("POST", "/Users", SEED_BODY).status_int == 201
        assert app.request("GET", "/Users").status_int == 200
        assert terminate_backends(postgres_url, application_name) >= 1

        assert app.request("GET", "/Users").json["totalResults"] == 2
        adele = {**SEED_BODY, "userName": "adele@contoso.example", "externalId": "adele"}
        assert app.request("POST", "/Users", adele).status_int == 201
        assert set(app.user_names()) == {"ada@contoso.example", "adele@contoso.example", SEED_BODY["userName"]}
    finally:
        app.close()


@pytest.mark.postgres
def test_without_pre_ping_a_dropped_connection_costs_one_503_not_a_500(postgres_url, application_name):
    """With pre-ping turned off, a request that meets a dead connection answers 503 (the
    connection is invalidated, so the pool never hands it out again) and, once each dead connection of
    the pool (two here: a GET's own, and the one its token's last-use stamp took) was met, the next one
    is served."""
    app = App(migrated(postgres_url), **{"sqlalchemy.connect_args": {"application_name": application_name},
                                         "sqlalchemy.pool_pre_ping": False, "sqlalchemy.pool_size": "2",
                                         "sqlalchemy.max_overflow": "0"}).onboard()
    try:
        assert app.request("GET", "/Users").status_int == 200
        assert terminate_backends(postgres_url, application_name) == 2

        first = app.request("GET", "/Users")
        assert_unavailable(first)
        statuses = [app.request("GET", "/Users").status_int for _ in range(2)]
        assert statuses in ([200, 200], [503, 200]), statuses
    finally:
        app.close()


# -- serialization failures and deadlocks, retried ------------------------------------------------

@pytest.fixture
def serializable_app(postgres_url):
    """Contoso on PostgreSQL with REPEATABLE READ transactions (so a concurrent update is a
    serialization failure rather than a wait), and Barbara; yields the app and Barbara's id."""
    app = App(migrated(postgres_url), **{"sqlalchemy.isolation_level": "REPEATABLE READ"}).onboard()
    try:
        barbara = app.request("POST", "/Users", SEED_BODY).json["id"]
        yield app, barbara
    finally:
        app.close()


class ConcurrentUpdate:
    """Before each of the app's UPDATEs of a member (a ``prepared.observers`` hook), the first ``times``
    times: another connection updates and commits that member's row. The app's transaction read the row
    before, so its UPDATE fails with PostgreSQL's serialization failure (SQLSTATE 40001)."""

    def __init__(self, postgres_url: str, member_id: str, times: int):
        self.engine = create_engine(postgres_url, poolclass=NullPool)
        self.member_id = member_id
        self.times = times
        self.done = 0

    def __call__(self, sql: str, parameters) -> None:
        if sql.startswith("UPDATE members") and self.done < self.times:
            self.done += 1
            with self.engine.begin() as connection:
                connection.execute(text("UPDATE members SET version = version WHERE id = :id"),
                                   {"id": self.member_id})

    def __enter__(self) -> "ConcurrentUpdate":
        prepared.observers.append(self)
        return self

    def __exit__(self, *exc_info) -> None:
        prepared.observers.remove(self)
        self.engine.dispose()


@pytest.mark.postgres
def test_a_serialization_failure_is_retried_and_the_request_succeeds(serializable_app, postgres_url, caplog):
    """A PATCH whose transaction loses a race with a concurrent update is run again, in a fresh
    transaction, and answers 200 with the change made once."""
    app, barbara = serializable_app
    with ConcurrentUpdate(postgres_url, barbara, times=1) as race:
        response = app.request("PATCH", f"/Users/{barbara}", DISPLAY_NAME, request_id="race-1")
    assert race.done == 1
    assert response.status_int == 200, response.text
    assert response.json["displayName"] == "Barbara Jensen"
    assert app.user_names()[SEED_BODY["userName"]] == "Barbara Jensen"
    (warning,) = warnings_about(caplog, "race-1")
    assert "SerializationFailure" in warning and warning.endswith("retrying")


@pytest.mark.postgres
@pytest.mark.parametrize("attempts", [None, "2"], ids=["default attempts", "retry.attempts = 2"])
def test_a_request_that_keeps_losing_the_race_is_a_503_after_the_last_attempt(postgres_url, attempts, caplog):
    """``retry.attempts`` tries in all (3 unless the ini says otherwise), then the 503 with Retry-After;
    nothing is changed."""
    settings = {"sqlalchemy.isolation_level": "REPEATABLE READ"}
    if attempts:
        settings["retry.attempts"] = attempts
    app = App(migrated(postgres_url), **settings).onboard()
    try:
        barbara = app.request("POST", "/Users", SEED_BODY).json["id"]
        with ConcurrentUpdate(postgres_url, barbara, times=10) as race:
            response = app.request("PATCH", f"/Users/{barbara}", DISPLAY_NAME, request_id="race-lost")
        assert race.done == int(attempts or 3)
        assert_unavailable(response)
        assert app.user_names()[SEED_BODY["userName"]] is None
        assert len(warnings_about(caplog, "race-lost")) == race.done
    finally:
        app.close()


@pytest.mark.parametrize("given, attempts", [(None, 3), ("", 3), ("1", 1), (" 10 ", 10), (2, 2)])
def test_retry_attempts_are_read_and_handed_to_pyramid_retry(given, attempts):
    """``retry.attempts`` is a whole number from 1 to 10, 3 when the ini says nothing, and the number
    pyramid_retry tries a request with."""
    settings = {"wiggledesk.storage": "memory"}
    if given is not None:
        settings["retry.attempts"] = given

    assert AppSettings.from_settings(settings).retry_attempts == attempts
    assert main({}, **settings).registry.settings["retry.attempts"] == attempts


@pytest.mark.parametrize("given", ["three", "0", "11", "2.5"])
def test_a_wrong_retry_attempts_stops_startup_naming_the_key(given):
    """A value pyramid_retry could not use stops startup with a message naming the key and its bounds,
    not with pyramid_retry's bare traceback."""
    settings = {"wiggledesk.storage": "memory", "retry.attempts": given}
    expected = f"retry.attempts = {given!r} must be a whole number from 1 to 10"

    with pytest.raises(SettingsError, match=re.escape(expected)):
        AppSettings.from_settings(settings)
    with pytest.raises(SettingsError, match=re.escape(expected)):
        main({}, **settings)


def add_failing_trigger(postgres_url: str, errcode: str, times: int, *, at_commit: bool) -> None:
    """A trigger on members that raises ``errcode`` the first ``times`` times a member is updated: as the
    UPDATE runs, or (``at_commit``, a deferred constraint trigger) at the COMMIT pyramid_tm runs after
    the view answered."""
    engine = create_engine(postgres_url, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE SEQUENCE trouble_count"))
            connection.execute(text(f"""
                CREATE FUNCTION trouble() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF nextval('trouble_count') <= {times} THEN
                        RAISE EXCEPTION 'provoked by the test' USING ERRCODE = '{errcode}';
                    END IF;
                    RETURN NEW;
                END $$"""))
            if at_commit:
                connection.execute(text("CREATE CONSTRAINT TRIGGER trouble AFTER UPDATE ON members "
                                        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION trouble()"))
            else:
                connection.execute(text("CREATE TRIGGER trouble BEFORE UPDATE ON members "
                                        "FOR EACH ROW EXECUTE FUNCTION trouble()"))
    finally:
        engine.dispose()


def trouble_count(postgres_url: str) -> int:
    engine = create_engine(postgres_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT last_value FROM trouble_count")).scalar_one()
    finally:
        engine.dispose()


@pytest.fixture
def postgres_app(postgres_url):
    """Contoso on PostgreSQL (READ COMMITTED, as in production), and Barbara; the app and her id."""
    app = App(migrated(postgres_url)).onboard()
    try:
        barbara = app.request("POST", "/Users", SEED_BODY).json["id"]
        yield app, barbara
    finally:
        app.close()


@pytest.mark.postgres
@pytest.mark.parametrize("at_commit", [False, True], ids=["in the statement", "at COMMIT"])
@pytest.mark.parametrize("errcode, name", [("deadlock_detected", "DeadlockDetected"),
                                           ("serialization_failure", "SerializationFailure")],
                         ids=["deadlock", "serialization failure"])
def test_a_deadlock_or_serialization_failure_is_retried_wherever_it_surfaces(
        postgres_app, postgres_url, errcode, name, at_commit, caplog):
    """40P01 or 40001 twice, raised by the server in the UPDATE or at the COMMIT after the view answered:
    the third attempt succeeds, and the change is made once."""
    app, barbara = postgres_app
    add_failing_trigger(postgres_url, errcode, times=2, at_commit=at_commit)

    response = app.request("PATCH", f"/Users/{barbara}", DISPLAY_NAME, request_id="tried-thrice")

    assert response.status_int == 200, response.text
    assert trouble_count(postgres_url) == 3
    assert app.user_names()[SEED_BODY["userName"]] == "Barbara Jensen"
    warnings = warnings_about(caplog, "tried-thrice")
    assert len(warnings) == 2 and all(name in w and w.endswith("retrying") for w in warnings)


@pytest.mark.postgres
def test_a_failure_at_commit_that_retrying_cannot_help_is_a_503_at_once(postgres_app, postgres_url, caplog):
    """A COMMIT refused because the server cannot answer now (here: cannot_connect_now, 57P03) is no
    race: one attempt, then the SCIM 503, not the bare 500; nothing is changed."""
    app, barbara = postgres_app
    add_failing_trigger(postgres_url, "cannot_connect_now", times=5, at_commit=True)

    assert_unavailable(app.request("PATCH", f"/Users/{barbara}", DISPLAY_NAME, request_id="no-race"))
    assert trouble_count(postgres_url) == 1
    assert app.user_names()[SEED_BODY["userName"]] is None
    (warning,) = warnings_about(caplog, "no-race")
    assert "CannotConnectNow" in warning and "retrying" not in warning


@pytest.mark.postgres
def test_a_programming_error_is_still_a_500_not_a_503(postgres_app, postgres_url):
    """An error that says the statement is wrong (here the trigger's undefined_column, 42703) is a fault
    to fix: the bare 500, never retried as if the database were merely busy."""
    app, barbara = postgres_app
    add_failing_trigger(postgres_url, "undefined_column", times=5, at_commit=False)

    response = app.request("PATCH", f"/Users/{barbara}", DISPLAY_NAME)
    assert response.status_int == 500
    assert trouble_count(postgres_url) == 1
