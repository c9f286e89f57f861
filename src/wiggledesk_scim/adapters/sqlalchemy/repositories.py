"""The repository ports over SQL: row <-> domain translators and the member filter compiled to one WHERE.

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

from datetime import datetime
from typing import Any, Callable

from sqlalchemy import ColumnElement, and_, delete, exists, false, func, insert, not_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ...domain.errors import InvalidValue, NotFound, UniquenessConflict, VersionMismatch
from ...domain.model import (Address, ApiToken, Email, EnterpriseInfo, Member, MemberFields, Name, Organisation,
                             PhoneNumber, case_key, user_name_key)
from ...domain.ports import ApiTokenRepository, MemberRepository, OrganisationRepository
from ...domain.query import (And, AnyEmail, Attribute, Compare, Filter, MemberQuery, Not, Operator, Or, Page,
                             Present)
from .tables import EXTERNAL_ID_INDEX, USER_NAME_INDEX, api_tokens, member_email_keys, members, organisations

#: Called after every write, so the transaction manager commits rather than rolls back (zope.sqlalchemy
#: only notices ORM flushes by itself) and the unit of work knows this block has work to discard.
Changed = Callable[[], None]


def _storable(session: Session, text: str) -> bool:
    """Whether ``text`` could be stored at all: PostgreSQL text cannot hold NUL, and psycopg refuses to
    even send it, so a lookup by such a value must simply find nothing rather than fail."""
    return "\x00" not in text or session.get_bind().dialect.name != "postgresql"


def _refuse_unstorable(session: Session, texts) -> None:
    """``InvalidValue`` rather than a database error (a 500) for text PostgreSQL cannot store."""
    if session.get_bind().dialect.name == "postgresql":
        if any(isinstance(text, str) and "\x00" in text for text in texts):
            raise InvalidValue("Text values must not contain the NUL character (U+0000)")


def _plausible_id(session: Session, value: Any) -> bool:
    """Ids are UUID text; anything that cannot be one is simply not found (no query, no database error)."""
    return isinstance(value, str) and len(value) <= 36 and _storable(session, value)


def _binary(session: Session, column):
    """``column`` ordered by code point, as Python (and so the in-memory store) sorts strings.

    SQLite compares text as bytes already; PostgreSQL uses the database's collation, which for e.g.
    en_US puts "adatum" before "Contoso".
    """
    if session.get_bind().dialect.name == "postgresql":
        return column.collate("C")
    return column


class SqlAlchemyOrganisationRepository(OrganisationRepository):
    def __init__(self, session: Session, changed: Changed):
        self.session = session
        self.changed = changed

    def add(self, organisation: Organisation) -> None:
        _refuse_unstorable(self.session, [organisation.name])
        self.session.execute(insert(organisations).values(_organisation_row(organisation)))
        self.changed()

    def get(self, organisation_id: str) -> Organisation:
        row = None
        if _plausible_id(self.session, organisation_id):
            row = self.session.execute(
                select(organisations).where(organisations.c.id == organisation_id)).one_or_none()
        if row is None:
            raise NotFound(f"No organisation with id {organisation_id}")
        return _organisation(row)

    def update(self, organisation: Organisation) -> None:
        if not _plausible_id(self.session, organisation.id):
            raise NotFound(f"No organisation with id {organisation.id}")
        _refuse_unstorable(self.session, [organisation.name])
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
        _refuse_unstorable(self.session, _texts(row, member))
        try:
            self.session.execute(insert(members).values(row))
        except IntegrityError as error:
            raise _uniqueness_conflict(error, member) from error
        self._write_email_keys(member)
        self.changed()

    def get(self, organisation_id: str, member_id: str) -> Member:
        row = None
        if _plausible_id(self.session, organisation_id) and _plausible_id(self.session, member_id):
            row = self.session.execute(select(members).where(
                members.c.organisation_id == organisation_id, members.c.id == member_id)).one_or_none()
        if row is None:
            raise NotFound(f"No member with id {member_id} in this organisation")
        return _member(row)

    def find(self, organisation_id: str, *, user_name: str | None = None,
             external_id: str | None = None) -> Member | None:
        conditions = []
        if user_name is not None and _storable(self.session, user_name):
            conditions.append(members.c.user_name_key == user_name_key(user_name))
        if external_id is not None and _storable(self.session, external_id):
            conditions.append(members.c.external_id == external_id)
        if not conditions or not _plausible_id(self.session, organisation_id):
            return None
        row = self.session.execute(
            select(members).where(members.c.organisation_id == organisation_id, or_(*conditions))
            .order_by(members.c.created, _binary(self.session, members.c.id)).limit(1)).one_or_none()
        return None if row is None else _member(row)

    def search(self, organisation_id: str, query: MemberQuery) -> Page:
        start = max(query.start_index, 1)
        if not _plausible_id(self.session, organisation_id):
            return Page(total=0, members=(), start_index=start)
        where = members.c.organisation_id == organisation_id
        if query.filter is not None:
            where = and_(where, _FilterCompiler(self.session).compile(query.filter))
        total = self.session.execute(select(func.count()).select_from(members).where(where)).scalar_one()
        count = max(query.count, 0)
        if count == 0 or start > total:
            return Page(total=total, members=(), start_index=start)
        rows = self.session.execute(
            select(members).where(where)
            .order_by(members.c.created, _binary(self.session, members.c.id))
            .limit(count).offset(start - 1))
        return Page(total=total, members=tuple(_member(row) for row in rows), start_index=start)

    def update(self, member: Member, *, expected_version: int) -> None:
        if not (_plausible_id(self.session, member.organisation_id) and _plausible_id(self.session, member.id)):
            raise NotFound(f"No member with id {member.id} in this organisation")
        row = _member_row(member)
        _refuse_unstorable(self.session, _texts(row, member))
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
        self._write_email_keys(member)
        self.changed()

    def remove(self, organisation_id: str, member_id: str) -> None:
        if not (_plausible_id(self.session, organisation_id) and _plausible_id(self.session, member_id)):
            raise NotFound(f"No member with id {member_id} in this organisation")
        # The member's tokens and e-mail keys go with it: ON DELETE CASCADE (SQLite: foreign_keys=ON).
        result = self.session.execute(delete(members).where(
            members.c.organisation_id == organisation_id, members.c.id == member_id))
        if result.rowcount == 0:
            raise NotFound(f"No member with id {member_id} in this organisation")
        self.changed()

    def count(self, organisation_id: str) -> int:
        if not _plausible_id(self.session, organisation_id):
            return 0
        return self.session.execute(select(func.count()).select_from(members)
                                    .where(members.c.organisation_id == organisation_id)).scalar_one()

    def _write_email_keys(self, member: Member) -> None:
        self.session.execute(delete(member_email_keys).where(member_email_keys.c.member_id == member.id))
        rows = [{"member_id": member.id, "organisation_id": member.organisation_id, "position": position,
                 "value_key": case_key(email.value),
                 "type_key": None if email.type is None else case_key(email.type)}
                for position, email in enumerate(member.fields.emails)]
        if rows:
            self.session.execute(insert(member_email_keys), rows)


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
        if not _storable(self.session, digest):
            return None
        row = self.session.execute(select(api_tokens).where(api_tokens.c.digest == digest)).one_or_none()
        return None if row is None else _token(row)

    def mark_used(self, token_id: str, at: datetime) -> None:
        if not _plausible_id(self.session, token_id):
            return
        self.session.execute(update(api_tokens).where(api_tokens.c.id == token_id).values(last_used=at))
        self.changed()

    def list_for_organisation(self, organisation_id: str) -> list[ApiToken]:
        if not _plausible_id(self.session, organisation_id):
            return []
        rows = self.session.execute(
            select(api_tokens).where(api_tokens.c.organisation_id == organisation_id)
            .order_by(api_tokens.c.created, _binary(self.session, api_tokens.c.id)))
        return [_token(row) for row in rows]


# -- the member filter as SQL ---------------------------------------------------------------------------

class _FilterCompiler:
    """``domain.query`` filter -> one SQL boolean, with ``memory.matches_filter``'s semantics exactly.

    Every expression produced is two-valued (never SQL NULL), so ``Not`` means what Python's ``not``
    means: a comparison against a NULL column is FALSE, not UNKNOWN. E-mail attributes become ``EXISTS``
    over ``member_email_keys``; inside ``AnyEmail`` they refer to the one e-mail row of that ``EXISTS``.
    """

    def __init__(self, session: Session):
        self.session = session

    def compile(self, node: Filter, email=None) -> ColumnElement[bool]:
        if isinstance(node, And):
            return and_(self.compile(node.left, email), self.compile(node.right, email))
        if isinstance(node, Or):
            return or_(self.compile(node.left, email), self.compile(node.right, email))
        if isinstance(node, Not):
            return not_(self.compile(node.operand, email))
        if isinstance(node, AnyEmail):
            row = member_email_keys.alias()
            return self._exists_email(row, self.compile(node.condition, row))
        if isinstance(node, (Compare, Present)):
            if node.attribute.is_email:
                return self._email_condition(node, email)
            return self._scalar_condition(node)
        raise ValueError(f"unsupported filter node {node!r}")

    def _exists_email(self, row, condition: ColumnElement[bool]) -> ColumnElement[bool]:
        # Correlated explicitly: SQLAlchemy's automatic correlation looks one level up only, and an
        # EXISTS inside ``emails[...]`` sits two levels below the query over ``members``.
        return exists().where(row.c.member_id == members.c.id, condition).correlate(members)

    def _email_condition(self, node: Compare | Present, email) -> ColumnElement[bool]:
        row = member_email_keys.alias() if email is None else email
        column = row.c.value_key if node.attribute is Attribute.EMAIL_VALUE else row.c.type_key
        if isinstance(node, Present):
            condition = _present(column)
        else:
            condition = self._compare(column, node, case_insensitive=True)
        # Outside ``AnyEmail`` "some e-mail of the member" satisfies it: an EXISTS of its own.
        return self._exists_email(row, condition) if email is None else condition

    def _scalar_condition(self, node: Compare | Present) -> ColumnElement[bool]:
        if node.attribute is Attribute.ACTIVE:
            if isinstance(node, Present):
                return members.c.active.is_not(None)
            if node.operator is not Operator.EQ:
                raise ValueError(f"unsupported operator {node.operator}")
            if not isinstance(node.value, bool):
                return false()  # active is never NULL, and a string is never equal to a boolean
            return members.c.active.is_(True) if node.value else members.c.active.is_(False)
        value_column, key_column = {
            Attribute.ID: (members.c.id, members.c.id),
            Attribute.EXTERNAL_ID: (members.c.external_id, members.c.external_id),
            Attribute.USER_NAME: (members.c.user_name, members.c.user_name_key),
            Attribute.DISPLAY_NAME: (members.c.display_name, members.c.display_name_key),
        }[node.attribute]
        if isinstance(node, Present):
            return _present(value_column)
        return self._compare(key_column, node, case_insensitive=not node.attribute.case_exact)

    def _compare(self, column, node: Compare, *, case_insensitive: bool) -> ColumnElement[bool]:
        if node.operator is not Operator.EQ:
            raise ValueError(f"unsupported operator {node.operator}")
        if node.value is None:
            return column.is_(None)  # ``eq null``: the attribute has no value
        if not isinstance(node.value, str) or not _storable(self.session, node.value):
            return false()  # text is never equal to a boolean, nor to what the database cannot hold
        value = case_key(node.value) if case_insensitive else node.value
        return and_(column.is_not(None), column == value)


def _present(column) -> ColumnElement[bool]:
    """RFC 7644 §3.4.2.2 ``pr``: has a value, and not the empty string."""
    return and_(column.is_not(None), column != "")


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
    """The member's text that lands in text columns (the JSON columns escape what they hold)."""
    emails = member.fields.emails
    return [v for v in row.values() if isinstance(v, str)] + [e.value for e in emails] + [
        e.type for e in emails if e.type is not None]


def _organisation_row(organisation: Organisation) -> dict[str, Any]:
    return {"id": organisation.id, "name": organisation.name, "api_access": organisation.api_access}


def _organisation(row) -> Organisation:
    return Organisation(id=row.id, name=row.name, api_access=row.api_access)


def _member_row(member: Member) -> dict[str, Any]:
    fields = member.fields
    name = fields.name
    enterprise = fields.enterprise
    return {
        "id": member.id,
        "organisation_id": member.organisation_id,
        "user_name": fields.user_name,
        "user_name_key": user_name_key(fields.user_name),
        "external_id": fields.external_id,
        "active": fields.active,
        "display_name": fields.display_name,
        "display_name_key": None if fields.display_name is None else case_key(fields.display_name),
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
