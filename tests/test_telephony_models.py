import re

from psycopg2 import IntegrityError

from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tools import mute_logger

from ..telephony.numbers import REFUSAL_MESSAGES, DialRefused
from .common import TelephonyCommon


@tagged("post_install", "-at_install", "ip_telephony")
class TestSipAccount(TelephonyCommon):
    def test_at_most_three_accounts(self):
        Account = self.env["telephony.sip.account"]
        Account.create({"sip_user": "b", "domain": "b.example.com"})
        Account.create({"sip_user": "c", "domain": "c.example.com"})
        with self.assertRaisesRegex(ValidationError, "At most 3 SIP accounts"):
            Account.create({"sip_user": "d", "domain": "d.example.com"})

    def test_bad_replace_rule_is_refused_at_save(self):
        with self.assertRaisesRegex(ValidationError, "auto-replace rule"):
            self.account.replace_rule = "^(7/8"
        with self.assertRaisesRegex(ValidationError, "auto-replace rule"):
            self.account.replace_rule = "(a+)+/x"
        self.account.replace_rule = "^7/8"
        self.assertEqual(self.account.replace_rule, "^7/8")

    def test_host_with_port(self):
        self.account.host = "sip.example.com:5080"
        with self.assertRaises(ValidationError):
            self.account.host = "sip.example.com:99999"

    def test_registration_state_is_written_by_the_engine_only(self):
        with self.assertRaisesRegex(UserError, "engine only"):
            self.account.registration_state = "registered"
        self.post_events(
            {
                "id": "t1",
                "seq": 1,
                "at": 1795000000.0,
                "type": "trunk.state",
                "data": {
                    "account_id": self.account.id,
                    "state": "failed",
                    "code": 403,
                    "reason": "Forbidden",
                },
            }
        )
        self.assertEqual(self.account.registration_state, "failed")
        self.assertEqual(self.account.registration_reason, "Forbidden")

    def test_password_hidden_from_telephony_users(self):
        account = self.account.with_user(self.sales_user)
        with self.assertRaises(AccessError):
            account.read(["password"])
        self.assertNotIn("password", account.read()[0])


