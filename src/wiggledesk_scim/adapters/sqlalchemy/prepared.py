"""Statements compiled once per dialect and run on the DBAPI connection: the adapter's hot path.

SQLAlchemy builds and compiles every statement this adapter runs, and its types convert every value
(``UtcDateTime``, JSON, booleans on SQLite), exactly as ``Connection.execute`` would. What this module
leaves out is the rest of ``Connection.execute``: per call it finds the cached compilation by the
statement's key, builds an execution context, wraps the cursor in a ``Result`` and each row in a
``Row``, which together cost several times the indexed look-up they run (docs/performance.md). Here a
``Prepared`` statement keeps, per dialect, its SQL text, the order of its parameters, their bind
processors and its columns' result processors, and ``run`` hands the SQL to the DBAPI cursor. A result
that may be long (a team's 100,000 members) is handed to its reader a batch at a time (``Database.stream``).

Errors keep their meaning: a DBAPI error that the dialect recognises as a lost connection invalidates
that connection (as SQLAlchemy's own execution does), so the pool never hands it out again; a unique
violation is the DBAPI's ``IntegrityError``, which ``repositories.py`` translates; an error meaning
the database cannot answer now (unreachable, busy, a serialization failure or a deadlock) becomes the
domain's ``StoreUnavailable``, the DBAPI's error its ``__cause__``. ``store_unavailable`` is the one
place that decides what an error means for the store, for this module, the unit of work and (through
``SqlAlchemyStorage.unavailable``) the web app alike.
"""
from __future__ import annotations

import itertools
import threading
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence, TypeVar

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement, Delete

from ...domain.errors import StoreUnavailable


T = TypeVar("T")

#: How many rows ``Database.stream`` fetches at a time.
STREAM_BATCH = 1000

#: Names for the server-side cursors of ``Database.stream``, unique within a process (a ``read`` that
#: streams again, while its own stream is open, needs a second name).
_STREAM_NAMES = (f"wiggledesk_stream_{n}" for n in itertools.count(1))

#: Called with ``(sql, parameters)`` just before each statement is sent: for tests that count what a
#: use case sends, and for diagnostics. Empty unless someone appends to it.
observers: list[Callable[[str, Any], None]] = []


class _Compiled:
    """One statement for one dialect: SQL text and everything needed to run it without SQLAlchemy."""

    __slots__ = ("sql", "positional", "names", "defaults", "bind_processors", "keys", "converted")

    def __init__(self, statement: ClauseElement, dialect: Dialect):
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        self.positional = bool(dialect.positional)
        # Every parameter the SQL names, in order (positional styles repeat a name used twice).
        self.names: tuple[str, ...] = tuple(compiled.positiontup) if self.positional else tuple(compiled.binds)
        # Values SQLAlchemy bound itself (literals such as the "" in ``column != ""``, LIMIT 1).
        self.defaults = {name: bind.effective_value for name, bind in compiled.binds.items()
                         if not bind.required and bind.callable is None}
        self.bind_processors = {}
        for name, bind in compiled.binds.items():
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                self.bind_processors[name] = processor
        columns = list(getattr(statement, "selected_columns", ()))
        self.keys = tuple(column.key for column in columns)
        processors = (column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns)
        # The columns whose values the dialect converts (booleans and JSON on SQLite, timestamps ...).
        self.converted = tuple((key, processor) for key, processor in zip(self.keys, processors)
                               if processor is not None)

    def parameters(self, given: Mapping[str, Any]):
        """The DBAPI parameters for ``given`` values (plus the statement's own), converted by their types."""
        values = {**self.defaults, **given} if self.defaults else given
        processors = self.bind_processors
        if self.positional:
            out = []
            for name in self.names:
                value = values[name]
                processor = processors.get(name)
                out.append(value if processor is None or value is None else processor(value))
            return tuple(out)
        return {name: (values[name] if processors.get(name) is None or values[name] is None
                       else processors[name](values[name])) for name in self.names}

    def row(self, raw: Sequence[Any]) -> dict[str, Any]:
        row = dict(zip(self.keys, raw))
        for key, processor in self.converted:
            value = row[key]
            if value is not None:
                row[key] = processor(value)
        return row


