"""One contract for every storage: the in-memory store (the reference), SQLite and PostgreSQL.

``RepositoryContract`` holds the tests; each storage is a subclass supplying one ``store`` fixture. Its
search part, ``SearchContract``, also runs on a PostgreSQL database with an ICU collation, where only an
explicit code-point order gives the reference's answers. A
``Store`` runs each unit of work the way a request does: in a transaction of its own, committed at the
end (the SQL stores through a real ``transaction.TransactionManager``, so what a test reads back comes
from the database, never from a session).
"""
from __future__ import annotations

import dataclasses

import logging
import random
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterator, TypeVar

import pytest
import transaction
from sqlalchemy import func, select, update
from transaction.interfaces import DoomedTransaction

from tests.integration.units import WRITERS, in_unit, race, statements_sent
from tests.support import START, FixedClock, SequentialIds
from wiggledesk_scim.adapters.memory import InMemoryStore, InMemoryUnitOfWork, matches_filter, ordered
from wiggledesk_scim.adapters.sqlalchemy import SqlAlchemyStorage, make_engine, migrate
from wiggledesk_scim.adapters.sqlalchemy.tables import (activity, member_addresses, member_emails,
                                                        member_phone_numbers, members, organisations)
from wiggledesk_scim.domain.activity import CREATE, DELETE, REFUSED, TEAM_UPDATE, UPDATE, Activity
from wiggledesk_scim.domain.errors import InvalidValue, NotFound, UniquenessConflict, VersionMismatch
from wiggledesk_scim.domain.model import (Address, ApiToken, Email, EnterpriseInfo, Member, MemberFields, Name,
                                          Organisation, PhoneNumber, TokenGrant)
from wiggledesk_scim.domain.ports import UnitOfWork
from wiggledesk_scim.domain.query import (BOOLEAN, DATETIME, OPERATORS_BY_TYPE, And, AnyValue, Compare, Query, Not, Operator, Or, Page, Present)
from tests.support import COLLECTIONS, SORTABLE, Attribute, token_of
from wiggledesk_scim.domain.registry import USER
from wiggledesk_scim.domain.scim.representation import USER_DOCUMENTS, UserDocuments
from wiggledesk_scim.domain.services import MemberService

T = TypeVar("T")


# -- the stores under test -----------------------------------------------------------------------------

class Store:
    """A storage under test. ``transaction()`` is one request: a unit of work in its own transaction,
    committed when the block ends normally (or aborted if doomed, as pyramid_tm does), aborted on error."""

    @contextmanager
    def transaction(self) -> Iterator[UnitOfWork]:
        raise NotImplementedError

    def run(self, work: Callable[[UnitOfWork], T], *, commit: bool = True) -> T:
        """``work(uow)`` inside ``with uow:`` in a transaction of its own; ``uow.commit()`` if ``commit``."""
        with self.transaction() as uow:
            with uow:
                result = work(uow)
                if commit:
                    uow.commit()
            return result

    def read(self, work: Callable[[UnitOfWork], T]) -> T:
        """``work(uow)``, which only reads, as a GET request runs it (SQL: a reading unit of work)."""
        return self.run(work, commit=False)


class MemoryStore(Store):
    def __init__(self) -> None:
        self.state = InMemoryStore()

    @contextmanager
    def transaction(self) -> Iterator[UnitOfWork]:
        yield InMemoryUnitOfWork(self.state)


class SqlStore(Store):
    def __init__(self, engine) -> None:
        self.engine = engine
        self.storage = SqlAlchemyStorage(engine)

    @contextmanager
    def transaction(self) -> Iterator[UnitOfWork]:
        manager = transaction.TransactionManager(explicit=True)
        manager.begin()
        uow = self.storage.open(manager)
        try:
            yield uow
        except BaseException:
            manager.abort()
            raise
        else:
            if manager.isDoomed():
                manager.abort()
            else:
                manager.commit()
        finally:
            uow.close()

    def read(self, work: Callable[[UnitOfWork], T]) -> T:
        return in_unit(self.storage, work, read_only=True)

    def rows(self, table) -> int:
        """How many rows ``table`` holds, read on a connection of its own."""
        with self.engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(table)).scalar_one()


# -- test data -----------------------------------------------------------------------------------------

class People:
    """Builds members with memorable names; each new member is created a little later than the last
    (1.25 s plus a microsecond, so microseconds matter), unless a test pins ``created``."""

    def __init__(self, clock: FixedClock, ids: SequentialIds):
        self.clock = clock
        self.ids = ids

    def member(self, organisation: Organisation, user_name: str, *, id: str | None = None,
               created: datetime | None = None, **fields) -> Member:
        now = created or self.clock.advance(1.250001)
        return Member(id=id or self.ids.new_id(), organisation_id=organisation.id,
                      fields=MemberFields(user_name=user_name, **fields), created=now, last_modified=now)


def bjensen_fields(**changes) -> dict:
    """Barbara Jensen, RFC 7643's own example, with every attribute a member can have."""
    fields = dict(
        external_id="bjensen-entra-1",
        active=True,
        name=Name(formatted="Ms. Barbara J Jensen, III", family_name="Jensen", given_name="Barbara",
                  middle_name="Jane", honorific_prefix="Ms.", honorific_suffix="III"),
        display_name="Babs Jensen",
        nick_name="Babs",
        profile_url="https://login.contoso.example/bjensen",
        title="Tour Guide",
        user_type="Employee",
        preferred_language="en-US",
        locale="en-US",
        timezone="America/Los_Angeles",
        emails=(Email(value="bjensen@contoso.example", type="work", primary=True, display="Work"),
                Email(value="babs@jensen.example", type="home")),
        phone_numbers=(PhoneNumber(value="+1 555 555 5555", type="work", primary=True),
                       PhoneNumber(value="+1 555 555 4444", type="mobile", display="Mobile")),
        addresses=(Address(formatted="100 Universal City Plaza\nHollywood, CA 91608 USA",
                           street_address="100 Universal City Plaza", locality="Hollywood", region="CA",
                           postal_code="91608", country="US", type="work", primary=True),
                   Address(street_address="456 Hollywood Blvd", locality="Hollywood", type="home")),
        enterprise=EnterpriseInfo(employee_number="701984", cost_center="4130", organization="Universal Studios",
                                  division="Theme Park", department="Tour Operations",
                                  manager_id=None),
    )
    fields.update(changes)
    return fields


# -- the search population -----------------------------------------------------------------------------

def at(text: str) -> datetime:
    """An instant written as RFC 3339 text."""
    return datetime.fromisoformat(text)


BJENSEN, ADA, GRACE, LINUS, EMILE, ZOE, YANN = (
    "bjensen", "ada@contoso.example", "grace", "linus", "ÉMILE", "zoe", "yann")
#: Contoso's searchable members in creation order, which is the order of every unsorted result.
EVERYONE = [BJENSEN, ADA, GRACE, LINUS, EMILE, ZOE, YANN]
#: Their ids, pinned so filters on id and manager.value can be written down.
IDS = {name: f"00000000-0000-4000-8000-{101 + n:012d}" for n, name in enumerate(EVERYONE)}
FABRIKAM_BJENSEN_ID = "00000000-0000-4000-8000-000000000201"


def everyone_but(*names: str) -> list[str]:
    return [name for name in EVERYONE if name not in names]


def search_population(contoso: Organisation, fabrikam: Organisation) -> dict[str, Member]:
    """Seven Contoso members whose attributes differ in every way a filter or an order can tell apart
    (case, accents, "" beside None, ties, microseconds), and Fabrikam's look-alike of the first.

    Created in the order of ``EVERYONE``: ÉMILE and zoe at the very same microsecond (their ids decide),
    ada exactly on a second and grace one microsecond after it.
    """
    def member(user_name: str, created: str, last_modified: str | None = None, **fields) -> Member:
        return Member(id=IDS[user_name], organisation_id=contoso.id,
                      fields=MemberFields(user_name=user_name, **fields),
                      created=at(created), last_modified=at(last_modified or created))

    everyone = {
        BJENSEN: member(BJENSEN, "2026-11-23T09:14:08.000001+00:00", "2026-11-25T09:00:00.500000+00:00",
                        **bjensen_fields(display_name="Barbara Jensen")),
        ADA: member(ADA, "2026-11-23T09:14:09+00:00", external_id="AL-1815", active=False,
                    display_name="Ada Lovelace", title="Analyst", locale="en-GB",
                    name=Name(family_name="Lovelace", given_name="Ada", honorific_prefix="Countess"),
                    emails=(Email(value="Ada@Contoso.example", type="work", primary=True),),
                    enterprise=EnterpriseInfo(employee_number="1815", department="Analytical Engines",
                                              manager_id=IDS[BJENSEN])),
        GRACE: member(GRACE, "2026-11-23T09:14:09.000001+00:00", "2026-11-24T00:00:00+00:00",
                      external_id="gh-1906", display_name="", title="Rear Admiral", user_type="Officer",
                      preferred_language="en",
                      name=Name(family_name="Hopper", given_name="Grace", middle_name="Brewster"),
                      emails=(Email(value="grace@navy.example", primary=False),),
                      phone_numbers=(PhoneNumber(value="+1 202 555 0100", type="work", primary=False),),
                      addresses=(Address(locality="Arlington", region="VA", country="US", type="work"),),
                      enterprise=EnterpriseInfo(organization="US Navy", division="", manager_id=IDS[BJENSEN])),
        LINUS: member(LINUS, "2026-11-23T09:14:09.999999+00:00"),
        EMILE: member(EMILE, "2026-11-23T09:14:10+00:00", external_id="ÉZ-1840", display_name="Émile Zola",
                      nick_name="émile", title="Écrivain", locale="fr-FR", timezone="Europe/Paris",
                      profile_url="https://zola.example/émile", name=Name(family_name="Zola", given_name="Émile"),
                      emails=(Email(value="Emile@Zola.example", type="Home"),),
                      addresses=(Address(locality="İstanbul", postal_code="34000", country="TR", primary=True),),
                      enterprise=EnterpriseInfo(department="Tour Operations")),
        ZOE: member(ZOE, "2026-11-23T09:14:10+00:00", external_id="zoe-1", display_name="Zoë", nick_name="",
                    title="Tour Guide",
                    emails=(Email(value="zoe@contoso.example", type="work", primary=False),
                            Email(value="zoe@home.example", type="home", primary=True)),
                    phone_numbers=(PhoneNumber(value="+44 20 7946 0000", type="mobile", primary=True),),
                    enterprise=EnterpriseInfo(cost_center="4130", manager_id=IDS[ADA])),
        YANN: member(YANN, "2026-11-23T09:14:11.5+00:00", "2026-11-24T02:00:00+02:00", external_id="YANN-1",
                     display_name="Yann", nick_name="Yann 😀", title="tour guide", locale="",
                     emails=(Email(value="YANN@contoso.example", type="WORK"),),
                     enterprise=EnterpriseInfo(department="tour operations")),
    }
    look_alike = MemberFields(user_name=BJENSEN, **bjensen_fields(display_name="Barbara Jensen"))
    everyone["fabrikam"] = Member(id=FABRIKAM_BJENSEN_ID, organisation_id=fabrikam.id, fields=look_alike,
                                  created=at("2026-11-23T09:14:08.000001+00:00"),
                                  last_modified=at("2026-11-23T09:14:08.000001+00:00"))
    return everyone


A, O = Attribute, Operator

