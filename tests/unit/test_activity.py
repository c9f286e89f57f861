"""The provisioning activity trail: what each SCIM request changed or why it was refused, names only."""
from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from tests.support import START
from tests.unit.scim_requests import FULL_USER, SEED_USER, patch_body, scim_request
from wiggledesk_scim.domain.activity import (CREATE, DELETE, DEPROVISION, REFUSED, REPLACE, RESTORE, TEAM_CREATE,
                                             TEAM_DELETE, TEAM_UPDATE, UPDATE, Activity, LOCKED_OUT, Source,
                                             attribute_names, change_event, lock_out, membership_change)
from wiggledesk_scim.domain import access
from wiggledesk_scim.domain.registry import USER
from wiggledesk_scim.domain.model import Address, EnterpriseInfo, MemberFields, Name
from wiggledesk_scim.domain.scim.errors import ScimError

URN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:"


# -- attribute names ----------------------------------------------------------------------------

def _a_different_value(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, tuple):
        return (Address(locality="Oslo"),)  # any non-empty tuple differs from the default ()
    return "changed"


@pytest.mark.parametrize("attribute", [f.name for f in dataclasses.fields(MemberFields)
                                       if f.name not in ("name", "enterprise", "extra")])
def test_every_scalar_and_multi_valued_attribute_has_one_scim_name(attribute):
    before = MemberFields(user_name="ada")
    after = dataclasses.replace(before, **{attribute: _a_different_value(getattr(before, attribute))})
    (name,) = attribute_names(USER.diff(before, after))
    assert name[0].islower() and "_" not in name


@pytest.mark.parametrize("part, cls, expected_prefix", [("name", Name, "name."), ("enterprise", EnterpriseInfo, URN)])
def test_every_sub_attribute_of_name_and_the_enterprise_extension_has_its_scim_path(part, cls, expected_prefix):
    for sub in dataclasses.fields(cls):
        before = MemberFields(user_name="ada")
        after = dataclasses.replace(before, **{part: cls(**{sub.name: "changed"})})
        (name,) = attribute_names(USER.diff(before, after))
        assert name.startswith(expected_prefix) and "_" not in name
    manager = dataclasses.replace(MemberFields(user_name="ada"), enterprise=EnterpriseInfo(manager_id="m-9"))
    assert attribute_names(USER.diff(MemberFields(user_name="ada"), manager)) == (URN + "manager",)


def test_nothing_changed_names_nothing():
    fields = MemberFields(user_name="ada", name=Name(given_name="Ada"))
    assert attribute_names(USER.diff(fields, dataclasses.replace(fields))) == ()


def test_a_new_member_names_what_it_was_given_and_always_user_name_and_active():
    """A create records every attribute it gave a value, in the schema's order; userName and active always."""
    assert attribute_names(USER.assigned(MemberFields(user_name="ada"))) == ("userName", "active")
    assert attribute_names(USER.assigned(MemberFields(user_name="ada", active=False, display_name="Ada"))) == (
        "userName", "displayName", "active")


@pytest.mark.parametrize("before, after, kind, event", [
    (True, False, UPDATE, DEPROVISION), (False, True, REPLACE, RESTORE),
    (True, True, UPDATE, UPDATE), (False, False, REPLACE, REPLACE),
])
def test_turning_active_off_or_on_is_a_deprovision_or_a_restore(before, after, kind, event):
    fields = MemberFields(user_name="ada")
    assert change_event(kind, dataclasses.replace(fields, active=before),
                        dataclasses.replace(fields, active=after)) == event


# -- a team's membership, as ops read it --------------------------------------------------------