class Prepared:
    """A statement built once, compiled once per dialect on first use."""

    def __init__(self, statement: ClauseElement):
        self.statement = statement
        #: The table an INSERT, UPDATE or DELETE writes (None for a SELECT), and whether it deletes: a
        #: DELETE's cascades reach further tables (``Database.seen``).
        self.writes_to: str | None = getattr(getattr(statement, "table", None), "name", None)
        self.deletes = isinstance(statement, Delete)
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def compiled(self, dialect: Dialect) -> _Compiled:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            with self._lock:
                compiled = self._compiled.get(dialect.name) or _Compiled(self.statement, dialect)
                self._compiled[dialect.name] = compiled
        return compiled


#: PostgreSQL's SQLSTATEs for a transaction it gave up because it lost a race with another one: the
#: same request in a fresh transaction will most likely succeed (serialization_failure, deadlock_detected).
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})

#: PostgreSQL's SQLSTATE classes (and one code) that say the server cannot answer now rather than that
#: the statement is wrong: connection exception, transaction rollback, insufficient resources, operator
#: intervention (shutdown, statement timeout), system error; lock_not_available (a lock_timeout).
_UNAVAILABLE_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57", "58"})
_UNAVAILABLE_SQLSTATES = frozenset({"55P03"})

#: SQLite's primary result codes for "another connection holds the lock": SQLITE_BUSY once the busy
#: timeout has passed ("database is locked"), SQLITE_LOCKED.
_SQLITE_BUSY_CODES = frozenset({5, 6})


def store_unavailable(dialect: Dialect, error: BaseException, *,
                      disconnected: bool = False) -> StoreUnavailable | None:
    """What ``error`` means for the store: the ``StoreUnavailable`` it stands for (raise it ``from
    error`` unless it is ``error`` itself), or None when it is anything else: a constraint violation
    (``IntegrityError``), a programming error, a missing table, an error that is not the database's.

    ``error`` may be the domain's ``StoreUnavailable`` (returned as it is), SQLAlchemy's wrapping of
    the DBAPI's error (as a failed COMMIT or ``Session.connection()`` raises it: unwrapped, its
    ``connection_invalidated`` counting as ``disconnected``) or the DBAPI's own, of which only an
    ``OperationalError`` can qualify. ``disconnected``: the dialect already found the connection lost.
    The detail names the DBAPI error's class, never its message, which may repeat SQL and parameters."""
    if isinstance(error, StoreUnavailable):
        return error
    if isinstance(error, DBAPIError):
        disconnected = disconnected or error.connection_invalidated
        error = error.orig
    if not isinstance(error, dialect.loaded_dbapi.OperationalError):
        return None
    if dialect.name == "sqlite":
        code = getattr(error, "sqlite_errorcode", None)
        if not disconnected and (code is None or code & 0xFF not in _SQLITE_BUSY_CODES):
            return None  # "no such table", a read-only file ...: a fault to fix, not to wait out
        return StoreUnavailable(f"The database is busy ({type(error).__name__})")
    # psycopg names it sqlstate, psycopg2 pgcode; None for what the client library raises itself, as
    # when the server cannot be reached or the connection broke.
    sqlstate = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    if (sqlstate is None or disconnected or sqlstate[:2] in _UNAVAILABLE_SQLSTATE_CLASSES
            or sqlstate in _UNAVAILABLE_SQLSTATES):
        return StoreUnavailable(f"The database cannot answer now ({type(error).__name__})",
                                retryable=sqlstate in RETRYABLE_SQLSTATES)
    return None


#: A unit of work's connection: the DBAPI connection (its transaction begun) and how to invalidate it.
Connect = Callable[[], "tuple[Any, Callable[[BaseException], None]]"]


