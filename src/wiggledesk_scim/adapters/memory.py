"""In-memory storage: a product feature (``wiggledesk.storage = memory``) as much as the unit tests' store.

All state lives in one ``InMemoryStore`` of plain dicts. A unit of work holds the store's lock for its
whole block and restores a snapshot unless ``commit()`` was called, which gives the database's
all-or-nothing behaviour, also under waitress's threads. Nothing survives the process.
"""
from __future__ import annotations

import copy
import threading
from dataclasses import replace
from datetime import datetime
from typing import Callable, Iterable, Iterator, Sequence, TypeVar

from ..domain import catalogue as c
from ..domain.activity import Activity
from ..domain.errors import InvalidValue, NotFound, UniquenessConflict, VersionMismatch
from ..domain.model import (AccessToken, AccessTokenGrant, ApiToken, ClientSecret, ClientSecretGrant, FederatedTrust,
                            Member, OAuthClient, Organisation, Reference, Team, TokenGrant, case_key)
from ..domain.ports import (AccessTokenRepository, ActivityTrail, ApiTokenRepository, MemberRepository,
                            OAuthClientRepository, OrganisationRepository, TeamRepository, UnitOfWork)
from ..domain.query import STRING, And, AnyValue, Compare, Filter, Not, Operator, Or, Page, Path, Present, Query
from ..domain.registry import GROUP, USER, Leaf, ResourceType

T = TypeVar("T")


