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

from ..domain.errors import NotFound, UniquenessConflict, VersionMismatch
from ..domain.model import ApiToken, Member, Organisation, case_key, user_name_key
from ..domain.ports import ApiTokenRepository, MemberRepository, OrganisationRepository, UnitOfWork
from ..domain.query import (And, AnyEmail, Attribute, Compare, Filter, MemberQuery, Not, Operator, Or, Page,
                            Present)


class InMemoryStore:
    """The shared state of every in-memory unit of work built on it."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.organisations: dict[str, Organisation] = {}
        self.members: dict[str, Member] = {}
        self.tokens: dict[str, ApiToken] = {}

    def snapshot(self) -> tuple[dict, dict, dict]:
        # The values are immutable, so copying the dicts is a full snapshot.
        return dict(self.organisations), dict(self.members), dict(self.tokens)

    def restore(self, snapshot: tuple[dict, dict, dict]) -> None:
        self.organisations, self.members, self.tokens = (copy.copy(part) for part in snapshot)


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
    def __init__(self, store: InMemoryStore):
        self.store = store

    def _members_of(self, organisation_id: str) -> list[Member]:
        return [m for m in self.store.members.values() if m.organisation_id == organisation_id]

    def _check_unique(self, member: Member) -> None:
        for other in self._members_of(member.organisation_id):
            if other.id == member.id:
                continue
            if user_name_key(other.user_name) == user_name_key(member.user_name):
                raise UniquenessConflict("userName", member.user_name)
            if member.external_id is not None and other.external_id == member.external_id:
                raise UniquenessConflict("externalId", member.external_id)

    def add(self, member: Member) -> None:
        self._check_unique(member)
        self.store.members[member.id] = member

    def get(self, organisation_id: str, member_id: str) -> Member:
        member = self.store.members.get(member_id)
        if member is None or member.organisation_id != organisation_id:
            raise NotFound(f"No member with id {member_id} in this organisation")
        return member

    def find(self, organisation_id: str, *, user_name: str | None = None,
             external_id: str | None = None) -> Member | None:
        for member in self._members_of(organisation_id):
            if user_name is not None and user_name_key(member.user_name) == user_name_key(user_name):
                return member
            if external_id is not None and member.external_id == external_id:
                return member
        return None

    def search(self, organisation_id: str, query: MemberQuery) -> Page:
        matches = [m for m in self._members_of(organisation_id)
                   if query.filter is None or matches_filter(m, query.filter)]
        matches.sort(key=lambda m: (m.created, m.id))
        start = max(query.start_index, 1)
        page = matches[start - 1:start - 1 + max(query.count, 0)]
        return Page(total=len(matches), members=tuple(page), start_index=start)

    def update(self, member: Member, *, expected_version: int) -> None:
        stored = self.get(member.organisation_id, member.id)
        if stored.version != expected_version:
            raise VersionMismatch(f"Member {member.id} has changed since version {expected_version}")
        self._check_unique(member)
        self.store.members[member.id] = member

    def remove(self, organisation_id: str, member_id: str) -> None:
        self.get(organisation_id, member_id)
        del self.store.members[member_id]
        for token_id in [t.id for t in self.store.tokens.values() if t.admin_id == member_id]:
            del self.store.tokens[token_id]

    def count(self, organisation_id: str) -> int:
        return len(self._members_of(organisation_id))


class InMemoryApiTokenRepository(ApiTokenRepository):
    def __init__(self, store: InMemoryStore):
        self.store = store

    def add(self, token: ApiToken) -> None:
        self.store.tokens[token.id] = token

    def find_by_digest(self, digest: str) -> ApiToken | None:
        for token in self.store.tokens.values():
            if token.digest == digest:
                return token
        return None

    def mark_used(self, token_id: str, at: datetime) -> None:
        token = self.store.tokens.get(token_id)
        if token is not None:
            self.store.tokens[token_id] = replace(token, last_used=at)

    def list_for_organisation(self, organisation_id: str) -> list[ApiToken]:
        return sorted((t for t in self.store.tokens.values() if t.organisation_id == organisation_id),
                      key=lambda t: (t.created, t.id))


class InMemoryUnitOfWork(UnitOfWork):
    """Holds the store's lock for the block; restores the snapshot on exit unless committed."""

    def __init__(self, store: InMemoryStore):
        self.store = store
        self.organisations = InMemoryOrganisationRepository(store)
        self.members = InMemoryMemberRepository(store)
        self.tokens = InMemoryApiTokenRepository(store)
        self._snapshots: list[tuple[dict, dict, dict]] = []
        self._committed: list[bool] = []

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
        finally:
            self.store.lock.release()

    def commit(self) -> None:
        self._committed[-1] = True


# -- evaluating the query model in Python -------------------------------------------------------

def _scalar(member: Member, attribute: Attribute):
    fields = member.fields
    return {
        Attribute.ID: member.id,
        Attribute.EXTERNAL_ID: fields.external_id,
        Attribute.USER_NAME: fields.user_name,
        Attribute.DISPLAY_NAME: fields.display_name,
        Attribute.ACTIVE: fields.active,
    }[attribute]


def _email_part(email, attribute: Attribute):
    return email.value if attribute is Attribute.EMAIL_VALUE else email.type


def _compare(actual, node: Compare) -> bool:
    if actual is None or node.value is None:
        return actual is None and node.value is None
    if isinstance(actual, bool) or isinstance(node.value, bool):
        return isinstance(actual, bool) and isinstance(node.value, bool) and actual == node.value
    if node.operator is Operator.EQ:
        if node.attribute.case_exact:
            return actual == node.value
        return case_key(actual) == case_key(node.value)
    raise ValueError(f"unsupported operator {node.operator}")  # pragma: no cover - the parser refuses it


def matches_filter(member: Member, node: Filter, email=None) -> bool:
    """Whether ``member`` satisfies ``node``; inside ``AnyEmail``, e-mail attributes refer to ``email``."""
    if isinstance(node, And):
        return matches_filter(member, node.left, email) and matches_filter(member, node.right, email)
    if isinstance(node, Or):
        return matches_filter(member, node.left, email) or matches_filter(member, node.right, email)
    if isinstance(node, Not):
        return not matches_filter(member, node.operand, email)
    if isinstance(node, AnyEmail):
        return any(matches_filter(member, node.condition, e) for e in member.fields.emails)
    if node.attribute.is_email:
        emails = (email,) if email is not None else member.fields.emails
        values = [_email_part(e, node.attribute) for e in emails]
        if isinstance(node, Present):
            return any(v is not None and v != "" for v in values)
        return any(_compare(v, node) for v in values)
    actual = _scalar(member, node.attribute)
    if isinstance(node, Present):
        return actual is not None and actual != ""
    return _compare(actual, node)
