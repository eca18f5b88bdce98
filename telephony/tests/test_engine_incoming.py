"""Incoming calls through the real engine on loopback: greeting, ring group,
forwarding to the "forward on no answer" number.

The provider is a digest registrar that the trunk registers with, and a
pjsua2 user agent that places a call INTO the contact the trunk registered
(media worker 0). Phones are pjsua2 user agents registered at the Kamailio
edge; the forward number is a user agent behind the provider's registrar,
which relays the trunk's outgoing INVITEs to it. Every party plays its own
tone and records what it hears, checked with a Goertzel filter.
"""

import os
import tempfile
import time
import wave
from dataclasses import dataclass

import pytest

from telephony.tests.engine_fixtures import (
    EngineProcess,
    FakeOdoo,
    Registrar,
    UserAgentProcess,
    goertzel_ratio,
    read_mp3,
    read_wav,
    require_kamailio,
    trunk_account,
    wait_until,
    write_tone,
)


@pytest.fixture(autouse=True, scope="module")
def _kamailio():
    """Every test here needs the edge: without Kamailio they fail, not skip."""
    require_kamailio()


CALLER = "+79161234567"
FORWARD_NUMBER = "+74951234567"
FORWARD_DIAL = "84951234567"
RING_TIME = 3
GREETING_SECONDS = 2.0
GREETING_HZ, CALLER_HZ, FORWARD_HZ = 1500, 1000, 1200
PHONE_A_HZ, PHONE_B_HZ, PHONE_C_HZ = 700, 900, 600
USERS = {  # login: (password, accepts incoming calls)
    "acme_101": ("phone-pw-101", True),
    "acme_102": ("phone-pw-102", True),
    "acme_103": ("phone-pw-103", False),
}


@dataclass
class Rig:
    workdir: str
    odoo: FakeOdoo
    engine: EngineProcess
    provider: Registrar
    forward: UserAgentProcess
    counter: int = 0

    def contact(self) -> str:
        return wait_until(lambda: self.provider.contacts.get("tell"), 10, message="trunk contact")

    def phones(self, *specs) -> list[UserAgentProcess]:
        """Phones registered at the edge, started together: (login, tone, answer, hold)."""
        phones = []
        for login, tone, answer, hold in specs:
            self.counter += 1
            phones.append(
                UserAgentProcess(
                    self.workdir,
                    f"{login}-{self.counter}",
                    tone,
                    hold=hold,
                    register=(self.engine.sip_port, login, USERS[login][0]),
                    answer=answer,
                ).start()
            )
        for phone, (login, *_rest) in zip(phones, specs, strict=True):
            phone.ready()
            wait_until(lambda login=login: phone_state(self.odoo, login) == "registered", 10)
        time.sleep(0.3)  # the controller told worker 0 in the same loop turn
        return phones

    def caller(self, hold: float = 0.0) -> UserAgentProcess:
        self.counter += 1
        return UserAgentProcess(
            self.workdir,
            f"caller-{self.counter}",
            CALLER_HZ,
            hold=hold,
            call=(self.contact(), CALLER),
        )

    def incoming(self, known: set) -> str:
        """The engine call id of the newest inbound call not in ``known``."""

        def fresh():
            created = [
                e
                for e in self.odoo.events_of("call.created")
                if e["data"]["direction"] == "inbound" and e["call_id"] not in known
            ]
            return created and created[-1]["call_id"]

        return wait_until(fresh, 10, message="an inbound call.created")

    def call_in(self) -> tuple[str, dict, UserAgentProcess]:
        """Call into the trunk and wait until the engine and the caller saw it
        end: (engine call id, its call.ended, the caller, whose log stays)."""
        known = self.known()
        with self.caller() as caller:
            call_id = self.incoming(known)
            end = self.ended(call_id)
            wait_until(lambda: caller.find("disconnected", user="out"), 10)
        return call_id, end, caller

    def known(self) -> set:
        return {e["call_id"] for e in self.odoo.events_of("call.created")}

    def ended(self, call_id: str, timeout: float = 25) -> dict:
        return wait_until(
            lambda: self.odoo.events_of("call.ended", call_id), timeout, message="call.ended"
        )[0]

    def types(self, call_id: str) -> list[str]:
        return [e["type"] for e in self.odoo.events_of(call_id=call_id)]


