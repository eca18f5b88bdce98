from odoo.exceptions import UserError
from odoo.tests import TransactionCase, tagged

from .common import TelephonyCommon, make_event


@tagged("at_install", "-post_install", "ip_telephony")
class TestIndexWhileInstalling(TransactionCase):
    def test_writes_made_before_the_registry_is_ready_reach_the_index(self):
        """Data files and migrations write phones before ``_register_hook`` runs."""
        self.env["ir.config_parameter"].sudo().set_param("ip_telephony.region", "RU")
        partner = self.env["res.partner"].create({"name": "Data file", "phone": "+7 916 555 00 11"})
        self.assertEqual(self.env["res.partner"]._telephony_match("+79165550011"), partner)
        partner.phone = "+7 916 555 00 12"
        self.assertFalse(self.env["res.partner"]._telephony_match("+79165550011"))
        self.assertEqual(self.env["res.partner"]._telephony_match("+79165550012"), partner)


@tagged("post_install", "-at_install", "ip_telephony")
class TestContactNumbers(TelephonyCommon):
    """A contact's numbers are read in the contact's country."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.us = cls.env.ref("base.us")
        cls.american = cls.env["res.partner"].create(
            {"name": "Jane Doe", "phone": "(870)-931-0777", "country_id": cls.us.id}
        )

    def test_a_us_contacts_national_number_dials_on_first_click(self):
        calls = self.env["telephony.call"].with_user(self.sales_user)
        call = calls.browse(calls.dial_field("res.partner", self.american.id, "phone"))
        self.assertEqual(call.sudo().number_e164, "+18709310777")
        self.assertEqual(call.partner_id, self.american)
        command = self.env["telephony.command"].search([("call_id", "=", call.id)])
        self.assertIn("+18709310777", str(command.payload))

    def test_a_calls_own_number_is_read_in_the_plans_country(self):
        """Calling back from the call log: the trunk gave the number as written here."""
        incoming = self.env["telephony.call"].create(
            {
                "direction": "inbound",
                "number": "8 (916) 123-45-67",
                "partner_id": self.american.id,
                "user_id": self.sales_user.id,
            }
        )
        calls = self.env["telephony.call"].with_user(self.sales_user)
        call = calls.browse(calls.dial("8 (916) 123-45-67", "telephony.call", incoming.id))
        self.assertEqual(call.sudo().number_e164, "+79161234567")

    def test_international_rules_still_apply_to_the_contacts_number(self):
        self.env["ir.config_parameter"].sudo().set_param("ip_telephony.allow_international", "")
        calls = self.env["telephony.call"].with_user(self.sales_user)
        with self.assertRaisesRegex(UserError, "International calls are not allowed"):
            calls.dial_field("res.partner", self.american.id, "phone")

    def test_an_incoming_call_from_the_contacts_number_names_the_contact(self):
        self.post_events(
            make_event(
                "call.created",
                "us-caller",
                direction="inbound",
                number="+18709310777",
                account_id=self.account.id,
            )
        )
        call = self.env["telephony.call"].search([("engine_call_id", "=", "us-caller")])
        self.assertEqual(call.partner_id, self.american)

    def test_the_index_holds_only_valid_numbers_read_in_the_records_country(self):
        numbers = self.env["telephony.number"]
        self.assertEqual(numbers._match("+18709310777"), self.american.ids)
        # Read as Russian, this made up +6039963820 before.
        nowhere = self.env["res.partner"].create({"name": "No country", "phone": "(603)-996-3820"})
        self.assertFalse(
            numbers.search([("res_id", "=", nowhere.id), ("res_model", "=", "res.partner")])
        )
        self.assertFalse(numbers._match("+6039963820"))
        # Its country set, it is read there.
        nowhere.country_id = self.us
        self.assertEqual(numbers._match("+16039963820"), nowhere.ids)

    def test_a_contact_without_country_is_read_in_its_companys(self):
        company = self.env["res.partner"].create(
            {"name": "Acme", "is_company": True, "country_id": self.us.id}
        )
        person = self.env["res.partner"].create(
            {"name": "Employee", "parent_id": company.id, "mobile": "(941)-284-4871"}
        )
        self.assertEqual(self.env["telephony.number"]._match("+19412844871"), person.ids)
        self.assertFalse(self.env["telephony.number"]._match("+79412844871"))

    def test_the_back_fill_reads_numbers_in_their_records_country(self):
        self.env["telephony.callable.model"]._telephony_reindex_all()
        numbers = self.env["telephony.number"]
        self.assertEqual(numbers._match("+18709310777"), self.american.ids)
        self.assertIn(self.client.id, numbers._match("+79161234567"))

    def test_try_a_number_written_in_a_country(self):
        settings = self.env["res.config.settings"].create(
            {"telephony_try_number": "(870)-931-0777", "telephony_try_country_id": self.us.id}
        )
        html = str(settings.telephony_try_result)
        self.assertIn("+18709310777", html)
        self.assertIn("Jane Doe", html)
        settings.telephony_try_country_id = False
        self.assertIn("text-danger", str(settings.telephony_try_result))


@tagged("post_install", "-at_install", "ip_telephony")
class TestDemoContacts(TelephonyCommon):
    def test_every_demo_contact_dials_and_is_named_when_it_calls(self):
        if not self.env["ir.module.module"].search([("name", "=", "ip_telephony")]).demo:
            self.skipTest("needs the demo data")
        calls = self.env["telephony.call"].with_user(self.sales_user)
        self.sales_user.groups_id += self.env.ref("base.group_partner_manager")
        partners = self.env["res.partner"].search(
            [("phone", "!=", False), ("id", "!=", self.client.id)]
        )
        self.assertTrue(partners)
        for index, partner in enumerate(partners):
            with self.subTest(partner=partner.name, phone=partner.phone):
                call = calls.browse(calls.dial_field("res.partner", partner.id, "phone"))
                e164 = call.sudo().number_e164
                self.assertIn(partner.id, self.env["telephony.number"]._match(e164))
                ref = f"demo-caller-{index}"
                self.post_events(
                    make_event(
                        "call.created",
                        ref,
                        direction="inbound",
                        number=e164,
                        account_id=self.account.id,
                    )
                )
                incoming = self.env["telephony.call"].search([("engine_call_id", "=", ref)])
                # Named: this contact, or another one with the same number.
                self.assertTrue(incoming.partner_id)
                self.assertIn(incoming.partner_id.id, self.env["telephony.number"]._match(e164))


@tagged("post_install", "-at_install", "ip_telephony")
class TestCallsOnTheContact(TelephonyCommon):
    def test_the_contact_counts_and_lists_its_calls_and_its_peoples(self):
        company = self.env["res.partner"].create({"name": "Acme", "is_company": True})
        person = self.env["res.partner"].create({"name": "Employee", "parent_id": company.id})
        Call = self.env["telephony.call"]
        for partner, user in ((company, self.sales_user), (person, self.sales_user)):
            Call.create({"direction": "inbound", "partner_id": partner.id, "user_id": user.id})
        Call.create({"direction": "inbound", "partner_id": self.client.id})
        self.assertEqual(company.with_user(self.sales_user).telephony_call_count, 2)
        self.assertEqual(person.with_user(self.sales_user).telephony_call_count, 1)
        action = person.with_user(self.sales_user).action_telephony_calls()
        self.assertEqual(action["res_model"], "telephony.call")
        listed = Call.with_user(self.sales_user).search(action["domain"])
        self.assertEqual(listed.partner_id, person)
        listed = Call.search(company.action_telephony_calls()["domain"])
        self.assertEqual(listed.partner_id, company | person)
        arch = self.env["res.partner"].with_user(self.sales_user).get_views([(False, "form")])
        self.assertIn("action_telephony_calls", arch["views"]["form"]["arch"])
        # Users without the call log see no count.
        self.assertEqual(company.with_user(self.other_user).telephony_call_count, 0)
