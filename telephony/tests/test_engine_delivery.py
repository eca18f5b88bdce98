"""Delivery of the outbox to a fake Odoo over real HTTP: a poison event does
not block the events behind it, rejected events are never sent again, and an
Odoo that fails everything makes nobody's event held."""

import logging
import os
import tempfile

import pytest

from telephony.engine.delivery import ATTEMPTS_BEFORE_SPLIT, Delivery, EventDelivery
from telephony.engine.odoo_client import OdooClient
from telephony.engine.outbox import Outbox
from telephony.engine.uploads import RecordingUploads
from telephony.tests.engine_fixtures import FakeOdoo, wait_until

# Attempts to deliver 100 events with one poison event: halving down to one
# event takes 7 splits of ATTEMPTS_BEFORE_SPLIT failures each, plus the sends.
STEPS_MAX = 200


@pytest.fixture
def odoo():
    with FakeOdoo() as fake:
        yield fake


@pytest.fixture
def state_dir():
    with tempfile.TemporaryDirectory(prefix="engine-delivery-") as path:
        yield path


def _queue(outbox, count, poison_at=None):
    events = []
    for n in range(count):
        data = {"login": "u1", "state": "registered"}
        if n == poison_at:
            data["login"] = "poison"
        events.append(outbox.add("phone.state", None, data))
    outbox.flush()
    return events


def _deliver(delivery, steps=STEPS_MAX):
    """Run the delivery (no backoff sleeps) until the outbox is empty."""
    for _ in range(steps):
        if delivery.send_batch() is None:
            return True
    return False


def _is_poison(event):
    return (event.get("data") or {}).get("login") == "poison"


def test_a_poison_event_is_held_and_the_events_behind_it_are_delivered(odoo, state_dir, caplog):
    outbox = Outbox(state_dir)
    events = _queue(outbox, 100, poison_at=37)
    poison = events[37]
    odoo.poison = _is_poison
    delivery = EventDelivery(outbox, OdooClient(odoo.url, odoo.key, odoo.secret, timeout=5))
    with caplog.at_level(logging.ERROR, logger="telephony.engine.delivery"):
        assert _deliver(delivery)
    # Every other event reached Odoo, in order, once.
    delivered = [e["id"] for e in odoo.events_of()]
    assert delivered == [e["id"] for e in events if e is not poison]
    assert sorted(odoo.deliveries) == sorted(delivered)
    # The poison one is kept on disk, out of the queue, and reported.
    assert len(outbox) == 0
    held = os.path.join(state_dir, "held", f"{poison['seq']:012d}.json")
    assert os.path.exists(held)
    assert [e["id"] for e in delivery.held] == [poison["id"]]
    assert poison["id"] in caplog.text and "held" in caplog.text
    # A restart does not send it again, and says it is there.
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="telephony.engine.outbox"):
        reopened = Outbox(state_dir)
    assert reopened.pending() == []
    assert "1 events Odoo could not take" in caplog.text


def test_an_odoo_that_fails_everything_holds_no_event(odoo, state_dir):
    outbox = Outbox(state_dir)
    events = _queue(outbox, 8)
    odoo.down = True  # 503 to every request, an empty batch too
    delivery = EventDelivery(outbox, OdooClient(odoo.url, odoo.key, odoo.secret, timeout=5))
    for _ in range(20 * ATTEMPTS_BEFORE_SPLIT):
        assert delivery.send_batch() is not None
    assert delivery.held == [] and not os.path.exists(os.path.join(state_dir, "held"))
    assert [e["id"] for e in outbox.pending()] == [e["id"] for e in events]
    # Odoo is back: the whole outbox goes, nothing was lost.
    odoo.down = False
    assert _deliver(delivery)
    assert [e["id"] for e in odoo.events_of()] == [e["id"] for e in events]


def test_a_transient_server_error_retries_the_same_batch_without_holding(odoo, state_dir):
    outbox = Outbox(state_dir)
    events = _queue(outbox, 5, poison_at=2)
    odoo.poison = _is_poison
    delivery = EventDelivery(outbox, OdooClient(odoo.url, odoo.key, odoo.secret, timeout=5))
    for _ in range(ATTEMPTS_BEFORE_SPLIT - 1):
        assert delivery.send_batch() is False
    odoo.poison = None  # Odoo recovered before the batch was split
    assert _deliver(delivery)
    assert [e["id"] for e in odoo.events_of()] == [e["id"] for e in events]
    assert delivery.held == []
    assert all(len(ids) == 5 for ids in odoo.event_posts)  # never split


def test_rejected_events_are_final_and_never_sent_again(odoo, state_dir):
    outbox = Outbox(state_dir)
    good = outbox.add("engine.heartbeat", None, {})
    bad = outbox.add("no.such.type", None, {})  # Odoo lists it as rejected
    outbox.flush()
    delivery = EventDelivery(outbox, OdooClient(odoo.url, odoo.key, odoo.secret, timeout=5))
    assert _deliver(delivery)
    later = outbox.add("engine.heartbeat", None, {})
    outbox.flush()
    assert _deliver(delivery)
    assert [e["id"] for e in odoo.events_of()] == [good["id"], later["id"]]
    posts_with_bad = [ids for ids in odoo.event_posts if bad["id"] in ids]
    assert len(posts_with_bad) == 1
    assert len(Outbox(state_dir)) == 0 and delivery.held == []


def test_the_delivery_thread_gets_past_a_poison_event_at_the_head(odoo, state_dir):
    """The real thread, with its backoff: a poison event first in the outbox
    holds the others up for seconds, not for ever."""
    outbox = Outbox(state_dir)
    client = OdooClient(odoo.url, odoo.key, odoo.secret, timeout=5)
    uploads = RecordingUploads(state_dir, client, outbox.changed.set)
    delivery = Delivery(outbox, client, uploads, retry_max=2.0)
    odoo.poison = _is_poison
    events = _queue(outbox, 6, poison_at=0)
    delivery.start()
    try:
        wait_until(lambda: len(odoo.events_of()) == 5, 30, message="the five good events")
    finally:
        delivery.finish()
    assert [e["id"] for e in odoo.events_of()] == [e["id"] for e in events[1:]]
    assert [e["id"] for e in delivery.events.held] == [events[0]["id"]]
