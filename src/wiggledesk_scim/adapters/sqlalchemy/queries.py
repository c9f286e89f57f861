"""A resource query as SQL, built once per *shape* and run with the query's values as parameters.

Entra sends the same few queries over and over (``externalId eq "…"``, ``userName eq "…"``), differing
only in their values. Building a SQLAlchemy statement costs more than running an indexed lookup, so a
query is compiled in two steps (docs/performance.md):

1. ``plan(filter)`` walks the domain's filter tree and makes every decision that depends on a value
   (``null``, ``""``, text no column can hold, the lower-casing of case-insensitive text, the length
   ``sw``/``ew`` compare). It returns a *plan*, a hashable tree of plain tuples with no values in it, and
   the values, in order, as bind parameters ``p0``, ``p1`` ...
2. ``build_search(dialect, mapping, plan, order)`` turns a plan into the page SELECT and the COUNT of
   the resource type ``mapping`` maps (members, teams), once: the repositories keep them in a bounded
   cache keyed by the resource type and the plan (``StatementCache``), so the next query of that shape
   reuses the very same statements, compiled once (``prepared.py``).

The semantics are ``memory.matches_filter``'s and ``memory.ordered``'s exactly (the contract suite
proves it). Every condition is two-valued (never SQL NULL), so ``Not`` means what Python's ``not``
means: ``col = 'x'`` alone would be UNKNOWN on a NULL column, and NOT UNKNOWN is UNKNOWN, so each
comparison states what an unassigned value gives (false; true for ``ne``). Strings compare the ``_key``
columns (``model.case_key``, computed in Python) unless case-exact, and by code point. A sub-attribute
(``emails.value``, a team's ``members.value``) is "the resource is among those with a row in its
collection's table satisfying it" (a member's search table, a team's membership table); inside
``AnyValue`` it is a condition on that one row instead.

Which table and column answer for which attribute is ``mapping.py``'s (derived from the registry). Whether a
comparison is one the model allows is the model's own business: ``query.Compare`` and ``Query``
refuse, when built, an operator the attribute's type does not admit, a value of the wrong type or a
sort by a sub-attribute, so nothing here checks again.
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Hashable, Iterable, Mapping

import orjson
from sqlalchemy import (ColumnElement, Integer, Select, Text, and_, bindparam, case, false, func, not_, or_,
                        select, true)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

from ...domain.model import UNSTORABLE, case_key
from ...domain.query import BOOLEAN, STRING, And, AnyValue, Compare, Filter, Query, Not, Operator, Or, Path, Present
from .mapping import ResourceMapping

#: The bind parameters every search statement takes besides the plan's ``p0`` ... ``pN``.
ORGANISATION = "organisation_id"
LIMIT = "limit"
OFFSET = "offset"

#: How many query shapes are kept per process. Entra uses a handful; a client inventing new shapes
#: without end only makes the cache start over, never grow.
SHAPE_CACHE_SIZE = 512


def binary(dialect: str, column):
    """``column`` ordered by code point, as Python (and so the in-memory store) sorts strings.

    SQLite compares text as bytes already (BINARY, and UTF-8 byte order is code point order);
    PostgreSQL uses the database's collation, which for e.g. en_US puts "adatum" before "Contoso".
    Only for ordering: equality under a database's (always deterministic) default collation is already
    byte equality, and a COLLATE there would stop PostgreSQL from using the indexes.
    """
    if dialect == "postgresql":
        return column.collate("C")
    return column


class StatementCache:
    """Statements by key, built by ``build`` on first use; at most ``size`` kept (then it starts over).

    Shared by every thread of the process: a lookup is one dict read; two threads building the same
    statement at once both succeed and one result is kept, which is harmless as they are equal.
    """

    def __init__(self, size: int = SHAPE_CACHE_SIZE):
        self.size = size
        self._statements: dict[Hashable, Any] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, build: Callable[[], Any]) -> Any:
        statement = self._statements.get(key)
        if statement is None:
            statement = build()
            with self._lock:
                if len(self._statements) >= self.size:
                    self._statements.clear()
                self._statements[key] = statement
        return statement

    def __len__(self) -> int:
        return len(self._statements)


# -- step 1: the plan --------------------------------------------------------------------------------

def plan(node: Filter, values: list[Any]) -> tuple:
    """``node`` as a value-free plan; its values are appended to ``values`` (parameter ``p<i>`` is
    ``values[i]``)."""
    if isinstance(node, And):
        return ("and", plan(node.left, values), plan(node.right, values))
    if isinstance(node, Or):
        return ("or", plan(node.left, values), plan(node.right, values))
    if isinstance(node, Not):
        return ("not", plan(node.operand, values))
    if isinstance(node, AnyValue):
        return ("any", node.collection, plan(node.condition, values))
    if isinstance(node, (Compare, Present)):
        return ("test", node.attribute, _test(node, values))
    raise ValueError(f"unsupported filter node {node!r}")


def _parameter(values: list[Any], value: Any) -> int:
    values.append(value)
    return len(values) - 1


def _test(node: Compare | Present, values: list[Any]) -> tuple:
    """What one comparison asks of its column: ``(kind, *parameter indexes)``."""
    attribute = node.attribute
    if isinstance(node, Present):
        return ("assigned",)
    operator = Operator(node.operator)
    value = node.value
    if value is None:
        return ("unassigned",) if operator is Operator.EQ else ("assigned",)
    if attribute.type == BOOLEAN:
        # IS / IS NOT are null-safe: NULL IS TRUE is false, NULL IS NOT TRUE is true. The value is
        # part of the plan: SQL writes IS TRUE, not IS with a parameter.
        return ("is" if operator is Operator.EQ else "is_not", value)
    if attribute.type != STRING:
        return (operator.value, _parameter(values, value))
    return _text_test(operator, value if attribute.case_exact else case_key(value), values)


def _text_test(operator: Operator, value: str, values: list[Any]) -> tuple:
    unstorable = UNSTORABLE.search(value)
    if unstorable is not None:
        # Writes refuse such characters, so no stored text equals, contains, starts or ends with
        # ``value``, and the database could not be sent it anyway. Ordering against it is ordering
        # against the least storable text above it: its prefix up to that character followed by the
        # next storable character (U+0001 after NUL, U+E000 after the surrogates).
        if operator is Operator.NE:
            return ("true",)
        if operator in (Operator.EQ, Operator.CO, Operator.SW, Operator.EW):
            return ("false",)
        value = value[:unstorable.start()] + ("\x01" if unstorable.group() == "\x00" else "\ue000")
        operator = Operator.GE if operator in (Operator.GT, Operator.GE) else Operator.LT
    if value == "":
        # Every assigned (non-empty) text is above "", and contains, starts and ends with it.
        if operator in (Operator.CO, Operator.SW, Operator.EW, Operator.GT, Operator.GE):
            return ("assigned",)
        return ("true",) if operator is Operator.NE else ("false",)
    if operator is Operator.CO:
        return ("co", _parameter(values, value))
    if operator in (Operator.SW, Operator.EW):
        # Lengths in characters, as SQL's length() and substr() count them.
        return (operator.value, _parameter(values, value), _parameter(values, len(value)))
    return ("text_" + operator.value, _parameter(values, value))


def order_plan(query: Query) -> tuple:
    """The ORDER BY part of a search's shape: ``(sort attribute or None, descending)``."""
    attribute = query.sort_by
    return (attribute, bool(query.descending) if attribute is not None else False)


