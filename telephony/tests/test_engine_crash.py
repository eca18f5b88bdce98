"""The engine stopped with calls in progress: killed with -9 and started
again, or stopped with SIGTERM (the drain)."""

import os
import signal
import subprocess
import tempfile

import pytest

from telephony.tests.engine_fixtures import (
    EngineProcess,
    FakeOdoo,
    UserAgentProcess,
    outbox_events,
    require_kamailio,
    trunk_account,
    wait_until,
)

NUMBER = "+79161234567"


def descendants(pid: int) -> set[int]:
    """The processes under ``pid``, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as source:
                stat = source.read()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def running(pid: int) -> bool:
    """Alive and not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as source:
            return source.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as source:
            return source.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "(gone)"


def wait_gone(pids: set[int], timeout: float) -> None:
    """Wait until none of ``pids`` runs; name those that still do."""
    try:
        wait_until(lambda: not [pid for pid in pids if running(pid)], timeout)
    except AssertionError:
        left = {pid: command_line(pid) for pid in pids if running(pid)}
        raise AssertionError(f"still running after {timeout}s: {left}") from None


@pytest.fixture
def rig():
    with tempfile.TemporaryDirectory(prefix="engine-crash-") as workdir, FakeOdoo() as odoo:
        with (
            UserAgentProcess(workdir, "phone", 440) as phone,
            UserAgentProcess(workdir, "provider", 1000, hold=2.0) as provider,
        ):
            odoo.config.update(
                accounts=[trunk_account(provider.port, password="pw")],
                users=[
                    {"login": login, "password": "x", "extension": "101", "name": "U"}
                    for login in ("acme_101", "acme_102", "acme_103")
                ],
                settings={"ring_time": 10, "recording": True},
            )
            engines: list[EngineProcess] = []
            try:
                yield odoo, phone, provider, workdir, engines
            finally:
                for engine in engines:
                    if engine.proc and engine.proc.poll() is None:
                        engine.proc.kill()
                        engine.proc.wait(timeout=10)


def dial(odoo, odoo_call_id, login, dial_string):
    odoo.queue(
        "dial",
        {"login": login, "number": NUMBER, "dial": dial_string, "account_id": 3},
        call_id=odoo_call_id,
    )
    return wait_until(lambda: odoo.call_id_for(odoo_call_id), 15, message="call.created")


def test_controller_killed_with_9_mid_call_and_started_again(rig):
    odoo, phone, provider, workdir, engines = rig
    engine = EngineProcess(odoo, workdir, phone_port=phone.port).start()
    engines.append(engine)
    # A long call (the client holds 20 s) in progress at the kill...
    long_call = dial(odoo, 1, "acme_103", "7770001")
    wait_until(lambda: odoo.events_of("call.bridged", long_call), 15, message="bridged")
    # ...and a call that ends while Odoo is down: its end waits in the outbox.
    short_call = dial(odoo, 2, "acme_101", "89161234502")
    wait_until(lambda: odoo.events_of("call.bridged", short_call), 15, message="bridged")
    odoo.down = True
    wait_until(
        lambda: [
            e
            for e in outbox_events(engine)
            if e["type"] == "call.ended" and e.get("call_id") == short_call
        ],
        20,
        message="call.ended in the outbox while Odoo is down",
    )
    children = descendants(engine.proc.pid)
    assert children, "the engine runs its workers and edge as child processes"
    engine.proc.send_signal(signal.SIGKILL)
    engine.proc.wait(timeout=10)
    # No worker, Kamailio or rtpengine outlives the controller.
    wait_gone(children, 15)
    assert not odoo.events_of("call.ended", short_call)

    odoo.down = False
    again = EngineProcess(odoo, workdir, phone_port=phone.port)
    engines.append(again)
    again.start()
    # What was waiting on disk arrives, once.
    end = wait_until(lambda: odoo.events_of("call.ended", short_call), 20, message="call.ended")[0]
    assert end["data"]["outcome"] == "answered"
    for event in odoo.events_of(call_id=short_call):
        assert odoo.deliveries.count(event["id"]) == 1, event
    wait_until(lambda: odoo.recordings.get(short_call), 30, message="the recording")
    assert odoo.recording_posts.count(short_call) == 1
    # The commands carried out before the kill are not carried out again: a
    # new dial is the next call created, and the old ones were created once.
    third = dial(odoo, 3, "acme_102", "89161234503")
    created = [e["data"]["odoo_call_id"] for e in odoo.events_of("call.created")]
    assert created == [1, 2, 3], created
    assert third not in (long_call, short_call)
    assert again.stop() == 0, again.log()[-3000:]


