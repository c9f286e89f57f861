"""Entra-signed client assertions (ENTRA.md §2.3): every check, and the JWKS cache, with keys made here and
a JWKS handed to the verifier by an injected fetch (no network; the served tests are in tests/integration)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support import START
from wiggledesk_scim.adapters.federation import (JwksKeys, JwtClientAssertionVerifier, fetch_over_http,
                                                 parse_jwks)
from wiggledesk_scim.domain.errors import AssertionRefused
from wiggledesk_scim.domain.model import FederatedTrust

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
AUDIENCE = "api://AzureADTokenExchange"
SUBJECT = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
TRUST = FederatedTrust.for_tenant("client-7", TENANT, audience=AUDIENCE, subject=SUBJECT)
NOW = START.timestamp()


@pytest.fixture(scope="module")
def keys() -> dict[str, rsa.RSAPrivateKey]:
    """Two RSA keys, as Entra's signing keys "k1" and "k2" (made once: generating keys is slow)."""
    return {kid: rsa.generate_private_key(public_exponent=65537, key_size=2048) for kid in ("k1", "k2")}


def jwk(kid: str, private_key, **extra) -> dict:
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private_key.public_key()))
    return {**public, "kid": kid, "use": "sig", **extra}


def jwks(keys, *kids) -> bytes:
    return json.dumps({"keys": [jwk(kid, keys[kid]) for kid in kids]}).encode()


class ServedJwks:
    """The JWKS host, in memory: what it answers (a body, or an error to raise), and each fetch it got."""

    def __init__(self, body: bytes | Exception):
        self.body = body
        self.fetched: list[str] = []

    def __call__(self, uri: str) -> bytes:
        self.fetched.append(uri)
        if isinstance(self.body, Exception):
            raise self.body
        return self.body


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def claims(**changes) -> dict:
    """What Entra's token for the customer's app holds (no jti, iss != sub, aud not our URL)."""
    base = {"iss": f"https://login.microsoftonline.com/{TENANT}/v2.0", "aud": AUDIENCE, "sub": SUBJECT,
            "tid": TENANT, "oid": SUBJECT, "exp": NOW + 3600, "nbf": NOW - 10, "iat": NOW - 10}
    base.update(changes)
    return {name: value for name, value in base.items() if value is not None}


def signed(keys, kid: str = "k1", signer: str | None = None, **changes) -> str:
    return jwt.encode(claims(**changes), keys[signer or kid], algorithm="RS256", headers={"kid": kid})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture
def host(keys) -> ServedJwks:
    return ServedJwks(jwks(keys, "k1"))


@pytest.fixture
def monotonic() -> Monotonic:
    return Monotonic()


@pytest.fixture
def verifier(host, monotonic) -> JwtClientAssertionVerifier:
    return JwtClientAssertionVerifier(JwksKeys(host, monotonic=monotonic))


def refusal(verifier, assertion, trust=TRUST, now=START) -> str:
    with pytest.raises(AssertionRefused) as refused:
        verifier.verify(assertion, trust, now)
    return refused.value.detail


# -- what passes -------------------------------------------------------------------------------------------

def test_entras_assertion_passes(verifier, host, keys):
    """An RS256 token of the trust's issuer, audience, subject and tenant, in time, is accepted."""
    verifier.verify(signed(keys), TRUST, START)

    assert host.fetched == [TRUST.jwks_uri]


@pytest.mark.parametrize("changes", [{"aud": ["https://other.example", AUDIENCE]}, {"tid": None},
                                     {"tid": TENANT.upper()}, {"exp": NOW - 59}, {"nbf": NOW + 59},
                                     {"iat": NOW + 59}, {"nbf": None, "iat": None}])
def test_accepted_variations(verifier, keys, changes):
    """aud as a list containing the audience; tid absent or in capitals; up to 60 s of clock skew."""
    verifier.verify(signed(keys, **changes), TRUST, START)


def test_a_tenant_given_as_a_domain_name_is_bound_by_the_issuer_not_tid(verifier, keys):
    """tid is always a GUID, so a tenant named by its domain is not compared with it; iss still is."""
    trust = FederatedTrust.for_tenant("client-7", "contoso.onmicrosoft.com", audience=AUDIENCE, subject=SUBJECT,
                                      issuer=f"https://login.microsoftonline.com/{TENANT}/v2.0",
                                      jwks_uri=TRUST.jwks_uri)

    verifier.verify(signed(keys), trust, START)


def test_the_keys_are_fetched_once_and_then_cached(verifier, host, keys):
    """Known kids are served from the cache: one fetch for many assertions."""
    for _ in range(3):
        verifier.verify(signed(keys), TRUST, START)

    assert host.fetched == [TRUST.jwks_uri]


# -- every refusal of ENTRA.md §2.3 ------------------------------------------------------------------------

