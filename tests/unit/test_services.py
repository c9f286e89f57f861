"""The use cases identity providers drive, over the in-memory store: provision, update, replace, soft and hard
delete, get, query, and onboarding (ENTRA.md §8-§12)."""
from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from tests.support import START, FixedClock
from wiggledesk_scim.domain.access import StoredTokenAuthority, digest
from wiggledesk_scim.domain.errors import (AccessRefused, InvalidValue, NotFound, OrganisationNameTaken,
                                           UniquenessConflict, VersionMismatch)
from wiggledesk_scim.domain.model import Email, EnterpriseInfo, MemberFields, Name, PhoneNumber
from wiggledesk_scim.adapters.memory import InMemoryMemberRepository, InMemoryUnitOfWork
from wiggledesk_scim.domain.query import (Compare, Query, Operator)
from tests.support import Attribute, COLLECTIONS
from wiggledesk_scim.domain.services import UPDATE_ATTEMPTS, MemberService, add_member, onboard

NEVER_USED_ID = "00000000-0000-4000-8000-999999999999"


def bjensen(**changes) -> MemberFields:
    fields = MemberFields(
        user_name="bjensen@contoso.example",
        external_id="bjensen",
        name=Name(family_name="Jensen", given_name="Barbara"),
        display_name="Babs Jensen",
        emails=(Email("bjensen@contoso.example", type="work", primary=True),),
        enterprise=EnterpriseInfo(department="Tour Operations"),
    )
    return dataclasses.replace(fields, **changes)


def retitle(title: str):
    return lambda fields: dataclasses.replace(fields, title=title)


def nick_name(value: str):
    return lambda fields: dataclasses.replace(fields, nick_name=value)


def user_names(members: MemberService, organisation_id: str) -> list[str]:
    return [m.user_name for m in members.query(organisation_id, Query()).resources]


# -- provision ----------------------------------------------------------------------------------------------

def test_provision_assigns_id_created_and_version_1(members, contoso, clock):
    """A new member gets the next id from the id generator, the clock's time as created and version 1."""
    clock.advance(30)

    member = members.provision(contoso.organisation.id, bjensen())

    # Ids 1-6 went to the two onboardings.
    assert member.id == "00000000-0000-4000-8000-000000000007"
    assert (member.organisation_id, member.fields, member.version) == (contoso.organisation.id, bjensen(), 1)
    assert member.created == member.last_modified == clock.now()


def test_a_provisioned_member_is_stored(members, contoso):
    """What provision returns is what a later get reads."""
    member = members.provision(contoso.organisation.id, bjensen())

    assert members.get(contoso.organisation.id, member.id) == member


def test_a_provisioned_member_is_neither_admin_nor_api_user(members, contoso):
    """Identity providers create plain members: admin rights and API access are granted in WiggleDesk."""
    member = members.provision(contoso.organisation.id, bjensen())

    assert (member.is_admin, member.api_access) == (False, False)


@pytest.mark.parametrize("taken", ["bjensen@contoso.example", "BJensen@Contoso.Example",
                                   "BJENSEN@CONTOSO.EXAMPLE"])
def test_username_differing_only_in_case_is_a_conflict(members, contoso, taken):
    """userName is unique ignoring case (ENTRA.md §8), and a refused provision stores nothing."""
    members.provision(contoso.organisation.id, bjensen())
    count = members.uow.members.count(contoso.organisation.id)

    with pytest.raises(UniquenessConflict) as refused:
        members.provision(contoso.organisation.id, MemberFields(user_name=taken))

    assert (refused.value.attribute, refused.value.value) == ("userName", taken)
    assert refused.value.detail == f'userName "{taken}" is already used by another member'
    with members.uow:
        assert members.uow.members.count(contoso.organisation.id) == count