class Unchanged:
    """Answers one SQLite connection read, kept for as long as the database file stays as it was then.

    SQLite's ``PRAGMA data_version`` changes on a connection whenever any other connection (of this
    process or another) has committed to the file since that connection last asked; it does not move
    for the connection's own writes, so it serves a connection that never writes: a reading unit's
    kept connection (``unit_of_work._ReadingConnections``), whose token's last-use stamp is written on
    another one. While the version is the same, nothing anywhere was committed, so an answer read then
    is still the answer: keeping it changes no result, however soon a revocation follows (it is a
    commit, and the next request reads again). At most ``CAPACITY`` answers (then it starts over)."""

    CAPACITY = 256
    __slots__ = ("version", "answers")

    def __init__(self) -> None:
        self.version: int | None = None
        self.answers: dict[Any, Any] = {}

    def current(self, version: int) -> dict[Any, Any]:
        """The answers kept at ``version`` (the connection's data_version now): all forgotten if the file
        changed since they were read."""
        if version != self.version:
            self.answers.clear()
            self.version = version
        elif len(self.answers) >= self.CAPACITY:
            self.answers.clear()
        return self.answers


#: The statement that says whether a SQLite file changed since a connection last asked (``Unchanged``).
_DATA_VERSION = "PRAGMA data_version"


