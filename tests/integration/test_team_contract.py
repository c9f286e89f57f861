"""One contract for the teams of every storage: the in-memory store (the reference), SQLite and PostgreSQL.

``TeamContract`` holds the tests; each storage is a subclass supplying one ``store`` fixture, as in
test_repository_contract, whose stores, fixtures (``StoreContract``) and member builder this reuses. A
team's members are rows of their own (``TeamRepository``): every store must give the in-memory store's
answers, and the SQL stores must keep to the cost the port promises, a fixed number of statements per
membership change and read, whatever the size of the team.
"""
from __future__ import annotations

import threading
import time
from dataclasses import replace
from itertools import islice
from typing import Iterator

import pytest

from tests.integration.test_repository_contract import MemoryStore, SqlStore, Store, StoreContract, at
from tests.integration.units import WRITERS, race, statements_sent
from tests.support import START
from wiggledesk_scim.adapters.sqlalchemy.tables import members, team_members, teams
from wiggledesk_scim.domain.activity import TEAM_CREATE, TEAM_DELETE, TEAM_RENAME, TEAM_REPLACE, UPDATE, Activity
from wiggledesk_scim.domain.errors import InvalidValue, NotFound, UniquenessConflict, VersionMismatch
from wiggledesk_scim.domain.model import Member, Organisation, Reference, Team, TeamFields
from wiggledesk_scim.domain.query import And, AnyValue, Compare, Not, Operator, Or, Page, Present, Query
from wiggledesk_scim.domain.registry import GROUP, USER
from wiggledesk_scim.domain.services import MemberService
from wiggledesk_scim.domain.teams import MembershipChange, TeamService

O = Operator
ID, EXTERNAL_ID, DISPLAY_NAME, MEMBER, CREATED, LAST_MODIFIED = (GROUP.path(name) for name in (
    "id", "externalId", "displayName", "members.value", "meta.created", "meta.lastModified"))
MEMBERS = GROUP.collections["members"]

# Contoso's crew, whose ids are in another order than their creation (bjensen, ada, grace, linus): a team's
# members are listed by id.
ADA, GRACE, BJENSEN, LINUS = (f"00000000-0000-4000-8000-000000000{suffix}" for suffix in ("a01", "b01", "c01", "d01"))
FABRIKAM_BJENSEN = "00000000-0000-4000-8000-000000000f01"
#: A member id nobody has (a member deleted long ago).
NOBODY = "00000000-0000-4000-8000-00000000dead"

# The search population: Contoso's teams, created in this order, and Fabrikam's look-alike of the first.
TOUR_GUIDES, TOUR_OPERATIONS, ANALYSTS, ECRIVAINS = "Tour Guides", "tour operations", "Analysts", "Émile's Écrivains"
EVERY_TEAM = [TOUR_GUIDES, TOUR_OPERATIONS, ANALYSTS, ECRIVAINS]
TEAM_IDS = {name: f"00000000-0000-4000-9000-{901 - n:012d}" for n, name in enumerate(EVERY_TEAM)}
FABRIKAM_TOUR_GUIDES = "00000000-0000-4000-9000-000000000999"

#: Each filter form, with the teams it selects in creation order; the in-memory store runs them too.
FILTERS = {
    "displayName eq, ignoring case": (Compare(DISPLAY_NAME, O.EQ, "TOUR GUIDES"), [TOUR_GUIDES]),
    "displayName sw": (Compare(DISPLAY_NAME, O.SW, "tour"), [TOUR_GUIDES, TOUR_OPERATIONS]),
    "displayName co, non-ASCII in the other case": (Compare(DISPLAY_NAME, O.CO, "ÉCRIV"), [ECRIVAINS]),
    "displayName gt, accents above z": (Compare(DISPLAY_NAME, O.GT, "b"), [TOUR_GUIDES, TOUR_OPERATIONS, ECRIVAINS]),
    "externalId eq, exactly": (Compare(EXTERNAL_ID, O.EQ, "TO-1"), [TOUR_OPERATIONS]),
    "externalId eq, other case": (Compare(EXTERNAL_ID, O.EQ, "to-1"), []),
    "externalId eq null": (Compare(EXTERNAL_ID, O.EQ, None), [ANALYSTS]),
    "id eq": (Compare(ID, O.EQ, TEAM_IDS[ANALYSTS]), [ANALYSTS]),
    "id eq, another organisation's": (Compare(ID, O.EQ, FABRIKAM_TOUR_GUIDES), []),
    "members.value eq": (Compare(MEMBER, O.EQ, ADA), [TOUR_GUIDES, TOUR_OPERATIONS]),
    "members.value eq, another organisation's member": (Compare(MEMBER, O.EQ, FABRIKAM_BJENSEN), []),
    "members.value ne: some other member": (Compare(MEMBER, O.NE, ADA), [TOUR_GUIDES, ECRIVAINS]),
    "members.value pr": (Present(MEMBER), [TOUR_GUIDES, TOUR_OPERATIONS, ECRIVAINS]),
    "not members.value pr: the empty teams": (Not(Present(MEMBER)), [ANALYSTS]),
    "members[value eq]": (AnyValue(MEMBERS, Compare(MEMBER, O.EQ, BJENSEN)), [TOUR_GUIDES]),
    "members[value eq or value eq]": (AnyValue(MEMBERS, Or(Compare(MEMBER, O.EQ, BJENSEN),
                                                           Compare(MEMBER, O.EQ, LINUS))), [TOUR_GUIDES, ECRIVAINS]),
    "members[value eq and value eq]: one value is never two": (
        AnyValue(MEMBERS, And(Compare(MEMBER, O.EQ, ADA), Compare(MEMBER, O.EQ, BJENSEN))), []),
    "members.value eq and members.value eq: two members": (
        And(Compare(MEMBER, O.EQ, ADA), Compare(MEMBER, O.EQ, BJENSEN)), [TOUR_GUIDES]),
    "displayName and not a member": (And(Compare(DISPLAY_NAME, O.SW, "TOUR"), Not(Compare(MEMBER, O.EQ, BJENSEN))),
                                     [TOUR_OPERATIONS]),
    "meta.created gt, a microsecond matters": (Compare(CREATED, O.GT, at("2026-11-23T10:00:01+00:00")),
                                               [ANALYSTS, ECRIVAINS]),
    "meta.lastModified ge": (Compare(LAST_MODIFIED, O.GE, at("2026-11-24T00:00:00+00:00")), [TOUR_GUIDES]),
}

