"""Engines, and the SQLAlchemy unit of work: a Session joined to a ``transaction`` manager.

The transaction manager owns the COMMIT (pyramid_tm in the app, ``transaction.TransactionManager`` in
tests and scripts). ``SqlAlchemyUnitOfWork.commit()`` only marks the block complete: every statement
runs when the repository issues it, so constraint violations surface inside the service call, where the
repositories turn them into domain errors. Leaving ``with uow:`` with an
exception dooms the transaction, so the request can no longer commit however the error is handled later;
so does leaving it without ``commit()`` after writing, because without savepoints the only way to discard
part of a transaction is to discard all of it.

What this module does not do: decide transaction boundaries (the manager does), retry, or know SCIM.

A database that cannot answer now (unreachable, busy, a serialization failure or a deadlock), whether
a statement fails or a connection cannot be had, raises the domain's ``StoreUnavailable``
(``prepared.store_unavailable``), so the request answers 503, or is retried, rather than failing with
an error the domain cannot name.

Reading units. ``open(manager, read_only=True)`` gives a unit for a request that only reads (GET). Each
of its statements reads what was committed when it started, as PostgreSQL's READ COMMITTED does: on
SQLite every SELECT runs in a transaction of its own (no BEGIN), which in WAL mode reads a snapshot
beside any writer and never waits for one. The one write such a request may make, the token's last-use stamp, is
made in a short transaction of its own (``_apart``), so it never has to upgrade a read transaction; an OAuth
client's or client secret's last-use stamp, should a reading unit ever record one, goes the same way.
On SQLite each thread keeps the connection its reading units read on (``_ReadingConnections``), rather
than taking one from the pool and giving it back per request, which costs more than the look-up the
request makes: a connection to a file never goes stale, and in autocommit it holds nothing between
statements (no transaction, no lock, no snapshot); it keeps the token grants it read while the file is
unchanged (``prepared.Unchanged``: SQLite says whether anything was committed since). On PostgreSQL a
reading unit checks one out of the pool per request, so that the pool's pre-ping replaces a connection
the server dropped, and the pool's rollback on return ends the unit's READ COMMITTED transaction.

Sessions. A writing unit's Session is made once and then kept for the thread's next writing unit: a
closed unit gives it back to its storage (``SqlAlchemyStorage.open``), and a thread's next unit takes it
again rather than building another, as every write used to, with its identity map, its event dispatch
and the reference cycles the garbage collector then has to find. Closed, a Session holds no connection,
no transaction and no object; a unit closed while the manager's transaction it joined is still open (so
zope.sqlalchemy still counts its Session as joined to it) keeps it instead, and the Session goes with it.

Records written apart. A refused request's activity record (``ActivityTrail.record_apart``) must outlive
the request's rollback, so either unit keeps it until ``close()`` and writes it there, in one short
transaction of its own, once the unit's own connection is back in the pool: on SQLite that connection
holds the process's writer lock until then, and a write on another connection before it would wait for
a lock its own thread holds. Failing to write them is logged, never raised: the response has gone.

SQLite and concurrency. Python's sqlite3 driver, left to itself, emits BEGIN before the first INSERT,
UPDATE or DELETE only (its "legacy transaction control", which stops being the default in Python 3.16),
so reads before the first write are outside the transaction. We take BEGIN over (``_configure_sqlite``):

- The journal is a write-ahead log (WAL) with ``synchronous = FULL``: a COMMIT returns once the log is
  on disk (fsync), so every acknowledged write survives a crash or power cut, and readers read a
  snapshot while one writer writes. (WAL needs a local file system; not a network share.)
- SQLite has one writer lock for the whole file. A transaction that has read (BEGIN DEFERRED) and then
  writes must upgrade to it, and in WAL mode that fails at once ("database is locked", busy timeout or
  not) if another writer committed meanwhile. Every writing use case reads first (MemberService.update
  reads, checks, then updates), so a unit that may write starts with ``BEGIN IMMEDIATE``: it takes the
  writer lock before its first read, never upgrades, and reads committed data. Writing units are
  serialisable, like the in-memory store's single lock; and DDL (alembic) is transactional.
- Writers of one process queue on a lock of the engine's before BEGIN IMMEDIATE and hold it until their
  connection goes back to the pool, so they take turns in order instead of polling SQLite's busy
  handler, whose back-off sleeps (up to 100 ms) would otherwise decide the tail latency under load.
  Between processes the busy timeout (30 s) still queues them; a writer that waits longer than the
  busy timeout for either gets ``StoreUnavailable``.
- That suits SQLite's use here (development, single-node installs); PostgreSQL (READ COMMITTED, row
  locks, the service's re-read-and-retry) is the store for several app processes.
"""
from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from functools import cached_property
from typing import Any, Callable, Mapping