#: Each filter form, with the members it selects, in creation order. The in-memory store runs these
#: too, so each expectation is checked against the reference as well as written down.
FILTERS = {
    # strings compared ignoring case, mixed-case and non-ASCII data included
    "userName eq, ignoring case": (Compare(A.USER_NAME, O.EQ, "BJENSEN"), [BJENSEN]),
    "userName eq, non-ASCII in the other case": (Compare(A.USER_NAME, O.EQ, "émile"), [EMILE]),
    "userName ne": (Compare(A.USER_NAME, O.NE, "Zoe"), everyone_but(ZOE)),
    "userName co": (Compare(A.USER_NAME, O.CO, "A"), [ADA, GRACE, YANN]),
    "userName co a pattern character": (Compare(A.USER_NAME, O.CO, "_"), []),
    "userName co a percent sign": (Compare(A.USER_NAME, O.CO, "%"), []),
    "userName sw non-ASCII": (Compare(A.USER_NAME, O.SW, "Émi"), [EMILE]),
    "userName sw ASCII for non-ASCII": (Compare(A.USER_NAME, O.SW, "emi"), []),
    "userName sw the whole value": (Compare(A.USER_NAME, O.SW, "Linus"), [LINUS]),
    "userName sw longer than the value": (Compare(A.USER_NAME, O.SW, "linuss"), []),
    "userName ew": (Compare(A.USER_NAME, O.EW, ".EXAMPLE"), [ADA]),
    "userName ew longer than the value": (Compare(A.USER_NAME, O.EW, "xlinus"), []),
    "userName gt, accents above z": (Compare(A.USER_NAME, O.GT, "linus"), [EMILE, ZOE, YANN]),
    "userName ge": (Compare(A.USER_NAME, O.GE, "LINUS"), [LINUS, EMILE, ZOE, YANN]),
    "userName lt": (Compare(A.USER_NAME, O.LT, "Émile"), everyone_but(EMILE)),
    "userName le": (Compare(A.USER_NAME, O.LE, "grace"), [BJENSEN, ADA, GRACE]),
    "nickName eq, non-ASCII upper against lower": (Compare(A.NICK_NAME, O.EQ, "ÉMILE"), [EMILE]),
    "title sw non-ASCII": (Compare(A.TITLE, O.SW, "écri"), [EMILE]),
    "title co": (Compare(A.TITLE, O.CO, "GUIDE"), [BJENSEN, ZOE, YANN]),
    "title ew": (Compare(A.TITLE, O.EW, "r guide"), [BJENSEN, ZOE, YANN]),
    "profileUrl co non-ASCII": (Compare(A.PROFILE_URL, O.CO, "/ÉMILE"), [EMILE]),
    "name.familyName gt": (Compare(A.NAME_FAMILY_NAME, O.GT, "JENSEN"), [ADA, EMILE]),
    "name.honorificPrefix pr": (Present(A.NAME_HONORIFIC_PREFIX), [BJENSEN, ADA]),
    "timezone sw": (Compare(A.TIMEZONE, O.SW, "europe/"), [EMILE]),
    "userType ne": (Compare(A.USER_TYPE, O.NE, "employee"), everyone_but(BJENSEN)),
    "preferredLanguage le": (Compare(A.PREFERRED_LANGUAGE, O.LE, "EN"), [GRACE]),
    "locale lt, where one is empty": (Compare(A.LOCALE, O.LT, "en-z"), [BJENSEN, ADA]),
    # lowering is Python's: İ lowers to i + a combining dot, two characters
    "addresses.locality eq, a lowering that grows": (Compare(A.ADDRESS_LOCALITY, O.EQ, "İSTANBUL"), [EMILE]),
    "addresses.locality sw, a lowering that grows": (Compare(A.ADDRESS_LOCALITY, O.SW, "İst"), [EMILE]),
    "addresses.locality ew": (Compare(A.ADDRESS_LOCALITY, O.EW, "BUL"), [EMILE]),
    "addresses.locality sw a plain i": (Compare(A.ADDRESS_LOCALITY, O.SW, "ist"), []),
    # "" is unassigned: equal to nothing, below nothing
    "displayName eq empty": (Compare(A.DISPLAY_NAME, O.EQ, ""), []),
    "displayName ne empty": (Compare(A.DISPLAY_NAME, O.NE, ""), EVERYONE),
    "displayName co empty": (Compare(A.DISPLAY_NAME, O.CO, ""), [BJENSEN, ADA, EMILE, ZOE, YANN]),
    "displayName sw empty": (Compare(A.DISPLAY_NAME, O.SW, ""), [BJENSEN, ADA, EMILE, ZOE, YANN]),
    "displayName ew empty": (Compare(A.DISPLAY_NAME, O.EW, ""), [BJENSEN, ADA, EMILE, ZOE, YANN]),
    "displayName gt empty": (Compare(A.DISPLAY_NAME, O.GT, ""), [BJENSEN, ADA, EMILE, ZOE, YANN]),
    "displayName ge empty": (Compare(A.DISPLAY_NAME, O.GE, ""), [BJENSEN, ADA, EMILE, ZOE, YANN]),
    "displayName lt empty": (Compare(A.DISPLAY_NAME, O.LT, ""), []),
    "displayName le empty": (Compare(A.DISPLAY_NAME, O.LE, ""), []),
    "displayName lt, unassigned never below": (Compare(A.DISPLAY_NAME, O.LT, "B"), [ADA]),
    "not displayName lt": (Not(Compare(A.DISPLAY_NAME, O.LT, "B")), everyone_but(ADA)),
    "displayName eq, a letter outside Latin-1": (Compare(A.DISPLAY_NAME, O.EQ, "ZOË"), [ZOE]),
    # case-exact: externalId
    "externalId eq, exactly": (Compare(A.EXTERNAL_ID, O.EQ, "AL-1815"), [ADA]),
    "externalId eq, other case": (Compare(A.EXTERNAL_ID, O.EQ, "al-1815"), []),
    "externalId ne": (Compare(A.EXTERNAL_ID, O.NE, "AL-1815"), everyone_but(ADA)),
    "externalId co": (Compare(A.EXTERNAL_ID, O.CO, "-1"), everyone_but(LINUS)),
    "externalId co, other case": (Compare(A.EXTERNAL_ID, O.CO, "ENTRA"), []),
    "externalId sw": (Compare(A.EXTERNAL_ID, O.SW, "YANN"), [YANN]),
    "externalId sw, other case": (Compare(A.EXTERNAL_ID, O.SW, "yann"), []),
    "externalId ew non-ASCII": (Compare(A.EXTERNAL_ID, O.EW, "Z-1840"), [EMILE]),
    "externalId ew, other case": (Compare(A.EXTERNAL_ID, O.EW, "z-1840"), []),
    "externalId gt, capitals first": (Compare(A.EXTERNAL_ID, O.GT, "Z"), [BJENSEN, GRACE, EMILE, ZOE]),
    "externalId ge": (Compare(A.EXTERNAL_ID, O.GE, "zoe-1"), [EMILE, ZOE]),
    "externalId lt": (Compare(A.EXTERNAL_ID, O.LT, "b"), [ADA, YANN]),
    "externalId le": (Compare(A.EXTERNAL_ID, O.LE, "bjensen-entra-1"), [BJENSEN, ADA, YANN]),
    "externalId eq null": (Compare(A.EXTERNAL_ID, O.EQ, None), [LINUS]),
    "externalId ne null": (Compare(A.EXTERNAL_ID, O.NE, None), everyone_but(LINUS)),
    "externalId pr": (Present(A.EXTERNAL_ID), everyone_but(LINUS)),
    "id eq": (Compare(A.ID, O.EQ, IDS[ADA]), [ADA]),
    "id eq, a prefix of one": (Compare(A.ID, O.EQ, IDS[ADA][:-1]), []),
    "id eq, another organisation's": (Compare(A.ID, O.EQ, FABRIKAM_BJENSEN_ID), []),
    "id gt": (Compare(A.ID, O.GT, IDS[LINUS]), [EMILE, ZOE, YANN]),
    # booleans
    "active eq false": (Compare(A.ACTIVE, O.EQ, False), [ADA]),
    "active eq true": (Compare(A.ACTIVE, O.EQ, True), everyone_but(ADA)),
    "active ne true": (Compare(A.ACTIVE, O.NE, True), [ADA]),
    "active ne false": (Compare(A.ACTIVE, O.NE, False), everyone_but(ADA)),
    "active pr": (Present(A.ACTIVE), EVERYONE),
    "emails.primary eq true": (Compare(A.EMAIL_PRIMARY, O.EQ, True), [BJENSEN, ADA, ZOE]),
    "emails.primary eq false": (Compare(A.EMAIL_PRIMARY, O.EQ, False), [GRACE, ZOE]),
    "emails.primary ne true": (Compare(A.EMAIL_PRIMARY, O.NE, True), [BJENSEN, GRACE, EMILE, ZOE, YANN]),
    "emails.primary eq null": (Compare(A.EMAIL_PRIMARY, O.EQ, None), [BJENSEN, EMILE, YANN]),
    "emails.primary pr": (Present(A.EMAIL_PRIMARY), [BJENSEN, ADA, GRACE, ZOE]),
    "not emails.primary eq true": (Not(Compare(A.EMAIL_PRIMARY, O.EQ, True)), [GRACE, LINUS, EMILE, YANN]),
    "phoneNumbers.primary eq true": (Compare(A.PHONE_PRIMARY, O.EQ, True), [BJENSEN, ZOE]),
    "addresses.primary ne true": (Compare(A.ADDRESS_PRIMARY, O.NE, True), [BJENSEN, GRACE]),
    # date-times, as instants, around microsecond boundaries and in other zones
    "meta.created eq, on the second": (Compare(A.CREATED, O.EQ, at("2026-11-23T09:14:09+00:00")), [ADA]),
    "meta.created eq, a microsecond later": (
        Compare(A.CREATED, O.EQ, at("2026-11-23T09:14:09.000001+00:00")), [GRACE]),
    "meta.created ne": (Compare(A.CREATED, O.NE, at("2026-11-23T09:14:10+00:00")),
                        [BJENSEN, ADA, GRACE, LINUS, YANN]),
    "meta.created gt": (Compare(A.CREATED, O.GT, at("2026-11-23T09:14:09+00:00")),
                        [GRACE, LINUS, EMILE, ZOE, YANN]),
    "meta.created ge": (Compare(A.CREATED, O.GE, at("2026-11-23T09:14:09.000001+00:00")),
                        [GRACE, LINUS, EMILE, ZOE, YANN]),
    "meta.created lt": (Compare(A.CREATED, O.LT, at("2026-11-23T09:14:10+00:00")), [BJENSEN, ADA, GRACE, LINUS]),
    "meta.created le": (Compare(A.CREATED, O.LE, at("2026-11-23T09:14:09.999999+00:00")),
                        [BJENSEN, ADA, GRACE, LINUS]),
    "meta.created ge, at +02:00": (Compare(A.CREATED, O.GE, at("2026-11-23T11:14:10+02:00")), [EMILE, ZOE, YANN]),
    "meta.created lt, at -05:00": (Compare(A.CREATED, O.LT, at("2026-11-23T04:14:09.000001-05:00")),
                                   [BJENSEN, ADA]),
    "meta.created pr": (Present(A.CREATED), EVERYONE),
    "meta.created eq null": (Compare(A.CREATED, O.EQ, None), []),
    "meta.lastModified gt": (Compare(A.LAST_MODIFIED, O.GT, at("2026-11-23T23:59:59.999999+00:00")),
                             [BJENSEN, GRACE, YANN]),
    "meta.lastModified eq, stored in another zone": (
        Compare(A.LAST_MODIFIED, O.EQ, at("2026-11-24T00:00:00+00:00")), [GRACE, YANN]),
    "meta.lastModified le": (Compare(A.LAST_MODIFIED, O.LE, at("2026-11-23T09:14:09.999999+00:00")), [ADA, LINUS]),
    "meta.lastModified ne null": (Compare(A.LAST_MODIFIED, O.NE, None), EVERYONE),
    # null and presence
    "userName eq null": (Compare(A.USER_NAME, O.EQ, None), []),
    "title eq null": (Compare(A.TITLE, O.EQ, None), [LINUS]),
    "nickName eq null, where one is empty": (Compare(A.NICK_NAME, O.EQ, None), [ADA, GRACE, LINUS, ZOE]),
    "nickName ne null": (Compare(A.NICK_NAME, O.NE, None), [BJENSEN, EMILE, YANN]),
    "nickName pr": (Present(A.NICK_NAME), [BJENSEN, EMILE, YANN]),
    "displayName pr, not empty": (Present(A.DISPLAY_NAME), [BJENSEN, ADA, EMILE, ZOE, YANN]),
    "locale eq null, where one is empty": (Compare(A.LOCALE, O.EQ, None), [GRACE, LINUS, ZOE, YANN]),
    "name.middleName pr": (Present(A.NAME_MIDDLE_NAME), [BJENSEN, GRACE]),
    "phoneNumbers.value eq null": (Compare(A.PHONE_VALUE, O.EQ, None), []),
    "addresses.formatted eq null": (Compare(A.ADDRESS_FORMATTED, O.EQ, None), [BJENSEN, GRACE, EMILE]),
    "addresses.formatted pr": (Present(A.ADDRESS_FORMATTED), [BJENSEN]),
    "not addresses.formatted pr": (Not(Present(A.ADDRESS_FORMATTED)), everyone_but(BJENSEN)),
    "emails.type eq null": (Compare(A.EMAIL_TYPE, O.EQ, None), [GRACE]),
    "emails.value pr": (Present(A.EMAIL_VALUE), everyone_but(LINUS)),
    # enterprise attributes and manager.value (case-exact)
    "department eq": (Compare(A.DEPARTMENT, O.EQ, "TOUR OPERATIONS"), [BJENSEN, EMILE, YANN]),
    "costCenter eq": (Compare(A.COST_CENTER, O.EQ, "4130"), [BJENSEN, ZOE]),
    "employeeNumber gt": (Compare(A.EMPLOYEE_NUMBER, O.GT, "2"), [BJENSEN]),
    "organization co": (Compare(A.ORGANIZATION, O.CO, "navy"), [GRACE]),
    "division pr, where one is empty": (Present(A.DIVISION), [BJENSEN]),
    "division eq null": (Compare(A.DIVISION, O.EQ, None), everyone_but(BJENSEN)),
    "manager.value eq": (Compare(A.MANAGER_ID, O.EQ, IDS[BJENSEN]), [ADA, GRACE]),
    "manager.value ne": (Compare(A.MANAGER_ID, O.NE, IDS[BJENSEN]), everyone_but(ADA, GRACE)),
    "manager.value eq null": (Compare(A.MANAGER_ID, O.EQ, None), [BJENSEN, LINUS, EMILE, YANN]),
    "manager.value sw": (Compare(A.MANAGER_ID, O.SW, "00000000-"), [ADA, GRACE, ZOE]),
    # logic: precedence, not, nesting
    "a or b and c": (Or(Compare(A.USER_NAME, O.EQ, "linus"),
                        And(Compare(A.TITLE, O.CO, "guide"), Compare(A.ACTIVE, O.EQ, False))), [LINUS]),
    "(a or b) and c": (And(Or(Compare(A.USER_NAME, O.EQ, "linus"), Compare(A.TITLE, O.CO, "guide")),
                           Compare(A.ACTIVE, O.EQ, True)), [BJENSEN, LINUS, ZOE, YANN]),
    "a and b or c": (Or(And(Compare(A.TITLE, O.CO, "guide"), Compare(A.USER_NAME, O.SW, "z")),
                        Compare(A.DEPARTMENT, O.EQ, "Analytical Engines")), [ADA, ZOE]),
    "not (a or b)": (Not(Or(Compare(A.TITLE, O.CO, "guide"), Compare(A.ACTIVE, O.EQ, False))),
                     [GRACE, LINUS, EMILE]),
    "not (not a and not b)": (Not(And(Not(Compare(A.EMAIL_TYPE, O.EQ, "work")),
                                      Not(Compare(A.PHONE_TYPE, O.EQ, "mobile")))), [BJENSEN, ADA, ZOE, YANN]),
    "not not not": (Not(Not(Not(Compare(A.USER_NAME, O.EQ, "grace")))), everyone_but(GRACE)),
    "not, where the attribute is unassigned": (Not(Compare(A.DISPLAY_NAME, O.EQ, "Barbara Jensen")),
                                               everyone_but(BJENSEN)),
    "not ne null": (Not(Compare(A.TITLE, O.NE, None)), [LINUS]),
    # sub-attributes of each collection, outside value paths: some value satisfies it
    "emails.value eq, ignoring case": (Compare(A.EMAIL_VALUE, O.EQ, "ADA@contoso.EXAMPLE"), [ADA]),
    "emails.value co": (Compare(A.EMAIL_VALUE, O.CO, "@CONTOSO"), [BJENSEN, ADA, ZOE, YANN]),
    "emails.display eq": (Compare(A.EMAIL_DISPLAY, O.EQ, "work"), [BJENSEN]),
    "emails.type eq, second e-mail": (Compare(A.EMAIL_TYPE, O.EQ, "HOME"), [BJENSEN, EMILE, ZOE]),
    "phoneNumbers.value sw": (Compare(A.PHONE_VALUE, O.SW, "+44"), [ZOE]),
    "phoneNumbers.value ne": (Compare(A.PHONE_VALUE, O.NE, "+1 555 555 5555"), [BJENSEN, GRACE, ZOE]),
    "phoneNumbers.display eq": (Compare(A.PHONE_DISPLAY, O.EQ, "MOBILE"), [BJENSEN]),
    "phoneNumbers.type ne": (Compare(A.PHONE_TYPE, O.NE, "work"), [BJENSEN, ZOE]),
    "addresses.streetAddress co": (Compare(A.ADDRESS_STREET_ADDRESS, O.CO, "hollywood BLVD"), [BJENSEN]),
    "addresses.region eq": (Compare(A.ADDRESS_REGION, O.EQ, "va"), [GRACE]),
    "addresses.postalCode ge": (Compare(A.ADDRESS_POSTAL_CODE, O.GE, "9"), [BJENSEN]),
    "addresses.country eq": (Compare(A.ADDRESS_COUNTRY, O.EQ, "us"), [BJENSEN, GRACE]),
    "addresses.type eq": (Compare(A.ADDRESS_TYPE, O.EQ, "WORK"), [BJENSEN, GRACE]),
    "addresses.locality lt": (Compare(A.ADDRESS_LOCALITY, O.LT, "b"), [GRACE]),
    "two e-mail conditions met by two e-mails": (
        And(Compare(A.EMAIL_TYPE, O.EQ, "home"), Compare(A.EMAIL_VALUE, O.EW, "contoso.example")), [BJENSEN, ZOE]),
    # value paths: one and the same value satisfies the whole condition
    "emails[type and value] met by one e-mail": (
        AnyValue(COLLECTIONS["emails"], And(Compare(A.EMAIL_TYPE, O.EQ, "Work"),
                               Compare(A.EMAIL_VALUE, O.EW, "contoso.example"))),
        [BJENSEN, ADA, ZOE, YANN]),
    "emails[type and value] met by no single e-mail": (
        AnyValue(COLLECTIONS["emails"], And(Compare(A.EMAIL_TYPE, O.EQ, "home"),
                               Compare(A.EMAIL_VALUE, O.EW, "contoso.example"))),
        []),
    "emails[type or primary]": (
        AnyValue(COLLECTIONS["emails"], Or(Compare(A.EMAIL_TYPE, O.EQ, "work"), Compare(A.EMAIL_PRIMARY, O.EQ, True))),
        [BJENSEN, ADA, ZOE, YANN]),
    "emails[primary and type]": (
        AnyValue(COLLECTIONS["emails"], And(Compare(A.EMAIL_PRIMARY, O.EQ, True), Compare(A.EMAIL_TYPE, O.EQ, "work"))),
        [BJENSEN, ADA]),
    "emails[not type]": (AnyValue(COLLECTIONS["emails"], Not(Compare(A.EMAIL_TYPE, O.EQ, "work"))),
                         [BJENSEN, GRACE, EMILE, ZOE]),
    "emails[type eq null]": (AnyValue(COLLECTIONS["emails"], Compare(A.EMAIL_TYPE, O.EQ, None)), [GRACE]),
    "not emails[type pr]": (Not(AnyValue(COLLECTIONS["emails"], Present(A.EMAIL_TYPE))), [GRACE, LINUS]),
    "phoneNumbers[type and primary]": (
        AnyValue(COLLECTIONS["phoneNumbers"], And(Compare(A.PHONE_TYPE, O.EQ, "work"), Compare(A.PHONE_PRIMARY, O.EQ, False))),
        [GRACE]),
    "phoneNumbers[value and not type]": (
        AnyValue(COLLECTIONS["phoneNumbers"], And(Compare(A.PHONE_VALUE, O.CO, "555"),
                                     Not(Compare(A.PHONE_TYPE, O.EQ, "mobile")))),
        [BJENSEN, GRACE]),
    "addresses[locality and type]": (
        AnyValue(COLLECTIONS["addresses"], And(Compare(A.ADDRESS_LOCALITY, O.EQ, "hollywood"),
                                  Compare(A.ADDRESS_TYPE, O.EQ, "home"))), [BJENSEN]),
    "addresses[country and primary]": (
        AnyValue(COLLECTIONS["addresses"], And(Compare(A.ADDRESS_COUNTRY, O.EQ, "US"), Compare(A.ADDRESS_PRIMARY, O.EQ, True))),
        [BJENSEN]),
    "addresses[postalCode pr and region pr]": (
        AnyValue(COLLECTIONS["addresses"], And(Present(A.ADDRESS_POSTAL_CODE), Present(A.ADDRESS_REGION))), [BJENSEN]),
    "emails[...] and addresses[...]": (
        And(AnyValue(COLLECTIONS["emails"], Compare(A.EMAIL_TYPE, O.EQ, "work")),
            AnyValue(COLLECTIONS["addresses"], Compare(A.ADDRESS_COUNTRY, O.EQ, "us"))), [BJENSEN]),
    "emails[...] with a member attribute inside": (
        AnyValue(COLLECTIONS["emails"], And(Compare(A.EMAIL_TYPE, O.EQ, "work"), Compare(A.ACTIVE, O.EQ, False))), [ADA]),
    "emails[...] inside emails[...]": (
        AnyValue(COLLECTIONS["emails"], AnyValue(COLLECTIONS["emails"], Compare(A.EMAIL_TYPE, O.EQ, "home"))), [BJENSEN, EMILE, ZOE]),
    "phoneNumbers[...] inside emails[...]": (
        AnyValue(COLLECTIONS["emails"], And(Compare(A.EMAIL_TYPE, O.EQ, "work"),
                               AnyValue(COLLECTIONS["phoneNumbers"], Compare(A.PHONE_TYPE, O.EQ, "mobile")))), [BJENSEN, ZOE]),
    # values no database can hold (NUL, an unpaired surrogate) still compare as Python compares them
    "userName eq with NUL": (Compare(A.USER_NAME, O.EQ, "bjensen\x00"), []),
    "userName ne with NUL": (Compare(A.USER_NAME, O.NE, "bjensen\x00"), EVERYONE),
    "userName co NUL": (Compare(A.USER_NAME, O.CO, "\x00"), []),
    "userName gt with NUL": (Compare(A.USER_NAME, O.GT, "linus\x00"), [EMILE, ZOE, YANN]),
    "userName le with NUL": (Compare(A.USER_NAME, O.LE, "linus\x00x"), [BJENSEN, ADA, GRACE, LINUS]),
    "nickName gt with a surrogate": (Compare(A.NICK_NAME, O.GT, "yann \ud800"), [EMILE, YANN]),
    "nickName lt with a surrogate": (Compare(A.NICK_NAME, O.LT, "yann \ud800"), [BJENSEN]),
    "emails.value sw with a surrogate": (Compare(A.EMAIL_VALUE, O.SW, "\udfff"), []),
    "externalId eq with a surrogate": (Compare(A.EXTERNAL_ID, O.EQ, "AL-1815\udc00"), []),
}

