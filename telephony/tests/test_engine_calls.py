"""Click-to-call through the real engine: pjsua2 phone and provider on loopback."""

import os
import tempfile

import pytest

from telephony.tests.engine_fixtures import (
    EngineProcess,
    FakeOdoo,
    UserAgentProcess,
    goertzel_ratio,
    read_mp3,
    read_wav,
    trunk_account,
    wait_until,
)

NUMBER = "+79161234567"


@pytest.fixture(scope="module")
def rig():
    """One engine, one phone (440 Hz), one provider (1000 Hz) for the module."""
    with tempfile.TemporaryDirectory(prefix="engine-calls-") as workdir, FakeOdoo() as odoo:
        with (
            UserAgentProcess(workdir, "phone", 440) as phone,
            UserAgentProcess(workdir, "provider", 1000, hold=2.5) as provider,
        ):
            odoo.config.update(
                accounts=[trunk_account(provider.port, password="pw", replace="^7/8")],
                users=[
                    {"login": login, "password": "x", "extension": "101", "name": "U"}
                    for login in ("acme_101", "noanswer_102", "acme_103", "pause_104")
                ],
                settings={"ring_time": 3, "recording": True},
            )
            engine = EngineProcess(odoo, workdir, phone_port=phone.port).start()
            try:
                yield odoo, engine, phone, provider
            finally:
                code = engine.stop()
                assert code == 0, engine.log()[-3000:]
                assert "pw" not in engine.log().replace("pwd", "")


def dial(odoo, odoo_call_id, login="acme_101", dial_string="89161234567"):
    odoo.queue(
        "dial",
        {
            "login": login,
            "number": NUMBER,
            "dial": dial_string,
            "account_id": 3,
            "caller_name": "Ivan Petrov",
        },
        call_id=odoo_call_id,
    )
    call_id = wait_until(lambda: odoo.call_id_for(odoo_call_id), 10, message="call.created")
    return call_id


def ended(odoo, call_id, timeout=20):
    return wait_until(lambda: odoo.events_of("call.ended", call_id), timeout, message="call.ended")[
        0
    ]


def test_click_to_call_bridges_both_ways_and_uploads_mp3(rig):
    odoo, engine, phone, provider = rig
    call_id = dial(odoo, 1)
    end = ended(odoo, call_id)
    assert end["data"]["outcome"] == "answered"
    types = [e["type"] for e in odoo.events_of(call_id=call_id)]
    assert types == [
        "call.created",
        "call.ringing",
        "call.answered",
        "call.dialing",
        "call.bridged",
        "call.ended",
    ]
    created = odoo.events_of("call.created", call_id)[0]["data"]
    assert created == {
        "direction": "outbound",
        "number": NUMBER,
        "odoo_call_id": 1,
        "account_id": 3,
    }
    assert odoo.events_of("call.ringing", call_id)[0]["data"] == {"logins": ["acme_101"]}
    # The phone saw the client as caller; the provider got the dial string.
    invite = phone.find("invite", user="acme_101")[-1]
    assert NUMBER in invite["remote"] and "Ivan Petrov" in invite["remote"]
    assert provider.find("invite", user="89161234567")
    # The user's phone hears the client (1000 Hz), the provider hears the user (440 Hz).
    heard = wait_until(lambda: phone.find("disconnected", user="acme_101"), 10)[-1]["path"]
    said = wait_until(lambda: provider.find("disconnected", user="89161234567"), 10)[-1]["path"]
    samples, rate = read_wav(heard)
    assert goertzel_ratio(samples, rate, 1000) > 0.3
    assert goertzel_ratio(samples, rate, 440) < 0.05
    samples, rate = read_wav(said)
    assert goertzel_ratio(samples, rate, 440) > 0.3
    mp3 = wait_until(lambda: odoo.recordings.get(call_id), 20, message="recording")
    samples, rate = read_mp3(mp3)
    assert goertzel_ratio(samples, rate, 440) > 0.1
    assert goertzel_ratio(samples, rate, 1000) > 0.1
    # Delivered: nothing left on the engine's disk.
    wait_until(lambda: not os.listdir(os.path.join(engine.state_dir, "outbox")), 10)
    recordings = os.path.join(engine.state_dir, "recordings")
    wait_until(lambda: not [n for n in os.listdir(recordings) if n != "active"], 10)


def test_hold_and_resume_on_the_desk_phone_keeps_both_sides_in_the_recording(rig):
    """The desk phone puts the call on hold and resumes it (re-INVITEs): pjsua
    recreates the worker's stream, which is connected again both ways and to
    the recorder."""
    odoo, engine, phone, provider = rig
    call_id = dial(odoo, 21, login="pause_104")
    check_resumed(odoo, phone, provider, call_id, "89161234567")


