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
from datetime import datetime, timedelta, timezone
from typing import Union

from .. import catalogue as c
from .. import query as q
from ..model import case_key
from ..registry import USER, ResourceType
from .errors import ScimError, refuse

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


def _tokenise(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise refuse(c.FILTER_CHARACTER, character=repr(text[position]), position=position + 1)
        kind = match.lastgroup
        if kind != "space":
            tokens.append(_Token(kind, match.group(), position))
        position = match.end()
    return tokens


def _string(token: str):
    """A string token's value (JSON's string syntax: RFC 7644 §3.4.2.2)."""
    try:
        return json.loads(token)
    except ValueError:
        raise refuse(c.FILTER_STRING, text=token) from None


def parse_path(text: str) -> AttrPath:
    """``urn:...:User:attribute.sub`` or ``attribute.sub`` -> AttrPath (names and the URN keep the case
    they came in; ``ResourceType.schema_of`` finds a URN in any case). A sub-attribute has no colon, so a
    URN-qualified path is the URN up to the last colon."""
    urn = None
    if text[:4].lower() == "urn:":
        urn, _, text = text.rpartition(":")
    attribute, dot, sub = text.partition(".")
    if not attribute or (dot and not sub) or "." in sub:
        raise refuse(c.FILTER_PATH, path=text)
    return AttrPath(urn, attribute, sub or None)


def _balanced(operands: list, combine) -> Node:
    """``a or b or c ...`` as a balanced tree: its depth grows with the log of its length, so a long
    flat chain cannot exhaust the stack of whoever walks the tree (evaluators, SQL compilers)."""
    if len(operands) == 1:
        return operands[0]
    middle = (len(operands) + 1) // 2
    return combine(_balanced(operands[:middle], combine), _balanced(operands[middle:], combine))


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
            raise refuse(c.FILTER_ENDS_EARLY)
        self.index += 1
        return token

    def expect(self, kind: str, what: str) -> _Token:
        token = self.next()
        if token.kind != kind:
            raise refuse(c.FILTER_EXPECTED, expected=what, position=token.position + 1, found=repr(token.text))
        return token

    def at_word(self, *words: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "word" and token.text.lower() in words

    def parse(self) -> Node:
        if not self.tokens:
            raise refuse(c.FILTER_EMPTY)
        node = self.disjunction(0)
        token = self.peek()
        if token is not None:
            raise refuse(c.FILTER_UNEXPECTED, found=repr(token.text), position=token.position + 1)
        return node

    def disjunction(self, depth: int) -> Node:
        operands = [self.conjunction(depth)]
        while self.at_word("or"):
            self.next()
            operands.append(self.conjunction(depth))
        return _balanced(operands, Disjunction)

    def conjunction(self, depth: int) -> Node:
        operands = [self.unary(depth)]
        while self.at_word("and"):
            self.next()
            operands.append(self.unary(depth))
        return _balanced(operands, Conjunction)

    def unary(self, depth: int) -> Node:
        if depth > MAX_FILTER_DEPTH:
            raise refuse(c.FILTER_TOO_DEEP, limit=MAX_FILTER_DEPTH)
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
                raise refuse(c.FILTER_NO_VALUE_FILTER, path=token.text)
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
            raise refuse(c.FILTER_OPERATOR, operator=token.text, operators=", ".join(COMPARISONS) + " and pr")
        return Comparison(path, operator, self.value())

    def value(self):
        token = self.next()
        if token.kind == "string":
            return _string(token.text)
        if token.kind == "number":
            number = float(token.text)
            return int(number) if number.is_integer() and re.fullmatch(r"-?\d+", token.text) else number
        if token.kind == "word" and token.text.lower() in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[token.text.lower()]
        raise refuse(c.FILTER_VALUE, position=token.position + 1, found=repr(token.text))


#: The whole of Entra's look-up (``externalId eq "…"``, ``userName eq "…"``): an attribute, ``eq`` and a
#: string, spaced, in the tokens' own patterns (``_TOKEN``), so that it is the tree the parser makes of it.
_LOOK_UP = re.compile(r"""\s*(?P<path>[A-Za-z_$][\w:.$-]*)\s+[Ee][Qq]\s+(?P<string>"(?:[^"\\]|\\.)*")\s*""")


def parse_filter(text: str) -> Node:
    """The syntax tree of a SCIM filter; ``invalidFilter`` for anything that is not one. Entra's look-up,
    the filter of every provisioning cycle, is read in one match (``_LOOK_UP``), everything else by the
    parser; both make the same tree of it."""
    if len(text) > MAX_FILTER_LENGTH:
        raise refuse(c.FILTER_TOO_LONG, limit=MAX_FILTER_LENGTH)
    look_up = _LOOK_UP.fullmatch(text)
    if look_up is not None and look_up["path"].lower() != "not":
        return Comparison(parse_path(look_up["path"]), "eq", _string(look_up["string"]))
    return _Parser(text).parse()


# -- the member query model -------------------------------------------------------------------

def _unsupported(path, resource: ResourceType) -> ScimError:
    return refuse(c.FILTER_UNSUPPORTED, path=path, resource=resource.name)


def resolve(path: AttrPath, resource: ResourceType, collection: q.Collection | None = None) -> q.Path:
    """The attribute a filter names (RFC 7644 §3.4.2.2): inside a value filter on ``collection``, one of
    its sub-attributes named plainly; otherwise a common attribute (``id``, ``meta.created``), an attribute
    of the core schema or, with its URN or without when unambiguous, of an extension; a multi-valued
    attribute named alone means its ``value``."""
    if collection is not None:
        if path.urn is None and path.sub_attribute is None:
            found = resource.collection_path(collection.name.lower(), path.attribute.lower())
            if found is not None:
                return found
        raise refuse(c.FILTER_NOT_A_SUB, path=path, collection=collection.name)
    name = path.attribute.lower()
    dotted = f"{name}.{path.sub_attribute.lower()}" if path.sub_attribute else name
    schema = resource.schema if path.urn is None else resource.schema_of(path.urn)
    found = None
    if schema is resource.schema:
        found = resource.singular_path(schema.urn, dotted) or resource.singular_path(None, dotted)
        if found is None and name in resource.collections:
            value = resource.collections[name].attribute.value_sub
            sub = path.sub_attribute or (value.name if value is not None else "")
            found = resource.collection_path(name, sub.lower())
        if found is None and path.urn is None:
            # Extension names (department) are unambiguous, so clients that leave the URN off are served.
            found = next(filter(None, (resource.singular_path(extension.urn, dotted)
                                       for extension in resource.extensions)), None)
    elif schema is not None:
        found = resource.singular_path(schema.urn, dotted)
    if found is None:
        raise _unsupported(path, resource)
    return found


def _value(attribute: q.Path, operator: q.Operator, value):
    """The comparison value as the query model holds it: a date-time's text as an instant."""
    if attribute.type == q.DATETIME and isinstance(value, str) and operator in q.OPERATORS_BY_TYPE[q.DATETIME]:
        return _instant(attribute, value)
    return value


def _instant(attribute: q.Path, text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise refuse(c.FILTER_DATE, attribute=attribute.path, got=text) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).replace(microsecond=0)


def _date_comparison(attribute: q.Path, operator: q.Operator, moment: datetime) -> q.Filter:
    """Date-times are shown to the second (meta.created), so a filter compares at that precision:
    ``gt X`` means after the second X, and ``eq X`` within it."""
    following = moment + timedelta(seconds=1)
    at_or_after = q.Compare(attribute, q.Operator.GE, moment)
    before_next = q.Compare(attribute, q.Operator.LT, following)
    return {
        q.Operator.EQ: lambda: q.And(at_or_after, before_next),
        q.Operator.NE: lambda: q.Or(q.Compare(attribute, q.Operator.LT, moment),
                                    q.Compare(attribute, q.Operator.GE, following)),
        q.Operator.GT: lambda: q.Compare(attribute, q.Operator.GE, following),
        q.Operator.GE: lambda: at_or_after,
        q.Operator.LT: lambda: q.Compare(attribute, q.Operator.LT, moment),
        q.Operator.LE: lambda: before_next,
    }[operator]()


def _listed(collections) -> str:
    """``emails, phoneNumbers and addresses``."""
    names = [collection.name for collection in collections]
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else "".join(names)


def _translate(node: Node, resource: ResourceType, collection: q.Collection | None = None) -> q.Filter:
    if isinstance(node, Conjunction):
        return q.And(_translate(node.left, resource, collection), _translate(node.right, resource, collection))
    if isinstance(node, Disjunction):
        return q.Or(_translate(node.left, resource, collection), _translate(node.right, resource, collection))
    if isinstance(node, Negation):
        return q.Not(_translate(node.operand, resource, collection))
    if isinstance(node, ValuePath):
        target = resource.collections.get(node.path.attribute.lower())
        in_core = node.path.urn is None or resource.schema_of(node.path.urn) is resource.schema
        if collection is not None or not in_core or target is None:
            raise refuse(c.FILTER_VALUE_PATH, collections=_listed(resource.collections.values()), path=node.path)
        return q.AnyValue(target, _translate(node.condition, resource, target))
    attribute = resolve(node.path, resource, collection)
    if isinstance(node, Presence):
        return q.Present(attribute)
    operator = q.Operator(node.operator)
    value = _value(attribute, operator, node.value)
    try:
        if isinstance(value, datetime) and operator in q.OPERATORS_BY_TYPE[q.DATETIME]:
            return _date_comparison(attribute, operator, value)
        return q.Compare(attribute, operator, value)
    except q.InvalidComparison as refused:
        # The query model's words (domain/query.py), which the catalogue holds as invalidFilter.
        raise ScimError(400, str(refused), c.INVALID_FILTER) from None


def to_member_filter(text: str, resource: ResourceType = USER) -> q.Filter:
    """A SCIM filter as the member repositories' query model; ``invalidFilter`` for what they cannot answer."""
    return _translate(parse_filter(text), resource)


def to_sort_attribute(text: str, resource: ResourceType = USER) -> q.Path:
    """The attribute ``sortBy`` names (RFC 7644 §3.4.2.3); a singular attribute we can filter on."""
    try:
        attribute = resolve(parse_path(text.strip()), resource)
    except ScimError:
        attribute = None
    if attribute is None or not attribute.sortable:
        raise refuse(c.SORT_BY, attribute=text)
    return attribute


# -- evaluation over JSON values (PATCH value paths) ------------------------------------------

def _compare_json(actual, operator: str, expected) -> bool:
    if operator != "eq" and operator != "ne":
        raise refuse(c.PATH_OPERATOR, operator=operator)
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
        raise refuse(c.PATH_NESTED_FILTER)
    lowered = {key.lower(): value for key, value in entry.items()}
    if node.path.sub_attribute is not None or node.path.urn is not None:
        raise refuse(c.PATH_NOT_A_SUB, path=node.path)
    actual = lowered.get(node.path.attribute.lower())
    if isinstance(node, Presence):
        return actual not in (None, "")
    return _compare_json(actual, node.operator, node.value)