#: Orders: (sortBy, descending, startIndex, count) -> the page. Ties fall back to creation, then id.
SORTS = {
    "title, ties and unassigned": ((A.TITLE, False, 1, 100), [ADA, GRACE, BJENSEN, ZOE, YANN, EMILE, LINUS]),
    "title descending": ((A.TITLE, True, 1, 100), [LINUS, EMILE, BJENSEN, ZOE, YANN, GRACE, ADA]),
    "title, a page inside the ties": ((A.TITLE, False, 3, 3), [BJENSEN, ZOE, YANN]),
    "title descending, the last page": ((A.TITLE, True, 6, 5), [GRACE, ADA]),
    "displayName, empty among unassigned": ((A.DISPLAY_NAME, False, 1, 100),
                                             [ADA, BJENSEN, YANN, ZOE, EMILE, GRACE, LINUS]),
    "displayName descending": ((A.DISPLAY_NAME, True, 1, 100), [GRACE, LINUS, EMILE, ZOE, YANN, BJENSEN, ADA]),
    "userName": ((A.USER_NAME, False, 1, 100), [ADA, BJENSEN, GRACE, LINUS, YANN, ZOE, EMILE]),
    "userName descending": ((A.USER_NAME, True, 1, 100), [EMILE, ZOE, YANN, LINUS, GRACE, BJENSEN, ADA]),
    "userName descending, second page": ((A.USER_NAME, True, 3, 2), [YANN, LINUS]),
    "externalId, case-exact": ((A.EXTERNAL_ID, False, 1, 100), [ADA, YANN, BJENSEN, GRACE, ZOE, EMILE, LINUS]),
    "name.familyName": ((A.NAME_FAMILY_NAME, False, 1, 100), [GRACE, BJENSEN, ADA, EMILE, LINUS, ZOE, YANN]),
    "locale descending, empty among unassigned": ((A.LOCALE, True, 1, 100),
                                                  [GRACE, LINUS, ZOE, YANN, EMILE, BJENSEN, ADA]),
    "manager.value": ((A.MANAGER_ID, False, 1, 100), [ADA, GRACE, ZOE, BJENSEN, LINUS, EMILE, YANN]),
    "id descending": ((A.ID, True, 1, 100), [YANN, ZOE, EMILE, LINUS, GRACE, ADA, BJENSEN]),
    "meta.created": ((A.CREATED, False, 1, 100), EVERYONE),
    "meta.created descending, a tie kept in id order": ((A.CREATED, True, 1, 100),
                                                        [YANN, EMILE, ZOE, LINUS, GRACE, ADA, BJENSEN]),
    "meta.lastModified": ((A.LAST_MODIFIED, False, 1, 100), [ADA, LINUS, EMILE, ZOE, GRACE, YANN, BJENSEN]),
    "meta.lastModified descending": ((A.LAST_MODIFIED, True, 1, 100),
                                     [BJENSEN, GRACE, YANN, EMILE, ZOE, LINUS, ADA]),
    "meta.lastModified descending, a page": ((A.LAST_MODIFIED, True, 2, 3), [GRACE, YANN, EMILE]),
    "active": ((A.ACTIVE, False, 1, 100), [ADA, BJENSEN, GRACE, LINUS, EMILE, ZOE, YANN]),
    "active descending": ((A.ACTIVE, True, 1, 100), [BJENSEN, GRACE, LINUS, EMILE, ZOE, YANN, ADA]),
    "active descending, a page": ((A.ACTIVE, True, 5, 2), [ZOE, YANN]),
}


# -- generated queries ---------------------------------------------------------------------------------

#: How many generated queries the differential test tries on each store.
QUERY_SAMPLES = 300

_COLLECTION_FIELDS = {"emails": "emails", "phoneNumbers": "phone_numbers", "addresses": "addresses"}


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def held_values(member: Member, attribute: Attribute) -> list:
    """What ``member`` holds for ``attribute``: one value, or one per value of its collection."""
    fields = member.fields
    if attribute.collection is not None:
        entries = getattr(fields, _COLLECTION_FIELDS[attribute.collection.name])
        return [getattr(entry, _snake(attribute.sub_attribute)) for entry in entries]
    special = {A.ID: member.id, A.CREATED: member.created, A.LAST_MODIFIED: member.last_modified,
               A.MANAGER_ID: fields.enterprise.manager_id}
    if attribute in special:
        return [special[attribute]]
    path = attribute.path
    if path.startswith("name."):
        return [getattr(fields.name, _snake(path.removeprefix("name.")))]
    if hasattr(fields, _snake(path)):
        return [getattr(fields, _snake(path))]
    return [getattr(fields.enterprise, _snake(path))]


def comparison_values(population: dict[str, Member], attribute: Attribute) -> list:
    """Values worth comparing ``attribute`` with: those held, near misses of them, and odd ones."""
    held = [value for member in population.values() for value in held_values(member, attribute)
            if value is not None]
    if attribute.type == BOOLEAN:
        return [True, False]
    if attribute.type == DATETIME:
        paris = timezone(timedelta(hours=2))
        return [moment + timedelta(microseconds=delta) for moment in held for delta in (-1, 0, 1)] + [
            moment.astimezone(paris) for moment in held]
    texts = [value for value in held if value]
    return held + [t.upper() for t in texts] + [t.swapcase() for t in texts] + [t[:3] for t in texts] + [
        t[-3:] for t in texts] + [t[1:-1] for t in texts] + [
        "", "nobody", "work", "a", "z", "é", "İ", "_", "%", "\x00", "zz\ud800"]


def random_filter(generator: random.Random, population: dict[str, Member], depth: int = 0,
                  collection: str | None = None):
    """A random filter tree over every attribute and operator, with values of the attribute's type;
    inside ``collection[...]`` it speaks mostly of that collection's values (and never of another's)."""
    kinds = ["compare", "compare", "compare", "present"]
    if depth < 4:
        kinds += ["and", "or", "not", "value path"]
    kind = generator.choice(kinds)
    if kind in ("and", "or"):
        node = And if kind == "and" else Or
        return node(random_filter(generator, population, depth + 1, collection),
                    random_filter(generator, population, depth + 1, collection))
    if kind == "not":
        return Not(random_filter(generator, population, depth + 1, collection))
    if kind == "value path":
        inner = generator.choice(list(_COLLECTION_FIELDS))
        return AnyValue(COLLECTIONS[inner], random_filter(generator, population, depth + 1, inner))
    if collection is None:
        attributes = list(USER.paths)
    else:
        own = [a for a in USER.paths if a.collection is COLLECTIONS[collection]]
        attributes = own * 3 + [a for a in USER.paths if a.collection is None]
    attribute = generator.choice(attributes)
    if kind == "present":
        return Present(attribute)
    operator = generator.choice(sorted(OPERATORS_BY_TYPE[attribute.type], key=lambda o: o.value))
    values = comparison_values(population, attribute)
    if operator in (Operator.EQ, Operator.NE):
        values += [None]
    return Compare(attribute, operator, generator.choice(values))


def random_query(generator: random.Random, population: dict[str, Member]) -> Query:
    """A random filter (or none), order and page."""
    return Query(
        filter=None if generator.random() < 0.05 else random_filter(generator, population),
        sort_by=generator.choice([None, None, *sorted(SORTABLE, key=lambda a: a.path)]),
        descending=generator.random() < 0.5,
        start_index=generator.choice([1, 1, 1, 2, 3, 7, 8]),
        count=generator.choice([100, 100, 0, 1, 2, 3]))



# -- the contract --------------------------------------------------------------------------------------

class StoreContract:
    """Fixtures and helpers every contract test uses. Subclasses supply ``store``."""

    @pytest.fixture
    def store(self) -> Store:
        raise NotImplementedError

    @pytest.fixture
    def clock(self) -> FixedClock:
        return FixedClock(START.replace(microsecond=123456))

    @pytest.fixture
    def ids(self) -> SequentialIds:
        return SequentialIds()

    @pytest.fixture
    def people(self, clock, ids) -> People:
        return People(clock, ids)

    @pytest.fixture
    def contoso(self, store, ids) -> Organisation:
        organisation = Organisation(id=ids.new_id(), name="Contoso", api_access=True)
        store.run(lambda uow: uow.organisations.add(organisation))
        return organisation

    @pytest.fixture
    def fabrikam(self, store, ids) -> Organisation:
        organisation = Organisation(id=ids.new_id(), name="Fabrikam", api_access=False)
        store.run(lambda uow: uow.organisations.add(organisation))
        return organisation

    def add(self, store: Store, *new_members: Member) -> None:
        def work(uow):
            for member in new_members:
                uow.members.add(member)
        store.run(work)

    def get(self, store: Store, organisation: Organisation, member_id: str) -> Member:
        return store.read(lambda uow: uow.members.get(organisation.id, member_id))

    def search(self, store: Store, organisation: Organisation, filter=None, start_index=1, count=100, *,
               sort_by: Attribute | None = None, descending: bool = False) -> Page:
        query = Query(filter=filter, start_index=start_index, count=count, sort_by=sort_by,
                            descending=descending)
        return store.read(lambda uow: uow.members.search(organisation.id, query))

    def search_page(self, store: Store, organisation: Organisation, query: Query) -> Page:
        return store.read(lambda uow: uow.members.search(organisation.id, query))

    def user_names(self, page) -> list[str]:
        return [member.user_name for member in page.resources]


