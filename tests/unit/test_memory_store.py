"""The in-memory storage (a product feature): all-or-nothing units of work, the repositories' rules, the query
model evaluated in Python, and safety under concurrent requests."""
from __future__ import annotations

import dataclasses
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from tests.support import START, FixedClock, SequentialIds
from wiggledesk_scim.adapters.memory import InMemoryStore, InMemoryUnitOfWork, matches_filter
from wiggledesk_scim.domain.errors import NotFound, UniquenessConflict, VersionMismatch
from wiggledesk_scim.domain.model import ApiToken, Email, Member, MemberFields, Organisation, PhoneNumber
from wiggledesk_scim.domain.query import (And, AnyValue, Compare, Query, Not, Operator, Or, Present)
from tests.support import Attribute, COLLECTIONS
from wiggledesk_scim.domain.services import MemberService

CONTOSO = Organisation(id="org-contoso", name="Contoso")
FABRIKAM = Organisation(id="org-fabrikam", name="Fabrikam")


def member(member_id: str, user_name: str, *, organisation: Organisation = CONTOSO, minute: int = 0,
           **fields) -> Member:
    at = START + timedelta(minutes=minute)
    return Member(id=member_id, organisation_id=organisation.id,
                  fields=MemberFields(user_name=user_name, **fields), created=at, last_modified=at)


BJENSEN = member("m-bjensen", "bjensen@contoso.example", external_id="bjensen", display_name="Babs Jensen",
                 emails=(Email("bjensen@contoso.example", type="work", primary=True),
                         Email("babs@jensen.example", type="home")))
JSMITH = member("m-jsmith", "jsmith@contoso.example", minute=1)


def eq(attribute: Attribute, value) -> Compare:
    return Compare(attribute, Operator.EQ, value)


def stored(uow: InMemoryUnitOfWork, *members: Member, organisations=(CONTOSO, FABRIKAM)) -> None:
    with uow:
        for organisation in organisations:
            uow.organisations.add(organisation)
        for one in members:
            uow.members.add(one)
        uow.commit()


def user_names(page) -> list[str]:
    return [m.user_name for m in page.resources]


@pytest.fixture
def fresh() -> InMemoryUnitOfWork:
    """A unit of work over an empty store holding just the organisations Contoso and Fabrikam."""
    uow = InMemoryUnitOfWork(InMemoryStore())
    stored(uow)
    return uow


def organisation_names(uow: InMemoryUnitOfWork) -> list[str]:
    with uow:
        return [o.name for o in uow.organisations.list()]


# -- the unit of work: all or nothing -------------------------------------------------------------------------

def test_committed_work_is_kept(fresh):
    """What a block commits is there afterwards."""
    with fresh:
        fresh.members.add(BJENSEN)
        fresh.commit()

    with fresh:
        assert fresh.members.get(CONTOSO.id, BJENSEN.id) == BJENSEN


def test_leaving_without_commit_discards_the_work(fresh):
    """A block that ends without commit() leaves the store as it was before the block."""
    with fresh:
        fresh.members.add(BJENSEN)
        fresh.organisations.update(dataclasses.replace(CONTOSO, api_access=False))

    with fresh:
        assert fresh.members.count(CONTOSO.id) == 0
        assert fresh.organisations.get(CONTOSO.id).api_access is True


def test_an_exception_discards_the_work_even_after_commit(fresh):
    """An exception leaving the block restores the snapshot, committed or not, and is not swallowed."""
    with pytest.raises(RuntimeError, match="boom"):
        with fresh:
            fresh.members.add(BJENSEN)
            fresh.commit()
            raise RuntimeError("boom")

    with fresh:
        assert fresh.members.count(CONTOSO.id) == 0


def test_a_commit_does_not_carry_over_to_the_next_block(fresh):
    """Each block must commit for itself: a commit in one block does not keep the next block's work."""
    with fresh:
        fresh.members.add(BJENSEN)
        fresh.commit()
    with fresh:
        fresh.members.add(JSMITH)

    with fresh:
        assert fresh.members.search(CONTOSO.id, Query()).resources == (BJENSEN,)


