"""OAuth 2.0 for Entra (ENTRA.md §2.2, §2.3): the token endpoint's rules minus HTTP, and the operations on
clients, their secrets and their federated trusts.

``TokenEndpoint.token`` takes the request as the entrypoint parsed it (form parameters, each with every
value sent, and the ``Authorization`` header) and answers RFC 6749 §5.1's body or raises ``OAuthError``
(§5.2). It does not read HTTP, check the Content-Type, write headers or log: the entrypoint does, from
the error's fields. Access tokens issued here are checked on every SCIM request by ``access.py``.
"""
from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Mapping, Sequence
from urllib.parse import unquote_plus, urlsplit

from . import catalogue as c
from .access import digest, new_access_token, new_client_secret
from .errors import AssertionRefused, InvalidValue, NotFound
from .model import AccessToken, ClientSecret, FederatedTrust, OAuthClient
from .ports import ClientAssertionVerifier, Clock, IdGenerator, UnitOfWork

GRANT_TYPE = "client_credentials"
#: RFC 7523 §2.2's client_assertion_type.
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: The one scope there is: the SCIM API.
SCOPE = "scim"

#: Where the token endpoint and its RFC 8414 metadata are served, below the server's root.
TOKEN_PATH = "/oauth2/token"
METADATA_PATH = "/.well-known/oauth-authorization-server"

#: ``wiggledesk.oauth.access_token_seconds``: Microsoft's gallery accepts 60 minutes to 6 hours.
MIN_ACCESS_TOKEN_SECONDS, MAX_ACCESS_TOKEN_SECONDS = 3600, 21600
DEFAULT_ACCESS_TOKEN_SECONDS = 3600
#: A secret's lifetime in days (Microsoft: 1 to 3 years).
DEFAULT_SECRET_DAYS, MAX_SECRET_DAYS = 730, 1095
MAX_CLIENT_NAME = 100
#: The longest tenant, audience, subject, issuer or URI a trust may hold.
MAX_TRUST_TEXT = 400

#: The parameters RFC 6749 §3.2 forbids repeating that this endpoint reads; any other is ignored (the
#: validation template sends ``baseAddress``).
_READ = ("grant_type", "scope", "client_id", "client_secret", "client_assertion_type", "client_assertion")

#: What an unknown secret's digest is compared with: no secret has it (not a hex SHA-256).
_NO_SECRET_DIGEST = "-" * 64

#: Every failed client authentication says one of these, whichever part was wrong (RFC 6749 §5.2
#: invalid_client). The texts are the catalogue's; these names are the ones callers compare with.
BAD_CREDENTIALS = c.BAD_CREDENTIALS.template
BAD_ASSERTION = c.BAD_ASSERTION.template
NO_CREDENTIALS = c.NO_CREDENTIALS.template
UNREADABLE_BASIC = c.UNREADABLE_BASIC.template


class OAuthError(Exception):
    """An RFC 6749 §5.2 error answer: ``error`` and ``description`` are its JSON body, ``status`` its HTTP
    status; ``basic_challenge`` asks for ``WWW-Authenticate: Basic realm="WiggleDesk"``.

    ``reason`` says, for the log only, which check failed (never a credential or the assertion);
    ``organisation_id`` is the client's organisation when the client is known, so that the failure can be
    counted in its fair-use budget."""

    def __init__(self, error: str, description: str, status: int = 400, *, basic_challenge: bool = False,
                 reason: str | None = None, organisation_id: str | None = None):
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status
        self.basic_challenge = basic_challenge
        self.reason = reason or description
        self.organisation_id = organisation_id

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


def refused(refusal: c.Refusal, /, *, basic_challenge: bool = False, reason: str | None = None,
            organisation_id: str | None = None, **values: object) -> OAuthError:
    """The OAuth error the catalogue declares ``refusal`` to be, its template filled with ``values``."""
    return OAuthError(refusal.code, refusal.format(**values), refusal.status, basic_challenge=basic_challenge,
                      reason=reason, organisation_id=organisation_id)


def authorization_server_metadata(issuer: str) -> dict:
    """RFC 8414's document for the server at ``issuer`` (its origin, no trailing slash): one grant, the
    three client-authentication methods of ENTRA.md §2.2 and §2.3, RS256 assertions only."""
    return {
        "issuer": issuer,
        "token_endpoint": issuer + TOKEN_PATH,
        "grant_types_supported": [GRANT_TYPE],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
        "scopes_supported": [SCOPE],
    }