@tagged("post_install", "-at_install", "ip_telephony")
class TestTelephonyUser(TelephonyCommon):
    def test_admin_who_enabled_is_101_with_generated_login(self):
        self.assertEqual(self.manager_tel.extension, "101")
        self.assertTrue(self.manager_tel.sip_login.endswith("_101"))
        self.assertGreaterEqual(len(self.manager_tel.sudo().sip_password), 16)
        self.assertEqual(self.sales_tel.extension, "102")
        self.assertTrue(self.sales_user.has_group("ip_telephony.group_telephony_user"))

    @mute_logger("odoo.sql_db")
    def test_duplicate_extension(self):
        with self.assertRaises(IntegrityError):
            self.env["telephony.user"].create({"user_id": self.other_user.id, "extension": "102"})

    def test_extension_must_be_digits(self):
        with self.assertRaises(ValidationError):
            self.env["telephony.user"].create({"user_id": self.other_user.id, "extension": "1a"})

    def test_password_readable_by_owner_and_admins_only(self):
        other = self.sales_tel.with_user(self.other_user)
        with self.assertRaises(AccessError):
            other.read(["sip_password"])
        own = self.sales_tel.with_user(self.sales_user)
        with self.assertRaises(AccessError):
            own.read(["sip_password"])  # not through the field: through softphone_settings
        settings = own.softphone_settings()
        self.assertEqual(settings["login"], self.sales_tel.sip_login)
        self.assertEqual(settings["password"], self.sales_tel.sudo().sip_password)
        manager_view = self.manager_tel.with_user(self.sales_user)
        with self.assertRaises(AccessError):
            manager_view.softphone_settings()

    def test_new_password_by_owner_or_admins_only(self):
        passwords = {tel: tel.sudo().sip_password for tel in (self.sales_tel, self.manager_tel)}
        for user, tel_user in (
            (self.other_user, self.sales_tel),
            (self.other_user, self.manager_tel),
            (self.sales_user, self.manager_tel),
        ):
            with self.subTest(user=user.login, target=tel_user.extension):
                with self.assertRaisesRegex(AccessError, "your own phone settings"):
                    tel_user.with_user(user).action_new_password()
                self.assertEqual(tel_user.sudo().sip_password, passwords[tel_user])
        with self.assertRaises(AccessError):
            (self.sales_tel | self.manager_tel).with_user(self.sales_user).action_new_password()
        self.assertEqual(self.manager_tel.sudo().sip_password, passwords[self.manager_tel])
        self.sales_tel.with_user(self.sales_user).action_new_password()
        self.assertNotEqual(self.sales_tel.sudo().sip_password, passwords[self.sales_tel])
        renewed = self.sales_tel.sudo().sip_password
        self.sales_tel.with_user(self.env.ref("base.user_admin")).action_new_password()
        self.assertNotEqual(self.sales_tel.sudo().sip_password, renewed)

    def test_only_settings_administrators_change_telephony_settings(self):
        params = self.env["ir.config_parameter"]
        region = params.get_param("ip_telephony.region")
        # Neither a user without telephony nor a telephony user may change the
        # settings, nor disable telephony (which deletes every call and recording).
        for user in (self.other_user, self.sales_user):
            settings = self.env["res.config.settings"].with_user(user)
            for method in ("set_values", "action_telephony_disable", "action_telephony_enable"):
                with self.subTest(user=user.login, method=method), self.assertRaises(AccessError):
                    getattr(settings.browse(), method)()
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                settings._telephony_disable()
        self.assertEqual(params.get_param("ip_telephony.region"), region)
        self.assertTrue(params.get_param("ip_telephony.enabled"))
        self.assertTrue(self.env["telephony.sip.account"].search([]))

    def test_a_telephony_administrator_may_disable_telephony(self):
        """F1: telephony administrators manage the telephony settings, without
        being settings administrators; disabling is one of them."""
        tel_admin = new_test_user(
            self.env,
            login="teladmin",
            groups="base.group_user,ip_telephony.group_telephony_manager",
        )
        self.assertFalse(tel_admin.has_group("base.group_system"))
        self.env["telephony.call"].with_user(self.sales_user).dial("+79161234567")
        self.env["res.config.settings"].with_user(tel_admin).browse().action_telephony_disable()
        self.assertFalse(self.env["ir.config_parameter"].get_param("ip_telephony.enabled"))
        self.assertFalse(self.env["telephony.call"].search([]))
        self.assertFalse(self.env["telephony.sip.account"].search([]))

    def test_auto_enrolment(self):
        group = self.env["res.groups"].create({"name": "Phone sales"})
        self.env["res.config.settings"].create(
            {"telephony_auto_enrol_group_ids": [(6, 0, group.ids)]}
        ).execute()
        newcomer = new_test_user(self.env, login="newcomer", groups="base.group_user")
        self.assertFalse(newcomer._telephony_user())
        newcomer.groups_id = [(4, group.id)]
        tel = newcomer._telephony_user()
        self.assertEqual(tel.extension, "103")
        created = self.env["res.users"].create(
            {
                "name": "Created in group",
                "login": "cig",
                "groups_id": [(4, group.id), (4, self.env.ref("base.group_user").id)],
            }
        )
        self.assertEqual(created._telephony_user().extension, "104")

    def test_disable_then_enable(self):
        call_id = self.env["telephony.call"].with_user(self.sales_user).dial("+79161234567")
        call = self.env["telephony.call"].browse(call_id)
        call._attach_recording(b"ID3" + b"\x00" * 32)
        attachment = call.recording_id
        login = self.sales_tel.sip_login
        password = self.sales_tel.sudo().sip_password
        self.env["res.config.settings"]._telephony_disable()
        self.assertFalse(self.env["telephony.sip.account"].search([]))
        self.assertFalse(self.env["telephony.call"].search([]))
        self.assertFalse(attachment.exists())
        self.assertFalse(self.env["ir.config_parameter"].get_param("ip_telephony.enabled"))
        with self.assertRaises(UserError):
            self.env["telephony.call"].with_user(self.sales_user).dial("+79161234567")
        self.env["res.config.settings"]._telephony_enable()
        self.assertEqual(self.sales_tel.sip_login, login)
        self.assertNotEqual(self.sales_tel.sudo().sip_password, password)
        self.assertFalse(self.env["telephony.call"].search([]))


