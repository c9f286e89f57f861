"""The token endpoint over WebTest on SQLite and PostgreSQL, pyramid_tm live: the access token issued in a
request's transaction is committed (the next request can use it), a refused request commits nothing, and
the access token works under both SCIM trees (ENTRA.md §2.2). The HTTP shape of every answer is pinned on
the in-memory storage in ``test_oauth_wsgi.py``; this file proves the same over the SQL unit of work."""
from __future__ import annotations

import pytest
from webtest import TestApp

from tests.integration.test_oauth_wsgi import assert_oauth_error, basic, post_token, users
from tests.integration.test_wsgi import in_transaction
from wiggledesk_scim.entrypoints.pyramid_app import CONTAINER_KEY, main


@pytest.fixture
def app(database_url, migrated_engine):
    wsgi_app = main({}, **{"wiggledesk.storage": "sqlalchemy", "sqlalchemy.url": database_url,
                           "wiggledesk.access_log": "off"})
    yield wsgi_app
    wsgi_app.registry[CONTAINER_KEY].engine.dispose()


@pytest.fixture
def client(app):
    contoso = in_transaction(app, lambda container, uow: container.onboard(uow, "Contoso", "ada@contoso.example"))
    created = in_transaction(app, lambda container, uow: container.clients(uow).create_client(
        contoso.organisation.id, "Entra provisioning"))
    return created.client.id, created.secret.plaintext, created.secret.secret.id


def test_an_access_token_is_committed_and_works_under_both_trees(app, client):
    testapp = TestApp(app)
    response = post_token(testapp, "grant_type=client_credentials&scope=scim", basic(*client[:2]))
    assert response.status_int == 200, response.text
    assert response.headers["Cache-Control"] == "no-store" and response.headers["Pragma"] == "no-cache"
    token = response.json["access_token"]
    assert users(testapp, token).json["totalResults"] == 1
    assert users(testapp, token, "/scim/v2/Users/Users").json["totalResults"] == 1


def test_body_credentials_work_too(app, client):
    client_id, secret, _ = client
    response = post_token(TestApp(app), f"grant_type=client_credentials&client_id={client_id}&client_secret={secret}")
    assert response.status_int == 200, response.text


def test_a_refused_request_commits_nothing_and_leaves_the_client_unused(app, client):
    testapp = TestApp(app)
    assert_oauth_error(post_token(testapp, "grant_type=client_credentials", basic(client[0], "wdscs_wrong")),
                       401, "invalid_client")
    listed = in_transaction(app, lambda container, uow: container.clients(uow).list_clients(
        container.operations(uow).organisation("Contoso").id))
    assert listed[0].client.last_used is None and listed[0].secrets[0].last_used is None


def test_revoking_the_client_ends_its_access_tokens_at_the_next_request(app, client):
    testapp = TestApp(app)
    token = post_token(testapp, "grant_type=client_credentials", basic(*client[:2])).json["access_token"]
    in_transaction(app, lambda container, uow: container.clients(uow).revoke_client(client[0]))
    assert users(testapp, token, status=401).headers["WWW-Authenticate"] == (
        'Bearer realm="WiggleDesk", error="invalid_token"')


def test_deprovisioning_and_deleting_every_admin_does_not_lock_out_an_organisations_client(app, client):
    """Issue 16's lock-out, tried with a client: Entra deprovisions and then deletes the onboarded admin (the
    only person with a token) with the client's access token; the access token, and new ones, keep working."""
    testapp = TestApp(app)
    token = post_token(testapp, "grant_type=client_credentials", basic(*client[:2])).json["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    (ada,) = users(testapp, token).json["Resources"]
    testapp.patch_json(f"/scim/v2/Users/{ada['id']}", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                       "Operations": [{"op": "Replace", "path": "active", "value": "False"}]}, headers=headers)
    assert users(testapp, token).json["Resources"][0]["active"] is False
    testapp.delete(f"/scim/v2/Users/{ada['id']}", headers=headers, status=204)

    assert users(testapp, token).json["totalResults"] == 0
    again = post_token(testapp, "grant_type=client_credentials", basic(*client[:2]))
    assert users(testapp, again.json["access_token"]).json["totalResults"] == 0
