"""SIP text the media worker reads and writes: user parts, display names,
the edge's headers. Pure functions (no pjsua2 import)."""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

RING_HEADER = "X-Telephony-Ring"  # a worker's INVITE to the edge: whose phones ring
ANSWERED_HEADER = "X-Telephony-Login"  # the edge's 2xx: whose phone answered
LOGIN_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def sip_chars(text: str) -> str:
    """``text`` kept to characters a SIP user part needs no escaping for."""
    return re.sub(r"[^A-Za-z0-9+*#._-]", "", text or "")[:64]


def sip_user(text: str) -> str:
    """A SIP user part: ``text``'s safe characters, or "anonymous"."""
    return sip_chars(text) or "anonymous"


def quote_name(text: str) -> str:
    return (text or "").replace("\\", "").replace('"', "")[:64]


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
    return found.group(1) if found and LOGIN_RE.match(found.group(1)) else ""