class InMemoryStore:
    """The shared state of every in-memory unit of work built on it."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.organisations: dict[str, Organisation] = {}
        self.members: dict[str, Member] = {}
        self.tokens: dict[str, ApiToken] = {}
        self.teams: dict[str, Team] = {}
        #: Each team's members' ids. A team's set is never changed in place (a change builds a new one), so
        #: copying the dict is a snapshot of every membership.
        self.memberships: dict[str, frozenset[str]] = {}
        #: The activity trail, oldest first. Only ever appended to in place: pruning builds a new list,
        #: so a snapshot is the list and its length, however long the trail.
        self.activity: list[Activity] = []
        self.clients: dict[str, OAuthClient] = {}
        self.client_secrets: dict[str, ClientSecret] = {}
        #: By client id.
        self.trusts: dict[str, FederatedTrust] = {}
        #: By digest, the one way they are looked up (on every request), so that finding one costs the
        #: same however many a busy organisation's client has fetched.
        self.access_tokens: dict[str, AccessToken] = {}

    def snapshot(self) -> tuple:
        # The values are immutable, so copying the dicts is a full snapshot.
        return (dict(self.organisations), dict(self.members), dict(self.tokens), dict(self.teams),
                dict(self.memberships), dict(self.clients), dict(self.client_secrets), dict(self.trusts),
                dict(self.access_tokens), (self.activity, len(self.activity)))

    def restore(self, snapshot: tuple) -> None:
        *parts, (activity, length) = snapshot
        (self.organisations, self.members, self.tokens, self.teams, self.memberships, self.clients,
         self.client_secrets, self.trusts, self.access_tokens) = (copy.copy(part) for part in parts)
        del activity[length:]
        self.activity = activity


class InMemoryOrganisationRepository(OrganisationRepository):
    def __init__(self, store: InMemoryStore):
        self.store = store

    def add(self, organisation: Organisation) -> None:
        self.store.organisations[organisation.id] = organisation

    def get(self, organisation_id: str) -> Organisation:
        try:
            return self.store.organisations[organisation_id]
        except KeyError:
            raise NotFound(f"No organisation with id {organisation_id}") from None

    def update(self, organisation: Organisation) -> None:
        self.get(organisation.id)
        self.store.organisations[organisation.id] = organisation

    def list(self) -> list[Organisation]:
        return sorted(self.store.organisations.values(), key=lambda o: (o.name, o.id))


class InMemoryMemberRepository(MemberRepository):
    """``users``: the declaration whose ``uniqueness: server`` attributes the store keeps unique."""

    def __init__(self, store: InMemoryStore, users: ResourceType = USER):
        self.store = store
        self.users = users

    def _members_of(self, organisation_id: str) -> list[Member]:
        return [m for m in self.store.members.values() if m.organisation_id == organisation_id]

    def _check_unique(self, member: Member) -> None:
        for path in self.users.unique:
            key = _comparable(path, path.read(member))
            if key is None:
                continue  # an unassigned value collides with nothing (as NULL in a unique index)
            for other in self._members_of(member.organisation_id):
                if other.id != member.id and _comparable(path, path.read(other)) == key:
                    raise UniquenessConflict(path.path, path.read(member))

    def add(self, member: Member) -> None:
        self._check_unique(member)
        self.store.members[member.id] = member

    def get(self, organisation_id: str, member_id: str) -> Member:
        member = self.store.members.get(member_id)
        if member is None or member.organisation_id != organisation_id:
            raise NotFound(c.NO_MEMBER.format(id=member_id))
        return member

    def find(self, organisation_id: str, *, user_name: str | None = None,
             external_id: str | None = None) -> Member | None:
        for member in self._members_of(organisation_id):
            if user_name is not None and case_key(member.user_name) == case_key(user_name):
                return member
            if external_id is not None and member.external_id == external_id:
                return member
        return None

    def search(self, organisation_id: str, query: Query) -> Page:
        matches = ordered([m for m in self._members_of(organisation_id)
                           if query.filter is None or matches_filter(m, query.filter)], query)
        start = max(query.start_index, 1)
        page = matches[start - 1:start - 1 + max(query.count, 0)]
        return Page(total=len(matches), resources=tuple(page), start_index=start)

    def update(self, member: Member, *, expected_version: int, changes: tuple[Leaf, ...] | None = None) -> None:
        stored = self.get(member.organisation_id, member.id)
        if stored.version != expected_version:
            raise VersionMismatch(c.CHANGED_SINCE.format(resource="Member", id=member.id, version=expected_version))
        self._check_unique(member)
        self.store.members[member.id] = member

    def remove(self, organisation_id: str, member_id: str, *, expected_version: int | None = None) -> None:
        stored = self.get(organisation_id, member_id)
        if expected_version is not None and stored.version != expected_version:
            raise VersionMismatch(c.CHANGED_SINCE.format(resource="Member", id=member_id, version=expected_version))
        del self.store.members[member_id]
        # As the SQL stores' foreign keys do, whatever the caller did first (``TeamRepository.leave_all``).
        for team_id, member_ids in list(self.store.memberships.items()):
            if member_id in member_ids:
                self.store.memberships[team_id] = member_ids - {member_id}

    def count(self, organisation_id: str) -> int:
        return len(self._members_of(organisation_id))

    def existing(self, organisation_id: str, member_ids: Sequence[str]) -> frozenset[str]:
        members = self.store.members
        return frozenset(member_id for member_id in member_ids
                         if member_id in members and members[member_id].organisation_id == organisation_id)


class _WithMembers:
    """A team as a filter reads it: the team's own attributes, and its members as ``members`` (the
    collection kept apart, ``registry.ResourceType.collections``), looked up only if a filter asks."""

    __slots__ = ("team", "_member_ids")

    def __init__(self, team: Team, member_ids: frozenset[str]):
        self.team = team
        self._member_ids = member_ids

    @property
    def members(self) -> tuple[Reference, ...]:
        return tuple(Reference(member_id) for member_id in sorted(self._member_ids))

    def __getattr__(self, name: str):
        return getattr(self.team, name)


class InMemoryTeamRepository(TeamRepository):
    def __init__(self, store: InMemoryStore, groups: ResourceType = GROUP):
        self.store = store
        self.groups = groups

    def _teams_of(self, organisation_id: str) -> list[Team]:
        return [t for t in self.store.teams.values() if t.organisation_id == organisation_id]

    def _check_unique(self, team: Team) -> None:
        for path in self.groups.unique:
            key = _comparable(path, path.read(team))
            if key is None:
                continue
            for other in self._teams_of(team.organisation_id):
                if other.id != team.id and _comparable(path, path.read(other)) == key:
                    value = path.read(team)
                    raise UniquenessConflict(path.path, value,
                                             c.VALUE_TAKEN_BY_TEAM.format(attribute=path.path, value=value))

    def add(self, team: Team) -> None:
        self._check_unique(team)
        self.store.teams[team.id] = team
        self.store.memberships[team.id] = frozenset()

    def get(self, organisation_id: str, team_id: str) -> Team:
        team = self.store.teams.get(team_id) if isinstance(team_id, str) else None
        if team is None or team.organisation_id != organisation_id:
            raise NotFound(c.NO_TEAM.format(id=team_id))
        return team

    def search(self, organisation_id: str, query: Query) -> Page:
        candidates = [_WithMembers(team, self.store.memberships[team.id]) for team in self._teams_of(organisation_id)]
        matches = ordered([t for t in candidates if query.filter is None or matches_filter(t, query.filter)], query)
        start = max(query.start_index, 1)
        page = matches[start - 1:start - 1 + max(query.count, 0)]
        return Page(total=len(matches), resources=tuple(t.team for t in page), start_index=start)

    def update(self, team: Team, *, expected_version: int, changes: tuple[Leaf, ...] | None = None) -> None:
        stored = self.get(team.organisation_id, team.id)
        if stored.version != expected_version:
            raise VersionMismatch(c.CHANGED_SINCE.format(resource="Team", id=team.id, version=expected_version))
        self._check_unique(team)
        self.store.teams[team.id] = team

    def remove(self, organisation_id: str, team_id: str, *, expected_version: int | None = None) -> None:
        stored = self.get(organisation_id, team_id)
        if expected_version is not None and stored.version != expected_version:
            raise VersionMismatch(c.CHANGED_SINCE.format(resource="Team", id=team_id, version=expected_version))
        del self.store.teams[team_id]
        del self.store.memberships[team_id]

    def add_members(self, organisation_id: str, team_id: str, member_ids: Sequence[str]) -> int:
        self.get(organisation_id, team_id)
        current = self.store.memberships[team_id]
        new = frozenset(member_ids) - current
        members = self.store.members
        gone = [m for m in member_ids if m in new and (m not in members or members[m].organisation_id != organisation_id)]
        if gone:
            raise InvalidValue(c.NOT_A_USER.format(ids=gone[0]))
        self.store.memberships[team_id] = current | new
        return len(new)

    def remove_members(self, organisation_id: str, team_id: str, member_ids: Sequence[str]) -> int:
        self.get(organisation_id, team_id)
        current = self.store.memberships[team_id]
        leaving = current & frozenset(member_ids)
        self.store.memberships[team_id] = current - leaving
        return len(leaving)

    def remove_all_members(self, organisation_id: str, team_id: str) -> int:
        self.get(organisation_id, team_id)
        count = len(self.store.memberships[team_id])
        self.store.memberships[team_id] = frozenset()
        return count

    def _references(self, team_id: str) -> tuple[Reference, ...]:
        members = self.store.members
        return tuple(Reference(member_id, members[member_id].fields.display_name or members[member_id].user_name)
                     for member_id in sorted(self.store.memberships.get(team_id, ())))

    def members(self, organisation_id: str, team_id: str, read: Callable[[Iterator[Reference]], T]) -> T:
        self.get(organisation_id, team_id)
        return read(iter(self._references(team_id)))

    def teams_of(self, organisation_id: str, member_ids: Sequence[str]) -> dict[str, tuple[Reference, ...]]:
        wanted = frozenset(member_ids)
        found: dict[str, list[Reference]] = {}
        for team in sorted(self._teams_of(organisation_id), key=lambda t: t.id):
            for member_id in self.store.memberships[team.id] & wanted:
                found.setdefault(member_id, []).append(Reference(team.id, team.display_name))
        return {member_id: tuple(teams) for member_id, teams in found.items()}

    def member_counts(self, organisation_id: str, team_ids: Iterable[str]) -> dict[str, int]:
        return {team_id: len(self.store.memberships[team_id]) for team_id in team_ids
                if team_id in self.store.teams and self.store.teams[team_id].organisation_id == organisation_id}

    def leave_all(self, organisation_id: str, member_id: str, at: datetime) -> int:
        left = 0
        for team in self._teams_of(organisation_id):
            member_ids = self.store.memberships[team.id]
            if member_id in member_ids:
                self.store.memberships[team.id] = member_ids - {member_id}
                self.store.teams[team.id] = team.touched(at)
                left += 1
        return left


class InMemoryApiTokenRepository(ApiTokenRepository):
    def __init__(self, store: InMemoryStore):
        self.store = store

    def add(self, token: ApiToken) -> None:
        self.store.tokens[token.id] = token

    def find_by_digest(self, digest: str) -> ApiToken | None:
        """The token whose SHA-256 digest is ``digest``, revoked or not; None if there is none."""
        return next((token for token in self.store.tokens.values() if token.digest == digest), None)

    def find_grant(self, digest: str) -> TokenGrant | None:
        token = self.find_by_digest(digest)
        if token is None:
            return None
        organisation = self.store.organisations.get(token.organisation_id)
        if organisation is None:
            return None
        owner = self.store.members.get(token.admin_id)
        if owner is None or owner.organisation_id != token.organisation_id:
            return TokenGrant(token=token, organisation_api_access=organisation.api_access, owner_active=False,
                              owner_is_admin=False, owner_api_access=False, owner_deleted=True)
        return TokenGrant(token=token, organisation_api_access=organisation.api_access,
                          owner_active=owner.active, owner_is_admin=owner.is_admin,
                          owner_api_access=owner.api_access)

    def get(self, token_id: str) -> ApiToken:
        token = self.store.tokens.get(token_id) if isinstance(token_id, str) else None
        if token is None:
            raise NotFound(f"No API token with id {token_id}")
        return token

    def mark_used(self, token_id: str, at: datetime) -> None:
        token = self.store.tokens.get(token_id)
        if token is not None:
            self.store.tokens[token_id] = replace(token, last_used=at)

    def revoke(self, token_id: str, at: datetime) -> None:
        token = self.get(token_id)
        if token.revoked is None:
            self.store.tokens[token_id] = replace(token, revoked=at)

    def revoke_all_of(self, organisation_id: str, admin_id: str, at: datetime) -> int:
        revoking = [token for token in self.store.tokens.values() if token.organisation_id == organisation_id
                    and token.admin_id == admin_id and token.revoked is None]
        for token in revoking:
            self.store.tokens[token.id] = replace(token, revoked=at)
        return len(revoking)

    def list_for_organisation(self, organisation_id: str) -> list[ApiToken]:
        return sorted((t for t in self.store.tokens.values() if t.organisation_id == organisation_id),
                      key=lambda t: (t.created, t.id))


class InMemoryOAuthClientRepository(OAuthClientRepository):
    def __init__(self, store: InMemoryStore):
        self.store = store

    def add(self, client: OAuthClient) -> None:
        self.store.clients[client.id] = client

    def get(self, client_id: str) -> OAuthClient:
        client = self.store.clients.get(client_id) if isinstance(client_id, str) else None
        if client is None:
            raise NotFound(f"No OAuth client with id {client_id}")
        return client

    def list_for_organisation(self, organisation_id: str) -> list[OAuthClient]:
        return sorted((c for c in self.store.clients.values() if c.organisation_id == organisation_id),
                      key=lambda c: (c.created, c.id))

    def revoke(self, client_id: str, at: datetime) -> None:
        client = self.get(client_id)
        if client.revoked is None:
            self.store.clients[client_id] = replace(client, revoked=at)

    def mark_used(self, client_id: str, at: datetime) -> None:
        client = self.store.clients.get(client_id)
        if client is not None:
            self.store.clients[client_id] = replace(client, last_used=at)

    def add_secret(self, secret: ClientSecret) -> None:
        self.store.client_secrets[secret.id] = secret

    def get_secret(self, secret_id: str) -> ClientSecret:
        secret = self.store.client_secrets.get(secret_id) if isinstance(secret_id, str) else None
        if secret is None:
            raise NotFound(f"No client secret with id {secret_id}")
        return secret

    def secrets_of(self, client_id: str) -> list[ClientSecret]:
        return sorted((s for s in self.store.client_secrets.values() if s.client_id == client_id),
                      key=lambda s: (s.created, s.id))

    def secret_by_digest(self, digest: str) -> ClientSecretGrant | None:
        secret = next((s for s in self.store.client_secrets.values() if s.digest == digest), None)
        client = None if secret is None else self.store.clients.get(secret.client_id)
        organisation = None if client is None else self.store.organisations.get(client.organisation_id)
        if organisation is None:
            return None
        return ClientSecretGrant(secret=secret, client=client, organisation_api_access=organisation.api_access)

    def mark_secret_used(self, secret_id: str, at: datetime) -> None:
        secret = self.store.client_secrets.get(secret_id)
        if secret is not None:
            self.store.client_secrets[secret_id] = replace(secret, last_used=at)

    def revoke_secret(self, secret_id: str, at: datetime) -> None:
        secret = self.get_secret(secret_id)
        if secret.revoked is None:
            self.store.client_secrets[secret_id] = replace(secret, revoked=at)

    def set_trust(self, trust: FederatedTrust) -> None:
        self.store.trusts[trust.client_id] = trust

    def get_trust(self, client_id: str) -> FederatedTrust | None:
        return self.store.trusts.get(client_id)


class InMemoryAccessTokenRepository(AccessTokenRepository):
    def __init__(self, store: InMemoryStore):
        self.store = store

    def add(self, token: AccessToken) -> None:
        self.store.access_tokens[token.digest] = token

    def grant_by_digest(self, digest: str) -> AccessTokenGrant | None:
        token = self.store.access_tokens.get(digest)
        client = None if token is None else self.store.clients.get(token.client_id)
        organisation = None if client is None else self.store.organisations.get(client.organisation_id)
        if organisation is None:
            return None
        secret = None if token.secret_id is None else self.store.client_secrets.get(token.secret_id)
        if token.secret_id is not None and secret is None:
            return None
        return AccessTokenGrant(token=token, client=client, secret=secret,
                                organisation_api_access=organisation.api_access)

    def prune_expired(self, before: datetime) -> int:
        expired = [key for key, token in self.store.access_tokens.items() if token.expires < before]
        for key in expired:
            del self.store.access_tokens[key]
        return len(expired)


class InMemoryActivityTrail(ActivityTrail):
    def __init__(self, store: InMemoryStore, uow: "InMemoryUnitOfWork"):
        self.store = store
        self.uow = uow

    def record(self, activity: Activity) -> None:
        self.store.activity.append(activity)

    def record_apart(self, activity: Activity) -> None:
        self.uow.after_block(lambda: self.store.activity.append(activity))

    def list(self, organisation_id: str, *, since: datetime | None = None, member_id: str | None = None,
             event: str | None = None, limit: int = 100) -> list[Activity]:
        found = [a for a in self.store.activity
                 if a.organisation_id == organisation_id and (since is None or a.at >= since)
                 and (member_id is None or a.member_id == member_id) and (event is None or a.event == event)]
        # Stable: records of one instant keep their order of writing, reversed with the rest.
        found.sort(key=lambda a: a.at)
        return found[::-1][:max(limit, 0)]

    def counts(self, since: datetime, organisation_id: str | None = None) -> dict[str, dict[str, int]]:
        counted: dict[str, dict[str, int]] = {}
        for a in self.store.activity:
            if a.at >= since and (organisation_id is None or a.organisation_id == organisation_id):
                per_event = counted.setdefault(a.organisation_id, {})
                per_event[a.event] = per_event.get(a.event, 0) + 1
        return counted

    def prune(self, before: datetime) -> int:
        kept = [a for a in self.store.activity if a.at >= before]
        pruned = len(self.store.activity) - len(kept)
        self.store.activity = kept
        return pruned


class InMemoryUnitOfWork(UnitOfWork):
    """Holds the store's lock for the block; restores the snapshot on exit unless committed."""

    def __init__(self, store: InMemoryStore, users: ResourceType = USER, groups: ResourceType = GROUP):
        self.store = store
        self.organisations = InMemoryOrganisationRepository(store)
        self.members = InMemoryMemberRepository(store, users)
        self.teams = InMemoryTeamRepository(store, groups)
        self.tokens = InMemoryApiTokenRepository(store)
        self.activity = InMemoryActivityTrail(store, self)
        self.clients = InMemoryOAuthClientRepository(store)
        self.access_tokens = InMemoryAccessTokenRepository(store)
        self._snapshots: list[tuple] = []
        self._committed: list[bool] = []
        self._after: list[Callable[[], None]] = []

    def __enter__(self) -> "InMemoryUnitOfWork":
        self.store.lock.acquire()
        self._snapshots.append(self.store.snapshot())
        self._committed.append(False)
        return self

    def __exit__(self, *exc_info) -> None:
        snapshot = self._snapshots.pop()
        committed = self._committed.pop()
        try:
            if not committed or exc_info[0] is not None:
                self.store.restore(snapshot)
            if not self._snapshots:
                self._run_after()
        finally:
            self.store.lock.release()

    def commit(self) -> None:
        self._committed[-1] = True

    def after_block(self, work: Callable[[], None]) -> None:
        """Do ``work`` once the outermost ``with`` block has ended, whatever its outcome; at once if
        none is open."""
        self._after.append(work)
        if not self._snapshots:
            with self.store.lock:
                self._run_after()

    def _run_after(self) -> None:
        work, self._after = self._after, []
        for each in work:
            each()


