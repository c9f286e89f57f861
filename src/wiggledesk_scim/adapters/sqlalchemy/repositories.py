"""The repository ports over SQL: row <-> domain translators, and statements built once per process.

Core statements executed on the unit of work's connection (no ORM mapping, so no identity map that could
hand back a stale member: every read is a fresh SELECT and sees what other transactions committed, which
the service's re-read-and-retry on ``VersionMismatch`` relies on).

Every statement is built once and run with parameters (docs/performance.md): the fixed ones at import,
a resource query's once per resource type and shape (``queries.py``), an UPDATE once per set of changed
columns; a set of ids is one parameter (``queries.one_of``), so its statements have one shape too. SQLAlchemy
then compiles each once and finds it again by the statement's memoised cache key, instead of building,
keying and looking up a fresh statement per call, which cost more than running it.

What this module does not do: commit (the transaction manager does), filter or page in Python (the
database does both, so ``Page.total`` is right), or decide SCIM behaviour (``adapters/memory.py`` is the
reference, and the contract suites prove the two agree).

A team's memberships are rows of ``team_members`` and every membership operation is a fixed number of
statements whatever the team's size: adding names the new rows (an INSERT that skips those already
there), removing deletes by (team, member), reading a team's members streams them (``Database.stream``).

An OAuth client's secrets, trust and access tokens are rows of their own (``tables.py``); the two checks
that run per credential presented, ``secret_by_digest`` and ``grant_by_digest``, are one SELECT each,
joining by primary keys from the credential's unique digest everything that decides whether it may be used.

A ``UniquenessConflict`` raised here comes from the database refusing a write. On PostgreSQL that leaves
the transaction unusable, so it ends the unit of work: the exception leaves ``with uow:``, which dooms the
transaction, and the request aborts. No savepoints are taken to save it; nothing would use it.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from itertools import product
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

from sqlalchemy import JSON, Integer, bindparam, delete, func, insert, select, type_coerce, update
from sqlalchemy.dialects import postgresql, sqlite

from ...domain import catalogue as c
from ...domain.activity import Activity
from ...domain.errors import InvalidValue, NotFound, UniquenessConflict, VersionMismatch
from ...domain.model import (UNSTORABLE, AccessToken, AccessTokenGrant, ApiToken, ClientSecret, ClientSecretGrant,
                             FederatedTrust, Member, OAuthClient, Organisation, Reference, Rendition, Team, TokenGrant,
                             case_key)
from ...domain.ports import (AccessTokenRepository, ActivityTrail, ApiTokenRepository, MemberRepository,
                             OAuthClientRepository, OrganisationRepository, Rendering, TeamRepository)
from ...domain.query import Query, Page
from ...domain.registry import Leaf
from .mapping import DOCUMENT, GROUPS, USERS, ResourceMapping
from .prepared import Database, Prepared
from .queries import (LIMIT, OFFSET, ORGANISATION, StatementCache, binary, build_search, one_of, order_plan, plan,
                      unindexed)
from .tables import (access_tokens, activity, api_tokens, client_secrets, federated_trusts, members, oauth_clients,
                     organisations, team_members, teams)

#: Statements that depend on the dialect or on the shape of a query or an update, built on first use.
STATEMENTS = StatementCache()

T = TypeVar("T")


def _storable(text: str) -> bool:
    """Whether ``text`` could be stored at all, so a lookup by it may find something rather than fail."""
    return UNSTORABLE.search(text) is None


def _plausible_id(value: Any) -> bool:
    """Ids are UUID text; anything that cannot be one is simply not found (no query, no database error)."""
    return isinstance(value, str) and len(value) <= 36 and _storable(value)


def _plausible_ids(values: Iterable[Any]) -> list[str]:
    """The distinct values that could be ids, in their order: a set of ids to look up (the others are
    simply not found)."""
    return [value for value in dict.fromkeys(values) if _plausible_id(value)]


# -- the fixed statements ------------------------------------------------------------------------------
# Parameters are named ``b_*`` in WHERE clauses and ``v_*`` in SET clauses; an INSERT takes the column
# names.

_ORGANISATION_BY_ID = Prepared(select(organisations).where(organisations.c.id == bindparam("b_id")))
_INSERT_ORGANISATION = Prepared(insert(organisations))
_UPDATE_ORGANISATION = Prepared(update(organisations).where(organisations.c.id == bindparam("b_id"))
                                .values(name=bindparam("v_name"), api_access=bindparam("v_api_access")))

_MEMBER_KEY = (members.c.organisation_id == bindparam("b_organisation_id"), members.c.id == bindparam("b_id"))
_MEMBER_BY_ID = Prepared(select(*USERS.read_columns).where(*_MEMBER_KEY))
_MEMBER_EXISTS = Prepared(select(members.c.id).where(*_MEMBER_KEY))
_KEEP_DOCUMENT = Prepared(update(members).where(*_MEMBER_KEY, members.c.version == bindparam("b_version"))
                          .values(document=bindparam("v_document")))
_INSERT_MEMBER = Prepared(insert(members))
_DELETE_MEMBER = Prepared(delete(members).where(*_MEMBER_KEY))
_DELETE_MEMBER_AT_VERSION = Prepared(delete(members).where(*_MEMBER_KEY,
                                                           members.c.version == bindparam("b_version")))
_COUNT_MEMBERS = Prepared(select(func.count()).select_from(members)
                          .where(members.c.organisation_id == bindparam("b_organisation_id")))
# One primary-key look-up per id, the organisation checked on the rows found (``unindexed``).
_EXISTING_MEMBERS = Prepared(select(members.c.id).where(unindexed(members.c.organisation_id) == bindparam("b_organisation_id"),
                                                        one_of(members.c.id, "b_ids")))

_SEARCH_TABLES = USERS.changed_tables(None)
_INSERT_SEARCH_ROWS = {table.name: Prepared(insert(table)) for table in _SEARCH_TABLES}
_DELETE_SEARCH_ROWS = {table.name: Prepared(delete(table).where(table.c.member_id == bindparam("b_member_id")))
                       for table in _SEARCH_TABLES}

_TEAM_KEY = (teams.c.organisation_id == bindparam("b_organisation_id"), teams.c.id == bindparam("b_id"))
_TEAM_BY_ID = Prepared(select(*GROUPS.read_columns).where(*_TEAM_KEY))
_TEAM_EXISTS = Prepared(select(teams.c.id).where(*_TEAM_KEY))
_INSERT_TEAM = Prepared(insert(teams))
# The memberships go with the team: ON DELETE CASCADE.
_DELETE_TEAM = Prepared(delete(teams).where(*_TEAM_KEY))
_DELETE_TEAM_AT_VERSION = Prepared(delete(teams).where(*_TEAM_KEY, teams.c.version == bindparam("b_version")))
_IN_TEAM = team_members.c.team_id == bindparam("b_team_id")
_REMOVE_MEMBERS = Prepared(delete(team_members).where(_IN_TEAM, one_of(team_members.c.member_id, "b_ids")))
_REMOVE_ALL_MEMBERS = Prepared(delete(team_members).where(_IN_TEAM))
_MEMBER_COUNTS = Prepared(
    select(teams.c.id, func.count(team_members.c.member_id).label("count"))
    .select_from(teams.outerjoin(team_members, team_members.c.team_id == teams.c.id))
    .where(unindexed(teams.c.organisation_id) == bindparam("b_organisation_id"), one_of(teams.c.id, "b_ids"))
    .group_by(teams.c.id))
_MEMBERS_TEAMS = team_members.c.member_id == bindparam("b_member_id")
# A member leaving every team: their row locked, each of their teams touched (found through the memberships
# still there), then the memberships gone; one statement per table however many teams. The lock waits for
# a transaction adding the member to a team meanwhile (its foreign key check holds a share of it) to end,
# so the UPDATE, a new statement, sees that membership too and touches that team as well; and a later one
# waits for this transaction, then fails its foreign key. (SQLite has no row locks: its writers take turns.)
_LOCK_MEMBER = Prepared(select(members.c.id).where(members.c.organisation_id == bindparam("b_organisation_id"),
                                                   members.c.id == bindparam("b_member_id")).with_for_update())
_TOUCH_TEAMS_OF_MEMBER = Prepared(
    update(teams).where(teams.c.organisation_id == bindparam("b_organisation_id"),
                        teams.c.id.in_(select(team_members.c.team_id).where(_MEMBERS_TEAMS)))
    .values(version=teams.c.version + 1, last_modified=bindparam("v_last_modified",
                                                                 type_=teams.c.last_modified.type)))
_LEAVE_ALL_TEAMS = Prepared(delete(team_members).where(
    _MEMBERS_TEAMS, team_members.c.organisation_id == bindparam("b_organisation_id")))

_INSERT_TOKEN = Prepared(insert(api_tokens))
# The token check's one read: the token, its owner's and its organisation's settings, by primary keys
# from the token's unique digest. The owner may be gone (a hard delete revokes their tokens and keeps
# them): the outer join, and ``owner_id`` NULL.
_GRANT_BY_DIGEST = Prepared(
    select(api_tokens, organisations.c.api_access.label("organisation_api_access"),
           members.c.id.label("owner_id"), members.c.active.label("owner_active"),
           members.c.is_admin.label("owner_is_admin"), members.c.api_access.label("owner_api_access"))
    .join(organisations, organisations.c.id == api_tokens.c.organisation_id)
    .outerjoin(members, (members.c.id == api_tokens.c.admin_id)
               & (members.c.organisation_id == api_tokens.c.organisation_id))
    .where(api_tokens.c.digest == bindparam("b_digest")))
_TOKEN_BY_ID = Prepared(select(api_tokens).where(api_tokens.c.id == bindparam("b_id")))
# A token revoked already keeps its first revocation time.
_REVOKE_TOKEN = Prepared(update(api_tokens).where(api_tokens.c.id == bindparam("b_id"))
                         .values(revoked=func.coalesce(api_tokens.c.revoked, bindparam("v_revoked",
                                                                                       type_=api_tokens.c.revoked.type))))
_REVOKE_TOKENS_OF_ADMIN = Prepared(
    update(api_tokens).where((api_tokens.c.organisation_id == bindparam("b_organisation_id"))
                             & (api_tokens.c.admin_id == bindparam("b_admin_id")) & api_tokens.c.revoked.is_(None))
    .values(revoked=bindparam("v_revoked", type_=api_tokens.c.revoked.type)))
MARK_TOKEN_USED = Prepared(update(api_tokens).where(api_tokens.c.id == bindparam("b_id"))
                           .values(last_used=bindparam("v_last_used")))


# -- OAuth clients, their secrets, trusts and access tokens ----------------------------------------------
# A join reads several tables whose columns share names (id, created, revoked ...): each table's columns
# are labelled ``<prefix>_<column>`` (``_labelled``) and read back by the same prefix (``_client`` ...).


def _labelled(table, prefix: str) -> list:
    return [column.label(f"{prefix}_{column.name}") for column in table.c]


_INSERT_CLIENT = Prepared(insert(oauth_clients))
_CLIENT_BY_ID = Prepared(select(*_labelled(oauth_clients, "client")).where(oauth_clients.c.id == bindparam("b_id")))
# A client or secret revoked already keeps its first revocation time.
_REVOKE_CLIENT = Prepared(update(oauth_clients).where(oauth_clients.c.id == bindparam("b_id")).values(
    revoked=func.coalesce(oauth_clients.c.revoked, bindparam("v_revoked", type_=oauth_clients.c.revoked.type))))
MARK_CLIENT_USED = Prepared(update(oauth_clients).where(oauth_clients.c.id == bindparam("b_id"))
                            .values(last_used=bindparam("v_last_used")))
_INSERT_SECRET = Prepared(insert(client_secrets))
_SECRET_BY_ID = Prepared(select(*_labelled(client_secrets, "secret"))
                         .where(client_secrets.c.id == bindparam("b_id")))
_REVOKE_SECRET = Prepared(update(client_secrets).where(client_secrets.c.id == bindparam("b_id")).values(
    revoked=func.coalesce(client_secrets.c.revoked, bindparam("v_revoked", type_=client_secrets.c.revoked.type))))
MARK_SECRET_USED = Prepared(update(client_secrets).where(client_secrets.c.id == bindparam("b_id"))
                            .values(last_used=bindparam("v_last_used")))
# The token endpoint's one read of a presented secret: the secret by its unique digest, its client and its
# organisation's API access by primary keys.
_SECRET_BY_DIGEST = Prepared(
    select(*_labelled(client_secrets, "secret"), *_labelled(oauth_clients, "client"),
           organisations.c.api_access.label("organisation_api_access"))
    .join(oauth_clients, oauth_clients.c.id == client_secrets.c.client_id)
    .join(organisations, organisations.c.id == oauth_clients.c.organisation_id)
    .where(client_secrets.c.digest == bindparam("b_digest")))
_TRUST_BY_CLIENT = Prepared(select(federated_trusts).where(federated_trusts.c.client_id == bindparam("b_client_id")))
_TRUST_COLUMNS = ("tenant", "issuer", "audience", "subject", "jwks_uri")

_INSERT_ACCESS_TOKEN = Prepared(insert(access_tokens))
# Every SCIM request's one read of a presented access token, as cheap as the API token's _GRANT_BY_DIGEST:
# the token by its unique digest, then by primary keys its client, the client's organisation and the secret
# it was issued under (none for a token issued on an assertion: the outer join).
_ACCESS_GRANT_BY_DIGEST = Prepared(
    select(*_labelled(access_tokens, "token"), *_labelled(oauth_clients, "client"),
           *_labelled(client_secrets, "secret"), organisations.c.api_access.label("organisation_api_access"))
    .select_from(access_tokens)
    .join(oauth_clients, oauth_clients.c.id == access_tokens.c.client_id)
    .join(organisations, organisations.c.id == oauth_clients.c.organisation_id)
    .outerjoin(client_secrets, client_secrets.c.id == access_tokens.c.secret_id)
    .where(access_tokens.c.digest == bindparam("b_digest")))
_PRUNE_ACCESS_TOKENS = Prepared(delete(access_tokens).where(
    access_tokens.c.expires < bindparam("b_before", type_=access_tokens.c.expires.type)))


# The trail. Its INSERT is "inline": no RETURNING of the new id on PostgreSQL, which nothing reads.
INSERT_ACTIVITY = Prepared(insert(activity).inline().values(
    {column.name: bindparam(column.name, type_=column.type) for column in activity.c if column.name != "id"}))
_ACTIVITY_COLUMNS = tuple(column for column in activity.c if column.name != "id")
_SINCE = activity.c.at >= bindparam("b_since", type_=activity.c.at.type)
_PRUNE_ACTIVITY = Prepared(delete(activity).where(activity.c.at < bindparam("b_before", type_=activity.c.at.type)))


def _activity_page(since: bool, member: bool, event: bool) -> Prepared:
    """An organisation's newest records first, at most ``b_limit``; the other conditions as the shape says."""
    conditions = [activity.c.organisation_id == bindparam("b_organisation_id")]
    if member:
        conditions.append(activity.c.member_id == bindparam("b_member_id"))
    if since:
        conditions.append(_SINCE)
    if event:
        conditions.append(activity.c.event == bindparam("b_event"))
    return Prepared(select(*_ACTIVITY_COLUMNS).where(*conditions)
                    .order_by(activity.c.at.desc(), activity.c.id.desc())
                    .limit(bindparam("b_limit", type_=Integer())))


