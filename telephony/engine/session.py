"""What every call of a media worker shares, and what it may ask of the worker.

A call (``CallSession``) carries its own flow: the outgoing click-to-call in
``outbound.py``, the incoming call in ``inbound.py``. The media worker only
keeps the sessions, hands them their legs' pjsua2 callbacks and its timer
ticks, and ends them; a session reaches the worker through the methods listed
in ``MediaHost`` and nothing else. Neither module imports the worker, so there
is no import circle: the worker imports both.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Protocol

_logger = logging.getLogger("telephony.engine.session")


class MediaHost(Protocol):
    """The media worker as a session sees it (all in the worker's owner thread)."""

    pj: Any  # the pjsua2 module
    settings: dict[str, Any]
    recordings_dir: str
    stopping: bool

    def emit(self, kind: str, call_id: str | None, data: dict[str, Any]) -> None: ...

    def send(self, *message: Any) -> None: ...

    def add_session(self, session: CallSession) -> None: ...

    def finish_session(self, session: CallSession) -> None: ...

    def new_leg(
        self, account: Any, session: CallSession, role: str, call_id: int | None = None
    ) -> Any: ...

    def drop_leg(self, leg: Any) -> None: ...

    def caller_account(self, number: str, name: str) -> Any: ...

    def trunk(self, account_id: int | None) -> Any: ...

    def free_calls(self) -> int: ...

    def audio(self, leg: Any) -> Any: ...


@dataclass(eq=False, kw_only=True)
class CallSession:
    """One call of a media worker; subclasses carry its flow."""

    call_id: str
    host: MediaHost = field(repr=False)
    caller_account: Any = None  # the account that shows the caller id; dropped at the end
    recorder: Any = None
    wav_path: str | None = None
    media: Any = None  # the audio wrappers of a bridged call, kept alive
    ringing_sent: bool = False
    bridged: bool = False
    ended: bool = False
    outcome: str | None = None
    reason: str = ""
    code: int | None = None
    legs_alive: set = field(default_factory=set)

    # -- the flow, called by the worker ------------------------------------------
    def legs(self) -> list:
        """The legs this call still holds."""
        raise NotImplementedError

    def on_reply(self, leg: Any, prm: Any, info: Any) -> None:
        """A leg's state changed: what came with it (before ``on_leg_state``)."""

    def on_leg_state(self, leg: Any, state: int, code: int, reason: str) -> None:
        raise NotImplementedError

    def on_leg_media(self, leg: Any) -> None:
        raise NotImplementedError

    def check_timers(self, now: float) -> None:
        raise NotImplementedError

    def hang_up(self, reason: str) -> None:
        """Odoo asked to end the call."""
        raise NotImplementedError

    def stop(self) -> None:
        """The engine stops: hang up every leg, with an outcome that says so."""
        raise NotImplementedError

    def hangup_all(self) -> None:
        """Hang up every leg the call holds."""
        raise NotImplementedError

    def fail(self, reason: str) -> None:
        """The worker could not carry out an order for this call."""
        self.outcome = self.outcome or "failed"
        self.reason = self.reason or reason
        self.hangup_all()
        self.finish()

    def finish(self, force: bool = False) -> None:
        """Once every leg is gone (or ``force``): report the end and free the slot."""
        if self.ended or (self.legs_alive and not force):
            return
        self.ended = True
        self.host.finish_session(self)

    # -- shared by both flows -------------------------------------------------------
    def ended_data(self) -> dict[str, Any]:
        """The ``call.ended`` event's data."""
        data: dict[str, Any] = {
            "outcome": self.outcome or "failed",
            "reason": (self.reason or "")[:200],
        }
        if self.code:
            data["code"] = int(self.code)
        return data

    def place_call(self, leg: Any, uri: str, headers: dict[str, str] | None = None) -> str:
        """INVITE ``uri`` on ``leg`` (audio only); an error text when pjsua2 refuses
        (the leg is then dropped), else ""."""
        pj = self.host.pj
        prm = pj.CallOpParam(True)
        prm.opt.audioCount = 1
        prm.opt.videoCount = 0
        for name, value in (headers or {}).items():
            header = pj.SipHeader()
            header.hName, header.hValue = name, value
            prm.txOption.headers.append(header)
        try:
            leg.makeCall(uri, prm)
        except Exception as error:
            self.host.drop_leg(leg)
            return str(error) or error.__class__.__name__
        return ""

    def hangup_leg(self, leg: Any, code: int | None = None) -> None:
        prm = self.host.pj.CallOpParam(True)
        if code:
            prm.statusCode = code
        try:
            leg.hangup(prm)
        except Exception as error:  # already disconnecting
            _logger.debug("hangup of %s leg: %s", leg.role, error)

    def connect(self, first: Any, second: Any) -> bool:
        """Connect two legs both ways and start the recording, once both have
        media; False while one of them has none yet."""
        one, other = self.host.audio(first), self.host.audio(second)
        if one is None or other is None:
            return False
        self.before_connect()
        one.startTransmit(other)
        other.startTransmit(one)
        self.bridged = True
        self.media = (one, other)
        if self.record_wanted():
            path = os.path.join(self.host.recordings_dir, f"{self.call_id}.wav")
            recorder = self.host.pj.AudioMediaRecorder()
            try:
                recorder.createRecorder(path)
                one.startTransmit(recorder)
                other.startTransmit(recorder)
                self.recorder, self.wav_path = recorder, path
            except Exception as error:
                _logger.warning("call %s: recorder failed: %s", self.call_id, error)
        return True

    def before_connect(self) -> None:
        """The legs are about to be connected (an incoming call stops its tones)."""

    def record_wanted(self) -> bool:
        return bool(self.host.settings.get("recording", True))

    def rewire(self, first: Any, second: Any) -> None:
        """Connect a bridged call again after a re-INVITE (hold, resume, codec
        change): pjsua recreates a changed stream, and its conference port
        (often under the same number) loses its connections. Connecting an
        already connected pair changes nothing."""
        if self.ended or first is None or second is None:
            return
        one, other = self.host.audio(first), self.host.audio(second)
        if one is None or other is None:
            return  # on hold: connected again when it resumes
        sinks = [(one, other), (other, one)]
        if self.recorder is not None:
            sinks += [(one, self.recorder), (other, self.recorder)]
        for source, sink in sinks:
            with contextlib.suppress(Exception):
                source.stopTransmit(sink)
            source.startTransmit(sink)
        self.media = (one, other)
