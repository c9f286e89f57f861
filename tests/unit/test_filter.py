"""The SCIM filter language (RFC 7644 §3.4.2.2, ENTRA.md §5–§6): text -> the member query model, refusals,
and the evaluation of PATCH value filters over one multi-valued entry."""
from __future__ import annotations

import pytest

from tests.support import COLLECTIONS, Attribute
from wiggledesk_scim.domain.registry import USER
from wiggledesk_scim.domain import query as q
from wiggledesk_scim.domain.scim.errors import ScimError
from wiggledesk_scim.domain.scim.filter import (MAX_FILTER_DEPTH, MAX_FILTER_LENGTH, matches_value,
                                                parse_filter, to_member_filter)

A = Attribute
EQ = q.Operator.EQ
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PROBE_GUID = "41d1c5e2-5f7a-4d8e-9b0c-3a6f2e1d7c44"
ADELE = "adele.vance@contoso.example"


def eq(attribute: q.Path, value) -> q.Compare:
    return q.Compare(attribute, EQ, value)


def refusal(text: str) -> ScimError:
    """The error ``to_member_filter`` raises for ``text``; fails the test if it raises nothing else."""
    with pytest.raises(ScimError) as caught:
        to_member_filter(text)
    return caught.value


# -- what Entra sends (ENTRA.md §5, §6) ------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    # Test Connection: a random GUID in the matching attribute (§5).
    (f'userName eq "{PROBE_GUID}"', eq(A.USER_NAME, PROBE_GUID)),
    (f'externalId eq "{PROBE_GUID}"', eq(A.EXTERNAL_ID, PROBE_GUID)),
    # Matching queries (§6).
    ('externalId eq "58342554-38d6-4ec8-948c-50044d0a33fd"',
     eq(A.EXTERNAL_ID, "58342554-38d6-4ec8-948c-50044d0a33fd")),
    (f'userName eq "{ADELE}"', eq(A.USER_NAME, ADELE)),
    # Entra's mail matching, not RFC grammar, and its RFC equivalent, and the plain dotted form (§6).
    (f'emails[type eq "work"].value eq "{ADELE}"',
     q.AnyValue(COLLECTIONS["emails"], q.And(eq(A.EMAIL_TYPE, "work"), eq(A.EMAIL_VALUE, ADELE)))),
    (f'emails[type eq "work" and value eq "{ADELE}"]',
     q.AnyValue(COLLECTIONS["emails"], q.And(eq(A.EMAIL_TYPE, "work"), eq(A.EMAIL_VALUE, ADELE)))),
    (f'emails.value eq "{ADELE}"', eq(A.EMAIL_VALUE, ADELE)),
    ('emails.type eq "work"', eq(A.EMAIL_TYPE, "work")),
    ('id eq "8c5a2f0e-3d1b-4f6a-9e2c-71b0d4a5c613"', eq(A.ID, "8c5a2f0e-3d1b-4f6a-9e2c-71b0d4a5c613")),
    ('displayName eq "Adele Vance"', eq(A.DISPLAY_NAME, "Adele Vance")),
])
def test_every_entra_lookup_becomes_the_expected_member_query(text, expected):
    """Each filter Entra sends for Test Connection and matching translates to exactly one query tree."""
    assert to_member_filter(text) == expected


@pytest.mark.parametrize("text", [
    'USERNAME EQ "bjensen"',
    'username eq "bjensen"',
    'UserName Eq "bjensen"',
    f'{CORE}:userName eq "bjensen"',
    f'{CORE.upper()}:USERNAME eq "bjensen"',
    ' userName   eq\t"bjensen" ',
])
def test_attribute_names_operators_and_the_core_urn_are_case_insensitive(text):
    """Attribute names, operators and the core schema URN prefix may be written in any case (RFC 7644 §3.4.2.2)."""
    assert to_member_filter(text) == eq(A.USER_NAME, "bjensen")


@pytest.mark.parametrize("text", [
    f'EMAILS[TYPE EQ "work"].VALUE EQ "{ADELE}"',
    f'Emails[Type eq "work" AND Value eq "{ADELE}"]',
    f'{CORE}:emails[type eq "work" and value eq "{ADELE}"]',
])
def test_email_value_filters_accept_any_case_and_the_core_urn(text):
    """The mail-matching forms keep their meaning whatever the case of names and keywords."""
    assert to_member_filter(text) == q.AnyValue(COLLECTIONS["emails"], q.And(eq(A.EMAIL_TYPE, "work"), eq(A.EMAIL_VALUE, ADELE)))


