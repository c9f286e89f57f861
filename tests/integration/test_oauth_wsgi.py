"""The OAuth 2.0 endpoints over WebTest (ENTRA.md §2.2, §2.3), on the in-memory storage: the token endpoint
by both client-authentication methods and by an Entra-style assertion whose JWKS is served on 127.0.0.1,
every OAuth error, the access token under both SCIM trees, the metadata document, fair use, and that no
credential reaches any log.

The same flow over SQLite and PostgreSQL is ``test_oauth_wsgi_sql.py``."""
from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime, timezone
from urllib.parse import quote_plus

import jwt
import pytest
from webtest import TestApp

from tests.integration.test_access_log import every_log_record  # noqa: F401 (a fixture)
from tests.integration.test_federation_served import JwksHost, jwks, keys  # noqa: F401 (keys: a fixture)
from tests.integration.test_wsgi import in_transaction
from tests.support import FixedClock
from wiggledesk_scim.domain.oauth import JWT_BEARER
from wiggledesk_scim.entrypoints.access_log import close_access_log
from wiggledesk_scim.entrypoints.pyramid_app import CONTAINER_KEY, main
from wiggledesk_scim.entrypoints.wiring import AppSettings, SettingsError

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
AUDIENCE = "api://AzureADTokenExchange"
SUBJECT = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
FORM = "application/x-www-form-urlencoded"


# -- the app, Contoso and its client -----------------------------------------------------------------

def memory_app(**settings):
    """``main()`` over memory storage, its clock standing still at the real time (so that a test moves
    it past an access token's expiry); ``settings`` with ``__`` for ``.``."""
    app = main({}, **{"wiggledesk.storage": "memory", "wiggledesk.access_log": "off",
                      **{key.replace("__", "."): value for key, value in settings.items()}})
    app.registry[CONTAINER_KEY].clock = FixedClock(datetime.now(timezone.utc).replace(microsecond=0))
    return app


@pytest.fixture
def app():
    return memory_app()


@pytest.fixture
def testapp(app) -> TestApp:
    return TestApp(app)


def onboarded(app, name: str, email: str):
    return in_transaction(app, lambda container, uow: container.onboard(uow, name, email))


def new_client(app, organisation_id: str, name: str = "Entra provisioning"):
    """A client of the organisation, as ``clients create`` makes it: (client id, secret, secret id)."""
    created = in_transaction(app, lambda container, uow: container.clients(uow).create_client(organisation_id, name))
    return created.client.id, created.secret.plaintext, created.secret.secret.id


@pytest.fixture
def contoso(app):
    return onboarded(app, "Contoso", "ada@contoso.example")


@pytest.fixture
def client(app, contoso):
    return new_client(app, contoso.organisation.id)


def basic(client_id: str, secret: str) -> dict[str, str]:
    """RFC 6749 §2.3.1: each part form-urlencoded, then base64."""
    pair = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


def post_token(testapp, body: str, headers: dict[str, str] | None = None, status="*", content_type=FORM):
    return testapp.post("/oauth2/token", body, headers={"Content-Type": content_type, **(headers or {})},
                        status=status)


def assert_oauth_error(response, status: int, error: str) -> dict:
    assert response.status_int == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Cache-Control"] == "no-store" and response.headers["Pragma"] == "no-cache"
    assert set(response.json) == {"error", "error_description"} and response.json["error"] == error
    assert response.json["error_description"]
    return response.json


def users(testapp, token: str, path: str = "/scim/v2/Users", status: int = 200):
    return testapp.get(path, headers={"Authorization": f"Bearer {token}"}, status=status)


# -- a token, by each client-authentication method --------------------------------------------------

def assert_token_answer(response, app) -> str:
    assert response.status_int == 200, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Cache-Control"] == "no-store" and response.headers["Pragma"] == "no-cache"
    body = response.json
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["access_token"].startswith("wdsat_")
    assert (body["token_type"], body["expires_in"], body["scope"]) == ("Bearer", 3600, "scim")
    return body["access_token"]


def test_client_credentials_in_a_basic_header_get_a_token_that_works_under_both_trees(app, testapp, contoso,
                                                                                      client):
    """ENTRA.md §2.2, Entra's newer experience: Basic credentials; the access token then works as a bearer
    token under /scim/v2 and /scim/v2/Users alike."""
    client_id, secret, _ = client
    token = assert_token_answer(post_token(testapp, "grant_type=client_credentials&scope=scim",
                                           basic(client_id, secret)), app)
    assert users(testapp, token).json["totalResults"] == 1
    assert users(testapp, token, "/scim/v2/Users/Users").json["totalResults"] == 1
    spc = testapp.get("/scim/v2/ServiceProviderConfig", headers={"Authorization": f"Bearer {token}"})
    assert [scheme["type"] for scheme in spc.json["authenticationSchemes"]] == ["oauth2", "oauthbearertoken"]