def test_a_nested_block_is_discarded_with_its_uncommitted_outer_block(fresh):
    """A committed inner block is still undone when the outer block ends without commit."""
    with fresh:
        fresh.members.add(BJENSEN)
        with fresh:
            fresh.members.add(JSMITH)
            fresh.commit()

    with fresh:
        assert fresh.members.count(CONTOSO.id) == 0


def test_an_uncommitted_nested_block_is_undone_alone(fresh):
    """An inner block without commit is undone, while the outer block's own work is kept on its commit."""
    with fresh:
        fresh.members.add(BJENSEN)
        with fresh:
            fresh.members.add(JSMITH)
        fresh.commit()

    with fresh:
        assert fresh.members.search(CONTOSO.id, Query()).resources == (BJENSEN,)


def test_two_units_of_work_on_one_store_see_each_others_commits(fresh):
    """Units of work share the store: what one commits, another reads."""
    other = InMemoryUnitOfWork(fresh.store)
    with fresh:
        fresh.members.add(BJENSEN)
        fresh.commit()

    with other:
        assert other.members.get(CONTOSO.id, BJENSEN.id) == BJENSEN


def test_a_block_keeps_other_threads_out_until_it_ends(fresh):
    """While one block is open, another thread's block waits, then sees the committed result."""
    seen: list[int] = []

    def count_in_another_thread():
        other = InMemoryUnitOfWork(fresh.store)
        with other:
            seen.append(other.members.count(CONTOSO.id))

    with fresh:
        fresh.members.add(BJENSEN)
        thread = threading.Thread(target=count_in_another_thread)
        thread.start()
        thread.join(timeout=0.05)
        assert thread.is_alive(), "the other thread read the store while a block was open"
        fresh.commit()
    thread.join(timeout=5)

    assert seen == [1]


def test_a_failed_block_lets_other_threads_in(fresh):
    """The lock is released even when the block fails, so the store never stays blocked."""
    with pytest.raises(RuntimeError):
        with fresh:
            raise RuntimeError("boom")
    done = threading.Event()

    def enter_in_another_thread():
        with InMemoryUnitOfWork(fresh.store):
            done.set()

    thread = threading.Thread(target=enter_in_another_thread)
    thread.start()
    thread.join(timeout=5)

    assert done.is_set()


# -- organisations and tokens ----------------------------------------------------------------------------------

def test_organisations_are_listed_by_name():
    """The organisation list is ordered by name, then id."""
    uow = InMemoryUnitOfWork(InMemoryStore())
    stored(uow, organisations=(Organisation("o-3", "Fabrikam"), Organisation("o-2", "Contoso"),
                               Organisation("o-1", "Contoso")))

    with uow:
        assert [(o.name, o.id) for o in uow.organisations.list()] == [("Contoso", "o-1"), ("Contoso", "o-2"),
                                                                       ("Fabrikam", "o-3")]


def test_an_unknown_organisation_is_not_found(fresh):
    """Reading or updating an organisation that does not exist is not found, and creates nothing."""
    ghost = Organisation("org-ghost", "Northwind")
    with fresh:
        with pytest.raises(NotFound):
            fresh.organisations.get(ghost.id)
        with pytest.raises(NotFound):
            fresh.organisations.update(ghost)

    assert organisation_names(fresh) == ["Contoso", "Fabrikam"]


def token(token_id: str, admin: Member, *, minute: int = 0, **changes) -> ApiToken:
    return ApiToken(id=token_id, organisation_id=admin.organisation_id, admin_id=admin.id,
                    digest=f"digest-{token_id}", created=START + timedelta(minutes=minute), **changes)


def test_tokens_are_found_by_digest_revoked_or_not(fresh):
    """find_by_digest returns the token with that digest, revoked ones included; None for an unknown digest."""
    revoked = token("t-2", BJENSEN, revoked=START)
    with fresh:
        fresh.tokens.add(token("t-1", BJENSEN))
        fresh.tokens.add(revoked)

        assert fresh.tokens.find_by_digest("digest-t-2") == revoked
        assert fresh.tokens.find_by_digest("digest-t-1").id == "t-1"
        assert fresh.tokens.find_by_digest("digest-unknown") is None


