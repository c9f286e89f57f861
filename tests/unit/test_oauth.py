"""OAuth 2.0 client credentials and client assertions (ENTRA.md §2.2, §2.3): the token endpoint's rules, the
operations on clients, and the access tokens' check on every SCIM request."""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import re
from datetime import timedelta
from urllib.parse import quote_plus

import pytest

from tests.support import START
from tests.unit.scim_requests import SEED_USER, scim_request
from wiggledesk_scim.domain.access import (ACCESS_TOKEN_EXPIRED, ACCESS_TOKEN_PREFIX, CLIENT_REVOKED,
                                           CLIENT_SECRET_PREFIX, EXPIRED_ACCESS_TOKEN, ORGANISATION_OFF,
                                           SECRET_EXPIRED, SECRET_REVOKED, TOKEN_PREFIX, UNKNOWN_ACCESS_TOKEN,
                                           AcceptedTokens, StoredTokenAuthority)
from wiggledesk_scim.domain.errors import AccessRefused, AssertionRefused, InvalidValue, NotFound
from wiggledesk_scim.domain.model import (SECRET_EXPIRY_WARNING, AccessToken, ClientSecret, FederatedTrust,
                                          OAuthClient, Principal, entra_issuer, entra_jwks_uri)
from wiggledesk_scim.domain.oauth import (BAD_ASSERTION, BAD_CREDENTIALS, JWT_BEARER, NO_CREDENTIALS,
                                          UNREADABLE_BASIC, ClientService, OAuthError, TokenEndpoint,
                                          access_token_lifetime, is_loopback_host, jwks_uri_problem, parse_basic,
                                          prune_access_tokens)
from wiggledesk_scim.domain.ports import ClientAssertionVerifier
from wiggledesk_scim.domain.scim.api import ScimApi

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
AUDIENCE = "api://AzureADTokenExchange"
SUBJECT = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
GOOD_ASSERTION = "eyJhbGciOiJSUzI1NiJ9.the-assertion.signed-by-entra"


class ScriptedVerifier(ClientAssertionVerifier):
    """Accepts ``GOOD_ASSERTION`` and refuses anything else as a bad signature; records every call, and runs
    ``during`` (if set) while it verifies, as another request could meanwhile."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.during = None

    def verify(self, assertion, trust, now) -> None:
        self.calls.append((assertion, trust, now))
        if self.during is not None:
            self.during()
        if assertion != GOOD_ASSERTION:
            raise AssertionRefused("the signature does not verify with key k1")


@pytest.fixture
def verifier() -> ScriptedVerifier:
    return ScriptedVerifier()


@pytest.fixture
def clients(uow, clock, ids) -> ClientService:
    return ClientService(uow, clock, ids)


@pytest.fixture
def endpoint(uow, clock, ids, verifier) -> TokenEndpoint:
    return TokenEndpoint(uow, clock, ids, verifier)


@pytest.fixture
def provisioner(clients, contoso):
    """Contoso's client "Entra provisioning" with its first secret (ids 7 and 8)."""
    return clients.create_client(contoso.organisation.id, "Entra provisioning")


def basic(client_id: str, secret: str) -> str:
    pair = f"{quote_plus(client_id)}:{quote_plus(secret)}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


def form(**params) -> dict[str, list[str]]:
    return {name: values if isinstance(values, list) else [values] for name, values in params.items()}


def by_basic(provisioner, **params):
    return form(grant_type="client_credentials", **params), basic(provisioner.client.id,
                                                                  provisioner.secret.plaintext)


def by_body(provisioner, **params):
    return form(grant_type="client_credentials", client_id=provisioner.client.id,
                client_secret=provisioner.secret.plaintext, **params)


def by_assertion(client_id: str, assertion: str = GOOD_ASSERTION, **params):
    return form(grant_type="client_credentials", client_id=client_id, client_assertion_type=JWT_BEARER,
                client_assertion=assertion, **params)


def oauth_error(call, *args) -> OAuthError:
    with pytest.raises(OAuthError) as raised:
        call(*args)
    return raised.value


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# -- the token endpoint: success ---------------------------------------------------------------------------

def test_client_credentials_in_a_basic_header_get_an_access_token(endpoint, provisioner):
    """Entra's newer experience: Basic credentials and grant_type give RFC 6749 §5.1's answer."""
    answer = endpoint.token(*by_basic(provisioner))

    assert answer == {"access_token": answer["access_token"], "token_type": "Bearer", "expires_in": 3600,
                      "scope": "scim"}
    assert re.fullmatch(r"wdsat_[A-Za-z0-9_-]{43,}", answer["access_token"])


def test_client_credentials_in_the_body_get_an_access_token(endpoint, provisioner):
    """The validation template's form: client_id and client_secret in the body."""
    answer = endpoint.token(by_body(provisioner))

    assert answer["token_type"] == "Bearer" and answer["access_token"].startswith(ACCESS_TOKEN_PREFIX)


def test_only_the_access_tokens_digest_is_stored(store, endpoint, provisioner, clock):
    """The access token exists nowhere but in the answer; the store holds its SHA-256 and its origin."""
    answer = endpoint.token(*by_basic(provisioner))

    stored = store.access_tokens[sha256(answer["access_token"])]
    assert stored == AccessToken(id="00000000-0000-4000-8000-000000000009", client_id=provisioner.client.id,
                                 secret_id=provisioner.secret.secret.id,
                                 organisation_id=provisioner.client.organisation_id,
                                 digest=sha256(answer["access_token"]), created=START,
                                 expires=START + timedelta(seconds=3600))
    assert answer["access_token"] not in repr(store.__dict__)


