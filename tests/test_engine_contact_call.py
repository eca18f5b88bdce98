"""An incoming call through the real engine names the contact it comes from."""

import os

from odoo.tests import tagged

from .common import TelephonyHttpCommon
from .engine_case import EngineRunnerMixin, UserAgentProcess, free_udp_port

PHONE_TONE, CALLER_TONE = 440, 1000


@tagged("post_install", "-at_install", "ip_telephony")
class TestEngineContactCall(EngineRunnerMixin, TelephonyHttpCommon):
    def setUp(self):
        super().setUp()
        # Nobody is called out here: the front relays to an idle agent.
        self._provider_line("ipt-contact-", CALLER_TONE, name="idle")
        with self._db():
            # A US contact, its number written as people there write it.
            self.contact = self.env["res.partner"].create(
                {
                    "name": "Jane Doe",
                    "phone": "(870) 931-0777",
                    "country_id": self.env.ref("base.us").id,
                }
            )
            self.env.flush_all()
            self.login = self.sales_tel.sip_login
            self.password = self.sales_tel.sudo().sip_password
            key, secret = self.engine.key, self.engine.sudo().secret
        self.edge_port = free_udp_port()
        self.engine_proc = self._start_engine(
            key, secret, self.edge_port, 20000 + 500 * (os.getpid() % 80), "--ws-port", "0"
        )

    def test_a_call_from_a_contacts_number_names_the_contact(self):
        self._wait(lambda: self.engine.version, 30, "engine.started")
        self._wait(
            lambda: self.account.registration_state == "registered", 15, "trunk registration"
        )
        phone = self._enter(
            UserAgentProcess(
                self.workdir,
                "phone",
                PHONE_TONE,
                register=(self.edge_port, self.login, self.password),
            )
        )
        self._wait(lambda: phone.find("registered", code=200), 15, "the phone's registration")
        self._wait(lambda: self.sales_tel.phone_state == "registered", 15, "phone.state")
        trunk_contact = self._wait(lambda: self.front.contacts.get("tell"), 10, "trunk contact")
        # The provider delivers the caller id in E.164, as trunks commonly do.
        self._enter(
            UserAgentProcess(
                self.workdir, "caller", CALLER_TONE, hold=2.0, call=(trunk_contact, "+18709310777")
            )
        )
        Call = self.env["telephony.call"]
        call = self._wait(
            lambda: Call.search([("direction", "=", "inbound")], limit=1), 30, "the call"
        )
        self._wait(lambda: call.state == "ended", 30, "the call to end")
        with self._db():
            self.assertEqual(call.partner_id, self.contact)
            self.assertEqual(call.number_e164, "+18709310777")
            self.assertEqual(call.outcome, "answered", call.outcome_reason)
            card = call.with_user(self.sales_user)._card_payload()
            self.assertIn("Jane Doe", str(card))
