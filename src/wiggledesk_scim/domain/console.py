"""What the ops console shows, one read per page, through ``Operations``: the organisations with their
provisioning health, and one organisation with its settings, tokens, OAuth clients, teams and filtered
activity trail.

Kept apart from the web layer so that the filter's rules (which events, which dates, how many records)
and the page's content are the same wherever they are read, and are tested without a server. What it
does not do: change anything (the console is read-only), or know HTML or HTTP.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Mapping

from .activity import CREATE, DEPROVISION, EVENTS, REFUSED, REPLACE, UPDATE, Activity
from .errors import InvalidValue, NotFound
from .model import Member
from .oauth import ClientOverview, client_overviews
from .operations import OrganisationOverview, Operations, TeamListing

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
#: The most teams an organisation's page lists (the first by displayName); it says how many more there
#: are. Two hundred rows still read as a list, and an organisation's page stays quick however many it has.
TEAMS_LISTED = 200
#: Longer than any id we issue; a longer "member id" is a paste gone wrong, not a filter.
_MAX_MEMBER_ID = 200


@dataclass(frozen=True)
class Health:
    """An organisation's provisioning in one window, as support reads it: what Entra created, changed
    (PATCH and PUT alike), deprovisioned, and what we refused."""

    creates: int = 0
    updates: int = 0
    deprovisions: int = 0
    errors: int = 0

    @classmethod
    def of(cls, counts: Mapping[str, int]) -> Health:
        """From an overview's records per event (``last_day``, ``last_week``)."""
        return cls(creates=counts.get(CREATE, 0), updates=counts.get(UPDATE, 0) + counts.get(REPLACE, 0),
                   deprovisions=counts.get(DEPROVISION, 0), errors=counts.get(REFUSED, 0))


@dataclass(frozen=True)
class TrailFilter:
    """Which records of a trail to show, newest first: at most ``limit``, and only those of ``event``,
    of ``member_id`` and since ``since`` (UTC) when given."""

    event: str | None = None
    member_id: str | None = None
    since: datetime | None = None
    limit: int = DEFAULT_LIMIT

    @classmethod
    def parse(cls, *, event: str = "", member_id: str = "", since: str = "", limit: str = "") -> TrailFilter:
        """The filter a person typed into the form (blank: no filter). Raises ``InvalidValue`` naming
        every field that is wrong, and how to write it."""
        problems = []
        event, member_id, since, limit = event.strip(), member_id.strip(), since.strip(), limit.strip()
        if event and event not in EVENTS:
            problems.append(f'There is no event "{event}"; choose one of {", ".join(EVENTS)}.')
        if len(member_id) > _MAX_MEMBER_ID:
            problems.append(f"A member id is at most {_MAX_MEMBER_ID} characters long.")
        moment = None
        if since:
            moment = _moment(since)
            if moment is None:
                problems.append(f'"{since}" is not a date or time; write 2026-11-23 or 2026-11-23T09:14:07Z '
                                f"(UTC unless an offset is given).")
        number = DEFAULT_LIMIT
        if limit:
            number = int(limit) if limit.isascii() and limit.isdigit() and len(limit) < 10 else -1
            if not 1 <= number <= MAX_LIMIT:
                problems.append(f'The limit "{limit}" must be a whole number from 1 to {MAX_LIMIT}.')
        if problems:
            raise InvalidValue(" ".join(problems))
        return cls(event=event or None, member_id=member_id or None, since=moment, limit=number)


def _moment(text: str) -> datetime | None:
    """A date (midnight UTC) or an ISO 8601 time (UTC unless it has an offset), or None."""
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
        if moment.tzinfo is None:
            return moment.replace(tzinfo=timezone.utc)
        return moment.astimezone(timezone.utc)
    except (ValueError, OverflowError):  # OverflowError: an offset that takes it past year 1 or 9999
        return None


@dataclass(frozen=True)
class OrganisationPage:
    """One organisation: its overview (settings, members, tokens, health), the admins who own its
    tokens (by member id), its first teams by displayName, and its trail as filtered (None when the
    filter was refused)."""

    overview: OrganisationOverview
    owners: Mapping[str, Member]
    teams: TeamListing
    trail: list[Activity] | None
    #: Its OAuth clients, oldest first, with their secrets (never a secret itself) and trusts.
    clients: tuple[ClientOverview, ...] = ()


class Console:
    """The console's reads, one call per page."""

    def __init__(self, operations: Operations):
        self.operations = operations

    def organisations(self) -> list[OrganisationOverview]:
        """Every organisation, by name, with its health."""
        return self.operations.overviews()

    def organisation(self, reference: str, trail_filter: TrailFilter | None) -> OrganisationPage:
        """The organisation whose id (or name) is ``reference``, with its trail unless ``trail_filter``
        is None. Raises ``NotFound``, or ``InvalidValue`` for a name several organisations have."""
        overview = self.operations.overview(reference)
        organisation_id = overview.organisation.id
        owners = self.operations.token_owners(organisation_id, overview.tokens)
        teams = self.operations.teams(organisation_id, limit=TEAMS_LISTED)
        clients = tuple(client_overviews(self.operations.uow, organisation_id))
        trail = None
        if trail_filter is not None:
            trail = self.operations.activity(organisation_id, since=trail_filter.since,
                                             member_id=trail_filter.member_id, event=trail_filter.event,
                                             limit=trail_filter.limit)
        return OrganisationPage(overview=overview, owners=owners, teams=teams, trail=trail, clients=clients)
