"""The repository ports over SQL: row <-> domain translators and the member query compiled to one statement.

Core statements executed through the unit of work's ``Session`` (no ORM mapping, so no identity map that
could hand back a stale member: every read is a fresh SELECT and sees what other transactions committed,
which the service's re-read-and-retry on ``VersionMismatch`` relies on).

What this module does not do: commit (the transaction manager does), filter or page in Python (the
database does both, so ``Page.total`` is right), or decide SCIM behaviour (``adapters/memory.py`` is the
reference, and the contract suite proves the two agree).

A ``UniquenessConflict`` raised here comes from the database refusing a write. On PostgreSQL that leaves
the transaction unusable, so it ends the unit of work: the exception leaves ``with uow:``, which dooms the
transaction, and the request aborts. No savepoints are taken to save it; nothing would use it.
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Callable, Iterator, Mapping

from sqlalchemy import (ColumnElement, Integer, Table, Text, and_, case, delete, false, func, insert, not_,
                        or_, select, true, update)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from ...domain.errors import InvalidValue, NotFound, UniquenessConflict, VersionMismatch
from ...domain.model import (Address, ApiToken, Email, EnterpriseInfo, Member, MemberFields, Name, Organisation,
                             PhoneNumber, case_key, user_name_key)
from ...domain.ports import ApiTokenRepository, MemberRepository, OrganisationRepository
from ...domain.query import (BOOLEAN, DATETIME, OPERATORS_BY_TYPE, STRING, And, AnyValue, Attribute, Compare,
                             Filter, MemberQuery, Not, Operator, Or, Page, Present)
from .tables import (CASE_INSENSITIVE, EXTERNAL_ID_INDEX, SEARCH_TABLE_KEYS, USER_NAME_INDEX, api_tokens,
                     member_addresses, member_emails, member_phone_numbers, members, organisations)

#: Called after every write, so the transaction manager commits rather than rolls back (zope.sqlalchemy
#: only notices ORM flushes by itself) and the unit of work knows this block has work to discard.
Changed = Callable[[], None]

#: Characters no text column can hold: PostgreSQL refuses NUL (psycopg will not even send it) and SQLite's
#: string functions (length, substr, instr) stop at it; UTF-8, which both databases speak, cannot encode
#: a lone surrogate.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _storable(text: str) -> bool:
    """Whether ``text`` could be stored at all, so a lookup by it may find something rather than fail."""
    return _UNSTORABLE.search(text) is None


def _refuse_unstorable(texts) -> None:
    """``InvalidValue`` rather than a database error (a 500) for text no column can hold."""
    if any(isinstance(text, str) and not _storable(text) for text in texts):
        raise InvalidValue("Text values must not contain the NUL character (U+0000) or unpaired surrogates")


def _plausible_id(value: Any) -> bool:
    """Ids are UUID text; anything that cannot be one is simply not found (no query, no database error)."""
    return isinstance(value, str) and len(value) <= 36 and _storable(value)


def _binary(session: Session, column):
    """``column`` ordered by code point, as Python (and so the in-memory store) sorts strings.

    SQLite compares text as bytes already (BINARY, and UTF-8 byte order is code point order);
    PostgreSQL uses the database's collation, which for e.g. en_US puts "adatum" before "Contoso".
    Only for ordering: equality under a database's (always deterministic) default collation is already
    byte equality, and a COLLATE there would stop PostgreSQL from using the indexes.
    """
    if session.get_bind().dialect.name == "postgresql":
        return column.collate("C")
    return column


class SqlAlchemyOrganisationRepository(OrganisationRepository):
    def __init__(self, session: Session, changed: Changed):
        self.session = session
        self.changed = changed

    def add(self, organisation: Organisation) -> None:
        _refuse_unstorable([organisation.name])
        self.session.execute(insert(organisations).values(_organisation_row(organisation)))
        self.changed()

    def get(self, organisation_id: str) -> Organisation:
        row = None
        if _plausible_id(organisation_id):
            row = self.session.execute(
                select(organisations).where(organisations.c.id == organisation_id)).one_or_none()
        if row is None:
            raise NotFound(f"No organisation with id {organisation_id}")
        return _organisation(row)

    def update(self, organisation: Organisation) -> None:
        if not _plausible_id(organisation.id):
            raise NotFound(f"No organisation with id {organisation.id}")
        _refuse_unstorable([organisation.name])
        result = self.session.execute(
            update(organisations).where(organisations.c.id == organisation.id)
            .values(_organisation_row(organisation)))
        self.changed()
        if result.rowcount == 0:
            raise NotFound(f"No organisation with id {organisation.id}")

    def list(self) -> list[Organisation]:
        rows = self.session.execute(select(organisations).order_by(
            _binary(self.session, organisations.c.name), _binary(self.session, organisations.c.id)))
        return [_organisation(row) for row in rows]


class SqlAlchemyMemberRepository(MemberRepository):
    def __init__(self, session: Session, changed: Changed):
        self.session = session
        self.changed = changed

    def add(self, member: Member) -> None:
        row = _member_row(member)
        _refuse_unstorable(_texts(row, member))
        try:
            self.session.execute(insert(members).values(row))
        except IntegrityError as error:
            raise _uniqueness_conflict(error, member) from error
        self._write_search_rows(member, replacing=False)
        self.changed()

    def get(self, organisation_id: str, member_id: str) -> Member:
        row = None
        if _plausible_id(organisation_id) and _plausible_id(member_id):
            row = self.session.execute(select(members).where(
                members.c.organisation_id == organisation_id, members.c.id == member_id)).one_or_none()
        if row is None:
            raise NotFound(f"No member with id {member_id} in this organisation")
        return _member(row)

    def find(self, organisation_id: str, *, user_name: str | None = None,
             external_id: str | None = None) -> Member | None:
        conditions = []
        if user_name is not None and _storable(user_name):
            conditions.append(members.c.user_name_key == user_name_key(user_name))
        if external_id is not None and _storable(external_id):
            conditions.append(members.c.external_id == external_id)
        if not conditions or not _plausible_id(organisation_id):
            return None
        row = self.session.execute(
            select(members).where(members.c.organisation_id == organisation_id, or_(*conditions))
            .order_by(members.c.created, _binary(self.session, members.c.id)).limit(1)).one_or_none()
        return None if row is None else _member(row)

    def search(self, organisation_id: str, query: MemberQuery) -> Page:
        start = max(query.start_index, 1)
        if not _plausible_id(organisation_id):
            return Page(total=0, members=(), start_index=start)
        # Both statements are built before either runs, so a query the model does not allow fails alone.
        compiler = _QueryCompiler(self.session, organisation_id)
        where = members.c.organisation_id == organisation_id
        if query.filter is not None:
            where = and_(where, compiler.condition(query.filter))
        order = compiler.order(query)
        total = self.session.execute(select(func.count()).select_from(members).where(where)).scalar_one()
        count = max(query.count, 0)
        if count == 0 or start > total:
            return Page(total=total, members=(), start_index=start)
        rows = self.session.execute(select(members).where(where).order_by(*order).limit(count).offset(start - 1))
        return Page(total=total, members=tuple(_member(row) for row in rows), start_index=start)

    def update(self, member: Member, *, expected_version: int) -> None:
        if not (_plausible_id(member.organisation_id) and _plausible_id(member.id)):
            raise NotFound(f"No member with id {member.id} in this organisation")
        row = _member_row(member)
        _refuse_unstorable(_texts(row, member))
        del row["id"], row["organisation_id"], row["created"]
        try:
            result = self.session.execute(
                update(members)
                .where(members.c.id == member.id, members.c.organisation_id == member.organisation_id,
                       members.c.version == expected_version)
                .values(row))
        except IntegrityError as error:
            raise _uniqueness_conflict(error, member) from error
        if result.rowcount == 0:
            self.get(member.organisation_id, member.id)  # raises NotFound if it is gone
            raise VersionMismatch(f"Member {member.id} has changed since version {expected_version}")
        self._write_search_rows(member, replacing=True)
        self.changed()

    def remove(self, organisation_id: str, member_id: str, *, expected_version: int | None = None) -> None:
        if not (_plausible_id(organisation_id) and _plausible_id(member_id)):
            raise NotFound(f"No member with id {member_id} in this organisation")
        # The member's tokens and search rows go with it: ON DELETE CASCADE (SQLite: foreign_keys=ON).
        statement = delete(members).where(members.c.organisation_id == organisation_id, members.c.id == member_id)
        if expected_version is not None:
            statement = statement.where(members.c.version == expected_version)
        result = self.session.execute(statement)
        if result.rowcount == 0:
            if expected_version is not None and self.session.execute(select(members.c.id).where(
                    members.c.organisation_id == organisation_id, members.c.id == member_id)).first():
                raise VersionMismatch(f"Member {member_id} has changed since version {expected_version}")
            raise NotFound(f"No member with id {member_id} in this organisation")
        self.changed()

    def count(self, organisation_id: str) -> int:
        if not _plausible_id(organisation_id):
            return 0
        return self.session.execute(select(func.count()).select_from(members)
                                    .where(members.c.organisation_id == organisation_id)).scalar_one()

    def _write_search_rows(self, member: Member, *, replacing: bool) -> None:
        """Make the search tables hold exactly ``member``'s values (a new member has none to delete)."""
        for table, rows in _search_rows(member):
            if replacing:
                self.session.execute(delete(table).where(table.c.member_id == member.id))
            if rows:
                self.session.execute(insert(table), rows)


