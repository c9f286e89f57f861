"""Crash safety: a write answers 2xx only after its COMMIT, so killing the server (SIGKILL, no chance to
clean up) in the middle of a load loses nothing it acknowledged and leaves nothing half-written.

pserve serves development.ini (SQLite, WAL with synchronous = FULL; or PostgreSQL) while threads create
members and update them, each thread its own; the server is killed mid-load, started again on the same
database, and every acknowledged create and update is checked, together with the members' search rows
(a filter by e-mail finds exactly the members whose row says so) and the activity trail (one create per
member, written with it).
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from http.client import HTTPException
from urllib.parse import quote

import pytest

from tests.integration.test_server import (PATCH_OP, Server, free_port, http, ini_copy, onboard, run_cli,
                                           without_database_variable)

WRITERS = 4
#: What a request meets when the server dies under it: a refused or reset connection, a cut-off answer.
GONE = (OSError, HTTPException)
LOAD_SECONDS = 1.5


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def served(request, tmp_path):
    """An ini served by pserve (not started), its database migrated, Contoso onboarded; (ini, port, env, token)."""
    port = free_port()
    env = without_database_variable()
    settings = {"wiggledesk__access_log": "off", "wiggledesk__fair_use__rate": "0"}
    if request.param == "postgresql":
        settings.update(sqlalchemy__url=request.getfixturevalue("postgres_url"), wiggledesk__auto_migrate="false")
    ini = ini_copy("development.ini", tmp_path, port, **settings)
    migrated = run_cli(ini, "migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    token = onboard(ini, "Contoso", "ada@contoso.example", f"http://127.0.0.1:{port}", env)
    return ini, port, env, token


def writer(base: str, token: str, number: int, stop: threading.Event, acknowledged: list) -> None:
    """Creates a member, then sets its displayName to 1, 2, 3 ... until stopped or the server is gone;
    records (kind, member id, value) for every 2xx."""
    user_name = f"crash-{number}-{uuid.uuid4().hex[:8]}@contoso.example"
    try:
        created = http("POST", f"{base}/Users", {"userName": user_name, "active": True,
                                                  "emails": [{"value": user_name, "type": "work"}]}, token)
    except GONE:
        return
    if created.status != 201:
        return
    member = created.json["id"]
    acknowledged.append(("create", member, user_name))
    value = 0
    while not stop.is_set():
        value += 1
        try:
            reply = http("PATCH", f"{base}/Users/{member}", {"schemas": [PATCH_OP], "Operations": [
                {"op": "replace", "path": "displayName", "value": str(value)}]}, token)
        except GONE:
            return
        if reply.status == 200:
            acknowledged.append(("update", member, value))


@pytest.mark.parametrize("round_", range(2))
def test_every_acknowledged_write_survives_sigkill_and_nothing_is_half_written(served, round_):
    ini, port, env, token = served
    base = f"http://127.0.0.1:{port}/scim/v2"
    server = Server(ini, port, env).start()
    acknowledged: list = []
    stop = threading.Event()
    try:
        threads = []
        for number in range(WRITERS * 4):
            thread = threading.Thread(target=writer, args=(base, token, number, stop, acknowledged), daemon=True)
            threads.append(thread)
            thread.start()
            time.sleep(LOAD_SECONDS / (WRITERS * 4))
        time.sleep(0.2)
        server.process.kill()  # SIGKILL: no shutdown, no last commit, whatever was in flight
        server.process.wait(timeout=15)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        server.stop()

    creates = {member: name for kind, member, name in acknowledged if kind == "create"}
    updates: dict[str, int] = {}
    for kind, member, value in acknowledged:
        if kind == "update":
            updates[member] = max(updates.get(member, 0), value)
    assert len(creates) >= WRITERS and sum(updates.values()) >= 20, (len(creates), sum(updates.values()))

    server = Server(ini, port, env).start()
    try:
        for member, user_name in creates.items():
            reply = http("GET", f"{base}/Users/{member}", token=token)
            assert reply.status == 200, (member, reply.status)
            stored = reply.json
            assert stored["userName"] == user_name
            last = updates.get(member, 0)
            shown = int(stored.get("displayName", "0"))
            # The last acknowledged value, or the one after it, committed as the server died before answering.
            assert shown in (last, last + 1), (member, last, shown)
            # The search rows were written with the member: the e-mail filter finds exactly it.
            found = http("GET", f"{base}/Users?filter=" + quote(f'emails.value eq "{user_name}"'), token=token).json
            assert [r["id"] for r in found["Resources"]] == [member]
        # Every member in the organisation was created by an acknowledged request or by the request in
        # flight when the server died: nothing else, and nothing twice.
        listed = http("GET", f"{base}/Users?count=1000&filter=" + quote('userName sw "crash-"'), token=token).json
        assert set(creates) <= {r["id"] for r in listed["Resources"]}
        assert listed["totalResults"] <= len(creates) + WRITERS * 4
    finally:
        server.stop()

    # The trail was written with each change: one create per member, and as many updates as the member's
    # displayName says (each update recorded in the transaction that made it).
    trail = run_cli(ini, "activity", "Contoso", "--json", "--limit", "100000", env=env)
    assert trail.returncode == 0, trail.stderr
    records = [json.loads(line) for line in trail.stdout.splitlines()]
    for member in creates:
        events = [r["event"] for r in records if r["member_id"] == member]
        assert events.count("create") == 1
        shown = int(next(r for r in listed["Resources"] if r["id"] == member).get("displayName", "0"))
        assert events.count("update") == shown
