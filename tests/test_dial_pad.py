from datetime import timedelta
from unittest.mock import patch

from odoo import fields
from odoo.exceptions import AccessError
from odoo.tests import tagged

from odoo.addons.bus.websocket import WebsocketConnectionHandler

from .common import TelephonyCommon, TelephonyHttpCommon


@tagged("post_install", "-at_install", "ip_telephony")
class TestDialPad(TelephonyCommon):
    def test_the_number_rules_answer_as_the_user_types(self):
        self.env["ir.config_parameter"].sudo().set_param("ip_telephony.banned_codes", "+44")
        calls = self.env["telephony.call"].with_user(self.sales_user)
        self.assertEqual(
            calls.telephony_check_number("8 916 123-45-67"), {"ok": True, "message": ""}
        )
        self.assertEqual(
            calls.telephony_check_number("+44 20 7946 0000"),
            {"ok": False, "message": "Calls to +44 are not allowed."},
        )
        self.assertFalse(calls.telephony_check_number("")["ok"])
        self.assertFalse(calls.telephony_check_number("1" * 100)["ok"])
        with self.assertRaises(AccessError):
            self.env["telephony.call"].with_user(self.other_user).telephony_check_number("123")
        # Checking places no call.
        self.assertFalse(calls.search([]))

    def test_a_typed_number_is_matched_to_its_contact(self):
        calls = self.env["telephony.call"].with_user(self.sales_user)
        call = calls.browse(calls.dial("+7 916 123-45-67"))
        self.assertEqual(call.partner_id, self.client)
        unknown = calls.browse(calls.dial("+7 916 000-00-01"))
        self.assertFalse(unknown.partner_id)

    def test_recent_calls_and_call_back_of_a_masked_user(self):
        self.env["res.groups"].create(
            {
                "name": "Masked sellers",
                "telephony_mask_mode": "prefix",
                "telephony_mask_count": 4,
                "users": [(4, self.sales_user.id)],
            }
        )
        missed = (
            self.env["telephony.call"]
            .sudo()
            .create(
                {
                    "direction": "inbound",
                    "state": "ended",
                    "outcome": "no_answer",
                    "number": "+79165558329",
                    "number_e164": "+79165558329",
                    "ringing_user_ids": [(4, self.sales_user.id)],
                    "start_date": fields.Datetime.now() - timedelta(minutes=5),
                }
            )
        )
        calls = self.env["telephony.call"].with_user(self.sales_user)
        recent = calls.telephony_recent_calls()
        self.assertEqual([row["id"] for row in recent], [missed.id])
        self.assertEqual(recent[0]["outcome_label"], "No answer")
        self.assertNotIn("916", recent[0]["number"])
        again = calls.browse(missed.with_user(self.sales_user).action_call_back())
        self.assertEqual(again.sudo().number_e164, "+79165558329")
        self.assertEqual(again.direction, "outbound")
        # Another user's call is not theirs to call back.
        with self.assertRaises(AccessError):
            missed.with_user(self.other_user).action_call_back()


@tagged("post_install", "-at_install", "ip_telephony")
class TestDialPadTour(TelephonyHttpCommon):
    def test_dial_pad(self):
        self.startPatcher(
            patch.object(WebsocketConnectionHandler, "websocket_allowed", return_value=True)
        )
        params = self.env["ir.config_parameter"].sudo()
        params.set_param("ip_telephony.banned_codes", "+44")
        params.set_param("ip_telephony.show_reminder", False)
        earlier = self.env["telephony.call"].create(
            {
                "direction": "outbound",
                "state": "ended",
                "outcome": "busy",
                "number": "8 (916) 123-45-67",
                "number_e164": "+79161234567",
                "user_id": self.sales_user.id,
                "partner_id": self.client.id,
                "start_date": fields.Datetime.now() - timedelta(hours=1),
            }
        )
        self.start_tour("/odoo", "ip_telephony_dial_pad", login="sales", timeout=120)
        placed = self.env["telephony.call"].search(
            [("user_id", "=", self.sales_user.id), ("id", ">", earlier.id)], order="id"
        )
        self.assertEqual(placed.mapped("number_e164"), ["+79165558329", "+79161234567"])
        self.assertEqual(placed[1].partner_id, self.client)
        commands = self.env["telephony.command"].search([("call_id", "in", placed.ids)])
        self.assertEqual(commands.mapped("type"), ["dial", "dial"])
