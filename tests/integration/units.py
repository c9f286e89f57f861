"""Running work the way requests do, for integration tests that drive a storage directly: one request
(``in_unit``), several at once (``race``), and what a request sends the database (``statements_sent``)."""
from __future__ import annotations

import threading
from typing import Callable, TypeVar

import transaction

from wiggledesk_scim.adapters.sqlalchemy import prepared
from wiggledesk_scim.domain.ports import UnitOfWork

T = TypeVar("T")

#: How many writers the concurrency tests race against each other.
WRITERS = 8


def in_unit(storage, work: Callable[[UnitOfWork], T], *, read_only: bool = False) -> T:
    """``work(uow)`` in a unit of work of its own and its own transaction: a writing unit is committed
    (``uow.commit()``, then the manager's COMMIT), a reading unit (``read_only``) only reads; either is
    closed afterwards, as a request's finished callback closes it."""
    manager = transaction.TransactionManager(explicit=True)
    uow = storage.open(manager, read_only=read_only)
    try:
        with manager:
            with uow:
                result = work(uow)
                if not read_only:
                    uow.commit()
        return result
    finally:
        uow.close()


def race(work: Callable[[int], object], writers: int = WRITERS) -> list[object]:
    """Run ``work(0..writers-1)`` in as many threads released at once; each outcome is the result or the
    exception raised."""
    barrier = threading.Barrier(writers)
    outcomes: list[object] = [None] * writers

    def writer(n: int) -> None:
        try:
            barrier.wait(timeout=30)
            outcomes[n] = work(n)
        except BaseException as error:  # reported by the caller, never lost in a thread
            outcomes[n] = error

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a writer is stuck"
    return outcomes


def statements_sent(store, work: Callable[[UnitOfWork], object], *,
                    read_only: bool = False) -> list[tuple[str, object]]:
    """The SQL statements (and parameters) ``work(uow)`` sends in one unit of work of ``store`` (a SQL
    store of the contract suites), as the adapter's ``prepared.observers`` see them; with
    ``read_only``, in a reading unit, as a GET's."""
    sent = []
    prepared.observers.append(lambda statement, parameters: sent.append((statement, parameters)))
    try:
        store.read(work) if read_only else store.run(work)
    finally:
        prepared.observers.pop()
    return sent
