import json
import time
from unittest.mock import patch

from odoo.tests import tagged
from odoo.tools import mute_logger

from ..telephony import protocol
from .common import TelephonyHttpCommon, make_event

EVENTS = "/telephony/engine/events"


@tagged("post_install", "-at_install", "ip_telephony")
class TestEngineEvents(TelephonyHttpCommon):
    def _dial(self):
        call_id = (
            self.env["telephony.call"]
            .with_user(self.sales_user)
            .dial("+79161234567", "res.partner", self.client.id)
        )
        return self.env["telephony.call"].browse(call_id)

    def _outbound_flow(self, call, engine_id="c-1", start=None):
        start = start or time.time() - 30
        login = self.sales_tel.sip_login
        return [
            make_event(
                "call.created",
                engine_id,
                at=start,
                direction="outbound",
                number="+79161234567",
                odoo_call_id=call.id,
            ),
            make_event("call.ringing", engine_id, at=start + 1, logins=[login]),
            make_event("call.answered", engine_id, at=start + 4, login=login),
            make_event("call.dialing", engine_id, at=start + 4.1, dial="79161234567"),
            make_event("call.bridged", engine_id, at=start + 8),
            make_event("call.ended", engine_id, at=start + 20, outcome="answered"),
        ]

    def test_signed_events_update_the_call(self):
        call = self._dial()
        response = self.send_events(*self._outbound_flow(call))
        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(len(response.json()["accepted"]), 6)
        self.assertEqual(call.state, "ended")
        self.assertEqual(call.outcome, "answered")
        self.assertEqual(call.duration, 12)
        self.assertEqual(call.engine_call_id, "c-1")

    @mute_logger("odoo.addons.ip_telephony.models.telephony_engine")
    def test_forged_signature_is_refused(self):
        call = self._dial()
        response = self.send_events(*self._outbound_flow(call), secret="not-the-secret")
        self.assertEqual(response.status_code, 403)
        self.assertEqual(response.json()["error"], "signature")
        self.assertEqual(call.state, "new")
        unsigned = self.url_open(
            EVENTS,
            data=b'{"protocol": 1, "events": []}',
            headers={"Content-Type": "application/json"},
        )
        self.assertEqual(unsigned.status_code, 403)

    @mute_logger("odoo.addons.ip_telephony.models.telephony_engine")
    def test_stale_timestamp_is_refused(self):
        response = self.send_events(make_event("engine.heartbeat"), timestamp=time.time() - 3600)
        self.assertEqual(response.status_code, 403)
        self.assertEqual(response.json()["error"], "stale")

    def test_replayed_and_duplicate_events_apply_once(self):
        call = self._dial()
        flow = self._outbound_flow(call)
        self.assertEqual(self.send_events(*flow).status_code, 200)
        replay = self.send_events(*flow)
        self.assertEqual(replay.status_code, 200)
        self.assertEqual(len(replay.json()["duplicates"]), 6)
        self.assertEqual(replay.json()["accepted"], [])
        doubled = self.send_events(flow[0], flow[0])
        self.assertEqual(doubled.json()["accepted"], [])
        self.assertEqual(self.env["telephony.call"].search_count([]), 1)
        self.assertEqual(self.env["telephony.event"].search_count([("call_ref", "=", "c-1")]), 6)

    @mute_logger("odoo.addons.ip_telephony.models.telephony_engine")
    def test_captured_request_replayed_verbatim_is_refused(self):
        body = protocol.encode({"protocol": 1, "events": [make_event("engine.heartbeat")]})
        headers = protocol.signed_headers(self.engine.key, self.engine.sudo().secret, body)
        headers["Content-Type"] = "application/json"
        first = self.url_open(EVENTS, data=body, headers=headers)
        self.assertEqual(first.status_code, 200)
        replay = self.url_open(EVENTS, data=body, headers=headers)
        self.assertEqual(replay.status_code, 403)
        self.assertEqual(replay.json()["error"], "replayed")
        config = protocol.encode({"protocol": 1})
        headers = protocol.signed_headers(self.engine.key, self.engine.sudo().secret, config)
        self.assertEqual(
            self.url_open("/telephony/engine/config", data=config, headers=headers).status_code, 200
        )
        replayed_config = self.url_open("/telephony/engine/config", data=config, headers=headers)
        self.assertEqual(replayed_config.status_code, 403)
        self.assertNotIn("trunk-secret", replayed_config.text)

    def test_out_of_order_events_never_move_a_call_backwards(self):
        call = self._dial()
        flow = self._outbound_flow(call)
        for event in reversed(flow):
            self.assertEqual(self.send_events(event).status_code, 200)
        self.assertEqual(call.state, "ended")
        self.assertEqual(call.duration, 12)
        self.assertEqual(call.outcome, "answered")

    def test_unknown_call_is_recovered(self):
        """Events of a call that ended while Odoo was down still log it, once."""
        start = time.time() - 100
        events = [
            make_event("call.ringing", "lost-1", at=start + 1, logins=[self.sales_tel.sip_login]),
            make_event("call.ended", "lost-1", at=start + 15, outcome="no_answer"),
        ]
        self.assertEqual(self.send_events(*events).status_code, 200)
        call = self.env["telephony.call"].search([("engine_call_id", "=", "lost-1")])
        self.assertEqual(len(call), 1)
        self.assertEqual(call.outcome, "no_answer")
        self.assertIn(self.sales_user, call.ringing_user_ids)

    def test_inbound_call_matches_contact_in_any_format(self):
        created = make_event(
            "call.created",
            "in-1",
            direction="inbound",
            number="+79161234567",
            account_id=self.account.id,
        )
        self.send_events(created)
        call = self.env["telephony.call"].search([("engine_call_id", "=", "in-1")])
        self.assertEqual(call.partner_id, self.client)

    def test_malformed_bodies_get_400(self):
        for body in (
            b"{not json",
            b"[]",
            b'{"protocol": 2, "events": []}',
            b'{"protocol": 1, "events": {}}',
            '{"é": 1}'.encode("latin-1"),
        ):
            with self.subTest(body=body):
                response = self.signed_post(EVENTS, body=body)
                self.assertEqual(response.status_code, 400)
                self.assertEqual(response.json()["error"], "bad_request")

    def test_an_event_that_fails_to_apply_is_refused_alone(self):
        """A batch is applied at once; if one event breaks, the others still land."""
        events = [
            make_event("call.created", f"c-batch-{n}", direction="inbound", number="+74951234567")
            for n in range(3)
        ]
        Engine = type(self.env["telephony.engine"])
        apply_event = Engine._apply_event

        def breaks_on_the_second(engine, event):
            if event.call_id == "c-batch-1":
                raise KeyError("broken")
            return apply_event(engine, event)

        with patch.object(Engine, "_apply_event", breaks_on_the_second):
            result = self.send_events(*events).json()
        self.assertEqual(result["accepted"], [events[0]["id"], events[2]["id"]])
        self.assertEqual([r["id"] for r in result["rejected"]], [events[1]["id"]])
        calls = self.env["telephony.call"].search([("engine_call_id", "like", "c-batch-")])
        self.assertEqual(sorted(calls.mapped("engine_call_id")), ["c-batch-0", "c-batch-2"])

    def test_unknown_event_type_and_bad_fields_are_rejected_not_applied(self):
        bad = [
            make_event("call.teleported", "c-x"),
            make_event("call.ended", "c-x", outcome="exploded"),
            make_event("call.created", "c-x", direction="inbound", number="9" * 1000),
            {"id": "no-seq", "type": "engine.heartbeat", "at": time.time()},
        ]
        good = make_event("call.created", "c-ok", direction="inbound", number="+7 916 ☎ 123")
        response = self.send_events(*bad, good)
        self.assertEqual(response.status_code, 200)
        result = response.json()
        self.assertEqual(len(result["rejected"]), 4)
        self.assertEqual(result["accepted"], [good["id"]])
        self.assertFalse(self.env["telephony.call"].search([("engine_call_id", "=", "c-x")]))
        unicode_call = self.env["telephony.call"].search([("engine_call_id", "=", "c-ok")])
        self.assertEqual(unicode_call.number, "+7 916 ☎ 123")
        self.assertFalse(unicode_call.partner_id)

    def test_poison_events_are_rejected_alone_and_delivery_goes_on(self):
        """Content PostgreSQL refuses (NUL, lone surrogates, a seq beyond 32
        bits) is rejected per event, never a 500 that blocks the engine."""
        poison = [
            make_event("call.created", "c-nul", direction="inbound", number="+7916\x00"),
            make_event("call.created", "c-sur", direction="inbound", number="+7916\ud800"),
            make_event("call.ended", "c-extra", outcome="busy", note="\x00"),
            {**make_event("engine.heartbeat"), "seq": 2**40},
            make_event(
                "phone.state",
                login=self.sales_tel.sip_login,
                state="registered",
                user_agent={"nested": "object"},
            ),
        ]
        good = make_event("call.created", "c-good", direction="inbound", number="+74951234567")
        # ensure_ascii: the poison travels as JSON escapes, as a hostile engine would send it.
        body = json.dumps({"protocol": 1, "events": [*poison, good]}).encode()
        response = self.signed_post(EVENTS, body=body)
        self.assertEqual(response.status_code, 200, response.text)
        result = response.json()
        self.assertEqual(result["accepted"], [good["id"]])
        self.assertEqual(
            sorted(item["id"] for item in result["rejected"]), sorted(e["id"] for e in poison)
        )
        self.assertTrue(self.env["telephony.call"].search([("engine_call_id", "=", "c-good")]))
        self.assertFalse(
            self.env["telephony.event"].sudo().search([("uid", "in", [e["id"] for e in poison])])
        )
        later = make_event("call.ended", "c-good", outcome="no_answer")
        self.assertEqual(self.send_events(later).json()["accepted"], [later["id"]])

    def test_an_event_sent_twice_in_one_batch_is_applied_once(self):
        call = self._dial()
        created = self._outbound_flow(call)[0]
        ringing = make_event("call.ringing", "c-1", logins=[self.sales_tel.sip_login])
        result = self.send_events(created, ringing, ringing).json()
        self.assertEqual(result["accepted"], [created["id"], ringing["id"]])
        journal = self.env["telephony.event"].sudo().search([("uid", "=", ringing["id"])])
        self.assertEqual(len(journal), 1)

    def test_a_body_nested_beyond_reason_gets_400(self):
        body = b'{"protocol": 1, "events": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
        response = self.signed_post(EVENTS, body=body)
        self.assertEqual(response.status_code, 400)

    def test_oversized_body_is_refused_before_parsing(self):
        body = b'{"protocol": 1, "events": [], "pad": "' + b"x" * (2 * 1024 * 1024) + b'"}'
        response = self.signed_post(EVENTS, body=body)
        self.assertEqual(response.status_code, 413)

    def test_bus_card_reaches_the_ringing_user_only(self):
        call = self._dial()
        self.env["bus.bus"].sudo().search([]).unlink()
        flow = self._outbound_flow(call)
        self.send_events(flow[0], flow[1])
        notifications = self.env["bus.bus"].sudo().search([])
        channels = {
            json.loads(n.channel)[2] if n.channel.startswith("[") else n.channel
            for n in notifications
            if "ip_telephony.call/updated" in n.message
        }
        self.assertEqual(channels, {self.sales_user.partner_id.id})
        cards = [
            json.loads(n.message)["payload"]
            for n in notifications.sorted("id")
            if "ip_telephony.call/updated" in n.message
        ]
        card = cards[-1]
        self.assertEqual(card["partner_name"], "Ivan Petrov")
        self.assertEqual(card["partner"]["email"]["value"], "ivan@example.com")
        self.assertEqual(card["state"], "ringing")