def test_urn_prefixed_email_sub_attribute_is_the_email_value():
    """``urn:…:core:2.0:User:emails.value`` names the same attribute as ``emails.value``."""
    assert to_member_filter(f'{CORE}:emails.value eq "{ADELE}"') == eq(A.EMAIL_VALUE, ADELE)


def test_values_keep_their_case_and_characters():
    """A filter value is passed on exactly as sent; case rules are the repository's business."""
    assert to_member_filter('userName eq "Adele.Vance@Contoso.Example"') == eq(
        A.USER_NAME, "Adele.Vance@Contoso.Example")


# -- logical operators, grouping and precedence ----------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ('userName eq "bjensen" and active eq true',
     q.And(eq(A.USER_NAME, "bjensen"), eq(A.ACTIVE, True))),
    ('userName eq "bjensen" or externalId eq "bj-1"',
     q.Or(eq(A.USER_NAME, "bjensen"), eq(A.EXTERNAL_ID, "bj-1"))),
    ('not (active eq false)', q.Not(eq(A.ACTIVE, False))),
    ('NOT(active eq false)', q.Not(eq(A.ACTIVE, False))),
    # and binds tighter than or, on either side.
    ('userName eq "a" or userName eq "b" and active eq true',
     q.Or(eq(A.USER_NAME, "a"), q.And(eq(A.USER_NAME, "b"), eq(A.ACTIVE, True)))),
    ('userName eq "a" and active eq true or userName eq "b"',
     q.Or(q.And(eq(A.USER_NAME, "a"), eq(A.ACTIVE, True)), eq(A.USER_NAME, "b"))),
    # Parentheses override precedence.
    ('(userName eq "a" or userName eq "b") and active eq true',
     q.And(q.Or(eq(A.USER_NAME, "a"), eq(A.USER_NAME, "b")), eq(A.ACTIVE, True))),
    # Chains associate to the left.
    ('userName eq "a" or userName eq "b" or userName eq "c"',
     q.Or(q.Or(eq(A.USER_NAME, "a"), eq(A.USER_NAME, "b")), eq(A.USER_NAME, "c"))),
    ('userName eq "a" AND displayName eq "b" And externalId eq "c"',
     q.And(q.And(eq(A.USER_NAME, "a"), eq(A.DISPLAY_NAME, "b")), eq(A.EXTERNAL_ID, "c"))),
    ('((userName eq "bjensen"))', eq(A.USER_NAME, "bjensen")),
    ('not (not (userName eq "bjensen"))', q.Not(q.Not(eq(A.USER_NAME, "bjensen")))),
    ('emails[type eq "work" or type eq "home"]',
     q.AnyValue(COLLECTIONS["emails"], q.Or(eq(A.EMAIL_TYPE, "work"), eq(A.EMAIL_TYPE, "home")))),
    ('emails[not (type eq "work")]', q.AnyValue(COLLECTIONS["emails"], q.Not(eq(A.EMAIL_TYPE, "work")))),
    # Entra combines its matching attributes with and; the mail form may be one side of it.
    (f'externalId eq "adele.vance" and userName eq "{ADELE}"',
     q.And(eq(A.EXTERNAL_ID, "adele.vance"), eq(A.USER_NAME, ADELE))),
    (f'emails[type eq "work"].value eq "{ADELE}" and active eq true',
     q.And(q.AnyValue(COLLECTIONS["emails"], q.And(eq(A.EMAIL_TYPE, "work"), eq(A.EMAIL_VALUE, ADELE))), eq(A.ACTIVE, True))),
])
def test_logical_operators_build_the_tree_with_and_binding_tighter_than_or(text, expected):
    """and/or/not and parentheses map one to one onto the query model, with RFC 7644 precedence."""
    assert to_member_filter(text) == expected


