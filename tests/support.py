"""Test-only parts shared by every test tier: a clock that moves only when told, ids that can be read."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

from wiggledesk_scim.domain.model import Address, Email, EnterpriseInfo, MemberFields, Name, PhoneNumber
from wiggledesk_scim.domain.ports import Clock, IdGenerator
from wiggledesk_scim.domain.registry import USER

#: The moment every test starts at, unless it says otherwise.
START = datetime(2026, 11, 23, 9, 14, 7, tzinfo=timezone.utc)


class FixedClock(Clock):
    """A clock that stands still: ``now()`` returns the same time until a test calls ``advance``."""

    def __init__(self, start: datetime = START):
        if start.tzinfo is None or start.utcoffset() != timedelta(0):
            raise ValueError("FixedClock needs a timezone-aware UTC start, as Clock promises")
        self.current = start

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float = 1) -> datetime:
        """Move the clock forward by ``seconds`` and return the new time."""
        self.current += timedelta(seconds=seconds)
        return self.current


class SequentialIds(IdGenerator):
    """UUID-shaped ids numbered 1, 2, …, so a failing assertion says which object it was.

    ``00000000-0000-4000-8000-000000000001`` is a valid version 4 UUID string, like the production ids.
    Thread-safe, because the concurrency tests provision from several threads.
    """

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def new_id(self) -> str:
        with self._lock:
            self._last += 1
            return f"00000000-0000-4000-8000-{self._last:012d}"


# -- what Entra sends (ENTRA.md §7) -------------------------------------------------------------------

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

#: ENTRA.md §7a: WiggleDesk's seed mapping, as our announcement showed it (no schemas, a spaced userName).
SEED_USER = {
    "active": True,
    "emails": [{"type": "work", "value": "example@example.info"}],
    "externalId": "d8ffd6a9-cede-41a4-815e-a52a53180333",
    "userName": "Example Username",
}

#: ENTRA.md §7b: Entra's default full mapping, with its nulls, empty roles and client-side meta.
FULL_USER = {
    "schemas": [CORE, ENTERPRISE],
    "externalId": "adele.vance", "userName": "adele.vance@contoso.example", "active": True,
    "displayName": "Adele Vance", "title": "Retail Manager", "preferredLanguage": "en-GB",
    "nickName": None,
    "name": {"formatted": "Adele Vance", "givenName": "Adele", "familyName": "Vance"},
    "emails": [{"primary": True, "type": "work", "value": "adele.vance@contoso.example"}],
    "addresses": [{"type": "work", "formatted": "Building 4, Floor 2", "streetAddress": "18 Harbour Road",
                   "locality": "Leeds", "region": None, "postalCode": "LS1 4AB", "country": "GB",
                   "primary": False}],
    "phoneNumbers": [{"type": "work", "value": "+44 113 496 0000"},
                     {"type": "mobile", "value": "+44 7700 900123"},
                     {"type": "fax", "value": "+44 113 496 0999"}],
    "roles": [],
    "meta": {"resourceType": "User"},
    ENTERPRISE: {"employeeNumber": "000417", "department": "Retail", "costCenter": "CC-210",
                 "organization": "Contoso", "division": "North", "manager": None},
}

#: FULL_USER as the domain holds it.
ADELE_FIELDS = MemberFields(
    user_name="adele.vance@contoso.example", external_id="adele.vance", active=True,
    name=Name(formatted="Adele Vance", family_name="Vance", given_name="Adele"),
    display_name="Adele Vance", title="Retail Manager", preferred_language="en-GB",
    emails=(Email("adele.vance@contoso.example", type="work", primary=True),),
    phone_numbers=(PhoneNumber("+44 113 496 0000", type="work"), PhoneNumber("+44 7700 900123", type="mobile"),
                   PhoneNumber("+44 113 496 0999", type="fax")),
    addresses=(Address(formatted="Building 4, Floor 2", street_address="18 Harbour Road", locality="Leeds",
                       postal_code="LS1 4AB", country="GB", type="work", primary=False),),
    enterprise=EnterpriseInfo(employee_number="000417", cost_center="CC-210", organization="Contoso",
                              division="North", department="Retail"),
)


# -- the query model's attributes, by the names tests give them ---------------------------------------

class Attribute:
    """The User's filterable attributes (domain/registry), by constant names the tests read well."""

    ID = USER.path("id")
    EXTERNAL_ID = USER.path("externalId")
    USER_NAME = USER.path("userName")
    DISPLAY_NAME = USER.path("displayName")
    NICK_NAME = USER.path("nickName")
    PROFILE_URL = USER.path("profileUrl")
    TITLE = USER.path("title")
    USER_TYPE = USER.path("userType")
    PREFERRED_LANGUAGE = USER.path("preferredLanguage")
    LOCALE = USER.path("locale")
    TIMEZONE = USER.path("timezone")
    ACTIVE = USER.path("active")
    NAME_FORMATTED = USER.path("name.formatted")
    NAME_FAMILY_NAME = USER.path("name.familyName")
    NAME_GIVEN_NAME = USER.path("name.givenName")
    NAME_MIDDLE_NAME = USER.path("name.middleName")
    NAME_HONORIFIC_PREFIX = USER.path("name.honorificPrefix")
    NAME_HONORIFIC_SUFFIX = USER.path("name.honorificSuffix")
    EMPLOYEE_NUMBER = USER.path("employeeNumber")
    COST_CENTER = USER.path("costCenter")
    ORGANIZATION = USER.path("organization")
    DIVISION = USER.path("division")
    DEPARTMENT = USER.path("department")
    MANAGER_ID = USER.path("manager.value")
    CREATED = USER.path("meta.created")
    LAST_MODIFIED = USER.path("meta.lastModified")
    EMAIL_VALUE = USER.path("emails.value")
    EMAIL_DISPLAY = USER.path("emails.display")
    EMAIL_TYPE = USER.path("emails.type")
    EMAIL_PRIMARY = USER.path("emails.primary")
    PHONE_VALUE = USER.path("phoneNumbers.value")
    PHONE_DISPLAY = USER.path("phoneNumbers.display")
    PHONE_TYPE = USER.path("phoneNumbers.type")
    PHONE_PRIMARY = USER.path("phoneNumbers.primary")
    ADDRESS_FORMATTED = USER.path("addresses.formatted")
    ADDRESS_STREET_ADDRESS = USER.path("addresses.streetAddress")
    ADDRESS_LOCALITY = USER.path("addresses.locality")
    ADDRESS_REGION = USER.path("addresses.region")
    ADDRESS_POSTAL_CODE = USER.path("addresses.postalCode")
    ADDRESS_COUNTRY = USER.path("addresses.country")
    ADDRESS_TYPE = USER.path("addresses.type")
    ADDRESS_PRIMARY = USER.path("addresses.primary")


#: The User's multi-valued complex attributes by name, as ``AnyValue`` takes them.
COLLECTIONS = {collection.name: collection for collection in USER.collections.values()}
#: The attributes a query may be sorted by.
SORTABLE = frozenset(path for path in USER.paths if path.sortable)


def token_of(uow, digest: str):
    """The stored token whose digest is ``digest`` (revoked or not), as the token check reads it; None if
    there is none or its owner is gone."""
    grant = uow.tokens.find_grant(digest)
    return None if grant is None else grant.token