def test_issuing_records_when_the_client_and_secret_were_last_used(uow, endpoint, provisioner, clock):
    """The console's "last used" of a client and of a secret is the last token fetched with it."""
    clock.advance(60)
    endpoint.token(*by_basic(provisioner))

    with uow:
        assert uow.clients.get(provisioner.client.id).last_used == clock.now()
        assert uow.clients.get_secret(provisioner.secret.secret.id).last_used == clock.now()


def test_the_lifetime_is_the_configured_one(uow, clock, ids, verifier, provisioner):
    """expires_in is wiggledesk.oauth.access_token_seconds, up to six hours."""
    endpoint = TokenEndpoint(uow, clock, ids, verifier, lifetime=access_token_lifetime(21600))

    assert endpoint.token(*by_basic(provisioner))["expires_in"] == 21600


@pytest.mark.parametrize("seconds", [3599, 21601, 0, True, "3600"])
def test_a_lifetime_outside_entras_limits_is_refused(seconds):
    """Microsoft's validation fails below 60 minutes or above 6 hours: the setting says so at startup."""
    with pytest.raises(InvalidValue) as refused:
        access_token_lifetime(seconds)

    assert refused.value.detail == ("wiggledesk.oauth.access_token_seconds must be a whole number from 3600 "
                                    "to 21600 (Entra's limits)")


def test_an_endpoint_with_an_out_of_range_lifetime_cannot_be_built(uow, clock, ids, verifier):
    """The bound holds for every way of building the endpoint, not only through the setting."""
    with pytest.raises(InvalidValue):
        TokenEndpoint(uow, clock, ids, verifier, lifetime=timedelta(minutes=5))


@pytest.mark.parametrize("scope", [None, "", "  ", "scim", "scim offline", "other scim"])
def test_scope_may_be_absent_empty_or_contain_scim(endpoint, provisioner, scope):
    """ENTRA.md §2.2: any of these is accepted, and the answer's scope is always scim."""
    params = {} if scope is None else {"scope": scope}

    assert endpoint.token(*by_basic(provisioner, **params))["scope"] == "scim"


def test_unknown_parameters_are_ignored_even_repeated(endpoint, provisioner):
    """The validation template sends baseAddress; parameters we do not read are no error."""
    answer = endpoint.token(*by_basic(provisioner, baseAddress=["https://h.example/scim/v2", "again"]))

    assert answer["scope"] == "scim"


def test_several_access_tokens_of_one_client_are_valid_at_once(endpoint, authority, provisioner):
    """A new token never invalidates an older one before its expiry."""
    first = endpoint.token(*by_basic(provisioner))["access_token"]
    second = endpoint.token(*by_basic(provisioner))["access_token"]

    assert first != second
    assert authority.authenticate(first).client_id == authority.authenticate(second).client_id


def test_a_body_client_id_naming_the_basic_client_is_tolerated(endpoint, provisioner):
    """Sending the client id in both places is one authentication method, not two."""
    params, header = by_basic(provisioner, client_id=provisioner.client.id)

    assert endpoint.token(params, header)["token_type"] == "Bearer"


# -- the token endpoint: RFC 6749 §5.2 errors --------------------------------------------------------------

@pytest.mark.parametrize("name", ["grant_type", "client_id", "client_secret", "scope"])
def test_a_repeated_parameter_is_an_invalid_request(endpoint, provisioner, name):
    """RFC 6749 §3.2: parameters must not be sent twice; the answer names the one that was."""
    params = by_body(provisioner, scope="scim")
    params[name] = params[name] * 2

    error = oauth_error(endpoint.token, params)

    assert (error.error, error.status, error.description) == (
        "invalid_request", 400, f"{name} was sent more than once; send each parameter once.")


@pytest.mark.parametrize("grant_type", [None, ""])
def test_a_missing_grant_type_is_an_invalid_request(endpoint, provisioner, grant_type):
    """Without grant_type the request is malformed (RFC 6749 §5.2 invalid_request), and told what to send."""
    params, header = by_basic(provisioner)
    if grant_type is None:
        del params["grant_type"]
    else:
        params["grant_type"] = [grant_type]

    error = oauth_error(endpoint.token, params, header)

    assert (error.error, error.status, error.description) == (
        "invalid_request", 400, "grant_type is missing: send grant_type=client_credentials.")


@pytest.mark.parametrize("grant_type", ["password", "authorization_code", "CLIENT_CREDENTIALS"])
def test_another_grant_type_is_unsupported(endpoint, provisioner, grant_type):
    """Only client_credentials is offered; grant type values are compared exactly."""
    params, header = by_basic(provisioner)
    params["grant_type"] = [grant_type]

    error = oauth_error(endpoint.token, params, header)

    assert (error.error, error.status, error.description) == (
        "unsupported_grant_type", 400, "Only grant_type=client_credentials is supported.")


@pytest.mark.parametrize("scope", ["openid", "scim.read", "SCIM"])
def test_a_scope_without_scim_is_invalid(endpoint, provisioner, scope):
    """A scope that does not contain scim asks for something we do not offer."""
    error = oauth_error(endpoint.token, *by_basic(provisioner, scope=scope))

    assert (error.error, error.status, error.description) == (
        "invalid_scope", 400, "The only scope offered is scim: send scope=scim, or no scope.")


@pytest.mark.parametrize("extra", [{"client_secret": "wdscs_x"}, {"client_id": "another-client"},
                                   {"client_assertion": GOOD_ASSERTION},
                                   {"client_assertion_type": JWT_BEARER}])