import orjson
import zope.sqlalchemy
from sqlalchemy import Engine, create_engine, engine_from_config, event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.orm import Session
from transaction.interfaces import ITransactionManager, NoTransaction

from ...domain.errors import StoreUnavailable
from ...domain.ports import UnitOfWork
from .prepared import Database, Prepared, Unchanged, store_unavailable
from .repositories import (INSERT_ACTIVITY, SEEN_FROM, SqlAlchemyAccessTokenRepository, SqlAlchemyActivityTrail,
                           SqlAlchemyApiTokenRepository, SqlAlchemyMemberRepository, SqlAlchemyOAuthClientRepository,
                           SqlAlchemyOrganisationRepository, SqlAlchemyTeamRepository)

logger = logging.getLogger(__name__)

#: How long (seconds) a SQLite connection waits for another transaction's lock before giving up with
#: "database is locked". Long, because with BEGIN IMMEDIATE waiting is the normal way writers queue.
#: The URL's ``?timeout=`` or ``connect_args={"timeout": ...}`` set another; a writer waits as long for
#: its turn on the engine's writer lock.
SQLITE_BUSY_TIMEOUT = 30.0


def make_engine(url: str, **options: Any) -> Engine:
    """An engine for ``url``, set up as this service needs; ``options`` go to ``create_engine`` as given.

    SQLite (a file): its folder is created if missing, foreign keys are enforced, the busy timeout is
    ``SQLITE_BUSY_TIMEOUT`` unless the URL (``?timeout=5``) or ``connect_args`` says otherwise, the
    journal is a WAL synced on every COMMIT, and every transaction on an engine connection starts with
    BEGIN IMMEDIATE after its turn on the process's writer lock (module docstring). PostgreSQL: ``pool_pre_ping``, so a connection the server dropped
    is replaced rather than failing a request.
    """
    return _make_engine(url, options, from_config=False)


def engine_from_settings(settings: Mapping[str, Any], prefix: str = "sqlalchemy.") -> Engine:
    """``make_engine`` from an ini's settings: ``<prefix>url`` and any other ``<prefix>*`` option.

    Values may be the ini's strings: SQLAlchemy's ``engine_from_config`` coerces the options it knows
    (``sqlalchemy.pool_size = 10``, ``sqlalchemy.echo = true``), so every engine option is an ini key.
    """
    options = {key[len(prefix):]: value for key, value in settings.items() if key.startswith(prefix)}
    url = options.pop("url", None)
    if not url:
        raise ValueError(f"The setting {prefix}url is missing: it names the database, "
                         f"e.g. {prefix}url = sqlite:///%(here)s/var/wiggledesk.sqlite")
    return _make_engine(url, options, from_config=True)


def _make_engine(url: str, options: dict[str, Any], *, from_config: bool) -> Engine:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    defaults: dict[str, Any] = {"json_deserializer": _json_loads}
    if backend == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        connect_args = dict(options.get("connect_args") or {})
        if "timeout" not in parsed.query:
            connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT)
        options["connect_args"] = connect_args
        busy_timeout = float(connect_args.get("timeout", parsed.query.get("timeout", SQLITE_BUSY_TIMEOUT)))
    elif backend == "postgresql":
        defaults["pool_pre_ping"] = True
    defaults = {key: value for key, value in defaults.items() if key not in options}
    if from_config:
        engine = engine_from_config({"url": url, **options}, prefix="", **defaults)
    else:
        engine = create_engine(url, **defaults, **options)
    if backend == "sqlite":
        _configure_sqlite(engine, busy_timeout)
    return engine


