"""The production clock and id generator."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

from ..domain.ports import Clock, IdGenerator


class SystemClock(Clock):
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class UuidGenerator(IdGenerator):
    """Random (version 4) UUIDs: member ids must never collide with a route name such as ``Users``."""

    def new_id(self) -> str:
        return str(uuid.uuid4())
