"""The use cases identity providers drive: provision, replace, update, deprovision, restore, delete, get, query.

Each runs in one unit of work and names the organisation it acts in. The services know members, not
SCIM: PATCH arrives as a pure ``edit`` function built by ``scim.patch``, PUT as a whole ``MemberFields``.
Every change is recorded in the activity trail (``activity.py``) in the unit of work that makes it, so
the change and its record commit or roll back together; a change that changes nothing is not recorded.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from . import catalogue as c
from .activity import CREATE, DELETE, REFUSED, REPLACE, UPDATE, Activity, Source, attribute_names, change_event
from .errors import InvalidValue, NotFound, OrganisationNameTaken, UniquenessConflict, VersionMismatch
from .model import Email, Member, MemberFields, Organisation, Rendition, unstorable_reason
from .ports import Clock, IdGenerator, Rendering, TokenAuthority, UnitOfWork
from .query import Compare, Operator, Page, Query
from .registry import USER, ResourceType

Edit = Callable[[MemberFields], MemberFields]

#: How often an update is re-read and re-applied when a concurrent writer got there first. Each
#: failed round means another writer's change landed, so this bounds the writers one member may have
#: at the same moment (Entra sends one request per member at a time; scripts may send more).
UPDATE_ATTEMPTS = 32

#: The longest member id a refusal's record keeps (ours are 36-character UUIDs); a longer one is not an id.
MAX_MEMBER_ID = 36


class MemberService:
    def __init__(self, uow: UnitOfWork, clock: Clock, ids: IdGenerator, source: Source | None = None,
                 users: ResourceType = USER):
        self.uow = uow
        self.clock = clock
        self.ids = ids
        #: The token and request the changes come from, for their records in the trail.
        self.source = source or Source()
        #: What a member's fields are made of (domain/registry): how two states differ, what a create gave.
        self.users = users

    def acting_for(self, source: Source) -> "MemberService":
        """This service, recording ``source`` as the origin of its changes."""
        return MemberService(self.uow, self.clock, self.ids, source, self.users)

    def provision(self, organisation_id: str, fields: MemberFields) -> Member:
        """Create a member; raises ``UniquenessConflict`` or ``InvalidValue``."""
        with self.uow:
            self._check(organisation_id, fields, previous=None)
            now = self.clock.now()
            member = Member(id=self.ids.new_id(), organisation_id=organisation_id, fields=fields,
                            created=now, last_modified=now)
            self.uow.members.add(member)
            self._record(CREATE, member, attribute_names(self.users.assigned(fields)))
            self.uow.commit()
        return member

    def get(self, organisation_id: str, member_id: str) -> Member:
        with self.uow:
            return self.uow.members.get(organisation_id, member_id)

    def query(self, organisation_id: str, query: Query) -> Page:
        with self.uow:
            return self.uow.members.search(organisation_id, query)

    def rendition(self, organisation_id: str, member_id: str, rendering: Rendering) -> Rendition:
        """The member as ``rendering`` renders them (``MemberRepository.rendition``)."""
        with self.uow:
            return self.uow.members.rendition(organisation_id, member_id, rendering)

    def query_renditions(self, organisation_id: str, query: Query, rendering: Rendering) -> Page:
        """``query``'s page with each member as ``rendering`` renders them."""
        with self.uow:
            return self.uow.members.search_renditions(organisation_id, query, rendering)

    def update(self, organisation_id: str, member_id: str, edit: Edit, *,
               expected_version: int | None = None) -> Member:
        """Apply ``edit`` to the member's current fields and store the result.

        With ``expected_version`` the change applies only to that version (``VersionMismatch``
        otherwise). Without it, a concurrent change is not lost: the member is read again and
        ``edit`` re-applied, since ``edit`` describes a change, not a final state. A change that
        changes nothing keeps the version.
        """
        return self._change(organisation_id, member_id, edit, expected_version, UPDATE)

    def _change(self, organisation_id: str, member_id: str, edit: Edit, expected_version: int | None,
                kind: str) -> Member:
        """``update``, recorded as ``kind`` (or as the deprovision or restore it turns out to be)."""
        with self.uow:
            for _ in range(UPDATE_ATTEMPTS):
                current = self.uow.members.get(organisation_id, member_id)
                if expected_version is not None and current.version != expected_version:
                    raise VersionMismatch(c.CHANGED_SINCE.format(resource="Member", id=member_id,
                                                                 version=expected_version))
                changed = current.with_fields(edit(current.fields), self.clock.now())
                if changed is current:
                    self.uow.commit()
                    return current
                self._check(organisation_id, changed.fields, previous=current.fields)
                changes = self.users.diff(current.fields, changed.fields)
                try:
                    self.uow.members.update(changed, expected_version=current.version, changes=changes)
                except VersionMismatch:
                    if expected_version is not None:
                        raise
                    continue
                self._record(change_event(kind, current.fields, changed.fields), changed, attribute_names(changes))
                self.uow.commit()
                return changed
            raise VersionMismatch(c.KEEPS_CHANGING.format(resource="Member", id=member_id))

    def replace(self, organisation_id: str, member_id: str, replacement: Edit, *,
                expected_version: int | None = None) -> Member:
        """Replace everything a provider may write (PUT): ``replacement`` gives the new fields from the
        current ones (which a PUT keeps of them is the SCIM layer's business), as ``update``'s edit does."""
        return self._change(organisation_id, member_id, replacement, expected_version, REPLACE)

    def deprovision(self, organisation_id: str, member_id: str) -> Member:
        """Soft delete: the member and all their data stay, marked inactive."""
        return self.update(organisation_id, member_id, lambda fields: replace(fields, active=False))

    def restore(self, organisation_id: str, member_id: str) -> Member:
        """Bring a deprovisioned member back, exactly as they were."""
        return self.update(organisation_id, member_id, lambda fields: replace(fields, active=True))

    def delete(self, organisation_id: str, member_id: str, *, expected_version: int | None = None) -> None:
        """Hard delete: the member is gone, out of every team, their API tokens revoked, and their userName
        and externalId are free again."""
        with self.uow:
            now = self.clock.now()
            # If the remove then refuses (gone, or at another version), the unit's work is discarded whole.
            self.uow.teams.leave_all(organisation_id, member_id, now)
            self.uow.members.remove(organisation_id, member_id, expected_version=expected_version)
            # Revoked, not deleted: the records stay for the trail, and a request with one is told why.
            self.uow.tokens.revoke_all_of(organisation_id, member_id, now)
            self.uow.activity.record(Activity(at=now, organisation_id=organisation_id, event=DELETE,
                                              member_id=member_id, token_id=self.source.token_id,
                                              request_id=self.source.request_id,
                                              token_owner=self.source.locks_out(DELETE, member_id)))
            self.uow.commit()

    def refused(self, organisation_id: str, status: int, scim_type: str | None, member_id: str | None = None,
                team_id: str | None = None) -> None:
        """Record that a request of the organisation was refused. Apart from the request's transaction,
        which rolls back: the refusal stays in the trail. ``member_id`` or ``team_id``, from the request's
        path, is kept only if it could be an id (at most ``MAX_MEMBER_ID`` printable characters)."""
        member_id, team_id = (_plausible(member_id), _plausible(team_id))
        self.uow.activity.record_apart(Activity(
            at=self.clock.now(), organisation_id=organisation_id, event=REFUSED, member_id=member_id,
            team_id=team_id, token_id=self.source.token_id, request_id=self.source.request_id, status=status,
            scim_type=scim_type))

    def _record(self, event: str, member: Member, attributes: tuple[str, ...]) -> None:
        self.uow.activity.record(Activity(at=member.last_modified, organisation_id=member.organisation_id,
                                          event=event, member_id=member.id, attributes=attributes,
                                          token_id=self.source.token_id, request_id=self.source.request_id,
                                          token_owner=self.source.locks_out(event, member.id)))

    def _check(self, organisation_id: str, fields: MemberFields, previous: MemberFields | None) -> None:
        """The rules a member's fields must keep that the store does not enforce itself. Uniqueness
        (userName, externalId) is the store's: its constraints decide, races included, and the
        ``UniquenessConflict`` it raises names the attribute, so asking first would only cost a query.
        The manager is checked only when it changes: a manager deleted later must not block every
        other change to the members they managed. (That userName is there is validation's: it is
        declared required, domain/registry.)"""
        manager_id = fields.enterprise.manager_id
        if manager_id is not None and (previous is None or previous.enterprise.manager_id != manager_id):
            try:
                self.uow.members.get(organisation_id, manager_id)
            except NotFound:
                raise InvalidValue(c.UNKNOWN_MANAGER.format(id=manager_id)) from None