# -- step 2: the statements ---------------------------------------------------------------------------

def _assigned(column, attribute: Path) -> ColumnElement[bool]:
    """The attribute has a value: not NULL, and for text not "" either (query.py: unassigned is None or "")."""
    if attribute.type == STRING:
        return and_(column.is_not(None), column != "")
    return column.is_not(None)


def _unassigned(column, attribute: Path) -> ColumnElement[bool]:
    if attribute.type == STRING:
        return or_(column.is_(None), column == "")
    return column.is_(None)


class _Position(FunctionElement):
    """Where ``needle`` first occurs in ``haystack``, counted in characters from 1; 0 when it does not.

    ``co`` is ``position > 0`` rather than LIKE: SQLite's LIKE ignores the case of ASCII letters (and
    only of those), and both would need ``%`` and ``_`` escaped. The function has another name on each
    database, hence a construct of our own.
    """

    type = Integer()
    name = "instr"
    inherit_cache = True


@compiles(_Position)
def _compile_position(element, compiler, **kw) -> str:
    return f"instr({compiler.process(element.clauses, **kw)})"


@compiles(_Position, "postgresql")
def _compile_position_postgresql(element, compiler, **kw) -> str:
    return f"strpos({compiler.process(element.clauses, **kw)})"


class IdList(TypeDecorator):
    """A list of ids bound as ONE parameter however long it is: an array on PostgreSQL, JSON text on SQLite
    (which reads it with ``json_each``). So a statement naming a set of ids (``one_of``) has one shape,
    built and compiled once, for one id or 20,000, and never meets either database's limit on the number
    of parameters."""

    impl = Text
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.ARRAY(Text()))
        return dialect.type_descriptor(Text())

    def process_bind_param(self, value: Iterable[str] | None, dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "postgresql":
            return list(value)
        # Ids only (the repositories pass plausible ids, never a lone surrogate orjson would refuse).
        return orjson.dumps(list(value)).decode()


class _OneOf(FunctionElement):
    """``column`` equals one of the ids in an ``IdList`` parameter: ``= ANY(array)`` on PostgreSQL, ``IN``
    the rows of ``json_each`` on SQLite; either is an index look-up per id, like a literal IN list."""

    # Untyped, though it is a condition: a Boolean one would make SQLAlchemy write "... = 1" after it on
    # SQLite, which has no boolean type, and that hides the IN from SQLite's planner.
    name = "one_of"
    inherit_cache = True


@compiles(_OneOf)
def _compile_one_of(element, compiler, **kw) -> str:
    column, ids = element.clauses.clauses
    return f"{compiler.process(column, **kw)} IN (SELECT value FROM json_each({compiler.process(ids, **kw)}))"


@compiles(_OneOf, "postgresql")
def _compile_one_of_postgresql(element, compiler, **kw) -> str:
    column, ids = element.clauses.clauses
    return f"{compiler.process(column, **kw)} = ANY({compiler.process(ids, **kw)})"


class _Unindexed(FunctionElement):
    """``column``, which SQLite's planner must not pick an index for (its unary ``+``); as is elsewhere."""

    name = "unindexed"
    inherit_cache = True

    @property
    def type(self):
        return self.clauses.clauses[0].type


def unindexed(column) -> ColumnElement:
    """``column`` as a mere filter on SQLite: for a condition beside ``one_of`` on a primary key, such as the
    organisation's. Without statistics (no ANALYZE, as in production) SQLite takes ``json_each``'s rows for
    many and an equality on ``organisation_id`` for few, and so scans the organisation's whole index rather
    than looking up each id: a one-member PATCH of a group read all 100,000 members' index entries."""
    return _Unindexed(column)


@compiles(_Unindexed)
def _compile_unindexed(element, compiler, **kw) -> str:
    return compiler.process(element.clauses.clauses[0], **kw)


@compiles(_Unindexed, "sqlite")
def _compile_unindexed_sqlite(element, compiler, **kw) -> str:
    return f"+{compiler.process(element.clauses.clauses[0], **kw)}"


def one_of(column, name: str) -> ColumnElement[bool]:
    """``column`` is one of the ids of the parameter ``name`` (a list, bound through ``IdList``)."""
    return _OneOf(column, bindparam(name, type_=IdList()))


def _p(index: int, type_=None):
    return bindparam(f"p{index}", type_=type_)


class _Builder:
    """Turns a plan into SQL conditions on the table of ``mapping``'s resource type for one dialect."""

    def __init__(self, dialect: str, mapping: ResourceMapping):
        self.dialect = dialect
        self.mapping = mapping
        self.table = mapping.table

    def _collection_row(self, collection):
        """A fresh alias of ``collection``'s table (search or membership table), and the column in it
        that names the resource the row belongs to."""
        found = self.mapping.collection_tables[collection]
        row = found.table.alias()
        return row, row.c[found.owner]

    def condition(self, node: tuple, scope: Mapping[str, Any]) -> ColumnElement[bool]:
        """``node`` as a WHERE condition on the resource's table; ``scope`` maps a collection to the
        (search or membership) table row its enclosing ``any`` is about."""
        kind = node[0]
        if kind == "and":
            return and_(self.condition(node[1], scope), self.condition(node[2], scope))
        if kind == "or":
            return or_(self.condition(node[1], scope), self.condition(node[2], scope))
        if kind == "not":
            return not_(self.condition(node[1], scope))
        if kind == "any":
            _, collection, inner = node
            row, owner = self._collection_row(collection)
            return self._some_row(row, owner, self.condition(inner, {**scope, collection: row}))
        _, attribute, test = node
        column = self.mapping.filter_column(attribute)
        if attribute.collection is None:
            return self._test(attribute, test, self.table.c[column])
        row = scope.get(attribute.collection)
        if row is not None:
            return self._test(attribute, test, row.c[column])
        # Outside ``any``, "some value of the collection satisfies it": a subquery of its own.
        row, owner = self._collection_row(attribute.collection)
        return self._some_row(row, owner, self._test(attribute, test, row.c[column]))

    def _some_row(self, row, owner, condition: ColumnElement[bool]) -> ColumnElement[bool]:
        """The resource has a row in ``row``'s table (``owner`` naming it) that satisfies ``condition``.

        ``members.id IN (SELECT member_id ... WHERE organisation_id = :org AND ...)`` rather than a
        correlated EXISTS: unless ``condition`` speaks of the resource, the subquery stands alone, so both
        databases can answer it from the (organisation_id, value_key) index (a team's members: the
        (member_id, team_id) one) and look the resources up by id (SQLite runs a correlated EXISTS once
        per resource). Still two-valued: the owner column is never NULL, so IN is never UNKNOWN.
        """
        # Correlated to everything but its own row, explicitly: SQLAlchemy's automatic correlation looks
        # one level up only, and a condition inside ``emails[...]`` may speak of the members row two
        # levels up, or of an enclosing value path's row.
        return self.table.c.id.in_(
            select(owner).where(row.c.organisation_id == bindparam(ORGANISATION), condition)
            .correlate_except(row))

    def _test(self, attribute: Path, test: tuple, column) -> ColumnElement[bool]:
        kind = test[0]
        if kind == "assigned":
            return _assigned(column, attribute)
        if kind == "unassigned":
            return _unassigned(column, attribute)
        if kind == "true":
            return true()
        if kind == "false":
            return false()
        if kind == "is":
            return column.is_(test[1])
        if kind == "is_not":
            return column.is_not(test[1])
        present = column.is_not(None)
        if kind == "co":
            return and_(present, _Position(column, _p(test[1], Text())) > 0)
        if kind == "sw":
            return and_(present, func.substr(column, 1, _p(test[2], Integer()), type_=Text) == _p(test[1]))
        if kind == "ew":
            # When the value is longer than the text the start is below 1, and both databases then return
            # fewer than ``length`` characters (SQLite counts a negative start from the end), never a match.
            start = func.length(column) - _p(test[2], Integer()) + 1
            return and_(present, func.substr(column, start, type_=Text) == _p(test[1]))
        text = kind.startswith("text_")
        operator = Operator(kind[5:] if text else kind)
        value = _p(test[1])
        if operator is Operator.NE:
            return or_(column.is_(None), column != value)
        if operator is Operator.EQ:
            return and_(present, column == value)
        ordered = binary(self.dialect, column) if text else column
        comparison = {Operator.GT: ordered > value, Operator.GE: ordered >= value,
                      Operator.LT: ordered < value, Operator.LE: ordered <= value}[operator]
        if text and operator in (Operator.LT, Operator.LE):
            return and_(present, column != "", comparison)  # "" is below everything, yet unassigned
        return and_(present, comparison)

    def order(self, order: tuple) -> list:
        """ORDER BY: the sort attribute with unassigned values last (first when descending), then
        created, id."""
        tie_break = [self.table.c.created, binary(self.dialect, self.table.c.id)]
        attribute, descending = order
        if attribute is None:
            return tie_break
        column = self.table.c[self.mapping.filter_column(attribute)]
        # Two terms, since NULLS FIRST/LAST differ by default between the databases; every unassigned
        # value sorts as NULL ("" too), so among them created and id decide, as in memory.
        missing = case((_assigned(column, attribute), 0), else_=1)
        value = case((_assigned(column, attribute), binary(self.dialect, column)), else_=None) \
            if attribute.type == STRING else column
        if descending:
            return [missing.desc(), value.desc(), *tie_break]
        return [missing, value, *tie_break]


def build_search(dialect: str, mapping: ResourceMapping, filter_plan: tuple | None,
                 order: tuple, extra: tuple = (), columns: tuple = ()) -> tuple[Select, Select]:
    """The page SELECT (``:limit`` resources from ``:offset``, each as its ``columns``, by default the
    resource's ``read_columns``; with the ``extra`` columns, if any, after them) and the COUNT of one search
    shape of the resource type ``mapping`` maps."""
    builder = _Builder(dialect, mapping)
    table = mapping.table
    where = table.c.organisation_id == bindparam(ORGANISATION)
    if filter_plan is not None:
        where = and_(where, builder.condition(filter_plan, {}))
    page = (select(*(columns or mapping.read_columns), *extra).where(where).order_by(*builder.order(order))
            .limit(bindparam(LIMIT, type_=Integer())).offset(bindparam(OFFSET, type_=Integer())))
    count = select(func.count()).select_from(table).where(where)
    return page, count
