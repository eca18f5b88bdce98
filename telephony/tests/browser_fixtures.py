"""A real browser phone for the engine's tests: headless Debian Chromium with a
fake microphone playing a tone, running the project's JsSIP bundle in a small
page served here on loopback. The page reports what happens (registration,
ringing, answer, the dominant frequency it hears through WebAudio) by POSTing
JSON to the same server, so the test needs no DevTools protocol.

Chromium offers ICE candidates on every network interface it sees. The tests
therefore run in a network namespace of their own that has only loopback
(``loopback_only_network``): the engine, Kamailio, rtpengine, the SIP peers and
the browser all start inside it, and every candidate is 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .engine_fixtures import REPO, wait_until

JSSIP_BUNDLE = os.path.join(REPO, "static", "lib", "jssip", "jssip.min.js")
CLONE_NEWNET = 0x40000000

PAGE = r"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>phone</title>
<script src="/jssip.min.js"></script></head>
<body><script>
"use strict";
const params = new URLSearchParams(location.search);
const answerAfter = Number(params.get("answer") || "0.3");
function report(ev, data) {
    const body = JSON.stringify(Object.assign({ev: ev, t: Date.now() / 1000}, data || {}));
    fetch("/event", {method: "POST", body: body, keepalive: true}).catch(() => {});
}
window.onerror = (message) => report("error", {message: String(message)});
function listen(stream, session) {
    // Chrome plays a remote WebRTC stream into WebAudio only while a media
    // element plays it too.
    const element = new Audio();
    element.srcObject = stream;
    element.play().catch((e) => report("error", {message: "play: " + e}));
    const context = new AudioContext();
    const analyser = context.createAnalyser();
    analyser.fftSize = 8192;
    analyser.smoothingTimeConstant = 0;
    context.createMediaStreamSource(stream).connect(analyser);
    const bins = new Float32Array(analyser.frequencyBinCount);
    const hz = context.sampleRate / analyser.fftSize;
    let peaks = [];
    const timer = setInterval(() => {
        analyser.getFloatFrequencyData(bins);
        let best = -1, level = -Infinity;
        for (let i = Math.floor(100 / hz); i < Math.min(bins.length, 4000 / hz); i++) {
            if (bins[i] > level) { level = bins[i]; best = i; }
        }
        peaks.push([Math.round(best * hz), Math.round(level)]);
        if (peaks.length >= 5) { report("heard", {peaks: peaks}); peaks = []; }
    }, 100);
    session.on("ended", () => clearInterval(timer));
    session.on("failed", () => clearInterval(timer));
}
// The fake microphone plays a steady tone: Chromium's capture processing
// takes it for noise (noise suppression) and fades it by ~19 dB within two
// seconds, hold or not. Real phones keep it for speech; the test measures tones.
const AUDIO = {echoCancellation: false, noiseSuppression: false, autoGainControl: false};
const socket = new JsSIP.WebSocketInterface(params.get("ws"));
const ua = new JsSIP.UA({
    sockets: [socket],
    uri: "sip:" + params.get("login") + "@" + params.get("domain"),
    authorization_user: params.get("login"),
    password: params.get("password"),
    register: true,
    register_expires: 300,
    session_timers: false,
    user_agent: "ip_telephony test page",
});
ua.on("registered", () => report("registered"));
ua.on("registrationFailed", (e) => report("registrationFailed", {
    cause: e.cause, code: e.response ? e.response.status_code : null}));
ua.on("newRTCSession", (e) => {
    const session = e.session;
    if (e.originator !== "remote") return;
    report("ringing", {from: session.remote_identity.uri.user,
        name: session.remote_identity.display_name || ""});
    session.on("peerconnection", (ev) => {
        ev.peerconnection.addEventListener("track", (t) => {
            listen(t.streams[0] || new MediaStream([t.track]), session);
        });
    });
    session.on("confirmed", () => {
        report("confirmed");
        if (params.get("hold")) {
            // A re-INVITE each way through the media relay: hold, then resume.
            setTimeout(() => session.hold(), 1000);
            setTimeout(() => session.unhold(), 2000);
        }
    });
    session.on("hold", () => report("hold"));
    session.on("unhold", () => report("unhold"));
    session.on("ended", (ev) => report("ended", {originator: ev.originator, cause: ev.cause}));
    session.on("failed", (ev) => report("failed", {originator: ev.originator, cause: ev.cause}));
    if (answerAfter >= 0) {
        setTimeout(() => session.answer({
            mediaConstraints: {audio: AUDIO, video: false},
            pcConfig: {iceServers: []},
        }), answerAfter * 1000);
    }
});
ua.start();
report("loaded", {version: JsSIP.version});
</script></body></html>
"""