def test_mark_used_records_the_time_on_that_token_only(fresh):
    """Marking one token used sets its last_used and leaves the others alone."""
    with fresh:
        fresh.tokens.add(token("t-1", BJENSEN))
        fresh.tokens.add(token("t-2", BJENSEN))
        fresh.tokens.mark_used("t-1", START + timedelta(hours=1))

        assert fresh.tokens.find_by_digest("digest-t-1").last_used == START + timedelta(hours=1)
        assert fresh.tokens.find_by_digest("digest-t-2").last_used is None


def test_mark_used_of_a_vanished_token_writes_nothing(fresh):
    """Marking a token that was removed meanwhile (its owner deleted) is harmless and stores nothing."""
    with fresh:
        fresh.tokens.mark_used("t-gone", START)

        assert fresh.tokens.list_for_organisation(CONTOSO.id) == []


def test_an_organisations_tokens_are_listed_oldest_first(fresh):
    """list_for_organisation gives that organisation's tokens by creation time, and no other's."""
    grace = member("m-grace", "grace@fabrikam.example", organisation=FABRIKAM)
    with fresh:
        fresh.tokens.add(token("t-new", BJENSEN, minute=5))
        fresh.tokens.add(token("t-old", JSMITH, minute=1))
        fresh.tokens.add(token("t-fabrikam", grace))

        assert [t.id for t in fresh.tokens.list_for_organisation(CONTOSO.id)] == ["t-old", "t-new"]


# -- members ---------------------------------------------------------------------------------------------------

def test_the_store_itself_refuses_a_second_username_in_any_case(fresh):
    """Uniqueness is the store's own rule, so a writer that skipped the service's check still cannot win."""
    stored(fresh, BJENSEN, organisations=())

    with fresh, pytest.raises(UniquenessConflict) as refused:
        fresh.members.add(member("m-babs", "BJENSEN@contoso.example"))

    assert refused.value.attribute == "userName"


def test_the_store_itself_refuses_a_second_external_id(fresh):
    """Two members of one organisation never share an externalId, even when written past the service."""
    stored(fresh, BJENSEN, organisations=())

    with fresh, pytest.raises(UniquenessConflict) as refused:
        fresh.members.add(member("m-babs", "babs@contoso.example", external_id="bjensen"))

    assert refused.value.attribute == "externalId"


def test_the_store_accepts_the_same_username_in_another_organisation(fresh):
    """The same userName and externalId may live in two organisations."""
    stored(fresh, BJENSEN, dataclasses.replace(BJENSEN, id="m-bjensen-fabrikam", organisation_id=FABRIKAM.id),
           organisations=())

    with fresh:
        assert (fresh.members.count(CONTOSO.id), fresh.members.count(FABRIKAM.id)) == (1, 1)


def test_another_organisations_member_is_invisible_to_get_and_find(fresh):
    """Asked within Fabrikam, Contoso's bjensen is not found by id, userName or externalId."""
    stored(fresh, BJENSEN, organisations=())

    with fresh:
        with pytest.raises(NotFound):
            fresh.members.get(FABRIKAM.id, BJENSEN.id)
        assert fresh.members.find(FABRIKAM.id, user_name="bjensen@contoso.example") is None
        assert fresh.members.find(FABRIKAM.id, external_id="bjensen") is None
        assert fresh.members.search(FABRIKAM.id, Query()).total == 0


def test_find_by_username_ignores_case(fresh):
    """The matching query by userName finds the member whatever the case (Entra's first lookup)."""
    stored(fresh, BJENSEN, JSMITH, organisations=())

    with fresh:
        assert fresh.members.find(CONTOSO.id, user_name="BJensen@CONTOSO.example") == BJENSEN


def test_find_by_external_id_is_exact(fresh):
    """The matching query by externalId finds only the exact value."""
    stored(fresh, BJENSEN, JSMITH, organisations=())

    with fresh:
        assert fresh.members.find(CONTOSO.id, external_id="bjensen") == BJENSEN
        assert fresh.members.find(CONTOSO.id, external_id="BJensen") is None


