"""Media worker: one pjsua2 endpoint in its own process, driven by one thread.

pjsua2 aborts the process when it is called from an unregistered thread or
when a live ``Call`` dies in the wrong place, so every pjsua2 call of this
process happens in the thread that runs :func:`run_worker` (``threadCnt = 0``,
``mainThreadOnly = True``). Commands arrive from the controller on a pipe and
are carried out between two ``libHandleEvents(10)`` slices of that thread.

Messages, controller -> worker (tuples):
    ("config", {"accounts": [...], "settings": {...}, "register": bool,
                "incoming": {"ring_logins", "ring_uri", "phone_uri", "greeting"}})
    ("dial", {"call_id", "login", "phone_uri", "number", "dial", "account_id",
              "caller_name", "odoo_call_id", "ring_time", "record"})
    ("ring_logins", [logins])   who an incoming call rings now
    ("hangup", call_id)
    ("shutdown", None)
Messages, worker -> controller:
    ("ready", {"pid", "sip_port"})
    ("incoming", call_id)       an incoming call took a slot of this worker
    ("event", type, call_id, data, at)
    ("recording", call_id, wav_path)
    ("call_done", call_id)
    ("stopped", None)

Each call carries its own flow (``outbound.py``: click-to-call,
``inbound.py``: incoming calls) and reaches this worker only through the
methods of ``session.MediaHost``.
"""

from __future__ import annotations

import logging
import os
import time
from multiprocessing.connection import Connection
from typing import Any

import pjsua2 as pj

from .inbound import IncomingDesk
from .outbound import OutboundCall
from .session import CallSession
from .sipobjects import CallerAccount, Leg, PjLogWriter, TrunkAccount, endpoint_config
from .siptext import quote_name, sip_user
from .wavfile import OPEN, wav_state

_logger = logging.getLogger("telephony.engine.worker")

MAX_CALLS = 4  # the pjsua2 wheel's limit of calls per process (PJSUA_MAX_CALLS)
WAV_CLOSE_WAIT = 3.0  # seconds for pjmedia to finish a deleted recorder's WAV
LOCAL_HOST = "127.0.0.1"


def run_worker(conn: Connection, options: dict[str, Any]) -> None:
    """Process entry point (multiprocessing target)."""
    logging.basicConfig(
        level=options.get("log_level", logging.INFO),
        format="%(asctime)s %(levelname)s worker[%(process)d] %(name)s: %(message)s",
    )
    worker = MediaWorker(conn, options)
    try:
        worker.run()
    except Exception:
        _logger.exception("media worker failed")
        raise


