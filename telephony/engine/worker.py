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

Incoming calls (greeting, ring group, forwarding) live in inbound.py.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import pjsua2 as pj

from telephony.engine.inbound import ANSWERED_HEADER, InboundCalls, InboundSession, reply_header
from telephony.engine.wavfile import OPEN, wav_state

_logger = logging.getLogger("telephony.engine.worker")

MAX_CALLS = 4  # the pjsua2 wheel's limit of calls per process (PJSUA_MAX_CALLS)
SESSIONS_PER_WORKER = MAX_CALLS // 2  # a call has two legs
WAV_CLOSE_WAIT = 3.0  # seconds for pjmedia to finish a deleted recorder's WAV
LOCAL_HOST = "127.0.0.1"
# Digest headers and passwords never reach the log even at pjsip level 3.
_REDACT = re.compile(r"(Authorization:|response=|nonce=)[^\r\n]*", re.IGNORECASE)


def _sip_user(text: str) -> str:
    """Keep a SIP user part to characters that need no escaping."""
    return re.sub(r"[^A-Za-z0-9+*#._-]", "", text or "")[:64] or "anonymous"


def _quote_name(text: str) -> str:
    return (text or "").replace("\\", "").replace('"', "")[:64]


@dataclass
class Session:
    """One click-to-call: the user's leg, then the client's leg, bridged."""

    call_id: str
    order: dict[str, Any]
    caller_account: Any = None
    user_leg: Any = None
    client_leg: Any = None
    recorder: Any = None
    wav_path: str | None = None
    ring_deadline: float = 0.0
    ringing_sent: bool = False
    user_answered: bool = False
    client_dialled: bool = False
    bridged: bool = False
    ended: bool = False
    outcome: str | None = None
    reason: str = ""
    code: int | None = None
    legs_alive: set = field(default_factory=set)
    ring_expired: bool = False
    media: Any = None

    def legs(self) -> list:
        return [leg for leg in (self.user_leg, self.client_leg) if leg is not None]


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
    """Owns the pjsua2 endpoint, its accounts, calls and recorders."""

    def __init__(self, conn: Connection, options: dict[str, Any]):
        self.conn = conn
        self.options = options
        self.ep = None
        self.pj = None
        self.log_writer = None
        self.trunks: dict[int, Any] = {}  # account id -> TrunkAccount
        self.trunk_settings: dict[int, tuple] = {}
        self.trunk_order: list[int] = []  # account ids by sequence
        self.register = False
        self.settings: dict[str, Any] = {}
        self.sessions: dict[str, Session | InboundSession] = {}
        self.calls: set = set()  # every live pjsua2 Call, so none dies early
        self.max_calls = MAX_CALLS
        self.stopping = False
        self.recordings_dir = options["recordings_dir"]
        self.incoming: InboundCalls | None = None
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
        self.pj = pj
        self.incoming = InboundCalls(self)
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
        pj = self.pj
        self.ep = pj.Endpoint()
        self.ep.libCreate()
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = True
        cfg.uaConfig.maxCalls = MAX_CALLS
        cfg.uaConfig.userAgent = "ip_telephony-engine"
        self.log_writer = _PjLogWriter()
        cfg.logConfig.writer = self.log_writer
        cfg.logConfig.level = min(3, int(self.options.get("pj_log_level", 2)))
        cfg.logConfig.consoleLevel = cfg.logConfig.level
        cfg.logConfig.decor = 0
        cfg.medConfig.clockRate = 8000
        cfg.medConfig.sndClockRate = 8000
        cfg.medConfig.channelCount = 1
        cfg.medConfig.ecTailLen = 0
        cfg.medConfig.noVad = True
        cfg.medConfig.threadCnt = 0
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
                    self._dial(payload)
                elif kind == "ring_logins":
                    self.incoming.set_ring_logins(payload)
                elif kind == "hangup":
                    self._hangup_session(payload, "hangup requested")
                elif kind == "shutdown":
                    self.stopping = True
            except Exception:
                _logger.exception("command %s failed", kind)
                if kind == "dial":
                    self._fail_unstarted(payload, "media worker error")

    def _media_config(self, acc_cfg: Any) -> None:
        pj = self.pj
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
        self.incoming.configure(payload)
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
                trunk = TrunkAccount(self, account_id)
                self.trunks[account_id] = trunk
                trunk.create(acc_cfg)
            else:
                trunk.modify(acc_cfg)
            self.trunk_settings[account_id] = key
            if self.register:
                trunk.started_registration(self.register_timeout)

    def _trunk_config(self, account: dict[str, Any]) -> Any:
        pj = self.pj
        user = _sip_user(account.get("user", ""))
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

    # -- calls ------------------------------------------------------------
    def first_trunk(self) -> Any:
        """The first SIP account by sequence: outgoing calls and forwarding use it."""
        for account_id in self.trunk_order:
            if account_id in self.trunks:
                return self.trunks[account_id]
        return None

    def new_leg(self, account: Any, session: Any, role: str, call_id: int | None = None) -> Leg:
        """A pjsua2 Call kept alive by this worker until it is DISCONNECTED."""
        leg = Leg(self, account, session, role, call_id)
        self.calls.add(leg)
        session.legs_alive.add(leg)
        return leg

    def drop_leg(self, leg: Leg) -> None:
        # Drop the Python Call now: pjsua2 is done with it after DISCONNECTED.
        self.calls.discard(leg)
        leg.session.legs_alive.discard(leg)

    def caller_account(self, number: str, name: str) -> CallerAccount:
        """A registration-less account whose From shows ``number`` and ``name``."""
        pj = self.pj
        number = _sip_user(number)
        name = _quote_name(name or number)
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

    def _fail_unstarted(self, order: dict[str, Any], reason: str) -> None:
        call_id = order.get("call_id")
        session = self.sessions.get(call_id)
        if session is not None:
            session.outcome = session.outcome or "failed"
            session.reason = session.reason or reason
            self._hangup_all(session)
            self._maybe_finish(session)
        else:
            self.emit("call.ended", call_id, {"outcome": "failed", "reason": reason})
            self.send("call_done", call_id)

    def _dial(self, order: dict[str, Any]) -> None:
        """Ring the user's phone with the client's number as caller id."""
        pj = self.pj
        call_id = order["call_id"]
        session = Session(call_id=call_id, order=order)
        self.sessions[call_id] = session
        if len(self.calls) + 2 > MAX_CALLS:
            session.outcome, session.reason = "failed", "media worker full"
            self._maybe_finish(session)
            return
        account = self.caller_account(
            order.get("number", ""), order.get("caller_name") or order.get("number") or ""
        )
        session.caller_account = account
        session.ring_deadline = time.monotonic() + float(order.get("ring_time") or 15)
        leg = self.new_leg(account, session, "user")
        session.user_leg = leg
        prm = pj.CallOpParam(True)
        prm.opt.audioCount = 1
        prm.opt.videoCount = 0
        try:
            leg.makeCall(order["phone_uri"], prm)
        except Exception as error:
            _logger.warning("call %s: cannot ring the user's phone: %s", call_id, error)
            self.drop_leg(leg)
            session.user_leg = None
            session.outcome, session.reason = "failed", "cannot reach the user's phone"
            self._maybe_finish(session)

    def _dial_client(self, session: Session) -> None:
        pj = self.pj
        order = session.order
        trunk = self.trunks.get(int(order.get("account_id") or 0)) or self.first_trunk()
        if trunk is None:
            session.outcome, session.reason = "failed", "no SIP account"
            self._hangup_all(session)
            return
        dial = _sip_user(order.get("dial") or order.get("number", ""))
        domain = trunk.domain
        session.client_dialled = True
        self.emit("call.dialing", session.call_id, {"dial": order.get("dial") or dial})
        leg = self.new_leg(trunk, session, "client")
        session.client_leg = leg
        prm = pj.CallOpParam(True)
        prm.opt.audioCount = 1
        prm.opt.videoCount = 0
        try:
            leg.makeCall(f"sip:{dial}@{domain}", prm)
        except Exception as error:
            _logger.warning("call %s: cannot dial the client: %s", session.call_id, error)
            self.drop_leg(leg)
            session.client_leg = None
            session.outcome, session.reason = "failed", "cannot dial the client"
            self._hangup_all(session)
            self._maybe_finish(session)

    def on_leg_state(self, leg: Leg, state: int, code: int, reason: str) -> None:
        pj = self.pj
        session = leg.session
        if isinstance(session, InboundSession):
            self.incoming.on_leg_state(leg, state, code, reason)
            return
        if state == pj.PJSIP_INV_STATE_EARLY and leg.role == "user" and not session.ringing_sent:
            session.ringing_sent = True
            self.emit("call.ringing", session.call_id, {"logins": [session.order["login"]]})
        elif state == pj.PJSIP_INV_STATE_CONFIRMED:
            if leg.role == "user" and not session.user_answered:
                if not session.ringing_sent:
                    session.ringing_sent = True
                    self.emit("call.ringing", session.call_id, {"logins": [session.order["login"]]})
                session.user_answered = True
                self.emit("call.answered", session.call_id, {"login": session.order["login"]})
                if not session.ended and session.outcome is None:
                    self._dial_client(session)
            elif leg.role == "client":
                leg.confirmed = True
                self._bridge(session)
        elif state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self._leg_gone(leg, code, reason)

    def on_leg_media(self, leg: Leg) -> None:
        if isinstance(leg.session, InboundSession):
            self.incoming.on_leg_media(leg)
        else:
            # Either leg: a user who resumes a call the client answered while it
            # was on hold is bridged now (_bridge waits for both legs' media).
            self._bridge(leg.session)

    def _audio(self, leg: Leg) -> Any:
        pj = self.pj
        try:
            info = leg.getInfo()
        except Exception:
            return None
        for index, media in enumerate(info.media):
            if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                return leg.getAudioMedia(index)
        return None

    def rewire(self, session: Any, first: Any, second: Any) -> None:
        """Connect a bridged call again after a re-INVITE (hold, resume, codec
        change): pjsua recreates a changed stream, and its conference port
        (often under the same number) loses its connections. Connecting an
        already connected pair changes nothing."""
        if session.ended or first is None or second is None:
            return
        one, other = self._audio(first), self._audio(second)
        if one is None or other is None:
            return  # on hold: connected again when it resumes
        sinks = [(one, other), (other, one)]
        if session.recorder is not None:
            sinks += [(one, session.recorder), (other, session.recorder)]
        for source, sink in sinks:
            with contextlib.suppress(Exception):
                source.stopTransmit(sink)
            source.startTransmit(sink)
        session.media = (one, other)

    def _bridge(self, session: Session) -> None:
        """Connect both directions and the recorder once both legs have media."""
        if session.bridged:
            self.rewire(session, session.user_leg, session.client_leg)
            return
        if session.ended or not session.client_leg:
            return
        if not getattr(session.client_leg, "confirmed", False):
            return
        user_media = self._audio(session.user_leg) if session.user_leg else None
        client_media = self._audio(session.client_leg)
        if user_media is None or client_media is None:
            return
        user_media.startTransmit(client_media)
        client_media.startTransmit(user_media)
        session.bridged = True
        session.media = (user_media, client_media)  # keep the wrappers alive
        if session.order.get("record", True):
            path = os.path.join(self.recordings_dir, f"{session.call_id}.wav")
            recorder = self.pj.AudioMediaRecorder()
            try:
                recorder.createRecorder(path)
                user_media.startTransmit(recorder)
                client_media.startTransmit(recorder)
                session.recorder, session.wav_path = recorder, path
            except Exception as error:
                _logger.warning("call %s: recorder failed: %s", session.call_id, error)
        self.emit("call.bridged", session.call_id, {})

    def _leg_gone(self, leg: Leg, code: int, reason: str) -> None:
        session = leg.session
        self.drop_leg(leg)
        if leg.role == "user":
            session.user_leg = None
            if session.outcome is None:
                if session.bridged:
                    session.outcome, session.reason = "answered", "user hung up"
                elif session.client_dialled:
                    session.outcome, session.reason = "cancelled", "user hung up"
                elif code in (408, 480, 487) or session.ring_expired:
                    session.outcome, session.reason = "no_answer", "the user did not answer"
                elif code in (486, 600, 603):
                    session.outcome, session.reason = "no_answer", "the user declined"
                    session.code = code
                else:
                    session.outcome, session.reason = "failed", reason or "user leg failed"
                    session.code = code or None
        else:
            session.client_leg = None
            if session.outcome is None:
                if session.bridged:
                    session.outcome, session.reason = "answered", "client hung up"
                elif code in (486, 600):
                    session.outcome, session.reason, session.code = "busy", reason, code
                elif code in (408, 480, 487, 603):
                    session.outcome, session.reason, session.code = "no_answer", reason, code
                else:
                    session.outcome, session.reason = "failed", reason or "client leg failed"
                    session.code = code or None
        self._hangup_all(session)
        self._maybe_finish(session)

    def _hangup_all(self, session: Session) -> None:
        pj = self.pj
        for leg in session.legs():
            try:
                leg.hangup(pj.CallOpParam(True))
            except Exception as error:  # already disconnecting
                _logger.debug("hangup of %s leg: %s", leg.role, error)

    def _hangup_session(self, call_id: str, reason: str) -> None:
        session = self.sessions.get(call_id)
        if session is None:
            return
        if isinstance(session, InboundSession):
            self.incoming.hangup_session(session, reason)
            return
        if session.outcome is None:
            session.outcome = "answered" if session.bridged else "cancelled"
            session.reason = reason
        self._hangup_all(session)
        self._maybe_finish(session)

    def _maybe_finish(self, session: Session, force: bool = False) -> None:
        """After both legs are gone: close the recorder, report, free the slot."""
        if isinstance(session, InboundSession):
            self.incoming.maybe_finish(session, force)
            return
        if session.ended or (session.legs_alive and not force):
            return
        session.ended = True
        account, session.caller_account = session.caller_account, None
        self.finish_session(session, account)

    def finish_session(self, session: Any, account: Any) -> None:
        """The end of any call, outgoing or incoming: close its recorder, drop
        the account that gave it its caller id, report, free the slot."""
        self.sessions.pop(session.call_id, None)
        wav_path = None
        if session.recorder is not None:
            # Deleting the recorder flushes and closes the WAV file.
            session.recorder = None
            wav_path = session.wav_path
        session.media = None
        if account is not None:
            try:
                account.shutdown()
            except Exception as error:
                _logger.debug("caller account shutdown: %s", error)
        data: dict[str, Any] = {
            "outcome": session.outcome or "failed",
            "reason": (session.reason or "")[:200],
        }
        if session.code:
            data["code"] = int(session.code)
        self.emit("call.ended", session.call_id, data)
        if wav_path and os.path.exists(wav_path):
            self.recording_closed(session.call_id, wav_path)
        self.send("call_done", session.call_id)
        _logger.info("call %s ended: %s (%s)", session.call_id, data["outcome"], data["reason"])

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
            if isinstance(session, InboundSession):
                self.incoming.check_timers(session, now)
                continue
            if (
                not session.user_answered
                and session.user_leg is not None
                and not session.ring_expired
                and now > session.ring_deadline
            ):
                session.ring_expired = True
                session.outcome, session.reason = "no_answer", "the user did not answer"
                self._hangup_all(session)
        for trunk in self.trunks.values():
            trunk.check_timeout(now)

    # -- shutdown ---------------------------------------------------------
    def _shutdown(self) -> None:
        """Hang up every call and unregister, still inside the owner thread."""
        for session in list(self.sessions.values()):
            if isinstance(session, InboundSession):
                self.incoming.shutdown_session(session)
                continue
            if session.outcome is None:
                session.outcome = "answered" if session.bridged else "failed"
                session.reason = "engine stopped"
            self._hangup_all(session)
        deadline = time.monotonic() + 3
        while self.sessions and time.monotonic() < deadline:
            self.ep.libHandleEvents(10)
        for session in list(self.sessions.values()):
            self._maybe_finish(session, force=True)
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