class SearchContract(StoreContract):
    """How every storage filters, orders and pages: exactly as ``memory.matches_filter`` and
    ``memory.ordered`` do (domain/query.py states the semantics)."""

    @pytest.fixture
    def population(self, store, contoso, fabrikam) -> dict[str, Member]:
        everyone = search_population(contoso, fabrikam)
        self.add(store, *everyone.values())
        return everyone

    @pytest.mark.parametrize("filter, expected", FILTERS.values(), ids=FILTERS.keys())
    def test_filter_selects_exactly_the_matching_members(self, store, contoso, population, filter, expected):
        """Each filter form selects exactly the members written beside it, in creation order, and pages
        through them with the total counted before paging."""
        page = self.search(store, contoso, filter)
        second_page = self.search(store, contoso, filter, start_index=2, count=2)

        assert self.user_names(page) == expected
        assert page.total == len(expected)
        assert (self.user_names(second_page), second_page.total) == (expected[1:3], len(expected))

    @pytest.mark.parametrize("order, expected", SORTS.values(), ids=SORTS.keys())
    def test_sort_orders_and_pages_alike_in_every_store(self, store, contoso, population, order, expected):
        """sortBy orders by the attribute as filters compare it, unassigned values last (first when
        descending), ties by creation then id; a page is a slice of that order."""
        sort_by, descending, start_index, count = order

        page = self.search(store, contoso, start_index=start_index, count=count, sort_by=sort_by,
                           descending=descending)

        assert self.user_names(page) == expected
        assert page.total == len(EVERYONE)

    def test_sorting_orders_only_the_matches(self, store, contoso, population):
        """A filter, an order and a page together: the page of the sorted matches, and their number."""
        page = self.search(store, contoso, Compare(A.TITLE, O.SW, "TOUR"), count=2, sort_by=A.USER_NAME,
                           descending=True)

        assert (self.user_names(page), page.total) == ([ZOE, YANN], 3)

    def test_random_queries_agree_with_the_in_memory_reference(self, store, contoso, population):
        """Hundreds of generated filter trees, over every attribute and operator, with generated orders
        and pages, give exactly the page ``memory.matches_filter`` and ``memory.ordered`` give."""
        ours = [m for m in population.values() if m.organisation_id == contoso.id]
        generator = random.Random(7643)
        disagreements = []
        with store.transaction() as uow:
            with uow:
                for _ in range(QUERY_SAMPLES):
                    query = random_query(generator, population)
                    matches = ordered([m for m in ours if query.filter is None or matches_filter(m, query.filter)],
                                      query)
                    expected = [m.id for m in matches[query.start_index - 1:query.start_index - 1 + query.count]]
                    page = uow.members.search(contoso.id, query)
                    if [m.id for m in page.resources] != expected or page.total != len(matches):
                        disagreements.append((query, expected, [m.id for m in page.resources]))

        assert disagreements == []

    def test_every_attribute_answers_every_operator_its_type_admits(self, store, contoso, population):
        """Each attribute with each operator its type admits (and pr, and eq/ne null) selects what the
        in-memory reference selects: no attribute is left out of the SQL translation."""
        ours = ordered([m for m in population.values() if m.organisation_id == contoso.id], Query())
        filters = []
        for attribute in USER.paths:
            values = comparison_values(population, attribute)
            filters += [Present(attribute), Compare(attribute, O.EQ, None), Compare(attribute, O.NE, None)]
            operators = sorted(OPERATORS_BY_TYPE[attribute.type], key=lambda o: o.value)
            filters += [Compare(attribute, operator, values[n % len(values)])
                        for n, operator in enumerate(operators)]
        disagreements = []
        with store.transaction() as uow:
            with uow:
                for filter in filters:
                    expected = [m.id for m in ours if matches_filter(m, filter)]
                    found = [m.id for m in uow.members.search(contoso.id, Query(filter=filter)).resources]
                    if found != expected:
                        disagreements.append((filter, expected, found))

        assert disagreements == []

    def test_another_collections_sub_attribute_inside_a_value_path_means_some_value_of_that_one(
            self, store, contoso, population):
        """emails[phoneNumbers.type eq "mobile"]: the phone number is not the e-mail, so the condition
        reads as "has an e-mail, and some phone number is a mobile" (query.AnyValue; scim.filter never
        builds this, but the model allows it)."""
        filter = AnyValue(COLLECTIONS["emails"], Compare(A.PHONE_TYPE, O.EQ, "mobile"))

        found = self.user_names(self.search(store, contoso, filter))

        assert found == [BJENSEN, ZOE]

    def test_another_organisations_members_never_appear(self, store, contoso, fabrikam, population):
        """Fabrikam's search sees only Fabrikam's bjensen, whatever the filter."""
        page = self.search(store, fabrikam, Compare(A.USER_NAME, O.EQ, "bjensen"))

        assert [member.id for member in page.resources] == [FABRIKAM_BJENSEN_ID]
        assert self.search(store, fabrikam, Compare(A.EMAIL_VALUE, O.CO, "@")).total == 1
        assert self.search(store, fabrikam).total == 1
        assert store.run(lambda uow: uow.members.count(fabrikam.id)) == 1
        assert store.run(lambda uow: uow.members.count(contoso.id)) == len(EVERYONE)

    def test_search_without_filter_lists_everyone_in_creation_order(self, store, contoso, population):
        """No filter: every member of the organisation, oldest first."""
        page = self.search(store, contoso)

        assert self.user_names(page) == EVERYONE
        assert page.total == len(EVERYONE) and page.start_index == 1

    def test_members_created_at_the_same_moment_are_ordered_by_id(self, store, people, contoso):
        """Creation time orders the list and the id breaks ties, so pages never overlap or skip."""
        moment = START + timedelta(microseconds=500)
        self.add(store,
                 people.member(contoso, "zoe", id="00000000-0000-4000-8000-000000000009", created=moment),
                 people.member(contoso, "yann", id="00000000-0000-4000-8000-000000000003", created=moment),
                 people.member(contoso, "xavier", id="00000000-0000-4000-8000-000000000007",
                               created=moment + timedelta(microseconds=1)),
                 people.member(contoso, "walt", id="00000000-0000-4000-8000-00000000000a",
                               created=moment - timedelta(microseconds=1)))

        assert self.user_names(self.search(store, contoso)) == ["walt", "yann", "zoe", "xavier"]

    def test_total_counts_every_match_before_paging(self, store, people, contoso):
        """totalResults is the number of matches, not the size of the page (RFC 7644 §3.4.2.4)."""
        self.add(store, *(people.member(contoso, f"member{n:02}") for n in range(1, 8)))

        page = self.search(store, contoso, Present(A.USER_NAME), start_index=3, count=2)

        assert page.total == 7
        assert self.user_names(page) == ["member03", "member04"]
        assert page.start_index == 3

    def test_pages_walk_the_list_without_gaps(self, store, people, contoso):
        """Consecutive pages together list every member once, the last page being short."""
        self.add(store, *(people.member(contoso, f"member{n:02}") for n in range(1, 8)))

        pages = [self.search(store, contoso, start_index=start, count=3) for start in (1, 4, 7)]

        assert [self.user_names(page) for page in pages] == [
            ["member01", "member02", "member03"], ["member04", "member05", "member06"], ["member07"]]

    def test_count_zero_gives_the_total_only(self, store, people, contoso):
        """count=0 asks how many match, without any member (RFC 7644 §3.4.2.4)."""
        self.add(store, *(people.member(contoso, f"member{n}") for n in range(3)))

        page = self.search(store, contoso, count=0)

        assert (page.total, page.resources) == (3, ())

    def test_start_beyond_the_end_gives_an_empty_page(self, store, people, contoso):
        """A startIndex past the last match yields no members but still the total."""
        self.add(store, *(people.member(contoso, f"member{n}") for n in range(3)))

        page = self.search(store, contoso, start_index=4, count=10)

        assert (page.total, page.resources, page.start_index) == (3, (), 4)

    def test_start_index_below_one_counts_as_one(self, store, people, contoso):
        """startIndex values less than 1 are interpreted as 1 (RFC 7644 §3.4.2.4)."""
        self.add(store, *(people.member(contoso, f"member{n}") for n in range(3)))

        page = self.search(store, contoso, start_index=0, count=2)

        assert (self.user_names(page), page.start_index) == (["member0", "member1"], 1)