class SqlAlchemyApiTokenRepository(ApiTokenRepository):
    def __init__(self, session: Session, changed: Changed):
        self.session = session
        self.changed = changed

    def add(self, token: ApiToken) -> None:
        self.session.execute(insert(api_tokens).values(
            id=token.id, organisation_id=token.organisation_id, admin_id=token.admin_id, digest=token.digest,
            created=token.created, last_used=token.last_used, revoked=token.revoked))
        self.changed()

    def find_by_digest(self, digest: str) -> ApiToken | None:
        if not _storable(digest):
            return None
        row = self.session.execute(select(api_tokens).where(api_tokens.c.digest == digest)).one_or_none()
        return None if row is None else _token(row)

    def mark_used(self, token_id: str, at: datetime) -> None:
        if not _plausible_id(token_id):
            return
        self.session.execute(update(api_tokens).where(api_tokens.c.id == token_id).values(last_used=at))
        self.changed()

    def list_for_organisation(self, organisation_id: str) -> list[ApiToken]:
        if not _plausible_id(organisation_id):
            return []
        rows = self.session.execute(
            select(api_tokens).where(api_tokens.c.organisation_id == organisation_id)
            .order_by(api_tokens.c.created, _binary(self.session, api_tokens.c.id)))
        return [_token(row) for row in rows]