def _json_loads(text: str) -> Any:
    """The JSON columns' reader: orjson, several times faster than the standard library on the lists a
    member row holds; what it refuses (text no write of ours produces) the standard library reads."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


#: Where a pooled SQLite connection records that it holds its engine's writer lock.
_HOLDS_WRITER_LOCK = "wiggledesk_writer_lock"


def _configure_sqlite(engine: Engine, busy_timeout: float) -> None:
    writers = threading.Lock()

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, connection_record) -> None:
        # Stop the driver from emitting BEGIN itself; ``on_begin`` and the reading unit do it.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # Off by default in SQLite, and a no-op inside a transaction: set per connection, right here.
        cursor.execute("PRAGMA foreign_keys=ON")
        # WAL is a property of the database file (it stays once set); synchronous is per connection.
        # An in-memory database keeps its own journal: the pragma then answers "memory".
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection) -> None:
        pooled = connection.connection
        # A connection that wrote already (several transactions before going back to the pool) holds it.
        if not pooled.info.get(_HOLDS_WRITER_LOCK):
            if not writers.acquire(timeout=busy_timeout):
                raise StoreUnavailable(f"No turn to write to SQLite within {busy_timeout} s")
            pooled.info[_HOLDS_WRITER_LOCK] = True
        try:
            pooled.driver_connection.execute("BEGIN IMMEDIATE")
        except BaseException as error:
            _release(pooled.info, writers)
            # Run by SQLAlchemy before its own error handling, so the driver's error arrives unwrapped.
            unavailable = store_unavailable(engine.dialect, error)
            if unavailable is not None:
                raise unavailable from error
            raise

    @event.listens_for(engine, "checkin")
    def on_checkin(dbapi_connection, connection_record) -> None:
        # Back in the pool, after its COMMIT or ROLLBACK: the next writer's turn.
        _release(connection_record.info, writers)

    @event.listens_for(engine, "close")
    def on_close(dbapi_connection, connection_record) -> None:
        _release(connection_record.info, writers)


def _release(info: dict, writers: threading.Lock) -> None:
    if info.pop(_HOLDS_WRITER_LOCK, False):
        writers.release()


class _ReadingConnections:
    """Each thread's reading connection to a SQLite file, made by the engine's pool on the thread's first
    read (so with the engine's connect-time settings) and then detached from it, so that it takes none of
    the pool's ``pool_size`` and ``max_overflow``, which stay the writers'; kept (module docstring,
    "Reading units"). One the driver found broken and invalidated is replaced on the next read. A
    server's threads (waitress's ``threads``) each add one connection to the pool's."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._local = threading.local()

    def lease(self):
        """This thread's pooled connection, valid; not to be closed by the caller."""
        local = self._local
        pooled = getattr(local, "pooled", None)
        if pooled is None or not pooled.is_valid or pooled.dbapi_connection is None:
            pooled = self.engine.raw_connection()
            pooled.detach()
            local.pooled = pooled
            local.unchanged = Unchanged()
        return pooled

    def unchanged(self) -> Unchanged | None:
        """The answers this thread's connection keeps while the file is unchanged (``prepared.Unchanged``):
        a new connection starts with none."""
        return getattr(self._local, "unchanged", None)


class SqlAlchemyStorage:
    """Opens units of work on one engine: the storage the composition root builds once at startup."""

    def __init__(self, engine: Engine):
        self.engine = engine
        sqlite = engine.dialect.name == "sqlite"
        #: SQLite's kept reading connections (None on a server database: a reading unit checks one out).
        self._reading = _ReadingConnections(engine) if sqlite else None
        #: Each thread's idle Sessions (``_idle_sessions``).
        self._idle = threading.local()
        #: Whether a transaction can lose a race to another and succeed when run again (a serialization
        #: failure or a deadlock, ``store_unavailable``'s ``retryable``): on PostgreSQL. SQLite's writers
        #: take turns on the writer lock (module docstring), so none ever does.
        self.races = not sqlite

    def unavailable(self, error: BaseException) -> StoreUnavailable | None:
        """The ``StoreUnavailable`` that ``error`` means (``prepared.store_unavailable``), or None: for
        what reaches the web app outside a unit of work, such as a COMMIT that failed."""
        return store_unavailable(self.engine.dialect, error)

    def open(self, transaction_manager: ITransactionManager | None, *,
             read_only: bool = False) -> "SqlAlchemyUnitOfWork | SqlAlchemyReadingUnitOfWork":
        """A unit of work whose Session joins ``transaction_manager``'s transactions (zope.sqlalchemy);
        with ``read_only``, a reading unit instead (module docstring, "Reading units"), which takes no
        part in the manager's transactions (it may be ``None``).

        The caller closes it (``close()``) when the request is finished.
        """
        if read_only:
            return SqlAlchemyReadingUnitOfWork(self.engine, self._reading)
        idle = self._idle_sessions()
        session = idle.pop() if idle else Session(bind=self.engine)
        return SqlAlchemyUnitOfWork(session, transaction_manager, idle.append)

    def _idle_sessions(self) -> list[Session]:
        """This thread's Sessions that a closed unit gave back (module docstring, "Sessions")."""
        local = self._idle
        sessions = getattr(local, "sessions", None)
        if sessions is None:
            sessions = local.sessions = []
        return sessions


class _Block:
    """The state of one ``with uow:`` block."""

    __slots__ = ("wrote", "committed")

    def __init__(self) -> None:
        self.wrote = False
        self.committed = False


