"""What can go wrong in the domain, in the domain's words. ``scim.errors`` maps each to a SCIM error."""
from __future__ import annotations


class DomainError(Exception):
    """Base of every refusal the domain makes; ``detail`` is a sentence a person can act on."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    """No such thing in this organisation (another organisation's things are indistinguishable)."""


#: What a member's ``UniquenessConflict`` says unless told otherwise (domain/catalogue.py adopts it).
ALREADY_USED = '{attribute} "{value}" is already used by another member'


class UniquenessConflict(DomainError):
    """A value that must be unique in the organisation is already taken."""

    def __init__(self, attribute: str, value: str, detail: str | None = None):
        super().__init__(detail or ALREADY_USED.format(attribute=attribute, value=value))
        self.attribute = attribute
        self.value = value


class OrganisationNameTaken(UniquenessConflict):
    """An organisation was to be created with the name of one that exists, ignoring case. ``name`` is the
    name as stored; ``holders`` are the ids of the organisations called that (more than one if a name
    was let repeat before)."""

    def __init__(self, name: str, holders: tuple[str, ...]):
        which = (f"Organisation {holders[0]} is" if len(holders) == 1 else
                 f"Organisations {', '.join(holders)} are")
        super().__init__("name", name, f'{which} already called "{name}"')
        self.holders = holders


class InvalidValue(DomainError):
    """A value the domain's rules refuse."""


class TokenNotIssued(InvalidValue):
    """A token was asked for someone who could not use it (ENTRA.md §2.1): ``reasons`` holds every
    requirement they miss, each saying how to meet it, so that one refusal names all there is to fix."""

    def __init__(self, user_name: str, reasons: tuple[str, ...]):
        super().__init__(f"{user_name} could not use a token: " + "; ".join(reasons))
        self.user_name = user_name
        self.reasons = reasons


class VersionMismatch(DomainError):
    """The member changed since it was read (optimistic concurrency, RFC 7644 §3.14)."""


class AccessRefused(DomainError):
    """A bearer token that may not be used; ``forbidden`` when the token is genuine but access is off."""

    def __init__(self, detail: str, *, forbidden: bool = False, organisation_id: str | None = None,
                 token_id: str | None = None, error_description: str | None = None, token_sent: bool = True):
        super().__init__(detail)
        self.forbidden = forbidden
        #: Whether the request carried a bearer token at all: RFC 6750 §3.1 puts ``error="invalid_token"``
        #: in the challenge only when one was sent and refused.
        self.token_sent = token_sent
        #: RFC 6750 §3's ``error_description`` for the ``WWW-Authenticate`` challenge, when a client acts
        #: on it ("The access token expired": Entra then fetches a new one); None when there is none.
        self.error_description = error_description
        #: The token's organisation and id when the token exists (revoked, expired, its access off):
        #: the refusal then belongs in that organisation's activity trail.
        self.organisation_id = organisation_id
        self.token_id = token_id


class AssertionRefused(DomainError):
    """A client assertion (RFC 7523) that fails a check; ``detail`` names the check, for the log only: it is
    never told to the client, and never holds the assertion itself."""


class StoreUnavailable(DomainError):
    """The store cannot answer now (unreachable, busy, or it gave up a transaction that lost a race): the
    request was not carried out and may be sent again. ``retryable`` when the same request, in a fresh
    transaction, is likely to succeed at once (a serialization failure or a deadlock), so the service
    may retry it itself before answering."""

    def __init__(self, detail: str, *, retryable: bool = False):
        super().__init__(detail)
        self.retryable = retryable
