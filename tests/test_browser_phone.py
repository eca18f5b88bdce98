"""Calls in the browser (F16, F17, B8): the browser phone in real Chromium.

Odoo's test Chrome gets fake media devices (a fake microphone that is
granted without a prompt, loopback ICE, sound without a click) through a
subclass of ``ChromeBrowser`` used by these test classes only: ``browser_js``
builds its browser from the module's ``ChromeBrowser`` name, which each test
patches for its own duration (``self.patch`` restores it at cleanup).
"""

import json
import os
import threading
import time
import warnings
from unittest.mock import patch

from odoo.exceptions import AccessError, ValidationError
from odoo.tests import common as odoo_common
from odoo.tests import tagged

from odoo.addons.bus.websocket import WebsocketConnectionHandler

from .common import TelephonyCommon, TelephonyHttpCommon
from .engine_case import (
    EngineRunnerMixin,
    UserAgentProcess,
    free_tcp_port,
    free_udp_port,
    goertzel_ratio,
    read_mp3,
    read_wav,
    start_bus_pump,
    write_tone,
)

TOUR_TIMEOUT = 180
CLIENT_HZ, BROWSER_HZ = 1000, 700
CALLER = "+79161234567"
MEDIA_SWITCHES = (
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--autoplay-policy=no-user-gesture-required",
)

TWO_TABS_JS = """
(async () => {
    const states = %(states)s;
    const callPartner = %(call_partner)s;
    async function wait(what, predicate, timeout = 90000) {
        const end = Date.now() + timeout;
        while (Date.now() < end) {
            if (predicate()) {
                return;
            }
            await new Promise((resolve) => setTimeout(resolve, 200));
        }
        throw new Error(`timed out waiting for ${what}`);
    }
    function openTab(name) {
        const tab = window.open("/odoo", name, "popup,width=1200,height=700");
        if (!tab) {
            throw new Error("the browser refused to open a tab");
        }
        return tab;
    }
    const status = (tab) => tab.document?.querySelector(".o_ipt_line_status");
    const phoneCard = (tab, state) =>
        tab.document?.querySelector(`.o_ipt_browser_phone[data-state=${state}]`);
    async function callThroughTheFollower(leader, follower, partnerId) {
        const response = await fetch("/web/dataset/call_kw/telephony.call/dial", {
            method: "POST",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify({
                jsonrpc: "2.0",
                method: "call",
                params: {
                    model: "telephony.call",
                    method: "dial",
                    args: ["+79161234567", "res.partner", partnerId],
                    kwargs: {},
                },
            }),
        });
        const answer = await response.json();
        if (answer.error) {
            throw new Error(`dial: ${JSON.stringify(answer.error)}`);
        }
        await wait("the leader to ring", () => phoneCard(leader, "ringing"));
        await wait("the follower to show the ringing", () => phoneCard(follower, "ringing"));
        phoneCard(follower, "ringing").querySelector(".o_ipt_browser_phone_answer").click();
        await wait("the leader to talk", () => phoneCard(leader, "talking"));
        await wait("the follower to show the talk", () => phoneCard(follower, "talking"));
        await wait("the client to answer (the call card)", () =>
            follower.document.querySelector(".o_ipt_call_card[data-state=talking]")
        );
        phoneCard(follower, "talking").querySelector(".o_ipt_browser_phone_hangup").click();
        await wait("the leader to hang up", () => !phoneCard(leader, "talking"));
    }
    const role = (tab) => status(tab)?.dataset.browserRole;
    const phone = (tab) => status(tab)?.dataset.browserPhone;
    try {
        const first = openTab("first");
        await wait("the first tab to lead", () => role(first) === "leader");
        await wait("the first tab's phone", () => states.includes(phone(first)));
        const second = openTab("second");
        await wait("the second tab to follow", () => role(second) === "follower");
        await wait("the follower to show the line", () => states.includes(phone(second)));
        // "connecting" shows before the SIP library has loaded: wait for it.
        await wait("the leader's SIP library", () => first.JsSIP);
        if (second.JsSIP) {
            throw new Error("the phone must run in the leading tab only");
        }
        if (callPartner) {
            await callThroughTheFollower(first, second, callPartner);
        }
        first.close();
        await wait("the second tab to take over", () => role(second) === "leader");
        await wait("the new leader's phone", () => states.includes(phone(second)));
        await wait("the new leader to start its phone", () => second.JsSIP);
        second.close();
        console.log("test successful");
    } catch (error) {
        console.error(error.message);
    }
})();
"""


