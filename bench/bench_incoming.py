"""Figures of incoming calls in the bundled engine: ``python bench/bench_incoming.py``.

Not a test: it prints figures. The engine runs as in production (Kamailio
edge, media workers, on-disk outbox, delivery over HTTP) against the fake
Odoo of the engine tests. Both far ends are plain-Python SIP agents on
loopback, cheap enough to run dozens:

- the phones: one UDP socket per login, registered at the edge with digest
  authentication; they answer every INVITE with 180 Ringing, never pick up,
  and answer a CANCEL with 200 and 487;
- the provider: sends an INVITE (with an SDP offer) straight to the contact
  the trunk registered (media worker 0), as a provider delivers a call, and
  cancels it once the phones ring.

Phases:

latency  ``--calls`` calls one after the other to ``--phones`` phones
         (default 2): INVITE at the trunk -> call.ringing (engine clock, the
         event's ``at``), -> call.ringing received by Odoo, -> first phone's
         INVITE; CANCEL at the trunk -> last phone's CANCEL.
fanout   the same with ``--fanout`` phones (default 20): first and last
         phone's INVITE after the INVITE at the trunk, all of them rung.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import selectors
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from telephony.tests.engine_fixtures import (  # noqa: E402
    EngineProcess,
    FakeOdoo,
    Registrar,
    wait_until,
)

REALM = "ip_telephony"


def _header(message: str, name: str) -> str:
    found = re.search(rf"^{name}\s*:\s*(.*)$", message, re.IGNORECASE | re.MULTILINE)
    return found.group(1).strip() if found else ""


def _reply(request: str, status: str, to_tag: str, extra: str = "") -> bytes:
    head = request.split("\r\n\r\n", 1)[0].split("\r\n")
    lines = [f"SIP/2.0 {status}"]
    for line in head[1:]:
        name = line.split(":", 1)[0].strip().lower()
        if name in ("via", "v", "from", "f", "call-id", "i", "cseq"):
            lines.append(line)
        elif name in ("to", "t"):
            lines.append(line if ";tag=" in line else f"{line};tag={to_tag}")
    return ("\r\n".join(lines) + "\r\n" + extra + "Content-Length: 0\r\n\r\n").encode()


class PhoneBank:
    """Many registered phones, one UDP socket each, served by one thread."""

    def __init__(self, edge_port: int, logins: dict[str, str]):
        self.edge = ("127.0.0.1", edge_port)
        self.logins = logins
        self.selector = selectors.DefaultSelector()
        self.socks: dict[str, socket.socket] = {}
        self.invites: dict[str, list[tuple[str, float]]] = {}  # call-id -> [(login, t)]
        self.cancels: dict[str, list[tuple[str, float]]] = {}
        self.registered: set[str] = set()
        self.ringing: dict[tuple[str, str], str] = {}
        self.lock = threading.Lock()
        self.stopped = False
        for login in logins:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
            sock.setblocking(False)
            self.socks[login] = sock
            self.selector.register(sock, selectors.EVENT_READ, login)
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> PhoneBank:
        self.thread.start()
        for login in self.logins:
            self._register(login, None)
        wait_until(lambda: self.registered == set(self.logins), 20, message="phones registered")
        return self

    def __exit__(self, *exc) -> None:
        self.stopped = True
        self.thread.join(timeout=2)
        for sock in self.socks.values():
            sock.close()

    def _register(self, login: str, challenge: str | None) -> None:
        sock = self.socks[login]
        port = sock.getsockname()[1]
        uri = f"sip:127.0.0.1:{self.edge[1]}"
        auth = ""
        if challenge:
            nonce = re.search(r'nonce="([^"]+)"', challenge).group(1)
            ha1 = hashlib.md5(f"{login}:{REALM}:{self.logins[login]}".encode()).hexdigest()
            ha2 = hashlib.md5(f"REGISTER:{uri}".encode()).hexdigest()
            response = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()
            auth = (
                f'Authorization: Digest username="{login}", realm="{REALM}", '
                f'nonce="{nonce}", uri="{uri}", response="{response}", algorithm=MD5\r\n'
            )
        message = (
            f"REGISTER {uri} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{port};rport;branch=z9hG4bK{uuid.uuid4().hex}\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:{login}@127.0.0.1>;tag={uuid.uuid4().hex[:8]}\r\n"
            f"To: <sip:{login}@127.0.0.1>\r\n"
            f"Call-ID: reg-{login}\r\nCSeq: {2 if challenge else 1} REGISTER\r\n"
            f"Contact: <sip:{login}@127.0.0.1:{port}>\r\nExpires: 600\r\n"
            f"{auth}Content-Length: 0\r\n\r\n"
        )
        sock.sendto(message.encode(), self.edge)

    def _serve(self) -> None:
        while not self.stopped:
            for key, _mask in self.selector.select(timeout=0.1):
                login = key.data
                try:
                    data, peer = key.fileobj.recvfrom(65535)
                except OSError:
                    continue
                now = time.time()
                message = data.decode(errors="replace")
                first = message.split("\r\n", 1)[0]
                call_id = _header(message, "Call-ID")
                if first.startswith("SIP/2.0 401"):
                    self._register(login, _header(message, "WWW-Authenticate"))
                elif first.startswith("SIP/2.0 200") and "REGISTER" in _header(message, "CSeq"):
                    with self.lock:
                        self.registered.add(login)
                elif first.startswith("INVITE "):
                    with self.lock:
                        self.invites.setdefault(call_id, []).append((login, now))
                    self.ringing[(login, call_id)] = message  # its 487 answers the CANCEL
                    contact = f"Contact: <sip:{login}@127.0.0.1>\r\n"
                    key.fileobj.sendto(_reply(message, "180 Ringing", login, contact), peer)
                elif first.startswith("CANCEL "):
                    with self.lock:
                        self.cancels.setdefault(call_id, []).append((login, now))
                    key.fileobj.sendto(_reply(message, "200 OK", login), peer)
                    invite = self.ringing.pop((login, call_id), None)
                    if invite is None:
                        continue
                    key.fileobj.sendto(_reply(invite, "487 Request Terminated", login), peer)


class Provider:
    """Delivers calls to the trunk's registered contact and cancels them."""

    def __init__(self, contact: str):
        found = re.search(r"@([\d.]+):(\d+)", contact)
        self.target = (found.group(1), int(found.group(2)))
        self.uri = contact
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(5)
        self.port = self.sock.getsockname()[1]
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind(("127.0.0.1", 0))

    def close(self) -> None:
        self.sock.close()
        self.rtp.close()

    def _request(self, method: str, call: dict, body: str = "") -> bytes:
        lines = [
            f"{method} {self.uri} SIP/2.0",
            f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};rport;branch={call['branch']}",
            "Max-Forwards: 70",
            f"From: <sip:{call['number']}@provider.test>;tag={call['tag']}",
            f"To: <{self.uri}>" + (f";tag={call['to_tag']}" if call.get("to_tag") else ""),
            f"Call-ID: {call['call_id']}",
            f"CSeq: 1 {method}",
            f"Contact: <sip:{call['number']}@127.0.0.1:{self.port}>",
        ]
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()

    def invite(self, number: str) -> dict:
        call = {
            "number": number,
            "branch": "z9hG4bK" + uuid.uuid4().hex,
            "tag": uuid.uuid4().hex[:8],
            "call_id": uuid.uuid4().hex,
        }
        rtp_port = self.rtp.getsockname()[1]
        sdp = (
            "v=0\r\no=provider 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {rtp_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
        )
        call["sent"] = time.time()
        self.sock.sendto(self._request("INVITE", call, sdp), self.target)
        return call

    def cancel(self, call: dict) -> float:
        """CANCEL, then ACK the 487; returns when the CANCEL was sent."""
        sent = time.time()
        self.sock.sendto(self._request("CANCEL", call), self.target)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                data = self.sock.recv(65535).decode(errors="replace")
            except TimeoutError:
                break
            first = data.split("\r\n", 1)[0]
            if _header(data, "Call-ID") != call["call_id"]:
                continue
            if first.startswith("SIP/2.0 487"):
                tag = re.search(r";tag=([^;\s>]+)", _header(data, "To"))
                call["to_tag"] = tag.group(1) if tag else ""
                self.sock.sendto(self._request("ACK", call), self.target)
                break
        return sent


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def figures(name: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (
        f"{name:<40} p50 {percentile(ms, 0.5):7.1f} ms   p99 {percentile(ms, 0.99):7.1f} ms"
        f"   max {max(ms):7.1f} ms   mean {statistics.mean(ms):7.1f} ms   (n={len(ms)})"
    )


def run_calls(odoo, bank, provider, count: int, logins: list[str]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {
        key: []
        for key in (
            "ringing_at",
            "ringing_received",
            "first_phone",
            "last_phone",
            "cancel_last_phone",
            "rung",
        )
    }
    seen = {e["call_id"] for e in odoo.events_of("call.created")}
    for n in range(count):
        rings_before = set(bank.invites)
        call = provider.invite(f"+7916{n:07d}")

        def created(seen=seen):
            fresh = [e for e in odoo.events_of("call.created") if e["call_id"] not in seen]
            return fresh and fresh[-1]["call_id"]

        engine_id = wait_until(created, 10, interval=0.002, message="call.created")
        seen.add(engine_id)
        ringing = wait_until(
            lambda engine_id=engine_id: odoo.events_of("call.ringing", engine_id),
            10,
            interval=0.002,
            message="call.ringing",
        )[0]
        out["ringing_at"].append(ringing["at"] - call["sent"])
        out["ringing_received"].append(time.time() - call["sent"])
        # The phones see the worker's ring INVITE, under its own Call-ID.
        ring_id = wait_until(
            lambda rings_before=rings_before: next(
                (k for k in list(bank.invites) if k not in rings_before), None
            ),
            5,
            message="the phones' INVITE",
        )
        ring = wait_until(
            lambda ring_id=ring_id: (
                len(bank.invites[ring_id]) >= len(logins) and list(bank.invites[ring_id])
            ),
            5,
            message="every phone rung",
        )
        times = [t for _login, t in ring]
        out["first_phone"].append(min(times) - call["sent"])
        out["last_phone"].append(max(times) - call["sent"])
        out["rung"].append(len({login for login, _t in ring}))
        cancel_sent = provider.cancel(call)
        cancels = wait_until(
            lambda ring_id=ring_id: (
                len(bank.cancels.get(ring_id, [])) >= len(logins) and list(bank.cancels[ring_id])
            ),
            5,
            message="every phone cancelled",
        )
        out["cancel_last_phone"].append(max(t for _login, t in cancels) - cancel_sent)
        wait_until(
            lambda engine_id=engine_id: odoo.events_of("call.ended", engine_id),
            10,
            message="call.ended",
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--phones", type=int, default=2)
    parser.add_argument("--fanout", type=int, default=20)
    parser.add_argument("--fanout-calls", type=int, default=20)
    args = parser.parse_args()
    total = args.fanout + args.phones
    logins = {f"bench_{100 + n}": f"pw-{uuid.uuid4().hex[:12]}" for n in range(total)}
    with tempfile.TemporaryDirectory(prefix="bench-in-") as workdir, FakeOdoo() as odoo:
        with Registrar({"tell": "trunk-pw"}) as registrar:
            address = f"127.0.0.1:{registrar.port}"
            odoo.config.update(
                accounts=[
                    {
                        "id": 1,
                        "sequence": 1,
                        "user": "tell",
                        "password": "trunk-pw",
                        "domain": address,
                        "host": address,
                    }
                ],
                users=[
                    {"login": login, "password": password, "accept_incoming": True}
                    for login, password in logins.items()
                ],
                settings={"ring_time": 60, "recording": False, "forward_dial": ""},
            )
            engine = EngineProcess(
                odoo, workdir, extra=["--log-level", "WARNING", "--pike-density", "1000"]
            ).start()
            try:
                contact = wait_until(lambda: registrar.contacts.get("tell"), 10)
                provider = Provider(contact)
                print(f"engine up; trunk contact {contact}")
                everyone = list(logins.items())
                for phase, chosen, calls in (
                    ("latency", dict(everyone[args.fanout :]), args.calls),
                    ("fanout", dict(everyone[: args.fanout]), args.fanout_calls),
                ):
                    phones = len(chosen)
                    with PhoneBank(engine.sip_port, chosen) as bank:
                        names = sorted(chosen)
                        wait_until(
                            lambda names=names: (
                                {
                                    e["data"]["login"]
                                    for e in odoo.events_of("phone.state")
                                    if e["data"]["state"] == "registered"
                                }
                                >= set(names)
                            ),
                            10,
                            message="phone.state",
                        )
                        time.sleep(1.5)  # the controller told worker 0
                        run_calls(odoo, bank, provider, 2, names)  # warm-up
                        out = run_calls(odoo, bank, provider, calls, names)
                    print(f"\n== {phase}: {calls} calls, {phones} phones each")
                    print(figures("INVITE at trunk -> call.ringing (at)", out["ringing_at"]))
                    print(
                        figures("INVITE at trunk -> call.ringing in Odoo", out["ringing_received"])
                    )
                    print(figures("INVITE at trunk -> first phone INVITE", out["first_phone"]))
                    print(figures("INVITE at trunk -> last phone INVITE", out["last_phone"]))
                    print(figures("CANCEL at trunk -> last phone CANCEL", out["cancel_last_phone"]))
                    rung = out["rung"]
                    print(f"{'phones rung per call':<40} min {min(rung)}  max {max(rung)}")
                provider.close()
            except AssertionError:
                print(engine.log()[-12000:])
                raise
            finally:
                engine.stop()


if __name__ == "__main__":
    main()
