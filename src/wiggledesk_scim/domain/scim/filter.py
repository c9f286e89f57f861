"""The SCIM filter language (RFC 7644 §3.4.2.2): text -> syntax tree -> the domain's query model.

Parsing is generic (every operator, ``and``/``or``/``not``, parentheses, value paths such as
``emails[type eq "work"]``) so that PATCH paths reuse it; ``to_member_filter`` then accepts only what
the member repositories can answer and refuses the rest with ``invalidFilter`` naming the attribute or
operator. Length and nesting are bounded, so no input can exhaust the stack.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Union

from .. import query as q
from ..model import case_key
from .errors import INVALID_FILTER, ScimError

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

MAX_FILTER_LENGTH = 2048
MAX_FILTER_DEPTH = 32

COMPARISONS = ("eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le")


# -- syntax tree ------------------------------------------------------------------------------

@dataclass(frozen=True)
class AttrPath:
    """An attribute path as written: optional schema URN, attribute, optional sub-attribute."""

    urn: str | None
    attribute: str
    sub_attribute: str | None = None

    def __str__(self) -> str:
        text = f"{self.urn}:{self.attribute}" if self.urn else self.attribute
        return f"{text}.{self.sub_attribute}" if self.sub_attribute else text


@dataclass(frozen=True)
class Comparison:
    path: AttrPath
    operator: str          # lower case, one of COMPARISONS
    value: str | bool | int | float | None


@dataclass(frozen=True)
class Presence:
    path: AttrPath


@dataclass(frozen=True)
class Conjunction:
    left: "Node"
    right: "Node"


@dataclass(frozen=True)
class Disjunction:
    left: "Node"
    right: "Node"


@dataclass(frozen=True)
class Negation:
    operand: "Node"


@dataclass(frozen=True)
class ValuePath:
    """``attribute[condition]``: the condition applies to each value of a multi-valued attribute."""

    path: AttrPath
    condition: "Node"


Node = Union[Comparison, Presence, Conjunction, Disjunction, Negation, ValuePath]


# -- tokens -----------------------------------------------------------------------------------

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<lparen>\() | (?P<rparen>\)) | (?P<lbracket>\[) | (?P<rbracket>\])
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w:.$-]))
  | (?P<word>[A-Za-z_$][\w:.$-]*)
  | (?P<subattr>\.[A-Za-z_$][\w$-]*)
""", re.VERBOSE)


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    position: int


def _invalid(detail: str) -> ScimError:
    return ScimError(400, detail, INVALID_FILTER)