#: ``list``'s statement for each shape: (since given, member given, event given).
_ACTIVITY_PAGES = {shape: _activity_page(*shape) for shape in product((False, True), repeat=3)}
_COUNT_ACTIVITY = {
    of_one: Prepared(select(activity.c.organisation_id, activity.c.event, func.count().label("count"))
                     .where(_SINCE, *([activity.c.organisation_id == bindparam("b_organisation_id")]
                                      if of_one else []))
                     .group_by(activity.c.organisation_id, activity.c.event))
    for of_one in (False, True)}


def _update(mapping: ResourceMapping, columns: tuple[str, ...]) -> Prepared:
    """UPDATE of these columns of one resource (``b_organisation_id``, ``b_id``) at one version (``b_version``)."""
    table = mapping.table

    def build() -> Prepared:
        return Prepared(update(table).where(table.c.organisation_id == bindparam("b_organisation_id"),
                                            table.c.id == bindparam("b_id"),
                                            table.c.version == bindparam("b_version"))
                        .values({name: bindparam(f"v_{name}") for name in columns}))
    return STATEMENTS.get(("update", table.name, columns), build)


def _find_member(dialect: str, column: str) -> Prepared:
    """The first member (by creation) of an organisation whose ``column`` equals ``:b_value``."""
    return STATEMENTS.get(("find", dialect, column), lambda: Prepared(
        select(*USERS.read_columns).where(members.c.organisation_id == bindparam("b_organisation_id"),
                                          members.c[column] == bindparam("b_value"))
        .order_by(members.c.created, binary(dialect, members.c.id)).limit(1)))