class Database:
    """The statements of one unit of work, on the DBAPI connection ``connect()`` returns.

    One cursor per connection serves every statement (a cursor is reusable once its rows are read,
    which every method here does before returning): a new connection, as when the unit's next
    transaction takes another from the pool, gets a new cursor.

    ``write`` and ``write_many``, the only way a write is sent, first call ``on_write()``: the unit's
    hook. A writing unit marks its transaction changed there, since statements on the DBAPI connection
    are invisible to zope.sqlalchemy, which would otherwise roll back a transaction it believes only
    read; a reading unit raises there instead, so the write never reaches the database. Called before
    the statement rather than after it, so that a statement that fails part-way (an ``executemany``)
    still counts as a write the unit must commit or discard."""

    def __init__(self, dialect: Dialect, connect: Connect, on_write: Callable[[], None], *,
                 seen_from: frozenset[str] = frozenset(), unchanged: Callable[[], Unchanged | None] | None = None):
        self.dialect = dialect
        self.connect = connect
        self.on_write = on_write
        #: The ``Unchanged`` answers of the connection ``connect()`` gave last, if it keeps any (``kept``).
        self._unchanged = unchanged
        #: What the unit's statements read beside what they were asked for, by key, for a later read of
        #: the same unit to take instead of a statement of its own (a member's teams, read with the
        #: member: ``SqlAlchemyMemberRepository.get``). ``seen_from``: the tables it was read from; a
        #: write to one of them, or any DELETE (whose cascades reach further), forgets all of it, so
        #: that the unit's own writes never leave it behind. The unit forgets it too when it begins
        #: another transaction (``forget``).
        self.seen: dict[Any, Any] = {}
        self._seen_from = seen_from
        self._connection = None
        self._cursor_of_connection = None

    def _cursor(self):
        """The unit's connection now, its cursor, and how to invalidate the connection."""
        connection, invalidate = self.connect()
        cursor = self._cursor_of_connection
        if connection is not self._connection or cursor is None:
            cursor = self._cursor_of_connection = connection.cursor()
            self._connection = connection
        return connection, cursor, invalidate

    def _run(self, prepared: Prepared, parameters: Mapping[str, Any] | None,
             many: Iterable[Mapping[str, Any]] | None = None):
        compiled = prepared.compiled(self.dialect)
        connection, cursor, invalidate = self._cursor()
        try:
            if many is not None:
                sent = [compiled.parameters(each) for each in many]
                for observer in observers:
                    observer(compiled.sql, sent)
                cursor.executemany(compiled.sql, sent)
            else:
                sent = compiled.parameters(parameters or {})
                for observer in observers:
                    observer(compiled.sql, sent)
                cursor.execute(compiled.sql, sent)
        except self.dialect.loaded_dbapi.Error as error:
            # A cursor that failed is not trusted again.
            self._cursor_of_connection = None
            self._failed(error, connection, cursor, invalidate)
        return compiled, cursor

    def _failed(self, error: BaseException, connection, cursor, invalidate) -> None:
        """Raise what the DBAPI's ``error`` on ``cursor`` means (closing the cursor): ``StoreUnavailable``
        for a database that cannot answer now (invalidating a lost connection first), else ``error``."""
        cursor.close()
        disconnected = self.dialect.is_disconnect(error, connection, cursor)
        if disconnected:
            invalidate(error)
        unavailable = store_unavailable(self.dialect, error, disconnected=disconnected)
        if unavailable is not None:
            raise unavailable from error
        raise error

    def rows(self, prepared: Prepared, parameters: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        compiled, cursor = self._run(prepared, parameters)
        row = compiled.row
        return [row(raw) for raw in cursor.fetchall()]

    def row(self, prepared: Prepared, parameters: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        found = self.rows(prepared, parameters)
        return found[0] if found else None

    def scalar(self, prepared: Prepared, parameters: Mapping[str, Any] | None = None) -> Any:
        (row,) = self.rows(prepared, parameters)
        return next(iter(row.values()))

    def write(self, prepared: Prepared, parameters: Mapping[str, Any]) -> int:
        """Runs an INSERT, UPDATE or DELETE, once ``on_write()`` has let it; the number of rows it touched."""
        self._before_write(prepared)
        _, cursor = self._run(prepared, parameters)
        return cursor.rowcount

    def write_many(self, prepared: Prepared, rows: Sequence[Mapping[str, Any]]) -> int:
        """``write`` for many rows at once (``executemany``); the number of rows touched in all (both
        drivers sum them)."""
        self._before_write(prepared)
        _, cursor = self._run(prepared, None, many=rows)
        return cursor.rowcount

    def _before_write(self, prepared: Prepared) -> None:
        self.on_write()
        if self.seen and (prepared.deletes or prepared.writes_to in self._seen_from):
            self.seen.clear()

    def kept(self, key: Any, read: Callable[[], T]) -> T:
        """``read()``, or what it answered before on this connection if the database is unchanged since
        (``Unchanged``), ``key`` naming the question; where the connection keeps no answers (a writing
        unit's, any unit's on PostgreSQL) simply ``read()``. An answer of None is not kept."""
        unchanged = self._unchanged
        if unchanged is None:
            return read()
        connection, cursor, invalidate = self._cursor()
        answers = unchanged()
        if answers is None:
            return read()
        for observer in observers:
            observer(_DATA_VERSION, ())
        try:
            (version,), = cursor.execute(_DATA_VERSION).fetchall()
        except self.dialect.loaded_dbapi.Error as error:
            self._cursor_of_connection = None
            self._failed(error, connection, cursor, invalidate)
        answers = answers.current(version)
        answer = answers.get(key)
        if answer is None:
            answer = read()
            if answer is not None:
                answers[key] = answer
        return answer

    def forget(self) -> None:
        """Forget what was ``seen``: for a unit that begins another transaction."""
        self.seen.clear()

    def stream(self, prepared: Prepared, parameters: Mapping[str, Any],
               read: Callable[[Iterator[dict[str, Any]]], T], *, batch: int = STREAM_BATCH) -> T:
        """``read`` applied to the rows of a SELECT as they are fetched, ``batch`` at a time, so that a
        result of any size is never one list (a team of 100,000 members, ``TeamRepository.members``).

        On a cursor of its own, closed when ``read`` returns or raises, so that ``read`` may run other
        statements meanwhile. Where the driver has server-side cursors (PostgreSQL) it is one, so the
        server, too, sends the rows a batch at a time rather than all before the first (within the
        unit's transaction, which every unit on PostgreSQL has, reading ones included)."""
        compiled = prepared.compiled(self.dialect)
        connection, invalidate = self.connect()
        if self.dialect.supports_server_side_cursors:
            cursor = connection.cursor(name=next(_STREAM_NAMES))
        else:
            cursor = connection.cursor()
        errors = self.dialect.loaded_dbapi.Error
        try:
            sent = compiled.parameters(parameters)
            for observer in observers:
                observer(compiled.sql, sent)
            try:
                cursor.execute(compiled.sql, sent)
            except errors as error:
                self._failed(error, connection, cursor, invalidate)
            row = compiled.row

            def rows() -> Iterator[dict[str, Any]]:
                while True:
                    try:
                        fetched = cursor.fetchmany(batch)
                    except errors as error:
                        self._failed(error, connection, cursor, invalidate)
                    if not fetched:
                        return
                    for raw in fetched:
                        yield row(raw)
            return read(rows())
        finally:
            try:
                cursor.close()
            except errors:
                pass  # the error that ended the transaction is on its way already