#: Orders and pages, with the teams each gives.
SORTS = {
    "displayName, ignoring case, accents last": (dict(sort_by=DISPLAY_NAME), [ANALYSTS, TOUR_GUIDES, TOUR_OPERATIONS,
                                                                           ECRIVAINS]),
    "displayName descending": (dict(sort_by=DISPLAY_NAME, descending=True), [ECRIVAINS, TOUR_OPERATIONS, TOUR_GUIDES,
                                                                            ANALYSTS]),
    "externalId, by code point, unassigned last": (dict(sort_by=EXTERNAL_ID), [TOUR_OPERATIONS, TOUR_GUIDES, ECRIVAINS,
                                                                              ANALYSTS]),
    "a page of displayName": (dict(sort_by=DISPLAY_NAME, start_index=2, count=2), [TOUR_GUIDES, TOUR_OPERATIONS]),
    "creation order, from the third": (dict(start_index=3), [ANALYSTS, ECRIVAINS]),
}


class TeamContract(StoreContract):
    """How every storage keeps teams and their memberships: as ``adapters/memory.py`` does."""

    @pytest.fixture
    def crew(self, store, people, contoso, fabrikam) -> dict[str, Member]:
        """Contoso's members who join teams, each shown by another rule: bjensen by her displayName, ada by
        her userName (her displayName is "", which is unassigned), grace by hers (she has none); and
        Fabrikam's bjensen."""
        crew = {
            BJENSEN: people.member(contoso, "bjensen", id=BJENSEN, display_name="Babs Jensen"),
            ADA: people.member(contoso, "ada@contoso.example", id=ADA, display_name=""),
            GRACE: people.member(contoso, "grace", id=GRACE),
            LINUS: people.member(contoso, "linus", id=LINUS, display_name="Linus Torvalds"),
            FABRIKAM_BJENSEN: people.member(fabrikam, "bjensen", id=FABRIKAM_BJENSEN),
        }
        self.add(store, *crew.values())
        return crew

    def team(self, clock, ids, organisation: Organisation, display_name: str, *, id: str | None = None,
             **fields) -> Team:
        now = clock.advance(1.000001)
        return Team(id=id or ids.new_id(), organisation_id=organisation.id,
                    fields=TeamFields(display_name, **fields), created=now, last_modified=now)

    def in_creation_order_not_of_id(self, clock, ids, organisation: Organisation) -> tuple[Team, Team]:
        """Writers, then Tour Guides, made in that order, whose ids sort the other way round."""
        later_id, earlier_id = "00000000-0000-4000-9000-000000000002", "00000000-0000-4000-9000-000000000001"
        return (self.team(clock, ids, organisation, "Writers", id=later_id),
                self.team(clock, ids, organisation, "Tour Guides", id=earlier_id))

    def add_teams(self, store: Store, *new_teams: Team) -> None:
        def work(uow):
            for team in new_teams:
                uow.teams.add(team)
        store.run(work)

    def get_team(self, store: Store, organisation: Organisation, team_id: str) -> Team:
        return store.read(lambda uow: uow.teams.get(organisation.id, team_id))

    def join(self, store: Store, team: Team, *member_ids: str) -> int:
        return store.run(lambda uow: uow.teams.add_members(team.organisation_id, team.id, list(member_ids)))

    def members_of(self, store: Store, team: Team) -> list[Reference]:
        return store.read(lambda uow: uow.teams.members(team.organisation_id, team.id, list))

    def teams_of(self, store: Store, organisation: Organisation, *member_ids: str) -> dict:
        return store.read(lambda uow: uow.teams.teams_of(organisation.id, list(member_ids)))

    def counts(self, store: Store, organisation: Organisation, *team_ids: str) -> dict[str, int]:
        return store.read(lambda uow: uow.teams.member_counts(organisation.id, list(team_ids)))

    def search_teams(self, store: Store, organisation: Organisation, **query) -> Page:
        return store.read(lambda uow: uow.teams.search(organisation.id, Query(**query)))

    def names(self, page: Page) -> list[str]:
        return [team.display_name for team in page.resources]

    # -- one team ----------------------------------------------------------------------------------------

    def test_a_team_round_trips(self, store, clock, ids, contoso):
        """What is stored is what is read: name, externalId, times to the microsecond, version."""
        guides = replace(self.team(clock, ids, contoso, "Tour Guides", external_id="tg-entra-1"), version=3)
        self.add_teams(store, guides)

        assert self.get_team(store, contoso, guides.id) == guides

    @pytest.mark.parametrize("team_id", ["00000000-0000-4000-8000-000000000999", "x" * 80, "tour\x00guides", ""],
                             ids=["unknown", "too long for an id", "NUL", "empty"])
    def test_an_unknown_or_malformed_team_is_not_found(self, store, contoso, team_id):
        """A team that is not there, or an id that could not be one, is simply not found."""
        with pytest.raises(NotFound):
            self.get_team(store, contoso, team_id)

    def test_another_organisations_team_is_not_found_by_any_call(self, store, clock, ids, contoso, fabrikam, crew):
        """Fabrikam's team does not exist for Contoso: reading it, changing it, its members, deleting it."""
        theirs = self.team(clock, ids, fabrikam, "Tour Guides")
        self.add_teams(store, theirs)
        self.join(store, theirs, FABRIKAM_BJENSEN)
        as_contoso = replace(theirs, organisation_id=contoso.id)
        calls = [
            lambda uow: uow.teams.get(contoso.id, theirs.id),
            lambda uow: uow.teams.update(as_contoso.touched(clock.now()), expected_version=1),
            lambda uow: uow.teams.remove(contoso.id, theirs.id),
            lambda uow: uow.teams.add_members(contoso.id, theirs.id, [BJENSEN]),
            lambda uow: uow.teams.remove_members(contoso.id, theirs.id, [FABRIKAM_BJENSEN]),
            lambda uow: uow.teams.remove_all_members(contoso.id, theirs.id),
            lambda uow: uow.teams.members(contoso.id, theirs.id, list),
        ]
        for call in calls:
            with pytest.raises(NotFound):
                store.run(call)

        assert self.get_team(store, fabrikam, theirs.id) == theirs
        assert self.members_of(store, theirs) == [Reference(FABRIKAM_BJENSEN, "bjensen")]
        assert self.counts(store, contoso, theirs.id) == {}
        assert self.teams_of(store, contoso, FABRIKAM_BJENSEN) == {}

    # -- uniqueness ----------------------------------------------------------------------------------------

    def test_a_display_name_differing_only_in_case_is_a_conflict(self, store, clock, ids, contoso):
        """displayName is unique within the organisation ignoring case (non-ASCII letters too)."""
        self.add_teams(store, self.team(clock, ids, contoso, "Émile's Écrivains"))

        with pytest.raises(UniquenessConflict) as conflict:
            self.add_teams(store, self.team(clock, ids, contoso, "ÉMILE'S écrivains"))

        assert (conflict.value.attribute, conflict.value.value) == ("displayName", "ÉMILE'S écrivains")

    def test_a_taken_external_id_is_a_conflict_and_another_case_is_another_id(self, store, clock, ids, contoso):
        """externalId is unique exactly: the same one is a conflict, one in another case is not."""
        self.add_teams(store, self.team(clock, ids, contoso, "Tour Guides", external_id="tg-1"))

        with pytest.raises(UniquenessConflict) as conflict:
            self.add_teams(store, self.team(clock, ids, contoso, "Tour Leaders", external_id="tg-1"))
        self.add_teams(store, self.team(clock, ids, contoso, "Tour Leaders", external_id="TG-1"))

        assert conflict.value.attribute == "externalId"
        assert self.search_teams(store, contoso).total == 2

    def test_the_same_name_and_external_id_are_allowed_in_two_organisations(self, store, clock, ids, contoso,
                                                                              fabrikam):
        """Uniqueness is per organisation; and many teams may have no externalId."""
        self.add_teams(store, self.team(clock, ids, contoso, "Tour Guides", external_id="tg-1"),
                       self.team(clock, ids, fabrikam, "Tour Guides", external_id="tg-1"),
                       self.team(clock, ids, contoso, "Analysts"), self.team(clock, ids, contoso, "Writers"))

        assert [self.search_teams(store, organisation).total for organisation in (contoso, fabrikam)] == [3, 1]

    def test_an_update_into_a_taken_name_is_a_conflict_but_its_own_in_another_case_is_not(self, store, clock,
                                                                                           ids, contoso):
        """Renaming into another team's name (ignoring case) is refused; changing the case of one's own is not."""
        guides, analysts = self.team(clock, ids, contoso, "Tour Guides"), self.team(clock, ids, contoso, "Analysts")
        self.add_teams(store, guides, analysts)

        with pytest.raises(UniquenessConflict) as conflict:
            store.run(lambda uow: uow.teams.update(
                analysts.with_fields(TeamFields("TOUR guides"), clock.advance()), expected_version=1))
        recased = guides.with_fields(TeamFields("TOUR GUIDES"), clock.advance())
        store.run(lambda uow: uow.teams.update(recased, expected_version=1))

        assert conflict.value.attribute == "displayName"
        assert self.get_team(store, contoso, analysts.id) == analysts
        assert self.get_team(store, contoso, guides.id) == recased

    def test_concurrent_creates_of_one_display_name_let_exactly_one_win(self, store, clock, ids, contoso):
        """Eight simultaneous requests creating Tour Guides, in two cases: one succeeds, seven get a
        displayName conflict."""
        candidates = [self.team(clock, ids, contoso, "Tour Guides" if n % 2 else "TOUR GUIDES")
                      for n in range(WRITERS)]

        outcomes = race(lambda n: self.add_teams(store, candidates[n]))

        winners = [n for n, outcome in enumerate(outcomes) if outcome is None]
        losers = [outcome for outcome in outcomes if outcome is not None]
        assert len(winners) == 1, outcomes
        assert all(isinstance(o, UniquenessConflict) and o.attribute == "displayName" for o in losers), outcomes
        assert self.search_teams(store, contoso).resources == (candidates[winners[0]],)

    # -- changing and removing a team -------------------------------------------------------------------

    def test_an_update_at_the_read_version_stores_the_new_state_and_a_stale_one_is_refused(self, store, clock,
                                                                                            ids, contoso):
        """update() stores the team if its version is still the one read; else VersionMismatch, and nothing
        changes."""
        guides = self.team(clock, ids, contoso, "Tour Guides")
        self.add_teams(store, guides)
        renamed = guides.with_fields(TeamFields("Tour Leaders", external_id="tl-1"), clock.advance())
        store.run(lambda uow: uow.teams.update(renamed, expected_version=1,
                                               changes=GROUP.diff(guides.fields, renamed.fields)))

        with pytest.raises(VersionMismatch):
            store.run(lambda uow: uow.teams.update(guides.with_fields(TeamFields("Writers"), clock.advance()),
                                                   expected_version=1))

        assert self.get_team(store, contoso, guides.id) == renamed

    def test_an_update_without_changes_moves_only_the_version(self, store, clock, ids, contoso):
        """``changes=()``, the membership changed and the content did not: a new version, a new lastModified."""
        guides = self.team(clock, ids, contoso, "Tour Guides", external_id="tg-1")
        self.add_teams(store, guides)
        touched = guides.touched(clock.advance())

        store.run(lambda uow: uow.teams.update(touched, expected_version=1, changes=()))

        assert self.get_team(store, contoso, guides.id) == touched
        assert touched.version == 2 and touched.fields == guides.fields

    def test_an_update_of_a_removed_team_is_not_found(self, store, clock, ids, contoso):
        """A team deleted since it was read is not found, not a version mismatch."""
        guides = self.team(clock, ids, contoso, "Tour Guides")
        self.add_teams(store, guides)
        store.run(lambda uow: uow.teams.remove(contoso.id, guides.id))

        with pytest.raises(NotFound):
            store.run(lambda uow: uow.teams.update(guides.touched(clock.advance()), expected_version=1))

    def test_a_remove_with_an_expected_version_is_conditional(self, store, clock, ids, contoso):
        """remove(expected_version=) refuses a team changed since (VersionMismatch), then removes it at its
        version; removing it again is NotFound."""
        guides = self.team(clock, ids, contoso, "Tour Guides")
        self.add_teams(store, guides)
        store.run(lambda uow: uow.teams.update(guides.touched(clock.advance()), expected_version=1, changes=()))

        with pytest.raises(VersionMismatch):
            store.run(lambda uow: uow.teams.remove(contoso.id, guides.id, expected_version=1))
        store.run(lambda uow: uow.teams.remove(contoso.id, guides.id, expected_version=2))
        with pytest.raises(NotFound):
            store.run(lambda uow: uow.teams.remove(contoso.id, guides.id))

    def test_removing_a_team_keeps_its_members_and_drops_its_memberships(self, store, clock, ids, contoso, crew):
        """The team goes with its memberships; its members stay, in their other teams, and its name is free:
        a new team of that name starts empty."""
        guides, analysts = self.team(clock, ids, contoso, "Tour Guides"), self.team(clock, ids, contoso, "Analysts")
        self.add_teams(store, guides, analysts)
        self.join(store, guides, BJENSEN, ADA)
        self.join(store, analysts, ADA)

        store.run(lambda uow: uow.teams.remove(contoso.id, guides.id))
        again = self.team(clock, ids, contoso, "TOUR GUIDES")
        self.add_teams(store, again)

        assert [self.get(store, contoso, member_id) for member_id in (BJENSEN, ADA)] == [crew[BJENSEN], crew[ADA]]
        assert self.teams_of(store, contoso, BJENSEN, ADA) == {ADA: (Reference(analysts.id, "Analysts"),)}
        assert self.members_of(store, again) == []
        assert self.counts(store, contoso, guides.id, again.id) == {again.id: 0}

    # -- memberships ---------------------------------------------------------------------------------------

    def test_adding_counts_only_the_members_who_were_not_in_the_team(self, store, clock, ids, contoso, crew):
        """add_members says how many joined: a member named twice joins once, one already in is not counted."""
        guides = self.team(clock, ids, contoso, "Tour Guides")
        self.add_teams(store, guides)

        assert self.join(store, guides, BJENSEN, ADA, BJENSEN) == 2
        assert self.join(store, guides, ADA, GRACE) == 1
        assert self.join(store, guides, ADA) == 0
        assert self.join(store, guides) == 0
        assert self.counts(store, contoso, guides.id) == {guides.id: 3}

    def test_removing_counts_only_the_members_who_were_in_the_team(self, store, clock, ids, contoso, crew):
        """remove_members says how many left (one not in it, or no member at all, is no error);
        remove_all_members how many the team had."""
        guides = self.team(clock, ids, contoso, "Tour Guides")
        self.add_teams(store, guides)
        self.join(store, guides, BJENSEN, ADA, GRACE)

        def remove(*member_ids):
            return store.run(lambda uow: uow.teams.remove_members(contoso.id, guides.id, list(member_ids)))
        assert remove(GRACE, LINUS, NOBODY, "x" * 80, GRACE) == 1
        assert remove(GRACE) == 0
        assert remove() == 0
        assert store.run(lambda uow: uow.teams.remove_all_members(contoso.id, guides.id)) == 2
        assert store.run(lambda uow: uow.teams.remove_all_members(contoso.id, guides.id)) == 0
        assert self.members_of(store, guides) == []

    def test_a_teams_members_are_listed_by_id_with_the_name_shown_for_each(self, store, clock, ids, contoso, crew):
        """In order of id, not of joining or creation; shown by displayName, else (None or "") userName."""
        guides = self.team(clock, ids, contoso, "Tour Guides")
        self.add_teams(store, guides)
        self.join(store, guides, LINUS, BJENSEN)
        self.join(store, guides, GRACE, ADA)

        assert self.members_of(store, guides) == [
            Reference(ADA, "ada@contoso.example"), Reference(GRACE, "grace"), Reference(BJENSEN, "Babs Jensen"),
            Reference(LINUS, "Linus Torvalds")]

    def test_members_reach_read_as_an_iterator_it_may_leave_unfinished(self, store, clock, ids, contoso, crew):
        """``read`` gets the members as an iterator (never a list built first) and may stop early; the unit
        goes on reading afterwards."""
        guides = self.team(clock, ids, contoso, "Tour Guides")
        self.add_teams(store, guides)
        self.join(store, guides, *[member_id for member_id in crew if member_id != FABRIKAM_BJENSEN])
        handed = []

        def first_two(references):
            handed.append(references)
            return [reference.value for reference in islice(references, 2)]

        def work(uow):
            return uow.teams.members(contoso.id, guides.id, first_two), uow.teams.get(contoso.id, guides.id)
        assert store.read(work) == ([ADA, GRACE], guides)
        assert isinstance(handed[0], Iterator) and not isinstance(handed[0], (list, tuple))

    def test_a_member_deleted_meanwhile_cannot_join(self, store, clock, ids, contoso, crew):
        """A member id that names nobody (deleted since the caller checked, or never checked) is refused as
        InvalidValue, and the request's other members do not join either: the unit is discarded."""
        guides = self.team(clock, ids, contoso, "Tour Guides")
        self.add_teams(store, guides)

        for named in ([ADA, NOBODY], ["x" * 80]):
            with pytest.raises(InvalidValue):
                self.join(store, guides, *named)

        assert self.members_of(store, guides) == []

    def test_teams_of_lists_each_members_teams_by_team_id(self, store, clock, ids, contoso, crew):
        """One read for several members: each one's teams (id, displayName) in order of team id, not of
        creation; a member in no team, another organisation's or an unknown id is left out."""
        writers, guides = self.in_creation_order_not_of_id(clock, ids, contoso)
        analysts = self.team(clock, ids, contoso, "Analysts")
        self.add_teams(store, writers, guides, analysts)
        self.join(store, writers, BJENSEN)
        self.join(store, guides, BJENSEN, ADA)
        self.join(store, analysts, BJENSEN)

        assert self.teams_of(store, contoso, BJENSEN, ADA, GRACE, FABRIKAM_BJENSEN, NOBODY, "x" * 80) == {
            BJENSEN: (Reference(analysts.id, "Analysts"), Reference(guides.id, "Tour Guides"),
                      Reference(writers.id, "Writers")),
            ADA: (Reference(guides.id, "Tour Guides"),)}
        assert self.teams_of(store, contoso) == {}

    def test_a_members_teams_read_with_them_follow_the_units_own_team_writes(self, store, clock, ids, contoso, crew):
        """In a unit that writes, a member read before their team changes (a membership added or taken
        away, the team renamed, the team deleted) has, at ``teams_of``, the teams as they are now, not
        as they were when the member was read (the SQL adapter reads them with the member)."""
        writers, guides = self.in_creation_order_not_of_id(clock, ids, contoso)
        self.add_teams(store, writers, guides)
        self.join(store, writers, BJENSEN)
        renamed = guides.with_fields(TeamFields("Tour Leaders"), clock.advance())

        def by_id(*references: Reference) -> tuple[Reference, ...]:
            return tuple(sorted(references, key=lambda reference: reference.value))

        def teams_after(change):
            def work(uow):
                uow.members.get(contoso.id, BJENSEN)
                before = uow.teams.teams_of(contoso.id, [BJENSEN])
                change(uow)
                return before, uow.teams.teams_of(contoso.id, [BJENSEN])
            return work

        assert store.run(teams_after(lambda uow: uow.teams.add_members(contoso.id, guides.id, [BJENSEN]))) == (
            {BJENSEN: (Reference(writers.id, "Writers"),)},
            {BJENSEN: by_id(Reference(writers.id, "Writers"), Reference(guides.id, "Tour Guides"))})
        assert store.run(teams_after(lambda uow: uow.teams.update(
            renamed, expected_version=1, changes=GROUP.diff(guides.fields, renamed.fields))))[1] == {
            BJENSEN: by_id(Reference(writers.id, "Writers"), Reference(guides.id, "Tour Leaders"))}
        assert store.run(teams_after(lambda uow: uow.teams.remove_members(contoso.id, writers.id, [BJENSEN])))[1] == {
            BJENSEN: (Reference(guides.id, "Tour Leaders"),)}
        assert store.run(teams_after(lambda uow: uow.teams.remove(contoso.id, guides.id)))[1] == {}

    @pytest.mark.parametrize("read", ["get", "userName eq", "a page of all"])
    def test_teams_of_members_just_read_are_the_same_as_read_alone(self, store, clock, ids, contoso, fabrikam,
                                                                   crew, read):
        """A GET, or Entra's look-up by userName, reads the member, then their teams, in one unit (the
        SQL adapter in one SELECT); so does a page of several: the same teams in the same order as
        ``teams_of`` alone (by team id, not by joining); a member in no team has none, and Fabrikam's
        bjensen (same userName) never Contoso's; and a member read before joining a team, in an
        earlier unit, does not keep the teams of then."""
        writers, guides = self.in_creation_order_not_of_id(clock, ids, contoso)
        theirs = self.team(clock, ids, fabrikam, "Tour Guides")
        self.add_teams(store, writers, guides, theirs)
        self.join(store, writers, BJENSEN)
        self.join(store, guides, BJENSEN)
        self.join(store, theirs, FABRIKAM_BJENSEN)

        def member_then_teams(member_id):
            def work(uow):
                if read == "get":
                    ids_read = [uow.members.get(contoso.id, member_id).id]
                else:
                    user_name = crew[member_id].user_name
                    found = Compare(USER.path("userName"), Operator.EQ, user_name) if read == "userName eq" else None
                    page = uow.members.search(contoso.id, Query(filter=found, count=100))
                    ids_read = [member.id for member in page.resources]
                    assert member_id in ids_read
                return uow.teams.teams_of(contoso.id, [member_id]), uow.teams.teams_of(contoso.id, ids_read)
            return store.read(work)

        assert member_then_teams(BJENSEN)[0] == self.teams_of(store, contoso, BJENSEN) == {
            BJENSEN: (Reference(guides.id, "Tour Guides"), Reference(writers.id, "Writers"))}
        assert member_then_teams(ADA)[0] == {}
        self.join(store, guides, ADA)
        mine, of_all_read = member_then_teams(ADA)
        assert mine == {ADA: (Reference(guides.id, "Tour Guides"),)}
        assert of_all_read == self.teams_of(store, contoso, *of_all_read)

    def test_member_counts_include_empty_teams_and_only_the_organisations_own(self, store, clock, ids, contoso,
                                                                             fabrikam, crew):
        """One read: each of the organisation's teams named with its number of members, 0 included."""
        guides, empty = self.team(clock, ids, contoso, "Tour Guides"), self.team(clock, ids, contoso, "Analysts")
        theirs = self.team(clock, ids, fabrikam, "Tour Guides")
        self.add_teams(store, guides, empty, theirs)
        self.join(store, guides, BJENSEN, ADA)
        self.join(store, theirs, FABRIKAM_BJENSEN)

        assert self.counts(store, contoso, guides.id, empty.id, theirs.id, NOBODY, "x" * 80) == {
            guides.id: 2, empty.id: 0}

    def test_leave_all_takes_a_member_out_of_exactly_their_teams_and_touches_those(self, store, clock, ids,
                                                                                    contoso, fabrikam, crew):
        """A member leaving for good leaves each of their teams, which get a new version and lastModified;
        every other team, and the others' memberships, stay as they were."""
        guides, writers, analysts = (self.team(clock, ids, contoso, name)
                                     for name in ("Tour Guides", "Writers", "Analysts"))
        theirs = self.team(clock, ids, fabrikam, "Tour Guides")
        self.add_teams(store, guides, writers, analysts, theirs)
        self.join(store, guides, BJENSEN, ADA)
        self.join(store, writers, BJENSEN)
        self.join(store, analysts, ADA)
        self.join(store, theirs, FABRIKAM_BJENSEN)
        leaving_at = clock.advance(60)

        left = store.run(lambda uow: uow.teams.leave_all(contoso.id, BJENSEN, leaving_at))

        assert left == 2
        assert [self.get_team(store, contoso, team.id) for team in (guides, writers, analysts)] == [
            guides.touched(leaving_at), writers.touched(leaving_at), analysts]
        assert self.teams_of(store, contoso, BJENSEN, ADA) == {
            ADA: (Reference(guides.id, "Tour Guides"), Reference(analysts.id, "Analysts"))}
        assert store.run(lambda uow: uow.teams.leave_all(contoso.id, GRACE, leaving_at)) == 0
        assert store.run(lambda uow: uow.teams.leave_all(contoso.id, FABRIKAM_BJENSEN, leaving_at)) == 0
        assert self.get_team(store, fabrikam, theirs.id) == theirs
        assert self.members_of(store, theirs) == [Reference(FABRIKAM_BJENSEN, "bjensen")]

    def test_a_members_hard_delete_leaves_no_membership(self, store, clock, ids, contoso, crew):
        """MemberRepository.remove takes the member out of every team even if nobody called leave_all."""
        guides, writers = self.team(clock, ids, contoso, "Tour Guides"), self.team(clock, ids, contoso, "Writers")
        self.add_teams(store, guides, writers)
        self.join(store, guides, BJENSEN, ADA)
        self.join(store, writers, BJENSEN)

        store.run(lambda uow: uow.members.remove(contoso.id, BJENSEN))

        assert self.teams_of(store, contoso, BJENSEN) == {}
        assert self.members_of(store, guides) == [Reference(ADA, "ada@contoso.example")]
        assert self.counts(store, contoso, guides.id, writers.id) == {guides.id: 1, writers.id: 0}

    def test_a_members_delete_racing_their_joining_never_leaves_a_membership_to_nobody(self, store, people, clock,
                                                                                       ids, contoso):
        """Round after round, a request adding a member to a team runs at the very moment another deletes
        that member: the delete succeeds, the add either comes first (and the delete takes the member out
        again) or is refused as InvalidValue, and the team never lists a member who is gone. One of the two
        starts a little later each round, the add in one round and the delete in the next, so that both
        orders, and the moments between, are met."""
        for round in range(8):
            member = people.member(contoso, f"racer{round}")
            team = self.team(clock, ids, contoso, f"Racers {round}")
            self.add(store, member)
            self.add_teams(store, team)

            def work(n: int):
                if n == round % 2:
                    time.sleep(0.002 * (round // 2))
                with store.transaction() as uow:
                    if n == 0:
                        return TeamService(uow, clock, ids).update(contoso.id, team.id, lambda fields: fields,
                                                                   MembershipChange(add=(member.id,)))
                    return MemberService(uow, clock, ids).delete(contoso.id, member.id)

            added, deleted = race(work, writers=2)

            assert deleted is None, deleted
            assert isinstance(added, (Team, InvalidValue)), added
            assert self.members_of(store, team) == []
            assert self.counts(store, contoso, team.id) == {team.id: 0}
            assert self.teams_of(store, contoso, member.id) == {}
            with pytest.raises(NotFound):
                self.get(store, contoso, member.id)

    # -- search ---------------------------------------------------------------------------------------------

    @pytest.fixture
    def population(self, store, contoso, fabrikam, crew) -> dict[str, Team]:
        """Contoso's four teams (created in the order of ``EVERY_TEAM``, ids in the reverse order) and their
        members; Fabrikam's look-alike of the first, with its own member."""
        def team(name: str, created: str, last_modified: str | None = None, **fields) -> Team:
            return Team(id=TEAM_IDS[name], organisation_id=contoso.id, fields=TeamFields(name, **fields),
                        created=at(created), last_modified=at(last_modified or created))
        everyone = {
            TOUR_GUIDES: team(TOUR_GUIDES, "2026-11-23T10:00:00.000001+00:00", "2026-11-25T09:00:00+00:00",
                              external_id="tg-1"),
            TOUR_OPERATIONS: team(TOUR_OPERATIONS, "2026-11-23T10:00:01+00:00", external_id="TO-1"),
            ANALYSTS: team(ANALYSTS, "2026-11-23T10:00:01.000001+00:00"),
            ECRIVAINS: team(ECRIVAINS, "2026-11-23T10:00:02+00:00", external_id="ée-1"),
        }
        theirs = Team(id=FABRIKAM_TOUR_GUIDES, organisation_id=fabrikam.id,
                      fields=TeamFields(TOUR_GUIDES, external_id="tg-1"), created=at("2026-11-23T10:00:00+00:00"),
                      last_modified=at("2026-11-23T10:00:00+00:00"))
        self.add_teams(store, *everyone.values(), theirs)
        self.join(store, everyone[TOUR_GUIDES], BJENSEN, ADA)
        self.join(store, everyone[TOUR_OPERATIONS], ADA)
        self.join(store, everyone[ECRIVAINS], LINUS)
        self.join(store, theirs, FABRIKAM_BJENSEN)
        return everyone

    @pytest.mark.parametrize("filter, expected", FILTERS.values(), ids=FILTERS.keys())
    def test_a_filter_selects_exactly_the_matching_teams(self, store, contoso, population, filter, expected):
        """Every filter form on a team's attributes and its members, counted before paging."""
        page = self.search_teams(store, contoso, filter=filter)

        assert self.names(page) == expected
        assert page.total == len(expected)
        assert all(team == population[team.display_name] for team in page.resources)

    @pytest.mark.parametrize("query, expected", SORTS.values(), ids=SORTS.keys())
    def test_teams_are_ordered_and_paged_alike_in_every_store(self, store, contoso, population, query, expected):
        """sortBy displayName (ignoring case, by code point) or externalId, ascending or not, then creation;
        the total counts every team of the organisation whatever the page."""
        page = self.search_teams(store, contoso, **query)

        assert self.names(page) == expected
        assert page.total == len(EVERY_TEAM)

    def test_a_count_of_zero_gives_the_total_only(self, store, contoso, population):
        """count=0 asks how many teams match, a members filter included, and lists none."""
        page = self.search_teams(store, contoso, filter=Present(MEMBER), count=0)

        assert (page.total, page.resources) == (3, ())

    # -- the use cases, end to end -------------------------------------------------------------------------

    def test_the_team_service_creates_changes_replaces_and_deletes_a_team(self, store, clock, ids, contoso, crew):
        """TeamService over the store: a team created with members, renamed while one joins and one leaves,
        replaced with another membership, a change that changes nothing, and the delete; each change in
        the trail with its counts."""
        def serve(call):
            with store.transaction() as uow:
                return call(TeamService(uow, clock, ids))

        created = serve(lambda teams: teams.create(contoso.id, TeamFields("Tour Guides"), [BJENSEN, ADA]))
        clock.advance()
        renamed = serve(lambda teams: teams.update(contoso.id, created.id, lambda f: replace(f, display_name="Guides"),
                                                   MembershipChange(add=(GRACE,), remove=(ADA,))))
        assert (renamed.display_name, renamed.version) == ("Guides", 2)
        assert [r.value for r in self.members_of(store, renamed)] == [GRACE, BJENSEN]
        clock.advance()
        replaced = serve(lambda teams: teams.replace(contoso.id, created.id,
                                                     lambda f: TeamFields("Guides", external_id="g-1"), [LINUS, GRACE]))
        assert [r.value for r in self.members_of(store, replaced)] == [GRACE, LINUS]
        unchanged = serve(lambda teams: teams.update(contoso.id, created.id, lambda f: f,
                                                     MembershipChange(add=(LINUS,))))
        assert unchanged == replaced == self.get_team(store, contoso, created.id) and replaced.version == 3
        serve(lambda teams: teams.delete(contoso.id, created.id))

        with pytest.raises(NotFound):
            self.get_team(store, contoso, created.id)
        assert self.get(store, contoso, LINUS) == crew[LINUS]
        trail = store.read(lambda uow: uow.activity.list(contoso.id))
        assert [(a.event, a.team_id, a.added, a.removed) for a in trail] == [
            (TEAM_DELETE, created.id, None, None), (TEAM_REPLACE, created.id, 1, 1),
            (TEAM_RENAME, created.id, 1, 1), (TEAM_CREATE, created.id, 2, None)]


# -- the stores ----------------------------------------------------------------------------------------

class TestInMemoryTeams(TeamContract):
    @pytest.fixture
    def store(self) -> Store:
        return MemoryStore()


class SqlTeamContract(TeamContract):
    """The contract, plus what only a SQL store can show: the rows, the statements, the indexes."""

    @pytest.fixture
    def store(self, migrated_engine) -> SqlStore:
        return SqlStore(migrated_engine)

    def fill(self, store: SqlStore, organisation: Organisation, team: Team | None, count: int, *,
             prefix: str = "9000") -> list[str]:
        """``count`` members of ``organisation`` written straight into the tables, members of ``team`` if
        given: a large team, built faster than requests would."""
        member_ids = [f"00000000-0000-4000-{prefix}-{n:012d}" for n in range(count)]
        with store.engine.begin() as connection:
            connection.execute(members.insert(), [
                {"id": member_id, "organisation_id": organisation.id, "user_name": f"member-{prefix}-{n}",
                 "user_name_key": f"member-{prefix}-{n}", "active": True, "emails": [], "phone_numbers": [],
                 "addresses": [], "is_admin": False, "api_access": False, "created": START, "last_modified": START,
                 "version": 1}
                for n, member_id in enumerate(member_ids)])
            if team is not None:
                connection.execute(team_members.insert(), [
                    {"team_id": team.id, "member_id": member_id, "organisation_id": organisation.id}
                    for member_id in member_ids])
        return member_ids

    def test_memberships_are_rows_that_go_with_their_team_or_member(self, store, clock, ids, contoso, crew):
        """One team_members row per membership, none left once the team or the member is deleted."""
        guides, writers = self.team(clock, ids, contoso, "Tour Guides"), self.team(clock, ids, contoso, "Writers")
        self.add_teams(store, guides, writers)
        self.join(store, guides, BJENSEN, ADA, GRACE)
        self.join(store, writers, BJENSEN)
        assert [store.rows(teams), store.rows(team_members)] == [2, 4]

        store.run(lambda uow: uow.teams.remove(contoso.id, guides.id))
        assert [store.rows(teams), store.rows(team_members)] == [1, 1]
        store.run(lambda uow: uow.members.remove(contoso.id, BJENSEN))
        assert store.rows(team_members) == 0

    def test_a_membership_change_costs_the_same_statements_whatever_the_teams_size(self, store, clock, ids,
                                                                                   contoso, crew):
        """Adding and removing members of a team of 2,000 sends the very statements it sends for a team of
        two, and naming 500 members as many as naming two: one read of the team and one write each."""
        small, large = self.team(clock, ids, contoso, "Small"), self.team(clock, ids, contoso, "Large")
        self.add_teams(store, small, large)
        self.join(store, small, BJENSEN, ADA)
        self.fill(store, contoso, large, 2000)
        newcomers = self.fill(store, contoso, None, 500, prefix="a000")

        def change(team: Team, member_ids: list[str]) -> tuple[list[str], tuple[int, int]]:
            """The statements of one request adding bjensen and ``member_ids`` and removing them but
            bjensen, with NOBODY; and what the two calls counted."""
            counted = []

            def work(uow):
                counted.append((uow.teams.add_members(contoso.id, team.id, [*member_ids, BJENSEN]),
                                uow.teams.remove_members(contoso.id, team.id, [*member_ids, NOBODY])))
            return [sql for sql, _ in statements_sent(store, work)], counted[0]

        small_sent, small_counted = change(small, [GRACE, LINUS])
        large_sent, large_counted = change(large, [GRACE, LINUS])
        many_sent, many_counted = change(large, newcomers)

        assert small_sent == large_sent == many_sent
        assert len(small_sent) == 4
        assert [small_counted, large_counted, many_counted] == [(2, 2), (3, 2), (500, 500)]
        assert self.counts(store, contoso, small.id, large.id) == {small.id: 2, large.id: 2001}

    def test_a_get_or_a_look_up_reads_the_member_and_their_teams_in_one_statement(self, store, clock, ids,
                                                                                   contoso, crew):
        """In a reading unit, a member read by id or by Entra's ``userName eq`` brings their teams along:
        the ``teams_of`` that follows (a GET's ``groups``) sends nothing. A page of all sends its own."""
        writers, guides = self.in_creation_order_not_of_id(clock, ids, contoso)
        self.add_teams(store, writers, guides)
        self.join(store, writers, BJENSEN)
        by_user_name = Query(filter=Compare(USER.path("userName"), Operator.EQ, "bjensen"), count=100)

        def teams_after(read):
            def work(uow):
                read(uow)
                return uow.teams.teams_of(contoso.id, [BJENSEN])
            return work

        for read in (lambda uow: uow.members.get(contoso.id, BJENSEN),
                     lambda uow: uow.members.search(contoso.id, by_user_name)):
            assert len(statements_sent(store, teams_after(read), read_only=True)) == 1
        every = lambda uow: uow.members.search(contoso.id, Query(count=100))  # noqa: E731
        assert len(statements_sent(store, teams_after(every), read_only=True)) == 2

    def test_a_write_reads_the_member_and_their_teams_in_one_statement_too(self, store, clock, ids, contoso, crew):
        """In a unit that writes (a PATCH's), the member's teams come with the member as well: the
        ``teams_of`` of the write's response, after the member's UPDATE and the trail's INSERT, sends
        nothing; after a write to the teams it reads them again."""
        writers, guides = self.in_creation_order_not_of_id(clock, ids, contoso)
        self.add_teams(store, writers, guides)
        self.join(store, writers, BJENSEN)

        def patched(uow):
            member = uow.members.get(contoso.id, BJENSEN)
            changed = member.with_fields(replace(member.fields, title="Guide"), clock.advance())
            uow.members.update(changed, expected_version=member.version,
                               changes=USER.diff(member.fields, changed.fields))
            uow.activity.record(Activity(at=clock.advance(), organisation_id=contoso.id, event=UPDATE,
                                         member_id=BJENSEN))
            return uow.teams.teams_of(contoso.id, [BJENSEN])

        assert [sql.split()[0] for sql, _ in statements_sent(store, patched)] == ["SELECT", "UPDATE", "INSERT"]

        def joined(uow):
            uow.members.get(contoso.id, BJENSEN)
            uow.teams.add_members(contoso.id, guides.id, [BJENSEN])
            return uow.teams.teams_of(contoso.id, [BJENSEN])

        sent = [sql.split()[0] for sql, _ in statements_sent(store, joined)]
        assert sent[0] == "SELECT" and sent[-1] == "SELECT" and len(sent) > 2

    def test_a_member_leaving_every_team_is_one_statement_per_table(self, store, clock, ids, contoso, crew):
        """leave_all: a read of the member (which locks them where the database has row locks), one UPDATE of
        the teams, one DELETE of the memberships, however many teams."""
        squads = [self.team(clock, ids, contoso, f"Squad {n}") for n in range(30)]
        self.add_teams(store, *squads)
        store.run(lambda uow: [uow.teams.add_members(contoso.id, squad.id, [BJENSEN]) for squad in squads])

        sent = statements_sent(store, lambda uow: uow.teams.leave_all(contoso.id, BJENSEN, clock.advance()))

        assert [sql.split()[0] for sql, _ in sent] == ["SELECT", "UPDATE", "DELETE"]
        assert self.teams_of(store, contoso, BJENSEN) == {}

    def test_checking_many_members_is_one_read(self, store, contoso, crew):
        """MemberRepository.existing: one SELECT for 2,000 ids, whatever they are."""
        filler = self.fill(store, contoso, None, 1996)
        named = [*filler, BJENSEN, NOBODY, FABRIKAM_BJENSEN, "x" * 80, "nul\x00"]

        sent = statements_sent(store, lambda uow: uow.members.existing(contoso.id, named))
        found = store.read(lambda uow: uow.members.existing(contoso.id, named))

        assert len(sent) == 1
        assert found == frozenset([*filler, BJENSEN])

    def test_a_large_team_is_read_in_order_through_batches(self, store, clock, ids, contoso):
        """A team of more members than one batch of the stream reads back whole and in order of id."""
        large = self.team(clock, ids, contoso, "Large")
        self.add_teams(store, large)
        member_ids = self.fill(store, contoso, large, 2500)

        listed = store.read(lambda uow: uow.teams.members(contoso.id, large.id, lambda refs: [r.value for r in refs]))

        assert listed == sorted(member_ids)

    @pytest.mark.parametrize("work, indexes", [
        (lambda uow, org, team: uow.teams.members(org, team, list),
         {"sqlite": "sqlite_autoindex_team_members_1", "postgresql": "pk_team_members"}),
        (lambda uow, org, team: uow.teams.teams_of(org, ["00000000-0000-4000-9000-000000000007"]),
         {"sqlite": "ix_team_members_member_id_team_id", "postgresql": "ix_team_members_member_id_team_id"}),
        (lambda uow, org, team: uow.teams.search(org, Query(filter=Compare(MEMBER, O.EQ,
                                                                           "00000000-0000-4000-9000-000000000007"))),
         {"sqlite": "ix_team_members_member_id_team_id", "postgresql": "ix_team_members_member_id_team_id"}),
        (lambda uow, org, team: uow.members.existing(org, ["00000000-0000-4000-9000-000000000007"]),
         {"sqlite": "sqlite_autoindex_members_1", "postgresql": "pk_members"}),
    ], ids=["a team's members", "a member's teams", "members.value eq", "existing members"])
    def test_membership_reads_are_index_backed(self, store, clock, ids, contoso, work, indexes):
        """The reads a Group request makes use the membership table's primary key and its (member_id,
        team_id) index, in an organisation large enough for the planner to care."""
        squads = [self.team(clock, ids, contoso, f"Squad {n}") for n in range(50)]
        self.add_teams(store, *squads)
        member_ids = self.fill(store, contoso, None, 2000)
        with store.engine.begin() as connection:
            connection.execute(team_members.insert(), [
                {"team_id": squads[n % 50].id, "member_id": member_id, "organisation_id": contoso.id}
                for n, member_id in enumerate(member_ids)])
            connection.exec_driver_sql("ANALYZE")

        sent = statements_sent(store, lambda uow: work(uow, contoso.id, squads[7].id))
        statement, parameters = sent[-1]
        with store.engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                plan = connection.exec_driver_sql(f"EXPLAIN {statement}", parameters).scalars().all()
            else:
                plan = [row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)]
            index = indexes[connection.dialect.name]

        assert any(index in line for line in plan), plan


class TestSqliteTeams(SqlTeamContract):
    @pytest.fixture
    def database_url(self, sqlite_url) -> str:
        return sqlite_url

    def test_checking_members_looks_each_id_up_without_statistics(self, store, contoso, crew):
        """MemberRepository.existing looks up each id by primary key even where no ANALYZE has run (as in
        production), instead of scanning the organisation's members: a one-member PATCH of a group must not
        cost in proportion to the organisation."""
        self.fill(store, contoso, None, 2000)

        sent = statements_sent(store, lambda uow: uow.members.existing(contoso.id, [BJENSEN]))
        statement, parameters = sent[-1]
        with store.engine.connect() as connection:
            assert connection.exec_driver_sql(
                "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'").scalar() == 0
            plan = [row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)]

        assert any("sqlite_autoindex_members_1" in line for line in plan), plan
        assert not any("organisation_id" in line for line in plan), plan