def _tokenise(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise _invalid(f"Unexpected character {text[position]!r} at position {position + 1} of the filter")
        kind = match.lastgroup
        if kind != "space":
            tokens.append(_Token(kind, match.group(), position))
        position = match.end()
    return tokens


def parse_path(text: str) -> AttrPath:
    """``urn:...:User:attribute.sub`` or ``attribute.sub`` -> AttrPath (names keep the case they came in)."""
    urn = None
    lowered = text.lower()
    for schema in (ENTERPRISE_USER, CORE_USER):
        if lowered.startswith(schema.lower() + ":"):
            urn, text = schema, text[len(schema) + 1:]
            break
    else:
        if lowered.startswith("urn:"):
            # An attribute of a schema we do not know: keep the URN so callers can ignore or refuse it.
            head, _, tail = text.rpartition(":")
            urn, text = head, tail
    attribute, dot, sub = text.partition(".")
    if not attribute or (dot and not sub) or "." in sub:
        raise _invalid(f'"{text}" is not a valid attribute path')
    return AttrPath(urn, attribute, sub or None)


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokenise(text)
        self.index = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def next(self) -> _Token:
        token = self.peek()
        if token is None:
            raise _invalid("The filter ends too early")
        self.index += 1
        return token

    def expect(self, kind: str, what: str) -> _Token:
        token = self.next()
        if token.kind != kind:
            raise _invalid(f"Expected {what} at position {token.position + 1} of the filter, found {token.text!r}")
        return token

    def at_word(self, *words: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "word" and token.text.lower() in words

    def parse(self) -> Node:
        if not self.tokens:
            raise _invalid("The filter is empty")
        node = self.disjunction(0)
        token = self.peek()
        if token is not None:
            raise _invalid(f"Unexpected {token.text!r} at position {token.position + 1} of the filter")
        return node

    def disjunction(self, depth: int) -> Node:
        node = self.conjunction(depth)
        while self.at_word("or"):
            self.next()
            node = Disjunction(node, self.conjunction(depth))
        return node

    def conjunction(self, depth: int) -> Node:
        node = self.unary(depth)
        while self.at_word("and"):
            self.next()
            node = Conjunction(node, self.unary(depth))
        return node

    def unary(self, depth: int) -> Node:
        if depth > MAX_FILTER_DEPTH:
            raise _invalid(f"The filter nests more than {MAX_FILTER_DEPTH} levels deep")
        token = self.peek()
        if token is not None and token.kind == "word" and token.text.lower() == "not":
            self.next()
            self.expect("lparen", '"(" after not')
            node = self.disjunction(depth + 1)
            self.expect("rparen", '")"')
            return Negation(node)
        if token is not None and token.kind == "lparen":
            self.next()
            node = self.disjunction(depth + 1)
            self.expect("rparen", '")"')
            return node
        return self.attribute_expression(depth)

    def attribute_expression(self, depth: int) -> Node:
        token = self.expect("word", "an attribute name")
        path = parse_path(token.text)
        following = self.peek()
        if following is not None and following.kind == "lbracket":
            if path.sub_attribute is not None:
                raise _invalid(f'"{token.text}" cannot take a value filter')
            self.next()
            condition = self.disjunction(depth + 1)
            self.expect("rbracket", '"]"')
            after = self.peek()
            # Entra's mail matching: emails[type eq "work"].value eq "x" (ENTRA.md §6), not RFC grammar.
            if after is not None and after.kind == "subattr":
                self.next()
                inner = self.comparison(AttrPath(None, after.text[1:]))
                return ValuePath(path, Conjunction(condition, inner))
            return ValuePath(path, condition)
        return self.comparison(path)

    def comparison(self, path: AttrPath) -> Node:
        token = self.expect("word", "an operator")
        operator = token.text.lower()
        if operator == "pr":
            return Presence(path)
        if operator not in COMPARISONS:
            raise _invalid(f'Unknown operator "{token.text}"; SCIM operators are '
                           + ", ".join(COMPARISONS) + " and pr")
        return Comparison(path, operator, self.value())

    def value(self):
        token = self.next()
        if token.kind == "string":
            try:
                return json.loads(token.text)
            except ValueError:
                raise _invalid(f"Malformed string {token.text} in the filter") from None
        if token.kind == "number":
            number = float(token.text)
            return int(number) if number.is_integer() and re.fullmatch(r"-?\d+", token.text) else number
        if token.kind == "word" and token.text.lower() in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[token.text.lower()]
        raise _invalid(f"Expected a value at position {token.position + 1} of the filter, found {token.text!r}")


def parse_filter(text: str) -> Node:
    """The syntax tree of a SCIM filter; ``invalidFilter`` for anything that is not one."""
    if len(text) > MAX_FILTER_LENGTH:
        raise _invalid(f"The filter is longer than {MAX_FILTER_LENGTH} characters")
    return _Parser(text).parse()


# -- the member query model -------------------------------------------------------------------

_ATTRIBUTES = {
    "id": q.Attribute.ID,
    "externalid": q.Attribute.EXTERNAL_ID,
    "username": q.Attribute.USER_NAME,
    "displayname": q.Attribute.DISPLAY_NAME,
    "active": q.Attribute.ACTIVE,
}
_EMAIL_PARTS = {"value": q.Attribute.EMAIL_VALUE, "type": q.Attribute.EMAIL_TYPE}
_OPERATORS = {"eq": q.Operator.EQ}

SUPPORTED = "id, externalId, userName, displayName, active, emails.value and emails.type"


def _attribute(path: AttrPath, in_emails: bool) -> q.Attribute:
    if path.urn not in (None, CORE_USER):
        raise _invalid(f'Filtering on "{path}" is not supported; filterable attributes are {SUPPORTED}')
    name = path.attribute.lower()
    if in_emails:
        if path.sub_attribute is None and name in _EMAIL_PARTS:
            return _EMAIL_PARTS[name]
    elif name == "emails":
        sub = (path.sub_attribute or "value").lower()
        if sub in _EMAIL_PARTS:
            return _EMAIL_PARTS[sub]
    elif path.sub_attribute is None and name in _ATTRIBUTES:
        return _ATTRIBUTES[name]
    raise _invalid(f'Filtering on "{"emails." if in_emails else ""}{path}" is not supported; '
                   f"filterable attributes are {SUPPORTED}")


def _translate(node: Node, in_emails: bool = False) -> q.Filter:
    if isinstance(node, Conjunction):
        return q.And(_translate(node.left, in_emails), _translate(node.right, in_emails))
    if isinstance(node, Disjunction):
        return q.Or(_translate(node.left, in_emails), _translate(node.right, in_emails))
    if isinstance(node, Negation):
        return q.Not(_translate(node.operand, in_emails))
    if isinstance(node, ValuePath):
        if in_emails or node.path.urn not in (None, CORE_USER) or node.path.attribute.lower() != "emails":
            raise _invalid(f'Value filters are supported on emails only, not on "{node.path}"')
        return q.AnyEmail(_translate(node.condition, in_emails=True))
    attribute = _attribute(node.path, in_emails)
    if isinstance(node, Presence):
        return q.Present(attribute)
    operator = _OPERATORS.get(node.operator)
    if operator is None:
        raise _invalid(f'The operator "{node.operator}" is not supported yet; use eq, pr, and, or, not')
    value = node.value
    if value is not None:
        wants_boolean = attribute is q.Attribute.ACTIVE
        if not isinstance(value, bool if wants_boolean else str):
            kind = "true or false" if wants_boolean else "a quoted string"
            raise _invalid(f"{attribute.value} must be compared with {kind}, got {json.dumps(value)}")
    return q.Compare(attribute, operator, value)


def to_member_filter(text: str) -> q.Filter:
    """A SCIM filter as the member repositories' query model; ``invalidFilter`` for what they cannot answer."""
    return _translate(parse_filter(text))


# -- evaluation over JSON values (PATCH value paths) ------------------------------------------

def _compare_json(actual, operator: str, expected) -> bool:
    if operator != "eq" and operator != "ne":
        raise ScimError(400, f'The operator "{operator}" is not supported in a PATCH path', "invalidPath")
    if isinstance(actual, str) and isinstance(expected, str):
        equal = case_key(actual) == case_key(expected)
    else:
        equal = actual == expected and isinstance(actual, bool) == isinstance(expected, bool)
    return equal if operator == "eq" else not equal


def matches_value(entry: dict, node: Node) -> bool:
    """Whether one value of a multi-valued attribute (a dict keyed by canonical sub-attribute names,
    compared ignoring case) satisfies a value-filter condition."""
    if isinstance(node, Conjunction):
        return matches_value(entry, node.left) and matches_value(entry, node.right)
    if isinstance(node, Disjunction):
        return matches_value(entry, node.left) or matches_value(entry, node.right)
    if isinstance(node, Negation):
        return not matches_value(entry, node.operand)
    if isinstance(node, ValuePath):
        raise ScimError(400, "Value filters cannot be nested", "invalidPath")
    lowered = {key.lower(): value for key, value in entry.items()}
    if node.path.sub_attribute is not None or node.path.urn is not None:
        raise ScimError(400, f'"{node.path}" is not a sub-attribute', "invalidPath")
    actual = lowered.get(node.path.attribute.lower())
    if isinstance(node, Presence):
        return actual not in (None, "")
    return _compare_json(actual, node.operator, node.value)
