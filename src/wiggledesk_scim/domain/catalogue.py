"""Every refusal a client of the service can read, declared once: its text, status and code, and what fixes it.

A ``Refusal`` is the ``detail`` of a SCIM error body (RFC 7644 §3.12) or the ``error_description`` of an
OAuth error answer (RFC 6749 §5.2), as a template (``{attribute}`` stands for what the request named), with
the HTTP status, the ``scimType`` or OAuth ``error`` code, and a one-line fix for the admin who reads it in
their identity provider's logs. Raise sites take their text from here (``scim.errors.refuse``,
``oauth``'s helpers, ``Refusal.format``), and the setup guide's list of errors is rendered from
``CATALOGUE``, so the guide names every detail the service can answer with and no other
(``tests/unit/test_catalogue.py`` checks the raise sites against it).

Texts of the modules below this one (``access``, ``errors``, ``model``, ``query``: it imports them, so they
cannot import it) stay declared there, as named constants, and are adopted here by reference.

What it does not hold: what only operators read (the CLI, the ops console, settings at startup), and what
only the log says (why a client assertion failed). docs/adr/0014-the-setup-guide.md draws that line.
"""
from __future__ import annotations

import re
import string
from dataclasses import dataclass, field

from . import access, errors, model, query

SCIM = "scim"
OAUTH = "oauth"

# The scimType values of RFC 7644 §3.12 this service uses; ``scim.errors`` re-exports them.
INVALID_FILTER = "invalidFilter"
INVALID_SYNTAX = "invalidSyntax"
INVALID_PATH = "invalidPath"
NO_TARGET = "noTarget"
INVALID_VALUE = "invalidValue"
MUTABILITY = "mutability"
UNIQUENESS = "uniqueness"
TOO_MANY = "tooMany"

#: The placeholder of a wrapper: another refusal's whole detail, which keeps its status and code.
DETAIL = "detail"
#: The placeholder of a list of attribute problems (``{attribute} ...`` refusals), joined by ``SEPARATOR``.
PROBLEMS = "problems"
SEPARATOR = "; "
#: How an attribute problem names its attribute: ``Refusal.problem`` leaves it to the caller.
_PROBLEM_PREFIX = "{attribute} "


@dataclass(frozen=True)
class Refusal:
    """One text the service answers with. ``status`` is None for a wrapper (``{detail}`` in the template),
    which keeps the status of what it wraps; ``code`` is the scimType (``kind`` SCIM) or the OAuth
    ``error`` (``kind`` OAUTH), None where there is none (or, for a wrapper, the wrapped one's)."""

    status: int | None
    template: str
    fix: str
    code: str | None = None
    kind: str = SCIM
    placeholders: tuple[str, ...] = field(init=False, repr=False, compare=False)
    pattern: re.Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names, parts = [], []
        for literal, name, _, _ in string.Formatter().parse(self.template):
            parts.append(re.escape(literal))
            if name is not None:
                names.append(name)
                # A wrapped detail or a list of problems takes the rest; any other value as little as it can.
                parts.append(f"(?P<{name}>.+)" if name in (DETAIL, PROBLEMS) else "(.+?)")
        object.__setattr__(self, "placeholders", tuple(names))
        object.__setattr__(self, "pattern", re.compile("".join(parts), re.DOTALL))

    @property
    def wrapper(self) -> bool:
        """Whether this says where another refusal happened (``Operation 2 (...): <detail>``)."""
        return DETAIL in self.placeholders

    @property
    def composite(self) -> bool:
        """Whether this lists attribute problems (``{problems}``)."""
        return PROBLEMS in self.placeholders

    @property
    def attribute_problem(self) -> bool:
        """Whether this is a problem with one attribute, which colander reports without the attribute."""
        return self.template.startswith(_PROBLEM_PREFIX)

    def format(self, **values: object) -> str:
        """The text with ``values`` in its placeholders, each of which must be given, and no other."""
        if set(values) != set(self.placeholders):
            raise ValueError(f"{self.template!r} takes {sorted(set(self.placeholders))}, got {sorted(values)}")
        return self.template.format(**values)

    def problem(self, **values: object) -> str:
        """An attribute problem without its attribute, for colander, which puts the attribute's path
        before it (``scim.schema.invalid_detail``)."""
        if not self.attribute_problem:
            raise ValueError(f"{self.template!r} is not a problem with an attribute")
        if set(values) != set(self.placeholders) - {"attribute"}:
            raise ValueError(f"{self.template!r} takes {sorted(set(self.placeholders) - {'attribute'})}, "
                             f"got {sorted(values)}")
        return self.template[len(_PROBLEM_PREFIX):].format(**values)

    def matches(self, text: str) -> bool:
        return self.pattern.fullmatch(text) is not None


