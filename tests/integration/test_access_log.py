"""The access log over WebTest: one line per request, with the right fields, in either format, on stderr
or in a file, and nothing in it (or in any other log) that is a token or an attribute value.

The served form (pserve's stderr, through the ini's logging setup) is checked in test_server.py.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from datetime import datetime, timedelta, timezone

import pytest
from pyramid.interfaces import ITweens
from webtest import TestApp

from tests.integration.failures import add_commit_failure_route
from tests.integration.test_wsgi import (NOBODY, PATCH_OP, SEED_BODY, Scim, _explode,
                                         in_transaction)
from tests.support import FULL_USER
from wiggledesk_scim.domain.services import MemberService
from wiggledesk_scim.entrypoints.access_log import ACCESS_LOGGER, close_access_log
from wiggledesk_scim.entrypoints.pyramid_app import CONTAINER_KEY, main
from wiggledesk_scim.entrypoints.wiring import AppSettings, SettingsError

TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


# -- apps with an access log, and reading it back --------------------------------------------------

@pytest.fixture
def serve(database_url, migrated_engine):
    """``serve(**settings)``: ``main()`` over the test's migrated database with these settings added; the
    engines are disposed and the access log's file closed afterwards."""
    apps = []

    def serve(**settings):
        app = main({}, **{"wiggledesk.storage": "sqlalchemy", "sqlalchemy.url": database_url,
                          **{key.replace("__", "."): value for key, value in settings.items()}})
        apps.append(app)
        return app

    yield serve
    close_access_log()
    for app in apps:
        app.registry[CONTAINER_KEY].engine.dispose()


@pytest.fixture
def log_file(tmp_path):
    return tmp_path / "access.log"


@pytest.fixture(params=["plain", "json"])
def log_format(request) -> str:
    return request.param


@pytest.fixture
def app(serve, log_file, log_format):
    """The app, its access log in ``log_file`` in each format in turn."""
    return serve(wiggledesk__access_log=log_format, wiggledesk__access_log__file=str(log_file))


@pytest.fixture
def contoso(app):
    return in_transaction(app, lambda container, uow: container.onboard(uow, "Contoso", "ada@contoso.example"))


@pytest.fixture
def client(app, contoso) -> Scim:
    return Scim(TestApp(app), contoso.token)


def parse(line: str) -> dict:
    """A line of either format as one dict: plain's ``-`` is JSON's null, its numbers are numbers."""
    if line.startswith("{"):
        return json.loads(line)
    fields = dict(pair.split("=", 1) for pair in line.split(" "))
    fields = {key: None if value == "-" else value for key, value in fields.items()}
    fields["status"] = int(fields["status"])
    fields["duration_ms"] = float(fields["duration_ms"])
    return fields


def lines_of(text: str) -> list[dict]:
    return [parse(line) for line in text.splitlines()]


def logged(log_file) -> list[dict]:
    """What the access log holds now, while the app is still open: proof that each line is flushed."""
    return lines_of(log_file.read_text(encoding="utf-8"))


