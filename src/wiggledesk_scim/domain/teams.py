"""The use cases of WiggleDesk teams, which identity providers provision as SCIM Groups (ENTRA.md §14):
create, read, query, change (content and membership), replace, delete.

As ``services.MemberService`` for members: each runs in one unit of work, names the organisation it acts
in, and records its change in the activity trail in that unit (counts of members added and removed, never
who). A team's membership is kept apart from the team (``TeamRepository``): a change names the members it
adds and removes, and costs in proportion to them, never to the team's size.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Sequence, TypeVar

from . import catalogue as c
from .activity import (TEAM_CREATE, TEAM_DELETE, TEAM_RENAME, TEAM_REPLACE, TEAM_UPDATE, Activity, Source,
                       attribute_names)
from .errors import InvalidValue, VersionMismatch
from .model import Reference, Team, TeamFields
from .ports import Clock, IdGenerator, UnitOfWork
from .query import Page, Query
from .registry import GROUP, ResourceType
from .services import UPDATE_ATTEMPTS

T = TypeVar("T")
Edit = Callable[[TeamFields], TeamFields]
Render = Callable[[Iterator[Reference]], T]

#: How many unknown members a refusal names before it only counts the rest.
NAMED_IN_REFUSAL = 3


@dataclass(frozen=True)
class MembershipChange:
    """What a request does to a team's membership, its operations folded in order: with ``exactly``, the
    membership becomes ``add`` and nothing else (a PUT, a PATCH replacing ``members``, or removing them
    all); otherwise ``add`` join and ``remove`` leave. ``add`` and ``remove`` never share an id, and
    each keeps the order the request named them in."""

    exactly: bool = False
    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.exactly or self.add or self.remove)

    def adding(self, member_ids: Iterable[str]) -> "MembershipChange":
        named = dict.fromkeys(member_ids)
        return MembershipChange(self.exactly, tuple({**dict.fromkeys(self.add), **named}),
                                tuple(i for i in self.remove if i not in named))

    def removing(self, member_ids: Iterable[str]) -> "MembershipChange":
        named = dict.fromkeys(member_ids)
        remove = () if self.exactly else tuple({**dict.fromkeys(self.remove), **named})
        return MembershipChange(self.exactly, tuple(i for i in self.add if i not in named), remove)

    def setting(self, member_ids: Iterable[str]) -> "MembershipChange":
        return MembershipChange(True, tuple(dict.fromkeys(member_ids)), ())


#: No change of membership.
UNCHANGED = MembershipChange()


class TeamService:
    def __init__(self, uow: UnitOfWork, clock: Clock, ids: IdGenerator, source: Source | None = None,
                 groups: ResourceType = GROUP):
        self.uow = uow
        self.clock = clock
        self.ids = ids
        self.source = source or Source()
        #: What a team's fields are made of (domain/registry).
        self.groups = groups

    def acting_for(self, source: Source) -> "TeamService":
        return TeamService(self.uow, self.clock, self.ids, source, self.groups)

    # -- reading ---------------------------------------------------------------------------------

    def read(self, organisation_id: str, team_id: str, render: Render | None = None) -> tuple[Team, T | None]:
        """The team, and ``render`` applied to its members (as ``TeamRepository.members``) if given."""
        with self.uow:
            team = self.uow.teams.get(organisation_id, team_id)
            return team, (None if render is None else self.uow.teams.members(organisation_id, team_id, render))

    def query(self, organisation_id: str, query: Query, render: Render | None = None) -> tuple[Page, list]:
        """The page of teams, and ``render`` applied to each one's members if given (else an empty list)."""
        with self.uow:
            page = self.uow.teams.search(organisation_id, query)
            if render is None:
                return page, []
            return page, [self.uow.teams.members(organisation_id, team.id, render) for team in page.resources]

    def teams_of(self, organisation_id: str, member_ids: Sequence[str]) -> dict[str, tuple[Reference, ...]]:
        """Each member's teams (a User's ``groups``)."""
        with self.uow:
            return self.uow.teams.teams_of(organisation_id, member_ids)

    # -- changing --------------------------------------------------------------------------------

    def create(self, organisation_id: str, fields: TeamFields, member_ids: Sequence[str] = ()) -> Team:
        """A new team with these members; raises ``UniquenessConflict`` or ``InvalidValue``."""
        member_ids = tuple(dict.fromkeys(member_ids))
        with self.uow:
            self._check_members(organisation_id, member_ids)
            now = self.clock.now()
            team = Team(id=self.ids.new_id(), organisation_id=organisation_id, fields=fields, created=now,
                        last_modified=now)
            self.uow.teams.add(team)
            added = self.uow.teams.add_members(organisation_id, team.id, member_ids) if member_ids else 0
            self._record(TEAM_CREATE, team, attribute_names(self.groups.assigned(fields)), added or None, None)
            self.uow.commit()
        return team

    def update(self, organisation_id: str, team_id: str, edit: Edit, change: MembershipChange = UNCHANGED, *,
               expected_version: int | None = None) -> Team:
        """Apply ``edit`` to the team's fields and ``change`` to its membership, all or nothing (a PATCH).
        Without ``expected_version`` a concurrent change is not lost: the team is read again and the edit
        re-applied. A request that changes nothing (adding a member who is one already) keeps the version."""
        return self._change(organisation_id, team_id, edit, change, expected_version, TEAM_UPDATE)

    def replace(self, organisation_id: str, team_id: str, replacement: Edit, member_ids: Sequence[str], *,
                expected_version: int | None = None) -> Team:
        """Replace the team's fields and make its membership exactly ``member_ids`` (a PUT)."""
        return self._change(organisation_id, team_id, replacement, UNCHANGED.setting(member_ids),
                            expected_version, TEAM_REPLACE)

    def delete(self, organisation_id: str, team_id: str, *, expected_version: int | None = None) -> None:
        """The team goes, with its memberships; its members stay."""
        with self.uow:
            self.uow.teams.remove(organisation_id, team_id, expected_version=expected_version)
            self.uow.activity.record(Activity(at=self.clock.now(), organisation_id=organisation_id,
                                              event=TEAM_DELETE, team_id=team_id, token_id=self.source.token_id,
                                              request_id=self.source.request_id))
            self.uow.commit()

    def _change(self, organisation_id: str, team_id: str, edit: Edit, change: MembershipChange,
                expected_version: int | None, kind: str) -> Team:
        with self.uow:
            self._check_members(organisation_id, change.add)
            added = removed = 0
            for _ in range(UPDATE_ATTEMPTS):
                current = self.uow.teams.get(organisation_id, team_id)
                if expected_version is not None and current.version != expected_version:
                    raise VersionMismatch(c.CHANGED_SINCE.format(resource="Team", id=team_id,
                                                                 version=expected_version))
                now = self.clock.now()
                changed = current.with_fields(edit(current.fields), now)
                changes = self.groups.diff(current.fields, changed.fields)
                # Memberships are rows of their own: what this attempt changed stays in the unit's
                # transaction if the version check below sends it round again, and the next attempt
                # finds it done (adding a member is idempotent), so the counts add up across attempts.
                more_added, more_removed = self._apply(organisation_id, team_id, change)
                added, removed = added + more_added, removed + more_removed
                if changed is current and not (added or removed):
                    self.uow.commit()
                    return current
                if changed is current:
                    changed = current.touched(now)
                try:
                    self.uow.teams.update(changed, expected_version=current.version, changes=changes)
                except VersionMismatch:
                    if expected_version is not None:
                        raise
                    continue
                event = TEAM_RENAME if any(leaf.name == "displayName" for leaf in changes) else kind
                self._record(event, changed, attribute_names(changes), added if not change.empty else None,
                             removed if not change.empty else None)
                self.uow.commit()
                return changed
            raise VersionMismatch(c.KEEPS_CHANGING.format(resource="Team", id=team_id))

    def _apply(self, organisation_id: str, team_id: str, change: MembershipChange) -> tuple[int, int]:
        """(added, removed) by ``change``; with ``exactly``, only the difference is written."""
        teams = self.uow.teams
        add, remove = change.add, change.remove
        if change.exactly:
            wanted = dict.fromkeys(add)
            current = teams.members(organisation_id, team_id, lambda refs: {ref.value for ref in refs})
            add = tuple(member_id for member_id in wanted if member_id not in current)
            remove = tuple(member_id for member_id in current if member_id not in wanted)
            if not wanted and remove:
                return 0, teams.remove_all_members(organisation_id, team_id)
        removed = teams.remove_members(organisation_id, team_id, remove) if remove else 0
        added = teams.add_members(organisation_id, team_id, add) if add else 0
        return added, removed

    def _check_members(self, organisation_id: str, member_ids: Sequence[str]) -> None:
        """Members join a team only if they are Users of its organisation (not a team, not another
        organisation's, not deleted): ``InvalidValue`` naming the first few that are not."""
        if not member_ids:
            return
        existing = self.uow.members.existing(organisation_id, member_ids)
        unknown = [member_id for member_id in member_ids if member_id not in existing]
        if unknown:
            named = ", ".join(f'"{member_id}"' for member_id in unknown[:NAMED_IN_REFUSAL])
            more = len(unknown) - NAMED_IN_REFUSAL
            rest = f" (and {more} more)" if more > 0 else ""
            refusal = c.NOT_A_USER if len(unknown) == 1 else c.NOT_USERS
            raise InvalidValue(refusal.format(ids=named + rest))

    def _record(self, event: str, team: Team, attributes: tuple[str, ...], added: int | None,
                removed: int | None) -> None:
        self.uow.activity.record(Activity(at=team.last_modified, organisation_id=team.organisation_id, event=event,
                                          team_id=team.id, attributes=attributes, added=added, removed=removed,
                                          token_id=self.source.token_id, request_id=self.source.request_id))
