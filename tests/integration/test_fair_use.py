"""Fair use over the WSGI app (SQLite and PostgreSQL): each organisation's requests, reads included, are
limited by ``wiggledesk.fair_use.rate`` / ``.burst``; beyond them a SCIM 429 with Retry-After that changes
nothing, while another organisation is served as before."""
from __future__ import annotations

import pytest
from webtest import TestApp

from tests.integration.test_wsgi import SEED_BODY, in_transaction, stored_members
from wiggledesk_scim.entrypoints.pyramid_app import CONTAINER_KEY, main
from wiggledesk_scim.entrypoints.wiring import AppSettings, SettingsError


@pytest.fixture
def app(database_url, migrated_engine):
    """The app with a bucket of 3 requests per organisation, refilled at one a minute."""
    wsgi_app = main({}, **{"wiggledesk.storage": "sqlalchemy", "sqlalchemy.url": database_url,
                           "wiggledesk.fair_use.rate": "0.0167", "wiggledesk.fair_use.burst": "3",
                           "wiggledesk.access_log": "off"})
    yield wsgi_app
    wsgi_app.registry[CONTAINER_KEY].engine.dispose()


def onboarded(app, name: str, email: str):
    return in_transaction(app, lambda container, uow: container.onboard(uow, name, email))


def test_beyond_the_burst_an_organisation_gets_429_with_retry_after_and_nothing_changes(app):
    contoso, fabrikam = onboarded(app, "Contoso", "ada@contoso.example"), onboarded(app, "Fabrikam", "g@f.example")
    client = TestApp(app)
    headers = {"Authorization": f"Bearer {contoso.token}"}
    assert client.get("/scim/v2/Users", headers=headers).status_int == 200
    assert client.get("/scim/v2/Users?filter=userName+eq+%22x%22", headers=headers).status_int == 200
    assert client.get("/scim/v2/ServiceProviderConfig", headers=headers).status_int == 200

    refused = client.post_json("/scim/v2/Users", SEED_BODY, headers=headers, status=429)
    assert refused.json["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert refused.json["status"] == "429" and "requests per second" in refused.json["detail"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["Content-Type"] == "application/scim+json; charset=utf-8"
    assert client.get("/scim/v2/Users", headers=headers, status=429).status_int == 429  # reads included
    assert "Example Username" not in stored_members(app, contoso.organisation.id)

    other = {"Authorization": f"Bearer {fabrikam.token}"}
    assert client.post_json("/scim/v2/Users", SEED_BODY, headers=other).status_int == 201


@pytest.mark.parametrize("settings, rate, burst", [
    ({}, 0.0, 200),
    ({"wiggledesk.fair_use.rate": "50", "wiggledesk.fair_use.burst": "500"}, 50.0, 500),
    ({"wiggledesk.fair_use.rate": " 0.5 "}, 0.5, 200),
    ({"wiggledesk.fair_use.rate": "0"}, 0.0, 200),
])
def test_fair_use_settings_are_read(settings, rate, burst):
    parsed = AppSettings.from_settings({"wiggledesk.storage": "memory", **settings})
    assert (parsed.fair_use_rate, parsed.fair_use_burst) == (rate, burst)


@pytest.mark.parametrize("settings, message", [
    ({"wiggledesk.fair_use.rate": "fast"}, "wiggledesk.fair_use.rate = 'fast' must be a number of requests per second"),
    ({"wiggledesk.fair_use.rate": "-5"}, "wiggledesk.fair_use.rate = '-5' must be a number"),
    ({"wiggledesk.fair_use.rate": "nan"}, "wiggledesk.fair_use.rate = 'nan' must be a number"),
    ({"wiggledesk.fair_use.burst": "0"}, "wiggledesk.fair_use.burst = '0' must be a whole number from 1"),
])
def test_a_wrong_fair_use_setting_stops_startup_naming_the_key(settings, message):
    with pytest.raises(SettingsError) as stopped:
        main({}, **{"wiggledesk.storage": "memory", **settings})
    assert message in str(stopped.value)


def test_no_rate_means_no_limit(database_url, migrated_engine):
    wsgi_app = main({}, **{"wiggledesk.storage": "sqlalchemy", "sqlalchemy.url": database_url,
                           "wiggledesk.fair_use.burst": "1", "wiggledesk.access_log": "off"})
    try:
        contoso = onboarded(wsgi_app, "Contoso", "ada@contoso.example")
        client = TestApp(wsgi_app)
        for _ in range(5):
            client.get("/scim/v2/Users", headers={"Authorization": f"Bearer {contoso.token}"}, status=200)
    finally:
        wsgi_app.registry[CONTAINER_KEY].engine.dispose()
