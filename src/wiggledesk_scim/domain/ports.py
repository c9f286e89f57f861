"""The ports: what the domain needs from storage, time, identifiers, token and client-assertion checking.

Each port is an ABC so that an adapter missing a method fails when it is built, not when it is called,
and ``grep "(MemberRepository)"`` finds every adapter. Adapters live in ``adapters/`` (and the token
authority over stored tokens in ``access.py``).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import replace
from datetime import datetime
from typing import Callable, Iterable, Iterator, Sequence, TypeVar

from .activity import Activity
from .model import (AccessToken, AccessTokenGrant, ApiToken, ClientSecret, ClientSecretGrant, FederatedTrust, Member,
                    OAuthClient, Organisation, Principal, Reference, Rendition, Team, TokenGrant, case_key)
from .query import Page, Query
from .registry import Leaf


class OrganisationRepository(ABC):
    @abstractmethod
    def add(self, organisation: Organisation) -> None:
        """Store a new organisation."""

    @abstractmethod
    def get(self, organisation_id: str) -> Organisation:
        """The organisation with this id; raises ``NotFound``."""

    @abstractmethod
    def update(self, organisation: Organisation) -> None:
        """Store the new state of an existing organisation; raises ``NotFound``."""

    @abstractmethod
    def list(self) -> list[Organisation]:
        """Every organisation, ordered by name then id."""

    def named(self, name: str) -> list[Organisation]:
        """Every organisation whose name is ``name`` ignoring case (compared by ``case_key``, as userNames
        are), ordered by name then id; several if names were let repeat (``onboard --allow-duplicate-name``).

        Compared here, over ``list()``, for every store alike: SQLite's ``lower()`` knows ASCII only, and
        organisations have no key column to index. There is one per customer, and only ops commands look
        one up by name, never a SCIM request. A store with such an index may answer from it instead."""
        key = case_key(name)
        return [organisation for organisation in self.list() if case_key(organisation.name) == key]


class Rendering(ABC):
    """How members are rendered for reading (the SCIM layer's User document), in a form a store may keep
    beside each member, written with every change of the member, so that reads need not rebuild members.

    Every text ``render`` makes starts with ``head(member.version)``: a store serves a kept text only if it
    is ``kept`` for the member's stored version, so that a text an earlier release rendered differently
    (another ``form``), or left behind when it changed the member without rendering it again, is rendered
    anew, never served."""

    #: What this release's texts are rendered by (``head``).
    form: str

    @abstractmethod
    def render(self, member: Member) -> str:
        """``member``'s text, headed by ``head(member.version)``."""

    def head(self, version: int) -> str:
        return f"{self.form}:{version}\n"

    def kept(self, text: str | None, version: int) -> bool:
        """Whether a store's kept ``text`` (None: none) is this rendering's of the member at ``version``."""
        return text is not None and text.startswith(self.head(version))

    def rendition(self, member: Member) -> Rendition:
        return Rendition(member.id, member.version, self.render(member))


class MemberRepository(ABC):
    """Members, always within one organisation: every call names it, and another organisation's
    members are indistinguishable from members that never existed.

    Returned members are values (immutable), so nothing a caller does changes what is stored until
    ``add`` or ``update``. Uniqueness within an organisation (userName ignoring case, externalId
    exactly) is enforced by the store itself, so two concurrent writers cannot both win.
    """

    @abstractmethod
    def add(self, member: Member) -> None:
        """Store a new member; raises ``UniquenessConflict`` naming the attribute that is taken."""

    @abstractmethod
    def get(self, organisation_id: str, member_id: str) -> Member:
        """The member; raises ``NotFound`` (also for another organisation's member or a malformed id)."""

    @abstractmethod
    def find(self, organisation_id: str, *, user_name: str | None = None,
             external_id: str | None = None) -> Member | None:
        """The member holding this userName (compared by ``user_name_key``) or this externalId (exactly).

        Exactly one of the two is given; these are the lookups Entra runs every cycle, so they are
        index-backed in every store that has indexes.
        """

    @abstractmethod
    def search(self, organisation_id: str, query: Query) -> Page:
        """The page of members matching ``query.filter``, in the query's order (``sort_by``, then always
        creation time and id; see ``Query``).

        ``Page.total`` counts every match before paging (RFC 7644 §3.4.2.4); paging happens in the
        store, never after it.
        """

    def rendition(self, organisation_id: str, member_id: str, rendering: Rendering) -> Rendition:
        """The member as ``rendering`` renders them, as ``get`` raises. Rendered from the member here; a
        store that keeps a rendering's text beside each member (written with every change of the member)
        answers from it, without rebuilding the member."""
        return rendering.rendition(self.get(organisation_id, member_id))

    def search_renditions(self, organisation_id: str, query: Query, rendering: Rendering) -> Page:
        """``search``'s page with each member as ``rendering`` renders them (``rendition``)."""
        page = self.search(organisation_id, query)
        return replace(page, resources=tuple(rendering.rendition(member) for member in page.resources))

    def refresh_renditions(self, rendering: Rendering, after: str | None, limit: int) -> tuple[int, int, str | None]:
        """For a store that keeps ``rendering``'s texts: render again, and keep, those of up to ``limit``
        members (of every organisation, in the store's order of ids, from the first after ``after``) that are not
        ``kept`` for the member's version. How many it rendered, how many members it looked at, and the
        last id looked at (None once there are no more). A store that keeps no texts has none to refresh."""
        return 0, 0, None

    @abstractmethod
    def update(self, member: Member, *, expected_version: int, changes: tuple[Leaf, ...] | None = None) -> None:
        """Replace the stored member with ``member`` if its stored version is still ``expected_version``.

        ``changes``, when given, are the leaves of ``member.fields`` that differ from the member stored at
        ``expected_version`` (``ResourceType.diff``), and nothing else differs but the version and
        lastModified: a store may then write only those. Raises ``NotFound`` if it is gone, ``VersionMismatch`` if someone
        changed it since it was read, ``UniquenessConflict`` if the new userName or externalId is taken.
        """

    @abstractmethod
    def remove(self, organisation_id: str, member_id: str, *, expected_version: int | None = None) -> None:
        """Delete the member for good, with their tokens; raises ``NotFound``, and ``VersionMismatch``
        if ``expected_version`` is given and the stored version is another (conditional, like update)."""

    @abstractmethod
    def count(self, organisation_id: str) -> int:
        """How many members the organisation has."""

    @abstractmethod
    def existing(self, organisation_id: str, member_ids: Sequence[str]) -> frozenset[str]:
        """Which of ``member_ids`` are members of the organisation (one indexed read, whatever the ids)."""


T = TypeVar("T")


class TeamRepository(ABC):
    """Teams, always within one organisation, as members are; and their memberships, one stored row per
    member and team, so that every membership operation costs in proportion to the members it names,
    never to the team's size.

    displayName is unique within an organisation ignoring case, externalId exactly, enforced by the store.
    Memberships hold only members of the team's organisation: the callers check the ids they add
    (``MemberRepository.existing``), and a store that can also refuses one to a member deleted meanwhile.
    A membership change does not change the team's version by itself: the caller stores the ``touched``
    team with ``update(..., changes=())``.
    """

    @abstractmethod
    def add(self, team: Team) -> None:
        """Store a new team, without members; raises ``UniquenessConflict`` naming the attribute taken."""

    @abstractmethod
    def get(self, organisation_id: str, team_id: str) -> Team:
        """The team; raises ``NotFound`` (also for another organisation's team or a malformed id)."""

    @abstractmethod
    def search(self, organisation_id: str, query: Query) -> Page:
        """The page of teams matching ``query`` (as ``MemberRepository.search``; ``members.value`` filters
        by membership)."""

    @abstractmethod
    def update(self, team: Team, *, expected_version: int, changes: tuple[Leaf, ...] | None = None) -> None:
        """Store ``team`` if its stored version is still ``expected_version`` (as ``MemberRepository.update``;
        ``changes=()`` for a new version of a team whose content did not change)."""

    @abstractmethod
    def remove(self, organisation_id: str, team_id: str, *, expected_version: int | None = None) -> None:
        """Delete the team and its memberships (never its members); raises ``NotFound``, ``VersionMismatch``."""

    @abstractmethod
    def add_members(self, organisation_id: str, team_id: str, member_ids: Sequence[str]) -> int:
        """Make the members (of the organisation, checked by the caller) members of the team; how many were
        not already. Raises ``InvalidValue`` if one of them was deleted meanwhile."""

    @abstractmethod
    def remove_members(self, organisation_id: str, team_id: str, member_ids: Sequence[str]) -> int:
        """Take them out of the team; how many were in it (an id that was not is no error)."""

    @abstractmethod
    def remove_all_members(self, organisation_id: str, team_id: str) -> int:
        """Empty the team; how many members it had."""

    @abstractmethod
    def members(self, organisation_id: str, team_id: str, read: Callable[[Iterator[Reference]], T]) -> T:
        """``read`` applied to the team's members in order of id, each with the name shown for them (their
        displayName, else their userName). ``read`` runs while the store reads, so a store may hand it the
        members in batches as they come, and a 100,000-member team is never a list in memory."""

    @abstractmethod
    def teams_of(self, organisation_id: str, member_ids: Sequence[str]) -> dict[str, tuple[Reference, ...]]:
        """For each of the members in a team, their teams (id and displayName), ordered by team id; one
        read for all of them."""

    @abstractmethod
    def member_counts(self, organisation_id: str, team_ids: Iterable[str]) -> dict[str, int]:
        """How many members each of the teams has (one read)."""

    @abstractmethod
    def leave_all(self, organisation_id: str, member_id: str, at: datetime) -> int:
        """The member is leaving for good: take them out of every team, each team ``touched`` at ``at``;
        how many teams. One statement's worth of work per table, however many teams."""


class ApiTokenRepository(ABC):
    @abstractmethod
    def add(self, token: ApiToken) -> None:
        """Store a new token (its digest; the secret is never stored)."""

    @abstractmethod
    def find_grant(self, digest: str) -> TokenGrant | None:
        """The token whose digest is ``digest``, revoked or not, with its owner's and organisation's
        settings, in one read (every request's token check makes it); None if there is no such token."""

    @abstractmethod
    def get(self, token_id: str) -> ApiToken:
        """The token with this id, revoked or not; raises ``NotFound``."""

    @abstractmethod
    def mark_used(self, token_id: str, at: datetime) -> None:
        """Record that the token was last used at ``at``."""

    @abstractmethod
    def revoke(self, token_id: str, at: datetime) -> None:
        """Record that the token was revoked at ``at``; raises ``NotFound``. A token revoked already
        keeps its first revocation time."""

    @abstractmethod
    def revoke_all_of(self, organisation_id: str, admin_id: str, at: datetime) -> int:
        """Revoke, at ``at``, every token of the admin not revoked yet (those revoked keep their time);
        how many that was. The tokens stay, naming their owner, after the owner is deleted."""

    @abstractmethod
    def list_for_organisation(self, organisation_id: str) -> list[ApiToken]:
        """The organisation's tokens, oldest first."""


class OAuthClientRepository(ABC):
    """OAuth clients, their secrets (digests only) and their federated trusts. Returned values are
    immutable; ids are global (a client id names its organisation), so callers check the organisation
    where it matters."""

    @abstractmethod
    def add(self, client: OAuthClient) -> None:
        """Store a new client."""

    @abstractmethod
    def get(self, client_id: str) -> OAuthClient:
        """The client, revoked or not; raises ``NotFound`` (also for a malformed id)."""

    @abstractmethod
    def list_for_organisation(self, organisation_id: str) -> list[OAuthClient]:
        """The organisation's clients, revoked or not, oldest first."""

    @abstractmethod
    def revoke(self, client_id: str, at: datetime) -> None:
        """Record that the client was revoked at ``at``; raises ``NotFound``. A client revoked already keeps
        its first revocation time."""

    @abstractmethod
    def mark_used(self, client_id: str, at: datetime) -> None:
        """Record that the client was last issued an access token at ``at`` (nothing if it is gone)."""

    @abstractmethod
    def add_secret(self, secret: ClientSecret) -> None:
        """Store a new secret (its digest; the secret itself is never stored) of an existing client."""

    @abstractmethod
    def get_secret(self, secret_id: str) -> ClientSecret:
        """The secret, revoked or not; raises ``NotFound``."""

    @abstractmethod
    def secrets_of(self, client_id: str) -> list[ClientSecret]:
        """The client's secrets, revoked or not, oldest first."""

    @abstractmethod
    def secret_by_digest(self, digest: str) -> ClientSecretGrant | None:
        """The secret whose digest is ``digest``, revoked or not, with its client and its organisation's API
        access, in one read (every client-secret exchange makes it); None if there is no such secret."""

    @abstractmethod
    def mark_secret_used(self, secret_id: str, at: datetime) -> None:
        """Record that the secret was last exchanged for an access token at ``at`` (nothing if it is gone)."""

    @abstractmethod
    def revoke_secret(self, secret_id: str, at: datetime) -> None:
        """Record that the secret was revoked at ``at``; raises ``NotFound``. Keeps a first revocation time."""

    @abstractmethod
    def set_trust(self, trust: FederatedTrust) -> None:
        """Make ``trust`` the federated trust of its client (replacing any); the client exists."""

    @abstractmethod
    def get_trust(self, client_id: str) -> FederatedTrust | None:
        """The client's federated trust; None if it has none."""


class AccessTokenRepository(ABC):
    """Access tokens issued at the token endpoint (digests only). Never updated: a token ends by expiring,
    or with its secret or client."""

    @abstractmethod
    def add(self, token: AccessToken) -> None:
        """Store a new access token."""

    @abstractmethod
    def grant_by_digest(self, digest: str) -> AccessTokenGrant | None:
        """The access token whose digest is ``digest``, expired or not, with its client, the secret it was
        issued under and its organisation's API access, in one read (every request's token check makes
        it); None if there is no such token."""

    @abstractmethod
    def prune_expired(self, before: datetime) -> int:
        """Delete every access token that expired before ``before``; how many were deleted."""


class ClientAssertionVerifier(ABC):
    """Checks a client assertion (RFC 7523 §2.2, as Entra signs it: ENTRA.md §2.3) against a trust."""

    @abstractmethod
    def verify(self, assertion: str, trust: FederatedTrust, now: datetime) -> None:
        """Return if ``assertion`` passes every check for ``trust`` at ``now``; raise ``AssertionRefused``
        naming the check that failed (for the log; never the assertion) otherwise. May fetch keys."""


class ActivityTrail(ABC):
    """The provisioning activity trail (``activity.py``), newest first when read."""

    @abstractmethod
    def record(self, activity: Activity) -> None:
        """Add ``activity`` in this unit's transaction: it commits or rolls back with the change it
        describes."""

    @abstractmethod
    def record_apart(self, activity: Activity) -> None:
        """Add ``activity`` whatever becomes of this unit's transaction (a refusal, whose request rolls
        back): written after the unit's current transaction has ended, at the latest when the unit is
        closed (the in-memory unit writes it as soon as no block is open; the SQL units when closed)."""

    @abstractmethod
    def list(self, organisation_id: str, *, since: datetime | None = None, member_id: str | None = None,
             event: str | None = None, limit: int = 100) -> list[Activity]:
        """The organisation's records, newest first (records of one instant: the last written first),
        at ``since`` or later, of one member or one event if given, at most ``limit``."""

    @abstractmethod
    def counts(self, since: datetime, organisation_id: str | None = None) -> dict[str, dict[str, int]]:
        """Per organisation (only ``organisation_id``'s if given), how many records of each event are at
        ``since`` or later: ``{organisation_id: {event: count}}``, leaving out what has none."""

    @abstractmethod
    def prune(self, before: datetime) -> int:
        """Delete every record (of every organisation) older than ``before``; how many were deleted."""


class UnitOfWork(ABC):
    """The only way to change stored state: ``with uow: ...; uow.commit()``.

    Leaving the block without ``commit()`` discards the work. What ``commit()`` means is the adapter's
    business: the SQLAlchemy one flushes and leaves the real COMMIT to the request's transaction
    manager; the in-memory one keeps its changes.
    """

    organisations: OrganisationRepository
    members: MemberRepository
    teams: TeamRepository
    tokens: ApiTokenRepository
    activity: ActivityTrail
    clients: OAuthClientRepository
    access_tokens: AccessTokenRepository

    @abstractmethod
    def __enter__(self) -> "UnitOfWork":
        ...

    @abstractmethod
    def __exit__(self, *exc_info) -> None:
        ...

    @abstractmethod
    def commit(self) -> None:
        ...


class TokenAuthority(ABC):
    @abstractmethod
    def authenticate(self, bearer_token: str | None) -> Principal:
        """Who the token acts for; raises ``AccessRefused`` (``forbidden`` set for a genuine token whose
        API access is switched off) with a detail saying what the admin must change."""

    @abstractmethod
    def issue(self, organisation_id: str, admin_id: str) -> str:
        """A new token for this admin; the plaintext is returned once and only its digest is stored.
        Raises ``NotFound``, or ``TokenNotIssued`` (every reason told) if the admin could not use it."""

    def forget_admin(self, organisation_id: str, admin_id: str) -> None:
        """The admin was just changed or deleted: what is known of their tokens must be checked again
        (an authority that remembers accepted tokens drops them; others have nothing to do)."""


class Clock(ABC):
    @abstractmethod
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""


class IdGenerator(ABC):
    @abstractmethod
    def new_id(self) -> str:
        """A new unique id (a UUID in production)."""
