"""Hanging up from Odoo: model rights, and the real engine ending both legs."""

import os
import shutil
import tempfile

from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged

from .common import TelephonyCommon, TelephonyHttpCommon
from .engine_case import EngineRunnerMixin, ProviderFront, UserAgentProcess, free_udp_port

NUMBER = "+79161234567"


@tagged("post_install", "-at_install", "ip_telephony")
class TestHangupRights(TelephonyCommon):
    def _talking(self, user):
        return (
            self.env["telephony.call"]
            .sudo()
            .create(
                {
                    "direction": "outbound",
                    "state": "talking",
                    "number": NUMBER,
                    "number_e164": NUMBER,
                    "user_id": user.id,
                    "engine_call_id": f"c-hangup-{user.id}",
                }
            )
        )

    def _hangups(self, call):
        return (
            self.env["telephony.command"]
            .sudo()
            .search([("call_id", "=", call.id), ("type", "=", "hangup")])
        )

    def test_the_user_of_the_call_hangs_up(self):
        call = self._talking(self.sales_user)
        call.with_user(self.sales_user).action_hangup()
        command = self._hangups(call)
        self.assertEqual(command.payload, {"engine_call_id": call.engine_call_id})
        self.assertEqual(call.hangup_user_id, self.sales_user)
        card = call.with_user(self.sales_user)._card_payload()
        self.assertTrue(card["can_hang_up"])

    def test_nobody_else_hangs_up_another_users_call(self):
        call = self._talking(self.sales_user)
        colleague = new_test_user(self.env, login="colleague", groups="base.group_user")
        self.env["telephony.user"].create({"user_id": colleague.id})
        call.ringing_user_ids = colleague  # may read it, may not end it
        for intruder in (colleague, self.other_user):
            with self.subTest(user=intruder.login), self.assertRaises(AccessError):
                call.with_user(intruder).action_hangup()
        self.assertFalse(self._hangups(call))
        self.assertFalse(call.with_user(colleague)._card_payload()["can_hang_up"])
        # A telephony administrator may end any call.
        call.with_user(self.env.ref("base.user_admin")).action_hangup()
        self.assertEqual(len(self._hangups(call)), 1)

    def test_ended_or_unplaced_calls(self):
        call = self._talking(self.sales_user)
        call.state = "ended"
        with self.assertRaises(UserError):
            call.with_user(self.sales_user).action_hangup()
        call.write({"state": "new", "engine_call_id": False})
        with self.assertRaises(UserError):
            call.with_user(self.sales_user).action_hangup()
        self.assertFalse(self._hangups(call))

    def test_users_write_notes_and_contact_only(self):
        call = self._talking(self.sales_user).with_user(self.sales_user)
        call.write({"note": "Wants a quote", "partner_id": self.client.id})
        self.assertEqual(call.note, "Wants a quote")
        for forged in ({"hangup_user_id": self.other_user.id}, {"outcome_code": 603}):
            with self.subTest(forged=forged), self.assertRaises(AccessError):
                call.write(forged)


@tagged("post_install", "-at_install", "ip_telephony")
class TestHangupEndToEnd(EngineRunnerMixin, TelephonyHttpCommon):
    """The hang-up button ends a call in progress on both SIP legs."""

    def setUp(self):
        super().setUp()
        self.workdir = tempfile.mkdtemp(prefix="ipt-calllog-hangup-")
        self.addCleanup(shutil.rmtree, self.workdir, ignore_errors=True)
        # The client would talk for a minute: only the hang-up ends the call.
        self.client_agent = self._enter(UserAgentProcess(self.workdir, "provider", 1000, hold=60))
        self.front = self._enter(ProviderFront({"tell": "trunk-secret"}, self.client_agent.port))
        address = f"127.0.0.1:{self.front.port}"
        with self._db():
            self.account.write({"domain": address, "host": address})
            self.env.flush_all()
            self.login = self.sales_tel.sip_login
            self.password = self.sales_tel.sudo().sip_password
            key, secret = self.engine.key, self.engine.sudo().secret
        self.edge_port = free_udp_port()
        self.engine_proc = self._start_engine(
            key, secret, self.edge_port, 20000 + 500 * (os.getpid() % 80) + 250, "--ws-port", "0"
        )

    def test_hang_up_from_odoo(self):
        self._wait(lambda: self.engine.version, 30, "engine.started")
        self._wait(
            lambda: self.account.registration_state == "registered", 15, "trunk registration"
        )
        phone = self._enter(
            UserAgentProcess(
                self.workdir, "phone", 440, register=(self.edge_port, self.login, self.password)
            )
        )
        self._wait(lambda: phone.find("registered", code=200), 15, "the phone's registration")
        self._wait(lambda: self.sales_tel.phone_state == "registered", 15, "phone.state")
        with self._db():
            call_id = self.env["telephony.call"].with_user(self.sales_user).dial(NUMBER)
            call = self.env["telephony.call"].browse(call_id)
        self._wait(lambda: call.state == "talking", 30, "the call to be bridged")
        with self._db():
            call.with_user(self.sales_user).action_hangup()
            self.env.flush_all()
        self._wait(lambda: call.state == "ended", 15, "the call to end")
        # Both legs got their BYE: the user's phone and the client.
        self._wait(lambda: phone.find("disconnected", user=self.login), 10, "the phone's BYE")
        self._wait(lambda: self.client_agent.find("disconnected"), 10, "the client's BYE")
        with self._db():
            self.assertEqual(call.outcome, "answered")
            self.assertEqual(call.outcome_reason, "hangup requested")
            self.assertEqual(call.hangup_user_id, self.sales_user)
            self.assertEqual(call.outcome_reason_text, "Ended from Odoo by Sally Sales")
            self.assertLess(call.duration, 30)
