"""``wiggledesk-scim CONFIG tokens list|issue|revoke`` on SQLite and PostgreSQL, and what the SCIM API then
makes of the tokens they issue and revoke."""
from __future__ import annotations

import json
import re

import pytest

from wiggledesk_scim.entrypoints import cli

ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
MOMENT = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


def get_users(scim, token: str, status: int = 200):
    return scim.get("/scim/v2/Users", headers={"Authorization": f"Bearer {token}"}, status=status)


def test_issue_prints_the_secret_alone_on_the_last_line_and_it_works(wiggledesk, contoso, scim):
    code, out, err = wiggledesk("tokens", "issue", "Contoso", "ada@contoso.example",
                         "--name", "Entra production", "--expires-in", "90")
    assert (code, err) == (0, "")
    issued, shown_once, secret = out.splitlines()
    assert re.fullmatch(rf'Issued token {ID.pattern} "Entra production" to ada@contoso\.example of Contoso; it '
                        rf"expires {MOMENT}\.", issued), issued
    assert shown_once == "The secret is on the line below; it is shown only this once."
    assert secret.startswith("wdscim_") and secret not in issued
    assert get_users(scim, secret).json["totalResults"] == 1
    assert get_users(scim, contoso).status_int == 200  # the first token still works: rotation without downtime


def test_list_shows_every_token_and_never_a_secret(wiggledesk, contoso, scim):
    _, issued, _ = wiggledesk("tokens", "issue", "Contoso", "ada@contoso.example", "--name", "Rotation")
    assert re.fullmatch(rf'Issued token {ID.pattern} "Rotation" to ada@contoso\.example of Contoso; it never '
                        r"expires\.", issued.splitlines()[0]), issued
    secret = issued.strip().splitlines()[-1]
    get_users(scim, secret)

    code, out, err = wiggledesk("tokens", "list", "Contoso")
    assert (code, err) == (0, "")
    first, rotation = out.splitlines()
    # "last used" says how exact it is: written at most once a minute (access.LAST_USED_RESOLUTION).
    assert re.fullmatch(rf'{ID.pattern}  active  "API token"  ada@contoso\.example  created {MOMENT}  '
                        r"last used \(to the minute\) never  expires never", first), first
    assert re.fullmatch(rf'{ID.pattern}  active  "Rotation"  ada@contoso\.example  created {MOMENT}  '
                        rf"last used \(to the minute\) {MOMENT}  expires never", rotation), rotation
    for token in (contoso, secret):
        assert token not in out and token[7:15] not in out  # not even a piece of it

    code, out, _ = wiggledesk("tokens", "list", "contoso", "--json")
    records = [json.loads(line) for line in out.strip().splitlines()]
    assert [(r["name"], r["admin"], r["state"], r["expires"]) for r in records] == [
        ("API token", "ada@contoso.example", "active", None), ("Rotation", "ada@contoso.example", "active", None)]
    assert set(records[0]) == {"id", "name", "admin", "state", "created", "last_used", "expires", "revoked"}


def test_revoke_takes_effect_at_the_next_request_with_a_detail_that_says_so(wiggledesk, contoso, scim):
    assert get_users(scim, contoso).status_int == 200
    _, out, _ = wiggledesk("tokens", "list", "Contoso", "--json")
    token_id = json.loads(out)["id"]

    code, out, err = wiggledesk("tokens", "revoke", token_id)

    assert (code, err) == (0, "")
    assert re.fullmatch(rf'Revoked token {token_id} "API token" at {MOMENT}; it is refused from the next request '
                        r"on\.\n", out), out
    refused = get_users(scim, contoso, status=401).json
    assert refused["detail"].startswith("This API token was revoked on ")
    _, out, _ = wiggledesk("tokens", "list", "Contoso", "--json")
    assert json.loads(out)["state"] == "revoked"


@pytest.mark.parametrize("args, reason", [
    (("tokens", "list", "Nowhere"), 'no organisation is called "Nowhere"'),
    (("tokens", "issue", "Contoso", "nobody@contoso.example"), "Contoso has no member nobody@contoso.example"),
    (("tokens", "revoke", "5171a35d-8207-4e06-8ce2-0f1b2c3d4e5f"), "No API token with id"),
    (("tokens", "revoke", "not-an-id"), "No API token with id"),
    (("tokens", "issue", "Contoso", "ada@contoso.example", "--name", " "), "name must be 1 to 100"),
])
def test_refusals_are_one_line_on_stderr_and_change_nothing(wiggledesk, contoso, args, reason):
    _, before, _ = wiggledesk("tokens", "list", "Contoso", "--json")
    code, out, err = wiggledesk(*args)
    assert (code, out) == (1, "")
    assert err.count("\n") == 1 and reason in err
    assert wiggledesk("tokens", "list", "Contoso", "--json")[1] == before


def test_a_token_is_not_issued_to_someone_who_could_not_use_it(wiggledesk, contoso, scim):
    scim.post_json("/scim/v2/Users", {"userName": "grace@contoso.example", "active": True},
                   headers={"Authorization": f"Bearer {contoso}"}, status=201)
    code, out, err = wiggledesk("tokens", "issue", "Contoso", "grace@contoso.example")
    assert (code, out) == (1, "")
    assert "not an admin (member admin ORG EMAIL on)" in err and "API access is off for them" in err


@pytest.mark.parametrize("days", ["0", "-3", "soon", "4000"])
def test_expires_in_takes_a_sensible_number_of_days(capsys, ini, contoso, days):
    with pytest.raises(SystemExit) as exited:
        cli.main([str(ini), "tokens", "issue", "Contoso", "ada@contoso.example", "--expires-in", days])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "DAYS must be 1 to 3650" in err or "is not a whole number of days" in err
