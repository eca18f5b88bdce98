"""Click-to-call end to end: the real engine against this Odoo's test server.

The bundled engine runs as a child process and talks to the HttpCase server
over real HTTP; a pjsua2 phone registers at the engine's Kamailio edge with
the telephony user's generated login and password; the "provider" is a
digest registrar and a pjsua2 user agent that answers and plays a tone.
"""

import json
import os
import re
import warnings

from odoo.tests import tagged

from .common import TelephonyHttpCommon
from .engine_case import (
    EngineRunnerMixin,
    UserAgentProcess,
    free_udp_port,
    goertzel_ratio,
    read_mp3,
    read_wav,
)

NUMBER = "+79161234567"
TALK_SECONDS = 3.0
PHONE_TONE, CLIENT_TONE = 440, 1000


@tagged("post_install", "-at_install", "ip_telephony")
class TestEngineEndToEnd(EngineRunnerMixin, TelephonyHttpCommon):
    """One click-to-call placed in Odoo, carried out by the real engine."""

    def setUp(self):
        super().setUp()
        self._provider_line("ipt-e2e-", CLIENT_TONE, hold=TALK_SECONDS)
        with self._db():
            self.login = self.sales_tel.sip_login
            self.password = self.sales_tel.sudo().sip_password
            key, secret = self.engine.key, self.engine.sudo().secret
        self.edge_port = free_udp_port()
        self.engine_proc = self._start_engine(
            key,
            secret,
            self.edge_port,
            20000 + 500 * (os.getpid() % 80),
            "--ws-port",
            "0",  # no browser phones here: no WebSocket listener, no relay
        )

    # -- helpers ----------------------------------------------------------
    def _card_states(self, call):
        """States of the call cards pushed to the sales user, repeats folded."""
        channel = [self.env.cr.dbname, "res.partner", self.sales_user.partner_id.id]
        states = []
        for note in self.env["bus.bus"].search([], order="id"):
            message = json.loads(note.message)
            if (
                json.loads(note.channel) == channel
                and message["type"] == "ip_telephony.call/updated"
                and message["payload"]["id"] == call.id
                and message["payload"]["state"] not in states[-1:]
            ):
                states.append(message["payload"]["state"])
        return states

    # -- the test ---------------------------------------------------------
    def test_click_to_call_rings_bridges_records_and_logs(self):
        account, tel_user = self.account, self.sales_tel
        self._wait(lambda: self.engine.version, 30, "engine.started")
        self._wait(lambda: account.registration_state == "registered", 15, "trunk registration")
        self.assertGreaterEqual(self.front.registers, 2)  # challenged, then accepted
        phone = self._enter(
            UserAgentProcess(
                self.workdir,
                "phone",
                PHONE_TONE,
                register=(self.edge_port, self.login, self.password),
            )
        )
        self._wait(lambda: phone.find("registered", code=200), 15, "the phone's registration")
        self._wait(lambda: tel_user.phone_state == "registered", 15, "phone.state in Odoo")

        with self._db():
            call_id = (
                self.env["telephony.call"]
                .with_user(self.sales_user)
                .dial(NUMBER, "res.partner", self.client.id)
            )
            call = self.env["telephony.call"].browse(call_id)
            dial_string = call.dial_string
        self.assertTrue(dial_string)
        self._wait(lambda: call.state == "ended", 30, "the call to end")

        with self._db():
            self.assertEqual(call.outcome, "answered", call.outcome_reason)
            self.assertEqual(call.user_id, self.sales_user)
            self.assertIn(self.sales_user, call.ringing_user_ids)
            self.assertTrue(call.engine_call_id)
            self.assertAlmostEqual(call.duration, TALK_SECONDS, delta=1)
            journal = self.env["telephony.event"].search(
                [("call_ref", "=", call.engine_call_id)], order="seq"
            )
            self.assertEqual(
                journal.mapped("type"),
                [
                    "call.created",
                    "call.ringing",
                    "call.answered",
                    "call.dialing",
                    "call.bridged",
                    "call.ended",
                ],
            )
            # The call card the user sees went ringing -> talking -> ended. A
            # card goes out once per batch of events with the call's last
            # state: "ringing" is skipped when the answer came in the same
            # batch (the test phone answers within 0.2 s).
            order = ["new", "ringing", "talking", "ended"]
            states = self._card_states(call)
            self.assertEqual(
                [state for state in states if state != "ringing"], ["new", "talking", "ended"]
            )
            self.assertEqual(states, sorted(states, key=order.index))

        # The user's phone rang with the client as caller id; the provider
        # received the dial string of the number rules.
        invite = phone.find("invite", user=self.login)
        self.assertEqual(len(invite), 1, phone.entries())
        self.assertIn(NUMBER, invite[0]["remote"])
        self.assertIn("Ivan Petrov", invite[0]["remote"])
        self.assertEqual(len(self.client_agent.find("invite", user=dial_string)), 1)
        # Each side heard the other.
        heard = self._wait(
            lambda: phone.find("disconnected", user=self.login), 10, "the phone's hang-up"
        )[-1]["path"]
        samples, rate = read_wav(heard)
        self.assertGreater(goertzel_ratio(samples, rate, CLIENT_TONE), 0.3)

        # The recording reaches Odoo after the events: an mp3 on the call.
        recording = self._wait(lambda: call.recording_id, 30, "the recording")
        with self._db():
            self.assertEqual(recording.mimetype, "audio/mpeg")
            self.assertEqual((recording.res_model, recording.res_id), (call._name, call.id))
            # It downloads as <id>_<phone>_<date>.mp3 (F25).
            self.assertRegex(
                call._recording_filename(),
                rf"^{call.id}_{re.escape(NUMBER)}_\d{{4}}-\d\d-\d\d\.mp3$",
            )
            with warnings.catch_warnings():
                # pydub imports audioop, deprecated since Python 3.11.
                warnings.simplefilter("ignore", DeprecationWarning)
                samples, rate = read_mp3(recording.raw)
        self.assertGreater(goertzel_ratio(samples, rate, PHONE_TONE), 0.1)
        self.assertGreater(goertzel_ratio(samples, rate, CLIENT_TONE), 0.1)
        self.assertAlmostEqual(len(samples) / rate, TALK_SECONDS, delta=1)