class MediaChromeBrowser(odoo_common.ChromeBrowser):
    """Odoo's test Chrome with the switches and permissions of its test case."""

    def __init__(self, test_case, *args, **kwargs):
        super().__init__(test_case, *args, **kwargs)
        for name, setting in test_case.chrome_permissions.items():
            self._websocket_request(
                "Browser.setPermission",
                params={
                    "permission": {"name": name},
                    "setting": setting,
                    "origin": test_case.base_url(),
                },
            )
        if test_case.chrome_blocked_urls:
            self._websocket_request("Network.enable")
            self._websocket_request(
                "Network.setBlockedURLs", params={"urls": list(test_case.chrome_blocked_urls)}
            )

    def _spawn_chrome(self, cmd):
        *switches, url = cmd
        wanted = list(self.test_case.chrome_switches)
        names = {switch.split("=")[0] for switch in wanted}
        kept = [switch for switch in switches if switch.split("=")[0] not in names]
        return super()._spawn_chrome([*kept, *(s for s in wanted if s), url])


class BrowserPhoneHttpCase(TelephonyHttpCommon):
    """A telephony user with calls in the browser, and Chrome with fake media."""

    chrome_switches = MEDIA_SWITCHES
    chrome_permissions = {}
    chrome_blocked_urls = ()

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # The bus reaches the browser over a websocket, which tests disable.
        cls.startClassPatcher(
            patch.object(WebsocketConnectionHandler, "websocket_allowed", return_value=True)
        )
        params = cls.env["ir.config_parameter"].sudo()
        params.set_param("ip_telephony.show_reminder", False)
        params.set_param("ip_telephony.sip_server", "127.0.0.1")
        cls.sales_tel.browser_calls = True

    def setUp(self):
        super().setUp()
        self.patch(odoo_common, "ChromeBrowser", MediaChromeBrowser)
        self._pump_bus()

    def authenticate(self, user, password, browser=None):
        """Log in between two requests of the engine: ``authenticate`` clears
        the test cursor that the server's requests share."""
        with self.registry.test_lock:
            return super().authenticate(user, password, browser=browser)

    def _pump_bus(self):
        """Deliver bus notifications to the browser while the test runs."""
        self.addCleanup(start_bus_pump())

    def run_two_tabs(self, states, call_partner=False):
        """Two tabs of the user (B8): the first leads, the second follows and
        shows the same state without a phone of its own; closing the first
        hands the line over to the second. With ``call_partner``, a call to
        that contact rings both tabs and is answered and hung up in the
        following tab, through the leading one.

        Both are real tabs opened by a same-origin page that is not the web
        client (the web client refuses frames); the page closes the first.
        """
        self.chrome_switches = (*self.chrome_switches, "--disable-popup-blocking")
        self.browser_js(
            "/web/health",
            TWO_TABS_JS % {"states": json.dumps(states), "call_partner": json.dumps(call_partner)},
            login="sales",
            timeout=TOUR_TIMEOUT,
        )

    def set_ws_url(self, url):
        self.env["ir.config_parameter"].sudo().set_param("ip_telephony.ws_url", url)
        self.env.flush_all()