def test_search_orders_by_creation_and_counts_before_paging(fresh):
    """Pages follow creation order (then id), and total counts every match, on every page."""
    later = member("m-aaron", "aaron@contoso.example", minute=2)
    same_time = member("m-0-early-id", "zoe@contoso.example", minute=1)
    stored(fresh, later, JSMITH, BJENSEN, same_time, organisations=())

    with fresh:
        everyone = fresh.members.search(CONTOSO.id, Query())
        second_page = fresh.members.search(CONTOSO.id, Query(start_index=3, count=2))

    assert user_names(everyone) == ["bjensen@contoso.example", "zoe@contoso.example", "jsmith@contoso.example",
                                    "aaron@contoso.example"]
    assert (second_page.total, user_names(second_page), second_page.start_index) == (
        4, ["jsmith@contoso.example", "aaron@contoso.example"], 3)


@pytest.mark.parametrize(("start_index", "count", "expected"), [
    (5, 10, []),
    (1, 0, []),
    (0, 1, ["bjensen@contoso.example"]),
])
def test_a_page_outside_the_matches_is_empty_but_still_counts_them(fresh, start_index, count, expected):
    """Past the end, or a count of 0, gives no members with the full total; a start below 1 counts as 1."""
    stored(fresh, BJENSEN, JSMITH, organisations=())

    with fresh:
        page = fresh.members.search(CONTOSO.id, Query(start_index=start_index, count=count))

    assert (page.total, user_names(page)) == (2, expected)


def test_search_applies_the_filter(fresh):
    """Only members matching the filter are counted and returned."""
    stored(fresh, BJENSEN, JSMITH, organisations=())

    with fresh:
        page = fresh.members.search(CONTOSO.id, Query(filter=eq(Attribute.EXTERNAL_ID, "bjensen")))

    assert (page.total, user_names(page)) == (1, ["bjensen@contoso.example"])


def test_update_with_a_stale_version_is_refused(fresh):
    """The store replaces a member only if its version is still the one the writer read."""
    stored(fresh, BJENSEN, organisations=())
    changed = BJENSEN.with_fields(dataclasses.replace(BJENSEN.fields, title="Tour Guide"), START)

    with fresh, pytest.raises(VersionMismatch):
        fresh.members.update(changed, expected_version=7)

    with fresh:
        assert fresh.members.get(CONTOSO.id, BJENSEN.id) == BJENSEN


def test_update_of_a_removed_member_is_not_found(fresh):
    """A member that was deleted cannot be written back."""
    stored(fresh, BJENSEN, organisations=())
    with fresh:
        fresh.members.remove(CONTOSO.id, BJENSEN.id)
        fresh.commit()

    with fresh, pytest.raises(NotFound):
        fresh.members.update(BJENSEN.with_fields(MemberFields(user_name="bjensen"), START), expected_version=1)


def test_update_to_a_taken_username_is_refused_by_the_store(fresh):
    """The store checks uniqueness on update too, ignoring case."""
    stored(fresh, BJENSEN, JSMITH, organisations=())
    renamed = JSMITH.with_fields(dataclasses.replace(JSMITH.fields, user_name="BJENSEN@contoso.example"), START)

    with fresh, pytest.raises(UniquenessConflict):
        fresh.members.update(renamed, expected_version=1)


def test_remove_deletes_the_member_and_leaves_their_tokens(fresh):
    """Removing a member leaves every token where it is (revoking a deleted admin's tokens is the service's,
    ``ApiTokenRepository.revoke_all_of``), as the SQL store, which has no foreign key to cascade, does."""
    stored(fresh, BJENSEN, JSMITH, organisations=())
    with fresh:
        fresh.tokens.add(token("t-bjensen", BJENSEN))
        fresh.tokens.add(token("t-jsmith", JSMITH))
        fresh.members.remove(CONTOSO.id, BJENSEN.id)
        fresh.commit()

    with fresh:
        assert fresh.members.search(CONTOSO.id, Query()).resources == (JSMITH,)
        assert [(t.id, t.revoked) for t in fresh.tokens.list_for_organisation(CONTOSO.id)] == [
            ("t-bjensen", None), ("t-jsmith", None)]


