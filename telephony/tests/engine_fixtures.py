"""Counterparts of the engine for its tests: a fake Odoo, a digest registrar,
SIP user agents (phones and a provider) on pjsua2, tones and a Goertzel filter.

Everything listens on 127.0.0.1 on ports the kernel picks, so several test
suites can share the machine. The user agent runs as its own process
(``python -m telephony.tests.engine_fixtures ua ...``): one pjsua2 endpoint
per process.
"""

from __future__ import annotations

import argparse
import array
import json
import math
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
import wave
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .. import protocol
from ..engine.child import stop_process
from ..engine.testline import Registrar  # noqa: F401 - the tests import it here

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON = sys.executable
PAUSE_AT = 0.6  # a ``pause*`` user's call: on hold this long after answering, as long


# -- helpers ----------------------------------------------------------------
def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout: float, interval: float = 0.05, message: str = "") -> Any:
    """Poll ``predicate`` until it returns a true value or the timeout passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message or predicate}")
        time.sleep(interval)


def write_tone(path: str, frequency: float, seconds: float = 2.0, rate: int = 8000) -> str:
    """A sine WAV (16-bit mono) written with the stdlib."""
    samples = array.array(
        "h",
        (
            int(12000 * math.sin(2 * math.pi * frequency * n / rate))
            for n in range(int(rate * seconds))
        ),
    )
    with wave.open(path, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return path


def goertzel_ratio(samples, rate: int, frequency: float) -> float:
    """Share of the signal's energy at ``frequency`` (0..1), windowed per 20 ms.

    Summed over windows so silence before the bridge does not matter.
    """
    window = max(int(rate * 0.02), 1)
    k = round(window * frequency / rate)
    coeff = 2 * math.cos(2 * math.pi * k / window)
    tone = total = 0.0
    for start in range(0, len(samples) - window + 1, window):
        s_prev = s_prev2 = 0.0
        energy = 0.0
        for x in samples[start : start + window]:
            s = x + coeff * s_prev - s_prev2
            s_prev2, s_prev = s_prev, s
            energy += x * x
        power = s_prev2 * s_prev2 + s_prev * s_prev - coeff * s_prev * s_prev2
        tone += 2 * power / window
        total += energy
    return tone / total if total else 0.0


def read_wav(path: str) -> tuple[array.array, int]:
    from ..engine.wavfile import COMPLETE, wav_state

    # pjmedia writes the header a little after the recorder is deleted.
    deadline = time.monotonic() + 5
    while wav_state(path) != COMPLETE and time.monotonic() < deadline:
        time.sleep(0.05)
    with wave.open(path, "rb") as source:
        frames = source.readframes(source.getnframes())
        rate = source.getframerate()
        channels = source.getnchannels()
    samples = array.array("h", frames)
    if channels > 1:
        samples = samples[::channels]
    return samples, rate


def read_mp3(data: bytes) -> tuple[array.array, int]:
    import io

    from pydub import AudioSegment

    segment = AudioSegment.from_file(io.BytesIO(data), format="mp3").set_channels(1)
    return array.array("h", segment.get_array_of_samples()), segment.frame_rate


# -- fake Odoo ---------------------------------------------------------------
class FakeOdoo:
    """The engine's HTTP counterpart: verifies signatures, serves config and
    commands, records events and recordings. ``down`` makes it answer 503."""

    def __init__(self, key: str = "eng_test", secret: str | None = None):
        self.key = key
        self.secret = secret or uuid.uuid4().hex + uuid.uuid4().hex
        self.config: dict[str, Any] = {
            "version": "v1",
            "accounts": [],
            "users": [],
            "settings": {"ring_time": 15, "recording": True},
        }
        self.commands: list[dict[str, Any]] = []
        self.events: dict[str, dict] = {}  # id -> event, first delivery
        self.deliveries: list[str] = []  # every delivered id, duplicates included
        self.recordings: dict[str, bytes] = {}
        self.recording_posts: list[str] = []
        self.greeting: bytes | None = None  # WAV served by the greeting route
        self.greeting_fetches: list[str] = []  # versions the engine asked for
        self.config_fetches = 0
        self.bad_signatures = 0
        self.down = False
        # An event Odoo cannot store: a batch holding one answers 500, as a
        # database error rolls back the whole request.
        self.poison: Callable[[dict], bool] | None = None
        self.event_posts: list[list[str]] = []  # the event ids of every events request
        self.cond = threading.Condition()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeOdoo:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def write_secret(self, directory: str) -> str:
        path = os.path.join(directory, "secret")
        with open(path, "w") as out:
            out.write(self.secret + "\n")
        os.chmod(path, 0o600)
        return path

    def queue(self, kind: str, data: dict, call_id: int | None = None) -> int:
        with self.cond:
            seq = len(self.commands) + 1
            command = {"seq": seq, "type": kind, "at": time.time(), "data": data}
            if call_id is not None:
                command["call_id"] = call_id
            self.commands.append(command)
            self.cond.notify_all()
            return seq

    def set_config(self, **changes) -> None:
        with self.cond:
            self.config.update(changes)
            self.config["version"] = uuid.uuid4().hex[:8]
        self.queue("config.changed", {"version": self.config["version"]})

    def set_greeting(self, wav: bytes | None, version: str | None = None) -> None:
        """Serve ``wav`` as the greeting and announce it in the configuration."""
        self.greeting = wav
        settings = dict(self.config.get("settings") or {})
        settings["greeting_url"] = "/telephony/engine/greeting" if wav else None
        settings["greeting_version"] = (version or uuid.uuid4().hex[:12]) if wav else None
        self.set_config(settings=settings)

    def settings(self, **changes) -> None:
        """Change some settings (a new configuration version)."""
        settings = dict(self.config.get("settings") or {})
        settings.update(changes)
        self.set_config(settings=settings)

    def events_of(self, kind: str | None = None, call_id: str | None = None) -> list[dict]:
        with self.cond:
            found = list(self.events.values())
        found.sort(key=lambda e: e["seq"])
        return [
            e
            for e in found
            if (kind is None or e["type"] == kind)
            and (call_id is None or e.get("call_id") == call_id)
        ]

    def call_id_for(self, odoo_call_id: int) -> str | None:
        for event in self.events_of("call.created"):
            if event["data"].get("odoo_call_id") == odoo_call_id:
                return event["call_id"]
        return None

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _reply(self, status: int, payload: dict) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except OSError:
                    pass  # the engine gave up waiting (shutdown): nothing to do

            def do_POST(self) -> None:  # noqa: N802 - http.server API
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if fake.down:
                    self._reply(503, {"error": "down"})
                    return
                try:
                    if self.headers.get(protocol.HEADER_ENGINE) != fake.key:
                        raise protocol.SignatureError("signature", "unknown engine")
                    protocol.verify(
                        fake.secret,
                        self.headers.get(protocol.HEADER_TIMESTAMP),
                        self.headers.get(protocol.HEADER_SIGNATURE),
                        body,
                        nonce=self.headers.get(protocol.HEADER_NONCE),
                    )
                except protocol.SignatureError as error:
                    fake.bad_signatures += 1
                    self._reply(403, {"error": error.code})
                    return
                route = self.path
                if route == "/telephony/engine/recording":
                    self._recording(body)
                    return
                payload = protocol.parse_body(body)
                if route == "/telephony/engine/greeting":
                    self._greeting(payload)
                    return
                if route == "/telephony/engine/config":
                    with fake.cond:
                        fake.config_fetches += 1
                        self._reply(200, fake.config)
                elif route == "/telephony/engine/commands":
                    self._commands(payload)
                elif route == "/telephony/engine/events":
                    self._events(payload)
                else:
                    self._reply(404, {"error": "route"})

            def _commands(self, payload: dict) -> None:
                after = int(payload.get("after", 0))
                if after > len(fake.commands):
                    after = 0  # a position never issued here: Odoo starts over

                wait = min(float(payload.get("wait", 25)), 25)
                deadline = time.monotonic() + wait
                with fake.cond:
                    while True:
                        pending = [c for c in fake.commands if c["seq"] > after]
                        left = deadline - time.monotonic()
                        if pending or left <= 0 or fake.down:
                            break
                        fake.cond.wait(min(left, 0.5))
                    version = fake.config["version"]
                if fake.down:
                    self._reply(503, {"error": "down"})
                    return
                self._reply(200, {"commands": pending, "config_version": version, "after": after})

            def _events(self, payload: dict) -> None:
                raw = [e for e in payload.get("events") or [] if isinstance(e, dict)]
                with fake.cond:
                    fake.event_posts.append([str(e.get("id")) for e in raw])
                if fake.poison is not None and any(fake.poison(e) for e in raw):
                    self._reply(500, {"error": "server"})
                    return
                events, rejected = protocol.split_events(payload)
                accepted, duplicates = [], []
                with fake.cond:
                    for event in events:
                        fake.deliveries.append(event.id)
                        if event.id in fake.events:
                            duplicates.append(event.id)
                        else:
                            fake.events[event.id] = event.to_dict()
                            accepted.append(event.id)
                    fake.cond.notify_all()
                self._reply(
                    200, {"accepted": accepted, "duplicates": duplicates, "rejected": rejected}
                )

            def _greeting(self, payload: dict) -> None:
                fake.greeting_fetches.append(str(payload.get("version")))
                wav = fake.greeting
                if not wav:
                    self._reply(404, {"error": "not_found"})
                    return
                self.send_response(200)
                self.send_header("Content-Type", "audio/wav")
                self.send_header("Content-Length", str(len(wav)))
                self.end_headers()
                self.wfile.write(wav)

            def _recording(self, body: bytes) -> None:
                call_id = self.headers.get(protocol.HEADER_CALL) or ""
                fake.recording_posts.append(call_id)
                if not fake.events_of(call_id=call_id):
                    self._reply(404, {"error": "call"})
                    return
                fake.recordings[call_id] = body
                self._reply(200, {"attachment_id": len(fake.recordings)})

        return Handler


def trunk_account(
    port: int, account_id: int = 3, password: str = "trunk-pw", replace: str = ""
) -> dict:
    """The engine's configuration of a SIP account "tell" at 127.0.0.1:``port``."""
    address = f"127.0.0.1:{port}"
    return {
        "id": account_id,
        "sequence": 1,
        "user": "tell",
        "password": password,
        "domain": address,
        "host": address,
        "number": "tell",
        "replace": replace,
    }