@tagged("post_install", "-at_install", "ip_telephony")
class TestBrowserPhoneSettings(TelephonyCommon):
    """What Odoo gives the browser phone, and to whom."""

    def test_only_the_owner_with_browser_calls_gets_the_registration(self):
        tel_users = self.env["telephony.user"]
        self.assertFalse(tel_users.with_user(self.sales_user).browser_phone_settings())
        info = self.env["ir.http"].with_user(self.sales_user)._telephony_session_info()
        self.assertFalse(info["browser_calls"])

        self.sales_tel.browser_calls = True
        self.env["ir.config_parameter"].set_param("ip_telephony.sip_server", "pbx.example.com")
        settings = tel_users.with_user(self.sales_user).browser_phone_settings()
        self.assertEqual(settings["ws_url"], "ws://pbx.example.com:5066")
        self.assertEqual(settings["sip_uri"], f"sip:{self.sales_tel.sip_login}@pbx.example.com")
        self.assertEqual(settings["login"], self.sales_tel.sip_login)
        self.assertEqual(settings["password"], self.sales_tel.sudo().sip_password)
        info = self.env["ir.http"].with_user(self.sales_user)._telephony_session_info()
        self.assertTrue(info["browser_calls"])
        # The page itself never carries the password: it is read over RPC.
        self.assertNotIn(self.sales_tel.sudo().sip_password, json.dumps(info))

        # Another user gets nothing of it; a user without telephony neither.
        self.assertFalse(tel_users.with_user(self.other_user).browser_phone_settings())
        with self.assertRaises(AccessError):
            self.sales_tel.with_user(self.other_user).softphone_settings()

        # Telephony switched off: no browser phone.
        self.env["ir.config_parameter"].set_param("ip_telephony.enabled", False)
        self.assertFalse(tel_users.with_user(self.sales_user).browser_phone_settings())

    def test_ws_url_setting(self):
        self.sales_tel.browser_calls = True
        settings = self.env["res.config.settings"].create(
            {"telephony_ws_url": "wss://pbx.example.com:7443/ws"}
        )
        settings.execute()
        phone = self.env["telephony.user"].with_user(self.sales_user).browser_phone_settings()
        self.assertEqual(phone["ws_url"], "wss://pbx.example.com:7443/ws")
        for wrong in ("http://pbx.example.com", "pbx.example.com:5066", "ws://a b"):
            with self.assertRaisesRegex(ValidationError, "ws:// or wss://"):
                self.env["res.config.settings"].create({"telephony_ws_url": wrong})

    def test_ice_servers_setting_reaches_the_browser(self):
        """TURN for browsers outside the office network: checked, then handed over."""
        self.sales_tel.browser_calls = True
        Phone = self.env["telephony.user"].with_user(self.sales_user)
        self.assertEqual(Phone.browser_phone_settings()["ice_servers"], [])
        turn = "turns:turn.example.com:443?transport=tcp alice s3cret"
        self.env["res.config.settings"].create({"telephony_ice_servers": turn}).execute()
        self.assertEqual(
            Phone.browser_phone_settings()["ice_servers"],
            [
                {
                    "urls": "turns:turn.example.com:443?transport=tcp",
                    "username": "alice",
                    "credential": "s3cret",
                }
            ],
        )
        with self.assertRaisesRegex(ValidationError, "Line 1: a TURN server needs"):
            self.env["res.config.settings"].create({"telephony_ice_servers": "turn:t.example"})
        # A list written around the settings does not stop the phone.
        self.env["ir.config_parameter"].set_param("ip_telephony.ice_servers", "nonsense")
        self.assertEqual(Phone.browser_phone_settings()["ice_servers"], [])
        # Only a desk phone: its settings say nothing of a browser.
        self.sales_tel.browser_calls = False
        self.assertNotIn("ws_url", self.sales_tel.softphone_settings())