class RepositoryContract(SearchContract):
    """What every storage must do, searching included. Subclasses supply ``store``."""

    # -- add and get -----------------------------------------------------------------------------------

    def test_member_with_every_field_round_trips(self, store, people, contoso):
        """A member read back equals the member stored, every attribute and timestamp microsecond included."""
        manager = people.member(contoso, "jsmith")
        bjensen = replace(
            people.member(contoso, "bjensen", **bjensen_fields(
                enterprise=replace(bjensen_fields()["enterprise"], manager_id=manager.id))),
            last_modified=START + timedelta(days=3, microseconds=654321), version=7, is_admin=True,
            api_access=True)
        self.add(store, manager, bjensen)

        stored = self.get(store, contoso, bjensen.id)

        assert stored == bjensen
        assert stored.created.microsecond == bjensen.created.microsecond != 0
        assert stored.created.utcoffset() == timedelta(0)
        assert stored.last_modified == START + timedelta(days=3, microseconds=654321)

    def test_member_with_only_a_user_name_round_trips(self, store, people, contoso):
        """Absent attributes come back absent: None, empty tuples, empty Name and EnterpriseInfo."""
        ada = people.member(contoso, "ada@contoso.example")
        self.add(store, ada)

        stored = self.get(store, contoso, ada.id)

        assert stored == ada
        assert stored.fields.name.is_empty() and stored.fields.enterprise.is_empty()

    # -- renditions: what GET and list requests answer with --------------------------------------------

    def renditions_of(self, store, organisation, *members_, rendering=USER_DOCUMENTS):
        """What ``rendering`` makes of the members as the store holds them now."""
        return [rendering.rendition(self.get(store, organisation, each.id)) for each in members_]

    def test_a_member_is_rendered_as_stored_after_every_kind_of_write(self, store, people, clock, contoso):
        """The rendition read is the rendering of the member as stored: once added, after a change of a
        few attributes (``changes``) and after a whole replacement, whoever renders it."""
        manager = people.member(contoso, "jsmith")
        bjensen = people.member(contoso, "bjensen", **bjensen_fields(
            enterprise=replace(bjensen_fields()["enterprise"], manager_id=manager.id)))
        self.add(store, manager, bjensen)
        read = lambda rendering=USER_DOCUMENTS: store.read(
            lambda uow: uow.members.rendition(contoso.id, bjensen.id, rendering))
        narrower = UserDocuments(replace(USER, extensions=()))

        assert [read()] == self.renditions_of(store, contoso, bjensen)
        assert read(narrower) == narrower.rendition(bjensen)

        deactivated = bjensen.with_fields(replace(bjensen.fields, active=False), clock.advance())
        store.run(lambda uow: uow.members.update(deactivated, expected_version=1,
                                                 changes=USER.diff(bjensen.fields, deactivated.fields)))
        assert [read()] == self.renditions_of(store, contoso, deactivated)
        assert '"active":false' in read().text and read().version == 2

        replaced = deactivated.with_fields(MemberFields(user_name="babs", active=True), clock.advance())
        store.run(lambda uow: uow.members.update(replaced, expected_version=2))
        assert [read()] == self.renditions_of(store, contoso, replaced)
        assert read(narrower) == narrower.rendition(replaced)

    def test_a_page_of_renditions_is_the_page_of_members_rendered(self, store, contoso, population):
        """``search_renditions`` answers the query ``search`` answers, each member rendered, for Entra's
        look-ups and for longer pages alike."""
        for query in (Query(filter=Compare(A.USER_NAME, O.EQ, "BJENSEN")),
                      Query(filter=Compare(A.EXTERNAL_ID, O.EQ, "no-such-external-id")),
                      Query(sort_by=A.DISPLAY_NAME, descending=True, start_index=2, count=3),
                      Query(filter=Or(Compare(A.EMAIL_TYPE, O.EQ, "work"), Compare(A.DISPLAY_NAME, O.CO, "e")))):
            members_page = self.search_page(store, contoso, query)
            page = store.read(lambda uow: uow.members.search_renditions(contoso.id, query, USER_DOCUMENTS))

            assert (page.total, page.start_index) == (members_page.total, members_page.start_index)
            assert list(page.resources) == [USER_DOCUMENTS.rendition(each) for each in members_page.resources]

    @pytest.mark.parametrize("member_id", ["00000000-0000-4000-8000-999999999999", "not-a-uuid", "bjensen\x00"])
    def test_no_rendition_of_a_member_that_is_not_there(self, store, people, contoso, fabrikam, member_id):
        """An unknown or malformed id, or another organisation's member, is NotFound, as for ``get``."""
        bjensen = people.member(contoso, "bjensen")
        self.add(store, bjensen)

        for organisation, wanted in ((contoso, member_id), (fabrikam, bjensen.id)):
            with pytest.raises(NotFound):
                store.read(lambda uow: uow.members.rendition(organisation.id, wanted, USER_DOCUMENTS))

    def test_unknown_member_is_not_found(self, store, contoso):
        """Getting an id nobody has raises NotFound."""
        with pytest.raises(NotFound):
            self.get(store, contoso, "00000000-0000-4000-8000-999999999999")

    @pytest.mark.parametrize("malformed", ["Users", "not-a-uuid", "", "x" * 200, "bjensen\x00", "ü" * 36])
    def test_malformed_id_is_simply_not_found(self, store, people, contoso, malformed):
        """An id that cannot be a member id is NotFound, never a database error."""
        self.add(store, people.member(contoso, "bjensen"))

        with pytest.raises(NotFound):
            self.get(store, contoso, malformed)
        with pytest.raises(NotFound):
            store.run(lambda uow: uow.members.remove(contoso.id, malformed))

    def test_another_organisations_member_is_not_found(self, store, people, contoso, fabrikam):
        """Fabrikam cannot read, change or delete Contoso's member: to Fabrikam it does not exist."""
        bjensen = people.member(contoso, "bjensen")
        self.add(store, bjensen)
        stolen = replace(bjensen, organisation_id=fabrikam.id, version=2)

        with pytest.raises(NotFound):
            self.get(store, fabrikam, bjensen.id)
        with pytest.raises(NotFound):
            store.run(lambda uow: uow.members.update(stolen, expected_version=1))
        with pytest.raises(NotFound):
            store.run(lambda uow: uow.members.remove(fabrikam.id, bjensen.id))
        assert self.get(store, contoso, bjensen.id) == bjensen

    # -- find ------------------------------------------------------------------------------------------

    def test_find_by_user_name_ignores_case(self, store, people, contoso):
        """userName is caseExact false (RFC 7643 §4.1.1): BJensen finds bjensen."""
        bjensen = people.member(contoso, "bjensen@contoso.example")
        self.add(store, bjensen)

        found = store.run(lambda uow: uow.members.find(contoso.id, user_name="BJensen@Contoso.EXAMPLE"))

        assert found == bjensen

    def test_find_by_external_id_is_exact(self, store, people, contoso):
        """externalId is caseExact true (RFC 7643 §3.1): only the very same value matches."""
        bjensen = people.member(contoso, "bjensen", external_id="AbC-123")
        self.add(store, bjensen)

        def find(value):
            return store.run(lambda uow: uow.members.find(contoso.id, external_id=value))

        assert find("AbC-123") == bjensen
        assert find("abc-123") is None

    def test_find_of_nobody_is_none(self, store, people, contoso, fabrikam):
        """An unknown userName or externalId, or one held in another organisation, finds nothing."""
        self.add(store, people.member(fabrikam, "bjensen", external_id="bjensen-entra-1"))

        assert store.run(lambda uow: uow.members.find(contoso.id, user_name="bjensen")) is None
        assert store.run(lambda uow: uow.members.find(contoso.id, external_id="bjensen-entra-1")) is None
        assert store.run(lambda uow: uow.members.find(contoso.id, user_name="bjensen\x00")) is None

    # -- uniqueness ------------------------------------------------------------------------------------

    def test_same_user_name_is_allowed_in_two_organisations(self, store, people, contoso, fabrikam):
        """Uniqueness is per organisation: Contoso and Fabrikam may both have a bjensen, same externalId too."""
        in_contoso = people.member(contoso, "bjensen", external_id="bjensen-entra-1")
        in_fabrikam = people.member(fabrikam, "bjensen", external_id="bjensen-entra-1")
        self.add(store, in_contoso, in_fabrikam)

        assert self.get(store, contoso, in_contoso.id) == in_contoso
        assert self.get(store, fabrikam, in_fabrikam.id) == in_fabrikam

    def test_user_name_differing_only_in_case_is_a_conflict(self, store, people, contoso):
        """BJENSEN cannot join an organisation that has bjensen; the conflict names userName."""
        self.add(store, people.member(contoso, "bjensen"))

        with pytest.raises(UniquenessConflict) as raised:
            self.add(store, people.member(contoso, "BJENSEN"))

        assert (raised.value.attribute, raised.value.value) == ("userName", "BJENSEN")
        assert self.search(store, contoso).total == 1

    def test_duplicate_external_id_is_a_conflict(self, store, people, contoso):
        """A second member with the same externalId is refused; the conflict names externalId."""
        self.add(store, people.member(contoso, "bjensen", external_id="entra-42"))

        with pytest.raises(UniquenessConflict) as raised:
            self.add(store, people.member(contoso, "ada@contoso.example", external_id="entra-42"))

        assert (raised.value.attribute, raised.value.value) == ("externalId", "entra-42")

    def test_external_id_differing_in_case_is_another_external_id(self, store, people, contoso):
        """externalId compares exactly, so ENTRA-42 and entra-42 are two members' ids."""
        self.add(store, people.member(contoso, "bjensen", external_id="entra-42"),
                 people.member(contoso, "ada@contoso.example", external_id="ENTRA-42"))

        assert self.search(store, contoso).total == 2

    def test_many_members_may_have_no_external_id(self, store, people, contoso):
        """An absent externalId is not a value, so any number of members may lack one."""
        self.add(store, *(people.member(contoso, f"member{n}") for n in range(3)))

        assert self.search(store, contoso).total == 3

    # -- update ----------------------------------------------------------------------------------------

    def test_update_with_the_read_version_stores_the_new_state(self, store, people, clock, contoso):
        """update() with the version that was read replaces the member, version and all."""
        bjensen = people.member(contoso, "bjensen", **bjensen_fields())
        self.add(store, bjensen)
        changed = bjensen.with_fields(replace(bjensen.fields, title="Head Tour Guide", nick_name=None),
                                      clock.advance(0.5))

        store.run(lambda uow: uow.members.update(changed, expected_version=1))

        assert self.get(store, contoso, bjensen.id) == changed
        assert changed.version == 2

    def test_update_with_a_stale_version_is_a_version_mismatch(self, store, people, clock, contoso):
        """A writer holding version 1 cannot overwrite version 2: nobody's change is lost."""
        bjensen = people.member(contoso, "bjensen")
        self.add(store, bjensen)
        second = bjensen.with_fields(replace(bjensen.fields, title="Guide"), clock.advance())
        store.run(lambda uow: uow.members.update(second, expected_version=1))
        late = bjensen.with_fields(replace(bjensen.fields, title="Janitor"), clock.advance())

        with pytest.raises(VersionMismatch):
            store.run(lambda uow: uow.members.update(late, expected_version=1))

        assert self.get(store, contoso, bjensen.id) == second

    def test_update_of_a_removed_member_is_not_found(self, store, people, clock, contoso):
        """Updating a member someone deleted meanwhile is NotFound, not a version mismatch."""
        bjensen = people.member(contoso, "bjensen")
        self.add(store, bjensen)
        store.run(lambda uow: uow.members.remove(contoso.id, bjensen.id))
        changed = bjensen.with_fields(replace(bjensen.fields, title="Guide"), clock.advance())

        with pytest.raises(NotFound):
            store.run(lambda uow: uow.members.update(changed, expected_version=1))

    def test_update_into_a_taken_user_name_is_a_conflict(self, store, people, clock, contoso):
        """Renaming ada to BJensen while bjensen exists is refused, and ada stays as she was."""
        bjensen = people.member(contoso, "bjensen")
        ada = people.member(contoso, "ada@contoso.example")
        self.add(store, bjensen, ada)
        renamed = ada.with_fields(replace(ada.fields, user_name="BJensen"), clock.advance())

        with pytest.raises(UniquenessConflict) as raised:
            store.run(lambda uow: uow.members.update(renamed, expected_version=1))

        assert raised.value.attribute == "userName"
        assert self.get(store, contoso, ada.id) == ada

    def test_update_into_a_taken_external_id_is_a_conflict(self, store, people, clock, contoso):
        """Giving ada bjensen's externalId is refused and names externalId."""
        bjensen = people.member(contoso, "bjensen", external_id="entra-42")
        ada = people.member(contoso, "ada@contoso.example")
        self.add(store, bjensen, ada)
        changed = ada.with_fields(replace(ada.fields, external_id="entra-42"), clock.advance())

        with pytest.raises(UniquenessConflict) as raised:
            store.run(lambda uow: uow.members.update(changed, expected_version=1))

        assert (raised.value.attribute, raised.value.value) == ("externalId", "entra-42")

    def test_update_may_change_the_case_of_ones_own_user_name(self, store, people, clock, contoso):
        """bjensen becoming BJensen conflicts with nobody: the only holder of that name is bjensen."""
        bjensen = people.member(contoso, "bjensen", external_id="entra-42")
        self.add(store, bjensen)
        changed = bjensen.with_fields(replace(bjensen.fields, user_name="BJensen"), clock.advance())

        store.run(lambda uow: uow.members.update(changed, expected_version=1))

        assert self.get(store, contoso, bjensen.id).user_name == "BJensen"

    def test_update_rewrites_what_filters_match(self, store, people, clock, contoso):
        """After a move, the old e-mail, phone number, address and title no longer find the member and
        the new ones do; a value kept at another position still does."""
        ada = people.member(contoso, "ada", title="Analyst",
                            emails=(Email(value="ada@contoso.example", type="work"),),
                            phone_numbers=(PhoneNumber(value="+44 20 7946 0001", type="work"),
                                           PhoneNumber(value="+44 7700 900001", type="mobile")),
                            addresses=(Address(locality="London", country="GB", primary=True),))
        self.add(store, ada)
        moved = ada.with_fields(replace(
            ada.fields, title="Countess", emails=(Email(value="ada@fabrikam.example", type="home"),),
            phone_numbers=(PhoneNumber(value="+44 7700 900001", type="mobile"),),
            addresses=(Address(locality="Ockham", country="GB"),)), clock.advance())

        store.run(lambda uow: uow.members.update(moved, expected_version=1))

        def matches(attribute, value):
            return self.search(store, contoso, Compare(attribute, Operator.EQ, value)).total

        assert [matches(A.EMAIL_VALUE, "ada@contoso.example"), matches(A.EMAIL_TYPE, "work"),
                matches(A.PHONE_TYPE, "work"), matches(A.ADDRESS_LOCALITY, "london"),
                matches(A.ADDRESS_PRIMARY, True), matches(A.TITLE, "analyst")] == [0] * 6
        assert [matches(A.EMAIL_VALUE, "ada@fabrikam.example"), matches(A.EMAIL_TYPE, "home"),
                matches(A.PHONE_VALUE, "+44 7700 900001"), matches(A.ADDRESS_LOCALITY, "ockham"),
                matches(A.TITLE, "countess")] == [1] * 5

    # -- remove ----------------------------------------------------------------------------------------

    def test_removed_member_is_not_found(self, store, people, contoso):
        """After remove() the member is gone for good, and a second remove() is NotFound."""
        bjensen = people.member(contoso, "bjensen", **bjensen_fields())
        self.add(store, bjensen)

        store.run(lambda uow: uow.members.remove(contoso.id, bjensen.id))

        with pytest.raises(NotFound):
            self.get(store, contoso, bjensen.id)
        with pytest.raises(NotFound):
            store.run(lambda uow: uow.members.remove(contoso.id, bjensen.id))
        assert self.search(store, contoso, Compare(Attribute.EMAIL_VALUE, Operator.EQ,
                                                   "bjensen@contoso.example")).total == 0

    def test_remove_with_an_expected_version_is_conditional(self, store, people, contoso):
        """remove(expected_version=...) deletes only that version: another is VersionMismatch, and the
        member stays (If-Match on DELETE, decided by the store so no concurrent change slips in)."""
        bjensen = people.member(contoso, "bjensen")
        self.add(store, bjensen)

        with pytest.raises(VersionMismatch):
            store.run(lambda uow: uow.members.remove(contoso.id, bjensen.id, expected_version=bjensen.version + 1))
        assert self.get(store, contoso, bjensen.id) == bjensen

        store.run(lambda uow: uow.members.remove(contoso.id, bjensen.id, expected_version=bjensen.version))
        with pytest.raises(NotFound):
            self.get(store, contoso, bjensen.id)
        with pytest.raises(NotFound):
            store.run(lambda uow: uow.members.remove(contoso.id, bjensen.id, expected_version=1))

    def test_remove_frees_user_name_and_external_id(self, store, people, contoso):
        """A hard-deleted member's userName and externalId may be given to a new member."""
        bjensen = people.member(contoso, "bjensen", external_id="entra-42")
        self.add(store, bjensen)
        store.run(lambda uow: uow.members.remove(contoso.id, bjensen.id))

        again = people.member(contoso, "BJensen", external_id="entra-42")
        self.add(store, again)

        assert self.get(store, contoso, again.id) == again

    def test_tokens_outlive_their_owner_and_revoke_all_of_revokes_only_theirs(self, store, people, ids, clock,
                                                                              contoso, fabrikam):
        """ENTRA.md §2.1: removing a member leaves their tokens (no cascade); ``revoke_all_of`` revokes every
        unrevoked token of that admin in that organisation, keeps an earlier revocation's time, touches no
        one else's, and says how many it revoked. The grant then reads the owner as deleted."""
        bjensen = people.member(contoso, "bjensen")
        ada = people.member(contoso, "ada@contoso.example")
        self.add(store, bjensen, ada)
        now = clock.now()
        token = ApiToken(id=ids.new_id(), organisation_id=contoso.id, admin_id=bjensen.id, digest="a" * 64,
                         created=now)
        old = ApiToken(id=ids.new_id(), organisation_id=contoso.id, admin_id=bjensen.id, digest="c" * 64,
                       created=now, revoked=now - timedelta(days=1))
        kept = ApiToken(id=ids.new_id(), organisation_id=contoso.id, admin_id=ada.id, digest="b" * 64,
                        created=now)
        store.run(lambda uow: (uow.tokens.add(token), uow.tokens.add(old), uow.tokens.add(kept)))

        store.run(lambda uow: uow.members.remove(contoso.id, bjensen.id))
        assert store.run(lambda uow: token_of(uow, "a" * 64)) == token
        assert store.run(lambda uow: uow.tokens.revoke_all_of(fabrikam.id, bjensen.id, now)) == 0
        assert store.run(lambda uow: uow.tokens.revoke_all_of(contoso.id, bjensen.id, now)) == 1
        assert store.run(lambda uow: uow.tokens.revoke_all_of(contoso.id, bjensen.id, now)) == 0
        assert store.run(lambda uow: uow.tokens.revoke_all_of(contoso.id, "not an id", now)) == 0

        assert store.run(lambda uow: uow.tokens.find_grant(token.digest)) == TokenGrant(
            token=replace(token, revoked=now), organisation_api_access=contoso.api_access, owner_active=False,
            owner_is_admin=False, owner_api_access=False, owner_deleted=True)
        assert store.run(lambda uow: uow.tokens.get(old.id)) == old
        assert store.run(lambda uow: uow.tokens.get(kept.id)) == kept

    # -- tokens ----------------------------------------------------------------------------------------

    @pytest.fixture
    def admin(self, store, people, contoso) -> Member:
        admin = replace(people.member(contoso, "ada@contoso.example"), is_admin=True, api_access=True)
        self.add(store, admin)
        return admin

    def test_token_is_found_by_its_digest(self, store, ids, clock, contoso, admin):
        """find_grant finds the stored token, revoked or not; an unknown digest finds None."""
        token = ApiToken(id=ids.new_id(), organisation_id=contoso.id, admin_id=admin.id, digest="c0ffee" * 8,
                         created=clock.now())
        revoked = ApiToken(id=ids.new_id(), organisation_id=contoso.id, admin_id=admin.id, digest="dead" * 16,
                           created=clock.now(), revoked=clock.advance(60))
        store.run(lambda uow: (uow.tokens.add(token), uow.tokens.add(revoked)))

        assert store.run(lambda uow: token_of(uow, "c0ffee" * 8)) == token
        assert store.run(lambda uow: token_of(uow, "dead" * 16)) == revoked
        assert store.run(lambda uow: token_of(uow, "f" * 64)) is None

    def test_a_grant_is_the_token_with_its_owners_and_organisations_settings(self, store, ids, clock, contoso,
                                                                              admin):
        """find_grant: the token (revoked or not) and the settings the token check needs, as they stand at
        the read; None for an unknown digest."""
        token = ApiToken(id=ids.new_id(), organisation_id=contoso.id, admin_id=admin.id, digest="c0ffee" * 8,
                         created=clock.now(), name="Entra", expires=clock.now() + timedelta(days=1))
        store.run(lambda uow: uow.tokens.add(token))

        assert store.run(lambda uow: uow.tokens.find_grant(token.digest)) == TokenGrant(
            token=token, organisation_api_access=True, owner_active=True, owner_is_admin=True,
            owner_api_access=True)
        assert store.run(lambda uow: uow.tokens.find_grant("f" * 64)) is None

        revoked_at = clock.advance(60)
        store.run(lambda uow: uow.tokens.revoke(token.id, revoked_at))
        store.run(lambda uow: uow.organisations.update(replace(contoso, api_access=False)))
        store.run(lambda uow: uow.members.update(
            admin.with_fields(dataclasses.replace(admin.fields, active=False), clock.now()).with_settings(is_admin=False, api_access=False),
            expected_version=admin.version))

        assert store.run(lambda uow: uow.tokens.find_grant(token.digest)) == TokenGrant(
            token=replace(token, revoked=revoked_at), organisation_api_access=False, owner_active=False,
            owner_is_admin=False, owner_api_access=False)

    def test_a_grant_read_again_as_a_get_reads_it_follows_each_change_committed_since(self, store, ids, clock,
                                                                                       contoso, admin):
        """A GET's token check (a reading unit) asked again and again answers as things stand at each
        read: a revocation, the owner made inactive, API access switched off is felt by the next one,
        whatever the store keeps between reads (the SQL stores' reading connection on SQLite keeps
        a grant while the database is unchanged)."""
        token = ApiToken(id=ids.new_id(), organisation_id=contoso.id, admin_id=admin.id, digest="c0ffee" * 8,
                         created=clock.now())
        store.run(lambda uow: uow.tokens.add(token))
        grant = TokenGrant(token=token, organisation_api_access=True, owner_active=True, owner_is_admin=True,
                           owner_api_access=True)
        read = lambda: store.read(lambda uow: uow.tokens.find_grant(token.digest))  # noqa: E731

        assert read() == grant
        assert read() == grant
        used = clock.advance(60)
        store.run(lambda uow: uow.tokens.mark_used(token.id, used))
        assert read() == replace(grant, token=replace(token, last_used=used))
        store.run(lambda uow: uow.members.update(
            admin.with_fields(dataclasses.replace(admin.fields, active=False), clock.now()),
            expected_version=admin.version))
        assert read().owner_active is False
        store.run(lambda uow: uow.organisations.update(replace(contoso, api_access=False)))
        assert read().organisation_api_access is False
        revoked_at = clock.advance(60)
        store.run(lambda uow: uow.tokens.revoke(token.id, revoked_at))
        assert read().token.revoked == revoked_at
        assert store.read(lambda uow: uow.tokens.find_grant("f" * 64)) is None

    def test_a_grant_names_only_its_own_organisations_settings(self, store, people, ids, clock, contoso,
                                                               fabrikam, admin):
        """Each token's grant carries its own organisation and owner: switching API access off in one
        organisation changes no other organisation's grants."""
        other = replace(people.member(fabrikam, "ada@contoso.example"), is_admin=True, api_access=True)
        self.add(store, other)
        ours = ApiToken(id=ids.new_id(), organisation_id=contoso.id, admin_id=admin.id, digest="1" * 64,
                        created=clock.now())
        theirs = ApiToken(id=ids.new_id(), organisation_id=fabrikam.id, admin_id=other.id, digest="2" * 64,
                          created=clock.now())
        store.run(lambda uow: (uow.tokens.add(ours), uow.tokens.add(theirs)))

        store.run(lambda uow: uow.organisations.update(replace(fabrikam, api_access=False)))

        assert store.run(lambda uow: uow.tokens.find_grant(ours.digest)).organisation_api_access is True
        assert store.run(lambda uow: uow.tokens.find_grant(theirs.digest)).organisation_api_access is False

    @pytest.mark.parametrize("digest", ["", "\x00", "x" * 70])
    def test_an_unstorable_digest_has_no_grant(self, store, digest):
        assert store.run(lambda uow: uow.tokens.find_grant(digest)) is None

    def test_token_name_and_expiry_are_kept_and_a_token_is_found_by_id(self, store, ids, clock, contoso, admin):
        token = ApiToken(id=ids.new_id(), organisation_id=contoso.id, admin_id=admin.id, digest="ab" * 32,
                         created=clock.now(), name="Entra production \u00e9t\u00e9", expires=clock.now() + timedelta(days=90))
        store.run(lambda uow: uow.tokens.add(token))

        assert store.run(lambda uow: uow.tokens.get(token.id)) == token
        assert store.run(lambda uow: token_of(uow, token.digest)) == token

    @pytest.mark.parametrize("token_id", ["5171a35d-8207-4e06-8ce2-0f1b2c3d4e5f", "not-an-id", "x" * 80, "\x00"])
    def test_an_unknown_token_id_is_not_found_for_get_and_revoke(self, store, clock, admin, token_id):
        with pytest.raises(NotFound):
            store.run(lambda uow: uow.tokens.get(token_id))
        with pytest.raises(NotFound):
            store.run(lambda uow: uow.tokens.revoke(token_id, clock.now()))

    def test_revoke_records_the_first_time_only(self, store, ids, clock, contoso, admin):
        token = ApiToken(id=ids.new_id(), organisation_id=contoso.id, admin_id=admin.id, digest="cd" * 32,
                         created=clock.now())
        other = replace(token, id=ids.new_id(), digest="ef" * 32)
        store.run(lambda uow: (uow.tokens.add(token), uow.tokens.add(other)))
        first = clock.advance(60)

        store.run(lambda uow: uow.tokens.revoke(token.id, first))
        store.run(lambda uow: uow.tokens.revoke(token.id, clock.advance(60)))

        assert store.run(lambda uow: uow.tokens.get(token.id)) == replace(token, revoked=first)
        assert store.run(lambda uow: uow.tokens.get(other.id)) == other

    def test_mark_used_records_the_time(self, store, ids, clock, contoso, admin):
        """mark_used stores when the token was last used, to the microsecond; nothing else changes."""
        token = ApiToken(id=ids.new_id(), organisation_id=contoso.id, admin_id=admin.id, digest="c0ffee" * 8,
                         created=clock.now())
        store.run(lambda uow: uow.tokens.add(token))
        used = clock.advance(90.000042)

        store.run(lambda uow: uow.tokens.mark_used(token.id, used))

        assert store.run(lambda uow: token_of(uow, token.digest)) == replace(token, last_used=used)

    def test_tokens_are_listed_per_organisation_oldest_first(self, store, people, ids, clock, contoso, fabrikam,
                                                             admin):
        """An organisation lists its own tokens only, in the order they were issued."""
        other_admin = people.member(fabrikam, "bjensen")
        self.add(store, other_admin)
        newer = ApiToken(id=ids.new_id(), organisation_id=contoso.id, admin_id=admin.id, digest="1" * 64,
                         created=clock.advance(10))
        older = ApiToken(id=ids.new_id(), organisation_id=contoso.id, admin_id=admin.id, digest="2" * 64,
                         created=clock.now() - timedelta(seconds=5))
        theirs = ApiToken(id=ids.new_id(), organisation_id=fabrikam.id, admin_id=other_admin.id,
                          digest="3" * 64, created=clock.now())
        store.run(lambda uow: [uow.tokens.add(t) for t in (newer, older, theirs)])

        assert store.run(lambda uow: uow.tokens.list_for_organisation(contoso.id)) == [older, newer]
        assert store.run(lambda uow: uow.tokens.list_for_organisation(fabrikam.id)) == [theirs]

    # -- organisations ---------------------------------------------------------------------------------

    def test_organisation_round_trips(self, store, contoso, fabrikam):
        """An organisation reads back as stored, api_access included."""
        assert store.run(lambda uow: uow.organisations.get(contoso.id)) == contoso
        assert store.run(lambda uow: uow.organisations.get(fabrikam.id)) == fabrikam

    def test_unknown_organisation_is_not_found(self, store, contoso):
        """get() and update() of an organisation nobody created raise NotFound."""
        ghost = Organisation(id="00000000-0000-4000-8000-999999999999", name="Ghost")
        with pytest.raises(NotFound):
            store.run(lambda uow: uow.organisations.get(ghost.id))
        with pytest.raises(NotFound):
            store.run(lambda uow: uow.organisations.update(ghost))
        with pytest.raises(NotFound):
            store.run(lambda uow: uow.organisations.get("not an id\x00"))

    def test_organisation_update_stores_the_new_state(self, store, contoso):
        """Switching API access off (and renaming) is stored."""
        changed = replace(contoso, name="Contoso Ltd", api_access=False)

        store.run(lambda uow: uow.organisations.update(changed))

        assert store.run(lambda uow: uow.organisations.get(contoso.id)) == changed

    def test_organisations_are_listed_by_name_then_id(self, store, ids, contoso, fabrikam):
        """list() orders by name as Python compares strings (capitals first), then by id."""
        adatum = Organisation(id=ids.new_id(), name="adatum")
        twin = Organisation(id="00000000-0000-4000-8000-000000000000", name="Fabrikam")
        store.run(lambda uow: (uow.organisations.add(adatum), uow.organisations.add(twin)))

        assert store.run(lambda uow: uow.organisations.list()) == [contoso, twin, fabrikam, adatum]

    def test_organisations_are_found_by_name_ignoring_case_beyond_ascii(self, store, ids, contoso, fabrikam):
        """named() finds every organisation of that name in any case (Ä as ä: case_key, not SQLite's
        ASCII-only lower()), by name then id; a name nobody has finds none."""
        shouting = Organisation(id="00000000-0000-4000-8000-000000000000", name="CONTOSO")
        doctors = Organisation(id=ids.new_id(), name="Ärzte ohne Grenzen")
        store.run(lambda uow: (uow.organisations.add(shouting), uow.organisations.add(doctors)))

        assert store.read(lambda uow: uow.organisations.named("contoso")) == [shouting, contoso]
        assert store.read(lambda uow: uow.organisations.named("ÄRZTE OHNE GRENZEN")) == [doctors]
        assert store.read(lambda uow: uow.organisations.named("Contoso Ltd")) == []

    # -- the activity trail ----------------------------------------------------------------------------

    def trail(self, store: Store, organisation: Organisation, **query) -> list[Activity]:
        return store.read(lambda uow: uow.activity.list(organisation.id, **query))

    def record(self, store: Store, *records: Activity) -> None:
        def work(uow):
            for each in records:
                uow.activity.record(each)
        store.run(work)

    def test_a_record_reads_back_with_every_field(self, store, ids, clock, contoso):
        """Every field of a record survives the round trip, to the microsecond, attributes in their order."""
        update = Activity(at=clock.advance(0.000001), organisation_id=contoso.id, event=UPDATE,
                          member_id=ids.new_id(), token_id=ids.new_id(), request_id="req-bjensen-1",
                          attributes=("displayName", "name.givenName",
                                      "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"))
        refusal = Activity(at=clock.advance(1), organisation_id=contoso.id, event=REFUSED, member_id=ids.new_id(),
                           token_id=ids.new_id(), request_id="req-bjensen-2", status=409, scim_type="uniqueness")
        bare = Activity(at=clock.advance(1), organisation_id=contoso.id, event=DELETE)
        team_change = Activity(at=clock.advance(1), organisation_id=contoso.id, event=TEAM_UPDATE,
                               team_id=ids.new_id(), attributes=("displayName",), added=3, removed=0,
                               token_id=ids.new_id(), request_id="req-tour-guides-1")

        self.record(store, update, refusal, bare, team_change)

        assert self.trail(store, contoso) == [team_change, bare, refusal, update]

    def test_the_trail_reads_newest_first_and_the_last_written_first_within_an_instant(
            self, store, clock, contoso):
        """Newest first, whatever the order of writing; records of one instant, the last written first."""
        t1, t2, t3 = (clock.advance(60.000001) for _ in range(3))
        oldest, middle, ada, bjensen = (Activity(at=at, organisation_id=contoso.id, event=CREATE, request_id=name)
                                        for at, name in ((t1, "oldest"), (t2, "middle"), (t3, "ada"),
                                                         (t3, "bjensen")))
        self.record(store, middle, ada)
        self.record(store, oldest, bjensen)

        assert self.trail(store, contoso) == [bjensen, ada, middle, oldest]

    @pytest.fixture
    def busy_day(self, store, ids, clock, contoso) -> dict[str, Activity]:
        """Contoso's morning: ada created, changed and deleted, bjensen created and refused, a second apart."""
        ada, bjensen = ids.new_id(), ids.new_id()
        day = {name: Activity(at=clock.advance(1), organisation_id=contoso.id, event=event, member_id=member)
               for name, event, member in (("ada created", CREATE, ada), ("bjensen created", CREATE, bjensen),
                                           ("ada updated", UPDATE, ada), ("bjensen refused", REFUSED, bjensen),
                                           ("ada deleted", DELETE, ada))}
        self.record(store, *day.values())
        return day

    def test_list_filters_by_time_member_and_event_and_stops_at_the_limit(self, store, contoso, busy_day):
        """``since`` includes its own instant; the member, event and limit narrow the newest-first list."""
        def names(**query) -> list[str]:
            by_record = {record: name for name, record in busy_day.items()}
            return [by_record[record] for record in self.trail(store, contoso, **query)]
        ada = busy_day["ada created"].member_id

        assert names() == ["ada deleted", "bjensen refused", "ada updated", "bjensen created", "ada created"]
        assert names(since=busy_day["ada updated"].at) == ["ada deleted", "bjensen refused", "ada updated"]
        assert names(member_id=ada) == ["ada deleted", "ada updated", "ada created"]
        assert names(event=CREATE) == ["bjensen created", "ada created"]
        assert names(since=busy_day["bjensen created"].at, member_id=ada, event=CREATE) == []
        assert names(since=busy_day["ada created"].at, member_id=ada, event=CREATE) == ["ada created"]
        assert names(limit=2) == ["ada deleted", "bjensen refused"]
        assert names(member_id=ada, limit=1) == ["ada deleted"]
        assert names(limit=0) == names(limit=-1) == []
        assert names(since=busy_day["ada deleted"].at + timedelta(microseconds=1)) == []
        assert names(member_id="00000000-0000-4000-8000-999999999999") == names(event="provision") == []

    @pytest.mark.parametrize("query", [
        {"member_id": "x" * 80}, {"member_id": "\x00"}, {"member_id": "bjensen\ud800"}, {"event": "create\x00"},
        {"event": "\udfff"}], ids=["long id", "NUL id", "surrogate id", "NUL event", "surrogate event"])
    def test_a_filter_no_record_could_match_finds_nothing(self, store, contoso, busy_day, query):
        """A member id or event no column could hold is simply matched by nothing (no error)."""
        assert self.trail(store, contoso, **query) == []

    def test_an_organisation_that_cannot_exist_has_no_trail(self, store, contoso, busy_day):
        """An organisation id that cannot be one lists and counts nothing, without an error."""
        for organisation_id in ("not an id\x00", "x" * 80, ""):
            assert store.read(lambda uow: uow.activity.list(organisation_id)) == []
            assert store.read(lambda uow: uow.activity.counts(START, organisation_id)) == {}

    def test_another_organisations_records_never_appear(self, store, clock, contoso, fabrikam, busy_day):
        """Each organisation lists its own records only, even of a member id they happen to share."""
        member = busy_day["ada created"].member_id
        theirs = Activity(at=clock.advance(1), organisation_id=fabrikam.id, event=REFUSED, member_id=member,
                          status=403)
        self.record(store, theirs)

        assert self.trail(store, fabrikam) == [theirs]
        assert self.trail(store, fabrikam, member_id=member) == [theirs]
        assert theirs not in self.trail(store, contoso)
        assert len(self.trail(store, contoso, member_id=member)) == 3

    def test_counts_are_per_organisation_and_event_since_a_time(self, store, clock, contoso, fabrikam, busy_day):
        """counts(): per organisation, per event, at ``since`` or later; only events that happened appear,
        and only the organisation asked for when one is."""
        theirs = [Activity(at=clock.advance(1), organisation_id=fabrikam.id, event=event)
                  for event in (CREATE, CREATE, REFUSED)]
        self.record(store, *theirs)

        def counts(since, organisation=None):
            return store.read(lambda uow: uow.activity.counts(
                since, None if organisation is None else organisation.id))

        assert counts(START) == {contoso.id: {CREATE: 2, UPDATE: 1, REFUSED: 1, DELETE: 1},
                                 fabrikam.id: {CREATE: 2, REFUSED: 1}}
        assert counts(busy_day["ada updated"].at) == {contoso.id: {UPDATE: 1, REFUSED: 1, DELETE: 1},
                                                      fabrikam.id: {CREATE: 2, REFUSED: 1}}
        assert counts(START, contoso) == {contoso.id: {CREATE: 2, UPDATE: 1, REFUSED: 1, DELETE: 1}}
        assert counts(theirs[-1].at, fabrikam) == {fabrikam.id: {REFUSED: 1}}
        assert counts(theirs[-1].at, contoso) == {}
        assert counts(clock.advance(1)) == {}

    def test_prune_deletes_older_records_of_every_organisation_and_says_how_many(self, store, clock, contoso,
                                                                               fabrikam, busy_day):
        """prune(before) deletes every organisation's records older than ``before`` (not those at it) and
        returns how many it deleted."""
        theirs_old = Activity(at=busy_day["ada created"].at, organisation_id=fabrikam.id, event=CREATE)
        theirs_new = Activity(at=clock.advance(1), organisation_id=fabrikam.id, event=UPDATE)
        self.record(store, theirs_old, theirs_new)

        assert store.run(lambda uow: uow.activity.prune(busy_day["ada updated"].at)) == 3
        assert store.run(lambda uow: uow.activity.prune(busy_day["ada updated"].at)) == 0

        assert self.trail(store, contoso) == [busy_day[name] for name in (
            "ada deleted", "bjensen refused", "ada updated")]
        assert self.trail(store, fabrikam) == [theirs_new]

    def test_a_record_in_a_unit_left_without_commit_is_gone(self, store, clock, contoso):
        """record() belongs to its unit's transaction: without commit(), or on an exception, it is discarded
        with the change it describes."""
        record = Activity(at=clock.now(), organisation_id=contoso.id, event=CREATE)

        def fail(uow):
            uow.activity.record(record)
            uow.commit()
            raise RuntimeError("the request failed after recording")

        store.run(lambda uow: uow.activity.record(record), commit=False)
        with pytest.raises(RuntimeError):
            store.run(fail, commit=False)

        assert self.trail(store, contoso) == []

    def test_a_record_apart_survives_the_rollback_of_its_unit(self, store, people, clock, contoso):
        """record_apart() is kept although its unit's work (a member, a record) is discarded: the refusal of a
        request that rolls back."""
        bjensen = people.member(contoso, "bjensen")
        change = Activity(at=clock.now(), organisation_id=contoso.id, event=CREATE, member_id=bjensen.id)
        refusal = Activity(at=clock.now(), organisation_id=contoso.id, event=REFUSED, member_id=bjensen.id,
                           status=409, scim_type="uniqueness", request_id="req-refused")

        def refuse(uow):
            uow.members.add(bjensen)
            uow.activity.record(change)
            uow.activity.record_apart(refusal)
            raise UniquenessConflict("userName", "bjensen")

        with pytest.raises(UniquenessConflict):
            store.run(refuse)

        assert self.trail(store, contoso) == [refusal]
        with pytest.raises(NotFound):
            self.get(store, contoso, bjensen.id)

    def test_a_committed_unit_keeps_its_records_and_writes_the_one_apart_last(self, store, clock, contoso):
        """In a unit that commits, both are kept; the record apart is written after the unit's own, so of
        one instant it reads first."""
        change = Activity(at=clock.now(), organisation_id=contoso.id, event=UPDATE, attributes=("title",))
        apart = Activity(at=clock.now(), organisation_id=contoso.id, event=REFUSED, status=412)

        def work(uow):
            uow.activity.record_apart(apart)
            uow.activity.record(change)

        store.run(work)

        assert self.trail(store, contoso) == [apart, change]

    def test_a_record_apart_from_a_reading_unit_is_kept(self, store, clock, contoso):
        """A refused GET records its refusal from a unit that only reads."""
        refusal = Activity(at=clock.now(), organisation_id=contoso.id, event=REFUSED, status=404)

        store.read(lambda uow: uow.activity.record_apart(refusal))

        assert self.trail(store, contoso) == [refusal]

    # -- units of work ---------------------------------------------------------------------------------

    def test_unit_left_without_commit_leaves_nothing(self, store, people, contoso):
        """Work done in a block that never called commit() is discarded."""
        bjensen = people.member(contoso, "bjensen")

        store.run(lambda uow: uow.members.add(bjensen), commit=False)

        with pytest.raises(NotFound):
            self.get(store, contoso, bjensen.id)

    def test_unit_left_by_an_exception_leaves_nothing(self, store, people, contoso):
        """An exception leaving the block discards its work, even after commit() was called."""
        bjensen = people.member(contoso, "bjensen")

        def work(uow):
            uow.members.add(bjensen)
            uow.commit()
            raise RuntimeError("the request failed after the write")

        with pytest.raises(RuntimeError):
            store.run(work, commit=False)

        with pytest.raises(NotFound):
            self.get(store, contoso, bjensen.id)

    def test_committed_block_survives_a_later_read_only_block(self, store, people, contoso):
        """A request that writes, commits, then only reads keeps its write."""
        bjensen = people.member(contoso, "bjensen")

        with store.transaction() as uow:
            with uow:
                uow.members.add(bjensen)
                uow.commit()
            with uow:
                assert uow.members.get(contoso.id, bjensen.id) == bjensen

        assert self.get(store, contoso, bjensen.id) == bjensen

    def test_one_transaction_sees_what_another_committed(self, store, people, contoso):
        """A unit of work opened before another committed reads the committed member afterwards."""
        bjensen = people.member(contoso, "bjensen")

        with store.transaction() as later:
            store.run(lambda uow: uow.members.add(bjensen))
            with later:
                assert later.members.get(contoso.id, bjensen.id) == bjensen

    # -- concurrency -----------------------------------------------------------------------------------

    def test_concurrent_adds_of_one_user_name_let_exactly_one_win(self, store, people, contoso):
        """Eight simultaneous requests creating bjensen: one succeeds, seven get a userName conflict."""
        candidates = [people.member(contoso, "bjensen" if n % 2 else "BJensen") for n in range(WRITERS)]

        outcomes = race(lambda n: self.add(store, candidates[n]))

        winners = [n for n, outcome in enumerate(outcomes) if outcome is None]
        losers = [outcome for outcome in outcomes if outcome is not None]
        assert len(winners) == 1, outcomes
        assert all(isinstance(o, UniquenessConflict) and o.attribute == "userName" for o in losers), outcomes
        assert self.search(store, contoso).resources == (candidates[winners[0]],)

    def test_concurrent_updates_of_one_member_are_all_kept(self, store, people, clock, ids, contoso):
        """Eight simultaneous edits of bjensen, each re-read and retried by MemberService: none is lost."""
        bjensen = people.member(contoso, "bjensen", title="0")
        self.add(store, bjensen)

        def edit(n: int):
            def change(fields: MemberFields) -> MemberFields:
                return replace(fields, title=str(int(fields.title) + 1),
                               phone_numbers=fields.phone_numbers + (PhoneNumber(value=f"+44 20 7946 010{n}"),))
            with store.transaction() as uow:
                MemberService(uow, clock, ids).update(contoso.id, bjensen.id, change)

        outcomes = race(edit)

        assert outcomes == [None] * WRITERS
        final = self.get(store, contoso, bjensen.id)
        assert final.fields.title == str(WRITERS)
        assert sorted(p.value for p in final.fields.phone_numbers) == [
            f"+44 20 7946 010{n}" for n in range(WRITERS)]
        assert final.version == 1 + WRITERS