# -- the engine under test ------------------------------------------------------
class EngineProcess:
    """``python -m telephony.engine`` as a child process against a FakeOdoo."""

    def __init__(
        self,
        odoo: FakeOdoo,
        workdir: str,
        phone_port: int | None = None,
        extra: list[str] | None = None,
        state_dir: str | None = None,
        ws: bool = False,
    ):
        self.odoo = odoo
        self.workdir = workdir
        self.state_dir = state_dir or os.path.join(workdir, "state")
        self.log_path = os.path.join(workdir, "engine.log")
        self.phone_port = phone_port
        self.extra = extra or []
        self.sip_port = free_udp_port()
        # Browsers: the WebSocket listener and the media relay, on free ports.
        self.ws_port = free_tcp_port() if ws else 0
        self.relay_ng_port = free_udp_port() if ws else 0
        self.proc: subprocess.Popen | None = None

    def start(self) -> EngineProcess:
        import random

        secret_file = self.odoo.write_secret(self.workdir)
        phone_uri = (
            f"sip:{{login}}@127.0.0.1:{self.phone_port}"
            if self.phone_port
            else "sip:{login}@127.0.0.1:{sip_port}"
        )
        command = [
            PYTHON,
            "-m",
            "telephony.engine",
            "--odoo-url",
            self.odoo.url,
            "--key",
            self.odoo.key,
            "--secret-file",
            secret_file,
            "--state-dir",
            self.state_dir,
            "--sip-port",
            str(self.sip_port),
            "--rtp-port-start",
            str(random.randrange(20000, 50000, 500)),
            "--phone-uri",
            phone_uri,
            "--poll-wait",
            "5",
            "--retry-max",
            "1",
            "--register-timeout",
            "3",
            "--log-level",
            "INFO",
            "--pjsip-log-level",
            "1",
            "--ws-port",
            str(self.ws_port),
            *(
                [
                    "--relay-ng-port",
                    str(self.relay_ng_port),
                    "--relay-ports",
                    "%d-%d" % ((base := random.randrange(40000, 44500, 100)), base + 99),
                ]
                if self.ws_port
                else []
            ),
            *self.extra,
        ]
        self.proc = subprocess.Popen(
            command,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=open(self.log_path, "a"),  # noqa: SIM115
        )
        try:
            wait_until(lambda: self.odoo.events_of("engine.started"), 20, message="engine.started")
        except AssertionError as error:
            raise AssertionError(f"{error}\n--- engine log ---\n{self.log()[-4000:]}") from None
        return self

    def stop(self, timeout: float = 30) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.terminate()
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
            raise AssertionError("the engine did not stop on SIGTERM") from None

    def workers(self) -> list[dict]:
        try:
            with open(os.path.join(self.state_dir, "workers.json")) as source:
                return json.load(source)
        except (FileNotFoundError, ValueError):
            return []

    def log(self) -> str:
        with open(self.log_path) as source:
            return source.read()