def test_duplicate_external_id_is_a_conflict(members, contoso):
    """externalId is unique within an organisation, and a refused provision stores nothing."""
    members.provision(contoso.organisation.id, bjensen())

    with pytest.raises(UniquenessConflict) as refused:
        members.provision(contoso.organisation.id, MemberFields(user_name="babs@contoso.example",
                                                                external_id="bjensen"))

    assert refused.value.attribute == "externalId"
    assert user_names(members, contoso.organisation.id) == ["ada@contoso.example", "bjensen@contoso.example"]


def test_external_id_is_compared_exactly(members, contoso):
    """externalId is caseExact (RFC 7643 §3.1): "BJensen" is not the same as "bjensen"."""
    members.provision(contoso.organisation.id, bjensen())

    other = members.provision(contoso.organisation.id, MemberFields(user_name="babs@contoso.example",
                                                                    external_id="BJensen"))

    assert other.external_id == "BJensen"


def test_members_without_external_id_do_not_conflict(members, contoso):
    """An absent externalId is no value, so any number of members may lack one."""
    members.provision(contoso.organisation.id, MemberFields(user_name="bjensen@contoso.example"))
    members.provision(contoso.organisation.id, MemberFields(user_name="jsmith@contoso.example"))

    assert len(user_names(members, contoso.organisation.id)) == 3


def test_same_username_and_external_id_in_two_organisations_are_fine(members, contoso, fabrikam):
    """Uniqueness holds within one organisation; another organisation may use the same values (ENTRA.md §2)."""
    in_contoso = members.provision(contoso.organisation.id, bjensen())
    in_fabrikam = members.provision(fabrikam.organisation.id, bjensen())

    assert in_contoso.id != in_fabrikam.id
    assert members.get(fabrikam.organisation.id, in_fabrikam.id).fields == bjensen()


def test_manager_from_the_same_organisation_is_accepted(members, contoso):
    """A member's manager may be any member of the same organisation."""
    member = members.provision(contoso.organisation.id,
                               bjensen(enterprise=EnterpriseInfo(manager_id=contoso.admin.id)))

    assert members.get(contoso.organisation.id, member.id).fields.enterprise.manager_id == contoso.admin.id


def test_manager_from_another_organisation_is_invalid_like_an_unknown_id(members, contoso, fabrikam):
    """Another organisation's member id is refused with the same message as an id that never existed (§9.6)."""
    def refusal(manager_id: str) -> str:
        with pytest.raises(InvalidValue) as refused:
            members.provision(contoso.organisation.id,
                              bjensen(enterprise=EnterpriseInfo(manager_id=manager_id)))
        return refused.value.detail.replace(manager_id, "<id>")

    assert refusal(fabrikam.admin.id) == refusal(NEVER_USED_ID)
    assert "manager" in refusal(fabrikam.admin.id)
    assert user_names(members, contoso.organisation.id) == ["ada@contoso.example"]


def test_update_cannot_set_a_manager_from_another_organisation(members, contoso, fabrikam):
    """The manager rule also holds for a change (Entra sets the manager by PATCH), and the member stays."""
    member = members.provision(contoso.organisation.id, bjensen())

    with pytest.raises(InvalidValue):
        members.update(contoso.organisation.id, member.id, lambda fields: dataclasses.replace(
            fields, enterprise=EnterpriseInfo(manager_id=fabrikam.admin.id)))

    assert members.get(contoso.organisation.id, member.id) == member


# -- get and query ------------------------------------------------------------------------------------------

def test_get_of_an_unknown_id_is_not_found(members, contoso):
    """An id that never existed is simply not found."""
    with pytest.raises(NotFound):
        members.get(contoso.organisation.id, NEVER_USED_ID)


def test_another_organisations_member_is_not_found(members, contoso, fabrikam):
    """A member of Fabrikam does not exist for Contoso, with the same message as an unknown id."""
    with pytest.raises(NotFound) as other:
        members.get(contoso.organisation.id, fabrikam.admin.id)
    with pytest.raises(NotFound) as unknown:
        members.get(contoso.organisation.id, NEVER_USED_ID)

    assert other.value.detail.replace(fabrikam.admin.id, "<id>") == unknown.value.detail.replace(NEVER_USED_ID,
                                                                                                  "<id>")


