"""Click-to-call end to end: the real engine against this Odoo's test server.

The bundled engine runs as a child process and talks to the HttpCase server
over real HTTP; a pjsua2 phone registers at the engine's Kamailio edge with
the telephony user's generated login and password; the "provider" is a
digest registrar and a pjsua2 user agent that answers and plays a tone.
"""

import contextlib
import json
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import warnings

from odoo.tests import tagged

from .common import TelephonyHttpCommon

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    # The engine fixtures import the pure core as the top-level ``telephony``.
    sys.path.insert(0, REPO)

from telephony.tests.engine_fixtures import (  # noqa: E402
    Registrar,
    UserAgentProcess,
    free_udp_port,
    goertzel_ratio,
    read_mp3,
    read_wav,
)

NUMBER = "+79161234567"
TALK_SECONDS = 3.0
PHONE_TONE, CLIENT_TONE = 440, 1000


class ProviderFront(Registrar):
    """A provider's single SIP address: it answers REGISTER itself (digest)
    and relays every other request, and the answers to it, to the answering
    user agent. The engine registers its trunk and places its calls at the
    same host:port, as with a real provider.

    Each engine-side address gets its own upstream socket, so the agent's
    answers (sent back to where the request came from, RFC 3581) find their
    way to the right sender.
    """

    def __init__(self, users, agent_port):
        super().__init__(users)
        self.agent = ("127.0.0.1", agent_port)
        self.upstream = {}  # engine-side address -> socket towards the agent
        self.peer_of = {}  # that socket -> engine-side address
        self.registers = 0

    def _upstream(self, peer):
        sock = self.upstream.get(peer)
        if sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
            self.upstream[peer] = sock
            self.peer_of[sock] = peer
        return sock

    def _serve(self):
        while not self.stopped:
            try:
                readable, _, _ = select.select([self.sock, *self.peer_of], [], [], 0.2)
            except (OSError, ValueError):
                return
            for sock in readable:
                try:
                    data, peer = sock.recvfrom(65535)
                except OSError:
                    continue
                if sock is not self.sock:
                    self.sock.sendto(data, self.peer_of[sock])
                elif data.startswith(b"REGISTER "):
                    self.registers += 1
                    reply = self._answer(data.decode(errors="replace"))
                    if reply:
                        self.sock.sendto(reply.encode(), peer)
                else:
                    self._upstream(peer).sendto(data, self.agent)

    def __exit__(self, *exc):
        result = super().__exit__(*exc)
        for sock in self.peer_of:
            sock.close()
        return result


@tagged("post_install", "-at_install", "ip_telephony")
class TestEngineEndToEnd(TelephonyHttpCommon):
    """One click-to-call placed in Odoo, carried out by the real engine."""

    def setUp(self):
        super().setUp()
        self.workdir = tempfile.mkdtemp(prefix="ipt-e2e-")
        self.addCleanup(shutil.rmtree, self.workdir, ignore_errors=True)
        self.client_agent = self._enter(
            UserAgentProcess(self.workdir, "provider", CLIENT_TONE, hold=TALK_SECONDS)
        )
        self.front = self._enter(ProviderFront({"tell": "trunk-secret"}, self.client_agent.port))
        address = f"127.0.0.1:{self.front.port}"
        with self._db():
            self.account.write({"domain": address, "host": address})
            self.env.flush_all()
            self.login = self.sales_tel.sip_login
            self.password = self.sales_tel.sudo().sip_password
            key, secret = self.engine.key, self.engine.sudo().secret
        self.engine_proc, self.edge_port = self._start_engine(key, secret)

    # -- helpers ----------------------------------------------------------
    def _enter(self, manager):
        value = manager.__enter__()
        self.addCleanup(manager.__exit__, None, None, None)
        return value

    @contextlib.contextmanager
    def _db(self):
        """Use the test cursor between two requests of the engine.

        The HttpCase server's requests run on this very cursor: holding the
        registry's test lock keeps them from interleaving with ours.
        """
        with self.registry.test_lock:
            yield
            self.env.flush_all()

    def _start_engine(self, key, secret):
        secret_file = os.path.join(self.workdir, "secret")
        with open(secret_file, "w") as out:
            out.write(secret)
        os.chmod(secret_file, 0o600)
        edge_port = free_udp_port()
        log = open(os.path.join(self.workdir, "engine.log"), "ab")  # noqa: SIM115
        self.addCleanup(log.close)
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "telephony.engine",
                "--odoo-url",
                self.base_url(),
                "--key",
                key,
                "--secret-file",
                secret_file,
                "--state-dir",
                os.path.join(self.workdir, "state"),
                "--sip-port",
                str(edge_port),
                "--rtp-port-start",
                str(20000 + 500 * (os.getpid() % 80)),
                # The test server serialises requests on the test cursor: a
                # long poll would hold back every event for its whole wait.
                "--poll-wait",
                "1",
                "--retry-max",
                "1",
                "--register-timeout",
                "5",
                "--drain-seconds",
                "2",
                "--pjsip-log-level",
                "1",
            ],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": REPO},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
        self.addCleanup(self._stop, proc)
        return proc, edge_port

    @staticmethod
    def _stop(proc):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)

    def _engine_log(self):
        with open(os.path.join(self.workdir, "engine.log"), errors="replace") as source:
            return source.read()[-4000:]

    def _wait(self, predicate, timeout, message):
        """Poll the database (and the agents' logs) until ``predicate`` holds."""
        deadline = time.monotonic() + timeout
        while True:
            with self._db():
                self.env.invalidate_all()
                value = predicate()
            if value:
                return value
            if self.engine_proc.poll() is not None:
                self.fail(f"the engine exited while waiting for {message}:\n{self._engine_log()}")
            if time.monotonic() > deadline:
                self.fail(
                    f"timed out after {timeout}s waiting for {message}:\n{self._engine_log()}"
                )
            time.sleep(0.2)

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
