"""``activity``, ``org show`` and ``org list`` with teams, on SQLite and PostgreSQL, after Entra's Group
requests over the SCIM API: each team event with the team's id, the attribute names and how many members
joined and left, never who; the number of teams beside the number of members."""
from __future__ import annotations

import json

import pytest

from tests.integration.cli.conftest import bearer

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
MINUS = "\N{MINUS SIGN}"
#: A team id no team has: a PATCH to it is refused, and the refusal names it.
NO_SUCH_TEAM = "00000000-0000-4000-8000-000000000404"


def user(scim, token: str, user_name: str) -> str:
    return scim.post_json("/scim/v2/Users", {"userName": user_name, "active": True}, headers=bearer(token),
                          status=201).json["id"]


def group(scim, token: str, display_name: str, external_id: str, member_ids=()) -> str:
    return scim.post_json("/scim/v2/Groups", {"schemas": [CORE_GROUP], "displayName": display_name,
                                              "externalId": external_id,
                                              "members": [{"value": m} for m in member_ids]},
                          headers=bearer(token), status=201).json["id"]


def patch_group(scim, token: str, team_id: str, *operations, status: int = 204):
    return scim.patch_json(f"/scim/v2/Groups/{team_id}", {"schemas": [PATCH_OP], "Operations": list(operations)},
                           headers=bearer(token), status=status)


@pytest.fixture
def team_cycle(contoso, scim) -> dict[str, str]:
    """What Entra (and Okta's PUT) do to a team, one request each: create it with two members, remove
    one, rename it, put its whole membership, a PATCH to a team that is not there, delete it. The team's
    id, the members' ids and each request's X-Request-Id, by step."""
    bjensen, adele = user(scim, contoso, "bjensen"), user(scim, contoso, "adele")
    created = scim.post_json("/scim/v2/Groups", {"schemas": [CORE_GROUP], "displayName": "Platform",
                                                 "externalId": "e-platform",
                                                 "members": [{"value": bjensen}, {"value": adele}]},
                             headers=bearer(contoso), status=201)
    team = created.json["id"]
    steps = {"team": team, "bjensen": bjensen, "adele": adele, "create": created.headers["X-Request-Id"]}
    steps["remove"] = patch_group(scim, contoso, team, {"op": "Remove", "path": f'members[value eq "{adele}"]'}
                                  ).headers["X-Request-Id"]
    steps["rename"] = patch_group(scim, contoso, team, {"op": "Replace", "path": "displayName",
                                                        "value": "Platform team"}).headers["X-Request-Id"]
    steps["put"] = scim.put_json(f"/scim/v2/Groups/{team}", {"schemas": [CORE_GROUP], "displayName": "Platform team",
                                                             "externalId": "e-platform",
                                                             "members": [{"value": adele}]},
                                 headers=bearer(contoso)).headers["X-Request-Id"]
    steps["refused"] = patch_group(scim, contoso, NO_SUCH_TEAM, {"op": "Add", "path": "members",
                                                                 "value": [{"value": bjensen}]},
                                   status=404).headers["X-Request-Id"]
    steps["delete"] = scim.delete(f"/scim/v2/Groups/{team}", headers=bearer(contoso),
                                  status=204).headers["X-Request-Id"]
    return steps


def test_each_team_event_is_one_line_with_the_team_id_attribute_names_and_member_counts(wiggledesk, team_cycle):
    code, out, err = wiggledesk("activity", "Contoso", "--limit", "6")
    assert (code, err) == (0, "")
    _, records, _ = wiggledesk("activity", "Contoso", "--json", "--limit", "6")
    times = [json.loads(line)["time"] for line in records.splitlines()]
    team, steps = team_cycle["team"], team_cycle
    assert out.splitlines() == [
        f"{times[0]}  team_delete  team {team}  request {steps['delete']}",
        f"{times[1]}  refused  team {NO_SUCH_TEAM}  status 404  request {steps['refused']}",
        f"{times[2]}  team_replace  team {team}  +1 {MINUS}1 members  request {steps['put']}",
        f"{times[3]}  team_rename  team {team}  displayName  request {steps['rename']}",
        f"{times[4]}  team_update  team {team}  +0 {MINUS}1 members  request {steps['remove']}",
        f"{times[5]}  team_create  team {team}  externalId,displayName  +2 members  request {steps['create']}",
    ]
    for value in (team_cycle["bjensen"], team_cycle["adele"], "bjensen", "adele", "Platform", "e-platform"):
        assert value not in out