def _add_members(dialect: str) -> Prepared:
    """INSERT of memberships that skips those already there (a concurrent add of the same member too, which
    waits for the other to commit rather than failing), so its count is of the new ones alone."""
    insert_for = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect]
    return STATEMENTS.get(("add_members", dialect), lambda: Prepared(
        insert_for(team_members).on_conflict_do_nothing()))


def _team_members(dialect: str) -> Prepared:
    """A team's members in order of id (by code point), each with the name shown for them: the member's
    displayName, else (None or "", which is unassigned, as in memory) their userName."""
    return STATEMENTS.get(("team_members", dialect), lambda: Prepared(
        select(team_members.c.member_id.label("value"),
               func.coalesce(func.nullif(members.c.display_name, ""), members.c.user_name).label("display"))
        .join_from(team_members, members, members.c.id == team_members.c.member_id)
        .where(_IN_TEAM).order_by(binary(dialect, team_members.c.member_id))))


def _teams_of(dialect: str) -> Prepared:
    """The teams of some members (``b_ids``) of an organisation, in order of team id (code point)."""
    return STATEMENTS.get(("teams_of", dialect), lambda: Prepared(
        select(team_members.c.member_id, teams.c.id.label("team_id"), teams.c.display_name)
        .join_from(team_members, teams, teams.c.id == team_members.c.team_id)
        .where(team_members.c.organisation_id == bindparam("b_organisation_id"),
               one_of(team_members.c.member_id, "b_ids"))
        .order_by(binary(dialect, teams.c.id))))


def _teams_column(dialect: str):
    """A column of a member's row (``teams``) holding the member's teams: a JSON list of ``[team id,
    display name]``, in no particular order (SQLite before 3.44 cannot order an aggregate); empty, or
    NULL on PostgreSQL, for a member in no team. In one statement with the member, where reading the
    member and then ``teams_of`` are two."""
    if dialect == "postgresql":
        listed = func.json_agg(func.json_build_array(teams.c.id, teams.c.display_name))
    else:
        listed = func.json_group_array(func.json_array(teams.c.id, teams.c.display_name))
    of_member = (select(listed).select_from(team_members.join(teams, teams.c.id == team_members.c.team_id))
                 .where(team_members.c.member_id == members.c.id,
                        team_members.c.organisation_id == members.c.organisation_id)
                 .scalar_subquery())
    return type_coerce(of_member, JSON).label(_TEAMS)


def _member_with_teams(dialect: str) -> Prepared:
    """A member's row with its teams (``_teams_column``)."""
    return STATEMENTS.get(("member_with_teams", dialect), lambda: Prepared(
        select(*USERS.read_columns, _teams_column(dialect)).where(*_MEMBER_KEY)))


def _documents_after(dialect: str) -> Prepared:
    """Up to ``:b_limit`` members of every organisation with an id after ``:b_after``, in the order of
    the primary key's index (the database's own collation, for both the comparison and the order, so that
    the batches neither skip nor repeat a member): their ids, versions and documents."""
    return STATEMENTS.get(("documents_after", dialect), lambda: Prepared(
        select(members.c.id, members.c.organisation_id, members.c.version, members.c[DOCUMENT])
        .where(members.c.id > bindparam("b_after"))
        .order_by(members.c.id).limit(bindparam("b_limit", type_=Integer()))))


def _rendition_with_teams(dialect: str) -> Prepared:
    """A member's rendition (``USERS.rendition_columns``) with their teams (``_teams_column``)."""
    return STATEMENTS.get(("rendition_with_teams", dialect), lambda: Prepared(
        select(*USERS.rendition_columns, _teams_column(dialect)).where(*_MEMBER_KEY)))


def _keep_teams(seen: dict, organisation_id: str, row: dict) -> None:
    """Keep the teams of a row read with ``_teams_column`` for the unit's ``teams_of`` (taking them out
    of the row), in order of team id (code point), as ``teams_of`` reads them."""
    listed = row.pop(_TEAMS) or ()
    seen[_TEAMS, organisation_id, row["id"]] = tuple(
        Reference(team_id, display_name) for team_id, display_name in sorted(listed))


def _one_at_most(mapping: ResourceMapping, filter_plan: tuple | None) -> bool:
    """Whether a search by ``filter_plan`` matches one resource at most: an equality on a unique
    attribute (Entra's look-ups, ``externalId eq`` and ``userName eq``)."""
    return (filter_plan is not None and filter_plan[0] == "test" and filter_plan[1] in mapping.resource.unique
            and filter_plan[2][0] == "text_eq")