# -- SCIM: authentication (401, 403) -------------------------------------------------------------------
# The texts are access.py's; what fixes each is said here.

NO_TOKEN = Refusal(401, access.NO_TOKEN, "In Admin Credentials, fill in Secret Token (or choose the OAuth2 "
                   "client credentials grant), then select Test Connection.")
UNKNOWN_TOKEN = Refusal(401, access.UNKNOWN_TOKEN, "The token is mistyped, revoked or not WiggleDesk's: paste "
                        "the whole token again, starting wdscim_, or a new one.")
REVOKED_TOKEN = Refusal(401, access.REVOKED, "Paste another of the admin's active tokens, or a new one, into "
                        "Secret Token.")
EXPIRED_TOKEN = Refusal(401, access.EXPIRED, "Paste a new token into Secret Token; give it a later expiry, or "
                        "none, or switch to an OAuth client.")
OWNER_NOT_ADMIN = Refusal(401, access.NOT_ADMIN, "Give the token's owner the admin role again, or use a token "
                          "of another admin, or an OAuth client.")
OWNER_DEACTIVATED = Refusal(401, access.DEACTIVATED, "The owner was deactivated, perhaps by this provisioning: "
                            "reactivate them, or use another active admin's token or an OAuth client.")
OWNER_DELETED = Refusal(401, access.OWNER_DELETED, "Paste another admin's token into Secret Token, or switch to "
                        "an OAuth client.")
MALFORMED_AUTHORIZATION = Refusal(401, access.MALFORMED_AUTHORIZATION, "Enter the token alone in Secret Token, "
                                  "with nothing before it and no spaces in it.")
UNKNOWN_ACCESS_TOKEN = Refusal(401, access.UNKNOWN_ACCESS_TOKEN, "Entra fetches a new access token by itself; "
                               "if this repeats, check Token Endpoint, Client Identifier and Client Secret.")
EXPIRED_ACCESS_TOKEN = Refusal(401, access.EXPIRED_ACCESS_TOKEN, "Nothing to do: Entra fetches a new access "
                               "token and sends the request again.")
CLIENT_REVOKED = Refusal(401, access.CLIENT_REVOKED, "Ask WiggleDesk for a new OAuth client, and enter its id "
                         "and secret in Admin Credentials.")
SECRET_REVOKED = Refusal(401, access.SECRET_REVOKED, "Enter another current secret of the client in Client "
                         "Secret, or ask WiggleDesk for a new one.")
SECRET_EXPIRED = Refusal(401, access.SECRET_EXPIRED, "Ask WiggleDesk for a new secret of the client and enter "
                         "it in Client Secret; add the next one before this one expires.")
ORGANISATION_OFF = Refusal(403, access.ORGANISATION_OFF, "A WiggleDesk admin switches API access on for the "
                           "organisation in WiggleDesk's settings.")
OWNER_API_ACCESS_OFF = Refusal(403, access.ADMIN_OFF, "Switch API access on for the admin who owns the token, "
                               "or paste another admin's token.")

# -- SCIM: the request's form (400 invalidSyntax) --------------------------------------------------------

_SYNTAX_FIX = "The client sent a malformed request (Entra and Okta never do): send a JSON object as RFC 7644 says."

BODY_NOT_AN_OBJECT = Refusal(400, "The request body must be a JSON object", _SYNTAX_FIX, INVALID_SYNTAX)
BODY_EMPTY = Refusal(400, "The request body is empty; send a JSON object", _SYNTAX_FIX, INVALID_SYNTAX)
BODY_NOT_UTF8 = Refusal(400, "The request body is not valid UTF-8", "Send the body in UTF-8.", INVALID_SYNTAX)
BODY_NOT_JSON = Refusal(400, "The request body is not valid JSON: {error}", "Send valid JSON; the text after "
                        "the colon says where it breaks.", INVALID_SYNTAX)
