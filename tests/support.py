"""Test-only parts shared by every test tier: a clock that moves only when told, ids that can be read."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

from wiggledesk_scim.domain.ports import Clock, IdGenerator

#: The moment every test starts at, unless it says otherwise.
START = datetime(2026, 11, 23, 9, 14, 7, tzinfo=timezone.utc)


class FixedClock(Clock):
    """A clock that stands still: ``now()`` returns the same time until a test calls ``advance``."""

    def __init__(self, start: datetime = START):
        if start.tzinfo is None or start.utcoffset() != timedelta(0):
            raise ValueError("FixedClock needs a timezone-aware UTC start, as Clock promises")
        self.current = start

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float = 1) -> datetime:
        """Move the clock forward by ``seconds`` and return the new time."""
        self.current += timedelta(seconds=seconds)
        return self.current


class SequentialIds(IdGenerator):
    """UUID-shaped ids numbered 1, 2, …, so a failing assertion says which object it was.

    ``00000000-0000-4000-8000-000000000001`` is a valid version 4 UUID string, like the production ids.
    Thread-safe, because the concurrency tests provision from several threads.
    """

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def new_id(self) -> str:
        with self._lock:
            self._last += 1
            return f"00000000-0000-4000-8000-{self._last:012d}"
