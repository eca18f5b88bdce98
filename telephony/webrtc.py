"""Browser phone settings (ICE servers for the WebRTC phone in the Odoo page)
that Odoo checks and the browser uses."""

from __future__ import annotations

import re

MAX_ICE_SERVERS = 5
_ICE_URL = re.compile(r"^(stun|stuns|turn|turns):[A-Za-z0-9.\-\[\]:]+(\?transport=(udp|tcp))?$")


def parse_ice_servers(text: str | None) -> list[dict]:
    """The ``iceServers`` of an RTCPeerConnection from one server per line.

    A line is ``stun:host[:port]`` or ``turn(s):host[:port][?transport=udp|tcp]
    USERNAME PASSWORD`` (TURN needs both). Raises ValueError naming the line.
    """
    servers = []
    lines = [line.strip() for line in (text or "").splitlines()]
    for number, line in enumerate(lines, start=1):
        if not line or line.startswith("#"):
            continue
        url, *credentials = line.split()
        if not _ICE_URL.match(url):
            raise ValueError(
                f"Line {number}: {url[:60]!r} is not a stun:, stuns:, turn: or turns: address."
            )
        server: dict = {"urls": url}
        if url.startswith("turn"):
            if len(credentials) != 2:
                raise ValueError(f"Line {number}: a TURN server needs a user name and a password.")
            server["username"], server["credential"] = credentials
        elif credentials:
            raise ValueError(f"Line {number}: a STUN server takes no user name or password.")
        servers.append(server)
    if len(servers) > MAX_ICE_SERVERS:
        raise ValueError(f"At most {MAX_ICE_SERVERS} ICE servers (browsers slow down with more).")
    return servers
