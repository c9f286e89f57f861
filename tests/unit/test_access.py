"""Who may use the SCIM API: token secrets, their digests, and every refusal of ENTRA.md §2."""
from __future__ import annotations

import dataclasses
import hashlib
import re
from datetime import timedelta

import pytest

from tests.unit.scim_requests import patch_body, scim_request
from wiggledesk_scim.domain.access import (LAST_USED_PRECISION, LAST_USED_RESOLUTION, TOKEN_PREFIX, AcceptedTokens,
                                           StoredTokenAuthority, digest, parse_authorization, precision)
from wiggledesk_scim.domain.scim.api import ScimApi
from wiggledesk_scim.domain.scim.errors import ScimError
from wiggledesk_scim.domain.errors import AccessRefused, InvalidValue, NotFound, TokenNotIssued
from wiggledesk_scim.domain.model import MemberFields, Principal

# The wording ENTRA.md §2 asks for: each one tells the admin what to change.
NO_TOKEN = "No API token was sent. Paste your WiggleDesk API token into Entra's Secret Token field."
UNKNOWN_TOKEN = ("This API token is not valid or was revoked. "
                 "Create a new token in WiggleDesk and paste it into Entra.")
NOT_ADMIN = "The admin who owns this token is no longer an admin. An admin must create a new token."
DEACTIVATED = ("The admin who owns this token is deactivated (Entra's provisioning may have deprovisioned them). "
               "Reactivating them restores this token; until then, use another active admin's token or an "
               "OAuth client.")
OWNER_DELETED = ("The admin who owned this API token has been deleted (Entra's provisioning may have deleted "
                 "them), so the token no longer works. Paste another admin's token into Entra, or use an OAuth "
                 "client, which no one's departure breaks.")
MALFORMED = ("The Authorization header must read \"Bearer <token>\". Paste only the WiggleDesk token into "
             "Entra's Secret Token field: Entra adds \"Bearer \" itself.")
ORGANISATION_OFF = ("API access is switched off for this organisation. "
                    "An admin can switch it on in WiggleDesk's settings.")
ADMIN_OFF = ("API access is switched off for the admin who owns this token. "
             "Switch it on, or use another admin's token.")


def stored_token(uow, secret: str):
    with uow:
        return uow.tokens.find_by_digest(hashlib.sha256(secret.encode()).hexdigest())


def change_admin(uow, admin, **settings) -> None:
    with uow:
        current = uow.members.get(admin.organisation_id, admin.id)
        uow.members.update(current.with_settings(**settings), expected_version=current.version)
        uow.commit()


def switch_off_organisation(uow, organisation) -> None:
    with uow:
        uow.organisations.update(dataclasses.replace(organisation, api_access=False))
        uow.commit()


def refusal(authority, token) -> AccessRefused:
    with pytest.raises(AccessRefused) as refused:
        authority.authenticate(token)
    return refused.value


def store_contents(store) -> str:
    return repr((store.organisations, store.members, store.tokens))


# -- tokens ----------------------------------------------------------------------------------------------------

def test_a_token_starts_with_the_prefix(contoso):
    """Tokens carry a recognisable prefix, so secret scanners and people spot a leaked one."""
    assert contoso.token.startswith(TOKEN_PREFIX)
    assert TOKEN_PREFIX == "wdscim_"


def test_a_token_holds_256_random_bits_in_url_safe_characters(contoso):
    """After the prefix comes at least 43 URL-safe characters (256 bits), pasteable into Entra as is."""
    assert re.fullmatch(r"[A-Za-z0-9_-]{43,}", contoso.token[len(TOKEN_PREFIX):])


def test_two_tokens_differ(authority, contoso):
    """Tokens are random: issuing twice for the same admin gives two different secrets."""
    first = authority.issue(contoso.organisation.id, contoso.admin.id)
    second = authority.issue(contoso.organisation.id, contoso.admin.id)

    assert len({first, second, contoso.token}) == 3


