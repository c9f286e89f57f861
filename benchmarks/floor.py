"""Where the floor is: ``benchmarks/run.py --floor`` serves a ladder of minimal apps beside ours and the
hello-world, each doing only what its rung says, and measures them in the same rounds.

    .venv/bin/python benchmarks/run.py --floor                     # SQLite, N = 10,000, c = 1 (~6 min)

Issue 18 states its targets against such a ladder, measured once on its author's machine: a bare WSGI
hello-world 1.0x; a look-up by an indexed key in a 10,000-row WAL SQLite table in a bare WSGI app 1.4x;
in a one-route Pyramid app 1.65x; plus a SHA-256 token look-up and a tween 1.9x; the same through a
SQLAlchemy Core connection per request 2.7x; with pyramid_tm + zope.sqlalchemy + a Session registered
once 3.2x; the Pylons-cookiecutter idiom (``zope.sqlalchemy.register`` on every request) 4.3x. This
mode measures the same rungs here, in the same run as ours, and adds the rungs for writes, which the
issue did not measure: the same apps' durable PATCH (an UPDATE of the member's row) and POST (an INSERT
of a new one), each committed with SQLite in WAL mode and ``synchronous=FULL``, as our writes are. A
write rung's figure is the least any app on that stack can spend on a durable write here, so it says
what is left for everything else a SCIM write does (validation, the PATCH's rules, the search rows, the
trail) under each of issue 18's bounds.

Every rung is this module's ``make_app`` (``use = call:floor:make_app`` in a copy of the benchmark's ini,
``[server:main]`` untouched: the same waitress, threads = 4) with ``floor.rung`` naming the rung and
``floor.database`` its own SQLite file: a ``members`` table holding the measured organisation's members
(their ids and stored User documents, copied from our database before the servers start) and a
``tokens`` table holding the SHA-256 digest of the organisation's API token. Every rung answers the same
requests as ours (run.py's ``get``, ``patch_active`` and ``post`` streams): ``GET /scim/v2/Users/{id}``
with the member's document, ``PATCH`` with the member's version raised and the document, ``POST`` with
201 and the body kept as a new member's document. The rungs from ``pyramid_token`` on check the bearer
token (its SHA-256 looked up by the unique index and compared in constant time) and confine the
member's look-up to the token's organisation, as every SCIM request of ours does.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import threading
import uuid
from pathlib import Path
from typing import Any

#: The rungs, in the ladder's order: (name, what it adds, whether it serves writes).
RUNGS = (
    ("wsgi", "bare WSGI, a kept sqlite3 connection per thread, the member's look-up", True),
    ("pyramid", "one-route Pyramid app, the same look-up", True),
    ("pyramid_token", "... plus the SHA-256 token look-up and a tween", True),
    ("core", "... through a SQLAlchemy Core connection per request", True),
    ("session", "... with pyramid_tm + zope.sqlalchemy + a Session registered once", True),
    ("session_dbapi", "... its statements sent on the Session's DBAPI connection (as our adapter does)", True),
    ("idiom", "... zope.sqlalchemy.register on every request (the cookiecutter's idiom)", False),
)
RUNG_NAMES = tuple(name for name, _, _ in RUNGS)
WRITING_RUNGS = tuple(name for name, _, writes in RUNGS if writes)

SCIM_JSON = "application/scim+json"
_PREFIX = "/scim/v2/Users"

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS members (id TEXT PRIMARY KEY, organisation_id TEXT NOT NULL, "
    "document TEXT NOT NULL, version INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS tokens (digest TEXT NOT NULL UNIQUE, organisation_id TEXT NOT NULL)",
)


def _pragmas(connection) -> None:
    """As our SQLite connections are set up (adapters/sqlalchemy/unit_of_work.py): WAL, synchronous=FULL."""
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")


def seed(path: Path, source: Path, organisation_id: str, token: str) -> int:
    """The floor's database at ``path``: the organisation's members as our database ``source`` keeps them
    (id, stored document, version), and its token's digest. The number of members copied."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        _pragmas(connection)
        for statement in _SCHEMA:
            connection.execute(statement)
        connection.execute("ATTACH DATABASE ? AS ours", (f"file:{source}?mode=ro",))
        connection.execute("BEGIN")
        copied = connection.execute(
            "INSERT INTO members SELECT id, organisation_id, substr(document, instr(document, char(10)) + 1), version "
            "FROM ours.members WHERE document IS NOT NULL AND organisation_id = ?", (organisation_id,)).rowcount
        connection.execute("INSERT INTO tokens VALUES (?, ?)", (hashlib.sha256(token.encode()).hexdigest(),
                                                                 organisation_id))
        connection.execute("COMMIT")
        connection.execute("DETACH DATABASE ours")
        return copied
    finally:
        connection.close()


