"""The provisioning activity trail: what each SCIM request changed, or why it was refused, for support.

When an admin writes that "Entra says it provisioned Ada but she isn't in WiggleDesk", support reads the
organisation's trail: every create, replace, update, deprovision, restore and delete, with the names of
the attributes it changed, and every refused request with its status and scimType. A change's record is
written by the service that makes the change, in the same unit of work, so the two commit or roll back
together; a refusal's record is written apart (``ActivityTrail.record_apart``), since its request rolls
back. The trail holds attribute *names* in SCIM spelling, never their values: no personal data.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from typing import Iterable

from .model import MemberFields
from .registry import Leaf

CREATE = "create"
REPLACE = "replace"
UPDATE = "update"
DEPROVISION = "deprovision"
RESTORE = "restore"
DELETE = "delete"
REFUSED = "refused"

#: A team's events (WiggleDesk teams are SCIM Groups): created, renamed, its other content or its
#: membership changed by a PATCH, replaced by a PUT, deleted.
TEAM_CREATE = "team_create"
TEAM_RENAME = "team_rename"
TEAM_UPDATE = "team_update"
TEAM_REPLACE = "team_replace"
TEAM_DELETE = "team_delete"

#: Every event the trail records: a member's in the order their life meets them, then a team's.
EVENTS = (CREATE, REPLACE, UPDATE, DEPROVISION, RESTORE, DELETE, REFUSED,
          TEAM_CREATE, TEAM_RENAME, TEAM_UPDATE, TEAM_REPLACE, TEAM_DELETE)


@dataclass(frozen=True)
class Activity:
    """One record of the trail. ``attributes``: the SCIM names of the attributes the change set or
    changed (empty for a delete or a refusal). ``status``/``scim_type``: a refusal's HTTP status and
    RFC 7644 scimType (None when the error has none). ``token_id``/``request_id``: the token the
    request came with and its X-Request-Id (None for a change made outside a SCIM request).
    ``team_id``: the team a team's event (or a refused request on /Groups) is about; ``added`` and
    ``removed``: how many members a team's change added and took out (None when it changed no
    membership): counts, never who. ``token_owner``: a deprovision or delete of the very admin whose API
    token the request came with, which locks that token out from the next request on
    (``locks_out_token``)."""

    at: datetime
    organisation_id: str
    event: str
    member_id: str | None = None
    attributes: tuple[str, ...] = ()
    token_id: str | None = None
    request_id: str | None = None
    status: int | None = None
    scim_type: str | None = None
    team_id: str | None = None
    added: int | None = None
    removed: int | None = None
    token_owner: bool = False


@dataclass(frozen=True)
class Source:
    """Where a change comes from: the token a SCIM request presented, the request's id, and the admin who
    owns that token (None for an OAuth client's access token: no person's departure breaks it)."""

    token_id: str | None = None
    request_id: str | None = None
    token_owner_id: str | None = None

    def locks_out(self, event: str, member_id: str) -> bool:
        """Whether ``event`` on ``member_id`` deactivates or deletes the owner of the token in use: the
        token is refused from the next request on, and the trail says so."""
        return event in (DEPROVISION, DELETE) and self.token_owner_id is not None and member_id == self.token_owner_id


#: What the CLI and the ops console say beside a record with ``token_owner`` set, by event: what happened
#: to the token, and how to recover.
LOCKED_OUT = {
    DEPROVISION: ("This request deactivated the admin whose API token it came with: that token is refused "
                  "from the next request on. Reactivate the admin (restore them in Entra, or set them active), "
                  "or give Entra another admin's token or an OAuth client."),
    DELETE: ("This request deleted the admin whose API token it came with: their tokens are revoked. Give "
             "Entra another admin's token, or better an OAuth client, which no one's departure breaks."),
}


def lock_out(activity: Activity) -> str | None:
    """What a record says about a token it locked out (``LOCKED_OUT``), or None."""
    return LOCKED_OUT.get(activity.event) if activity.token_owner else None


def attribute_names(leaves: Iterable[Leaf]) -> tuple[str, ...]:
    """The SCIM names the trail records for changed or given leaves of a resource (``registry.Leaf``):
    ``displayName``, ``name.givenName``, an extension's attributes by their full URN path."""
    return tuple(leaf.name for leaf in leaves)


def membership_change(activity: Activity) -> str | None:
    """What a team's change did to its membership, as the CLI and the ops console both write it:
    ``+3 −1 members``, only the counts the record holds (a create adds and takes no one out: ``+3
    members``); None when it changed no membership. Counts, never who."""
    counts = [f"{sign}{count}" for sign, count in (("+", activity.added), ("\N{MINUS SIGN}", activity.removed))
              if count is not None]
    return " ".join([*counts, "members"]) if counts else None


def change_event(kind: str, before: MemberFields, after: MemberFields) -> str:
    """The event a change to a member is recorded as: ``deprovision`` or ``restore`` when it turns
    ``active`` off or on, else ``kind`` (``update`` or ``replace``)."""
    if before.active and not after.active:
        return DEPROVISION
    if after.active and not before.active:
        return RESTORE
    return kind
