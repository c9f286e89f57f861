"""``onboard`` and ``member add`` on SQLite and PostgreSQL: the exact lines they print, the refusal of a name an
organisation has already, and the way back for an organisation whose only admin left (a new admin, then a
token for them) without onboarding it again."""
from __future__ import annotations

import json
import re

import pytest

from tests.integration.cli.conftest import bearer

ID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def organisations(wiggledesk) -> list[dict]:
    return [json.loads(line) for line in wiggledesk("org", "list", "--json")[1].splitlines()]


def contoso_id(wiggledesk) -> str:
    (record,) = [r for r in organisations(wiggledesk) if r["name"] == "Contoso"]
    return record["id"]


def users(scim, token: str, status: int = 200):
    return scim.get("/scim/v2/Users", headers=bearer(token), status=status)


# -- onboard ---------------------------------------------------------------------------------------------

def test_onboard_prints_what_it_created_the_tenant_urls_and_the_token_alone_last(wiggledesk, scim):
    code, out, err = wiggledesk("onboard", "Contoso", "ada@contoso.example")

    assert (code, err) == (0, "")
    created, entra, tenant_url, other_form, secret_token, token = out.splitlines()
    assert re.fullmatch(rf'Created organisation "Contoso" \(id {ID}\) with API access, and its admin '
                        rf"ada@contoso\.example \(id {ID}\)\.", created), created
    assert entra == "In Entra, open the enterprise application > Provisioning > Admin Credentials and enter:"
    assert tenant_url == "  Tenant URL:    http://127.0.0.1:6543/scim/v2"
    assert other_form == ("                 (or http://127.0.0.1:6543/scim/v2/Users, the form our first "
                          "announcement gave; both work)")
    assert secret_token == "  Secret Token:  the line below (it is shown only this once; store it in Entra now)"
    assert token.startswith("wdscim_") and users(scim, token).json["totalResults"] == 1


@pytest.mark.parametrize("name", ["Contoso", "contoso", " CONTOSO "])
def test_onboarding_a_name_twice_is_refused_in_one_line_naming_the_organisation(wiggledesk, contoso, scim, name):
    """The second onboarding of Contoso (in any case) creates nothing and says which organisation has the
    name, how to give it another admin, and how to create a second one anyway."""
    organisation_id = contoso_id(wiggledesk)

    code, out, err = wiggledesk("onboard", name, "ada@contoso.example")

    assert (code, out) == (1, "")
    assert err == (f'wiggledesk-scim: Organisation {organisation_id} is already called "Contoso"; to give it '
                   f"another admin, use `member add {organisation_id} EMAIL --admin`, or give "
                   "--allow-duplicate-name to create another organisation of that name\n")
    assert [r["name"] for r in organisations(wiggledesk)] == ["Contoso"]
    assert wiggledesk("tokens", "list", "Contoso")[0] == 0  # the name still names one organisation
    assert users(scim, contoso).status_int == 200


def test_allow_duplicate_name_creates_a_second_organisation_of_the_name(wiggledesk, contoso, scim):
    """Told to, onboard repeats a name; from then on the name is ambiguous and commands want the id."""
    code, out, err = wiggledesk("onboard", "Contoso", "ada@contoso-emea.example", "--allow-duplicate-name")

    assert (code, err) == (0, "") and out.startswith('Created organisation "Contoso" (id ')
    emea = out.splitlines()[-1]
    assert [m["userName"] for m in users(scim, emea).json["Resources"]] == ["ada@contoso-emea.example"]
    records = organisations(wiggledesk)
    assert [r["name"] for r in records] == ["Contoso", "Contoso"]
    code, out, err = wiggledesk("tokens", "list", "Contoso")
    assert (code, out) == (1, "") and '2 organisations are called "Contoso"; give the id instead' in err
    assert all(wiggledesk("tokens", "list", record["id"])[0] == 0 for record in records)


# -- member add ------------------------------------------------------------------------------------------

def test_member_add_gives_an_organisation_whose_admin_left_a_new_admin_and_says_to_issue_a_token(
        wiggledesk, ini, contoso, scim):
    """Ada is no longer an admin, so Contoso has none; Grace, added as an admin, gets a token that works."""
    wiggledesk("member", "admin", "Contoso", "ada@contoso.example", "off")
    users(scim, contoso, status=401)
    organisation_id = contoso_id(wiggledesk)

    code, out, err = wiggledesk("member", "add", "Contoso", "grace@contoso.example", "--admin")

    assert (code, err) == (0, "")
    added, next_step = out.splitlines()
    assert re.fullmatch(rf"Added grace@contoso\.example to Contoso \(member {ID}\) as an admin with API "
                        r"access\.", added), added
    assert next_step == (f"Next, issue them a token: wiggledesk-scim {ini} tokens issue {organisation_id} "
                         "grace@contoso.example")
    code, issued, err = wiggledesk(*next_step.split(f" {ini} ")[1].split(" "))
    assert (code, err) == (0, "")
    grace = scim.get("/scim/v2/Users?filter=userName%20eq%20%22grace@contoso.example%22",
                     headers=bearer(issued.splitlines()[-1])).json["Resources"][0]
    assert (grace["active"], grace["emails"]) == (True, [{"value": "grace@contoso.example", "type": "work",
                                                           "primary": True}])


def test_member_add_without_admin_adds_a_plain_member(wiggledesk, contoso, scim):
    code, out, err = wiggledesk("member", "add", contoso_id(wiggledesk), "bjensen@contoso.example")

    assert (code, err) == (0, "")
    assert re.fullmatch(rf"Added bjensen@contoso\.example to Contoso \(member {ID}\); they are not an admin\.\n",
                        out), out
    code, out, err = wiggledesk("tokens", "issue", "Contoso", "bjensen@contoso.example")
    assert code == 1 and "not an admin" in err


@pytest.mark.parametrize("args, reason", [
    (("Contoso", "ADA@contoso.example", "--admin"),
     r"ada@contoso\.example is already a member of Contoso \(member {id}\); to make them an admin, switch "
     r"`member admin` and `member api-access` on for them"),
    (("Contoso", "adele@contoso.example", "--admin"),
     r"adele is already a member of Contoso \(member {id}\); to make them an admin, switch `member admin` and "
     r"`member api-access` on for them"),
    (("Nowhere", "grace@contoso.example", "--admin"), r'no organisation is called "Nowhere" or has that id \(see `org list`\)'),
    (("Contoso", "grace", "--admin"), r'"grace" is not an e-mail address'),
])
def test_member_add_refusals_are_one_line_and_change_nothing(wiggledesk, contoso, scim, args, reason):
    """An address a member has already (as userName, in any case, or as e-mail address) is refused naming
    that member; so are an unknown organisation and a non-address."""
    adele = scim.post_json("/scim/v2/Users", {"userName": "adele", "active": True,
                                              "emails": [{"value": "adele@contoso.example", "type": "work"}]},
                           headers=bearer(contoso), status=201).json["id"]
    ada = json.loads(wiggledesk("tokens", "list", "Contoso", "--json")[1])["admin"]
    ada_id = users(scim, contoso).json["Resources"][0]["id"]
    assert ada == "ada@contoso.example" and ada_id != adele
    holder = adele if "adele" in args[1] else ada_id
    before = organisations(wiggledesk)

    code, out, err = wiggledesk("member", "add", *args)

    assert (code, out) == (1, "")
    assert re.fullmatch(r"wiggledesk-scim: " + reason.replace("{id}", holder) + r"\n", err), err
    assert organisations(wiggledesk) == before
