"""A PostgreSQL connection lost in the middle of a unit of work (a server restart, a failover, an idle
timeout) fails that unit only: the statements that ``prepared.py`` runs on the DBAPI cursor invalidate
the connection, as SQLAlchemy's own execution would, so the pool never hands it out again."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from tests.integration.units import in_unit
from wiggledesk_scim.adapters.sqlalchemy import SqlAlchemyStorage, make_engine, migrate
from wiggledesk_scim.domain.errors import StoreUnavailable
from wiggledesk_scim.domain.model import Member, MemberFields, Organisation
from wiggledesk_scim.domain.query import Query

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 11, 23, 9, 14, 7, tzinfo=timezone.utc)
ORGANISATION = Organisation(id="00000000-0000-4000-8000-000000000001", name="Contoso", api_access=True)
ADA = Member(id="00000000-0000-4000-8000-000000000002", organisation_id=ORGANISATION.id,
             fields=MemberFields(user_name="ada@contoso.example"), created=NOW, last_modified=NOW)


def backend_pid(uow) -> int:
    connection, _ = uow._connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


@pytest.mark.parametrize("read_only", [True, False], ids=["reading unit", "writing unit"])
def test_a_connection_lost_mid_unit_fails_that_unit_and_the_next_one_works(postgres_url, read_only):
    engine = make_engine(postgres_url, pool_size=1, max_overflow=0, pool_pre_ping=False)
    try:
        migrate.upgrade(engine)
        storage = SqlAlchemyStorage(engine)
        in_unit(storage, lambda uow: (uow.organisations.add(ORGANISATION), uow.members.add(ADA)))

        def unit(work):
            return in_unit(storage, work, read_only=read_only)

        def lose_the_connection(uow):
            uow.members.get(ORGANISATION.id, ADA.id)
            # From outside the unit's pool, which holds one connection: the unit's.
            killer = create_engine(postgres_url, poolclass=NullPool)
            try:
                with killer.connect() as connection:
                    connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend_pid(uow)})
            finally:
                killer.dispose()
            return uow.members.search(ORGANISATION.id, Query())

        # The domain's word for it (the app answers 503), the driver's own error kept as its cause.
        with pytest.raises(StoreUnavailable) as lost:
            unit(lose_the_connection)
        cause = str(lost.value.__cause__).lower()
        assert "terminat" in cause or "closed" in cause

        page = unit(lambda uow: uow.members.search(ORGANISATION.id, Query()))
        assert [m.user_name for m in page.resources] == ["ada@contoso.example"]
    finally:
        engine.dispose()
