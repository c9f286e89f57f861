"""Members as stored User documents (``representation.UserDocuments``): what GET and list requests answer
with, byte for byte the JSON of ``user_resource`` for every member, SCIM root and set of teams."""
from __future__ import annotations

import dataclasses
import json

import orjson
import pytest

from tests.unit.test_representation import BASE, EVERYTHING, USERS_BASE, member
from wiggledesk_scim.domain.model import EnterpriseInfo, MemberFields, Name, Reference
from wiggledesk_scim.domain.ports import Rendering
from wiggledesk_scim.domain.registry import USER
from wiggledesk_scim.domain.scim.body import Serialised, json_bytes, json_pieces
from wiggledesk_scim.domain.scim.representation import (USER_DOCUMENTS, UserDocuments, list_response, listed, project,
                                                        user_resource)

TEAMS = (Reference("0a1b2c3d-0000-4000-8000-000000000001", "Harbour crew"),
         Reference("0a1b2c3d-0000-4000-8000-000000000002", None))

#: Values that look like the placeholder the document is rendered on, or like the JSON around it.
TRICKY = [
    "\\u0000", '"\\u0000', "\\\\u0000/Users", ',"meta":{"resourceType":"User"}', '"}],"groups":[',
    "Zoë \u2028 \U0001F600", "back\\slash\\", 'quote " and \\"', "\x01\x1f control",
]

MEMBERS = [
    member(),
    member(fields=MemberFields(user_name="plain", active=False)),
    member(fields=dataclasses.replace(EVERYTHING, enterprise=EnterpriseInfo(manager_id=None))),
    *[member(fields=dataclasses.replace(EVERYTHING, display_name=text, nick_name=text, title=text,
                                        name=Name(formatted=text), enterprise=EnterpriseInfo(department=text,
                                                                                              manager_id=text)))
      for text in TRICKY],
]
ROOTS = [BASE, USERS_BASE, "http://127.0.0.1:6543/scim/v2", 'https://h.example/scim/v2/"odd"\\root']


@pytest.mark.parametrize("base_url", ROOTS)
@pytest.mark.parametrize("teams", [(), TEAMS[:1], TEAMS])
@pytest.mark.parametrize("subject", MEMBERS, ids=range(len(MEMBERS)))
def test_a_document_is_the_json_of_the_user_resource(subject, teams, base_url):
    document = USER_DOCUMENTS.rendition(subject)

    assert USER_DOCUMENTS.json(document, base_url, teams) == json_bytes(
        user_resource(subject, base_url, groups=teams))


def test_a_document_is_read_as_the_resource_and_written_as_it_is():
    subject = member()
    resource = USER_DOCUMENTS.resource(USER_DOCUMENTS.rendition(subject), BASE, TEAMS)
    expected = user_resource(subject, BASE, groups=TEAMS)

    assert isinstance(resource, Serialised)
    assert resource == expected and dict(resource) == expected and resource["meta"] == expected["meta"]
    assert json_pieces(resource) == [json_bytes(expected)]
    listed = list_response([resource, resource], 7, 3)
    assert b"".join(json_pieces(listed)) == json_bytes(list_response([expected, expected], 7, 3))
    # A projection reads the document as the object it is.
    assert project(resource, "userName,emails.value") == project(expected, "userName,emails.value")


def test_a_body_holding_a_document_and_text_orjson_cannot_write_is_still_written():
    """A lone surrogate is written by the standard library; a document in the same body goes with it."""
    resource = USER_DOCUMENTS.resource(USER_DOCUMENTS.rendition(member()), BASE)
    body = {"detail": "half \ud800 a character", "Resources": [resource]}

    assert json.loads(b"".join(json_pieces(body))) == {"detail": "half \ud800 a character",
                                                       "Resources": [dict(resource)]}


def test_a_document_is_kept_only_for_its_form_and_version():
    subject = member(version=4)
    text = USER_DOCUMENTS.render(subject)

    assert USER_DOCUMENTS.kept(text, 4)
    assert not USER_DOCUMENTS.kept(text, 5)       # the member changed without being rendered again
    assert not USER_DOCUMENTS.kept(None, 4)       # a row an earlier release wrote
    assert not USER_DOCUMENTS.kept(text.replace(USER_DOCUMENTS.form, "0" * len(USER_DOCUMENTS.form), 1), 4)
    assert not USER_DOCUMENTS.kept(USER_DOCUMENTS.render(member(version=14)), 4)   # "…:14" is not "…:1"
    assert not USER_DOCUMENTS.kept(USER_DOCUMENTS.render(member(version=1)), 14)


def test_another_declaration_of_the_user_renders_in_another_form():
    """The form digests the resource type's schemas: a document of another declaration is never served
    as one of this one."""
    narrower = dataclasses.replace(USER, extensions=())
    other = UserDocuments(narrower)

    assert isinstance(other, Rendering) and USER_DOCUMENTS.form != other.form
    assert UserDocuments().form == USER_DOCUMENTS.form
    document = other.rendition(member())
    assert orjson.loads(other.json(document, BASE)) == user_resource(member(), BASE, narrower)


def test_what_is_neither_json_nor_serialised_ahead_is_refused():
    """A body holding something that is not JSON is a bug, refused as such, however it is written."""
    resource = USER_DOCUMENTS.resource(USER_DOCUMENTS.rendition(member()), BASE)

    assert repr(resource).startswith("Serialised(b'{\"schemas\"") and len(resource) == len(dict(resource))
    for body in ({"x": object()}, {"x": object(), "y": resource}):
        with pytest.raises(TypeError):
            json_bytes(body)


def test_a_member_rendered_again_is_rendered_as_they_are_now():
    """A write's response reuses the text its store rendered for the same member object; any other
    member, an equal one or the next version of the same, is rendered from what it holds."""
    first = member()
    renamed = member(fields=dataclasses.replace(EVERYTHING, display_name="Barbara"), version=4)
    texts = [USER_DOCUMENTS.render(each) for each in (first, renamed, first, member(), renamed)]

    assert texts == [UserDocuments().render(each) for each in (first, renamed, first, member(), renamed)]
    assert texts[0] != texts[1] and '"displayName":"Barbara"' in texts[1]


@pytest.mark.parametrize("attributes, excluded, expected", [
    (None, None, (True, None)), ("", "", (True, None)),
    (None, "emails", (True, None)), (None, "groups", (False, None)), ("userName", None, (False, None)),
    ("groups.value", None, (True, frozenset({"value"}))),
])
def test_whether_a_response_lists_the_members_teams(attributes, excluded, expected):
    """The teams are read only for a response that shows them (``listed``), whatever narrows it."""
    assert listed("groups", attributes, excluded, USER) == expected
