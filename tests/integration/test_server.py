"""The running stack: ``pserve`` serving a copy of development.ini or production.ini over real HTTP, and the
``wiggledesk-scim`` command, each in its own process, as an operator and Entra use them.

What belongs here: what needs real processes and sockets. Startup from the inis, onboarding through the
CLI, Entra's provisioning cycle over HTTP under both Tenant URL forms, concurrent requests through
waitress's threads, and X-Forwarded-* from a trusted proxy. Everything else is faster in test_wsgi.py.
"""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.integration.conftest import fresh_postgres_schema
from tests.support import FULL_USER, SEED_USER

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PSERVE = BIN / "pserve"
CLI = BIN / "wiggledesk-scim"

LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
SCIM_JSON = "application/scim+json; charset=utf-8"
EMPTY_LIST = {"schemas": [LIST_RESPONSE], "totalResults": 0, "Resources": [], "startIndex": 1, "itemsPerPage": 0}
TREES = ("/scim/v2", "/scim/v2/Users")
STARTUP_SECONDS = 60

# -- HTTP, as Entra speaks it ------------------------------------------------------------------------

@dataclass
class Reply:
    status: int
    headers: dict
    body: bytes

    def header(self, name: str) -> str | None:
        """A response header by name in any case (HTTP header names are case-insensitive)."""
        return next((value for key, value in self.headers.items() if key.lower() == name.lower()), None)

    @property
    def json(self):
        return json.loads(self.body)


#: No proxy from the environment may stand between the tests and 127.0.0.1.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http(method: str, url: str, body=None, token: str | None = None, headers: dict | None = None) -> Reply:
    data = json.dumps(body).encode("utf-8") if body is not None else None
    all_headers = {"Authorization": f"Bearer {token}"} if token else {}
    if data is not None:
        all_headers["Content-Type"] = "application/scim+json"
    return send(urllib.request.Request(url, data=data, method=method), {**all_headers, **(headers or {})})


def send(request: urllib.request.Request, headers: dict) -> Reply:
    """The reply to ``request`` with ``headers``, whatever its status."""
    for name, value in headers.items():
        request.add_header(name, value)
    try:
        with _opener.open(request, timeout=60) as response:
            return Reply(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as error:
        try:
            return Reply(error.code, dict(error.headers), error.read())
        finally:
            error.close()


def find(base: str, token: str, attribute: str, value: str) -> dict:
    reply = http("GET", f"{base}/Users?filter={attribute}+eq+%22{quote(value, safe='')}%22", token=token)
    assert reply.status == 200, reply.body
    assert reply.headers["Content-Type"] == SCIM_JSON
    return reply.json


# -- processes --------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ini_copy(source: str, directory: Path, port: int, **settings: str) -> Path:
    """``source`` (an ini at the repository root) copied into ``directory``, listening on ``port``, with
    ``settings`` (dots written as ``__``) replaced. ``%(here)s`` then points into ``directory``."""
    text = (REPO / source).read_text()
    text = re.sub(r"(?m)^listen = .*$", f"listen = 127.0.0.1:{port}", text)
    for key, value in settings.items():
        key = key.replace("__", ".")
        # ConfigParser would read a "%" in the value (e.g. options=-csearch_path%3D...) as interpolation.
        line = f"{key} = {value.replace('%', '%%')}"
        text, count = re.subn(rf"(?m)^{re.escape(key)} = .*$", lambda _match: line, text)
        assert count == 1, f"{key} is not in {source}"
    target = directory / source
    target.write_text(text)
    return target


def without_database_variable(**extra: str) -> dict:
    environ = {k: v for k, v in os.environ.items() if k != "WIGGLEDESK_DATABASE_URL"}
    environ.update(extra)
    return environ


def run_cli(ini: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLI), str(ini), *args], capture_output=True, text=True, timeout=120,
                          env=env or without_database_variable(), cwd=ini.parent)


