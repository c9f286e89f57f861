"""Workload identity federation: Entra-signed client assertions (RFC 7523 §2.2) checked with PyJWT against
the keys of the trust's JWKS URI (ENTRA.md §2.3).

``JwksKeys`` keeps each JWKS URI's keys by ``kid``: an unknown ``kid`` fetches the JWKS again, at most once
per ``refetch_interval`` (30 s) per URI, and a fetch that fails leaves the cached keys in use, so a JWKS
host that is down stops nothing that worked. ``fetch`` is the seam: the real one speaks HTTPS (http only
to a loopback host); tests hand in their own. ``JwtClientAssertionVerifier`` checks the claims.

What this module does not do: sign or verify anything itself (PyJWT and cryptography do), accept any
algorithm but RS256, or demand RFC 7523's ``iss == sub`` and ``aud == token URL``, which Entra's tokens
do not meet.
"""
from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime
from typing import Any, Callable, Mapping

import jwt
import jwt.exceptions

from ..domain.errors import AssertionRefused
from ..domain.model import FederatedTrust
from ..domain.oauth import jwks_uri_problem
from ..domain.ports import ClientAssertionVerifier

#: The one algorithm accepted: Entra signs with RS256, and accepting others invites alg confusion.
ALGORITHM = "RS256"
#: The clock skew allowed on exp, nbf and iat (ENTRA.md §2.3).
LEEWAY_SECONDS = 60
#: The shortest time between two fetches of one JWKS URI prompted by unknown kids.
REFETCH_INTERVAL_SECONDS = 30.0
#: How long fetched keys are trusted before the JWKS is read again (when next asked for), so that a key
#: Microsoft withdrew stops being accepted even if no unknown kid ever turns up.
MAX_KEY_AGE_SECONDS = 24 * 3600.0
#: A JWKS is a few kilobytes; anything much larger is not one.
MAX_JWKS_BYTES = 1024 * 1024
FETCH_TIMEOUT_SECONDS = 5.0

Fetch = Callable[[str], bytes]


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect could lead from https to http, or to another host: a JWKS URI is fetched as given."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D102 (urllib's signature)
        fp.close()
        raise OSError(f"HTTP {code}: the redirect to {newurl} is not followed")


def fetch_over_http(uri: str, *, timeout: float = FETCH_TIMEOUT_SECONDS) -> bytes:
    """The body of ``uri`` (https, or http to a loopback host), at most ``MAX_JWKS_BYTES``; raises ``OSError``
    (``urllib.error.URLError`` included) or ``ValueError``."""
    problem = jwks_uri_problem(uri)
    if problem is not None:
        raise ValueError(f"the JWKS URI {problem}")
    opener = urllib.request.build_opener(_NoRedirects)
    request = urllib.request.Request(uri, headers={"Accept": "application/json"})
    try:
        with opener.open(request, timeout=timeout) as response:
            body = response.read(MAX_JWKS_BYTES + 1)
    except urllib.error.HTTPError as error:
        # The error holds the response; close it here rather than leave the socket to the collector.
        error.close()
        raise OSError(f"HTTP {error.code} {error.reason}") from None
    if len(body) > MAX_JWKS_BYTES:
        raise ValueError(f"the JWKS is larger than {MAX_JWKS_BYTES} bytes")
    return body


