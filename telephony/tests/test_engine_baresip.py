"""Interop with another SIP stack: baresip as the user's desk phone. It
registers at the engine's Kamailio edge with the user's login, rings for a
click-to-call, answers, and the client hears it (and it the client)."""

import tempfile

import pytest

from telephony.tests.engine_fixtures import (
    BaresipPhone,
    EngineProcess,
    FakeOdoo,
    UserAgentProcess,
    goertzel_ratio,
    read_mp3,
    read_wav,
    require_kamailio,
    trunk_account,
    wait_until,
)

NUMBER = "+79161234567"
PHONE_HZ, CLIENT_HZ = 700, 1000


@pytest.fixture(autouse=True, scope="module")
def _kamailio():
    require_kamailio()


def phone_state(odoo, login):
    states = [e for e in odoo.events_of("phone.state") if e["data"]["login"] == login]
    return states[-1]["data"]["state"] if states else "unregistered"


def test_click_to_call_to_a_baresip_desk_phone():
    with tempfile.TemporaryDirectory(prefix="engine-baresip-") as workdir, FakeOdoo() as odoo:
        with UserAgentProcess(workdir, "client", CLIENT_HZ, hold=3.0) as client:
            odoo.config.update(
                accounts=[trunk_account(client.port, password="pw")],
                users=[{"login": "acme_101", "password": "baresip-pw-1", "name": "U"}],
                settings={"ring_time": 15, "recording": True},
            )
            engine = EngineProcess(odoo, workdir).start()
            try:
                with BaresipPhone(
                    workdir, "baresip", engine.sip_port, "acme_101", "baresip-pw-1", PHONE_HZ
                ) as phone:
                    wait_until(
                        lambda: phone_state(odoo, "acme_101") == "registered",
                        20,
                        message=f"baresip registered at the edge:\n{phone.log()[-2000:]}",
                    )
                    odoo.queue(
                        "dial",
                        {"login": "acme_101", "number": NUMBER, "dial": "89161234567"},
                        call_id=1,
                    )
                    call_id = wait_until(lambda: odoo.call_id_for(1), 10, message="call.created")
                    end = wait_until(
                        lambda: odoo.events_of("call.ended", call_id),
                        30,
                        message=f"call.ended:\n{phone.log()[-2000:]}",
                    )[0]
                    assert end["data"]["outcome"] == "answered", end
                    types = [e["type"] for e in odoo.events_of(call_id=call_id)]
                    assert types[:5] == [
                        "call.created",
                        "call.ringing",
                        "call.answered",
                        "call.dialing",
                        "call.bridged",
                    ], types
                    assert odoo.events_of("call.answered", call_id)[0]["data"]["login"] == (
                        "acme_101"
                    )
                    # The client heard baresip's microphone through the engine.
                    said = wait_until(lambda: client.find("disconnected", user="89161234567"), 10)[
                        -1
                    ]["path"]
                    samples, rate = read_wav(said)
                    assert goertzel_ratio(samples, rate, PHONE_HZ) > 0.3
                    # The recording holds both sides.
                    mp3 = wait_until(lambda: odoo.recordings.get(call_id), 20, message="mp3")
                    samples, rate = read_mp3(mp3)
                    assert goertzel_ratio(samples, rate, PHONE_HZ) > 0.1
                    assert goertzel_ratio(samples, rate, CLIENT_HZ) > 0.1
            finally:
                assert engine.stop() == 0, engine.log()[-3000:]
