"""Trunk registration through the real engine against a digest registrar: the
SIP account registers, its state reaches Odoo, a new password registers again."""

import tempfile

from telephony.tests.engine_fixtures import EngineProcess, FakeOdoo, Registrar, wait_until


def states(odoo, account_id):
    return [
        (e["data"]["state"], e["data"].get("code"), e["data"].get("reason"))
        for e in odoo.events_of("trunk.state")
        if e["data"]["account_id"] == account_id
    ]


def last_state(odoo, account_id, state):
    found = states(odoo, account_id)
    return found and found[-1][0] == state and found[-1]


def test_registration_states_and_reregistration_on_new_password():
    with (
        tempfile.TemporaryDirectory(prefix="engine-reg-") as workdir,
        FakeOdoo() as odoo,
        Registrar({"tell": "s3cret-ok", "other": "right-one"}) as provider,
        Registrar({}, silent=True) as silent,
    ):
        good = {
            "id": 1,
            "sequence": 1,
            "user": "tell",
            "password": "s3cret-ok",
            "domain": "provider.test",
            "host": f"127.0.0.1:{provider.port}",
        }
        wrong = {
            "id": 2,
            "sequence": 2,
            "user": "other",
            "password": "wrong-one",
            "domain": f"127.0.0.1:{provider.port}",
            "host": f"127.0.0.1:{provider.port}",
        }
        mute = {
            "id": 3,
            "sequence": 3,
            "user": "tell",
            "password": "whatever",
            "domain": f"127.0.0.1:{silent.port}",
            "host": f"127.0.0.1:{silent.port}",
        }
        odoo.config.update(accounts=[good, wrong, mute])
        engine = EngineProcess(odoo, workdir).start()
        try:
            assert wait_until(lambda: last_state(odoo, 1, "registered"), 10)[1] == 200
            assert wait_until(lambda: last_state(odoo, 2, "failed"), 10)[1] == 403
            # No answer: pending first, then failed with "timeout" (3 s in this test).
            failed = wait_until(lambda: last_state(odoo, 3, "failed"), 15)
            assert failed[2] == "timeout"
            assert states(odoo, 3)[0][0] == "pending"
            assert silent.requests >= 1
            # A new password re-registers at once, without a restart.
            wrong_fixed = dict(wrong, password="right-one")
            odoo.set_config(accounts=[good, wrong_fixed, mute])
            assert wait_until(lambda: last_state(odoo, 2, "registered"), 10)[1] == 200
            assert odoo.bad_signatures == 0
        finally:
            code = engine.stop()
        assert code == 0
        log = engine.log()
        for secret in ("s3cret-ok", "wrong-one", "right-one", odoo.secret):
            assert secret not in log