# -- values: pr, null, booleans, string escapes ----------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("externalId pr", q.Present(A.EXTERNAL_ID)),
    ("displayName PR", q.Present(A.DISPLAY_NAME)),
    ("emails pr", q.Present(A.EMAIL_VALUE)),
    ("emails[value pr]", q.AnyValue(COLLECTIONS["emails"], q.Present(A.EMAIL_VALUE))),
    ('emails[type eq "work"].value pr', q.AnyValue(COLLECTIONS["emails"], q.And(eq(A.EMAIL_TYPE, "work"), q.Present(A.EMAIL_VALUE)))),
    ("externalId eq null", eq(A.EXTERNAL_ID, None)),
    ("active eq NULL", eq(A.ACTIVE, None)),
    ("active eq true", eq(A.ACTIVE, True)),
    ("active eq False", eq(A.ACTIVE, False)),
    ("active eq TRUE", eq(A.ACTIVE, True)),
])
def test_presence_null_and_boolean_literals(text, expected):
    """pr, null, true and false are keywords in any case and become Present or a typed comparison."""
    assert to_member_filter(text) == expected


@pytest.mark.parametrize("text, value", [
    (r'displayName eq "Barbara \"Babs\" Jensen"', 'Barbara "Babs" Jensen'),
    (r'displayName eq "C:\\Users\\bjensen"', "C:\\Users\\bjensen"),
    (r'displayName eq "Bj\u00f8rn"', "Bjørn"),
    ('displayName eq "Bjørn Jensen"', "Bjørn Jensen"),
    ('displayName eq ""', ""),
    ('displayName eq "and or not ( ) [ ]"', "and or not ( ) [ ]"),
])
def test_string_values_follow_json_escapes(text, value):
    """Quoted values are JSON strings: escaped quotes, backslashes and unicode escapes decode."""
    assert to_member_filter(text) == eq(A.DISPLAY_NAME, value)


# -- refusals --------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, named", [
    ('favouriteColour eq "teal"', "favouriteColour"),
    ('name eq "Barbara Jensen"', "name"),
    ('addresses eq "Leeds"', "addresses"),
    ('meta.version eq "W/\\"1\\""', "meta.version"),
    ('meta.resourceType eq "User"', "meta.resourceType"),
    ('groups eq "x"', "groups"),
    ('urn:example:custom:2.0:User:shoeSize eq "44"', "shoeSize"),
    ('emails[favourite eq true]', "favourite"),
    ('emails[value.domain eq "contoso.example"]', "value.domain"),
    ('name[givenName eq "Barbara"]', "name"),
    ('emails[type eq "work" and phoneNumbers[type eq "x"]]', "phoneNumbers"),
])
def test_unknown_or_unfilterable_attribute_is_refused_naming_it(text, named):
    """A filter on an attribute the repositories cannot answer is 400 invalidFilter naming that attribute."""
    error = refusal(text)
    assert (error.status, error.scim_type) == (400, "invalidFilter")
    assert named in error.detail


@pytest.mark.parametrize("text, named", [
    ("active gt true", '"gt"'),
    ("emails.primary co true", '"co"'),
    ('meta.created co "2026"', '"co"'),
    ('meta.created sw "2026"', '"sw"'),
    ("userName gt null", "null"),
    ("title co null", "null"),
])
def test_an_operator_the_attribute_type_does_not_admit_is_refused_naming_it(text, named):
    """Booleans allow eq and ne, date-times no substring operators, null only eq and ne (RFC 7644 §3.4.2.2)."""
    error = refusal(text)
    assert (error.status, error.scim_type) == (400, "invalidFilter")
    assert named in error.detail