def test_basic_and_body_credentials_together_are_an_invalid_request(endpoint, provisioner, extra):
    """RFC 6749 §2.3: one authentication method per request."""
    error = oauth_error(endpoint.token, *by_basic(provisioner, **extra))

    assert (error.error, error.status, error.description) == (
        "invalid_request", 400, "Send the client credentials either in the Authorization header or in the "
                                "body, not both.")


def test_an_authorization_header_of_another_scheme_is_an_invalid_request(endpoint, provisioner):
    """The token endpoint takes Basic credentials only; a bearer token there is a malformed request."""
    error = oauth_error(endpoint.token, by_body(provisioner), "Bearer wdscim_abc")

    assert (error.error, error.status) == ("invalid_request", 400)
    assert error.description == "The Authorization header must use the Basic scheme at the token endpoint."


@pytest.mark.parametrize("header, reason", [
    ("Basic not*base64", "Basic header unreadable: not base64 of UTF-8 text"),
    ("Basic " + base64.b64encode(b"\xff\xfe:x").decode(), "Basic header unreadable: not base64 of UTF-8 text"),
    ("Basic " + base64.b64encode(b"no-colon").decode(), "Basic header unreadable: no colon"),
    ("Basic " + base64.b64encode(b"id:%FF").decode(), "Basic header unreadable: percent-encoding is not UTF-8"),
])
def test_an_unreadable_basic_header_is_an_invalid_client_with_a_basic_challenge(endpoint, header, reason):
    """A Basic header that cannot be decoded fails client authentication, says how to write it, and logs why."""
    error = oauth_error(endpoint.token, form(grant_type="client_credentials"), header)

    assert (error.error, error.status, error.basic_challenge, error.description, error.reason) == (
        "invalid_client", 401, True, UNREADABLE_BASIC, reason)


@pytest.mark.parametrize("client_id, secret", [("", "wdscs_x"), ("some-client", "")])
def test_a_basic_header_with_an_empty_part_is_an_invalid_client(endpoint, client_id, secret):
    """An empty client id or secret authenticates nobody, and the answer does not say which was empty."""
    error = oauth_error(endpoint.token, form(grant_type="client_credentials"), basic(client_id, secret))

    assert (error.error, error.status, error.basic_challenge, error.description) == (
        "invalid_client", 401, True, BAD_CREDENTIALS)


@pytest.mark.parametrize("header", [None, "", "   "])
def test_no_credentials_at_all_is_an_invalid_client_inviting_basic(endpoint, header):
    """RFC 6749 §5.2: no client authentication included is invalid_client."""
    error = oauth_error(endpoint.token, form(grant_type="client_credentials"), header)

    assert (error.error, error.status, error.basic_challenge, error.description) == (
        "invalid_client", 401, True, NO_CREDENTIALS)


@pytest.mark.parametrize("params, description", [
    (form(client_id="c"), "client_secret is missing beside client_id."),
    (form(client_secret="s"), "client_id is missing beside client_secret."),
    (form(client_id="c", client_secret=""), "client_secret is missing beside client_id."),
])
def test_half_of_the_body_credentials_is_an_invalid_request(endpoint, params, description):
    """A client id without a secret (or the reverse) is a missing parameter, named."""
    error = oauth_error(endpoint.token, {"grant_type": ["client_credentials"], **params})

    assert (error.error, error.status, error.description) == ("invalid_request", 400, description)


def test_parse_basic_decodes_each_part_as_a_form_value():
    """RFC 6749 §2.3.1: client id and secret are form-urlencoded before base64; '+' is a space."""
    header = "basic " + base64.b64encode(b"my%3Aclient:p%C3%A4ss+word%2B").decode()

    assert parse_basic(header) == ("my:client", "päss word+")
    assert parse_basic("Bearer abc") is None


def test_a_wrong_secret_is_an_invalid_client_that_names_no_part(endpoint, provisioner):
    """Whichever part was wrong, the description is the same and the client's organisation is unknown."""
    error = oauth_error(endpoint.token, form(grant_type="client_credentials"),
                        basic(provisioner.client.id, CLIENT_SECRET_PREFIX + "x" * 43))

    assert (error.error, error.status, error.basic_challenge, error.description) == (
        "invalid_client", 401, True, BAD_CREDENTIALS)
    assert (error.reason, error.organisation_id) == ("unknown client secret", provisioner.client.organisation_id)


def test_a_wrong_secret_of_an_unknown_client_belongs_to_no_organisation(endpoint, provisioner):
    """A failure naming no existing client is counted against no organisation."""
    error = oauth_error(endpoint.token, form(grant_type="client_credentials"), basic("no-such-client", "wrong"))

    assert (error.error, error.description, error.organisation_id) == ("invalid_client", BAD_CREDENTIALS, None)


def test_body_credentials_are_refused_without_a_basic_challenge(endpoint, provisioner):
    """WWW-Authenticate: Basic is asked for only when Basic was used (RFC 6749 §5.2)."""
    params = by_body(provisioner)
    params["client_secret"] = ["wrong"]

    error = oauth_error(endpoint.token, params)

    assert (error.error, error.status, error.basic_challenge) == ("invalid_client", 401, False)


def test_another_clients_secret_is_refused(clients, endpoint, provisioner, fabrikam):
    """A genuine secret authenticates only the client it belongs to."""
    other = clients.create_client(fabrikam.organisation.id, "Fabrikam's Entra")

    error = oauth_error(endpoint.token, form(grant_type="client_credentials"),
                        basic(provisioner.client.id, other.secret.plaintext))

    assert (error.error, error.description) == ("invalid_client", BAD_CREDENTIALS)
    assert error.reason == f"the secret is not one of client '{provisioner.client.id}''s"
    assert error.organisation_id == provisioner.client.organisation_id  # the one it claimed to be


