"""How click-to-calls end, through the real engine: Odoo hangs up (a bridged
call, a call still ringing the user), the provider refuses the call (403,
503: SIPp answering), the client never answers and the user gives up."""

import os
import tempfile
import time

import pytest

from telephony.tests.engine_fixtures import (
    EngineProcess,
    FakeOdoo,
    Registrar,
    SippProvider,
    UserAgentProcess,
    trunk_account,
    wait_until,
)

NUMBER = "+79161234567"
USER_HOLD = 4.0  # the user's phone hangs up this long after answering


@pytest.fixture(scope="module")
def rig():
    """One engine, one desk phone, a provider whose calls reach either a
    pjsua2 agent (answers, plays a tone) or SIPp (set ``front.relay_to``)."""
    with tempfile.TemporaryDirectory(prefix="engine-endings-") as workdir, FakeOdoo() as odoo:
        with (
            UserAgentProcess(workdir, "phone", 440, hold=USER_HOLD) as phone,
            UserAgentProcess(workdir, "client", 1000, hold=30) as client,
            Registrar({"tell": "pw"}, relay_to=("127.0.0.1", client.port)) as front,
            UserAgentProcess(workdir, "client2", 1500, hold=1) as client2,
            Registrar({"tell": "pw2"}, relay_to=("127.0.0.1", client2.port)) as front2,
        ):
            second = {**trunk_account(front2.port, account_id=4, password="pw2"), "sequence": 2}
            odoo.config.update(
                accounts=[trunk_account(front.port, password="pw"), second],
                users=[
                    {"login": login, "password": "x", "extension": "101", "name": "U"}
                    for login in ("acme_101", "noanswer_102", "777_103")
                ],
                settings={"ring_time": 15, "recording": False},
            )
            engine = EngineProcess(odoo, workdir, phone_port=phone.port).start()
            try:
                wait_until(lambda: front.contacts.get("tell"), 15, message="trunk registered")
                yield odoo, engine, phone, client, front, workdir, (front2, client2)
            finally:
                front.relay_to = ("127.0.0.1", client.port)
                code = engine.stop()
                assert code == 0, engine.log()[-3000:]


def dial(odoo, odoo_call_id, login="acme_101", dial_string="89161234567", account_id=3):
    odoo.queue(
        "dial",
        {"login": login, "number": NUMBER, "dial": dial_string, "account_id": account_id},
        call_id=odoo_call_id,
    )
    return wait_until(lambda: odoo.call_id_for(odoo_call_id), 10, message="call.created")


def ended(odoo, call_id, timeout=20):
    return wait_until(lambda: odoo.events_of("call.ended", call_id), timeout, message="call.ended")[
        0
    ]


def test_odoo_hangs_up_a_bridged_call(rig):
    """Neither side would hang up for 20 s or more (a "777" user holds 20 s,
    the client 30 s): Odoo's hangup command ends the call at once."""
    odoo, engine, phone, client, front, workdir, second = rig
    call_id = dial(odoo, 1, login="777_103", dial_string="89161234501")
    wait_until(lambda: odoo.events_of("call.bridged", call_id), 15, message="call.bridged")
    odoo.queue("hangup", {"engine_call_id": call_id})
    asked = time.time()
    end = ended(odoo, call_id)
    assert end["data"]["outcome"] == "answered", end
    assert end["data"]["reason"] == "hangup requested", end
    # Both ends are hung up at once.
    user_gone = wait_until(lambda: phone.find("disconnected", user="777_103"), 10)[-1]
    client_gone = wait_until(lambda: client.find("disconnected", user="89161234501"), 10)[-1]
    assert user_gone["t"] - asked < 5, user_gone
    assert client_gone["t"] - asked < 5, client_gone
    assert [e["type"] for e in odoo.events_of(call_id=call_id)][-1] == "call.ended"