@pytest.mark.parametrize("changes, detail", [
    ({"aud": "https://h.example/oauth2/token"}, "its aud is not the trust's audience"),
    ({"aud": ["https://other.example"]}, "its aud is not the trust's audience"),
    ({"sub": "another-app"}, "its sub is not the trust's subject"),
    ({"iss": "https://login.microsoftonline.com/another-tenant/v2.0"}, "its iss is not the trust's issuer"),
    ({"iss": SUBJECT}, "its iss is not the trust's issuer"),
    ({"tid": "3f1e0c2a-0000-4000-8000-000000000000"}, "its tid is not the trust's tenant"),
    ({"tid": 7}, "its tid is not the trust's tenant"),
    ({"exp": NOW - 60}, "it expired"),
    ({"nbf": NOW + 61}, "its nbf is in the future"),
    ({"iat": NOW + 61}, "its iat is in the future"),
    ({"exp": "tomorrow"}, "exp is not a number"),
    ({"nbf": True}, "nbf is not a number"),
    ({"sub": None}, "it has no sub claim"),
    ({"exp": None}, "it has no exp claim"),
])
def test_a_claim_that_fails_its_check_is_refused_naming_the_check(verifier, keys, changes, detail):
    """aud, sub, iss, tid, exp, nbf, iat and the required claims: each failure names its check."""
    assert refusal(verifier, signed(keys, **changes)) == detail


def test_alg_none_is_refused(verifier, keys):
    """An unsigned token (alg none) is refused before any key is looked up."""
    header = b64(json.dumps({"alg": "none", "kid": "k1"}).encode())
    unsigned = f"{header}.{b64(json.dumps(claims()).encode())}."

    assert refusal(verifier, unsigned) == "its alg is 'none', not RS256"


def test_hs256_signed_with_the_public_key_is_refused(verifier, keys):
    """The classic confusion: the public key, which anyone has, used as an HMAC secret."""
    public_pem = keys["k1"].public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo)
    signing_input = (b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode()) + "."
                     + b64(json.dumps(claims()).encode()))
    forged = signing_input + "." + b64(hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest())

    assert refusal(verifier, forged) == "its alg is 'HS256', not RS256"


def test_a_tampered_payload_is_refused(verifier, keys):
    """Entra signed a token for another app; its payload swapped for one naming ours breaks the signature."""
    header, _, signature = signed(keys, sub="another-app").split(".")
    tampered = f"{header}.{b64(json.dumps(claims()).encode())}.{signature}"

    assert refusal(verifier, tampered) == "its signature does not verify with key 'k1'"


def test_a_token_signed_by_another_key_under_a_known_kid_is_refused(verifier, keys):
    """A signature is checked with the key its kid names, and no other."""
    assert refusal(verifier, signed(keys, kid="k1", signer="k2")) == "its signature does not verify with key 'k1'"


@pytest.mark.parametrize("assertion", ["not-a-jwt", "", "a.b.c"])
def test_what_is_not_a_jwt_is_refused(verifier, assertion):
    """Text that is not a compact JWS is refused as such."""
    assert refusal(verifier, assertion) == "it is not a JWT"


def test_a_header_without_a_kid_is_refused(verifier, keys):
    """Without a kid there is no key to check the signature with."""
    assertion = jwt.encode(claims(), keys["k1"], algorithm="RS256")

    assert refusal(verifier, assertion) == "its header names no kid"


def test_a_signed_payload_that_is_not_json_is_refused(verifier, keys):
    """A correctly signed JWS whose payload is not a claims set is no valid JWT."""
    assertion = jwt.api_jws.encode(b"not json", keys["k1"], algorithm="RS256", headers={"kid": "k1"})

    assert refusal(verifier, assertion) == "it is not a valid JWT (DecodeError)"


# -- the JWKS cache ----------------------------------------------------------------------------------------

def test_an_unknown_kid_refetches_at_most_every_30_seconds(verifier, host, monotonic, keys):
    """Any fetch counts: within 30 s of the last, an unknown kid is refused without asking the host again."""
    verifier.verify(signed(keys), TRUST, START)
    unknown = signed(keys, kid="k2")
    monotonic.now += 29
    assert refusal(verifier, unknown) == f"kid 'k2' is not in the JWKS at {TRUST.jwks_uri}"
    assert len(host.fetched) == 1
    monotonic.now += 1

    assert refusal(verifier, unknown) == f"kid 'k2' is not in the JWKS at {TRUST.jwks_uri}"
    assert len(host.fetched) == 2
    monotonic.now += 29
    assert refusal(verifier, unknown) == f"kid 'k2' is not in the JWKS at {TRUST.jwks_uri}"
    assert len(host.fetched) == 2
    monotonic.now += 1
    refusal(verifier, unknown)
    assert len(host.fetched) == 3


