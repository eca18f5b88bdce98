"""Hanging up from Odoo: model rights, and the real engine ending both legs."""

import os
import threading
import time
from unittest.mock import patch

from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged

from odoo.addons.bus.models.bus import channel_with_db, dispatch, hashable
from odoo.addons.bus.websocket import WebsocketConnectionHandler

from ..telephony import protocol
from .common import TelephonyCommon, TelephonyHttpCommon, make_event
from .engine_case import (
    EngineRunnerMixin,
    UserAgentProcess,
    free_udp_port,
    start_bus_pump,
)

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
        # The client would talk for a minute: only the hang-up ends the call.
        self._provider_line("ipt-calllog-hangup-", 1000, hold=60)
        with self._db():
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


@tagged("post_install", "-at_install", "ip_telephony")
class TestCallCardActionsTour(TelephonyHttpCommon):
    """The card in the browser: a note typed on it, the hang-up button."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.startClassPatcher(
            patch.object(WebsocketConnectionHandler, "websocket_allowed", return_value=True)
        )
        cls.env["ir.config_parameter"].set_param("ip_telephony.show_reminder", False)
        cls.engine_key = cls.engine.key
        cls.engine_secret = cls.engine.sudo().secret

    def _post(self, *events):
        body = protocol.encode({"protocol": 1, "events": list(events)})
        headers = protocol.signed_headers(self.engine_key, self.engine_secret, body)
        headers["Content-Type"] = "application/json"
        response = self.url_open("/telephony/engine/events", data=body, headers=headers, timeout=30)
        response.raise_for_status()
        if len(response.json()["accepted"]) != len(events):
            raise AssertionError(f"events not applied: {response.text}")

    def test_note_and_hang_up_from_the_card(self):
        call = self.env["telephony.call"].browse(
            self.env["telephony.call"]
            .with_user(self.sales_user)
            .dial("8 (916) 123-45-67", "res.partner", self.client.id)
        )
        login = self.sales_tel.sip_login
        hung_up = threading.Event()
        original = self.registry["telephony.call"].action_hangup

        def action_hangup(records):
            result = original(records)
            hung_up.set()
            return result

        self.startPatcher(
            patch.object(self.registry["telephony.call"], "action_hangup", action_hangup)
        )
        errors = []

        def engine():
            try:
                channel = hashable(channel_with_db(self.env.cr.dbname, self.sales_user.partner_id))
                deadline = time.time() + 60
                while channel not in dispatch._channels_to_ws and time.time() < deadline:
                    time.sleep(0.1)
                now = time.time()
                self._post(
                    make_event(
                        "call.created",
                        "c-card-1",
                        at=now - 5,
                        direction="outbound",
                        number="+79161234567",
                        odoo_call_id=call.id,
                    ),
                    make_event("call.ringing", "c-card-1", at=now - 4, logins=[login]),
                    make_event("call.answered", "c-card-1", at=now - 3, login=login),
                    make_event("call.bridged", "c-card-1", at=now - 2),
                )
                if not hung_up.wait(90):
                    raise AssertionError("the card never hung up")
                self._post(
                    make_event(
                        "call.ended", "c-card-1", outcome="answered", reason="hangup requested"
                    )
                )
            except Exception as exc:  # noqa: BLE001 - reported in the test thread
                errors.append(exc)

        thread = threading.Thread(target=engine, name="ip_telephony engine", daemon=True)
        stop_pump = start_bus_pump()
        thread.start()
        try:
            self.start_tour("/odoo", "ip_telephony_call_card_actions", login="sales", timeout=180)
        finally:
            thread.join(30)
            stop_pump()
        if errors:
            raise errors[0]
        self.assertEqual(call.note, "Wants a quote for 20 licences")
        self.assertEqual(call.state, "ended")
        self.assertEqual(call.hangup_user_id, self.sales_user)
        self.assertEqual(call.outcome_reason_text, "Ended from Odoo by Sally Sales")
        command = self.env["telephony.command"].search(
            [("call_id", "=", call.id), ("type", "=", "hangup")]
        )
        self.assertEqual(command.payload, {"engine_call_id": "c-card-1"})