# -- SIP user agent (phones, provider) -------------------------------------------
class UserAgentProcess:
    """A pjsua2 user agent in its own process, observed through a JSON log.

    Behaviour per called user: ``noanswer*`` rings forever, ``busy*`` and
    ``486*`` answer 486, anything else answers after 0.2 s, plays ``tone``
    and records what it hears; it hangs up after ``hold`` seconds if set.
    ``pause*`` puts the call on hold PAUSE_AT seconds after it is confirmed
    and resumes it as long after (re-INVITEs; logs "hold" and "unhold");
    ``late*`` answers after 1.5 PAUSE_AT (while such a call is on hold).
    ``answer`` overrides that for every call: "never" (rings forever) or a
    delay in seconds. ``call=(uri, number)`` places one call at start, from
    ``number`` (a provider delivering an incoming call); it logs "calling",
    "early", "media" (its recording starts) and "confirmed".
    """

    def __init__(
        self,
        workdir: str,
        name: str,
        tone: float,
        hold: float = 0.0,
        register: tuple[int, str, str] | None = None,
        answer: str = "auto",
        call: tuple[str, str] | None = None,
    ):
        self.answer = answer
        self.call = call
        self.register = register  # (edge port, login, password)
        self.port = free_udp_port()
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.log = os.path.join(self.dir, "events.jsonl")
        self.tone = tone
        self.hold = hold
        self.proc: subprocess.Popen | None = None

    def start(self) -> UserAgentProcess:
        """Start the process without waiting (start several, then ``ready()``)."""
        self.proc = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "telephony.tests.engine_fixtures",
                "ua",
                "--port",
                str(self.port),
                "--dir",
                self.dir,
                "--tone",
                str(self.tone),
                "--hold",
                str(self.hold),
                *(["--register", "%d:%s:%s" % self.register] if self.register else []),
                "--answer",
                self.answer,
                *(["--call", self.call[0], "--call-from", self.call[1]] if self.call else []),
            ],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.dir, "stderr.log"), "w"),  # noqa: SIM115
        )
        return self

    def ready(self) -> UserAgentProcess:
        wait_until(lambda: any(e["ev"] == "ready" for e in self.entries()), 15, message="UA ready")
        return self

    def __enter__(self) -> UserAgentProcess:
        return self.start().ready()

    def terminate(self) -> None:
        """Ask it to stop (it hangs up and unregisters); ``__exit__`` waits."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()

    def __exit__(self, *exc) -> None:
        stop_process(self.proc)

    def entries(self) -> list[dict]:
        try:
            with open(self.log) as source:
                return [json.loads(line) for line in source if line.endswith("\n")]
        except FileNotFoundError:
            return []

    def find(self, ev: str, **match) -> list[dict]:
        return [
            e
            for e in self.entries()
            if e["ev"] == ev and all(e.get(k) == v for k, v in match.items())
        ]


def _ua_main(args: argparse.Namespace) -> None:
    """Run a pjsua2 user agent until SIGTERM (one endpoint in this process)."""
    import signal

    import pjsua2 as pj

    log_file = open(os.path.join(args.dir, "events.jsonl"), "a")  # noqa: SIM115
    tone_path = write_tone(os.path.join(args.dir, "tone.wav"), args.tone, seconds=1.0)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *a: stopping.append(1))

    def log(ev: str, **data) -> None:
        log_file.write(json.dumps({"ev": ev, "t": time.time(), **data}) + "\n")
        log_file.flush()

    from ..engine.sipobjects import endpoint_config

    ep = pj.Endpoint()
    ep.libCreate()
    ep.libInit(endpoint_config(log_level=1))
    tcfg = pj.TransportConfig()
    tcfg.port = args.port
    tcfg.boundAddress = "127.0.0.1"
    ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
    ep.libStart()
    ep.audDevManager().setNullDev()
    for codec in ep.codecEnum2():
        ep.codecSetPriority(
            codec.codecId, 200 if codec.codecId.startswith(("PCMU/", "PCMA/")) else 0
        )

    calls: dict[int, Any] = {}
    pending_answers: list[tuple[float, Any]] = []
    counter = [0]

    class UaCall(pj.Call):
        def __init__(self, acc, call_id):
            super().__init__(acc, call_id)
            self.user = ""
            self.player = None
            self.recorder = None
            self.path = ""
            self.hangup_at = None
            self.hold = args.hold
            self.pause_at: list[tuple[float, str]] = []  # ("hold" | "unhold") due

        def onCallState(self, prm):  # noqa: N802
            info = self.getInfo()
            if info.state == pj.PJSIP_INV_STATE_EARLY and self.user == "out":
                log("early", user=self.user, code=info.lastStatusCode)
            if info.state == pj.PJSIP_INV_STATE_CONFIRMED:
                log("confirmed", user=self.user)
                if self.hold > 0:
                    self.hangup_at = time.monotonic() + self.hold
                if self.user.startswith("pause"):
                    now = time.monotonic()
                    self.pause_at = [(now + PAUSE_AT, "hold"), (now + 2 * PAUSE_AT, "unhold")]
            elif info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
                self.player = None
                self.recorder = None  # closes the WAV
                log("disconnected", user=self.user, code=info.lastStatusCode, path=self.path)
                calls.pop(info.id, None)

        def onCallMediaState(self, prm):  # noqa: N802
            info = self.getInfo()
            for index, media in enumerate(info.media):
                if (
                    media.type == pj.PJMEDIA_TYPE_AUDIO
                    and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE
                ):
                    audio = self.getAudioMedia(index)
                    if self.player is not None:
                        # A re-INVITE (hold, resume) may recreate the stream,
                        # even under the same port number: connect it again.
                        self.player.startTransmit(audio)
                        audio.startTransmit(self.recorder)
                    if self.player is None:
                        self.player = pj.AudioMediaPlayer()
                        self.player.createPlayer(tone_path, 0)
                        self.player.startTransmit(audio)
                        counter[0] += 1
                        self.path = os.path.join(args.dir, f"{self.user}-{counter[0]}.wav")
                        self.recorder = pj.AudioMediaRecorder()
                        self.recorder.createRecorder(self.path)
                        audio.startTransmit(self.recorder)
                        log("media", user=self.user, path=self.path)

    class UaAccount(pj.Account):
        def onRegState(self, prm):  # noqa: N802
            log("registered", code=prm.code, expiration=prm.expiration)

        def onIncomingCall(self, prm):  # noqa: N802
            call = UaCall(self, prm.callId)
            info = call.getInfo()
            match = re.search(r"sip:([^@;>]+)@", info.localUri)
            call.user = match.group(1) if match else ""
            calls[info.id] = call
            log("invite", user=call.user, remote=info.remoteUri, local=info.localUri)
            answer = pj.CallOpParam()
            if call.user.startswith("777"):
                call.hold = 20.0  # a long call, for tests that cut it
            if call.user.startswith(("busy", "486")):
                answer.statusCode = 486
                call.answer(answer)
                return
            answer.statusCode = 180
            call.answer(answer)
            if args.answer == "never":
                return
            if args.answer != "auto":
                pending_answers.append((time.monotonic() + float(args.answer), call))
            elif call.user.startswith("late"):
                pending_answers.append((time.monotonic() + 1.5 * PAUSE_AT, call))
            elif not call.user.startswith("noanswer"):
                pending_answers.append((time.monotonic() + 0.2, call))

    acc_cfg = pj.AccountConfig()
    acc_cfg.idUri = f"sip:ua@127.0.0.1:{args.port}"
    if args.register:
        edge_port, login, password = args.register.split(":", 2)
        acc_cfg.idUri = f"sip:{login}@127.0.0.1:{edge_port}"
        acc_cfg.regConfig.registrarUri = f"sip:127.0.0.1:{edge_port}"
        acc_cfg.regConfig.timeoutSec = 60
        acc_cfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", login, 0, password))
    if args.call_from:
        acc_cfg.idUri = f"sip:{args.call_from}@provider.test"
    acc_cfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
    acc_cfg.natConfig.iceEnabled = False
    account = UaAccount()
    account.create(acc_cfg)
    log("ready", port=args.port)
    if args.call:
        outgoing = UaCall(account, pj.PJSUA_INVALID_ID)
        outgoing.user = "out"
        prm = pj.CallOpParam(True)
        prm.opt.audioCount = 1
        prm.opt.videoCount = 0
        log("calling", uri=args.call)
        outgoing.makeCall(args.call, prm)
        calls[outgoing.getInfo().id] = outgoing
    while not stopping:
        ep.libHandleEvents(10)
        now = time.monotonic()
        for item in list(pending_answers):
            when, call = item
            if now >= when:
                pending_answers.remove(item)
                if call.getInfo().id in calls:
                    ok = pj.CallOpParam()
                    ok.statusCode = 200
                    try:
                        call.answer(ok)
                    except pj.Error:
                        pass
        for call in list(calls.values()):
            while call.pause_at and now >= call.pause_at[0][0]:
                what = call.pause_at.pop(0)[1]
                try:
                    if what == "hold":
                        call.setHold(pj.CallOpParam(True))
                    else:
                        resume = pj.CallOpParam(True)
                        resume.opt.flag = pj.PJSUA_CALL_UNHOLD
                        call.reinvite(resume)
                    log(what, user=call.user)
                except pj.Error as error:
                    log("error", user=call.user, what=what, reason=str(error.reason))
            if call.hangup_at and now > call.hangup_at:
                call.hangup_at = None
                try:
                    call.hangup(pj.CallOpParam(True))
                except pj.Error:
                    pass
    ep.hangupAllCalls()
    for _ in range(50):
        ep.libHandleEvents(10)
    calls.clear()
    pending_answers.clear()
    del account
    ep.libDestroy()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    ua = sub.add_parser("ua")
    ua.add_argument("--port", type=int, required=True)
    ua.add_argument("--dir", required=True)
    ua.add_argument("--tone", type=float, default=440.0)
    ua.add_argument("--hold", type=float, default=0.0)
    ua.add_argument("--register", default="", help="edge_port:login:password")
    ua.add_argument("--answer", default="auto", help="auto, never, or a delay in seconds")
    ua.add_argument("--call", default="", help="place one call to this SIP URI at start")
    ua.add_argument("--call-from", default="", help="the number the call comes from")
    parsed = parser.parse_args()
    if parsed.command == "ua":
        _ua_main(parsed)