def test_only_the_digest_is_stored_never_the_plaintext(store, contoso, fabrikam):
    """Nothing in the store contains a token's secret; its SHA-256 is there instead."""
    contents = store_contents(store)

    for secret in (contoso.token, fabrikam.token):
        assert secret not in contents
        assert secret[len(TOKEN_PREFIX):] not in contents
        assert hashlib.sha256(secret.encode("utf-8")).hexdigest() in contents


def test_the_digest_is_sha256_in_hex(uow, contoso):
    """The stored digest is the lower-case hex SHA-256 of the secret, the same in every store."""
    token = stored_token(uow, contoso.token)

    assert token.digest == hashlib.sha256(contoso.token.encode("utf-8")).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", token.digest)
    assert digest(contoso.token) == token.digest


def test_a_token_is_stored_for_its_admin_and_organisation(uow, clock, contoso):
    """The stored token names its owner and organisation, was created now, is unused and not revoked."""
    token = stored_token(uow, contoso.token)

    assert (token.organisation_id, token.admin_id, token.created) == (contoso.organisation.id, contoso.admin.id,
                                                                       clock.now())
    assert (token.last_used, token.revoked) == (None, None)


def test_a_token_for_another_organisations_admin_is_not_issued(store, authority, contoso, fabrikam):
    """Contoso cannot issue a token for Fabrikam's admin: not found, and no token stored."""
    before = store_contents(store)

    with pytest.raises(NotFound):
        authority.issue(contoso.organisation.id, fabrikam.admin.id)

    assert store_contents(store) == before


# -- who may be issued a token ---------------------------------------------------------------------------------

# The words `tokens issue` has always printed: each reason names the command that fixes it.
ORGANISATION_OFF_REASON = "API access is off for the organisation (org api-access ORG on)"
NOT_ADMIN_REASON = "they are not an admin (member admin ORG EMAIL on)"
ADMIN_OFF_REASON = "API access is off for them (member api-access ORG EMAIL on)"
DEACTIVATED_REASON = "they are deactivated"


def spoil(uow, members, onboarding, condition: str) -> None:
    """Take away one thing a token holder needs, the way ops (settings) or Entra (deprovision) would."""
    if condition == "organisation off":
        switch_off_organisation(uow, onboarding.organisation)
    elif condition == "not an admin":
        change_admin(uow, onboarding.admin, is_admin=False)
    elif condition == "admin off":
        change_admin(uow, onboarding.admin, api_access=False)
    else:
        members.deprovision(onboarding.organisation.id, onboarding.admin.id)


@pytest.mark.parametrize("condition, reason", [
    ("organisation off", ORGANISATION_OFF_REASON),
    ("not an admin", NOT_ADMIN_REASON),
    ("admin off", ADMIN_OFF_REASON),
    ("deactivated", DEACTIVATED_REASON),
])
def test_a_token_is_not_issued_to_someone_who_could_not_use_it(store, uow, members, authority, contoso, condition,
                                                               reason):
    """Each thing the token check requires is required to be issued one: missing it, the issue is refused
    with that reason and nothing is stored."""
    spoil(uow, members, contoso, condition)
    before = store_contents(store)

    with pytest.raises(TokenNotIssued) as refused:
        authority.issue_token(contoso.organisation.id, contoso.admin.id, name="Entra 2027")

    assert refused.value.reasons == (reason,)
    assert refused.value.detail == f"ada@contoso.example could not use a token: {reason}"
    assert store_contents(store) == before


def test_a_refusal_to_issue_lists_every_reason_in_one_line(uow, members, authority, contoso):
    """With everything missing at once, one refusal names all four, so ops fix them in one go."""
    for condition in ("organisation off", "not an admin", "admin off", "deactivated"):
        spoil(uow, members, contoso, condition)

    with pytest.raises(TokenNotIssued) as refused:
        authority.issue(contoso.organisation.id, contoso.admin.id)

    assert refused.value.detail == (
        "ada@contoso.example could not use a token: API access is off for the organisation (org api-access ORG "
        "on); they are not an admin (member admin ORG EMAIL on); API access is off for them (member api-access "
        "ORG EMAIL on); they are deactivated")
    assert isinstance(refused.value, InvalidValue)