@tagged("post_install", "-at_install", "ip_telephony")
class TestDial(TelephonyCommon):
    def test_dial_creates_call_and_queues_command(self):
        call_id = (
            self.env["telephony.call"]
            .with_user(self.sales_user)
            .dial("8 (916) 123-45-67", "res.partner", self.client.id)
        )
        call = self.env["telephony.call"].browse(call_id)
        self.assertEqual(call.direction, "outbound")
        self.assertEqual(call.number_e164, "+79161234567")
        self.assertEqual(call.partner_id, self.client)
        self.assertEqual(call.user_id, self.sales_user)
        command = self.env["telephony.command"].search([("call_id", "=", call.id)])
        self.assertEqual(command.type, "dial")
        self.assertEqual(command.payload["login"], self.sales_tel.sip_login)
        self.assertEqual(command.payload["dial"], "79161234567")

    def test_non_telephony_user_cannot_dial(self):
        with self.assertRaises(AccessError):
            self.env["telephony.call"].with_user(self.other_user).dial("+79161234567")

    def test_bad_numbers_get_a_clear_error(self):
        Call = self.env["telephony.call"].with_user(self.sales_user)
        for number in ("", "abc", "٣٤٥٦٧٨٩", "9" * 1000, "12"):
            with self.subTest(number=number[:20]), self.assertRaises(UserError):
                Call.dial(number)
        self.assertFalse(self.env["telephony.call"].search([]))

    def test_refusals_speak_the_users_language(self):
        """Number-rule refusals (B2) are translated, with their number or code."""
        self.env["ir.config_parameter"].set_param("ip_telephony.banned_codes", "+7495")
        self.env["res.lang"]._activate_lang("ru_RU")
        self.env["ir.module.module"]._load_module_terms(["ip_telephony"], ["ru_RU"])
        Call = self.env["telephony.call"].with_user(self.sales_user)
        for lang, number, expected in (
            ("en_US", "+74951234567", "Calls to +7495 are not allowed."),
            ("ru_RU", "+74951234567", "Звонки на +7495 запрещены."),
            ("ru_RU", "abc", "abc — неверный номер телефона."),
            ("ru_RU", "12", "12 — неверный номер телефона."),
        ):
            with self.subTest(lang=lang, number=number):
                with self.assertRaisesRegex(UserError, f"^{re.escape(expected)}$"):
                    Call.with_context(lang=lang).dial(number)

    def test_every_refusal_of_the_core_has_a_translatable_message(self):
        settings = self.env["res.config.settings"]
        params = {"number": "+1", "code": "+1", "digits": "7"}
        for code, english in REFUSAL_MESSAGES.items():
            with self.subTest(code=code):
                refusal = DialRefused("any", code, params)
                self.assertEqual(settings._telephony_refusal_message(refusal), refusal.message)
                self.assertEqual(refusal.message, english.format(**params))

    def test_users_read_only_their_own_calls(self):
        mine = self.env["telephony.call"].with_user(self.sales_user).dial("+79161234567")
        theirs = self.env["telephony.call"].dial("+79161234568")
        Call = self.env["telephony.call"].with_user(self.sales_user)
        self.assertEqual(Call.search([]).ids, [mine])
        with self.assertRaises(AccessError):
            Call.browse(theirs).read(["number"])
        with self.assertRaises(AccessError):
            self.env["telephony.call"].with_user(self.other_user).search([])


@tagged("post_install", "-at_install", "ip_telephony")
class TestAdminSetupTour(HttpCase):
    def test_admin_enables_adds_account_and_user_and_finds_the_call_log(self):
        new_test_user(self.env, login="sally", groups="base.group_user", name="Sally Sales")
        self.start_tour("/odoo/settings#ip_telephony", "ip_telephony_admin_setup", login="admin")
        account = self.env["telephony.sip.account"].search([])
        self.assertEqual((account.sip_user, account.domain), ("tell", "sip.example.com"))
        self.assertEqual(account.password, "trunk-secret")
        admin = self.env.ref("base.user_admin")
        self.assertEqual(admin._telephony_user().extension, "101")
        sally = self.env["res.users"].search([("login", "=", "sally")])
        self.assertEqual(sally._telephony_user().extension, "102")
        self.assertTrue(sally.has_group("ip_telephony.group_telephony_user"))
