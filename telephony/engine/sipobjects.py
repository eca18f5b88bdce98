"""The pjsua2 objects of a media worker: endpoint settings, accounts, call legs,
the log writer.

pjsua2 calls them back in the worker's owner thread; a leg hands its state
changes straight to the call (``CallSession``) it belongs to.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any

import pjsua2 as pj

# Digest headers and passwords never reach the log even at pjsip level 3.
_REDACT = re.compile(r"(Authorization:|response=|nonce=)[^\r\n]*", re.IGNORECASE)


def endpoint_config(log_level: int) -> Any:
    """pjsua2 for one owner thread (no threads of its own: it aborts when
    called from another), 8 kHz mono media without echo canceller or VAD."""
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.logConfig.level = log_level
    cfg.logConfig.consoleLevel = log_level
    cfg.medConfig.clockRate = 8000
    cfg.medConfig.sndClockRate = 8000
    cfg.medConfig.channelCount = 1
    cfg.medConfig.ecTailLen = 0
    cfg.medConfig.noVad = True
    cfg.medConfig.threadCnt = 0
    return cfg


class PjLogWriter(pj.LogWriter):
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

    def __init__(
        self,
        emit: Callable[[str, str | None, dict[str, Any]], None],
        account_id: int,
        on_incoming: Callable[[Any, Any], Any],
    ):
        super().__init__()
        self.emit = emit
        self.on_incoming = on_incoming
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
        self.emit("trunk.state", None, data)

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
        self.on_incoming(self, prm)


class CallerAccount(pj.Account):
    """A registration-less account whose From carries the client's caller id."""


class Leg(pj.Call):
    """One leg of a call; hands its state changes to that call."""

    def __init__(self, account: Any, session: Any, role: str, call_id: int | None = None):
        if call_id is None:
            super().__init__(account)
        else:
            super().__init__(account, call_id)
        self.session = session
        self.role = role
        self.confirmed = False
        self.logins: list[str] = []  # a ring leg: whose phones it rings
        self.answered_login = ""
        self.remote_contact = ""

    def onCallState(self, prm: Any) -> None:  # noqa: N802 - pjsua2 callback
        info = self.getInfo()
        self.session.on_reply(self, prm, info)
        self.session.on_leg_state(self, info.state, int(info.lastStatusCode), str(info.lastReason))

    def onCallMediaState(self, prm: Any) -> None:  # noqa: N802 - pjsua2 callback
        self.session.on_leg_media(self)
