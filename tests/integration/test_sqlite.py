"""SQLite as the adapter sets it up (unit_of_work.py): a durable write-ahead log, reading units that read
beside a writer, and writers of one process taking turns on a lock that is always given back."""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import datetime, timezone

import pytest
from sqlalchemy import text

from tests.integration.units import in_unit
from tests.support import token_of, SequentialIds
from wiggledesk_scim.adapters.sqlalchemy import SqlAlchemyStorage, make_engine, migrate
from wiggledesk_scim.domain.errors import UniquenessConflict
from wiggledesk_scim.domain.model import ApiToken, Member, MemberFields, Organisation
from wiggledesk_scim.domain.query import Query

NOW = datetime(2026, 11, 23, 9, 14, 7, tzinfo=timezone.utc)


@pytest.fixture
def engine(sqlite_url):
    engine = make_engine(sqlite_url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def storage(engine) -> SqlAlchemyStorage:
    return SqlAlchemyStorage(engine)


@pytest.fixture
def ids() -> SequentialIds:
    return SequentialIds()


@pytest.fixture
def contoso(storage, ids) -> Organisation:
    organisation = Organisation(id=ids.new_id(), name="Contoso", api_access=True)
    write(storage, lambda uow: uow.organisations.add(organisation))
    return organisation


def member(organisation: Organisation, ids: SequentialIds, user_name: str) -> Member:
    return Member(id=ids.new_id(), organisation_id=organisation.id, fields=MemberFields(user_name=user_name),
                  created=NOW, last_modified=NOW)


def write(storage, work):
    """``work(uow)`` in a writing unit, committed as a request's transaction is."""
    return in_unit(storage, work)


def read(storage, work):
    return in_unit(storage, work, read_only=True)


def user_names(storage, organisation) -> list[str]:
    page = read(storage, lambda uow: uow.members.search(organisation.id, Query(count=1000)))
    return [m.user_name for m in page.resources]


def test_the_journal_is_a_write_ahead_log_synced_on_every_commit(engine):
    """WAL (readers beside a writer) and synchronous=FULL: a COMMIT returns once the log is on disk."""
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert connection.execute(text("PRAGMA synchronous")).scalar_one() == 2  # FULL
        assert connection.execute(text("PRAGMA foreign_keys")).scalar_one() == 1


def test_a_reading_unit_reads_beside_an_open_write_without_waiting(storage, contoso, ids):
    """While a writer holds SQLite's write lock with uncommitted work, a reading unit answers at once,
    from the last committed state; after the commit, the next reading unit sees the change."""
    write(storage, lambda uow: uow.members.add(member(contoso, ids, "ada")))
    holding, release = threading.Event(), threading.Event()

    def writer():
        def work(uow):
            uow.members.add(member(contoso, ids, "bjensen"))
            holding.set()
            release.wait(10)
        write(storage, work)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert holding.wait(10)
        began = time.monotonic()
        assert user_names(storage, contoso) == ["ada"]
        assert time.monotonic() - began < 2  # not the 30 s busy timeout
    finally:
        release.set()
        thread.join(10)
    assert user_names(storage, contoso) == ["ada", "bjensen"]


def test_writers_take_turns_and_every_one_lands(storage, contoso, ids):
    """Sixteen threads writing at once queue on the process's writer lock: every write commits."""
    names = [f"member{n:02d}" for n in range(16)]
    made = [member(contoso, ids, name) for name in names]
    errors = []

    def add(m):
        try:
            write(storage, lambda uow: uow.members.add(m))
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=add, args=(m,)) for m in made]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    assert sorted(user_names(storage, contoso)) == names


def test_a_failed_write_gives_the_writer_lock_back(storage, contoso, ids):
    """A write refused by a constraint (and one that raises in the middle) ends its turn: the next
    writer, on another thread, goes straight in."""
    write(storage, lambda uow: uow.members.add(member(contoso, ids, "ada")))
    with pytest.raises(UniquenessConflict):
        write(storage, lambda uow: uow.members.add(member(contoso, ids, "ADA")))
    with pytest.raises(ZeroDivisionError):
        write(storage, lambda uow: (uow.members.add(member(contoso, ids, "grace")), 1 / 0))

    done = []
    thread = threading.Thread(target=lambda: done.append(write(
        storage, lambda uow: uow.members.add(member(contoso, ids, "bjensen")))))
    thread.start()
    thread.join(5)

    assert done == [None]
    assert user_names(storage, contoso) == ["ada", "bjensen"]