def onboard(ini: Path, name: str, email: str, base_url: str, env: dict | None = None) -> str:
    """Onboard through the CLI, as an operator does; the token is the last line of stdout."""
    done = run_cli(ini, "onboard", name, email, "--base-url", base_url, env=env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert f"Tenant URL:    {base_url}/scim/v2" in done.stdout
    assert f"{base_url}/scim/v2/Users" in done.stdout
    return lines[-1]


class Server:
    """``pserve INI`` in a process of its own, logging to a file next to the ini."""

    def __init__(self, ini: Path, port: int, env: dict):
        self.ini = ini
        self.port = port
        self.env = env
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = ini.with_suffix(".log")
        self.process: subprocess.Popen | None = None

    def start(self) -> "Server":
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen([str(PSERVE), str(self.ini)], stdout=log, stderr=subprocess.STDOUT,
                                            env=self.env, cwd=self.ini.parent)
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"pserve exited with {self.process.returncode}:\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        pytest.fail(f"pserve did not answer on port {self.port} within {STARTUP_SECONDS}s:\n{self.log()}")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class Stack:
    server: Server
    ini: Path
    token: str
    env: dict

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="module")
def postgres_schema_url(postgres_server):
    """A PostgreSQL schema for this module's server, dropped afterwards (as ``postgres_url``, module-wide)."""
    with fresh_postgres_schema(postgres_server, "wiggledesk_server_test") as url:
        yield url


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def stack(request, tmp_path_factory):
    """development.ini served by pserve, with Contoso onboarded through the CLI; one per database kind,
    shared by this module's tests, which therefore each use data of their own and clean up after a cycle.

    On SQLite the ini is used as shipped: its database file (and var/) is created and migrated on first
    use. On PostgreSQL it points at a schema of its own, migrated with the CLI first, as in production.
    """
    directory = tmp_path_factory.mktemp(f"stack-{request.param}")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = without_database_variable()
    if request.param == "sqlite":
        ini = ini_copy("development.ini", directory, port)
        assert not (directory / "var").exists()
    else:
        ini = ini_copy("development.ini", directory, port, sqlalchemy__url=request.getfixturevalue("postgres_schema_url"),
                       wiggledesk__auto_migrate="false")
        migrated = run_cli(ini, "migrate", env=env)
        assert migrated.returncode == 0, migrated.stderr
    token = onboard(ini, "Contoso", "ada@contoso.example", base, env)
    server = Server(ini, port, env).start()
    try:
        yield Stack(server, ini, token, env)
    finally:
        server.stop()


# -- Entra's provisioning cycle --------------------------------------------------------------------

def entra_cycle(base: str, token: str, body: dict, matching_attribute: str) -> dict:
    """ENTRA.md §5-§12 in Entra's order for one user; returns the member as created."""
    assert find(base, token, "userName", str(uuid.uuid4())) == EMPTY_LIST           # Test Connection
    match_value = body[matching_attribute]
    assert find(base, token, matching_attribute, match_value) == EMPTY_LIST         # matching: miss

    created = http("POST", f"{base}/Users", body, token)                            # create
    assert created.status == 201, created.body
    assert created.headers["Content-Type"] == SCIM_JSON
    member = created.json
    location = created.headers["Location"]
    assert location == member["meta"]["location"] == f"{base}/Users/{member['id']}"
    assert http("GET", location, token=token).json == member

    hit = find(base, token, matching_attribute, match_value)                        # matching: hit
    assert (hit["totalResults"], hit["itemsPerPage"], hit["Resources"]) == (1, 1, [member])

    mail = http("PATCH", location, {"schemas": [PATCH_OP], "Operations": [          # change of mail (§9.4)
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "changed@fabrikam.example"}]}, token)
    assert mail.status == 200, mail.body
    assert [e["value"] for e in mail.json["emails"] if e.get("type") == "work"] == ["changed@fabrikam.example"]

    off = http("PATCH", location, {"schemas": [PATCH_OP], "Operations": [           # deprovision (§10)
        {"op": "Replace", "path": "active", "value": "False"}]}, token)
    assert off.status == 200 and off.json["active"] is False
    still = find(base, token, matching_attribute, match_value)["Resources"]
    assert [(m["id"], m["active"]) for m in still] == [(member["id"], False)]

    on = http("PATCH", location, {"schemas": [PATCH_OP], "Operations": [            # restore
        {"op": "replace", "value": {"active": True}}]}, token)
    assert on.status == 200 and on.json["active"] is True
    unchanged = {k: v for k, v in mail.json.items() if k != "meta"}
    assert {k: v for k, v in on.json.items() if k != "meta"} == unchanged

    deleted = http("DELETE", location, token=token)                                 # hard delete (§12)
    assert deleted.status == 204 and deleted.body == b""
    assert "Content-Type" not in deleted.headers
    assert http("GET", location, token=token).status == 404
    assert find(base, token, matching_attribute, match_value) == EMPTY_LIST
    return member


