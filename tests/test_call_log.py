from datetime import timedelta

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import tagged

from .common import TelephonyCommon, TelephonyHttpCommon, make_event
from .test_recordings import mp3


def _dialled(env, user, number="+79161234567"):
    return (
        env["telephony.call"]
        .sudo()
        .create(
            {
                "direction": "outbound",
                "number": number,
                "number_e164": number,
                "user_id": user.id,
            }
        )
    )


@tagged("post_install", "-at_install", "ip_telephony")
class TestCallOutcome(TelephonyCommon):
    """How a call ended, told apart from the engine's outcome and SIP code."""

    def _end_outbound(self, outcome, code=None, reason=""):
        call = _dialled(self.env, self.sales_user)
        ref = f"c-{call.id}"
        data = {"outcome": outcome, "reason": reason}
        if code:
            data["code"] = code
        result = self.post_events(
            make_event(
                "call.created",
                ref,
                direction="outbound",
                number="+79161234567",
                odoo_call_id=call.id,
            ),
            make_event("call.ended", ref, **data),
        )
        self.assertFalse(result["rejected"])
        call.invalidate_recordset()
        return call

    def test_declined_busy_and_no_answer_apart(self):
        # The user's own phone rejected the call (the engine says no_answer).
        declined_here = self._end_outbound("no_answer", 486, "the user declined")
        self.assertEqual(declined_here.outcome, "declined")
        self.assertEqual(
            declined_here.outcome_reason_text, "The call was declined on the user's phone (486)"
        )
        # The client's line was busy.
        busy = self._end_outbound("busy", 486, "Busy Here")
        self.assertEqual(busy.outcome, "busy")
        self.assertEqual(busy.outcome_reason_text, "Busy (486)")
        # The client pressed "decline".
        declined = self._end_outbound("no_answer", 603, "Decline")
        self.assertEqual(declined.outcome, "declined")
        self.assertEqual(declined.outcome_reason_text, "Declined (603)")
        # Nobody picked up.
        unanswered = self._end_outbound("no_answer", 480, "Temporarily Unavailable")
        self.assertEqual(unanswered.outcome, "no_answer")
        self.assertEqual(unanswered.outcome_reason_text, "Temporarily unavailable (480)")
        failed = self._end_outbound("failed", 404, "Not Found")
        self.assertEqual(failed.outcome, "failed")
        self.assertEqual(failed.outcome_reason_text, "The number does not exist (404)")
        cancelled = self._end_outbound("cancelled", None, "user hung up")
        self.assertEqual(cancelled.outcome, "cancelled")
        self.assertEqual(cancelled.outcome_reason_text, "The user hung up")
        # A reason the log does not know is shown as the engine said it.
        odd = self._end_outbound("failed", None, "something odd")
        self.assertEqual(odd.outcome_reason_text, "something odd")

    def test_an_incoming_call_nobody_could_take_stays_missed(self):
        self.post_events(
            make_event("call.created", "c-in-1", direction="inbound", number="+79161234567"),
            make_event(
                "call.ended", "c-in-1", outcome="no_answer", reason="all lines are busy", code=486
            ),
        )
        call = self.env["telephony.call"].search([("engine_call_id", "=", "c-in-1")])
        self.assertEqual(call.outcome, "no_answer")
        self.assertTrue(call.callback_scheduled, "a missed call is still called back")
        self.assertEqual(call.outcome_reason_text, "All lines were busy (486)")

    def test_reasons_in_russian(self):
        self.env["res.lang"]._activate_lang("ru_RU")
        self.env["ir.module.module"].search([("name", "=", "ip_telephony")])._update_translations(
            ["ru_RU"]
        )
        call = self._end_outbound("no_answer", 603, "Decline")
        call = call.with_context(lang="ru_RU")
        self.assertEqual(call.outcome_reason_text, "Отклонён (603)")
        self.assertEqual(
            dict(call._fields["outcome"]._description_selection(call.env))["declined"],
            "Отклонён",
        )


@tagged("post_install", "-at_install", "ip_telephony")
class TestCallLogViews(TelephonyCommon):
    """Reports of the call log: per user and day, never by a hidden number."""

    def _ended(self, user, start, talk, outcome="answered", number="+79161234567"):
        return (
            self.env["telephony.call"]
            .sudo()
            .create(
                {
                    "direction": "outbound",
                    "state": "ended",
                    "number": number,
                    "number_e164": number,
                    "user_id": user.id,
                    "start_date": start,
                    "answer_date": start if talk else False,
                    "end_date": start + timedelta(seconds=talk or 5),
                    "outcome": outcome,
                }
            )
        )

    def test_talk_time_and_answered_share_per_user_and_day(self):
        day = fields.Datetime.to_datetime("2024-05-02 09:00:00")
        self._ended(self.sales_user, day, 65)
        self._ended(self.sales_user, day + timedelta(hours=1), 0, "busy")
        self._ended(self.sales_user, day + timedelta(days=1), 30)
        groups = (
            self.env["telephony.call"]
            .with_user(self.sales_user)
            .read_group(
                [("user_id", "=", self.sales_user.id)],
                ["duration:sum", "answered_percent:avg"],
                ["user_id", "start_date:day"],
                lazy=False,
            )
        )
        by_day = {g["start_date:day"]: g for g in groups}
        self.assertEqual(len(by_day), 2)
        first = next(g for g in groups if g["__count"] == 2)
        self.assertEqual(first["duration"], 65)
        self.assertEqual(first["answered_percent"], 50.0)

    def test_masked_users_group_by_user_but_not_by_number(self):
        self._ended(self.sales_user, fields.Datetime.now(), 10)
        self.env["res.groups"].create(
            {
                "name": "Masked sellers",
                "telephony_mask_mode": "prefix",
                "telephony_mask_count": 4,
                "users": [(4, self.sales_user.id)],
            }
        )
        calls = self.env["telephony.call"].with_user(self.sales_user)
        self.assertEqual(calls.read_group([], ["duration:sum"], ["outcome"])[0]["duration"], 10)
        with self.assertRaises(UserError):
            calls.read_group([], ["duration:sum"], ["number"])
        described = calls.fields_get(["number", "user_id"], ["groupable", "sortable"])
        self.assertFalse(described["number"]["groupable"])
        self.assertFalse(described["number"]["sortable"])
        self.assertTrue(described["user_id"]["groupable"])
        self.assertTrue(
            self.env["telephony.call"].fields_get(["number"], ["groupable"])["number"]["groupable"]
        )
        for view_type in ("graph", "pivot", "list"):
            arch = calls.get_views([(False, view_type)])["views"][view_type]["arch"]
            self.assertNotIn('name="number" type="row"', arch)
            self.assertNotIn('name="number" type="col"', arch)

    def test_one_duration_column_with_the_recording_buttons(self):
        arch = self.env["telephony.call"].get_views([(False, "list")])["views"]["list"]["arch"]
        self.assertEqual(arch.count('name="duration"'), 1)
        self.assertIn('widget="telephony_duration"', arch)
        self.assertIn('name="end_date"', arch)
        self.assertIn('widget="telephony_recording_buttons"', arch)


