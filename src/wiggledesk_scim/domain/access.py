"""Who may use the SCIM API: token secrets, their digests, and the rules a token must pass on every request.

Rules (ENTRA.md §2): the token exists and is not revoked; its organisation has API access; its owner
exists, is active, is an admin and has API access. Each refusal says what the admin must change. The
last four are who may hold a token at all (``unmet_requirements``): a token is issued only to someone
who meets them, and one is accepted only while its owner still does.

Checking them is one read (``ApiTokenRepository.find_grant``: the token with its owner's and its
organisation's settings), made by every request, so a revocation, a deactivated admin or API access
switched off takes effect at the next request. An OAuth access token (``ACCESS_TOKEN_PREFIX``) is checked
the same way against its own store (``AccessTokenRepository.grant_by_digest``): its client and the secret
it was issued under must not be revoked, nor the secret expired, nor the organisation's API access off.
A process may instead keep the tokens it accepted for a
few seconds (``AcceptedTokens``); that ``ttl``, ``wiggledesk.token_cache_seconds`` in the ini (0 by
default), is then the bound on how late such a change reaches it (README, "Token checks").
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from datetime import datetime, timedelta
from enum import Enum

from .errors import AccessRefused, InvalidValue, TokenNotIssued
from .model import ApiToken, Member, Organisation, Principal, TokenGrant
from .ports import Clock, IdGenerator, TokenAuthority, UnitOfWork

#: Every token starts with this, so secret scanners (and people) can recognise a leaked one.
TOKEN_PREFIX = "wdscim_"
#: The prefixes of OAuth client secrets and of the access tokens the token endpoint issues. No prefix is
#: the start of another, so a bearer token's prefix says which store to ask, with no second lookup.
CLIENT_SECRET_PREFIX = "wdscs_"
ACCESS_TOKEN_PREFIX = "wdsat_"

#: What an unknown token's digest is compared with: no secret has this digest (it is not a hex SHA-256).
_NO_TOKEN_DIGEST = "-" * 64

#: ``last_used`` is written at most this often per token, so that reads do not all become writes.
LAST_USED_RESOLUTION = timedelta(minutes=1)

#: The units ``precision`` words a resolution in, largest first.
_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def precision(resolution: timedelta) -> str:
    """How exact a time written at most once per ``resolution`` is, in words for a heading: "to the minute"
    for one minute, "within 5 minutes" for five, "exact" for no resolution at all."""
    seconds = resolution.total_seconds()
    if seconds <= 0:
        return "exact"
    for unit, size in _UNITS:
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"to the {unit}" if count == 1 else f"within {count} {unit}s"
    return f"within {seconds:g} seconds"


#: How exact a token's ``last_used`` is, wherever it is shown: "to the minute" (LAST_USED_RESOLUTION).
LAST_USED_PRECISION = precision(LAST_USED_RESOLUTION)

NO_TOKEN = "No API token was sent. Paste your WiggleDesk API token into Entra's Secret Token field."
UNKNOWN_TOKEN = ("This API token is not valid or was revoked. "
                 "Create a new token in WiggleDesk and paste it into Entra.")
REVOKED = ("This API token was revoked on {when}. Use another of the admin's tokens, or issue a new one "
           "and paste it into Entra.")
EXPIRED = ("This API token expired on {when}. Issue a new one and paste it into Entra; give it a later "
           "expiry, or none.")
NOT_ADMIN = "The admin who owns this token is no longer an admin. An admin must create a new token."
DEACTIVATED = ("The admin who owns this token is deactivated (Entra's provisioning may have deprovisioned them). "
               "Reactivating them restores this token; until then, use another active admin's token or an "
               "OAuth client.")
OWNER_DELETED = ("The admin who owned this API token has been deleted (Entra's provisioning may have deleted "
                 "them), so the token no longer works. Paste another admin's token into Entra, or use an OAuth "
                 "client, which no one's departure breaks.")
MALFORMED_AUTHORIZATION = ("The Authorization header must read \"Bearer <token>\". Paste only the WiggleDesk "
                           "token into Entra's Secret Token field: Entra adds \"Bearer \" itself.")
ORGANISATION_OFF = ("API access is switched off for this organisation. "
                    "An admin can switch it on in WiggleDesk's settings.")
ADMIN_OFF = ("API access is switched off for the admin who owns this token. "
             "Switch it on, or use another admin's token.")
#: RFC 6750 §3's error_description for an expired access token: Entra fetches a new one on reading it.
ACCESS_TOKEN_EXPIRED = "The access token expired"
UNKNOWN_ACCESS_TOKEN = ("This access token is not valid. Entra must fetch a new one from WiggleDesk's token "
                        "endpoint (/oauth2/token).")
EXPIRED_ACCESS_TOKEN = ACCESS_TOKEN_EXPIRED + ". Entra fetches a new one from /oauth2/token by itself."
CLIENT_REVOKED = ("The OAuth client this access token was issued to was revoked. Create a new client in "
                  "WiggleDesk and enter its id and secret in Entra.")
SECRET_REVOKED = ("The client secret this access token was issued under was revoked. Enter another of the "
                  "client's secrets in Entra.")
SECRET_EXPIRED = ("The client secret this access token was issued under expired. Add a new secret to the "
                  "client in WiggleDesk and enter it in Entra.")


class TokenRequirement(Enum):
    """A setting a token's owner and their organisation must have, both to be issued a token and for it
    to be accepted (ENTRA.md §2.1). Declared in the order a refusal to issue lists them."""

    ORGANISATION_API_ACCESS = "organisation API access"
    ADMIN = "admin"
    API_ACCESS = "API access"
    ACTIVE = "active"


def unmet_requirements(*, organisation_api_access: bool, is_admin: bool, api_access: bool, active: bool
                       ) -> tuple[TokenRequirement, ...]:
    """The requirements an owner with these settings misses, in declaration order; empty if they may
    hold a token."""
    unmet = ()
    if not organisation_api_access:
        unmet += (TokenRequirement.ORGANISATION_API_ACCESS,)
    if not is_admin:
        unmet += (TokenRequirement.ADMIN,)
    if not api_access:
        unmet += (TokenRequirement.API_ACCESS,)
    if not active:
        unmet += (TokenRequirement.ACTIVE,)
    return unmet


#: What the check at authentication says for an unmet requirement, and whether it is a 403 (the token is
#: genuine but API access is off). Only the first unmet one in this order is told, as Entra shows one
#: detail: the owner's standing before the switches, since switching API access on would not let in the
#: token of a deactivated or demoted owner.
_AUTHENTICATION_REFUSALS = (
    (TokenRequirement.ACTIVE, DEACTIVATED, False),
    (TokenRequirement.ADMIN, NOT_ADMIN, False),
    (TokenRequirement.ORGANISATION_API_ACCESS, ORGANISATION_OFF, True),
    (TokenRequirement.API_ACCESS, ADMIN_OFF, True),
)

#: What a refusal to issue says for each unmet requirement, all of them at once so that ops fix every
#: setting in one go, each with the command that switches it on (restoring a member is Entra's to do).
TOKEN_SHORTFALLS = {
    TokenRequirement.ORGANISATION_API_ACCESS: "API access is off for the organisation (org api-access ORG on)",
    TokenRequirement.ADMIN: "they are not an admin (member admin ORG EMAIL on)",
    TokenRequirement.API_ACCESS: "API access is off for them (member api-access ORG EMAIL on)",
    TokenRequirement.ACTIVE: "they are deactivated",
}


def token_shortfalls(organisation: Organisation, member: Member) -> tuple[str, ...]:
    """Why ``member`` of ``organisation`` may not hold a token, one clause per unmet requirement
    (``TOKEN_SHORTFALLS``); empty if they may."""
    unmet = unmet_requirements(organisation_api_access=organisation.api_access, is_admin=member.is_admin,
                               api_access=member.api_access, active=member.active)
    return tuple(TOKEN_SHORTFALLS[requirement] for requirement in unmet)


def new_secret() -> str:
    """A fresh token: the prefix and 256 random bits, URL-safe."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_client_secret() -> str:
    """A fresh OAuth client secret: its prefix and 256 random bits, URL-safe."""
    return CLIENT_SECRET_PREFIX + secrets.token_urlsafe(32)


