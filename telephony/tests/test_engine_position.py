"""The engine's command position belongs to one database (docs/engine-protocol.md, section 2)."""

from __future__ import annotations

from telephony.tests.engine_fixtures import EngineProcess, FakeOdoo, wait_until


def test_a_position_odoo_never_issued_gives_way_to_odoos(tmp_path):
    """Pointed at another database (or a restored one), the engine's saved
    position lies beyond every command there: it takes Odoo's position and
    carries out the new database's clicks instead of skipping them."""
    state = tmp_path / "state"
    state.mkdir()
    (state / "after").write_text("104")
    with FakeOdoo() as odoo:
        odoo.config.update(
            users=[{"login": "acme_101", "password": "x", "extension": "101", "name": "U"}],
            settings={"ring_time": 3, "recording": False},
        )
        engine = EngineProcess(odoo, str(tmp_path), state_dir=str(state)).start()
        try:
            odoo.queue(
                "dial",
                {"login": "acme_101", "number": "+79161234567", "dial": "89161234567"},
                call_id=7,
            )
            wait_until(lambda: odoo.call_id_for(7), 15, message="the dial is carried out")
            wait_until(lambda: (state / "after").read_text() == "1", 10, message="position saved")
        finally:
            assert engine.stop() == 0, engine.log()[-3000:]
        assert "starting over" in engine.log()