def test_a_member_provisioned_by_entra_is_not_issued_a_token(members, authority, contoso):
    """A member Entra created is neither an admin nor has API access, so the issue port refuses them too."""
    grace = members.provision(contoso.organisation.id, MemberFields(user_name="grace@contoso.example"))

    with pytest.raises(TokenNotIssued) as refused:
        authority.issue(contoso.organisation.id, grace.id)

    assert refused.value.reasons == (NOT_ADMIN_REASON, ADMIN_OFF_REASON)


def test_an_active_admin_with_api_access_is_issued_a_token_that_works(authority, contoso):
    """Someone who meets every requirement gets a token, and it is accepted at once."""
    token, secret = authority.issue_token(contoso.organisation.id, contoso.admin.id, name="Entra 2027")

    assert authority.authenticate(secret).token_id == token.id


def test_a_token_that_could_not_be_used_is_refused_before_its_name_is_looked_at(uow, authority, contoso):
    """Asked a token with a bad name for someone who could not use it, the refusal says why they could not."""
    change_admin(uow, contoso.admin, is_admin=False)

    with pytest.raises(TokenNotIssued):
        authority.issue_token(contoso.organisation.id, contoso.admin.id, name=" ")


@pytest.mark.parametrize("organisation_api_access", [True, False])
@pytest.mark.parametrize("is_admin", [True, False])
@pytest.mark.parametrize("api_access", [True, False])
@pytest.mark.parametrize("active", [True, False])
def test_a_token_is_issued_exactly_when_it_would_be_accepted(uow, members, authority, contoso,
                                                            organisation_api_access, is_admin, api_access, active):
    """Issuing and the check at every request apply one rule: for every combination of the four settings,
    a token is issued if and only if the owner's existing token is accepted."""
    if not organisation_api_access:
        spoil(uow, members, contoso, "organisation off")
    change_admin(uow, contoso.admin, is_admin=is_admin, api_access=api_access)
    if not active:
        spoil(uow, members, contoso, "deactivated")

    try:
        authority.authenticate(contoso.token)
        accepted = True
    except AccessRefused:
        accepted = False
    try:
        authority.issue(contoso.organisation.id, contoso.admin.id)
        issued = True
    except TokenNotIssued:
        issued = False

    assert issued is accepted is (organisation_api_access and is_admin and api_access and active)


# -- the Authorization header ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("header", "token"), [
    ("Bearer wdscim_abc", "wdscim_abc"),
    ("bearer wdscim_abc", "wdscim_abc"),
    ("BEARER wdscim_abc", "wdscim_abc"),
    ("  Bearer   wdscim_abc  ", "wdscim_abc"),
])
def test_the_bearer_scheme_is_matched_ignoring_case(header, token):
    """``Bearer`` in any case (RFC 7235 §2.1), with stray spaces, yields the token."""
    assert parse_authorization(header) == token


@pytest.mark.parametrize("header", [None, "", "   "])
def test_no_header_yields_no_token(header):
    """No header, or a blank one, is no token at all: the refusal then says none was sent."""
    assert parse_authorization(header) is None


@pytest.mark.parametrize(("header", "bearer"), [
    ("Bearer", True), ("Bearer ", True), ("Bearer wdscim_abc extra", True), ("Basic x", False),
    ("Basic d2Rz", False), ("Token wdscim_abc", False), ("wdscim_abc", False), ("Bearerwdscim_abc", False)])
def test_a_header_not_of_the_form_bearer_token_gets_its_own_refusal(header, bearer):
    """ENTRA.md §2.1: a header that is not ``Bearer <token>`` (a token pasted bare, another scheme, a blank or
    spaced token) is told how the header must read, not that no token was sent; and it is never echoed.
    Only a malformed ``Bearer`` counts as a token sent (RFC 6750 §3.1: ``error`` in the challenge)."""
    with pytest.raises(AccessRefused) as refused:
        parse_authorization(header)

    assert (refused.value.detail, refused.value.forbidden, refused.value.token_sent) == (MALFORMED, False, bearer)
    assert "wdscim_abc" not in refused.value.detail


