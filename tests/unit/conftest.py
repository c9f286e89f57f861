"""The real object graph built from in-memory parts, with two onboarded organisations: Contoso and Fabrikam.

Every fixture is function-scoped, so each test starts from the same fresh state: the clock at
``tests.support.START``, ids numbered from 1, and nothing stored but the two organisations, their
first admins and those admins' tokens.
"""
from __future__ import annotations

import pytest

from tests.support import FixedClock, SequentialIds
from wiggledesk_scim.adapters.memory import InMemoryStore, InMemoryUnitOfWork
from wiggledesk_scim.domain.access import StoredTokenAuthority
from wiggledesk_scim.domain.scim.api import ScimApi
from wiggledesk_scim.domain.services import MemberService, Onboarding, onboard


# -- the domain ---------------------------------------------------------------------------------

@pytest.fixture
def store() -> InMemoryStore:
    """The shared state every unit of work of a test reads and writes."""
    return InMemoryStore()


@pytest.fixture
def uow(store: InMemoryStore) -> InMemoryUnitOfWork:
    """One unit of work over ``store``, shared by ``members`` and ``authority`` as within one request."""
    return InMemoryUnitOfWork(store)


@pytest.fixture
def clock() -> FixedClock:
    """A clock standing at 2026-11-23 09:14:07 UTC until the test advances it."""
    return FixedClock()


@pytest.fixture
def ids() -> SequentialIds:
    """Ids 00000000-0000-4000-8000-000000000001, …002, …"""
    return SequentialIds()


@pytest.fixture
def members(uow: InMemoryUnitOfWork, clock: FixedClock, ids: SequentialIds) -> MemberService:
    return MemberService(uow, clock, ids)


@pytest.fixture
def authority(uow: InMemoryUnitOfWork, clock: FixedClock, ids: SequentialIds) -> StoredTokenAuthority:
    return StoredTokenAuthority(uow, clock, ids)


@pytest.fixture
def onboarded(uow: InMemoryUnitOfWork, clock: FixedClock, ids: SequentialIds,
              authority: StoredTokenAuthority) -> tuple[Onboarding, Onboarding]:
    """Both organisations, always together, so every test has a neighbour whose data must not leak in.

    Contoso is onboarded first: its organisation, admin and token take ids 1-3, Fabrikam's 4-6. The
    tokens are issued by ``authority``, the one the test checks them with.
    """
    return (onboard(uow, clock, ids, authority, "Contoso", "ada@contoso.example"),
            onboard(uow, clock, ids, authority, "Fabrikam", "grace@fabrikam.example"))


@pytest.fixture
def contoso(onboarded: tuple[Onboarding, Onboarding]) -> Onboarding:
    """Contoso, its first admin ada@contoso.example (admin, API access on) and her token."""
    return onboarded[0]


@pytest.fixture
def fabrikam(onboarded: tuple[Onboarding, Onboarding]) -> Onboarding:
    """Fabrikam, its first admin grace@fabrikam.example (admin, API access on) and her token."""
    return onboarded[1]


# -- the SCIM layer (scim, token_a, token_b) ----------------------------------------------------


@pytest.fixture
def scim(members: MemberService, authority: StoredTokenAuthority, onboarded) -> ScimApi:
    """The SCIM API over the in-memory graph, with Contoso and Fabrikam already onboarded."""
    return ScimApi(members, authority, max_results=200)


@pytest.fixture
def token_a(contoso: Onboarding) -> str:
    """Contoso's API token (its admin ada@contoso.example)."""
    return contoso.token


@pytest.fixture
def token_b(fabrikam: Onboarding) -> str:
    """Fabrikam's API token (its admin grace@fabrikam.example)."""
    return fabrikam.token