@tagged("post_install", "-at_install", "ip_telephony")
class TestBrowserPhoneUi(BrowserPhoneHttpCase):
    """The browser phone without an engine: the states a user must understand."""

    def test_unreachable_edge(self):
        # A port nobody listens on (discard): the WebSocket fails at once.
        self.set_ws_url("ws://127.0.0.1:9")
        self.start_tour(
            "/odoo", "ip_telephony_browser_phone_unreachable", login="sales", timeout=TOUR_TIMEOUT
        )

    def test_microphone_denied(self):
        self.set_ws_url("ws://127.0.0.1:9")
        self.chrome_permissions = {"microphone": "denied"}
        self.start_tour(
            "/odoo", "ip_telephony_browser_phone_mic_denied", login="sales", timeout=TOUR_TIMEOUT
        )

    def test_sound_blocked_until_a_click(self):
        """Without Odoo's autoplay switch Chrome keeps sound off until a click (F17)."""
        self.set_ws_url("ws://127.0.0.1:9")
        self.chrome_switches = tuple(s for s in MEDIA_SWITCHES if "autoplay" not in s) + (
            "--autoplay-policy=document-user-activation-required",
        )
        self.start_tour(
            "/odoo",
            "ip_telephony_browser_phone_sound_blocked",
            login="sales",
            timeout=TOUR_TIMEOUT,
        )

    def test_jssip_not_installed(self):
        """A server where bin/build-jssip never ran: a notice, no crash."""
        self.set_ws_url("ws://127.0.0.1:9")
        self.chrome_blocked_urls = ("*/ip_telephony/static/lib/jssip/*",)
        self.start_tour(
            "/odoo",
            "ip_telephony_browser_phone_not_installed",
            login="sales",
            timeout=TOUR_TIMEOUT,
        )

    def test_two_tabs_one_leader(self):
        self.set_ws_url("ws://127.0.0.1:9")
        self.run_two_tabs(["connecting", "failed"])

    def test_no_browser_phone_without_the_switch(self):
        self.sales_tel.browser_calls = False
        self.set_ws_url("ws://127.0.0.1:9")
        self.start_tour(
            "/odoo", "ip_telephony_browser_phone_absent", login="sales", timeout=TOUR_TIMEOUT
        )


