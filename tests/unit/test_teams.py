"""TeamService (domain/teams.py) and MembershipChange, below SCIM: how membership changes fold, count and
survive a lost race, on the in-memory store."""
from __future__ import annotations

import dataclasses
import json

import pytest

from tests.support import START
from wiggledesk_scim.adapters.memory import InMemoryTeamRepository, InMemoryUnitOfWork
from wiggledesk_scim.domain.errors import InvalidValue, VersionMismatch
from wiggledesk_scim.domain.model import Email, MemberFields, TeamFields
from wiggledesk_scim.domain.scim import groups
from wiggledesk_scim.domain.scim.body import SerialisedList, json_pieces
from wiggledesk_scim.domain.services import UPDATE_ATTEMPTS, MemberService
from wiggledesk_scim.domain.teams import UNCHANGED, MembershipChange, TeamService


@pytest.fixture
def teams(uow, clock, ids) -> TeamService:
    return TeamService(uow, clock, ids)


@pytest.fixture
def org(contoso) -> str:
    return contoso.organisation.id


@pytest.fixture
def people(members: MemberService, org) -> list[str]:
    return [members.provision(org, MemberFields(user_name=f"p{i}@contoso.example",
                                                emails=(Email(f"p{i}@contoso.example"),))).id for i in range(4)]


def ids_of(teams: TeamService, org: str, team_id: str) -> list[str]:
    return teams.read(org, team_id, lambda refs: [ref.value for ref in refs])[1]


# -- MembershipChange ---------------------------------------------------------------------------------

def test_a_change_folds_operations_in_order_the_last_word_on_a_member_winning():
    change = UNCHANGED.adding(["a", "b"]).removing(["b", "c"]).adding(["c", "a"])
    assert change == MembershipChange(False, ("a", "c"), ("b",))
    assert UNCHANGED.empty and not change.empty


def test_setting_the_membership_forgets_what_came_before_and_removing_then_only_narrows_it():
    change = UNCHANGED.removing(["x"]).setting(["a", "b", "a"]).removing(["b", "y"])
    assert change == MembershipChange(True, ("a",), ())
    assert not MembershipChange(True).empty


# -- the service -------------------------------------------------------------------------------------

def test_create_update_and_replace_count_what_they_change(teams, org, people, store):
    team = teams.create(org, TeamFields("Leeds"), [people[0], people[1], people[0]])
    assert ids_of(teams, org, team.id) == sorted(people[:2])
    changed = teams.update(org, team.id, lambda f: f, UNCHANGED.adding([people[2]]).removing([people[0]]))
    assert changed.version == 2
    replaced = teams.replace(org, team.id, lambda f: dataclasses.replace(f, external_id="x"), [people[3]])
    assert (replaced.version, replaced.fields.external_id) == (3, "x")
    assert ids_of(teams, org, team.id) == [people[3]]
    emptied = teams.update(org, team.id, lambda f: f, UNCHANGED.setting([]))
    assert ids_of(teams, org, team.id) == [] and emptied.version == 4
    assert [(r.event, r.added, r.removed) for r in store.activity if r.team_id == team.id] == [
        ("team_create", 2, None), ("team_update", 1, 1), ("team_replace", 1, 2), ("team_update", 0, 1)]


def test_a_change_that_changes_nothing_keeps_the_version_and_records_nothing(teams, org, people, store):
    team = teams.create(org, TeamFields("Leeds"), [people[0]])
    records = len(store.activity)
    same = teams.update(org, team.id, lambda f: f, UNCHANGED.adding([people[0]]).removing([people[1]]))
    assert same == team and len(store.activity) == records


def test_members_must_be_users_of_the_organisation(teams, org, people, fabrikam):
    team = teams.create(org, TeamFields("Leeds"))
    with pytest.raises(InvalidValue, match='members: "a", "b", "c" \\(and 1 more\\) are not Users'):
        teams.update(org, team.id, lambda f: f, UNCHANGED.adding(["a", "b", people[0], "c", fabrikam.admin.id]))
    assert ids_of(teams, org, team.id) == []