def phone_state(odoo: FakeOdoo, login: str) -> str:
    states = [e for e in odoo.events_of("phone.state") if e["data"]["login"] == login]
    return states[-1]["data"]["state"] if states else "unregistered"


def stop(*agents) -> None:
    for agent in agents:
        agent.terminate()
    for agent in agents:
        agent.__exit__(None, None, None)


def wait_unregistered(rig: Rig) -> None:
    for login in USERS:
        wait_until(lambda login=login: phone_state(rig.odoo, login) == "unregistered", 10)
    time.sleep(0.3)


@pytest.fixture(scope="module")
def rig():
    with tempfile.TemporaryDirectory(prefix="engine-in-") as workdir, FakeOdoo() as odoo:
        with UserAgentProcess(workdir, "forward", FORWARD_HZ, hold=3.0) as forward:
            with Registrar({"tell": "trunk-pw"}, relay_to=("127.0.0.1", forward.port)) as provider:
                odoo.config.update(
                    accounts=[trunk_account(provider.port)],
                    users=[
                        {
                            "login": login,
                            "password": password,
                            "extension": login[-3:],
                            "name": login,
                            "accept_incoming": accepts,
                            "browser_calls": False,
                        }
                        for login, (password, accepts) in USERS.items()
                    ],
                    settings={
                        "ring_time": RING_TIME,
                        "recording": True,
                        "forward_number": FORWARD_NUMBER,
                        "forward_dial": FORWARD_DIAL,
                        "greeting_url": None,
                        "greeting_version": None,
                    },
                )
                engine = EngineProcess(odoo, workdir).start()
                try:
                    yield Rig(workdir, odoo, engine, provider, forward)
                finally:
                    code = engine.stop()
                    log = engine.log()
                    assert code == 0, log[-3000:]
                    for secret in ("trunk-pw", "phone-pw", odoo.secret):
                        assert secret not in log


def greeting_wav(workdir: str) -> bytes:
    path = write_tone(os.path.join(workdir, "greeting.wav"), GREETING_HZ, GREETING_SECONDS)
    with open(path, "rb") as source:
        return source.read()


def install_greeting(rig: Rig, version: str) -> None:
    rig.odoo.set_greeting(greeting_wav(rig.workdir), version)
    cached = os.path.join(rig.engine.state_dir, "greeting", f"{version}.wav")
    wait_until(lambda: os.path.exists(cached), 10, message="the greeting on the engine's disk")
    time.sleep(0.3)  # then the workers get their new configuration


def segment(samples, rate, start: float, end: float):
    return samples[int(start * rate) : int(end * rate)]