def parse_jwks(body: bytes) -> dict[str, jwt.PyJWK]:
    """The RSA signing keys of a JWKS document, by kid; keys without a kid, of another type or use, or
    that PyJWT cannot load are left out. Raises ``ValueError`` if it is not a JWKS at all."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ValueError("the JWKS is not JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError('the JWKS has no "keys" list')
    keys = {}
    for entry in document["keys"]:
        if not isinstance(entry, dict) or entry.get("kty") != "RSA" or entry.get("use", "sig") != "sig":
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str) or not kid:
            continue
        try:
            keys[kid] = jwt.PyJWK(entry, algorithm=ALGORITHM)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            continue
    return keys


class _Cached:
    __slots__ = ("keys", "fetched", "attempted")

    def __init__(self) -> None:
        self.keys: dict[str, jwt.PyJWK] = {}
        self.fetched: float | None = None  # when keys were last fetched successfully
        self.attempted: float | None = None  # when a fetch was last tried


class JwksKeys:
    """The signing keys of JWKS URIs, cached by kid, shared by every thread of a process.

    ``monotonic``: the clock of the refetch interval and key age (seconds; ``time.monotonic`` unless a test
    gives its own)."""

    def __init__(self, fetch: Fetch = fetch_over_http, *, monotonic: Callable[[], float] = time.monotonic,
                 refetch_interval: float = REFETCH_INTERVAL_SECONDS, max_age: float = MAX_KEY_AGE_SECONDS):
        self.fetch = fetch
        self.monotonic = monotonic
        self.refetch_interval = refetch_interval
        self.max_age = max_age
        self._cache: dict[str, _Cached] = {}
        self._lock = threading.Lock()

    def key(self, uri: str, kid: str) -> jwt.PyJWK:
        """The key ``kid`` of ``uri``'s JWKS; raises ``AssertionRefused`` saying why there is none."""
        with self._lock:
            cached = self._cache.setdefault(uri, _Cached())
            now = self.monotonic()
            stale = cached.fetched is None or now - cached.fetched >= self.max_age
            failure = None
            if (kid not in cached.keys or stale) and (
                    cached.attempted is None or now - cached.attempted >= self.refetch_interval):
                cached.attempted = now
                failure = self._refresh(uri, cached, now)
            found = cached.keys.get(kid)
        if found is not None:
            return found
        if failure is not None:
            raise AssertionRefused(f"kid {kid!r} is not among the cached keys, and the JWKS at {uri} could "
                                   f"not be fetched: {failure}")
        raise AssertionRefused(f"kid {kid!r} is not in the JWKS at {uri}")

    def _refresh(self, uri: str, cached: _Cached, now: float) -> str | None:
        """Fetch the JWKS into ``cached``; None, or why it failed (the cached keys then stay)."""
        try:
            keys = parse_jwks(self.fetch(uri))
        except (OSError, ValueError) as error:
            return str(error) or type(error).__name__
        # The new set replaces the old: a key Microsoft rotated out is accepted no longer.
        cached.keys = keys
        cached.fetched = now
        return None


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise AssertionRefused(f"{name} is not a number")
    return float(value)


class JwtClientAssertionVerifier(ClientAssertionVerifier):
    """ENTRA.md §2.3's checks, in order: RS256 in the header; a kid naming a key of the trust's JWKS; the
    signature (PyJWT); iss, aud (equal, or a list containing it) and sub equal to the trust's; tid, when
    present, equal to the tenant (when the tenant is a GUID); exp in the future and nbf, iat not, each
    within ``leeway`` seconds, measured against the ``now`` given (so the domain's clock decides)."""

    def __init__(self, keys: JwksKeys, *, leeway: float = LEEWAY_SECONDS):
        self.keys = keys
        self.leeway = leeway

    def verify(self, assertion: str, trust: FederatedTrust, now: datetime) -> None:
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.DecodeError:
            raise AssertionRefused("it is not a JWT") from None
        algorithm = header.get("alg")
        if algorithm != ALGORITHM:
            raise AssertionRefused(f"its alg is {algorithm!r}, not {ALGORITHM}")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AssertionRefused("its header names no kid")
        key = self.keys.key(trust.jwks_uri, kid)
        try:
            claims = jwt.decode(
                assertion, key, algorithms=[ALGORITHM], audience=trust.audience, issuer=trust.issuer,
                subject=trust.subject,
                # Time is checked below against the domain's clock, not PyJWT's.
                options={"require": ["exp", "iss", "aud", "sub"], "verify_exp": False, "verify_nbf": False,
                         "verify_iat": False})
        except jwt.InvalidSignatureError:
            raise AssertionRefused(f"its signature does not verify with key {kid!r}") from None
        except jwt.MissingRequiredClaimError as error:
            raise AssertionRefused(f"it has no {error.claim} claim") from None
        except jwt.InvalidAudienceError:
            raise AssertionRefused("its aud is not the trust's audience") from None
        except jwt.InvalidIssuerError:
            raise AssertionRefused("its iss is not the trust's issuer") from None
        except jwt.exceptions.InvalidSubjectError:
            raise AssertionRefused("its sub is not the trust's subject") from None
        except jwt.InvalidTokenError as error:
            raise AssertionRefused(f"it is not a valid JWT ({type(error).__name__})") from None
        self._check_tenant(claims, trust)
        self._check_time(claims, now.timestamp())

    @staticmethod
    def _check_tenant(claims: Mapping[str, Any], trust: FederatedTrust) -> None:
        if "." in trust.tenant:
            # A tenant given as a domain name cannot be compared with tid (always the GUID); iss binds it.
            return
        tid = claims.get("tid")
        if tid is not None and (not isinstance(tid, str) or tid.lower() != trust.tenant.lower()):
            raise AssertionRefused("its tid is not the trust's tenant")

    def _check_time(self, claims: Mapping[str, Any], now: float) -> None:
        expires = _number(claims, "exp")
        if now >= expires + self.leeway:
            raise AssertionRefused("it expired")
        for name in ("nbf", "iat"):
            moment = _number(claims, name)
            if moment is not None and moment > now + self.leeway:
                raise AssertionRefused(f"its {name} is in the future")
