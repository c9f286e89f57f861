"""The query model the member repositories speak: a filter tree over member attributes, an order, a page.

``scim.filter`` builds it from SCIM filter text; each repository adapter evaluates it its own way (the
in-memory one in Python, the SQLAlchemy one as one SQL query). The contract suite proves they agree.

The semantics both must keep (RFC 7644 §3.4.2.2, made exact):
- A string attribute whose schema says ``caseExact: false`` compares through ``model.case_key`` on both
  sides, for every operator, ordering ones included; a case-exact one compares as stored. Strings order
  by code point.
- ``eq null`` holds when the attribute is unassigned (None or ""), ``ne null`` when it is assigned;
  every other comparison is false on an unassigned attribute, and ``ne`` is true there.
- A comparison on a sub-attribute of a multi-valued attribute (``emails.value``) holds when some value
  of it holds; ``AnyValue`` requires one and the same value to satisfy its whole condition.
- Logic is two-valued: ``Not`` is the plain negation of its operand.
- Date-times compare as instants; booleans allow ``eq`` and ``ne`` only.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Union

from .registry.declaration import BOOLEAN, DATETIME, STRING, Collection, Path

__all__ = ["And", "AnyValue", "BOOLEAN", "Compare", "DATETIME", "Filter", "InvalidComparison", "Query",
           "Not", "OPERATORS_BY_TYPE", "Operator", "Or", "Page", "Path", "Present", "STRING"]


class Operator(str, Enum):
    EQ = "eq"
    NE = "ne"
    CO = "co"
    SW = "sw"
    EW = "ew"
    GT = "gt"
    GE = "ge"
    LT = "lt"
    LE = "le"


#: Operators each attribute type admits (RFC 7644 §3.4.2.2: booleans allow no ordering or substrings).
OPERATORS_BY_TYPE = {
    STRING: frozenset(Operator),
    BOOLEAN: frozenset({Operator.EQ, Operator.NE}),
    DATETIME: frozenset({Operator.EQ, Operator.NE, Operator.GT, Operator.GE, Operator.LT, Operator.LE}),
}



class InvalidComparison(ValueError):
    """A comparison the model does not allow; the message says why, in a client's words."""


# What an ``InvalidComparison`` says (domain/catalogue.py adopts them: a filter answers them as invalidFilter).
OPERATOR_FOR_TYPE = 'The operator "{operator}" cannot compare {attribute}, which is a {type}'
NULL_COMPARISON = "null can only be compared with eq or ne, not {operator}"
BOOLEAN_COMPARISON = "{attribute} must be compared with true or false, got {got}"
DATETIME_COMPARISON = "{attribute} must be compared with a timezone-aware date-time, got {got}"
TEXT_COMPARISON = "{attribute} must be compared with a quoted string, got {got}"
#: Not a client's: ``scim.filter.to_sort_attribute`` refuses such a sortBy first.
UNSORTABLE = "{attribute} cannot be sorted by"


@dataclass(frozen=True)
class Compare:
    """``attribute op value``; the value is a str, bool or timezone-aware datetime as the attribute's
    type says, or None (only with ``eq`` / ``ne``). Checked when built, so every ``Compare`` an adapter
    meets is one the model allows (``InvalidComparison`` otherwise)."""

    attribute: Path
    operator: Operator
    value: str | bool | datetime | None

    def __post_init__(self) -> None:
        attribute, operator, value = self.attribute, Operator(self.operator), self.value
        if operator not in OPERATORS_BY_TYPE[attribute.type]:
            raise InvalidComparison(OPERATOR_FOR_TYPE.format(operator=operator.value, attribute=attribute.path,
                                                             type=attribute.type))
        if value is None:
            if operator not in (Operator.EQ, Operator.NE):
                raise InvalidComparison(NULL_COMPARISON.format(operator=operator.value))
        elif attribute.type == BOOLEAN:
            if not isinstance(value, bool):
                raise InvalidComparison(BOOLEAN_COMPARISON.format(attribute=attribute.path, got=_shown(value)))
        elif attribute.type == DATETIME:
            if not isinstance(value, datetime) or value.utcoffset() is None:
                raise InvalidComparison(DATETIME_COMPARISON.format(attribute=attribute.path, got=repr(value)))
        elif not isinstance(value, str):
            raise InvalidComparison(TEXT_COMPARISON.format(attribute=attribute.path, got=_shown(value)))


def _shown(value) -> str:
    return json.dumps(value, default=repr)


@dataclass(frozen=True)
class Present:
    """``attribute pr``: the attribute has a value (RFC 7644 §3.4.2.2)."""

    attribute: Path


@dataclass(frozen=True)
class And:
    left: "Filter"
    right: "Filter"


@dataclass(frozen=True)
class Or:
    left: "Filter"
    right: "Filter"


@dataclass(frozen=True)
class Not:
    operand: "Filter"


@dataclass(frozen=True)
class AnyValue:
    """``collection[condition]``: one and the same value of the multi-valued attribute satisfies the
    whole condition. In it, sub-attributes of ``collection`` refer to that value; any other attribute
    (singular, or of another collection) keeps the meaning it has outside."""

    collection: Collection
    condition: "Filter"


Filter = Union[Compare, Present, And, Or, Not, AnyValue]


@dataclass(frozen=True)
class Query:
    """A filter (None: every member), an order and a page of it.

    Ordered by ``sort_by`` (compared as filters compare it; unassigned values last when ascending,
    first when descending), then always by creation time and id, so pages are stable.
    ``start_index`` is 1-based (RFC 7644 §3.4.2.4).
    """

    filter: Filter | None = None
    start_index: int = 1
    count: int = 100
    sort_by: Path | None = None
    descending: bool = False

    def __post_init__(self) -> None:
        if self.sort_by is not None and not self.sort_by.sortable:
            raise InvalidComparison(UNSORTABLE.format(attribute=self.sort_by.path))


@dataclass(frozen=True)
class Page:
    """One page of a query's matches; ``total`` counts all matches, not just this page."""

    total: int
    resources: tuple
    start_index: int = 1
