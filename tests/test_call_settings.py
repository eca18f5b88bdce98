from odoo.exceptions import ValidationError
from odoo.tests import tagged

from .common import TelephonyCommon, TelephonyHttpCommon


@tagged("post_install", "-at_install", "ip_telephony")
class TestCallSettings(TelephonyCommon):
    """The country picked from a list, the forward number's own ring time."""

    def _save(self, **values):
        settings = self.env["res.config.settings"].create(values)
        settings.execute()
        return settings

    def test_country_is_picked_from_the_countries(self):
        params = self.env["ir.config_parameter"].sudo()
        settings = self.env["res.config.settings"].create({})
        self.assertEqual(settings.telephony_country_id, self.env.ref("base.ru"))
        self.assertEqual(
            self.env["res.partner"]._telephony_normalize("8 916 123-45-67"), "+79161234567"
        )
        self._save(telephony_country_id=self.env.ref("base.de").id, telephony_city_code="30")
        self.assertEqual(params.get_param("ip_telephony.region"), "DE")
        # Numbers are now read as a German office dials them.
        self.assertEqual(
            self.env["res.partner"]._telephony_normalize("030 1234567"), "+49301234567"
        )
        self.assertEqual(
            self.env["res.config.settings"].create({}).telephony_country_id,
            self.env.ref("base.de"),
        )

    def test_forward_ring_time_is_its_own(self):
        engine_settings = self.env["res.config.settings"]._telephony_engine_settings
        self.assertEqual(engine_settings()["forward_ring_time"], 15)
        version = self.engine._config_payload()["version"]
        self._save(
            telephony_forward_number="+74951234567",
            telephony_ring_time=20,
            telephony_forward_ring_time=25,
        )
        config = self.engine._config_payload()
        self.assertNotEqual(config["version"], version)
        self.assertEqual(config["settings"]["ring_time"], 20)
        self.assertEqual(config["settings"]["forward_ring_time"], 25)
        with self.assertRaises(ValidationError):
            self._save(telephony_forward_ring_time=90)


@tagged("post_install", "-at_install", "ip_telephony")
class TestReminderAtLogin(TelephonyHttpCommon):
    def test_reminder_at_each_login(self):
        params = self.env["ir.config_parameter"].sudo()
        params.set_param("ip_telephony.show_reminder", True)
        http = self.env["ir.http"].with_user(self.sales_user)
        first = http._telephony_session_info()["login_mark"]
        self.env["res.users.log"].with_user(self.sales_user).sudo().create({})
        self.assertNotEqual(http._telephony_session_info()["login_mark"], first)
        self.start_tour("/odoo", "ip_telephony_reminder_login", login="sales", timeout=120)
        params.set_param("ip_telephony.show_reminder", False)
        self.assertFalse(http._telephony_session_info()["show_reminder"])


@tagged("post_install", "-at_install", "ip_telephony")
class TestCallSettingsTour(TelephonyHttpCommon):
    def test_country_and_forward_ring_time_in_settings(self):
        self.start_tour(
            "/odoo/settings#ip_telephony", "ip_telephony_call_settings", login="admin", timeout=120
        )
        params = self.env["ir.config_parameter"].sudo()
        self.assertEqual(params.get_param("ip_telephony.region"), "DE")
        self.assertEqual(params.get_param("ip_telephony.forward_ring_time"), "25")
        self.assertEqual(params.get_param("ip_telephony.card_fields"), "email,user_id,city")
        settings = self.env["res.config.settings"]._telephony_engine_settings()
        self.assertEqual(settings["forward_ring_time"], 25)
        self.assertEqual(settings["forward_number"], "+49 30 1234567")


@tagged("post_install", "-at_install", "ip_telephony")
class TestCardFieldsPicked(TelephonyCommon):
    def test_card_fields_are_picked_in_order(self):
        partner_field = self.env["ir.model.fields"]._get
        settings = self.env["res.config.settings"].create({})
        self.assertEqual(
            settings.telephony_card_field_ids.mapped("name"), ["email", "user_id", "function"]
        )
        picked = [partner_field("res.partner", name).id for name in ("function", "email", "city")]
        self.env["res.config.settings"].create(
            {"telephony_card_field_ids": [(6, 0, picked)]}
        ).execute()
        self.assertEqual(
            self.env["ir.config_parameter"].sudo().get_param("ip_telephony.card_fields"),
            "function,email,city",
        )
        self.client.write({"function": "Buyer", "city": "Tver"})
        call = (
            self.env["telephony.call"]
            .sudo()
            .create(
                {"direction": "inbound", "number": "+79161234567", "partner_id": self.client.id}
            )
        )
        card = call.with_user(self.sales_user)._card_payload()
        self.assertEqual(list(card["partner"]), ["function", "email", "city"])
        self.assertEqual(card["partner"]["city"]["value"], "Tver")
        # Fields of other models are not taken.
        self.env["res.config.settings"].create(
            {"telephony_card_field_ids": [(6, 0, [partner_field("res.users", "login").id])]}
        ).execute()
        self.assertFalse(self.env["res.config.settings"].create({}).telephony_card_field_ids)
        self.assertEqual(call.with_user(self.sales_user)._card_payload()["partner"], {})


@tagged("post_install", "-at_install", "ip_telephony")
class TestEngineStartCommand(TelephonyCommon):
    def test_the_start_command_carries_the_callback_address_and_key(self):
        self.env["res.config.settings"].create(
            {"telephony_odoo_url": "https://crm.example.com/"}
        ).execute()
        command = self.engine.start_command
        self.assertIn("--odoo-url https://crm.example.com --key " + self.engine.key, command)
        self.assertIn("--secret-file ", command)
        self.assertNotIn(self.engine.sudo().secret, command)
        settings = self.env["res.config.settings"].new({"telephony_odoo_url": "https://pbx.test"})
        self.assertIn("--odoo-url https://pbx.test ", settings.telephony_engine_command)
        arch = self.env["res.config.settings"].get_views([(False, "form")])["views"]["form"]["arch"]
        self.assertIn('name="telephony_engine_command"', arch)