def test_a_request_without_a_bearer_token_is_refused_as_no_token(authority, contoso):
    """Without a header the refusal is 401 and says to paste the token into Entra."""
    refused = refusal(authority, parse_authorization(None))

    assert (refused.detail, refused.forbidden, refused.token_sent) == (NO_TOKEN, False, False)


# -- authenticate ----------------------------------------------------------------------------------------------

def test_a_good_token_authenticates_as_its_admin_and_organisation(uow, authority, contoso):
    """A valid token yields the Principal of its organisation, admin and token."""
    token = stored_token(uow, contoso.token)

    assert authority.authenticate(contoso.token) == Principal(organisation_id=contoso.organisation.id,
                                                              admin_id=contoso.admin.id, token_id=token.id)


def test_each_organisations_token_acts_for_its_own_organisation(authority, contoso, fabrikam):
    """Fabrikam's token authenticates as Fabrikam, Contoso's as Contoso."""
    assert authority.authenticate(fabrikam.token).organisation_id == fabrikam.organisation.id
    assert authority.authenticate(contoso.token).organisation_id == contoso.organisation.id


@pytest.mark.parametrize("token", ["wdscim_notarealtoken", "x"])
def test_an_unknown_token_is_refused(authority, contoso, token):
    """A token nobody issued is refused with 401 and told to create a new one."""
    refused = refusal(authority, token)

    assert (refused.detail, refused.forbidden) == (UNKNOWN_TOKEN, False)


def test_known_and_unknown_tokens_alike_are_compared_once_in_constant_time(authority, contoso, monkeypatch):
    """The not-found path does the comparison the found path does (hmac.compare_digest on two
    64-character digests), so the time a refusal takes says nothing about whether a token exists."""
    import hmac
    compared = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: compared.append((len(a), len(b))) or real(a, b))
    authority.authenticate(contoso.token)
    refusal(authority, "wdscim_" + "x" * 43)
    assert compared == [(64, 64), (64, 64)]


def test_a_token_differing_in_one_character_is_refused(authority, contoso):
    """Tokens are compared whole: the secret with its last character changed is unknown."""
    tampered = contoso.token[:-1] + ("A" if contoso.token[-1] != "A" else "B")

    assert refusal(authority, tampered).detail == UNKNOWN_TOKEN


def test_a_revoked_token_is_refused_with_a_detail_that_says_so(uow, clock, authority, contoso):
    """A revoked token gets a 401 that says when it was revoked and what to do instead."""
    token = stored_token(uow, contoso.token)
    authority.revoke(token.id)
    clock.advance()

    refused = refusal(authority, contoso.token)

    assert (refused.detail, refused.forbidden) == (
        "This API token was revoked on 2026-11-23 09:14 UTC. Use another of the admin's tokens, or issue a "
        "new one and paste it into Entra.", False)


def test_revoking_twice_keeps_the_first_time_and_an_unknown_id_is_not_found(uow, clock, authority, contoso):
    token = stored_token(uow, contoso.token)
    first = authority.revoke(token.id).revoked
    clock.advance(3600)
    assert authority.revoke(token.id).revoked == first == stored_token(uow, contoso.token).revoked
    with pytest.raises(NotFound):
        authority.revoke("5171a35d-8207-4e06-8ce2-0f1b2c3d4e5f")


def test_an_expired_token_is_refused_with_a_detail_that_says_so(uow, clock, authority, contoso):
    token, secret = authority.issue_token(contoso.organisation.id, contoso.admin.id, name="Entra",
                                          valid_for=timedelta(days=1))
    clock.advance(timedelta(days=1).total_seconds() - 1)
    assert authority.authenticate(secret).token_id == token.id

    clock.advance(1)
    refused = refusal(authority, secret)

    assert token.expires == token.created + timedelta(days=1)
    assert refused.detail.startswith(f"This API token expired on {token.expires:%Y-%m-%d %H:%M} UTC.")
    assert not refused.forbidden
    assert authority.authenticate(contoso.token).admin_id == contoso.admin.id  # the admin's other token


