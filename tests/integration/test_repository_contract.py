"""One contract for every storage: the in-memory store (the reference), SQLite and PostgreSQL.

``RepositoryContract`` holds the tests; each storage is a subclass supplying one ``store`` fixture. A
``Store`` runs each unit of work the way a request does: in a transaction of its own, committed at the
end (the SQL stores through a real ``transaction.TransactionManager``, so what a test reads back comes
from the database, never from a session).
"""
from __future__ import annotations

import random
import threading
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterator, TypeVar

import pytest
import transaction
from sqlalchemy import func, select
from transaction.interfaces import DoomedTransaction

from tests.support import START, FixedClock, SequentialIds
from wiggledesk_scim.adapters.memory import InMemoryStore, InMemoryUnitOfWork, matches_filter
from wiggledesk_scim.adapters.sqlalchemy import SqlAlchemyStorage
from wiggledesk_scim.adapters.sqlalchemy.tables import member_email_keys, members, organisations
from wiggledesk_scim.domain.errors import InvalidValue, NotFound, UniquenessConflict, VersionMismatch
from wiggledesk_scim.domain.model import (Address, ApiToken, Email, EnterpriseInfo, Member, MemberFields, Name,
                                          Organisation, PhoneNumber)
from wiggledesk_scim.domain.ports import UnitOfWork
from wiggledesk_scim.domain.query import (And, AnyEmail, Attribute, Compare, MemberQuery, Not, Operator, Or,
                                          Present)
from wiggledesk_scim.domain.services import MemberService

T = TypeVar("T")

#: How many writers the concurrency tests race against each other.
WRITERS = 8


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


#: How many generated filters the differential test tries on each store.
FILTER_SAMPLES = 300


def random_filter(generator: random.Random, population: dict[str, Member], depth: int = 0,
                  in_email: bool = False):
    """A random filter tree over the attributes, values and forms the query model allows."""
    kind = generator.choice(["compare", "compare", "present"] if depth >= 3 else
                            ["compare", "compare", "present", "and", "or", "not", "email"])
    if kind == "and":
        return And(random_filter(generator, population, depth + 1, in_email),
                   random_filter(generator, population, depth + 1, in_email))
    if kind == "or":
        return Or(random_filter(generator, population, depth + 1, in_email),
                  random_filter(generator, population, depth + 1, in_email))
    if kind == "not":
        return Not(random_filter(generator, population, depth + 1, in_email))
    if kind == "email":
        return AnyEmail(random_filter(generator, population, depth + 1, True))
    attributes = list(Attribute)
    if in_email:  # inside emails[...] mostly speak of the e-mail
        attributes += [Attribute.EMAIL_VALUE, Attribute.EMAIL_TYPE] * 3
    attribute = generator.choice(attributes)
    if kind == "present":
        return Present(attribute)
    return Compare(attribute, Operator.EQ, generator.choice(filter_values(population, attribute)))


def filter_values(population: dict[str, Member], attribute: Attribute) -> list:
    """Values worth comparing ``attribute`` with: those the members hold, in other cases, and odd ones."""
    held: list = []
    for member in population.values():
        if attribute is Attribute.ID:
            held.append(member.id)
        elif attribute is Attribute.EXTERNAL_ID:
            held.append(member.external_id)
        elif attribute is Attribute.USER_NAME:
            held.append(member.user_name)
        elif attribute is Attribute.DISPLAY_NAME:
            held.append(member.fields.display_name)
        elif attribute is Attribute.EMAIL_VALUE:
            held.extend(e.value for e in member.fields.emails)
        elif attribute is Attribute.EMAIL_TYPE:
            held.extend(e.type for e in member.fields.emails)
    texts = [value for value in held if isinstance(value, str)]
    return held + [t.upper() for t in texts] + [t.swapcase() for t in texts] + [
        None, True, False, "", "nobody", "work", "true"]


# -- the contract --------------------------------------------------------------------------------------