# -- the member query as SQL ----------------------------------------------------------------------------

#: The members column holding each singular attribute (its ``_key`` twin is compared if it ignores case).
_MEMBER_COLUMNS = {
    Attribute.ID: "id",
    Attribute.EXTERNAL_ID: "external_id",
    Attribute.USER_NAME: "user_name",
    Attribute.DISPLAY_NAME: "display_name",
    Attribute.NICK_NAME: "nick_name",
    Attribute.PROFILE_URL: "profile_url",
    Attribute.TITLE: "title",
    Attribute.USER_TYPE: "user_type",
    Attribute.PREFERRED_LANGUAGE: "preferred_language",
    Attribute.LOCALE: "locale",
    Attribute.TIMEZONE: "timezone",
    Attribute.ACTIVE: "active",
    Attribute.NAME_FORMATTED: "name_formatted",
    Attribute.NAME_FAMILY_NAME: "name_family_name",
    Attribute.NAME_GIVEN_NAME: "name_given_name",
    Attribute.NAME_MIDDLE_NAME: "name_middle_name",
    Attribute.NAME_HONORIFIC_PREFIX: "name_honorific_prefix",
    Attribute.NAME_HONORIFIC_SUFFIX: "name_honorific_suffix",
    Attribute.EMPLOYEE_NUMBER: "enterprise_employee_number",
    Attribute.COST_CENTER: "enterprise_cost_center",
    Attribute.ORGANIZATION: "enterprise_organization",
    Attribute.DIVISION: "enterprise_division",
    Attribute.DEPARTMENT: "enterprise_department",
    Attribute.MANAGER_ID: "manager_id",
    Attribute.CREATED: "created",
    Attribute.LAST_MODIFIED: "last_modified",
}