# -- the stores ----------------------------------------------------------------------------------------

class TestInMemoryRepositories(RepositoryContract):
    @pytest.fixture
    def store(self) -> Store:
        return MemoryStore()


class SqlRepositoryContract(RepositoryContract):
    """The contract, plus what only a SQL store can show: the transaction manager's part."""

    @pytest.fixture
    def store(self, migrated_engine) -> SqlStore:
        return SqlStore(migrated_engine)

    def test_committed_writes_reach_the_database(self, store, people, contoso):
        """A committed unit's rows are in the tables, read on a connection of their own: the member, and
        one search row per e-mail, phone number and address."""
        self.add(store, people.member(contoso, "bjensen", **bjensen_fields()))

        assert [store.rows(table) for table in (
            organisations, members, member_emails, member_phone_numbers, member_addresses)] == [1, 1, 2, 2, 2]

    def test_a_grant_asked_again_with_nothing_committed_since_is_read_once(self, store, ids, clock, contoso,
                                                                           admin, database_url):
        """Each request checks its token: asked again by a GET with nothing committed anywhere since, a
        grant is read no more on SQLite (only whether the file changed, ``PRAGMA data_version``); on
        PostgreSQL, which has no such question, it is read each time. A commit reads it again."""
        token = ApiToken(id=ids.new_id(), organisation_id=contoso.id, admin_id=admin.id, digest="c0ffee" * 8,
                         created=clock.now())
        store.run(lambda uow: uow.tokens.add(token))
        ask = lambda: statements_sent(store, lambda uow: uow.tokens.find_grant(token.digest),  # noqa: E731
                                      read_only=True)
        sqlite = database_url.startswith("sqlite")

        first, again = ask(), ask()
        store.run(lambda uow: uow.tokens.mark_used(token.id, clock.advance(60)))
        after_a_commit = ask()

        reads_tokens = lambda sent: [sql for sql, _ in sent if "FROM api_tokens" in sql]  # noqa: E731
        assert len(reads_tokens(first)) == 1 and len(reads_tokens(after_a_commit)) == 1
        assert len(reads_tokens(again)) == (0 if sqlite else 1)
        assert [sql for sql, _ in again if "api_tokens" not in sql] == (["PRAGMA data_version"] if sqlite else [])

    def test_a_members_document_is_written_with_them_and_read_alone(self, store, people, contoso):
        """The SQL store keeps each member's User document in their row, and a GET reads it alone: one
        SELECT of the id, the version and the document (and, in a reading unit, the teams)."""
        bjensen = people.member(contoso, "bjensen", **bjensen_fields())
        self.add(store, bjensen)

        sent = statements_sent(store, lambda uow: uow.members.rendition(contoso.id, bjensen.id, USER_DOCUMENTS),
                               read_only=True)

        assert self.document_of(store, bjensen) == USER_DOCUMENTS.render(bjensen)
        assert len(sent) == 1
        selected = sent[0][0].lower().split(" from ")[0]
        assert "document" in selected and "user_name" not in selected and "emails" not in selected

    @pytest.mark.parametrize("left", ["no document", "another form", "an earlier version"])
    def test_a_document_that_is_not_current_is_rendered_from_the_row(self, store, people, clock, contoso, left):
        """A row an earlier release wrote (no document, or one of its own form), or changed without
        rendering it again (the document of the version before), is answered from its columns, for a
        GET and a page alike; never from the document it holds."""
        bjensen = people.member(contoso, "bjensen", **bjensen_fields())
        self.add(store, bjensen)
        changed = bjensen.with_fields(replace(bjensen.fields, title="Head Tour Guide"), clock.advance())
        store.run(lambda uow: uow.members.update(changed, expected_version=1))
        stale = {"no document": None,
                 "another form": USER_DOCUMENTS.render(changed).replace(USER_DOCUMENTS.form, "f" * 16, 1),
                 "an earlier version": USER_DOCUMENTS.render(bjensen)}[left]
        with store.engine.begin() as connection:
            connection.execute(update(members).where(members.c.id == bjensen.id).values(document=stale))

        fresh = USER_DOCUMENTS.rendition(changed)
        assert store.read(lambda uow: uow.members.rendition(contoso.id, bjensen.id, USER_DOCUMENTS)) == fresh
        page = store.read(lambda uow: uow.members.search_renditions(contoso.id, Query(), USER_DOCUMENTS))
        assert page.resources == (fresh,)
        assert self.document_of(store, bjensen) == stale   # a read writes nothing

    def test_a_page_leaves_out_a_member_deleted_before_their_row_is_read_again(self, store, people, contoso):
        """A page row whose document is not current is rendered from the member's row, read again; if the
        member was deleted in between (a reading unit's statements each see the latest commit), the page
        leaves them out rather than failing."""
        bjensen = people.member(contoso, "bjensen")
        self.add(store, bjensen)
        gone = {"id": "00000000-0000-4000-8000-999999999999", "version": 1, "document": None}
        current = {"id": bjensen.id, "version": 1, "document": USER_DOCUMENTS.render(bjensen)}

        assert store.read(lambda uow: uow.members._rendered([gone, current], contoso.id, USER_DOCUMENTS)) == (
            USER_DOCUMENTS.rendition(bjensen),)

    def document_of(self, store, member) -> str | None:
        with store.engine.connect() as connection:
            return connection.execute(select(members.c.document).where(members.c.id == member.id)).scalar_one()

    def test_removing_a_member_removes_their_search_rows(self, store, people, contoso):
        """The search rows go with the member (ON DELETE CASCADE)."""
        bjensen = people.member(contoso, "bjensen", **bjensen_fields())
        self.add(store, bjensen)

        store.run(lambda uow: uow.members.remove(contoso.id, bjensen.id))

        assert [store.rows(table) for table in (member_emails, member_phone_numbers, member_addresses)] == [0, 0, 0]

    RICH_FILTER = Or(AnyValue(COLLECTIONS["emails"], And(Compare(A.EMAIL_TYPE, O.EQ, "work"), Not(Present(A.EMAIL_PRIMARY)))),
                     And(Compare(A.CREATED, O.GT, START), Compare(A.ADDRESS_LOCALITY, O.CO, "wood")))

    @pytest.mark.parametrize("start_index, count, statements", [
        (1, 100, 1),   # the page is not full: it ends the matches, so it holds the total
        (2, 100, 1),
        (1, 1, 2),     # a full page: there may be more, so one COUNT
        (50, 10, 2),   # past the end: an empty page says nothing of the total
        (1, 0, 1),     # count=0 asks for the total only
    ], ids=["whole", "from the second", "full page", "past the end", "count zero"])
    def test_a_search_is_one_page_select_and_a_count_only_when_the_page_cannot_tell(
            self, store, contoso, population, start_index, count, statements):
        """However rich the query, the database answers it: one SELECT of the page, and one COUNT when
        the page alone cannot say how many match; the total is right either way."""
        query = Query(filter=self.RICH_FILTER, sort_by=A.DISPLAY_NAME, descending=True,
                            start_index=start_index, count=count)
        sent = statements_sent(store, lambda uow: uow.members.search(contoso.id, query))
        page = store.run(lambda uow: uow.members.search(contoso.id, query))
        everything = store.run(lambda uow: uow.members.search(contoso.id, Query(
            filter=self.RICH_FILTER, sort_by=A.DISPLAY_NAME, descending=True, count=1000)))

        assert len(sent) == statements
        assert page.total == len(everything.resources) >= 2
        assert page.resources == everything.resources[start_index - 1:start_index - 1 + count]
        selects = [statement.lower() for statement, _ in sent]
        assert sum("count(*)" in statement for statement in selects) == statements - (1 if count else 0)
        if count:
            assert "limit" in selects[0] and "order by" in selects[0]

    def test_entras_look_ups_are_one_select(self, store, contoso, population):
        """``externalId eq`` and ``userName eq`` (one match or none): one SELECT each, nothing else."""
        for query in (Query(filter=Compare(A.USER_NAME, O.EQ, "BJENSEN")),
                      Query(filter=Compare(A.EXTERNAL_ID, O.EQ, "no-such-external-id"))):
            sent = statements_sent(store, lambda uow: uow.members.search(contoso.id, query))
            assert len(sent) == 1 and "count(*)" not in sent[0][0].lower()

    @pytest.mark.parametrize("filter, index", [
        (Compare(A.USER_NAME, O.EQ, "BJensen"), "uq_members_organisation_id_user_name_key"),
        (Compare(A.EXTERNAL_ID, O.EQ, "bjensen-entra-1"), "uq_members_organisation_id_external_id"),
        (Compare(A.EMAIL_VALUE, O.EQ, "BJensen@contoso.example"), "ix_member_emails_organisation_id_value_key"),
        (None, "ix_members_organisation_id_created_id"),
    ], ids=["userName eq", "externalId eq", "emails.value eq", "no filter"])
    def test_entras_lookups_are_index_backed(self, store, contoso, population, filter, index):
        """Entra's matching queries (userName eq, externalId eq), an e-mail look-up and the plain list
        read an index, in an organisation large enough for the planner to care."""
        filler = [{"id": f"00000000-0000-4000-9000-{n:012d}", "organisation_id": contoso.id,
                   "user_name": f"member{n}", "user_name_key": f"member{n}", "external_id": f"entra-{n}",
                   "active": True, "emails": [], "phone_numbers": [], "addresses": [], "is_admin": False,
                   "api_access": False, "created": START, "last_modified": START, "version": 1}
                  for n in range(2000)]
        with store.engine.begin() as connection:
            connection.execute(members.insert(), filler)
            connection.execute(member_emails.insert(), [
                {"member_id": row["id"], "position": 0, "organisation_id": contoso.id,
                 "value_key": f"{row['user_name']}@contoso.example"} for row in filler])
            connection.exec_driver_sql("ANALYZE")
        sent = statements_sent(store, lambda uow: uow.members.search(contoso.id, Query(filter=filter)))

        with store.engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                plans = [connection.exec_driver_sql(f"EXPLAIN {statement}", parameters).scalars().all()
                         for statement, parameters in sent]
            else:
                plans = [[row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}",
                                                                          parameters)]
                         for statement, parameters in sent]
        # The page comes first; counting a whole organisation (which follows a full page) may read any
        # index that starts with organisation_id, or the table.
        for plan in plans[:1] if filter is None else plans:
            assert any(index in line for line in plan), plan

    def test_writes_without_commit_doom_the_transaction(self, store, people, contoso):
        """Leaving the block without commit() after writing dooms the transaction: it can no longer commit."""
        manager = transaction.TransactionManager(explicit=True)
        manager.begin()
        uow = store.storage.open(manager)
        with uow:
            uow.members.add(people.member(contoso, "bjensen"))

        assert manager.isDoomed()
        with pytest.raises(DoomedTransaction):
            manager.commit()
        manager.abort()
        uow.close()
        assert store.rows(members) == 0

    def test_an_exception_dooms_the_transaction(self, store, people, contoso):
        """An exception leaving the block dooms the transaction, even though commit() was called."""
        manager = transaction.TransactionManager(explicit=True)
        manager.begin()
        uow = store.storage.open(manager)
        with pytest.raises(UniquenessConflict):
            with uow:
                uow.members.add(people.member(contoso, "bjensen"))
                uow.commit()
                uow.members.add(people.member(contoso, "BJENSEN"))

        with pytest.raises(DoomedTransaction):
            manager.commit()
        manager.abort()
        uow.close()
        assert store.rows(members) == 0

    def test_reads_without_commit_do_not_doom(self, store, contoso):
        """A block that only read needs no commit(), and leaves the transaction free to commit."""
        manager = transaction.TransactionManager(explicit=True)
        manager.begin()
        uow = store.storage.open(manager)
        with uow:
            uow.organisations.get(contoso.id)
            uow.members.search(contoso.id, Query())

        assert not manager.isDoomed()
        manager.commit()
        uow.close()

    def test_one_unit_of_work_serves_many_transactions(self, store, people, contoso):
        """The same unit of work joins each new transaction of its manager (a script's loop)."""
        manager = transaction.TransactionManager(explicit=True)
        uow = store.storage.open(manager)
        for user_name in ("bjensen", "ada@contoso.example"):
            with manager:
                with uow:
                    uow.members.add(people.member(contoso, user_name))
                    uow.commit()
        uow.close()

        assert store.rows(members) == 2

    def test_times_in_another_zone_are_stored_as_the_same_instant_in_utc(self, store, people, contoso):
        """A time given at +02:00 reads back equal, as UTC."""
        paris = timezone(timedelta(hours=2))
        bjensen = people.member(contoso, "bjensen",
                                created=datetime(2026, 11, 23, 11, 14, 7, 999999, tzinfo=paris))
        self.add(store, bjensen)

        stored = self.get(store, contoso, bjensen.id)

        assert stored.created == bjensen.created
        assert stored.created.tzinfo == timezone.utc
        assert stored.created.hour == 9


    # -- the activity trail ----------------------------------------------------------------------------

    def test_a_reading_unit_refuses_to_record(self, store, clock, contoso):
        """record() is a write: a reading unit refuses it before it reaches the database."""
        record = Activity(at=clock.now(), organisation_id=contoso.id, event=CREATE)

        with pytest.raises(RuntimeError, match="cannot write"):
            store.read(lambda uow: uow.activity.record(record))

        assert store.rows(activity) == 0

    def test_records_apart_wait_for_the_unit_to_be_closed(self, store, clock, contoso):
        """Nothing is written apart before close(), then everything is, in one transaction (on SQLite the
        unit's connection holds the writer lock until it is released)."""
        records = [Activity(at=clock.advance(1), organisation_id=contoso.id, event=REFUSED, status=status)
                   for status in (400, 409)]
        manager = transaction.TransactionManager(explicit=True)
        uow = store.storage.open(manager)
        with manager:
            with uow:
                uow.organisations.update(contoso)  # takes SQLite's writer lock for this transaction
                for record in records:
                    uow.activity.record_apart(record)
                uow.commit()
        assert store.rows(activity) == 0

        uow.close()
        uow.close()  # a second close writes nothing twice

        assert store.rows(activity) == 2

    def test_a_record_apart_that_cannot_be_written_is_logged_not_raised(self, store, ids, clock, contoso,
                                                                         caplog):
        """close() answers a failed write apart with a warning that names no member, token or request, and
        raises nothing: the response has gone already."""
        with store.engine.begin() as connection:
            connection.execute(activity.delete())
            connection.exec_driver_sql("DROP TABLE activity")
        refusal = Activity(at=clock.now(), organisation_id=contoso.id, event=REFUSED, member_id=ids.new_id(),
                           token_id=ids.new_id(), request_id="req-secretive", status=404)

        with caplog.at_level(logging.WARNING):
            store.run(lambda uow: uow.activity.record_apart(refusal), commit=False)
            store.read(lambda uow: uow.activity.record_apart(refusal))

        warnings = [r for r in caplog.records if r.name.endswith("unit_of_work")]
        assert len(warnings) == 2 and all(r.levelno == logging.WARNING for r in warnings)
        for text in (refusal.member_id, refusal.token_id, refusal.request_id):
            assert text not in caplog.text
        assert "refused" in caplog.text

    def test_a_record_keeps_what_a_column_can_hold_of_ids_and_text_that_cannot_be_stored(self, store, clock,
                                                                                            contoso):
        """A record never fails its change or refusal: an id no column could hold (a refused request's path
        may name anything) is stored as none, a character no text column takes as U+FFFD."""
        odd = Activity(at=clock.now(), organisation_id=contoso.id, event=REFUSED, member_id="x" * 80,
                       token_id="\x00", request_id="req\x00", scim_type="invalid\ud800", status=404)

        store.run(lambda uow: uow.activity.record_apart(odd), commit=False)
        self.record(store, replace(odd, at=clock.advance(1)))

        kept = replace(odd, member_id=None, token_id=None, request_id="req\ufffd", scim_type="invalid\ufffd")
        assert self.trail(store, contoso) == [replace(kept, at=clock.now()), kept]

    def test_the_trail_is_read_and_pruned_through_its_indexes(self, store, contoso):
        """In a trail of 100,000 records of 100 organisations over 100 days, each read of the trail and the
        pruning of its oldest days goes through an index, and the page of an organisation's newest records
        is read in index order (no sort), so it costs the same however long the trail grows."""
        organisations = [contoso.id, *(f"00000000-0000-4000-a000-{n:012d}" for n in range(99))]
        member = "00000000-0000-4000-9000-000000000007"
        start = START - timedelta(days=100)
        with store.engine.begin() as connection:
            connection.execute(activity.insert(), [
                {"at": start + timedelta(minutes=n * 1.44), "organisation_id": organisations[n % 100],
                 "event": (CREATE, UPDATE, REFUSED)[n % 3], "member_id": f"00000000-0000-4000-9000-{n % 997:012d}",
                 "attributes": ["title"], "token_id": None, "request_id": None, "status": None, "scim_type": None}
                for n in range(100_000)])
            connection.exec_driver_sql("ANALYZE")
        recent = START - timedelta(days=1)
        organisation_index, member_index, time_index = (
            "ix_activity_organisation_id_at_id", "ix_activity_organisation_id_member_id_at_id", "ix_activity_at")
        cases = {
            "organisation": (lambda trail: trail.list(contoso.id), {organisation_index}),
            "organisation since, one event": (lambda trail: trail.list(contoso.id, since=recent, event=REFUSED),
                                              {organisation_index}),
            "member": (lambda trail: trail.list(contoso.id, member_id=member), {member_index}),
            "member since": (lambda trail: trail.list(contoso.id, member_id=member, since=recent), {member_index}),
            "counts of one": (lambda trail: trail.counts(recent, contoso.id), {organisation_index}),
            # SQLite may skip-scan the organisations' index instead: one short range per organisation.
            "counts of all": (lambda trail: trail.counts(recent), {time_index, organisation_index}),
            "prune": (lambda trail: trail.prune(start + timedelta(days=3)), {time_index}),
        }
        plans = {}
        for name, (work, _) in cases.items():
            (statement, parameters), = statements_sent(store, lambda uow: work(uow.activity))
            with store.engine.connect() as connection:
                if connection.dialect.name == "postgresql":
                    plans[name] = connection.exec_driver_sql(f"EXPLAIN {statement}", parameters).scalars().all()
                else:
                    plans[name] = [row[-1] for row in connection.exec_driver_sql(
                        f"EXPLAIN QUERY PLAN {statement}", parameters)]

        for name, (_, indexes) in cases.items():
            assert any(index in line for line in plans[name] for index in indexes), (name, plans[name])
        assert not any("TEMP B-TREE" in line or "Sort" in line for line in plans["organisation"]), plans

