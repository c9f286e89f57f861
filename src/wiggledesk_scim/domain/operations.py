"""What ops and support do outside SCIM: look at organisations and their teams, switch their settings, read
their trail.

The command line and the ops console both go through ``Operations``, so they name organisations and
members the same way and change settings by the same rules the token check reads (``access.py``): an
organisation's API access, and a member's admin role and API access. A setting switched off stops the
admin's tokens at their next request (403, saying what to switch back on); switched on, they work again.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Iterable, Mapping

from .activity import Activity
from .errors import InvalidValue, NotFound
from .model import ApiToken, Member, Organisation, Team
from .ports import Clock, Rendering, TokenAuthority, UnitOfWork
from .query import Compare, Query, Operator
from .registry import GROUP, USER
from .services import members_called

#: The windows the provisioning health shows.
DAY = timedelta(days=1)
WEEK = timedelta(days=7)


@dataclass(frozen=True)
class OrganisationOverview:
    """An organisation as ops see it: its members, its teams, its tokens, and its recent provisioning
    activity."""

    organisation: Organisation
    members: int
    active_members: int
    tokens: tuple[ApiToken, ...]
    teams: int
    #: Records of the last 24 hours / 7 days per event (``activity.EVENTS``), events without any left out.
    last_day: Mapping[str, int] = field(default_factory=dict)
    last_week: Mapping[str, int] = field(default_factory=dict)

    @property
    def inactive_members(self) -> int:
        return self.members - self.active_members

    @property
    def last_request(self) -> datetime | None:
        """When one of its tokens was last used: the last time Entra called (to the minute)."""
        used = [token.last_used for token in self.tokens if token.last_used is not None]
        return max(used, default=None)


@dataclass(frozen=True)
class TeamSummary:
    """A team as ops list it: the team (displayName, externalId, last modified) and how many members it has."""

    team: Team
    members: int


@dataclass(frozen=True)
class TeamListing:
    """The first of an organisation's teams by displayName, and how many teams it has in all: an
    organisation may have thousands, and a page lists a few hundred at most."""

    teams: tuple[TeamSummary, ...]
    total: int

    @property
    def unlisted(self) -> int:
        """How many teams come after the listed ones."""
        return self.total - len(self.teams)


class Operations:
    def __init__(self, uow: UnitOfWork, clock: Clock, authority: TokenAuthority | None = None):
        self.uow = uow
        self.clock = clock
        #: Told when a member's settings change, so no process keeps trusting their tokens (if it caches).
        self.authority = authority

    # -- reading -----------------------------------------------------------------------------------

    def organisation(self, reference: str) -> Organisation:
        """The organisation whose id is ``reference``, else whose name is (exactly, else ignoring case).
        Raises ``NotFound``, or ``InvalidValue`` when the name is ambiguous."""
        with self.uow:
            try:
                return self.uow.organisations.get(reference)
            except NotFound:
                named = self.uow.organisations.named(reference)
        found = [o for o in named if o.name == reference] or named
        if len(found) > 1:
            raise InvalidValue(f'{len(found)} organisations are called "{reference}"; give the id instead')
        if not found:
            raise NotFound(f'No organisation is called "{reference}" or has that id')
        return found[0]

    def overviews(self) -> list[OrganisationOverview]:
        """Every organisation, by name."""
        now = self.clock.now()
        with self.uow:
            last_day = self.uow.activity.counts(now - DAY)
            last_week = self.uow.activity.counts(now - WEEK)
            return [self._overview(o, last_day.get(o.id, {}), last_week.get(o.id, {}))
                    for o in self.uow.organisations.list()]

    def overview(self, reference: str) -> OrganisationOverview:
        organisation = self.organisation(reference)
        now = self.clock.now()
        with self.uow:
            last_day = self.uow.activity.counts(now - DAY, organisation.id).get(organisation.id, {})
            last_week = self.uow.activity.counts(now - WEEK, organisation.id).get(organisation.id, {})
            return self._overview(organisation, last_day, last_week)

    def _overview(self, organisation: Organisation, last_day, last_week) -> OrganisationOverview:
        active = Query(filter=Compare(USER.path("active"), Operator.EQ, True), count=0)
        return OrganisationOverview(
            organisation=organisation,
            members=self.uow.members.count(organisation.id),
            active_members=self.uow.members.search(organisation.id, active).total,
            tokens=tuple(self.uow.tokens.list_for_organisation(organisation.id)),
            # TeamRepository has no count(): an empty page's total is the count, and no store needs one more method.
            teams=self.uow.teams.search(organisation.id, Query(count=0)).total,
            last_day=last_day, last_week=last_week)

    def teams(self, organisation_id: str, *, limit: int) -> TeamListing:
        """The organisation's first ``limit`` teams by displayName (ignoring case, as displayNames compare),
        each with its member count: two reads, however many teams there are."""
        by_name = Query(count=limit, sort_by=GROUP.path("displayName"))
        with self.uow:
            page = self.uow.teams.search(organisation_id, by_name)
            counts = self.uow.teams.member_counts(organisation_id, [team.id for team in page.resources])
        # A store counting membership rows may leave out a team that has none.
        return TeamListing(teams=tuple(TeamSummary(team, counts.get(team.id, 0)) for team in page.resources),
                           total=page.total)

    def token_owners(self, organisation_id: str, tokens: Iterable[ApiToken]) -> dict[str, Member]:
        """The members who own ``tokens``, by id; an owner who was deleted (their tokens stay, revoked) is
        not there, which the CLI and the console both say."""
        owners: dict[str, Member] = {}
        with self.uow:
            for admin_id in {token.admin_id for token in tokens}:
                try:
                    owners[admin_id] = self.uow.members.get(organisation_id, admin_id)
                except NotFound:
                    pass
        return owners

    def member(self, organisation_id: str, email: str) -> Member:
        """The organisation's member whose userName is ``email`` (ignoring case, as userNames compare),
        else the only one with that e-mail address. Raises ``NotFound`` or ``InvalidValue``."""
        found = members_called(self.uow, organisation_id, email, most=2)
        if len(found) > 1:
            raise InvalidValue(f"Several members have the e-mail address {email}; use their userName")
        if not found:
            raise NotFound(f"No member has the userName or e-mail address {email}")
        return found[0]

    def activity(self, organisation_id: str, *, since: datetime | None = None, member_id: str | None = None,
                 event: str | None = None, limit: int = 100) -> list[Activity]:
        """The organisation's activity trail, newest first."""
        if limit < 1:
            raise InvalidValue("The limit must be at least 1")
        with self.uow:
            return self.uow.activity.list(organisation_id, since=since, member_id=member_id, event=event,
                                          limit=limit)

    # -- changing ----------------------------------------------------------------------------------

    def set_api_access(self, reference: str, on: bool) -> Organisation:
        """Switch the organisation's API access: off refuses every token of it from the next request."""
        organisation = self.organisation(reference)
        changed = Organisation(id=organisation.id, name=organisation.name, api_access=on)
        with self.uow:
            self.uow.organisations.update(changed)
            self.uow.commit()
        return changed

    def set_member_api_access(self, organisation_id: str, email: str, on: bool) -> Member:
        """Switch a member's API access: off refuses their tokens from the next request."""
        return self._set(organisation_id, email, api_access=on)

    def set_member_admin(self, organisation_id: str, email: str, on: bool) -> Member:
        """Make a member an admin or not: a token works only while its owner is one."""
        return self._set(organisation_id, email, is_admin=on)

    def _set(self, organisation_id: str, email: str, **settings: bool) -> Member:
        with self.uow:
            member = self.member(organisation_id, email)
            changed = member.with_settings(**settings)
            if changed != member:
                self.uow.members.update(changed, expected_version=member.version)
            self.uow.commit()
        if changed != member and self.authority is not None:
            self.authority.forget_admin(organisation_id, member.id)
        return changed

    def refresh_renditions(self, rendering: Rendering, after: str | None, limit: int) -> tuple[int, int, str | None]:
        """One batch of ``MemberRepository.refresh_renditions``, in its own unit of work: what an upgrade
        that renders members differently runs so that reads answer from kept texts again at once."""
        with self.uow:
            refreshed = self.uow.members.refresh_renditions(rendering, after, limit)
            self.uow.commit()
        return refreshed

    def prune_activity(self, keep: timedelta) -> int:
        """Delete the trail's records older than ``keep``, for every organisation; how many."""
        if keep <= timedelta(0):
            raise InvalidValue("Records must be kept for a positive time")
        with self.uow:
            pruned = self.uow.activity.prune(self.clock.now() - keep)
            self.uow.commit()
        return pruned
