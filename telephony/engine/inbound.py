"""Incoming calls in a media worker: greeting, ring group, forwarding.

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

``IncomingDesk`` holds what the controller says about incoming calls (who
rings, the greeting) and takes the provider's INVITEs; each ``InboundCall``
carries its own flow. Everything runs in the worker's owner thread, like the
rest of pjsua2.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from .session import CallSession, MediaHost
from .siptext import (
    ANSWERED_HEADER,
    LOGIN_RE,
    RING_HEADER,
    parse_party,
    reply_header,
    sip_chars,
)

_logger = logging.getLogger("telephony.engine.inbound")

RING_GROUP_MAX = 30  # logins in one ring group (the edge forks to 30 branches at most)
FORWARD_RING_MAX = 60.0  # seconds the forward number may ring
CANCEL_GRACE = 2.0  # seconds to wait for cancelled phones before forwarding anyway
MEDIA_WAIT = 2.0  # seconds to wait for the caller's media before skipping the greeting
RINGBACK = (425, 1000, 4000)  # Hz, on ms, off ms (ITU-T E.180)


class IncomingDesk:
    """Who an incoming call rings and what the caller hears first; takes the
    provider's INVITEs (normally in worker 0, the trunks' contact)."""

    def __init__(self, host: MediaHost):
        self.host = host
        self.ring_logins: list[str] = []  # available: accept incoming (and registered)
        self.ring_uri: str | None = None  # the edge's ring group, None without an edge
        self.phone_uri = ""
        self.greeting: dict[str, Any] | None = None

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
        self.ring_logins = [x for x in logins if isinstance(x, str) and LOGIN_RE.match(x)][
            :RING_GROUP_MAX
        ]

    def on_incoming(self, trunk: Any, prm: Any) -> InboundCall:
        """A provider's INVITE reached a trunk account (pjsua2 callback)."""
        host = self.host
        call_id = "c-" + uuid.uuid4().hex[:24]
        call = InboundCall(call_id=call_id, host=host, desk=self, account_id=trunk.account_id)
        leg = host.new_leg(trunk, call, "caller", prm.callId)
        call.caller_leg = leg
        try:
            info = leg.getInfo()
            call.number, call.caller_name = parse_party(info.remoteUri)
        except Exception as error:
            _logger.warning("incoming call: unreadable caller: %s", error)
            call.number = "anonymous"
        host.add_session(call)
        host.send("incoming", call_id)
        host.emit(
            "call.created",
            call_id,
            {"direction": "inbound", "number": call.number, "account_id": trunk.account_id},
        )
        _logger.info("call %s: incoming on account %s", call_id, trunk.account_id)
        call.start()
        return call


