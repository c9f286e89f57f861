"""Response bodies as JSON bytes: the one serialiser of every body, and what is serialised ahead (a large
team's members, in pieces; a stored User document) written out without being copied into one more body."""
from __future__ import annotations

import json
from collections.abc import Mapping

import orjson


def json_bytes(body: dict) -> bytes:
    """``body`` as compact UTF-8 JSON, the form of every response body.

    orjson writes it several times faster than the standard library, byte for byte the same as
    ``json.dumps(body, ensure_ascii=False, separators=(",", ":"))`` for what our bodies hold (strings,
    booleans, small integers, None). What it refuses (a string with a lone surrogate, which UTF-8
    cannot carry) goes through the standard library, escaped as ``\\udXXX``."""
    try:
        return orjson.dumps(body, default=_fragment)
    except TypeError:
        return json.dumps(body, separators=(",", ":"), default=_as_object).encode("ascii")


class SerialisedList:
    """A JSON list serialised ahead, in pieces: each piece is one or more of its entries, comma-separated,
    without the brackets. What a 100,000-member team's ``members`` is in a response body."""

    __slots__ = ("pieces",)

    def __init__(self, pieces: list[bytes]):
        self.pieces = pieces

    def __eq__(self, other) -> bool:
        return isinstance(other, SerialisedList) and other.pieces == self.pieces


class Serialised(Mapping):
    """A JSON object serialised ahead (a stored User document, ``representation.UserDocument``), written
    out as it is; as a mapping (a test's look, a projection's), it is the object it holds, parsed on first
    use."""

    __slots__ = ("json", "fragment", "_parsed")

    def __init__(self, json: bytes):
        self.json = json
        #: What orjson writes as it is, wherever the object is in a body.
        self.fragment = orjson.Fragment(json)
        self._parsed = None

    def _object(self) -> dict:
        if self._parsed is None:
            self._parsed = orjson.loads(self.json)
        return self._parsed

    def __getitem__(self, key):
        return self._object()[key]

    def __iter__(self):
        return iter(self._object())

    def __len__(self) -> int:
        return len(self._object())

    def __repr__(self) -> str:
        return f"Serialised({self.json!r})"


def _fragment(value) -> orjson.Fragment:
    """orjson's ``default``: a ``Serialised`` object's JSON, as it is (anything else cannot be written)."""
    if isinstance(value, Serialised):
        return value.fragment
    raise TypeError


def _as_object(value) -> dict:
    """The standard library's ``default``: a ``Serialised`` object as the object it holds."""
    if isinstance(value, Serialised):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def _holds_serialised(value) -> bool:
    if isinstance(value, SerialisedList):
        return True
    if isinstance(value, dict):
        return any(_holds_serialised(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_serialised(v) for v in value)
    return False


def json_pieces(body) -> list[bytes]:
    """``body`` as compact JSON (``json_bytes``'s bytes, once joined), in pieces: a ``SerialisedList``'s
    pieces are kept as they are, with the JSON around them built in small pieces of its own.

    Every body but a team's with its members holds no such list: orjson writes it in one go (a
    ``Serialised`` object as it is), refusing at once what it cannot write (a ``SerialisedList``, or a
    lone surrogate), and only then is the body looked through."""
    if isinstance(body, Serialised):
        return [body.json]
    try:
        return [orjson.dumps(body, default=_fragment)]
    except TypeError:
        pass
    if not _holds_serialised(body):
        return [json_bytes(body)]
    pieces: list[bytes] = []
    _emit(body, pieces)
    return pieces


def _emit(value, pieces: list[bytes]) -> None:
    if isinstance(value, SerialisedList):
        pieces.append(b"[")
        for index, piece in enumerate(value.pieces):
            if index:
                pieces.append(b",")
            pieces.append(piece)
        pieces.append(b"]")
    elif isinstance(value, dict) and _holds_serialised(value):
        pieces.append(b"{")
        for index, (key, item) in enumerate(value.items()):
            pieces.append((b"," if index else b"") + json_bytes(key) + b":")
            _emit(item, pieces)
        pieces.append(b"}")
    elif isinstance(value, list) and _holds_serialised(value):
        pieces.append(b"[")
        for index, item in enumerate(value):
            if index:
                pieces.append(b",")
            _emit(item, pieces)
        pieces.append(b"]")
    else:
        pieces.append(json_bytes(value))
