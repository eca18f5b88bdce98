"""The engine protocol's signatures and event schema (docs/engine-protocol.md)."""

import time

import pytest

from telephony import protocol

SECRET = "s" * 64


def _headers(body, now=None, secret=SECRET):
    return protocol.signed_headers("eng_test", secret, body, now=now)


def _verify(headers, body, secret=SECRET, now=None):
    return protocol.verify(
        secret,
        headers[protocol.HEADER_TIMESTAMP],
        headers[protocol.HEADER_SIGNATURE],
        body,
        now=now,
        nonce=headers[protocol.HEADER_NONCE],
    )


def test_signed_request_verifies_and_returns_its_timestamp():
    body = b'{"protocol": 1}'
    headers = _headers(body, now=1_800_000_000)
    assert _verify(headers, body, now=1_800_000_100) == 1_800_000_000


def test_every_request_gets_a_new_nonce():
    body = b"{}"
    assert _headers(body)[protocol.HEADER_NONCE] != _headers(body)[protocol.HEADER_NONCE]


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h, b: (h, b + b" "),
        lambda h, b: (
            {**h, protocol.HEADER_TIMESTAMP: str(int(h[protocol.HEADER_TIMESTAMP]) + 1)},
            b,
        ),
        lambda h, b: ({**h, protocol.HEADER_NONCE: "x" * 24}, b),
        lambda h, b: ({**h, protocol.HEADER_SIGNATURE: "v1=" + "0" * 64}, b),
        lambda h, b: ({**h, protocol.HEADER_NONCE: ""}, b),
        lambda h, b: ({**h, protocol.HEADER_TIMESTAMP: "soon"}, b),
    ],
)
def test_any_tampering_fails_the_signature(tamper):
    body = b'{"protocol": 1, "events": []}'
    headers, tampered_body = tamper(_headers(body), body)
    with pytest.raises(protocol.SignatureError) as caught:
        _verify(headers, tampered_body)
    assert caught.value.code == "signature"


def test_wrong_or_missing_secret_is_refused():
    body = b"{}"
    with pytest.raises(protocol.SignatureError):
        _verify(_headers(body, secret="other"), body)
    with pytest.raises(protocol.SignatureError):
        _verify(_headers(body), body, secret="")


def test_stale_timestamp_is_refused_both_ways():
    body = b"{}"
    now = time.time()
    for skew in (-protocol.MAX_CLOCK_SKEW - 5, protocol.MAX_CLOCK_SKEW + 5):
        with pytest.raises(protocol.SignatureError) as caught:
            _verify(_headers(body, now=now + skew), body, now=now)
        assert caught.value.code == "stale"


NOW = 1_800_000_000


def _event(**overrides):
    event = {
        "id": "e1",
        "seq": 1,
        "at": 1_800_000_000.5,
        "type": "call.ended",
        "call_id": "c1",
        "data": {"outcome": "busy", "code": 486},
    }
    event.update(overrides)
    return event


def test_events_are_sorted_by_occurrence_and_bad_ones_rejected():
    payload = {
        "protocol": 1,
        "events": [
            _event(id="late", at=NOW - 10.0, seq=2),
            _event(id="early", at=NOW - 20.0, seq=9),
            _event(id="bad", type="call.exploded"),
            "not an object",
        ],
    }
    events, rejected = protocol.split_events(payload, now=NOW)
    assert [event.id for event in events] == ["early", "late"]
    assert [item["id"] for item in rejected] == ["bad", ""]
    assert "Unknown event type" in rejected[0]["error"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"id": ""},
        {"id": "x" * 65},
        {"seq": -1},
        {"seq": True},
        {"at": float("nan")},
        {"at": "yesterday"},
        {"call_id": None},
        {"data": []},
        {"data": {"outcome": "exploded"}},
        {"data": {"outcome": "busy", "code": "486"}},
        {"type": "call.created", "data": {"direction": "sideways", "number": "1"}},
        {"type": "call.created", "data": {"direction": "inbound", "number": "9" * 65}},
        {"type": "call.ringing", "data": {"logins": ["ok", "not ok"]}},
        {"type": "trunk.state", "data": {"account_id": "1", "state": "registered"}},
        {"type": "phone.state", "data": {"login": "a b", "state": "registered"}},
    ],
)
def test_malformed_events_raise_event_error(overrides):
    with pytest.raises(protocol.EventError):
        protocol.parse_event(_event(**overrides), now=NOW)


