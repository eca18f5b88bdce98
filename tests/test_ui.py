import logging
import re
import threading
import time
from contextlib import contextmanager
from unittest.mock import patch

from odoo import api
from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from odoo.addons.bus.models.bus import channel_with_db, dispatch, hashable
from odoo.addons.bus.websocket import WebsocketConnectionHandler

from ..telephony import protocol
from .common import TelephonyCommon, TelephonyHttpCommon, make_event
from .engine_case import start_bus_pump

_logger = logging.getLogger(__name__)

TOUR_TIMEOUT = 180


@tagged("post_install", "-at_install", "ip_telephony")
class TestTelephonySessionInfo(TelephonyCommon):
    """What the web client is told, and the small RPCs it makes."""

    def test_session_info_of_a_telephony_user(self):
        info = self.env["ir.http"].with_user(self.sales_user)._telephony_session_info()
        self.assertTrue(info["is_user"])
        self.assertFalse(info["is_manager"])
        self.assertEqual(list(info["phone_fields"]), ["res.partner"])
        self.assertCountEqual(info["phone_fields"]["res.partner"], ["phone", "mobile"])
        self.assertEqual(info["phone_state"], "unregistered")
        self.assertTrue(info["show_reminder"])
        self.assertEqual(info["mask"], {"mode": "none", "count": 0})

    def test_session_info_of_other_users(self):
        info = self.env["ir.http"].with_user(self.other_user)._telephony_session_info()
        self.assertFalse(info["is_user"])
        self.assertEqual(info["phone_fields"], {})
        self.env["ir.config_parameter"].set_param("ip_telephony.show_reminder", False)
        self.sales_tel.active = False
        info = self.env["ir.http"].with_user(self.sales_user)._telephony_session_info()
        self.assertFalse(info["is_user"], "an archived telephony user places no calls")
        self.assertFalse(info["show_reminder"])

    def test_session_info_follows_callable_models(self):
        """A model added to the callable models gets call icons without code (F11)."""
        model = self.env["ir.model"]._get("res.company")
        self.env["telephony.callable.model"].create(
            {
                "model_id": model.id,
                "field_ids": [(6, 0, model.field_id.filtered(lambda f: f.name == "phone").ids)],
            }
        )
        info = self.env["ir.http"].with_user(self.sales_user)._telephony_session_info()
        self.assertEqual(info["phone_fields"]["res.company"], ["phone"])

    def test_session_info_masking(self):
        self.env["res.groups"].create(
            {
                "name": "Masked callers",
                "telephony_mask_mode": "full",
                "users": [(4, self.sales_user.id)],
            }
        )
        info = self.env["ir.http"].with_user(self.sales_user)._telephony_session_info()
        self.assertEqual(info["mask"]["mode"], "full")

    def test_dial_field_reads_the_number_on_the_server(self):
        """A masked user calls a number they cannot see (F27)."""
        calls = self.env["telephony.call"].with_user(self.sales_user)
        call = calls.browse(calls.dial_field("res.partner", self.client.id, "phone"))
        self.assertEqual(call.number, "8 (916) 123-45-67")
        self.assertEqual(call.partner_id, self.client)
        with self.assertRaisesRegex(UserError, "not a phone field"):
            calls.dial_field("res.partner", self.client.id, "email")
        with self.assertRaisesRegex(UserError, "not a phone field"):
            calls.dial_field("res.users", self.sales_user.id, "phone")
        with self.assertRaisesRegex(UserError, "no longer exists"):
            calls.dial_field("res.partner", 999999999, "phone")
        with self.assertRaisesRegex(UserError, "unknown record"):
            calls.dial_field("res.partner", "1", "phone")
        with self.assertRaises(AccessError):
            self.env["telephony.call"].with_user(self.other_user).dial_field(
                "res.partner", self.client.id, "phone"
            )

    def test_line_status(self):
        status = (
            self.env["telephony.sip.account"].with_user(self.sales_user).telephony_line_status()
        )
        self.assertEqual(
            status["trunks"],
            [
                {
                    "id": self.account.id,
                    "name": "tell@sip.example.com",
                    "state": "pending",
                    "reason": "",
                }
            ],
        )
        self.assertEqual(status["phone"], "unregistered")
        self.assertEqual(status["engine"], "offline")
        self.assertNotIn("trunk-secret", str(status))
        with self.assertRaises(AccessError):
            self.env["telephony.sip.account"].with_user(self.other_user).telephony_line_status()