def _plausible(resource_id: str | None) -> str | None:
    """``resource_id`` if it could be one of our ids (at most ``MAX_MEMBER_ID`` printable characters)."""
    if resource_id is not None and len(resource_id) <= MAX_MEMBER_ID and resource_id.isprintable():
        return resource_id
    return None


@dataclass(frozen=True)
class Onboarding:
    organisation: Organisation
    admin: Member
    token: str


def onboard(uow: UnitOfWork, clock: Clock, ids: IdGenerator, authority: TokenAuthority, organisation_name: str,
            admin_email: str, *, allow_duplicate_name: bool = False) -> Onboarding:
    """Create an organisation with API access, its first admin (with API access) and that admin's token,
    issued by ``authority``, which must work in ``uow``'s storage and transaction to find the new admin.

    A name an organisation has already, ignoring case, is refused (``OrganisationNameTaken``) unless
    ``allow_duplicate_name``: a second organisation of that name is most often onboarding run twice, and
    it would make the name ambiguous wherever ops type it. (Two onboardings of one name at the same moment
    may both pass: names have no unique index, since duplicates may be allowed.)"""
    if not organisation_name.strip():
        raise InvalidValue("The organisation needs a name")
    _check_storable("The organisation's name", organisation_name)
    _check_address("The admin's e-mail address", admin_email)
    name = organisation_name.strip()
    with uow:
        holders = uow.organisations.named(name)
        if holders and not allow_duplicate_name:
            raise OrganisationNameTaken(holders[0].name, tuple(o.id for o in holders))
        organisation = Organisation(id=ids.new_id(), name=name, api_access=True)
        uow.organisations.add(organisation)
        admin = _new_member(uow, clock, ids, organisation.id, admin_email, admin=True)
        uow.commit()
    token = authority.issue(organisation.id, admin.id)
    return Onboarding(organisation=organisation, admin=admin, token=token)