def test_odoo_hangs_up_while_the_user_phone_rings(rig):
    odoo, engine, phone, client, front, workdir, second = rig
    call_id = dial(odoo, 2, login="noanswer_102")
    wait_until(lambda: phone.find("invite", user="noanswer_102"), 10, message="the phone rings")
    odoo.queue("hangup", {"engine_call_id": call_id})
    end = ended(odoo, call_id)
    assert end["data"]["outcome"] == "cancelled", end
    gone = wait_until(lambda: phone.find("disconnected", user="noanswer_102"), 10)[-1]
    assert gone["code"] == 487  # the ringing phone got a CANCEL
    assert "call.bridged" not in [e["type"] for e in odoo.events_of(call_id=call_id)]


@pytest.mark.parametrize("code", ["403", "503"])
def test_provider_refuses_the_call(rig, code):
    """SIPp answers the trunk's INVITE with 403 or 503: the call fails with
    that code, and the user, who had answered, is hung up."""
    odoo, engine, phone, client, front, workdir, second = rig
    with SippProvider(workdir, f"sipp-{code}", code) as provider:
        front.relay_to = ("127.0.0.1", provider.port)
        try:
            call_id = dial(odoo, 10 + int(code), dial_string=f"8916{code}0000")
            end = ended(odoo, call_id)
        finally:
            front.relay_to = ("127.0.0.1", client.port)
        assert end["data"]["outcome"] == "failed", end
        assert end["data"].get("code") == int(code), end
        types = [e["type"] for e in odoo.events_of(call_id=call_id)]
        assert "call.dialing" in types and "call.bridged" not in types
        wait_until(
            lambda: phone.find("disconnected")[-1]["t"] >= end["at"] - 1, 10, message="user hung up"
        )
        trace = provider.messages()
        assert f"INVITE sip:8916{code}0000@" in trace
        assert f"SIP/2.0 {code} " in trace


def test_client_never_answers_and_the_user_gives_up(rig):
    """SIPp rings and never answers; the user hangs up after USER_HOLD: the
    engine cancels the client's INVITE and the call ends as cancelled."""
    odoo, engine, phone, client, front, workdir, second = rig
    with SippProvider(workdir, "sipp-never", "never") as provider:
        front.relay_to = ("127.0.0.1", provider.port)
        try:
            call_id = dial(odoo, 30, dial_string="89160000030")
            end = ended(odoo, call_id, timeout=USER_HOLD + 20)
        finally:
            front.relay_to = ("127.0.0.1", client.port)
        assert end["data"]["outcome"] == "cancelled", end
        assert end["data"]["reason"] == "user hung up", end
        wait_until(lambda: "CANCEL sip:" in provider.messages(), 10, message="CANCEL at SIPp")
        wait_until(lambda: "SIP/2.0 487" in provider.messages(), 10, message="487 from SIPp")
        types = [e["type"] for e in odoo.events_of(call_id=call_id)]
        assert "call.dialing" in types and "call.bridged" not in types
    assert os.path.exists(provider.messages_path)


def test_the_trunk_odoo_names_places_the_call(rig):
    """Two provider accounts, both registered: a dial naming the second one
    reaches that provider only."""
    odoo, engine, phone, client, front, workdir, second = rig
    front2, client2 = second
    wait_until(lambda: front2.contacts.get("tell"), 15, message="second trunk registered")
    wait_until(
        lambda: [
            e
            for e in odoo.events_of("trunk.state")
            if e["data"]["account_id"] == 4 and e["data"]["state"] == "registered"
        ],
        15,
        message="trunk.state of the second account",
    )
    first_invites = len(client.find("invite"))
    call_id = dial(odoo, 40, dial_string="89161234540", account_id=4)
    end = ended(odoo, call_id)
    assert end["data"]["outcome"] == "answered", end
    assert odoo.events_of("call.created", call_id)[0]["data"]["account_id"] == 4
    assert client2.find("invite", user="89161234540")
    assert len(client.find("invite")) == first_invites