def test_another_clients_secret_under_an_unknown_client_id_belongs_to_no_organisation(endpoint, provisioner):
    """A genuine secret presented with an unknown client id is refused, counted against no organisation."""
    error = oauth_error(endpoint.token, form(grant_type="client_credentials"),
                        basic("no-such-client", provisioner.secret.plaintext))

    assert (error.reason, error.organisation_id) == ("the secret is not one of client 'no-such-client''s", None)


def test_a_revoked_client_an_expired_or_revoked_secret_are_refused_alike(clients, clock, endpoint, provisioner):
    """Revoked client, revoked secret and expired secret: one description, the reason for the log only."""
    expiring = clients.add_secret(provisioner.client.id, days=1)
    revoked = clients.add_secret(provisioner.client.id)
    clients.revoke_secret(revoked.secret.id)
    clock.advance(timedelta(days=1).total_seconds())

    refusals = [oauth_error(endpoint.token, form(grant_type="client_credentials"),
                            basic(provisioner.client.id, secret.plaintext)) for secret in (expiring, revoked)]
    clients.revoke_client(provisioner.client.id)
    refusals.append(oauth_error(endpoint.token, *by_basic(provisioner)))

    assert [(e.error, e.status, e.description, e.organisation_id) for e in refusals] == [
        ("invalid_client", 401, BAD_CREDENTIALS, provisioner.client.organisation_id)] * 3
    assert [e.reason for e in refusals] == [f"secret {expiring.secret.id} expired",
                                            f"secret {revoked.secret.id} is revoked",
                                            f"client {provisioner.client.id} is revoked"]


def test_a_secret_works_until_the_moment_it_expires(clients, clock, endpoint, provisioner):
    """No access token is issued under a secret from its expiry on; one second before, one is."""
    secret = clients.add_secret(provisioner.client.id, days=1)
    credentials = (form(grant_type="client_credentials"), basic(provisioner.client.id, secret.plaintext))
    clock.advance(timedelta(days=1).total_seconds() - 1)
    endpoint.token(*credentials)
    clock.advance(1)

    assert oauth_error(endpoint.token, *credentials).error == "invalid_client"


def test_an_organisation_with_api_access_off_gets_no_token(uow, endpoint, provisioner, contoso):
    """The client did authenticate, so it learns why: RFC 6749's unauthorized_client, saying what to change."""
    with uow:
        uow.organisations.update(dataclasses.replace(contoso.organisation, api_access=False))
        uow.commit()

    error = oauth_error(endpoint.token, *by_basic(provisioner))

    assert (error.error, error.status, error.description, error.organisation_id) == (
        "unauthorized_client", 400, ORGANISATION_OFF, contoso.organisation.id)
    assert error.body() == {"error": "unauthorized_client", "error_description": ORGANISATION_OFF}


def test_a_failed_exchange_stores_nothing(store, endpoint, provisioner):
    """A refused exchange changes nothing: no access token, no last_used."""
    before = repr(store.__dict__)
    params = by_body(provisioner)
    params["client_secret"] = ["wrong"]
    oauth_error(endpoint.token, params)

    assert repr(store.__dict__) == before


def test_known_and_unknown_secrets_alike_are_compared_in_constant_time(endpoint, provisioner, monkeypatch):
    """The unknown-secret path compares digests as the found path does."""
    import hmac
    compared = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: compared.append((len(a), len(b))) or real(a, b))
    endpoint.token(*by_basic(provisioner))
    oauth_error(endpoint.token, form(grant_type="client_credentials"), basic(provisioner.client.id, "wrong"))

    assert [pair for pair in compared if pair == (64, 64)] == [(64, 64)] * 2


# -- the token endpoint: client assertions (ENTRA.md §2.3) -------------------------------------------------

@pytest.fixture
def federated(clients, provisioner):
    """Contoso's client with a trust in its Entra tenant."""
    clients.set_trust(provisioner.client.id, tenant=TENANT, audience=AUDIENCE, subject=SUBJECT)
    return provisioner.client


def test_an_accepted_assertion_gets_an_access_token_tied_to_no_secret(store, endpoint, verifier, federated, clock):
    """The verifier gets the assertion, the client's trust (Entra's defaults for its tenant) and the clock's
    now; the token has no secret_id."""
    answer = endpoint.token(by_assertion(federated.id))

    assert answer["token_type"] == "Bearer"
    assert store.access_tokens[sha256(answer["access_token"])].secret_id is None
    assert verifier.calls == [(GOOD_ASSERTION, FederatedTrust(
        client_id=federated.id, tenant=TENANT, issuer=f"https://login.microsoftonline.com/{TENANT}/v2.0",
        audience=AUDIENCE, subject=SUBJECT,
        jwks_uri=f"https://login.microsoftonline.com/{TENANT}/discovery/v2.0/keys"), clock.now())]


def test_a_refused_assertion_is_an_invalid_client_whose_reason_is_for_the_log(endpoint, federated):
    """The failed check is in the reason for the log; the client reads one fixed description, never the
    assertion."""
    error = oauth_error(endpoint.token, by_assertion(federated.id, "eyJ.tampered.x"))

    assert (error.error, error.status, error.basic_challenge, error.description) == (
        "invalid_client", 401, False, BAD_ASSERTION)
    assert error.reason == (f"assertion for client {federated.id} refused: "
                            "the signature does not verify with key k1")
    assert "eyJ.tampered.x" not in error.reason + error.description