@dataclass(eq=False, kw_only=True)
class InboundCall(CallSession):
    """One incoming call: the caller's leg, ringing phones, then one talk leg."""

    desk: IncomingDesk = field(repr=False)
    account_id: int
    number: str = ""
    caller_name: str = ""
    caller_leg: Any = None
    ring_legs: list = field(default_factory=list)
    forward_leg: Any = None
    talk_leg: Any = None  # the phone that answered, or the forward number
    player: Any = None
    ringback: Any = None
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
    forwarded: bool = False

    def legs(self) -> list:
        legs = [self.caller_leg, *self.ring_legs, self.forward_leg, self.talk_leg]
        seen, unique = set(), []
        for leg in legs:
            if leg is not None and id(leg) not in seen:
                seen.add(id(leg))
                unique.append(leg)
        return unique

    def start(self) -> None:
        if self.host.stopping or self.host.free_calls() < 1:
            # Room for the caller only: no phone or forward leg could follow.
            self.outcome, self.reason, self.code = "no_answer", "all lines are busy", 486
            self._answer_caller(486)
            return
        if self.desk.greeting:
            self.phase = "greeting"
            self.greeting_until = time.monotonic() + MEDIA_WAIT
            self._answer_caller(200)
            self._start_greeting()
        else:
            self._answer_caller(180)
            self._start_ringing()

    def _answer_caller(self, code: int) -> None:
        leg = self.caller_leg
        if leg is None:
            return
        prm = self.host.pj.CallOpParam(True)
        prm.statusCode = code
        try:
            leg.answer(prm)
        except Exception as error:
            _logger.warning("call %s: cannot answer %s: %s", self.call_id, code, error)
            return
        if code == 200:
            self.caller_answered = True

    # -- greeting ----------------------------------------------------------------
    def _start_greeting(self) -> None:
        greeting = self.desk.greeting
        if self.player is not None or self.phase != "greeting" or not greeting:
            return
        media = self.host.audio(self.caller_leg)
        if media is None:
            return  # the caller's media is not up yet: on_leg_media comes back here
        pj = self.host.pj
        player = pj.AudioMediaPlayer()
        try:
            player.createPlayer(greeting["path"], pj.PJMEDIA_FILE_NO_LOOP)
            player.startTransmit(media)
        except Exception as error:
            _logger.error("call %s: greeting cannot play: %s", self.call_id, error)
            self.greeting_until = time.monotonic()
            return
        self.player = player
        # Heard to its end: a little margin for the caller's jitter buffer.
        self.greeting_until = time.monotonic() + float(greeting["seconds"]) + 0.2

    def _start_ringback(self) -> None:
        """After a greeting the call is answered: the caller hears our ringback."""
        if self.ringback is not None or not self.caller_answered or self.bridged:
            return
        media = self.host.audio(self.caller_leg)
        if media is None:
            return
        pj = self.host.pj
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
            _logger.warning("call %s: no ringback tone: %s", self.call_id, error)
            return
        self.ringback = tone

    # -- ringing the phones --------------------------------------------------------
    def _start_ringing(self) -> None:
        host, desk = self.host, self.desk
        self.player = None
        logins = list(desk.ring_logins)
        if not logins or not (desk.ring_uri or desk.phone_uri):
            self._forward("nobody is available")
            return
        self.phase = "ringing"
        self.logins = logins
        self.caller_account = host.caller_account(self.number, self.caller_name)
        if desk.ring_uri:
            targets = [(desk.ring_uri, logins)]
        else:
            # Without the edge every phone is its own leg, as far as slots allow.
            room = max(0, host.free_calls())
            targets = [
                (desk.phone_uri.format(login=login), [login]) for login in logins[: max(room, 1)]
            ]
        for uri, group in targets:
            leg = host.new_leg(self.caller_account, self, "ring")
            leg.logins = group
            headers = {RING_HEADER: ",".join(group)} if desk.ring_uri else None
            error = self.place_call(leg, uri, headers)
            if error:
                _logger.warning("call %s: cannot ring %s: %s", self.call_id, group, error)
                continue
            self.ring_legs.append(leg)
        if not self.ring_legs:
            self._forward("no phone could be reached")
            return
        self.ring_deadline = time.monotonic() + float(host.settings.get("ring_time") or 15)
        self._start_ringback()

    def _phone_answered(self, leg: Any) -> None:
        login = leg.answered_login
        if not login and len(leg.logins) == 1:
            login = leg.logins[0]
        if not login:
            # No header from the edge: the phone's contact usually carries its login.
            contact_user, _name = parse_party(leg.remote_contact)
            login = contact_user if contact_user in leg.logins else ""
        self.ring_legs.remove(leg)
        self.talk_leg = leg
        self.phase = "talking"
        if not self.ringing_sent:
            self._emit_ringing()
        self.host.emit("call.answered", self.call_id, {"login": login} if login else {})
        for other in list(self.ring_legs):
            self.hangup_leg(other)
        self.ringback = None
        if not self.caller_answered:
            self._answer_caller(200)
        self._bridge()

    def _emit_ringing(self) -> None:
        self.ringing_sent = True
        self.host.emit("call.ringing", self.call_id, {"logins": list(self.logins)})

    # -- forwarding ------------------------------------------------------------------
    def _forward(self, why: str) -> None:
        """Nobody took the call: dial the forward number, or give up."""
        host = self.host
        for leg in list(self.ring_legs):
            self.hangup_leg(leg)
        if self.outcome is not None or self.caller_leg is None:
            return
        dial = str(host.settings.get("forward_dial") or "")
        number = str(host.settings.get("forward_number") or dial)
        trunk = host.trunk(None)
        if not dial or trunk is None:
            self.outcome, self.reason = "no_answer", why
            self.hangup_all()
            return
        if host.free_calls() <= 0:
            # The cancelled phones still hold their slot: forward when it frees.
            if not self.forward_pending:
                self.forward_pending = why
                self.forward_pending_until = time.monotonic() + 5
            return
        self.forward_pending = ""
        self.phase = "forwarding"
        self.forward_number = number
        host.emit("call.dialing", self.call_id, {"dial": dial[:64]})
        leg = host.new_leg(trunk, self, "forward")
        error = self.place_call(leg, f"sip:{sip_chars(dial)}@{trunk.domain}")
        if error:
            _logger.warning("call %s: cannot dial the forward number: %s", self.call_id, error)
            self.outcome, self.reason = "no_answer", "the forward number cannot be dialled"
            self.hangup_all()
            return
        self.forward_leg = leg
        ring = float(host.settings.get("forward_ring_time") or FORWARD_RING_MAX)
        self.forward_deadline = time.monotonic() + min(ring, FORWARD_RING_MAX)
        _logger.info("call %s: forwarded (%s)", self.call_id, why)
        self._start_ringback()

    # -- pjsua2 callbacks, through the worker -------------------------------------------
    def on_reply(self, leg: Any, prm: Any, info: Any) -> None:
        if leg.role == "ring" and not leg.answered_login:
            # The edge names the phone that answered in its 2xx.
            leg.answered_login = reply_header(prm, ANSWERED_HEADER, self.host.pj)
            leg.remote_contact = str(info.remoteContact)

    def on_leg_state(self, leg: Any, state: int, code: int, reason: str) -> None:
        pj = self.host.pj
        if leg.role == "ring":
            if state == pj.PJSIP_INV_STATE_EARLY and not self.ringing_sent:
                self._emit_ringing()
            elif state == pj.PJSIP_INV_STATE_CONFIRMED:
                if (
                    self.talk_leg is None
                    and self.outcome is None
                    and self.caller_leg is not None
                    and self.phase == "ringing"
                    and not self.ring_expired_at
                    and leg in self.ring_legs
                ):
                    self._phone_answered(leg)
                elif leg is not self.talk_leg:
                    self.hangup_leg(leg)  # answered too late: someone else has the call
        elif leg.role == "forward" and state == pj.PJSIP_INV_STATE_CONFIRMED:
            if self.talk_leg is None and self.outcome is None and self.caller_leg:
                self.forward_leg = None
                self.talk_leg = leg
                self.phase = "talking"
                self.ringback = None
                if not self.caller_answered:
                    self._answer_caller(200)
                self._bridge()
            else:
                self.hangup_leg(leg)
        if state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self._leg_gone(leg, code, reason)

    def on_leg_media(self, leg: Any) -> None:
        if leg is self.caller_leg:
            if self.phase == "greeting":
                self._start_greeting()
            elif self.phase in ("ringing", "forwarding"):
                self._start_ringback()
        self._bridge()

    def _leg_gone(self, leg: Any, code: int, reason: str) -> None:
        self.host.drop_leg(leg)
        if leg is self.caller_leg:
            self.caller_leg = None
            self.player = self.ringback = None
            if self.outcome is None:
                if self.bridged:
                    self.outcome = "forwarded" if self.forwarded else "answered"
                    self.reason = "the caller hung up"
                else:
                    self.outcome, self.reason = "cancelled", "the caller hung up"
            self.hangup_all()
        elif leg is self.talk_leg:
            self.talk_leg = None
            if self.outcome is None:
                if self.forwarded:
                    self.outcome, self.reason = "forwarded", "the forward number hung up"
                else:
                    self.outcome, self.reason = "answered", "the user hung up"
            self.hangup_all()
        elif leg is self.forward_leg:
            self.forward_leg = None
            if self.outcome is None:
                self.outcome = "no_answer"
                self.reason = (
                    "the forward number is busy"
                    if code in (486, 600)
                    else "the forward number did not answer"
                    if code in (408, 480, 487, 603) or not code
                    else f"the forward number failed: {reason or code}"
                )
                self.code = code or None
            self.hangup_all()
        elif leg in self.ring_legs:
            self.ring_legs.remove(leg)
            if (
                not self.ring_legs
                and self.talk_leg is None
                and self.phase == "ringing"
                and self.outcome is None
            ):
                if self.ring_expired_at:
                    why = "nobody answered"
                elif code in (486, 600, 603):
                    why = "the phones declined"
                else:
                    why = "no phone could be reached"
                self._forward(why)
        self.finish()

    # -- media -----------------------------------------------------------------------
    def _bridge(self) -> None:
        """Connect caller and talk leg both ways, and the recorder."""
        if self.bridged:
            self.rewire(self.caller_leg, self.talk_leg)
            return
        if self.ended or self.talk_leg is None or self.caller_leg is None:
            return
        if not self.connect(self.caller_leg, self.talk_leg):
            return
        if self.talk_leg.role == "forward":
            self.forwarded = True
            number = self.forward_number or "?"
            self.host.emit("call.forwarded", self.call_id, {"number": number[:64]})
        else:
            self.host.emit("call.bridged", self.call_id, {})

    def before_connect(self) -> None:
        self.player = self.ringback = None

    # -- ending ----------------------------------------------------------------------
    def hangup_all(self) -> None:
        self.closing_since = self.closing_since or time.monotonic()
        for leg in self.legs():
            if leg is self.caller_leg and not self.caller_answered:
                # Never answered: the caller's provider gets a final answer.
                self.hangup_leg(leg, self.code if self.code in (486,) else 480)
            else:
                self.hangup_leg(leg)

    def _outcome_if_taken(self, otherwise: str) -> str:
        if self.bridged:
            return "forwarded" if self.forwarded else "answered"
        return otherwise

    def hang_up(self, reason: str) -> None:
        if self.outcome is None:
            self.outcome = self._outcome_if_taken("cancelled")
            self.reason = reason
        self.hangup_all()
        self.finish()

    def stop(self) -> None:
        if self.outcome is None:
            self.outcome = self._outcome_if_taken("failed")
            self.reason = "engine stopped"
        self.hangup_all()

    def finish(self, force: bool = False) -> None:
        if self.ended or (self.legs_alive and not force):
            return
        self.player = self.ringback = None
        super().finish(force)

    # -- timers ----------------------------------------------------------------------
    def check_timers(self, now: float) -> None:
        if self.ended:
            return
        if self.outcome is not None:
            if self.closing_since and now > self.closing_since + CANCEL_GRACE:
                # A leg that never confirms its end must not hold the call's report.
                _logger.warning("call %s: a leg did not hang up; ending", self.call_id)
                self.finish(force=True)
            return
        if self.phase == "greeting" and now >= self.greeting_until:
            self._start_ringing()
        elif self.phase == "ringing" and self.talk_leg is None:
            if not self.ring_expired_at and now > self.ring_deadline:
                self.ring_expired_at = now
                for leg in list(self.ring_legs):
                    self.hangup_leg(leg)  # CANCEL: the edge cancels every branch
            elif (
                self.ring_expired_at
                and not self.forward_pending
                and now > self.ring_expired_at + CANCEL_GRACE
            ):
                # A phone never confirmed the CANCEL: forward without it.
                self._forward("nobody answered")
        elif self.phase == "forwarding" and self.forward_leg is not None:
            if now > self.forward_deadline:
                self.hangup_leg(self.forward_leg)
        if self.forward_pending and self.outcome is None:
            if self.host.free_calls() > 0:
                self._forward(self.forward_pending)
            elif now > self.forward_pending_until:
                self.outcome, self.reason = "no_answer", self.forward_pending
                self.forward_pending = ""
                self.hangup_all()
