"""Engine protocol v1: request signatures and the event schema.

Shared by the addon (which verifies) and the engine (which signs), so both
sides agree byte for byte. See docs/engine-protocol.md.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

PROTOCOL_VERSION = 1
MAX_CLOCK_SKEW = 300  # seconds a signed request may be away from our clock
MAX_EVENTS_BODY = 1024 * 1024
MAX_RECORDING_BODY = 64 * 1024 * 1024
MAX_EVENTS_PER_REQUEST = 100

HEADER_ENGINE = "X-Telephony-Engine"
HEADER_TIMESTAMP = "X-Telephony-Timestamp"
HEADER_SIGNATURE = "X-Telephony-Signature"
HEADER_NONCE = "X-Telephony-Nonce"
HEADER_CALL = "X-Telephony-Call"
HEADER_GREETING_VERSION = "X-Telephony-Greeting-Version"

_NONCE_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_LOGIN_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_NUMBER_MAX = 64

EVENT_TYPES = frozenset(
    {
        "engine.started",
        "engine.heartbeat",
        "trunk.state",
        "phone.state",
        "call.created",
        "call.ringing",
        "call.dialing",
        "call.answered",
        "call.bridged",
        "call.forwarded",
        "call.ended",
    }
)
TRUNK_STATES = frozenset({"registered", "failed", "pending"})
PHONE_STATES = frozenset({"registered", "unregistered"})
DIRECTIONS = frozenset({"outbound", "inbound"})
OUTCOMES = frozenset({"answered", "no_answer", "busy", "failed", "cancelled", "forwarded"})


class SignatureError(Exception):
    """A request whose signature, engine or timestamp cannot be trusted."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class EventError(ValueError):
    """An event that does not follow the schema; final, never retried."""


def sign(secret: str, timestamp: int, nonce: str, body: bytes) -> str:
    """Signature header value for ``body`` sent at ``timestamp`` with ``nonce``."""
    message = f"{int(timestamp)}.{nonce}.".encode() + body
    return "v1=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(key: str, secret: str, body: bytes, now: float | None = None) -> dict:
    """The authentication headers of a request from an engine.

    A fresh random nonce makes every request unique, so that the receiver
    can refuse a replayed one even within the clock window.
    """
    timestamp = int(time.time() if now is None else now)
    nonce = secrets.token_hex(12)
    return {
        HEADER_ENGINE: key,
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: sign(secret, timestamp, nonce, body),
    }


def verify(
    secret: str | None,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: float | None = None,
    nonce: str | None = None,
) -> int:
    """Check a request; return its timestamp or raise SignatureError.

    Fails closed: no secret configured means no request is trusted. The
    caller remembers nonces for the clock window to refuse replays.
    """
    if not secret:
        raise SignatureError("signature", "No engine secret is configured.")
    if not timestamp or not signature or not nonce or not _NONCE_RE.match(nonce):
        raise SignatureError("signature", "The request is not signed.")
    try:
        stamp = int(timestamp)
    except ValueError:
        raise SignatureError("signature", "The timestamp is not an integer.") from None
    expected = sign(secret, stamp, nonce, body)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise SignatureError("signature", "The signature does not match.")
    current = time.time() if now is None else now
    if abs(current - stamp) > MAX_CLOCK_SKEW:
        raise SignatureError("stale", "The request timestamp is too far from the server clock.")
    return stamp


@dataclass(frozen=True)
class Event:
    """One validated engine event."""

    id: str
    seq: int
    at: float
    type: str
    call_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def order_key(self) -> tuple[float, int]:
        return (self.at, self.seq)

    def to_dict(self) -> dict[str, Any]:
        payload = {
            "id": self.id,
            "seq": self.seq,
            "at": self.at,
            "type": self.type,
            "data": self.data,
        }
        if self.call_id is not None:
            payload["call_id"] = self.call_id
        return payload


def is_identifier(value: Any) -> bool:
    """Whether ``value`` is an event or call id as the protocol allows them."""
    return isinstance(value, str) and bool(_ID_RE.match(value))


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise EventError(message)