@pytest.mark.parametrize("event, added, removed, shown", [
    (TEAM_UPDATE, 3, 1, "+3 \N{MINUS SIGN}1 members"),
    (TEAM_UPDATE, 0, 250, "+0 \N{MINUS SIGN}250 members"),
    (TEAM_CREATE, 12, None, "+12 members"),
    (TEAM_UPDATE, None, None, None),
    (TEAM_DELETE, None, None, None),
])
def test_a_team_change_shows_the_counts_it_holds_and_nothing_when_membership_is_untouched(event, added, removed,
                                                                                        shown):
    """Counts only, and only those the record has: a create adds and takes no one out; a rename or a
    delete changed no membership."""
    record = Activity(at=START, organisation_id="o-1", event=event, team_id="t-1", added=added, removed=removed)
    assert membership_change(record) == shown


# -- a whole Entra cycle, through the SCIM API -------------------------------------------------

def _trail(uow, organisation_id):
    with uow:
        return uow.activity.list(organisation_id, limit=1000)


def test_an_entra_cycle_is_recorded_step_by_step_with_names_and_no_values(scim, uow, clock, contoso, token_a):
    org = contoso.organisation.id
    created = scim.create_user(scim_request(token_a, FULL_USER, method="POST", request_id="r-1")).body
    member = created["id"]
    clock.advance(1)
    scim.patch_user(scim_request(token_a, patch_body({"op": "Replace", "path": "displayName", "value": "Adele V."}),
                                 method="PATCH", request_id="r-2"), member)
    clock.advance(1)
    scim.patch_user(scim_request(token_a, patch_body({"op": "Replace", "path": "active", "value": "False"}),
                                 method="PATCH", request_id="r-3"), member)
    clock.advance(1)
    scim.patch_user(scim_request(token_a, patch_body({"op": "Replace", "path": "active", "value": "True"}),
                                 method="PATCH", request_id="r-4"), member)
    clock.advance(1)
    scim.replace_user(scim_request(token_a, {**FULL_USER, "title": "Director"}, method="PUT",
                                   request_id="r-5"), member)
    clock.advance(1)
    scim.delete_user(scim_request(token_a, method="DELETE", request_id="r-6"), member)

    trail = _trail(uow, org)[::-1]
    assert [(a.event, a.request_id) for a in trail] == [
        (CREATE, "r-1"), (UPDATE, "r-2"), (DEPROVISION, "r-3"), (RESTORE, "r-4"), (REPLACE, "r-5"), (DELETE, "r-6")]
    assert {a.member_id for a in trail} == {member}
    assert {a.token_id for a in trail} == {contoso_token_id(uow, org)}
    assert [a.at for a in trail] == [START + timedelta(seconds=s) for s in range(6)]
    assert trail[1].attributes == ("displayName",)
    assert trail[2].attributes == trail[3].attributes == ("active",)
    assert trail[4].attributes == ("displayName", "title")
    assert trail[5].attributes == ()
    assert not any(a.token_owner for a in trail)  # a member, not the token's owner
    assert {"userName", "externalId", "emails", "name.givenName", URN + "department"} <= set(trail[0].attributes)
    # Names, never values: nothing Entra sent appears in any record.
    text = repr(trail)
    for value in ("adele", "Adele", "Retail Manager", "Director", "contoso.example"):
        assert value not in text


@pytest.mark.parametrize(("operation", "event", "detail"), [
    ("deprovision", DEPROVISION, access.DEACTIVATED), ("delete", DELETE, access.OWNER_DELETED)])
def test_a_request_that_deprovisions_or_deletes_its_own_tokens_owner_says_so_in_the_trail(
        scim, uow, contoso, token_a, operation, event, detail):
    """ENTRA.md §2.1: when Entra deprovisions or deletes the very admin whose token it uses, the trail marks
    the record and says how to recover; the next request is refused saying what happened."""
    admin = contoso.admin.id
    if operation == "deprovision":
        scim.patch_user(scim_request(token_a, patch_body({"op": "Replace", "path": "active", "value": "False"}),
                                     method="PATCH"), admin)
    else:
        scim.delete_user(scim_request(token_a, method="DELETE"), admin)

    (record,) = _trail(uow, contoso.organisation.id)
    assert (record.event, record.member_id, record.token_owner) == (event, admin, True)
    assert lock_out(record) == LOCKED_OUT[event]
    with pytest.raises(ScimError) as refused:
        scim.list_users(scim_request(token_a))
    assert (refused.value.status, refused.value.detail) == (401, detail)


