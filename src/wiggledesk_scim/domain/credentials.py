"""The ops console's credentials: one username and a salted scrypt hash of its password, checked in
constant time.

The ini holds the hash (``ops.password_hash``), never the password, so a leaked ini or backup does not
hand out the console; ``wiggledesk-scim CONFIG ops-password`` makes one. scrypt rather than a plain
digest because a password, unlike our API tokens, is short enough to guess: each guess costs about
50 ms and 16 MiB. What this module does not do: read HTTP headers, or remember a successful check
(the console does both, in ``entrypoints/ops``).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from .errors import InvalidValue

SCHEME = "scrypt"
#: scrypt's cost (N), block size (r) and parallelism (p) for new hashes: OWASP's minimum for scrypt.
COST, BLOCK_SIZE, PARALLELISM = 2**14, 8, 1
SALT_BYTES = 16
KEY_BYTES = 32
#: Bounds for hashes read back, so a hand-edited ini cannot make each sign-in take minutes or gigabytes.
_MAX_COST, _MAX_BLOCK_SIZE, _MAX_PARALLELISM = 2**20, 32, 16
_MAX_MEMORY = 256 * 1024 * 1024
_FORMAT = "scrypt$N$r$p$<salt, base64>$<key, base64>"


@dataclass(frozen=True)
class PasswordHash:
    """A password's scrypt hash with the parameters and salt it was made with; ``str()`` is the ini form."""

    cost: int
    block_size: int
    parallelism: int
    salt: bytes
    key: bytes

    @classmethod
    def of(cls, password: str, *, salt: bytes | None = None) -> PasswordHash:
        """A new hash of ``password`` with today's parameters and a random salt."""
        salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
        return cls(COST, BLOCK_SIZE, PARALLELISM, salt,
                   _scrypt(password, salt, COST, BLOCK_SIZE, PARALLELISM, KEY_BYTES))

    @classmethod
    def parse(cls, text: str) -> PasswordHash:
        """The hash ``str()`` wrote. Raises ``InvalidValue`` saying what is wrong (never echoing it)."""
        parts = text.strip().split("$")
        if len(parts) != 6 or parts[0] != SCHEME:
            raise InvalidValue(f"it is not a hash of the form {_FORMAT}")
        try:
            cost, block_size, parallelism = (int(part) for part in parts[1:4])
        except ValueError:
            raise InvalidValue(f"N, r and p must be whole numbers ({_FORMAT})") from None
        if not (1 < cost <= _MAX_COST and cost & (cost - 1) == 0 and 1 <= block_size <= _MAX_BLOCK_SIZE
                and 1 <= parallelism <= _MAX_PARALLELISM and _memory(cost, block_size) <= _MAX_MEMORY):
            raise InvalidValue(f"its scrypt parameters are out of range (N a power of 2 up to {_MAX_COST}, "
                               f"r 1 to {_MAX_BLOCK_SIZE}, p 1 to {_MAX_PARALLELISM})")
        try:
            salt, key = (base64.b64decode(part, validate=True) for part in parts[4:])
        except (binascii.Error, ValueError):
            raise InvalidValue("its salt or key is not base64") from None
        if len(salt) < SALT_BYTES or len(key) < KEY_BYTES:
            raise InvalidValue(f"its salt or key is too short (at least {SALT_BYTES} and {KEY_BYTES} bytes)")
        return cls(cost, block_size, parallelism, salt, key)

    def matches(self, password: str) -> bool:
        """Whether ``password`` is the one hashed; compared in constant time."""
        candidate = _scrypt(password, self.salt, self.cost, self.block_size, self.parallelism, len(self.key))
        return hmac.compare_digest(candidate, self.key)

    def __str__(self) -> str:
        return "$".join([SCHEME, str(self.cost), str(self.block_size), str(self.parallelism),
                         base64.b64encode(self.salt).decode("ascii"), base64.b64encode(self.key).decode("ascii")])

    def __repr__(self) -> str:
        return f"PasswordHash(cost={self.cost}, block_size={self.block_size}, parallelism={self.parallelism})"


@dataclass(frozen=True)
class OpsCredentials:
    """Who may open the ops console."""

    username: str
    password_hash: PasswordHash

    def __post_init__(self) -> None:
        # RFC 7617 §2: a user-id containing a colon cannot be sent over Basic authentication.
        if not self.username or ":" in self.username or not self.username.isprintable():
            raise InvalidValue("the username must be printable text without a colon")

    def check(self, username: str, password: str) -> bool:
        """Whether both are right. Always runs scrypt, even for a wrong username, so the time a refusal
        takes does not say which of the two was wrong."""
        right_username = hmac.compare_digest(username.encode("utf-8"), self.username.encode("utf-8"))
        right_password = self.password_hash.matches(password)
        return right_username and right_password


def _memory(cost: int, block_size: int) -> int:
    return 128 * block_size * cost


def _scrypt(password: str, salt: bytes, cost: int, block_size: int, parallelism: int, length: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=cost, r=block_size, p=parallelism,
                          maxmem=_memory(cost, block_size) * 2, dklen=length)
