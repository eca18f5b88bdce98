"""Calls in the browser: a real headless Chromium running JsSIP registers at
the engine's SIP edge over WebSocket with the user's generated credentials,
rings and answers calls; the media relay (rtpengine) bridges its DTLS-SRTP
to the workers' plain RTP. Everything runs in a loopback-only network
namespace (see browser_fixtures), audio is checked by frequency on each side.
"""

import os
import tempfile
import time
import uuid
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest

from telephony.tests.browser_fixtures import (
    Chromium,
    PhonePage,
    dominant_share,
    loopback_only_network,
)
from telephony.tests.engine_fixtures import (
    EngineProcess,
    FakeOdoo,
    Registrar,
    UserAgentProcess,
    goertzel_ratio,
    read_mp3,
    read_wav,
    trunk_account,
    wait_until,
    write_tone,
)

BROWSER_HZ, PROVIDER_HZ, DESK_HZ = 700, 1100, 1300
USERS = {"acme_101": "phone-pw-101", "acme_102": "phone-pw-102"}
NUMBER = "+79161234567"


@dataclass
class Rig:
    workdir: str
    odoo: FakeOdoo
    engine: EngineProcess
    pages: PhonePage
    tone: str
    counter: int = 0

    def browser(
        self, login: str, password: str, answer: float = 0.3, hold: bool = False
    ) -> tuple[str, Chromium]:
        """A Chromium phone page registering as ``login``; returns (page name, browser)."""
        self.counter += 1
        name = f"{login}-{self.counter}"
        query = urlencode(
            {
                "name": name,
                "ws": f"ws://127.0.0.1:{self.engine.ws_port}",
                "login": login,
                "domain": "127.0.0.1",
                "password": password,
                "answer": answer,
                "hold": "1" if hold else "",
            }
        )
        return name, Chromium(self.workdir, self.tone, f"{self.pages.url}/phone.html?{query}")


@pytest.fixture(scope="module")
def rig():
    with loopback_only_network(), tempfile.TemporaryDirectory(prefix="engine-webrtc-") as workdir:
        tone = write_tone(os.path.join(workdir, "browser.wav"), BROWSER_HZ, 4.0, rate=48000)
        with FakeOdoo() as odoo, PhonePage() as pages:
            odoo.config.update(
                users=[
                    {"login": login, "password": password, "extension": login[-3:], "name": login}
                    for login, password in USERS.items()
                ],
                settings={"ring_time": 15, "recording": True},
            )
            # Only the test page's web origin may open the WebSocket.
            engine = EngineProcess(odoo, workdir, ws=True, extra=["--ws-origin", pages.url])
            engine.start()
            try:
                yield Rig(workdir, odoo, engine, pages, tone)
            finally:
                code = engine.stop()
                log = engine.log()
                assert code == 0, log[-3000:]
                assert "phone-pw" not in log


def test_browser_registers_over_websocket_and_a_wrong_password_is_refused(rig):
    good, good_browser = rig.browser("acme_101", USERS["acme_101"])
    bad, bad_browser = rig.browser("acme_102", "wrong-password")
    with good_browser, bad_browser:
        wait_until(lambda: rig.pages.find("registered", good), 30, message="registered")
        failed = wait_until(lambda: rig.pages.find("registrationFailed", bad), 30)[0]
        assert failed["cause"] in ("Authentication Error", "Rejected"), failed
        assert not rig.pages.find("registered", bad)
        state = wait_until(lambda: rig.odoo.events_of("phone.state"), 10)
        assert [(e["data"]["login"], e["data"]["state"]) for e in state] == [
            ("acme_101", "registered")
        ]
    assert not rig.pages.find("error"), rig.pages.find("error")


def test_websocket_handshake_needs_an_upgrade_and_the_allowed_origin(rig):
    import http.client

    import websocket

    url = f"ws://127.0.0.1:{rig.engine.ws_port}"
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(url, subprotocols=["sip"], origin="https://evil.example")
    assert refused.value.status_code == 403
    sock = websocket.create_connection(url, subprotocols=["sip"], origin=rig.pages.url, timeout=10)
    try:
        assert sock.getstatus() == 101
        assert sock.getsubprotocol() == "sip"
    finally:
        sock.close()
    plain = http.client.HTTPConnection("127.0.0.1", rig.engine.ws_port, timeout=10)
    try:
        plain.request("GET", "/", headers={"Origin": rig.pages.url})
        assert plain.getresponse().status == 404
    finally:
        plain.close()