# Limits of what any part of an event may hold. They keep every event storable
# as it is (PostgreSQL's jsonb refuses NUL and unpaired surrogates, its integer
# columns 32 bits) and keep one event from costing more than its share.
MAX_TEXT = 1024
MAX_KEY = 64
MAX_DEPTH = 4
MAX_ITEMS = 500
MAX_INT32 = 2**31 - 1
MAX_JSON_INT = 2**53
# How far an event's time may lie from the receiver's clock: an engine keeps
# undelivered events through an outage of Odoo, not for ever, and its clock is
# roughly right (requests themselves must be within MAX_CLOCK_SKEW).
MAX_EVENT_AGE = 30 * 86400
MAX_EVENT_AHEAD = 86400
# C0 and C1 control characters and DEL, and UTF-16 surrogates (json.loads
# joins a valid pair into one character, so any left is unpaired).
_UNSAFE_TEXT_RE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def _check_text(value: Any, name: str, limit: int = MAX_TEXT) -> None:
    _require(
        isinstance(value, str) and len(value) <= limit,
        f"'{name}' must be a text of at most {limit} characters.",
    )
    _require(
        not _UNSAFE_TEXT_RE.search(value),
        f"'{name}' holds control characters or unpaired surrogates.",
    )


def clean_data(value: Any) -> Any:
    """``value`` with every text made safe for the schema: the sender's side.

    What an engine reports comes partly from SIP peers (reason phrases, user
    agents); a tab or a stray control character there must not get the whole
    event refused, so the engine replaces them with spaces before sending.
    """
    if isinstance(value, str):
        return _UNSAFE_TEXT_RE.sub(" ", value)[:MAX_TEXT]
    if isinstance(value, list):
        return [clean_data(item) for item in value]
    if isinstance(value, dict):
        return {clean_data(key)[:MAX_KEY]: clean_data(item) for key, item in value.items()}
    return value


def _check_json(value: Any, name: str, depth: int = 0) -> None:
    """Every value of an event: plain JSON that can be stored and shown as it is."""
    _require(depth <= MAX_DEPTH, f"'{name}' is nested too deeply.")
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        _require(abs(value) <= MAX_JSON_INT, f"'{name}' is out of range.")
    elif isinstance(value, float):
        _require(math.isfinite(value), f"'{name}' must be a finite number.")
    elif isinstance(value, str):
        _check_text(value, name)
    elif isinstance(value, list):
        _require(len(value) <= MAX_ITEMS, f"'{name}' has too many items.")
        for item in value:
            _check_json(item, name, depth + 1)
    elif isinstance(value, dict):
        _require(len(value) <= MAX_ITEMS, f"'{name}' has too many keys.")
        for key, item in value.items():
            _check_text(key, "key", MAX_KEY)
            _check_json(item, key, depth + 1)
    else:
        raise EventError(f"'{name}' is not a JSON value.")


def _check_number(value: Any, name: str) -> None:
    _check_text(value, name, _NUMBER_MAX)
    _require(len(value) > 0, f"'{name}' must not be empty.")


def _check_id(value: Any, name: str) -> None:
    _require(
        isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_INT32,
        f"'{name}' must be a record id.",
    )


def _check_code(value: Any, name: str) -> None:
    _require(
        isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 999,
        f"'{name}' must be a SIP status code.",
    )


def _check_login(value: Any, name: str) -> None:
    _require(
        isinstance(value, str) and bool(_LOGIN_RE.match(value)), f"'{name}' is not a SIP login."
    )


def _check_logins(value: Any, name: str) -> None:
    _require(
        isinstance(value, list)
        and len(value) <= MAX_ITEMS
        and all(isinstance(x, str) and _LOGIN_RE.match(x) for x in value),
        f"'{name}' must be a list of SIP logins.",
    )


def _one_of(choices: frozenset[str]):
    def check(value: Any, name: str) -> None:
        _require(value in choices, f"'{name}' must be one of {', '.join(sorted(choices))}.")

    return check


# The data keys Odoo reads, whatever the event type: each is checked wherever
# it appears, so no event can hand the receiver a value of the wrong kind.
DATA_FIELDS = {
    "number": _check_number,
    "dial": _check_number,
    "login": _check_login,
    "logins": _check_logins,
    "account_id": _check_id,
    "odoo_call_id": _check_id,
    "code": _check_code,
    "direction": _one_of(DIRECTIONS),
    "outcome": _one_of(OUTCOMES),
    "reason": lambda value, name: _check_text(value, name, 200),
    "user_agent": lambda value, name: _check_text(value, name, 200),
    "version": lambda value, name: _check_text(value, name, 64),
}
# The data keys each event type must carry.
REQUIRED_DATA = {
    "trunk.state": ("account_id", "state"),
    "phone.state": ("login", "state"),
    "call.created": ("direction", "number"),
    "call.forwarded": ("number",),
    "call.dialing": ("dial",),
    "call.ended": ("outcome",),
}
STATES = {"trunk.state": TRUNK_STATES, "phone.state": PHONE_STATES}