def test_sigterm_drains_a_call_in_progress(rig):
    odoo, phone, provider, workdir, engines = rig
    engine = EngineProcess(odoo, workdir, phone_port=phone.port).start()
    engines.append(engine)
    call_id = dial(odoo, 1, "acme_103", "7770001")
    wait_until(lambda: odoo.events_of("call.bridged", call_id), 15, message="bridged")
    children = descendants(engine.proc.pid)
    assert engine.stop(timeout=30) == 0, engine.log()[-3000:]
    # Delivered before the engine exited: the end of the call and its recording.
    end = odoo.events_of("call.ended", call_id)
    assert end and end[0]["data"]["outcome"] == "answered", odoo.events_of(call_id=call_id)
    assert end[0]["data"]["reason"] == "engine stopped"
    # Both ends were hung up, long before the client's 20 s.
    wait_until(lambda: phone.find("disconnected", user="acme_103"), 5, message="user BYE")
    wait_until(lambda: provider.find("disconnected", user="7770001"), 5, message="client BYE")
    wait_gone(children, 10)
    assert not outbox_events(engine)
    # The recording is not part of the drain: delivered before the exit, or
    # kept on disk and delivered at the next start, once.
    again = EngineProcess(odoo, workdir, phone_port=phone.port)
    engines.append(again)
    again.start()
    wait_until(lambda: odoo.recordings.get(call_id), 30, message="the recording")
    assert again.stop() == 0, again.log()[-3000:]
    assert odoo.recording_posts.count(call_id) == 1


def edge_process(engine: EngineProcess) -> int | None:
    """The main Kamailio process: the controller's child running kamailio."""
    for pid in descendants(engine.proc.pid):
        if running(pid) and parent_of(pid) == engine.proc.pid and "kamailio" in command_line(pid):
            return pid
    return None


def parent_of(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as source:
            return int(source.read().rsplit(")", 1)[1].split()[1])
    except OSError:
        return 0


def edge_knows(engine: EngineProcess, login: str) -> bool:
    """Whether the edge's users table has ``login`` (kamcmd)."""
    ctl = os.path.join(engine.state_dir, "edge", "kamailio_ctl")
    answer = subprocess.run(
        ["kamcmd", "-s", f"unix:{ctl}", "htable.get", "users", f"s:{login}"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    return answer.returncode == 0 and "value" in answer.stdout


def test_a_killed_edge_is_restarted_and_phones_register_again(rig):
    """Kamailio killed with -9: the engine starts it again with the phones'
    credentials, so a phone registers and is rung as before."""
    odoo, phone, provider, workdir, engines = rig
    require_kamailio()
    engine = EngineProcess(odoo, workdir).start()  # phones reached through the edge
    engines.append(engine)
    first = wait_until(lambda: edge_process(engine), 10, message="Kamailio")
    # Kamailio's own children outlive its main process killed with -9; left
    # on the SIP port they would take registrations from the new Kamailio.
    orphans = descendants(first)
    assert orphans, "Kamailio runs worker processes"
    os.kill(first, signal.SIGKILL)
    try:
        check_edge_restart(odoo, workdir, engine, first)
        wait_gone(orphans, 10)  # the engine ended the old Kamailio's whole group
    finally:
        for pid in orphans:
            # Only this engine's Kamailio: a pid may have been reused meanwhile.
            if running(pid) and engine.state_dir in command_line(pid):
                os.kill(pid, signal.SIGKILL)


def check_edge_restart(odoo, workdir, engine, first):
    wait_until(
        lambda: edge_process(engine) not in (None, first), 20, message="Kamailio started again"
    )
    # The restarted edge has the users again: a desk phone registers and is rung.
    wait_until(
        lambda: edge_knows(engine, "acme_101"),
        15,
        message="the users in the restarted edge",
    )
    with UserAgentProcess(
        workdir, "desk", 440, register=(engine.sip_port, "acme_101", "x")
    ) as desk:
        assert wait_until(lambda: desk.find("registered"), 15)[-1]["code"] == 200
        wait_until(
            lambda: [
                e
                for e in odoo.events_of("phone.state")
                if e["data"]["login"] == "acme_101" and e["data"]["state"] == "registered"
            ],
            15,
            message="phone.state registered",
        )
        call_id = dial(odoo, 1, "acme_101", "89161234501")
        end = wait_until(lambda: odoo.events_of("call.ended", call_id), 25, message="ended")[0]
        assert end["data"]["outcome"] == "answered", end
        assert desk.find("invite", user="acme_101")
    assert "SIP edge died: restarting it" in engine.log()
    assert engine.stop() == 0, engine.log()[-3000:]