class TestSqliteRepositories(SqlRepositoryContract):
    @pytest.fixture
    def database_url(self, sqlite_url) -> str:
        return sqlite_url


@pytest.mark.postgres
class TestPostgresRepositories(SqlRepositoryContract):
    @pytest.fixture
    def database_url(self, postgres_url) -> str:
        return postgres_url

    def test_a_re_read_sees_another_transactions_commit(self, store, people, clock, contoso):
        """READ COMMITTED: a transaction that read version 1 reads version 2 once another commits it,
        which is what MemberService's re-read after a VersionMismatch relies on."""
        bjensen = people.member(contoso, "bjensen")
        self.add(store, bjensen)
        changed = bjensen.with_fields(replace(bjensen.fields, title="Guide"), clock.advance())

        with store.transaction() as reader:
            with reader:
                assert reader.members.get(contoso.id, bjensen.id).version == 1
                store.run(lambda uow: uow.members.update(changed, expected_version=1))
                assert reader.members.get(contoso.id, bjensen.id) == changed


@pytest.mark.postgres
class TestPostgresIcuSearch(SearchContract):
    """The search contract on a database whose default collation is not code point order (ICU English
    puts "émile" before "zoe", and ignores case): the storage must order and compare by code point anyway."""

    @pytest.fixture
    def store(self, postgres_icu_url) -> Iterator[SqlStore]:
        engine = make_engine(postgres_icu_url)
        try:
            migrate.upgrade(engine)
            yield SqlStore(engine)
        finally:
            engine.dispose()
