"""SCIM 2.0 for Users and Groups, minus HTTP: one method per SCIM operation, a plain request in, a plain response out.

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
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Mapping, Sequence


from .. import catalogue as c
from ..access import parse_authorization
from ..activity import Source
from ..errors import AccessRefused, DomainError, StoreUnavailable
from ..model import Member, Principal, Rendition, Team
from ..ports import TokenAuthority
from ..query import Query
from ..registry import GROUP, USER, ResourceType
from ..services import MemberService
from ..teams import TeamService
from .body import json_pieces
from .errors import ScimError, from_domain, refuse
from .filter import to_member_filter, to_sort_attribute
from .groups import compile_group_patch, member_ids, render_members
from .messages import ListParameters, list_parameters_from_query, list_parameters_from_search, validate_patch
from .patch import compile_patch
from .representation import (USER_DOCUMENTS, UserDocuments, etag, group_resource, list_response, listed, location,
                             project, resource_type_document, schema_documents, service_provider_config)
from .schema import validate
from .translation import fields_from_json

SCIM_CONTENT_TYPE = "application/scim+json; charset=utf-8"


class LowerCaseHeaders(dict):
    """A request's headers whose names are all in lower case already (a server gives them so): a
    ``ScimRequest`` looks a name up in them as it is, without a lower-cased copy of them all."""


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
        if type(self.headers) is LowerCaseHeaders:
            return self.headers.get(name.lower())
        return self._by_lower_name.get(name.lower())

    @cached_property
    def _by_lower_name(self) -> dict[str, str]:
        lowered: dict[str, str] = {}
        for key, value in self.headers.items():
            lowered.setdefault(key.lower(), value)
        return lowered


@dataclass
class ScimResponse:
    """``body`` is a JSON-ready mapping (a dict, or JSON serialised ahead: ``body.Serialised``), or None for a
    response without a body (204, 304)."""

    status: int
    body: Mapping | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.body is not None:
            self.headers.setdefault("Content-Type", SCIM_CONTENT_TYPE)

    def body_bytes(self) -> bytes:
        return b"".join(self.body_pieces())

    def body_pieces(self) -> list[bytes]:
        """The body as JSON in pieces, to be written one after the other: a list serialised ahead in
        pieces (``SerialisedList``, a large team's members) goes out as they are, never joined into one
        more copy of itself."""
        return [] if self.body is None else json_pieces(self.body)


# -- the operations ---------------------------------------------------------------------------

ACCEPTED_MEDIA_TYPES = ("application/scim+json", "application/json")
DEFAULT_COUNT = 100


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def parse_json(body: bytes):
    """The request body as JSON; 400 ``invalidSyntax`` for anything that is not UTF-8 JSON."""
    if not body or not body.strip():
        raise refuse(c.BODY_EMPTY)
    try:
        parsed = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise refuse(c.BODY_NOT_UTF8) from None
    except RecursionError:
        raise refuse(c.BODY_NESTS_TOO_DEEPLY) from None
    except ValueError as error:
        raise refuse(c.BODY_NOT_JSON, error=error) from None
    if _nests_deeper(parsed, MAX_JSON_DEPTH):
        raise refuse(c.BODY_NESTS_DEEPER, limit=MAX_JSON_DEPTH)
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


def _refusals_recorded(about: str | None = None):
    """An operation whose refusal (a raised ``ScimError``) is recorded in the trail of the organisation
    the request's token belongs to, with the id of the path as the ``member`` or ``team`` it is ``about``."""
    def decorate(operation):
        @functools.wraps(operation)
        def recorded(self: "ScimApi", request: ScimRequest, *args):
            try:
                return operation(self, request, *args)
            except ScimError as error:
                resource_id = args[0] if about is not None and args else None
                self._record_refusal(error, **({f"{about}_id": resource_id} if about else {}))
                raise
        return recorded
    return decorate


class ScimApi:
    """The SCIM service for Users and Groups, acting for whoever the bearer token names."""

    def __init__(self, members: MemberService, authority: TokenAuthority, *, max_results: int = 200,
                 fair_use: FairUse | None = None, users: ResourceType = USER, teams: TeamService | None = None,
                 groups: ResourceType = GROUP):
        self.members = members
        #: The organisation's teams, served as Groups.
        self.teams = teams if teams is not None else TeamService(members.uow, members.clock, members.ids)
        #: The User and Group resource types as declared (domain/registry): what each holds and how it maps.
        self.users = users
        self.groups = groups
        #: How members are rendered for reading: as the stores keep them, for the User as declared.
        self.user_documents = USER_DOCUMENTS if users is USER else UserDocuments(users)
        self.authority = authority
        self.max_results = max_results
        #: Each organisation's share of this process (None: no limit).
        self.fair_use = fair_use
        #: Who the request acts for, once its token is accepted (the access log names the organisation).
        self.principal: Principal | None = None
        #: The organisation whose trail records this request's refusal, once its token is known.
        self._refused_in: str | None = None

    def _record_refusal(self, error: ScimError, member_id: str | None = None, team_id: str | None = None) -> None:
        # A 429 is not recorded: a flood would turn every refused request into a write. The access log
        # has them.
        if self._refused_in is not None and error.status != 429:
            self.members.refused(self._refused_in, error.status, error.scim_type, member_id, team_id)

    # -- plumbing ---------------------------------------------------------------------------

    def _principal(self, request: ScimRequest) -> Principal:
        self.principal = self._refused_in = None
        try:
            principal = self.authority.authenticate(parse_authorization(request.header("Authorization")))
        except AccessRefused as refused:
            if refused.organisation_id is not None:
                # A token of the organisation's own, refused: its admin will want to see that in the trail.
                self._refused_in = refused.organisation_id
                self._act_for(Source(refused.token_id, request.request_id))
            raise from_domain(refused) from None
        self.principal = principal
        self._refused_in = principal.organisation_id
        self._act_for(Source(principal.token_id, request.request_id, principal.admin_id))
        if self.fair_use is not None:
            wait = self.fair_use.admit(principal.organisation_id)
            if wait:
                raise refuse(c.TOO_MANY_REQUESTS, headers={"Retry-After": str(max(1, math.ceil(wait)))},
                             rate=f"{self.fair_use.rate:g}")
        return principal

    def _act_for(self, source: Source) -> None:
        self.members = self.members.acting_for(source)
        self.teams = self.teams.acting_for(source)

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
                raise refuse(c.MEDIA_TYPE, type=media_type)
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

    def _user_documents(self, request: ScimRequest, organisation_id: str, documents: Sequence[Rendition],
                        attributes: str | None, excluded: str | None, *, new: bool = False) -> list:
        """Members' User documents (``user_documents``) as Users, narrowed; their teams read in one go if
        the response lists them (a ``new`` member is in none)."""
        groups = {}
        if documents and not new and listed("groups", attributes, excluded, self.users)[0]:
            groups = self._domain(self.teams.teams_of, organisation_id, [each.id for each in documents])
        base_url, resource = request.base_url, self.user_documents.resource
        return [project(resource(each, base_url, groups.get(each.id, ())), attributes, excluded, self.users)
                for each in documents]

    def _user_response(self, request: ScimRequest, member: Member, status: int = 200) -> ScimResponse:
        """The member just written as a User: their document as the store just rendered it to keep
        (``UserDocuments.render`` remembers it), or rendered now."""
        resource, = self._user_documents(request, member.organisation_id, [self.user_documents.rendition(member)],
                                         self._parameter(request, "attributes"),
                                         self._parameter(request, "excludedAttributes"), new=status == 201)
        headers = {"ETag": etag(member)}
        if status == 201:
            headers["Location"] = location(request.base_url, member.id, self.users)
        return ScimResponse(status, resource, headers)

    # -- Users ------------------------------------------------------------------------------

    @_refusals_recorded()
    def list_users(self, request: ScimRequest) -> ScimResponse:
        """GET /Users with filter, sortBy/sortOrder, startIndex/count and projections (RFC 7644 §3.4.2)."""
        organisation_id = self._organisation(request)
        return self._list(request, organisation_id, list_parameters_from_query(request.query))

    @_refusals_recorded()
    def search_users(self, request: ScimRequest) -> ScimResponse:
        """POST /Users/.search (RFC 7644 §3.4.3): the same query in a body, which keeps filters out of URLs
        and logs."""
        organisation_id = self._organisation(request)
        return self._list(request, organisation_id, list_parameters_from_search(self._json_body(request)))

    @_refusals_recorded()
    def search_all(self, request: ScimRequest) -> ScimResponse:
        """POST /.search at the SCIM root (RFC 7644 §3.4.3): the query over every resource type, Users first,
        then Groups, each in its own order, paged as one list. A resource type whose schema lacks an
        attribute the filter or sortBy names has no matches (it cannot hold any); a query no type can
        answer is refused as that type's query would be."""
        organisation_id = self._organisation(request)
        parameters = list_parameters_from_search(self._json_body(request))
        queries, refusals = [], []
        for resource, page in ((self.users, self._users_page), (self.groups, self._groups_page)):
            try:
                queries.append((self._query(parameters, resource), page))
            except ScimError as error:  # a 400: the filter, sortBy or sortOrder this type cannot answer
                refusals.append(error)
        if not queries:
            raise refusals[0]
        start, count = queries[0][0].start_index, queries[0][0].count
        seen, resources = 0, []
        for query, page in queries:
            local = replace(query, start_index=max(start - 1 - seen, 0) + 1, count=count - len(resources))
            total, found = page(request, organisation_id, parameters, local)
            seen += total
            resources.extend(found)
        return ScimResponse(200, list_response(resources, seen, start))

    def _query(self, parameters: ListParameters, resource: ResourceType) -> Query:
        """The query a list or search request asks of ``resource`` (RFC 7644 §3.4.2)."""
        text = parameters.filter
        member_filter = to_member_filter(text, resource) if text and text.strip() else None
        sort_by = (to_sort_attribute(parameters.sort_by, resource)
                   if parameters.sort_by and parameters.sort_by.strip() else None)
        order = (parameters.sort_order or "ascending").strip().lower()
        if order not in ("ascending", "descending"):
            raise refuse(c.SORT_ORDER, got=parameters.sort_order)
        # RFC 7644 §3.4.2.4: startIndex below 1 means 1; a negative count means 0; above maxResults, the cap.
        start_index = max(parameters.start_index or 1, 1)
        count = DEFAULT_COUNT if parameters.count is None else parameters.count
        count = min(max(count, 0), self.max_results)
        return Query(filter=member_filter, start_index=start_index, count=count, sort_by=sort_by,
                     descending=order == "descending")

    def _users_page(self, request: ScimRequest, organisation_id: str, parameters: ListParameters,
                    query: Query) -> tuple[int, list]:
        page = self._domain(self.members.query_renditions, organisation_id, query, self.user_documents)
        return page.total, self._user_documents(request, organisation_id, page.resources, parameters.attributes,
                                                parameters.excluded_attributes)

    def _list(self, request: ScimRequest, organisation_id: str, parameters: ListParameters) -> ScimResponse:
        query = self._query(parameters, self.users)
        total, resources = self._users_page(request, organisation_id, parameters, query)
        return ScimResponse(200, list_response(resources, total, query.start_index))

    @_refusals_recorded(about="member")
    def get_user(self, request: ScimRequest, member_id: str) -> ScimResponse:
        organisation_id = self._organisation(request)
        document = self._domain(self.members.rendition, organisation_id, member_id, self.user_documents)
        version = etag(document)
        if_none_match = request.header("If-None-Match")
        if if_none_match and version in (v.strip() for v in if_none_match.split(",")):
            return ScimResponse(304, None, {"ETag": version})
        resource, = self._user_documents(request, organisation_id, [document], self._parameter(request, "attributes"),
                                         self._parameter(request, "excludedAttributes"))
        return ScimResponse(200, resource, {"ETag": version})

    @_refusals_recorded()
    def create_user(self, request: ScimRequest) -> ScimResponse:
        """POST /Users (RFC 7644 §3.3): 201 with Location and ETag."""
        organisation_id = self._organisation(request)
        user = validate(self._json_body(request), self.users)
        member = self._domain(self.members.provision, organisation_id, fields_from_json(user, self.users))
        return self._user_response(request, member, 201)

    @_refusals_recorded(about="member")
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

    @_refusals_recorded(about="member")
    def patch_user(self, request: ScimRequest, member_id: str) -> ScimResponse:
        """PATCH /Users/{id} (RFC 7644 §3.5.2): all operations or none; 200 with the member."""
        principal = self._principal(request)
        edit = compile_patch(validate_patch(self._json_body(request)), self.users)
        member = self._domain(self.members.update, principal.organisation_id, member_id, edit,
                              expected_version=self._expected_version(request))
        self._changed_member(principal, member_id)
        return self._user_response(request, member)

    @_refusals_recorded(about="member")
    def delete_user(self, request: ScimRequest, member_id: str) -> ScimResponse:
        """DELETE /Users/{id} (RFC 7644 §3.6): 204, and the member is gone."""
        principal = self._principal(request)
        self._domain(self.members.delete, principal.organisation_id, member_id,
                     expected_version=self._expected_version(request))
        self._changed_member(principal, member_id)
        return ScimResponse(204)

    # -- Groups: WiggleDesk teams (ENTRA.md §14) ------------------------------------------------

    def _members_render(self, base_url: str, attributes: str | None, excluded: str | None):
        """How the members of a response's teams are rendered, or None if the response leaves them out."""
        wanted, subs = listed("members", attributes, excluded, self.groups)
        return render_members(base_url, subs, self.groups) if wanted else None

    def _group(self, request: ScimRequest, team: Team, members, attributes: str | None,
               excluded: str | None) -> dict:
        resource = project(group_resource(team, request.base_url, self.groups), attributes, excluded,
                           self.groups)
        if members is not None:
            meta = resource.pop("meta")
            resource["members"] = members
            resource["meta"] = meta
        return resource

    def _group_response(self, request: ScimRequest, organisation_id: str, team: Team,
                        status: int = 200) -> ScimResponse:
        """The team as the response to a write: read again with its members if the response lists them."""
        attributes, excluded = self._parameter(request, "attributes"), self._parameter(request, "excludedAttributes")
        render = self._members_render(request.base_url, attributes, excluded)
        members = None
        if render is not None:
            team, members = self._domain(self.teams.read, organisation_id, team.id, render)
        headers = {"ETag": etag(team)}
        if status == 201:
            headers["Location"] = location(request.base_url, team.id, self.groups)
        return ScimResponse(status, self._group(request, team, members, attributes, excluded), headers)

    def _groups_page(self, request: ScimRequest, organisation_id: str, parameters: ListParameters,
                     query: Query) -> tuple[int, list[dict]]:
        render = self._members_render(request.base_url, parameters.attributes, parameters.excluded_attributes)
        page, members = self._domain(self.teams.query, organisation_id, query, render)
        return page.total, [self._group(request, team, members[i] if render is not None else None,
                                        parameters.attributes, parameters.excluded_attributes)
                            for i, team in enumerate(page.resources)]

    def _groups(self, request: ScimRequest, organisation_id: str, parameters: ListParameters) -> ScimResponse:
        query = self._query(parameters, self.groups)
        total, resources = self._groups_page(request, organisation_id, parameters, query)
        return ScimResponse(200, list_response(resources, total, query.start_index))

    @_refusals_recorded()
    def list_groups(self, request: ScimRequest) -> ScimResponse:
        """GET /Groups with filter, sorting, paging and projections, as for Users."""
        organisation_id = self._organisation(request)
        return self._groups(request, organisation_id, list_parameters_from_query(request.query))

    @_refusals_recorded()
    def search_groups(self, request: ScimRequest) -> ScimResponse:
        """POST /Groups/.search (RFC 7644 §3.4.3)."""
        organisation_id = self._organisation(request)
        return self._groups(request, organisation_id, list_parameters_from_search(self._json_body(request)))

    @_refusals_recorded(about="team")
    def get_group(self, request: ScimRequest, team_id: str) -> ScimResponse:
        organisation_id = self._organisation(request)
        attributes, excluded = self._parameter(request, "attributes"), self._parameter(request, "excludedAttributes")
        team, members = self._domain(self.teams.read, organisation_id, team_id,
                                     self._members_render(request.base_url, attributes, excluded))
        if_none_match = request.header("If-None-Match")
        if if_none_match and etag(team) in (v.strip() for v in if_none_match.split(",")):
            return ScimResponse(304, None, {"ETag": etag(team)})
        return ScimResponse(200, self._group(request, team, members, attributes, excluded), {"ETag": etag(team)})

    @_refusals_recorded()
    def create_group(self, request: ScimRequest) -> ScimResponse:
        """POST /Groups: 201 with Location and ETag; ``members`` given become its first members (Okta)."""
        organisation_id = self._organisation(request)
        group = validate(self._json_body(request), self.groups)
        team = self._domain(self.teams.create, organisation_id, fields_from_json(group, self.groups),
                            member_ids(group.get("members") or [], self.groups))
        return self._group_response(request, organisation_id, team, 201)

    @_refusals_recorded(about="team")
    def replace_group(self, request: ScimRequest, team_id: str) -> ScimResponse:
        """PUT /Groups/{id} (Okta): the team's name, externalId and whole membership; 200 with the group."""
        organisation_id = self._organisation(request)
        group = validate(self._json_body(request), self.groups)
        team = self._domain(self.teams.replace, organisation_id, team_id,
                            lambda current: fields_from_json(group, self.groups, current=current),
                            member_ids(group.get("members") or [], self.groups),
                            expected_version=self._expected_version(request))
        return self._group_response(request, organisation_id, team)

    @_refusals_recorded(about="team")
    def patch_group(self, request: ScimRequest, team_id: str) -> ScimResponse:
        """PATCH /Groups/{id}: 204 with the new ETag (a team's representation can be large: Entra and Okta
        expect none), or 200 with the group when the request asks for attributes (ENTRA.md §14)."""
        organisation_id = self._organisation(request)
        edit, change = compile_group_patch(validate_patch(self._json_body(request)), self.groups)
        team = self._domain(self.teams.update, organisation_id, team_id, edit, change,
                            expected_version=self._expected_version(request))
        if self._parameter(request, "attributes") is None and self._parameter(request, "excludedAttributes") is None:
            return ScimResponse(204, None, {"ETag": etag(team)})
        return self._group_response(request, organisation_id, team)

    @_refusals_recorded(about="team")
    def delete_group(self, request: ScimRequest, team_id: str) -> ScimResponse:
        """DELETE /Groups/{id}: 204; the team's members stay."""
        organisation_id = self._organisation(request)
        self._domain(self.teams.delete, organisation_id, team_id, expected_version=self._expected_version(request))
        return ScimResponse(204)

    # -- discovery (RFC 7644 §4) ---------------------------------------------------------------

    @_refusals_recorded()
    def service_provider_config(self, request: ScimRequest) -> ScimResponse:
        self._organisation(request)
        return ScimResponse(200, service_provider_config(request.base_url, self.max_results))

    @property
    def _resource_types(self) -> tuple[ResourceType, ...]:
        return (self.users, self.groups)

    @_refusals_recorded()
    def list_resource_types(self, request: ScimRequest) -> ScimResponse:
        self._organisation(request)
        documents = [resource_type_document(request.base_url, resource) for resource in self._resource_types]
        return ScimResponse(200, list_response(documents, len(documents), 1))

    @_refusals_recorded()
    def get_resource_type(self, request: ScimRequest, name: str) -> ScimResponse:
        self._organisation(request)
        for resource in self._resource_types:
            if resource.name == name:
                return ScimResponse(200, resource_type_document(request.base_url, resource))
        served = " and ".join(resource.name for resource in self._resource_types)
        raise refuse(c.NO_RESOURCE_TYPE, name=name, served=served)

    @_refusals_recorded()
    def list_schemas(self, request: ScimRequest) -> ScimResponse:
        self._organisation(request)
        documents = schema_documents(request.base_url, self._resource_types)
        return ScimResponse(200, list_response(documents, len(documents), 1))

    @_refusals_recorded()
    def get_schema(self, request: ScimRequest, urn: str) -> ScimResponse:
        self._organisation(request)
        for document in schema_documents(request.base_url, self._resource_types):
            if document["id"].lower() == urn.lower():
                return ScimResponse(200, document)
        raise refuse(c.NO_SCHEMA, urn=urn)

    # -- what is not offered ------------------------------------------------------------------

    @_refusals_recorded()
    def unsupported(self, request: ScimRequest) -> ScimResponse:
        """What the service does not offer at all, /Bulk and /Me: 501 (RFC 7644 §3.12), as the
        ServiceProviderConfig announces."""
        self._organisation(request)
        what = f"{request.method} {request.path}".strip() or "This operation"
        raise refuse(c.NOT_SUPPORTED, operation=what)

    @_refusals_recorded()
    def method_not_allowed(self, request: ScimRequest, allowed: Sequence[str]) -> ScimResponse:
        """A method the endpoint does not have (``PUT /Users``, a write to a discovery document): 405
        with ``Allow`` listing the methods it has (RFC 9110 §15.5.6, formerly RFC 7231 §6.5.5), which the
        caller derives from what it serves. Not a SCIM feature we decline (those are 501), but a method
        this resource never has; like every answer under the SCIM root, only once the token is accepted."""
        self._organisation(request)
        methods = ", ".join(allowed)
        raise refuse(c.METHOD_NOT_ALLOWED, headers={"Allow": methods}, method=request.method,
                     path=request.path or "this endpoint", allowed=methods)

    @_refusals_recorded()
    def unknown_endpoint(self, request: ScimRequest) -> ScimResponse:
        """Any other path under the SCIM root: 404, but only once the token is accepted."""
        self._organisation(request)
        served = " and ".join(resource.endpoint for resource in self._resource_types)
        raise refuse(c.NO_ENDPOINT, path=request.path or "here", served=served)