def test_query_sees_only_the_organisations_own_members(members, contoso, fabrikam):
    """Queries are confined to one organisation: a userName matching in Contoso matches nothing in Fabrikam."""
    members.provision(contoso.organisation.id, bjensen())
    by_user_name = Query(filter=Compare(Attribute.USER_NAME, Operator.EQ, "bjensen@contoso.example"))

    assert user_names(members, contoso.organisation.id) == ["ada@contoso.example", "bjensen@contoso.example"]
    assert user_names(members, fabrikam.organisation.id) == ["grace@fabrikam.example"]
    assert members.query(contoso.organisation.id, by_user_name).total == 1
    assert members.query(fabrikam.organisation.id, by_user_name).total == 0


def test_query_counts_every_match_before_paging(members, contoso, clock):
    """``total`` counts all matches, and a page holds members in creation order (RFC 7644 §3.4.2.4)."""
    for name in ("bjensen", "jsmith", "mmustermann"):
        clock.advance()
        members.provision(contoso.organisation.id, MemberFields(user_name=f"{name}@contoso.example"))

    page = members.query(contoso.organisation.id, Query(start_index=2, count=2))

    assert page.total == 4
    assert [m.user_name for m in page.resources] == ["bjensen@contoso.example", "jsmith@contoso.example"]


# -- update --------------------------------------------------------------------------------------------------

def test_update_applies_the_edit_and_bumps_the_version(members, contoso, clock):
    """An edit that changes content is stored with version + 1 and the time of the change."""
    member = members.provision(contoso.organisation.id, bjensen())
    clock.advance(60)

    updated = members.update(contoso.organisation.id, member.id, retitle("Tour Guide"))

    assert (updated.fields.title, updated.version, updated.last_modified) == ("Tour Guide", 2, clock.now())
    assert updated.created == START
    assert members.get(contoso.organisation.id, member.id) == updated


def test_a_no_op_edit_keeps_the_version(members, contoso, clock):
    """An edit that leaves the content as it was is no change: same version, same last_modified."""
    member = members.provision(contoso.organisation.id, bjensen())
    clock.advance(60)

    same = members.update(contoso.organisation.id, member.id, lambda fields: dataclasses.replace(fields))

    assert same == member
    assert members.get(contoso.organisation.id, member.id).version == 1


def test_update_with_the_current_version_applies(members, contoso):
    """An If-Match on the version just read lets the change through."""
    member = members.provision(contoso.organisation.id, bjensen())

    updated = members.update(contoso.organisation.id, member.id, retitle("Tour Guide"), expected_version=1)

    assert updated.version == 2


def test_update_with_an_outdated_version_is_a_version_mismatch(members, contoso):
    """A change against a version that is no longer current is refused (RFC 7644 §3.14); nothing changes."""
    member = members.provision(contoso.organisation.id, bjensen())
    current = members.update(contoso.organisation.id, member.id, retitle("Tour Guide"))

    with pytest.raises(VersionMismatch):
        members.update(contoso.organisation.id, member.id, retitle("Head Tour Guide"), expected_version=1)

    assert members.get(contoso.organisation.id, member.id) == current


def test_update_of_another_organisations_member_is_not_found(members, contoso, fabrikam):
    """Contoso cannot change Fabrikam's member; it is not found, and stays as it was."""
    grace = members.get(fabrikam.organisation.id, fabrikam.admin.id)

    with pytest.raises(NotFound):
        members.update(contoso.organisation.id, fabrikam.admin.id, retitle("Intruder"))

    assert members.get(fabrikam.organisation.id, fabrikam.admin.id) == grace


def test_update_of_an_unknown_member_is_not_found(members, contoso):
    """An edit aimed at an id that never existed is not found."""
    with pytest.raises(NotFound):
        members.update(contoso.organisation.id, NEVER_USED_ID, retitle("Ghost"))


