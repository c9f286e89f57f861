"""``wiggledesk-scim CONFIG clients create|list|secret add|secret revoke|revoke|trust`` on SQLite and
PostgreSQL: each command's exact success line, its one-line failure, and what the token endpoint then makes
of the clients and secrets they create and revoke (ENTRA.md §2.2, §2.3)."""
from __future__ import annotations

import base64
import json
import re
from urllib.parse import quote_plus

import pytest

ID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
MOMENT = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
SHOWN_ONCE = "The secret is on the line below; it is shown only this once."


def token_request(scim, client_id: str, secret: str, status: int = 200):
    pair = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return scim.post("/oauth2/token", "grant_type=client_credentials", status=status,
                     headers={"Content-Type": "application/x-www-form-urlencoded",
                              "Authorization": "Basic " + base64.b64encode(pair).decode()})


@pytest.fixture
def created(wiggledesk, contoso) -> dict:
    """Contoso's client "Entra provisioning", created with --json."""
    code, out, err = wiggledesk("clients", "create", "Contoso", "--name", "Entra provisioning", "--json")
    assert (code, err) == (0, "")
    return json.loads(out)


def test_create_prints_the_client_and_the_secret_alone_on_the_last_line(wiggledesk, contoso, scim):
    code, out, err = wiggledesk("clients", "create", "Contoso", "--name", "Entra provisioning",
                                "--secret-expires-in", "365")
    assert (code, err) == (0, "")
    sentence, shown_once, secret = out.strip().splitlines()
    assert re.fullmatch(rf'Created client ({ID}) "Entra provisioning" for Contoso, with secret ({ID}), which '
                        rf"expires {MOMENT}\.", sentence), sentence
    assert shown_once == SHOWN_ONCE
    assert secret.startswith("wdscs_") and secret not in sentence
    client_id = re.search(ID, sentence).group(0)
    access_token = token_request(scim, client_id, secret).json["access_token"]
    assert scim.get("/scim/v2/Users", headers={"Authorization": f"Bearer {access_token}"}).json["totalResults"] == 1


def test_create_with_json_prints_one_object(created):
    assert set(created) == {"client_id", "client_secret", "secret_id", "expires"}
    assert re.fullmatch(ID, created["client_id"]) and re.fullmatch(ID, created["secret_id"])
    assert created["client_secret"].startswith("wdscs_") and re.fullmatch(MOMENT, created["expires"])


@pytest.mark.parametrize("args, reason", [
    (("Nobody Inc", "--name", "Entra"), 'no organisation is called "Nobody Inc"'),
    (("Contoso", "--name", " "), "A client's name must be printable text"),
    (("Contoso", "--name", "Entra", "--secret-expires-in", "2000"), "A secret must be valid for 1 to 1095 days"),
])
def test_create_fails_with_one_line(wiggledesk, contoso, args, reason):
    code, out, err = wiggledesk("clients", "create", *args)
    assert code != 0 and out == ""
    assert len(err.strip().splitlines()) == 1 and reason in err, err


def test_list_shows_each_client_and_its_secrets_and_never_a_secret(wiggledesk, created, scim):
    token_request(scim, created["client_id"], created["client_secret"])
    code, out, err = wiggledesk("clients", "list", "Contoso")
    assert (code, err) == (0, "")
    client_line, secret_line = out.strip().splitlines()
    assert re.fullmatch(rf'{created["client_id"]}  active  "Entra provisioning"  created {MOMENT}  '
                        rf"last used {MOMENT}", client_line), client_line
    assert re.fullmatch(rf'    secret {created["secret_id"]}  active  expires {created["expires"]}  '
                        rf"last used {MOMENT}", secret_line), secret_line
    secret = created["client_secret"]
    assert secret not in out and secret[6:14] not in out

    code, out, _ = wiggledesk("clients", "list", "contoso", "--json")
    listing = json.loads(out)
    assert listing["organisation"] == "Contoso" and len(listing["clients"]) == 1
    client = listing["clients"][0]
    assert (client["id"], client["name"], client["state"], client["trust"]) == (
        created["client_id"], "Entra provisioning", "active", None)
    assert [(s["id"], s["state"], s["expires"]) for s in client["secrets"]] == [
        (created["secret_id"], "active", created["expires"])]
    assert secret not in out and secret[6:14] not in out


def test_list_warns_of_a_secret_that_expires_within_30_days(wiggledesk, created):
    """A secret added for 12 days is flagged on its line (and in --json); the 730-day one is not."""
    _, out, _ = wiggledesk("clients", "secret", "add", created["client_id"], "--expires-in", "12", "--json")
    soon = json.loads(out)

    _, out, _ = wiggledesk("clients", "list", "Contoso")
    _, old_line, new_line = out.strip().splitlines()
    assert not old_line.endswith("days")
    assert re.fullmatch(rf'    secret {soon["secret_id"]}  active  expires {soon["expires"]}  last used never  '
                        rf"warning: expires in 1[12] days", new_line), new_line
    listing = json.loads(wiggledesk("clients", "list", "Contoso", "--json")[1])
    assert [s["warning"] is None for s in listing["clients"][0]["secrets"]] == [True, False]