#: The search table of each multi-valued attribute, by the name the query model gives it.
_SEARCH_TABLES = {"emails": member_emails, "phoneNumbers": member_phone_numbers, "addresses": member_addresses}


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z])([A-Z])", r"_\1", name).lower()


def _column_name(attribute: Attribute) -> str:
    """The column a filter compares for ``attribute``: in ``members``, or in its collection's search table."""
    if attribute.collection is not None:
        return "primary" if attribute.type == BOOLEAN else f"{_snake(attribute.sub_attribute)}_key"
    name = _MEMBER_COLUMNS[attribute]
    return f"{name}_key" if name in CASE_INSENSITIVE else name


def _assigned(column, attribute: Attribute) -> ColumnElement[bool]:
    """The attribute has a value: not NULL, and for text not "" either (query.py: unassigned is None or "")."""
    if attribute.type == STRING:
        return and_(column.is_not(None), column != "")
    return column.is_not(None)


def _unassigned(column, attribute: Attribute) -> ColumnElement[bool]:
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


class _QueryCompiler:
    """``domain.query`` -> SQL, with ``memory.matches_filter``'s and ``memory.ordered``'s semantics exactly.

    Every condition produced is two-valued (never SQL NULL), so ``Not`` means what Python's ``not``
    means: ``col = 'x'`` alone would be UNKNOWN on a NULL column, and NOT UNKNOWN is UNKNOWN, so each
    comparison states what an unassigned value gives (false; true for ``ne``). Strings compare the
    ``_key`` columns (``model.case_key``, computed in Python) unless case-exact, and by code point.
    A sub-attribute (``emails.value``) is "the member is among those with a row in its collection's
    search table satisfying it"; inside ``AnyValue`` it is a condition on that one row instead.

    A query outside the model (an operator the attribute's type does not admit, a value of the wrong
    type, a naive datetime, sorting by a sub-attribute) raises ``ValueError``: ``scim.filter`` refuses
    those with invalidFilter before any repository sees them.
    """

    def __init__(self, session: Session, organisation_id: str):
        self.session = session
        self.organisation_id = organisation_id

    def condition(self, node: Filter, scope: Mapping[str, Any] | None = None) -> ColumnElement[bool]:
        """``node`` as a WHERE condition on ``members``; ``scope`` maps a collection to the search-table
        row its enclosing ``AnyValue`` is about."""
        scope = scope or {}
        if isinstance(node, And):
            return and_(self.condition(node.left, scope), self.condition(node.right, scope))
        if isinstance(node, Or):
            return or_(self.condition(node.left, scope), self.condition(node.right, scope))
        if isinstance(node, Not):
            return not_(self.condition(node.operand, scope))
        if isinstance(node, AnyValue):
            row = _SEARCH_TABLES[node.collection].alias()
            return self._some_row(row, self.condition(node.condition, {**scope, node.collection: row}))
        if isinstance(node, (Compare, Present)):
            attribute = node.attribute
            if attribute.collection is None:
                return self._test(node, members.c[_column_name(attribute)])
            row = scope.get(attribute.collection)
            if row is not None:
                return self._test(node, row.c[_column_name(attribute)])
            # Outside ``AnyValue``, "some value of the collection satisfies it": a subquery of its own.
            row = _SEARCH_TABLES[attribute.collection].alias()
            return self._some_row(row, self._test(node, row.c[_column_name(attribute)]))
        raise ValueError(f"unsupported filter node {node!r}")

    def _some_row(self, row, condition: ColumnElement[bool]) -> ColumnElement[bool]:
        """The member has a row in ``row``'s search table that satisfies ``condition``.

        ``members.id IN (SELECT member_id ... WHERE organisation_id = :org AND ...)`` rather than a
        correlated EXISTS: unless ``condition`` speaks of the member, the subquery stands alone, so both
        databases can answer it from the (organisation_id, value_key) index and look the members up by
        id (SQLite runs a correlated EXISTS once per member). Still two-valued: ``member_id`` is never
        NULL, so IN is never UNKNOWN.
        """
        # Correlated to everything but its own row, explicitly: SQLAlchemy's automatic correlation looks
        # one level up only, and a condition inside ``emails[...]`` may speak of the members row two
        # levels up, or of an enclosing value path's row.
        return members.c.id.in_(
            select(row.c.member_id).where(row.c.organisation_id == self.organisation_id, condition)
            .correlate_except(row))

    def order(self, query: MemberQuery) -> list:
        """ORDER BY: ``sort_by`` with unassigned values last (first when descending), then created, id."""
        tie_break = [members.c.created, _binary(self.session, members.c.id)]
        attribute = query.sort_by
        if attribute is None:
            return tie_break
        if attribute.collection is not None:
            raise ValueError(f"cannot sort by {attribute.path}: it may have many values")
        column = members.c[_column_name(attribute)]
        # Two terms, since NULLS FIRST/LAST differ by default between the databases; every unassigned
        # value sorts as NULL ("" too), so among them created and id decide, as in memory.
        missing = case((_assigned(column, attribute), 0), else_=1)
        value = case((_assigned(column, attribute), _binary(self.session, column)), else_=None) \
            if attribute.type == STRING else column
        if query.descending:
            return [missing.desc(), value.desc(), *tie_break]
        return [missing, value, *tie_break]

    def _test(self, node: Compare | Present, column) -> ColumnElement[bool]:
        attribute = node.attribute
        if isinstance(node, Present):
            return _assigned(column, attribute)
        operator = Operator(node.operator)
        if operator not in OPERATORS_BY_TYPE[attribute.type]:
            raise ValueError(f"{operator.value} cannot compare {attribute.path}, a {attribute.type}")
        value = node.value
        if value is None:
            if operator is Operator.EQ:
                return _unassigned(column, attribute)
            if operator is Operator.NE:
                return _assigned(column, attribute)
            raise ValueError(f"null can only be compared with eq or ne, not {operator.value}")
        if attribute.type == BOOLEAN:
            if not isinstance(value, bool):
                raise ValueError(f"{attribute.path} compares with a bool, not {value!r}")
            # IS / IS NOT are null-safe: NULL IS TRUE is false, NULL IS NOT TRUE is true.
            return column.is_(value) if operator is Operator.EQ else column.is_not(value)
        if attribute.type == DATETIME:
            if not isinstance(value, datetime) or value.utcoffset() is None:
                raise ValueError(f"{attribute.path} compares with a timezone-aware datetime, not {value!r}")
            return self._ordered_compare(column, operator, value, text=False)
        if not isinstance(value, str):
            raise ValueError(f"{attribute.path} compares with a str, not {value!r}")
        return self._compare_text(column, operator, value if attribute.case_exact else case_key(value))

    def _compare_text(self, column, operator: Operator, value: str) -> ColumnElement[bool]:
        unstorable = _UNSTORABLE.search(value)
        if unstorable is not None:
            # Writes refuse such characters, so no stored text equals, contains, starts or ends with
            # ``value``, and the database could not be sent it anyway. Ordering against it is ordering
            # against the least storable text above it: its prefix up to that character followed by the
            # next storable character (U+0001 after NUL, U+E000 after the surrogates).
            if operator is Operator.NE:
                return true()
            if operator in (Operator.EQ, Operator.CO, Operator.SW, Operator.EW):
                return false()
            value = value[:unstorable.start()] + ("\x01" if unstorable.group() == "\x00" else "\ue000")
            operator = Operator.GE if operator in (Operator.GT, Operator.GE) else Operator.LT
        if value == "":
            # Every assigned (non-empty) text is above "", and contains, starts and ends with it.
            if operator in (Operator.CO, Operator.SW, Operator.EW, Operator.GT, Operator.GE):
                return and_(column.is_not(None), column != "")
            return true() if operator is Operator.NE else false()
        present = column.is_not(None)
        length = len(value)  # characters, as SQL's length() and substr() count them
        if operator is Operator.CO:
            return and_(present, _Position(column, value) > 0)
        if operator is Operator.SW:
            return and_(present, func.substr(column, 1, length, type_=Text) == value)
        if operator is Operator.EW:
            # When ``value`` is longer than the text the start is below 1, and both databases then return
            # fewer than ``length`` characters (SQLite counts a negative start from the end), never a match.
            return and_(present, func.substr(column, func.length(column) - (length - 1), type_=Text) == value)
        return self._ordered_compare(column, operator, value, text=True)

    def _ordered_compare(self, column, operator: Operator, value, *, text: bool) -> ColumnElement[bool]:
        if operator is Operator.NE:
            return or_(column.is_(None), column != value)
        if operator is Operator.EQ:
            return and_(column.is_not(None), column == value)
        ordered = _binary(self.session, column) if text else column
        comparison = {Operator.GT: ordered > value, Operator.GE: ordered >= value,
                      Operator.LT: ordered < value, Operator.LE: ordered <= value}[operator]
        if text and operator in (Operator.LT, Operator.LE):
            return and_(column.is_not(None), column != "", comparison)  # "" is below everything, yet unassigned
        return and_(column.is_not(None), comparison)


