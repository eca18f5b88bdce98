"""Incoming calls in a media worker: greeting, ring group, forwarding (F13, F15).

A provider sends its INVITE to the contact that media worker 0 registered
for a trunk. The worker then:

1. logs the call (``call.created``, inbound, the caller id) and, when the
   settings carry a greeting, answers at once and plays it to its end; without
   one it answers ``180 Ringing`` and the caller's provider plays ringback;
2. rings the phones of the available users (those who accept incoming calls
   and, with the SIP edge, are registered there) with ONE INVITE to the edge,
   which forks it to every phone (``call.ringing``). The first phone to answer
   gets the call and the edge cancels the others; the worker learns whose
   phone it is from the ``X-Telephony-Login`` header the edge adds to the 2xx
   (``call.answered``), connects both directions and records (``call.bridged``).
   While phones ring after a greeting, the caller hears a ringback tone;
3. forwards the call through the first trunk to the "forward on no answer"
   number after the ring time, when every phone declined or could not be
   reached, or at once when nobody is available (``call.dialing`` with the
   dial string, then ``call.forwarded`` when it answers);
4. reports ``call.ended``: ``answered``, ``forwarded``, ``no_answer`` (nobody
   took it and it could not be forwarded, or the forward number did not
   answer) or ``cancelled`` (the caller hung up first).

Everything runs in the worker's owner thread, like the rest of pjsua2.
"""

from __future__ import annotations

import logging
import os
import re
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from telephony.engine.worker import MediaWorker

_logger = logging.getLogger("telephony.engine.inbound")

RING_HEADER = "X-Telephony-Ring"
ANSWERED_HEADER = "X-Telephony-Login"
RING_GROUP_MAX = 30  # logins in one ring group (the edge forks to 30 branches at most)
FORWARD_RING_MAX = 60.0  # seconds the forward number may ring
CANCEL_GRACE = 2.0  # seconds to wait for cancelled phones before forwarding anyway
MEDIA_WAIT = 2.0  # seconds to wait for the caller's media before skipping the greeting
RINGBACK = (425, 1000, 4000)  # Hz, on ms, off ms (ITU-T E.180)
_LOGIN_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass
class InboundSession:
    """One incoming call: the caller's leg, ringing phones, then one talk leg."""

    call_id: str
    account_id: int
    number: str
    caller_name: str = ""
    caller_leg: Any = None
    ring_legs: list = field(default_factory=list)
    forward_leg: Any = None
    talk_leg: Any = None  # the phone that answered, or the forward number
    ring_account: Any = None
    player: Any = None
    ringback: Any = None
    recorder: Any = None
    wav_path: str | None = None
    media: Any = None
    phase: str = "new"  # new, greeting, ringing, forwarding, talking
    caller_answered: bool = False
    greeting_until: float = 0.0
    ring_deadline: float = 0.0
    ring_expired_at: float = 0.0
    forward_deadline: float = 0.0
    forward_pending: str = ""
    forward_pending_until: float = 0.0
    forward_number: str = ""
    closing_since: float = 0.0  # when every leg was asked to hang up
    logins: list = field(default_factory=list)
    ringing_sent: bool = False
    bridged: bool = False
    forwarded: bool = False
    ended: bool = False
    outcome: str | None = None
    reason: str = ""
    code: int | None = None
    legs_alive: set = field(default_factory=set)

    def legs(self) -> list:
        legs = [self.caller_leg, *self.ring_legs, self.forward_leg, self.talk_leg]
        seen, unique = set(), []
        for leg in legs:
            if leg is not None and id(leg) not in seen:
                seen.add(id(leg))
                unique.append(leg)
        return unique


def parse_party(uri: str) -> tuple[str, str]:
    """(number, display name) of a From or Contact value such as
    ``"Ivan" <sip:+79161234567@host>``; the number is "anonymous" when hidden."""
    name = ""
    quoted = re.match(r'\s*"((?:[^"\\]|\\.)*)"', uri or "")
    if quoted:
        name = quoted.group(1).replace('\\"', '"')
    else:
        bare = re.match(r"\s*([^<\"]+?)\s*<", uri or "")
        if bare:
            name = bare.group(1)
    user = re.search(r"(?:sips?|tel):([^@;>?]+)", uri or "", re.IGNORECASE)
    number = urllib.parse.unquote(user.group(1)) if user else ""
    if re.fullmatch(r"[+\d\-.() ]*\d[+\d\-.() ]*", number):
        number = re.sub(r"[^\d+]", "", number)  # a telephone number's visual separators
    number = re.sub(r"[^0-9A-Za-z+*#._-]", "", number)[:64] or "anonymous"
    name = re.sub(r"[\x00-\x1f\"\\]", "", name).strip()[:64]
    return number, name


