"""Property-based tests of the SCIM layer: whatever a client sends, the answer is a SCIM response or a
SCIM error, never another exception; a refused write changes nothing; what we represent we accept back.

The example budget is small by default so that the unit tier stays fast; a longer run is
``HYPOTHESIS_PROFILE=long .venv/bin/pytest tests/unit/test_fuzz.py`` (README, "Tests").
"""
from __future__ import annotations

import json
import os

from hypothesis import HealthCheck, given, settings, strategies as st

from tests.support import FixedClock, SequentialIds
from tests.unit.scim_requests import FULL_USER, patch_body, scim_request
from wiggledesk_scim.adapters.memory import InMemoryStore, InMemoryUnitOfWork
from wiggledesk_scim.domain.access import StoredTokenAuthority
from wiggledesk_scim.domain.scim.api import ScimApi, ScimResponse, parse_json
from wiggledesk_scim.domain.scim.body import json_bytes
from wiggledesk_scim.domain.scim.errors import ScimError
from wiggledesk_scim.domain.scim.filter import to_member_filter
from wiggledesk_scim.domain.services import MemberService, onboard

settings.register_profile("default", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=5000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

#: Names a client might use, right and wrong, so generated bodies reach deep into the schema.
NAMES = ["userName", "externalId", "active", "displayName", "name", "givenName", "familyName", "formatted",
         "emails", "phoneNumbers", "addresses", "value", "type", "primary", "display", "title", "locale",
         "timezone", "nickName", "profileUrl", "userType", "preferredLanguage", "streetAddress", "country",
         "schemas", "id", "meta", "password", "groups", ENTERPRISE, "department", "manager", "employeeNumber",
         f"{ENTERPRISE}:department", "urn:ietf:params:scim:schemas:core:2.0:User:userName", "members", "Operations",
         "op", "path"]

scalars = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False)
           | st.text(max_size=12) | st.sampled_from(["True", "False", "work", "home", "", " ", "a@b.c"]))
keys = st.sampled_from(NAMES) | st.text(max_size=8)
json_values = st.recursive(scalars, lambda children: st.lists(children, max_size=4)
                           | st.dictionaries(keys, children, max_size=5), max_leaves=25)

PATHS = ["userName", "active", "displayName", "name.givenName", "name", "emails", 'emails[type eq "work"].value',
         'emails[type eq "work"]', "emails[primary eq true].value", 'phoneNumbers[type eq "mobile"].value',
         'addresses[type eq "work"].locality', f"{ENTERPRISE}:department", f"{ENTERPRISE}:manager", "externalId",
         "title", "meta.created", "id", "groups", "emails.value", 'emails[value co "@"]', "x[", "", "name..x"]
paths = st.sampled_from(PATHS) | st.text(max_size=20)
operations = st.fixed_dictionaries(
    {"op": st.sampled_from(["add", "Add", "replace", "Replace", "remove", "Remove", "move", "", None])},
    optional={"path": paths, "value": json_values})

ATTRIBUTES = ["userName", "externalId", "active", "displayName", "name.givenName", "emails.value", "emails.type",
              "emails", "meta.created", "meta.lastModified", "id", f"{ENTERPRISE}:department", "title", "foo",
              "emails[type eq \"work\"].value"]
OPERATORS = ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr", "EQ", "xx"]
VALUES = ['"a"', '"2026-11-23T09:14:07Z"', "true", "false", "null", "42", '"', '"\\"', "'x'", "1.5", '"é"']


@st.composite
def filters(draw, depth: int = 0) -> str:
    """Filter text shaped like the grammar, with a fair share of mistakes."""
    kind = draw(st.integers(0, 6 if depth < 3 else 2))
    if kind == 0:
        return draw(st.text(max_size=30))
    if kind <= 2:
        attribute, operator = draw(st.sampled_from(ATTRIBUTES)), draw(st.sampled_from(OPERATORS))
        return f"{attribute} {operator}" + ("" if operator == "pr" else f" {draw(st.sampled_from(VALUES))}")
    if kind == 3:
        return f"not ({draw(filters(depth + 1))})"
    if kind == 4:
        return f"emails[{draw(filters(depth + 1))}]"
    if kind == 5:
        return f"({draw(filters(depth + 1))})"
    return f"{draw(filters(depth + 1))} {draw(st.sampled_from(['and', 'or', 'AND', 'xor']))} {draw(filters(depth + 1))}"