def test_an_assertion_for_an_unknown_client_is_refused(endpoint, verifier, federated):
    """An unknown client id is refused before any key is fetched."""
    error = oauth_error(endpoint.token, by_assertion("no-such-client"))

    assert (error.error, error.description, error.reason, error.organisation_id) == (
        "invalid_client", BAD_ASSERTION, "unknown client 'no-such-client'", None)
    assert verifier.calls == []


def test_a_client_id_is_quoted_in_the_log_reason_so_it_cannot_forge_lines(endpoint):
    """Text the caller sent appears in a log reason only as a repr, so a newline in it stays escaped."""
    error = oauth_error(endpoint.token, by_assertion("evil\nINFO forged line"))

    assert error.reason == "unknown client 'evil\\nINFO forged line'"


def test_an_assertion_for_a_client_without_a_trust_is_refused(endpoint, verifier, provisioner):
    """A client without a federated trust accepts no assertion, and nothing is verified."""
    error = oauth_error(endpoint.token, by_assertion(provisioner.client.id))

    assert (error.error, error.reason) == ("invalid_client", f"client {provisioner.client.id} has no federated trust")
    assert verifier.calls == []


def test_an_assertion_for_a_revoked_client_is_refused(clients, endpoint, federated):
    """A revoked client's trust no longer authenticates it."""
    clients.revoke_client(federated.id)

    error = oauth_error(endpoint.token, by_assertion(federated.id))

    assert (error.error, error.reason) == ("invalid_client", f"client {federated.id} is revoked")


def test_an_assertion_for_an_organisation_with_api_access_off_gets_no_token(uow, endpoint, federated, contoso):
    """As with a secret: a good assertion of an organisation with API access off is unauthorized_client."""
    with uow:
        uow.organisations.update(dataclasses.replace(contoso.organisation, api_access=False))
        uow.commit()

    error = oauth_error(endpoint.token, by_assertion(federated.id))

    assert (error.error, error.description) == ("unauthorized_client", ORGANISATION_OFF)


def test_a_client_revoked_while_its_assertion_was_checked_gets_no_token(store, clients, endpoint, verifier,
                                                                        federated):
    """The unit that issues reads the client again: a revocation during the (networked) check wins."""
    verifier.during = lambda: clients.revoke_client(federated.id)
    before = dict(store.access_tokens)

    error = oauth_error(endpoint.token, by_assertion(federated.id))

    assert (error.error, error.description) == ("invalid_client", BAD_ASSERTION)
    assert store.access_tokens == before


@pytest.mark.parametrize("params, description", [
    ({"client_secret": "wdscs_x"}, "Send either client_secret or client_assertion, not both."),
    ({"client_assertion": ""}, "client_assertion is missing beside client_assertion_type."),
    ({"client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"},
     f"client_assertion_type must be {JWT_BEARER}."),
    ({"client_id": ""}, "client_id is missing: send the client id WiggleDesk gave the client."),
])
def test_a_malformed_assertion_request_is_an_invalid_request(endpoint, federated, params, description):
    """Two methods at once, an empty assertion, another assertion type or no client id: each named, as
    invalid_request."""
    request = {**by_assertion(federated.id), **form(**params)}

    error = oauth_error(endpoint.token, request)

    assert (error.error, error.status, error.description) == ("invalid_request", 400, description)


def test_an_assertion_without_its_type_is_an_invalid_request(endpoint, federated):
    """client_assertion needs client_assertion_type with RFC 7523's URN beside it."""
    request = by_assertion(federated.id)
    del request["client_assertion_type"]

    assert oauth_error(endpoint.token, request).description == f"client_assertion_type must be {JWT_BEARER}."


# -- access tokens on SCIM requests ------------------------------------------------------------------------

@pytest.fixture
def access_token(endpoint, provisioner) -> str:
    return endpoint.token(*by_basic(provisioner))["access_token"]


def access_refusal(authority, token) -> AccessRefused:
    with pytest.raises(AccessRefused) as refused:
        authority.authenticate(token)
    return refused.value


def test_an_access_token_acts_for_its_clients_organisation(store, authority, provisioner, access_token):
    """No admin stands behind it: the principal names the client instead."""
    stored = store.access_tokens[sha256(access_token)]

    assert authority.authenticate(access_token) == Principal(
        organisation_id=provisioner.client.organisation_id, admin_id=None, token_id=stored.id,
        client_id=provisioner.client.id)


def test_an_access_token_is_accepted_until_the_moment_it_expires(authority, clock, access_token, provisioner):
    """Expired: 401 with RFC 6750's error_description, so Entra fetches a new one."""
    clock.advance(3599)
    authority.authenticate(access_token)
    clock.advance(1)

    refused = access_refusal(authority, access_token)

    assert (refused.detail, refused.forbidden, refused.error_description, refused.organisation_id) == (
        EXPIRED_ACCESS_TOKEN, False, ACCESS_TOKEN_EXPIRED, provisioner.client.organisation_id)
    assert ACCESS_TOKEN_EXPIRED == "The access token expired"


@pytest.mark.parametrize("token", [ACCESS_TOKEN_PREFIX + "x" * 43, ACCESS_TOKEN_PREFIX])
def test_an_unknown_access_token_is_refused(authority, contoso, token):
    """An access-token-shaped bearer token nobody issued is a 401 and belongs to no organisation."""
    refused = access_refusal(authority, token)

    assert (refused.detail, refused.forbidden, refused.organisation_id, refused.error_description) == (
        UNKNOWN_ACCESS_TOKEN, False, None, None)


