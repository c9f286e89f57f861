"""``org list|show|api-access`` and ``member api-access|admin`` on SQLite and PostgreSQL: the settings the
token check reads, switched from the command line, felt by the SCIM API at its next request."""
from __future__ import annotations

import json
import re

import pytest

from tests.integration.cli.conftest import bearer

ORGANISATION_OFF = "API access is switched off for this organisation."
ADMIN_OFF = "API access is switched off for the admin who owns this token."
NOT_ADMIN = "The admin who owns this token is no longer an admin."
ID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
MOMENT = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


def users(scim, token: str, status: int = 200):
    return scim.get("/scim/v2/Users", headers=bearer(token), status=status)


def test_org_list_shows_every_organisation_one_per_line(wiggledesk, contoso, scim):
    wiggledesk("onboard", "Fabrikam", "grace@fabrikam.example")
    scim.post_json("/scim/v2/Users", {"userName": "bjensen", "active": False}, headers=bearer(contoso), status=201)

    code, out, err = wiggledesk("org", "list")
    assert (code, err) == (0, "")
    lines = out.strip().splitlines()
    assert [line.split("  ")[1] for line in lines] == ['"Contoso"', '"Fabrikam"']
    assert "api-access on" in lines[0] and "members 2 (1 active)" in lines[0] and "tokens 1" in lines[0]

    _, out, _ = wiggledesk("org", "list", "--json")
    records = [json.loads(line) for line in out.strip().splitlines()]
    assert [(r["name"], r["members"], r["active_members"], r["inactive_members"]) for r in records] == [
        ("Contoso", 2, 1, 1), ("Fabrikam", 1, 1, 0)]
    assert records[0]["last_request"] is not None and records[1]["last_request"] is None
    assert records[0]["last_24h"] == {"create": 1}


def test_org_show_tells_members_access_tokens_and_recent_activity(wiggledesk, contoso, scim):
    scim.post_json("/scim/v2/Users", {"userName": "bjensen", "active": True}, headers=bearer(contoso), status=201)
    scim.post_json("/scim/v2/Users", {"userName": "BJENSEN", "active": True}, headers=bearer(contoso), status=409)

    code, out, err = wiggledesk("org", "show", "contoso")
    assert (code, err) == (0, "")
    expected = [rf"Contoso \(id {ID}\)", "  API access:    on", r"  Members:       2 \(2 active, 0 inactive\)",
                "  Teams:         0", f"  Last request:  {MOMENT}", "  Last 24 hours: create 1, refused 1",
                "  Last 7 days:   create 1, refused 1", "  Tokens:        1",
                rf'    {ID}  active  "API token"  last used \(to the minute\) {MOMENT}']
    assert len(out.splitlines()) == len(expected)
    for line, pattern in zip(out.splitlines(), expected):
        assert re.fullmatch(pattern, line), (line, pattern)
    assert contoso not in out

    _, out, _ = wiggledesk("org", "show", "Contoso", "--json")
    record = json.loads(out)
    assert record["last_7d"] == {"create": 1, "refused": 1}
    assert [t["state"] for t in record["tokens"]] == ["active"]


def test_org_api_access_off_refuses_the_next_request_and_on_lets_it_in(wiggledesk, contoso, scim):
    assert users(scim, contoso).status_int == 200

    code, out, err = wiggledesk("org", "api-access", "Contoso", "off")
    assert (code, err) == (0, "")
    assert out == "API access is off for Contoso; every one of its tokens is refused (403) from the next request on.\n"
    assert users(scim, contoso, status=403).json["detail"].startswith(ORGANISATION_OFF)
    assert json.loads(wiggledesk("org", "show", "Contoso", "--json")[1])["api_access"] is False

    assert wiggledesk("org", "api-access", "Contoso", "on") == (
        0, "API access is on for Contoso; its admins' tokens work again from the next request.\n", "")
    assert users(scim, contoso).status_int == 200


@pytest.mark.parametrize("setting, refusal, status, off, on", [
    ("api-access", ADMIN_OFF, 403,
     "API access is off for ada@contoso.example of Contoso (member {id}); their tokens are refused from the next "
     "request on: API access is off for them (member api-access ORG EMAIL on).",
     "API access is on for ada@contoso.example of Contoso (member {id}); their tokens work from the next request."),
    ("admin", NOT_ADMIN, 401,
     "ada@contoso.example of Contoso is no longer an admin (member {id}); their tokens are refused from the next "
     "request on: they are not an admin (member admin ORG EMAIL on).",
     "ada@contoso.example of Contoso is now an admin (member {id}); their tokens work from the next request."),
])
def test_member_settings_off_refuse_the_admins_tokens_and_on_let_them_in(wiggledesk, contoso, scim, setting,
                                                                         refusal, status, off, on):
    """Each switch prints one plain sentence: what changed, and what it means for the member's tokens."""
    ada = users(scim, contoso).json["Resources"][0]["id"]

    assert wiggledesk("member", setting, "Contoso", "ADA@contoso.example", "off") == (
        0, off.format(id=ada) + "\n", "")
    assert users(scim, contoso, status=status).json["detail"].startswith(refusal)

    assert wiggledesk("member", setting, "Contoso", "ada@contoso.example", "on") == (0, on.format(id=ada) + "\n", "")
    assert users(scim, contoso).status_int == 200


def test_a_member_is_found_by_email_when_their_user_name_is_not_one(wiggledesk, contoso, scim):
    grace = scim.post_json("/scim/v2/Users", {"userName": "grace", "active": True,
                                              "emails": [{"value": "grace@contoso.example", "type": "work"}]},
                           headers=bearer(contoso), status=201).json["id"]
    code, out, err = wiggledesk("member", "admin", "Contoso", "grace@contoso.example", "on")
    assert (code, err) == (0, "")
    assert out == (f"grace of Contoso is now an admin (member {grace}); their tokens are still refused: API access "
                   "is off for them (member api-access ORG EMAIL on).\n")


@pytest.mark.parametrize("args, reason", [
    (("org", "show", "Nowhere"), 'no organisation is called "Nowhere"'),
    (("org", "api-access", "Nowhere", "off"), 'no organisation is called "Nowhere"'),
    (("member", "admin", "Contoso", "nobody@contoso.example", "off"),
     "No member has the userName or e-mail address nobody@contoso.example"),
    (("member", "api-access", "Nowhere", "ada@contoso.example", "off"), 'no organisation is called "Nowhere"'),
])
def test_refusals_are_one_line_on_stderr_and_change_nothing(wiggledesk, contoso, scim, args, reason):
    before = wiggledesk("org", "list", "--json")[1]
    code, out, err = wiggledesk(*args)
    assert (code, out) == (1, "")
    assert err.count("\n") == 1 and reason in err
    assert wiggledesk("org", "list", "--json")[1] == before
    assert users(scim, contoso).status_int == 200


def test_a_state_other_than_on_or_off_is_a_usage_error(capsys, wiggledesk, contoso):
    with pytest.raises(SystemExit) as exited:
        wiggledesk("org", "api-access", "Contoso", "maybe")
    assert exited.value.code == 2