def test_client_credentials_in_the_body_get_a_token(app, testapp, client):
    """ENTRA.md §2.2, the validation template: credentials in the body, an unknown parameter ignored."""
    client_id, secret, _ = client
    body = (f"grant_type=client_credentials&client_id={quote_plus(client_id)}&client_secret={quote_plus(secret)}"
            "&baseAddress=https%3A%2F%2Fscim.example%2Fscim%2Fv2")
    token = assert_token_answer(post_token(testapp, body), app)
    assert users(testapp, token).status_int == 200


def test_a_content_type_with_a_charset_is_still_a_form(app, testapp, client):
    client_id, secret, _ = client
    response = post_token(testapp, "grant_type=client_credentials", basic(client_id, secret),
                          content_type=FORM + "; charset=UTF-8")
    assert_token_answer(response, app)


def test_the_lifetime_is_the_configured_one():
    app = memory_app(wiggledesk__oauth__access_token_seconds="21600")
    organisation = onboarded(app, "Contoso", "ada@contoso.example").organisation
    client_id, secret, _ = new_client(app, organisation.id)
    response = post_token(TestApp(app), "grant_type=client_credentials", basic(client_id, secret))
    assert response.json["expires_in"] == 21600


def test_an_expired_access_token_is_401_telling_entra_to_fetch_a_new_one(app, testapp, client):
    """ENTRA.md §2.2: expired -> 401, WWW-Authenticate with error="invalid_token" and the description."""
    token = post_token(testapp, "grant_type=client_credentials", basic(*client[:2])).json["access_token"]
    app.registry[CONTAINER_KEY].clock.advance(3600)
    refused = users(testapp, token, status=401)
    assert refused.headers["WWW-Authenticate"] == ('Bearer realm="WiggleDesk", error="invalid_token", '
                                                   'error_description="The access token expired"')
    assert users(testapp, "wdsat_" + "x" * 43, status=401).headers["WWW-Authenticate"] == (
        'Bearer realm="WiggleDesk", error="invalid_token"')
    assert testapp.get("/scim/v2/Users", status=401).headers["WWW-Authenticate"] == 'Bearer realm="WiggleDesk"'


def test_revoking_the_secret_ends_its_access_tokens_at_the_next_request(app, testapp, client):
    client_id, secret, secret_id = client
    token = post_token(testapp, "grant_type=client_credentials", basic(client_id, secret)).json["access_token"]
    in_transaction(app, lambda container, uow: container.clients(uow).revoke_secret(secret_id))
    assert users(testapp, token, status=401).json["detail"].startswith("The client secret this access token")
    assert_oauth_error(post_token(testapp, "grant_type=client_credentials", basic(client_id, secret)),
                       401, "invalid_client")


# -- an Entra-signed assertion (§2.3), its JWKS served on 127.0.0.1 -----------------------------------

@pytest.fixture
def host():
    served = JwksHost()
    yield served
    if served.thread.is_alive():
        served.stop()


def signed(app, keys, kid: str = "k1", **changes) -> str:
    now = app.registry[CONTAINER_KEY].clock.now().timestamp()
    claims = {"iss": f"https://login.microsoftonline.com/{TENANT}/v2.0", "aud": AUDIENCE, "sub": SUBJECT,
              "tid": TENANT, "exp": now + 3600, "nbf": now - 10, "iat": now - 10, **changes}
    return jwt.encode(claims, keys[kid], algorithm="RS256", headers={"kid": kid})


@pytest.fixture
def federated(app, client, host, keys):
    """Contoso's client, trusting a JWKS on 127.0.0.1 that holds key k1."""
    uri = host.serve("/tenant/keys", jwks(keys, "k1"))
    in_transaction(app, lambda container, uow: container.clients(uow).set_trust(
        client[0], tenant=TENANT, audience=AUDIENCE, subject=SUBJECT, jwks_uri=uri))
    return client[0]


def assertion_body(client_id: str, assertion: str) -> str:
    return (f"grant_type=client_credentials&client_id={quote_plus(client_id)}"
            f"&client_assertion_type={quote_plus(JWT_BEARER)}&client_assertion={assertion}&scope=scim")