# -- what every rung does, whatever carries it -------------------------------------------------------

_GET = "SELECT document FROM members WHERE id = ?"
_GET_IN = "SELECT document FROM members WHERE id = ? AND organisation_id = ?"
_TOKEN = "SELECT digest, organisation_id FROM tokens WHERE digest = ?"
_UPDATE = "UPDATE members SET version = version + 1 WHERE id = ?"
_UPDATE_IN = "UPDATE members SET version = version + 1 WHERE id = ? AND organisation_id = ?"
_INSERT = "INSERT INTO members VALUES (?, ?, ?, 1)"


class Refused(Exception):
    def __init__(self, status: int):
        self.status = status


def member_id(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def organisation_of(execute, authorization: str) -> str:
    """The organisation of the bearer token, by its digest (compared in constant time), or ``Refused(401)``."""
    token = authorization[7:] if authorization[:7].lower() == "bearer " else ""
    presented = hashlib.sha256(token.encode()).hexdigest()
    row = execute(_TOKEN, (presented,))
    if row is None or not hmac.compare_digest(row[0], presented):
        raise Refused(401)
    return row[1]


def answer(method: str, path: str, body: bytes, organisation_id: str | None, one, write) -> tuple[int, bytes]:
    """(status, body) of a request: ``one(sql, parameters)`` reads a row, ``write(sql, parameters)`` runs
    a write in the request's transaction (the caller begins and commits it)."""
    if method == "POST":
        json.loads(body)  # a write parses what it keeps
        write(_INSERT, (str(uuid.uuid4()), organisation_id or "", body.decode()))
        return 201, body
    identifier = member_id(path)
    if method == "PATCH":
        json.loads(body)
        # An UPDATE that touches no row would COMMIT nothing, and sync nothing: it must find the member.
        if organisation_id is None:
            write(_UPDATE, (identifier,))
        else:
            write(_UPDATE_IN, (identifier, organisation_id))
    row = one(_GET, (identifier,)) if organisation_id is None else one(_GET_IN, (identifier, organisation_id))
    if row is None:
        return 404, b'{"status": "404"}'
    return 200, row[0].encode()


def read_body(environ) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(length) if length else b""


# -- the rungs ------------------------------------------------------------------------------------------

class KeptConnections:
    """One sqlite3 connection per thread, kept, in autocommit (a write begins its own transaction)."""

    def __init__(self, path: str):
        self.path = path
        self._local = threading.local()

    def get(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            _pragmas(connection)
            self._local.connection = connection
        return connection


def _sqlite3_answer(connections: KeptConnections, environ, token: bool) -> tuple[int, bytes]:
    connection = connections.get()

    def one(sql, parameters):
        return connection.execute(sql, parameters).fetchone()

    method = environ["REQUEST_METHOD"]
    writes = method in ("PATCH", "POST")
    if writes:
        connection.execute("BEGIN IMMEDIATE")
    try:
        organisation_id = organisation_of(one, environ.get("HTTP_AUTHORIZATION", "")) if token else None
        status, body = answer(method, environ["PATH_INFO"], read_body(environ), organisation_id, one,
                              lambda sql, parameters: connection.execute(sql, parameters))
    except BaseException:
        if writes:
            connection.execute("ROLLBACK")
        raise
    if writes:
        connection.execute("COMMIT")
    return status, body


def _status(status: int) -> str:
    return {200: "200 OK", 201: "201 Created", 401: "401 Unauthorized", 404: "404 Not Found"}[status]


def wsgi_app(database: str):
    connections = KeptConnections(database)

    def app(environ, start_response):
        try:
            status, body = _sqlite3_answer(connections, environ, token=False)
        except Refused as refused:
            status, body = refused.status, b"{}"
        start_response(_status(status), [("Content-Type", SCIM_JSON), ("Content-Length", str(len(body)))])
        return [body]

    return app


def _pyramid(view, *, tween: bool = False, tm: str | None = None, settings: dict | None = None):
    from pyramid.config import Configurator

    config = Configurator(settings=settings or {})
    if tm is not None:
        config.add_settings({"tm.manager_hook": tm} if tm != "threadlocal" else {})
        config.include("pyramid_tm")
    if tween:
        config.add_tween("floor.request_id_tween_factory")
    config.add_route("user", _PREFIX + "/{id}")
    config.add_route("users", _PREFIX)
    config.add_view(view, route_name="user")
    config.add_view(view, route_name="users")
    return config.make_wsgi_app()


def request_id_tween_factory(handler, registry):
    """The rung's one tween: what ours all do at the least, a header on every response."""
    counter = iter(range(1, 1 << 62))

    def tween(request):
        response = handler(request)
        response.headerlist.append(("X-Request-Id", str(next(counter))))
        return response

    return tween


def _response(status: int, body: bytes):
    from pyramid.response import Response

    return Response(status=status, body=body, content_type=SCIM_JSON, charset=None)


def pyramid_app(database: str, token: bool):
    connections = KeptConnections(database)

    def view(request):
        try:
            return _response(*_sqlite3_answer(connections, request.environ, token=token))
        except Refused as refused:
            return _response(refused.status, b"{}")

    return _pyramid(view, tween=token)


def _engine(database: str):
    """The engine of the SQLAlchemy rungs: the driver's own transactions (it begins one before a write's
    first statement; a read runs in none), with our pragmas."""
    from sqlalchemy import create_engine, event

    engine = create_engine(f"sqlite:///{database}")

    @event.listens_for(engine, "connect")
    def connect(dbapi_connection, record):
        _pragmas(dbapi_connection)

    return engine


def core_app(database: str):
    engine = _engine(database)

    def view(request):
        environ = request.environ
        method = environ["REQUEST_METHOD"]
        with engine.connect() as connection:
            def one(statement, parameters):
                return connection.execute(_text(statement), _named(parameters)).fetchone()

            try:
                if method in ("PATCH", "POST"):
                    with connection.begin():
                        organisation_id = organisation_of(one, environ.get("HTTP_AUTHORIZATION", ""))
                        result = answer(method, environ["PATH_INFO"], read_body(environ), organisation_id, one,
                                        lambda statement, parameters: connection.execute(_text(statement),
                                                                                         _named(parameters)))
                else:
                    organisation_id = organisation_of(one, environ.get("HTTP_AUTHORIZATION", ""))
                    result = answer(method, environ["PATH_INFO"], b"", organisation_id, one, None)
                    connection.rollback()
            except Refused as refused:
                result = refused.status, b"{}"
        return _response(*result)

    return _pyramid(view, tween=True)


_TEXTS: dict[str, Any] = {}


def _text(statement: str):
    """The ``?`` statement as a SQLAlchemy ``text`` with named parameters ``p0``, ``p1`` ..., made once."""
    made = _TEXTS.get(statement)
    if made is None:
        from sqlalchemy import text

        pieces = statement.split("?")
        made = _TEXTS[statement] = text("".join(piece + (f":p{i}" if i < len(pieces) - 1 else "")
                                                for i, piece in enumerate(pieces)))
    return made


def _named(parameters) -> dict[str, Any]:
    return {f"p{i}": value for i, value in enumerate(parameters)}


def _session_view(dbsession_of, dbapi: bool = False):
    """A view that does every rung's work on the request's Session (``dbsession_of(request)``), in
    pyramid_tm's transaction, which the COMMIT pyramid_tm runs after the view ends. With ``dbapi``, the
    statements go to the DBAPI cursor of the Session's connection, as our adapter sends them
    (adapters/sqlalchemy/prepared.py), the Session still owning the transaction."""
    from zope.sqlalchemy import mark_changed

    def view(request):
        session = dbsession_of(request)
        environ = request.environ
        if dbapi:
            cursor = session.connection().connection.driver_connection.cursor()

            def one(statement, parameters):
                return cursor.execute(statement, parameters).fetchone()

            def write(statement, parameters):
                if not cursor.connection.in_transaction:
                    cursor.execute("BEGIN IMMEDIATE")
                cursor.execute(statement, parameters)
                mark_changed(session)
        else:
            def one(statement, parameters):
                return session.execute(_text(statement), _named(parameters)).fetchone()

            def write(statement, parameters):
                session.execute(_text(statement), _named(parameters))
                mark_changed(session)

        try:
            organisation_id = organisation_of(one, environ.get("HTTP_AUTHORIZATION", ""))
            return _response(*answer(environ["REQUEST_METHOD"], environ["PATH_INFO"], read_body(environ),
                                     organisation_id, one, write))
        except Refused as refused:
            return _response(refused.status, b"{}")

    return view


def session_app(database: str, dbapi: bool = False):
    """pyramid_tm's thread-local manager and one thread-local Session, registered with zope.sqlalchemy once."""
    from sqlalchemy.orm import scoped_session, sessionmaker
    from zope.sqlalchemy import register

    sessions = scoped_session(sessionmaker(bind=_engine(database)))
    register(sessions)  # once: the listeners sit on the scoped session's factory
    return _pyramid(_session_view(lambda request: sessions(), dbapi), tween=True, tm="threadlocal")


def idiom_app(database: str):
    """The cookiecutter's idiom: a Session per request, registered with the request's manager each time."""
    from sqlalchemy.orm import sessionmaker
    from zope.sqlalchemy import register

    factory = sessionmaker(bind=_engine(database))

    def dbsession(request):
        session = request.environ.get("floor.session")
        if session is None:
            session = request.environ["floor.session"] = factory()
            register(session, transaction_manager=request.tm)
        return session

    return _pyramid(_session_view(dbsession), tween=True, tm="pyramid_tm.explicit_manager")


def make_app(global_config=None, **settings):
    """PasteDeploy's ``call:`` factory: the rung ``floor.rung`` over the database ``floor.database``."""
    rung, database = settings["floor.rung"], settings["floor.database"]
    if rung == "wsgi":
        return wsgi_app(database)
    if rung in ("pyramid", "pyramid_token"):
        return pyramid_app(database, token=rung == "pyramid_token")
    if rung == "core":
        return core_app(database)
    if rung in ("session", "session_dbapi"):
        return session_app(database, dbapi=rung == "session_dbapi")
    if rung == "idiom":
        return idiom_app(database)
    raise ValueError(f"no rung {rung!r}; the rungs: {', '.join(RUNG_NAMES)}")


# -- the mode: run.py --floor ---------------------------------------------------------------------------

#: What each rung is measured on: run.py's scenarios of a GET, Entra's PATCH and Entra's POST.
KINDS = ("get", "patch_active", "post")


def rung_ini(bench, app_ini: Path, rung: str, database: Path, port: int) -> Path:
    """The benchmark's ini with only ``[app:main]`` replaced by ``rung``, on its own port."""
    return bench.app_ini_copy(app_ini, port, f"floor-{rung}.ini",
                              f"use = call:floor:make_app\nfloor.rung = {rung}\nfloor.database = {database}")


def check(bench, port: int, main, rung: str, database: Path) -> list[str]:
    """The problems with one request of each kind the rung is measured on; a write must have written its
    row (an UPDATE that finds none would commit, and sync, nothing)."""
    problems = []
    member_id = main.ids[len(main.ids) // 3]
    status, body = bench._call(port, "GET", f"{bench.SCIM_ROOT}/Users/{member_id}", main.token)
    if status != 200 or not isinstance(body, dict) or body.get("id") != member_id:
        problems.append(f"{rung} get: {(status, str(body)[:200])}")
    if rung in WRITING_RUNGS:
        def rows() -> tuple[int, int]:
            connection = sqlite3.connect(database)
            try:
                (version,), (count,) = (connection.execute("SELECT version FROM members WHERE id = ?",
                                                           (member_id,)).fetchone(),
                                        connection.execute("SELECT count(*) FROM members").fetchone())
                return version, count
            finally:
                connection.close()
        before = rows()
        status, _ = bench._call(port, "PATCH", f"{bench.SCIM_ROOT}/Users/{member_id}", main.token, b"{}")
        if status != 200 or rows()[0] != before[0] + 1:
            problems.append(f"{rung} patch: {status}, version {before[0]} -> {rows()[0]}")
        status, _ = bench._call(port, "POST", f"{bench.SCIM_ROOT}/Users", main.token, b"{}")
        if status != 201 or rows()[1] != before[1] + 1:
            problems.append(f"{rung} post: {status}, {before[1]} -> {rows()[1]} members")
    if rung != "wsgi" and rung != "pyramid":
        status, _ = bench._call(port, "GET", f"{bench.SCIM_ROOT}/Users/{member_id}", "not-the-token")
        if status != 401:
            problems.append(f"{rung} with a wrong token: {status}, not 401")
    return problems


def floor_mode(args, instances, meta) -> list[dict[str, Any]]:
    import dataclasses

    import load
    import run as bench

    instance = instances[0]
    if instance.backend != "sqlite":
        raise bench.Unusable("--floor measures SQLite's ladder, as issue 18 states it")
    bench.prepare(instance, args.members, args.others, args.other_members, args.batch, args.seed)
    bench.check(instance)
    database = instance.directory / "floor.sqlite"
    copied = seed(database, instance.directory / "benchmark.sqlite", instance.main.id, instance.main.token)
    print(f"# floor: {copied:,} members copied to {database.name}", flush=True)
    rungs = [name for name in RUNG_NAMES if name in args.rungs]
    servers = {}
    with bench.ExitStack() as stack:
        for rung in rungs:
            port = bench.free_port()
            server = bench.Server(rung_ini(bench, instance.ini, rung, database, port), port,
                                  bench.environment(PYTHONPATH=str(bench.HERE)))
            stack.callback(server.stop)
            servers[rung] = server.start()
        problems = [problem for rung in rungs
                    for problem in check(bench, servers[rung].port, instance.main, rung, database)]
        if problems:
            raise bench.Unusable("a rung does not answer as expected:\n  " + "\n  ".join(problems))
        entries = [("ours", kind) for kind in KINDS]
        entries += [(rung, kind) for rung in rungs for kind in KINDS if kind == "get" or rung in WRITING_RUNGS]
        phases = []
        for number in range(1, args.runs + 1):
            tag = f"{meta['run_id']}-r{number}"
            hello = bench.measure(meta["generator"], instance.hello, load.Scenario(bench.HELLO, bench.HELLO, 200,
                                                                                    tag=tag),
                                  1, number, args.warmup, args.duration, bench.HELLO)
            phases.append(hello)
            turn = (number - 1) % len(entries)
            for server_name, kind in entries[turn:] + entries[:turn]:
                scenario = bench.scenario(kind, instance.main, tag)
                if server_name == "ours":
                    server = instance.app
                else:
                    server = servers[server_name]
                    scenario = dataclasses.replace(scenario, name=f"{server_name}:{kind}",
                                                   expect=201 if kind == "post" else 200)
                phases.append(bench.measure(meta["generator"], server, scenario, 1, number, args.warmup,
                                            args.duration, server_name, ceiling=hello))
    return report(bench, args, meta, phases, rungs)


def report(bench, args, meta, phases, rungs) -> list[dict[str, Any]]:
    def named(name: str):
        return [p for p in phases if p.scenario == name]

    rows = [("hello", "bare WSGI hello-world (the ceiling)", {kind: bench.HELLO for kind in KINDS[:1]})]
    rows += [(rung, what, {kind: f"{rung}:{kind}" for kind in KINDS if kind == "get" or writes})
             for rung, what, writes in RUNGS if rung in rungs]
    rows.append(("ours", "wiggledesk-scim", {kind: kind for kind in KINDS}))
    records = [{"type": "phase", **bench.meta_keys(meta), **p.record()} for p in phases]
    print()
    print(f"## the floor: SQLite, N = {args.members:,}, c = 1; server CPU per request, median over {args.runs} "
          f"runs; in brackets the median of the per-run ratios to the hello-world")
    width = max(len(what) for _, what, _ in rows)
    header = f"| {'rung':<14} | {'what it does':<{width}} | {'GET':>16} | {'PATCH':>16} | {'POST':>16} |"
    print(header)
    print("|" + "|".join("-" * len(cell) for cell in header.split("|")[1:-1]) + "|")
    for name, what, kinds in rows:
        cells = []
        for kind in KINDS:
            scenario = kinds.get(kind)
            if scenario is None:
                cells.append(f"{'':>16}")
                continue
            summary = bench.summarise(named(scenario))
            ratio = 1.0 if scenario == bench.HELLO else summary["cpu_ratio"]
            cells.append(f"{bench._cell(summary['cpu_ms'], ratio, 3):>16}")
            records.append({"type": "summary", **bench.meta_keys(meta), "scenario": scenario, "concurrency": 1,
                            "rung": name, **summary})
        print(f"| {name:<14} | {what:<{width}} | " + " | ".join(cells) + " |")
    return records
