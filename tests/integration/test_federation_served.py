"""The client-assertion verifier over real HTTP: a JWKS served by http.server on 127.0.0.1 in a thread, fetched
by the real ``fetch_over_http``, through the token endpoint (ENTRA.md §2.3). No test reaches the internet."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support import START, FixedClock, SequentialIds
from wiggledesk_scim.adapters.federation import (MAX_JWKS_BYTES, JwksKeys, JwtClientAssertionVerifier,
                                                 fetch_over_http)
from wiggledesk_scim.adapters.memory import InMemoryStore, InMemoryUnitOfWork
from wiggledesk_scim.domain.access import StoredTokenAuthority
from wiggledesk_scim.domain.errors import AssertionRefused
from wiggledesk_scim.domain.model import FederatedTrust, Organisation
from wiggledesk_scim.domain.oauth import JWT_BEARER, ClientService, OAuthError, TokenEndpoint

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
AUDIENCE = "api://AzureADTokenExchange"
SUBJECT = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
NOW = START.timestamp()


class JwksHost:
    """A JWKS host on 127.0.0.1: ``responses`` maps a path to (status, headers, body); every request is
    counted in ``hits``. ``stop()`` takes it down, as an outage would."""

    def __init__(self) -> None:
        self.responses: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.hits: list[str] = []
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                host.hits.append(self.path)
                status, headers, body = host.responses.get(self.path, (404, {}, b"not found"))
                self.send_response(status)
                for name, value in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def serve(self, path: str, body: bytes, status: int = 200, headers: dict | None = None) -> str:
        self.responses[path] = (status, {"Content-Type": "application/json", **(headers or {})}, body)
        return self.url(path)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def host() -> Iterator[JwksHost]:
    served = JwksHost()
    yield served
    if served.thread.is_alive():
        served.stop()


@pytest.fixture(scope="module")
def keys() -> dict[str, rsa.RSAPrivateKey]:
    return {kid: rsa.generate_private_key(public_exponent=65537, key_size=2048) for kid in ("k1", "k2")}


def jwks(keys, *kids) -> bytes:
    return json.dumps({"keys": [{**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(keys[kid].public_key())),
                                 "kid": kid, "use": "sig"} for kid in kids]}).encode()


def assertion(keys, kid: str = "k1", **changes) -> str:
    claims = {"iss": f"https://login.microsoftonline.com/{TENANT}/v2.0", "aud": AUDIENCE, "sub": SUBJECT,
              "tid": TENANT, "exp": NOW + 3600, "nbf": NOW - 10, "iat": NOW - 10, **changes}
    return jwt.encode(claims, keys[kid], algorithm="RS256", headers={"kid": kid})


class Graph:
    """The token endpoint over the in-memory store, with Contoso's federated client trusting ``jwks_uri``."""

    def __init__(self, jwks_uri: str):
        self.store = InMemoryStore()
        self.uow = InMemoryUnitOfWork(self.store)
        self.clock = FixedClock()
        ids = SequentialIds()
        with self.uow:
            self.uow.organisations.add(Organisation(id="org-contoso", name="Contoso"))
            self.uow.commit()
        clients = ClientService(self.uow, self.clock, ids)
        self.client = clients.create_client("org-contoso", "Entra federation").client
        clients.set_trust(self.client.id, tenant=TENANT, audience=AUDIENCE, subject=SUBJECT, jwks_uri=jwks_uri)
        self.monotonic = [1000.0]
        self.keys = JwksKeys(monotonic=lambda: self.monotonic[0])
        self.endpoint = TokenEndpoint(self.uow, self.clock, ids, JwtClientAssertionVerifier(self.keys))
        self.authority = StoredTokenAuthority(self.uow, self.clock, ids)

    def token(self, signed: str) -> dict:
        return self.endpoint.token({"grant_type": ["client_credentials"], "client_id": [self.client.id],
                                    "client_assertion_type": [JWT_BEARER], "client_assertion": [signed]})

    def refused(self, signed: str) -> OAuthError:
        with pytest.raises(OAuthError) as raised:
            self.token(signed)
        return raised.value