def test_update_to_a_taken_username_is_a_conflict(members, contoso):
    """Renaming a member to another member's userName, in any case, is refused and changes nothing."""
    member = members.provision(contoso.organisation.id, bjensen())

    with pytest.raises(UniquenessConflict) as refused:
        members.update(contoso.organisation.id, member.id,
                       lambda fields: dataclasses.replace(fields, user_name="ADA@contoso.example"))

    assert refused.value.attribute == "userName"
    assert members.get(contoso.organisation.id, member.id) == member


def test_update_to_a_taken_external_id_is_a_conflict(members, contoso):
    """Giving a member another member's externalId is refused and changes nothing."""
    member = members.provision(contoso.organisation.id, bjensen())
    other = members.provision(contoso.organisation.id, MemberFields(user_name="jsmith@contoso.example",
                                                                    external_id="jsmith"))

    with pytest.raises(UniquenessConflict) as refused:
        members.update(contoso.organisation.id, other.id,
                       lambda fields: dataclasses.replace(fields, external_id="bjensen"))

    assert refused.value.attribute == "externalId"
    assert members.get(contoso.organisation.id, member.id) == member
    assert members.get(contoso.organisation.id, other.id) == other


def test_a_member_may_change_the_case_of_their_own_username(members, contoso):
    """A member does not conflict with themselves: "bjensen" may become "BJensen"."""
    member = members.provision(contoso.organisation.id, bjensen())

    updated = members.update(contoso.organisation.id, member.id,
                             lambda fields: dataclasses.replace(fields, user_name="BJensen@Contoso.Example"))

    assert updated.user_name == "BJensen@Contoso.Example"


def test_an_edit_that_fails_changes_nothing(members, contoso):
    """An edit that raises part-way leaves the member exactly as it was (PATCH is all or nothing)."""
    member = members.provision(contoso.organisation.id, bjensen())

    def edit(fields):
        raise InvalidValue("active must be true or false")

    with pytest.raises(InvalidValue):
        members.update(contoso.organisation.id, member.id, edit)

    assert members.get(contoso.organisation.id, member.id) == member


class RivalMembers(InMemoryMemberRepository):
    """Members where another writer gets in between each read and write of an update, ``times`` times.

    The in-memory lock rules that out; a database only notices it at the write (VersionMismatch).
    """

    def __init__(self, store, rival_edit, times: int):
        super().__init__(store)
        self.rival_edit, self.times = rival_edit, times

    def update(self, member, *, expected_version, changes=None):
        if self.times > 0:
            self.times -= 1
            stored = self.get(member.organisation_id, member.id)
            rival = stored.with_fields(self.rival_edit(stored.fields), START)
            super().update(rival, expected_version=stored.version)
        super().update(member, expected_version=expected_version, changes=changes)


def with_rival(uow, clock, ids, rival_edit, times: int) -> MemberService:
    rival_uow = InMemoryUnitOfWork(uow.store)
    rival_uow.members = RivalMembers(uow.store, rival_edit, times)
    return MemberService(rival_uow, clock, ids)


def test_a_concurrent_change_is_not_lost_when_no_version_was_asked(members, uow, clock, ids, contoso):
    """Without If-Match, an update that loses a race is re-read and re-applied, so both changes land."""
    member = members.provision(contoso.organisation.id, bjensen())
    racing = with_rival(uow, clock, ids, retitle("Tour Guide"), times=1)

    updated = racing.update(contoso.organisation.id, member.id, nick_name("Babs"))

    assert (updated.fields.title, updated.fields.nick_name, updated.version) == ("Tour Guide", "Babs", 3)
    assert members.get(contoso.organisation.id, member.id) == updated