def test_greeting_plays_to_its_end_then_phones_ring_and_first_answer_wins(rig):
    install_greeting(rig, "greet-1")
    phone_a, phone_b, phone_c = rig.phones(
        ("acme_101", PHONE_A_HZ, "1.0", 2.5),
        ("acme_102", PHONE_B_HZ, "never", 0),
        ("acme_103", PHONE_C_HZ, "0.2", 0),  # does not take incoming calls
    )
    try:
        call_id, end, caller = rig.call_in()
        heard = caller.find("disconnected", user="out")[-1]["path"]
        media_at = caller.find("media", user="out")[0]["t"]
    finally:
        stop(phone_a, phone_b, phone_c)
        rig.odoo.set_greeting(None)
    assert end["data"]["outcome"] == "answered", end
    assert rig.types(call_id) == [
        "call.created",
        "call.ringing",
        "call.answered",
        "call.bridged",
        "call.ended",
    ]
    created = rig.odoo.events_of("call.created", call_id)[0]["data"]
    assert created == {"direction": "inbound", "number": CALLER, "account_id": 3}
    ringing = rig.odoo.events_of("call.ringing", call_id)[0]["data"]
    assert ringing == {"logins": ["acme_101", "acme_102"]}
    assert rig.odoo.events_of("call.answered", call_id)[0]["data"] == {"login": "acme_101"}
    # Both phones rang at once, showing the caller, and only after the whole greeting.
    invite_a = phone_a.find("invite")[0]
    invite_b = phone_b.find("invite")[0]
    assert abs(invite_a["t"] - invite_b["t"]) < 0.5
    assert CALLER in invite_a["remote"] and CALLER in invite_b["remote"]
    assert min(invite_a["t"], invite_b["t"]) >= media_at + GREETING_SECONDS - 0.3
    assert not phone_c.find("invite")
    # The first to answer got the call; the other phone stopped ringing at once.
    answered_at = phone_a.find("confirmed")[0]["t"]
    cancelled = phone_b.find("disconnected")[0]
    assert cancelled["code"] == 487 and cancelled["t"] - answered_at < 1.0
    # The caller heard the greeting first, then the phone that answered.
    samples, rate = read_wav(heard)
    assert goertzel_ratio(segment(samples, rate, 0.1, 1.8), rate, GREETING_HZ) > 0.5
    talk = segment(samples, rate, answered_at - media_at + 0.3, len(samples) / rate)
    assert goertzel_ratio(talk, rate, PHONE_A_HZ) > 0.3
    assert goertzel_ratio(talk, rate, GREETING_HZ) < 0.05
    # The phone heard the caller; the recording has both sides and no greeting.
    said = wait_until(lambda: phone_a.find("disconnected"), 5)[-1]["path"]
    samples, rate = read_wav(said)
    assert goertzel_ratio(samples, rate, CALLER_HZ) > 0.3
    mp3 = wait_until(lambda: rig.odoo.recordings.get(call_id), 20, message="recording")
    samples, rate = read_mp3(mp3)
    assert goertzel_ratio(samples, rate, CALLER_HZ) > 0.1
    assert goertzel_ratio(samples, rate, PHONE_A_HZ) > 0.1
    assert goertzel_ratio(samples, rate, GREETING_HZ) < 0.05


def test_greeting_is_fetched_once_per_version(rig):
    fetches = len(rig.odoo.greeting_fetches)
    install_greeting(rig, "greet-2")
    assert rig.odoo.greeting_fetches[fetches:] == ["greet-2"]
    # Another setting changes: the engine reads its configuration, not the greeting.
    before = rig.odoo.config_fetches
    rig.odoo.settings(ring_time=RING_TIME + 1)
    wait_until(lambda: rig.odoo.config_fetches > before, 10, message="a new configuration")
    time.sleep(0.5)
    assert rig.odoo.greeting_fetches[fetches:] == ["greet-2"]
    install_greeting(rig, "greet-3")
    assert rig.odoo.greeting_fetches[fetches:] == ["greet-2", "greet-3"]
    greeting_dir = os.path.join(rig.engine.state_dir, "greeting")
    wait_until(lambda: os.listdir(greeting_dir) == ["greet-3.wav"], 5)
    with wave.open(os.path.join(greeting_dir, "greet-3.wav")) as cached:
        assert (cached.getframerate(), cached.getnchannels()) == (8000, 1)
    rig.odoo.set_greeting(None)
    wait_until(lambda: not os.listdir(greeting_dir), 10, message="the greeting removed")
    rig.odoo.settings(ring_time=RING_TIME)


