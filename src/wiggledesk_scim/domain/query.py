"""The query model the member repositories speak: a filter tree over member attributes, and a page.

``scim.filter`` builds it from SCIM filter text; each repository adapter evaluates it its own way (the
in-memory one in Python, the SQLAlchemy one as one SQL query). The contract suite proves they agree.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Union

from .model import Member


class Attribute(str, Enum):
    """Member attributes a filter may name. Case-insensitive ones compare through ``model.case_key``."""

    ID = "id"
    EXTERNAL_ID = "externalId"
    USER_NAME = "userName"
    DISPLAY_NAME = "displayName"
    ACTIVE = "active"
    EMAIL_VALUE = "emails.value"
    EMAIL_TYPE = "emails.type"

    @property
    def case_exact(self) -> bool:
        # RFC 7643 §3.1 (id, externalId) and §4.1 (the rest): only the identifiers compare exactly.
        return self in (Attribute.ID, Attribute.EXTERNAL_ID)

    @property
    def is_email(self) -> bool:
        return self in (Attribute.EMAIL_VALUE, Attribute.EMAIL_TYPE)


class Operator(str, Enum):
    EQ = "eq"


@dataclass(frozen=True)
class Compare:
    """``attribute op value``; on an e-mail attribute: some e-mail of the member satisfies it."""

    attribute: Attribute
    operator: Operator
    value: str | bool | None


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
class AnyEmail:
    """``emails[condition]``: one and the same e-mail entry satisfies the whole condition."""

    condition: "Filter"


Filter = Union[Compare, Present, And, Or, Not, AnyEmail]


@dataclass(frozen=True)
class MemberQuery:
    """A filter (None: every member) and a page of it; ``start_index`` is 1-based (RFC 7644 §3.4.2.4)."""

    filter: Filter | None = None
    start_index: int = 1
    count: int = 100


@dataclass(frozen=True)
class Page:
    """One page of a query's matches, in creation order; ``total`` counts all matches, not just this page."""

    total: int
    members: tuple[Member, ...]
    start_index: int = 1