class RivalTeams(InMemoryTeamRepository):
    """A teams repository whose ``update`` first lets a rival writer rename the team, ``times`` times: the
    race a database notices only at the write (as ``test_services.RivalMembers`` does for members)."""

    def __init__(self, store, times: int):
        super().__init__(store)
        self.times = times

    def update(self, team, *, expected_version, changes=None):
        if self.times > 0:
            self.times -= 1
            stored = self.get(team.organisation_id, team.id)
            rival = stored.with_fields(TeamFields(f"Rival {self.times}", stored.fields.external_id), START)
            super().update(rival, expected_version=stored.version)
        super().update(team, expected_version=expected_version, changes=changes)


def racing(uow, clock, ids, times: int) -> TeamService:
    rival_uow = InMemoryUnitOfWork(uow.store)
    rival_uow.teams = RivalTeams(uow.store, times)
    rival_uow.members = uow.members
    return TeamService(rival_uow, clock, ids)


def test_a_lost_race_is_retried_and_the_counts_add_up_across_attempts(teams, uow, clock, ids, org, people, store):
    team = teams.create(org, TeamFields("Leeds"), [people[0]])
    changed = racing(uow, clock, ids, 1).update(org, team.id, lambda f: dataclasses.replace(f, external_id="e"),
                                                UNCHANGED.adding([people[1]]).removing([people[0]]))
    assert (changed.fields.display_name, changed.fields.external_id, changed.version) == ("Rival 0", "e", 3)
    assert ids_of(teams, org, team.id) == [people[1]]
    assert (store.activity[-1].added, store.activity[-1].removed) == (1, 1)


def test_with_an_expected_version_a_lost_race_is_a_version_mismatch(teams, uow, clock, ids, org, people):
    team = teams.create(org, TeamFields("Leeds"))
    with pytest.raises(VersionMismatch):
        racing(uow, clock, ids, 1).update(org, team.id, lambda f: f, UNCHANGED.adding([people[0]]),
                                          expected_version=1)
    assert ids_of(teams, org, team.id) == []


def test_a_team_that_keeps_changing_is_given_up_on_and_nothing_of_the_change_is_kept(teams, uow, clock, ids, org,
                                                                                     people):
    team = teams.create(org, TeamFields("Leeds"))
    with pytest.raises(VersionMismatch, match="keeps changing"):
        racing(uow, clock, ids, UPDATE_ATTEMPTS).update(org, team.id, lambda f: f, UNCHANGED.adding([people[0]]))
    assert ids_of(teams, org, team.id) == []


# -- rendering --------------------------------------------------------------------------------------

def test_members_are_rendered_in_batches_as_one_json_list(teams, org, people, monkeypatch):
    monkeypatch.setattr(groups, "RENDER_BATCH", 3)
    team = teams.create(org, TeamFields("Leeds"), people)
    _, rendered = teams.read(org, team.id, groups.render_members("https://h/scim/v2"))
    assert len(rendered.pieces) == 2
    assert [m["value"] for m in json.loads(b"".join(json_pieces({"members": rendered})))["members"]] == sorted(people)
    assert teams.read(org, teams.create(org, TeamFields("Empty")).id, groups.render_members("https://h"))[1] is None


def test_a_body_holding_serialised_lists_is_the_same_json_in_pieces():
    """A list response of teams with members: the pieces join into exactly the JSON of the same body built
    whole, and the members' pieces are written as they are (not copied into another)."""
    piece = b'{"value":"a"},{"value":"b"}'
    body = {"Resources": [{"id": "t1", "members": SerialisedList([piece, b'{"value":"c"}'])}, {"id": "t2"}],
            "totalResults": 2}
    pieces = json_pieces(body)
    assert any(p is piece for p in pieces)
    assert json.loads(b"".join(pieces)) == {"Resources": [{"id": "t1", "members": [
        {"value": "a"}, {"value": "b"}, {"value": "c"}]}, {"id": "t2"}], "totalResults": 2}
    assert SerialisedList([piece]) == SerialisedList([piece]) and SerialisedList([piece]) != [piece]


def test_a_body_without_serialised_lists_is_one_piece_and_a_lone_surrogate_goes_out_escaped():
    """Most bodies (every User) are written in one go; one holding what UTF-8 cannot carry (a lone
    surrogate a client sent) is still written, escaped, rather than failing the response."""
    assert json_pieces({"id": "u1", "active": True}) == [b'{"id":"u1","active":true}']
    (piece,) = json_pieces({"displayName": "Ada \ud800"})
    assert piece == b'{"displayName":"Ada \\ud800"}'