#: The column of ``_teams_column``, and the key a member's teams are kept under in the unit's
#: ``Database.seen`` (with the organisation's and the member's id) for ``teams_of`` to find.
_TEAMS = "teams"
#: The tables what a unit keeps in ``Database.seen`` is read from: a write to one of them forgets it.
SEEN_FROM = frozenset({teams.name, team_members.name})


def _organisations_by_name(dialect: str) -> Prepared:
    return STATEMENTS.get(("organisations", dialect), lambda: Prepared(select(organisations).order_by(
        binary(dialect, organisations.c.name), binary(dialect, organisations.c.id))))


def _tokens_of_organisation(dialect: str) -> Prepared:
    return STATEMENTS.get(("tokens", dialect), lambda: Prepared(select(api_tokens).where(
        api_tokens.c.organisation_id == bindparam("b_organisation_id"))
        .order_by(api_tokens.c.created, binary(dialect, api_tokens.c.id))))


def _clients_of_organisation(dialect: str) -> Prepared:
    return STATEMENTS.get(("clients", dialect), lambda: Prepared(
        select(*_labelled(oauth_clients, "client"))
        .where(oauth_clients.c.organisation_id == bindparam("b_organisation_id"))
        .order_by(oauth_clients.c.created, binary(dialect, oauth_clients.c.id))))


def _secrets_of_client(dialect: str) -> Prepared:
    return STATEMENTS.get(("secrets", dialect), lambda: Prepared(
        select(*_labelled(client_secrets, "secret")).where(client_secrets.c.client_id == bindparam("b_client_id"))
        .order_by(client_secrets.c.created, binary(dialect, client_secrets.c.id))))


def _set_trust(dialect: str) -> Prepared:
    """INSERT of a trust that replaces the client's trust if it has one: one statement, and two
    concurrent settings of one client's trust both succeed (the later wins) instead of one failing."""
    insert_for = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect]

    def build() -> Prepared:
        statement = insert_for(federated_trusts)
        return Prepared(statement.on_conflict_do_update(
            index_elements=[federated_trusts.c.client_id],
            set_={name: statement.excluded[name] for name in _TRUST_COLUMNS}))
    return STATEMENTS.get(("set_trust", dialect), build)


def _search(dialect: str, mapping: ResourceMapping, filter_plan: tuple | None,
            order: tuple, with_teams: bool = False, renditions: bool = False) -> tuple[Prepared, Prepared]:
    """The page and count statements of a search; ``with_teams``: each member's teams in the page's rows
    (``_teams_column``); ``renditions``: the rows hold the resources' renditions, not the resources."""
    def build() -> tuple[Prepared, Prepared]:
        extra = (_teams_column(dialect),) if with_teams else ()
        columns = mapping.rendition_columns if renditions else ()
        page, count = build_search(dialect, mapping, filter_plan, order, extra, columns)
        return Prepared(page), Prepared(count)
    # Keyed by the resource type as well: with no filter and no sort, a search of members and one of
    # teams have the same plan.
    return STATEMENTS.get(("search", mapping.resource.name, dialect, filter_plan, order, with_teams, renditions),
                          build)


class _Repository:
    def __init__(self, db: Database):
        self.db = db
        self.dialect = db.dialect.name

    def _constraint_violation(self, error: Exception) -> bool:
        """Whether the database refused a write for a constraint (a unique index, a foreign key)."""
        return isinstance(error, self.db.dialect.loaded_dbapi.IntegrityError)

    def _search(self, mapping: ResourceMapping, organisation_id: str, query: Query,
                renditions: bool = False) -> Page:
        """The page of ``query`` over the resources ``mapping`` maps (``MemberRepository.search``): of
        their rows, or with ``renditions`` of the rows' ``(id, version, document)`` alone."""
        start = max(query.start_index, 1)
        # Planned before anything runs, so a query the model does not allow fails without SQL.
        values: list[Any] = []
        filter_plan = None if query.filter is None else plan(query.filter, values)
        order = order_plan(query)
        if not _plausible_id(organisation_id):
            return Page(total=0, resources=(), start_index=start)
        # A look-up of one member brings their teams along (the unit's ``teams_of`` takes them); not a
        # longer page's, whose rows' subqueries the database may run before it sorts and cuts the page
        # (every match, not the page), where ``teams_of`` is one statement for the page.
        seen = self.db.seen
        with_teams = mapping is USERS and _one_at_most(mapping, filter_plan)
        page, count_all = _search(self.dialect, mapping, filter_plan, order, with_teams, renditions)
        parameters = {f"p{index}": value for index, value in enumerate(values)}
        parameters[ORGANISATION] = organisation_id
        count = max(query.count, 0)
        rows = []
        if count:
            rows = self.db.rows(page, {**parameters, LIMIT: count, OFFSET: start - 1})
        if 0 < len(rows) < count or (not rows and count and start == 1):
            # A page that is not full ends the matches: the total needs no second statement. Entra's
            # look-ups (one match or none) are answered by one SELECT.
            total = start - 1 + len(rows)
        else:
            total = self.db.scalar(count_all, parameters)
        if with_teams:
            for row in rows:
                _keep_teams(seen, organisation_id, row)
        if renditions:
            return Page(total=total, resources=tuple(rows), start_index=start)
        return Page(total=total, resources=tuple(mapping.resource_of(row) for row in rows), start_index=start)

    def _update(self, mapping: ResourceMapping, resource: Any, expected_version: int,
                changes: tuple[Leaf, ...] | None) -> int:
        """UPDATE of ``resource``'s row at ``expected_version`` (only the columns of ``changes`` when
        known); how many rows it touched (0 or 1). Raises ``UniquenessConflict``."""
        if changes is not None:
            row = mapping.changed_row(resource, changes)
        else:
            row = mapping.row(resource)
            del row["id"], row["organisation_id"], row["created"]
        parameters = {f"v_{name}": value for name, value in row.items()}
        parameters.update(b_id=resource.id, b_organisation_id=resource.organisation_id, b_version=expected_version)
        try:
            return self.db.write(_update(mapping, tuple(row)), parameters)
        except Exception as error:
            if self._constraint_violation(error):
                raise _uniqueness_conflict(error, mapping, resource) from error
            raise

    def _insert(self, mapping: ResourceMapping, prepared: Prepared, resource: Any) -> None:
        """INSERT of ``resource``'s row; raises ``UniquenessConflict``."""
        try:
            self.db.write(prepared, mapping.row(resource))
        except Exception as error:
            if self._constraint_violation(error):
                raise _uniqueness_conflict(error, mapping, resource) from error
            raise


class SqlAlchemyOrganisationRepository(_Repository, OrganisationRepository):
    def add(self, organisation: Organisation) -> None:
        self.db.write(_INSERT_ORGANISATION, _organisation_row(organisation))

    def get(self, organisation_id: str) -> Organisation:
        row = None
        if _plausible_id(organisation_id):
            row = self.db.row(_ORGANISATION_BY_ID, {"b_id": organisation_id})
        if row is None:
            raise NotFound(f"No organisation with id {organisation_id}")
        return _organisation(row)

    def update(self, organisation: Organisation) -> None:
        if not _plausible_id(organisation.id):
            raise NotFound(f"No organisation with id {organisation.id}")
        touched = self.db.write(_UPDATE_ORGANISATION, {"b_id": organisation.id, "v_name": organisation.name,
                                                       "v_api_access": organisation.api_access})
        if touched == 0:
            raise NotFound(f"No organisation with id {organisation.id}")

    def list(self) -> list[Organisation]:
        return [_organisation(row) for row in self.db.rows(_organisations_by_name(self.dialect))]