BODY_NESTS_TOO_DEEPLY = Refusal(400, "The request body nests too deeply", "No SCIM resource nests this deep: "
                                "send the resource as RFC 7643 defines it.", INVALID_SYNTAX)
BODY_NESTS_DEEPER = Refusal(400, "The request body nests more than {limit} levels deep", "No SCIM resource "
                            "nests this deep: send the resource as RFC 7643 defines it.", INVALID_SYNTAX)
MESSAGE_SCHEMA = Refusal(400, 'schemas must be ["{urn}"]', "Send the URN it names as the message's schemas, "
                         "or leave schemas out.", INVALID_SYNTAX)
NO_OPERATIONS = Refusal(400, "A PatchOp needs a non-empty Operations list", "Send at least one operation in "
                        "Operations.", INVALID_SYNTAX)
TOO_MANY_OPERATIONS = Refusal(400, "A PatchOp may carry at most {limit} operations", "Split the change into "
                              "several PATCH requests.", INVALID_SYNTAX)
SEARCH_NOT_AN_OBJECT = Refusal(400, "A SearchRequest must be a JSON object", _SYNTAX_FIX, INVALID_SYNTAX)
OPERATION_MALFORMED = Refusal(400, "Operation {number}: {problems}", "The operation must read {\"op\": ..., "
                              "\"path\": ..., \"value\": ...}; each problem is one of those under invalidValue.",
                              INVALID_SYNTAX)

# -- SCIM: values (400 invalidValue) ---------------------------------------------------------------------
# An attribute problem starts with the attribute's path (emails.0.value); colander reports several at
# once, joined by SEPARATOR (ATTRIBUTE_PROBLEMS).

ATTRIBUTE_PROBLEMS = Refusal(400, "{problems}", "Fix each attribute named: the mapping sends a value of the "
                             "wrong kind, or none where one is required.", INVALID_VALUE)
REQUIRED = Refusal(400, "{attribute} is required", "Map a source attribute that every user has: "
                   "userPrincipalName for userName, the group's displayName for displayName.", INVALID_VALUE)
NOT_A_STRING = Refusal(400, "{attribute} must be a string, got {got}", "Map a text attribute, or an expression "
                       "that yields text, to it.", INVALID_VALUE)
TOO_LONG = Refusal(400, "{attribute} must be at most {limit} characters long, got {length}", "Shorten the source "
                   "value, or map a shorter attribute.", INVALID_VALUE)
NUL_CHARACTER = Refusal(400, _PROBLEM_PREFIX + model.NUL_CHARACTER, "Remove the NUL character from the source "
                        "value.", INVALID_VALUE)
UNPAIRED_SURROGATE = Refusal(400, _PROBLEM_PREFIX + model.UNPAIRED_SURROGATE, "The source value holds half a "
                             "character: correct it in the directory.", INVALID_VALUE)
NOT_A_BOOLEAN = Refusal(400, "{attribute} must be true or false, got {got}", "Map an expression that yields "
                        "true or false, such as Not([IsSoftDeleted]) for active.", INVALID_VALUE)
NOT_AN_OBJECT = Refusal(400, "{attribute} must be an object, got {got}", "Send the complex attribute as an "
                        "object of its sub-attributes.", INVALID_VALUE)
NOT_A_LIST = Refusal(400, "{attribute} must be a list, got {got}", "Send the multi-valued attribute as a list.",
                     INVALID_VALUE)
TOO_MANY_VALUES = Refusal(400, "{attribute} may have at most {limit} entries, got {count}", "Send fewer values "
                          "of the attribute.", INVALID_VALUE)
NOT_AN_OPERATION = Refusal(400, "{attribute} must be add, replace or remove, got {got}", "Use add, replace or "
                           "remove (in any case) as the operation's op.", INVALID_SYNTAX)
NOT_AN_INTEGER = Refusal(400, "{attribute} must be an integer, got {got}", "Send startIndex and count as whole "
                         "numbers.", INVALID_VALUE)
NOT_ATTRIBUTE_NAMES = Refusal(400, "{attribute} must be a list of attribute names", "Send attributes and "
                              "excludedAttributes as a list of names.", INVALID_VALUE)
UNSTORABLE = {model.NUL_CHARACTER: NUL_CHARACTER, model.UNPAIRED_SURROGATE: UNPAIRED_SURROGATE}

