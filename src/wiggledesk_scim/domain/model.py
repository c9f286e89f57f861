"""The members of WiggleDesk organisations, the organisations themselves, their API tokens and OAuth clients.

Plain immutable values: changing a member means building a new one (``dataclasses.replace``), so a
repository can hand out its objects without a caller ever changing stored state by accident.
Knows nothing of SCIM, HTTP or storage.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Mapping


def case_key(text: str) -> str:
    """The form in which a string attribute whose schema says ``caseExact: false`` is compared, for
    uniqueness (userName, RFC 7643 §4.1.1), filters and sorting.

    Computed here rather than by the database's ``lower()`` because SQLite lowers ASCII only: one
    function keeps the in-memory store, SQLite and PostgreSQL in agreement.
    """
    return text.lower()


#: Characters no stored text may hold: PostgreSQL refuses NUL (and no real attribute holds one), and UTF-8,
#: which both databases speak, cannot encode half a character (a lone surrogate, which JSON's \ud800
#: escapes can carry).
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
#: What ``unstorable_reason`` says (after the attribute's name; domain/catalogue.py adopts both).
NUL_CHARACTER = "must not contain the NUL character"
UNPAIRED_SURROGATE = "must not contain an unpaired surrogate (\\ud800-\\udfff)"


def unstorable_reason(text: str) -> str | None:
    """Why ``text`` cannot be stored (for a refusal's message), or None if it can."""
    found = UNSTORABLE.search(text)
    if found is None:
        return None
    return NUL_CHARACTER if found.group() == "\x00" else UNPAIRED_SURROGATE


@dataclass(frozen=True)
class Name:
    formatted: str | None = None
    family_name: str | None = None
    given_name: str | None = None
    middle_name: str | None = None
    honorific_prefix: str | None = None
    honorific_suffix: str | None = None

    def is_empty(self) -> bool:
        return all(value is None for value in vars(self).values())


@dataclass(frozen=True)
class Email:
    value: str
    type: str | None = None
    primary: bool | None = None
    display: str | None = None


@dataclass(frozen=True)
class PhoneNumber:
    value: str
    type: str | None = None
    primary: bool | None = None
    display: str | None = None


@dataclass(frozen=True)
class Address:
    formatted: str | None = None
    street_address: str | None = None
    locality: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None
    type: str | None = None
    primary: bool | None = None


@dataclass(frozen=True)
class EnterpriseInfo:
    """RFC 7643 §4.3, the enterprise User extension; ``manager_id`` is a member id of the same organisation."""

    employee_number: str | None = None
    cost_center: str | None = None
    organization: str | None = None
    division: str | None = None
    department: str | None = None
    manager_id: str | None = None

    def is_empty(self) -> bool:
        return all(value is None for value in vars(self).values())


@dataclass(frozen=True)
class MemberFields:
    """Everything an identity provider may write about a member: the content of a SCIM User."""

    user_name: str
    external_id: str | None = None
    active: bool = True
    name: Name = field(default_factory=Name)
    display_name: str | None = None
    nick_name: str | None = None
    profile_url: str | None = None
    title: str | None = None
    user_type: str | None = None
    preferred_language: str | None = None
    locale: str | None = None
    timezone: str | None = None
    emails: tuple[Email, ...] = ()
    phone_numbers: tuple[PhoneNumber, ...] = ()
    addresses: tuple[Address, ...] = ()
    enterprise: EnterpriseInfo = field(default_factory=EnterpriseInfo)
    #: Attributes of schemas declared without a model class of their own (domain/registry), by URN path.
    #: Never changed in place: a change builds a new mapping.
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Organisation:
    id: str
    name: str
    api_access: bool = True


@dataclass(frozen=True)
class Member:
    """A member of one organisation.

    ``version`` starts at 1 and grows by one with every change of content; it is SCIM's ``meta.version``
    and the repositories' optimistic-concurrency check.
    """

    id: str
    organisation_id: str
    fields: MemberFields
    created: datetime
    last_modified: datetime
    version: int = 1
    is_admin: bool = False
    api_access: bool = False

    @property
    def active(self) -> bool:
        return self.fields.active

    @property
    def user_name(self) -> str:
        return self.fields.user_name

    @property
    def external_id(self) -> str | None:
        return self.fields.external_id

    def with_fields(self, fields: MemberFields, now: datetime) -> Member:
        """This member holding ``fields``; unchanged (same version) when the content is the same."""
        if fields == self.fields:
            return self
        return replace(self, fields=fields, last_modified=now, version=self.version + 1)

    def with_settings(self, *, is_admin: bool | None = None, api_access: bool | None = None) -> Member:
        """WiggleDesk's own settings for a member; not SCIM content, so the version does not move."""
        return replace(
            self,
            is_admin=self.is_admin if is_admin is None else is_admin,
            api_access=self.api_access if api_access is None else api_access,
        )


@dataclass(frozen=True)
class TeamFields:
    """Everything an identity provider may write about a team but its members: the content of a SCIM Group.
    Its members are not part of it: a team may have 100,000 of them, kept apart (``TeamRepository``)."""

    display_name: str
    external_id: str | None = None
    #: As ``MemberFields.extra``: attributes of schemas declared without a model class of their own.
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Team:
    """A WiggleDesk team: a named set of one organisation's members, who sit together and plan team days.

    ``version`` is SCIM's ``meta.version``, as for members; it grows by one with every change of content
    and every change of membership (the team's representation lists its members)."""

    id: str
    organisation_id: str
    fields: TeamFields
    created: datetime
    last_modified: datetime
    version: int = 1

    @property
    def display_name(self) -> str:
        return self.fields.display_name

    def with_fields(self, fields: TeamFields, now: datetime) -> Team:
        """This team holding ``fields``; unchanged (same version) when the content is the same."""
        if fields == self.fields:
            return self
        return replace(self, fields=fields, last_modified=now, version=self.version + 1)

    def touched(self, now: datetime) -> Team:
        """This team once its membership changed: a new version."""
        return replace(self, last_modified=now, version=self.version + 1)


@dataclass(frozen=True, slots=True)
class Reference:
    """One resource as another lists it: a team's member, or a member's team. ``value`` is its id,
    ``display`` the name shown for it (a member's displayName, else userName; a team's displayName)."""

    value: str
    display: str | None = None


@dataclass(frozen=True, slots=True)
class Rendition:
    """A member as a ``Rendering`` (ports) renders them for reading, with the id and version it was
    rendered at: what a read answers with, without the member."""

    id: str
    version: int
    text: str


@dataclass(frozen=True)
class ApiToken:
    """A bearer token as stored: only the SHA-256 digest of the secret, never the secret itself."""

    id: str
    organisation_id: str
    admin_id: str
    digest: str
    created: datetime
    last_used: datetime | None = None
    revoked: datetime | None = None
    #: What the admin calls it ("Entra production"), so one can be told from another when rotating.
    name: str = "API token"
    #: When it stops working by itself; None: until revoked.
    expires: datetime | None = None

    def expired(self, now: datetime) -> bool:
        return self.expires is not None and now >= self.expires

    def state(self, now: datetime) -> str:
        """"revoked", "expired" or "active": what the token is at ``now``, in the words ops read."""
        if self.revoked is not None:
            return "revoked"
        return "expired" if self.expired(now) else "active"


@dataclass(frozen=True)
class TokenGrant:
    """A token with everything else that decides whether it may be used, read together: its owner's and
    its organisation's settings at the time of the read (ENTRA.md §2). ``owner_deleted``: the owner is
    gone (a hard delete revokes their tokens but keeps them, for the trail); the owner's settings then
    read as all off."""

    token: ApiToken
    organisation_api_access: bool
    owner_active: bool
    owner_is_admin: bool
    owner_api_access: bool
    owner_deleted: bool = False


# -- OAuth 2.0 clients (ENTRA.md §2.2, §2.3) ------------------------------------------------------------

@dataclass(frozen=True)
class OAuthClient:
    """An organisation's OAuth 2.0 client: it belongs to the organisation, not to a person, so no admin's
    departure stops provisioning. ``id`` is the client identifier pasted into Entra."""

    id: str
    organisation_id: str
    name: str
    created: datetime
    revoked: datetime | None = None
    #: When it was last issued an access token.
    last_used: datetime | None = None

    def state(self) -> str:
        """"revoked" or "active"."""
        return "active" if self.revoked is None else "revoked"


@dataclass(frozen=True)
class ClientSecret:
    """One of a client's secrets, as stored: only the SHA-256 digest. A client may have several active
    at once, so that a secret is rotated without downtime."""

    id: str
    client_id: str
    digest: str
    created: datetime
    expires: datetime
    revoked: datetime | None = None
    last_used: datetime | None = None

    def expired(self, now: datetime) -> bool:
        return now >= self.expires

    def state(self, now: datetime) -> str:
        """"revoked", "expired" or "active", as ``ApiToken.state``."""
        if self.revoked is not None:
            return "revoked"
        return "expired" if self.expired(now) else "active"

    def expiry_warning(self, now: datetime) -> str | None:
        """"expires in N days" (or "expires today") for an active secret that expires within
        ``SECRET_EXPIRY_WARNING``, as the console and ``clients list`` warn; None otherwise."""
        if self.state(now) != "active" or self.expires - now > SECRET_EXPIRY_WARNING:
            return None
        days = (self.expires - now).days
        if days == 0:
            return "expires today"
        return f"expires in {days} day{'' if days == 1 else 's'}"


#: How long before a client secret expires the console and ``clients list`` warn that it soon will: time
#: to add a secret, enter it in Entra and revoke the old one (README, "Rotating a secret").
SECRET_EXPIRY_WARNING = timedelta(days=30)


#: Where Microsoft Entra publishes a tenant's issuer and signing keys (ENTRA.md §2.3).
ENTRA_LOGIN = "https://login.microsoftonline.com"


def entra_issuer(tenant: str) -> str:
    """The ``iss`` of the tokens Entra signs for ``tenant`` (its v2.0 endpoint)."""
    return f"{ENTRA_LOGIN}/{tenant}/v2.0"


def entra_jwks_uri(tenant: str) -> str:
    """Where Entra publishes the keys that sign ``tenant``'s tokens."""
    return f"{ENTRA_LOGIN}/{tenant}/discovery/v2.0/keys"


@dataclass(frozen=True)
class FederatedTrust:
    """A client's workload identity federation (RFC 7523 client assertion): an assertion signed by a key
    of ``jwks_uri``, with this ``iss``, ``aud``, ``sub`` and (when present) ``tid``, authenticates the
    client. Build one with ``for_tenant``, which fills the issuer and JWKS URI Entra uses."""

    client_id: str
    tenant: str
    issuer: str
    audience: str
    subject: str
    jwks_uri: str

    @classmethod
    def for_tenant(cls, client_id: str, tenant: str, *, audience: str, subject: str, issuer: str | None = None,
                   jwks_uri: str | None = None) -> FederatedTrust:
        """The trust, its issuer and JWKS URI Entra's defaults for ``tenant`` unless given."""
        return cls(client_id=client_id, tenant=tenant, issuer=issuer or entra_issuer(tenant), audience=audience,
                   subject=subject, jwks_uri=jwks_uri or entra_jwks_uri(tenant))


@dataclass(frozen=True)
class ClientSecretGrant:
    """A secret with what decides whether it may be exchanged for an access token, read together: its
    client, and its organisation's API access."""

    secret: ClientSecret
    client: OAuthClient
    organisation_api_access: bool


@dataclass(frozen=True)
class AccessToken:
    """An access token issued at the token endpoint, as stored: only its digest. ``secret_id`` is the
    secret it was issued under, None when a client assertion authenticated the client."""

    id: str
    client_id: str
    secret_id: str | None
    organisation_id: str
    digest: str
    created: datetime
    expires: datetime

    def expired(self, now: datetime) -> bool:
        return now >= self.expires


@dataclass(frozen=True)
class AccessTokenGrant:
    """An access token with everything else that decides whether it may be used, read together: its
    client, the secret it was issued under (None if issued on an assertion), its organisation's API access."""

    token: AccessToken
    client: OAuthClient
    secret: ClientSecret | None
    organisation_api_access: bool


@dataclass(frozen=True)
class Principal:
    """Who a request acts for, once its token has been accepted: an admin (through their API token) or an
    organisation's OAuth client (through an access token; ``admin_id`` is then None, and ``token_id`` the
    access token's id)."""

    organisation_id: str
    admin_id: str | None
    token_id: str
    client_id: str | None = None
