"""Fair use: a token bucket per organisation, exact across threads, and the SCIM API's 429."""
from __future__ import annotations

import threading

import pytest

from tests.unit.scim_requests import scim_request
from wiggledesk_scim.domain.fair_use import FairUse, TokenFailures
from wiggledesk_scim.domain.scim.api import ScimApi
from wiggledesk_scim.domain.scim.errors import ScimError


class Ticks:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_is_admitted_then_requests_wait_for_the_refill():
    clock = Ticks()
    fair = FairUse(rate=2, burst=3, clock=clock)
    assert [fair.admit("contoso") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert fair.admit("contoso") == pytest.approx(0.5)  # one request back after 1/rate seconds
    clock.now += 0.25
    assert fair.admit("contoso") == pytest.approx(0.25)  # a refusal takes nothing
    clock.now += 0.25
    assert fair.admit("contoso") == 0.0
    assert fair.admit("contoso") == pytest.approx(0.5)


def test_a_bucket_never_holds_more_than_the_burst():
    clock = Ticks()
    fair = FairUse(rate=10, burst=2, clock=clock)
    clock.now += 3600
    assert [fair.admit("contoso") for _ in range(3)] == [0.0, 0.0, pytest.approx(0.1)]


def test_an_organisation_at_its_limit_leaves_the_others_their_own_buckets():
    clock = Ticks()
    fair = FairUse(rate=1, burst=1, clock=clock)
    assert fair.admit("contoso") == 0.0
    assert fair.admit("contoso") > 0
    assert fair.admit("fabrikam") == 0.0


def test_threads_sharing_one_bucket_are_admitted_exactly_the_burst():
    """Correct across the threads of one process: 8 threads racing for 1,000 requests of a bucket of 300
    (refilling too slowly to matter) get exactly 300."""
    fair = FairUse(rate=0.001, burst=300)
    admitted = []
    start = threading.Barrier(8)

    def race():
        start.wait()
        admitted.append(sum(1 for _ in range(125) if fair.admit("contoso") == 0.0))

    threads = [threading.Thread(target=race) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(admitted) == 300


@pytest.mark.parametrize("rate, burst", [(0, 10), (-1, 10), (5, 0)])
def test_a_bucket_needs_a_positive_rate_and_a_burst(rate, burst):
    with pytest.raises(ValueError):
        FairUse(rate, burst)


def test_the_scim_api_answers_429_with_retry_after_and_records_no_refusal(members, authority, uow, contoso,
                                                                          fabrikam):
    fair = FairUse(rate=0.5, burst=2, clock=Ticks())
    scim = ScimApi(members, authority, fair_use=fair)
    for _ in range(2):
        assert scim.list_users(scim_request(contoso.token)).status == 200
    with pytest.raises(ScimError) as refused:
        scim.list_users(scim_request(contoso.token))
    error = refused.value
    assert (error.status, error.scim_type, error.headers) == (429, None, {"Retry-After": "2"})
    assert error.body()["detail"].startswith("This organisation is sending more than 0.5 requests per second")
    assert scim.principal.organisation_id == contoso.organisation.id  # the access log names it
    with uow:
        assert uow.activity.list(contoso.organisation.id) == []
    assert scim.list_users(scim_request(fabrikam.token)).status == 200


def test_a_refused_token_takes_nothing_from_the_bucket(members, authority, contoso):
    fair = FairUse(rate=0.5, burst=1, clock=Ticks())
    scim = ScimApi(members, authority, fair_use=fair)
    with pytest.raises(ScimError) as refused:
        scim.list_users(scim_request("wdscim_unknown"))
    assert refused.value.status == 401
    assert scim.list_users(scim_request(contoso.token)).status == 200


# -- the token endpoint's failures (ENTRA.md §2.2) ---------------------------------------------------

def test_waiting_says_how_long_until_a_request_is_back_and_takes_nothing():
    """``waiting`` peeks at the bucket: 0.0 for an organisation never seen or with room, else the wait."""
    clock = Ticks()
    fair = FairUse(rate=2, burst=1, clock=clock)
    assert fair.waiting("contoso") == 0.0
    assert fair.admit("contoso") == 0.0
    assert fair.waiting("contoso") == pytest.approx(0.5)
    assert fair.waiting("contoso") == pytest.approx(0.5)  # nothing taken
    clock.now += 0.5
    assert fair.waiting("contoso") == 0.0


def test_failures_of_a_client_spend_its_organisations_budget_then_the_client_id_waits():
    """Each failure takes one request of the claimed client's organisation; past the burst the failure is
    answered with a wait, and the client id waits before it is checked again."""
    clock = Ticks()
    fair = FairUse(rate=1, burst=2, clock=clock)
    failures = TokenFailures(fair)
    assert failures.waiting("client-contoso") == 0.0  # never failed: not known
    assert [failures.failed("client-contoso", "org-contoso") for _ in range(2)] == [0.0, 0.0]
    assert failures.waiting("client-contoso") == pytest.approx(1.0)
    assert failures.failed("client-contoso", "org-contoso") == pytest.approx(1.0)
    assert fair.admit("org-fabrikam") == 0.0  # another organisation is not slowed
    clock.now += 1
    assert failures.waiting("client-contoso") == 0.0


def test_a_failure_of_no_known_client_is_not_counted():
    """A client id that names no client has no organisation, so there is no budget to spend."""
    fair = FairUse(rate=1, burst=1, clock=Ticks())
    failures = TokenFailures(fair)
    assert failures.failed("nobody", None) == 0.0
    assert failures.failed(None, None) == 0.0
    assert failures.waiting("nobody") == failures.waiting(None) == 0.0


def test_a_failure_without_a_client_id_still_spends_the_budget():
    """A failure the endpoint tied to an organisation is counted even if the view read no client id."""
    fair = FairUse(rate=1, burst=1, clock=Ticks())
    assert TokenFailures(fair).failed(None, "org-contoso") == 0.0
    assert fair.waiting("org-contoso") == pytest.approx(1.0)


def test_the_map_of_failed_clients_is_bounded():
    """At capacity the map starts over: only which client fills which bucket is forgotten."""
    fair = FairUse(rate=1, burst=100, clock=Ticks())
    failures = TokenFailures(fair, capacity=2)
    failures.failed("c1", "org-a")
    failures.failed("c2", "org-a")
    failures.failed("c3", "org-a")
    assert set(failures._organisations) == {"c3"}