EXTENSION_NOT_AN_OBJECT = Refusal(400, "{urn} must be an object", "Send the extension's attributes in one "
                                  "object under its URN.", INVALID_VALUE)
TYPE_TWICE = Refusal(400, '{attribute} has more than one entry of type "{type}"', "Map at most one source "
                     "attribute to each type (one work e-mail, one mobile number).", INVALID_VALUE)
ENTRY_WITHOUT_VALUE = Refusal(400, "every entry of {attribute} needs a value", "Leave out entries whose value is "
                              "empty, or map a source attribute that has a value.", INVALID_VALUE)
TWO_PRIMARIES = Refusal(400, "at most one entry of {attribute} may be primary", "Mark at most one value of the "
                        "attribute as primary.", INVALID_VALUE)
SCHEMAS_NOT_A_LIST = Refusal(400, "schemas must be a list of schema URNs", "Send schemas as a list of URNs, or "
                             "leave it out.", INVALID_VALUE)
SCHEMAS_WITHOUT_CORE = Refusal(400, "schemas must include {urn}", "Add the resource's core schema URN to "
                               "schemas.", INVALID_VALUE)
SORT_ORDER = Refusal(400, 'sortOrder must be "ascending" or "descending", got "{got}"', "Send ascending or "
                     "descending.", INVALID_VALUE)
SORT_BY = Refusal(400, 'Sorting by "{attribute}" is not supported; sort by a single-valued attribute such as '
                  "userName, name.familyName or meta.created", "Sort by one of the attributes it names.",
                  INVALID_VALUE)
VALUE_NOT_AN_OBJECT = Refusal(400, "the value for {attribute} must be an object", "Send the operation's value "
                              "as an object of sub-attributes.", INVALID_VALUE)
ACTIVE_CANNOT_BE_REMOVED = Refusal(400, "{attribute} cannot be removed, only set; to deactivate, replace it "
                                   "with false", "Map active to Not([IsSoftDeleted]), which always has a value.",
                                   INVALID_VALUE)
NEEDS_A_VALUE = Refusal(400, "{op} needs a value", "Give the operation a value, or make it a remove.",
                        INVALID_VALUE)
PATHLESS_NEEDS_AN_OBJECT = Refusal(400, "{op} without a path needs an object value", "Give the operation a path, "
                                   "or an object of attributes as its value.", INVALID_VALUE)
MEMBERS_TOO_MANY = Refusal(400, "{attribute} may have at most {limit} entries in one request, got {count}",
                           "Send the membership in several smaller PATCH requests.", INVALID_VALUE)
MEMBER_WITHOUT_VALUE = Refusal(400, "every entry of {attribute} needs a value, the id of a User; got {got}",
                               'Name each member by its id, as {"value": "..."}.', INVALID_VALUE)
NOT_A_USER = Refusal(400, "members: {ids} is not a User of this organisation", "Provision the user first (assign "
                     "them to the app), or remove them from the group; nested groups are not provisioned.",
                     INVALID_VALUE)
NOT_USERS = Refusal(400, "members: {ids} are not Users of this organisation", "Provision those users first "
                    "(assign them to the app), or remove them from the group; nested groups are not provisioned.",
                    INVALID_VALUE)
NO_LONGER_A_USER = Refusal(400, "members: a member named is no longer a User of this organisation", "A member "
                           "was deleted meanwhile: the next cycle sends the membership again.", INVALID_VALUE)
UNKNOWN_MANAGER = Refusal(400, "manager {id} is not a member of this organisation", "Provision the manager first "
                          "(assign them to the app); Entra sends the manager again once they exist.", INVALID_VALUE)

# -- SCIM: filters (400 invalidFilter) -------------------------------------------------------------------

_FILTER_FIX = "Correct the filter (RFC 7644 §3.4.2.2); Entra's own matching filters are always accepted."
_MATCHING_FIX = ("Choose a matching attribute WiggleDesk can filter on: userName, externalId, "
                 'emails[type eq "work"].value, or another single-valued attribute.')

FILTER_CHARACTER = Refusal(400, "Unexpected character {character} at position {position} of the filter",
                           _FILTER_FIX, INVALID_FILTER)