class _PjLogWriter(pj.LogWriter):
    """pjsip log lines into Python logging, digest material redacted."""

    def write(self, entry: Any) -> None:  # pylint: disable=method-required-super
        message = _REDACT.sub(r"\1 <redacted>", entry.msg.rstrip())
        level = entry.level
        # pjsip level 3 is chatty (call dumps): keep it at DEBUG here.
        if level <= 1:
            pylevel = logging.ERROR
        elif level == 2:
            pylevel = logging.WARNING
        else:
            pylevel = logging.DEBUG
        logging.getLogger("pjsip").log(pylevel, "%s", message)


class TrunkAccount(pj.Account):
    """A provider account; reports its registration as trunk.state events."""

    def __init__(self, worker: MediaWorker, account_id: int):
        super().__init__()
        self.worker = worker
        self.account_id = account_id
        self.domain = ""
        self.state: tuple | None = None
        self.deadline: float | None = None
        self.closing = False

    def create(self, acc_cfg: Any) -> Any:
        self.domain = acc_cfg.idUri.split("@", 1)[-1]
        return super().create(acc_cfg)

    def modify(self, acc_cfg: Any) -> Any:
        self.domain = acc_cfg.idUri.split("@", 1)[-1]
        self.state = None
        return super().modify(acc_cfg)

    def started_registration(self, timeout: float) -> None:
        self.deadline = time.monotonic() + timeout
        self.report("pending", None, "waiting for the provider")

    def report(self, state: str, code: int | None, reason: str) -> None:
        if self.closing or (state, code) == self.state:
            return
        self.state = (state, code)
        data: dict[str, Any] = {
            "account_id": self.account_id,
            "state": state,
            "reason": (reason or "")[:200],
        }
        if code:
            data["code"] = int(code)
        self.worker.emit("trunk.state", None, data)

    def check_timeout(self, now: float) -> None:
        if self.deadline is not None and now > self.deadline:
            self.deadline = None
            self.report("failed", 408, "timeout")

    def onRegStarted(self, prm: Any) -> None:  # noqa: N802 - pjsua2 callback
        if prm.renew and (self.state is None or self.state[0] != "registered"):
            self.report("pending", None, "waiting for the provider")

    def onRegState(self, prm: Any) -> None:  # noqa: N802 - pjsua2 callback
        code, reason = int(prm.code), str(prm.reason)
        if code < 200:
            self.report("pending", None, reason or "waiting for the provider")
            return
        self.deadline = None
        if 200 <= code < 300:
            if prm.expiration > 0:
                self.report("registered", code, reason or "OK")
            return
        if code == 408:
            reason = "timeout"
        self.report("failed", code, reason)

    def onIncomingCall(self, prm: Any) -> None:  # noqa: N802 - pjsua2 callback
        self.worker.incoming.on_incoming(self, prm)


class CallerAccount(pj.Account):
    """A registration-less account whose From carries the client's caller id."""


class Leg(pj.Call):
    """One leg of a session; forwards its state changes to the worker."""

    def __init__(
        self,
        worker: MediaWorker,
        account: Any,
        session: Any,
        role: str,
        call_id: int | None = None,
    ):
        if call_id is None:
            super().__init__(account)
        else:
            super().__init__(account, call_id)
        self.worker = worker
        self.session = session
        self.role = role
        self.confirmed = False
        self.logins: list[str] = []  # a ring leg: whose phones it rings
        self.answered_login = ""
        self.remote_contact = ""

    def onCallState(self, prm: Any) -> None:  # noqa: N802 - pjsua2 callback
        info = self.getInfo()
        if self.role == "ring" and not self.answered_login:
            # The edge names the phone that answered in its 2xx.
            self.answered_login = reply_header(prm, ANSWERED_HEADER, pj)
            self.remote_contact = str(info.remoteContact)
        self.worker.on_leg_state(self, info.state, int(info.lastStatusCode), str(info.lastReason))

    def onCallMediaState(self, prm: Any) -> None:  # noqa: N802 - pjsua2 callback
        self.worker.on_leg_media(self)
