"""What tells Odoo the engine is alive (engine.started, heartbeats), and a
secret rotated in Odoo: refused until the engine has the new one, nothing lost."""

import os
import tempfile

import pytest

from telephony.tests.engine_fixtures import EngineProcess, FakeOdoo, outbox_events, wait_until

OPTIONS = ["--no-edge", "--heartbeat", "1", "--drain-seconds", "2"]


@pytest.fixture
def workdir():
    with tempfile.TemporaryDirectory(prefix="engine-liveness-") as path:
        yield path


def test_started_first_then_a_heartbeat_every_period(workdir):
    with FakeOdoo() as odoo:
        engine = EngineProcess(odoo, workdir, extra=OPTIONS).start()
        try:
            beats = wait_until(
                lambda: (
                    len(odoo.events_of("engine.heartbeat")) >= 4
                    and odoo.events_of("engine.heartbeat")
                ),
                30,
                message="four heartbeats",
            )
        finally:
            assert engine.stop() == 0, engine.log()[-3000:]
        started = odoo.events_of("engine.started")
        assert len(started) == 1
        assert started[0]["data"]["version"]
        assert started[0]["seq"] < beats[0]["seq"]
        # Paced by --heartbeat 1: not a burst, and none long overdue.
        gaps = [b["at"] - a["at"] for a, b in zip(beats, beats[1:], strict=False)]
        assert all(0.5 < gap < 5 for gap in gaps), gaps


def test_rotated_secret_refused_until_the_engine_has_it_and_nothing_is_lost(workdir):
    with FakeOdoo() as odoo:
        engine = EngineProcess(odoo, workdir, extra=OPTIONS).start()
        try:
            wait_until(lambda: odoo.events_of("engine.heartbeat"), 15, message="a heartbeat")
            # The administrator rotates the secret in Odoo: the old one is refused.
            odoo.secret = "rotated-" + os.urandom(16).hex()
            refused_from = odoo.bad_signatures
            accepted = len(odoo.events_of())
            wait_until(lambda: odoo.bad_signatures >= refused_from + 3, 20, message="refusals")
            assert len(odoo.events_of()) == accepted
            # Heartbeats keep piling up on the engine's disk meanwhile.
            wait_until(
                lambda: len(os.listdir(os.path.join(engine.state_dir, "outbox"))) > 0,
                10,
                message="events waiting in the outbox",
            )
        finally:
            engine.stop()
        assert "rotated-" not in engine.log()
        waiting = [e["id"] for e in outbox_events(engine)]
        assert waiting
        # The operator gives the engine its new secret and starts it again.
        again = EngineProcess(odoo, workdir, extra=OPTIONS).start()
        try:
            wait_until(
                lambda: not os.listdir(os.path.join(again.state_dir, "outbox")),
                20,
                message="the outbox delivered",
            )
        finally:
            assert again.stop() == 0, again.log()[-3000:]
        # What the first run could not deliver arrived, each event once.
        delivered = {e["id"] for e in odoo.events_of()}
        assert set(waiting) <= delivered
        assert all(odoo.deliveries.count(e) == 1 for e in delivered)