class SqlAlchemyMemberRepository(_Repository, MemberRepository):
    def add(self, member: Member) -> None:
        self._insert(USERS, _INSERT_MEMBER, member)
        self._write_search_rows(member, _SEARCH_TABLES, replacing=False)

    def get(self, organisation_id: str, member_id: str) -> Member:
        return USERS.resource_of(self._row(organisation_id, member_id, _member_with_teams))

    def _row(self, organisation_id: str, member_id: str, with_teams: Callable[[str], Prepared]) -> dict:
        """The member's row as ``with_teams(dialect)`` selects it, their teams in the same SELECT, kept
        for the unit's ``teams.teams_of`` of this member (a GET's ``groups``, a write's response) to take
        (``Database.seen``); raises NotFound."""
        row = None
        if _plausible_id(organisation_id) and _plausible_id(member_id):
            row = self.db.row(with_teams(self.dialect), {"b_organisation_id": organisation_id, "b_id": member_id})
        if row is None:
            raise NotFound(c.NO_MEMBER.format(id=member_id))
        _keep_teams(self.db.seen, organisation_id, row)
        return row

    def rendition(self, organisation_id: str, member_id: str, rendering: Rendering) -> Rendition:
        """The member's kept document if ``rendering`` is the one kept (``USERS.rendering``) and it is
        current, in one SELECT of three columns (and the member's teams, as ``get``
        reads them); else rendered from the member's row."""
        if rendering is not USERS.rendering:
            return super().rendition(organisation_id, member_id, rendering)
        row = self._row(organisation_id, member_id, _rendition_with_teams)
        found = self._rendered([row], organisation_id, rendering)
        if not found:
            raise NotFound(c.NO_MEMBER.format(id=member_id))
        return found[0]

    def search_renditions(self, organisation_id: str, query: Query, rendering: Rendering) -> Page:
        if rendering is not USERS.rendering:
            return super().search_renditions(organisation_id, query, rendering)
        page = self._search(USERS, organisation_id, query, renditions=True)
        return replace(page, resources=self._rendered(page.resources, organisation_id, rendering))

    def refresh_renditions(self, rendering: Rendering, after: str | None, limit: int) -> tuple[int, int, str | None]:
        if rendering is not USERS.rendering:
            return super().refresh_renditions(rendering, after, limit)
        rows = self.db.rows(_documents_after(self.dialect), {"b_after": after or "", "b_limit": limit})
        refreshed = 0
        for row in rows:
            if rendering.kept(row[DOCUMENT], row["version"]):
                continue
            member_row = self.db.row(_MEMBER_BY_ID, {"b_organisation_id": row["organisation_id"], "b_id": row["id"]})
            if member_row is None:
                continue
            member = USERS.resource_of(member_row)
            # At the version read: a member changed meanwhile was rendered by that change.
            refreshed += self.db.write(_KEEP_DOCUMENT, {"b_organisation_id": member.organisation_id, "b_id": member.id,
                                                        "b_version": member.version,
                                                        "v_document": rendering.render(member)})
        return refreshed, len(rows), (rows[-1]["id"] if len(rows) == limit else None)

    def _rendered(self, rows: Sequence[dict], organisation_id: str, rendering: Rendering) -> tuple[Rendition, ...]:
        """The renditions of rows of ``USERS.rendition_columns``: each row's document if it is current,
        else rendered from the member's row, read again. A member deleted in between (each of a reading
        unit's statements sees the latest commit) is left out, as a page read a moment later would."""
        kept, renditions = rendering.kept, []
        for row in rows:
            if kept(row[DOCUMENT], row["version"]):
                renditions.append(Rendition(row["id"], row["version"], row[DOCUMENT]))
                continue
            member_row = self.db.row(_MEMBER_BY_ID, {"b_organisation_id": organisation_id, "b_id": row["id"]})
            if member_row is not None:
                renditions.append(rendering.rendition(USERS.resource_of(member_row)))
        return tuple(renditions)

    def find(self, organisation_id: str, *, user_name: str | None = None,
             external_id: str | None = None) -> Member | None:
        if not _plausible_id(organisation_id):
            return None
        for column, value in (("user_name_key", None if user_name is None else case_key(user_name)),
                              ("external_id", external_id)):
            if value is None or not _storable(value):
                continue
            row = self.db.row(_find_member(self.dialect, column),
                              {"b_organisation_id": organisation_id, "b_value": value})
            if row is not None:
                return USERS.resource_of(row)
        return None

    def search(self, organisation_id: str, query: Query) -> Page:
        return self._search(USERS, organisation_id, query)

    def update(self, member: Member, *, expected_version: int, changes: tuple[Leaf, ...] | None = None) -> None:
        if not (_plausible_id(member.organisation_id) and _plausible_id(member.id)):
            raise NotFound(c.NO_MEMBER.format(id=member.id))
        if self._update(USERS, member, expected_version, changes) == 0:
            self.get(member.organisation_id, member.id)  # raises NotFound if it is gone
            raise VersionMismatch(c.CHANGED_SINCE.format(resource="Member", id=member.id, version=expected_version))
        self._write_search_rows(member, USERS.changed_tables(changes), replacing=True)

    def remove(self, organisation_id: str, member_id: str, *, expected_version: int | None = None) -> None:
        if not (_plausible_id(organisation_id) and _plausible_id(member_id)):
            raise NotFound(c.NO_MEMBER.format(id=member_id))
        # The member's tokens, search rows and memberships go with it: ON DELETE CASCADE (SQLite:
        # foreign_keys=ON).
        key = {"b_organisation_id": organisation_id, "b_id": member_id}
        if expected_version is None:
            touched = self.db.write(_DELETE_MEMBER, key)
        else:
            touched = self.db.write(_DELETE_MEMBER_AT_VERSION, {**key, "b_version": expected_version})
        if touched == 0:
            if expected_version is not None and self.db.row(_MEMBER_EXISTS, key) is not None:
                raise VersionMismatch(c.CHANGED_SINCE.format(resource="Member", id=member_id, version=expected_version))
            raise NotFound(c.NO_MEMBER.format(id=member_id))

    def count(self, organisation_id: str) -> int:
        if not _plausible_id(organisation_id):
            return 0
        return self.db.scalar(_COUNT_MEMBERS, {"b_organisation_id": organisation_id})

    def existing(self, organisation_id: str, member_ids: Sequence[str]) -> frozenset[str]:
        wanted = _plausible_ids(member_ids)
        if not wanted or not _plausible_id(organisation_id):
            return frozenset()
        rows = self.db.rows(_EXISTING_MEMBERS, {"b_organisation_id": organisation_id, "b_ids": wanted})
        return frozenset(row["id"] for row in rows)

    def _write_search_rows(self, member: Member, tables: list, *, replacing: bool) -> None:
        """Make the search tables in ``tables`` hold exactly ``member``'s values (a new member has none to
        delete)."""
        for table, rows in USERS.search_rows(member, tables):
            if replacing:
                self.db.write(_DELETE_SEARCH_ROWS[table.name], {"b_member_id": member.id})
            if rows:
                self.db.write_many(_INSERT_SEARCH_ROWS[table.name], rows)


