"""The phones' side of the engine as the controller runs it: the Kamailio SIP
edge and, for browser phones, the rtpengine media relay.

Started before Odoo hears ``engine.started`` (so phones can register with the
current logins), restarted by the main loop when one dies, and watched from a
thread that asks the edge for its registrations (``kamcmd ul.dump``, tens of
ms on a busy machine): the main loop gets the changes through the inbox and
never waits for kamcmd while a ``dial`` is due.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from .inbox import Inbox
from .options import Options

_logger = logging.getLogger("telephony.engine.front")

# The edge's registrations (phone.state events) and liveness, checked this often.
EDGE_POLL_SECONDS = 1.0


class SipFront:
    """The edge (``edge`` is None without one) and the media relay."""

    def __init__(self, options: Options, inbox: Inbox, stop: threading.Event):
        self.options = options
        self.inbox = inbox
        self.stop = stop
        self.edge: Any = None
        self.relay: Any = None
        self.next_watch = 0.0

    def start(self, users: list[dict[str, Any]]) -> None:
        if not self.options.edge:
            return
        from .edge import SipEdge

        ws_port = self.options.ws_port
        if ws_port:
            ws_port = self._start_relay()
        self.edge = SipEdge(
            self.options.state_dir,
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
        self.set_users(users)
        threading.Thread(
            target=self._watch_registrations, args=(self.edge,), name="edge", daemon=True
        ).start()

    def _start_relay(self) -> int:
        """Start rtpengine for browsers; the WebSocket port, or 0 without a relay
        (browsers could register but never hear anything)."""
        from .relay import MediaRelay

        try:
            self.relay = MediaRelay(
                self.options.state_dir,
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

    def stop_all(self) -> None:
        if self.edge is not None:
            self.edge.stop()
        if self.relay is not None:
            self.relay.stop()

    def set_users(self, users: list[dict[str, Any]]) -> None:
        """The logins and passwords phones register with (applied at once)."""
        if self.edge is not None:
            self.edge.set_users(
                {u.get("login"): u.get("password") or "" for u in users if u.get("login")}
            )

    def reachable(self, login: str) -> bool:
        """Can an incoming call ring ``login``'s phone? Without the edge: always."""
        return self.edge is None or login in self.edge.registered

    def ring_uri(self) -> str | None:
        """The edge's ring group (one INVITE forks to every phone), or None."""
        return f"sip:ring@127.0.0.1:{self.options.sip_port}" if self.edge is not None else None

    def trust_worker(self, sip_port: int | None, trusted: bool = True) -> None:
        """Let a media worker's INVITEs through the edge, or stop doing so."""
        if self.edge is None or not sip_port:
            return
        if trusted:
            self.edge.add_worker(f"127.0.0.1:{sip_port}")
        else:
            self.edge.remove_worker(f"127.0.0.1:{sip_port}")

    def registrations_changed(self, now: set[str]) -> tuple[set[str], set[str]]:
        """(logins registered, logins unregistered) since the last look."""
        if self.edge is None:
            return set(), set()
        return self.edge.update_registrations(now)

    def watch(self, now: float) -> None:
        """Restart a dead edge or media relay (main loop, once a second)."""
        if self.edge is None or now < self.next_watch:
            return
        self.next_watch = now + EDGE_POLL_SECONDS
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

    def _watch_registrations(self, edge: Any) -> None:
        """Thread: hand changed registrations to the main loop. A dead or
        restarting edge does not answer: skipped until it does."""
        last: set[str] | None = None
        while not self.stop.is_set():
            now = edge.registrations()
            if now is not None and now != last:
                last = now
                self.inbox.put("registrations", now)
            self.stop.wait(EDGE_POLL_SECONDS)