# -- rows <-> domain values ---------------------------------------------------------------------------

def _uniqueness_conflict(error: IntegrityError, member: Member) -> Exception:
    """The ``UniquenessConflict`` a unique index violation stands for, or ``error`` itself if it is not one.

    PostgreSQL names the violated index (psycopg's ``diag.constraint_name``); SQLite names its columns
    ("UNIQUE constraint failed: members.organisation_id, members.user_name_key").
    """
    diag = getattr(error.orig, "diag", None)
    text = " ".join(filter(None, [getattr(diag, "constraint_name", None), str(error.orig)]))
    if USER_NAME_INDEX in text or "members.user_name_key" in text:
        return UniquenessConflict("userName", member.user_name)
    if EXTERNAL_ID_INDEX in text or "members.external_id" in text:
        return UniquenessConflict("externalId", member.external_id or "")
    return error


def _texts(row: dict[str, Any], member: Member) -> list[str]:
    """The member's text that lands in text columns: the row's, and every value the search tables key."""
    fields = member.fields
    entries = (*fields.emails, *fields.phone_numbers, *fields.addresses)
    return [v for v in row.values() if isinstance(v, str)] + [
        v for entry in entries for v in vars(entry).values() if isinstance(v, str)]


def _search_rows(member: Member) -> Iterator[tuple[Table, list[dict[str, Any]]]]:
    """Each search table with the rows it holds for ``member``: one per value, keys lowered in Python."""
    fields = member.fields
    for table, entries in ((member_emails, fields.emails), (member_phone_numbers, fields.phone_numbers),
                           (member_addresses, fields.addresses)):
        rows = []
        for position, entry in enumerate(entries):
            row = {"member_id": member.id, "organisation_id": member.organisation_id, "position": position,
                   "primary": entry.primary}
            for sub_attribute in SEARCH_TABLE_KEYS[table.name]:
                value = getattr(entry, sub_attribute)
                row[f"{sub_attribute}_key"] = None if value is None else case_key(value)
            rows.append(row)
        yield table, rows