def test_click_to_call_rings_the_browser_and_bridges_audio_both_ways(rig):
    """The browser also puts the call on hold and resumes it: re-INVITEs from
    the browser pass the media relay with the dialog's flags."""
    name, browser = rig.browser("acme_101", USERS["acme_101"], answer=0.3, hold=True)
    with (
        UserAgentProcess(rig.workdir, "provider", PROVIDER_HZ, hold=6.0) as provider,
        browser,
    ):
        rig.odoo.set_config(accounts=[trunk_account(provider.port)])
        wait_until(lambda: rig.pages.find("registered", name), 30, message="registered")
        wait_until(lambda: phone_state(rig.odoo, "acme_101") == "registered", 10)
        time.sleep(1.5)  # the new account reached the workers
        clicked = time.time()
        rig.odoo.queue(
            "dial",
            {"login": "acme_101", "number": NUMBER, "dial": "89161234567", "account_id": 3},
            call_id=11,
        )
        call_id = wait_until(lambda: rig.odoo.call_id_for(11), 10, message="call.created")
        ringing = wait_until(lambda: rig.pages.find("ringing", name), 20, message="ringing")[0]
        wait_until(lambda: rig.pages.find("confirmed", name), 20, message="answered")
        during = relay_calls(rig)
        invite = wait_until(lambda: provider.find("invite"), 20, message="provider rung")[0]
        end = wait_until(lambda: rig.odoo.events_of("call.ended", call_id), 40)[0]
        wait_until(lambda: rig.pages.find("ended", name), 10, message="browser hung up")
        said = wait_until(lambda: provider.find("disconnected"), 10)[-1]["path"]
    assert end["data"]["outcome"] == "answered", end
    assert len(during) == 1, during  # the relay carried the call; BYE deleted it
    wait_until(lambda: relay_calls(rig) == [], 10, message="relay session deleted")
    assert ringing["t"] - clicked < 10
    assert "89161234567" in invite["local"]
    # The browser heard the provider; the provider heard the browser's microphone.
    bridged = rig.pages.heard(name, since=invite["t"] + 0.5)
    assert dominant_share(bridged, PROVIDER_HZ) > 0.5, bridged[:40]
    resumed = rig.pages.find("unhold", name)
    assert rig.pages.find("hold", name) and resumed
    after = rig.pages.heard(name, since=resumed[0]["t"] + 0.5)
    assert len(after) >= 10 and dominant_share(after, PROVIDER_HZ) > 0.5, after[:40]
    samples, rate = read_wav(said)
    assert goertzel_ratio(samples, rate, BROWSER_HZ) > 0.3
    media_at = provider.find("media")[0]["t"]
    resumed_at = resumed[0]["t"] - media_at + 0.5
    assert goertzel_ratio(samples[int(resumed_at * rate) :], rate, BROWSER_HZ) > 0.3
    # The recording holds both sides, before the hold and after the resume
    # (the worker connects the stream pjsua recreates to the recorder again).
    mp3 = wait_until(lambda: rig.odoo.recordings.get(call_id), 30, message="recording")
    samples, rate = read_mp3(mp3)
    before, after = samples[: int(0.6 * rate)], samples[int(resumed_at * rate) :]
    assert len(after) > 2 * rate, len(samples) / rate
    for part in (before, after):
        assert goertzel_ratio(part, rate, PROVIDER_HZ) > 0.2
        assert goertzel_ratio(part, rate, BROWSER_HZ) > 0.2


@dataclass
class Incoming:
    name: str
    call_id: str
    end: dict
    heard: str  # what the caller recorded
    ringing: dict
    desk_invite: dict
    desk_end: dict


def incoming_call(rig: Rig, browser_answer: float, desk_answer: str) -> Incoming:
    """A call from the provider ringing the browser (acme_101) and a desk
    phone (acme_102) at once; each answers after its delay ("never", -1: not)."""
    name, browser = rig.browser("acme_101", USERS["acme_101"], answer=browser_answer)
    with (
        Registrar({"tell": "trunk-pw"}) as provider,
        UserAgentProcess(
            rig.workdir,
            f"desk-{rig.counter}",
            DESK_HZ,
            register=(rig.engine.sip_port, "acme_102", USERS["acme_102"]),
            answer=desk_answer,
        ) as desk,
        browser,
    ):
        rig.odoo.set_config(accounts=[trunk_account(provider.port, account_id=4)])
        wait_until(lambda: rig.pages.find("registered", name), 30, message="registered")
        for login in USERS:
            wait_until(lambda login=login: phone_state(rig.odoo, login) == "registered", 10)
        contact = wait_until(lambda: provider.contacts.get("tell"), 15, message="trunk contact")
        time.sleep(1.5)  # worker 0 knows both logins ring
        known = {e["call_id"] for e in rig.odoo.events_of("call.created")}
        with UserAgentProcess(
            rig.workdir, f"caller-{rig.counter}", PROVIDER_HZ, hold=5.0, call=(contact, NUMBER)
        ) as caller:
            call_id = wait_until(
                lambda: [
                    e["call_id"]
                    for e in rig.odoo.events_of("call.created")
                    if e["call_id"] not in known
                ],
                15,
                message="call.created",
            )[0]
            ringing = wait_until(lambda: rig.pages.find("ringing", name), 20, message="ringing")
            desk_invite = wait_until(lambda: desk.find("invite"), 10, message="desk rings")[0]
            end = wait_until(lambda: rig.odoo.events_of("call.ended", call_id), 40)[0]
            heard = wait_until(lambda: caller.find("disconnected", user="out"), 10)[-1]["path"]
            wait_until(
                lambda: rig.pages.find("ended", name) or rig.pages.find("failed", name),
                10,
                message="the browser's call over",
            )
            desk_end = wait_until(lambda: desk.find("disconnected"), 10)[0]
    return Incoming(name, call_id, end, heard, ringing[0], desk_invite, desk_end)


