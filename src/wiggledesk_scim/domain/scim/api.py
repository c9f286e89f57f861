"""SCIM 2.0 for Users, minus HTTP: one method per SCIM operation, a plain request in, a plain response out.

A web framework turns its request into a ``ScimRequest`` (the SCIM root the client used, headers,
decoded query parameters, raw body), calls one method, and turns the ``ScimResponse`` back. Refusals
are raised as ``ScimError`` and never returned, so the caller's transaction can abort on them.
Every method authenticates first: an unauthenticated request learns nothing, not even whether a path
exists (ENTRA.md §2).
"""
from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Mapping

import orjson

from ..access import parse_authorization
from ..activity import Source
from ..errors import AccessRefused, DomainError, StoreUnavailable
from ..model import Member, Principal
from ..ports import TokenAuthority
from ..query import MemberQuery
from ..registry import USER, ResourceType
from ..services import MemberService
from .errors import INVALID_SYNTAX, INVALID_VALUE, ScimError, from_domain
from .filter import to_member_filter, to_sort_attribute
from .messages import ListParameters, list_parameters_from_query, list_parameters_from_search, validate_patch
from .patch import compile_patch
from .representation import (etag, list_response, member_location, project, resource_type_document,
                             schema_documents, service_provider_config, user_resource)
from .schema import validate
from .translation import fields_from_json

SCIM_CONTENT_TYPE = "application/scim+json; charset=utf-8"


@dataclass(frozen=True)
class ScimRequest:
    """``base_url`` is the SCIM root as the client used it, without a trailing slash: for
    ``https://h/scim/v2/Users/Users/42`` it is ``https://h/scim/v2/Users``. ``headers`` may use any case."""

    base_url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    method: str = "GET"
    path: str = ""          # below base_url, for error details only: "/Bulk"
    request_id: str | None = None   # the X-Request-Id the response carries, for the activity trail

    def header(self, name: str) -> str | None:
        """The value of header ``name``, in any case; the first given if two differ only in case."""
        return self._by_lower_name.get(name.lower())

    @cached_property
    def _by_lower_name(self) -> dict[str, str]:
        lowered: dict[str, str] = {}
        for key, value in self.headers.items():
            lowered.setdefault(key.lower(), value)
        return lowered


@dataclass
class ScimResponse:
    """``body`` is a JSON-ready dict, or None for a response without a body (204, 304)."""

    status: int
    body: dict | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.body is not None:
            self.headers.setdefault("Content-Type", SCIM_CONTENT_TYPE)

    def body_bytes(self) -> bytes:
        return b"" if self.body is None else json_bytes(self.body)


def json_bytes(body: dict) -> bytes:
    """``body`` as compact UTF-8 JSON, the form of every response body.

    orjson writes it several times faster than the standard library, byte for byte the same as
    ``json.dumps(body, ensure_ascii=False, separators=(",", ":"))`` for what our bodies hold (strings,
    booleans, small integers, None). What it refuses (a string with a lone surrogate, which UTF-8
    cannot carry) goes through the standard library, escaped as ``\\udXXX``."""
    try:
        return orjson.dumps(body)
    except TypeError:
        return json.dumps(body, separators=(",", ":")).encode("ascii")


# -- the operations ---------------------------------------------------------------------------

TOO_MANY_REQUESTS = ("This organisation is sending more than {rate} requests per second; retry after the "
                     "number of seconds in Retry-After. Entra does so by itself.")
GROUPS_DETAIL = ('WiggleDesk does not provision groups. In Entra, set "Provision Microsoft Entra ID Groups" '
                 "to No under Provisioning → Mappings.")
ACCEPTED_MEDIA_TYPES = ("application/scim+json", "application/json")
DEFAULT_COUNT = 100


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def parse_json(body: bytes):
    """The request body as JSON; 400 ``invalidSyntax`` for anything that is not UTF-8 JSON."""
    if not body or not body.strip():
        raise ScimError(400, "The request body is empty; send a JSON object", INVALID_SYNTAX)
    try:
        parsed = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise ScimError(400, "The request body is not valid UTF-8", INVALID_SYNTAX) from None
    except RecursionError:
        raise ScimError(400, "The request body nests too deeply", INVALID_SYNTAX) from None
    except ValueError as error:
        raise ScimError(400, f"The request body is not valid JSON: {error}", INVALID_SYNTAX) from None
    if _nests_deeper(parsed, MAX_JSON_DEPTH):
        raise ScimError(400, f"The request body nests more than {MAX_JSON_DEPTH} levels deep", INVALID_SYNTAX)
    return parsed


