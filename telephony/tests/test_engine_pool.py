"""The controller's pool and main loop without SIP: media workers are stand-ins
(the real ones are exercised by test_engine_calls), commands come from the
fake Odoo through the controller's own poller thread."""

import os
import tempfile
import threading
import time

import pytest

from telephony.engine.controller import Controller
from telephony.engine.options import Options
from telephony.engine.outbox import read_int
from telephony.engine.pool import CALLS_PER_WORKER, WorkerHandle
from telephony.tests.engine_fixtures import FakeOdoo, write_tone


class _Process:
    pid = 0
    exitcode = None

    def is_alive(self):
        return True

    def join(self, timeout=None):
        return None


class _Conn:
    def __init__(self):
        self.sent = []

    def send(self, message):
        self.sent.append(message)

    def close(self):
        return None


@pytest.fixture
def controller():
    with tempfile.TemporaryDirectory(prefix="engine-pool-") as state_dir:
        ctl = Controller(
            Options(
                odoo_url="http://127.0.0.1:9", key="k", secret="s", state_dir=state_dir, edge=False
            )
        )
        ctl.config = {
            "accounts": [{"id": 1, "sequence": 1}],
            "users": [{"login": "u1"}],
            "settings": {},
        }

        workers = ctl.pool.workers

        def spawn(index=None):
            index = next(i for i in range(len(workers) + 1) if i not in workers)
            handle = WorkerHandle(index=index, process=_Process(), conn=_Conn())
            workers[index] = handle
            return handle

        ctl.pool.spawn = spawn
        try:
            yield ctl
        finally:
            ctl.close()


def _dial(ctl, n):
    ctl.execute({"seq": n, "type": "dial", "call_id": n, "data": {"login": "u1", "number": "1"}})


def _refusals(ctl):
    return [e for e in ctl.outbox.queued if e["type"] == "call.ended"]


def _takers(ctl):
    return ctl.pool.takers()


def test_retiring_workers_do_not_count_against_workers_max(controller):
    ctl = controller
    ctl.options.workers_max = 3
    ctl.pool.spawn().ready = True  # worker 0
    retiring = ctl.pool.spawn()  # an idle worker on its way out
    retiring.ready = retiring.stopping = True
    for n in range(1, 3 * CALLS_PER_WORKER + 3):
        _dial(ctl, n)
        assert len(_takers(ctl)) <= 3
    ctl.pool.keep_spares(time.monotonic())  # spares never pass the maximum either
    assert len(_takers(ctl)) <= 3
    # Three call-taking workers, full; the retiring one took nothing.
    assert sorted(len(h.calls) for h in _takers(ctl)) == [CALLS_PER_WORKER] * 3
    assert not retiring.calls
    assert [e["data"]["reason"] for e in _refusals(ctl)] == ["engine at capacity"] * 2


def test_a_burst_of_dials_gets_spare_workers_started_ahead(controller):
    ctl = controller
    ctl.options.workers_max = 26
    ctl.pool.spawn().ready = True
    ctl.pool.keep_spares(time.monotonic())
    assert len(ctl.pool.workers) == 3  # at rest: two warm spares
    for handle in ctl.pool.workers.values():
        handle.ready = True
    for n in range(1, 11):  # ten dials at once
        _dial(ctl, n)
    for handle in ctl.pool.workers.values():
        handle.ready = True
    ctl.pool.keep_spares(time.monotonic())
    busy = sum(len(h.calls) for h in ctl.pool.workers.values())
    free = sum(CALLS_PER_WORKER - len(h.calls) for h in ctl.pool.workers.values() if h.index != 0)
    assert busy == 10 and not _refusals(ctl)
    # Room for the next second at this rate, started at once (bounded).
    assert free >= 4
    assert len(ctl.pool.workers) <= 26


def test_a_dial_wakes_the_main_loop_at_once(controller):
    ctl = controller
    with FakeOdoo() as odoo:
        ctl.poller.client = type(ctl.client)(odoo.url, odoo.key, odoo.secret)
        ctl.poller.wait = 2
        poller = ctl.poller.start(ctl.after)
        try:
            time.sleep(0.3)  # the poller waits in its long poll
            threading.Timer(0.2, odoo.queue, ("hangup", {"engine_call_id": "c-x"})).start()
            started = time.monotonic()
            ctl.pool.pump(10.0, ctl.inbox)  # the main loop's wait, with no worker at all
            waited = time.monotonic() - started
            assert waited < 2.0, waited  # woken by the command, not the timeout
            assert next(ctl.inbox.items())[0] == "command"
        finally:
            ctl.stop_event.set()
            poller.join(5)


def test_loop_turn_commits_events_and_the_command_position(controller):
    ctl = controller
    _dial(ctl, 7)  # unknown worker pool: spawns a stand-in, queues the order
    ctl.after = 7
    assert ctl.outbox.pending() == []
    ctl.commit()
    assert [e["type"] for e in ctl.outbox.pending()] == ["call.created"]
    assert read_int(ctl.after_path) == 7


def test_idle_spares_retire_down_to_the_wanted_ones_without_churn(controller):
    ctl = controller
    ctl.options.idle_seconds = 0
    for _ in range(6):  # worker 0 and five idle spares left by a burst
        ctl.pool.spawn().ready = True
    time.sleep(0.01)
    for _ in range(3):  # turns of the main loop
        ctl.pool.supervise(time.monotonic())
        assert len(ctl.pool.workers) == 6  # nothing new started
    retiring = sorted(h.index for h in ctl.pool.workers.values() if h.stopping)
    assert len(retiring) == 3
    assert all(("shutdown", None) in ctl.pool.workers[i].conn.sent for i in retiring)
    # Two spares stay warm (four free slots): a few dials at once never wait.
    assert len(_takers(ctl)) == 3 and 0 not in retiring


def test_a_burst_of_hangups_is_converted_in_few_bounded_ffmpeg_runs(controller, monkeypatch):
    from telephony import audio

    ctl = controller
    runs, active, peak, lock = [], [0], [0], threading.Lock()

    def counted(convert):
        def wrapper(arg):
            with lock:
                runs.append(arg)
                active[0] += 1
                peak[0] = max(peak[0], active[0])
            try:
                return convert(arg)
            finally:
                with lock:
                    active[0] -= 1

        return wrapper

    monkeypatch.setattr(audio, "wavs_to_mp3", counted(audio.wavs_to_mp3))
    monkeypatch.setattr(audio, "wav_to_mp3", counted(audio.wav_to_mp3))
    names = [f"c-{n:02d}" for n in range(12)]
    for name in names:
        write_tone(os.path.join(ctl.uploads.dir, name + ".wav"), 440, seconds=1)
    with open(os.path.join(ctl.uploads.dir, "c-bad.wav"), "wb") as out:
        out.write(b"not a wav at all" * 10)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ctl.uploads.deliver_one()  # Odoo unreachable here: the mp3s stay
        left = [n for n in os.listdir(ctl.uploads.dir) if n.endswith(".wav")]
        if not left and not ctl.uploads.busy():
            break
        time.sleep(0.05)
    files = set(os.listdir(ctl.uploads.dir))
    assert {n + ".mp3" for n in names} <= files
    assert "c-bad.wav.bad" in files  # set aside alone, the others converted
    assert peak[0] <= ctl.uploads.convert_max  # never 12 ffmpegs at once
    assert len(runs) <= 2 * ctl.uploads.convert_max  # batches, not one ffmpeg per recording