def test_a_reading_unit_refuses_to_write(storage, contoso, ids):
    """Any write but the token stamp on a reading unit is a programming error, refused loudly, and
    nothing of it is kept."""
    with pytest.raises(RuntimeError, match="cannot write"):
        read(storage, lambda uow: uow.members.add(member(contoso, ids, "ada")))
    assert user_names(storage, contoso) == []


def test_a_reading_units_token_stamp_is_committed_apart(storage, contoso, ids):
    """The one write a GET makes, the token's last use, is committed in a transaction of its own,
    though the reading unit itself is rolled back."""
    admin = member(contoso, ids, "ada")
    token = ApiToken(id=ids.new_id(), organisation_id=contoso.id, admin_id=admin.id, digest="ab" * 32,
                     created=NOW)
    write(storage, lambda uow: (uow.members.add(admin), uow.tokens.add(token)))

    read(storage, lambda uow: uow.tokens.mark_used(token.id, NOW))

    stored = read(storage, lambda uow: token_of(uow, "ab" * 32))
    assert stored.last_used == NOW


def test_each_threads_reading_connection_is_kept_and_leaves_the_pool_to_the_writers(sqlite_url, ids):
    """A thread's reading units all read on one connection, which it keeps, and which takes none of the
    pool's connections: with a pool of one, threads that have read still leave it to a writer, who
    neither waits nor fails; another thread reads on a connection of its own."""
    engine = make_engine(sqlite_url, pool_size=1, max_overflow=0, pool_timeout=1)
    try:
        migrate.upgrade(engine)
        storage = SqlAlchemyStorage(engine)
        contoso = Organisation(id=ids.new_id(), name="Contoso", api_access=True)
        write(storage, lambda uow: uow.organisations.add(contoso))

        def connection_read_on():
            def work(uow):
                uow.organisations.get(contoso.id)
                return uow._connection()[0]
            return read(storage, work)

        mine = connection_read_on()
        assert connection_read_on() is mine
        theirs = []
        reader = threading.Thread(target=lambda: theirs.append(connection_read_on()))
        reader.start()
        reader.join(10)
        assert theirs and theirs[0] is not mine
        assert engine.pool.checkedout() == 0
        began = time.monotonic()
        write(storage, lambda uow: uow.members.add(member(contoso, ids, "ada")))
        assert time.monotonic() - began < 0.5
        assert read(storage, lambda uow: [m.user_name for m in uow.members.search(contoso.id, Query()).resources]) == ["ada"]
    finally:
        engine.dispose()


def test_a_grant_kept_by_a_reading_connection_gives_way_to_a_commit_of_another_process(storage, engine, contoso,
                                                                                       ids):
    """A reading connection keeps a token's grant while the file is unchanged (``prepared.Unchanged``):
    another process that revokes the token, or switches the organisation's API access off, on the same
    file (an ops console, a second app process) is felt by this process's very next read."""
    admin = member(contoso, ids, "ada")
    token = ApiToken(id=ids.new_id(), organisation_id=contoso.id, admin_id=admin.id, digest="ab" * 32,
                     created=NOW)
    write(storage, lambda uow: (uow.members.add(admin), uow.tokens.add(token)))
    grant = lambda: read(storage, lambda uow: uow.tokens.find_grant(token.digest))  # noqa: E731
    assert grant().token.revoked is None and grant().organisation_api_access is True

    def in_another_process(sql: str) -> None:
        script = "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2]); c.commit()"
        subprocess.run([sys.executable, "-c", script, engine.url.database, sql], check=True, timeout=60)

    in_another_process(f"UPDATE organisations SET api_access = 0 WHERE id = '{contoso.id}'")
    assert grant().organisation_api_access is False
    in_another_process(f"UPDATE api_tokens SET revoked = '2026-11-23 10:00:00.000000' WHERE id = '{token.id}'")
    assert grant().token.revoked == datetime(2026, 11, 23, 10, tzinfo=timezone.utc)