def _check_data(kind: str, data: dict[str, Any]) -> None:
    _check_json(data, "data")
    for name in REQUIRED_DATA.get(kind, ()):
        _require(data.get(name) is not None, f"'{name}' is required.")
    for name, value in data.items():
        if name in DATA_FIELDS and (value is not None or name in REQUIRED_DATA.get(kind, ())):
            DATA_FIELDS[name](value, name)
    if kind in STATES:
        _require(data["state"] in STATES[kind], f"'state' is not a {kind.split('.')[0]} state.")


def parse_event(raw: Any, now: float | None = None) -> Event:
    """Validate one event of a request body; raise EventError on any defect."""
    _require(isinstance(raw, dict), "An event must be an object.")
    event_id = raw.get("id")
    _require(
        isinstance(event_id, str) and bool(_ID_RE.match(event_id)),
        "'id' must be a short identifier.",
    )
    kind = raw.get("type")
    _require(kind in EVENT_TYPES, f"Unknown event type {_shown(kind)!r}.")
    seq = raw.get("seq")
    _require(
        isinstance(seq, int) and not isinstance(seq, bool) and 0 <= seq <= MAX_INT32,
        "'seq' must be a non-negative 32-bit integer.",
    )
    at = raw.get("at")
    current = time.time() if now is None else now
    _require(
        isinstance(at, (int, float))
        and not isinstance(at, bool)
        and math.isfinite(at)
        and current - MAX_EVENT_AGE <= at <= current + MAX_EVENT_AHEAD,
        "'at' must be a Unix time within the last 30 days.",
    )
    data = raw.get("data", {})
    _require(isinstance(data, dict), "'data' must be an object.")
    call_id = raw.get("call_id")
    if kind.startswith("call."):
        _require(
            isinstance(call_id, str) and bool(_ID_RE.match(call_id)),
            "'call_id' is required for call events.",
        )
    else:
        call_id = None
    _check_data(kind, data)
    return Event(id=event_id, seq=seq, at=float(at), type=kind, call_id=call_id, data=data)


def _shown(value: Any) -> str:
    """A value quoted in an error message: short, printable, safe to send back."""
    return _UNSAFE_TEXT_RE.sub("?", str(value)[:40])


def parse_body(body: bytes) -> dict[str, Any]:
    """Decode a JSON request body of protocol version 1."""
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise EventError("The body is not valid JSON.") from None
    _require(isinstance(payload, dict), "The body must be a JSON object.")
    _require(
        payload.get("protocol") == PROTOCOL_VERSION,
        f"Unsupported protocol version; this server speaks {PROTOCOL_VERSION}.",
    )
    return payload


def split_events(
    payload: dict[str, Any], now: float | None = None
) -> tuple[list[Event], list[dict[str, str]]]:
    """Valid events sorted by occurrence, and rejections of the invalid ones.

    An id sent twice in one batch is kept once (the first), like an id
    already received in an earlier request.
    """
    raw_events = payload.get("events")
    _require(isinstance(raw_events, list), "'events' must be a list.")
    _require(
        len(raw_events) <= MAX_EVENTS_PER_REQUEST,
        f"At most {MAX_EVENTS_PER_REQUEST} events per request.",
    )
    events, rejected, seen = [], [], set()
    for raw in raw_events:
        try:
            event = parse_event(raw, now)
        except EventError as exc:
            raw_id = raw.get("id") if isinstance(raw, dict) else None
            shown_id = raw_id if isinstance(raw_id, str) and _ID_RE.match(raw_id) else ""
            rejected.append({"id": shown_id, "error": str(exc)})
            continue
        if event.id not in seen:
            seen.add(event.id)
            events.append(event)
    events.sort(key=lambda event: event.order_key)
    return events, rejected


def encode(payload: dict[str, Any]) -> bytes:
    """Compact JSON bytes, the form that gets signed and sent."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