def test_list_of_an_organisation_without_clients_says_so_on_stderr(wiggledesk, contoso):
    assert wiggledesk("clients", "list", "Contoso") == (0, "", "Contoso has no OAuth clients.\n")


def test_secret_add_prints_the_new_secret_last_and_both_secrets_work(wiggledesk, created, scim):
    code, out, err = wiggledesk("clients", "secret", "add", created["client_id"], "--expires-in", "30")
    assert (code, err) == (0, "")
    sentence, shown_once, secret = out.strip().splitlines()
    assert re.fullmatch(rf"Added secret ({ID}) to client {created['client_id']}, which expires {MOMENT}; the "
                        r"client's other secrets keep working until revoked\.", sentence), sentence
    assert shown_once == SHOWN_ONCE and secret.startswith("wdscs_")
    token_request(scim, created["client_id"], secret)
    token_request(scim, created["client_id"], created["client_secret"])  # rotation without downtime

    code, out, _ = wiggledesk("clients", "secret", "add", created["client_id"], "--json")
    added = json.loads(out)
    assert set(added) == {"secret_id", "client_secret", "expires"} and code == 0


def test_secret_revoke_ends_the_secret_and_its_access_tokens(wiggledesk, created, scim):
    access_token = token_request(scim, created["client_id"], created["client_secret"]).json["access_token"]
    code, out, err = wiggledesk("clients", "secret", "revoke", created["secret_id"])
    assert (code, err) == (0, "")
    assert re.fullmatch(rf"Revoked secret {created['secret_id']} of client {created['client_id']} at {MOMENT}; "
                        r"it and the access tokens issued under it are refused from the next request on\.\n", out)
    token_request(scim, created["client_id"], created["client_secret"], status=401)
    scim.get("/scim/v2/Users", headers={"Authorization": f"Bearer {access_token}"}, status=401)


def test_revoke_ends_the_client(wiggledesk, created, scim):
    code, out, err = wiggledesk("clients", "revoke", created["client_id"])
    assert (code, err) == (0, "")
    assert re.fullmatch(rf'Revoked client {created["client_id"]} "Entra provisioning" at {MOMENT}; its secrets, '
                        r"trust and access tokens are refused from the next request on\.\n", out)
    token_request(scim, created["client_id"], created["client_secret"], status=401)


def test_trust_prints_what_the_client_now_accepts(wiggledesk, created):
    code, out, err = wiggledesk("clients", "trust", created["client_id"], "--tenant", TENANT,
                                "--audience", "api://AzureADTokenExchange", "--subject", "app-object-id")
    assert (code, err) == (0, "")
    assert out == (f"Client {created['client_id']} now accepts assertions of tenant {TENANT} with audience "
                   f"api://AzureADTokenExchange and subject app-object-id, issued by "
                   f"https://login.microsoftonline.com/{TENANT}/v2.0 and signed by a key of "
                   f"https://login.microsoftonline.com/{TENANT}/discovery/v2.0/keys.\n")
    code, out, _ = wiggledesk("clients", "trust", created["client_id"], "--tenant", TENANT, "--audience", "aud",
                              "--subject", "sub", "--issuer", "https://issuer.example/v2.0",
                              "--jwks-uri", "http://127.0.0.1:9/keys")
    assert code == 0 and "issued by https://issuer.example/v2.0 and signed by a key of http://127.0.0.1:9/keys." in out
    listing = json.loads(wiggledesk("clients", "list", "Contoso", "--json")[1])
    assert listing["clients"][0]["trust"]["jwks_uri"] == "http://127.0.0.1:9/keys"


@pytest.mark.parametrize("command, reason", [
    (("clients", "secret", "add", "00000000-0000-4000-8000-00000000dead"), "00000000-0000-4000-8000-00000000dead"),
    (("clients", "secret", "revoke", "00000000-0000-4000-8000-00000000dead"), "00000000-0000-4000-8000-00000000dead"),
    (("clients", "revoke", "00000000-0000-4000-8000-00000000dead"), "00000000-0000-4000-8000-00000000dead"),
    (("clients", "trust", "00000000-0000-4000-8000-00000000dead", "--tenant", TENANT, "--audience", "a",
      "--subject", "s"), "00000000-0000-4000-8000-00000000dead"),
])
def test_an_unknown_id_fails_with_one_line(wiggledesk, contoso, command, reason):
    code, out, err = wiggledesk(*command)
    assert code != 0 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("wiggledesk-scim: "), err


def test_a_trust_with_a_plain_http_jwks_uri_fails_with_one_line(wiggledesk, created):
    code, out, err = wiggledesk("clients", "trust", created["client_id"], "--tenant", TENANT, "--audience", "a",
                                "--subject", "s", "--jwks-uri", "http://keys.example/keys")
    assert code != 0 and out == ""
    assert err == "wiggledesk-scim: The JWKS URI must be an https URL (http only for a loopback host)\n"


def test_a_revoked_client_gets_no_new_secret(wiggledesk, created):
    wiggledesk("clients", "revoke", created["client_id"])
    code, out, err = wiggledesk("clients", "secret", "add", created["client_id"])
    assert code != 0 and out == ""
    assert err == (f"wiggledesk-scim: Client {created['client_id']} is revoked; create a new client instead\n")