def test_a_concurrent_change_with_an_expected_version_is_a_version_mismatch(members, uow, clock, ids,
                                                                            contoso):
    """With If-Match, losing the race is a version mismatch: the change is not re-applied to a newer one."""
    member = members.provision(contoso.organisation.id, bjensen())
    racing = with_rival(uow, clock, ids, retitle("Tour Guide"), times=1)

    with pytest.raises(VersionMismatch):
        racing.update(contoso.organisation.id, member.id, nick_name("Babs"), expected_version=1)

    assert members.get(contoso.organisation.id, member.id).fields.nick_name is None


def test_an_update_gives_up_when_the_member_keeps_changing(members, uow, clock, ids, contoso):
    """After UPDATE_ATTEMPTS lost races the update is refused as a version mismatch; none of it is stored."""
    member = members.provision(contoso.organisation.id, bjensen())
    def add_phone(fields: MemberFields) -> MemberFields:
        return dataclasses.replace(fields, phone_numbers=fields.phone_numbers + (PhoneNumber("+1 555 0100"),))
    racing = with_rival(uow, clock, ids, add_phone, times=UPDATE_ATTEMPTS)

    with pytest.raises(VersionMismatch):
        racing.update(contoso.organisation.id, member.id, nick_name("Babs"))

    assert members.get(contoso.organisation.id, member.id).fields.nick_name is None


# -- replace -------------------------------------------------------------------------------------------------

def test_replace_sets_exactly_the_given_fields(members, contoso):
    """PUT replaces everything: attributes absent from the new fields become unassigned (ENTRA.md §11)."""
    member = members.provision(contoso.organisation.id, bjensen())
    new = MemberFields(user_name="bjensen@contoso.example", phone_numbers=(PhoneNumber("+1 555 0100"),))

    replaced = members.replace(contoso.organisation.id, member.id, lambda current: new)

    assert replaced.fields == new
    assert replaced.version == 2


def test_replace_is_recorded_as_a_replace_and_sees_the_current_fields(members, contoso):
    """The replacement is computed from the member as stored (a PUT keeps what it may not clear)."""
    member = members.provision(contoso.organisation.id, bjensen())
    members.deprovision(contoso.organisation.id, member.id)
    seen = []

    def replacement(current):
        seen.append(current)
        return dataclasses.replace(bjensen(title="Tour Guide"), active=current.active)
    replaced = members.replace(contoso.organisation.id, member.id, replacement)

    assert seen[-1].active is False
    assert (replaced.active, replaced.fields.title) == (False, "Tour Guide")


def test_replace_with_an_outdated_version_is_a_version_mismatch(members, contoso):
    """PUT honours If-Match like PATCH does."""
    member = members.provision(contoso.organisation.id, bjensen())
    members.update(contoso.organisation.id, member.id, retitle("Tour Guide"))

    with pytest.raises(VersionMismatch):
        members.replace(contoso.organisation.id, member.id, lambda current: bjensen(), expected_version=1)


# -- deprovision and restore -----------------------------------------------------------------------------------

def test_deprovision_keeps_all_data_and_only_clears_active(members, contoso):
    """A soft delete keeps the member and everything about them, marked inactive (ENTRA.md §10)."""
    member = members.provision(contoso.organisation.id, bjensen())

    members.deprovision(contoso.organisation.id, member.id)

    stored = members.get(contoso.organisation.id, member.id)
    assert stored.fields == bjensen(active=False)
    assert stored.version == 2


def test_restore_brings_the_member_back_with_everything_they_had(members, contoso):
    """Restoring after a deprovision gives back the same content, active again."""
    member = members.provision(contoso.organisation.id, bjensen())
    members.deprovision(contoso.organisation.id, member.id)

    restored = members.restore(contoso.organisation.id, member.id)

    assert restored.fields == member.fields
    assert restored.version == 3


def test_a_deprovisioned_member_still_holds_their_username_and_external_id(members, contoso):
    """Deactivated members keep their userName and externalId (ENTRA.md §8)."""
    member = members.provision(contoso.organisation.id, bjensen())
    members.deprovision(contoso.organisation.id, member.id)

    with pytest.raises(UniquenessConflict):
        members.provision(contoso.organisation.id, bjensen())


