"""SCIM errors (RFC 7644 §3.12): one exception, one table from domain errors, one body."""
from __future__ import annotations

# The scimTypes are declared with the texts they go with, in the catalogue; this package imports them from here.
from ..catalogue import (INVALID_FILTER, INVALID_PATH, INVALID_SYNTAX, INVALID_VALUE, MUTABILITY, NO_TARGET,
                         STORE_UNAVAILABLE, TOO_MANY, UNIQUENESS, Refusal)
from ..errors import (AccessRefused, DomainError, InvalidValue, NotFound, StoreUnavailable,
                      UniquenessConflict, VersionMismatch)

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"

#: RFC 6750 §3: every 401 names the scheme and realm.
WWW_AUTHENTICATE = 'Bearer realm="WiggleDesk"'
#: RFC 6750 §3.1's error code when a token was sent and refused (none when no token was sent at all).
INVALID_TOKEN = "invalid_token"

#: Seconds a client is asked to wait after a 503 (RFC 9110 §10.2.3): long enough for a busy database or
#: a failover to settle, short enough that Entra's own retry comes back soon.
RETRY_AFTER_SECONDS = 5

#: The 503's detail. It names nothing internal (the store's own message may hold SQL, parameters or a
#: URL): the log, under the request id, says what went wrong.
STORE_UNAVAILABLE_DETAIL = STORE_UNAVAILABLE.format(seconds=RETRY_AFTER_SECONDS)


class ScimError(Exception):
    """A refusal in SCIM terms: HTTP status, optional ``scimType``, a detail a person can act on."""

    def __init__(self, status: int, detail: str, scim_type: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.scim_type = scim_type
        self.headers = dict(headers or {})

    def body(self) -> dict:
        body = {"schemas": [ERROR_SCHEMA], "status": str(self.status)}
        if self.scim_type:
            body["scimType"] = self.scim_type
        body["detail"] = self.detail
        return body

    def __repr__(self) -> str:
        return f"ScimError({self.status}, {self.scim_type!r}, {self.detail!r})"


def refuse(refusal: Refusal, /, *, headers: dict[str, str] | None = None, **values: object) -> ScimError:
    """The SCIM error the catalogue declares ``refusal`` to be, its template filled with ``values``."""
    return ScimError(refusal.status, refusal.format(**values), refusal.code, headers)


def wrap(wrapper: Refusal, /, error: ScimError, **values: object) -> ScimError:
    """``error`` with the wrapper's words around its detail (where it happened: an operation's number,
    a path), keeping its status, headers and, unless the wrapper has its own, its scimType."""
    return ScimError(error.status, wrapper.format(detail=error.detail, **values), wrapper.code or error.scim_type,
                     error.headers)


def bearer_challenge(refused: AccessRefused) -> str:
    """The ``WWW-Authenticate`` of a 401 (RFC 6750 §3, ENTRA.md §2.1/§2.2): the realm; ``error`` when a token
    was sent and refused; ``error_description`` when the refusal has one a client acts on ("The access
    token expired": Entra fetches a new one). Every value is our own text, free of quotes."""
    if not refused.token_sent:
        return WWW_AUTHENTICATE
    challenge = f'{WWW_AUTHENTICATE}, error="{INVALID_TOKEN}"'
    if refused.error_description:
        challenge += f', error_description="{refused.error_description}"'
    return challenge


def from_domain(error: DomainError) -> ScimError:
    """The one table from domain refusals to SCIM errors (STYLE.md §2.4)."""
    if isinstance(error, AccessRefused):
        if error.forbidden:
            return ScimError(403, error.detail)
        return ScimError(401, error.detail, headers={"WWW-Authenticate": bearer_challenge(error)})
    if isinstance(error, NotFound):
        return ScimError(404, error.detail)
    if isinstance(error, UniquenessConflict):
        return ScimError(409, error.detail, UNIQUENESS)
    if isinstance(error, VersionMismatch):
        return ScimError(412, error.detail)
    if isinstance(error, InvalidValue):
        return ScimError(400, error.detail, INVALID_VALUE)
    if isinstance(error, StoreUnavailable):
        return ScimError(503, STORE_UNAVAILABLE_DETAIL, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    return ScimError(400, error.detail)  # pragma: no cover - every DomainError subclass is listed above
