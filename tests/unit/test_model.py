"""The rules a member carries with it: versions, soft delete, userName keys, immutability."""
from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from tests.support import START
from wiggledesk_scim.domain.model import (ApiToken, Address, Email, EnterpriseInfo, Member, MemberFields, Name,
                                          PhoneNumber, case_key)

LATER = START + timedelta(minutes=5)


def bjensen(**changes) -> Member:
    """Barbara Jensen of Contoso, as RFC 7643's examples know her, at version 3."""
    fields = MemberFields(
        user_name="bjensen@contoso.example",
        external_id="bjensen",
        name=Name(formatted="Ms. Barbara J Jensen, III", family_name="Jensen", given_name="Barbara"),
        display_name="Babs Jensen",
        title="Tour Guide",
        emails=(Email("bjensen@contoso.example", type="work", primary=True),
                Email("babs@jensen.example", type="home")),
        phone_numbers=(PhoneNumber("+1 555 555 5555", type="work"),),
        addresses=(Address(street_address="100 Universal City Plaza", locality="Hollywood", region="CA",
                           postal_code="91608", country="US", type="work"),),
        enterprise=EnterpriseInfo(employee_number="701984", department="Tour Operations",
                                  manager_id="00000000-0000-4000-8000-000000000002"),
    )
    member = Member(id="00000000-0000-4000-8000-000000000007",
                    organisation_id="00000000-0000-4000-8000-000000000001", fields=fields, created=START,
                    last_modified=START + timedelta(minutes=1), version=3)
    return dataclasses.replace(member, **changes)


def test_with_equal_fields_keeps_the_member_unchanged():
    """Writing the same content again is no change: version and last_modified stay."""
    member = bjensen()

    same = member.with_fields(dataclasses.replace(member.fields), LATER)

    assert same == member
    assert (same.version, same.last_modified) == (3, START + timedelta(minutes=1))


def test_with_different_fields_bumps_version_and_last_modified():
    """Any change of content adds one to the version and stamps last_modified; id and created stay."""
    member = bjensen()
    promoted = dataclasses.replace(member.fields, title="Head Tour Guide")

    changed = member.with_fields(promoted, LATER)

    assert changed.fields == promoted
    assert (changed.version, changed.last_modified) == (4, LATER)
    assert (changed.id, changed.organisation_id, changed.created) == (member.id, member.organisation_id, START)


def test_with_fields_leaves_the_original_member_untouched():
    """Members are values: deriving a changed member never changes the one it came from."""
    member = bjensen()

    member.with_fields(dataclasses.replace(member.fields, title="Head Tour Guide"), LATER)

    assert member == bjensen()


def test_settings_are_not_content_and_keep_the_version():
    """Making a member an admin or giving API access is WiggleDesk's business, not SCIM content."""
    member = bjensen()

    admin = member.with_settings(is_admin=True, api_access=True)

    assert (admin.is_admin, admin.api_access) == (True, True)
    assert (admin.version, admin.last_modified, admin.fields) == (member.version, member.last_modified,
                                                                  member.fields)


def test_with_settings_changes_only_the_setting_it_names():
    """Naming one setting leaves the other as it was."""
    admin = bjensen(is_admin=True, api_access=True)

    assert (admin.with_settings(api_access=False).is_admin, admin.with_settings(is_admin=False).api_access) \
        == (True, True)


def test_a_new_member_starts_at_version_1_as_a_plain_member():
    """Without being told otherwise a member is version 1, active, no admin and without API access."""
    member = Member(id="m", organisation_id="o", fields=MemberFields(user_name="bjensen"), created=START,
                    last_modified=START)

    assert (member.version, member.active, member.is_admin, member.api_access) == (1, True, False, False)


@pytest.mark.parametrize("spelling", ["bjensen@contoso.example", "BJensen@Contoso.Example",
                                      "BJENSEN@CONTOSO.EXAMPLE"])
def test_case_key_ignores_case(spelling):
    """userName is caseExact false (RFC 7643 §4.1.1): every spelling has the same key."""
    assert case_key(spelling) == case_key("bjensen@contoso.example")


def test_case_key_keeps_other_differences():
    """Only case is ignored: a different name has a different key."""
    assert case_key("bjensen@contoso.example") != case_key("b.jensen@contoso.example")


def test_member_shortcuts_read_the_fields():
    """userName, externalId and active on a member are those of its fields."""
    member = bjensen()

    assert (member.user_name, member.external_id, member.active) == ("bjensen@contoso.example", "bjensen", True)


@pytest.mark.parametrize("value", [Name(), EnterpriseInfo()])
def test_an_unset_complex_attribute_is_empty(value):
    """A name or enterprise part with no sub-attribute set counts as absent."""
    assert value.is_empty()


@pytest.mark.parametrize("value", [Name(given_name="Barbara"), EnterpriseInfo(department="Tour Operations"),
                                   EnterpriseInfo(manager_id="00000000-0000-4000-8000-000000000002")])
def test_a_complex_attribute_with_one_sub_attribute_is_not_empty(value):
    """One sub-attribute is enough for a name or enterprise part to be present."""
    assert not value.is_empty()


@pytest.mark.parametrize(("value", "attribute"), [
    (bjensen(), "version"),
    (bjensen().fields, "user_name"),
    (bjensen().fields.name, "given_name"),
    (bjensen().fields.emails[0], "value"),
])
def test_domain_values_cannot_be_changed_in_place(value, attribute):
    """Members and their parts are immutable, so a caller can never change stored state by accident."""
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(value, attribute, "changed")


def test_multi_valued_attributes_are_tuples():
    """E-mails, phone numbers and addresses default to immutable tuples, never a shared list."""
    fields = MemberFields(user_name="bjensen")

    assert (fields.emails, fields.phone_numbers, fields.addresses) == ((), (), ())


@pytest.mark.parametrize("revoked, expires, at, state", [
    (None, None, START + timedelta(days=3650), "active"),
    (None, START + timedelta(days=1), START + timedelta(hours=23), "active"),
    (None, START + timedelta(days=1), START + timedelta(days=1), "expired"),
    (START + timedelta(hours=1), None, START + timedelta(hours=1), "revoked"),
    # Revoked wins over expired: it is the decision someone made.
    (START + timedelta(hours=1), START + timedelta(days=1), START + timedelta(days=2), "revoked"),
])
def test_a_tokens_state_at_a_moment(revoked, expires, at, state):
    token = ApiToken(id="t-1", organisation_id="o-1", admin_id="m-1", digest="d" * 64, created=START,
                     revoked=revoked, expires=expires)
    assert token.state(at) == state
    assert token.expired(at) == (expires is not None and at >= expires)