FILTER_PATH = Refusal(400, '"{path}" is not a valid attribute path', _FILTER_FIX, INVALID_FILTER)
FILTER_ENDS_EARLY = Refusal(400, "The filter ends too early", _FILTER_FIX, INVALID_FILTER)
FILTER_EXPECTED = Refusal(400, "Expected {expected} at position {position} of the filter, found {found}",
                          _FILTER_FIX, INVALID_FILTER)
FILTER_EMPTY = Refusal(400, "The filter is empty", "Send a filter, or leave the parameter out to list everything.",
                       INVALID_FILTER)
FILTER_UNEXPECTED = Refusal(400, "Unexpected {found} at position {position} of the filter", _FILTER_FIX,
                            INVALID_FILTER)
FILTER_TOO_DEEP = Refusal(400, "The filter nests more than {limit} levels deep", "Use fewer parentheses and "
                          "brackets.", INVALID_FILTER)
FILTER_NO_VALUE_FILTER = Refusal(400, '"{path}" cannot take a value filter', "Put the value filter on the "
                                 'attribute, then the sub-attribute: emails[type eq "work"].value.', INVALID_FILTER)
FILTER_OPERATOR = Refusal(400, 'Unknown operator "{operator}"; SCIM operators are {operators}', "Use one of the "
                          "operators it lists.", INVALID_FILTER)
FILTER_STRING = Refusal(400, "Malformed string {text} in the filter", "Quote values with double quotes, and "
                        'escape a quote inside as \\".', INVALID_FILTER)
FILTER_VALUE = Refusal(400, "Expected a value at position {position} of the filter, found {found}", "Compare "
                       "with a quoted string, a number, true, false or null.", INVALID_FILTER)
FILTER_TOO_LONG = Refusal(400, "The filter is longer than {limit} characters", "Send a shorter filter, or "
                          "several requests.", INVALID_FILTER)
FILTER_UNSUPPORTED = Refusal(400, 'Filtering on "{path}" is not supported: it is not an attribute of a {resource}, '
                             "or is complex (name it with a sub-attribute, such as name.familyName)", _MATCHING_FIX,
                             INVALID_FILTER)
FILTER_NOT_A_SUB = Refusal(400, '"{path}" is not a sub-attribute of {collection}', _MATCHING_FIX, INVALID_FILTER)
FILTER_DATE = Refusal(400, '{attribute} must be compared with an RFC 3339 date-time such as '
                      '"2026-11-23T09:14:07Z", got "{got}"', "Write the date-time as RFC 3339 says.", INVALID_FILTER)
FILTER_VALUE_PATH = Refusal(400, 'Value filters apply to {collections}, not to "{path}"', _MATCHING_FIX,
                            INVALID_FILTER)
# The query model's own refusals (domain/query.py), answered as invalidFilter.
FILTER_OPERATOR_TYPE = Refusal(400, query.OPERATOR_FOR_TYPE, "Use eq or ne with true or false; an ordering or "
                               "substring operator only with text and date-times.", INVALID_FILTER)
FILTER_NULL = Refusal(400, query.NULL_COMPARISON, "Compare null with eq or ne only.", INVALID_FILTER)
FILTER_BOOLEAN = Refusal(400, query.BOOLEAN_COMPARISON, "Compare the attribute with true or false, unquoted.",
                         INVALID_FILTER)
FILTER_DATETIME = Refusal(400, query.DATETIME_COMPARISON, 'Compare the date-time with a quoted RFC 3339 value, '
                          'such as "2026-11-23T09:14:07Z".', INVALID_FILTER)
FILTER_TEXT = Refusal(400, query.TEXT_COMPARISON, 'Quote the value: userName eq "ada@contoso.example".',
                      INVALID_FILTER)

# -- SCIM: PATCH paths (400 invalidPath, noTarget, mutability) -------------------------------------------

_PATH_FIX = "Correct the operation's path, or the mapping's target attribute, to one WiggleDesk's /Schemas lists."

PATH_INVALID = Refusal(400, '"{path}" is not a valid path', _PATH_FIX, INVALID_PATH)
PATH_NO_ATTRIBUTE = Refusal(400, '"{path}" names no attribute of the {resource} schema', _PATH_FIX, INVALID_PATH)
PATH_FILTER_ON_SINGLE = Refusal(400, '"{path}" puts a value filter on an attribute that is not multi-valued',
                                "Value filters apply to emails, phoneNumbers, addresses and members.",
                                INVALID_PATH)