def test_a_well_formed_event_parses():
    event = protocol.parse_event(_event(), now=NOW)
    assert (event.id, event.type, event.data["code"]) == ("e1", "call.ended", 486)


# Content a signed engine could still send that PostgreSQL or the models
# cannot take: each must be refused by the schema, never reach the database.
POISON = {
    "NUL in a number": {"type": "call.forwarded", "data": {"number": "+7916\x00123"}},
    "lone surrogate in a number": {"type": "call.forwarded", "data": {"number": "+7916\ud800"}},
    "NUL in an unknown key": {"data": {"outcome": "busy", "note": "a\x00b"}},
    "surrogate in a key": {"data": {"outcome": "busy", "\udc80": 1}},
    "control character in a reason": {"data": {"outcome": "busy", "reason": "Busy\x1b[2J"}},
    "seq beyond 32 bits": {"seq": 2**31},
    "huge integer": {"data": {"outcome": "busy", "extra": 2**70}},
    "infinite number": {"data": {"outcome": "busy", "extra": float("inf")}},
    "deep nesting": {"data": {"outcome": "busy", "x": [[[[[[1]]]]]]}},
    "code out of range": {"data": {"outcome": "busy", "code": 2**40}},
    "odoo call id out of range": {
        "type": "call.created",
        "data": {"direction": "outbound", "number": "1", "odoo_call_id": 2**31},
    },
    "number of another type on any event": {"type": "call.ringing", "data": {"number": [1, 2]}},
    "version not a text": {"type": "engine.started", "data": {"version": {"a": 1}}},
    "user agent too long": {
        "type": "phone.state",
        "data": {"login": "u_101", "state": "registered", "user_agent": "x" * 201},
    },
    "far future": {"at": NOW + 2 * 86400},
    "far past": {"at": NOW - 31 * 86400},
}


@pytest.mark.parametrize("overrides", POISON.values(), ids=POISON.keys())
def test_poison_events_are_rejected_by_the_schema(overrides):
    with pytest.raises(protocol.EventError):
        protocol.parse_event(_event(**overrides), now=NOW)


def test_a_poison_event_is_rejected_alone_and_its_error_is_safe_to_send_back():
    payload = {
        "protocol": 1,
        "events": [
            _event(id="good-1"),
            _event(id="bad\x00id"),
            _event(id="poison", data={"outcome": "busy", "reason": "\ud800"}),
            _event(id="bad-type", type="\udc00" * 50),
            _event(id="good-2", seq=2),
        ],
    }
    events, rejected = protocol.split_events(payload, now=NOW)
    assert [event.id for event in events] == ["good-1", "good-2"]
    assert [item["id"] for item in rejected] == ["", "poison", "bad-type"]
    for item in rejected:
        item["error"].encode("utf-8")  # a lone surrogate would raise here
        assert "\x00" not in item["error"]


def test_the_same_event_id_twice_in_one_batch_is_kept_once():
    payload = {"protocol": 1, "events": [_event(id="twice"), _event(id="twice", seq=2)]}
    events, rejected = protocol.split_events(payload, now=NOW)
    assert [(event.id, event.seq) for event in events] == [("twice", 1)]
    assert rejected == []


def test_a_deeply_nested_body_is_refused_not_crashed_on():
    body = b'{"protocol": 1, "events": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    with pytest.raises(protocol.EventError):
        protocol.parse_body(body)


@pytest.mark.parametrize(
    "body",
    [b"{nope", b"[]", b'{"protocol": 2}', "\u00e9".encode("latin-1"), b""],
)
def test_bodies_that_are_not_protocol_v1_json_are_refused(body):
    with pytest.raises(protocol.EventError):
        protocol.parse_body(body)


def test_too_many_events_in_one_request_are_refused():
    payload = {"protocol": 1, "events": [_event(id=f"e{i}") for i in range(101)]}
    with pytest.raises(protocol.EventError):
        protocol.split_events(payload, now=NOW)


def test_encode_round_trips_unicode():
    payload = {"protocol": 1, "name": "Иван ☎"}
    assert protocol.parse_body(protocol.encode(payload)) == payload


def test_the_sender_cleans_texts_from_sip_peers_so_the_event_is_not_refused():
    data = {"outcome": "busy", "reason": "Busy\there\x00", "extra": ["\ud800x"], "code": 486}
    cleaned = protocol.clean_data(data)
    assert cleaned == {"outcome": "busy", "reason": "Busy here ", "extra": [" x"], "code": 486}
    protocol.parse_event(_event(data=cleaned), now=NOW)
