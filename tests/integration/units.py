"""Running work the way a request does, for integration tests that drive a storage directly."""
from __future__ import annotations

from typing import Callable, TypeVar

import transaction

from wiggledesk_scim.domain.ports import UnitOfWork

T = TypeVar("T")


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
