"""Controller: the engine's main process.

It reads the configuration from Odoo, carries out Odoo's commands in ``seq``
order, and turns what the media workers report into events in the on-disk
outbox. It never touches pjsua2 itself. Its rooms, each an object of its own:

- ``inbox.py``: the commands' long poll and the inbox that wakes the main loop;
- ``pool.py``: the media workers (start, pick, retire, supervise);
- ``delivery.py``: outbox → Odoo, then the recordings (``uploads.py``);
- ``greeting.py``: the greeting callers hear, cached per version;
- ``front.py``: the Kamailio edge and the rtpengine relay.

Threads: the main loop (commands, workers, supervision), the command poller
(one long poll at a time), the delivery, the edge's registrations, and the
greeting download when there is one to fetch.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
import uuid
from typing import Any

from .delivery import Delivery
from .front import SipFront
from .greeting import GreetingCache
from .inbox import CommandPoller, Inbox
from .odoo_client import ROUTE_CONFIG, Backoff, OdooClient
from .options import Options
from .outbox import Outbox, read_int, write_atomic
from .pool import WorkerPool
from .uploads import RecordingUploads

_logger = logging.getLogger("telephony.engine")

ENGINE_VERSION = "1.0"
# The main loop wakes for worker messages and commands (wake socket); this
# bounds how long supervision (dead workers, spares, the edge) can wait.
LOOP_SECONDS = 0.25
ACCOUNTS_MAX = 3  # SIP accounts the engine uses, by sequence


class Controller:
    def __init__(self, options: Options):
        self.options = options
        self.client = OdooClient(options.odoo_url, options.key, options.secret)
        os.makedirs(options.state_dir, mode=0o700, exist_ok=True)
        self.after_path = os.path.join(options.state_dir, "after")
        self.after = read_int(self.after_path)
        self.after_saved = self.after
        self.config: dict[str, Any] = {}
        self.ring_logins: list[str] = []
        self.shutdown_requested = False
        self.stop_event = threading.Event()  # stops the threads that talk to Odoo
        self.inbox = Inbox()
        self.outbox = Outbox(options.state_dir)
        self.uploads = RecordingUploads(options.state_dir, self.client, self.outbox.changed.set)
        self.delivery = Delivery(self.outbox, self.client, self.uploads, options.retry_max)
        self.front = SipFront(options, self.inbox, self.stop_event)
        self.pool = WorkerPool(options, self.outbox, self.uploads, self.front, self._worker_config)
        self.greeting = GreetingCache(
            options.state_dir, self.client, self.inbox, self.stop_event, options.retry_max
        )
        self.poller = CommandPoller(
            self.client,
            self.inbox,
            self.stop_event,
            options.poll_wait,
            options.retry_max,
            lambda: self.config.get("version"),
        )

    # -- entry ----------------------------------------------------------------
    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        self.uploads.recover()
        self.delivery.start()
        if not self._fetch_config(block=True):
            return self._finish()
        # The edge (and the media relay) first: once Odoo hears "started",
        # phones can register with the current logins.
        self.front.start(self.config.get("users") or [])
        self.outbox.add("engine.started", None, {"version": ENGINE_VERSION})
        self.ring_logins = self._available_logins()
        self.pool.spawn()
        self.poller.start(self.after)
        next_heartbeat = time.monotonic() + self.options.heartbeat
        while not self.shutdown_requested:
            self.pool.pump(LOOP_SECONDS, self.inbox)
            self._drain_inbox()
            now = time.monotonic()
            self.front.watch(now)
            self.pool.supervise(now)
            if now >= next_heartbeat:
                next_heartbeat = now + self.options.heartbeat
                self.outbox.add("engine.heartbeat", None, {})
            self.commit()
        _logger.info("shutting down")
        self.stop_event.set()
        self.pool.stop(self.inbox)
        self.front.stop_all()
        return self._finish()

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self.shutdown_requested:
            _logger.warning("second signal: exiting at once")
            os._exit(1)
        self.shutdown_requested = True
        self.pool.shutting_down = True
        self.stop_event.set()
        self.inbox.wake()

    def commit(self) -> None:
        """End of a loop turn: the turn's events to disk in one go, then ``after``."""
        self.outbox.flush()
        self.pool.save()
        if self.after != self.after_saved:
            write_atomic(self.after_path, str(self.after).encode())
            self.after_saved = self.after

    def _finish(self) -> int:
        """Drain the outbox (bounded by a deadline), then stop delivering."""
        self.commit()
        deadline = time.monotonic() + self.options.drain_seconds
        while len(self.outbox) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.delivery.finish()
        left = len(self.outbox)
        if left:
            _logger.warning("%d events stay in the outbox for the next start", left)
        return 0

    def close(self) -> None:
        """Release what ``__init__`` opened, for a controller that never ran."""
        self.uploads.shutdown()
        self.inbox.close()

    # -- configuration ----------------------------------------------------------
    def _fetch_config(self, block: bool = False) -> bool:
        backoff = Backoff(self.options.retry_max)
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
                self.front.set_users(payload.get("users") or [])
                self.ring_logins = self._available_logins()
                self.greeting.sync(payload.get("settings") or {})
                self.pool.configure()
                return True
            if not block or self.stop_event.wait(backoff.failed()):
                return False

    def _accounts(self) -> list[dict[str, Any]]:
        accounts = sorted(
            self.config.get("accounts") or [], key=lambda a: (a.get("sequence", 0), a.get("id", 0))
        )
        return accounts[:ACCOUNTS_MAX]

    def _worker_config(self, index: int) -> dict[str, Any]:
        # Only worker 0 registers the trunks: a provider accepts one contact,
        # so incoming calls reach worker 0.
        sip_port = self.options.sip_port
        greeting = self.greeting.current
        return {
            "accounts": self._accounts(),
            "settings": self.config.get("settings") or {},
            "register": index == 0,
            "register_timeout": self.options.register_timeout,
            "incoming": {
                "ring_logins": list(self.ring_logins),
                "ring_uri": self.front.ring_uri(),
                "phone_uri": self.options.phone_uri.replace("{sip_port}", str(sip_port)),
                "greeting": dict(greeting) if greeting else None,
            },
        }

    def _available_logins(self) -> list[str]:
        """Logins an incoming call rings: they accept incoming calls and, with
        the edge, their phone is registered there."""
        logins = []
        for user in self.config.get("users") or []:
            login = user.get("login")
            if not login or user.get("accept_incoming", True) is False:
                continue
            if self.front.reachable(login):
                logins.append(login)
        return sorted(logins)

    def _registrations_changed(self, now: set[str]) -> None:
        """Turn phone registrations into phone.state events; tell worker 0 who rings."""
        if self.front.edge is None:
            return
        added, removed = self.front.registrations_changed(now)
        for login in sorted(added):
            self.outbox.add("phone.state", None, {"login": login, "state": "registered"})
        for login in sorted(removed):
            self.outbox.add("phone.state", None, {"login": login, "state": "unregistered"})
        logins = self._available_logins()
        if logins != self.ring_logins:
            self.ring_logins = logins
            self.pool.send_to(0, ("ring_logins", logins))

    # -- commands --------------------------------------------------------------
    def _drain_inbox(self) -> None:
        for kind, item in self.inbox.items():
            if kind == "config":
                if item != self.config.get("version"):
                    self._fetch_config()
            elif kind == "position":
                self.after = item  # saved at the end of the loop turn (commit)
            elif kind == "command":
                self.execute(item)
            elif kind == "greeting":
                if self.greeting.arrived(*item):
                    self.pool.configure()
            elif kind == "registrations":
                self._registrations_changed(item)

    def execute(self, command: dict[str, Any]) -> None:
        seq = int(command.get("seq", 0))
        if seq <= self.after:
            return  # already carried out before a restart
        kind = command.get("type")
        try:
            if kind == "dial":
                self._dial(command)
            elif kind == "hangup":
                self.pool.hangup((command.get("data") or {}).get("engine_call_id"))
            elif kind == "config.changed":
                self._fetch_config()
            else:
                _logger.info("ignoring command of unknown type %r", kind)
        except Exception:
            _logger.exception("command %s (%s) failed", seq, kind)
        self.after = seq  # saved at the end of the loop turn (commit)

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
        handle = self.pool.pick()
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
        self.pool.place(handle, call_id, order)

    def _refuse(self, call_id: str, reason: str) -> None:
        _logger.warning("call %s refused: %s", call_id, reason)
        self.outbox.add("call.ended", call_id, {"outcome": "failed", "reason": reason})
