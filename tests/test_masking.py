import json
from datetime import datetime

from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger

from .common import MaskedRpcMixin, TelephonyHttpCommon

NUMBER = "+7 916 555-83-29"
E164 = "+79165558329"
DIAL = "89165558329"
FORWARD = "+7 495 777-12-34"
# Substrings of the numbers that a user whose numbers are hidden must never
# receive, whatever the format.
SECRETS = ("5558329", "555-83-29", "9165558", "916 555", "7771234", "777-12-34")
NUMBER_FIELDS = ["number", "number_e164", "dial_string", "forwarded_to"]


@tagged("post_install", "-at_install", "ip_telephony")
class TestMasking(MaskedRpcMixin, TelephonyHttpCommon):
    """F27: a user of a masking group never receives the numbers, by any RPC."""

    rpc_model = "telephony.call"
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
        # Exporting is a right of its own: the masked user has it.
        cls.sales_user.groups_id = [(4, cls.env.ref("base.group_allow_export").id)]
        cls.call = cls.env["telephony.call"].create(
            {
                "direction": "inbound",
                "number": NUMBER,
                "number_e164": E164,
                "dial_string": DIAL,
                "forwarded_to": FORWARD,
                "user_id": cls.sales_user.id,
                "partner_id": cls.client.id,
                "start_date": datetime(2024, 5, 1, 12, 0),
            }
        )
        # The engine moves the call (nothing is tracked), a user writes a note.
        cls.call.write({"state": "ended", "outcome": "answered"})
        cls.env.flush_all()
        cls.env.cr.precommit.run()
        cls.call.with_user(cls.sales_user).message_post(
            body="Wants a quote", message_type="comment"
        )
        cls.call.activity_schedule(
            "mail.mail_activity_data_todo", user_id=cls.sales_user.id, summary="Call back"
        )

    def setUp(self):
        super().setUp()
        self.authenticate("sales", "salesxxx")

    # ------------------------------------------------------------------
    # reads
    # ------------------------------------------------------------------

    def test_every_read_hides_the_numbers(self):
        ids = [self.call.id]
        spec = {name: {} for name in NUMBER_FIELDS} | {"display_name": {}}
        reads = {
            "read": self.rpc("read", ids, NUMBER_FIELDS + ["display_name"]),
            "search_read": self.rpc("search_read", [], NUMBER_FIELDS),
            "web_read": self.rpc("web_read", ids, specification=spec),
            "web_search_read": self.rpc("web_search_read", [], specification=spec),
            "export_data": self.rpc("export_data", ids, NUMBER_FIELDS + ["display_name"]),
            "name_search": self.rpc("name_search", ""),
            "onchange": self.rpc("onchange", ids, {}, [], spec),
            "partner read": self.rpc(
                "web_read",
                [self.client.id],
                model="res.partner",
                specification={"display_name": {}},
            ),
        }
        for what, answer in reads.items():
            with self.subTest(what):
                self.assertResult(answer, what)
        rows = reads["read"]["result"]
        self.assertEqual(rows[0]["number"], "")
        self.assertEqual(rows[0]["display_name"], f"Call #{self.call.id}")
        self.assertEqual(reads["web_search_read"]["result"]["length"], 1)
        self.assertEqual(
            reads["export_data"]["result"]["datas"], [["", "", "", "", rows[0]["display_name"]]]
        )

    def test_prefix_masking_shows_the_end_only(self):
        self.masked_group.write({"telephony_mask_mode": "prefix", "telephony_mask_count": 4})
        answer = self.rpc("read", [self.call.id], NUMBER_FIELDS + ["display_name"])
        row = answer["result"][0]
        self.assertEqual(row["number"], "+* *** 555-83-29")
        self.assertEqual(row["number_e164"], "+****5558329")
        self.assertEqual(row["dial_string"], "****5558329")
        self.assertEqual(row["forwarded_to"], "+* *** 777-12-34")
        self.assertEqual(row["display_name"], "+* *** 555-83-29")
        self.assertNotIn("916", json.dumps(answer))
        names = self.rpc("name_search", "")["result"]
        self.assertEqual(names, [[self.call.id, "+* *** 555-83-29"]])

    def test_unmasked_users_see_the_numbers(self):
        self.masked_group.write({"users": [(3, self.sales_user.id)]})
        row = self.rpc("read", [self.call.id], NUMBER_FIELDS + ["display_name"])["result"][0]
        self.assertEqual(row["number"], NUMBER)
        self.assertEqual(row["forwarded_to"], FORWARD)
        self.assertEqual(row["display_name"], NUMBER)
        count = self.rpc("search_count", [("number", "ilike", "555-83")])["result"]
        self.assertEqual(count, 1)
        grouped = self.rpc("read_group", [], ["number"], ["number"])["result"]
        self.assertEqual(grouped[0]["number"], NUMBER)

    # ------------------------------------------------------------------
    # searches and groups
    # ------------------------------------------------------------------

    def test_no_search_spells_a_number_out(self):
        with mute_logger("odoo.http"):
            for domain in (
                [("number", "ilike", "916")],
                [("number", "like", "+7 9")],
                [("number_e164", "=like", "+7916%")],
                [("number_e164", "=ilike", "+7916_______")],
                [("number_e164", "ilike", "+79165558")],
                [("dial_string", "ilike", "8916")],
                [("forwarded_to", "ilike", "+7 495 777-12-34")],
                [("number", "not ilike", "916")],
                [("number_e164", ">", "+7916")],
                [("number_e164", "<=", "+79166")],
                [("display_name", "ilike", "916")],
                ["|", ("id", "=", 0), ("number", "ilike", "5")],
            ):
                with self.subTest(domain=domain):
                    self.assertRefused(self.rpc("search_count", domain), str(domain))
                    self.assertRefused(
                        self.rpc("web_search_read", domain, specification={"id": {}}), str(domain)
                    )

    def test_the_complete_number_finds_the_call(self):
        for domain in (
            [("number_e164", "=", E164)],
            [("number", "=", NUMBER)],
            [("number", "ilike", "8 (916) 555-83-29")],
            [("number", "ilike", NUMBER)],
            [("number_e164", "ilike", E164)],
            [("number_e164", "in", [E164])],
            [("number_e164", "in", [E164, E164])],
        ):
            with self.subTest(domain=domain):
                result = self.rpc("web_search_read", domain, specification={"number": {}})
                self.assertEqual(self.assertResult(result, str(domain))["length"], 1)
        self.assertEqual(
            self.assertResult(
                self.rpc("search_count", [("number_e164", "=", "+79165558320")]), "="
            ),
            0,
        )
        found = self.assertResult(self.rpc("name_search", "8 916 555 83 29"), "name_search")
        self.assertEqual([row[0] for row in found], [self.call.id])
        # Autocompletion on part of a number: no match, no error.
        self.assertEqual(self.assertResult(self.rpc("name_search", "916"), "name_search"), [])

    def test_no_search_tests_a_list_of_candidates(self):
        """One search tests one number: a list of candidates would find the
        hidden number among thousands of known ones in a few requests."""
        candidates = [f"+7916555{n:04d}" for n in range(8300, 8400)]
        with mute_logger("odoo.http"):
            for domain in (
                [("number_e164", "in", candidates)],
                [("number_e164", "not in", candidates)],
                [("number_e164", "in", [E164, "+70000000000"])],
                ["|", ("number_e164", "=", candidates[0]), ("number_e164", "=", candidates[1])],
                ["|", ("number_e164", "=", E164), ("forwarded_to", "=", "+74957771234")],
                ["|", ("number", "ilike", NUMBER), ("number_e164", "=", "+70000000000")],
            ):
                with self.subTest(domain=str(domain)[:80]):
                    self.assertRefused(self.rpc("search_count", domain), str(domain)[:80])
                    self.assertRefused(
                        self.rpc("web_search_read", domain, specification={"id": {}}),
                        str(domain)[:80],
                    )
        # Presence tests name no number.
        present = self.rpc("search_count", [("number_e164", "!=", False)])
        self.assertEqual(self.assertResult(present, "!= False"), 1)

    def test_no_sort_order_follows_a_number(self):
        """Sorted results would bisect a hidden number against known ones."""
        self.env["telephony.call"].create(
            {
                "direction": "inbound",
                "number": "+70000000001",
                "number_e164": "+70000000001",
                "user_id": self.sales_user.id,
            }
        )
        with mute_logger("odoo.http"):
            for fname in NUMBER_FIELDS:
                for order in (fname, f"{fname} desc", f"id, {fname} asc"):
                    with self.subTest(order=order):
                        for method, args, kwargs in (
                            ("search", [[]], {"order": order}),
                            ("search_read", [[]], {"fields": ["id"], "order": order}),
                            ("web_search_read", [[]], {"specification": {}, "order": order}),
                            ("search_fetch", [[], ["id"]], {"order": order}),
                            ("web_read_group", [[], ["id:count"], ["user_id"]], {"orderby": order}),
                        ):
                            self.assertRefused(self.rpc(method, *args, **kwargs), method)
        rows = self.assertResult(
            self.rpc("search_read", [], fields=["id"], order="start_date desc"), "by date"
        )
        self.assertEqual(len(rows), 2)

    def test_no_grouping_shows_a_number(self):
        with mute_logger("odoo.http"):
            for method, args, kwargs in (
                ("read_group", [[], ["number"], ["number"]], {}),
                ("read_group", [[], ["number_e164"], ["number_e164"]], {}),
                ("web_read_group", [[], ["dial_string"], ["dial_string"]], {}),
                ("read_group", [[], ["number:array_agg"], ["user_id"]], {}),
                ("read_group", [[], ["number_e164:max"], ["user_id"]], {}),
                ("read_group", [[], ["forwarded_to:min"], ["direction"]], {}),
            ):
                with self.subTest(method=method, args=args):
                    self.assertRefused(self.rpc(method, *args, **kwargs), f"{method} {args}")
        counted = self.rpc("read_group", [], ["number:count_distinct"], ["user_id"])
        self.assertEqual(self.assertResult(counted, "count_distinct")[0]["number"], 1)
        by_user = self.rpc("web_read_group", [], ["duration:sum"], ["user_id"])
        self.assertEqual(self.assertResult(by_user, "web_read_group")["length"], 1)

    # ------------------------------------------------------------------
    # chatter, card, reports
    # ------------------------------------------------------------------

    def test_chatter_shows_no_number(self):
        thread = {"thread_model": "telephony.call", "thread_id": self.call.id}
        messages = self.make_jsonrpc_request("/mail/thread/messages", thread)
        self.assertHidden(messages, "/mail/thread/messages")
        self.assertEqual(len(messages["messages"]), 2)  # created, note
        data = self.make_jsonrpc_request(
            "/mail/thread/data",
            {**thread, "request_list": ["activities", "attachments", "followers"]},
        )
        self.assertHidden(data, "/mail/thread/data")
        for model, domain, names in (
            (
                "mail.message",
                [("model", "=", "telephony.call"), ("res_id", "=", self.call.id)],
                ["record_name", "body", "subject", "preview"],
            ),
            ("mail.activity", [("res_model", "=", "telephony.call")], ["res_name", "summary"]),
        ):
            with self.subTest(model):
                self.assertResult(self.rpc("search_read", domain, names, model=model), model)
        # Stored copies of the call's name carry no number, even for those
        # who may see it (they are read by everyone who reads the thread).
        record_names = self.env["mail.message"].search(
            [("model", "=", "telephony.call"), ("res_id", "=", self.call.id)]
        )
        neutral = f"Call #{self.call.id}"
        self.assertLessEqual(set(record_names.mapped("record_name")), {False, neutral})
        self.assertIn(neutral, record_names.mapped("record_name"))
        self.assertEqual(self.call.activity_ids.res_name, f"Call #{self.call.id}")

    def test_no_field_of_a_call_is_tracked(self):
        """So no number, and no message per call, ever reaches the chatter."""
        self.assertEqual(self.env["telephony.call"]._track_get_fields(), set())

    def test_card_and_reports_are_masked(self):
        card = self.call.with_user(self.sales_user)._card_payload()
        self.assertEqual(card["number"], "")
        self.assertHidden(card, "card")
        view = self.env["ir.ui.view"].create(
            {
                "name": "call sheet",
                "type": "qweb",
                "arch": '<t t-name="call_sheet"><p t-field="doc.number"/>'
                '<p t-out="doc.number_e164"/><p t-out="doc.display_name"/>'
                "<p t-out=\"', '.join(doc.mapped('dial_string'))\"/></t>",
            }
        )
        html = str(
            self.env["ir.qweb"]
            .with_user(self.sales_user)
            ._render(view.id, {"doc": self.call.with_user(self.sales_user)})
        )
        self.assertHidden(html, "report")
        self.assertIn(f"Call #{self.call.id}", html)

    def test_server_code_in_superuser_mode_reads_the_number(self):
        call = self.call.with_user(self.sales_user)
        self.assertEqual(call.number, "")
        self.assertEqual(call.sudo().number, NUMBER)
        self.assertEqual(call.sudo().mapped("number_e164"), [E164])
        # The engine still finds calls by their number.
        self.assertEqual(
            self.env["telephony.call"].sudo().search([("number", "ilike", "555-83")]), self.call
        )