class _Repositories:
    """A unit's repositories over its ``Database`` (``_db``), each made on first use: a request uses two
    or three of them. ``_stamp_apart``: how a token's or a client's last-use stamp is written, when not
    in the unit's own transaction (a reading unit's ``_apart``); None writes it in the unit's."""

    _db: Database
    _apart_records: list[dict[str, Any]]
    _stamp_apart: Callable[[Prepared, dict], None] | None = None

    @cached_property
    def organisations(self) -> SqlAlchemyOrganisationRepository:
        return SqlAlchemyOrganisationRepository(self._db)

    @cached_property
    def members(self) -> SqlAlchemyMemberRepository:
        return SqlAlchemyMemberRepository(self._db)

    @cached_property
    def teams(self) -> SqlAlchemyTeamRepository:
        return SqlAlchemyTeamRepository(self._db)

    @cached_property
    def tokens(self) -> SqlAlchemyApiTokenRepository:
        return SqlAlchemyApiTokenRepository(self._db, apart=self._stamp_apart)

    @cached_property
    def activity(self) -> SqlAlchemyActivityTrail:
        # The records kept apart are written by close() (module docstring).
        return SqlAlchemyActivityTrail(self._db, self._apart_records.append)

    @cached_property
    def clients(self) -> SqlAlchemyOAuthClientRepository:
        return SqlAlchemyOAuthClientRepository(self._db, apart=self._stamp_apart)

    @cached_property
    def access_tokens(self) -> SqlAlchemyAccessTokenRepository:
        return SqlAlchemyAccessTokenRepository(self._db)


class SqlAlchemyUnitOfWork(_Repositories, UnitOfWork):
    """One Session, whose connection the repositories use, within the transaction manager's
    transactions.

    May be entered again and again (and nested), within one transaction or across several: each
    transaction the manager begins is joined afresh. Once closed, it is done with: ``give_back`` (the
    storage's, ``SqlAlchemyStorage.open``) takes its Session for the next unit the thread opens, provided
    the last transaction the unit joined has ended, so that the Session is joined to none.
    """

    def __init__(self, session: Session, transaction_manager: ITransactionManager,
                 give_back: Callable[[Session], None] | None = None):
        self.session = session
        self._give_back = give_back
        self._joined = None  # the manager's transaction the unit joined last
        self._closed = False
        self.transaction_manager = transaction_manager
        # zope.sqlalchemy's developer interface, used directly: the unit joins its Session to the
        # manager's transaction itself (``_connection``) rather than through Session events, since
        # registering those per Session costs more than a whole indexed look-up.
        self._transaction = zope.sqlalchemy.ZopeTransactionEvents(transaction_manager=transaction_manager)
        self._blocks: list[_Block] = []
        self._open = None  # the Session's connection in the current transaction
        self._apart_records: list[dict[str, Any]] = []  # written by close() (module docstring)
        self._db = Database(session.get_bind().dialect, self._connection, on_write=self._changed,
                            seen_from=SEEN_FROM)

    def __enter__(self) -> "SqlAlchemyUnitOfWork":
        self._blocks.append(_Block())
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        block = self._blocks.pop()
        if exc_type is not None or (block.wrote and not block.committed):
            self._doom()

    def commit(self) -> None:
        """This unit's work is complete (the transaction manager will COMMIT it). Statements run as they
        are issued, so there is nothing to flush; constraint violations have surfaced already."""
        if self._blocks:
            self._blocks[-1].committed = True

    def close(self) -> None:
        """Release the Session (and its connection), then write the activity records kept apart; for the
        request's finished callback. Closing it again does nothing."""
        if self._closed:
            return
        self._closed = True
        try:
            self.session.close()
        finally:
            _write_apart(self.session.get_bind(), self._apart_records)
        if self._give_back is not None and not self._in_transaction():
            # Closed: it holds no connection, no transaction, no object.
            self._give_back(self.session)

    def _in_transaction(self) -> bool:
        """Whether the manager's transaction this unit joined last is still the current one (not
        committed, not aborted): zope.sqlalchemy then still counts the Session as joined to it."""
        if self._joined is None:
            return False
        try:
            return self.transaction_manager.get() is self._joined
        except NoTransaction:
            return False

    def _connection(self):
        """The DBAPI connection of the Session's transaction, joined to the manager's current one (the
        manager ends both: COMMIT if written, else ROLLBACK). Begun, with the dialect's BEGIN, on first
        use."""
        if self._closed:
            raise RuntimeError("This unit of work is closed; open another")
        connection = self._open
        if connection is None or connection.closed:
            # A new transaction: the last one's connection went back to the pool when it ended.
            self._transaction.join_transaction(self.session)
            self._joined = self.transaction_manager.get()
            dialect = self.session.get_bind().dialect
            connection = self._open = _or_store_unavailable(dialect, self.session.connection)
            self._db.forget()  # what an earlier transaction read may have changed since
        return connection.connection.driver_connection, connection.invalidate

    def _changed(self) -> None:
        """``Database.on_write``, before every write: statements on the DBAPI connection are invisible to
        zope.sqlalchemy, which would otherwise roll back a transaction it believes only read; and a
        block that wrote must commit() or be discarded."""
        self._transaction.mark_changed(self.session)
        for block in self._blocks:
            block.wrote = True

    def _doom(self) -> None:
        try:
            self.transaction_manager.get().doom()
        except NoTransaction:
            pass  # an explicit manager outside a transaction: there is nothing to doom