def access_token_lifetime(seconds: int) -> timedelta:
    """The access tokens' lifetime for ``wiggledesk.oauth.access_token_seconds``; raises ``InvalidValue``."""
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not (
            MIN_ACCESS_TOKEN_SECONDS <= seconds <= MAX_ACCESS_TOKEN_SECONDS):
        raise InvalidValue(f"wiggledesk.oauth.access_token_seconds must be a whole number from "
                           f"{MIN_ACCESS_TOKEN_SECONDS} to {MAX_ACCESS_TOKEN_SECONDS} (Entra's limits)")
    return timedelta(seconds=seconds)


@dataclass(frozen=True)
class _Credentials:
    """How the client authenticated: ``secret`` or ``assertion`` set (never both); ``basic`` if by header."""

    client_id: str
    secret: str | None = None
    assertion: str | None = None
    basic: bool = False


def parse_basic(header: str) -> tuple[str, str] | None:
    """The client id and secret of an ``Authorization: Basic`` header (scheme case-insensitive), each
    form-urldecoded (RFC 6749 §2.3.1); None if the header is not Basic. Raises ``ValueError`` if it is
    Basic but cannot be read."""
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError("not base64 of UTF-8 text") from None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise ValueError("no colon")
    try:
        return unquote_plus(client_id, errors="strict"), unquote_plus(secret, errors="strict")
    except UnicodeDecodeError:
        raise ValueError("percent-encoding is not UTF-8") from None