#: How deep a request body may nest objects and lists. A User with the enterprise manager is 3 levels,
#: a PatchOp carrying addresses 5; anything far deeper is not SCIM, and is refused before any code walks it.
MAX_JSON_DEPTH = 16


def _nests_deeper(value, limit: int) -> bool:
    """Whether ``value`` has more than ``limit`` levels of objects and lists (walked without recursion)."""
    level = [value]
    for _ in range(limit):
        level = [child for container in level if isinstance(container, (dict, list))
                 for child in (container.values() if isinstance(container, dict) else container)]
        if not level:
            return False
    return any(isinstance(child, (dict, list)) for child in level)


def _version_from_etag(value: str) -> int:
    """The version an ETag names; -1 (matching no version) for one we never issued."""
    text = value.strip()
    if text.startswith("W/"):
        text = text[2:]
    text = text.strip('"')
    return int(text) if text.isdigit() else -1


def _refusals_recorded(member_argument: bool = False):
    """An operation whose refusal (a raised ``ScimError``) is recorded in the trail of the organisation
    the request's token belongs to, with the member id of the path when ``member_argument``."""
    def decorate(operation):
        @functools.wraps(operation)
        def recorded(self: "ScimApi", request: ScimRequest, *args):
            try:
                return operation(self, request, *args)
            except ScimError as error:
                self._record_refusal(error, args[0] if member_argument and args else None)
                raise
        return recorded
    return decorate


