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

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Union

from .model import Member

STRING = "string"
BOOLEAN = "boolean"
DATETIME = "dateTime"


class Attribute(Enum):
    """Member attributes a filter may name or a query may sort by.

    Each value is (SCIM path, type, case-exact, the multi-valued attribute it belongs to or None).
    """

    ID = ("id", STRING, True, None)
    EXTERNAL_ID = ("externalId", STRING, True, None)
    USER_NAME = ("userName", STRING, False, None)
    DISPLAY_NAME = ("displayName", STRING, False, None)
    NICK_NAME = ("nickName", STRING, False, None)
    PROFILE_URL = ("profileUrl", STRING, False, None)
    TITLE = ("title", STRING, False, None)
    USER_TYPE = ("userType", STRING, False, None)
    PREFERRED_LANGUAGE = ("preferredLanguage", STRING, False, None)
    LOCALE = ("locale", STRING, False, None)
    TIMEZONE = ("timezone", STRING, False, None)
    ACTIVE = ("active", BOOLEAN, False, None)
    NAME_FORMATTED = ("name.formatted", STRING, False, None)
    NAME_FAMILY_NAME = ("name.familyName", STRING, False, None)
    NAME_GIVEN_NAME = ("name.givenName", STRING, False, None)
    NAME_MIDDLE_NAME = ("name.middleName", STRING, False, None)
    NAME_HONORIFIC_PREFIX = ("name.honorificPrefix", STRING, False, None)
    NAME_HONORIFIC_SUFFIX = ("name.honorificSuffix", STRING, False, None)
    EMPLOYEE_NUMBER = ("employeeNumber", STRING, False, None)
    COST_CENTER = ("costCenter", STRING, False, None)
    ORGANIZATION = ("organization", STRING, False, None)
    DIVISION = ("division", STRING, False, None)
    DEPARTMENT = ("department", STRING, False, None)
    MANAGER_ID = ("manager.value", STRING, True, None)
    CREATED = ("meta.created", DATETIME, False, None)
    LAST_MODIFIED = ("meta.lastModified", DATETIME, False, None)
    EMAIL_VALUE = ("emails.value", STRING, False, "emails")
    EMAIL_DISPLAY = ("emails.display", STRING, False, "emails")
    EMAIL_TYPE = ("emails.type", STRING, False, "emails")
    EMAIL_PRIMARY = ("emails.primary", BOOLEAN, False, "emails")
    PHONE_VALUE = ("phoneNumbers.value", STRING, False, "phoneNumbers")
    PHONE_DISPLAY = ("phoneNumbers.display", STRING, False, "phoneNumbers")
    PHONE_TYPE = ("phoneNumbers.type", STRING, False, "phoneNumbers")
    PHONE_PRIMARY = ("phoneNumbers.primary", BOOLEAN, False, "phoneNumbers")
    ADDRESS_FORMATTED = ("addresses.formatted", STRING, False, "addresses")
    ADDRESS_STREET_ADDRESS = ("addresses.streetAddress", STRING, False, "addresses")
    ADDRESS_LOCALITY = ("addresses.locality", STRING, False, "addresses")
    ADDRESS_REGION = ("addresses.region", STRING, False, "addresses")
    ADDRESS_POSTAL_CODE = ("addresses.postalCode", STRING, False, "addresses")
    ADDRESS_COUNTRY = ("addresses.country", STRING, False, "addresses")
    ADDRESS_TYPE = ("addresses.type", STRING, False, "addresses")
    ADDRESS_PRIMARY = ("addresses.primary", BOOLEAN, False, "addresses")

    @property
    def path(self) -> str:
        return self.value[0]

    @property
    def type(self) -> str:
        return self.value[1]

    @property
    def case_exact(self) -> bool:
        return self.value[2]

    @property
    def collection(self) -> str | None:
        """The multi-valued attribute this is a sub-attribute of (``emails``), or None if singular."""
        return self.value[3]

    @property
    def sub_attribute(self) -> str | None:
        """``value`` for ``emails.value``; None for a singular attribute."""
        return self.path.split(".", 1)[1] if self.collection else None


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


@dataclass(frozen=True)
class Compare:
    """``attribute op value``; the value is a str, bool or timezone-aware datetime as the attribute's
    type says, or None (only with ``eq`` / ``ne``)."""

    attribute: Attribute
    operator: Operator
    value: str | bool | datetime | None


@dataclass(frozen=True)
class Present:
    """``attribute pr``: the attribute has a value (RFC 7644 §3.4.2.2)."""

    attribute: Attribute


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

    collection: str
    condition: "Filter"


Filter = Union[Compare, Present, And, Or, Not, AnyValue]

#: Attributes a query may be ordered by: the singular ones.
SORTABLE = frozenset(a for a in Attribute if a.collection is None)


@dataclass(frozen=True)
class MemberQuery:
    """A filter (None: every member), an order and a page of it.

    Ordered by ``sort_by`` (compared as filters compare it; unassigned values last when ascending,
    first when descending), then always by creation time and id, so pages are stable.
    ``start_index`` is 1-based (RFC 7644 §3.4.2.4).
    """

    filter: Filter | None = None
    start_index: int = 1
    count: int = 100
    sort_by: Attribute | None = None
    descending: bool = False


@dataclass(frozen=True)
class Page:
    """One page of a query's matches; ``total`` counts all matches, not just this page."""

    total: int
    members: tuple[Member, ...]
    start_index: int = 1
