"""Fair use: each organisation may send so many SCIM requests per second, so that one organisation's
flood (an initial cycle of a large tenant, a script in a loop) never starves the others.

A token bucket per organisation: it holds up to ``burst`` requests and refills at ``rate`` per second;
a request takes one, and when the bucket is empty it is refused with the time until one is back (the
429's ``Retry-After``). Organisations have buckets of their own, and the lock that guards them is held
for a few arithmetic operations, so an organisation at its limit does not slow another.

The buckets live in the process (they are counted per process, not shared through the database: a
request never pays a write for them). With several processes behind a load balancer each keeps its own,
so an organisation may get up to that many times ``rate`` in all; the README says how to size it.
"""
from __future__ import annotations

import threading
import time
from typing import Callable


class FairUse:
    """Token buckets per organisation; ``rate`` requests per second, at most ``burst`` at once."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        if rate <= 0 or burst < 1:
            raise ValueError("fair use needs a positive rate and a burst of at least 1")
        self.rate = rate
        self.burst = burst
        self.clock = clock
        #: organisation id -> [requests left in the bucket, when it was last refilled]
        self._buckets: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def admit(self, organisation_id: str) -> float:
        """Take one request from the organisation's bucket: 0.0 if it may go ahead, else how many seconds
        until the bucket holds one again (nothing is taken then)."""
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(organisation_id)
            if bucket is None:
                bucket = self._buckets[organisation_id] = [float(self.burst), now]
            left = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
            bucket[1] = now
            if left >= 1.0:
                bucket[0] = left - 1.0
                return 0.0
            bucket[0] = left
            return (1.0 - left) / self.rate
