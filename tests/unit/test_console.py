"""The ops console's reads: the trail filter as typed into its form, the health per window, the pages."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from tests.support import START
from wiggledesk_scim.domain.activity import (CREATE, DEPROVISION, REFUSED, REPLACE, RESTORE, TEAM_CREATE, TEAM_DELETE,
                                             TEAM_RENAME, TEAM_REPLACE, TEAM_UPDATE, UPDATE, Activity)
from wiggledesk_scim.domain.console import TEAMS_LISTED, Console, Health, TrailFilter
from wiggledesk_scim.domain.errors import InvalidValue, NotFound
from wiggledesk_scim.domain.model import MemberFields, TeamFields
from wiggledesk_scim.domain.operations import Operations, TeamListing, TeamSummary
from wiggledesk_scim.domain.teams import MembershipChange, TeamService


# -- the trail filter -------------------------------------------------------------------------------

def test_an_empty_form_shows_the_hundred_newest_records_of_every_kind():
    assert TrailFilter.parse() == TrailFilter(event=None, member_id=None, since=None, limit=100)
    assert TrailFilter.parse(event=" ", member_id="", since="  ", limit="") == TrailFilter()


def test_a_filled_form_becomes_a_filter():
    parsed = TrailFilter.parse(event="deprovision", member_id=" 00000000-0000-4000-8000-000000000007 ",
                               since="2026-11-20", limit="1000")

    assert parsed == TrailFilter(event=DEPROVISION, member_id="00000000-0000-4000-8000-000000000007",
                                 since=datetime(2026, 11, 20, tzinfo=timezone.utc), limit=1000)


@pytest.mark.parametrize("event", [TEAM_CREATE, TEAM_RENAME, TEAM_UPDATE, TEAM_REPLACE, TEAM_DELETE])
def test_a_teams_event_is_a_filter_too(event):
    assert TrailFilter.parse(event=event) == TrailFilter(event=event)


@pytest.mark.parametrize(("since", "moment"), [
    ("2026-11-20", datetime(2026, 11, 20, tzinfo=timezone.utc)),
    ("2026-11-20T09:14", datetime(2026, 11, 20, 9, 14, tzinfo=timezone.utc)),
    ("2026-11-20 09:14:07Z", datetime(2026, 11, 20, 9, 14, 7, tzinfo=timezone.utc)),
    ("2026-11-20T09:14:07z", datetime(2026, 11, 20, 9, 14, 7, tzinfo=timezone.utc)),
    ("2026-11-20T10:14:07+01:00", datetime(2026, 11, 20, 9, 14, 7, tzinfo=timezone.utc)),
])
def test_since_is_a_date_or_an_iso_time_in_utc_unless_it_has_an_offset(since, moment):
    parsed = TrailFilter.parse(since=since).since

    assert parsed == moment and parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(("fields", "message"), [
    ({"event": "created"}, 'There is no event "created"; choose one of create, replace, update'),
    ({"member_id": "x" * 201}, "A member id is at most 200 characters long."),
    ({"since": "last tuesday"}, '"last tuesday" is not a date or time; write 2026-11-23 or'),
    ({"since": "2026-02-30"}, '"2026-02-30" is not a date or time'),
    ({"since": "9999-12-31T23:59:59-01:00"}, "is not a date or time"),
    ({"limit": "0"}, 'The limit "0" must be a whole number from 1 to 1000.'),
    ({"limit": "1001"}, 'The limit "1001" must be a whole number from 1 to 1000.'),
    ({"limit": "ten"}, 'The limit "ten" must be a whole number'),
    ({"limit": "-5"}, 'The limit "-5" must be a whole number'),
    ({"limit": "²"}, 'The limit "²" must be a whole number'),
    ({"limit": "9" * 40}, "must be a whole number from 1 to 1000"),
])
def test_a_wrong_field_is_refused_saying_how_to_write_it(fields, message):
    with pytest.raises(InvalidValue) as refused:
        TrailFilter.parse(**fields)

    assert message in refused.value.detail


def test_every_wrong_field_is_named_at_once():
    """Whoever typed three wrong fields learns of all three, not one per attempt."""
    with pytest.raises(InvalidValue) as refused:
        TrailFilter.parse(event="oops", since="yesterday", limit="5000")

    detail = refused.value.detail
    assert 'no event "oops"' in detail and '"yesterday" is not a date' in detail and '"5000"' in detail


# -- health -----------------------------------------------------------------------------------------

def test_health_counts_patch_and_put_as_updates_and_refusals_as_errors():
    counts = {CREATE: 3, UPDATE: 5, REPLACE: 2, DEPROVISION: 1, RESTORE: 4, REFUSED: 7}

    assert Health.of(counts) == Health(creates=3, updates=7, deprovisions=1, errors=7)
    assert Health.of({}) == Health(0, 0, 0, 0)


def test_health_is_the_members_provisioning_and_every_refusal():
    """A team's changes are listed with the team, not counted as creates or updates of members; a refused
    request is an error whichever resource it was about."""
    counts = {TEAM_CREATE: 2, TEAM_UPDATE: 9, TEAM_RENAME: 1, TEAM_REPLACE: 1, TEAM_DELETE: 1, REFUSED: 3}

    assert Health.of(counts) == Health(creates=0, updates=0, deprovisions=0, errors=3)


# -- the pages --------------------------------------------------------------------------------------

@pytest.fixture
def console(uow, clock, authority, onboarded) -> Console:
    return Console(Operations(uow, clock, authority))


@pytest.fixture
def teams(uow, clock, ids) -> TeamService:
    return TeamService(uow, clock, ids)


def test_the_organisations_page_lists_every_organisation_with_its_health(console, members, contoso):
    members.provision(contoso.organisation.id, MemberFields(user_name="bjensen"))

    overviews = console.organisations()

    assert [o.organisation.name for o in overviews] == ["Contoso", "Fabrikam"]
    assert Health.of(overviews[0].last_day) == Health(creates=1)
    assert Health.of(overviews[1].last_week) == Health()


def test_an_organisation_page_has_its_tokens_their_owners_and_the_filtered_trail(console, members, clock,
                                                                                 contoso, fabrikam):
    organisation_id = contoso.organisation.id
    bjensen = members.provision(organisation_id, MemberFields(user_name="bjensen"))
    clock.advance(60)
    members.deprovision(organisation_id, bjensen.id)
    members.provision(fabrikam.organisation.id, MemberFields(user_name="bjensen"))

    page = console.organisation(organisation_id, TrailFilter())

    assert page.overview.organisation == contoso.organisation
    assert [token.admin_id for token in page.overview.tokens] == [contoso.admin.id]
    assert page.owners == {contoso.admin.id: contoso.admin}
    assert [(a.event, a.member_id) for a in page.trail] == [(DEPROVISION, bjensen.id), (CREATE, bjensen.id)]
    only_creates = console.organisation("Contoso", TrailFilter(event=CREATE)).trail
    assert [a.event for a in only_creates] == [CREATE]
    assert console.organisation(organisation_id, TrailFilter(since=clock.now() + timedelta(seconds=1))).trail == []
    assert [a.at for a in console.organisation(organisation_id, TrailFilter(limit=1)).trail] == [clock.now()]


def test_a_refused_filter_still_shows_the_organisation_without_a_trail(console, contoso):
    page = console.organisation(contoso.organisation.id, None)

    assert page.trail is None
    assert page.overview.organisation == contoso.organisation


def test_a_token_whose_owner_has_gone_shows_no_owner(console, uow, store, contoso):
    """The page still renders if an owner disappears between reading the tokens and reading the owners."""
    with uow:
        (token,) = uow.tokens.list_for_organisation(contoso.organisation.id)
        uow.commit()
    store.tokens[token.id] = replace(token, admin_id="00000000-0000-4000-8000-000000000404")

    page = console.organisation(contoso.organisation.id, TrailFilter())

    assert page.owners == {}
    assert [t.admin_id for t in page.overview.tokens] == ["00000000-0000-4000-8000-000000000404"]


def test_an_unknown_organisation_is_not_found(console):
    with pytest.raises(NotFound):
        console.organisation("00000000-0000-4000-8000-000000000404", TrailFilter())


def test_the_trail_of_a_busy_organisation_is_cut_at_the_limit(console, uow, contoso):
    with uow:
        for n in range(150):
            uow.activity.record(Activity(at=START + timedelta(seconds=n), organisation_id=contoso.organisation.id,
                                         event=REFUSED, status=409, scim_type="uniqueness"))
        uow.commit()

    trail = console.organisation(contoso.organisation.id, TrailFilter()).trail

    assert len(trail) == 100 and trail[0].at == START + timedelta(seconds=149)


def test_an_organisation_page_lists_its_teams_by_display_name_with_member_counts(console, teams, members,
                                                                               contoso, fabrikam):
    org = contoso.organisation.id
    bjensen = members.provision(org, MemberFields(user_name="bjensen"))
    platform = teams.create(org, TeamFields(display_name="Platform", external_id="e-platform"), [bjensen.id])
    analytics = teams.create(org, TeamFields(display_name="analytics"), [bjensen.id, contoso.admin.id])
    teams.create(fabrikam.organisation.id, TeamFields(display_name="Aardvarks"))

    page = console.organisation(org, TrailFilter())

    assert page.teams == TeamListing(teams=(TeamSummary(analytics, 2), TeamSummary(platform, 1)), total=2)
    assert page.overview.teams == 2


def test_an_organisation_with_very_many_teams_lists_the_first_and_counts_the_rest(console, teams, contoso):
    org = contoso.organisation.id
    for n in range(TEAMS_LISTED + 5, 0, -1):
        teams.create(org, TeamFields(display_name=f"Team {n:04}"))

    listing = console.organisation(org, None).teams

    assert len(listing.teams) == TEAMS_LISTED == 200
    assert (listing.teams[0].team.display_name, listing.teams[-1].team.display_name) == ("Team 0001", "Team 0200")
    assert (listing.total, listing.unlisted) == (205, 5)


def test_a_teams_changes_are_in_the_trail_with_its_id_and_counts_and_filter_by_event(console, teams, members,
                                                                                   clock, contoso):
    org = contoso.organisation.id
    bjensen = members.provision(org, MemberFields(user_name="bjensen"))
    team = teams.create(org, TeamFields(display_name="Platform"), [bjensen.id, contoso.admin.id])
    clock.advance(60)
    teams.update(org, team.id, lambda fields: fields, MembershipChange().removing([bjensen.id]))
    clock.advance(60)
    teams.update(org, team.id, lambda fields: TeamFields(display_name="Platform team"))
    clock.advance(60)
    teams.delete(org, team.id)

    trail = console.organisation(org, TrailFilter()).trail

    assert [(a.event, a.team_id, a.member_id, a.attributes, a.added, a.removed) for a in trail[:4]] == [
        (TEAM_DELETE, team.id, None, (), None, None),
        (TEAM_RENAME, team.id, None, ("displayName",), None, None),
        (TEAM_UPDATE, team.id, None, (), 0, 1),
        (TEAM_CREATE, team.id, None, ("displayName",), 2, None),
    ]
    assert [a.event for a in console.organisation(org, TrailFilter(event=TEAM_UPDATE)).trail] == [TEAM_UPDATE]
    assert console.organisation(org, TrailFilter()).teams == TeamListing(teams=(), total=0)