def test_a_member_whose_manager_was_deleted_can_still_be_deprovisioned(members, contoso):
    """Hard-deleting a manager must not block later changes to their reports, such as Entra's deprovision."""
    manager = members.provision(contoso.organisation.id, MemberFields(user_name="jsmith@contoso.example"))
    member = members.provision(contoso.organisation.id,
                               bjensen(enterprise=EnterpriseInfo(manager_id=manager.id)))
    members.delete(contoso.organisation.id, manager.id)

    gone = members.deprovision(contoso.organisation.id, member.id)

    assert gone.active is False


# -- delete ----------------------------------------------------------------------------------------------------

def test_a_deleted_member_is_not_found(members, contoso):
    """After a hard delete, get, update and a second delete all answer not found (ENTRA.md §12)."""
    member = members.provision(contoso.organisation.id, bjensen())

    members.delete(contoso.organisation.id, member.id)

    with pytest.raises(NotFound):
        members.get(contoso.organisation.id, member.id)
    with pytest.raises(NotFound):
        members.update(contoso.organisation.id, member.id, retitle("Ghost"))
    with pytest.raises(NotFound):
        members.delete(contoso.organisation.id, member.id)


def test_delete_frees_the_username_and_external_id(members, contoso):
    """A hard-deleted member's userName and externalId may be used again, in any case."""
    member = members.provision(contoso.organisation.id, bjensen())
    members.delete(contoso.organisation.id, member.id)

    again = members.provision(contoso.organisation.id, bjensen(user_name="BJensen@Contoso.Example"))

    assert again.id != member.id
    assert user_names(members, contoso.organisation.id) == ["ada@contoso.example", "BJensen@Contoso.Example"]


def test_delete_revokes_the_members_tokens_and_keeps_them(members, contoso, uow, clock, ids):
    """ENTRA.md §2.1: a deleted admin's tokens are revoked, not deleted (the records stay for the trail and
    the console), and stop working; a token revoked before keeps its time."""
    authority = StoredTokenAuthority(uow, clock, ids)
    earlier, _ = authority.issue_token(contoso.organisation.id, contoso.admin.id, name="old")
    authority.revoke(earlier.id)
    revoked_before = clock.now()
    clock.advance(3600)

    members.delete(contoso.organisation.id, contoso.admin.id)

    with uow:
        tokens = uow.tokens.list_for_organisation(contoso.organisation.id)
    assert {t.name: (t.admin_id, t.revoked) for t in tokens} == {
        "API token": (contoso.admin.id, clock.now()), "old": (contoso.admin.id, revoked_before)}
    with pytest.raises(AccessRefused):
        authority.authenticate(contoso.token)


def test_delete_with_the_current_version_deletes(members, contoso):
    """A DELETE with If-Match on the current version removes the member."""
    member = members.provision(contoso.organisation.id, bjensen())

    members.delete(contoso.organisation.id, member.id, expected_version=1)

    with pytest.raises(NotFound):
        members.get(contoso.organisation.id, member.id)


def test_delete_with_an_outdated_version_is_a_version_mismatch(members, contoso):
    """A DELETE with If-Match on an old version is refused and the member stays (RFC 7644 §3.14)."""
    member = members.provision(contoso.organisation.id, bjensen())
    current = members.update(contoso.organisation.id, member.id, retitle("Tour Guide"))

    with pytest.raises(VersionMismatch):
        members.delete(contoso.organisation.id, member.id, expected_version=1)

    assert members.get(contoso.organisation.id, member.id) == current


def test_delete_of_another_organisations_member_is_not_found(members, contoso, fabrikam):
    """Contoso cannot delete Fabrikam's member; it is not found and stays."""
    with pytest.raises(NotFound):
        members.delete(contoso.organisation.id, fabrikam.admin.id)

    assert members.get(fabrikam.organisation.id, fabrikam.admin.id) == fabrikam.admin