def test_a_client_secret_is_no_bearer_token(authority, provisioner):
    """A secret must be exchanged first; presented as a bearer token it is unknown."""
    assert access_refusal(authority, provisioner.secret.plaintext).detail.startswith("This API token is not valid")


def test_revoking_the_secret_ends_its_access_tokens_at_the_next_request(clients, authority, provisioner,
                                                                        access_token):
    """An access token stops working with the secret it was issued under, at the very next request."""
    authority.authenticate(access_token)
    clients.revoke_secret(provisioner.secret.secret.id)

    refused = access_refusal(authority, access_token)

    assert (refused.detail, refused.forbidden, refused.error_description) == (SECRET_REVOKED, False, None)


def test_revoking_the_client_ends_its_access_tokens_at_the_next_request(clients, authority, endpoint, federated,
                                                                        access_token):
    """Revoking the client ends every access token of it, issued on a secret or on an assertion."""
    federated_token = endpoint.token(by_assertion(federated.id))["access_token"]
    clients.revoke_client(federated.id)

    assert [access_refusal(authority, t).detail for t in (access_token, federated_token)] == [CLIENT_REVOKED] * 2


def test_the_secret_expiring_ends_its_access_tokens(clients, clock, authority, endpoint, provisioner):
    """An access token lives no longer than the secret it was issued under."""
    secret = clients.add_secret(provisioner.client.id, days=1)
    token = endpoint.token(form(grant_type="client_credentials"),
                           basic(provisioner.client.id, secret.plaintext))["access_token"]
    clock.advance(timedelta(days=1).total_seconds())

    assert access_refusal(authority, token).detail == SECRET_EXPIRED


def test_an_access_token_of_an_organisation_with_api_access_off_is_forbidden(uow, authority, access_token,
                                                                             contoso):
    """A genuine access token of an organisation whose API access is off is a 403, as for API tokens."""
    with uow:
        uow.organisations.update(dataclasses.replace(contoso.organisation, api_access=False))
        uow.commit()

    refused = access_refusal(authority, access_token)

    assert (refused.detail, refused.forbidden) == (ORGANISATION_OFF, True)


def test_an_accepted_access_token_is_remembered_no_longer_than_it_lives(uow, clock, ids, access_token):
    """The per-process cache of accepted tokens keeps an access token at most until its expiry."""
    cache = AcceptedTokens(clock, timedelta(hours=2))
    authority = StoredTokenAuthority(uow, clock, ids, accepted=cache)
    principal = authority.authenticate(access_token)
    clock.advance(3599)

    assert cache.get(sha256(access_token)) == principal
    clock.advance(1)
    assert cache.get(sha256(access_token)) is None


def test_the_prefixes_tell_every_kind_of_credential_apart():
    """No prefix starts another, so a token's prefix alone picks the store that is asked."""
    prefixes = [TOKEN_PREFIX, CLIENT_SECRET_PREFIX, ACCESS_TOKEN_PREFIX]

    assert [p for p in prefixes for q in prefixes if p != q and q.startswith(p)] == []


def test_scim_requests_with_an_access_token_provision_the_clients_organisation(scim, access_token, token_b,
                                                                                contoso):
    """The whole path: a User created with an access token is Contoso's, invisible to Fabrikam; deleting it
    (no admin behind the token to forget) works too."""
    created = scim.create_user(scim_request(access_token, SEED_USER, method="POST"))
    listed_by_fabrikam = scim.list_users(scim_request(token_b))

    assert created.status == 201
    assert listed_by_fabrikam.body["totalResults"] == 1  # only grace@fabrikam.example
    assert scim.delete_user(scim_request(access_token, method="DELETE"), created.body["id"]).status == 204


# -- operations on clients ---------------------------------------------------------------------------------

def test_a_new_client_has_a_first_secret_shown_once(store, clients, contoso):
    """Creating a client makes its first secret (730 days by default); only its digest is stored."""
    created = clients.create_client(contoso.organisation.id, "  Entra provisioning ")

    assert created.client == OAuthClient(id="00000000-0000-4000-8000-000000000007",
                                         organisation_id=contoso.organisation.id, name="Entra provisioning",
                                         created=START)
    assert created.secret.secret == ClientSecret(id="00000000-0000-4000-8000-000000000008",
                                                 client_id=created.client.id,
                                                 digest=sha256(created.secret.plaintext), created=START,
                                                 expires=START + timedelta(days=730))
    assert re.fullmatch(r"wdscs_[A-Za-z0-9_-]{43,}", created.secret.plaintext)
    assert created.secret.plaintext not in repr(store.__dict__)


@pytest.mark.parametrize("days", [1, 1095])
def test_a_secret_lives_from_one_day_to_three_years(clients, contoso, days):
    """The bounds themselves are accepted."""
    created = clients.create_client(contoso.organisation.id, "Entra", secret_days=days)

    assert created.secret.secret.expires == START + timedelta(days=days)


@pytest.mark.parametrize("days", [0, 1096, -1, True, 1.5])
def test_a_secret_lifetime_outside_the_bounds_is_refused(store, clients, contoso, days):
    """Outside 1 to 1,095 whole days the client is not created, and nothing is stored."""
    before = repr(store.__dict__)
    with pytest.raises(InvalidValue) as refused:
        clients.create_client(contoso.organisation.id, "Entra", secret_days=days)

    assert refused.value.detail == "A secret must be valid for 1 to 1095 days (Entra's limit is 3 years)"
    assert repr(store.__dict__) == before


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, "tab\there"])
def test_a_client_name_must_be_printable_and_short(clients, contoso, name):
    """A client's name is 1 to 100 printable characters once trimmed."""
    with pytest.raises(InvalidValue) as refused:
        clients.create_client(contoso.organisation.id, name)

    assert refused.value.detail == "A client's name must be printable text of 1 to 100 characters"