def reply_header(prm: Any, name: str, pj: Any) -> str:
    """Value of header ``name`` in the 2xx answer that caused this call state."""
    try:
        event = prm.e
        if event.type != pj.PJSIP_EVENT_TSX_STATE:
            return ""
        tsx = event.body.tsxState
        if tsx.type != pj.PJSIP_EVENT_RX_MSG:
            return ""
        message = tsx.src.rdata.wholeMsg
    except Exception:  # no message behind this state change
        return ""
    if not message.startswith("SIP/2.0 2"):
        return ""
    head = message.split("\r\n\r\n", 1)[0]
    found = re.search(rf"^{re.escape(name)}\s*:\s*(\S+)\s*$", head, re.IGNORECASE | re.MULTILINE)
    return found.group(1) if found and _LOGIN_RE.match(found.group(1)) else ""


class InboundCalls:
    """The incoming-call logic of one media worker (normally worker 0)."""

    def __init__(self, worker: MediaWorker):
        self.worker = worker
        self.pj = worker.pj
        self.ring_logins: list[str] = []  # available: accept incoming (and registered)
        self.ring_uri: str | None = None  # the edge's ring group, None without an edge
        self.phone_uri = ""
        self.greeting: dict[str, Any] | None = None

    # -- configuration ------------------------------------------------------
    def configure(self, payload: dict[str, Any]) -> None:
        incoming = payload.get("incoming") or {}
        self.ring_uri = incoming.get("ring_uri") or None
        self.phone_uri = incoming.get("phone_uri") or ""
        self.set_ring_logins(incoming.get("ring_logins") or [])
        greeting = incoming.get("greeting") or None
        if greeting and not os.path.exists(greeting.get("path") or ""):
            _logger.warning("greeting file %s is missing", greeting.get("path"))
            greeting = None
        self.greeting = greeting

    def set_ring_logins(self, logins: list[str]) -> None:
        self.ring_logins = [x for x in logins if isinstance(x, str) and _LOGIN_RE.match(x)][
            :RING_GROUP_MAX
        ]

    @property
    def settings(self) -> dict[str, Any]:
        return getattr(self.worker, "settings", None) or {}

    # -- a new call ----------------------------------------------------------
    def on_incoming(self, trunk: Any, prm: Any) -> None:
        """A provider's INVITE reached a trunk account (pjsua2 callback)."""
        worker = self.worker
        call_id = "c-" + uuid.uuid4().hex[:24]
        session = InboundSession(call_id=call_id, account_id=trunk.account_id, number="")
        leg = worker.new_leg(trunk, session, "caller", prm.callId)
        session.caller_leg = leg
        try:
            info = leg.getInfo()
            session.number, session.caller_name = parse_party(info.remoteUri)
        except Exception as error:
            _logger.warning("incoming call: unreadable caller: %s", error)
            session.number = "anonymous"
        worker.sessions[call_id] = session
        worker.send("incoming", call_id)
        worker.emit(
            "call.created",
            call_id,
            {"direction": "inbound", "number": session.number, "account_id": trunk.account_id},
        )
        _logger.info("call %s: incoming on account %s", call_id, trunk.account_id)
        if worker.stopping or len(worker.calls) + 1 > worker.max_calls:
            # Room for the caller only: no phone or forward leg could follow.
            session.outcome, session.reason, session.code = "no_answer", "all lines are busy", 486
            self._answer_caller(session, 486)
            return
        if self.greeting:
            session.phase = "greeting"
            session.greeting_until = time.monotonic() + MEDIA_WAIT
            self._answer_caller(session, 200)
            self._start_greeting(session)
        else:
            self._answer_caller(session, 180)
            self._start_ringing(session)

    def _answer_caller(self, session: InboundSession, code: int) -> None:
        leg = session.caller_leg
        if leg is None:
            return
        prm = self.pj.CallOpParam(True)
        prm.statusCode = code
        try:
            leg.answer(prm)
        except Exception as error:
            _logger.warning("call %s: cannot answer %s: %s", session.call_id, code, error)
            return
        if code == 200:
            session.caller_answered = True

    # -- greeting ----------------------------------------------------------------
    def _start_greeting(self, session: InboundSession) -> None:
        if session.player is not None or session.phase != "greeting" or not self.greeting:
            return
        media = self.worker._audio(session.caller_leg) if session.caller_leg else None
        if media is None:
            return  # the caller's media is not up yet: on_media comes back here
        player = self.pj.AudioMediaPlayer()
        try:
            player.createPlayer(self.greeting["path"], self.pj.PJMEDIA_FILE_NO_LOOP)
            player.startTransmit(media)
        except Exception as error:
            _logger.error("call %s: greeting cannot play: %s", session.call_id, error)
            session.greeting_until = time.monotonic()
            return
        session.player = player
        # Heard to its end: a little margin for the caller's jitter buffer.
        session.greeting_until = time.monotonic() + float(self.greeting["seconds"]) + 0.2

    def _start_ringback(self, session: InboundSession) -> None:
        """After a greeting the call is answered: the caller hears our ringback."""
        if session.ringback is not None or not session.caller_answered or session.bridged:
            return
        media = self.worker._audio(session.caller_leg) if session.caller_leg else None
        if media is None:
            return
        pj = self.pj
        try:
            tone = pj.ToneGenerator()
            tone.createToneGenerator(8000, 1)
            desc = pj.ToneDesc()
            desc.freq1, desc.on_msec, desc.off_msec = RINGBACK
            desc.freq2 = 0
            tones = pj.ToneDescVector()
            tones.append(desc)
            tone.play(tones, True)
            tone.startTransmit(media)
        except Exception as error:
            _logger.warning("call %s: no ringback tone: %s", session.call_id, error)
            return
        session.ringback = tone

    # -- ringing the phones --------------------------------------------------------
    def _start_ringing(self, session: InboundSession) -> None:
        worker, pj = self.worker, self.pj
        session.player = None
        logins = list(self.ring_logins)
        if not logins or not (self.ring_uri or self.phone_uri):
            self._forward(session, "nobody is available")
            return
        session.phase = "ringing"
        session.logins = logins
        account = worker.caller_account(session.number, session.caller_name)
        session.ring_account = account
        if self.ring_uri:
            targets = [(self.ring_uri, logins)]
        else:
            # Without the edge every phone is its own leg, as far as slots allow.
            room = max(0, worker.max_calls - len(worker.calls))
            targets = [
                (self.phone_uri.format(login=login), [login]) for login in logins[: max(room, 1)]
            ]
        for uri, group in targets:
            leg = worker.new_leg(account, session, "ring")
            leg.logins = group
            prm = pj.CallOpParam(True)
            prm.opt.audioCount = 1
            prm.opt.videoCount = 0
            if self.ring_uri:
                header = pj.SipHeader()
                header.hName = RING_HEADER
                header.hValue = ",".join(group)
                prm.txOption.headers.append(header)
            try:
                leg.makeCall(uri, prm)
            except Exception as error:
                _logger.warning("call %s: cannot ring %s: %s", session.call_id, group, error)
                worker.drop_leg(leg)
                continue
            session.ring_legs.append(leg)
        if not session.ring_legs:
            self._forward(session, "no phone could be reached")
            return
        session.ring_deadline = time.monotonic() + float(self.settings.get("ring_time") or 15)
        self._start_ringback(session)

    def _phone_answered(self, session: InboundSession, leg: Any) -> None:
        login = leg.answered_login
        if not login and len(leg.logins) == 1:
            login = leg.logins[0]
        if not login:
            # No header from the edge: the phone's contact usually carries its login.
            contact_user, _name = parse_party(getattr(leg, "remote_contact", ""))
            login = contact_user if contact_user in leg.logins else ""
        session.ring_legs.remove(leg)
        session.talk_leg = leg
        session.phase = "talking"
        if not session.ringing_sent:
            self._emit_ringing(session)
        self.worker.emit("call.answered", session.call_id, {"login": login} if login else {})
        for other in list(session.ring_legs):
            self._hangup(other)
        session.ringback = None
        if not session.caller_answered:
            self._answer_caller(session, 200)
        self._bridge(session)

    def _emit_ringing(self, session: InboundSession) -> None:
        session.ringing_sent = True
        self.worker.emit("call.ringing", session.call_id, {"logins": list(session.logins)})

    # -- forwarding ------------------------------------------------------------------
    def _forward(self, session: InboundSession, why: str) -> None:
        """Nobody took the call: dial the forward number, or give up."""
        worker, pj = self.worker, self.pj
        for leg in list(session.ring_legs):
            self._hangup(leg)
        if session.outcome is not None or session.caller_leg is None:
            return
        dial = str(self.settings.get("forward_dial") or "")
        number = str(self.settings.get("forward_number") or dial)
        trunk = worker.first_trunk()
        if not dial or trunk is None:
            session.outcome, session.reason = "no_answer", why
            self._hangup_all(session)
            return
        if len(worker.calls) >= worker.max_calls:
            # The cancelled phones still hold their slot: forward when it frees.
            if not session.forward_pending:
                session.forward_pending = why
                session.forward_pending_until = time.monotonic() + 5
            return
        session.forward_pending = ""
        session.phase = "forwarding"
        session.forward_number = number
        dial_user = re.sub(r"[^A-Za-z0-9+*#._-]", "", dial)[:64]
        worker.emit("call.dialing", session.call_id, {"dial": dial[:64]})
        leg = worker.new_leg(trunk, session, "forward")
        prm = pj.CallOpParam(True)
        prm.opt.audioCount = 1
        prm.opt.videoCount = 0
        try:
            leg.makeCall(f"sip:{dial_user}@{trunk.domain}", prm)
        except Exception as error:
            _logger.warning("call %s: cannot dial the forward number: %s", session.call_id, error)
            worker.drop_leg(leg)
            session.outcome, session.reason = "no_answer", "the forward number cannot be dialled"
            self._hangup_all(session)
            return
        session.forward_leg = leg
        ring = float(self.settings.get("forward_ring_time") or FORWARD_RING_MAX)
        session.forward_deadline = time.monotonic() + min(ring, FORWARD_RING_MAX)
        _logger.info("call %s: forwarded (%s)", session.call_id, why)
        self._start_ringback(session)

    # -- pjsua2 callbacks, through the worker -------------------------------------------
    def on_leg_state(self, leg: Any, state: int, code: int, reason: str) -> None:
        pj, session = self.pj, leg.session
        if leg.role == "ring":
            if state == pj.PJSIP_INV_STATE_EARLY and not session.ringing_sent:
                self._emit_ringing(session)
            elif state == pj.PJSIP_INV_STATE_CONFIRMED:
                if (
                    session.talk_leg is None
                    and session.outcome is None
                    and session.caller_leg is not None
                    and session.phase == "ringing"
                    and not session.ring_expired_at
                    and leg in session.ring_legs
                ):
                    self._phone_answered(session, leg)
                elif leg is not session.talk_leg:
                    self._hangup(leg)  # answered too late: someone else has the call
        elif leg.role == "forward" and state == pj.PJSIP_INV_STATE_CONFIRMED:
            if session.talk_leg is None and session.outcome is None and session.caller_leg:
                session.forward_leg = None
                session.talk_leg = leg
                session.phase = "talking"
                session.ringback = None
                if not session.caller_answered:
                    self._answer_caller(session, 200)
                self._bridge(session)
            else:
                self._hangup(leg)
        if state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self._leg_gone(session, leg, code, reason)

    def on_leg_media(self, leg: Any) -> None:
        session = leg.session
        if leg is session.caller_leg:
            if session.phase == "greeting":
                self._start_greeting(session)
            elif session.phase in ("ringing", "forwarding"):
                self._start_ringback(session)
        self._bridge(session)

    def _leg_gone(self, session: InboundSession, leg: Any, code: int, reason: str) -> None:
        self.worker.drop_leg(leg)
        if leg is session.caller_leg:
            session.caller_leg = None
            session.player = session.ringback = None
            if session.outcome is None:
                if session.bridged:
                    session.outcome = "forwarded" if session.forwarded else "answered"
                    session.reason = "the caller hung up"
                else:
                    session.outcome, session.reason = "cancelled", "the caller hung up"
            self._hangup_all(session)
        elif leg is session.talk_leg:
            session.talk_leg = None
            if session.outcome is None:
                if session.forwarded:
                    session.outcome, session.reason = "forwarded", "the forward number hung up"
                else:
                    session.outcome, session.reason = "answered", "the user hung up"
            self._hangup_all(session)
        elif leg is session.forward_leg:
            session.forward_leg = None
            if session.outcome is None:
                busy = code in (486, 600)
                session.outcome = "no_answer"
                session.reason = (
                    "the forward number is busy"
                    if busy
                    else "the forward number did not answer"
                    if code in (408, 480, 487, 603) or not code
                    else f"the forward number failed: {reason or code}"
                )
                session.code = code or None
            self._hangup_all(session)
        elif leg in session.ring_legs:
            session.ring_legs.remove(leg)
            if (
                not session.ring_legs
                and session.talk_leg is None
                and session.phase == "ringing"
                and session.outcome is None
            ):
                if session.ring_expired_at:
                    why = "nobody answered"
                elif code in (486, 600, 603):
                    why = "the phones declined"
                else:
                    why = "no phone could be reached"
                self._forward(session, why)
        self.maybe_finish(session)

    # -- media -----------------------------------------------------------------------
    def _bridge(self, session: InboundSession) -> None:
        """Connect caller and talk leg both ways, and the recorder."""
        if session.bridged:
            self.worker.rewire(session, session.caller_leg, session.talk_leg)
            return
        if session.ended or session.talk_leg is None:
            return
        if session.caller_leg is None:
            return
        caller = self.worker._audio(session.caller_leg)
        other = self.worker._audio(session.talk_leg)
        if caller is None or other is None:
            return
        session.player = session.ringback = None
        caller.startTransmit(other)
        other.startTransmit(caller)
        session.bridged = True
        session.media = (caller, other)
        if self.settings.get("recording", True):
            path = os.path.join(self.worker.recordings_dir, f"{session.call_id}.wav")
            recorder = self.pj.AudioMediaRecorder()
            try:
                recorder.createRecorder(path)
                caller.startTransmit(recorder)
                other.startTransmit(recorder)
                session.recorder, session.wav_path = recorder, path
            except Exception as error:
                _logger.warning("call %s: recorder failed: %s", session.call_id, error)
        if session.talk_leg.role == "forward":
            session.forwarded = True
            number = session.forward_number or "?"
            self.worker.emit("call.forwarded", session.call_id, {"number": number[:64]})
        else:
            self.worker.emit("call.bridged", session.call_id, {})

    # -- ending ----------------------------------------------------------------------
    def _hangup(self, leg: Any, code: int | None = None) -> None:
        prm = self.pj.CallOpParam(True)
        if code:
            prm.statusCode = code
        try:
            leg.hangup(prm)
        except Exception as error:  # already disconnecting
            _logger.debug("hangup of %s leg: %s", leg.role, error)

    def _hangup_all(self, session: InboundSession) -> None:
        session.closing_since = session.closing_since or time.monotonic()
        for leg in session.legs():
            if leg is session.caller_leg and not session.caller_answered:
                # Never answered: the caller's provider gets a final answer.
                self._hangup(leg, session.code if session.code in (486,) else 480)
            else:
                self._hangup(leg)

    def hangup_session(self, session: InboundSession, reason: str) -> None:
        if session.outcome is None:
            if session.bridged:
                session.outcome = "forwarded" if session.forwarded else "answered"
            else:
                session.outcome = "cancelled"
            session.reason = reason
        self._hangup_all(session)
        self.maybe_finish(session)

    def shutdown_session(self, session: InboundSession) -> None:
        if session.outcome is None:
            if session.bridged:
                session.outcome = "forwarded" if session.forwarded else "answered"
            else:
                session.outcome = "failed"
            session.reason = "engine stopped"
        self._hangup_all(session)

    def maybe_finish(self, session: InboundSession, force: bool = False) -> None:
        """Once every leg is gone: close the recorder, report, free the slot."""
        if session.ended or (session.legs_alive and not force):
            return
        session.ended = True
        session.player = session.ringback = None
        account, session.ring_account = session.ring_account, None
        self.worker.finish_session(session, account)

    # -- timers ----------------------------------------------------------------------
    def check_timers(self, session: InboundSession, now: float) -> None:
        if session.ended:
            return
        if session.outcome is not None:
            if session.closing_since and now > session.closing_since + CANCEL_GRACE:
                # A leg that never confirms its end must not hold the call's report.
                _logger.warning("call %s: a leg did not hang up; ending", session.call_id)
                self.maybe_finish(session, force=True)
            return
        if session.phase == "greeting" and now >= session.greeting_until:
            self._start_ringing(session)
        elif session.phase == "ringing" and session.talk_leg is None:
            if not session.ring_expired_at and now > session.ring_deadline:
                session.ring_expired_at = now
                for leg in list(session.ring_legs):
                    self._hangup(leg)  # CANCEL: the edge cancels every branch
            elif (
                session.ring_expired_at
                and not session.forward_pending
                and now > session.ring_expired_at + CANCEL_GRACE
            ):
                # A phone never confirmed the CANCEL: forward without it.
                self._forward(session, "nobody answered")
        elif session.phase == "forwarding" and session.forward_leg is not None:
            if now > session.forward_deadline:
                self._hangup(session.forward_leg)
        if session.forward_pending and session.outcome is None:
            if len(self.worker.calls) < self.worker.max_calls:
                self._forward(session, session.forward_pending)
            elif now > session.forward_pending_until:
                session.outcome, session.reason = "no_answer", session.forward_pending
                session.forward_pending = ""
                self._hangup_all(session)