def test_a_remembered_token_is_not_kept_past_its_expiry(uow, clock, ids, contoso):
    """The accepted-tokens cache never outlives a token's expiry, whatever its TTL."""
    remembering = StoredTokenAuthority(uow, clock, ids, AcceptedTokens(clock, timedelta(hours=1)))
    _, secret = remembering.issue_token(contoso.organisation.id, contoso.admin.id, valid_for=timedelta(minutes=5))
    remembering.authenticate(secret)

    clock.advance(5 * 60)

    assert refusal(remembering, secret).detail.startswith("This API token expired on")


def test_revoking_through_the_authority_is_felt_by_its_own_cache_at_once(uow, clock, ids, contoso):
    remembering = StoredTokenAuthority(uow, clock, ids, AcceptedTokens(clock, timedelta(hours=1)))
    remembering.authenticate(contoso.token)
    remembering.revoke(stored_token(uow, contoso.token).id)
    assert refusal(remembering, contoso.token).detail.startswith("This API token was revoked on")


def test_issued_tokens_carry_their_name_and_no_expiry_unless_asked(uow, authority, contoso):
    token, secret = authority.issue_token(contoso.organisation.id, contoso.admin.id, name="  Entra production ")
    assert (token.name, token.expires) == ("Entra production", None)
    assert stored_token(uow, secret) == token
    assert stored_token(uow, contoso.token).name == "API token"


@pytest.mark.parametrize("name, valid_for, problem", [
    ("", None, "name"), ("   ", None, "name"), ("x" * 101, None, "name"),
    ("Entra", timedelta(0), "positive"), ("Entra", timedelta(days=-1), "positive"),
])
def test_a_token_with_a_bad_name_or_lifetime_is_not_issued(store, authority, contoso, name, valid_for, problem):
    before = store_contents(store)
    with pytest.raises(InvalidValue) as refused:
        authority.issue_token(contoso.organisation.id, contoso.admin.id, name=name, valid_for=valid_for)
    assert problem in str(refused.value)
    assert store_contents(store) == before


def test_a_token_whose_owner_is_no_longer_an_admin_is_refused(uow, authority, contoso):
    """When its owner stops being an admin, the token gets 401 saying an admin must create a new one."""
    change_admin(uow, contoso.admin, is_admin=False)

    refused = refusal(authority, contoso.token)

    assert (refused.detail, refused.forbidden) == (NOT_ADMIN, False)


def test_a_token_whose_owner_was_deactivated_is_refused(members, authority, contoso):
    """When its owner is deprovisioned (perhaps by Entra itself), the token gets 401 (ENTRA.md §10)."""
    members.deprovision(contoso.organisation.id, contoso.admin.id)

    refused = refusal(authority, contoso.token)

    assert (refused.detail, refused.forbidden) == (DEACTIVATED, False)


def test_a_token_works_again_when_its_owner_is_restored(members, authority, contoso):
    """Restoring the deprovisioned owner brings their token back with them."""
    members.deprovision(contoso.organisation.id, contoso.admin.id)
    refusal(authority, contoso.token)

    members.restore(contoso.organisation.id, contoso.admin.id)

    assert authority.authenticate(contoso.token).admin_id == contoso.admin.id


def test_a_token_of_an_organisation_with_api_access_off_is_forbidden(uow, authority, contoso):
    """A genuine token of an organisation whose API access is off gets 403 saying where to switch it on."""
    switch_off_organisation(uow, contoso.organisation)

    refused = refusal(authority, contoso.token)

    assert (refused.detail, refused.forbidden) == (ORGANISATION_OFF, True)


def test_a_token_whose_owner_has_api_access_off_is_forbidden(uow, authority, contoso):
    """A genuine token whose owner's API access is off gets 403 saying to switch it on or use another token."""
    change_admin(uow, contoso.admin, api_access=False)

    refused = refusal(authority, contoso.token)

    assert (refused.detail, refused.forbidden) == (ADMIN_OFF, True)


def test_a_token_whose_owner_was_deleted_is_revoked_and_refused_saying_so(members, uow, authority, clock, contoso):
    """ENTRA.md §2.1: an owner's hard delete (perhaps Entra's own) revokes their token, which stays, for the
    trail; the refusal says the owner was deleted and what to use instead."""
    members.delete(contoso.organisation.id, contoso.admin.id)

    refused = refusal(authority, contoso.token)

    assert (refused.detail, refused.forbidden, refused.organisation_id) == (OWNER_DELETED, False,
                                                                            contoso.organisation.id)
    token = stored_token(uow, contoso.token)
    assert (token.admin_id, token.revoked) == (contoso.admin.id, clock.now())