PATH_NO_SUB_ATTRIBUTE = Refusal(400, '"{path}" names no sub-attribute of {attribute}', _PATH_FIX, INVALID_PATH)
PATH_OPERATOR = Refusal(400, 'The operator "{operator}" is not supported in a PATCH path', "A value filter in a "
                        "path compares with eq or ne.", INVALID_PATH)
PATH_NESTED_FILTER = Refusal(400, "Value filters cannot be nested", "Use one value filter per path.", INVALID_PATH)
PATH_NOT_A_SUB = Refusal(400, '"{path}" is not a sub-attribute', "Inside a value filter, name the sub-attribute "
                         'alone: emails[type eq "work"].', INVALID_PATH)
MEMBERS_BY_VALUE_ONLY = Refusal(400, '"{path}": members can be picked by value eq "<id>" (or several, joined by '
                                "or) only", 'Remove a member by the path members[value eq "..."], naming its id, or '
                                "with a value list.", INVALID_PATH)
MEMBERS_WHOLE = Refusal(400, '"{path}": members are added and removed whole, by value', "Use the path members, "
                        "with the members' ids as the value.", INVALID_PATH)
MEMBERS_FILTER_REMOVES = Refusal(400, '"{path}": a value filter on members can only remove them', "Add members "
                                 "with the path members and a value list.", INVALID_PATH)
NO_MATCHING_VALUE = Refusal(400, "no value of {attribute} matches the filter", "The filter picks no existing value "
                            "and says too little to make one: name its type, as in "
                            'emails[type eq "work"].value.', NO_TARGET)
REMOVE_NEEDS_A_PATH = Refusal(400, "remove needs a path", "Give the remove operation a path.", NO_TARGET)
READ_ONLY_ATTRIBUTE = Refusal(400, "{attribute} is read-only and cannot be changed", "Remove the mapping to this "
                              "attribute: WiggleDesk sets it (id, meta, groups).", MUTABILITY)

# -- SCIM: where it happened (wrappers: the status and code are the wrapped refusal's) ---------------------

IN_OPERATION = Refusal(None, "Operation {number} ({operation}): {detail}", "The operation it names (counted from "
                       "1) was refused for the reason after the colon; nothing of the PATCH was applied.")
IN_PATH_FILTER = Refusal(None, '"{path}": {detail}', "The value filter in the path was refused for the reason "
                         "after the colon.", INVALID_PATH)

# -- SCIM: the resource (404, 409, 412) ----------------------------------------------------------------

_GONE_FIX = ("The member or team was deleted, or the credential is another WiggleDesk organisation's: check the "
             "credential; Provision on demand sends the user again.")

NO_MEMBER = Refusal(404, "No member with id {id} in this organisation", _GONE_FIX)
NO_TEAM = Refusal(404, "No team with id {id} in this organisation", _GONE_FIX)
NO_RESOURCE_TYPE = Refusal(404, 'No resource type "{name}"; WiggleDesk serves {served}', "Ask for one of the "
                           "resource types it names.")
NO_SCHEMA = Refusal(404, 'No schema "{urn}"', "GET /Schemas lists the schemas served.")
NO_ENDPOINT = Refusal(404, "No SCIM endpoint {path}; WiggleDesk serves {served}", "Check the Tenant URL: it ends "
                      "in /scim/v2 (or /scim/v2/Users), with nothing after it.")
NOTHING_HERE = Refusal(404, "There is nothing at this address. The SCIM service is at {root}", "Enter the "
                       "address it names as the Tenant URL.")
VALUE_TAKEN_BY_MEMBER = Refusal(409, errors.ALREADY_USED, "Another member already has this userName or "
                                "externalId (made by hand, or by an earlier connection): delete or rename one, "
                                "or match on that attribute.", UNIQUENESS)
VALUE_TAKEN_BY_TEAM = Refusal(409, '{attribute} "{value}" is already used by another team', "Another team has "
                              "this displayName (in any case) or externalId: rename one of the two groups.",
                              UNIQUENESS)
#: Which of the two a resource type's uniqueness conflict is, by the resource type's name.
VALUE_TAKEN = {"User": VALUE_TAKEN_BY_MEMBER, "Group": VALUE_TAKEN_BY_TEAM}
CHANGED_SINCE = Refusal(412, "{resource} {id} has changed since version {version}", "Another change came first: "
                        "read the resource again and resend. Entra does so in its next cycle.")