def test_remove_of_another_organisations_member_is_not_found(fresh):
    """Fabrikam cannot remove Contoso's member: not found, and the member stays."""
    stored(fresh, BJENSEN, organisations=())

    with fresh, pytest.raises(NotFound):
        fresh.members.remove(FABRIKAM.id, BJENSEN.id)

    with fresh:
        assert fresh.members.count(CONTOSO.id) == 1


# -- the query model in Python ---------------------------------------------------------------------------------

WORK = eq(Attribute.EMAIL_TYPE, "work")
HOME_ADDRESS = eq(Attribute.EMAIL_VALUE, "babs@jensen.example")


def test_any_email_needs_one_entry_to_satisfy_the_whole_condition():
    """emails[type eq "work" and value eq …] matches only when the same e-mail entry has both."""
    assert not matches_filter(BJENSEN, AnyValue(COLLECTIONS["emails"], And(WORK, HOME_ADDRESS)))
    assert matches_filter(BJENSEN, AnyValue(COLLECTIONS["emails"], And(eq(Attribute.EMAIL_TYPE, "home"), HOME_ADDRESS)))


def test_email_attributes_outside_brackets_may_match_different_entries():
    """emails.type eq "work" and emails.value eq … test all e-mails separately (RFC 7644 §3.4.2.2)."""
    assert matches_filter(BJENSEN, And(WORK, HOME_ADDRESS))


@pytest.mark.parametrize(("node", "matches"), [
    (eq(Attribute.EMAIL_VALUE, "BJensen@Contoso.Example"), True),
    (eq(Attribute.EMAIL_VALUE, "BABS@JENSEN.EXAMPLE"), True),
    (eq(Attribute.EMAIL_VALUE, "ada@contoso.example"), False),
    (eq(Attribute.EMAIL_TYPE, "WORK"), True),
    (eq(Attribute.USER_NAME, "BJENSEN@contoso.example"), True),
    (eq(Attribute.USER_NAME, "bjensen"), False),
    (eq(Attribute.DISPLAY_NAME, "babs jensen"), True),
    (eq(Attribute.EXTERNAL_ID, "bjensen"), True),
    (eq(Attribute.EXTERNAL_ID, "BJensen"), False),
    (eq(Attribute.ID, "m-bjensen"), True),
    (eq(Attribute.ID, "M-BJENSEN"), False),
    (eq(Attribute.ACTIVE, True), True),
    (eq(Attribute.ACTIVE, False), False),
])
def test_eq_ignores_case_except_for_identifiers(node, matches):
    """emails, userName and displayName compare ignoring case; id and externalId exactly (RFC 7643 §3.1)."""
    assert matches_filter(BJENSEN, node) is matches


def test_eq_on_active_tells_deprovisioned_members_apart():
    """active eq false finds a deprovisioned member and active eq true does not."""
    gone = BJENSEN.with_fields(dataclasses.replace(BJENSEN.fields, active=False), START)

    assert matches_filter(gone, eq(Attribute.ACTIVE, False))
    assert not matches_filter(gone, eq(Attribute.ACTIVE, True))


@pytest.mark.parametrize(("candidate", "attribute", "present"), [
    (BJENSEN, Attribute.DISPLAY_NAME, True),
    (JSMITH, Attribute.DISPLAY_NAME, False),
    (member("m-blank", "blank@contoso.example", display_name=""), Attribute.DISPLAY_NAME, False),
    (BJENSEN, Attribute.EXTERNAL_ID, True),
    (JSMITH, Attribute.EXTERNAL_ID, False),
    (BJENSEN, Attribute.EMAIL_VALUE, True),
    (JSMITH, Attribute.EMAIL_VALUE, False),
    (BJENSEN, Attribute.USER_NAME, True),
])
def test_pr_means_the_attribute_has_a_non_empty_value(candidate, attribute, present):
    """attribute pr matches when the member has a value for it; null and "" are no value (RFC 7644 §3.4.2.2)."""
    assert matches_filter(candidate, Present(attribute)) is present


def test_not_inverts_its_operand():
    """not (userName eq "bjensen@…") matches everyone but bjensen."""
    node = Not(eq(Attribute.USER_NAME, "bjensen@contoso.example"))

    assert (matches_filter(BJENSEN, node), matches_filter(JSMITH, node)) == (False, True)