@pytest.mark.parametrize("tree", TREES)
def test_entra_cycle_with_the_seed_mapping_over_http(stack, tree):
    """The seed mapping's cycle (matching on externalId) under each Tenant URL form."""
    entra_cycle(stack.url + tree, stack.token, SEED_USER, "externalId")


def test_entra_cycle_with_the_default_full_mapping_over_http(stack):
    """Entra's default mapping (§7b), matching on userName: every non-null value echoed, nulls left out."""
    member = entra_cycle(stack.url + "/scim/v2", stack.token, FULL_USER, "userName")
    assert member["schemas"] == [CORE_USER, ENTERPRISE_USER]
    assert member[ENTERPRISE_USER] == {"employeeNumber": "000417", "department": "Retail",
                                       "costCenter": "CC-210", "organization": "Contoso", "division": "North"}
    assert member["addresses"] == [{"type": "work", "formatted": "Building 4, Floor 2",
                                    "streetAddress": "18 Harbour Road", "locality": "Leeds",
                                    "postalCode": "LS1 4AB", "country": "GB", "primary": False}]
    assert [p["type"] for p in member["phoneNumbers"]] == ["work", "mobile", "fax"]
    for absent in ("nickName", "roles"):
        assert absent not in member


def test_a_second_organisation_onboarded_later_is_kept_apart(stack):
    """`onboard` runs again while the service is up; each token sees its own organisation only."""
    fabrikam = onboard(stack.ini, "Fabrikam", "grace@fabrikam.example", stack.url, stack.env)
    base = stack.url + "/scim/v2"
    body = {"userName": "bjensen@example.org", "externalId": "bjensen"}
    assert http("POST", f"{base}/Users", body, stack.token).status == 201
    assert find(base, fabrikam, "externalId", "bjensen") == EMPTY_LIST
    assert http("POST", f"{base}/Users", body, fabrikam).status == 201


def test_each_request_gets_one_access_log_line_on_pserves_stderr(stack):
    """development.ini's logging setup leaves the access log working and out of the root's console: one
    plain line per request, written before the response, with the organisation but never the token."""
    request_id = f"served-{uuid.uuid4()}"
    reply = http("GET", f"{stack.url}/scim/v2/Users?filter=userName+eq+%22ada%40contoso.example%22",
                 token=stack.token, headers={"X-Request-Id": request_id})
    assert reply.status == 200
    lines = [line for line in stack.server.log().splitlines() if request_id in line]
    assert len(lines) == 1, lines
    assert re.fullmatch(rf"time=\S+Z request_id={request_id} organisation_id=[0-9a-f-]{{36}} method=GET "
                        rf"route=scim_users status=200 duration_ms=\d+\.\d{{3}}", lines[0])
    assert stack.token not in stack.server.log()


# -- Entra's group cycle (ENTRA.md §14) ----------------------------------------------------------------

CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


def patch_op(*operations: dict) -> dict:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def member_values(location: str, token: str) -> list[str]:
    reply = http("GET", location, token=token)
    assert reply.status == 200, reply.body
    return [m["value"] for m in reply.json.get("members", [])]