KEEPS_CHANGING = Refusal(412, "{resource} {id} keeps changing; try again", "Many changes to the same resource "
                         "at once: send the request again. Entra does so in its next cycle.")

# -- SCIM: the request as a whole (405, 413, 415, 429, 500, 501, 503) -----------------------------------

METHOD_NOT_ALLOWED = Refusal(405, "{method} is not allowed on {path}, which allows {allowed}", "Send one of the "
                             "methods it lists (Allow says them too); Entra never sends another.")
BODY_TOO_LARGE_SIZED = Refusal(413, "The request body ({size} bytes) is larger than {limit} bytes", "Send less "
                               "per request: split a large group's membership over several PATCH requests.")
BODY_TOO_LARGE = Refusal(413, "The request body is larger than {limit} bytes", "Send less per request: split a "
                         "large group's membership over several PATCH requests.")
MEDIA_TYPE = Refusal(415, 'Content-Type "{type}" is not accepted; send application/scim+json or application/json',
                     "Send the body as application/scim+json.")
TOO_MANY_REQUESTS = Refusal(429, "This organisation is sending more than {rate} requests per second; retry after "
                            "the number of seconds in Retry-After. Entra does so by itself.", "Nothing to do for "
                            "Entra; another client must wait as Retry-After says.")
INTERNAL_ERROR = Refusal(500, "Internal server error (request id {request_id})", "A fault on WiggleDesk's side: "
                         "Entra retries; if it lasts, send the request id to WiggleDesk support.")
NOT_SUPPORTED = Refusal(501, "{operation} is not supported by WiggleDesk's SCIM service", "Turn the feature off "
                        "in the client: bulk, /Me and password changes are not offered.")
STORE_UNAVAILABLE = Refusal(503, "The service is briefly unavailable. Send the request again in {seconds} "
                            "seconds.", "Nothing to do: Entra retries by itself.")

# -- OAuth: the token endpoint (RFC 6749 §5.2) -----------------------------------------------------------

_FORM_FIX = "Check Token Endpoint, Client Identifier and Client Secret in Admin Credentials."

NOT_A_FORM = Refusal(400, "The token request must be a form POST: send Content-Type: "
                     "application/x-www-form-urlencoded with grant_type=client_credentials in the body.",
                     "Only a client that is not Entra sends this: post the form RFC 6749 §4.4 describes.",
                     "invalid_request", OAUTH)
UNREADABLE_FORM = Refusal(400, "The form body could not be read: it must be form-urlencoded UTF-8.",
                          "Encode the form as UTF-8.", "invalid_request", OAUTH)
GRANT_TYPE_MISSING = Refusal(400, "grant_type is missing: send grant_type=client_credentials.", _FORM_FIX,
                             "invalid_request", OAUTH)
PARAMETER_REPEATED = Refusal(400, "{parameter} was sent more than once; send each parameter once.", _FORM_FIX,
                             "invalid_request", OAUTH)
NOT_BASIC = Refusal(400, "The Authorization header must use the Basic scheme at the token endpoint.",
                    _FORM_FIX, "invalid_request", OAUTH)
TWO_METHODS = Refusal(400, "Send the client credentials either in the Authorization header or in the body, not "
                      "both.", _FORM_FIX, "invalid_request", OAUTH)
SECRET_AND_ASSERTION = Refusal(400, "Send either client_secret or client_assertion, not both.", "With workload "
                               "identity federation, leave Client Secret empty.", "invalid_request", OAUTH)
ASSERTION_MISSING = Refusal(400, "client_assertion is missing beside client_assertion_type.", _FORM_FIX,
                            "invalid_request", OAUTH)
ASSERTION_TYPE = Refusal(400, "client_assertion_type must be {type}.", "Send an RFC 7523 JWT bearer assertion.",
                         "invalid_request", OAUTH)
ASSERTION_WITHOUT_CLIENT = Refusal(400, "client_id is missing: send the client id WiggleDesk gave the client.",
                                   "Fill in Client Identifier.", "invalid_request", OAUTH)
CLIENT_ID_MISSING = Refusal(400, "client_id is missing beside client_secret.", "Fill in Client Identifier.",
                            "invalid_request", OAUTH)