@pytest.mark.postgres
class TestPostgresTeams(SqlTeamContract):
    @pytest.fixture
    def database_url(self, postgres_url) -> str:
        return postgres_url

    def test_a_member_deleted_while_joining_a_team_still_touches_that_team(self, store, people, clock, ids, contoso):
        """A member's delete that starts while another transaction is adding them to a team waits for it to
        end, then takes them out of that team too and touches it: the team's version says its membership
        changed. (On SQLite the two cannot overlap: writers take turns.)"""
        bjensen = people.member(contoso, "bjensen")
        guides = self.team(clock, ids, contoso, "Tour Guides")
        self.add(store, bjensen)
        self.add_teams(store, guides)
        joined = threading.Event()

        def work(n: int):
            if n == 0:
                with store.transaction() as uow:
                    with uow:
                        uow.teams.add_members(contoso.id, guides.id, [bjensen.id])
                        uow.commit()
                    joined.set()
                    time.sleep(0.5)  # not committed yet: the delete starts meanwhile, and waits
                return None
            joined.wait(timeout=10)
            with store.transaction() as uow:
                return MemberService(uow, clock, ids).delete(contoso.id, bjensen.id)

        assert race(work, writers=2) == [None, None]
        assert self.get_team(store, contoso, guides.id).version == 2
        assert self.members_of(store, guides) == []