class SqlAlchemyReadingUnitOfWork(_Repositories, UnitOfWork):
    """A unit for a request that only reads: one pooled connection, returned by ``close()``. On PostgreSQL
    its statements share one transaction (READ COMMITTED), rolled back by the pool; on SQLite each is
    a transaction of its own (a snapshot read beside any writer), which is the same guarantee. No Session, no part in the
    transaction manager's two-phase commit: there is nothing to commit. A token's last-use stamp is
    written apart, in a short transaction of its own; any other write is a programming error, refused
    loudly before it reaches the database."""

    def __init__(self, engine: Engine, kept: _ReadingConnections | None = None):
        self.engine = engine
        self._kept = kept
        self._pooled = None
        self._apart_records: list[dict[str, Any]] = []  # written by close(), like the writing unit's
        self._db = Database(engine.dialect, self._connection, on_write=self._refuse_write,
                            unchanged=None if kept is None else kept.unchanged)
        self._stamp_apart = self._apart

    def __enter__(self) -> "SqlAlchemyReadingUnitOfWork":
        return self

    def __exit__(self, *exc_info) -> None:
        pass

    def commit(self) -> None:
        pass

    def close(self) -> None:
        try:
            if self._pooled is not None:
                pooled, self._pooled = self._pooled, None
                if self._kept is None:
                    pooled.close()  # back to the pool, which rolls back
        finally:
            _write_apart(self.engine, self._apart_records)

    def _connection(self):
        if self._pooled is None:
            checkout = self.engine.raw_connection if self._kept is None else self._kept.lease
            self._pooled = _or_store_unavailable(self.engine.dialect, checkout)
        pooled = self._pooled
        # A detached connection (SQLite's kept one) no longer names its driver connection; pysqlite's
        # DBAPI connection is the driver's own.
        return (pooled.dbapi_connection if pooled.is_detached else pooled.driver_connection), pooled.invalidate

    def _refuse_write(self) -> None:
        """``Database.on_write``: its statements are not all in one transaction that could take a write
        back, so a write must never reach the database."""
        raise RuntimeError("A reading unit of work cannot write; open the unit without read_only")

    def _apart(self, prepared: Prepared, parameters: dict) -> None:
        def write() -> None:
            with self.engine.begin() as connection:
                connection.execute(prepared.statement, parameters)
        _or_store_unavailable(self.engine.dialect, write)


def _or_store_unavailable(dialect: Dialect, call):
    """``call()``'s result; an error for a database that cannot answer (no connection to be had, as
    while the server is down; a busy SQLite file) raised as ``StoreUnavailable`` instead. The error is
    SQLAlchemy's wrapping of the DBAPI's, or the DBAPI's own from ``raw_connection()``, which the pool
    does not wrap; ``store_unavailable`` reads either."""
    try:
        return call()
    except Exception as error:
        unavailable = store_unavailable(dialect, error)
        if unavailable is None or unavailable is error:
            raise
        raise unavailable from error


def _write_apart(engine: Engine, pending: list[dict[str, Any]]) -> None:
    """Write the activity records in ``pending`` (emptying it) in one short transaction of their own;
    a failure is logged, not raised (module docstring)."""
    if not pending:
        return
    rows = pending[:]
    pending.clear()
    try:
        with engine.begin() as connection:
            connection.execute(INSERT_ACTIVITY.statement, rows)
    except Exception as error:
        # Event names and the error's kind only: SQLAlchemy's message would repeat the rows.
        logger.warning("Lost %d activity record(s) written apart (%s): %s", len(rows),
                       ", ".join(sorted({row["event"] for row in rows})),
                       type(getattr(error, "orig", None) or error).__name__)
