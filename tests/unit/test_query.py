"""The query model refuses, when built, what it does not allow: no adapter ever meets such a query."""
from __future__ import annotations

from datetime import datetime

import pytest

from tests.support import START, Attribute as A
from wiggledesk_scim.domain.query import Compare, InvalidComparison, Query, Operator as O


@pytest.mark.parametrize("build, detail", [
    (lambda: Compare(A.ACTIVE, O.GT, True), 'The operator "gt" cannot compare active, which is a boolean'),
    (lambda: Compare(A.CREATED, O.CO, START), 'The operator "co" cannot compare meta.created, which is a dateTime'),
    (lambda: Compare(A.USER_NAME, O.EQ, True), "userName must be compared with a quoted string, got true"),
    (lambda: Compare(A.ACTIVE, O.EQ, "true"), 'active must be compared with true or false, got "true"'),
    (lambda: Compare(A.CREATED, O.EQ, datetime(2026, 11, 23)), "meta.created must be compared with a "
                                                                "timezone-aware date-time"),
    (lambda: Compare(A.TITLE, O.SW, None), "null can only be compared with eq or ne, not sw"),
    (lambda: Query(sort_by=A.EMAIL_VALUE), "emails.value cannot be sorted by"),
], ids=["gt on a boolean", "co on a date-time", "a boolean for a string", "a string for a boolean",
        "a naive date-time", "sw null", "sorting by a sub-attribute"])
def test_a_query_outside_the_model_cannot_be_built(build, detail):
    """The operator/type rules have one home: the model refuses such a query, naming what is wrong."""
    with pytest.raises(InvalidComparison) as caught:
        build()
    assert str(caught.value).startswith(detail)


def test_every_comparison_the_model_allows_is_built():
    """What the rules admit is built as given."""
    compare = Compare(A.CREATED, O.GE, START)
    assert (compare.attribute, compare.operator, compare.value) == (A.CREATED, O.GE, START)
    assert Query(sort_by=A.USER_NAME).sort_by is A.USER_NAME
