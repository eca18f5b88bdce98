"""Controller: the engine's main process.

It reads the configuration from Odoo, long-polls commands, supervises the
pool of media workers (one pjsua2 endpoint each, at most 4 calls each), turns
what they report into events in the on-disk outbox, and delivers events and
recordings to Odoo. It never touches pjsua2 itself.

Threads: the main loop (commands, workers, supervision), a command poller
(one long poll at a time) and a delivery thread (outbox, then recordings).
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import queue
import signal
import socket
import threading
import time
import uuid
import wave
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import wait as wait_connections
from typing import Any

from telephony import protocol
from telephony.engine.odoo_client import (
    ROUTE_COMMANDS,
    ROUTE_CONFIG,
    ROUTE_EVENTS,
    ROUTE_RECORDING,
    OdooClient,
)
from telephony.engine.outbox import Outbox, read_int, write_atomic
from telephony.engine.wavfile import BAD, OPEN, repair_wav, wav_state

_logger = logging.getLogger("telephony.engine")

ENGINE_VERSION = "1.0"
# The pjsua2 wheel holds 4 calls per process and a call has two legs.
CALLS_PER_WORKER = 2
# 50 simultaneous click-to-call calls need 25 workers besides worker 0 (which
# takes them last); 32 (31 besides worker 0) leave room for the calls still
# ringing or hanging up when 30 calls a second come. Workers start on demand
# and retire when idle; one holds 33-38 MiB RSS, about 1.2 GiB at the ceiling.
WORKERS_MAX_DEFAULT = 32
GREETING_MAX_BYTES = 16 * 1024 * 1024  # 8 kHz 16-bit mono: 17 minutes
WAV_SETTLE_SECONDS = 5.0  # an unfinished WAV untouched this long lost its writer
_VERSION_SAFE = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-."
RTP_PORTS_PER_WORKER = 100
# The main loop wakes for worker messages and commands (wake socket); this
# bounds how long supervision (dead workers, spares, the edge) can wait.
LOOP_SECONDS = 0.25
# The edge's registrations (phone.state events) and liveness, checked this often.
EDGE_POLL_SECONDS = 1.0
# Spare workers: free click-to-call slots for this many seconds of the recent
# dial rate (a worker starts in 0.2-0.5 s on a busy 2-core machine), at least
# two workers' worth (a few dials at once never wait), at most this many
# workers starting at once.
SPARE_SECONDS = 1.0
SPARE_SLOTS_MIN = 2 * CALLS_PER_WORKER
STARTING_MAX = 4
# WAVs converted by one ffmpeg run: its start costs more CPU than a short call.
CONVERT_BATCH_MAX = 16


@dataclass
class Options:
    odoo_url: str
    key: str
    secret: str
    state_dir: str
    sip_port: int = 5060
    rtp_port_start: int = 20000
    workers_max: int = WORKERS_MAX_DEFAULT
    phone_uri: str = "sip:{login}@127.0.0.1:{sip_port}"
    register_timeout: float = 30.0
    heartbeat: float = 30.0
    poll_wait: int = 25
    retry_max: float = 30.0
    idle_seconds: float = 30.0
    drain_seconds: float = 10.0
    log_level: int = logging.INFO
    pj_log_level: int = 2
    edge: bool = True
    pike_density: int = 30
    ws_port: int = 5066  # SIP over WebSocket for browsers; 0: none
    ws_origins: list = field(default_factory=list)  # web origins allowed to connect
    relay_ng_port: int = 22222  # rtpengine's control port (loopback UDP)
    relay_port_min: int = 30000  # rtpengine's media ports
    relay_port_max: int = 30999


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


def _lower_priority() -> None:
    """Conversion threads yield to the media: on Linux a thread has its own
    nice value, and the ffmpeg it starts inherits it."""
    with contextlib.suppress(OSError):
        os.nice(10)


class Backoff:
    """Exponential retry delay: 0.5 s doubling up to ``cap``."""

    def __init__(self, cap: float):
        self.cap = cap
        self.delay = 0.0

    def failed(self) -> float:
        self.delay = min(self.cap, max(0.5, self.delay * 2))
        return self.delay

    def reset(self) -> None:
        self.delay = 0.0


class Controller:
    def __init__(self, options: Options):
        self.options = options
        self.client = OdooClient(options.odoo_url, options.key, options.secret)
        self.state_dir = options.state_dir
        self.recordings_dir = os.path.join(self.state_dir, "recordings")
        self.active_dir = os.path.join(self.recordings_dir, "active")
        for path in (self.state_dir, self.recordings_dir, self.active_dir):
            os.makedirs(path, mode=0o700, exist_ok=True)
        self.after_path = os.path.join(self.state_dir, "after")
        self.after = read_int(self.after_path)
        self.outbox = Outbox(self.state_dir)
        self.config: dict[str, Any] = {}
        self.inbox: queue.Queue = queue.Queue()
        self.stop_event = threading.Event()  # stops the poller
        self.delivery_stop = threading.Event()
        self.shutdown_requested = False
        self.workers: dict[int, WorkerHandle] = {}
        self.call_worker: dict[str, int] = {}
        self.call_state: dict[str, str] = {}  # last call.* event type per live call
        self.restarts: list[float] = []
        self.mp = multiprocessing.get_context("spawn")
        self.backoff_cap = options.retry_max
        self.edge = None
        self.relay = None
        self.next_edge_poll = 0.0
        self.ring_logins: list[str] = []
        self.next_spare_at = 0.0
        self.greeting_dir = os.path.join(self.state_dir, "greeting")
        os.makedirs(self.greeting_dir, mode=0o700, exist_ok=True)
        self.greeting: dict[str, Any] | None = None  # {"version", "path", "seconds"}
        self.greeting_wanted: tuple[str, str] | None = None  # (version, url)
        self.greeting_thread: threading.Thread | None = None
        # Wakes the main loop when another thread queued something in the inbox.
        self.wake_r, self.wake_w = socket.socketpair()
        self.wake_r.setblocking(False)
        self.wake_w.setblocking(False)
        self.after_saved = self.after
        self.workers_dirty = False
        self.dials: list[float] = []  # when recent dial commands came (spare sizing)
        # mp3 conversions: off the delivery thread, at most one per CPU at a time.
        self.convert_max = max(1, min(4, os.cpu_count() or 1))
        self.converters = ThreadPoolExecutor(
            max_workers=self.convert_max, thread_name_prefix="mp3", initializer=_lower_priority
        )
        self.converting: set[str] = set()  # WAV names being converted
        self.converting_batches = 0  # conversions submitted, not finished
        self.convert_lock = threading.Lock()

    # -- entry ----------------------------------------------------------------
    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        self._recover_recordings()
        delivery = threading.Thread(target=self._delivery_loop, name="delivery", daemon=True)
        delivery.start()
        if not self._fetch_config(block=True):
            return self._finish(delivery)
        # The edge (and the media relay) first: once Odoo hears "started",
        # phones can register with the current logins.
        self._start_edge()
        self.outbox.add("engine.started", None, {"version": ENGINE_VERSION})
        self.ring_logins = self._available_logins()
        self._spawn_worker()
        if self.edge is not None:
            threading.Thread(
                target=self._registrations_loop, args=(self.edge,), name="edge", daemon=True
            ).start()
        poller = threading.Thread(target=self._poll_loop, name="commands", daemon=True)
        poller.start()
        next_heartbeat = time.monotonic() + self.options.heartbeat
        while not self.shutdown_requested:
            self._pump_workers(LOOP_SECONDS)
            self._drain_inbox()
            self._supervise()
            if time.monotonic() >= next_heartbeat:
                next_heartbeat = time.monotonic() + self.options.heartbeat
                self.outbox.add("engine.heartbeat", None, {})
            self._commit()
        _logger.info("shutting down")
        self.stop_event.set()
        self._stop_workers()
        if self.edge is not None:
            self.edge.stop()
        if self.relay is not None:
            self.relay.stop()
        return self._finish(delivery)

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self.shutdown_requested:
            _logger.warning("second signal: exiting at once")
            os._exit(1)
        self.shutdown_requested = True
        self.stop_event.set()
        self._wake()

    def _wake(self) -> None:
        """Make the main loop look at its inbox now (any thread, signal handlers too)."""
        with contextlib.suppress(OSError):  # full: a wake-up is already pending
            self.wake_w.send(b"\0")

    def _commit(self) -> None:
        """End of a loop turn: the turn's events to disk in one go, then ``after``."""
        self.outbox.flush()
        if self.workers_dirty:
            self._save_workers()
        if self.after != self.after_saved:
            write_atomic(self.after_path, str(self.after).encode())
            self.after_saved = self.after

    def _finish(self, delivery: threading.Thread) -> int:
        """Drain the outbox (bounded by a deadline), then stop delivering."""
        self._commit()
        deadline = time.monotonic() + self.options.drain_seconds
        while len(self.outbox) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.delivery_stop.set()
        self.outbox.changed.set()
        delivery.join(timeout=5)
        self.converters.shutdown(wait=True, cancel_futures=True)
        left = len(self.outbox)
        if left:
            _logger.warning("%d events stay in the outbox for the next start", left)
        return 0

    # -- configuration ----------------------------------------------------------
    def _fetch_config(self, block: bool = False) -> bool:
        backoff = Backoff(self.backoff_cap)
        while True:
            status, payload = self.client.post_json(ROUTE_CONFIG, {})
            if status == 200 and isinstance(payload, dict):
                self.config = payload
                _logger.info(
                    "configuration %s: %d accounts, %d users",
                    payload.get("version"),
                    len(payload.get("accounts") or []),
                    len(payload.get("users") or []),
                )
                self._edge_users()
                self.ring_logins = self._available_logins()
                self._sync_greeting()
                self._configure_workers()
                return True
            if not block or self.stop_event.wait(backoff.failed()):
                return False

    def _accounts(self) -> list[dict[str, Any]]:
        accounts = sorted(
            self.config.get("accounts") or [], key=lambda a: (a.get("sequence", 0), a.get("id", 0))
        )
        return accounts[:3]

    def _worker_config(self, index: int) -> dict[str, Any]:
        # Only worker 0 registers the trunks: a provider accepts one contact,
        # so incoming calls reach worker 0.
        sip_port = self.options.sip_port
        return {
            "accounts": self._accounts(),
            "settings": self.config.get("settings") or {},
            "register": index == 0,
            "register_timeout": self.options.register_timeout,
            "incoming": {
                "ring_logins": list(self.ring_logins),
                "ring_uri": f"sip:ring@127.0.0.1:{sip_port}" if self.edge is not None else None,
                "phone_uri": self.options.phone_uri.replace("{sip_port}", str(sip_port)),
                "greeting": dict(self.greeting) if self.greeting else None,
            },
        }

    def _configure_workers(self) -> None:
        for handle in self.workers.values():
            self._send(handle, ("config", self._worker_config(handle.index)))

    # -- incoming calls: who rings, what the caller hears ------------------------------
    def _available_logins(self) -> list[str]:
        """Logins an incoming call rings: they accept incoming calls and, with
        the edge, their phone is registered there."""
        logins = []
        for user in self.config.get("users") or []:
            login = user.get("login")
            if not login or user.get("accept_incoming", True) is False:
                continue
            if self.edge is not None and login not in self.edge.registered:
                continue
            logins.append(login)
        return sorted(logins)

    def _update_ring_logins(self) -> None:
        logins = self._available_logins()
        if logins != self.ring_logins:
            self.ring_logins = logins
            handle = self.workers.get(0)
            if handle is not None:
                self._send(handle, ("ring_logins", logins))

    def _sync_greeting(self) -> None:
        """Follow the configuration's greeting; fetch it only when its version changes."""
        settings = self.config.get("settings") or {}
        url = settings.get("greeting_url") or ""
        version = str(settings.get("greeting_version") or "")
        if not url:
            self.greeting_wanted = None
            if self.greeting is not None:
                _logger.info("greeting removed")
            self.greeting = None
            self._prune_greetings(keep=None)
            return
        version = version or "unversioned"
        if self.greeting and self.greeting["version"] == version:
            return
        cached = self._greeting_path(version)
        if os.path.exists(cached):
            seconds = self._check_greeting(cached)
            if seconds is not None:
                self.greeting = {"version": version, "path": cached, "seconds": seconds}
                self.greeting_wanted = None
                self._prune_greetings(keep=cached)
                return
        # Until the new one arrives, callers hear the previous greeting, if any.
        self.greeting_wanted = (version, url)
        if self.greeting_thread is None or not self.greeting_thread.is_alive():
            self.greeting_thread = threading.Thread(
                target=self._greeting_loop, name="greeting", daemon=True
            )
            self.greeting_thread.start()

    def _greeting_path(self, version: str) -> str:
        safe = "".join(c for c in version if c in _VERSION_SAFE)[:64] or "greeting"
        return os.path.join(self.greeting_dir, f"{safe}.wav")

    @staticmethod
    def _check_greeting(path: str) -> float | None:
        """Its length in seconds if ``path`` is an 8 kHz mono 16-bit WAV, else None."""
        try:
            with wave.open(path, "rb") as source:
                shape = (source.getframerate(), source.getnchannels(), source.getsampwidth())
                frames = source.getnframes()
        except (OSError, EOFError, wave.Error):
            return None
        if shape != (8000, 1, 2) or frames <= 0:
            return None
        return frames / 8000.0

    def _prune_greetings(self, keep: str | None) -> None:
        for name in os.listdir(self.greeting_dir):
            path = os.path.join(self.greeting_dir, name)
            if path != keep:
                with contextlib.suppress(OSError):
                    os.unlink(path)

    def _greeting_loop(self) -> None:
        """Thread: download the wanted greeting, retrying with a backoff."""
        backoff = Backoff(self.backoff_cap)
        while not self.stop_event.is_set():
            wanted = self.greeting_wanted
            if wanted is None:
                return
            version, url = wanted
            status, body, _headers = self.client.fetch(url, {"version": version}, timeout=60)
            if wanted != self.greeting_wanted:
                continue  # superseded while downloading
            if status == 200 and 0 < len(body) <= GREETING_MAX_BYTES:
                path = self._greeting_path(version)
                write_atomic(path + ".part", body)
                seconds = self._check_greeting(path + ".part")
                if seconds is not None:
                    os.replace(path + ".part", path)
                    self.inbox.put(("greeting", (version, path, seconds)))
                    self._wake()
                    return
                os.unlink(path + ".part")
                _logger.error("greeting %s is not an 8 kHz mono 16-bit WAV: ignored", version)
                return
            if status in (403, 404):
                _logger.error("greeting %s: Odoo answered %s", version, status)
            self.stop_event.wait(backoff.failed())

    def _greeting_arrived(self, version: str, path: str, seconds: float) -> None:
        if self.greeting_wanted is None or self.greeting_wanted[0] != version:
            return
        self.greeting_wanted = None
        self.greeting = {"version": version, "path": path, "seconds": seconds}
        self._prune_greetings(keep=path)
        _logger.info("greeting %s: %.1f s", version, seconds)
        self._configure_workers()

    # -- SIP edge --------------------------------------------------------------------
    def _start_edge(self) -> None:
        if not self.options.edge:
            return
        from telephony.engine.edge import SipEdge

        ws_port = self.options.ws_port
        if ws_port:
            ws_port = self._start_relay()
        self.edge = SipEdge(
            self.state_dir,
            self.options.sip_port,
            self.options.pike_density,
            ws_port=ws_port,
            rtpengine_port=self.options.relay_ng_port,
            ws_origins=self.options.ws_origins,
        )
        try:
            self.edge.start()
        except RuntimeError as error:
            _logger.error("SIP edge unavailable, phones cannot register: %s", error)
            self.edge = None
            return
        self._edge_users()

    def _start_relay(self) -> int:
        """Start rtpengine for browsers; the WebSocket port, or 0 without a relay
        (browsers could register but never hear anything)."""
        from telephony.engine.relay import MediaRelay

        try:
            self.relay = MediaRelay(
                self.state_dir,
                self.options.relay_ng_port,
                self.options.relay_port_min,
                self.options.relay_port_max,
            )
            self.relay.start()
        except (RuntimeError, ValueError, OSError) as error:
            _logger.error("no calls in the browser (WebSocket port closed): %s", error)
            self.relay = None
            return 0
        return self.options.ws_port

    def _edge_users(self) -> None:
        if self.edge is not None:
            self.edge.set_users(
                {
                    u.get("login"): u.get("password") or ""
                    for u in self.config.get("users") or []
                    if u.get("login")
                }
            )

    def _watch_edge(self, now: float) -> None:
        """Restart a dead edge or media relay (registrations: _registrations_loop)."""
        if self.edge is None or now < self.next_edge_poll:
            return
        self.next_edge_poll = now + EDGE_POLL_SECONDS
        if self.relay is not None and not self.relay.alive():
            _logger.error("media relay died: restarting it")
            try:
                self.relay.restart()
            except RuntimeError as error:
                _logger.error("media relay restart failed: %s", error)
        if not self.edge.alive():
            _logger.error("SIP edge died: restarting it")
            try:
                self.edge.restart()
            except RuntimeError as error:
                _logger.error("SIP edge restart failed: %s", error)

    def _registrations_loop(self, edge: Any) -> None:
        """Thread: ask the edge for its registrations (``kamcmd ul.dump``, tens
        of ms on a busy machine) and hand changes to the main loop, which must
        not wait for it while a dial is due. A dead or restarting edge does not
        answer: skipped until it does."""
        last: set[str] | None = None
        while not self.stop_event.is_set():
            now = edge.registrations()
            if now is not None and now != last:
                last = now
                self.inbox.put(("registrations", now))
                self._wake()
            self.stop_event.wait(EDGE_POLL_SECONDS)

    def _registrations_changed(self, now: set[str]) -> None:
        """Turn phone registrations into phone.state events."""
        if self.edge is None:
            return
        added, removed = self.edge.update_registrations(now)
        for login in sorted(added):
            self.outbox.add("phone.state", None, {"login": login, "state": "registered"})
        for login in sorted(removed):
            self.outbox.add("phone.state", None, {"login": login, "state": "unregistered"})
        self._update_ring_logins()

    # -- commands --------------------------------------------------------------
    def _poll_loop(self) -> None:
        """Long-poll commands; hand them to the main loop in seq order."""
        backoff = Backoff(min(self.backoff_cap, 10))
        fetched = self.after
        while not self.stop_event.is_set():
            wait = self.options.poll_wait
            status, payload = self.client.post_json(
                ROUTE_COMMANDS, {"after": fetched, "wait": wait}, timeout=wait + 10
            )
            if status != 200 or not isinstance(payload, dict):
                self.stop_event.wait(backoff.failed())
                continue
            backoff.reset()
            commands = sorted(payload.get("commands") or [], key=lambda c: c.get("seq", 0))
            for command in commands:
                seq = int(command.get("seq", 0))
                if seq > fetched:
                    fetched = seq
                    self.inbox.put(("command", command))
            version = payload.get("config_version")
            if version and version != self.config.get("version"):
                self.inbox.put(("config", version))
            if commands or version:
                self._wake()

    def _drain_inbox(self) -> None:
        for _ in range(100):
            try:
                kind, item = self.inbox.get_nowait()
            except queue.Empty:
                return
            if kind == "config":
                if item != self.config.get("version"):
                    self._fetch_config()
            elif kind == "command":
                self._execute(item)
            elif kind == "greeting":
                self._greeting_arrived(*item)
            elif kind == "registrations":
                self._registrations_changed(item)

    def _execute(self, command: dict[str, Any]) -> None:
        seq = int(command.get("seq", 0))
        if seq <= self.after:
            return  # already carried out before a restart
        kind = command.get("type")
        try:
            if kind == "dial":
                self._dial(command)
            elif kind == "hangup":
                call_id = (command.get("data") or {}).get("engine_call_id")
                index = self.call_worker.get(call_id)
                if index is not None and index in self.workers:
                    self._order(self.workers[index], ("hangup", call_id))
            elif kind == "config.changed":
                self._fetch_config()
            else:
                _logger.info("ignoring command of unknown type %r", kind)
        except Exception:
            _logger.exception("command %s (%s) failed", seq, kind)
        self.after = seq  # saved at the end of the loop turn (_commit)

    def _dial(self, command: dict[str, Any]) -> None:
        data = command.get("data") or {}
        call_id = "c-" + uuid.uuid4().hex[:24]
        accounts = self._accounts()
        account_id = data.get("account_id") or (accounts[0]["id"] if accounts else None)
        created = {
            "direction": "outbound",
            "number": str(data.get("number") or "")[:64] or "?",
            "odoo_call_id": command.get("call_id"),
        }
        if isinstance(account_id, int):
            created["account_id"] = account_id
        self.outbox.add("call.created", call_id, created)
        login = data.get("login") or ""
        users = {u.get("login") for u in self.config.get("users") or []}
        if login not in users:
            return self._refuse(call_id, "unknown telephony login")
        if not accounts:
            return self._refuse(call_id, "no SIP account")
        handle = self._pick_worker()
        if handle is None:
            return self._refuse(call_id, "engine at capacity")
        settings = self.config.get("settings") or {}
        order = {
            "call_id": call_id,
            "login": login,
            "phone_uri": self.options.phone_uri.format(login=login, sip_port=self.options.sip_port),
            "number": data.get("number") or "",
            "dial": data.get("dial") or data.get("number") or "",
            "account_id": account_id,
            "caller_name": data.get("caller_name") or "",
            "odoo_call_id": command.get("call_id"),
            "ring_time": settings.get("ring_time") or 15,
            "record": settings.get("recording", True),
        }
        handle.calls.add(call_id)
        self.call_worker[call_id] = handle.index
        self.call_state[call_id] = "call.created"
        self._order(handle, ("dial", order))
        self._write_workers()

    def _refuse(self, call_id: str, reason: str) -> None:
        _logger.warning("call %s refused: %s", call_id, reason)
        self.outbox.add("call.ended", call_id, {"outcome": "failed", "reason": reason})

    # -- workers ---------------------------------------------------------------
    def _pick_worker(self) -> WorkerHandle | None:
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
        if len(self._takers()) < self.options.workers_max:
            return self._spawn_worker()
        return free[0] if free else None

    def _takers(self) -> list[WorkerHandle]:
        """Workers that take calls: retiring ones do not count against --workers-max."""
        return [h for h in self.workers.values() if not h.stopping]

    def _spawn_worker(self, index: int | None = None) -> WorkerHandle:
        from telephony.engine.worker import run_worker

        if index is None or index in self.workers:
            index = next(i for i in range(len(self.workers) + 1) if i not in self.workers)
        parent, child = self.mp.Pipe()
        worker_options = {
            "recordings_dir": self.active_dir,
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
        self._send(handle, ("config", self._worker_config(index)))
        self._write_workers()
        _logger.info("media worker %d started (pid %s)", index, process.pid)
        return handle

    def _order(self, handle: WorkerHandle, message: tuple) -> None:
        """A call order: a starting worker gets it once the edge trusts its port."""
        if handle.ready:
            self._send(handle, message)
        else:
            handle.pending.append(message)

    def _send(self, handle: WorkerHandle, message: tuple) -> None:
        try:
            handle.conn.send(message)
        except (BrokenPipeError, OSError):
            _logger.warning("media worker %d unreachable", handle.index)

    def _pump_workers(self, timeout: float) -> None:
        conns = {h.conn: h for h in self.workers.values()}
        for conn in wait_connections([*conns, self.wake_r], timeout=timeout):
            if conn is self.wake_r:
                with contextlib.suppress(OSError):
                    while self.wake_r.recv(4096):
                        pass
                continue
            handle = conns[conn]
            for _ in range(200):
                try:
                    if not conn.poll():
                        break
                    message = conn.recv()
                except (EOFError, OSError):
                    self._worker_gone(handle)
                    break
                self._on_worker_message(handle, message)

    def _on_worker_message(self, handle: WorkerHandle, message: tuple) -> None:
        kind = message[0]
        if kind == "incoming":
            call_id = message[1]
            handle.calls.add(call_id)
            self.call_worker[call_id] = handle.index
            self.call_state[call_id] = "call.created"
            self._write_workers()
        elif kind == "event":
            _, event_type, call_id, data, at = message
            if call_id in self.call_state:
                self.call_state[call_id] = event_type
            self.outbox.add(event_type, call_id, data, at)
        elif kind == "recording":
            _, call_id, wav_path = message
            self._recording_done(wav_path)
        elif kind == "call_done":
            call_id = message[1]
            handle.calls.discard(call_id)
            self.call_worker.pop(call_id, None)
            self.call_state.pop(call_id, None)
            if not handle.calls:
                handle.idle_since = time.monotonic()
            self._write_workers()
        elif kind == "ready":
            handle.ready = True
            handle.sip_port = message[1].get("sip_port")
            if self.edge is not None:
                self.edge.add_worker(f"127.0.0.1:{handle.sip_port}")
            for pending in handle.pending:
                self._send(handle, pending)
            handle.pending.clear()
            self._write_workers()
        elif kind == "stopped":
            handle.stopping = True

    def _recording_done(self, wav_path: str) -> None:
        """Move a closed WAV from active/ to the delivery queue directory."""
        if os.path.exists(wav_path):
            target = os.path.join(self.recordings_dir, os.path.basename(wav_path))
            os.replace(wav_path, target)
            self.outbox.changed.set()

    def _worker_gone(self, handle: WorkerHandle) -> None:
        """A worker exited: end its calls, keep their audio, restart if needed."""
        self.workers.pop(handle.index, None)
        if self.edge is not None and handle.sip_port:
            self.edge.remove_worker(f"127.0.0.1:{handle.sip_port}")
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
            self._recording_done(os.path.join(self.active_dir, f"{call_id}.wav"))
        handle.calls.clear()
        if not expected and not self.shutdown_requested and (handle.index == 0 or not self.workers):
            now = time.monotonic()
            self.restarts = [t for t in self.restarts if now - t < 60] + [now]
            if len(self.restarts) > 5:
                _logger.error("media workers keep dying; waiting before a restart")
                time.sleep(min(5, self.options.retry_max))
            replacement = self._spawn_worker(handle.index)
            _logger.info("media worker %d restarted (pid %s)", replacement.index, replacement.pid)
        self._write_workers()

    def _supervise(self) -> None:
        now = time.monotonic()
        self._watch_edge(now)
        for handle in list(self.workers.values()):
            if not handle.process.is_alive():
                # Drain what it said before dying, then account for it.
                self._pump_one(handle)
                if handle.index in self.workers:
                    self._worker_gone(handle)
            elif (
                handle.index != 0
                and not handle.calls
                and not handle.stopping
                and now - handle.idle_since > self.options.idle_seconds
                and self._free_slots(exclude=handle) >= self._spare_slots_wanted(now)
            ):
                _logger.info("media worker %d idle: retiring it", handle.index)
                handle.stopping = True
                self._send(handle, ("shutdown", None))
        if not self.shutdown_requested and 0 in self.workers and now >= self.next_spare_at:
            self._keep_spares(now)

    def _keep_spares(self, now: float) -> None:
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
                or len(self._takers()) >= self.options.workers_max
            ):
                return
            self._spawn_worker()

    def _spare_slots_wanted(self, now: float) -> int:
        self.dials = [t for t in self.dials if now - t < 2.0]
        return max(SPARE_SLOTS_MIN, round(len(self.dials) / 2 * SPARE_SECONDS))

    def _free_slots(self, exclude: WorkerHandle | None = None) -> int:
        """Free click-to-call slots on the spares (workers other than 0)."""
        return sum(CALLS_PER_WORKER - len(h.calls) for h in self._spares(exclude))

    def _spares(self, exclude: WorkerHandle | None = None) -> list[WorkerHandle]:
        """Workers other than 0 with room for a click-to-call."""
        return [
            h
            for h in self.workers.values()
            if h.index != 0
            and h is not exclude
            and not h.stopping
            and len(h.calls) < CALLS_PER_WORKER
        ]

    def _pump_one(self, handle: WorkerHandle) -> None:
        for _ in range(200):
            try:
                if not handle.conn.poll():
                    return
                self._on_worker_message(handle, handle.conn.recv())
            except (EOFError, OSError):
                return

    def _stop_workers(self) -> None:
        for handle in self.workers.values():
            handle.stopping = True
            self._send(handle, ("shutdown", None))
        deadline = time.monotonic() + 10
        while self.workers and time.monotonic() < deadline:
            self._pump_workers(0.1)
            for handle in list(self.workers.values()):
                if not handle.process.is_alive():
                    self._pump_one(handle)
                    self._worker_gone(handle)
        for handle in list(self.workers.values()):
            _logger.warning("media worker %d did not stop: killing it", handle.index)
            handle.process.kill()
            self._worker_gone(handle)

    def _write_workers(self) -> None:
        """workers.json changed: written at the end of the loop turn (_commit)."""
        self.workers_dirty = True

    def _save_workers(self) -> None:
        """workers.json: who runs where, for operators (and tests). Replaced
        whole (never torn) but not fsynced: it describes the running engine."""
        self.workers_dirty = False
        info = [
            {"index": h.index, "pid": h.pid, "sip_port": h.sip_port, "calls": sorted(h.calls)}
            for h in sorted(self.workers.values(), key=lambda h: h.index)
        ]
        path = os.path.join(self.state_dir, "workers.json")
        with open(path + ".tmp", "wb") as out:
            out.write(json.dumps(info).encode())
        os.replace(path + ".tmp", path)

    # -- delivery ----------------------------------------------------------------
    def _recover_recordings(self) -> None:
        """Recordings of calls cut by a crash are still worth delivering."""
        for name in os.listdir(self.active_dir):
            if name.endswith(".wav"):
                self._recording_done(os.path.join(self.active_dir, name))

    def _delivery_loop(self) -> None:
        backoff = Backoff(self.backoff_cap)
        while not self.delivery_stop.is_set():
            try:
                progressed = self._deliver_once()
            except Exception:
                _logger.exception("delivery failed")
                progressed = False
            if progressed is None:  # nothing to do
                backoff.reset()
                self.outbox.changed.wait(1.0)
                self.outbox.changed.clear()
            elif progressed:
                backoff.reset()
            else:
                self.delivery_stop.wait(backoff.failed())

    def _deliver_once(self) -> bool | None:
        """Send one batch of events, else one recording. None: nothing pending."""
        events = self.outbox.pending()
        if events:
            body = protocol.encode({"protocol": protocol.PROTOCOL_VERSION, "events": events})
            status, payload = self.client.post(ROUTE_EVENTS, body)
            if status != 200:
                return False
            if isinstance(payload, dict):
                for rejected in payload.get("rejected") or []:
                    _logger.error(
                        "Odoo rejected event %s: %s", rejected.get("id"), rejected.get("error")
                    )
            self.outbox.remove(events)  # accepted, duplicate or rejected: all final
            return True
        return self._deliver_recording()

    def _deliver_recording(self) -> bool | None:
        """Start the conversions that have room in the pool, then upload one mp3."""
        names = sorted(os.listdir(self.recordings_dir))
        ready = []
        for name in names:
            if self.converting_batches >= self.convert_max:
                break
            path = os.path.join(self.recordings_dir, name)
            if (
                name.endswith(".wav")
                and name not in self.converting
                and not os.path.exists(path[:-4] + ".mp3")
            ):
                state = wav_state(path)
                if state == OPEN and time.time() - os.path.getmtime(path) < WAV_SETTLE_SECONDS:
                    continue  # pjmedia is still closing it: come back later
                ready.append((name, state))
        if ready:
            # Spread over the idle converters, in batches (one ffmpeg start each).
            idle = max(1, self.convert_max - self.converting_batches)
            size = min(CONVERT_BATCH_MAX, -(-len(ready) // idle))
            for start in range(0, len(ready), size):
                if self.converting_batches >= self.convert_max:
                    break
                batch = ready[start : start + size]
                with self.convert_lock:
                    self.converting.update(name for name, _state in batch)
                    self.converting_batches += 1
                self.converters.submit(self._convert, batch)
        for name in names:
            if not name.endswith(".mp3"):
                continue
            path = os.path.join(self.recordings_dir, name)
            with open(path, "rb") as source:
                body = source.read()
            call_id = name[:-4]
            status, _payload = self.client.post(
                ROUTE_RECORDING,
                body,
                content_type="audio/mpeg",
                headers={protocol.HEADER_CALL: call_id},
                timeout=60,
            )
            if status == 200:
                os.unlink(path)
                with contextlib.suppress(FileNotFoundError):  # its conversion may remove it
                    os.unlink(path[:-4] + ".wav")
                _logger.info("recording of %s delivered", call_id)
                return True
            return False  # 404 (events first), 5xx or no answer: retry later
        return None

    def _convert(self, batch: list[tuple[str, str]]) -> None:
        """WAVs to mp3 in the conversion pool: one ffmpeg for the batch, one by
        one if that fails (a bad file is set aside alone); wakes the delivery."""
        from telephony.audio import wav_to_mp3, wavs_to_mp3

        try:
            good = []
            for name, state in batch:
                path = os.path.join(self.recordings_dir, name)
                if state == BAD:
                    self._convert_failed(name, "not a WAV file")
                    continue
                if state == OPEN:
                    # Its worker died mid-call: keep the audio it wrote.
                    repair_wav(path)
                good.append(path)
            try:
                if len(good) > 1:
                    wavs_to_mp3(good)
                    converted = good
                else:
                    converted = []
            except Exception as error:
                _logger.warning("batch of %d recordings: %s; one by one", len(good), error)
                converted = []
            for path in good:
                if path not in converted:
                    try:
                        wav_to_mp3(path)
                    except Exception as error:
                        self._convert_failed(os.path.basename(path), error)
                        continue
                with contextlib.suppress(FileNotFoundError):  # the mp3 may be delivered already
                    os.unlink(path)
        finally:
            with self.convert_lock:
                self.converting.difference_update(name for name, _state in batch)
                self.converting_batches -= 1
            self.outbox.changed.set()

    def _convert_failed(self, name: str, error: Any) -> None:
        _logger.error("recording %s cannot be converted: %s", name, error)
        path = os.path.join(self.recordings_dir, name)
        with contextlib.suppress(OSError):
            os.replace(path, path + ".bad")