def test_only_a_deprovision_or_delete_of_the_tokens_own_owner_locks_it_out():
    """``Source.locks_out``: the owner's own deprovision or delete; not another member's, not another event,
    and never for an OAuth client's access token (no owner)."""
    source = Source(token_id="t", token_owner_id="ada")
    assert source.locks_out(DEPROVISION, "ada") and source.locks_out(DELETE, "ada")
    assert not source.locks_out(UPDATE, "ada") and not source.locks_out(RESTORE, "ada")
    assert not source.locks_out(DELETE, "bob")
    assert not Source(token_id="t").locks_out(DELETE, "ada")
    assert lock_out(Activity(at=START, organisation_id="o", event=DELETE)) is None


def contoso_token_id(uow, org):
    with uow:
        (token,) = uow.tokens.list_for_organisation(org)
    return token.id


def test_a_change_that_changes_nothing_is_not_recorded(scim, uow, contoso, token_a):
    member = scim.create_user(scim_request(token_a, SEED_USER, method="POST")).body["id"]
    scim.patch_user(scim_request(token_a, patch_body({"op": "Replace", "path": "active", "value": True}),
                                 method="PATCH"), member)
    assert [a.event for a in _trail(uow, contoso.organisation.id)] == [CREATE]


def test_a_refused_request_is_recorded_with_status_and_scim_type_and_leaves_no_success_record(
        scim, uow, contoso, token_a):
    org = contoso.organisation.id
    member = scim.create_user(scim_request(token_a, SEED_USER, method="POST")).body["id"]
    with pytest.raises(ScimError):
        scim.create_user(scim_request(token_a, {**SEED_USER, "externalId": "other"}, method="POST",
                                      request_id="r-dup"))
    with pytest.raises(ScimError):
        scim.patch_user(scim_request(token_a, patch_body({"op": "Replace", "path": "userName", "value": ""}),
                                     method="PATCH", request_id="r-bad"), member)
    with pytest.raises(ScimError):
        scim.get_user(scim_request(token_a, request_id="r-404"), "x" * 37)

    newest = _trail(uow, org)
    assert [(a.event, a.status, a.scim_type, a.member_id, a.request_id) for a in newest] == [
        (REFUSED, 404, None, None, "r-404"),
        (REFUSED, 400, "invalidValue", member, "r-bad"),
        (REFUSED, 409, "uniqueness", None, "r-dup"),
        (CREATE, None, None, member, None),
    ]
    assert all(a.attributes == () for a in newest[:3])


def test_a_refused_token_of_the_organisation_is_recorded_in_its_trail_and_a_stranger_in_none(
        scim, uow, authority, clock, contoso, fabrikam, token_a):
    with uow:
        (token,) = uow.tokens.list_for_organisation(contoso.organisation.id)
        uow.tokens.revoke(token.id, clock.now())
        uow.commit()
    for presented in (token_a, "wdscim_not-a-token", None):
        with pytest.raises(ScimError):
            scim.list_users(scim_request(presented, request_id="r-x"))

    (refusal,) = _trail(uow, contoso.organisation.id)
    assert (refusal.event, refusal.status, refusal.token_id) == (REFUSED, 401, token.id)
    assert _trail(uow, fabrikam.organisation.id) == []


def test_a_refusal_is_kept_though_the_unit_it_was_recorded_in_rolls_back(uow, members, contoso):
    with pytest.raises(RuntimeError):
        with uow:
            members.refused(contoso.organisation.id, 409, "uniqueness")
            raise RuntimeError("the request fails after the refusal was noted")
    assert [a.status for a in _trail(uow, contoso.organisation.id)] == [409]