def test_client_answering_while_the_user_holds_is_bridged_on_resume(rig):
    """The user puts the call on hold while the client's phone rings; the
    client answers during the hold: both talk once the user resumes."""
    odoo, engine, phone, provider = rig
    call_id = dial(odoo, 22, login="pause_104", dial_string="late89161234567")
    check_resumed(odoo, phone, provider, call_id, "late89161234567")
    hold = phone.find("hold", user="pause_104")[-1]["t"]
    answered = provider.find("confirmed", user="late89161234567")[-1]["t"]
    assert hold < answered < phone.find("unhold", user="pause_104")[-1]["t"]


def check_resumed(odoo, phone, provider, call_id: str, client: str) -> None:
    """The call was answered, put on hold and resumed by the user (pause_104):
    after the resume the client hears the user, the user hears the client and
    the recording holds both."""
    end = ended(odoo, call_id)
    assert end["data"]["outcome"] == "answered", end
    assert odoo.events_of("call.bridged", call_id)
    said = wait_until(lambda: provider.find("disconnected", user=client), 10)[-1]["path"]
    heard = wait_until(lambda: phone.find("disconnected", user="pause_104"), 10)[-1]["path"]
    media_at = [e for e in provider.find("media", user=client) if e["path"] == said][0]["t"]
    resumed = [e for e in phone.find("unhold", user="pause_104") if e["t"] > media_at - 2][0]
    after_at = resumed["t"] - media_at + 0.4
    samples, rate = read_wav(said)
    after = samples[int(after_at * rate) :]
    assert len(after) > 0.5 * rate, len(samples) / rate
    assert goertzel_ratio(after, rate, 440) > 0.3
    samples, rate = read_wav(heard)
    assert goertzel_ratio(samples[-int(0.5 * rate) :], rate, 1000) > 0.3
    mp3 = wait_until(lambda: odoo.recordings.get(call_id), 20, message="recording")
    samples, rate = read_mp3(mp3)
    after = samples[int(after_at * rate) :]
    assert len(after) > 0.5 * rate, len(samples) / rate
    assert goertzel_ratio(after, rate, 440) > 0.2
    assert goertzel_ratio(after, rate, 1000) > 0.2


def test_user_does_not_answer(rig):
    odoo, engine, phone, provider = rig
    call_id = dial(odoo, 2, login="noanswer_102")
    end = ended(odoo, call_id)
    assert end["data"]["outcome"] == "no_answer"
    types = [e["type"] for e in odoo.events_of(call_id=call_id)]
    assert types == ["call.created", "call.ringing", "call.ended"]
    wait_until(lambda: phone.find("disconnected", user="noanswer_102"), 5)


def test_client_busy(rig):
    odoo, engine, phone, provider = rig
    call_id = dial(odoo, 3, dial_string="486000")
    end = ended(odoo, call_id)
    assert end["data"]["outcome"] == "busy" and end["data"]["code"] == 486
    # The user's leg is hung up too.
    wait_until(
        lambda: (
            phone.find("disconnected", user="acme_101")
            and phone.find("disconnected")[-1]["t"] >= end["at"] - 1
        ),
        5,
    )


def test_unknown_login_fails_at_once(rig):
    odoo, engine, phone, provider = rig
    call_id = dial(odoo, 4, login="nobody_999")
    assert ended(odoo, call_id)["data"]["outcome"] == "failed"


def test_odoo_down_during_call_events_and_recording_arrive_once(rig):
    odoo, engine, phone, provider = rig
    before = len(provider.find("disconnected"))
    call_id = dial(odoo, 5)
    wait_until(lambda: odoo.events_of("call.ringing", call_id), 10)
    odoo.down = True
    try:
        wait_until(
            lambda: len(provider.find("disconnected")) > before,
            20,
            message="the call to end while Odoo is down",
        )
        assert not odoo.events_of("call.ended", call_id)
    finally:
        odoo.down = False
    end = ended(odoo, call_id)
    assert end["data"]["outcome"] == "answered"
    events = odoo.events_of(call_id=call_id)
    assert [e["type"] for e in events][-1] == "call.ended"
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs)
    ids = [e["id"] for e in events]
    assert all(odoo.deliveries.count(i) == 1 for i in ids)
    wait_until(lambda: odoo.recordings.get(call_id), 20, message="recording")
    assert odoo.recording_posts.count(call_id) == 1


def test_worker_killed_mid_call_still_ends_the_call(rig):
    odoo, engine, phone, provider = rig
    call_id = dial(odoo, 6, dial_string="7770001")
    wait_until(lambda: odoo.events_of("call.bridged", call_id), 15)
    victim = next(w for w in engine.workers() if call_id in w["calls"])
    os.kill(victim["pid"], 9)
    end = ended(odoo, call_id)
    assert end["data"]["outcome"] == "answered"
    assert "worker" in end["data"]["reason"]
    # A replacement worker serves the next call.
    wait_until(
        lambda: any(w["pid"] != victim["pid"] and w["sip_port"] for w in engine.workers()), 15
    )
    next_call = dial(odoo, 7, login="acme_103")
    assert ended(odoo, next_call)["data"]["outcome"] == "answered"