@pytest.mark.parametrize("text, expected", [
    ('userName co "jensen"', q.Compare(A.USER_NAME, q.Operator.CO, "jensen")),
    ('userName SW "b"', q.Compare(A.USER_NAME, q.Operator.SW, "b")),
    ('userName ew "sen"', q.Compare(A.USER_NAME, q.Operator.EW, "sen")),
    ('userName ne "bjensen"', q.Compare(A.USER_NAME, q.Operator.NE, "bjensen")),
    ('title gt "M"', q.Compare(A.TITLE, q.Operator.GT, "M")),
    ('title le "M"', q.Compare(A.TITLE, q.Operator.LE, "M")),
    ('name.familyName eq "Jensen"', eq(A.NAME_FAMILY_NAME, "Jensen")),
    ('NAME.FAMILYNAME eq "Jensen"', eq(A.NAME_FAMILY_NAME, "Jensen")),
    (f'{CORE}:name.givenName eq "Barbara"', eq(A.NAME_GIVEN_NAME, "Barbara")),
    (f'{ENTERPRISE}:department eq "Retail"', eq(A.DEPARTMENT, "Retail")),
    (f'{ENTERPRISE}:manager.value eq "42"', eq(A.MANAGER_ID, "42")),
    (f'{ENTERPRISE}:manager eq "42"', eq(A.MANAGER_ID, "42")),
    ('department eq "Retail"', eq(A.DEPARTMENT, "Retail")),
    ('phoneNumbers eq "+44 113 496 0000"', eq(A.PHONE_VALUE, "+44 113 496 0000")),
    ('phoneNumbers.type eq "mobile"', eq(A.PHONE_TYPE, "mobile")),
    ('addresses.locality eq "Leeds"', eq(A.ADDRESS_LOCALITY, "Leeds")),
    ('emails.display eq "Babs"', eq(A.EMAIL_DISPLAY, "Babs")),
    ("emails.primary eq true", eq(A.EMAIL_PRIMARY, True)),
    ("active ne false", q.Compare(A.ACTIVE, q.Operator.NE, False)),
    ("nickName pr", q.Present(A.NICK_NAME)),
    ("title eq null", eq(A.TITLE, None)),
    ('addresses[type eq "work" and locality eq "Leeds"]',
     q.AnyValue(COLLECTIONS["addresses"], q.And(eq(A.ADDRESS_TYPE, "work"), eq(A.ADDRESS_LOCALITY, "Leeds")))),
    ('emails[type eq "work" and value co "@contoso.com"]',
     q.AnyValue(COLLECTIONS["emails"], q.And(eq(A.EMAIL_TYPE, "work"), q.Compare(A.EMAIL_VALUE, q.Operator.CO, "@contoso.com")))),
    ('phoneNumbers[not (type eq "fax")]', q.AnyValue(COLLECTIONS["phoneNumbers"], q.Not(eq(A.PHONE_TYPE, "fax")))),
])
def test_the_whole_grammar_becomes_the_query_model(text, expected):
    """Every operator, sub-attributes, URN prefixes, enterprise names and value filters on each
    multi-valued attribute (RFC 7644 §3.4.2.2)."""
    assert to_member_filter(text) == expected


SECOND = "2026-11-23T09:14:07Z"


def _at(seconds: int):
    from datetime import datetime, timezone
    return datetime(2026, 11, 23, 9, 14, seconds, tzinfo=timezone.utc)


@pytest.mark.parametrize("text, expected", [
    (f'meta.lastModified gt "{SECOND}"', q.Compare(A.LAST_MODIFIED, q.Operator.GE, _at(8))),
    (f'meta.lastModified ge "{SECOND}"', q.Compare(A.LAST_MODIFIED, q.Operator.GE, _at(7))),
    (f'meta.created lt "{SECOND}"', q.Compare(A.CREATED, q.Operator.LT, _at(7))),
    (f'meta.created le "{SECOND}"', q.Compare(A.CREATED, q.Operator.LT, _at(8))),
    (f'meta.created eq "{SECOND}"', q.And(q.Compare(A.CREATED, q.Operator.GE, _at(7)),
                                          q.Compare(A.CREATED, q.Operator.LT, _at(8)))),
    (f'meta.created ne "{SECOND}"', q.Or(q.Compare(A.CREATED, q.Operator.LT, _at(7)),
                                         q.Compare(A.CREATED, q.Operator.GE, _at(8)))),
    ('meta.created ge "2026-11-23T11:14:07.999+02:00"', q.Compare(A.CREATED, q.Operator.GE, _at(7))),
    ('meta.created ge "2026-11-23T09:14:07"', q.Compare(A.CREATED, q.Operator.GE, _at(7))),
])
def test_date_times_compare_at_the_second_they_are_shown_with(text, expected):
    """meta timestamps are shown to the second, so gt X means after that second and eq X within it."""
    assert to_member_filter(text) == expected