# -- onboarding ------------------------------------------------------------------------------------------------

def test_onboarding_creates_an_organisation_with_api_access_and_its_first_admin(members, contoso, uow):
    """Onboarding stores the organisation (API access on) and an active admin with API access, by e-mail."""
    with uow:
        organisation = uow.organisations.get(contoso.organisation.id)
    admin = members.get(contoso.organisation.id, contoso.admin.id)

    assert (organisation.name, organisation.api_access) == ("Contoso", True)
    assert (admin.user_name, admin.active, admin.is_admin, admin.api_access) == ("ada@contoso.example", True,
                                                                                  True, True)
    assert admin.fields.emails == (Email("ada@contoso.example", type="work", primary=True),)


def test_onboarding_issues_a_token_for_the_first_admin(contoso, authority):
    """The token returned by onboarding works at once, for that admin and organisation."""
    principal = authority.authenticate(contoso.token)

    assert (principal.organisation_id, principal.admin_id) == (contoso.organisation.id, contoso.admin.id)


def test_onboarding_issues_the_first_token_through_the_authority_it_is_given(uow, clock, ids):
    """The first token comes from the injected authority, not one onboarding builds: here the authority's
    clock, an hour ahead of onboarding's, dates the token."""
    later = FixedClock(START + timedelta(hours=1))

    onboarding = onboard(uow, clock, ids, StoredTokenAuthority(uow, later, ids), "Contoso", "ada@contoso.example")

    with uow:
        token = uow.tokens.find_by_digest(digest(onboarding.token))
    assert (token.created, token.admin_id, token.name) == (later.now(), onboarding.admin.id, "API token")
    assert onboarding.admin.created == clock.now() != later.now()


@pytest.mark.parametrize(("name", "email"), [("", "ada@contoso.example"), ("   ", "ada@contoso.example"),
                                              ("Contoso", "ada.contoso.example")])
def test_onboarding_refuses_a_blank_name_or_a_non_address_and_stores_nothing(uow, clock, ids, authority, name,
                                                                             email):
    """An organisation needs a name and its admin an e-mail address; a refused onboarding leaves no trace."""
    with pytest.raises(InvalidValue):
        onboard(uow, clock, ids, authority, name, email)

    with uow:
        assert uow.organisations.list() == []


def test_onboarding_trims_the_organisation_name(uow, clock, ids, authority):
    """Stray spaces around a typed organisation name are not kept."""
    onboarding = onboard(uow, clock, ids, authority, "  Contoso  ", "ada@contoso.example")

    assert onboarding.organisation.name == "Contoso"


@pytest.mark.parametrize("name, email, detail", [
    ("Contoso\x00", "ada@contoso.example", "The organisation's name must not contain the NUL character"),
    ("Contoso", "ada@contoso.example\ud800", "The admin's e-mail address must not contain an unpaired surrogate"),
])
def test_onboarding_refuses_text_no_database_can_store(uow, clock, ids, authority, name, email, detail):
    """The command line's text is checked as SCIM's is: a NUL or half a character is refused, not stored."""
    with pytest.raises(InvalidValue) as caught:
        onboard(uow, clock, ids, authority, name, email)
    assert caught.value.detail.startswith(detail)
    with uow:
        assert uow.organisations.list() == []


@pytest.mark.parametrize("name", ["Contoso", "contoso", "  CONTOSO "])
def test_onboarding_refuses_a_name_an_organisation_has_ignoring_case_and_names_it(uow, clock, ids, authority,
                                                                                 contoso, name):
    """Onboarding run twice is refused: the refusal names the organisation that has the name, and nothing
    is stored (no second Contoso that would make the name ambiguous everywhere ops type it)."""
    with uow:
        before = uow.organisations.list()

    with pytest.raises(OrganisationNameTaken) as refused:
        onboard(uow, clock, ids, authority, name, "ada@contoso.example")

    assert refused.value.detail == f'Organisation {contoso.organisation.id} is already called "Contoso"'
    assert refused.value.holders == (contoso.organisation.id,)
    with uow:
        assert uow.organisations.list() == before


