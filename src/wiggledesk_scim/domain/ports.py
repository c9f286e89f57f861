"""The ports: what the domain needs from storage, time, identifiers and token checking.

Each port is an ABC so that an adapter missing a method fails when it is built, not when it is called,
and ``grep "(MemberRepository)"`` finds every adapter. Adapters live in ``adapters/`` (and the token
authority over stored tokens in ``access.py``).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime

from .activity import Activity
from .model import ApiToken, Member, Organisation, Principal, TokenGrant
from .query import MemberQuery, Page
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
    def search(self, organisation_id: str, query: MemberQuery) -> Page:
        """The page of members matching ``query.filter``, in the query's order (``sort_by``, then always
        creation time and id; see ``MemberQuery``).

        ``Page.total`` counts every match before paging (RFC 7644 §3.4.2.4); paging happens in the
        store, never after it.
        """

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
    def list_for_organisation(self, organisation_id: str) -> list[ApiToken]:
        """The organisation's tokens, oldest first."""


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
    tokens: ApiTokenRepository
    activity: ActivityTrail

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