def assert_line(line: dict, response, *, organisation_id, method, route, status) -> None:
    assert list(line) == ["time", "request_id", "organisation_id", "method", "route", "status", "duration_ms"]
    assert line["request_id"] == response.headers["X-Request-Id"]
    assert (line["organisation_id"], line["method"], line["route"], line["status"]) == (
        organisation_id, method, route, status)
    assert response.status_int == status
    assert TIME.fullmatch(line["time"])
    arrived = datetime.strptime(line["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    assert abs(datetime.now(timezone.utc) - arrived) < timedelta(seconds=30)
    assert 0 < line["duration_ms"] < 30_000
    assert round(line["duration_ms"], 3) == line["duration_ms"]


# -- one line per request, with the right fields ----------------------------------------------------

def test_each_request_writes_one_flushed_line(client, log_file):
    """Every request adds exactly one line, readable at once, with the id its response carries."""
    responses = []
    for _ in range(3):
        responses.append(client.get("/ServiceProviderConfig"))
        assert [line["request_id"] for line in logged(log_file)] == [
            response.headers["X-Request-Id"] for response in responses]


def test_a_read_is_logged_with_the_organisation_whose_token_was_accepted(client, contoso, log_file):
    response = client.get("/Users?filter=userName+eq+%22ada%40contoso.example%22")
    (line,) = logged(log_file)
    assert_line(line, response, organisation_id=contoso.organisation.id, method="GET", route="scim_users",
                status=200)


def test_a_create_is_logged_as_its_route_with_201(client, contoso, log_file):
    response = client.post("/Users", SEED_BODY)
    member = client.get(response.headers["Location"])
    created, read = logged(log_file)
    assert_line(created, response, organisation_id=contoso.organisation.id, method="POST", route="scim_users",
                status=201)
    assert_line(read, member, organisation_id=contoso.organisation.id, method="GET", route="scim_user",
                status=200)


def test_a_refused_token_is_logged_without_an_organisation(app, contoso, log_file):
    response = Scim(TestApp(app), "wdscim_" + "x" * 43, "/scim/v2/Users").get("/Users")
    (line,) = logged(log_file)
    assert_line(line, response, organisation_id=None, method="GET", route="scim_users_root_users", status=401)


def test_an_unknown_path_is_logged_without_a_route(app, client, contoso, log_file):
    outside = TestApp(app).get("/wp-login.php?user=ada%40contoso.example", expect_errors=True)
    inside = client.get("/Nothing/here")
    first, second = logged(log_file)
    assert_line(first, outside, organisation_id=None, method="GET", route=None, status=404)
    # Under the SCIM root the token is checked before the 404, so the organisation is known.
    assert_line(second, inside, organisation_id=contoso.organisation.id, method="GET", route=None, status=404)


def test_an_unexpected_error_is_logged_as_500(client, contoso, log_file, monkeypatch):
    monkeypatch.setattr(MemberService, "rendition", _explode)
    response = client.get(f"/Users/{NOBODY}")
    (line,) = logged(log_file)
    assert_line(line, response, organisation_id=contoso.organisation.id, method="GET", route="scim_user",
                status=500)


def test_a_last_resort_500_is_logged_with_that_status(app, client, contoso, log_file):
    """A COMMIT failing after the view answered 201 turns into a 500 in the last-resort tween; the access
    log sits outside it and records the 500 the client got, not the 201."""
    response = client.post("http://localhost" + add_commit_failure_route(app), SEED_BODY)
    (line,) = logged(log_file)
    assert_line(line, response, organisation_id=contoso.organisation.id, method="POST",
                route="test_only_commit_failure", status=500)


def test_health_checks_are_logged_without_building_a_scim_api(app, log_file):
    """The tween only reads the organisation from a SCIM API the request already built."""
    response = TestApp(app).get("/healthz")
    (line,) = logged(log_file)
    assert_line(line, response, organisation_id=None, method="GET", route="healthz", status=200)


def test_a_method_outside_http_is_logged_as_other(app, log_file):
    """A method is typed by the client: an unknown one is not copied into the log."""
    with pytest.warns(Warning, match="Unknown REQUEST_METHOD"):  # WebTest's lint, rightly
        response = TestApp(app).request("/healthz", method="ADA@CONTOSO", expect_errors=True)
    (line,) = logged(log_file)
    assert_line(line, response, organisation_id=None, method="OTHER", route="healthz", status=404)


def test_the_access_log_is_the_outermost_tween(app):
    """Outside the last-resort tween and pyramid_tm: the final status, and the whole time, commit included."""
    names = [name for name, _factory in app.registry.queryUtility(ITweens).implicit()]
    assert names[:3] == ["wiggledesk_scim.entrypoints.access_log.access_log_tween_factory",
                         "wiggledesk_scim.entrypoints.views.last_resort_tween_factory",
                         "pyramid_tm.tm_tween_factory"]


# -- where it goes ------------------------------------------------------------------------------------

def test_by_default_plain_lines_go_to_stderr_and_not_through_the_root_logger(serve, capsys):
    """The access logger does not propagate, so the ini's console handler does not print each line again."""
    app = serve()
    seen_by_root = []
    root_handler = logging.Handler()
    root_handler.emit = seen_by_root.append
    logging.root.addHandler(root_handler)
    try:
        response = TestApp(app).get("/healthz")
    finally:
        logging.root.removeHandler(root_handler)
    captured = capsys.readouterr()
    (line,) = lines_of(captured.err)
    assert captured.err.startswith("time=") and captured.out == ""
    assert_line(line, response, organisation_id=None, method="GET", route="healthz", status=200)
    assert not [record for record in seen_by_root if record.name == ACCESS_LOGGER]


def test_json_lines_go_to_stderr_when_no_file_is_named(serve, capsys):
    response = TestApp(serve(wiggledesk__access_log="JSON")).get("/healthz")
    captured = capsys.readouterr().err
    assert captured.startswith("{") and captured.endswith("}\n")
    assert_line(parse(captured), response, organisation_id=None, method="GET", route="healthz", status=200)


def test_off_writes_nothing_and_adds_no_tween(serve, capsys, log_file):
    app = serve(wiggledesk__access_log="off", wiggledesk__access_log__file=str(log_file))
    TestApp(app).get("/healthz")
    assert capsys.readouterr().err == ""
    assert not log_file.exists()
    names = [name for name, _factory in app.registry.queryUtility(ITweens).implicit()]
    assert "wiggledesk_scim.entrypoints.access_log.access_log_tween_factory" not in names


def test_the_file_is_appended_to_and_nothing_goes_to_stderr(serve, log_file, capsys):
    log_file.write_text("an earlier line\n")
    TestApp(serve(wiggledesk__access_log__file=str(log_file))).get("/healthz")
    earlier, line = log_file.read_text().splitlines()
    assert earlier == "an earlier line" and parse(line)["route"] == "healthz"
    assert capsys.readouterr().err == ""


def test_a_file_moved_away_by_logrotate_is_opened_again(serve, log_file):
    """Within a second, as the handler looks for a rotation once a second."""
    app = TestApp(serve(wiggledesk__access_log__file=str(log_file)))
    app.get("/healthz")
    log_file.rename(log_file.with_suffix(".log.1"))
    time.sleep(1.05)
    app.get("/readyz")
    assert [line["route"] for line in logged(log_file)] == ["readyz"]
    assert [line["route"] for line in logged(log_file.with_suffix(".log.1"))] == ["healthz"]


# -- settings ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("settings, expected", [
    ({}, ("plain", None)),
    ({"wiggledesk.access_log": "json"}, ("json", None)),
    ({"wiggledesk.access_log": " JSON "}, ("json", None)),
    ({"wiggledesk.access_log": "off"}, ("off", None)),
    ({"wiggledesk.access_log": ""}, ("plain", None)),
    ({"wiggledesk.access_log.file": "/var/log/wiggledesk-scim/access.log"},
     ("plain", "/var/log/wiggledesk-scim/access.log")),
    ({"wiggledesk.access_log.file": " "}, ("plain", None)),
])
def test_access_log_settings_are_read(settings, expected):
    """The format defaults to plain and the file to stderr; the format's case does not matter."""
    read = AppSettings.from_settings({"wiggledesk.storage": "memory", **settings})
    assert (read.access_log, read.access_log_file) == expected


