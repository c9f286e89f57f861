"""A store that cannot answer now is a 503 with Retry-After (RFC 7644 §3.12, RFC 9110 §10.2.3), never a
refusal of the request: the client is told to come back, and nothing enters the activity trail."""
from __future__ import annotations

import pytest

from tests.unit.scim_requests import FULL_USER, scim_request
from wiggledesk_scim.adapters.memory import InMemoryMemberRepository
from wiggledesk_scim.domain.errors import StoreUnavailable
from wiggledesk_scim.domain.scim.errors import RETRY_AFTER_SECONDS, ScimError, from_domain

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


class UnreachableMembers(InMemoryMemberRepository):
    """Contoso's members as they are while the database is down: every write fails."""

    def add(self, member) -> None:
        raise StoreUnavailable("The database cannot answer now (OperationalError)")


@pytest.mark.parametrize("retryable", [False, True], ids=["unavailable", "lost a race"])
def test_a_store_that_cannot_answer_is_503_with_retry_after(retryable):
    """Busy, unreachable or a lost race alike: a 503, Retry-After in seconds, and no scimType."""
    error = from_domain(StoreUnavailable("The database cannot answer now (SerializationFailure)",
                                         retryable=retryable))

    assert isinstance(error, ScimError)
    assert (error.status, error.scim_type) == (503, None)
    assert error.headers == {"Retry-After": str(RETRY_AFTER_SECONDS)}
    assert error.body() == {"schemas": [ERROR_SCHEMA], "status": "503", "detail": error.detail}


def test_the_503_names_nothing_internal():
    """The store's own words (its error class here; SQL or a URL elsewhere) stay in the log."""
    detail = from_domain(StoreUnavailable("could not connect to postgresql://scim:secret@db/scim")).detail

    assert "secret" not in detail and "postgresql" not in detail
    assert "unavailable" in detail and f"{RETRY_AFTER_SECONDS} seconds" in detail


def test_only_a_lost_race_is_worth_retrying_at_once():
    """A serialization failure or deadlock says so; a store that is down does not."""
    assert StoreUnavailable("down").retryable is False
    assert StoreUnavailable("deadlock", retryable=True).retryable is True


def test_the_api_lets_store_trouble_through_unrecorded(scim, store, uow, token_a):
    """ScimApi does not turn store trouble into a refusal: the entrypoint answers it (and may retry the
    request), and the organisation's trail records no refusal for it."""
    uow.members = UnreachableMembers(store)
    trail_before = list(store.activity)

    with pytest.raises(StoreUnavailable):
        scim.create_user(scim_request(token_a, FULL_USER, method="POST"))

    assert store.activity == trail_before
    assert not [m for m in store.members.values() if m.user_name == FULL_USER["userName"]]
