"""Every write the SQL adapter sends marks its unit's transaction itself (``prepared.Database.write``).

Its statements run on the DBAPI connection, where zope.sqlalchemy cannot see them: a write that did not
mark the transaction would be rolled back at the manager's COMMIT without a word. So each repository
write is run here in a writing unit inside a ``transaction.TransactionManager`` transaction, then looked
for from a connection of another engine; and in a reading unit, where it must be refused before any
statement is sent. On SQLite and PostgreSQL.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any, Callable

import pytest
import transaction
from sqlalchemy import create_engine, func, select
from sqlalchemy.pool import NullPool

from tests.integration.units import in_unit
from tests.support import START
from wiggledesk_scim.adapters.sqlalchemy import SqlAlchemyStorage, prepared
from wiggledesk_scim.adapters.sqlalchemy.tables import (access_tokens, activity, api_tokens, client_secrets,
                                                      federated_trusts, members, oauth_clients, organisations)
from wiggledesk_scim.domain.activity import CREATE, Activity
from wiggledesk_scim.domain.model import (AccessToken, ApiToken, ClientSecret, FederatedTrust, Member, MemberFields,
                                          OAuthClient, Organisation)

LATER = START + timedelta(hours=1)

CONTOSO = Organisation(id="00000000-0000-4000-8000-000000000001", name="Contoso")
ADA = Member(id="00000000-0000-4000-8000-000000000002", organisation_id=CONTOSO.id,
             fields=MemberFields(user_name="ada@contoso.example"), created=START, last_modified=START)
ADA_TITLED = ADA.with_fields(replace(ADA.fields, title="Countess of Lovelace"), LATER)
TOKEN = ApiToken(id="00000000-0000-4000-8000-000000000003", organisation_id=CONTOSO.id, admin_id=ADA.id,
                 digest="ab" * 32, created=START)
RECORD = Activity(at=START, organisation_id=CONTOSO.id, event=CREATE, member_id=ADA.id)
CLIENT = OAuthClient(id="00000000-0000-4000-8000-000000000004", organisation_id=CONTOSO.id, name="Entra provisioning",
                     created=START)
SECRET = ClientSecret(id="00000000-0000-4000-8000-000000000005", client_id=CLIENT.id, digest="5e" * 32, created=START,
                      expires=START + timedelta(days=730))
TRUST = FederatedTrust.for_tenant(CLIENT.id, "contoso.onmicrosoft.com", audience="api://AzureADTokenExchange",
                                  subject="entra-app-1")
ACCESS = AccessToken(id="00000000-0000-4000-8000-000000000006", client_id=CLIENT.id, secret_id=SECRET.id,
                     organisation_id=CONTOSO.id, digest="ac" * 32, created=START, expires=LATER)

Work = Callable[[Any], object]

#: A life in the store, one write per step, each step relying on the ones before it: what the step
#: does, and what a connection of its own then reads (a statement and its rows).
LIFE: list[tuple[str, Work, Any, list[tuple]]] = [
    ("organisations.add", lambda uow: uow.organisations.add(CONTOSO),
     select(organisations.c.name), [("Contoso",)]),
    ("organisations.update", lambda uow: uow.organisations.update(replace(CONTOSO, api_access=False)),
     select(organisations.c.api_access), [(False,)]),
    ("members.add", lambda uow: uow.members.add(ADA),
     select(members.c.user_name), [("ada@contoso.example",)]),
    ("members.update", lambda uow: uow.members.update(ADA_TITLED, expected_version=1),
     select(members.c.title, members.c.version), [("Countess of Lovelace", 2)]),
    ("tokens.add", lambda uow: uow.tokens.add(TOKEN),
     select(api_tokens.c.id), [(TOKEN.id,)]),
    ("tokens.mark_used", lambda uow: uow.tokens.mark_used(TOKEN.id, LATER),
     select(api_tokens.c.last_used), [(LATER,)]),
    ("tokens.revoke", lambda uow: uow.tokens.revoke(TOKEN.id, LATER),
     select(api_tokens.c.revoked), [(LATER,)]),
    ("activity.record", lambda uow: uow.activity.record(RECORD),
     select(activity.c.event, activity.c.member_id), [(CREATE, ADA.id)]),
    ("activity.prune", lambda uow: uow.activity.prune(LATER),
     select(func.count()).select_from(activity), [(0,)]),
    ("clients.add", lambda uow: uow.clients.add(CLIENT),
     select(oauth_clients.c.name), [("Entra provisioning",)]),
    ("clients.mark_used", lambda uow: uow.clients.mark_used(CLIENT.id, LATER),
     select(oauth_clients.c.last_used), [(LATER,)]),
    ("clients.add_secret", lambda uow: uow.clients.add_secret(SECRET),
     select(client_secrets.c.id), [(SECRET.id,)]),
    ("clients.mark_secret_used", lambda uow: uow.clients.mark_secret_used(SECRET.id, LATER),
     select(client_secrets.c.last_used), [(LATER,)]),
    ("clients.set_trust", lambda uow: uow.clients.set_trust(TRUST),
     select(federated_trusts.c.subject), [("entra-app-1",)]),
    ("clients.set_trust, replacing", lambda uow: uow.clients.set_trust(replace(TRUST, subject="entra-app-2")),
     select(federated_trusts.c.subject), [("entra-app-2",)]),
    ("access_tokens.add", lambda uow: uow.access_tokens.add(ACCESS),
     select(access_tokens.c.id), [(ACCESS.id,)]),
    ("access_tokens.prune_expired", lambda uow: uow.access_tokens.prune_expired(LATER + timedelta(seconds=1)),
     select(func.count()).select_from(access_tokens), [(0,)]),
    ("clients.revoke_secret", lambda uow: uow.clients.revoke_secret(SECRET.id, LATER),
     select(client_secrets.c.revoked), [(LATER,)]),
    ("clients.revoke", lambda uow: uow.clients.revoke(CLIENT.id, LATER),
     select(oauth_clients.c.revoked), [(LATER,)]),
    ("members.remove", lambda uow: uow.members.remove(CONTOSO.id, ADA.id),
     select(func.count()).select_from(members), [(0,)]),
]

#: The last-use stamps, which a reading unit makes apart.
APART = {"tokens.mark_used", "clients.mark_used", "clients.mark_secret_used"}
#: Every write but those; each would change a row that the life's first steps leave in place.
REFUSED = [(name, work) for name, work, _, _ in LIFE if name not in APART]


@pytest.fixture
def storage(migrated_engine) -> SqlAlchemyStorage:
    return SqlAlchemyStorage(migrated_engine)


@pytest.fixture
def look(database_url):
    """``look(statement)``: its rows, read on a connection of another engine, outside any unit."""
    other = create_engine(database_url, poolclass=NullPool)

    def look(statement) -> list[tuple]:
        with other.connect() as connection:
            return [tuple(row) for row in connection.execute(statement)]

    yield look
    other.dispose()


@pytest.fixture
def sent():
    """The SQL of every statement the adapter sends on a unit's connection, while the test runs."""
    statements: list[str] = []

    def observer(sql: str, parameters) -> None:
        statements.append(sql)

    prepared.observers.append(observer)
    yield statements
    prepared.observers.remove(observer)