# -- evaluating the query model in Python (the semantics are in domain/query.py) -------------------

def _assigned(value) -> bool:
    return value is not None and value != ""


def _comparable(attribute: Path, value):
    if value is not None and attribute.type == STRING and not attribute.case_exact:
        return case_key(value)
    return value


def _compare(attribute: Path, operator: Operator, actual, expected) -> bool:
    if expected is None:
        return _assigned(actual) if operator is Operator.NE else not _assigned(actual)
    if not _assigned(actual):
        return operator is Operator.NE
    a, e = _comparable(attribute, actual), _comparable(attribute, expected)
    return {
        Operator.EQ: lambda: a == e, Operator.NE: lambda: a != e,
        Operator.CO: lambda: e in a, Operator.SW: lambda: a.startswith(e), Operator.EW: lambda: a.endswith(e),
        Operator.GT: lambda: a > e, Operator.GE: lambda: a >= e, Operator.LT: lambda: a < e,
        Operator.LE: lambda: a <= e,
    }[operator]()


def _holds(member: Member, node: Compare | Present, entry) -> bool:
    attribute = node.attribute
    value = attribute.read(member if attribute.collection is None else entry)
    if isinstance(node, Present):
        return _assigned(value)
    return _compare(attribute, node.operator, value, node.value)