def add_member(uow: UnitOfWork, clock: Clock, ids: IdGenerator, organisation_id: str, email: str, *,
               admin: bool) -> Member:
    """Ops add a member to an existing organisation, as ``onboard`` adds its first admin: userName and work
    e-mail ``email``, active, and, if ``admin``, an admin with API access (so an organisation whose only
    admin left gets one back). No token: that is ``TokenAuthority.issue``'s. Raises ``NotFound`` (no such
    organisation), ``InvalidValue``, or ``UniquenessConflict`` naming the member who already has that
    userName or e-mail address (an identity provider's member is made an admin by switching settings)."""
    _check_address("The member's e-mail address", email)
    with uow:
        organisation = uow.organisations.get(organisation_id)
        holder = next(iter(members_called(uow, organisation_id, email)), None)
        if holder is not None:
            raise UniquenessConflict("userName", email, f"{holder.user_name} is already a member of "
                                                        f"{organisation.name} (member {holder.id})")
        member = _new_member(uow, clock, ids, organisation_id, email, admin=admin)
        uow.commit()
    return member


def members_called(uow: UnitOfWork, organisation_id: str, email: str, *, most: int = 1) -> tuple[Member, ...]:
    """How ops name a member: the one whose userName is ``email`` (ignoring case, as userNames compare),
    else up to ``most`` of those with that e-mail address. In a block of ``uow`` (inside the caller's, if
    one is open, as in ``add_member``)."""
    with uow:
        member = uow.members.find(organisation_id, user_name=email)
        if member is not None:
            return (member,)
        by_email = Query(filter=Compare(USER.path("emails.value"), Operator.EQ, email), count=most)
        return tuple(uow.members.search(organisation_id, by_email).resources)


def _check_address(what: str, email: str) -> None:
    if "@" not in email:
        raise InvalidValue(f'"{email}" is not an e-mail address')
    _check_storable(what, email)


def _check_storable(what: str, text: str) -> None:
    # What SCIM requests bring is refused by their validation; what the command line brings, here.
    reason = unstorable_reason(text)
    if reason is not None:
        raise InvalidValue(f"{what} {reason}")


def _new_member(uow: UnitOfWork, clock: Clock, ids: IdGenerator, organisation_id: str, email: str, *,
                admin: bool) -> Member:
    """Store a member ops create (not an identity provider): userName and primary work e-mail ``email``,
    active; an admin with API access if ``admin``. Inside the caller's unit of work."""
    now = clock.now()
    member = Member(
        id=ids.new_id(), organisation_id=organisation_id,
        fields=MemberFields(user_name=email, emails=(Email(value=email, type="work", primary=True),)),
        created=now, last_modified=now, is_admin=admin, api_access=admin,
    )
    uow.members.add(member)
    return member