CLIENT_SECRET_MISSING = Refusal(400, "client_secret is missing beside client_id.", "Fill in Client Secret.",
                                "invalid_request", OAUTH)
GRANT_TYPE_UNSUPPORTED = Refusal(400, "Only grant_type=client_credentials is supported.", "Choose the OAuth2 "
                                 "client credentials grant.", "unsupported_grant_type", OAUTH)
SCOPE_UNSUPPORTED = Refusal(400, "The only scope offered is scim: send scope=scim, or no scope.", "Leave the "
                            "scope empty, or enter scim.", "invalid_scope", OAUTH)
TOKENS_SWITCHED_OFF = Refusal(400, access.ORGANISATION_OFF, "A WiggleDesk admin switches API access on for the "
                              "organisation in WiggleDesk's settings.", "unauthorized_client", OAUTH)
BAD_CREDENTIALS = Refusal(401, "The client could not be authenticated. Check the client id and secret in Entra, "
                          "or create a new secret in WiggleDesk and paste it into Entra.", "Enter the client id "
                          "and a current secret again (no spaces around them), or ask WiggleDesk for a new secret.",
                          "invalid_client", OAUTH)
BAD_ASSERTION = Refusal(401, "The client could not be authenticated with its assertion. Check the federated "
                        "credential's tenant, audience and subject against those WiggleDesk holds for the client.",
                        "Make the tenant, audience and subject WiggleDesk holds for the client match your app's, "
                        "or send WiggleDesk the right ones.", "invalid_client", OAUTH)
NO_CREDENTIALS = Refusal(401, "No client credentials were sent. Send the client id and secret in an HTTP Basic "
                         "Authorization header, or as client_id and client_secret in the body.", "Fill in Client "
                         "Identifier and Client Secret.", "invalid_client", OAUTH)
UNREADABLE_BASIC = Refusal(401, "The Authorization header could not be read. It must read Basic "
                           "base64(client_id:client_secret), each part form-urlencoded (RFC 6749 §2.3.1).",
                           "Enter the client id and secret again, exactly as WiggleDesk gave them.",
                           "invalid_client", OAUTH)
POST_ONLY = Refusal(405, "The token endpoint takes POST only (RFC 6749 §3.2).", "Request tokens with POST.",
                    "invalid_request", OAUTH)
GET_ONLY = Refusal(405, "This document is read with GET.", "Read the metadata with GET.", "invalid_request", OAUTH)
TOO_MANY_FAILURES = Refusal(429, "Too many failed token requests for this client; retry after the number of "
                            "seconds in Retry-After, with the right credentials.", "Correct Client Secret, wait "
                            "as Retry-After says, then select Test Connection.", "temporarily_unavailable", OAUTH)


#: Every refusal, in the order the guide lists them within a status.
CATALOGUE: tuple[Refusal, ...] = tuple(value for value in dict(globals()).values() if isinstance(value, Refusal))


def explain(detail: str, kind: str = SCIM) -> tuple[Refusal, ...]:
    """The refusals a detail of ``kind`` is made of: the one it is, or those inside a wrapper (``Operation 2
    (...): <detail>``) or a list of attribute problems; empty if the catalogue cannot account for it.
    Wrappers and lists are tried first, since a plain template's placeholder would swallow them."""
    for refusal in CATALOGUE:
        if refusal.kind != kind or not (refusal.wrapper or refusal.composite):
            continue
        match = refusal.pattern.fullmatch(detail)
        if match is None:
            continue
        if refusal.wrapper:
            inner = explain(match.group(DETAIL), kind)
        else:
            parts = [_leaf(part, kind) for part in match.group(PROBLEMS).split(SEPARATOR)]
            inner = tuple(parts) if all(part is not None and part.attribute_problem for part in parts) else ()
        if inner:
            return inner
    leaf = _leaf(detail, kind)
    return () if leaf is None else (leaf,)


def _leaf(detail: str, kind: str) -> Refusal | None:
    """The plain refusal ``detail`` is; of several whose templates match, the one that says the most itself
    (``{urn} must be an object`` also matches "the value for emails must be an object")."""
    matching = [refusal for refusal in CATALOGUE if refusal.kind == kind and not refusal.wrapper
                and not refusal.composite and refusal.matches(detail)]
    return max(matching, key=lambda refusal: len(refusal.pattern.pattern), default=None)