def test_a_client_for_an_unknown_organisation_is_not_found(clients, contoso):
    """A client belongs to an existing organisation."""
    with pytest.raises(NotFound):
        clients.create_client("no-such-organisation", "Entra")


def test_rotating_a_secret_keeps_both_working_until_the_old_is_revoked(clients, endpoint, provisioner):
    """Add one, paste it into Entra, revoke the old: no moment without a working secret."""
    new = clients.add_secret(provisioner.client.id, days=365)
    old_credentials = by_basic(provisioner)
    new_credentials = (form(grant_type="client_credentials"), basic(provisioner.client.id, new.plaintext))

    endpoint.token(*old_credentials)
    endpoint.token(*new_credentials)
    clients.revoke_secret(provisioner.secret.secret.id)

    assert endpoint.token(*new_credentials)["token_type"] == "Bearer"
    assert oauth_error(endpoint.token, *old_credentials).error == "invalid_client"
    assert new.secret.expires == START + timedelta(days=365)


def test_a_revoked_client_gets_no_new_secret_or_trust(clients, provisioner):
    """A revoked client stays revoked: no secret or trust brings it back."""
    clients.revoke_client(provisioner.client.id)

    for call in (lambda: clients.add_secret(provisioner.client.id),
                 lambda: clients.set_trust(provisioner.client.id, tenant=TENANT, audience=AUDIENCE,
                                           subject=SUBJECT)):
        with pytest.raises(InvalidValue) as refused:
            call()
        assert refused.value.detail == f"Client {provisioner.client.id} is revoked; create a new client instead"


def test_revoking_twice_keeps_the_first_time(clients, clock, provisioner):
    """Revoking again changes nothing: the first revocation time is kept, for secrets and clients."""
    first = clients.revoke_secret(provisioner.secret.secret.id).revoked
    first_client = clients.revoke_client(provisioner.client.id).revoked
    clock.advance(60)

    assert clients.revoke_secret(provisioner.secret.secret.id).revoked == first == START
    assert clients.revoke_client(provisioner.client.id).revoked == first_client == START


@pytest.mark.parametrize("call", ["add_secret", "revoke_secret", "revoke_client"])
def test_operations_on_unknown_ids_are_not_found(clients, contoso, call):
    """Each operation on an id nobody issued raises NotFound."""
    with pytest.raises(NotFound):
        getattr(clients, call)("no-such-id")


def test_a_trust_takes_entras_issuer_and_keys_from_the_tenant(clients, provisioner):
    """Without an issuer or JWKS URI, a trust takes Entra's for the tenant (ENTRA.md §2.3)."""
    trust = clients.set_trust(provisioner.client.id, tenant=TENANT, audience=AUDIENCE, subject=SUBJECT)

    assert (trust.issuer, trust.jwks_uri) == (entra_issuer(TENANT), entra_jwks_uri(TENANT))
    assert entra_issuer(TENANT) == f"https://login.microsoftonline.com/{TENANT}/v2.0"
    assert entra_jwks_uri(TENANT) == f"https://login.microsoftonline.com/{TENANT}/discovery/v2.0/keys"


@pytest.mark.parametrize("jwks_uri", ["https://keys.example/jwks", "http://127.0.0.1:8123/keys",
                                      "http://localhost/keys", "http://[::1]:9/keys"])
def test_a_trust_may_name_its_own_issuer_and_keys(uow, clients, provisioner, jwks_uri):
    """An explicit issuer and JWKS URI are kept as given: https anywhere, http on a loopback host."""
    trust = clients.set_trust(provisioner.client.id, tenant="contoso.onmicrosoft.com", audience=AUDIENCE,
                              subject=SUBJECT, issuer="https://issuer.example", jwks_uri=jwks_uri)

    with uow:
        assert uow.clients.get_trust(provisioner.client.id) == trust
    assert (trust.issuer, trust.jwks_uri) == ("https://issuer.example", jwks_uri)


def test_setting_a_trust_again_replaces_it(uow, clients, provisioner):
    """A client has at most one trust; setting another replaces it."""
    clients.set_trust(provisioner.client.id, tenant=TENANT, audience=AUDIENCE, subject=SUBJECT)
    clients.set_trust(provisioner.client.id, tenant=TENANT, audience=AUDIENCE, subject="another-app")

    with uow:
        assert uow.clients.get_trust(provisioner.client.id).subject == "another-app"


@pytest.mark.parametrize("changes, detail", [
    ({"tenant": "not a tenant"}, "The tenant must be a tenant id (a GUID) or a domain name such as "
                                 "contoso.onmicrosoft.com"),
    ({"tenant": "contoso"}, "The tenant must be a tenant id (a GUID) or a domain name such as "
                            "contoso.onmicrosoft.com"),
    ({"audience": " "}, "The audience must be printable text of 1 to 400 characters"),
    ({"subject": "x" * 401}, "The subject must be printable text of 1 to 400 characters"),
    ({"issuer": "line\nbreak"}, "The issuer must be printable text of 1 to 400 characters"),
    ({"jwks_uri": "http://keys.example/jwks"}, "The JWKS URI must be an https URL (http only for a loopback host)"),
    ({"jwks_uri": "ftp://127.0.0.1/jwks"}, "The JWKS URI must be an https URL (http only for a loopback host)"),
    ({"jwks_uri": "keys.example/jwks"}, "The JWKS URI is not an absolute URL"),
    ({"jwks_uri": "https://[::1/jwks"}, "The JWKS URI is not a URL"),
])
def test_a_trust_with_a_bad_value_is_refused(clients, provisioner, changes, detail):
    """Each value of a trust is checked, and the refusal says what it must be."""
    values = {"tenant": TENANT, "audience": AUDIENCE, "subject": SUBJECT, **changes}

    with pytest.raises(InvalidValue) as refused:
        clients.set_trust(provisioner.client.id, **values)

    assert refused.value.detail == detail