class MediaWorker:
    """Owns the pjsua2 endpoint, its accounts, legs and recorders; the calls
    (sessions) carry their own flow and use the public methods below."""

    def __init__(self, conn: Connection, options: dict[str, Any]):
        self.conn = conn
        self.options = options
        self.ep = None
        self.pj = pj
        self.log_writer = None
        self.trunks: dict[int, Any] = {}  # account id -> TrunkAccount
        self.trunk_settings: dict[int, tuple] = {}
        self.trunk_order: list[int] = []  # account ids by sequence
        self.register = False
        self.register_timeout = 30.0
        self.settings: dict[str, Any] = {}
        self.sessions: dict[str, CallSession] = {}
        self.calls: set = set()  # every live pjsua2 Call, so none dies early
        self.stopping = False
        self.sip_port = 0
        self.recordings_dir = options["recordings_dir"]
        self.desk = IncomingDesk(self)
        self.closing_wavs: list[tuple[str, str, float]] = []  # (call, path, deadline)

    # -- plumbing ---------------------------------------------------------
    def send(self, *message: Any) -> None:
        try:
            self.conn.send(message)
        except (BrokenPipeError, OSError):
            # Controller gone: nothing to report to, stop soon.
            self.stopping = True

    def emit(self, kind: str, call_id: str | None, data: dict[str, Any]) -> None:
        self.send("event", kind, call_id, data, time.time())

    def run(self) -> None:
        self._start_endpoint()
        try:
            while not self.stopping:
                self.ep.libHandleEvents(10)
                self._read_commands()
                self._check_timers()
            self._shutdown()
        finally:
            self._destroy()
        self._hand_over_recordings(force=True)
        self.send("stopped", None)

    def _start_endpoint(self) -> None:
        self.ep = pj.Endpoint()
        self.ep.libCreate()
        cfg = endpoint_config(min(3, int(self.options.get("pj_log_level", 2))))
        cfg.uaConfig.maxCalls = MAX_CALLS
        cfg.uaConfig.userAgent = "ip_telephony-engine"
        self.log_writer = PjLogWriter()
        cfg.logConfig.writer = self.log_writer
        cfg.logConfig.decor = 0
        self.ep.libInit(cfg)
        tcfg = pj.TransportConfig()
        tcfg.port = int(self.options.get("sip_port", 0))
        tcfg.boundAddress = LOCAL_HOST
        tid = self.ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
        self.ep.libStart()
        self.ep.audDevManager().setNullDev()
        for codec in self.ep.codecEnum2():
            # Narrowband G.711 only: cheap, and every provider speaks it.
            keep = codec.codecId.startswith(("PCMU/", "PCMA/"))
            self.ep.codecSetPriority(codec.codecId, 200 if keep else 0)
        port = self.ep.transportGetInfo(tid).localName.rsplit(":", 1)[-1]
        self.sip_port = int(port)
        self.send("ready", {"pid": os.getpid(), "sip_port": self.sip_port})
        _logger.info("media worker ready on %s:%s", LOCAL_HOST, self.sip_port)

    def _read_commands(self) -> None:
        for _ in range(20):  # bounded: media must keep flowing
            try:
                if not self.conn.poll():
                    return
                kind, payload = self.conn.recv()
            except (EOFError, OSError):
                _logger.warning("controller pipe closed; shutting down")
                self.stopping = True
                return
            try:
                if kind == "config":
                    self._apply_config(payload)
                elif kind == "dial":
                    OutboundCall.dial(self, payload)
                elif kind == "ring_logins":
                    self.desk.set_ring_logins(payload)
                elif kind == "hangup":
                    session = self.sessions.get(payload)
                    if session is not None:
                        session.hang_up("hangup requested")
                elif kind == "shutdown":
                    self.stopping = True
            except Exception:
                _logger.exception("command %s failed", kind)
                if kind == "dial":
                    self._fail_unstarted(payload, "media worker error")

    def _media_config(self, acc_cfg: Any) -> None:
        acc_cfg.mediaConfig.transportConfig.boundAddress = LOCAL_HOST
        acc_cfg.mediaConfig.transportConfig.port = int(self.options.get("rtp_port", 0))
        acc_cfg.mediaConfig.transportConfig.portRange = int(self.options.get("rtp_range", 0))
        acc_cfg.natConfig.iceEnabled = False
        acc_cfg.natConfig.sdpNatRewriteUse = 0
        acc_cfg.natConfig.contactRewriteUse = 0
        acc_cfg.natConfig.viaRewriteUse = 0
        acc_cfg.mediaConfig.srtpUse = pj.PJMEDIA_SRTP_DISABLED
        # No re-INVITE right after the answer to "lock" one codec of several:
        # it can overtake the ACK through the edge, and a browser then drops
        # the call. The first codec of the answer is used either way.
        acc_cfg.mediaConfig.lockCodecEnabled = False

    # -- trunks -----------------------------------------------------------
    def _apply_config(self, payload: dict[str, Any]) -> None:
        """Create, modify or remove trunk accounts to match the configuration."""
        self.settings = payload.get("settings") or {}
        self.register = bool(payload.get("register"))
        self.register_timeout = float(payload.get("register_timeout", 30))
        self.desk.configure(payload)
        wanted = {int(a["id"]): a for a in payload.get("accounts", [])[:3]}
        # The controller sends the accounts by sequence: the first one forwards.
        self.trunk_order = list(wanted)
        for account_id in list(self.trunks):
            if account_id not in wanted:
                trunk = self.trunks.pop(account_id)
                self.trunk_settings.pop(account_id, None)
                trunk.shutdown()
        for account_id, account in wanted.items():
            key = (
                account.get("user"),
                account.get("password"),
                account.get("domain"),
                account.get("host"),
                self.register,
            )
            if self.trunk_settings.get(account_id) == key:
                continue
            acc_cfg = self._trunk_config(account)
            trunk = self.trunks.get(account_id)
            if trunk is None:
                trunk = TrunkAccount(self.emit, account_id, self.desk.on_incoming)
                self.trunks[account_id] = trunk
                trunk.create(acc_cfg)
            else:
                trunk.modify(acc_cfg)
            self.trunk_settings[account_id] = key
            if self.register:
                trunk.started_registration(self.register_timeout)

    def _trunk_config(self, account: dict[str, Any]) -> Any:
        user = sip_user(account.get("user", ""))
        domain = account.get("domain") or account.get("host")
        host = account.get("host") or domain
        acc_cfg = pj.AccountConfig()
        acc_cfg.idUri = f"sip:{user}@{domain}"
        if self.register:
            acc_cfg.regConfig.registrarUri = f"sip:{host}"
            acc_cfg.regConfig.registerOnAdd = True
            acc_cfg.regConfig.timeoutSec = 300
            acc_cfg.regConfig.retryIntervalSec = 30
            acc_cfg.regConfig.firstRetryIntervalSec = 10
        else:
            acc_cfg.regConfig.registrarUri = ""
            acc_cfg.regConfig.registerOnAdd = False
        if host != domain:
            acc_cfg.sipConfig.proxies.append(f"sip:{host};lr")
        cred = pj.AuthCredInfo(
            "digest", "*", account.get("user", ""), 0, account.get("password", "")
        )
        acc_cfg.sipConfig.authCreds.append(cred)
        self._media_config(acc_cfg)
        return acc_cfg

    # -- what a call may ask (session.MediaHost) ---------------------------------------
    def trunk(self, account_id: int | None) -> Any:
        """The SIP account ``account_id``, else the first one by sequence
        (outgoing calls and forwarding use it)."""
        trunk = self.trunks.get(account_id) if account_id else None
        if trunk is not None:
            return trunk
        for first in self.trunk_order:
            if first in self.trunks:
                return self.trunks[first]
        return None

    def free_calls(self) -> int:
        """pjsua2 calls this process can still place or take."""
        return MAX_CALLS - len(self.calls)

    def add_session(self, session: CallSession) -> None:
        self.sessions[session.call_id] = session

    def new_leg(
        self, account: Any, session: CallSession, role: str, call_id: int | None = None
    ) -> Leg:
        """A pjsua2 Call kept alive by this worker until it is DISCONNECTED."""
        leg = Leg(account, session, role, call_id)
        self.calls.add(leg)
        session.legs_alive.add(leg)
        return leg

    def drop_leg(self, leg: Leg) -> None:
        # Drop the Python Call now: pjsua2 is done with it after DISCONNECTED.
        self.calls.discard(leg)
        leg.session.legs_alive.discard(leg)

    def caller_account(self, number: str, name: str) -> CallerAccount:
        """A registration-less account whose From shows ``number`` and ``name``."""
        number = sip_user(number)
        name = quote_name(name or number)
        acc_cfg = pj.AccountConfig()
        acc_cfg.idUri = (
            f'"{name}" <sip:{number}@{LOCAL_HOST}>' if name else f"sip:{number}@{LOCAL_HOST}"
        )
        acc_cfg.regConfig.registrarUri = ""
        acc_cfg.regConfig.registerOnAdd = False
        self._media_config(acc_cfg)
        account = CallerAccount()
        account.create(acc_cfg)
        return account

    def audio(self, leg: Any) -> Any:
        """The active audio of ``leg``, or None (no leg, no media yet, on hold)."""
        if leg is None:
            return None
        try:
            info = leg.getInfo()
        except Exception:
            return None
        for index, media in enumerate(info.media):
            if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                return leg.getAudioMedia(index)
        return None

    def finish_session(self, session: CallSession) -> None:
        """The end of any call, outgoing or incoming: close its recorder, drop
        the account that gave it its caller id, report, free the slot."""
        self.sessions.pop(session.call_id, None)
        wav_path = None
        if session.recorder is not None:
            # Deleting the recorder flushes and closes the WAV file.
            session.recorder = None
            wav_path = session.wav_path
        session.media = None
        account, session.caller_account = session.caller_account, None
        if account is not None:
            try:
                account.shutdown()
            except Exception as error:
                _logger.debug("caller account shutdown: %s", error)
        data = session.ended_data()
        self.emit("call.ended", session.call_id, data)
        if wav_path and os.path.exists(wav_path):
            self.recording_closed(session.call_id, wav_path)
        self.send("call_done", session.call_id)
        _logger.info("call %s ended: %s (%s)", session.call_id, data["outcome"], data["reason"])

    def _fail_unstarted(self, order: dict[str, Any], reason: str) -> None:
        call_id = order.get("call_id")
        session = self.sessions.get(call_id)
        if session is not None:
            session.fail(reason)
        else:
            self.emit("call.ended", call_id, {"outcome": "failed", "reason": reason})
            self.send("call_done", call_id)

    def recording_closed(self, call_id: str, wav_path: str) -> None:
        """Its recorder is deleted: hand the WAV over once pjmedia has written
        its header (in the media clock thread, a little later)."""
        self.closing_wavs.append((call_id, wav_path, time.monotonic() + WAV_CLOSE_WAIT))

    def _hand_over_recordings(self, force: bool = False) -> None:
        if not self.closing_wavs:
            return
        now, waiting = time.monotonic(), []
        for call_id, path, deadline in self.closing_wavs:
            if force or now > deadline or wav_state(path) != OPEN:
                self.send("recording", call_id, path)
            else:
                waiting.append((call_id, path, deadline))
        self.closing_wavs = waiting

    def _check_timers(self) -> None:
        now = time.monotonic()
        self._hand_over_recordings()
        for session in list(self.sessions.values()):
            session.check_timers(now)
        for trunk in self.trunks.values():
            trunk.check_timeout(now)

    # -- shutdown ---------------------------------------------------------
    def _shutdown(self) -> None:
        """Hang up every call and unregister, still inside the owner thread."""
        for session in list(self.sessions.values()):
            session.stop()
        deadline = time.monotonic() + 3
        while self.sessions and time.monotonic() < deadline:
            self.ep.libHandleEvents(10)
        for session in list(self.sessions.values()):
            session.finish(force=True)
        for trunk in self.trunks.values():
            trunk.closing = True
            try:
                trunk.shutdown()
            except Exception as error:
                _logger.debug("trunk shutdown: %s", error)
        deadline = time.monotonic() + 1
        while time.monotonic() < deadline:
            self.ep.libHandleEvents(10)

    def _destroy(self) -> None:
        self.calls.clear()
        self.sessions.clear()
        self.trunks.clear()
        if self.ep is not None:
            try:
                self.ep.libDestroy()
            except Exception as error:
                _logger.debug("libDestroy: %s", error)
            self.ep = None