def test_a_date_that_is_not_rfc_3339_is_invalid_filter():
    """A date-time comparison needs an RFC 3339 value."""
    error = refusal('meta.created gt "last tuesday"')
    assert (error.status, error.scim_type) == (400, "invalidFilter")


@pytest.mark.parametrize("operator, named", [("equals", '"equals"'), ("like", '"like"'), ("IN", '"IN"'),
                                             ("==", "'='")])
def test_unknown_operator_is_refused_naming_it(operator, named):
    """A word (or symbol) that is no SCIM operator is invalidFilter, and the detail quotes it."""
    error = refusal(f'userName {operator} "bjensen"')
    assert (error.status, error.scim_type) == (400, "invalidFilter")
    assert named in error.detail


@pytest.mark.parametrize("text, named", [
    ('active eq "yes"', "active"),
    ('active eq "true"', "active"),
    ("active eq 1", "active"),
    ("userName eq 3", "userName"),
    ("userName eq true", "userName"),
    ("externalId eq 3.5", "externalId"),
    ('emails[type eq "work"].value eq 42', "emails.value"),
])
def test_value_of_the_wrong_type_is_refused_naming_the_attribute(text, named):
    """Booleans compare with true/false, strings with quoted strings; anything else is invalidFilter."""
    error = refusal(text)
    assert (error.status, error.scim_type) == (400, "invalidFilter")
    assert named in error.detail


@pytest.mark.parametrize("text", [
    'userName eq "bjensen',                  # unterminated string
    'userName eq',                           # missing value
    'userName',                              # missing operator
    'userName eq bjensen',                   # unquoted value
    'userName eq "bjensen" and',             # dangling and
    'and userName eq "bjensen"',             # leading and
    'userName eq "bjensen" or or active eq true',
    '(userName eq "bjensen"',                # unbalanced parentheses
    'userName eq "bjensen")',
    ')userName eq "bjensen"(',
    'not userName eq "bjensen"',             # not needs parentheses
    'not ()',
    '()',
    'emails[type eq "work"',                 # unbalanced bracket
    'emails type eq "work"]',
    'emails[]',
    'emails[type eq "work"]] ',
    'emails[type eq "work"].value',          # sub-attribute without a comparison
    'emails.value[type eq "work"]',          # value filter after a sub-attribute
    'userName eq "bjensen" #',               # stray characters
    'userName eq "bjensen" ;',
    'userName = "bjensen"',
    'userName eq "a" "b"',
    r'userName eq "bad \q escape"',
    'userName eq 3abc',
    'name. eq "x"',
    'name.givenName.x eq "x"',
])
def test_malformed_syntax_is_invalid_filter(text):
    """Anything that is not RFC 7644 filter grammar is 400 invalidFilter, never another exception."""
    error = refusal(text)
    assert (error.status, error.scim_type) == (400, "invalidFilter")
    assert error.detail


@pytest.mark.parametrize("text", ["", " ", "\t\n "])
def test_empty_filter_is_invalid_filter(text):
    """An empty or blank filter is refused, not read as 'every member'."""
    error = refusal(text)
    assert (error.status, error.scim_type) == (400, "invalidFilter")
    assert "empty" in error.detail


def test_filter_longer_than_the_limit_is_refused_and_one_at_the_limit_is_not():
    """Filters are bounded by MAX_FILTER_LENGTH characters; the detail states the limit."""
    value = "b" * (MAX_FILTER_LENGTH - len('userName eq ""'))
    assert to_member_filter(f'userName eq "{value}"') == eq(A.USER_NAME, value)
    error = refusal(f'userName eq "{value}b"')
    assert (error.status, error.scim_type) == (400, "invalidFilter")
    assert str(MAX_FILTER_LENGTH) in error.detail


@pytest.mark.parametrize("opening", ["(", "not (", "emails[", "NOT("])
def test_ten_thousand_openings_are_a_scim_error_not_a_recursion_error(opening):
    """A pathological nest is refused as invalidFilter before it can exhaust the stack."""
    error = refusal(opening * 10_000)
    assert (error.status, error.scim_type) == (400, "invalidFilter")


