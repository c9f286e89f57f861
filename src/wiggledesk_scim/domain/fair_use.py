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

    def waiting(self, organisation_id: str) -> float:
        """How many seconds until the organisation's bucket holds a request again (0.0 if it holds one
        now), taking nothing."""
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(organisation_id)
            if bucket is None:
                return 0.0
            left = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        return 0.0 if left >= 1.0 else (1.0 - left) / self.rate

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


class TokenFailures:
    """Token-endpoint failures counted in the fair-use budget of the organisation of the client they
    claimed to be (ENTRA.md §2.2), so that a stolen client id gives no quick stream of guesses at its
    secret: once the budget is spent, that client id is refused (429) before its credentials are even
    checked, until the bucket refills.

    A failure names the organisation only when the client id is a real one (``OAuthError.organisation_id``),
    so the map from client ids to organisations learnt from failures holds real clients only: at most
    ``capacity`` of them (then it starts over, which forgets no bucket, only which client fills which)."""

    def __init__(self, fair_use: FairUse, capacity: int = 10_000):
        self.fair_use = fair_use
        self.capacity = capacity
        self._organisations: dict[str, str] = {}
        self._lock = threading.Lock()

    def waiting(self, client_id: str | None) -> float:
        """0.0 if a request claiming ``client_id`` may be checked now, else the seconds to wait."""
        organisation_id = None if client_id is None else self._organisations.get(client_id)
        return 0.0 if organisation_id is None else self.fair_use.waiting(organisation_id)

    def failed(self, client_id: str | None, organisation_id: str | None) -> float:
        """Count a failure of a request that claimed ``client_id`` of ``organisation_id`` (None: no known
        client): 0.0 if the budget had room for it, else the seconds to wait (the failure is then
        answered 429)."""
        if organisation_id is None:
            return 0.0
        if client_id is not None:
            with self._lock:
                if len(self._organisations) >= self.capacity:
                    self._organisations.clear()
                self._organisations[client_id] = organisation_id
        return self.fair_use.admit(organisation_id)