class World:
    """One organisation on in-memory storage, with one member (Entra's default mapping) to change."""

    def __init__(self) -> None:
        self.uow = InMemoryUnitOfWork(InMemoryStore())
        clock, ids = FixedClock(), SequentialIds()
        authority = StoredTokenAuthority(self.uow, clock, ids)
        onboarding = onboard(self.uow, clock, ids, authority, "Contoso", "ada@contoso.example")
        self.token = onboarding.token
        self.scim = ScimApi(MemberService(self.uow, clock, ids), authority)
        self.member = self.scim.create_user(scim_request(self.token, FULL_USER, method="POST")).body["id"]

    def stored(self):
        with self.uow:
            return dict(self.uow.store.members), list(self.uow.store.activity)

    def call(self, operation, request, *args):
        """The answer, or the SCIM error; anything else fails the test."""
        try:
            response = operation(request, *args)
        except ScimError as error:
            assert 400 <= error.status < 600 and error.body()["status"] == str(error.status)
            json_bytes(error.body())
            return error
        assert isinstance(response, ScimResponse)
        response.body_bytes()  # serialisable
        return response


def _changes_nothing_if_refused(world: World, operation, request, *args):
    members_before, trail_before = world.stored()
    answer = world.call(operation, request, *args)
    if isinstance(answer, ScimError):
        members_after, trail_after = world.stored()
        assert members_after == members_before
        # Only the refusal itself was added to the trail.
        assert trail_after[:len(trail_before)] == trail_before
        assert [a.event for a in trail_after[len(trail_before):]] == ["refused"]
    return answer


@given(text=st.text(max_size=60) | filters())
def test_any_filter_text_is_a_filter_or_a_scim_error(text):
    try:
        to_member_filter(text)
    except ScimError as error:
        assert error.status == 400 and error.scim_type in ("invalidFilter", "invalidValue")


@given(text=filters(), count=st.integers(-5, 300) | st.text(max_size=4), sort_by=st.sampled_from(ATTRIBUTES))
def test_any_list_request_is_a_page_or_a_scim_error(text, count, sort_by):
    world = World()
    answer = world.call(world.scim.list_users, scim_request(world.token, query={
        "filter": text, "count": str(count), "sortBy": sort_by, "startIndex": "0"}))
    if isinstance(answer, ScimResponse):
        assert answer.status == 200 and answer.body["totalResults"] >= len(answer.body["Resources"])


@given(body=json_values)
def test_any_create_body_creates_a_member_or_is_refused_changing_nothing(body):
    world = World()
    answer = _changes_nothing_if_refused(world, world.scim.create_user,
                                         scim_request(world.token, body, method="POST"))
    if isinstance(answer, ScimResponse):
        assert answer.status == 201


@given(ops=st.lists(operations, min_size=0, max_size=4), wrap=st.booleans())
def test_any_patch_applies_whole_or_is_refused_changing_nothing(ops, wrap):
    world = World()
    body = patch_body(*ops) if wrap else {"Operations": ops}
    answer = _changes_nothing_if_refused(world, world.scim.patch_user,
                                         scim_request(world.token, body, method="PATCH"), world.member)
    if isinstance(answer, ScimResponse):
        assert answer.status == 200


@given(body=json_values)
def test_any_put_body_replaces_or_is_refused_changing_nothing(body):
    world = World()
    _changes_nothing_if_refused(world, world.scim.replace_user, scim_request(world.token, body, method="PUT"),
                                world.member)


@given(raw=st.binary(max_size=40) | st.text(max_size=40).map(lambda t: t.encode("utf-8")))
def test_any_body_bytes_are_json_or_a_syntax_error(raw):
    try:
        parse_json(raw)
    except ScimError as error:
        assert (error.status, error.scim_type) == (400, "invalidSyntax")


@given(body=json_values)
def test_what_we_represent_we_accept_back_unchanged(body):
    """A member created from any accepted body: its representation, PUT back, is taken as it is and
    changes nothing (the version stays)."""
    world = World()
    created = world.call(world.scim.create_user, scim_request(world.token, body, method="POST"))
    if not isinstance(created, ScimResponse):
        return
    resource = json.loads(created.body_bytes())
    replaced = world.call(world.scim.replace_user, scim_request(world.token, resource, method="PUT"),
                          resource["id"])
    assert isinstance(replaced, ScimResponse), replaced
    assert replaced.body == created.body