@tagged("post_install", "-at_install", "ip_telephony")
class TestBrowserPhoneEngine(EngineRunnerMixin, BrowserPhoneHttpCase):
    """The browser phone against the real engine: its edge's WebSocket
    listener and media relay, a provider that answers and plays a tone."""

    def setUp(self):
        super().setUp()
        self._provider_line("ipt-browser-", CLIENT_HZ, hold=60)
        with self._db():
            key, secret = self.engine.key, self.engine.sudo().secret
        # The browser's fake microphone plays a tone the other side must hear.
        tone = write_tone(os.path.join(self.workdir, "browser.wav"), BROWSER_HZ, 4.0, rate=48000)
        self.chrome_switches = (*MEDIA_SWITCHES, f"--use-file-for-fake-audio-capture={tone}")
        self.ws_port = free_tcp_port()
        self.set_ws_url(f"ws://127.0.0.1:{self.ws_port}")
        slot = os.getpid() % 9
        self.engine_proc = self._start_engine(
            key,
            secret,
            free_udp_port(),
            27000 + 100 * slot,
            "--ws-port",
            str(self.ws_port),
            "--relay-ng-port",
            str(free_udp_port()),
            "--relay-ports",
            f"{45000 + 500 * slot}-{45000 + 500 * slot + 499}",
        )
        self._wait(lambda: self.engine.version, 60, "engine.started")

    # -- helpers ----------------------------------------------------------
    def _phone_states(self):
        """(state, login) of the engine's phone.state events, in order."""
        events = self.env["telephony.event"].search([("type", "=", "phone.state")], order="seq")
        return [(e.payload["state"], e.payload["login"]) for e in events]

    # -- the tests --------------------------------------------------------
    def test_registers_at_the_edge(self):
        self.start_tour(
            "/odoo", "ip_telephony_browser_phone_register", login="sales", timeout=TOUR_TIMEOUT
        )
        with self._db():
            self.assertIn(("registered", self.sales_tel.sip_login), self._phone_states())
        self.assertNotIn(self.sales_tel.sudo().sip_password, self._engine_log())

    def _calls_report(self):
        with self._db():
            self.env.invalidate_all()
            calls = self.env["telephony.call"].search([])
            lines = [f"call {c.id}: {c.state} {c.outcome} {c.outcome_reason}" for c in calls] + [
                f"event {e.type} {e.payload}"
                for e in self.env["telephony.event"].search([], order="seq")
            ]
        return "\n".join(lines) + "\n" + self._engine_log()

    def test_click_to_call_rings_the_browser(self):
        try:
            self.start_tour(
                "/odoo/contacts?view_type=list",
                "ip_telephony_browser_phone_click_to_call",
                login="sales",
                timeout=TOUR_TIMEOUT,
            )
        except AssertionError as error:
            raise AssertionError(f"{error}\n{self._calls_report()}") from error
        with self._db():
            call = self.env["telephony.call"].search([("user_id", "=", self.sales_user.id)])
        self.assertEqual(len(call), 1)
        self._wait(lambda: call.state == "ended", 30, "the call to end")
        with self._db():
            self.assertEqual(call.outcome, "answered", call.outcome_reason)
            self.assertIn(self.sales_user, call.ringing_user_ids)
            dial_string = call.dial_string
        # The provider received the client's number once the browser answered,
        # and heard the browser's microphone through the media relay.
        self.assertEqual(len(self.client_agent.find("invite", user=dial_string)), 1)
        heard = self._wait(
            lambda: self.client_agent.find("disconnected", user=dial_string),
            15,
            "the provider's hang-up",
        )[-1]["path"]
        samples, rate = read_wav(heard)
        self.assertGreater(goertzel_ratio(samples, rate, BROWSER_HZ), 0.2)
        # Both voices are in the recording attached to the call.
        recording = self._wait(lambda: call.recording_id, 30, "the recording")
        with self._db():
            with warnings.catch_warnings():
                # pydub imports audioop, deprecated since Python 3.11.
                warnings.simplefilter("ignore", DeprecationWarning)
                samples, rate = read_mp3(recording.raw)
        self.assertGreater(goertzel_ratio(samples, rate, BROWSER_HZ), 0.05)
        self.assertGreater(goertzel_ratio(samples, rate, CLIENT_HZ), 0.05)

    def test_incoming_call_answered_in_the_browser(self):
        """F13 + F16: a call from the provider rings the browser, which answers."""
        caller = []
        login = self.sales_tel.sip_login

        def call_in():
            """Once the browser registered, the provider delivers a call."""
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                with self._db():
                    if ("registered", login) in self._phone_states():
                        break
                time.sleep(0.3)
            contact = self.front.contacts.get("tell")
            agent = UserAgentProcess(
                self.workdir, "caller", CLIENT_HZ, hold=60, call=(contact, CALLER)
            )
            caller.append(self._enter(agent))

        self._wait(lambda: self.front.contacts.get("tell"), 30, "the trunk's registration")
        thread = threading.Thread(target=call_in, name="ip_telephony caller", daemon=True)
        thread.start()
        self.addCleanup(thread.join, 100)
        self.start_tour(
            "/odoo", "ip_telephony_browser_phone_incoming", login="sales", timeout=TOUR_TIMEOUT
        )
        with self._db():
            call = self.env["telephony.call"].search([("direction", "=", "inbound")])
        self.assertEqual(len(call), 1)
        self._wait(lambda: call.state == "ended", 30, "the call to end")
        with self._db():
            self.assertEqual(call.outcome, "answered", call.outcome_reason)
            self.assertEqual(call.user_id, self.sales_user)
        heard = self._wait(lambda: caller[0].find("disconnected"), 15, "the caller's hang-up")[-1][
            "path"
        ]
        samples, rate = read_wav(heard)
        self.assertGreater(goertzel_ratio(samples, rate, BROWSER_HZ), 0.2)

    def test_two_tabs_register_once(self):
        self.run_two_tabs(["registered"], call_partner=self.client.id)
        with self._db():
            call = self.env["telephony.call"].search([("user_id", "=", self.sales_user.id)])
        self.assertEqual(len(call), 1)
        self._wait(lambda: call.state == "ended", 30, "the call to end")
        with self._db():
            self.assertEqual(call.outcome, "answered", call.outcome_reason)
            self.assertIn(("registered", self.sales_tel.sip_login), self._phone_states())