def test_a_served_jwks_lets_an_entra_assertion_get_an_access_token_that_works(host, keys):
    """The whole path over HTTP: JWKS fetched from 127.0.0.1, access token issued, then accepted on a SCIM request."""
    graph = Graph(host.serve("/tenant/discovery/v2.0/keys", jwks(keys, "k1")))

    answer = graph.token(assertion(keys))

    assert graph.authority.authenticate(answer["access_token"]).client_id == graph.client.id
    assert host.hits == ["/tenant/discovery/v2.0/keys"]


def test_key_rotation_over_http(host, keys):
    """A new kid brings one refetch, after which the new key's assertions are accepted."""
    uri = host.serve("/keys", jwks(keys, "k1"))
    graph = Graph(uri)
    graph.token(assertion(keys, "k1"))
    host.serve("/keys", jwks(keys, "k1", "k2"))
    graph.monotonic[0] += 30

    graph.token(assertion(keys, "k2"))

    assert host.hits == ["/keys", "/keys"]


def test_cached_keys_keep_working_when_the_host_is_down(host, keys):
    """With the host gone, cached keys keep working; an unknown kid is refused saying the fetch failed."""
    graph = Graph(host.serve("/keys", jwks(keys, "k1")))
    graph.token(assertion(keys))
    host.stop()
    graph.monotonic[0] += 2 * 24 * 3600  # old enough to be read again: the read fails, the keys stay

    graph.token(assertion(keys))
    graph.monotonic[0] += 30
    refused = graph.refused(assertion(keys, "k2"))

    assert (refused.error, refused.status) == ("invalid_client", 401)
    assert "could not be fetched" in refused.reason


@pytest.mark.parametrize("changes, reason", [({"aud": "https://h.example/oauth2/token"}, "aud"),
                                             ({"sub": "another-app"}, "sub"), ({"tid": "another"}, "tid"),
                                             ({"exp": NOW - 120}, "expired")])
def test_refusals_over_http_are_invalid_clients_whose_log_reason_names_the_check(host, keys, changes, reason):
    """Through the endpoint, a failed check is invalid_client; the reason names it, never the assertion."""
    graph = Graph(host.serve("/keys", jwks(keys, "k1")))
    signed = assertion(keys, **changes)

    refused = graph.refused(signed)

    assert (refused.error, refused.status) == ("invalid_client", 401)
    assert reason in refused.reason and signed not in refused.reason


def test_an_unknown_kid_asks_the_host_once(host, keys):
    """Repeated unknown kids within 30 s cost the JWKS host one request."""
    graph = Graph(host.serve("/keys", jwks(keys, "k1")))
    graph.monotonic[0] += 60

    for _ in range(3):
        graph.refused(assertion(keys, "k2"))

    assert host.hits == ["/keys"]


def test_a_redirect_is_not_followed(host, keys):
    """A JWKS URI is fetched as given: a redirect is a failure, and its target is not asked."""
    target = host.serve("/real", jwks(keys, "k1"))
    uri = host.serve("/moved", b"", status=302, headers={"Location": target})

    with pytest.raises(OSError) as failed:
        fetch_over_http(uri)

    assert str(failed.value) == f"HTTP 302: the redirect to {target} is not followed"
    assert host.hits == ["/moved"]


def test_a_jwks_larger_than_a_mebibyte_is_refused(host):
    """A body over 1 MiB is no JWKS and is not read further."""
    uri = host.serve("/huge", b" " * (MAX_JWKS_BYTES + 1))

    with pytest.raises(ValueError) as refused:
        fetch_over_http(uri)

    assert str(refused.value) == f"the JWKS is larger than {MAX_JWKS_BYTES} bytes"


def test_a_jwks_host_answering_an_error_refuses_with_the_status(host, keys):
    """An HTTP error from the JWKS host is a fetch failure naming the status."""
    trust = FederatedTrust.for_tenant("c", TENANT, audience=AUDIENCE, subject=SUBJECT, jwks_uri=host.url("/gone"))
    verifier = JwtClientAssertionVerifier(JwksKeys())

    with pytest.raises(AssertionRefused) as refused:
        verifier.verify(assertion(keys), trust, START)

    assert "could not be fetched: HTTP 404 Not Found" in refused.value.detail