class TokenEndpoint:
    """``POST /oauth2/token``'s logic (RFC 6749 §4.4, client authentication by secret or RFC 7523
    assertion). ``lifetime``: the access tokens', ``access_token_lifetime``'s value."""

    def __init__(self, uow: UnitOfWork, clock: Clock, ids: IdGenerator, verifier: ClientAssertionVerifier,
                 lifetime: timedelta = timedelta(seconds=DEFAULT_ACCESS_TOKEN_SECONDS)):
        access_token_lifetime(int(lifetime.total_seconds()))
        self.uow = uow
        self.clock = clock
        self.ids = ids
        self.verifier = verifier
        self.lifetime = lifetime

    def token(self, form: Mapping[str, Sequence[str]], authorization: str | None = None) -> dict:
        """RFC 6749 §5.1's answer to the form (each parameter with every value sent) and Authorization
        header; raises ``OAuthError``."""
        params = self._single_values(form)
        grant_type = params.get("grant_type")
        if not grant_type:
            raise refused(c.GRANT_TYPE_MISSING)
        if grant_type != GRANT_TYPE:
            raise refused(c.GRANT_TYPE_UNSUPPORTED)
        scopes = params.get("scope", "").split()
        if scopes and SCOPE not in scopes:
            raise refused(c.SCOPE_UNSUPPORTED)
        credentials = self._credentials(params, authorization)
        if credentials.assertion is not None:
            client_id, organisation_id, secret_id = self._by_assertion(credentials)
        else:
            client_id, organisation_id, secret_id = self._by_secret(credentials)
        return self._issue(client_id, organisation_id, secret_id, basic=credentials.basic)

    @staticmethod
    def _single_values(form: Mapping[str, Sequence[str]]) -> dict[str, str]:
        params = {}
        for name in _READ:
            values = form.get(name, ())
            if len(values) > 1:
                raise refused(c.PARAMETER_REPEATED, parameter=name)
            if values:
                params[name] = values[0]
        return params

    @staticmethod
    def _credentials(params: dict[str, str], authorization: str | None) -> _Credentials:
        body_id = params.get("client_id") or None
        body_secret = params.get("client_secret") or None
        assertion = params.get("client_assertion") or None
        assertion_type = params.get("client_assertion_type") or None
        if authorization and authorization.strip():
            try:
                basic = parse_basic(authorization)
            except ValueError as error:
                raise refused(c.UNREADABLE_BASIC, basic_challenge=True, reason=f"Basic header unreadable: {error}"
                              ) from None
            if basic is None:
                raise refused(c.NOT_BASIC)
            client_id, secret = basic
            # RFC 6749 §2.3: one authentication method per request. A body client_id naming the same
            # client adds no second method, so it is tolerated.
            if body_secret is not None or assertion is not None or assertion_type is not None or (
                    body_id is not None and body_id != client_id):
                raise refused(c.TWO_METHODS)
            if not client_id or not secret:
                raise refused(c.BAD_CREDENTIALS, basic_challenge=True,
                              reason="Basic header with an empty client id or secret")
            return _Credentials(client_id, secret=secret, basic=True)
        if assertion is not None or assertion_type is not None:
            if body_secret is not None:
                raise refused(c.SECRET_AND_ASSERTION)
            if assertion is None:
                raise refused(c.ASSERTION_MISSING)
            if assertion_type != JWT_BEARER:
                raise refused(c.ASSERTION_TYPE, type=JWT_BEARER)
            if body_id is None:
                raise refused(c.ASSERTION_WITHOUT_CLIENT)
            return _Credentials(body_id, assertion=assertion)
        if body_id is None and body_secret is None:
            raise refused(c.NO_CREDENTIALS, basic_challenge=True, reason="no client credentials")
        if body_id is None:
            raise refused(c.CLIENT_ID_MISSING)
        if body_secret is None:
            raise refused(c.CLIENT_SECRET_MISSING)
        return _Credentials(body_id, secret=body_secret)

    def _by_secret(self, credentials: _Credentials) -> tuple[str, str, str]:
        """The client's id, organisation and the secret's id, once the secret is accepted."""
        presented = digest(credentials.secret)
        with self.uow:
            grant = self.uow.clients.secret_by_digest(presented)
            # As for API tokens: the lookup is by digest, and the comparison that accepts is constant-time,
            # also for an unknown secret (against a digest none has), so both paths do the same work.
            expected = grant.secret.digest if grant is not None else _NO_SECRET_DIGEST
            matches = hmac.compare_digest(expected, presented) and grant is not None
            own = matches and hmac.compare_digest(grant.client.id.encode("utf-8"),
                                                  credentials.client_id.encode("utf-8"))
            # A failure is counted against the organisation of the client it claimed to be (fair use), so
            # that a known client id gives no unlimited guesses; that costs a read on failure only.
            claimed = grant.client if own else self._client_or_none(credentials.client_id)
        refusal = refused(c.BAD_CREDENTIALS, basic_challenge=credentials.basic,
                          organisation_id=None if claimed is None else claimed.organisation_id)
        if not matches:
            refusal.reason = "unknown client secret"
            raise refusal
        if not own:
            # repr: the id is the caller's text, and must not forge lines in the log.
            refusal.reason = f"the secret is not one of client {credentials.client_id!r}'s"
            raise refusal
        if grant.client.revoked is not None:
            refusal.reason = f"client {grant.client.id} is revoked"
            raise refusal
        if grant.secret.revoked is not None:
            refusal.reason = f"secret {grant.secret.id} is revoked"
            raise refusal
        if grant.secret.expired(self.clock.now()):
            refusal.reason = f"secret {grant.secret.id} expired"
            raise refusal
        if not grant.organisation_api_access:
            raise self._switched_off(grant.client.organisation_id)
        return grant.client.id, grant.client.organisation_id, grant.secret.id

    def _by_assertion(self, credentials: _Credentials) -> tuple[str, str, None]:
        refusal = refused(c.BAD_ASSERTION)
        with self.uow:
            client = self._client_or_none(credentials.client_id)
            trust = None if client is None else self.uow.clients.get_trust(client.id)
            api_access = None if client is None else self.uow.organisations.get(client.organisation_id).api_access
        if client is None:
            refusal.reason = f"unknown client {credentials.client_id!r}"
            raise refusal
        refusal.organisation_id = client.organisation_id
        if client.revoked is not None:
            refusal.reason = f"client {client.id} is revoked"
            raise refusal
        if trust is None:
            refusal.reason = f"client {client.id} has no federated trust"
            raise refusal
        # Outside the unit of work: verifying may fetch the JWKS over the network.
        try:
            self.verifier.verify(credentials.assertion, trust, self.clock.now())
        except AssertionRefused as error:
            refusal.reason = f"assertion for client {client.id} refused: {error.detail}"
            raise refusal from None
        if not api_access:
            raise self._switched_off(client.organisation_id)
        return client.id, client.organisation_id, None

    def _client_or_none(self, client_id: str) -> OAuthClient | None:
        try:
            return self.uow.clients.get(client_id)
        except NotFound:
            return None

    @staticmethod
    def _switched_off(organisation_id: str) -> OAuthError:
        # The client did authenticate, so it may learn why it gets no token (RFC 6749 §5.2: authenticated,
        # but not authorised for the grant).
        return refused(c.TOKENS_SWITCHED_OFF, reason="organisation API access is off", organisation_id=organisation_id)

    def _issue(self, client_id: str, organisation_id: str, secret_id: str | None, *, basic: bool) -> dict:
        plaintext = new_access_token()
        with self.uow:
            now = self.clock.now()
            # Read again in the unit that issues: the client or secret may have been revoked since the
            # check (or while the assertion's keys were fetched).
            client = self.uow.clients.get(client_id)
            secret = None if secret_id is None else self.uow.clients.get_secret(secret_id)
            if client.revoked is not None or (secret is not None and secret.revoked is not None):
                raise refused(c.BAD_CREDENTIALS if secret_id else c.BAD_ASSERTION, basic_challenge=basic,
                              reason=f"client {client_id} or its secret revoked meanwhile",
                              organisation_id=organisation_id)
            self.uow.access_tokens.add(AccessToken(
                id=self.ids.new_id(), client_id=client_id, secret_id=secret_id, organisation_id=organisation_id,
                digest=digest(plaintext), created=now, expires=now + self.lifetime))
            self.uow.clients.mark_used(client_id, now)
            if secret_id is not None:
                self.uow.clients.mark_secret_used(secret_id, now)
            self.uow.commit()
        return {"access_token": plaintext, "token_type": "Bearer",
                "expires_in": int(self.lifetime.total_seconds()), "scope": SCOPE}


