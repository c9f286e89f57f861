"""Bounds on what one request may carry: each a 400 SCIM error that names the bound, none a 500."""
from __future__ import annotations

import json

import pytest

from tests.unit.scim_requests import SEED_USER, patch_body, scim_request
from wiggledesk_scim.domain.scim.api import MAX_JSON_DEPTH, parse_json
from wiggledesk_scim.domain.scim.errors import ScimError
from wiggledesk_scim.domain.scim.filter import MAX_FILTER_LENGTH
from wiggledesk_scim.domain.registry.declaration import MAX_INDEXED_LENGTH, MAX_STRING_LENGTH, MAX_VALUES
from wiggledesk_scim.domain.scim.messages import MAX_PATCH_OPERATIONS, MAX_PATH_LENGTH

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def refused(call) -> ScimError:
    with pytest.raises(ScimError) as caught:
        call()
    return caught.value


def create(scim, token, body):
    return scim.create_user(scim_request(token, body, method="POST"))


@pytest.mark.parametrize("attribute, limit", [
    (lambda n: {"userName": "u" * n}, MAX_INDEXED_LENGTH),
    (lambda n: {"externalId": "e" * n}, MAX_INDEXED_LENGTH),
    (lambda n: {"emails": [{"value": "é" * n}]}, MAX_INDEXED_LENGTH),
    (lambda n: {"phoneNumbers": [{"value": "1" * n}]}, MAX_INDEXED_LENGTH),
    (lambda n: {"displayName": "d" * n}, MAX_STRING_LENGTH),
    (lambda n: {"name": {"givenName": "g" * n}}, MAX_STRING_LENGTH),
    (lambda n: {"addresses": [{"formatted": "a" * n}]}, MAX_STRING_LENGTH),
    (lambda n: {ENTERPRISE: {"department": "x" * n}}, MAX_STRING_LENGTH),
])
def test_a_string_longer_than_its_bound_is_refused_and_one_at_the_bound_is_taken(scim, token_a, attribute, limit):
    error = refused(lambda: create(scim, token_a, {**SEED_USER, **attribute(limit + 1)}))
    assert (error.status, error.scim_type) == (400, "invalidValue")
    assert f"must be at most {limit} characters long, got {limit + 1}" in error.detail
    assert create(scim, token_a, {**SEED_USER, **attribute(limit)}).status == 201


def test_a_multi_valued_attribute_with_too_many_entries_is_refused(scim, token_a):
    emails = [{"value": f"a{i}@contoso.example"} for i in range(MAX_VALUES + 1)]
    error = refused(lambda: create(scim, token_a, {**SEED_USER, "emails": emails}))
    assert (error.status, error.scim_type) == (400, "invalidValue")
    assert f"may have at most {MAX_VALUES} entries, got {MAX_VALUES + 1}" in error.detail
    assert create(scim, token_a, {**SEED_USER, "emails": emails[:MAX_VALUES]}).status == 201


def test_a_patch_that_would_exceed_a_bound_is_refused_and_changes_nothing(scim, token_a):
    member = create(scim, token_a, SEED_USER).body
    error = refused(lambda: scim.patch_user(scim_request(token_a, patch_body(
        {"op": "add", "path": "displayName", "value": "d" * (MAX_STRING_LENGTH + 1)}), method="PATCH"), member["id"]))
    assert (error.status, error.scim_type) == (400, "invalidValue")
    assert scim.get_user(scim_request(token_a), member["id"]).body == member


@pytest.mark.parametrize("body, bound", [
    (patch_body(*[{"op": "replace", "path": "active", "value": True}] * (MAX_PATCH_OPERATIONS + 1)),
     f"at most {MAX_PATCH_OPERATIONS} operations"),
    (patch_body({"op": "replace", "path": "x" * (MAX_PATH_LENGTH + 1), "value": 1}),
     f"must be at most {MAX_PATH_LENGTH} characters long"),
])
def test_a_patch_beyond_the_operations_or_path_bound_is_refused(scim, token_a, body, bound):
    member = create(scim, token_a, SEED_USER).body["id"]
    error = refused(lambda: scim.patch_user(scim_request(token_a, body, method="PATCH"), member))
    assert error.status == 400 and bound in error.detail


def test_a_filter_beyond_its_length_is_refused(scim, token_a):
    text = 'userName eq "' + "x" * MAX_FILTER_LENGTH + '"'
    error = refused(lambda: scim.list_users(scim_request(token_a, query={"filter": text})))
    assert (error.status, error.scim_type) == (400, "invalidFilter")


def test_a_body_nested_deeper_than_the_bound_is_a_syntax_error():
    deep = "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)
    error = refused(lambda: parse_json(deep.encode()))
    assert (error.status, error.scim_type) == (400, "invalidSyntax")
    assert f"more than {MAX_JSON_DEPTH} levels" in error.detail
    at_the_bound = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert parse_json(at_the_bound.encode()) == json.loads(at_the_bound)
    assert parse_json(b'{"a": {"b": [1, {"c": []}]}}') == {"a": {"b": [1, {"c": []}]}}


def test_a_body_nested_far_too_deep_for_the_parser_is_a_syntax_error_too():
    error = refused(lambda: parse_json(b"[" * 200_000 + b"]" * 200_000))
    assert (error.status, error.scim_type) == (400, "invalidSyntax")


def test_a_body_too_large_is_a_413_saying_the_bound_and_the_size_when_known():
    from wiggledesk_scim.domain.scim.messages import MAX_BODY_BYTES, payload_too_large
    assert payload_too_large(2_000_000).body() == {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": "413",
        "detail": f"The request body (2000000 bytes) is larger than {MAX_BODY_BYTES} bytes"}
    assert payload_too_large().detail == f"The request body is larger than {MAX_BODY_BYTES} bytes"