def new_access_token() -> str:
    """A fresh access token: its prefix and 256 random bits, URL-safe."""
    return ACCESS_TOKEN_PREFIX + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """The only form of a token that is ever stored: its SHA-256, hex."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def parse_authorization(header: str | None) -> str | None:
    """The token in an ``Authorization: Bearer <token>`` header (scheme case-insensitive, RFC 7235 §2.1);
    None when there is no header. Raises ``AccessRefused`` (``MALFORMED_AUTHORIZATION``) for a header of
    another form: a token pasted without "Bearer ", another scheme, a blank or spaced token. Such a header
    is told apart from none at all, and never echoed (it may be a secret). Another scheme counts as no
    bearer token sent (RFC 6750 §3.1: no ``error`` in the challenge); a malformed ``Bearer`` as one refused."""
    if not header or not header.strip():
        return None
    scheme, _, credentials = header.strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() != "bearer" or not credentials or " " in credentials:
        raise AccessRefused(MALFORMED_AUTHORIZATION, token_sent=scheme.lower() == "bearer")
    return credentials


class AcceptedTokens:
    """The tokens this process accepted in the last ``ttl``, by digest: a token found here is taken as
    accepted without reading anything, so a change to it, its admin or its organisation made elsewhere
    reaches this process within ``ttl``. Only acceptances are kept (a refusal is checked every time),
    at most ``capacity`` of them (then it starts over); one instance serves every thread of a process.
    """

    def __init__(self, clock: Clock, ttl: timedelta, capacity: int = 10_000):
        self.clock = clock
        self.ttl = ttl
        self.capacity = capacity
        self._entries: dict[str, tuple[Principal, datetime]] = {}
        self._lock = threading.Lock()

    def get(self, token_digest: str) -> Principal | None:
        entry = self._entries.get(token_digest)
        if entry is None:
            return None
        principal, expires = entry
        if self.clock.now() >= expires:
            self._entries.pop(token_digest, None)
            return None
        return principal

    def remember(self, token_digest: str, principal: Principal, until: datetime | None = None) -> None:
        """Keep ``principal`` for ``ttl``, and never past ``until`` (the token's expiry)."""
        if self.ttl <= timedelta(0):
            return
        expires = self.clock.now() + self.ttl
        if until is not None:
            expires = min(expires, until)
        with self._lock:
            if len(self._entries) >= self.capacity:
                self._entries.clear()
            self._entries[token_digest] = (principal, expires)

    def forget_admin(self, organisation_id: str, admin_id: str) -> None:
        """Drop the admin's tokens, so this process checks them again on their next use."""
        with self._lock:
            for token_digest, (principal, _) in list(self._entries.items()):
                if principal.organisation_id == organisation_id and principal.admin_id == admin_id:
                    del self._entries[token_digest]


class StoredTokenAuthority(TokenAuthority):
    """The token authority over tokens kept by the unit of work's token repository; with ``accepted``,
    tokens it accepted lately are not read again (``AcceptedTokens``)."""

    def __init__(self, uow: UnitOfWork, clock: Clock, ids: IdGenerator, accepted: AcceptedTokens | None = None):
        self.uow = uow
        self.clock = clock
        self.ids = ids
        self.accepted = accepted

    def authenticate(self, bearer_token: str | None) -> Principal:
        if not bearer_token:
            raise AccessRefused(NO_TOKEN, token_sent=False)
        presented = digest(bearer_token)
        if self.accepted is not None:
            principal = self.accepted.get(presented)
            if principal is not None:
                return principal
        if bearer_token.startswith(ACCESS_TOKEN_PREFIX):
            principal, expires = self._check_access_token(presented)
        else:
            principal, expires = self._check(presented)
        if self.accepted is not None:
            self.accepted.remember(presented, principal, until=expires)
        return principal

    def forget_admin(self, organisation_id: str, admin_id: str) -> None:
        if self.accepted is not None:
            self.accepted.forget_admin(organisation_id, admin_id)

    def _check(self, presented: str) -> tuple[Principal, datetime | None]:
        """Every rule, read from the store (and ``last_used`` recorded); the principal, and when the
        token expires."""
        with self.uow:
            grant = self.uow.tokens.find_grant(presented)
            # The lookup is by digest, so its timing says nothing about the secret; the comparison
            # that accepts a token is still constant-time, on the digests, and an unknown token is
            # compared too (against a digest no token has), so both paths do the same work.
            expected = grant.token.digest if grant is not None else _NO_TOKEN_DIGEST
            if not hmac.compare_digest(expected, presented) or grant is None:
                raise AccessRefused(UNKNOWN_TOKEN)
            token = grant.token
            now = self.clock.now()
            refusal = self._refusal(grant, now)
            if refusal is not None:
                detail, forbidden = refusal
                raise AccessRefused(detail, forbidden=forbidden, organisation_id=token.organisation_id,
                                    token_id=token.id)
            if token.last_used is None or now - token.last_used >= LAST_USED_RESOLUTION:
                self.uow.tokens.mark_used(token.id, now)
            self.uow.commit()
        principal = Principal(organisation_id=token.organisation_id, admin_id=token.admin_id, token_id=token.id)
        return principal, token.expires

    def _check_access_token(self, presented: str) -> tuple[Principal, datetime]:
        """As ``_check``, for an access token of an OAuth client: one read, so that a revoked client or
        secret, or API access switched off, is felt at the next request. Nothing is written: the client's
        ``last_used`` moves when it fetches a token."""
        with self.uow:
            grant = self.uow.access_tokens.grant_by_digest(presented)
        expected = grant.token.digest if grant is not None else _NO_TOKEN_DIGEST
        if not hmac.compare_digest(expected, presented) or grant is None:
            raise AccessRefused(UNKNOWN_ACCESS_TOKEN)
        token = grant.token
        now = self.clock.now()
        refused = dict(organisation_id=token.organisation_id, token_id=token.id)
        if grant.client.revoked is not None:
            raise AccessRefused(CLIENT_REVOKED, **refused)
        if grant.secret is not None and grant.secret.revoked is not None:
            raise AccessRefused(SECRET_REVOKED, **refused)
        if grant.secret is not None and grant.secret.expired(now):
            raise AccessRefused(SECRET_EXPIRED, **refused)
        if token.expired(now):
            raise AccessRefused(EXPIRED_ACCESS_TOKEN, error_description=ACCESS_TOKEN_EXPIRED, **refused)
        if not grant.organisation_api_access:
            raise AccessRefused(ORGANISATION_OFF, forbidden=True, **refused)
        principal = Principal(organisation_id=token.organisation_id, admin_id=None, token_id=token.id,
                              client_id=token.client_id)
        return principal, token.expires

    @staticmethod
    def _refusal(grant: TokenGrant, now: datetime) -> tuple[str, bool] | None:
        """Why a token that exists may not be used, and whether that is a 403 (it is genuine but API
        access is off); None if it may."""
        token = grant.token
        if grant.owner_deleted:
            # First: whether the token was also revoked or expired, nothing brings it back.
            return OWNER_DELETED, False
        if token.revoked is not None:
            return REVOKED.format(when=_day(token.revoked)), False
        if token.expired(now):
            return EXPIRED.format(when=_day(token.expires)), False
        unmet = unmet_requirements(organisation_api_access=grant.organisation_api_access,
                                   is_admin=grant.owner_is_admin, api_access=grant.owner_api_access,
                                   active=grant.owner_active)
        for requirement, detail, forbidden in _AUTHENTICATION_REFUSALS:
            if requirement in unmet:
                return detail, forbidden
        return None

    def issue(self, organisation_id: str, admin_id: str) -> str:
        return self.issue_token(organisation_id, admin_id)[1]

    def issue_token(self, organisation_id: str, admin_id: str, *, name: str = "API token",
                    valid_for: timedelta | None = None) -> tuple[ApiToken, str]:
        """A new token for the admin: as stored, and its secret (which exists nowhere else; show it once).
        ``valid_for``: how long until it expires by itself (None: until revoked). Raises ``NotFound``,
        ``TokenNotIssued`` if the admin could not use it (every reason told), ``InvalidValue``."""
        name = name.strip()
        with self.uow:
            admin = self.uow.members.get(organisation_id, admin_id)
            shortfalls = token_shortfalls(self.uow.organisations.get(organisation_id), admin)
            # Before the name and lifetime: a token that could never be used is the problem to tell first.
            if shortfalls:
                raise TokenNotIssued(admin.user_name, shortfalls)
            if not name or len(name) > MAX_TOKEN_NAME:
                raise InvalidValue(f"A token's name must be 1 to {MAX_TOKEN_NAME} characters")
            if valid_for is not None and valid_for <= timedelta(0):
                raise InvalidValue("A token must be valid for a positive time")
            secret = new_secret()
            now = self.clock.now()
            token = ApiToken(id=self.ids.new_id(), organisation_id=organisation_id, admin_id=admin_id,
                             digest=digest(secret), created=now, name=name,
                             expires=None if valid_for is None else now + valid_for)
            self.uow.tokens.add(token)
            self.uow.commit()
        return token, secret

    def revoke(self, token_id: str) -> ApiToken:
        """Revoke the token: it is refused from the next request on (in another process, within the
        accepted-tokens bound). Revoking it again changes nothing. Raises ``NotFound``."""
        with self.uow:
            self.uow.tokens.revoke(token_id, self.clock.now())
            token = self.uow.tokens.get(token_id)
            self.uow.commit()
        if self.accepted is not None:
            self.accepted.forget_admin(token.organisation_id, token.admin_id)
        return token


#: The longest name a token may have.
MAX_TOKEN_NAME = 100


def _day(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")