def test_an_entra_signed_assertion_gets_a_token_that_works(app, testapp, federated, keys, host):
    """ENTRA.md §2.3: an RS256 assertion with the trust's iss, aud, sub and tid, signed by a key of the
    trust's JWKS, authenticates the client; no secret is sent."""
    token = assert_token_answer(post_token(testapp, assertion_body(federated, signed(app, keys))), app)
    assert users(testapp, token).json["totalResults"] == 1
    assert users(testapp, token, "/scim/v2/Users/Users").status_int == 200
    assert host.hits == ["/tenant/keys"]


def test_the_jwks_cache_is_one_per_process(app, testapp, federated, keys, host):
    """The container's one JwksKeys serves every request: a second assertion fetches nothing."""
    for _ in range(2):
        assert post_token(testapp, assertion_body(federated, signed(app, keys))).status_int == 200
    assert host.hits == ["/tenant/keys"]


@pytest.mark.parametrize("changes", [{"aud": "api://somebody-else"}, {"sub": "another-app"},
                                     {"tid": "00000000-0000-0000-0000-000000000000"}, {"kid": "k2"}])
def test_a_failed_assertion_is_an_invalid_client_without_a_basic_challenge(app, testapp, federated, keys, changes):
    assertion = signed(app, keys, **changes) if "kid" not in changes else signed(app, keys, kid="k2")
    response = post_token(testapp, assertion_body(federated, assertion))
    assert_oauth_error(response, 401, "invalid_client")
    assert "WWW-Authenticate" not in response.headers


# -- every OAuth error of §2.2 ------------------------------------------------------------------------

@pytest.mark.parametrize("body, status, error", [
    ("", 400, "invalid_request"),
    ("scope=scim", 400, "invalid_request"),
    ("grant_type=client_credentials&grant_type=client_credentials", 400, "invalid_request"),
    ("grant_type=password&username=ada&password=x", 400, "unsupported_grant_type"),
    ("grant_type=client_credentials&scope=openid", 400, "invalid_scope"),
    ("grant_type=client_credentials&scope=scim&scope=scim", 400, "invalid_request"),
])
def test_malformed_requests_are_refused_as_oauth_errors(testapp, client, body, status, error):
    assert_oauth_error(post_token(testapp, body, basic(*client[:2])), status, error)


def test_a_request_that_is_not_a_form_is_an_invalid_request(testapp, client):
    for content_type in ("application/json", "text/plain", "multipart/form-data; boundary=x"):
        body = json.dumps({"grant_type": "client_credentials"})
        assert_oauth_error(post_token(testapp, body, basic(*client[:2]), content_type=content_type),
                           400, "invalid_request")
    assert_oauth_error(testapp.post("/oauth2/token", status="*"), 400, "invalid_request")


def test_a_body_that_is_not_utf8_is_an_invalid_request(testapp, client):
    assert_oauth_error(post_token(testapp, b"grant_type=client_credentials&client_id=%FF", basic(*client[:2])),
                       400, "invalid_request")


def test_basic_and_body_secrets_together_are_an_invalid_request(testapp, client):
    client_id, secret, _ = client
    body = f"grant_type=client_credentials&client_secret={quote_plus(secret)}"
    assert_oauth_error(post_token(testapp, body, basic(client_id, secret)), 400, "invalid_request")


def test_a_wrong_secret_by_basic_is_invalid_client_with_a_basic_challenge(testapp, client):
    """RFC 6749 §5.2: WWW-Authenticate: Basic when Basic was used; the description names no part."""
    response = post_token(testapp, "grant_type=client_credentials", basic(client[0], "wdscs_" + "w" * 43))
    body = assert_oauth_error(response, 401, "invalid_client")
    assert response.headers["WWW-Authenticate"] == 'Basic realm="WiggleDesk"'
    assert "secret was" not in body["error_description"]


@pytest.mark.parametrize("client_id, secret", [("unknown-client", "wdscs_" + "w" * 43), (None, "wdscs_" + "w" * 43),
                                               (None, None)])
def test_a_wrong_or_missing_body_credential_is_invalid_client_without_a_challenge(testapp, client, client_id, secret):
    client_id = client_id or client[0]
    secret = secret or client[1] + "x"
    body = f"grant_type=client_credentials&client_id={quote_plus(client_id)}&client_secret={quote_plus(secret)}"
    response = post_token(testapp, body)
    assert_oauth_error(response, 401, "invalid_client")
    assert "WWW-Authenticate" not in response.headers