class SqlAlchemyTeamRepository(_Repository, TeamRepository):
    """Teams, one row each, and their memberships, one row each (``team_members``). Every membership
    operation first finds the team in the organisation (one read by primary key), so no call ever reads or
    changes another organisation's team, and then costs a fixed number of statements, whatever the team's
    size: in proportion to the members it names in work, never to the members the team has."""

    def add(self, team: Team) -> None:
        self._insert(GROUPS, _INSERT_TEAM, team)

    def get(self, organisation_id: str, team_id: str) -> Team:
        row = None
        if _plausible_id(organisation_id) and _plausible_id(team_id):
            row = self.db.row(_TEAM_BY_ID, {"b_organisation_id": organisation_id, "b_id": team_id})
        if row is None:
            raise NotFound(c.NO_TEAM.format(id=team_id))
        return GROUPS.resource_of(row)

    def search(self, organisation_id: str, query: Query) -> Page:
        return self._search(GROUPS, organisation_id, query)

    def update(self, team: Team, *, expected_version: int, changes: tuple[Leaf, ...] | None = None) -> None:
        if not (_plausible_id(team.organisation_id) and _plausible_id(team.id)):
            raise NotFound(c.NO_TEAM.format(id=team.id))
        if self._update(GROUPS, team, expected_version, changes) == 0:
            self.get(team.organisation_id, team.id)  # raises NotFound if it is gone
            raise VersionMismatch(c.CHANGED_SINCE.format(resource="Team", id=team.id, version=expected_version))

    def remove(self, organisation_id: str, team_id: str, *, expected_version: int | None = None) -> None:
        if not (_plausible_id(organisation_id) and _plausible_id(team_id)):
            raise NotFound(c.NO_TEAM.format(id=team_id))
        # Its memberships go with it (ON DELETE CASCADE); its members stay.
        key = {"b_organisation_id": organisation_id, "b_id": team_id}
        if expected_version is None:
            touched = self.db.write(_DELETE_TEAM, key)
        else:
            touched = self.db.write(_DELETE_TEAM_AT_VERSION, {**key, "b_version": expected_version})
        if touched == 0:
            if expected_version is not None and self.db.row(_TEAM_EXISTS, key) is not None:
                raise VersionMismatch(c.CHANGED_SINCE.format(resource="Team", id=team_id, version=expected_version))
            raise NotFound(c.NO_TEAM.format(id=team_id))

    def _find(self, organisation_id: str, team_id: str) -> None:
        """Raises ``NotFound`` unless the team is the organisation's."""
        if not (_plausible_id(organisation_id) and _plausible_id(team_id)) or self.db.row(
                _TEAM_EXISTS, {"b_organisation_id": organisation_id, "b_id": team_id}) is None:
            raise NotFound(c.NO_TEAM.format(id=team_id))

    def add_members(self, organisation_id: str, team_id: str, member_ids: Sequence[str]) -> int:
        self._find(organisation_id, team_id)
        named = tuple(dict.fromkeys(member_ids))
        if not named:
            return 0
        unknown = next((member_id for member_id in named if not _plausible_id(member_id)), None)
        if unknown is not None:
            raise InvalidValue(c.NOT_A_USER.format(ids=unknown))
        rows = [{"team_id": team_id, "member_id": member_id, "organisation_id": organisation_id}
                for member_id in named]
        try:
            return self.db.write_many(_add_members(self.dialect), rows)
        except Exception as error:
            # The INSERT skips memberships already there, so what can fail it is a foreign key: a member
            # (or, on PostgreSQL, the team) deleted by a transaction that committed since the caller
            # checked. PostgreSQL names the constraint; SQLite, whose writers take turns, cannot get here
            # but for a member id the caller never checked.
            if not self._constraint_violation(error):
                raise
            constraint = getattr(getattr(error, "diag", None), "constraint_name", None)
            if constraint == "fk_team_members_team_id_teams":
                raise NotFound(c.NO_TEAM.format(id=team_id)) from error
            raise InvalidValue(c.NO_LONGER_A_USER.format()) from error

    def remove_members(self, organisation_id: str, team_id: str, member_ids: Sequence[str]) -> int:
        self._find(organisation_id, team_id)
        named = _plausible_ids(member_ids)
        if not named:
            return 0
        return self.db.write(_REMOVE_MEMBERS, {"b_team_id": team_id, "b_ids": named})

    def remove_all_members(self, organisation_id: str, team_id: str) -> int:
        self._find(organisation_id, team_id)
        return self.db.write(_REMOVE_ALL_MEMBERS, {"b_team_id": team_id})

    def members(self, organisation_id: str, team_id: str, read: Callable[[Iterator[Reference]], T]) -> T:
        self._find(organisation_id, team_id)
        return self.db.stream(_team_members(self.dialect), {"b_team_id": team_id},
                              lambda rows: read(Reference(row["value"], row["display"]) for row in rows))

    def teams_of(self, organisation_id: str, member_ids: Sequence[str]) -> dict[str, tuple[Reference, ...]]:
        seen = self.db.seen
        if seen and len(member_ids) == 1 and (_TEAMS, organisation_id, member_ids[0]) in seen:
            # Read with the member, by this unit (``SqlAlchemyMemberRepository.get``).
            found = seen[_TEAMS, organisation_id, member_ids[0]]
            return {member_ids[0]: found} if found else {}
        named = _plausible_ids(member_ids)
        if not named or not _plausible_id(organisation_id):
            return {}
        found: dict[str, list[Reference]] = {}
        for row in self.db.rows(_teams_of(self.dialect), {"b_organisation_id": organisation_id, "b_ids": named}):
            found.setdefault(row["member_id"], []).append(Reference(row["team_id"], row["display_name"]))
        return {member_id: tuple(references) for member_id, references in found.items()}

    def member_counts(self, organisation_id: str, team_ids: Iterable[str]) -> dict[str, int]:
        named = _plausible_ids(team_ids)
        if not named or not _plausible_id(organisation_id):
            return {}
        rows = self.db.rows(_MEMBER_COUNTS, {"b_organisation_id": organisation_id, "b_ids": named})
        return {row["id"]: row["count"] for row in rows}

    def leave_all(self, organisation_id: str, member_id: str, at: datetime) -> int:
        if not (_plausible_id(organisation_id) and _plausible_id(member_id)):
            return 0
        key = {"b_organisation_id": organisation_id, "b_member_id": member_id}
        self.db.rows(_LOCK_MEMBER, key)
        touched = self.db.write(_TOUCH_TEAMS_OF_MEMBER, {**key, "v_last_modified": at})
        if touched:
            self.db.write(_LEAVE_ALL_TEAMS, key)
        return touched