@pytest.mark.parametrize("tree", TREES)
def test_entras_group_cycle_over_http(stack, tree):
    """Every group request form of §14 with the answer it names: match, create (with Microsoft's extra
    schema URN), both of Entra's membership shapes and ?aadOptscim062020's, rename with and without a path,
    a member from elsewhere refused with nothing changed, remove all, replace, PUT, lifecycle, delete."""
    base, token = stack.url + tree, stack.token
    tag = uuid.uuid4().hex[:8]
    display = {}
    for i in range(4):
        created = http("POST", f"{base}/Users", {"userName": f"team-{tag}-{i}@contoso.example",
                                                 "externalId": f"team-{tag}-{i}", "displayName": f"Member {i}"}, token)
        assert created.status == 201, created.body
        display[created.json["id"]] = f"Member {i}"
    users = sorted(display)
    name = f"Leeds office {tag}"
    matching = f"{base}/Groups?excludedAttributes=members&filter=displayName+eq+%22{quote(name)}%22"
    assert http("GET", matching, token=token).json == EMPTY_LIST

    created = http("POST", f"{base}/Groups", {
        "schemas": [CORE_GROUP, "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/Group"],
        "externalId": f"object-{tag}", "displayName": name, "members": [], "meta": {"resourceType": "Group"}}, token)
    assert created.status == 201, created.body
    assert created.headers["Content-Type"] == SCIM_JSON
    group = created.json
    location = created.headers["Location"]
    assert location == group["meta"]["location"] == f"{base}/Groups/{group['id']}"
    assert (created.header("ETag"), "members" in group) == ('W/"1"', False)
    again = http("POST", f"{base}/Groups", {"schemas": [CORE_GROUP], "displayName": name.upper()}, token)
    assert (again.status, again.json["scimType"]) == (409, "uniqueness")
    hit = http("GET", matching, token=token).json
    assert [g["id"] for g in hit["Resources"]] == [group["id"]] and "members" not in hit["Resources"][0]

    added = http("PATCH", location, patch_op({"op": "Add", "path": "members", "value": [
        {"$ref": None, "value": u} for u in users]}), token)
    assert (added.status, added.body, added.header("ETag")) == (204, b"", 'W/"2"')
    assert "Content-Type" not in added.headers
    assert member_values(location, token) == users
    assert http("GET", location, token=token).json["members"] == [
        {"value": u, "$ref": f"{base}/Users/{u}", "type": "User", "display": display[u]} for u in users]

    removed = http("PATCH", location, patch_op({"op": "Remove", "path": "members", "value": [
        {"$ref": None, "value": users[0]}]}), token)
    assert removed.status == 204
    http("PATCH", f"{location}?aadOptscim062020", patch_op({"op": "remove", "path": f'members[value eq "{users[1]}"]'}),
         token)
    assert member_values(location, token) == users[2:]

    foreign = http("PATCH", location, patch_op({"op": "Replace", "path": "displayName", "value": "renamed"},
                                               {"op": "Add", "path": "members", "value": [{"value": "nobody"}]}), token)
    assert (foreign.status, foreign.json["scimType"]) == (400, "invalidValue")
    assert '"nobody"' in foreign.json["detail"]
    assert http("GET", location, token=token).json["displayName"] == name

    renamed = http("PATCH", f"{location}?excludedAttributes=members", patch_op(
        {"op": "Replace", "path": "displayName", "value": f"{name} & York"}), token)
    assert renamed.status == 200 and renamed.json["displayName"] == f"{name} & York" and "members" not in renamed.json
    http("PATCH", location, patch_op({"op": "replace", "value": {"displayName": name, "externalId": f"new-{tag}"}}),
         token)
    assert http("GET", f"{location}?attributes=externalId", token=token).json["externalId"] == f"new-{tag}"

    http("PATCH", location, patch_op({"op": "Replace", "path": "members", "value": [{"value": u} for u in users[:2]]}),
         token)
    assert member_values(location, token) == users[:2]
    http("PATCH", location, patch_op({"op": "Remove", "path": "members"}), token)
    assert member_values(location, token) == []
    put = http("PUT", location, {"schemas": [CORE_GROUP], "displayName": name,
                                 "members": [{"value": u} for u in users[1:]]}, token)
    assert put.status == 200 and [m["value"] for m in put.json["members"]] == users[1:]
    stale = http("PATCH", location, patch_op({"op": "Remove", "path": "members"}), token, headers={"If-Match": 'W/"1"'})
    assert stale.status == 412

    assert [g["value"] for g in http("GET", f"{base}/Users/{users[1]}", token=token).json["groups"]] == [group["id"]]
    http("PATCH", f"{base}/Users/{users[1]}", patch_op({"op": "Replace", "path": "active", "value": "False"}), token)
    assert users[1] in member_values(location, token)
    assert http("DELETE", f"{base}/Users/{users[2]}", token=token).status == 204
    assert member_values(location, token) == [users[1], users[3]]

    deleted = http("DELETE", location, token=token)
    assert (deleted.status, deleted.body) == (204, b"")
    assert http("GET", location, token=token).status == 404
    assert http("GET", f"{base}/Users/{users[1]}", token=token).status == 200
    for user in (users[0], users[1], users[3]):
        http("DELETE", f"{base}/Users/{user}", token=token)


