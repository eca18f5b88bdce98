"""How the controller's threads reach its main loop, and the commands' long poll.

The main loop waits on the media workers' pipes and on the inbox's wake
socket: a thread that queues something (the command poller, the edge's
registrations, a downloaded greeting) writes one byte to it, so a ``dial``
is handled at once instead of at the next loop tick.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

from .odoo_client import ROUTE_COMMANDS, Backoff, OdooClient

_logger = logging.getLogger("telephony.engine.inbox")

DRAIN_MAX = 100  # items handled per loop turn, so the workers' pipes are read too


class Inbox:
    """A queue for the main loop with a socket that wakes it."""

    def __init__(self):
        self.queue: queue.Queue = queue.Queue()
        self.wake_r, self.wake_w = socket.socketpair()
        self.wake_r.setblocking(False)
        self.wake_w.setblocking(False)

    def put(self, kind: str, item: Any, wake: bool = True) -> None:
        self.queue.put((kind, item))
        if wake:
            self.wake()

    def wake(self) -> None:
        """Make the main loop look at its inbox now (any thread, signal handlers too)."""
        with contextlib.suppress(OSError):  # full: a wake-up is already pending
            self.wake_w.send(b"\0")

    def woken(self) -> None:
        """The main loop saw the wake socket readable: empty it."""
        with contextlib.suppress(OSError):
            while self.wake_r.recv(4096):
                pass

    def items(self) -> Iterator[tuple[str, Any]]:
        """What is queued now, oldest first, bounded per loop turn."""
        for _ in range(DRAIN_MAX):
            try:
                yield self.queue.get_nowait()
            except queue.Empty:
                return

    def close(self) -> None:
        self.wake_r.close()
        self.wake_w.close()


class CommandPoller:
    """Thread: long-poll Odoo for commands, hand them to the inbox in seq order,
    and say when Odoo's configuration version is not the one we have."""

    def __init__(
        self,
        client: OdooClient,
        inbox: Inbox,
        stop: threading.Event,
        wait: int,
        retry_max: float,
        config_version: Callable[[], Any],
    ):
        self.client = client
        self.inbox = inbox
        self.stop = stop
        self.wait = wait
        self.retry_max = retry_max
        self.config_version = config_version

    def start(self, after: int) -> threading.Thread:
        thread = threading.Thread(target=self.run, args=(after,), name="commands", daemon=True)
        thread.start()
        return thread

    def run(self, after: int) -> None:
        backoff = Backoff(min(self.retry_max, 10))
        fetched = after
        while not self.stop.is_set():
            wait = self.wait
            status, payload = self.client.post_json(
                ROUTE_COMMANDS, {"after": fetched, "wait": wait}, timeout=wait + 10
            )
            if status != 200 or not isinstance(payload, dict):
                self.stop.wait(backoff.failed())
                continue
            backoff.reset()
            answered_from = payload.get("after")
            if type(answered_from) is int and 0 <= answered_from < fetched:
                # Odoo never issued our position (we were pointed at another
                # database, or it was restored): take its position, first.
                _logger.warning(
                    "Odoo answers commands from #%s, not #%s: starting over", answered_from, fetched
                )
                fetched = answered_from
                self.inbox.put("position", answered_from, wake=False)
            commands = sorted(payload.get("commands") or [], key=lambda c: c.get("seq", 0))
            for command in commands:
                seq = int(command.get("seq", 0))
                if seq > fetched:
                    fetched = seq
                    self.inbox.put("command", command, wake=False)
            version = payload.get("config_version")
            if version and version != self.config_version():
                self.inbox.put("config", version, wake=False)
            if commands or version:
                self.inbox.wake()
