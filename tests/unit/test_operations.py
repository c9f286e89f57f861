"""Operations: what the CLI and the ops console do to organisations, members' settings and the trail."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from tests.support import START
from wiggledesk_scim.domain import access
from wiggledesk_scim.domain.activity import CREATE, DEPROVISION, REFUSED, Activity
from wiggledesk_scim.domain.errors import AccessRefused, InvalidValue, NotFound
from wiggledesk_scim.adapters.memory import InMemoryTeamRepository
from wiggledesk_scim.domain.model import Email, MemberFields, Organisation, TeamFields
from wiggledesk_scim.domain.operations import Operations, TeamListing, TeamSummary
from wiggledesk_scim.domain.teams import TeamService


@pytest.fixture
def operations(uow, clock, authority, onboarded) -> Operations:
    return Operations(uow, clock, authority)


@pytest.fixture
def teams(uow, clock, ids) -> TeamService:
    return TeamService(uow, clock, ids)


def test_an_organisation_is_found_by_id_by_name_and_by_name_ignoring_case(operations, contoso):
    organisation = contoso.organisation
    assert operations.organisation(organisation.id) == organisation
    assert operations.organisation("Contoso") == organisation
    assert operations.organisation("contoso") == organisation


def test_an_exact_name_wins_over_one_that_differs_in_case(operations, uow, contoso):
    other = Organisation(id="o-lower", name="contoso")
    with uow:
        uow.organisations.add(other)
        uow.commit()
    assert operations.organisation("contoso") == other
    assert operations.organisation("Contoso") == contoso.organisation


def test_an_unknown_or_ambiguous_organisation_is_refused(operations, uow):
    with pytest.raises(NotFound, match='No organisation is called "Northwind"'):
        operations.organisation("Northwind")
    with uow:
        uow.organisations.add(Organisation(id="o-a", name="Twins"))
        uow.organisations.add(Organisation(id="o-b", name="Twins"))
        uow.commit()
    with pytest.raises(InvalidValue, match='2 organisations are called "Twins"; give the id'):
        operations.organisation("Twins")


def test_overviews_count_members_tokens_and_the_trail_per_window(operations, uow, clock, members, contoso,
                                                                 fabrikam):
    bjensen = members.provision(contoso.organisation.id, MemberFields(user_name="bjensen"))
    members.deprovision(contoso.organisation.id, bjensen.id)
    with uow:
        uow.activity.record(Activity(at=clock.now() - timedelta(days=3), organisation_id=contoso.organisation.id,
                                     event=CREATE, member_id="m-old"))
        uow.activity.record(Activity(at=clock.now() - timedelta(days=8), organisation_id=contoso.organisation.id,
                                     event=CREATE, member_id="m-older"))
        uow.commit()

    overviews = {o.organisation.name: o for o in operations.overviews()}

    assert list(overviews) == ["Contoso", "Fabrikam"]
    ours = overviews["Contoso"]
    assert (ours.members, ours.active_members, ours.inactive_members) == (2, 1, 1)
    assert [token.admin_id for token in ours.tokens] == [contoso.admin.id]
    assert ours.last_day == {CREATE: 1, DEPROVISION: 1}
    assert ours.last_week == {CREATE: 2, DEPROVISION: 1}
    assert overviews["Fabrikam"].last_week == {}
    assert operations.overview("contoso") == ours


def test_the_last_request_is_the_latest_use_of_any_of_the_organisations_tokens(operations, authority, clock,
                                                                               contoso):
    assert operations.overview("Contoso").last_request is None
    clock.advance(120)
    authority.authenticate(contoso.token)
    assert operations.overview("Contoso").last_request == clock.now()


def test_an_overview_counts_the_organisations_teams_and_no_one_elses(operations, teams, contoso, fabrikam):
    for name in ("Platform", "Analytics"):
        teams.create(contoso.organisation.id, TeamFields(display_name=name))
    teams.create(fabrikam.organisation.id, TeamFields(display_name="Platform"))

    assert operations.overview("Contoso").teams == 2
    assert [(o.organisation.name, o.teams) for o in operations.overviews()] == [("Contoso", 2), ("Fabrikam", 1)]


# -- teams ------------------------------------------------------------------------------------------

def test_teams_are_listed_by_display_name_ignoring_case_with_their_member_counts(operations, teams, members, clock,
                                                                                 contoso, fabrikam):
    org = contoso.organisation.id
    bjensen = members.provision(org, MemberFields(user_name="bjensen"))
    platform = teams.create(org, TeamFields(display_name="Platform", external_id="e-platform"),
                            [contoso.admin.id, bjensen.id])
    clock.advance(60)
    analytics = teams.create(org, TeamFields(display_name="analytics"), [bjensen.id])
    berlin = teams.create(org, TeamFields(display_name="Berlin office"))
    teams.create(fabrikam.organisation.id, TeamFields(display_name="Aardvarks"))

    assert operations.teams(org, limit=10) == TeamListing(
        teams=(TeamSummary(analytics, 1), TeamSummary(berlin, 0), TeamSummary(platform, 2)), total=3)
    first_two = operations.teams(org, limit=2)
    assert [summary.team.display_name for summary in first_two.teams] == ["analytics", "Berlin office"]
    assert (first_two.total, first_two.unlisted) == (3, 1)
    assert operations.teams(fabrikam.organisation.id, limit=10).unlisted == 0


class CountedTeams(InMemoryTeamRepository):
    """The in-memory teams, counting the reads a listing makes; its counts leave out empty teams, as a
    store counting membership rows may."""

    def __init__(self, store):
        super().__init__(store)
        self.reads: list[str] = []

    def search(self, organisation_id, query):
        self.reads.append("search")
        return super().search(organisation_id, query)

    def members(self, organisation_id, team_id, read):
        self.reads.append("members")
        return super().members(organisation_id, team_id, read)

    def member_counts(self, organisation_id, team_ids):
        self.reads.append("member_counts")
        return {team_id: count for team_id, count in super().member_counts(organisation_id, team_ids).items()
                if count}


def test_a_listing_reads_the_teams_once_and_their_member_counts_once(operations, teams, uow, store, contoso):
    """Two reads however many teams: never one per team. A team the counts leave out has no members."""
    org = contoso.organisation.id
    for n in range(30):
        teams.create(org, TeamFields(display_name=f"Team {n:02}"), [contoso.admin.id] if n % 2 else [])
    uow.teams = counted = CountedTeams(store)

    listing = operations.teams(org, limit=30)

    assert counted.reads == ["search", "member_counts"]
    assert [summary.members for summary in listing.teams] == [n % 2 for n in range(30)]


def test_a_member_is_found_by_user_name_else_by_their_only_email(operations, members, contoso):
    org = contoso.organisation.id
    mara = members.provision(org, MemberFields(user_name="mara", emails=(Email("Mara@Contoso.example"),)))
    assert operations.member(org, "ADA@contoso.example") == contoso.admin
    assert operations.member(org, "mara@contoso.example") == mara
    members.provision(org, MemberFields(user_name="mara2", emails=(Email("mara@contoso.example"),)))
    with pytest.raises(InvalidValue, match="Several members"):
        operations.member(org, "mara@contoso.example")
    with pytest.raises(NotFound, match="nobody@contoso.example"):
        operations.member(org, "nobody@contoso.example")


@pytest.mark.parametrize("switch, refusal, forbidden", [
    (lambda ops, org, email: ops.set_api_access(org.name, False), access.ORGANISATION_OFF, True),
    (lambda ops, org, email: ops.set_member_api_access(org.id, email, False), access.ADMIN_OFF, True),
    (lambda ops, org, email: ops.set_member_admin(org.id, email, False), access.NOT_ADMIN, False),
])
def test_a_setting_switched_off_refuses_the_admins_token_and_switched_on_lets_it_in(
        operations, authority, contoso, switch, refusal, forbidden):
    """The same rules the token check reads: off refuses at the next request (403 for API access, 401
    for a lost admin role), saying what to switch back on; on again, the same token works."""
    org, email = contoso.organisation, contoso.admin.user_name
    switch(operations, org, email)
    with pytest.raises(AccessRefused) as refused:
        authority.authenticate(contoso.token)
    assert (str(refused.value), refused.value.forbidden) == (refusal, forbidden)

    operations.set_api_access(org.id, True)
    operations.set_member_api_access(org.id, email, True)
    operations.set_member_admin(org.id, email, True)
    assert authority.authenticate(contoso.token).admin_id == contoso.admin.id


def test_switching_a_member_setting_keeps_their_scim_version(operations, contoso):
    changed = operations.set_member_api_access(contoso.organisation.id, contoso.admin.user_name, False)
    assert changed == replace(contoso.admin, api_access=False)
    assert operations.set_member_api_access(contoso.organisation.id, contoso.admin.user_name, False) == changed


def test_switching_forgets_the_admins_accepted_tokens(uow, clock, ids, contoso, onboarded):
    accepted = access.AcceptedTokens(clock, timedelta(seconds=300))
    authority = access.StoredTokenAuthority(uow, clock, ids, accepted)
    operations = Operations(uow, clock, authority)
    authority.authenticate(contoso.token)
    operations.set_member_api_access(contoso.organisation.id, contoso.admin.user_name, False)
    with pytest.raises(AccessRefused):
        authority.authenticate(contoso.token)


def test_the_activity_trail_is_read_newest_first_with_filters(operations, uow, clock, contoso, fabrikam):
    org = contoso.organisation.id
    records = [Activity(at=START + timedelta(minutes=i), organisation_id=org, event=event, member_id=member)
               for i, (event, member) in enumerate([(CREATE, "m-1"), (DEPROVISION, "m-1"), (CREATE, "m-2")])]
    with uow:
        for record in records:
            uow.activity.record(record)
        uow.activity.record(Activity(at=START, organisation_id=fabrikam.organisation.id, event=REFUSED))
        uow.commit()

    assert operations.activity(org) == records[::-1]
    assert operations.activity(org, member_id="m-1") == [records[1], records[0]]
    assert operations.activity(org, since=START + timedelta(minutes=1), limit=1) == [records[2]]
    assert operations.activity(org, event=CREATE) == [records[2], records[0]]
    with pytest.raises(InvalidValue):
        operations.activity(org, limit=0)


def test_pruning_drops_what_is_older_than_the_retention(operations, uow, clock, contoso):
    org = contoso.organisation.id
    with uow:
        for days in (100, 91, 89):
            uow.activity.record(Activity(at=clock.now() - timedelta(days=days), organisation_id=org, event=CREATE))
        uow.commit()
    assert operations.prune_activity(timedelta(days=90)) == 2
    assert [a.at for a in operations.activity(org)] == [clock.now() - timedelta(days=89)]
    with pytest.raises(InvalidValue):
        operations.prune_activity(timedelta(0))


def test_a_store_that_keeps_no_documents_has_none_to_refresh(operations, contoso):
    """The in-memory store renders members as they are read, so ``refresh-documents`` finds nothing to do
    there: nothing rendered, nothing looked at, no more batches."""
    from wiggledesk_scim.domain.scim.representation import USER_DOCUMENTS

    assert operations.refresh_renditions(USER_DOCUMENTS, None, 10) == (0, 0, None)