def test_nobody_answers_the_call_is_forwarded_after_the_ring_time(rig):
    phone_a, phone_b = rig.phones(
        ("acme_101", PHONE_A_HZ, "never", 0), ("acme_102", PHONE_B_HZ, "never", 0)
    )
    forwarded_before = len(rig.forward.find("invite", user=FORWARD_DIAL))
    try:
        call_id, end, caller = rig.call_in()
        heard = caller.find("disconnected", user="out")[-1]["path"]
    finally:
        stop(phone_a, phone_b)
    assert end["data"]["outcome"] == "forwarded", end
    assert rig.types(call_id) == [
        "call.created",
        "call.ringing",
        "call.dialing",
        "call.forwarded",
        "call.ended",
    ]
    assert rig.odoo.events_of("call.dialing", call_id)[0]["data"] == {"dial": FORWARD_DIAL}
    assert rig.odoo.events_of("call.forwarded", call_id)[0]["data"] == {"number": FORWARD_NUMBER}
    rang_at = max(phone_a.find("invite")[0]["t"], phone_b.find("invite")[0]["t"])
    forward_invites = rig.forward.find("invite", user=FORWARD_DIAL)
    assert len(forward_invites) == forwarded_before + 1
    waited = forward_invites[-1]["t"] - rang_at
    assert RING_TIME - 1 <= waited <= RING_TIME + 1, waited
    for phone in (phone_a, phone_b):
        gone = phone.find("disconnected")[0]
        assert gone["code"] == 487 and gone["t"] <= forward_invites[-1]["t"] + 0.1
    samples, rate = read_wav(heard)
    assert goertzel_ratio(samples, rate, FORWARD_HZ) > 0.3
    mp3 = wait_until(lambda: rig.odoo.recordings.get(call_id), 20, message="recording")
    samples, rate = read_mp3(mp3)
    assert goertzel_ratio(samples, rate, FORWARD_HZ) > 0.1
    assert goertzel_ratio(samples, rate, CALLER_HZ) > 0.1


def test_nobody_registered_the_call_is_forwarded_at_once(rig):
    wait_unregistered(rig)
    known = rig.known()
    with rig.caller() as caller:
        call_id = rig.incoming(known)
        end = rig.ended(call_id)
        called_at = caller.find("calling")[0]["t"]
    assert end["data"]["outcome"] == "forwarded", end
    assert rig.types(call_id) == ["call.created", "call.dialing", "call.forwarded", "call.ended"]
    invite = rig.forward.find("invite", user=FORWARD_DIAL)[-1]
    assert invite["t"] - called_at < 1.0


def test_caller_hangs_up_while_phones_ring(rig):
    (phone_a,) = rig.phones(("acme_101", PHONE_A_HZ, "never", 0))
    known = rig.known()
    try:
        with rig.caller():
            call_id = rig.incoming(known)
            wait_until(lambda: rig.odoo.events_of("call.ringing", call_id), 10)
            wait_until(lambda: phone_a.find("invite"), 5)
        end = rig.ended(call_id)
        gone = wait_until(lambda: phone_a.find("disconnected"), 5)[0]
    finally:
        stop(phone_a)
    assert end["data"]["outcome"] == "cancelled", end
    assert gone["code"] == 487
    assert "call.forwarded" not in rig.types(call_id)


def test_nobody_available_and_no_forward_number_is_a_missed_call(rig):
    wait_unregistered(rig)
    rig.odoo.settings(forward_number="", forward_dial="")
    before = rig.odoo.config_fetches
    wait_until(lambda: rig.odoo.config_fetches > before, 10)
    time.sleep(0.3)
    try:
        call_id, end, caller = rig.call_in()
        gone = caller.find("disconnected", user="out")[0]
    finally:
        rig.odoo.settings(forward_number=FORWARD_NUMBER, forward_dial=FORWARD_DIAL)
    assert end["data"]["outcome"] == "no_answer", end
    assert end["data"]["reason"] == "nobody is available"
    assert gone["code"] == 480
    assert rig.types(call_id) == ["call.created", "call.ended"]


def test_the_forward_number_rings_for_its_own_ring_time(rig):
    """The forward number rings forward_ring_time seconds, apart from the users' ring time."""
    wait_unregistered(rig)
    rig.odoo.settings(forward_dial="noanswer1", forward_ring_time=3)
    before = rig.odoo.config_fetches
    wait_until(lambda: rig.odoo.config_fetches > before, 10)
    time.sleep(0.3)
    known = rig.known()
    try:
        with rig.caller():
            call_id = rig.incoming(known)
            end = rig.ended(call_id, timeout=20)
    finally:
        rig.odoo.settings(forward_dial=FORWARD_DIAL, forward_ring_time=None)
    invite = rig.forward.find("invite", user="noanswer1")[-1]
    rang = end["at"] - invite["t"]
    assert end["data"]["outcome"] == "no_answer", end
    assert 2 <= rang <= 5, rang
    assert "call.forwarded" not in rig.types(call_id)