@tagged("post_install", "-at_install", "ip_telephony")
class TestCallLogTour(TelephonyHttpCommon):
    def test_call_log(self):
        now = fields.Datetime.now().replace(microsecond=0)
        calls = self.env["telephony.call"]
        old_client = self.env["res.partner"].create({"name": "Old Client"})
        values = {
            "direction": "outbound",
            "state": "ended",
            "number": "+79161234567",
            "number_e164": "+79161234567",
            "user_id": self.sales_user.id,
        }
        answered = calls.create(
            {
                **values,
                "partner_id": self.client.id,
                "start_date": now - timedelta(minutes=10),
                "answer_date": now - timedelta(minutes=9),
                "end_date": now - timedelta(minutes=9) + timedelta(seconds=65),
                "outcome": "answered",
            }
        )
        answered._attach_recording(mp3())
        calls.create(
            {
                **values,
                "start_date": now - timedelta(minutes=8),
                "end_date": now,
                "outcome": "declined",
                "outcome_code": 603,
            }
        )
        calls.create(
            {
                **values,
                "start_date": now - timedelta(minutes=7),
                "end_date": now,
                "outcome": "busy",
                "outcome_code": 486,
            }
        )
        calls.create(
            {
                **values,
                "partner_id": old_client.id,
                "start_date": now - timedelta(days=40),
                "answer_date": now - timedelta(days=40),
                "end_date": now - timedelta(days=40) + timedelta(seconds=30),
                "outcome": "answered",
            }
        )
        missed = calls.create(
            {
                **values,
                "direction": "inbound",
                "user_id": False,
                "start_date": now - timedelta(minutes=5),
                "end_date": now,
                "outcome": "no_answer",
            }
        )
        missed.ringing_user_ids = self.sales_user
        self.start_tour(
            "/odoo/action-ip_telephony.telephony_call_action",
            "ip_telephony_call_log",
            login="sales",
            timeout=180,
        )


@tagged("post_install", "-at_install", "ip_telephony")
class TestMissedNotCalledBack(TelephonyCommon):
    """The supervisors' list of missed calls that nobody called back yet."""

    NOT_CALLED_BACK = [
        ("direction", "=", "inbound"),
        ("outcome", "in", ("no_answer", "cancelled")),
        ("called_back", "=", False),
    ]

    def _missed(self, ref, number):
        self.post_events(
            make_event("call.created", ref, direction="inbound", number=number),
            make_event("call.ended", ref, outcome="no_answer", reason="nobody answered"),
        )
        return self.env["telephony.call"].search([("engine_call_id", "=", ref)])

    def test_calling_back_or_an_answered_call_settles_a_missed_call(self):
        first = self._missed("c-miss-1", "+79161234567")
        second = self._missed("c-miss-2", "+79165558329")
        calls = self.env["telephony.call"]
        self.assertEqual(calls.search(self.NOT_CALLED_BACK), first | second)
        # The seller calls the first number back from anywhere (here the pad).
        calls.with_user(self.sales_user).dial("8 916 123-45-67")
        self.assertTrue(first.called_back)
        self.assertEqual(calls.search(self.NOT_CALLED_BACK), second)
        # The second caller calls in again and is answered this time.
        self.post_events(
            make_event("call.created", "c-miss-3", direction="inbound", number="+79165558329"),
            make_event("call.bridged", "c-miss-3"),
            make_event("call.ended", "c-miss-3", outcome="answered", reason="the caller hung up"),
        )
        self.assertTrue(second.called_back)
        self.assertFalse(calls.search(self.NOT_CALLED_BACK))

    def test_supervisor_menus(self):
        manager_menus = self.env.ref("ip_telephony.menu_telephony_missed") | self.env.ref(
            "ip_telephony.menu_telephony_report"
        )
        self.assertTrue(
            manager_menus.groups_id <= self.env.ref("ip_telephony.group_telephony_manager")
        )
        visible = self.env["ir.ui.menu"].with_user(self.sales_user)._visible_menu_ids()
        self.assertFalse(set(manager_menus.ids) & set(visible))
