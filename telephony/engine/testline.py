"""A local test line: a SIP "provider" on loopback for trying the engine.

``python -m telephony.engine.testline --port 5090 --user LOGIN:PASSWORD``
runs a digest registrar for the trunk on 127.0.0.1:PORT and hands every call
the trunk places to SIPp's built-in answering scenario with RTP echo: a
click-to-call reaches it, it answers, and the caller hears themselves.
The engine's tests use the same registrar as their provider.
Nothing here is for production: it trusts loopback and keeps nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import uuid

_logger = logging.getLogger("telephony.engine.testline")


class Registrar:
    """A provider's registrar on UDP: 401 challenge, then 200 or 403.

    ``silent=True`` swallows every request, like a provider that never answers.
    ``relay_to=(host, port)`` makes it a stateless proxy for everything but
    REGISTER, so the calls a trunk places reach a user agent "behind the
    provider". ``contacts`` holds the contact each user registered.
    """

    def __init__(
        self,
        users: dict[str, str],
        realm: str = "provider.test",
        silent: bool = False,
        relay_to: tuple[str, int] | None = None,
        port: int = 0,
    ):
        self.users = users
        self.realm = realm
        self.silent = silent
        self.relay_to = relay_to
        self.contacts: dict[str, str] = {}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", port))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.requests = 0
        self.stopped = False
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> Registrar:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped = True
        self.thread.join(timeout=2)
        self.sock.close()

    def _serve(self) -> None:
        while not self.stopped:
            try:
                data, peer = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            self.requests += 1
            if self.silent:
                continue
            message = data.decode(errors="replace")
            if not re.match(r"^(SIP/2\.0 \d{3}|[A-Z]+ \S+ SIP/2\.0)", message):
                continue  # a keep-alive (CRLF) or garbage
            if self.relay_to and not message.startswith("REGISTER "):
                self._relay(message, peer)
                continue
            reply = self._answer(message)
            if reply:
                self.sock.sendto(reply.encode(), peer)

    def _relay(self, message: str, peer: tuple[str, int]) -> None:
        """Stateless proxying (RFC 3261 16.11): our Via on requests, off replies."""
        head, _, body = message.partition("\r\n\r\n")
        lines = head.split("\r\n")
        if lines[0].startswith("SIP/2.0 "):
            # Our Via is the first value; some agents (SIPp) fold all the Via
            # values into one line, separated by commas.
            vias = [i for i, line in enumerate(lines) if re.match(r"(?i)(via|v)\s*:", line)]
            if not vias:
                return
            name, _, values = lines[vias[0]].partition(":")
            rest = values.split(",", 1)[1].strip() if "," in values else ""
            if rest:
                lines[vias[0]] = f"{name}: {rest}"
                via = rest.split(",", 1)[0]
            elif len(vias) > 1:
                del lines[vias[0]]
                via = lines[vias[1] - 1].split(":", 1)[1].split(",", 1)[0]
            else:
                return
            host_port = re.search(r"SIP/2.0/UDP\s+([^;\s]+)", via).group(1)
            host, _, port = host_port.partition(":")
            received = re.search(r";received=([^;\s]+)", via)
            rport = re.search(r";rport=(\d+)", via)
            target = (
                received.group(1) if received else host,
                int(rport.group(1)) if rport else int(port or 5060),
            )
            self.sock.sendto(("\r\n".join(lines) + "\r\n\r\n" + body).encode(), target)
            return
        top = next((i for i, line in enumerate(lines) if re.match(r"(?i)(via|v)\s*:", line)), 1)
        branch = re.search(r"branch=([^;\s,]+)", lines[top])
        digest = hashlib.md5((branch.group(1) if branch else message).encode()).hexdigest()
        # A CANCEL or non-2xx ACK gets the branch of its INVITE, as it must.
        via = re.sub(r";rport(=\d*)?|;received=[^;\s,]+", "", lines[top])
        lines[top] = via + f";received={peer[0]};rport={peer[1]}"
        lines.insert(top, f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch=z9hG4bK{digest}")
        self.sock.sendto(("\r\n".join(lines) + "\r\n\r\n" + body).encode(), self.relay_to)

    def _answer(self, message: str) -> str | None:
        head = message.split("\r\n\r\n", 1)[0]
        lines = head.split("\r\n")
        method, uri = lines[0].split(" ")[:2]
        if method not in ("REGISTER",):
            return None
        headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))

        def get(name: str) -> str:
            for key, value in headers:
                if key.lower() == name.lower():
                    return value
            return ""

        auth = get("Authorization")
        if not auth:
            nonce = uuid.uuid4().hex
            return self._response(
                headers,
                "401 Unauthorized",
                f'WWW-Authenticate: Digest realm="{self.realm}", '
                f'nonce="{nonce}", algorithm=MD5\r\n',
            )
        params = dict(re.findall(r'(\w+)="?([^",]*)"?', auth))
        password = self.users.get(params.get("username", ""))
        if password is None:
            return self._response(headers, "403 Forbidden", "")
        ha1 = hashlib.md5(f"{params['username']}:{self.realm}:{password}".encode()).hexdigest()
        ha2 = hashlib.md5(f"{method}:{params.get('uri', uri)}".encode()).hexdigest()
        if params.get("qop"):
            expected = hashlib.md5(
                f"{ha1}:{params['nonce']}:{params['nc']}:{params['cnonce']}:{params['qop']}:{ha2}".encode()
            ).hexdigest()
        else:
            expected = hashlib.md5(f"{ha1}:{params['nonce']}:{ha2}".encode()).hexdigest()
        if expected != params.get("response"):
            return self._response(headers, "403 Forbidden", "")
        contact = get("Contact") or get("m")
        expires = get("Expires") or "300"
        if contact:
            uri = re.search(r"<([^>]+)>", contact)
            registered = uri.group(1) if uri else contact.split(";", 1)[0]
            if expires == "0" or ";expires=0" in contact:
                self.contacts.pop(params["username"], None)
            else:
                self.contacts[params["username"]] = registered
        extra = f"Contact: {contact};expires={expires}\r\n" if contact and expires != "0" else ""
        return self._response(headers, "200 OK", extra)

    @staticmethod
    def _response(headers: list[tuple[str, str]], status: str, extra: str) -> str:
        out = [f"SIP/2.0 {status}"]
        for name, value in headers:
            low = name.lower()
            if low in ("via", "v", "from", "f", "call-id", "i", "cseq"):
                out.append(f"{name}: {value}")
            elif low in ("to", "t"):
                out.append(f"{name}: {value}" + ("" if ";tag=" in value else ";tag=reg1"))
        return "\r\n".join(out) + "\r\n" + extra + "Content-Length: 0\r\n\r\n"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m telephony.engine.testline", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--port", type=int, default=5090, help="the registrar's UDP port")
    parser.add_argument(
        "--user", action="append", required=True, help="LOGIN:PASSWORD of a trunk (repeatable)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
    users = dict(user.split(":", 1) for user in args.user if ":" in user)
    if not users:
        parser.error("--user takes LOGIN:PASSWORD")
    sipp = shutil.which("sipp")
    if not sipp:
        parser.error("SIPp is missing (Debian package sip-tester)")
    answer_port = free_udp_port()
    # -bg: SIPp forks, its parent prints the child's pid and returns.
    started = subprocess.run(  # noqa: S603 - fixed arguments, loopback only
        [sipp, "-sn", "uas", "-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", str(answer_port)]
        + ["-rtp_echo", "-bg", "-nostdin"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    match = re.search(r"PID=\[(\d+)\]", started.stdout + started.stderr)
    if not match:
        _logger.error("SIPp did not start: %s", (started.stdout + started.stderr)[-300:])
        return 1
    # Taken with sigwait, not a handler: a handler that sets an Event can
    # deadlock on the Event's own lock when the signal lands while the main
    # thread holds it, and the line then ignores every later signal. Blocked
    # before the registrar's threads start, so that they inherit the mask.
    # A background job of a shell script starts with SIGINT ignored, and an
    # ignored signal never reaches sigwait: restore the default first.
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    for signum in stop_signals:
        signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    try:
        with Registrar(users, relay_to=("127.0.0.1", answer_port), port=args.port):
            _logger.info(
                "test line: registrar on 127.0.0.1:%s, calls answered with echo", args.port
            )
            signal.sigwait(stop_signals)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(match.group(1)), signal.SIGTERM)
    return 0


if __name__ == "__main__":
    sys.exit(main())