@tagged("post_install", "-at_install", "ip_telephony")
class TestEngineCommandsAndConfig(TelephonyHttpCommon):
    def test_commands_catch_up_after_reconnect(self):
        first = self.env["telephony.call"].with_user(self.sales_user).dial("+79161234567")
        second = self.env["telephony.call"].with_user(self.sales_user).dial("+79161234568")
        response = self.signed_post(
            "/telephony/engine/commands", {"protocol": 1, "after": 0, "wait": 0}
        )
        self.assertEqual(response.status_code, 200, response.text)
        dials = [c for c in response.json()["commands"] if c["type"] == "dial"]
        self.assertEqual([c["call_id"] for c in dials], [first, second])
        self.assertEqual(dials[0]["data"]["dial"], "79161234567")
        after = dials[0]["seq"]
        again = self.signed_post(
            "/telephony/engine/commands", {"protocol": 1, "after": after, "wait": 0}
        ).json()
        self.assertEqual([c["call_id"] for c in again["commands"] if c["type"] == "dial"], [second])

    def test_a_position_this_database_never_issued_starts_over(self):
        """An engine moved to another database, or to a restored one, keeps
        its position on disk: its clicks must still reach it."""
        old = self.env["telephony.call"].with_user(self.sales_user).dial("+79161234560")
        self.env["telephony.command"].search([("call_id", "=", old)]).expires_at = time.time() - 1
        # How far the engine's position lies beyond this database's last command.
        for what, ahead in (("another database", 10_000), ("a restored one", 3)):
            with self.subTest(what):
                call_id = self.env["telephony.call"].with_user(self.sales_user).dial("+79161234567")
                last = self.env["telephony.command"].search([], order="id desc", limit=1).id
                position = last + ahead
                with self.assertLogs(
                    "odoo.addons.ip_telephony.models.telephony_command", "WARNING"
                ):
                    response = self.signed_post(
                        "/telephony/engine/commands",
                        {"protocol": 1, "after": position, "wait": 0},
                    )
                self.assertEqual(response.json()["after"], 0)
                dials = [c for c in response.json()["commands"] if c["type"] == "dial"]
                self.assertEqual([c["call_id"] for c in dials][-1:], [call_id])
                self.assertNotIn(old, [c["call_id"] for c in dials])
                self.env["telephony.command"].search([("call_id", "=", call_id)]).unlink()
        self.assertEqual(self.env["telephony.call"].browse(old).outcome, "failed")

    def test_long_poll_returns_empty_after_wait(self):
        last = self.env["telephony.command"].search([], order="id desc", limit=1).id
        started = time.monotonic()
        response = self.signed_post(
            "/telephony/engine/commands", {"protocol": 1, "after": last, "wait": 1}
        )
        self.assertEqual(response.json()["commands"], [])
        self.assertGreaterEqual(time.monotonic() - started, 0.9)

    def test_expired_dial_is_not_handed_out_and_the_call_fails(self):
        call_id = self.env["telephony.call"].with_user(self.sales_user).dial("+79161234567")
        command = self.env["telephony.command"].search([("call_id", "=", call_id)])
        command.expires_at = time.time() - 1
        response = self.signed_post(
            "/telephony/engine/commands", {"protocol": 1, "after": 0, "wait": 0}
        ).json()
        self.assertNotIn(call_id, [c["call_id"] for c in response["commands"]])
        call = self.env["telephony.call"].browse(call_id)
        self.assertEqual((call.state, call.outcome), ("ended", "failed"))

    def test_config_carries_accounts_and_users_and_changes_version(self):
        config = self.signed_post("/telephony/engine/config", {"protocol": 1}).json()
        self.assertEqual(config["accounts"][0]["password"], "trunk-secret")
        logins = {user["login"] for user in config["users"]}
        self.assertIn(self.sales_tel.sip_login, logins)
        self.sales_tel.action_new_password()
        changed = self.signed_post("/telephony/engine/config", {"protocol": 1}).json()
        self.assertNotEqual(config["version"], changed["version"])

    def test_recording_upload_is_attached_once(self):
        call_id = self.env["telephony.call"].with_user(self.sales_user).dial("+79161234567")
        self.send_events(
            make_event(
                "call.created",
                "rec-1",
                direction="outbound",
                number="+79161234567",
                odoo_call_id=call_id,
            )
        )
        mp3 = b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\xff\xfb" * 100
        headers = {protocol.HEADER_CALL: "rec-1"}
        for _attempt in range(2):
            response = self.signed_post(
                "/telephony/engine/recording", body=mp3, headers=headers, content_type="audio/mpeg"
            )
            self.assertEqual(response.status_code, 200, response.text)
        call = self.env["telephony.call"].browse(call_id)
        attachments = self.env["ir.attachment"].search(
            [
                ("res_model", "=", "telephony.call"),
                ("res_id", "=", call_id),
                ("res_field", "=", "recording_file"),
            ]
        )
        self.assertEqual(attachments, call.recording_id)
        self.assertEqual(call.recording_id.raw, mp3)
        # Stored without the number (attachment names are not masked, F27).
        self.assertRegex(call.recording_id.name, rf"^{call_id}_\d{{4}}-\d\d-\d\d\.mp3$")
        unknown = self.signed_post(
            "/telephony/engine/recording",
            body=mp3,
            headers={protocol.HEADER_CALL: "nope"},
            content_type="audio/mpeg",
        )
        self.assertEqual(unknown.status_code, 404)
        for bad_ref in ("rec-1\x00", "x" * 65, "a b"):
            with self.subTest(call=bad_ref):
                bad = self.signed_post(
                    "/telephony/engine/recording",
                    body=mp3,
                    headers={protocol.HEADER_CALL: bad_ref},
                    content_type="audio/mpeg",
                )
                self.assertEqual(bad.status_code, 404)
        not_mp3 = self.signed_post(
            "/telephony/engine/recording",
            body=b"<html>",
            headers=headers,
            content_type="audio/mpeg",
        )
        self.assertEqual(not_mp3.status_code, 400)