@pytest.mark.parametrize("opening, closing", [("(", ")"), ("not (", ")")])
def test_nesting_deeper_than_the_limit_is_refused_within_the_length_limit(opening, closing):
    """One level more than MAX_FILTER_DEPTH is invalidFilter even when the text is short enough."""
    depth = MAX_FILTER_DEPTH + 1
    text = opening * depth + 'userName eq "bjensen"' + closing * depth
    assert len(text) <= MAX_FILTER_LENGTH
    error = refusal(text)
    assert (error.status, error.scim_type) == (400, "invalidFilter")
    assert str(MAX_FILTER_DEPTH) in error.detail


def test_nesting_exactly_at_the_limit_is_accepted():
    """MAX_FILTER_DEPTH levels of parentheses are allowed: only deeper ones are refused."""
    text = "(" * MAX_FILTER_DEPTH + 'userName eq "bjensen"' + ")" * MAX_FILTER_DEPTH
    assert to_member_filter(text) == eq(A.USER_NAME, "bjensen")


def test_longest_flat_chain_translates_into_a_shallow_tree():
    """A chain of ``or`` filling the whole length limit becomes a balanced tree with every operand."""
    clause = "id pr or "
    text = clause * ((MAX_FILTER_LENGTH - len("id pr")) // len(clause)) + "id pr"

    def leaves_and_depth(node):
        if isinstance(node, q.Or):
            (left, left_depth), (right, right_depth) = leaves_and_depth(node.left), leaves_and_depth(node.right)
            return left + right, 1 + max(left_depth, right_depth)
        return [node], 0

    leaves, depth = leaves_and_depth(to_member_filter(text))
    assert leaves == [q.Present(A.ID)] * (text.count(" or ") + 1)
    assert depth <= 9


# -- matches_value: PATCH value filters over one entry ---------------------------------------------

WORK_EMAIL = {"type": "work", "value": ADELE, "primary": True}
HOME_EMAIL = {"type": "home", "value": "adele@fabrikam.example"}


def matches(entry: dict, condition: str) -> bool:
    return matches_value(entry, parse_filter(condition))


@pytest.mark.parametrize("entry, condition, expected", [
    (WORK_EMAIL, 'type eq "work"', True),
    (WORK_EMAIL, 'type eq "WORK"', True),
    (WORK_EMAIL, 'TYPE eq "Work"', True),
    ({"Type": "Work", "Value": ADELE}, 'type eq "work"', True),
    (WORK_EMAIL, 'value eq "Adele.Vance@Contoso.Example"', True),
    (HOME_EMAIL, 'type eq "work"', False),
    (WORK_EMAIL, 'type ne "work"', False),
    (HOME_EMAIL, 'type ne "work"', True),
    ({"value": ADELE}, 'type ne "work"', True),
    (WORK_EMAIL, "primary eq true", True),
    (HOME_EMAIL, "primary eq true", False),
    (WORK_EMAIL, 'primary eq "true"', False),
    ({"value": ADELE, "primary": 1}, "primary eq true", False),
    (WORK_EMAIL, "display eq null", True),
    (WORK_EMAIL, "type pr", True),
    ({"value": ADELE}, "type pr", False),
    ({"value": ADELE, "type": ""}, "type pr", False),
    ({"value": ADELE, "type": None}, "type pr", False),
    (WORK_EMAIL, f'type eq "work" and value eq "{ADELE}"', True),
    (WORK_EMAIL, 'type eq "work" and value eq "someone@else.example"', False),
    (HOME_EMAIL, 'type eq "work" or type eq "home"', True),
    (HOME_EMAIL, 'type eq "work" or type eq "other"', False),
    (WORK_EMAIL, 'not (type eq "work")', False),
    (HOME_EMAIL, 'not (type eq "work")', True),
])
def test_value_filter_matching_on_one_entry(entry, condition, expected):
    """Strings compare ignoring case, pr means neither null nor empty, and and/or/not/ne behave as in logic."""
    assert matches(entry, condition) is expected


@pytest.mark.parametrize("condition", ['value co "contoso"', 'value sw "adele"', 'value gt "a"'])
def test_value_filter_refuses_operators_it_cannot_evaluate(condition):
    """Only eq and ne are evaluated in PATCH paths; others are invalidPath naming the operator."""
    with pytest.raises(ScimError) as caught:
        matches(WORK_EMAIL, condition)
    assert (caught.value.status, caught.value.scim_type) == (400, "invalidPath")
    assert condition.split()[1] in caught.value.detail


@pytest.mark.parametrize("condition", ['emails[type eq "work"]', 'name.givenName eq "Adele"',
                                       f'{CORE}:type eq "work"'])
def test_value_filter_refuses_nested_filters_and_dotted_or_qualified_names(condition):
    """Inside a value filter only plain sub-attribute names make sense; anything else is invalidPath."""
    with pytest.raises(ScimError) as caught:
        matches(WORK_EMAIL, condition)
    assert (caught.value.status, caught.value.scim_type) == (400, "invalidPath")


_PATHS = [a.path if not a.path.startswith(("employeeNumber", "costCenter", "organization", "division",
                                           "department", "manager"))
          else f"{ENTERPRISE}:{a.path}" for a in USER.paths] + ["name", "emails", "addresses", "meta",
                                                                  "meta.version", "schemas", "groups", "x"]
_VALUES = ['"text"', '"2026-11-23T09:14:07Z"', "true", "false", "null", "42", "-1.5"]


@pytest.mark.parametrize("operator", ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr"])
def test_every_operator_on_every_attribute_gives_a_query_or_invalid_filter(operator):
    """Whatever attribute, operator and literal a client combines, the answer is a query or a 400."""
    for path in _PATHS:
        for value in ([""] if operator == "pr" else _VALUES):
            text = f"{path} {operator} {value}".strip()
            try:
                result = to_member_filter(text)
            except ScimError as error:
                assert (error.status, error.scim_type) == (400, "invalidFilter"), text
            else:
                assert isinstance(result, (q.Compare, q.Present, q.And, q.Or)), text


@pytest.mark.parametrize("text", [
    "(" * 10_000 + 'userName eq "a"' + ")" * 10_000,
    "not (" * 10_000 + 'userName eq "a"' + ")" * 10_000,
    'userName eq "' + "a" * 1_000_000 + '"',
    " or ".join(['userName eq "a"'] * 100_000),
    "emails[" * 5_000 + 'value eq "a"' + "]" * 5_000,
])
def test_hostile_filters_are_refused_quickly(text):
    """Deep nesting, megabyte strings and endless disjunctions are 400 invalidFilter, never a crash."""
    error = refusal(text)
    assert (error.status, error.scim_type) == (400, "invalidFilter")


# -- Entra's look-up, read in one match -------------------------------------------------------------

def _tree_or_refusal(parse, text):
    try:
        return parse(text)
    except ScimError as error:
        return (error.status, error.scim_type, error.detail)


_LOOK_UP_PIECES = {
    "space": ["", " ", "  ", "\t", "\u00a0", "\n"],
    "path": ["externalId", "userName", "emails.value", "name.givenName", "urn:ietf:params:scim:schemas:core:2.0:User:userName",
             "not", "NOT", "and", "userName.", "a.b.c", "x$_-:", "émile", "1abc", "_"],
    "operator": ["eq", "EQ", "Eq", "ne", "eq:", "eqq", "pr"],
    "string": ['"bjensen"', '""', '"a\\"b"', '"\\u00e9\\n"', '"\\x"', '"tab\there"', '"a\\\\"', '"unclosed',
               '"two" "strings"', '"x")', "42", "true", '"\\ud800"'],
}


@pytest.mark.parametrize("seed", range(40))
def test_entras_look_up_is_the_tree_the_parser_makes(seed):
    """Whatever the spacing, case, path or string, a filter shaped like Entra's look-up reads as the tree
    (or the refusal) the full parser makes of it."""
    import random

    from wiggledesk_scim.domain.scim.filter import _Parser, parse_filter

    generator = random.Random(seed)
    for _ in range(200):
        pick = lambda kind: generator.choice(_LOOK_UP_PIECES[kind])
        text = (pick("space") + pick("path") + (pick("space") or " ") + pick("operator") + (pick("space") or " ")
                + pick("string") + pick("space"))
        if generator.random() < 0.2:
            text = text.replace(" ", generator.choice(["", "  ", "(", ")"]), 1)
        assert _tree_or_refusal(parse_filter, text) == _tree_or_refusal(lambda t: _Parser(t).parse(), text), text