@contextlib.contextmanager
def loopback_only_network():
    """Move this thread (and every process it starts from now on) into a new
    network namespace with only ``lo`` up; come back on exit. Needs root."""
    libc = ctypes.CDLL(None, use_errno=True)
    with open("/proc/self/task/%d/ns/net" % threading.get_native_id()) as home:
        if libc.unshare(CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET) failed: the test needs root")
        try:
            subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10)
            yield
        finally:
            if libc.setns(home.fileno(), CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back to the host network failed")


class PhonePage:
    """Serves the page and the JsSIP bundle; collects what the pages report."""

    def __init__(self):
        if not os.path.exists(JSSIP_BUNDLE):
            raise AssertionError(f"{JSSIP_BUNDLE} missing: run bin/setup (bin/build-jssip)")
        with open(JSSIP_BUNDLE, "rb") as source:
            self.bundle = source.read()
        self.events: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> PhonePage:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def find(self, ev: str, page: str | None = None) -> list[dict]:
        with self.lock:
            return [
                e for e in self.events if e["ev"] == ev and (page is None or e.get("page") == page)
            ]

    def heard(self, page: str, since: float = 0.0) -> list[tuple[int, int]]:
        peaks = []
        for event in self.find("heard", page):
            if event["t"] >= since:
                peaks.extend(tuple(p) for p in event["peaks"])
        return peaks

    def _handler(self):
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _send(self, status: int, body: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802 - http.server API
                path = self.path.split("?", 1)[0]
                if path == "/phone.html":
                    self._send(200, PAGE.encode(), "text/html; charset=utf-8")
                elif path == "/jssip.min.js":
                    self._send(200, owner.bundle, "text/javascript")
                else:
                    self._send(404, b"", "text/plain")

            def do_POST(self) -> None:  # noqa: N802 - http.server API
                length = int(self.headers.get("Content-Length") or 0)
                event = json.loads(self.rfile.read(length) or b"{}")
                referer = self.headers.get("Referer") or ""
                event["page"] = dict(
                    p.split("=", 1) for p in referer.partition("?")[2].split("&") if "=" in p
                ).get("name", "")
                event["received"] = time.time()
                with owner.lock:
                    owner.events.append(event)
                self._send(204, b"", "text/plain")

        return Handler


class Chromium:
    """Headless Debian Chromium with a fake microphone playing ``tone_wav``."""

    def __init__(self, workdir: str, tone_wav: str, url: str):
        self.binary = shutil.which("chromium")
        if not self.binary:
            raise AssertionError("chromium missing: run bin/setup (Debian package chromium)")
        self.profile = tempfile.mkdtemp(prefix="chromium-", dir=workdir)
        self.log_path = os.path.join(workdir, f"chromium-{os.path.basename(self.profile)}.log")
        self.tone_wav = tone_wav
        self.url = url
        self.proc: subprocess.Popen | None = None

    def start(self) -> Chromium:
        command = [
            self.binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            f"--user-data-dir={self.profile}",
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={self.tone_wav}",
            "--allow-loopback-in-peer-connection",
            "--autoplay-policy=no-user-gesture-required",
            "--remote-debugging-port=0",
            self.url,
        ]
        self.proc = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=open(self.log_path, "w"),  # noqa: SIM115
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        return self

    def __enter__(self) -> Chromium:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            # Chromium's renderers and helpers share its process group.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, 9)
                self.proc.wait(timeout=5)
        with contextlib.suppress(ProcessLookupError):
            if self.proc:
                os.killpg(self.proc.pid, 9)  # stragglers of the group
        shutil.rmtree(self.profile, ignore_errors=True)


def dominant_share(peaks: list[tuple[int, int]], frequency: float, tolerance: float = 25) -> float:
    """Share of the page's 100 ms spectra whose loudest bin is at ``frequency``."""
    if not peaks:
        return 0.0
    return sum(1 for hz, _level in peaks if abs(hz - frequency) <= tolerance) / len(peaks)


__all__ = [
    "Chromium",
    "PhonePage",
    "dominant_share",
    "loopback_only_network",
    "wait_until",
]