def test_every_write_of_a_writing_unit_is_committed_by_the_transaction_manager(storage, look):
    """Each repository write, committed by the manager, is there for another connection to read."""
    for name, work, statement, expected in LIFE:
        in_unit(storage, work)

        assert look(statement) == expected, name


def test_a_reading_unit_refuses_every_write_before_sending_it(storage, look, sent):
    """A reading unit raises on each write before any statement of it reaches the database, and the
    row it would have changed is as it was."""
    for _, work, _, _ in LIFE[:5]:
        in_unit(storage, work)
    before = [look(statement) for _, _, statement, _ in LIFE]
    sent.clear()

    for name, work in REFUSED:
        with pytest.raises(RuntimeError, match="cannot write"):
            in_unit(storage, work, read_only=True)

        assert sent == [], name
    assert [look(statement) for _, _, statement, _ in LIFE] == before


def test_a_reading_units_token_stamp_is_still_written_apart(storage, look):
    """The one write a GET makes, the token's last use, is committed in a transaction of its own."""
    for _, work, _, _ in LIFE[:5]:
        in_unit(storage, work)

    in_unit(storage, lambda uow: uow.tokens.mark_used(TOKEN.id, LATER), read_only=True)

    assert look(select(api_tokens.c.last_used)) == [(LATER,)]


def _opened(storage):
    """A writing unit of ``storage`` and the manager whose transactions it joins."""
    manager = transaction.TransactionManager(explicit=True)
    return manager, storage.open(manager)


def _written(storage, work: Work):
    """The unit ``in_unit`` ran ``work`` in: committed by its own manager, then closed."""
    def run(uow):
        work(uow)
        return uow
    return in_unit(storage, run)


def test_a_closed_units_session_serves_the_next_unit_its_thread_opens(storage, look):
    """A unit closed once its transaction ended gives its Session back; the thread's next unit writes on
    it, joined to its own manager, which commits the write."""
    first = _written(storage, lambda uow: uow.organisations.add(CONTOSO))
    second = _written(storage, lambda uow: uow.members.add(ADA))

    assert second.session is first.session
    assert look(select(members.c.user_name)) == [("ada@contoso.example",)]


def test_a_unit_closed_inside_its_transaction_keeps_its_session_from_the_next(storage, look):
    """Closed while its manager's transaction is still open, a unit's Session stays joined to it: the
    next unit gets another, whose write its own manager commits, and the first transaction's abort
    takes back only what it wrote."""
    manager, first = _opened(storage)
    manager.begin()
    with first:
        first.organisations.add(CONTOSO)
        first.commit()
    first.close()

    second = _written(storage, lambda uow: uow.organisations.add(replace(CONTOSO, name="Contoso (again)")))
    manager.abort()

    assert second.session is not first.session
    assert look(select(organisations.c.name)) == [("Contoso (again)",)]


def test_a_closed_unit_refuses_more_work_and_closing_it_again_does_nothing(storage, look):
    manager, uow = _opened(storage)
    uow.close()
    uow.close()

    with pytest.raises(RuntimeError, match="closed"):
        with manager:
            with uow:
                uow.organisations.add(CONTOSO)

    assert look(select(organisations.c.name)) == []