def test_incoming_call_rings_browser_and_desk_phone_and_the_browser_answers(rig):
    """A ring group forking to a browser (media relay) and a desk phone (plain
    RTP): the browser answers, the desk phone stops ringing, audio both ways."""
    call = incoming_call(rig, browser_answer=1.0, desk_answer="never")
    assert call.end["data"]["outcome"] == "answered", call.end
    assert rig.odoo.events_of("call.answered", call.call_id)[0]["data"] == {"login": "acme_101"}
    assert NUMBER.lstrip("+") in call.ringing["from"]
    assert abs(call.ringing["t"] - call.desk_invite["t"]) < 1.0
    assert call.desk_end["code"] == 487
    confirmed = rig.pages.find("confirmed", call.name)[0]
    talk = rig.pages.heard(call.name, since=confirmed["t"] + 0.5)
    assert dominant_share(talk, PROVIDER_HZ) > 0.5, talk[:40]
    samples, rate = read_wav(call.heard)
    assert goertzel_ratio(samples, rate, BROWSER_HZ) > 0.2
    mp3 = wait_until(lambda: rig.odoo.recordings.get(call.call_id), 30, message="recording")
    samples, rate = read_mp3(mp3)
    assert goertzel_ratio(samples, rate, PROVIDER_HZ) > 0.1
    assert goertzel_ratio(samples, rate, BROWSER_HZ) > 0.1
    wait_until(lambda: relay_calls(rig) == [], 10, message="relay session deleted")


def test_incoming_call_answered_on_the_desk_phone_stops_the_browser_ringing(rig):
    """The other way round: the desk phone (plain RTP, no relay) wins; the
    browser's branch is cancelled and the relay forgets the call."""
    call = incoming_call(rig, browser_answer=-1, desk_answer="1.0")
    assert call.end["data"]["outcome"] == "answered", call.end
    assert rig.odoo.events_of("call.answered", call.call_id)[0]["data"] == {"login": "acme_102"}
    failed = rig.pages.find("failed", call.name)[0]
    assert failed["cause"] == "Canceled", failed
    assert not rig.pages.find("confirmed", call.name)
    samples, rate = read_wav(call.heard)
    assert goertzel_ratio(samples, rate, DESK_HZ) > 0.2
    assert goertzel_ratio(samples, rate, BROWSER_HZ) < 0.05
    wait_until(lambda: relay_calls(rig) == [], 10, message="relay session deleted")


def relay_calls(rig: Rig) -> list:
    """Call-IDs the media relay holds (ng protocol ``list``)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        # A fresh cookie each time: rtpengine answers a repeated one from its cache.
        cookie = uuid.uuid4().hex[:12].encode()
        sock.sendto(cookie + b" d7:command4:liste", ("127.0.0.1", rig.engine.relay_ng_port))
        reply = sock.recv(65535).decode(errors="replace")
    assert "ok" in reply, reply
    # d5:callsl<len>:<call-id>...e6:result2:oke
    body = reply.split("5:callsl", 1)[1].split("e6:result", 1)[0] if "5:callsl" in reply else ""
    calls, rest = [], body
    while rest and rest[0].isdigit():
        length, _, rest = rest.partition(":")
        calls.append(rest[: int(length)])
        rest = rest[int(length) :]
    return calls


def phone_state(odoo: FakeOdoo, login: str) -> str:
    states = [e for e in odoo.events_of("phone.state") if e["data"]["login"] == login]
    return states[-1]["data"]["state"] if states else "unregistered"