@tagged("post_install", "-at_install", "ip_telephony")
class TestTelephonyUi(TelephonyHttpCommon):
    """The web client: call icons, call cards, line status, reminder (tours)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # The bus reaches the browser over a websocket, which tests disable.
        cls.startClassPatcher(
            patch.object(WebsocketConnectionHandler, "websocket_allowed", return_value=True)
        )
        cls.admin = cls.env.ref("base.user_admin")
        cls.admin_tel = cls.admin._telephony_user() or cls.env["telephony.user"].create(
            {"user_id": cls.admin.id}
        )
        cls.env["ir.config_parameter"].set_param("ip_telephony.show_reminder", False)
        cls.engine_key = cls.engine.key
        cls.engine_secret = cls.engine.sudo().secret

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------

    def _post(self, *events):
        """Post signed events without the ORM, so that a thread may use it."""
        body = protocol.encode({"protocol": 1, "events": list(events)})
        headers = protocol.signed_headers(self.engine_key, self.engine_secret, body)
        headers["Content-Type"] = "application/json"
        response = self.url_open("/telephony/engine/events", data=body, headers=headers, timeout=30)
        response.raise_for_status()
        accepted = response.json()["accepted"]
        if len(accepted) != len(events):
            raise AssertionError(f"events not applied: {response.text}")

    @contextmanager
    def _bus_pump(self):
        """Deliver bus notifications to the browser while a tour runs."""
        stop = start_bus_pump()
        try:
            yield
        finally:
            stop()

    @contextmanager
    def _in_background(self, target):
        """Run ``target`` in a thread during the tour; re-raise its failure."""
        errors = []

        def run():
            try:
                target()
            except Exception as exc:  # noqa: BLE001 - reported in the test thread
                errors.append(exc)

        thread = threading.Thread(target=run, name="ip_telephony engine", daemon=True)
        thread.start()
        try:
            yield
        finally:
            thread.join(30)
            for error in errors:
                _logger.error("The engine thread failed: %s", error)
        if errors:
            raise errors[0]
        self.assertFalse(thread.is_alive(), "the engine thread is stuck")

    def _count_calls(self, model, method):
        """Patch an RPC method to count its calls; returns (counter, events)."""
        calls = {"count": 0}
        reached = {n: threading.Event() for n in (1, 2, 3)}
        original = getattr(self.registry[model], method)

        def counted(records, *args, **kwargs):
            result = original(records, *args, **kwargs)
            calls["count"] += 1
            if calls["count"] in reached:
                reached[calls["count"]].set()
            return result

        if getattr(original, "_api", None) == "model":
            counted = api.model(counted)
        self.startPatcher(patch.object(self.registry[model], method, counted))
        return reached

    def _wait_subscribed(self, user, timeout=30):
        channel = hashable(channel_with_db(self.env.cr.dbname, user.partner_id))
        deadline = time.time() + timeout
        while channel not in dispatch._channels_to_ws:
            if time.time() > deadline:
                raise AssertionError("the browser never subscribed to the bus")
            time.sleep(0.1)

    # ------------------------------------------------------------------
    # Tours
    # ------------------------------------------------------------------

    def test_click_to_call(self):
        """F11: list, kanban and form icons place calls; refusals are shown."""
        self.env["ir.config_parameter"].set_param("ip_telephony.banned_codes", "+44")
        company = self.env["res.partner"].create(
            {"name": "Petrov and Sons", "is_company": True, "phone": "+7 495 000-00-00"}
        )
        olga = self.env["res.partner"].create(
            {"name": "Olga Petrova", "parent_id": company.id, "phone": "+7 495 111-22-33"}
        )
        with self._bus_pump():
            self.start_tour(
                "/odoo/contacts?view_type=list",
                "ip_telephony_click_to_call",
                login="admin",
                timeout=TOUR_TIMEOUT,
            )
        calls = self.env["telephony.call"].search([("user_id", "=", self.admin.id)])
        ivan = calls.filtered(lambda call: call.partner_id == self.client)
        self.assertEqual(len(ivan), 1)
        self.assertEqual(ivan.number, "8 (916) 123-45-67")
        self.assertEqual(ivan.number_e164, "+79161234567")
        self.assertEqual((ivan.res_model, ivan.res_id), ("res.partner", self.client.id))
        self.assertEqual(ivan.direction, "outbound")
        olga_call = calls.filtered(lambda call: call.partner_id == olga)
        self.assertEqual(olga_call.number, "+7 495 111-22-33")
        self.assertEqual(company.phone, "+44 20 7946 0000", "the form was saved before the call")
        self.assertEqual(len(calls), 2, "the refused number was not called")

    def test_call_card(self):
        """F14: engine events make the card appear, tick, survive a reload, close."""
        call = self.env["telephony.call"].browse(
            self.env["telephony.call"]
            .with_user(self.admin)
            .dial("8 (916) 123-45-67", "res.partner", self.client.id)
        )
        login = self.admin_tel.sip_login
        # Loaded, reloaded (the card is back), reloaded again: then hang up.
        reloaded = self._count_calls("telephony.call", "telephony_active_cards")[3]

        def engine():
            self._wait_subscribed(self.admin)
            now = time.time()
            self._post(
                make_event(
                    "call.created",
                    "c-ui-1",
                    at=now - 10,
                    direction="outbound",
                    number="+79161234567",
                    odoo_call_id=call.id,
                ),
                make_event("call.ringing", "c-ui-1", at=now - 9, logins=[login]),
                make_event("call.answered", "c-ui-1", at=now - 6, login=login),
                make_event("call.dialing", "c-ui-1", at=now - 6, dial="89161234567"),
                make_event("call.bridged", "c-ui-1", at=now - 3),
            )
            if not reloaded.wait(90):
                raise AssertionError("the tour never reloaded the page")
            time.sleep(1)  # the tour resumes on the new page
            self._post(make_event("call.ended", "c-ui-1", outcome="answered"))

        with self._bus_pump(), self._in_background(engine):
            self.start_tour("/odoo", "ip_telephony_call_card", login="admin", timeout=TOUR_TIMEOUT)
        self.assertEqual(call.state, "ended")
        self.assertEqual(call.outcome, "answered")

    def test_masked_card_in_russian(self):
        """F27, F17 and i18n: stars in a Russian card, the reminder once, a hidden number called."""
        self.env["ir.config_parameter"].set_param("ip_telephony.show_reminder", True)
        self.env["ir.config_parameter"].set_param("ip_telephony.card_fields", "email,user_id,phone")
        self.env["res.groups"].create(
            {
                "name": "Masked callers",
                "telephony_mask_mode": "prefix",
                "telephony_mask_count": 4,
                "users": [(4, self.sales_user.id)],
            }
        )
        self.env["res.lang"]._activate_lang("ru_RU")
        self.env["ir.module.module"]._load_module_terms(["ip_telephony"], ["ru_RU"])
        self.sales_user.lang = "ru_RU"
        self._post(
            make_event(
                "call.created",
                "c-ui-2",
                direction="inbound",
                number="+79161234567",
                account_id=self.account.id,
            ),
            make_event("call.ringing", "c-ui-2", logins=[self.sales_tel.sip_login]),
        )
        dialled_by_field = self._count_calls("telephony.call", "dial_field")[1]
        # The first page in a new language builds its translations for a while.
        self.authenticate("sales", "sales")
        self.url_open("/odoo", timeout=60)
        with self._bus_pump():
            self.start_tour(
                "/odoo", "ip_telephony_masked_card", login="sales", timeout=TOUR_TIMEOUT
            )
        self.assertTrue(dialled_by_field.is_set(), "a masked user calls through the server")
        outgoing = self.env["telephony.call"].search(
            [("user_id", "=", self.sales_user.id), ("direction", "=", "outbound")]
        )
        self.assertEqual(outgoing.sudo().number, "8 (916) 123-45-67")
        self.assertEqual(outgoing.partner_id, self.client)

    def test_unknown_caller(self):
        """B3, F14: a contact made from the card; a call a colleague took closes."""
        account = self.account.id
        admin_login, sales_login = self.admin_tel.sip_login, self.sales_tel.sip_login
        self._post(
            make_event(
                "call.created",
                "c-ui-3",
                direction="inbound",
                number="+74951234000",
                account_id=account,
            ),
            make_event("call.ringing", "c-ui-3", logins=[admin_login]),
        )
        contact_asked = self._count_calls("telephony.call", "action_create_contact")
        contact_linked = self._count_calls("telephony.call", "_telephony_link_created_contact")

        def engine():
            if not contact_linked[1].wait(90):
                raise AssertionError("the tour never made a contact")
            self._post(
                make_event(
                    "call.created",
                    "c-ui-4",
                    direction="inbound",
                    number="+74957654321",
                    account_id=account,
                ),
                make_event("call.ringing", "c-ui-4", logins=[admin_login, sales_login]),
            )
            # The tour shows it has the card by asking for a contact again.
            if not contact_asked[2].wait(90):
                raise AssertionError("the tour never saw the second call")
            self._post(
                make_event("call.answered", "c-ui-4", login=sales_login),
                make_event("call.bridged", "c-ui-4"),
            )

        with self._bus_pump(), self._in_background(engine):
            self.start_tour(
                "/odoo", "ip_telephony_unknown_caller", login="admin", timeout=TOUR_TIMEOUT
            )
        call = self.env["telephony.call"].search([("engine_call_id", "=", "c-ui-3")])
        self.assertEqual(call.partner_id.name, "New Caller")
        self.assertEqual(re.sub(r"\D", "", call.partner_id.phone), "74951234000")
        taken = self.env["telephony.call"].search([("engine_call_id", "=", "c-ui-4")])
        self.assertEqual(taken.user_id, self.sales_user)

    def test_no_telephony_user(self):
        """F8: users without telephony see plain phone fields and no line status."""
        with self._bus_pump():
            self.start_tour(
                "/odoo/contacts?view_type=list",
                "ip_telephony_no_telephony",
                login="other",
                timeout=TOUR_TIMEOUT,
            )

    def test_line_status(self):
        """F4: the systray turns red when a trunk fails, with the reason."""
        self._post(
            make_event("engine.heartbeat"),
            make_event("trunk.state", account_id=self.account.id, state="registered", code=200),
        )
        reloaded = self._count_calls("telephony.sip.account", "telephony_line_status")[2]

        def engine():
            if not reloaded.wait(90):
                raise AssertionError("the tour never reloaded the page")
            self._post(
                make_event(
                    "trunk.state",
                    account_id=self.account.id,
                    state="failed",
                    code=403,
                    reason="Forbidden",
                )
            )

        with self._bus_pump(), self._in_background(engine):
            self.start_tour(
                "/odoo", "ip_telephony_line_status", login="admin", timeout=TOUR_TIMEOUT
            )
        self.assertEqual(self.account.registration_state, "failed")