def test_concurrent_creates_of_one_team_name_give_one_201_and_seven_409(stack):
    """Simultaneous POSTs of one displayName, in different cases, make exactly one team, never a 5xx."""
    base = stack.url + "/scim/v2"
    tag = uuid.uuid4().hex[:8]
    bodies = [{"schemas": [CORE_GROUP], "displayName": f"Team {tag}".upper() if n % 2 else f"team {tag}",
               "externalId": f"{tag}-{n}"} for n in range(8)]
    replies = concurrently([lambda body=body: http("POST", f"{base}/Groups", body, stack.token) for body in bodies])
    assert sorted(r.status for r in replies) == [201] + [409] * 7, [r.body for r in replies]
    winner = next(r.json for r in replies if r.status == 201)
    assert http("DELETE", winner["meta"]["location"], token=stack.token).status == 204


# -- concurrency through waitress's threads ---------------------------------------------------------

def concurrently(calls):
    """Run the calls at the same moment, one thread each, and return their replies in order."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait(timeout=30)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def test_concurrent_creates_of_one_user_name_give_one_201_and_seven_409(stack):
    """ENTRA.md §8: simultaneous POSTs of one userName make exactly one member, never a 5xx."""
    base = stack.url + "/scim/v2"
    bodies = [{"userName": "megan.bowen@contoso.example", "externalId": f"attempt-{n}"} for n in range(8)]
    replies = concurrently([lambda body=body: http("POST", f"{base}/Users", body, stack.token) for body in bodies])
    assert sorted(r.status for r in replies) == [201] + [409] * 7, [r.body for r in replies]
    assert {r.json["scimType"] for r in replies if r.status == 409} == {"uniqueness"}
    assert find(base, stack.token, "userName", "Megan.Bowen@contoso.example")["totalResults"] == 1


def test_concurrent_patches_of_one_member_lose_nothing(stack):
    """Eight PATCHes at once, each changing something else, all succeed and all changes are kept."""
    base = stack.url + "/scim/v2"
    body = {"userName": "lee.gu@contoso.example", "externalId": "lee.gu"}
    location = http("POST", f"{base}/Users", body, stack.token).headers["Location"]
    phones = {"work": "+44 113 496 0000", "mobile": "+44 7700 900123", "fax": "+44 113 496 0999",
              "home": "+44 113 496 0555"}
    attributes = {"displayName": "Example Person", "title": "Retail Manager", "nickName": "Ex",
                  "preferredLanguage": "en-GB"}
    operations = [{"op": "Add", "path": f'phoneNumbers[type eq "{kind}"].value', "value": number}
                  for kind, number in phones.items()]
    operations += [{"op": "Replace", "path": name, "value": value} for name, value in attributes.items()]
    replies = concurrently([
        lambda op=op: http("PATCH", location, {"schemas": [PATCH_OP], "Operations": [op]}, stack.token)
        for op in operations])
    assert [r.status for r in replies] == [200] * 8, [r.body for r in replies]
    member = http("GET", location, token=stack.token).json
    assert {p["type"]: p["value"] for p in member["phoneNumbers"]} == phones
    assert {name: member.get(name) for name in attributes} == attributes
    assert member["meta"]["version"] == 'W/"9"'


# -- production.ini -----------------------------------------------------------------------------------

HOSTILE_FILTERS = [
    "(" * 10_000 + 'userName eq "a"' + ")" * 10_000,
    "not (" * 2_000 + 'userName eq "a"' + ")" * 2_000,
    'userName eq "' + "a" * 1_000_000 + '"',
    'favouriteColour eq "teal"',
    'userName zz "a"',
] + [f"{attribute} {operator} {value}"
     for attribute in ("userName", "active", "meta.created", "emails.primary", "name.familyName",
                       "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value")
     for operator in ("eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le")
     for value in ('"x"', "true", "null", "42", '"2026-11-23T09:14:07Z"')]


def test_hostile_filters_get_a_400_and_the_server_keeps_serving(stack):
    """Deep nesting, a megabyte string, unknown attributes and every operator on every attribute type:
    each is a 200 or a 400 invalidFilter, never a 5xx, and the server still answers afterwards."""
    base = stack.url + "/scim/v2"
    statuses = {}
    for text in HOSTILE_FILTERS:
        reply = http("POST", f"{base}/Users/.search", {"filter": text}, stack.token)
        statuses[reply.status] = statuses.get(reply.status, 0) + 1
        assert reply.status in (200, 400), (text[:80], reply.status, reply.body[:300])
        if reply.status == 400:
            assert reply.json["scimType"] == "invalidFilter", text[:80]
    assert statuses[400] >= 5 and statuses[200] >= 5
    nested = quote("(" * 10_000 + 'userName eq "a"' + ")" * 10_000)
    assert http("GET", f"{base}/Users?filter={nested}", token=stack.token).status == 400
    assert http("GET", f"{base}/Users?filter=userName+eq+%22nobody%22", token=stack.token).json["totalResults"] == 0


def test_a_body_over_the_bound_is_a_scim_413_and_a_huge_one_is_never_read(stack):
    """Over 1 MiB the app answers a SCIM 413 without reading the body; over waitress's
    max_request_body_size (4 MiB) waitress answers 413 on the Content-Length alone, before any of the
    body is sent. The server keeps serving either way."""
    base = stack.url + "/scim/v2"
    reply = http("POST", f"{base}/Users", {"userName": "x", "displayName": "d" * 1_048_576}, stack.token)
    assert reply.status == 413 and reply.json["status"] == "413"
    assert "larger than 1048576 bytes" in reply.json["detail"]

    with socket.create_connection(("127.0.0.1", stack.server.port), timeout=30) as connection:
        connection.sendall(f"POST /scim/v2/Users HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           f"Authorization: Bearer {stack.token}\r\nContent-Type: application/scim+json\r\n"
                           f"Content-Length: {5 * 1024 * 1024}\r\n\r\n".encode())
        status_line = connection.makefile("rb").readline()
    assert status_line.split()[1] == b"413"
    assert http("GET", f"{base}/Users?filter=userName+eq+%22x%22", token=stack.token).json["totalResults"] == 0


def test_forwarded_headers_from_an_untrusted_client_cannot_redirect_locations(stack):
    """Without trusted_proxy (development.ini), X-Forwarded-Host/Proto/Prefix are not believed: a client
    cannot make Location or meta.location point at another host; and nothing it sends is stored, since
    locations are computed per response."""
    base = stack.url + "/scim/v2"
    forged = {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https", "X-Forwarded-Prefix": "/x",
              "Forwarded": "host=evil.example;proto=https"}
    created = http("POST", f"{base}/Users", {"userName": f"forged-{uuid.uuid4()}", "active": True}, stack.token,
                   headers=forged)
    assert created.status == 201
    assert created.headers["Location"].startswith(base + "/Users/")
    assert created.json["meta"]["location"] == created.headers["Location"]
    again = http("GET", created.headers["Location"], token=stack.token)
    assert "evil" not in again.body.decode() and again.json["meta"]["location"] == created.headers["Location"]
    assert http("DELETE", created.headers["Location"], token=stack.token).status == 204


@pytest.fixture
def production(tmp_path):
    """A copy of production.ini listening on a free port, its database a fresh SQLite file named by
    WIGGLEDESK_DATABASE_URL as in production."""
    port = free_port()
    ini = ini_copy("production.ini", tmp_path, port)
    env = without_database_variable(WIGGLEDESK_DATABASE_URL=f"sqlite:///{tmp_path / 'production.sqlite'}")
    return ini, port, env


def test_production_serves_https_locations_behind_a_trusted_proxy(production):
    """Behind the TLS-terminating proxy (trusted_proxy), X-Forwarded-Proto/Host make locations https."""
    ini, port, env = production
    migrated = run_cli(ini, "migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    token = onboard(ini, "Contoso", "ada@contoso.example", "https://scim.contoso.example", env)
    server = Server(ini, port, env).start()
    try:
        forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "scim.contoso.example",
                     "X-Forwarded-For": "203.0.113.9"}
        created = http("POST", f"{server.url}/scim/v2/Users/Users", SEED_USER, token, forwarded)
        assert created.status == 201, created.body
        assert created.headers["Location"] == f"https://scim.contoso.example/scim/v2/Users/Users/{created.json['id']}"
        direct = http("GET", f"{server.url}/scim/v2/Users/{created.json['id']}", token=token)
        assert direct.json["meta"]["location"] == f"{server.url}/scim/v2/Users/{created.json['id']}"
    finally:
        server.stop()


def test_production_refuses_to_start_without_its_database_variable(production):
    """An unset WIGGLEDESK_DATABASE_URL stops pserve at startup with a message naming the variable."""
    ini, _port, _env = production
    done = subprocess.run([str(PSERVE), str(ini)], capture_output=True, text=True, timeout=120,
                          env=without_database_variable(), cwd=ini.parent)
    assert done.returncode != 0
    assert "WIGGLEDESK_DATABASE_URL, which is not set" in done.stderr


@pytest.mark.parametrize("source", ["development.ini", "production.ini"])
def test_pserve_on_a_taken_port_says_which_address_in_one_line_and_exits_non_zero(tmp_path, source):
    """`make run` while another process holds the port: no traceback, but one line naming the address and
    the setting that chose it, and a non-zero exit status."""
    env = without_database_variable(WIGGLEDESK_DATABASE_URL=f"sqlite:///{tmp_path / 'production.sqlite'}")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        ini = ini_copy(source, tmp_path, port)
        done = subprocess.run([str(PSERVE), str(ini)], capture_output=True, text=True, timeout=120, env=env,
                              cwd=tmp_path)

    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "Errno" not in done.stderr
    assert done.stderr.splitlines()[-1] == (
        f"Cannot listen on 127.0.0.1:{port}: the address is already in use (is another server running?); "
        f"`listen` in [server:main] of {ini} sets the address.")


# -- the command line -----------------------------------------------------------------------------

def test_migrate_creates_a_fresh_database_and_can_be_repeated(production):
    """`migrate` on a database that does not exist yet brings it to the latest revision, and says so again."""
    ini, _port, env = production
    first = run_cli(ini, "migrate", env=env)
    assert first.returncode == 0, first.stderr
    assert "is now at revision" in first.stdout
    again = run_cli(ini, "migrate", env=env)
    assert again.returncode == 0 and "already at the latest revision" in again.stdout


def test_onboard_before_migrate_says_to_migrate(production):
    """Without auto-migration, onboarding into an empty database fails with the command to run."""
    ini, _port, env = production
    done = run_cli(ini, "onboard", "Contoso", "ada@contoso.example", env=env)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and f"wiggledesk-scim {ini} migrate" in done.stderr


@pytest.mark.parametrize("name, email, reason", [
    ("Contoso", "not-an-address", '"not-an-address" is not an e-mail address'),
    (" ", "ada@contoso.example", "The organisation needs a name"),
])
def test_onboard_refusals_are_one_line_on_stderr(tmp_path, name, email, reason):
    """A refused onboarding prints why on one line of stderr, nothing on stdout, and exits 1."""
    done = run_cli(ini_copy("development.ini", tmp_path, free_port()), "onboard", name, email)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.count("\n") == 1 and reason in done.stderr


def test_migrate_without_the_database_variable_says_which_variable(production):
    ini, _port, _env = production
    done = run_cli(ini, "migrate", env=without_database_variable())
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.count("\n") == 1 and "WIGGLEDESK_DATABASE_URL, which is not set" in done.stderr


def test_cli_names_a_missing_ini(tmp_path):
    done = run_cli(tmp_path / "nowhere.ini", "migrate")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "nowhere.ini" in done.stderr


# -- OAuth 2.0 over real HTTP (ENTRA.md §2.2, §2.3) -----------------------------------------------------

def token_over_http(url: str, body: str, headers: dict | None = None) -> Reply:
    request = urllib.request.Request(f"{url}/oauth2/token", data=body.encode(), method="POST")
    return send(request, {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})})


def test_a_client_made_by_the_cli_gets_access_tokens_that_work_under_both_trees(stack):
    """An operator creates a client with the CLI; Entra exchanges its credentials by Basic and in the body,
    then provisions with the access token; nothing secret reaches pserve's log."""
    import base64

    created = run_cli(stack.ini, "clients", "create", "Contoso", "--name", "Entra provisioning", "--json",
                      env=stack.env)
    assert created.returncode == 0, created.stderr
    client = json.loads(created.stdout)
    pair = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
    by_basic = token_over_http(stack.url, "grant_type=client_credentials&scope=scim",
                               {"Authorization": f"Basic {pair}"})
    assert by_basic.status == 200, by_basic.body
    assert (by_basic.header("Cache-Control"), by_basic.header("Pragma")) == ("no-store", "no-cache")
    by_body = token_over_http(stack.url, f"grant_type=client_credentials&client_id={client['client_id']}"
                                         f"&client_secret={client['client_secret']}")
    assert by_body.status == 200, by_body.body
    for tree in TREES:
        for answer in (by_basic, by_body):
            assert http("GET", f"{stack.url}{tree}/Users", token=answer.json["access_token"]).status == 200
    wrong = token_over_http(stack.url, "grant_type=client_credentials",
                            {"Authorization": "Basic " + base64.b64encode(f"{client['client_id']}:x".encode()).decode()})
    assert (wrong.status, wrong.json["error"], wrong.header("WWW-Authenticate")) == (
        401, "invalid_client", 'Basic realm="WiggleDesk"')
    assert http("GET", f"{stack.url}/oauth2/token").status == 405
    metadata = http("GET", f"{stack.url}/.well-known/oauth-authorization-server")
    assert metadata.json["token_endpoint"] == f"{stack.url}/oauth2/token"
    log = stack.server.log()
    for secret in (client["client_secret"], pair, by_basic.json["access_token"], by_body.json["access_token"]):
        assert secret not in log and secret[6:20] not in log


