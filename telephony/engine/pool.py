"""The pool of media workers: one process each, started on demand, retired idle.

Worker 0 registers the trunks and takes the incoming calls; a click-to-call
goes to the busiest other worker that has a free slot, so idle ones can
retire; a new worker starts when all are full, worker 0 is used last, and
beyond ``--workers-max`` workers the call is refused. Warm spares are kept
so a click-to-call never waits for a process to start. A dead worker's calls
end with ``call.ended`` ("media worker stopped"), keeping the audio recorded
so far; a dead worker 0 (it holds the trunk registrations) is restarted.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import wait as wait_connections
from typing import Any

from .front import SipFront
from .inbox import Inbox
from .options import Options
from .outbox import Outbox
from .uploads import RecordingUploads

_logger = logging.getLogger("telephony.engine.pool")

# The pjsua2 wheel holds 4 calls per process and a call has two legs.
CALLS_PER_WORKER = 2
RTP_PORTS_PER_WORKER = 100
# Spare workers: free click-to-call slots for this many seconds of the recent
# dial rate (a worker starts in 0.2-0.5 s on a busy 2-core machine), at least
# two workers' worth (a few dials at once never wait), at most this many
# workers starting at once.
SPARE_SECONDS = 1.0
SPARE_SLOTS_MIN = 2 * CALLS_PER_WORKER
STARTING_MAX = 4
MESSAGES_PER_TURN = 200  # read from one worker per loop turn, so none starves the rest


@dataclass
class WorkerHandle:
    index: int
    process: Any
    conn: Any
    calls: set = field(default_factory=set)
    ready: bool = False
    pid: int | None = None
    sip_port: int | None = None
    stopping: bool = False
    idle_since: float = field(default_factory=time.monotonic)
    pending: list = field(default_factory=list)  # calls sent before it was ready


class WorkerPool:
    """The media workers, the calls each holds, and what they report."""

    def __init__(
        self,
        options: Options,
        outbox: Outbox,
        uploads: RecordingUploads,
        front: SipFront,
        worker_config: Callable[[int], dict[str, Any]],
    ):
        self.options = options
        self.outbox = outbox
        self.uploads = uploads
        self.front = front
        self.worker_config = worker_config
        self.workers: dict[int, WorkerHandle] = {}
        self.call_worker: dict[str, int] = {}
        self.call_state: dict[str, str] = {}  # last call.* event type per live call
        self.restarts: list[float] = []
        self.mp = multiprocessing.get_context("spawn")
        self.next_spare_at = 0.0
        self.dials: list[float] = []  # when recent dial commands came (spare sizing)
        self.dirty = False  # workers.json to write at the end of the loop turn
        self.shutting_down = False
        self.path = os.path.join(options.state_dir, "workers.json")

    # -- calls -------------------------------------------------------------------
    def pick(self) -> WorkerHandle | None:
        """Where a click-to-call goes. Worker 0 takes the incoming calls, so it
        serves click-to-call only when no other worker can."""
        now = time.monotonic()
        self.dials = [t for t in self.dials if now - t < 2.0] + [now]
        live = [h for h in self.workers.values() if not h.stopping and h.process.is_alive()]
        free = [h for h in live if len(h.calls) < CALLS_PER_WORKER]
        others = [h for h in free if h.index != 0]
        if others:
            # Fill the busiest ready worker that has room, so idle ones can retire.
            return max(others, key=lambda h: (h.ready, len(h.calls), -h.index))
        if len(self.takers()) < self.options.workers_max:
            return self.spawn()
        return free[0] if free else None

    def place(self, handle: WorkerHandle, call_id: str, order: dict[str, Any]) -> None:
        """Give ``handle`` a click-to-call."""
        self._took(handle, call_id)
        self.order(handle, ("dial", order))

    def _took(self, handle: WorkerHandle, call_id: str) -> None:
        handle.calls.add(call_id)
        self.call_worker[call_id] = handle.index
        self.call_state[call_id] = "call.created"
        self.dirty = True

    def hangup(self, call_id: str) -> None:
        index = self.call_worker.get(call_id)
        if index is not None and index in self.workers:
            self.order(self.workers[index], ("hangup", call_id))

    def takers(self) -> list[WorkerHandle]:
        """Workers that take calls: retiring ones do not count against --workers-max."""
        return [h for h in self.workers.values() if not h.stopping]

    # -- processes ---------------------------------------------------------------------
    def spawn(self, index: int | None = None) -> WorkerHandle:
        from .worker import run_worker

        if index is None or index in self.workers:
            index = next(i for i in range(len(self.workers) + 1) if i not in self.workers)
        parent, child = self.mp.Pipe()
        worker_options = {
            "recordings_dir": self.uploads.active_dir,
            "sip_port": 0,
            "rtp_port": self.options.rtp_port_start + index * RTP_PORTS_PER_WORKER,
            "rtp_range": RTP_PORTS_PER_WORKER,
            "log_level": self.options.log_level,
            "pj_log_level": self.options.pj_log_level,
        }
        process = self.mp.Process(
            target=run_worker,
            args=(child, worker_options),
            name=f"media-worker-{index}",
            daemon=True,
        )
        process.start()
        child.close()
        handle = WorkerHandle(index=index, process=process, conn=parent, pid=process.pid)
        self.workers[index] = handle
        self.send(handle, ("config", self.worker_config(index)))
        self.dirty = True
        _logger.info("media worker %d started (pid %s)", index, process.pid)
        return handle

    def configure(self) -> None:
        """The configuration changed: every worker gets its part again."""
        for handle in self.workers.values():
            self.send(handle, ("config", self.worker_config(handle.index)))

    def order(self, handle: WorkerHandle, message: tuple) -> None:
        """A call order: a starting worker gets it once the edge trusts its port."""
        if handle.ready:
            self.send(handle, message)
        else:
            handle.pending.append(message)

    def send(self, handle: WorkerHandle, message: tuple) -> None:
        try:
            handle.conn.send(message)
        except (BrokenPipeError, OSError):
            _logger.warning("media worker %d unreachable", handle.index)

    def send_to(self, index: int, message: tuple) -> None:
        handle = self.workers.get(index)
        if handle is not None:
            self.send(handle, message)

    # -- what the workers say -------------------------------------------------------
    def pump(self, timeout: float, inbox: Inbox) -> None:
        """Wait up to ``timeout`` for the workers' messages or the inbox's wake-up."""
        conns = {h.conn: h for h in self.workers.values()}
        for conn in wait_connections([*conns, inbox.wake_r], timeout=timeout):
            if conn is inbox.wake_r:
                inbox.woken()
            else:
                self._pump_one(conns[conn], gone_on_error=True)

    def _pump_one(self, handle: WorkerHandle, gone_on_error: bool = False) -> None:
        for _ in range(MESSAGES_PER_TURN):
            try:
                if not handle.conn.poll():
                    return
                message = handle.conn.recv()
            except (EOFError, OSError):
                if gone_on_error:
                    self._gone(handle)
                return
            self._on_message(handle, message)

    def _on_message(self, handle: WorkerHandle, message: tuple) -> None:
        kind = message[0]
        if kind == "incoming":
            self._took(handle, message[1])
        elif kind == "event":
            _, event_type, call_id, data, at = message
            if call_id in self.call_state:
                self.call_state[call_id] = event_type
            self.outbox.add(event_type, call_id, data, at)
        elif kind == "recording":
            self.uploads.closed(message[2])
        elif kind == "call_done":
            call_id = message[1]
            handle.calls.discard(call_id)
            self.call_worker.pop(call_id, None)
            self.call_state.pop(call_id, None)
            if not handle.calls:
                handle.idle_since = time.monotonic()
            self.dirty = True
        elif kind == "ready":
            handle.ready = True
            handle.sip_port = message[1].get("sip_port")
            self.front.trust_worker(handle.sip_port)
            for pending in handle.pending:
                self.send(handle, pending)
            handle.pending.clear()
            self.dirty = True
        elif kind == "stopped":
            handle.stopping = True

    def _gone(self, handle: WorkerHandle) -> None:
        """A worker exited: end its calls, keep their audio, restart if needed."""
        self.workers.pop(handle.index, None)
        self.front.trust_worker(handle.sip_port, trusted=False)
        with contextlib.suppress(OSError):
            handle.conn.close()
        handle.process.join(timeout=1)
        expected = handle.stopping
        if not expected:
            _logger.error(
                "media worker %d (pid %s) died with code %s",
                handle.index,
                handle.pid,
                handle.process.exitcode,
            )
            if not handle.ready:
                # It died starting: no new spare for a while, or we would loop.
                self.next_spare_at = time.monotonic() + 10
        for call_id in sorted(handle.calls):
            last = self.call_state.pop(call_id, "")
            outcome = {"call.bridged": "answered", "call.forwarded": "forwarded"}.get(
                last, "failed"
            )
            self.outbox.add(
                "call.ended", call_id, {"outcome": outcome, "reason": "media worker stopped"}
            )
            self.call_worker.pop(call_id, None)
            self.uploads.closed(self.uploads.active_path(call_id))
        handle.calls.clear()
        if not expected and not self.shutting_down and (handle.index == 0 or not self.workers):
            now = time.monotonic()
            self.restarts = [t for t in self.restarts if now - t < 60] + [now]
            if len(self.restarts) > 5:
                _logger.error("media workers keep dying; waiting before a restart")
                time.sleep(min(5, self.options.retry_max))
            replacement = self.spawn(handle.index)
            _logger.info("media worker %d restarted (pid %s)", replacement.index, replacement.pid)
        self.dirty = True

    # -- supervision ---------------------------------------------------------------------
    def supervise(self, now: float) -> None:
        """Account for dead workers, retire idle ones, keep the spares warm."""
        for handle in list(self.workers.values()):
            if not handle.process.is_alive():
                # Drain what it said before dying, then account for it.
                self._pump_one(handle)
                if handle.index in self.workers:
                    self._gone(handle)
            elif (
                handle.index != 0
                and not handle.calls
                and not handle.stopping
                and now - handle.idle_since > self.options.idle_seconds
                and self._free_slots(exclude=handle) >= self._spare_slots_wanted(now)
            ):
                _logger.info("media worker %d idle: retiring it", handle.index)
                handle.stopping = True
                self.send(handle, ("shutdown", None))
        if not self.shutting_down and 0 in self.workers and now >= self.next_spare_at:
            self.keep_spares(now)

    def keep_spares(self, now: float) -> None:
        """Warm spares: a click-to-call (or a burst of them) never waits for a
        worker to start. Enough free slots for SPARE_SECONDS of the dial rate
        of the last two seconds, at least SPARE_SLOTS_MIN."""
        wanted = self._spare_slots_wanted(now)
        for _ in range(STARTING_MAX):
            free = self._free_slots()
            starting = sum(1 for h in self.workers.values() if not h.ready and not h.stopping)
            if (
                free >= wanted
                or starting >= STARTING_MAX
                or len(self.takers()) >= self.options.workers_max
            ):
                return
            self.spawn()

    def _spare_slots_wanted(self, now: float) -> int:
        self.dials = [t for t in self.dials if now - t < 2.0]
        return max(SPARE_SLOTS_MIN, round(len(self.dials) / 2 * SPARE_SECONDS))

    def _free_slots(self, exclude: WorkerHandle | None = None) -> int:
        """Free click-to-call slots on the workers other than 0 that take calls."""
        return sum(
            CALLS_PER_WORKER - len(h.calls)
            for h in self.workers.values()
            if h.index != 0
            and h is not exclude
            and not h.stopping
            and len(h.calls) < CALLS_PER_WORKER
        )

    def stop(self, inbox: Inbox) -> None:
        """Every worker hangs up and exits (10 s at most, then it is killed)."""
        self.shutting_down = True
        for handle in self.workers.values():
            handle.stopping = True
            self.send(handle, ("shutdown", None))
        deadline = time.monotonic() + 10
        while self.workers and time.monotonic() < deadline:
            self.pump(0.1, inbox)
            for handle in list(self.workers.values()):
                if not handle.process.is_alive():
                    self._pump_one(handle)
                    self._gone(handle)
        for handle in list(self.workers.values()):
            _logger.warning("media worker %d did not stop: killing it", handle.index)
            handle.process.kill()
            self._gone(handle)

    def save(self) -> None:
        """workers.json: who runs where, for operators (and tests). Replaced
        whole (never torn) but not fsynced: it describes the running engine."""
        if not self.dirty:
            return
        self.dirty = False
        info = [
            {"index": h.index, "pid": h.pid, "sip_port": h.sip_port, "calls": sorted(h.calls)}
            for h in sorted(self.workers.values(), key=lambda h: h.index)
        ]
        with open(self.path + ".tmp", "wb") as out:
            out.write(json.dumps(info).encode())
        os.replace(self.path + ".tmp", self.path)