def test_key_rotation_is_followed_at_the_first_token_with_the_new_kid(verifier, host, monotonic, keys):
    """Microsoft adds k2 and withdraws k1: the refetch the unknown kid triggers brings k2, and k1 goes."""
    verifier.verify(signed(keys, kid="k1"), TRUST, START)
    host.body = jwks(keys, "k2")
    monotonic.now += 30

    verifier.verify(signed(keys, kid="k2"), TRUST, START)

    assert refusal(verifier, signed(keys, kid="k1")) == f"kid 'k1' is not in the JWKS at {TRUST.jwks_uri}"


def test_cached_keys_keep_working_while_the_jwks_host_is_down(verifier, host, monotonic, keys):
    """Even once the keys are old enough to be read again, a failed read leaves them in use."""
    verifier.verify(signed(keys), TRUST, START)
    host.body = ConnectionRefusedError("Connection refused")
    monotonic.now += 25 * 3600

    verifier.verify(signed(keys), TRUST, START)

    assert len(host.fetched) == 2
    monotonic.now += 30
    assert refusal(verifier, signed(keys, kid="k2")) == (
        f"kid 'k2' is not among the cached keys, and the JWKS at {TRUST.jwks_uri} could not be fetched: "
        "Connection refused")


def test_old_keys_are_replaced_when_the_jwks_is_read_again(verifier, host, monotonic, keys):
    """After a day the JWKS is read again at the next use, so a withdrawn key stops working then."""
    verifier.verify(signed(keys), TRUST, START)
    host.body = jwks(keys, "k2")
    monotonic.now += 24 * 3600

    assert refusal(verifier, signed(keys)) == f"kid 'k1' is not in the JWKS at {TRUST.jwks_uri}"


def test_a_first_fetch_that_fails_refuses_with_the_reason(monotonic, keys):
    """With nothing cached, a JWKS host that is down refuses the assertion, saying why."""
    verifier = JwtClientAssertionVerifier(JwksKeys(ServedJwks(OSError()), monotonic=monotonic))

    assert refusal(verifier, signed(keys)) == (f"kid 'k1' is not among the cached keys, and the JWKS at "
                                               f"{TRUST.jwks_uri} could not be fetched: OSError")


def test_each_jwks_uri_has_its_own_cache(verifier, host, keys):
    """Keys of one JWKS URI never stand in for another's."""
    other = FederatedTrust.for_tenant("client-8", TENANT, audience=AUDIENCE, subject=SUBJECT,
                                      jwks_uri="https://keys.example/jwks")
    verifier.verify(signed(keys), TRUST, START)
    verifier.verify(signed(keys), other, START)

    assert host.fetched == [TRUST.jwks_uri, "https://keys.example/jwks"]


def test_the_verifier_measures_time_by_the_domains_clock(verifier, keys):
    """The now handed in decides, not the machine's time: an hour later the token has expired."""
    assertion = signed(keys)

    assert refusal(verifier, assertion, now=START + timedelta(seconds=3660)) == "it expired"


# -- reading a JWKS ----------------------------------------------------------------------------------------

def test_parse_jwks_keeps_only_rsa_signing_keys_with_a_kid(keys):
    """Encryption keys, other key types, keys without a kid or with bad material are left out."""
    document = {"keys": [jwk("k1", keys["k1"]), jwk("enc", keys["k2"], use="enc"), {"kty": "EC", "kid": "ec"},
                         {**jwk("", keys["k2"])}, "junk", {**jwk("bad", keys["k2"]), "n": "!!"},
                         {k: v for k, v in jwk("no-use", keys["k2"]).items() if k != "use"}]}

    assert sorted(parse_jwks(json.dumps(document).encode())) == ["k1", "no-use"]


@pytest.mark.parametrize("body, detail", [(b"<html>", "the JWKS is not JSON"), (b"\xff", "the JWKS is not JSON"),
                                          (b"[]", 'the JWKS has no "keys" list'),
                                          (b'{"keys": {}}', 'the JWKS has no "keys" list')])
def test_what_is_not_a_jwks_is_refused(body, detail):
    """A body that is not a JWKS document is a fetch failure, named."""
    with pytest.raises(ValueError) as refused:
        parse_jwks(body)

    assert str(refused.value) == detail


@pytest.mark.parametrize("uri", ["http://login.microsoftonline.com/t/discovery/v2.0/keys", "ftp://127.0.0.1/keys"])
def test_the_real_fetch_refuses_plain_http_to_another_host(uri):
    """https only, but for loopback hosts (where the tests serve theirs); nothing is sent."""
    with pytest.raises(ValueError) as refused:
        fetch_over_http(uri)

    assert str(refused.value) == "the JWKS URI must be an https URL (http only for a loopback host)"
