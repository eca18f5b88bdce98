"""What the Odoo tests that run the real engine share.

The bundled engine runs as a child process against the HttpCase server over
real HTTP; ``ProviderFront`` is the provider it registers its trunk to and
places calls at. ``start_bus_pump`` delivers bus notifications to the test
browser, which no NOTIFY reaches while commits are simulated.
"""

import contextlib
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

from odoo.addons.bus.models.bus import dispatch

# The engine fixtures the tests use, from here. The core imports itself
# relatively, so it loads once, as part of this addon: no sys.path edit.
from ..telephony.tests.engine_fixtures import (  # noqa: F401
    Registrar,
    UserAgentProcess,
    free_tcp_port,
    free_udp_port,
    goertzel_ratio,
    read_mp3,
    read_wav,
    write_tone,
)

# The addon's root: the engine runs from here as ``python -m telephony.engine``.
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def start_bus_pump():
    """Wake the test browser's websockets as PostgreSQL would after every
    commit; returns the function that stops it."""
    stop = threading.Event()

    def pump():
        while not stop.wait(0.2):
            try:
                sockets = set().union(*list(dispatch._channels_to_ws.values()))
            except RuntimeError:  # changed while we read it
                continue
            for websocket in sockets:
                websocket.trigger_notification_dispatching()

    thread = threading.Thread(target=pump, name="ip_telephony bus pump", daemon=True)
    thread.start()

    def stop_pump():
        stop.set()
        thread.join(5)

    return stop_pump


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


class EngineRunnerMixin:
    """Runs ``python -m telephony.engine`` for an HttpCase; needs ``workdir``."""

    def _provider_line(self, prefix, tone, name="provider", **agent_options):
        """A work folder of its own, the client's phone (an agent playing
        ``tone``) behind a provider front, and the test's SIP account pointed
        at that front."""
        self.workdir = tempfile.mkdtemp(prefix=prefix)
        self.addCleanup(shutil.rmtree, self.workdir, ignore_errors=True)
        self.client_agent = self._enter(UserAgentProcess(self.workdir, name, tone, **agent_options))
        self.front = self._enter(ProviderFront({"tell": "trunk-secret"}, self.client_agent.port))
        address = f"127.0.0.1:{self.front.port}"
        with self._db():
            self.account.write({"domain": address, "host": address})

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

    def _start_engine(self, key, secret, sip_port, rtp_port_start, *options):
        secret_file = os.path.join(self.workdir, "secret")
        with open(secret_file, "w") as out:
            out.write(secret)
        os.chmod(secret_file, 0o600)
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
                str(sip_port),
                "--rtp-port-start",
                str(rtp_port_start),
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
                *options,
            ],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": REPO},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
        self.addCleanup(self._stop, proc)
        return proc

    def _stop(self, proc):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        # Its last long poll may still be served (up to --poll-wait) on the
        # test cursor: let it end before this test's data is rolled back, or
        # it runs on into the next test's.
        self._wait_remaining_requests()

    def _engine_log(self):
        with open(os.path.join(self.workdir, "engine.log"), errors="replace") as source:
            return source.read()[-4000:]

    def _wait(self, predicate, timeout, message):
        """Poll the database until ``predicate`` holds; fail if the engine exits."""
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