class SqlAlchemyApiTokenRepository(_Repository, ApiTokenRepository):
    """``apart``: how a reading unit of work records a token's use, in a transaction of its own."""

    def __init__(self, db: Database, apart: Callable[[Prepared, dict], None] | None = None):
        super().__init__(db)
        self.apart = apart

    def add(self, token: ApiToken) -> None:
        self.db.write(_INSERT_TOKEN, {
            "id": token.id, "organisation_id": token.organisation_id, "admin_id": token.admin_id,
            "digest": token.digest, "created": token.created, "last_used": token.last_used,
            "revoked": token.revoked, "name": token.name, "expires": token.expires})

    def find_grant(self, digest: str) -> TokenGrant | None:
        if not _storable(digest):
            return None
        # Asked on every request: a reading unit's connection on SQLite keeps the answer while the
        # database is unchanged (``Database.kept``).
        return self.db.kept((_GRANT_BY_DIGEST, digest), lambda: self._grant(digest))

    def _grant(self, digest: str) -> TokenGrant | None:
        row = self.db.row(_GRANT_BY_DIGEST, {"b_digest": digest})
        if row is None:
            return None
        if row["owner_id"] is None:
            return TokenGrant(token=_token(row), organisation_api_access=row["organisation_api_access"],
                              owner_active=False, owner_is_admin=False, owner_api_access=False,
                              owner_deleted=True)
        return TokenGrant(token=_token(row), organisation_api_access=row["organisation_api_access"],
                          owner_active=row["owner_active"], owner_is_admin=row["owner_is_admin"],
                          owner_api_access=row["owner_api_access"])

    def get(self, token_id: str) -> ApiToken:
        row = self.db.row(_TOKEN_BY_ID, {"b_id": token_id}) if _plausible_id(token_id) else None
        if row is None:
            raise NotFound(f"No API token with id {token_id}")
        return _token(row)

    def revoke(self, token_id: str, at: datetime) -> None:
        if not _plausible_id(token_id) or self.db.write(_REVOKE_TOKEN, {"b_id": token_id, "v_revoked": at}) == 0:
            raise NotFound(f"No API token with id {token_id}")

    def revoke_all_of(self, organisation_id: str, admin_id: str, at: datetime) -> int:
        if not (_plausible_id(organisation_id) and _plausible_id(admin_id)):
            return 0
        return self.db.write(_REVOKE_TOKENS_OF_ADMIN, {"b_organisation_id": organisation_id, "b_admin_id": admin_id,
                                                       "v_revoked": at})

    def mark_used(self, token_id: str, at: datetime) -> None:
        if not _plausible_id(token_id):
            return
        parameters = {"b_id": token_id, "v_last_used": at}
        if self.apart is not None:
            self.apart(MARK_TOKEN_USED, parameters)
            return
        self.db.write(MARK_TOKEN_USED, parameters)

    def list_for_organisation(self, organisation_id: str) -> list[ApiToken]:
        if not _plausible_id(organisation_id):
            return []
        rows = self.db.rows(_tokens_of_organisation(self.dialect), {"b_organisation_id": organisation_id})
        return [_token(row) for row in rows]


class SqlAlchemyOAuthClientRepository(_Repository, OAuthClientRepository):
    """``apart``: how a reading unit of work records a client's or a secret's use, in a transaction of its
    own (as ``SqlAlchemyApiTokenRepository``'s)."""

    def __init__(self, db: Database, apart: Callable[[Prepared, dict], None] | None = None):
        super().__init__(db)
        self.apart = apart

    def add(self, client: OAuthClient) -> None:
        self.db.write(_INSERT_CLIENT, {
            "id": client.id, "organisation_id": client.organisation_id, "name": client.name,
            "created": client.created, "revoked": client.revoked, "last_used": client.last_used})

    def get(self, client_id: str) -> OAuthClient:
        row = self.db.row(_CLIENT_BY_ID, {"b_id": client_id}) if _plausible_id(client_id) else None
        if row is None:
            raise NotFound(f"No OAuth client with id {client_id}")
        return _client(row)

    def list_for_organisation(self, organisation_id: str) -> list[OAuthClient]:
        if not _plausible_id(organisation_id):
            return []
        rows = self.db.rows(_clients_of_organisation(self.dialect), {"b_organisation_id": organisation_id})
        return [_client(row) for row in rows]

    def revoke(self, client_id: str, at: datetime) -> None:
        if not _plausible_id(client_id) or self.db.write(_REVOKE_CLIENT, {"b_id": client_id, "v_revoked": at}) == 0:
            raise NotFound(f"No OAuth client with id {client_id}")

    def mark_used(self, client_id: str, at: datetime) -> None:
        self._mark_used(MARK_CLIENT_USED, client_id, at)

    def add_secret(self, secret: ClientSecret) -> None:
        self.db.write(_INSERT_SECRET, {
            "id": secret.id, "client_id": secret.client_id, "digest": secret.digest, "created": secret.created,
            "expires": secret.expires, "revoked": secret.revoked, "last_used": secret.last_used})

    def get_secret(self, secret_id: str) -> ClientSecret:
        row = self.db.row(_SECRET_BY_ID, {"b_id": secret_id}) if _plausible_id(secret_id) else None
        if row is None:
            raise NotFound(f"No client secret with id {secret_id}")
        return _secret(row)

    def secrets_of(self, client_id: str) -> list[ClientSecret]:
        if not _plausible_id(client_id):
            return []
        return [_secret(row) for row in self.db.rows(_secrets_of_client(self.dialect), {"b_client_id": client_id})]

    def secret_by_digest(self, digest: str) -> ClientSecretGrant | None:
        if not _storable(digest):
            return None
        row = self.db.row(_SECRET_BY_DIGEST, {"b_digest": digest})
        if row is None:
            return None
        return ClientSecretGrant(secret=_secret(row), client=_client(row),
                                 organisation_api_access=row["organisation_api_access"])

    def mark_secret_used(self, secret_id: str, at: datetime) -> None:
        self._mark_used(MARK_SECRET_USED, secret_id, at)

    def revoke_secret(self, secret_id: str, at: datetime) -> None:
        if not _plausible_id(secret_id) or self.db.write(_REVOKE_SECRET, {"b_id": secret_id, "v_revoked": at}) == 0:
            raise NotFound(f"No client secret with id {secret_id}")

    def set_trust(self, trust: FederatedTrust) -> None:
        self.db.write(_set_trust(self.dialect), {"client_id": trust.client_id,
                                                 **{name: getattr(trust, name) for name in _TRUST_COLUMNS}})

    def get_trust(self, client_id: str) -> FederatedTrust | None:
        row = self.db.row(_TRUST_BY_CLIENT, {"b_client_id": client_id}) if _plausible_id(client_id) else None
        if row is None:
            return None
        return FederatedTrust(client_id=row["client_id"], **{name: row[name] for name in _TRUST_COLUMNS})

    def _mark_used(self, prepared: Prepared, row_id: str, at: datetime) -> None:
        # Nothing if it is gone, as the port says: an UPDATE that touches no row.
        if not _plausible_id(row_id):
            return
        parameters = {"b_id": row_id, "v_last_used": at}
        if self.apart is not None:
            self.apart(prepared, parameters)
            return
        self.db.write(prepared, parameters)