def test_onboarding_may_repeat_a_name_when_told_to_and_then_names_every_holder(uow, clock, ids, authority, contoso):
    """``allow_duplicate_name`` creates a second organisation of the name; a third attempt names both."""
    second = onboard(uow, clock, ids, authority, "CONTOSO", "ada@contoso-emea.example", allow_duplicate_name=True)

    assert second.organisation.name == "CONTOSO" and second.organisation.id != contoso.organisation.id
    with pytest.raises(OrganisationNameTaken) as refused:
        onboard(uow, clock, ids, authority, "Contoso", "ada@contoso-apac.example")
    assert refused.value.detail == (f"Organisations {second.organisation.id}, {contoso.organisation.id} are "
                                    'already called "CONTOSO"')


# -- a member added by ops ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("admin", [True, False])
def test_an_added_member_is_made_as_onboarding_makes_the_first_admin(uow, clock, ids, authority, members, contoso,
                                                                     admin):
    """userName and primary work e-mail the address, active; an admin with API access only if asked."""
    clock.advance(60)

    added = add_member(uow, clock, ids, contoso.organisation.id, "grace@contoso.example", admin=admin)

    stored = members.get(contoso.organisation.id, added.id)
    assert stored == added
    assert (added.user_name, added.active, added.is_admin, added.api_access) == ("grace@contoso.example", True,
                                                                                  admin, admin)
    assert added.fields.emails == (Email("grace@contoso.example", type="work", primary=True),)
    assert added.created == added.last_modified == clock.now()


def test_an_added_admin_can_be_issued_a_token_that_works(uow, clock, ids, authority, contoso):
    """The way back for an organisation whose only admin left: a new admin, then a token for them."""
    added = add_member(uow, clock, ids, contoso.organisation.id, "grace@contoso.example", admin=True)

    principal = authority.authenticate(authority.issue(contoso.organisation.id, added.id))

    assert (principal.organisation_id, principal.admin_id) == (contoso.organisation.id, added.id)


@pytest.mark.parametrize("email", ["ADA@contoso.example", "adele@contoso.example"])
def test_an_address_a_member_has_already_is_refused_naming_them(uow, clock, ids, members, contoso, email):
    """A userName (ignoring case) or an e-mail address a member has already is refused, naming that member;
    nothing is stored."""
    adele = members.provision(contoso.organisation.id, MemberFields(
        user_name="adele", emails=(Email("adele@contoso.example", type="work"),)))
    holder = {"ADA@contoso.example": contoso.admin, "adele@contoso.example": adele}[email]

    with pytest.raises(UniquenessConflict) as refused:
        add_member(uow, clock, ids, contoso.organisation.id, email, admin=True)

    assert refused.value.detail == f"{holder.user_name} is already a member of Contoso (member {holder.id})"
    assert user_names(members, contoso.organisation.id) == ["ada@contoso.example", "adele"]


def test_a_member_is_added_to_an_organisation_that_exists_with_an_address(uow, clock, ids, members, contoso):
    """An unknown organisation is NotFound, a non-address InvalidValue, and neither stores anything."""
    with pytest.raises(NotFound):
        add_member(uow, clock, ids, NEVER_USED_ID, "grace@contoso.example", admin=True)
    with pytest.raises(InvalidValue, match='"grace" is not an e-mail address'):
        add_member(uow, clock, ids, contoso.organisation.id, "grace", admin=True)
    with pytest.raises(InvalidValue, match="The member's e-mail address must not contain the NUL character"):
        add_member(uow, clock, ids, contoso.organisation.id, "grace@contoso.example\x00", admin=True)

    assert user_names(members, contoso.organisation.id) == ["ada@contoso.example"]
