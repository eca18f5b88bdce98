import pytest

from telephony.webrtc import MAX_ICE_SERVERS, parse_ice_servers


def test_stun_and_turn_lines_become_ice_servers():
    text = """
        # the office's relay
        stun:stun.example.com:3478
        turns:turn.example.com:443?transport=tcp alice s3cret
    """
    assert parse_ice_servers(text) == [
        {"urls": "stun:stun.example.com:3478"},
        {
            "urls": "turns:turn.example.com:443?transport=tcp",
            "username": "alice",
            "credential": "s3cret",
        },
    ]


def test_nothing_means_no_ice_servers():
    assert parse_ice_servers("") == parse_ice_servers(None) == parse_ice_servers("\n# x\n") == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("https://turn.example.com", "Line 1: 'https://turn.example.com' is not a stun:"),
        ("stun:ok.example.com\nturn:turn.example.com alice", "Line 2: a TURN server needs"),
        ("stun:stun.example.com alice pw", "Line 1: a STUN server takes no user name"),
        ("turn:turn.example.com?transport=sctp a b", "is not a stun:"),
        ("stun:a.example.com\n" * (MAX_ICE_SERVERS + 1), f"At most {MAX_ICE_SERVERS}"),
    ],
)
def test_bad_lines_are_refused_with_their_number(text, message):
    with pytest.raises(ValueError, match=message.replace("?", r"\?")):
        parse_ice_servers(text)