class SqlAlchemyAccessTokenRepository(_Repository, AccessTokenRepository):
    def add(self, token: AccessToken) -> None:
        self.db.write(_INSERT_ACCESS_TOKEN, {
            "id": token.id, "client_id": token.client_id, "secret_id": token.secret_id,
            "organisation_id": token.organisation_id, "digest": token.digest, "created": token.created,
            "expires": token.expires})

    def grant_by_digest(self, digest: str) -> AccessTokenGrant | None:
        if not _storable(digest):
            return None
        # As ``find_grant``: kept by a reading unit's connection on SQLite while the database is unchanged.
        return self.db.kept((_ACCESS_GRANT_BY_DIGEST, digest), lambda: self._grant(digest))

    def _grant(self, digest: str) -> AccessTokenGrant | None:
        row = self.db.row(_ACCESS_GRANT_BY_DIGEST, {"b_digest": digest})
        # A token issued under a secret that is gone counts as no token (as in memory); the secret's foreign
        # key cascades, so only a row deleted meanwhile could show it.
        if row is None or (row["token_secret_id"] is not None and row["secret_id"] is None):
            return None
        token = AccessToken(id=row["token_id"], client_id=row["token_client_id"], secret_id=row["token_secret_id"],
                            organisation_id=row["token_organisation_id"], digest=row["token_digest"],
                            created=row["token_created"], expires=row["token_expires"])
        return AccessTokenGrant(token=token, client=_client(row),
                                secret=None if row["token_secret_id"] is None else _secret(row),
                                organisation_api_access=row["organisation_api_access"])

    def prune_expired(self, before: datetime) -> int:
        return self.db.write(_PRUNE_ACCESS_TOKENS, {"b_before": before})


class SqlAlchemyActivityTrail(_Repository, ActivityTrail):
    """``apart``: how the unit of work keeps a record to write once its transaction is over (it writes
    them when it is closed, in a transaction of their own)."""

    def __init__(self, db: Database, apart: Callable[[dict[str, Any]], None]):
        super().__init__(db)
        self.apart = apart

    def record(self, activity: Activity) -> None:
        self.db.write(INSERT_ACTIVITY, _activity_row(activity))

    def record_apart(self, activity: Activity) -> None:
        # Turned into a row now: a mistake in the record then fails here, in the request, not later in
        # close(), where it could only be logged.
        self.apart(_activity_row(activity))

    def list(self, organisation_id: str, *, since: datetime | None = None, member_id: str | None = None,
             event: str | None = None, limit: int = 100) -> list[Activity]:
        if limit <= 0 or not _plausible_id(organisation_id):
            return []
        # No record can have a member id or an event that no column could hold.
        if (member_id is not None and not _plausible_id(member_id)) or (event is not None and not _storable(event)):
            return []
        # LIMIT is a 32-bit integer to PostgreSQL; no trail is longer anyway.
        parameters: dict[str, Any] = {"b_organisation_id": organisation_id, "b_limit": min(limit, 2**31 - 1)}
        if since is not None:
            parameters["b_since"] = since
        if member_id is not None:
            parameters["b_member_id"] = member_id
        if event is not None:
            parameters["b_event"] = event
        page = _ACTIVITY_PAGES[since is not None, member_id is not None, event is not None]
        return [_activity(row) for row in self.db.rows(page, parameters)]

    def counts(self, since: datetime, organisation_id: str | None = None) -> dict[str, dict[str, int]]:
        parameters: dict[str, Any] = {"b_since": since}
        if organisation_id is not None:
            if not _plausible_id(organisation_id):
                return {}
            parameters["b_organisation_id"] = organisation_id
        counted: dict[str, dict[str, int]] = {}
        for row in self.db.rows(_COUNT_ACTIVITY[organisation_id is not None], parameters):
            counted.setdefault(row["organisation_id"], {})[row["event"]] = row["count"]
        return counted

    def prune(self, before: datetime) -> int:
        return self.db.write(_PRUNE_ACTIVITY, {"b_before": before})


# -- rows <-> domain values ---------------------------------------------------------------------------

def _uniqueness_conflict(error: Exception, mapping: ResourceMapping, resource: Any) -> Exception:
    """The ``UniquenessConflict`` a unique index violation by a write of ``resource`` (a member, a team)
    stands for, naming the attribute, or ``error`` itself if it is not one.

    PostgreSQL names the violated index (psycopg's ``diag.constraint_name``, ``uq_<table>_organisation_id_
    <column>`` by the naming convention); SQLite names its columns ("UNIQUE constraint failed:
    members.organisation_id, members.user_name_key").
    """
    diag = getattr(error, "diag", None)
    constraint = getattr(diag, "constraint_name", None)
    text = str(error)
    table = mapping.table.name
    for column, path in mapping.unique_by_column.items():
        if constraint == f"uq_{table}_organisation_id_{column}" or f"{table}.{column}" in text:
            value = path.read(resource) or ""
            detail = c.VALUE_TAKEN[mapping.resource.name].format(attribute=path.path, value=value)
            return UniquenessConflict(path.path, value, detail)
    return error


def _organisation_row(organisation: Organisation) -> dict[str, Any]:
    return {"id": organisation.id, "name": organisation.name, "api_access": organisation.api_access}


def _organisation(row) -> Organisation:
    return Organisation(id=row["id"], name=row["name"], api_access=row["api_access"])


def _activity_row(record: Activity) -> dict[str, Any]:
    """The ``activity`` row of ``record`` (``INSERT_ACTIVITY``'s parameters).

    A record is bookkeeping beside a change or a refusal and must never be what fails it, so what no
    column can hold is stored as near as it can be: an id that cannot be one (a refused request's path
    may name anything) as no id, a character no text column takes as U+FFFD.
    """
    return {
        "at": record.at, "organisation_id": record.organisation_id, "event": _clean(record.event),
        "member_id": record.member_id if _plausible_id(record.member_id) else None,
        "attributes": [_clean(name) for name in record.attributes],
        "token_id": record.token_id if _plausible_id(record.token_id) else None,
        "request_id": None if record.request_id is None else _clean(record.request_id),
        "status": record.status, "scim_type": None if record.scim_type is None else _clean(record.scim_type),
        "team_id": record.team_id if _plausible_id(record.team_id) else None,
        "added": record.added, "removed": record.removed, "token_owner": record.token_owner,
    }


def _clean(text: str) -> str:
    return UNSTORABLE.sub("\ufffd", text)


def _activity(row) -> Activity:
    return Activity(at=row["at"], organisation_id=row["organisation_id"], event=row["event"],
                    member_id=row["member_id"], attributes=tuple(row["attributes"]), token_id=row["token_id"],
                    request_id=row["request_id"], status=row["status"], scim_type=row["scim_type"],
                    team_id=row["team_id"], added=row["added"], removed=row["removed"],
                    token_owner=row["token_owner"])


def _token(row) -> ApiToken:
    return ApiToken(id=row["id"], organisation_id=row["organisation_id"], admin_id=row["admin_id"], digest=row["digest"],
                    created=row["created"], last_used=row["last_used"], revoked=row["revoked"], name=row["name"],
                    expires=row["expires"])


def _client(row) -> OAuthClient:
    """The client of a row whose oauth_clients columns are labelled ``client_*``."""
    return OAuthClient(id=row["client_id"], organisation_id=row["client_organisation_id"], name=row["client_name"],
                       created=row["client_created"], revoked=row["client_revoked"], last_used=row["client_last_used"])


def _secret(row) -> ClientSecret:
    """The secret of a row whose client_secrets columns are labelled ``secret_*``."""
    return ClientSecret(id=row["secret_id"], client_id=row["secret_client_id"], digest=row["secret_digest"],
                        created=row["secret_created"], expires=row["secret_expires"], revoked=row["secret_revoked"],
                        last_used=row["secret_last_used"])
