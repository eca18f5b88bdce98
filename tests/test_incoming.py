import base64
import io
import json
import time
import wave
from unittest.mock import patch

from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger

from ..models import res_config_settings
from ..telephony import audio as greeting_audio
from ..telephony import protocol
from .common import TelephonyHttpCommon, make_event

CALLER = "+79161234567"
UNKNOWN = "+79035550011"
GREETING = "/telephony/engine/greeting"


def mp3_of(seconds, frequency=1000, bitrate="32k"):
    """An mp3 made with pydub: a tone, or silence for long files."""
    AudioSegment = greeting_audio._pydub()[0]  # noqa: N806 - quiet about audioop
    from pydub.generators import Sine

    if frequency:
        segment = Sine(frequency).to_audio_segment(duration=int(seconds * 1000))
    else:
        segment = AudioSegment.silent(duration=int(seconds * 1000))
    out = io.BytesIO()
    segment.set_channels(1).export(out, format="mp3", bitrate=bitrate)
    return out.getvalue()


@tagged("post_install", "-at_install", "ip_telephony")
class TestIncomingCalls(TelephonyHttpCommon):
    """F13-F15, B3, B4: what Odoo makes of the engine's incoming-call events."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.admins = cls.env.ref("ip_telephony.group_telephony_manager").users.filtered(
            lambda user: user.active and not user.share
        )
        cls.second_user = new_test_user(
            cls.env, login="second", groups="base.group_user", name="Sam Second"
        )
        cls.second_tel = cls.env["telephony.user"].create({"user_id": cls.second_user.id})
        # A seller may create contacts; the second user may not.
        cls.sales_user.groups_id += cls.env.ref("base.group_partner_manager")

    def _incoming(self, ref, number=CALLER, start=None, logins=None):
        start = start or time.time() - 60
        if logins is None:
            logins = [self.sales_tel.sip_login, self.second_tel.sip_login]
        events = [
            make_event(
                "call.created",
                ref,
                at=start,
                direction="inbound",
                number=number,
                account_id=self.account.id,
            ),
            make_event("call.ringing", ref, at=start + 2, logins=logins),
        ]
        response = self.send_events(*events)
        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(len(response.json()["accepted"]), 2, response.text)
        return self.env["telephony.call"].search([("engine_call_id", "=", ref)])

    def _cards(self):
        """(channel partner id, card payload) of every call card on the bus, in order."""
        cards = []
        for note in self.env["bus.bus"].sudo().search([], order="id"):
            message = json.loads(note.message)
            if message.get("type") != "ip_telephony.call/updated":
                continue
            channel = json.loads(note.channel)
            cards.append((channel[2] if isinstance(channel, list) else channel, message["payload"]))
        return cards

    def _callbacks(self, record):
        """Call-back activities on ``record``, once the triggered cron has run."""
        self.env.ref("ip_telephony.ir_cron_telephony_callbacks").method_direct_trigger()
        return self._activities(record)

    def _activities(self, record):
        return self.env["mail.activity"].search(
            [("res_model", "=", record._name), ("res_id", "=", record.id)]
        )

    # ------------------------------------------------------------------
    # Caller lookup and call cards (B3, F14)
    # ------------------------------------------------------------------

    def test_known_caller_is_matched_whatever_the_stored_format(self):
        self.assertEqual(self.client.phone, "8 (916) 123-45-67")
        call = self._incoming("in-match")
        self.assertEqual(call.direction, "inbound")
        self.assertEqual(call.partner_id, self.client)
        self.assertEqual(call.number_e164, CALLER)
        self.assertEqual(call.account_id, self.account)
        self.assertEqual(call.ringing_user_ids, self.sales_user | self.second_user)
        unknown = self._incoming("in-unknown", number=UNKNOWN)
        self.assertFalse(unknown.partner_id)

    def test_cards_reach_exactly_the_ringing_users(self):
        self.env["bus.bus"].sudo().search([]).unlink()
        self._incoming("in-cards", logins=[self.sales_tel.sip_login])
        cards = self._cards()
        self.assertEqual({partner for partner, _card in cards}, {self.sales_user.partner_id.id})
        card = cards[-1][1]
        self.assertEqual(card["state"], "ringing")
        self.assertEqual(card["direction"], "inbound")
        self.assertEqual(card["partner_name"], "Ivan Petrov")
        self.assertEqual(card["number"], CALLER)
        self.assertFalse(card["answered_elsewhere"])
        self.assertEqual(card["answered_by"], "")
        self.assertFalse(card["can_create_contact"])

    def test_other_users_card_closes_when_one_answers(self):
        call = self._incoming("in-answer")
        self.env["bus.bus"].sudo().search([]).unlink()
        start = time.time() - 50
        self.send_events(
            make_event("call.answered", "in-answer", at=start, login=self.sales_tel.sip_login),
            make_event("call.bridged", "in-answer", at=start + 0.1),
        )
        self.assertEqual(call.user_id, self.sales_user)
        self.assertEqual(call.state, "talking")
        last = {}
        for partner, card in self._cards():
            last[partner] = card
        self.assertEqual(set(last), {self.sales_user.partner_id.id, self.second_user.partner_id.id})
        mine = last[self.sales_user.partner_id.id]
        self.assertTrue(mine["is_mine"])
        self.assertFalse(mine["answered_elsewhere"])
        other = last[self.second_user.partner_id.id]
        self.assertFalse(other["is_mine"])
        self.assertTrue(other["answered_elsewhere"])
        self.assertEqual(other["answered_by"], "Sally Sales")
        # After a page reload, only the user who took the call gets its card back.
        Call = self.env["telephony.call"]
        self.assertEqual(Call.with_user(self.second_user).telephony_active_cards(), [])
        self.assertEqual(
            [c["id"] for c in Call.with_user(self.sales_user).telephony_active_cards()], [call.id]
        )

    def test_forwarded_call_is_logged_as_forwarded_and_closes_the_cards(self):
        call = self._incoming("in-fwd")
        start = time.time() - 40
        self.send_events(
            make_event("call.dialing", "in-fwd", at=start, dial="84951234567"),
            make_event("call.forwarded", "in-fwd", at=start + 3, number="+74951234567"),
            make_event("call.ended", "in-fwd", at=start + 30, outcome="forwarded"),
        )
        self.assertEqual((call.state, call.outcome), ("ended", "forwarded"))
        self.assertEqual(call.forwarded_to, "+74951234567")
        self.assertEqual(call.duration, 27)
        self.assertTrue(call._card_payload()["answered_elsewhere"])
        self.assertFalse(self._callbacks(self.client))
        self.assertFalse(self._callbacks(call))
        self.assertFalse(call.callback_scheduled)

    # ------------------------------------------------------------------
    # Missed calls (B4)
    # ------------------------------------------------------------------

    def test_missed_call_of_a_known_caller_is_a_call_back_for_the_salesperson_once(self):
        call = self._incoming("in-missed")
        ended = make_event(
            "call.ended", "in-missed", outcome="no_answer", reason="nobody is available"
        )
        cron = self.env.ref("ip_telephony.ir_cron_telephony_callbacks")
        triggers = self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)])
        self.send_events(ended)
        # The engine's request only queues it, and wakes the cron up.
        self.assertFalse(self._activities(self.client))
        self.assertTrue(self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)]) - triggers)
        activities = self._callbacks(self.client)
        self.assertEqual(len(activities), 1)
        self.assertEqual(activities.user_id, self.sales_user)
        self.assertEqual(activities.activity_type_id, self.env.ref("mail.mail_activity_data_call"))
        self.assertEqual(activities.summary, "Call back")
        self.assertFalse(self._callbacks(call))
        # Replayed, and sent again under a new id (an engine restart): still one.
        replay = self.send_events(ended)
        self.assertEqual(len(replay.json()["duplicates"]), 1)
        self.send_events(make_event("call.ended", "in-missed", outcome="cancelled"))
        self.assertEqual(self._callbacks(self.client), activities)
        self.assertTrue(call.callback_scheduled)

    def test_missed_call_of_an_unknown_caller_goes_to_the_administrators(self):
        self.assertTrue(self.admins)
        call = self._incoming("in-stranger", number=UNKNOWN)
        for _attempt in range(2):
            self.send_events(make_event("call.ended", "in-stranger", outcome="cancelled"))
        activities = self._callbacks(call)
        self.assertEqual(activities.user_id, self.admins)
        self.assertEqual(len(activities), len(self.admins))
        self.assertEqual(set(activities.mapped("summary")), {"Call back"})

    def test_known_caller_without_salesperson_goes_to_the_administrators(self):
        self.client.user_id = False
        self._incoming("in-nosales")
        self.send_events(make_event("call.ended", "in-nosales", outcome="no_answer"))
        self.assertEqual(self._callbacks(self.client).user_id, self.admins)

    def test_answered_calls_and_outgoing_calls_are_not_missed(self):
        self._incoming("in-taken")
        start = time.time() - 30
        self.send_events(
            make_event("call.answered", "in-taken", at=start, login=self.sales_tel.sip_login),
            make_event("call.bridged", "in-taken", at=start + 0.1),
            make_event("call.ended", "in-taken", at=start + 9, outcome="answered"),
            make_event(
                "call.created",
                "out-1",
                at=start,
                direction="outbound",
                number=CALLER,
                account_id=self.account.id,
            ),
            make_event("call.ended", "out-1", at=start + 5, outcome="no_answer"),
        )
        self.assertFalse(self._callbacks(self.client))

    # ------------------------------------------------------------------
    # Unknown callers become contacts (B3)
    # ------------------------------------------------------------------

    def test_create_contact_from_an_unknown_callers_call(self):
        call = self._incoming("in-new", number=UNKNOWN).with_user(self.sales_user)
        self.assertTrue(call._card_payload()["can_create_contact"])
        action = call.action_create_contact()
        self.assertEqual(action["res_model"], "res.partner")
        self.assertEqual(action["context"]["default_phone"], UNKNOWN)
        partner = (
            self.env["res.partner"]
            .with_user(self.sales_user)
            .with_context(**action["context"])
            .create({"name": "Olga Newcomer", "child_ids": [(0, 0, {"name": "Her assistant"})]})
        )
        self.assertEqual(partner.phone, UNKNOWN)
        self.assertEqual(call.partner_id, partner)
        self.assertFalse(call._card_payload()["can_create_contact"])
        # Next time she calls, she is known.
        self.assertEqual(self._incoming("in-again", number=UNKNOWN).partner_id, partner)
        with self.assertRaisesRegex(UserError, "already linked"):
            call.action_create_contact()

    def test_create_contact_needs_access_to_the_call_and_keeps_numbers_masked(self):
        call = self._incoming("in-masked", number=UNKNOWN, logins=[self.sales_tel.sip_login])
        with self.assertRaises(AccessError):
            call.with_user(self.other_user).action_create_contact()
        ringing_too = self._incoming("in-masked-2", number=UNKNOWN)
        with self.assertRaisesRegex(AccessError, "not allowed to create"):
            ringing_too.with_user(self.second_user).action_create_contact()
        self.env["res.groups"].create(
            {
                "name": "Masked sellers",
                "telephony_mask_mode": "full",
                "users": [(4, self.sales_user.id)],
            }
        )
        action = call.with_user(self.sales_user).action_create_contact()
        self.assertNotIn("default_phone", action["context"])
        partner = (
            self.env["res.partner"]
            .with_user(self.sales_user)
            .with_context(**action["context"])
            .create({"name": "Hidden Caller"})
        )
        self.assertEqual(call.partner_id, partner)
        # The contact's phone is masked for its creator as the call's number
        # is: the contact gets the number, which its creator cannot read.
        self.assertEqual(partner.sudo().phone, call.sudo().number_e164)
        self.assertEqual(partner.with_user(self.sales_user).phone, "")
        self.assertEqual(self.env["res.partner"]._telephony_match(call.sudo().number_e164), partner)

    def test_a_contact_whose_phones_are_not_masked_gets_no_hidden_number(self):
        self.env.ref("ip_telephony.telephony_callable_model_res_partner").unlink()
        call = self._incoming("in-masked", number=UNKNOWN, logins=[self.sales_tel.sip_login])
        self.env["res.groups"].create(
            {
                "name": "Masked sellers",
                "telephony_mask_mode": "full",
                "users": [(4, self.sales_user.id)],
            }
        )
        action = call.with_user(self.sales_user).action_create_contact()
        partner = (
            self.env["res.partner"]
            .with_user(self.sales_user)
            .with_context(**action["context"])
            .create({"name": "Hidden Caller"})
        )
        self.assertEqual(call.partner_id, partner)
        # Readable there, the number stays on the call only.
        self.assertFalse(partner.sudo().phone)
        self.assertFalse(partner.sudo().mobile)

    # ------------------------------------------------------------------
    # Greeting (F13, F29)
    # ------------------------------------------------------------------

    def _upload(self, data, name="greeting.mp3"):
        settings = self.env["res.config.settings"].create(
            {
                "telephony_greeting": base64.b64encode(data) if data else False,
                "telephony_greeting_name": name,
            }
        )
        settings.execute()
        return settings

    def test_invalid_greetings_are_refused_with_a_clear_message(self):
        wav = io.BytesIO()
        with wave.open(wav, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(8000)
            out.writeframes(b"\x00\x10" * 8000)
        too_long = mp3_of(res_config_settings.GREETING_MAX_SECONDS + 5, 0, bitrate="8k")
        too_big = b"ID3" + b"\x00" * res_config_settings.GREETING_MAX_BYTES
        for data, message in (
            (wav.getvalue(), "must be an mp3 file"),
            (b"ID3\x04\x00" + bytes(range(256)) * 8, "not a readable mp3"),
            (too_long, r"too long: 65\.\d s, at most 60 s"),
            (too_big, "too big"),
        ):
            with self.subTest(message=message), self.assertRaisesRegex(ValidationError, message):
                self._upload(data)
        config = self.signed_post("/telephony/engine/config", {"protocol": 1}).json()
        self.assertIsNone(config["settings"]["greeting_url"])
        self.assertEqual(self.signed_post(GREETING, {"protocol": 1}).status_code, 404)

    @mute_logger("odoo.addons.ip_telephony.models.telephony_engine")
    def test_greeting_is_converted_once_and_served_to_the_engine(self):
        mp3 = mp3_of(2.0)
        real = res_config_settings.greeting_to_wav
        with patch.object(res_config_settings, "greeting_to_wav", side_effect=real) as convert:
            self._upload(mp3, "welcome.mp3")
            shown = self.env["res.config.settings"].create({})
            self.assertEqual(base64.b64decode(shown.telephony_greeting), mp3)
            self.assertEqual(shown.telephony_greeting_name, "welcome.mp3")
            shown.execute()  # saving the settings again does not convert again
            self.assertEqual(convert.call_count, 1)
            config = self.signed_post("/telephony/engine/config", {"protocol": 1}).json()
            settings = config["settings"]
            self.assertEqual(settings["greeting_url"], GREETING)
            self.assertTrue(settings["greeting_version"])
            for _fetch in range(2):
                response = self.signed_post(GREETING, {"protocol": 1})
                self.assertEqual(response.status_code, 200, response.text)
            self.assertEqual(convert.call_count, 1)
        self.assertEqual(response.headers["Content-Type"], "audio/wav")
        self.assertEqual(
            response.headers[protocol.HEADER_GREETING_VERSION], settings["greeting_version"]
        )
        with wave.open(io.BytesIO(response.content)) as served:
            shape = (served.getframerate(), served.getnchannels(), served.getsampwidth())
            self.assertEqual(shape, (8000, 1, 2))
            self.assertAlmostEqual(served.getnframes() / 8000, 2.0, delta=0.2)
        # The route is signed like every engine route.
        forged = self.signed_post(GREETING, {"protocol": 1}, secret="not-the-secret")
        self.assertEqual(forged.status_code, 403)
        # A new greeting is a new version; removing it tells the engine too.
        self._upload(mp3_of(1.0, 500), "other.mp3")
        newer = self.signed_post("/telephony/engine/config", {"protocol": 1}).json()
        self.assertNotEqual(newer["settings"]["greeting_version"], settings["greeting_version"])
        self._upload(False)
        removed = self.signed_post("/telephony/engine/config", {"protocol": 1}).json()
        self.assertIsNone(removed["settings"]["greeting_url"])
        self.assertEqual(self.signed_post(GREETING, {"protocol": 1}).status_code, 404)
        self.assertFalse(
            self.env["ir.attachment"].search([("name", "in", ("welcome.mp3", "other.mp3"))])
        )