def test_a_token_left_behind_by_a_vanished_owner_is_refused_as_their_deleted_owners(uow, authority, contoso):
    """A token a store kept unrevoked after its owner went (the previous release deleting them during a
    rolling upgrade) is refused as a deleted owner's, not let in nor told to reactivate anyone."""
    with uow:
        token = uow.tokens.find_by_digest(digest(contoso.token))
        uow.tokens.add(dataclasses.replace(token, admin_id="00000000-0000-4000-8000-999999999999"))
        uow.commit()

    refused = refusal(authority, contoso.token)

    assert (refused.detail, refused.forbidden) == (OWNER_DELETED, False)


def test_switching_off_one_organisation_leaves_the_other_working(uow, authority, contoso, fabrikam):
    """Contoso's API access setting has no effect on Fabrikam's token."""
    switch_off_organisation(uow, contoso.organisation)

    assert authority.authenticate(fabrikam.token).organisation_id == fabrikam.organisation.id


@pytest.mark.parametrize("spoil", ["deactivate", "demote", "organisation off", "admin off", "unknown"])
def test_a_refusal_changes_nothing(store, uow, members, authority, clock, contoso, spoil):
    """A refused request writes nothing: in particular the token's last_used stays unset."""
    if spoil == "deactivate":
        members.deprovision(contoso.organisation.id, contoso.admin.id)
    elif spoil == "demote":
        change_admin(uow, contoso.admin, is_admin=False)
    elif spoil == "organisation off":
        switch_off_organisation(uow, contoso.organisation)
    elif spoil == "admin off":
        change_admin(uow, contoso.admin, api_access=False)
    token = contoso.token if spoil != "unknown" else "wdscim_notarealtoken"
    clock.advance(3600)
    before = store_contents(store)

    refusal(authority, token)

    assert store_contents(store) == before
    assert stored_token(uow, contoso.token).last_used is None


# -- last_used -------------------------------------------------------------------------------------------------

def test_last_used_is_written_on_first_use(uow, authority, clock, contoso):
    """The first accepted request records when the token was used."""
    clock.advance(30)

    authority.authenticate(contoso.token)

    assert stored_token(uow, contoso.token).last_used == clock.now()


def test_last_used_is_written_at_most_once_per_resolution(uow, authority, clock, contoso):
    """Within LAST_USED_RESOLUTION of the recorded use nothing is written; once it has passed, it moves on."""
    first = clock.now()
    authority.authenticate(contoso.token)
    resolution = LAST_USED_RESOLUTION.total_seconds()

    clock.advance(resolution - 1)
    authority.authenticate(contoso.token)
    assert stored_token(uow, contoso.token).last_used == first

    clock.advance(1)
    authority.authenticate(contoso.token)
    assert stored_token(uow, contoso.token).last_used == clock.now()


def test_last_used_of_one_token_leaves_the_others_alone(uow, authority, clock, contoso, fabrikam):
    """Using Contoso's token records nothing on Fabrikam's."""
    authority.authenticate(contoso.token)

    assert stored_token(uow, fabrikam.token).last_used is None


# -- tokens accepted lately (AcceptedTokens) ----------------------------------------------------------------

TTL = timedelta(seconds=10)


@pytest.fixture
def accepted(clock) -> AcceptedTokens:
    return AcceptedTokens(clock, TTL)


@pytest.fixture
def remembering(uow, clock, ids, accepted) -> StoredTokenAuthority:
    """An authority that remembers the tokens it accepted for ``TTL``, as the web app's is."""
    return StoredTokenAuthority(uow, clock, ids, accepted)


