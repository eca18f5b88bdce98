"""Click-to-call in a media worker: ring the user's phone, then dial the client.

The user's phone rings with the client's number and name as caller id (a
registration-less account per call); when the user answers, the client is
dialled through the order's SIP account (the first one by sequence
otherwise); when the client answers both directions are connected and the
mixed audio is recorded. A hang-up on either side ends the other leg.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from .session import CallSession, MediaHost
from .siptext import sip_user

_logger = logging.getLogger("telephony.engine.outbound")

LEGS = 2  # the user's and the client's


@dataclass(eq=False, kw_only=True)
class OutboundCall(CallSession):
    """One click-to-call: the user's leg, then the client's leg, bridged."""

    order: dict[str, Any] = field(default_factory=dict)
    user_leg: Any = None
    client_leg: Any = None
    ring_deadline: float = 0.0
    user_answered: bool = False
    client_dialled: bool = False
    ring_expired: bool = False

    @classmethod
    def dial(cls, host: MediaHost, order: dict[str, Any]) -> OutboundCall:
        """Start the call of a ``dial`` order: ring the user's phone."""
        call = cls(call_id=order["call_id"], host=host, order=order)
        host.add_session(call)
        if host.free_calls() < LEGS:
            call.outcome, call.reason = "failed", "media worker full"
            call.finish()
            return call
        number = order.get("number", "")
        call.caller_account = host.caller_account(
            number, order.get("caller_name") or order.get("number") or ""
        )
        call.ring_deadline = time.monotonic() + float(order.get("ring_time") or 15)
        leg = host.new_leg(call.caller_account, call, "user")
        call.user_leg = leg
        error = call.place_call(leg, order["phone_uri"])
        if error:
            _logger.warning("call %s: cannot ring the user's phone: %s", call.call_id, error)
            call.user_leg = None
            call.outcome, call.reason = "failed", "cannot reach the user's phone"
            call.finish()
        return call

    def legs(self) -> list:
        return [leg for leg in (self.user_leg, self.client_leg) if leg is not None]

    def record_wanted(self) -> bool:
        return bool(self.order.get("record", True))

    def _dial_client(self) -> None:
        order = self.order
        trunk = self.host.trunk(int(order.get("account_id") or 0))
        if trunk is None:
            self.outcome, self.reason = "failed", "no SIP account"
            self.hangup_all()
            return
        dial = sip_user(order.get("dial") or order.get("number", ""))
        self.client_dialled = True
        self.host.emit("call.dialing", self.call_id, {"dial": order.get("dial") or dial})
        leg = self.host.new_leg(trunk, self, "client")
        self.client_leg = leg
        error = self.place_call(leg, f"sip:{dial}@{trunk.domain}")
        if error:
            _logger.warning("call %s: cannot dial the client: %s", self.call_id, error)
            self.client_leg = None
            self.outcome, self.reason = "failed", "cannot dial the client"
            self.hangup_all()
            self.finish()

    def _ringing(self) -> None:
        self.ringing_sent = True
        self.host.emit("call.ringing", self.call_id, {"logins": [self.order["login"]]})

    # -- pjsua2 callbacks, through the worker ------------------------------------------
    def on_leg_state(self, leg: Any, state: int, code: int, reason: str) -> None:
        pj = self.host.pj
        if state == pj.PJSIP_INV_STATE_EARLY and leg.role == "user" and not self.ringing_sent:
            self._ringing()
        elif state == pj.PJSIP_INV_STATE_CONFIRMED:
            if leg.role == "user" and not self.user_answered:
                if not self.ringing_sent:
                    self._ringing()
                self.user_answered = True
                self.host.emit("call.answered", self.call_id, {"login": self.order["login"]})
                if not self.ended and self.outcome is None:
                    self._dial_client()
            elif leg.role == "client":
                leg.confirmed = True
                self._bridge()
        elif state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self._leg_gone(leg, code, reason)

    def on_leg_media(self, leg: Any) -> None:
        # Either leg: a user who resumes a call the client answered while it
        # was on hold is bridged now (_bridge waits for both legs' media).
        self._bridge()

    def _bridge(self) -> None:
        """Connect both directions and the recorder once both legs have media."""
        if self.bridged:
            self.rewire(self.user_leg, self.client_leg)
            return
        if self.ended or not self.client_leg or not self.client_leg.confirmed:
            return
        if self.connect(self.user_leg, self.client_leg):
            self.host.emit("call.bridged", self.call_id, {})

    def _leg_gone(self, leg: Any, code: int, reason: str) -> None:
        self.host.drop_leg(leg)
        if leg.role == "user":
            self.user_leg = None
            if self.outcome is None:
                self._user_gone(code, reason)
        else:
            self.client_leg = None
            if self.outcome is None:
                self._client_gone(code, reason)
        self.hangup_all()
        self.finish()

    def _user_gone(self, code: int, reason: str) -> None:
        if self.bridged:
            self.outcome, self.reason = "answered", "user hung up"
        elif self.client_dialled:
            self.outcome, self.reason = "cancelled", "user hung up"
        elif code in (408, 480, 487) or self.ring_expired:
            self.outcome, self.reason = "no_answer", "the user did not answer"
        elif code in (486, 600, 603):
            self.outcome, self.reason, self.code = "no_answer", "the user declined", code
        else:
            self.outcome, self.reason = "failed", reason or "user leg failed"
            self.code = code or None

    def _client_gone(self, code: int, reason: str) -> None:
        if self.bridged:
            self.outcome, self.reason = "answered", "client hung up"
        elif code in (486, 600):
            self.outcome, self.reason, self.code = "busy", reason, code
        elif code in (408, 480, 487, 603):
            self.outcome, self.reason, self.code = "no_answer", reason, code
        else:
            self.outcome, self.reason = "failed", reason or "client leg failed"
            self.code = code or None

    # -- ending ----------------------------------------------------------------------
    def hangup_all(self) -> None:
        for leg in self.legs():
            self.hangup_leg(leg)

    def hang_up(self, reason: str) -> None:
        if self.outcome is None:
            self.outcome = "answered" if self.bridged else "cancelled"
            self.reason = reason
        self.hangup_all()
        self.finish()

    def stop(self) -> None:
        if self.outcome is None:
            self.outcome = "answered" if self.bridged else "failed"
            self.reason = "engine stopped"
        self.hangup_all()

    def check_timers(self, now: float) -> None:
        if (
            not self.user_answered
            and self.user_leg is not None
            and not self.ring_expired
            and now > self.ring_deadline
        ):
            self.ring_expired = True
            self.outcome, self.reason = "no_answer", "the user did not answer"
            self.hangup_all()