def _organisation_row(organisation: Organisation) -> dict[str, Any]:
    return {"id": organisation.id, "name": organisation.name, "api_access": organisation.api_access}


def _organisation(row) -> Organisation:
    return Organisation(id=row.id, name=row.name, api_access=row.api_access)


def _member_row(member: Member) -> dict[str, Any]:
    fields = member.fields
    name = fields.name
    enterprise = fields.enterprise
    row = {
        "id": member.id,
        "organisation_id": member.organisation_id,
        "user_name": fields.user_name,
        "external_id": fields.external_id,
        "active": fields.active,
        "display_name": fields.display_name,
        "nick_name": fields.nick_name,
        "profile_url": fields.profile_url,
        "title": fields.title,
        "user_type": fields.user_type,
        "preferred_language": fields.preferred_language,
        "locale": fields.locale,
        "timezone": fields.timezone,
        "name_formatted": name.formatted,
        "name_family_name": name.family_name,
        "name_given_name": name.given_name,
        "name_middle_name": name.middle_name,
        "name_honorific_prefix": name.honorific_prefix,
        "name_honorific_suffix": name.honorific_suffix,
        "emails": [{"value": e.value, "type": e.type, "primary": e.primary, "display": e.display}
                   for e in fields.emails],
        "phone_numbers": [{"value": p.value, "type": p.type, "primary": p.primary, "display": p.display}
                          for p in fields.phone_numbers],
        "addresses": [{"formatted": a.formatted, "street_address": a.street_address, "locality": a.locality,
                       "region": a.region, "postal_code": a.postal_code, "country": a.country,
                       "type": a.type, "primary": a.primary}
                      for a in fields.addresses],
        "enterprise_employee_number": enterprise.employee_number,
        "enterprise_cost_center": enterprise.cost_center,
        "enterprise_organization": enterprise.organization,
        "enterprise_division": enterprise.division,
        "enterprise_department": enterprise.department,
        "manager_id": enterprise.manager_id,
        "is_admin": member.is_admin,
        "api_access": member.api_access,
        "created": member.created,
        "last_modified": member.last_modified,
        "version": member.version,
    }
    for name in CASE_INSENSITIVE:
        row[f"{name}_key"] = None if row[name] is None else case_key(row[name])
    row["user_name_key"] = user_name_key(fields.user_name)
    return row