class RepositoryContract:
    """What every storage must do. Subclasses supply ``store``."""

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
        return store.run(lambda uow: uow.members.get(organisation.id, member_id))

    def search(self, store: Store, organisation: Organisation, filter=None, start_index=1, count=100):
        query = MemberQuery(filter=filter, start_index=start_index, count=count)
        return store.run(lambda uow: uow.members.search(organisation.id, query))

    def user_names(self, page) -> list[str]:
        return [member.user_name for member in page.members]

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

    # -- search ----------------------------------------------------------------------------------------

    @pytest.fixture
    def population(self, store, people, contoso, fabrikam) -> dict[str, Member]:
        """Four Contoso members who differ in every attribute a filter can name, and Fabrikam's look-alike."""
        everyone = {
            "bjensen": people.member(contoso, "bjensen", **bjensen_fields(display_name="Barbara Jensen")),
            "ada": people.member(contoso, "ada@contoso.example", external_id="AL-1815", active=False,
                                 display_name="Ada Lovelace",
                                 emails=(Email(value="Ada@Contoso.example", type="work", primary=True),)),
            "grace": people.member(contoso, "grace", display_name="",
                                   emails=(Email(value="grace@navy.example"),)),
            "linus": people.member(contoso, "linus"),
            "fabrikam-bjensen": people.member(fabrikam, "bjensen", **bjensen_fields(display_name="Barbara Jensen")),
        }
        self.add(store, *everyone.values())
        return everyone

    FILTERS = {
        "userName eq, ignoring case": (Compare(Attribute.USER_NAME, Operator.EQ, "BJensen"), ["bjensen"]),
        "userName eq null": (Compare(Attribute.USER_NAME, Operator.EQ, None), []),
        "externalId eq, exactly": (Compare(Attribute.EXTERNAL_ID, Operator.EQ, "AL-1815"), ["ada@contoso.example"]),
        "externalId eq, other case": (Compare(Attribute.EXTERNAL_ID, Operator.EQ, "al-1815"), []),
        "externalId eq null": (Compare(Attribute.EXTERNAL_ID, Operator.EQ, None), ["grace", "linus"]),
        "displayName eq, ignoring case": (Compare(Attribute.DISPLAY_NAME, Operator.EQ, "BARBARA jensen"),
                                          ["bjensen"]),
        "displayName eq empty": (Compare(Attribute.DISPLAY_NAME, Operator.EQ, ""), ["grace"]),
        "displayName eq null": (Compare(Attribute.DISPLAY_NAME, Operator.EQ, None), ["linus"]),
        "displayName eq a boolean": (Compare(Attribute.DISPLAY_NAME, Operator.EQ, True), []),
        "active eq false": (Compare(Attribute.ACTIVE, Operator.EQ, False), ["ada@contoso.example"]),
        "active eq true": (Compare(Attribute.ACTIVE, Operator.EQ, True), ["bjensen", "grace", "linus"]),
        "active eq a string": (Compare(Attribute.ACTIVE, Operator.EQ, "true"), []),
        "emails.value eq, ignoring case": (Compare(Attribute.EMAIL_VALUE, Operator.EQ, "ada@CONTOSO.example"),
                                           ["ada@contoso.example"]),
        "emails.value eq, second e-mail": (Compare(Attribute.EMAIL_VALUE, Operator.EQ, "babs@jensen.example"),
                                           ["bjensen"]),
        "emails.type eq": (Compare(Attribute.EMAIL_TYPE, Operator.EQ, "HOME"), ["bjensen"]),
        "emails.type eq null": (Compare(Attribute.EMAIL_TYPE, Operator.EQ, None), ["grace"]),
        "userName pr": (Present(Attribute.USER_NAME), ["bjensen", "ada@contoso.example", "grace", "linus"]),
        "displayName pr, not empty": (Present(Attribute.DISPLAY_NAME), ["bjensen", "ada@contoso.example"]),
        "externalId pr": (Present(Attribute.EXTERNAL_ID), ["bjensen", "ada@contoso.example"]),
        "active pr": (Present(Attribute.ACTIVE), ["bjensen", "ada@contoso.example", "grace", "linus"]),
        "emails.value pr": (Present(Attribute.EMAIL_VALUE), ["bjensen", "ada@contoso.example", "grace"]),
        "emails.type pr": (Present(Attribute.EMAIL_TYPE), ["bjensen", "ada@contoso.example"]),
        "and": (And(Compare(Attribute.EMAIL_TYPE, Operator.EQ, "work"), Compare(Attribute.ACTIVE, Operator.EQ, True)),
                ["bjensen"]),
        "or": (Or(Compare(Attribute.USER_NAME, Operator.EQ, "linus"),
                  Compare(Attribute.EXTERNAL_ID, Operator.EQ, "AL-1815")), ["ada@contoso.example", "linus"]),
        "not, where the attribute is absent too": (
            Not(Compare(Attribute.DISPLAY_NAME, Operator.EQ, "Barbara Jensen")),
            ["ada@contoso.example", "grace", "linus"]),
        "not over e-mails": (Not(Compare(Attribute.EMAIL_TYPE, Operator.EQ, "work")), ["grace", "linus"]),
        "not not": (Not(Not(Compare(Attribute.ACTIVE, Operator.EQ, False))), ["ada@contoso.example"]),
        "two e-mail conditions met by two e-mails": (
            And(Compare(Attribute.EMAIL_TYPE, Operator.EQ, "home"),
                Compare(Attribute.EMAIL_VALUE, Operator.EQ, "bjensen@contoso.example")), ["bjensen"]),
        "emails[type and value] met by one e-mail": (
            AnyEmail(And(Compare(Attribute.EMAIL_TYPE, Operator.EQ, "Work"),
                         Compare(Attribute.EMAIL_VALUE, Operator.EQ, "bjensen@contoso.example"))), ["bjensen"]),
        "emails[type and value] met by no single e-mail": (
            AnyEmail(And(Compare(Attribute.EMAIL_TYPE, Operator.EQ, "home"),
                         Compare(Attribute.EMAIL_VALUE, Operator.EQ, "bjensen@contoso.example"))), []),
        "emails[not type]": (AnyEmail(Not(Compare(Attribute.EMAIL_TYPE, Operator.EQ, "work"))),
                             ["bjensen", "grace"]),
        "emails[type pr]": (AnyEmail(Present(Attribute.EMAIL_TYPE)), ["bjensen", "ada@contoso.example"]),
        "emails[type eq null]": (AnyEmail(Compare(Attribute.EMAIL_TYPE, Operator.EQ, None)), ["grace"]),
        "emails[type or value]": (
            AnyEmail(Or(Compare(Attribute.EMAIL_TYPE, Operator.EQ, "home"),
                        Compare(Attribute.EMAIL_VALUE, Operator.EQ, "grace@navy.example"))), ["bjensen", "grace"]),
        "emails[...] with a member attribute inside": (
            AnyEmail(And(Compare(Attribute.EMAIL_TYPE, Operator.EQ, "work"),
                         Compare(Attribute.ACTIVE, Operator.EQ, False))), ["ada@contoso.example"]),
        "emails[...] inside emails[...]": (AnyEmail(AnyEmail(Compare(Attribute.EMAIL_TYPE, Operator.EQ, "home"))),
                                           ["bjensen"]),
        "not emails[...]": (Not(AnyEmail(Compare(Attribute.EMAIL_TYPE, Operator.EQ, "work"))), ["grace", "linus"]),
        "a value the database cannot hold": (Compare(Attribute.USER_NAME, Operator.EQ, "bjensen\x00"), []),
    }

    @pytest.mark.parametrize("filter, expected", FILTERS.values(), ids=FILTERS.keys())
    def test_filter_selects_exactly_the_matching_members(self, store, contoso, population, filter, expected):
        """Each filter form selects the members the in-memory reference selects, in creation order."""
        page = self.search(store, contoso, filter)

        assert self.user_names(page) == expected
        assert page.total == len(expected)

    def test_random_filters_agree_with_the_in_memory_reference(self, store, contoso, population):
        """Hundreds of generated filter trees select exactly what ``memory.matches_filter`` selects."""
        ours = sorted((m for m in population.values() if m.organisation_id == contoso.id),
                      key=lambda m: (m.created, m.id))
        generator = random.Random(7643)
        disagreements = []
        with store.transaction() as uow:
            with uow:
                for _ in range(FILTER_SAMPLES):
                    filter = random_filter(generator, population)
                    expected = [m.user_name for m in ours if matches_filter(m, filter)]
                    page = uow.members.search(contoso.id, MemberQuery(filter=filter))
                    if self.user_names(page) != expected or page.total != len(expected):
                        disagreements.append((filter, expected, self.user_names(page)))

        assert disagreements == []

    def test_filter_by_id_is_exact(self, store, contoso, population):
        """id compares exactly (RFC 7643 §3.1) and only within the organisation."""
        ada = population["ada"]

        assert self.user_names(self.search(store, contoso, Compare(Attribute.ID, Operator.EQ, ada.id))) == [
            "ada@contoso.example"]
        assert self.search(store, contoso, Compare(Attribute.ID, Operator.EQ, ada.id.upper() + "X")).total == 0
        fabrikams = population["fabrikam-bjensen"].id
        assert self.search(store, contoso, Compare(Attribute.ID, Operator.EQ, fabrikams)).total == 0

    def test_another_organisations_members_never_appear(self, store, contoso, fabrikam, population):
        """Fabrikam's search sees only Fabrikam's bjensen, whatever the filter."""
        page = self.search(store, fabrikam, Compare(Attribute.USER_NAME, Operator.EQ, "bjensen"))

        assert [member.id for member in page.members] == [population["fabrikam-bjensen"].id]
        assert self.search(store, fabrikam).total == 1
        assert store.run(lambda uow: uow.members.count(fabrikam.id)) == 1
        assert store.run(lambda uow: uow.members.count(contoso.id)) == 4

    def test_search_without_filter_lists_everyone_in_creation_order(self, store, contoso, population):
        """No filter: every member of the organisation, oldest first."""
        page = self.search(store, contoso)

        assert self.user_names(page) == ["bjensen", "ada@contoso.example", "grace", "linus"]
        assert page.total == 4 and page.start_index == 1

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

        page = self.search(store, contoso, Present(Attribute.USER_NAME), start_index=3, count=2)

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

        assert (page.total, page.members) == (3, ())

    def test_start_beyond_the_end_gives_an_empty_page(self, store, people, contoso):
        """A startIndex past the last match yields no members but still the total."""
        self.add(store, *(people.member(contoso, f"member{n}") for n in range(3)))

        page = self.search(store, contoso, start_index=4, count=10)

        assert (page.total, page.members, page.start_index) == (3, (), 4)

    def test_start_index_below_one_counts_as_one(self, store, people, contoso):
        """startIndex values less than 1 are interpreted as 1 (RFC 7644 §3.4.2.4)."""
        self.add(store, *(people.member(contoso, f"member{n}") for n in range(3)))

        page = self.search(store, contoso, start_index=0, count=2)

        assert (self.user_names(page), page.start_index) == (["member0", "member1"], 1)

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

    def test_update_rewrites_what_e_mail_filters_match(self, store, people, clock, contoso):
        """After a change of mail, the old address no longer finds the member and the new one does."""
        ada = people.member(contoso, "ada", emails=(Email(value="ada@contoso.example", type="work"),))
        self.add(store, ada)
        moved = ada.with_fields(replace(ada.fields, emails=(Email(value="ada@fabrikam.example", type="home"),)),
                                clock.advance())

        store.run(lambda uow: uow.members.update(moved, expected_version=1))

        def matches(attribute, value):
            return self.search(store, contoso, Compare(attribute, Operator.EQ, value)).total

        assert matches(Attribute.EMAIL_VALUE, "ada@contoso.example") == 0
        assert matches(Attribute.EMAIL_TYPE, "work") == 0
        assert matches(Attribute.EMAIL_VALUE, "ada@fabrikam.example") == 1
        assert matches(Attribute.EMAIL_TYPE, "home") == 1

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

    def test_remove_frees_user_name_and_external_id(self, store, people, contoso):
        """A hard-deleted member's userName and externalId may be given to a new member."""
        bjensen = people.member(contoso, "bjensen", external_id="entra-42")
        self.add(store, bjensen)
        store.run(lambda uow: uow.members.remove(contoso.id, bjensen.id))

        again = people.member(contoso, "BJensen", external_id="entra-42")
        self.add(store, again)

        assert self.get(store, contoso, again.id) == again

    def test_remove_takes_the_members_tokens_along(self, store, people, ids, clock, contoso):
        """A deleted admin's tokens stop existing with them; other admins' tokens stay."""
        bjensen = people.member(contoso, "bjensen")
        ada = people.member(contoso, "ada@contoso.example")
        self.add(store, bjensen, ada)
        token = ApiToken(id=ids.new_id(), organisation_id=contoso.id, admin_id=bjensen.id, digest="a" * 64,
                         created=clock.now())
        kept = ApiToken(id=ids.new_id(), organisation_id=contoso.id, admin_id=ada.id, digest="b" * 64,
                        created=clock.now())
        store.run(lambda uow: (uow.tokens.add(token), uow.tokens.add(kept)))

        store.run(lambda uow: uow.members.remove(contoso.id, bjensen.id))

        assert store.run(lambda uow: uow.tokens.find_by_digest("a" * 64)) is None
        assert store.run(lambda uow: uow.tokens.list_for_organisation(contoso.id)) == [kept]

    # -- tokens ----------------------------------------------------------------------------------------

    @pytest.fixture
    def admin(self, store, people, contoso) -> Member:
        admin = replace(people.member(contoso, "ada@contoso.example"), is_admin=True, api_access=True)
        self.add(store, admin)
        return admin

    def test_token_is_found_by_its_digest(self, store, ids, clock, contoso, admin):
        """find_by_digest returns the stored token, revoked or not; an unknown digest finds None."""
        token = ApiToken(id=ids.new_id(), organisation_id=contoso.id, admin_id=admin.id, digest="c0ffee" * 8,
                         created=clock.now())
        revoked = ApiToken(id=ids.new_id(), organisation_id=contoso.id, admin_id=admin.id, digest="dead" * 16,
                           created=clock.now(), revoked=clock.advance(60))
        store.run(lambda uow: (uow.tokens.add(token), uow.tokens.add(revoked)))

        assert store.run(lambda uow: uow.tokens.find_by_digest("c0ffee" * 8)) == token
        assert store.run(lambda uow: uow.tokens.find_by_digest("dead" * 16)) == revoked
        assert store.run(lambda uow: uow.tokens.find_by_digest("f" * 64)) is None

    def test_mark_used_records_the_time(self, store, ids, clock, contoso, admin):
        """mark_used stores when the token was last used, to the microsecond; nothing else changes."""
        token = ApiToken(id=ids.new_id(), organisation_id=contoso.id, admin_id=admin.id, digest="c0ffee" * 8,
                         created=clock.now())
        store.run(lambda uow: uow.tokens.add(token))
        used = clock.advance(90.000042)

        store.run(lambda uow: uow.tokens.mark_used(token.id, used))

        assert store.run(lambda uow: uow.tokens.find_by_digest(token.digest)) == replace(token, last_used=used)

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

    def race(self, work: Callable[[int], object]) -> list[object]:
        """Run ``work(0..WRITERS-1)`` in as many threads released at once; each outcome is the result
        or the exception raised."""
        barrier = threading.Barrier(WRITERS)
        outcomes: list[object] = [None] * WRITERS

        def writer(n: int) -> None:
            try:
                barrier.wait(timeout=30)
                outcomes[n] = work(n)
            except BaseException as error:  # reported below, never lost in a thread
                outcomes[n] = error

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not any(thread.is_alive() for thread in threads), "a writer is stuck"
        return outcomes

    def test_concurrent_adds_of_one_user_name_let_exactly_one_win(self, store, people, contoso):
        """Eight simultaneous requests creating bjensen: one succeeds, seven get a userName conflict."""
        candidates = [people.member(contoso, "bjensen" if n % 2 else "BJensen") for n in range(WRITERS)]

        outcomes = self.race(lambda n: self.add(store, candidates[n]))

        winners = [n for n, outcome in enumerate(outcomes) if outcome is None]
        losers = [outcome for outcome in outcomes if outcome is not None]
        assert len(winners) == 1, outcomes
        assert all(isinstance(o, UniquenessConflict) and o.attribute == "userName" for o in losers), outcomes
        assert self.search(store, contoso).members == (candidates[winners[0]],)

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

        outcomes = self.race(edit)

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
        """A committed unit's rows are in the tables, read on a connection of their own."""
        self.add(store, people.member(contoso, "bjensen", **bjensen_fields()))

        assert (store.rows(organisations), store.rows(members), store.rows(member_email_keys)) == (1, 1, 2)

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
            uow.members.search(contoso.id, MemberQuery())

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

    @pytest.mark.parametrize("fields", [
        {"user_name": "bjensen\x00"},
        {"user_name": "bjensen", "emails": (Email(value="bjensen@contoso.example\x00"),)},
        {"user_name": "bjensen", "title": "Tour\x00Guide"},
    ], ids=["userName", "e-mail", "title"])
    def test_text_postgresql_cannot_store_is_an_invalid_value(self, store, people, contoso, fields):
        """A NUL character, which PostgreSQL text cannot hold, is refused as InvalidValue, not a 500."""
        user_name = fields.pop("user_name")

        with pytest.raises(InvalidValue):
            self.add(store, people.member(contoso, user_name, **fields))

    def test_nul_inside_json_attributes_round_trips(self, store, people, contoso):
        """JSON escapes NUL, so a phone number's display may hold one and reads back unchanged."""
        bjensen = people.member(contoso, "bjensen", phone_numbers=(PhoneNumber(value="+1 555", display="a\x00b"),))
        self.add(store, bjensen)

        assert self.get(store, contoso, bjensen.id) == bjensen