def matches_filter(member: Member, node: Filter, entry=None, collection=None) -> bool:
    """Whether ``member`` satisfies ``node``; inside ``AnyValue``, sub-attributes of that ``collection``
    refer to its one ``entry``, while other attributes keep their whole-member meaning."""
    if isinstance(node, And):
        return (matches_filter(member, node.left, entry, collection)
                and matches_filter(member, node.right, entry, collection))
    if isinstance(node, Or):
        return (matches_filter(member, node.left, entry, collection)
                or matches_filter(member, node.right, entry, collection))
    if isinstance(node, Not):
        return not matches_filter(member, node.operand, entry, collection)
    if isinstance(node, AnyValue):
        return any(matches_filter(member, node.condition, e, node.collection)
                   for e in node.collection.entries(member))
    values_of = node.attribute.collection
    if values_of is None:
        return _holds(member, node, None)
    if values_of is collection:
        return _holds(member, node, entry)
    return any(_holds(member, node, e) for e in values_of.entries(member))


def ordered(members: list[Member], query: Query) -> list[Member]:
    """``members`` in the query's order: ``sort_by`` (unassigned last when ascending), then created, id."""
    result = sorted(members, key=lambda m: (m.created, m.id))
    if query.sort_by is not None:
        sort_by = query.sort_by

        def key(member: Member):
            value = sort_by.read(member)
            if not _assigned(value):
                return (1, "")
            return (0, _comparable(sort_by, value))
        # reverse=True keeps sort stability, so equal keys keep the created-then-id order.
        result.sort(key=key, reverse=query.descending)
    return result
