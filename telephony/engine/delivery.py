"""Delivery: the outbox's events to Odoo, then the recordings.

Events go 100 at a time in ``seq`` order. Odoo's 200 is final for every
event of the batch: accepted, duplicates and ``rejected`` alike (a rejected
event is logged and never resent). No answer, or any other answer, means
nothing was applied: the batch is sent again after a backoff.

A batch that Odoo keeps refusing with a server error (5xx) or as too large
(413) may hold one event that Odoo cannot store (a poison event): resending
it for ever would stop every event behind it. After ``ATTEMPTS_BEFORE_SPLIT``
failures the batch is halved, and halved again, until the failing event is
alone; the events before it are delivered on the way. An event that still
fails alone while Odoo answers an empty batch (so Odoo itself is up) is held:
moved out of the outbox to ``<state-dir>/held/``, logged as an error, and
delivery goes on with the next one. When Odoo fails every request, nothing
is held: the outbox waits, as when Odoo is down.
"""

from __future__ import annotations

import logging
import threading

from .. import protocol
from .odoo_client import ROUTE_EVENTS, Backoff, OdooClient
from .outbox import Outbox
from .uploads import RecordingUploads

_logger = logging.getLogger("telephony.engine.delivery")

ATTEMPTS_BEFORE_SPLIT = 3  # failed attempts of one batch before it is halved
_SPLIT_STATUS = 413  # "too large": halving helps as with a server error


class EventDelivery:
    """One batch of the outbox at a time, split while one event keeps failing."""

    def __init__(self, outbox: Outbox, client: OdooClient):
        self.outbox = outbox
        self.client = client
        self.window = protocol.MAX_EVENTS_PER_REQUEST  # events per request now
        self.split_until = 0  # while splitting: the last seq of the batch that failed
        self.failures = 0  # failed attempts of the current batch
        self.held: list[dict] = []  # events held aside since the start

    def send_batch(self) -> bool | None:
        """Send the oldest events. True: go on at once (Odoo answered for them,
        one was held, or the batch was just split), False: retry after a
        backoff, None: the outbox is empty."""
        events = self.outbox.pending(self.window)
        if not events:
            return None
        status, payload = self._post(events)
        if status == 200:
            if isinstance(payload, dict):
                for rejected in payload.get("rejected") or []:
                    if isinstance(rejected, dict):
                        _logger.error(
                            "Odoo rejected event %s: %s", rejected.get("id"), rejected.get("error")
                        )
            self.outbox.remove(events)  # accepted, duplicate or rejected: all final
            self._delivered(events[-1]["seq"])
            return True
        if status < 500 and status != _SPLIT_STATUS:
            return False  # no answer, signature, protocol: the same batch again later
        self.failures += 1
        if self.failures < ATTEMPTS_BEFORE_SPLIT:
            return False
        self.failures = 0
        if len(events) > 1:
            self.split_until = max(self.split_until, events[-1]["seq"])
            self.window = (len(events) + 1) // 2
            _logger.warning(
                "events %s-%s: Odoo answered %s %d times; sending %d at a time",
                events[0]["seq"],
                events[-1]["seq"],
                status,
                ATTEMPTS_BEFORE_SPLIT,
                self.window,
            )
            return True  # a smaller request: no reason to wait longer for it
        if self._post([])[0] != 200:
            return False  # Odoo fails every request: not this event's fault
        self._hold(events[0], status)
        self._delivered(events[0]["seq"])
        return True

    def _post(self, events: list[dict]) -> tuple[int, object]:
        body = protocol.encode({"protocol": protocol.PROTOCOL_VERSION, "events": events})
        return self.client.post(ROUTE_EVENTS, body)

    def _delivered(self, last_seq: int) -> None:
        """Events up to ``last_seq`` are done with: past the failing batch, whole
        batches again."""
        self.failures = 0
        if last_seq >= self.split_until:
            self.split_until = 0
            self.window = protocol.MAX_EVENTS_PER_REQUEST

    def _hold(self, event: dict, status: int) -> None:
        path = self.outbox.hold(event)
        self.held.append(event)
        _logger.error(
            "event %s (seq %s, %s, call %s) held aside in %s: Odoo answers HTTP %s to it "
            "alone while it accepts other requests; the events behind it go on",
            event.get("id"),
            event.get("seq"),
            event.get("type"),
            event.get("call_id") or "-",
            path,
            status,
        )


class Delivery:
    """The delivery thread: events first (so Odoo knows the call), then recordings."""

    def __init__(
        self,
        outbox: Outbox,
        client: OdooClient,
        uploads: RecordingUploads,
        retry_max: float,
    ):
        self.outbox = outbox
        self.events = EventDelivery(outbox, client)
        self.uploads = uploads
        self.retry_max = retry_max
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self.run, name="delivery", daemon=True)
        self.thread.start()

    def wake(self) -> None:
        self.outbox.changed.set()

    def finish(self) -> None:
        self.stop.set()
        self.wake()
        if self.thread is not None:
            self.thread.join(timeout=5)
        self.uploads.shutdown()

    def run(self) -> None:
        backoff = Backoff(self.retry_max)
        while not self.stop.is_set():
            try:
                progressed = self.once()
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
                self.stop.wait(backoff.failed())

    def once(self) -> bool | None:
        """Send one batch of events, else one recording. None: nothing pending."""
        sent = self.events.send_batch()
        if sent is not None:
            return sent
        return self.uploads.deliver_one()