# -- operations on clients (the CLI's clients commands) ---------------------------------------------------

@dataclass(frozen=True)
class IssuedSecret:
    """A new secret as stored, and its plaintext (which exists nowhere else: show it once)."""

    secret: ClientSecret
    plaintext: str


@dataclass(frozen=True)
class CreatedClient:
    """A new client with its first secret."""

    client: OAuthClient
    secret: IssuedSecret


@dataclass(frozen=True)
class ClientOverview:
    """A client as ``clients list`` and the console show it: never a secret or a piece of one."""

    client: OAuthClient
    secrets: tuple[ClientSecret, ...]
    trust: FederatedTrust | None


def client_overviews(uow: UnitOfWork, organisation_id: str) -> list[ClientOverview]:
    """The organisation's clients, oldest first, with their secrets (as stored) and trusts: what
    ``clients list`` and the ops console show. Raises ``NotFound``."""
    with uow:
        uow.organisations.get(organisation_id)
        return [ClientOverview(client, tuple(uow.clients.secrets_of(client.id)), uow.clients.get_trust(client.id))
                for client in uow.clients.list_for_organisation(organisation_id)]


_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_DOMAIN = re.compile(r"(?=.{1,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}")


def is_loopback_host(host: str | None) -> bool:
    """Whether ``host`` (a URL's hostname) is this machine: ``localhost`` or a loopback address."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def jwks_uri_problem(uri: str) -> str | None:
    """Why ``uri`` may not be a JWKS URI (it must be https, or http on a loopback host); None if it may."""
    try:
        parts = urlsplit(uri)
        host = parts.hostname
    except ValueError:
        return "is not a URL"
    if not host:
        return "is not an absolute URL"
    if parts.scheme == "https" or (parts.scheme == "http" and is_loopback_host(host)):
        return None
    return "must be an https URL (http only for a loopback host)"


def _text(label: str, value: str | None) -> str:
    value = (value or "").strip()
    if not value or len(value) > MAX_TRUST_TEXT or not value.isprintable():
        raise InvalidValue(f"The {label} must be printable text of 1 to {MAX_TRUST_TEXT} characters")
    return value


class ClientService:
    """Create, rotate and revoke an organisation's OAuth clients and secrets, and set their federated
    trusts. Each method returns what the CLI prints."""

    def __init__(self, uow: UnitOfWork, clock: Clock, ids: IdGenerator):
        self.uow = uow
        self.clock = clock
        self.ids = ids

    def create_client(self, organisation_id: str, name: str, *,
                      secret_days: int = DEFAULT_SECRET_DAYS) -> CreatedClient:
        """A new client of the organisation with a first secret valid for ``secret_days``. Raises
        ``NotFound``, ``InvalidValue``."""
        name = name.strip()
        if not name or len(name) > MAX_CLIENT_NAME or not name.isprintable():
            raise InvalidValue(f"A client's name must be printable text of 1 to {MAX_CLIENT_NAME} characters")
        valid_for = self._secret_lifetime(secret_days)
        with self.uow:
            self.uow.organisations.get(organisation_id)
            client = OAuthClient(id=self.ids.new_id(), organisation_id=organisation_id, name=name,
                                 created=self.clock.now())
            self.uow.clients.add(client)
            secret = self._new_secret(client.id, valid_for)
            self.uow.commit()
        return CreatedClient(client, secret)

    def add_secret(self, client_id: str, *, days: int = DEFAULT_SECRET_DAYS) -> IssuedSecret:
        """Another secret for the client (the others keep working: rotation without downtime). Raises
        ``NotFound``, ``InvalidValue`` (also for a revoked client)."""
        valid_for = self._secret_lifetime(days)
        with self.uow:
            client = self.uow.clients.get(client_id)
            if client.revoked is not None:
                raise InvalidValue(f"Client {client_id} is revoked; create a new client instead")
            secret = self._new_secret(client_id, valid_for)
            self.uow.commit()
        return secret

    def revoke_secret(self, secret_id: str) -> ClientSecret:
        """Revoke the secret: it and the access tokens issued under it are refused from the next request on.
        Revoking it again changes nothing. Raises ``NotFound``."""
        with self.uow:
            self.uow.clients.revoke_secret(secret_id, self.clock.now())
            secret = self.uow.clients.get_secret(secret_id)
            self.uow.commit()
        return secret

    def revoke_client(self, client_id: str) -> OAuthClient:
        """Revoke the client: its secrets, trust and access tokens are refused from the next request on.
        Revoking it again changes nothing. Raises ``NotFound``."""
        with self.uow:
            self.uow.clients.revoke(client_id, self.clock.now())
            client = self.uow.clients.get(client_id)
            self.uow.commit()
        return client

    def set_trust(self, client_id: str, *, tenant: str, audience: str, subject: str, issuer: str | None = None,
                  jwks_uri: str | None = None) -> FederatedTrust:
        """Make the client accept Entra-signed assertions with this tenant, audience and subject (issuer
        and JWKS URI Entra's defaults for the tenant unless given), replacing any trust it had. Raises
        ``NotFound``, ``InvalidValue``."""
        tenant = _text("tenant", tenant)
        if not (_GUID.fullmatch(tenant) or _DOMAIN.fullmatch(tenant)):
            raise InvalidValue("The tenant must be a tenant id (a GUID) or a domain name such as "
                               "contoso.onmicrosoft.com")
        trust = FederatedTrust.for_tenant(
            client_id, tenant, audience=_text("audience", audience), subject=_text("subject", subject),
            issuer=None if issuer is None else _text("issuer", issuer),
            jwks_uri=None if jwks_uri is None else _text("JWKS URI", jwks_uri))
        problem = jwks_uri_problem(trust.jwks_uri)
        if problem is not None:
            raise InvalidValue(f"The JWKS URI {problem}")
        with self.uow:
            client = self.uow.clients.get(client_id)
            if client.revoked is not None:
                raise InvalidValue(f"Client {client_id} is revoked; create a new client instead")
            self.uow.clients.set_trust(trust)
            self.uow.commit()
        return trust

    def list_clients(self, organisation_id: str) -> list[ClientOverview]:
        """The organisation's clients, oldest first, with their secrets (as stored) and trusts. Raises
        ``NotFound``."""
        return client_overviews(self.uow, organisation_id)

    @staticmethod
    def _secret_lifetime(days: int) -> timedelta:
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_SECRET_DAYS:
            raise InvalidValue(f"A secret must be valid for 1 to {MAX_SECRET_DAYS} days (Entra's limit is 3 years)")
        return timedelta(days=days)

    def _new_secret(self, client_id: str, valid_for: timedelta) -> IssuedSecret:
        plaintext = new_client_secret()
        now = self.clock.now()
        secret = ClientSecret(id=self.ids.new_id(), client_id=client_id, digest=digest(plaintext), created=now,
                              expires=now + valid_for)
        self.uow.clients.add_secret(secret)
        return IssuedSecret(secret, plaintext)


def prune_access_tokens(uow: UnitOfWork, clock: Clock) -> int:
    """Delete the access tokens that expired before now; how many."""
    with uow:
        pruned = uow.access_tokens.prune_expired(clock.now())
        uow.commit()
    return pruned
