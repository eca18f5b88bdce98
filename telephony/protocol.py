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


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise EventError(message)


def _check_number(value: Any, name: str) -> None:
    _require(
        isinstance(value, str) and 0 < len(value) <= _NUMBER_MAX,
        f"'{name}' must be a text of at most {_NUMBER_MAX} characters.",
    )


def _check_optional_int(data: dict, name: str) -> None:
    value = data.get(name)
    _require(
        value is None or (isinstance(value, int) and not isinstance(value, bool)),
        f"'{name}' must be an integer.",
    )


def _check_data(kind: str, data: dict[str, Any]) -> None:
    if kind == "trunk.state":
        _check_optional_int(data, "account_id")
        _require(isinstance(data.get("account_id"), int), "'account_id' is required.")
        _require(data.get("state") in TRUNK_STATES, "'state' is not a trunk state.")
        _check_optional_int(data, "code")
    elif kind == "phone.state":
        _require(
            isinstance(data.get("login"), str) and bool(_LOGIN_RE.match(data["login"])),
            "'login' is not a SIP login.",
        )
        _require(data.get("state") in PHONE_STATES, "'state' is not a phone state.")
    elif kind == "call.created":
        _require(data.get("direction") in DIRECTIONS, "'direction' must be outbound or inbound.")
        _check_number(data.get("number"), "number")
        _check_optional_int(data, "account_id")
        _check_optional_int(data, "odoo_call_id")
    elif kind == "call.ringing":
        logins = data.get("logins", [])
        _require(
            isinstance(logins, list)
            and len(logins) <= 500
            and all(isinstance(x, str) and _LOGIN_RE.match(x) for x in logins),
            "'logins' must be a list of SIP logins.",
        )
    elif kind == "call.answered":
        login = data.get("login")
        _require(
            login is None or (isinstance(login, str) and bool(_LOGIN_RE.match(login))),
            "'login' is not a SIP login.",
        )
    elif kind == "call.forwarded":
        _check_number(data.get("number"), "number")
    elif kind == "call.dialing":
        _check_number(data.get("dial"), "dial")
    elif kind == "call.ended":
        _require(data.get("outcome") in OUTCOMES, "'outcome' is not a call outcome.")
        _check_optional_int(data, "code")


def parse_event(raw: Any) -> Event:
    """Validate one event of a request body; raise EventError on any defect."""
    _require(isinstance(raw, dict), "An event must be an object.")
    event_id = raw.get("id")
    _require(
        isinstance(event_id, str) and bool(_ID_RE.match(event_id)),
        "'id' must be a short identifier.",
    )
    kind = raw.get("type")
    _require(kind in EVENT_TYPES, f"Unknown event type {str(kind)[:40]!r}.")
    seq = raw.get("seq")
    _require(
        isinstance(seq, int) and not isinstance(seq, bool) and seq >= 0,
        "'seq' must be a non-negative integer.",
    )
    at = raw.get("at")
    _require(
        isinstance(at, (int, float))
        and not isinstance(at, bool)
        and math.isfinite(at)
        and 0 < at < 2**33,
        "'at' must be a Unix time.",
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


def parse_body(body: bytes) -> dict[str, Any]:
    """Decode a JSON request body of protocol version 1."""
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise EventError("The body is not valid JSON.") from None
    _require(isinstance(payload, dict), "The body must be a JSON object.")
    _require(
        payload.get("protocol") == PROTOCOL_VERSION,
        f"Unsupported protocol version; this server speaks {PROTOCOL_VERSION}.",
    )
    return payload


def split_events(payload: dict[str, Any]) -> tuple[list[Event], list[dict[str, str]]]:
    """Valid events sorted by occurrence, and rejections of the invalid ones."""
    raw_events = payload.get("events")
    _require(isinstance(raw_events, list), "'events' must be a list.")
    _require(
        len(raw_events) <= MAX_EVENTS_PER_REQUEST,
        f"At most {MAX_EVENTS_PER_REQUEST} events per request.",
    )
    events, rejected = [], []
    for raw in raw_events:
        try:
            events.append(parse_event(raw))
        except EventError as exc:
            raw_id = raw.get("id") if isinstance(raw, dict) else None
            rejected.append({"id": str(raw_id)[:64] if raw_id else "", "error": str(exc)})
    events.sort(key=lambda event: event.order_key)
    return events, rejected


def encode(payload: dict[str, Any]) -> bytes:
    """Compact JSON bytes, the form that gets signed and sent."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
