"""SCIM 2.0 for Users, minus HTTP: one method per SCIM operation, a plain request in, a plain response out.

A web framework turns its request into a ``ScimRequest`` (the SCIM root the client used, headers,
decoded query parameters, raw body), calls one method, and turns the ``ScimResponse`` back. Refusals
are raised as ``ScimError`` and never returned, so the caller's transaction can abort on them.
Every method authenticates first: an unauthenticated request learns nothing, not even whether a path
exists (ENTRA.md §2).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Mapping

SCIM_CONTENT_TYPE = "application/scim+json; charset=utf-8"


@dataclass(frozen=True)
class ScimRequest:
    """``base_url`` is the SCIM root as the client used it, without a trailing slash: for
    ``https://h/scim/v2/Users/Users/42`` it is ``https://h/scim/v2/Users``. ``headers`` may use any case."""

    base_url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return None


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
        if self.body is None:
            return b""
        return json.dumps(self.body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
