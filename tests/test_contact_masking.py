import json

from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import MaskedRpcMixin, TelephonyHttpCommon

PHONE = "(870) 931-0777"
PHONE_E164 = "+18709310777"
MOBILE = "+7 916 555-83-29"
MOBILE_E164 = "+79165558329"
# Substrings of the contact's numbers a masked user must never receive.
SECRETS = ("9310777", "931-0777", "931 0777", "5558329", "555-83-29", "916 555", "9165558")


@tagged("post_install", "-at_install", "ip_telephony")
class TestContactMasking(MaskedRpcMixin, TelephonyHttpCommon):
    """Users of a masking group call contacts without ever seeing their numbers."""

    rpc_model = "res.partner"
    hidden_parts = SECRETS

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.masked_group = cls.env["res.groups"].create(
            {
                "name": "Masked sellers",
                "telephony_mask_mode": "full",
                "users": [(4, cls.sales_user.id)],
            }
        )
        cls.sales_user.groups_id = [
            (4, cls.env.ref("base.group_allow_export").id),
            (4, cls.env.ref("base.group_partner_manager").id),
        ]
        cls.contact = cls.env["res.partner"].create(
            {
                "name": "Jane Doe",
                "phone": PHONE,
                "mobile": MOBILE,
                "country_id": cls.env.ref("base.us").id,
            }
        )
        cls.other = cls.env["res.partner"].create({"name": "John Roe", "phone": "+1 212 555 0147"})

    def setUp(self):
        super().setUp()
        self.authenticate("sales", "salesxxx")

    # ------------------------------------------------------------------

    def test_every_read_of_a_contact_hides_its_numbers(self):
        ids = [self.contact.id]
        names = ["phone", "mobile", "display_name"]
        spec = {"phone": {}, "mobile": {}, "display_name": {}}
        domain = [("id", "=", self.contact.id)]
        reads = {
            "read": self.rpc("read", ids, names),
            "search_read": self.rpc("search_read", domain, names),
            "web_read": self.rpc("web_read", ids, specification=spec),
            "web_search_read": self.rpc("web_search_read", domain, specification=spec),
            "export_data": self.rpc("export_data", ids, names),
            "onchange": self.rpc("onchange", ids, {}, [], spec),
            "name_search": self.rpc("name_search", "Jane"),
        }
        for what, answer in reads.items():
            with self.subTest(what):
                self.assertResult(answer, what)
        self.assertEqual(reads["read"]["result"][0]["phone"], "")
        self.assertEqual(reads["export_data"]["result"]["datas"], [["", "", "Jane Doe"]])
        # A country change's onchange reformats the phone it reads: still hidden.
        changed = self.rpc(
            "onchange",
            ids,
            {"country_id": self.env.ref("base.ca").id},
            ["country_id"],
            spec | {"country_id": {}},
        )
        self.assertResult(changed, "onchange country")

    def test_prefix_masking_shows_the_end_only(self):
        self.masked_group.write({"telephony_mask_mode": "prefix", "telephony_mask_count": 6})
        row = self.assertResult(self.rpc("read", [self.contact.id], ["phone", "mobile"]), "read")
        self.assertEqual(row[0]["phone"], "(***) ***-0777")
        self.assertEqual(row[0]["mobile"], "+* *** **5-83-29")

    def test_unmasked_users_see_sort_and_group_the_numbers(self):
        self.masked_group.write({"users": [(3, self.sales_user.id)]})
        row = self.rpc("read", [self.contact.id], ["phone"])["result"][0]
        self.assertEqual(row["phone"], PHONE)
        found = self.rpc("search_count", [("phone", "ilike", "931-07")])["result"]
        self.assertEqual(found, 1)
        self.assertNotIn("error", self.rpc("search", [], order="phone"))

    def test_no_search_spells_a_contacts_number_out(self):
        with mute_logger("odoo.http"):
            for domain in (
                [("phone", "ilike", "931")],
                [("phone", "=like", "(870)%")],
                [("mobile", "ilike", "+7916555")],
                [("phone", ">", "(870)")],
                [("phone", "not ilike", "931")],
                ["|", ("name", "=", "x"), ("mobile", "ilike", "5")],
                [("phone", "in", [PHONE, "(870) 931-0778"])],
                ["|", ("phone", "=", PHONE), ("phone", "=", "(870) 931-0778")],
            ):
                with self.subTest(domain=domain):
                    self.assertRefused(self.rpc("search_count", domain), str(domain))
                    self.assertRefused(
                        self.rpc("web_search_read", domain, specification={"id": {}}), str(domain)
                    )
            self.assertRefused(
                self.rpc("name_search", "Jane", args=[("phone", "ilike", "0777")]), "name_search"
            )

    def test_the_complete_number_finds_the_contact(self):
        for domain in (
            [("phone", "ilike", "+1 870 931 0777")],
            [("phone", "=", PHONE)],
            [("phone", "in", [PHONE])],
            [("mobile", "ilike", "8 916 555 83 29")],
            ["|", ("phone", "ilike", "+1 870 931 0777"), ("mobile", "ilike", "+1 870 931 0777")],
        ):
            with self.subTest(domain=domain):
                ids = self.assertResult(self.rpc("search", domain), str(domain))
                self.assertEqual(ids, self.contact.ids)

    def test_no_sort_or_group_follows_a_contacts_number(self):
        with mute_logger("odoo.http"):
            for method, args, kwargs in (
                ("search", [[]], {"order": "phone"}),
                ("search_read", [[]], {"fields": ["name"], "order": "mobile desc"}),
                ("web_search_read", [[]], {"specification": {}, "order": "name, phone"}),
                ("read_group", [[], ["phone"], ["phone"]], {}),
                ("read_group", [[], ["phone:max"], ["country_id"]], {}),
                ("web_read_group", [[], ["mobile:array_agg"], ["country_id"]], {}),
            ):
                with self.subTest(method=method, args=args, kwargs=kwargs):
                    self.assertRefused(self.rpc(method, *args, **kwargs), method)
        counted = self.rpc("read_group", [("id", "=", self.contact.id)], ["phone:count"], [])
        self.assertEqual(self.assertResult(counted, "count")[0]["phone"], 1)

    def test_the_contact_card_knows_there_is_a_phone_to_call(self):
        spec = {"phone": {}, "telephony_has_phone": {}}
        rows = self.assertResult(
            self.rpc("web_read", [self.contact.id, self.other.id], specification=spec), "web_read"
        )
        self.assertEqual([row["phone"] for row in rows], ["", ""])
        self.assertEqual([row["telephony_has_phone"] for row in rows], [True, True])
        self.other.phone = False
        row = self.rpc("web_read", [self.other.id], specification=spec)["result"][0]
        self.assertFalse(row["telephony_has_phone"])

    def test_the_call_icon_still_dials(self):
        calls = self.env["telephony.call"].with_user(self.sales_user)
        call = calls.browse(calls.dial_field("res.partner", self.contact.id, "phone"))
        self.assertEqual(call.sudo().number_e164, PHONE_E164)
        self.assertEqual(call.partner_id, self.contact)

    def test_a_masked_user_replaces_a_number_without_seeing_it(self):
        contact = self.contact.with_user(self.sales_user)
        # What they see, sent back (a form's onchange, a re-imported export): unchanged.
        contact.write({"phone": "", "name": "Jane Doe Jr"})
        self.assertEqual(self.contact.phone, PHONE)
        self.assertEqual(self.contact.name, "Jane Doe Jr")
        contact.write({"phone": "+1 870 931 0778"})
        self.assertEqual(self.contact.phone, "+1 870 931 0778")
        self.assertEqual(self.env["res.partner"]._telephony_match("+18709310778"), self.contact)
        self.masked_group.write({"telephony_mask_mode": "prefix", "telephony_mask_count": 6})
        contact.write({"mobile": contact.mobile})
        self.assertEqual(self.contact.mobile, MOBILE)
        with self.assertRaisesRegex(Exception, "type the complete new number"):
            contact.write({"mobile": "+* *** **5-83-20"})
        # A copy keeps the numbers, still unseen.
        copy = contact.copy()
        self.assertEqual(copy.sudo().mobile, MOBILE)
        self.assertNotIn("555", copy.mobile)

    def test_chatter_and_templates_show_no_number(self):
        self.contact.phone = "(870) 931-0779"
        self.contact.phone = PHONE
        self.env.flush_all()
        thread = {"thread_model": "res.partner", "thread_id": self.contact.id}
        messages = self.make_jsonrpc_request("/mail/thread/messages", thread)
        self.assertTrue(messages["messages"])
        self.assertHidden(messages, "/mail/thread/messages")
        self.assertNotIn("931-0779", json.dumps(messages, default=str))
        view = self.env["ir.ui.view"].create(
            {
                "name": "contact sheet",
                "type": "qweb",
                "arch": '<t t-name="contact_sheet"><p t-field="doc.phone"/>'
                '<p t-out="doc.mobile"/>'
                "<p t-out=\"', '.join(doc.mapped('phone'))\"/></t>",
            }
        )
        html = str(
            self.env["ir.qweb"]
            .with_user(self.sales_user)
            ._render(view.id, {"doc": self.contact.with_user(self.sales_user)})
        )
        self.assertHidden(html, "report")
        template = self.env["mail.template"].create(
            {
                "name": "Contact mail",
                "model_id": self.env["ir.model"]._get_id("res.partner"),
                "subject": "Call {{ object.phone }}",
                "body_html": '<p>Mobile: <t t-out="object.mobile"/></p>',
            }
        )
        rendered = template.with_user(self.sales_user)._generate_template(
            [self.contact.id], ["subject", "body_html"]
        )
        self.assertHidden(rendered, "mail template")
        self.assertIn("Mobile", str(rendered[self.contact.id]["body_html"]))

    def test_a_users_phone_read_through_the_user_is_masked(self):
        # res.users reads res.partner's phone by delegation, in the user's
        # environment: the partner's field masks it.
        self.masked_group.write({"telephony_mask_mode": "prefix", "telephony_mask_count": 6})
        colleague = self.env["res.users"].create(
            {"name": "Colleague", "login": "colleague", "partner_id": self.contact.id}
        )
        self.assertEqual(colleague.with_user(self.sales_user).phone, "(***) ***-0777")
        answer = self.rpc("read", [colleague.id], ["phone", "mobile"], model="res.users")
        row = self.assertResult(answer, "res.users read")[0]
        self.assertEqual(row["phone"], "(***) ***-0777")
        self.assertEqual(row["mobile"], "+* *** **5-83-29")
        self.assertEqual(colleague.sudo().phone, PHONE)

    def test_a_model_no_longer_callable_is_not_masked(self):
        self.env.ref("ip_telephony.telephony_callable_model_res_partner").unlink()
        self.assertEqual(self.contact.with_user(self.sales_user).phone, PHONE)
        row = self.rpc("read", [self.contact.id], ["phone"])["result"][0]
        self.assertEqual(row["phone"], PHONE)