def test_a_federated_client_gets_an_access_token_for_an_assertion_over_http(stack):
    """ENTRA.md §2.3 against pserve: the trust set by the CLI, the JWKS served on 127.0.0.1 by the test."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    from tests.integration.test_federation_served import JwksHost, jwks

    tenant, audience, subject = "72f988bf-86f1-41af-91ab-2d7cd011db47", "api://AzureADTokenExchange", "app-1"
    keys = {"k1": rsa.generate_private_key(public_exponent=65537, key_size=2048)}
    host = JwksHost()
    try:
        uri = host.serve("/keys", jwks(keys, "k1"))
        created = json.loads(run_cli(stack.ini, "clients", "create", "Contoso", "--name", "Federated", "--json",
                                     env=stack.env).stdout)
        trusted = run_cli(stack.ini, "clients", "trust", created["client_id"], "--tenant", tenant,
                          "--audience", audience, "--subject", subject, "--jwks-uri", uri, env=stack.env)
        assert trusted.returncode == 0, trusted.stderr
        now = time.time()
        assertion = jwt.encode({"iss": f"https://login.microsoftonline.com/{tenant}/v2.0", "aud": audience,
                                "sub": subject, "tid": tenant, "exp": now + 600, "nbf": now - 10, "iat": now - 10},
                               keys["k1"], algorithm="RS256", headers={"kid": "k1"})
        body = (f"grant_type=client_credentials&client_id={created['client_id']}&client_assertion_type="
                f"urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={assertion}")
        answer = token_over_http(stack.url, body)
        assert answer.status == 200, answer.body
        assert http("GET", f"{stack.url}/scim/v2/Users", token=answer.json["access_token"]).status == 200
        assert assertion not in stack.server.log()
    finally:
        host.stop()
