"""``activity ORG`` and ``prune-activity`` on SQLite and PostgreSQL, after a whole Entra cycle over the
SCIM API: each step in order, attribute names and never their values, refusals with status and scimType."""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import update

from tests.integration.cli.conftest import bearer
from tests.support import FULL_USER
from wiggledesk_scim.adapters.sqlalchemy.tables import activity
from wiggledesk_scim.domain.access import OWNER_DELETED
from wiggledesk_scim.domain.activity import DELETE, LOCKED_OUT

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:"


def patch(scim, token, member_id, path, value, status=200):
    return scim.patch_json(f"/scim/v2/Users/{member_id}", {"schemas": [PATCH_OP], "Operations": [
        {"op": "Replace", "path": path, "value": value}]}, headers=bearer(token), status=status)


@pytest.fixture
def cycle(contoso, scim) -> str:
    """Entra's cycle for one member: create, update, deprovision, restore, replace, a refused update,
    delete. The member's id."""
    member = scim.post_json("/scim/v2/Users", FULL_USER, headers=bearer(contoso), status=201).json["id"]
    patch(scim, contoso, member, "displayName", "Adele V.")
    patch(scim, contoso, member, "active", "False")
    patch(scim, contoso, member, "active", "True")
    scim.put_json(f"/scim/v2/Users/{member}", {**FULL_USER, "title": "Director"}, headers=bearer(contoso))
    patch(scim, contoso, member, "userName", "", status=400)
    scim.delete(f"/scim/v2/Users/{member}", headers=bearer(contoso), status=204)
    return member


def test_an_entra_cycle_shows_each_step_in_order_newest_first_with_names_and_no_values(wiggledesk, cycle):
    code, out, err = wiggledesk("activity", "Contoso")
    assert (code, err) == (0, "")
    lines = out.strip().splitlines()
    at, request = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", r"request [0-9a-f-]{36}"
    expected = [rf"{at}  delete  {cycle}  {request}", rf"{at}  refused  {cycle}  status 400 invalidValue  {request}",
                rf"{at}  replace  {cycle}  displayName,title  {request}", rf"{at}  restore  {cycle}  active  {request}",
                rf"{at}  deprovision  {cycle}  active  {request}", rf"{at}  update  {cycle}  displayName  {request}",
                rf"{at}  create  {cycle}  [\w.:,]+  {request}"]
    assert len(lines) == len(expected)
    for line, pattern in zip(lines, expected):
        assert re.fullmatch(pattern, line), (line, pattern)
    assert [line.split("  ")[1:3] for line in lines] == [
        ["delete", cycle], ["refused", cycle], ["replace", cycle], ["restore", cycle], ["deprovision", cycle],
        ["update", cycle], ["create", cycle]]
    assert "status 400 invalidValue" in lines[1]
    assert "  displayName,title  " in lines[2] and "  active  " in lines[3] and "  displayName  " in lines[5]
    for value in ("adele", "Adele", "Director", "Retail Manager", "contoso.example"):
        assert value not in out
    times = [datetime.fromisoformat(line.split("  ")[0].replace("Z", "+00:00")) for line in lines]
    assert times == sorted(times, reverse=True)


def test_json_records_carry_the_request_id_and_token_id_of_each_step(wiggledesk, cycle, scim, contoso):
    response = patch(scim, contoso, "unknown-member", "active", "False", status=404)
    _, out, _ = wiggledesk("activity", "Contoso", "--json", "--limit", "3")
    records = [json.loads(line) for line in out.strip().splitlines()]
    assert [r["event"] for r in records] == ["refused", "delete", "refused"]
    assert records[0]["request_id"] == response.headers["X-Request-Id"]
    assert (records[0]["status"], records[0]["scim_type"], records[0]["member_id"]) == (404, None, "unknown-member")
    _, tokens, _ = wiggledesk("tokens", "list", "Contoso", "--json")
    assert {r["token_id"] for r in records} == {json.loads(tokens)["id"]}
    assert set(records[0]) == {"time", "event", "member_id", "attributes", "status", "scim_type", "request_id",
                               "token_id", "team_id", "added", "removed", "token_owner"}
    assert (records[0]["team_id"], records[0]["added"], records[0]["removed"]) == (None, None, None)
    create = json.loads(wiggledesk("activity", "Contoso", "--json", "--event", "create")[1])
    assert {"userName", "externalId", "active", "emails", ENTERPRISE + "department"} <= set(create["attributes"])


def test_filters_by_member_event_since_and_limit(wiggledesk, cycle, scim, contoso):
    other = scim.post_json("/scim/v2/Users", {"userName": "bjensen", "active": True}, headers=bearer(contoso),
                           status=201).json["id"]
    assert [line.split("  ")[2] for line in wiggledesk("activity", "Contoso", "--member", other)[1].splitlines()] == [
        other]
    assert len(wiggledesk("activity", "Contoso", "--event", "create")[1].splitlines()) == 2
    assert len(wiggledesk("activity", "Contoso", "--limit", "2")[1].splitlines()) == 2
    tomorrow = (datetime.now(timezone.utc) + timedelta(days=1)).date().isoformat()
    code, out, err = wiggledesk("activity", "Contoso", "--since", tomorrow)
    assert (code, out) == (0, "") and "no activity matching" in err
    assert len(wiggledesk("activity", "Contoso", "--since", "2020-01-01T00:00Z")[1].splitlines()) == 8