def test_json_records_carry_the_team_id_and_the_counts_of_members_added_and_removed(wiggledesk, team_cycle):
    _, out, _ = wiggledesk("activity", "Contoso", "--json", "--limit", "6")
    records = [json.loads(line) for line in out.splitlines()]
    assert [(r["event"], r["team_id"], r["member_id"], r["attributes"], r["added"], r["removed"])
            for r in records] == [
        ("team_delete", team_cycle["team"], None, [], None, None),
        ("refused", NO_SUCH_TEAM, None, [], None, None),
        ("team_replace", team_cycle["team"], None, [], 1, 1),
        ("team_rename", team_cycle["team"], None, ["displayName"], None, None),
        ("team_update", team_cycle["team"], None, [], 0, 1),
        ("team_create", team_cycle["team"], None, ["externalId", "displayName"], 2, None),
    ]
    assert (records[1]["status"], records[1]["request_id"]) == (404, team_cycle["refused"])


def test_a_members_records_say_they_are_about_no_team(wiggledesk, team_cycle):
    (record,) = [json.loads(line) for line in wiggledesk("activity", "Contoso", "--json", "--event", "create",
                                                          "--member", team_cycle["bjensen"])[1].splitlines()]
    assert (record["member_id"], record["team_id"], record["added"], record["removed"]) == (
        team_cycle["bjensen"], None, None, None)


@pytest.mark.parametrize("event, step", [("team_create", "create"), ("team_update", "remove"),
                                         ("team_rename", "rename"), ("team_replace", "put"),
                                         ("team_delete", "delete")])
def test_every_team_event_is_a_filter(wiggledesk, team_cycle, event, step):
    code, out, err = wiggledesk("activity", "Contoso", "--event", event)
    assert (code, err) == (0, "")
    (line,) = out.splitlines()
    assert line.split("  ")[1:3] == [event, f"team {team_cycle['team']}"]
    assert line.endswith(f"  request {team_cycle[step]}")


def test_the_help_offers_the_team_events(capsys, wiggledesk, contoso):
    with pytest.raises(SystemExit):
        wiggledesk("activity", "--help")
    assert "team_create,team_rename,team_update,team_replace,team_delete}" in capsys.readouterr().out


def test_org_show_says_how_many_teams_the_organisation_has(wiggledesk, contoso, scim):
    bjensen = user(scim, contoso, "bjensen")
    group(scim, contoso, "Platform", "e-platform", [bjensen])
    group(scim, contoso, "Analytics", "e-analytics")
    wiggledesk("onboard", "Fabrikam", "grace@fabrikam.example")

    code, out, err = wiggledesk("org", "show", "Contoso")
    assert (code, err) == (0, "")
    assert out.splitlines()[2:4] == ["  Members:       2 (2 active, 0 inactive)", "  Teams:         2"]
    assert "  Last 24 hours: create 1, team_create 2" in out.splitlines()
    assert json.loads(wiggledesk("org", "show", "Contoso", "--json")[1])["teams"] == 2
    assert "  Teams:         0" in wiggledesk("org", "show", "Fabrikam")[1].splitlines()


def test_org_list_counts_each_organisations_teams(wiggledesk, contoso, scim):
    group(scim, contoso, "Platform", "e-platform")
    wiggledesk("onboard", "Fabrikam", "grace@fabrikam.example")

    code, out, err = wiggledesk("org", "list")
    assert (code, err) == (0, "")
    records = [json.loads(line) for line in wiggledesk("org", "list", "--json")[1].splitlines()]
    assert [(r["name"], r["teams"]) for r in records] == [("Contoso", 1), ("Fabrikam", 0)]
    contoso_record, fabrikam_record = records
    assert out.splitlines() == [
        f'{contoso_record["id"]}  "Contoso"  api-access on  members 1 (1 active)  teams 1  tokens 1  '
        f'last request {contoso_record["last_request"]}',
        f'{fabrikam_record["id"]}  "Fabrikam"  api-access on  members 1 (1 active)  teams 0  tokens 1  '
        "last request never",
    ]