def test_a_trust_for_an_unknown_client_is_not_found(clients, contoso):
    """A trust belongs to an existing client."""
    with pytest.raises(NotFound):
        clients.set_trust("no-such-client", tenant=TENANT, audience=AUDIENCE, subject=SUBJECT)


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("127.8.0.1", True), ("::1", True),
                                            ("LOCALHOST", True), ("example.com", False), ("10.0.0.1", False),
                                            ("", False), (None, False)])
def test_loopback_hosts_are_this_machine(host, loopback):
    """localhost and the loopback addresses, v4 and v6, are loopback; nothing else is."""
    assert is_loopback_host(host) is loopback


def test_jwks_uri_problem_is_none_for_https():
    """Microsoft's JWKS URI is acceptable."""
    assert jwks_uri_problem("https://login.microsoftonline.com/x/discovery/v2.0/keys") is None


def test_listing_clients_shows_secrets_as_stored_and_trusts(clients, provisioner, contoso, fabrikam):
    """What clients list and the console read: never a plaintext secret."""
    second = clients.create_client(contoso.organisation.id, "Staging")
    clients.create_client(fabrikam.organisation.id, "Fabrikam's")
    trust = clients.set_trust(second.client.id, tenant=TENANT, audience=AUDIENCE, subject=SUBJECT)

    listed = clients.list_clients(contoso.organisation.id)

    assert [(o.client.name, o.secrets, o.trust) for o in listed] == [
        ("Entra provisioning", (provisioner.secret.secret,), None), ("Staging", (second.secret.secret,), trust)]
    assert provisioner.secret.plaintext not in repr(listed)
    with pytest.raises(NotFound):
        clients.list_clients("no-such-organisation")


def test_states_of_clients_and_secrets(clients, clock, provisioner):
    """Clients are active or revoked; secrets active, revoked or (from their expiry) expired."""
    expiring = clients.add_secret(provisioner.client.id, days=1).secret
    revoked = clients.revoke_secret(provisioner.secret.secret.id)

    assert (provisioner.client.state(), revoked.state(START), expiring.state(START)) == (
        "active", "revoked", "active")
    assert expiring.state(START + timedelta(days=1)) == "expired"
    assert clients.revoke_client(provisioner.client.id).state() == "revoked"


def test_pruning_deletes_only_expired_access_tokens(store, clock, uow, endpoint, provisioner):
    """Pruning deletes the access tokens that expired before now and keeps the rest."""
    endpoint.token(*by_basic(provisioner))
    clock.advance(1800)
    later = endpoint.token(*by_basic(provisioner))["access_token"]
    clock.advance(1800)

    assert prune_access_tokens(uow, clock) == 0  # the first expires exactly now: not yet before now
    clock.advance(1)
    assert prune_access_tokens(uow, clock) == 1
    assert list(store.access_tokens) == [sha256(later)]


# -- the in-memory unit of work ----------------------------------------------------------------------------
# The repositories' own edges (unknown ids, marking what is gone used, dangling references) are in the
# contract suite every store runs: tests/integration/test_oauth_contract.py.

def test_work_left_uncommitted_is_discarded(store, uow, clients, contoso):
    """The new dicts are part of the unit of work's snapshot."""
    with uow:
        uow.clients.add(OAuthClient(id="c", organisation_id=contoso.organisation.id, name="n", created=START))
        uow.access_tokens.add(AccessToken(id="t", client_id="c", secret_id=None,
                                          organisation_id=contoso.organisation.id, digest="d", created=START,
                                          expires=START))

    assert (store.clients, store.access_tokens) == ({}, {})


def test_the_metadata_document_announces_the_token_endpoint_at_the_issuer():
    """RFC 8414 (ENTRA.md §2.2): the issuer is the server's origin, the token endpoint below it; one grant,
    the three client-authentication methods, RS256 assertions only."""
    from wiggledesk_scim.domain.oauth import authorization_server_metadata

    assert authorization_server_metadata("https://scim.wiggledesk.example") == {
        "issuer": "https://scim.wiggledesk.example",
        "token_endpoint": "https://scim.wiggledesk.example/oauth2/token",
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["scim"],
    }


@pytest.mark.parametrize(("expires_in", "revoked", "warning"), [
    (timedelta(days=31), False, None), (timedelta(days=30), False, "expires in 30 days"),
    (timedelta(days=1, hours=2), False, "expires in 1 day"), (timedelta(hours=3), False, "expires today"),
    (timedelta(days=5), True, None), (timedelta(seconds=0), False, None)])
def test_a_secret_warns_of_its_expiry_within_thirty_days_while_it_is_active(expires_in, revoked, warning):
    """The console and ``clients list`` flag an active secret expiring within SECRET_EXPIRY_WARNING; an
    expired or revoked one has its state instead."""
    now = START
    secret = ClientSecret(id="s", client_id="c", digest="d" * 64, created=now - timedelta(days=700),
                          expires=now + expires_in, revoked=now if revoked else None)
    assert SECRET_EXPIRY_WARNING == timedelta(days=30)
    assert secret.expiry_warning(now) == warning