def test_a_failed_request_left_neither_its_change_nor_a_success_record(wiggledesk, contoso, scim):
    scim.post_json("/scim/v2/Users", {"userName": "bjensen", "active": True}, headers=bearer(contoso), status=201)
    scim.post_json("/scim/v2/Users", {"userName": "BJensen", "externalId": "x", "active": True},
                   headers=bearer(contoso), status=409)
    records = [json.loads(line) for line in wiggledesk("activity", "Contoso", "--json")[1].splitlines()]
    assert [(r["event"], r["status"], r["scim_type"]) for r in records] == [
        ("refused", 409, "uniqueness"), ("create", None, None)]
    assert scim.get("/scim/v2/Users", headers=bearer(contoso)).json["totalResults"] == 2  # Ada and bjensen


def test_a_refused_token_is_in_its_organisations_trail(wiggledesk, contoso, scim):
    wiggledesk("org", "api-access", "Contoso", "off")
    scim.get("/scim/v2/Users", headers=bearer(contoso), status=403)
    scim.get("/scim/v2/Users", headers=bearer("wdscim_unknown"), status=401)
    records = [json.loads(line) for line in wiggledesk("activity", "Contoso", "--json")[1].splitlines()]
    assert [(r["event"], r["status"]) for r in records] == [("refused", 403)]


def test_a_request_that_deletes_the_admin_whose_token_it_uses_says_so_and_how_to_recover(wiggledesk, contoso, scim):
    """ENTRA.md §2.1: the trail marks the delete of the token's own owner, and the line says how to recover;
    the token stays, revoked, and is refused saying its owner was deleted."""
    (ada,) = scim.get("/scim/v2/Users", headers=bearer(contoso)).json["Resources"]
    scim.delete(f"/scim/v2/Users/{ada['id']}", headers=bearer(contoso), status=204)
    refused = scim.get("/scim/v2/Users", headers=bearer(contoso), status=401)

    assert refused.json["detail"] == OWNER_DELETED
    (line,) = wiggledesk("activity", "Contoso", "--event", "delete")[1].splitlines()
    assert line.endswith(LOCKED_OUT[DELETE])
    record = json.loads(wiggledesk("activity", "Contoso", "--json", "--event", "delete")[1])
    assert (record["member_id"], record["token_owner"]) == (ada["id"], True)
    token = json.loads(wiggledesk("tokens", "list", "Contoso", "--json")[1])
    assert token["revoked"] is not None


def test_prune_deletes_what_is_older_than_the_retention(wiggledesk, ini, cycle):
    code, out, err = wiggledesk("prune-activity")
    assert (code, err) == (0, "") and out == "Deleted 0 activity records older than 90 days.\n"
    ini.write_text(ini.read_text() + "wiggledesk.activity.retention_days = 30\n")
    assert wiggledesk("prune-activity")[1] == "Deleted 0 activity records older than 30 days.\n"
    assert len(wiggledesk("activity", "Contoso")[1].splitlines()) == 7


def test_prune_removes_old_records_of_every_organisation(wiggledesk, migrated_engine, cycle):
    forty_days_ago = datetime.now(timezone.utc) - timedelta(days=40)
    with migrated_engine.begin() as connection:
        connection.execute(update(activity).where(activity.c.event.in_(["create", "update"]))
                           .values(at=forty_days_ago))
    assert wiggledesk("prune-activity", "--older-than", "30")[1] == "Deleted 2 activity records older than 30 days.\n"
    events = [line.split("  ")[1] for line in wiggledesk("activity", "Contoso")[1].splitlines()]
    assert events == ["delete", "refused", "replace", "restore", "deprovision"]


def test_prune_says_record_for_one(wiggledesk, migrated_engine, cycle):
    forty_days_ago = datetime.now(timezone.utc) - timedelta(days=40)
    with migrated_engine.begin() as connection:
        connection.execute(update(activity).where(activity.c.event == "create").values(at=forty_days_ago))
    assert wiggledesk("prune-activity", "--older-than", "30") == (
        0, "Deleted 1 activity record older than 30 days.\n", "")


@pytest.mark.parametrize("args, message", [
    (("activity", "Contoso", "--since", "yesterday"), "is not an ISO 8601 date or time"),
    (("activity", "Contoso", "--limit", "0"), "N must be 1 to"),
    (("activity", "Contoso", "--event", "frobnicate"), "invalid choice"),
    (("prune-activity", "--older-than", "0"), "DAYS must be 1 to 3650"),
])
def test_bad_arguments_are_usage_errors(capsys, wiggledesk, contoso, args, message):
    with pytest.raises(SystemExit) as exited:
        wiggledesk(*args)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_an_unknown_organisation_is_one_line_on_stderr(wiggledesk, contoso):
    code, out, err = wiggledesk("activity", "Nowhere")
    assert (code, out) == (1, "") and 'no organisation is called "Nowhere"' in err
