"""The ops console's credentials: scrypt hashes in the ini's form, checked in constant time."""
from __future__ import annotations

import base64

import pytest

from wiggledesk_scim.domain.credentials import OpsCredentials, PasswordHash
from wiggledesk_scim.domain.errors import InvalidValue

SALT = bytes(range(16))


@pytest.fixture(scope="module")
def stored() -> PasswordHash:
    """The hash of "correct horse battery staple", as `ops-password` would print it (with a fixed salt)."""
    return PasswordHash.of("correct horse battery staple", salt=SALT)


def test_a_hash_round_trips_through_its_ini_form_and_matches_only_its_password(stored):
    """What `ops-password` prints is read back to the same hash, which accepts the password and no other."""
    text = str(stored)

    assert text.startswith("scrypt$16384$8$1$" + base64.b64encode(SALT).decode() + "$")
    parsed = PasswordHash.parse(text)
    assert parsed == stored
    assert parsed.matches("correct horse battery staple")
    assert not parsed.matches("correct horse battery stapler")
    assert not parsed.matches("")


def test_each_new_hash_gets_its_own_salt():
    """Two hashes of one password differ, so equal passwords cannot be spotted in two inis."""
    first, second = PasswordHash.of("hunter2"), PasswordHash.of("hunter2")

    assert first.salt != second.salt and len(first.salt) == 16
    assert first.key != second.key
    assert first.matches("hunter2") and second.matches("hunter2")


def test_the_repr_shows_the_parameters_and_nothing_to_attack(stored):
    """A hash that lands in a traceback or a log shows neither its salt nor its key."""
    assert repr(stored) == "PasswordHash(cost=16384, block_size=8, parallelism=1)"


@pytest.mark.parametrize(("text", "reason"), [
    ("", "not a hash of the form"),
    ("correct horse battery staple", "not a hash of the form"),
    ("bcrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAA", "not a hash of the form"),
    ("scrypt$16384$8$AAAAAAAAAAAAAAAAAAAAAA==$AAAA", "not a hash of the form"),
    ("scrypt$lots$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAA", "whole numbers"),
    ("scrypt$10000$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAA", "out of range"),
    ("scrypt$2097152$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAA", "out of range"),
    ("scrypt$16384$0$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAA", "out of range"),
    ("scrypt$16384$8$17$AAAAAAAAAAAAAAAAAAAAAA==$AAAA", "out of range"),
    ("scrypt$1048576$32$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAA", "out of range"),
    ("scrypt$16384$8$1$not base64!$AAAA", "not base64"),
    ("scrypt$16384$8$1$AAAA$" + "A" * 44, "too short"),
    ("scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAA", "too short"),
])
def test_a_malformed_hash_is_refused_with_what_is_wrong(text, reason):
    """A hand-edited or truncated hash is refused, saying what is wrong, never echoing the hash."""
    with pytest.raises(InvalidValue, match=reason) as refused:
        PasswordHash.parse(text)
    assert text not in refused.value.detail or not text


@pytest.fixture(scope="module")
def credentials(stored) -> OpsCredentials:
    return OpsCredentials("support", stored)


def test_the_right_username_and_password_are_accepted(credentials):
    assert credentials.check("support", "correct horse battery staple")


@pytest.mark.parametrize(("username", "password"), [
    ("support", "wrong"),
    ("Support", "correct horse battery staple"),
    ("supporter", "correct horse battery staple"),
    ("", ""),
])
def test_a_wrong_username_or_password_is_refused(credentials, username, password):
    """Either one wrong refuses, and the username is compared exactly (not ignoring case)."""
    assert not credentials.check(username, password)


@pytest.mark.parametrize("username", ["", "ops:console", "ops\tconsole", "ops\n"])
def test_a_username_basic_authentication_cannot_carry_is_refused(stored, username):
    """RFC 7617: a user-id cannot contain a colon; control characters cannot be typed into a browser."""
    with pytest.raises(InvalidValue, match="printable text without a colon"):
        OpsCredentials(username, stored)
