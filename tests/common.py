import contextlib
import itertools
import json
import time
import uuid

import odoo
from odoo import SUPERUSER_ID, api
from odoo.modules.registry import DummyRLock, Registry
from odoo.tests import BaseCase, HttpCase, TransactionCase, new_test_user
from odoo.tests.common import HOST, get_db_name

from ..telephony import protocol

_event_seq = itertools.count(1)


def make_event(kind, call_id=None, at=None, event_id=None, **data):
    """One engine event as the engine would send it."""
    event = {
        "id": event_id or uuid.uuid4().hex,
        "seq": next(_event_seq),
        "at": at if at is not None else time.time(),
        "type": kind,
        "data": data,
    }
    if call_id is not None:
        event["call_id"] = call_id
    return event


class TelephonyCommon(TransactionCase):
    """Telephony enabled, one SIP account, an admin (101) and a sales user."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["ir.config_parameter"].sudo().set_param("ip_telephony.region", "RU")
        cls.env["ir.config_parameter"].sudo().set_param("ip_telephony.city_code", "495")
        cls.env["res.config.settings"]._telephony_enable()
        cls.engine = cls.env["telephony.engine"].search([], limit=1)
        cls.account = cls.env["telephony.sip.account"].create(
            {"sip_user": "tell", "password": "trunk-secret", "domain": "sip.example.com"}
        )
        cls.manager_tel = cls.env.user._telephony_user()
        cls.sales_user = new_test_user(
            cls.env, login="sales", groups="base.group_user", name="Sally Sales"
        )
        cls.sales_tel = cls.env["telephony.user"].create({"user_id": cls.sales_user.id})
        cls.other_user = new_test_user(
            cls.env, login="other", groups="base.group_user", name="Otto Other"
        )
        cls.client = cls.env["res.partner"].create(
            {
                "name": "Ivan Petrov",
                "phone": "8 (916) 123-45-67",
                "email": "ivan@example.com",
                "user_id": cls.sales_user.id,
            }
        )

    def post_events(self, *events):
        payload = {"protocol": 1, "events": list(events)}
        return self.engine._receive_events(payload)


class TelephonyHttpCommon(HttpCase, TelephonyCommon):
    """Signed requests to the engine routes over real HTTP."""

    def signed_post(
        self,
        route,
        payload=None,
        body=None,
        secret=None,
        timestamp=None,
        headers=None,
        content_type="application/json",
    ):
        if body is None:
            body = protocol.encode(payload)
        secret = secret or self.engine.sudo().secret
        signed = protocol.signed_headers(self.engine.key, secret, body, now=timestamp)
        signed["Content-Type"] = content_type
        signed.update(headers or {})
        return self.url_open(route, data=body, headers=signed, timeout=30)

    def send_events(self, *events, **kwargs):
        return self.signed_post(
            "/telephony/engine/events", {"protocol": 1, "events": list(events)}, **kwargs
        )

    def rpc(self, method, *args, model, **kwargs):
        """A JSON-RPC call as the web client makes it, in the session of the
        last ``authenticate``; the decoded response (result or error)."""
        payload = {
            "id": 1,
            "jsonrpc": "2.0",
            "method": "call",
            "params": {"model": model, "method": method, "args": list(args), "kwargs": kwargs},
        }
        response = self.url_open(
            f"/web/dataset/call_kw/{model}/{method}",
            data=json.dumps(payload),
            headers={"Content-Type": "application/json"},
        )
        self.assertEqual(response.status_code, 200)
        return response.json()


class MaskedRpcMixin:
    """Checks of what a user whose numbers are masked gets over RPC.

    ``hidden_parts`` are substrings of the numbers, in any format, that must
    never appear in an answer; ``rpc_model`` is the model called by default.
    """

    hidden_parts = ()
    rpc_model = None

    def rpc(self, method, *args, model=None, **kwargs):
        return super().rpc(method, *args, model=model or self.rpc_model, **kwargs)

    def assertHidden(self, answer, what):
        text = json.dumps(answer, default=str)
        for part in self.hidden_parts:
            self.assertNotIn(part, text, f"{what} reveals a number: {text[:500]}")

    def assertResult(self, answer, what):
        self.assertNotIn("error", answer, f"{what}: {answer.get('error')}")
        self.assertHidden(answer, what)
        return answer["result"]

    def assertRefused(self, answer, what, message="hidden for you"):
        self.assertIn("error", answer, f"{what} was not refused: {str(answer)[:300]}")
        self.assertIn(message, answer["error"]["data"]["message"], what)
        self.assertHidden(answer, what)


class CommittingCase(BaseCase):
    """For the paths that commit: no test transaction, cursors that commit.

    What a test creates is committed for real, so it deletes it again at
    cleanup. The test server serves these tests' requests outside test mode,
    each in a transaction of its own, as in production.
    """

    def setUp(self):
        super().setUp()
        # The test runner holds the registries' lock while tests run; the
        # server's requests must get their registry meanwhile (as in test
        # mode, which swaps that lock the same way).
        self.patch(Registry, "_lock", DummyRLock())

    @contextlib.contextmanager
    def committing_env(self):
        """A superuser environment whose cursor commits at the end of the block."""
        registry = Registry(get_db_name())
        assert not registry.in_test_mode(), "a committing test runs outside test mode"
        with registry.cursor() as cr:
            yield api.Environment(cr, SUPERUSER_ID, {})

    def delete_at_cleanup(self, model, ids):
        def delete():
            with self.committing_env() as env:
                env[model].browse(ids).exists().unlink()

        self.addCleanup(delete)

    def set_params(self, **params):
        """Set ``ip_telephony.*`` parameters; their old values come back at cleanup."""
        with self.committing_env() as env:
            config = env["ir.config_parameter"]
            for key, value in params.items():
                name = f"ip_telephony.{key}"
                self.addCleanup(self._set_param, name, config.get_param(name))
                config.set_param(name, value)

    def _set_param(self, name, value):
        with self.committing_env() as env:
            env["ir.config_parameter"].set_param(name, value)

    def wait_for(self, predicate, timeout, message):
        """Poll ``predicate(env)`` on fresh committed data until it holds."""
        deadline = time.monotonic() + timeout
        while True:
            with self.committing_env() as env:
                value = predicate(env)
            if value:
                return value
            if time.monotonic() > deadline:
                self.fail(f"timed out after {timeout}s waiting for {message}")
            time.sleep(0.05)

    @staticmethod
    def server_url(path):
        return f"http://{HOST}:{odoo.tools.config['http_port']}{path}"