def test_no_credentials_at_all_is_invalid_client(testapp, client):
    assert_oauth_error(post_token(testapp, "grant_type=client_credentials"), 401, "invalid_client")


def test_a_revoked_client_is_invalid_client(app, testapp, client):
    in_transaction(app, lambda container, uow: container.clients(uow).revoke_client(client[0]))
    assert_oauth_error(post_token(testapp, "grant_type=client_credentials", basic(*client[:2])),
                       401, "invalid_client")


def test_an_expired_secret_is_invalid_client(app, testapp, client):
    app.registry[CONTAINER_KEY].clock.advance(731 * 86400)
    assert_oauth_error(post_token(testapp, "grant_type=client_credentials", basic(*client[:2])),
                       401, "invalid_client")


def test_an_organisation_with_api_access_off_gets_unauthorized_client(app, testapp, contoso, client):
    in_transaction(app, lambda container, uow: container.operations(uow).set_api_access(
        contoso.organisation.id, False))
    assert_oauth_error(post_token(testapp, "grant_type=client_credentials", basic(*client[:2])),
                       400, "unauthorized_client")


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_any_method_but_post_is_405_allowing_post(testapp, method):
    response = testapp.request("/oauth2/token", method=method, expect_errors=True)
    assert_oauth_error(response, 405, "invalid_request")
    assert response.headers["Allow"] == "POST"


# -- metadata (RFC 8414) -----------------------------------------------------------------------------

def test_the_metadata_document_needs_no_token_and_names_the_token_endpoint(testapp):
    response = testapp.get("/.well-known/oauth-authorization-server")
    assert response.headers["Content-Type"] == "application/json"
    assert response.json == {
        "issuer": "http://localhost",
        "token_endpoint": "http://localhost/oauth2/token",
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["scim"],
    }
    https = testapp.get("/.well-known/oauth-authorization-server", extra_environ={
        "wsgi.url_scheme": "https", "HTTP_HOST": "scim.wiggledesk.example"})
    assert https.json["token_endpoint"] == "https://scim.wiggledesk.example/oauth2/token"
    assert testapp.post("/.well-known/oauth-authorization-server", status=405).headers["Allow"] == "GET"


# -- fair use ----------------------------------------------------------------------------------------

def test_failures_beyond_the_burst_are_429_even_with_the_right_secret_and_others_go_on():
    """ENTRA.md §2.2 / issue 16: a known client id gives no quick stream of guesses. Failures spend its
    organisation's budget; then that client is refused 429 with Retry-After before its secret is checked,
    while another organisation's client is served."""
    app = memory_app(wiggledesk__fair_use__rate="0.0167", wiggledesk__fair_use__burst="3")
    testapp = TestApp(app)
    contoso = onboarded(app, "Contoso", "ada@contoso.example").organisation
    fabrikam = onboarded(app, "Fabrikam", "grace@fabrikam.example").organisation
    client_id, secret, _ = new_client(app, contoso.id)
    wrong = basic(client_id, "wdscs_" + "g" * 43)
    for _ in range(3):
        assert_oauth_error(post_token(testapp, "grant_type=client_credentials", wrong), 401, "invalid_client")
    for headers in (wrong, basic(client_id, secret)):
        refused = post_token(testapp, "grant_type=client_credentials", headers)
        assert_oauth_error(refused, 429, "temporarily_unavailable")
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
    other_id, other_secret, _ = new_client(app, fabrikam.id)
    assert post_token(testapp, "grant_type=client_credentials", basic(other_id, other_secret)).status_int == 200


def test_successes_spend_no_token_endpoint_budget():
    app = memory_app(wiggledesk__fair_use__rate="0.0167", wiggledesk__fair_use__burst="2")
    organisation = onboarded(app, "Contoso", "ada@contoso.example").organisation
    client_id, secret, _ = new_client(app, organisation.id)
    for _ in range(4):
        assert post_token(TestApp(app), "grant_type=client_credentials", basic(client_id, secret)).status_int == 200


# -- the setting --------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, seconds", [(None, 3600), ("3600", 3600), (" 7200 ", 7200), ("21600", 21600)])
def test_the_access_token_lifetime_setting_is_read(value, seconds):
    settings = {"wiggledesk.storage": "memory"}
    if value is not None:
        settings["wiggledesk.oauth.access_token_seconds"] = value
    assert AppSettings.from_settings(settings).access_token_seconds == seconds