def _member(row) -> Member:
    fields = MemberFields(
        user_name=row.user_name,
        external_id=row.external_id,
        active=row.active,
        name=Name(formatted=row.name_formatted, family_name=row.name_family_name,
                  given_name=row.name_given_name, middle_name=row.name_middle_name,
                  honorific_prefix=row.name_honorific_prefix, honorific_suffix=row.name_honorific_suffix),
        display_name=row.display_name,
        nick_name=row.nick_name,
        profile_url=row.profile_url,
        title=row.title,
        user_type=row.user_type,
        preferred_language=row.preferred_language,
        locale=row.locale,
        timezone=row.timezone,
        emails=tuple(Email(**e) for e in row.emails),
        phone_numbers=tuple(PhoneNumber(**p) for p in row.phone_numbers),
        addresses=tuple(Address(**a) for a in row.addresses),
        enterprise=EnterpriseInfo(
            employee_number=row.enterprise_employee_number, cost_center=row.enterprise_cost_center,
            organization=row.enterprise_organization, division=row.enterprise_division,
            department=row.enterprise_department, manager_id=row.manager_id),
    )
    return Member(id=row.id, organisation_id=row.organisation_id, fields=fields, created=row.created,
                  last_modified=row.last_modified, version=row.version, is_admin=row.is_admin,
                  api_access=row.api_access)


def _token(row) -> ApiToken:
    return ApiToken(id=row.id, organisation_id=row.organisation_id, admin_id=row.admin_id, digest=row.digest,
                    created=row.created, last_used=row.last_used, revoked=row.revoked)