@pytest.mark.parametrize("settings, words", [
    ({"wiggledesk.access_log": "yaml"}, "wiggledesk.access_log = 'yaml' is not an access log format"),
    ({"wiggledesk.access_log": "true"}, "write wiggledesk.access_log = plain"),
    ({"wiggledesk.access_log.file": "/nonexistent-directory/access.log"},
     "wiggledesk.access_log.file = /nonexistent-directory/access.log: cannot open it"),
])
def test_a_bad_access_log_setting_stops_startup_naming_the_key(settings, words):
    with pytest.raises(SettingsError, match=re.escape(words)):
        main({}, **{"wiggledesk.storage": "memory", **settings})


# -- what is never logged, anywhere ------------------------------------------------------------------

@pytest.fixture
def every_log_record():
    """Every record any logger emits, at DEBUG, from SQLAlchemy and waitress as much as our own: each
    logger is set to pass everything up to a root handler (the access log excepted, which has its own)."""
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(self.format(record) + repr(record.args))

    manager = logging.root.manager
    names = set(manager.loggerDict) | {"sqlalchemy", "sqlalchemy.engine", "sqlalchemy.pool", "waitress",
                                       "wiggledesk_scim", "transaction", "pyramid_tm"}
    loggers = [logging.getLogger(name) for name in names if name != ACCESS_LOGGER]
    saved = [(logger, logger.level, logger.disabled, logger.propagate) for logger in loggers]
    root_level = logging.root.level
    handler = Keep(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    for logger in loggers:
        logger.setLevel(logging.NOTSET)
        logger.disabled = False
        logger.propagate = True
    logging.root.setLevel(logging.DEBUG)
    logging.root.addHandler(handler)
    try:
        yield records
    finally:
        logging.root.removeHandler(handler)
        logging.root.setLevel(root_level)
        for logger, level, disabled, propagate in saved:
            logger.setLevel(level)
            logger.disabled = disabled
            logger.propagate = propagate


def test_no_token_and_no_attribute_value_reaches_any_log(app, contoso, log_file, every_log_record, monkeypatch):
    """A whole Entra cycle for a member whose userName is an e-mail address, with a refused token, a 400 and
    a 500: neither the access log nor any other logger holds a token, a digest, or an address."""
    client = Scim(TestApp(app), contoso.token)
    wrong = "wdscim_" + "Wq3" * 14 + "x"
    new_mail = "adele.work@fabrikam.example"
    assert client.get(f"/Users?filter=userName+eq+%22{FULL_USER['userName']}%22").json["totalResults"] == 0
    created = client.post("/Users", FULL_USER)
    assert created.status_int == 201, created.text
    location = created.headers["Location"]
    assert client.find("externalId", FULL_USER["externalId"]).json["totalResults"] == 1
    assert client.find("userName", FULL_USER["userName"]).json["totalResults"] == 1
    assert client.get(location).status_int == 200
    for operations in (
            [{"op": "Replace", "path": 'emails[type eq "work"].value', "value": new_mail}],
            [{"op": "Replace", "path": "active", "value": "False"}],          # deprovision
            [{"op": "replace", "value": {"active": True}}]):                    # restore
        patched = client.patch(location, {"schemas": [PATCH_OP], "Operations": operations})
        assert patched.status_int == 200, patched.text
    assert client.delete(location).status_int == 204
    assert Scim(TestApp(app), wrong).find("userName", FULL_USER["userName"]).status_int == 401
    bad = client.get(f'/Users?filter=userName+zz+%22{FULL_USER["userName"]}%22')
    assert bad.status_int == 400, bad.text
    rejected = client.post("/Users", {"userName": "megan.bowen@contoso.example", "active": "perhaps"})
    assert rejected.status_int == 400, rejected.text
    monkeypatch.setattr(MemberService, "query_renditions", _explode)
    assert client.find("userName", FULL_USER["userName"]).status_int == 500

    access_log = log_file.read_text(encoding="utf-8")
    assert len(access_log.splitlines()) == 13
    everything = access_log + "\n".join(every_log_record)
    assert "Unexpected RuntimeError" in everything  # the 500's traceback was captured
    secrets = [contoso.token, wrong]
    secrets += [secret[len("wdscim_"):][:12] for secret in secrets]
    secrets += [hashlib.sha256(secret.encode()).hexdigest()[:12] for secret in (contoso.token, wrong)]
    addresses = ["ada@contoso.example", FULL_USER["userName"], new_mail, "megan.bowen@contoso.example",
                 FULL_USER["externalId"], "Adele Vance", "+44 7700 900123"]
    for value in secrets + addresses:
        assert value not in everything, value
        assert value.replace("@", "%40") not in everything, value


def test_no_client_secret_access_token_or_header_reaches_any_log(app, contoso, log_file, every_log_record):
    """ENTRA.md §2.2 over the SQL storage: a token fetched by Basic, a refused secret in the body and in a
    Basic header, then SCIM requests with the access token: no secret, token, digest or Authorization
    header is logged (the memory-storage form, with assertions, is in test_oauth_wsgi.py)."""
    import base64

    created = in_transaction(app, lambda container, uow: container.clients(uow).create_client(
        contoso.organisation.id, "Entra provisioning"))
    client_id, secret = created.client.id, created.secret.plaintext
    wrong = "wdscs_" + "Wq3" * 14 + "x"
    testapp = TestApp(app)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    good_basic = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    bad_basic = "Basic " + base64.b64encode(f"{client_id}:{wrong}".encode()).decode()
    token = testapp.post("/oauth2/token", "grant_type=client_credentials",
                         headers={**form, "Authorization": good_basic}).json["access_token"]
    testapp.post("/oauth2/token", f"grant_type=client_credentials&client_id={client_id}&client_secret={wrong}",
                 headers=form, status=401)
    testapp.post("/oauth2/token", "grant_type=client_credentials", headers={**form, "Authorization": bad_basic},
                 status=401)
    Scim(testapp, token).get("/Users")
    everything = log_file.read_text(encoding="utf-8") + "\n".join(every_log_record)
    assert "unknown client secret" in everything  # the refusal's reason, logged at INFO
    for value in (secret, wrong, token, good_basic, bad_basic):
        for piece in (value, value.split(" ")[-1][6:20], hashlib.sha256(value.encode()).hexdigest()[:12]):
            assert piece not in everything, piece