@tagged("post_install", "-at_install", "ip_telephony")
class TestMaskingSettings(TelephonyHttpCommon):
    def test_telephony_administrators_set_masking_on_any_group(self):
        tel_admin = new_test_user(self.env, login="teladmin", groups="base.group_user")
        self.env["telephony.user"].create({"user_id": tel_admin.id})
        self.env.ref("ip_telephony.group_telephony_manager").users = [(4, tel_admin.id)]
        group = self.env["res.groups"].create({"name": "Interns"})
        group.with_user(tel_admin).write(
            {"telephony_mask_mode": "prefix", "telephony_mask_count": 3}
        )
        self.assertEqual(group.telephony_mask_mode, "prefix")
        with self.assertRaises(AccessError):
            group.with_user(tel_admin).write({"name": "Renamed", "telephony_mask_mode": "full"})
        with self.assertRaises(AccessError):
            group.with_user(self.sales_user).write({"telephony_mask_mode": "full"})
        self.assertEqual(group.telephony_mask_mode, "prefix")

    def test_policy_follows_group_changes(self):
        Groups = self.env["res.groups"]
        self.assertEqual(Groups._telephony_mask_policy(self.sales_user), ("none", 0))
        group = Groups.create(
            {"name": "Masked", "telephony_mask_mode": "prefix", "telephony_mask_count": 2}
        )
        self.assertEqual(Groups._telephony_mask_policy(self.sales_user), ("none", 0))
        self.sales_user.groups_id = [(4, group.id)]
        self.assertEqual(Groups._telephony_mask_policy(self.sales_user), ("prefix", 2))
        group.telephony_mask_count = 5
        self.assertEqual(Groups._telephony_mask_policy(self.sales_user), ("prefix", 5))
        Groups.create(
            {"name": "Hidden", "telephony_mask_mode": "full", "users": [(4, self.sales_user.id)]}
        )
        self.assertEqual(Groups._telephony_mask_policy(self.sales_user), ("full", 0))
        self.assertEqual(Groups._telephony_mask_policy(self.env["res.users"]), ("none", 0))

    def test_masking_screen(self):
        action = self.env.ref("ip_telephony.res_groups_action_telephony_masking")
        self.assertEqual(self.env.ref("ip_telephony.menu_telephony_masking").action, action)
        admin = self.env.ref("base.user_admin")
        views = self.env["res.groups"].with_user(admin).get_views([(action.view_id.id, "list")])
        arch = views["views"]["list"]["arch"]
        for name in (
            "telephony_mask_mode",
            "telephony_mask_count",
            "telephony_may_listen",
            "telephony_may_download",
        ):
            self.assertIn(f'name="{name}"', arch)
        settings = self.env["res.config.settings"].with_user(admin).get_views([(False, "form")])
        self.assertIn(f'name="{action.id}"', settings["views"]["form"]["arch"])