def test_an_accepted_token_is_not_read_again_within_the_ttl(store, uow, clock, remembering, contoso):
    """Within the TTL the second check reads nothing: a change made elsewhere (another process, the
    CLI) is not seen yet; once the TTL has passed it is."""
    principal = remembering.authenticate(contoso.token)
    switch_off_organisation(uow, contoso.organisation)

    clock.advance(TTL.total_seconds() - 1)
    assert remembering.authenticate(contoso.token) == principal

    clock.advance(1)
    assert refusal(remembering, contoso.token).detail == ORGANISATION_OFF


def test_a_refusal_is_never_remembered(uow, clock, remembering, contoso):
    """A refused token is checked again on its next use: an admin who fixes the setting is let in at once."""
    change_admin(uow, contoso.admin, api_access=False)
    assert refusal(remembering, contoso.token).detail == ADMIN_OFF

    change_admin(uow, contoso.admin, api_access=True)
    assert remembering.authenticate(contoso.token).admin_id == contoso.admin.id


def test_forgetting_an_admin_makes_their_tokens_checked_again(uow, members, remembering, contoso, fabrikam):
    """forget_admin drops that admin's tokens only; other organisations' stay remembered."""
    remembering.authenticate(contoso.token)
    remembering.authenticate(fabrikam.token)
    members.deprovision(contoso.organisation.id, contoso.admin.id)
    switch_off_organisation(uow, fabrikam.organisation)

    remembering.forget_admin(contoso.organisation.id, contoso.admin.id)

    assert refusal(remembering, contoso.token).detail == DEACTIVATED
    assert remembering.authenticate(fabrikam.token).organisation_id == fabrikam.organisation.id


def test_deprovisioning_the_tokens_own_admin_over_scim_is_felt_by_the_next_request(
        members, remembering, contoso):
    """Entra deprovisions the very admin whose token it uses: the next request is refused at once,
    TTL or not, because the write went through this process."""
    scim = ScimApi(members, remembering)
    scim.get_user(scim_request(contoso.token), contoso.admin.id)

    scim.patch_user(scim_request(contoso.token, patch_body({"op": "replace", "path": "active", "value": False})),
                    contoso.admin.id)

    with pytest.raises(ScimError) as refused:
        scim.list_users(scim_request(contoso.token))
    assert (refused.value.status, refused.value.detail) == (401, DEACTIVATED)


def test_without_a_cache_forget_admin_has_nothing_to_do(authority, contoso):
    authority.authenticate(contoso.token)
    authority.forget_admin(contoso.organisation.id, contoso.admin.id)
    assert authority.authenticate(contoso.token).admin_id == contoso.admin.id


def test_the_cache_holds_at_most_its_capacity(clock):
    """Past its capacity it starts over rather than grow: memory stays bounded whatever tokens arrive."""
    cache = AcceptedTokens(clock, TTL, capacity=3)
    for n in range(4):
        cache.remember(f"digest-{n}", Principal(organisation_id="o", admin_id="a", token_id=str(n)))

    assert [cache.get(f"digest-{n}") is not None for n in range(4)] == [False, False, False, True]


def test_a_ttl_of_zero_remembers_nothing(clock):
    cache = AcceptedTokens(clock, timedelta(0))
    cache.remember("digest", Principal(organisation_id="o", admin_id="a", token_id="t"))
    assert cache.get("digest") is None


@pytest.mark.parametrize("resolution, words", [
    (timedelta(minutes=1), "to the minute"), (timedelta(minutes=5), "within 5 minutes"),
    (timedelta(seconds=1), "to the second"), (timedelta(seconds=90), "within 90 seconds"),
    (timedelta(hours=1), "to the hour"), (timedelta(days=2), "within 2 days"),
    (timedelta(milliseconds=500), "within 0.5 seconds"), (timedelta(0), "exact"),
])
def test_how_exact_a_time_written_once_per_resolution_is_is_worded_for_a_heading(resolution, words):
    """The largest unit that divides the resolution names it: what a heading over such times says."""
    assert precision(resolution) == words


def test_last_used_is_said_to_be_exact_to_its_resolution():
    """Headings over a token's last use read LAST_USED_PRECISION, worded from LAST_USED_RESOLUTION."""
    assert LAST_USED_PRECISION == precision(LAST_USED_RESOLUTION) == "to the minute"