class ScimApi:
    """The SCIM service for Users, acting for whoever the bearer token names."""

    def __init__(self, members: MemberService, authority: TokenAuthority, *, max_results: int = 200,
                 fair_use: FairUse | None = None, users: ResourceType = USER):
        self.members = members
        #: The User resource type as declared (domain/registry): what a User holds and how it maps.
        self.users = users
        self.authority = authority
        self.max_results = max_results
        #: Each organisation's share of this process (None: no limit).
        self.fair_use = fair_use
        #: Who the request acts for, once its token is accepted (the access log names the organisation).
        self.principal: Principal | None = None
        #: The organisation whose trail records this request's refusal, once its token is known.
        self._refused_in: str | None = None

    def _record_refusal(self, error: ScimError, member_id: str | None) -> None:
        # A 429 is not recorded: a flood would turn every refused request into a write. The access log
        # has them.
        if self._refused_in is not None and error.status != 429:
            self.members.refused(self._refused_in, error.status, error.scim_type, member_id)

    # -- plumbing ---------------------------------------------------------------------------

    def _principal(self, request: ScimRequest) -> Principal:
        self.principal = self._refused_in = None
        try:
            principal = self.authority.authenticate(parse_authorization(request.header("Authorization")))
        except AccessRefused as refused:
            if refused.organisation_id is not None:
                # A token of the organisation's own, refused: its admin will want to see that in the trail.
                self._refused_in = refused.organisation_id
                self.members = self.members.acting_for(Source(refused.token_id, request.request_id))
            raise from_domain(refused) from None
        self.principal = principal
        self._refused_in = principal.organisation_id
        self.members = self.members.acting_for(Source(principal.token_id, request.request_id))
        if self.fair_use is not None:
            wait = self.fair_use.admit(principal.organisation_id)
            if wait:
                raise ScimError(429, TOO_MANY_REQUESTS.format(rate=f"{self.fair_use.rate:g}"),
                                headers={"Retry-After": str(max(1, math.ceil(wait)))})
        return principal

    def _organisation(self, request: ScimRequest) -> str:
        return self._principal(request).organisation_id

    def _changed_member(self, principal: Principal, member_id: str) -> None:
        """A write to the token's own admin (deprovisioned, say) is felt by the very next request."""
        if member_id == principal.admin_id:
            self.authority.forget_admin(principal.organisation_id, member_id)

    @staticmethod
    def _domain(call, *args, **kwargs):
        try:
            return call(*args, **kwargs)
        except StoreUnavailable:
            # No refusal of the request (nothing for the trail): the entrypoint answers it, once it has
            # retried the request if the error says that may help.
            raise
        except DomainError as error:
            raise from_domain(error) from None

    @staticmethod
    def _json_body(request: ScimRequest):
        content_type = request.header("Content-Type")
        if content_type:
            media_type = content_type.split(";", 1)[0].strip().lower()
            if media_type not in ACCEPTED_MEDIA_TYPES:
                raise ScimError(415, f'Content-Type "{media_type}" is not accepted; send application/scim+json '
                                     "or application/json")
        return parse_json(request.body)

    def _parameter(self, request: ScimRequest, name: str) -> str | None:
        # Query parameter names are matched ignoring case, like attribute names.
        lowered = name.lower()
        return next((v for k, v in request.query.items() if k.lower() == lowered), None)

    def _expected_version(self, request: ScimRequest) -> int | None:
        header = request.header("If-Match")
        if header is None or header.strip() == "*":
            return None
        return _version_from_etag(header.split(",")[0])

    def _user_response(self, request: ScimRequest, member: Member, status: int = 200) -> ScimResponse:
        resource = project(user_resource(member, request.base_url, self.users),
                           self._parameter(request, "attributes"), self._parameter(request, "excludedAttributes"),
                           self.users)
        headers = {"ETag": etag(member)}
        if status == 201:
            headers["Location"] = member_location(request.base_url, member.id, self.users)
        return ScimResponse(status, resource, headers)

    # -- Users ------------------------------------------------------------------------------

    @_refusals_recorded()
    def list_users(self, request: ScimRequest) -> ScimResponse:
        """GET /Users with filter, sortBy/sortOrder, startIndex/count and projections (RFC 7644 §3.4.2)."""
        organisation_id = self._organisation(request)
        return self._list(request, organisation_id, list_parameters_from_query(request.query))

    @_refusals_recorded()
    def search_users(self, request: ScimRequest) -> ScimResponse:
        """POST /Users/.search and POST /.search (RFC 7644 §3.4.3): the same query in a body, which keeps
        filters out of URLs and logs. Users are the only resources, so both answer the same."""
        organisation_id = self._organisation(request)
        return self._list(request, organisation_id, list_parameters_from_search(self._json_body(request)))

    def _list(self, request: ScimRequest, organisation_id: str, parameters: ListParameters) -> ScimResponse:
        text = parameters.filter
        member_filter = to_member_filter(text, self.users) if text and text.strip() else None
        sort_by = (to_sort_attribute(parameters.sort_by, self.users)
                   if parameters.sort_by and parameters.sort_by.strip() else None)
        order = (parameters.sort_order or "ascending").strip().lower()
        if order not in ("ascending", "descending"):
            raise ScimError(400, f'sortOrder must be "ascending" or "descending", got "{parameters.sort_order}"',
                            INVALID_VALUE)
        # RFC 7644 §3.4.2.4: startIndex below 1 means 1; a negative count means 0; above maxResults, the cap.
        start_index = max(parameters.start_index or 1, 1)
        count = DEFAULT_COUNT if parameters.count is None else parameters.count
        count = min(max(count, 0), self.max_results)
        page = self._domain(self.members.query, organisation_id, MemberQuery(
            filter=member_filter, start_index=start_index, count=count, sort_by=sort_by,
            descending=order == "descending"))
        resources = [project(user_resource(m, request.base_url, self.users), parameters.attributes,
                             parameters.excluded_attributes, self.users) for m in page.members]
        return ScimResponse(200, list_response(resources, page.total, start_index))

    @_refusals_recorded(member_argument=True)
    def get_user(self, request: ScimRequest, member_id: str) -> ScimResponse:
        organisation_id = self._organisation(request)
        member = self._domain(self.members.get, organisation_id, member_id)
        if_none_match = request.header("If-None-Match")
        if if_none_match and etag(member) in (v.strip() for v in if_none_match.split(",")):
            return ScimResponse(304, None, {"ETag": etag(member)})
        return self._user_response(request, member)

    @_refusals_recorded()
    def create_user(self, request: ScimRequest) -> ScimResponse:
        """POST /Users (RFC 7644 §3.3): 201 with Location and ETag."""
        organisation_id = self._organisation(request)
        user = validate(self._json_body(request), self.users)
        member = self._domain(self.members.provision, organisation_id, fields_from_json(user, self.users))
        return self._user_response(request, member, 201)

    @_refusals_recorded(member_argument=True)
    def replace_user(self, request: ScimRequest, member_id: str) -> ScimResponse:
        """PUT /Users/{id} (RFC 7644 §3.5.1); ``active`` left out keeps its value (ENTRA.md §11)."""
        principal = self._principal(request)
        user = validate(self._json_body(request), self.users)

        def replaced(current):
            # What a PUT leaves out is cleared, except attributes with a default (active), which keep their
            # value: absent is not a state they can have.
            return fields_from_json(user, self.users, current=current)
        member = self._domain(self.members.replace, principal.organisation_id, member_id, replaced,
                              expected_version=self._expected_version(request))
        self._changed_member(principal, member_id)
        return self._user_response(request, member)

    @_refusals_recorded(member_argument=True)
    def patch_user(self, request: ScimRequest, member_id: str) -> ScimResponse:
        """PATCH /Users/{id} (RFC 7644 §3.5.2): all operations or none; 200 with the member."""
        principal = self._principal(request)
        edit = compile_patch(validate_patch(self._json_body(request)), self.users)
        member = self._domain(self.members.update, principal.organisation_id, member_id, edit,
                              expected_version=self._expected_version(request))
        self._changed_member(principal, member_id)
        return self._user_response(request, member)

    @_refusals_recorded(member_argument=True)
    def delete_user(self, request: ScimRequest, member_id: str) -> ScimResponse:
        """DELETE /Users/{id} (RFC 7644 §3.6): 204, and the member is gone."""
        principal = self._principal(request)
        self._domain(self.members.delete, principal.organisation_id, member_id,
                     expected_version=self._expected_version(request))
        self._changed_member(principal, member_id)
        return ScimResponse(204)

    # -- discovery (RFC 7644 §4) ---------------------------------------------------------------

    @_refusals_recorded()
    def service_provider_config(self, request: ScimRequest) -> ScimResponse:
        self._organisation(request)
        return ScimResponse(200, service_provider_config(request.base_url, self.max_results))

    @_refusals_recorded()
    def list_resource_types(self, request: ScimRequest) -> ScimResponse:
        self._organisation(request)
        return ScimResponse(200, list_response([resource_type_document(request.base_url, self.users)], 1, 1))

    @_refusals_recorded()
    def get_resource_type(self, request: ScimRequest, name: str) -> ScimResponse:
        self._organisation(request)
        if name != self.users.name:
            raise ScimError(404, f'No resource type "{name}"; WiggleDesk serves {self.users.name} only')
        return ScimResponse(200, resource_type_document(request.base_url, self.users))

    @_refusals_recorded()
    def list_schemas(self, request: ScimRequest) -> ScimResponse:
        self._organisation(request)
        documents = schema_documents(request.base_url, (self.users,))
        return ScimResponse(200, list_response(documents, len(documents), 1))

    @_refusals_recorded()
    def get_schema(self, request: ScimRequest, urn: str) -> ScimResponse:
        self._organisation(request)
        for document in schema_documents(request.base_url, (self.users,)):
            if document["id"].lower() == urn.lower():
                return ScimResponse(200, document)
        raise ScimError(404, f'No schema "{urn}"')

    # -- what is not offered ------------------------------------------------------------------

    @_refusals_recorded()
    def groups(self, request: ScimRequest) -> ScimResponse:
        """Every method on /Groups: 404 with advice (ENTRA.md §3), after authentication."""
        self._organisation(request)
        raise ScimError(404, GROUPS_DETAIL)

    @_refusals_recorded()
    def unsupported(self, request: ScimRequest) -> ScimResponse:
        """/Bulk, /Me and methods not offered on an endpoint: 501 (RFC 7644 §3.12)."""
        self._organisation(request)
        what = f"{request.method} {request.path}".strip() or "This operation"
        raise ScimError(501, f"{what} is not supported by WiggleDesk's SCIM service")

    @_refusals_recorded()
    def read_only(self, request: ScimRequest) -> ScimResponse:
        """A write to a discovery document (RFC 7644 §4 defines them for GET only): 405 with Allow.
        Not a SCIM operation we decline (those are 501), but a method this resource never has."""
        self._organisation(request)
        raise ScimError(405, f"{request.path or 'This endpoint'} can only be read, with GET",
                        headers={"Allow": "GET"})

    @_refusals_recorded()
    def unknown_endpoint(self, request: ScimRequest) -> ScimResponse:
        """Any other path under the SCIM root: 404, but only once the token is accepted."""
        self._organisation(request)
        raise ScimError(404, f"No SCIM endpoint {request.path or 'here'}; WiggleDesk serves /Users")
