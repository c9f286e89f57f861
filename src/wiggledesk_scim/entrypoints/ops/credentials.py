"""Sign-in to the ops console over HTTP Basic (RFC 7617), and this process's memory of recent sign-ins.

Checking a password costs about 50 ms of scrypt (``domain/credentials.py``), on purpose; a browser sends
the same Authorization header with every page, so a header that was right is remembered, by its SHA-256
and never in the clear, for ``remember_for`` (60 s): a page then costs a dictionary look-up. Changing
the credentials means editing the ini and restarting, which empties that memory. Refusals are never
remembered, so each guess pays the full price.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import threading
from datetime import datetime, timedelta

from ...domain.credentials import OpsCredentials
from ...domain.ports import Clock

REALM = "wiggledesk-scim ops"
CHALLENGE = f'Basic realm="{REALM}"'
REMEMBER_FOR = timedelta(seconds=60)
#: One person, or a handful, uses the console; more headers than this are forgotten all at once.
CAPACITY = 64
#: Far longer than any username and password a person types; longer headers are not worth decoding.
_MAX_HEADER = 4096


class BasicSignIn:
    """Whether an ``Authorization`` header carries the ops credentials. One per process, shared by its
    threads."""

    def __init__(self, credentials: OpsCredentials, clock: Clock, remember_for: timedelta = REMEMBER_FOR,
                 capacity: int = CAPACITY):
        self.credentials = credentials
        self.clock = clock
        self.remember_for = remember_for
        self.capacity = capacity
        self._accepted: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def accepts(self, authorization: str | None) -> bool:
        if not authorization or len(authorization) > _MAX_HEADER:
            return False
        key = hashlib.sha256(authorization.encode("utf-8", "surrogateescape")).hexdigest()
        until = self._accepted.get(key)
        if until is not None and self.clock.now() < until:
            return True
        pair = basic_credentials(authorization)
        if pair is None or not self.credentials.check(*pair):
            return False
        with self._lock:
            if len(self._accepted) >= self.capacity:
                self._accepted.clear()
            self._accepted[key] = self.clock.now() + self.remember_for
        return True


def basic_credentials(authorization: str) -> tuple[str, str] | None:
    """The (username, password) of a ``Basic`` header, or None if it is not one. UTF-8, which browsers
    send, else Latin-1, which older clients do."""
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    try:
        text = decoded.decode("utf-8")
    except UnicodeDecodeError:
        text = decoded.decode("latin-1")
    username, colon, password = text.partition(":")
    if not colon:
        return None
    return username, password