@pytest.mark.parametrize("value", ["3599", "21601", "an hour", "0"])
def test_a_lifetime_outside_entras_limits_stops_startup_naming_the_key(value):
    with pytest.raises(SettingsError) as stopped:
        main({}, **{"wiggledesk.storage": "memory", "wiggledesk.oauth.access_token_seconds": value})
    assert f"wiggledesk.oauth.access_token_seconds = '{value}' must be a whole number from 3600 to 21600" in str(
        stopped.value)


# -- logs ---------------------------------------------------------------------------------------------

def test_the_access_log_names_the_token_route_and_status(tmp_path):
    log_file = tmp_path / "access.log"
    app = memory_app(wiggledesk__access_log="plain", wiggledesk__access_log__file=str(log_file))
    try:
        testapp = TestApp(app)
        organisation = onboarded(app, "Contoso", "ada@contoso.example").organisation
        client_id, secret, _ = new_client(app, organisation.id)
        post_token(testapp, "grant_type=client_credentials", basic(client_id, secret))
        post_token(testapp, "grant_type=client_credentials", basic(client_id, "wrong"))
        testapp.get("/oauth2/token", status=405)
        testapp.get("/.well-known/oauth-authorization-server")
        lines = log_file.read_text(encoding="utf-8").splitlines()
    finally:
        close_access_log()
    assert [(line.split(" route=")[1].split(" ")[0], line.split(" status=")[1].split(" ")[0]) for line in lines] == [
        ("oauth_token", "200"), ("oauth_token", "401"), ("oauth_token", "405"), ("oauth_metadata", "200")]


def test_no_secret_access_token_or_assertion_reaches_any_log(tmp_path, every_log_record, keys, host,  # noqa: F811
                                                             caplog):
    """ENTRA.md §2.2: no body, Authorization header or credential is logged, whatever the outcome; the
    refusal's reason is logged at INFO."""
    log_file = tmp_path / "access.log"
    app = memory_app(wiggledesk__access_log="json", wiggledesk__access_log__file=str(log_file))
    try:
        testapp = TestApp(app)
        organisation = onboarded(app, "Contoso", "ada@contoso.example").organisation
        client_id, secret, _ = new_client(app, organisation.id)
        uri = host.serve("/tenant/keys", jwks(keys, "k1"))
        in_transaction(app, lambda container, uow: container.clients(uow).set_trust(
            client_id, tenant=TENANT, audience=AUDIENCE, subject=SUBJECT, jwks_uri=uri))
        wrong = "wdscs_" + "Wq3" * 14 + "x"
        good = signed(app, keys)
        bad = signed(app, keys, sub="intruder")
        headers = basic(client_id, secret)
        token = post_token(testapp, "grant_type=client_credentials", headers).json["access_token"]
        users(testapp, token)
        post_token(testapp, f"grant_type=client_credentials&client_id={client_id}&client_secret={wrong}")
        post_token(testapp, "grant_type=client_credentials", basic(client_id, wrong))
        assertion_token = post_token(testapp, assertion_body(client_id, good)).json["access_token"]
        post_token(testapp, assertion_body(client_id, bad))
        app.registry[CONTAINER_KEY].clock.advance(3600)
        users(testapp, token, status=401)
        everything = log_file.read_text(encoding="utf-8") + "\n".join(every_log_record)
    finally:
        close_access_log()
    assert "unknown client secret" in everything  # the reason, at INFO
    assert "assertion for client" in everything
    credentials = [secret, wrong, token, assertion_token, good, bad, headers["Authorization"],
                   basic(client_id, wrong)["Authorization"]]
    credentials += [value.split(" ")[-1][6:20] for value in credentials]  # not even a piece
    credentials += [hashlib.sha256(value.encode()).hexdigest()[:12] for value in (secret, wrong, token)]
    credentials += [good.split(".")[2][:16], bad.split(".")[1][:16]]
    for value in credentials:
        assert value not in everything, value


def test_a_body_over_the_limit_is_413_as_an_oauth_error(testapp, client):
    """No token request is anywhere near MAX_BODY_BYTES: refused on its Content-Length, in OAuth's words."""
    from wiggledesk_scim.domain.scim.messages import MAX_BODY_BYTES

    body = "grant_type=client_credentials&pad=" + "x" * MAX_BODY_BYTES
    assert_oauth_error(post_token(testapp, body, basic(*client[:2])), 413, "invalid_request")