def test_or_matches_when_either_side_does():
    """userName eq a or userName eq b matches both members and no third."""
    node = Or(eq(Attribute.USER_NAME, "bjensen@contoso.example"),
              eq(Attribute.USER_NAME, "jsmith@contoso.example"))
    third = member("m-ada", "ada@contoso.example")

    assert [matches_filter(m, node) for m in (BJENSEN, JSMITH, third)] == [True, True, False]


def test_and_needs_both_sides():
    """userName eq bjensen and externalId eq someone-else matches nobody."""
    assert not matches_filter(BJENSEN, And(eq(Attribute.USER_NAME, "bjensen@contoso.example"),
                                           eq(Attribute.EXTERNAL_ID, "jsmith")))


def test_eq_null_matches_only_a_missing_value():
    """externalId eq null finds members without an externalId, and not those with one."""
    node = eq(Attribute.EXTERNAL_ID, None)

    assert (matches_filter(BJENSEN, node), matches_filter(JSMITH, node)) == (False, True)


# -- concurrency -----------------------------------------------------------------------------------------------

THREADS = 8


def run_together(action) -> list:
    """Run ``action(i)`` for i in 0..THREADS-1 in as many threads, released at once; results or exceptions."""
    barrier = threading.Barrier(THREADS)

    def run(i):
        barrier.wait(timeout=10)
        return action(i)

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        futures = [pool.submit(run, i) for i in range(THREADS)]
        return [f.exception(timeout=30) or f.result() for f in futures]


class SlowIds(SequentialIds):
    """Ids that take a moment, which widens the window between a provision's check and its write."""

    def new_id(self) -> str:
        time.sleep(0.002)
        return super().new_id()


def services(store: InMemoryStore, *, shared: bool) -> list[MemberService]:
    """One service for all threads, or one per thread with its own unit of work as per request in production."""
    clock, ids = FixedClock(), SlowIds()
    if shared:
        return [MemberService(InMemoryUnitOfWork(store), clock, ids)] * THREADS
    return [MemberService(InMemoryUnitOfWork(store), clock, ids) for _ in range(THREADS)]


@pytest.mark.parametrize("shared", [True, False], ids=["one service", "a unit of work per thread"])
def test_concurrent_updates_of_one_member_lose_nothing(shared):
    """Eight threads each adding a phone number to bjensen at once: all eight numbers land, version 9."""
    store = InMemoryStore()
    per_thread = services(store, shared=shared)
    stored(per_thread[0].uow, BJENSEN)

    def add_phone(i: int):
        def edit(fields: MemberFields) -> MemberFields:
            time.sleep(0.002)  # widens the window between reading the member and writing it back
            phone = PhoneNumber(f"+1 555 010{i}", type="mobile")
            return dataclasses.replace(fields, phone_numbers=fields.phone_numbers + (phone,))
        return per_thread[i].update(CONTOSO.id, BJENSEN.id, edit)

    outcomes = run_together(add_phone)

    assert [o for o in outcomes if isinstance(o, BaseException)] == []
    final = per_thread[0].get(CONTOSO.id, BJENSEN.id)
    assert sorted(p.value for p in final.fields.phone_numbers) == [f"+1 555 010{i}" for i in range(THREADS)]
    assert final.version == 1 + THREADS


@pytest.mark.parametrize("shared", [True, False], ids=["one service", "a unit of work per thread"])
def test_concurrent_provisions_of_one_username_create_exactly_one_member(shared):
    """Eight simultaneous creates of bjensen (in various cases): one member, seven uniqueness conflicts (§8)."""
    store = InMemoryStore()
    per_thread = services(store, shared=shared)
    stored(per_thread[0].uow)
    spellings = ["bjensen@contoso.example", "BJensen@contoso.example"]

    outcomes = run_together(lambda i: per_thread[i].provision(
        CONTOSO.id, MemberFields(user_name=spellings[i % 2])))

    created = [o for o in outcomes if isinstance(o, Member)]
    conflicts = [o for o in outcomes if isinstance(o, UniquenessConflict)]
    assert (len(created), len(conflicts)) == (1, THREADS - 1)
    page = per_thread[0].query(CONTOSO.id, Query())
    assert (page.total, page.resources) == (1, tuple(created))
