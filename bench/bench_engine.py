"""Figures of the bundled engine on this machine: ``python bench/bench_engine.py``.

Not a test: it prints figures. The engine runs as in production (Kamailio
edge, media workers, on-disk outbox, mp3 conversion and upload) against the
fake Odoo of the engine tests, which queues ``dial`` commands and takes the
events and recordings. Both far ends are SIPp user agents (Debian
``sip-tester``) with RTP echo, so every call carries media both ways and is
recorded:

- the users' phones: one SIPp UAS registered at the engine's edge under
  every login (digest REGISTER sent by this script), rings 100 ms, answers;
- the provider: one SIPp UAS at the trunk's address; it accepts the trunk's
  REGISTER, answers each call and hangs up after the phase's talk time.

Phases (``--phases``, all by default):

latency   calls one after the other: dial command queued -> INVITE at the
          user's phone, and the phone's 200 OK -> INVITE at the provider.
capacity  N simultaneous recorded calls for N in ``--steps`` (stops after
          the first step with a failure): CPU and memory of the engine's
          processes on the plateau, failures, recordings delivered.
cps       calls placed at R per second for ``--cps-seconds`` for R in
          ``--rates`` (short calls): failures and setup latency.

Every phase counts aborted media workers (a worker that died instead of
being retired: pjsua2 aborts take the whole process down).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from telephony.engine.pool import CALLS_PER_WORKER  # noqa: E402
from telephony.tests import engine_fixtures  # noqa: E402
from telephony.tests.engine_fixtures import (  # noqa: E402
    EngineProcess,
    FakeOdoo,
    free_udp_port,
    wait_until,
)

try:
    import psutil
except ImportError:  # /proc fallback below
    psutil = None

SIPP = shutil.which("sipp") or "/usr/bin/sipp"
REALM = "ip_telephony"
RING_MS = 100

_HEAD = '<?xml version="1.0" encoding="ISO-8859-1" ?>\n'

# The provider: takes the trunk's REGISTER, answers calls, hangs up after %(hold)d ms.
PROVIDER_XML = (
    _HEAD
    + """<scenario name="provider">
  <recv request="REGISTER" optional="true" next="register"/>
  <recv request="INVITE" crlf="true" rrs="true">
    <action>
      <gettimeofday assign_to="s,us"/>
      <ereg regexp="^INVITE sip:([^@]+)@" search_in="msg" check_it="true" assign_to="f,dial"/>
      <ereg regexp="[^\\r\\n]*" search_in="hdr" header="From:" check_it="true"
            assign_to="from"/>
      <log message="INVITE [call_id] [$dial] [$s] [$us]"/>
      <log message="MATCH [$f]"/>
    </action>
  </recv>
  <send>
    <![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag02[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:provider@[local_ip]:[local_port];transport=[transport]>
Content-Length: 0

    ]]>
  </send>
  <send retrans="500">
    <![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag02[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:provider@[local_ip]:[local_port];transport=[transport]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=provider 1 1 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000

    ]]>
  </send>
  <recv request="ACK" crlf="true"/>
  <pause milliseconds="%(hold)d"/>
  <send retrans="500">
    <![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:[$dial]@[local_ip]:[local_port]>;tag=[pid]SIPpTag02[call_number]
To: [$from]
[last_Call-ID:]
CSeq: 2 BYE
Contact: <sip:provider@[local_ip]:[local_port];transport=[transport]>
Max-Forwards: 70
Content-Length: 0

    ]]>
  </send>
  <recv response="200" crlf="true"/>
  <nop>
    <action><log message="BYE [call_id] [$dial]"/></action>
  </nop>
  <nop next="end"/>
  <label id="register"/>
  <send>
    <![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag03[call_number]
[last_Call-ID:]
[last_CSeq:]
[last_Contact:];expires=300
Expires: 300
Content-Length: 0

    ]]>
  </send>
  <label id="end"/>
</scenario>
"""
)


# -- helpers ----------------------------------------------------------------
def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def ms(values: list[float]) -> str:
    if not values:
        return "n/a"
    return "p50 %.1f ms, p99 %.1f ms (min %.1f, max %.1f, n=%d)" % (
        1000 * percentile(values, 0.5),
        1000 * percentile(values, 0.99),
        1000 * min(values),
        1000 * max(values),
        len(values),
    )


def number_for(index: int) -> tuple[str, str]:
    """A distinct client per call: (E.164 number, dial string)."""
    return f"+7916{index:07d}", f"8916{index:07d}"


class SippAgent:
    """One SIPp UAS process with RTP echo; its <log> lines are the timings."""

    def __init__(self, workdir: str, name: str, xml: str):
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.scenario = os.path.join(self.dir, f"{name}.xml")
        with open(self.scenario, "w") as out:
            out.write(xml)
        self.port = free_udp_port()
        self.media_port = free_udp_port()
        self.proc: subprocess.Popen | None = None
        self._offset = 0
        self._lines: list[str] = []

    def __enter__(self) -> SippAgent:
        self.proc = subprocess.Popen(
            [
                SIPP,
                "-sf",
                self.scenario,
                "-i",
                "127.0.0.1",
                "-mi",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-mp",
                str(self.media_port),
                "-rtp_echo",
                "-trace_logs",
                "-trace_err",
                "-bg",
                "-nostdin",
                "-max_recv_loops",
                "10000",
            ],
            cwd=self.dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        # -bg: the parent prints the background pid and returns.
        output, _ = self.proc.communicate(timeout=10)
        match = re.search(r"PID=\[(\d+)\]", output)
        if not match:
            raise RuntimeError(f"sipp did not start: {output[-500:]}")
        self.pid = int(match.group(1))
        time.sleep(0.2)
        return self

    def _file(self, kind: str) -> str | None:
        for name in os.listdir(self.dir):
            if name.endswith(f"_{kind}.log"):
                return os.path.join(self.dir, name)
        return None

    def lines(self) -> list[str]:
        path = self._file("logs")
        if path:
            with open(path) as source:
                source.seek(self._offset)
                data = source.read()
            complete = data[: data.rfind("\n") + 1]
            self._offset += len(complete.encode())
            self._lines.extend(complete.splitlines())
        return self._lines

    def timings(self, kind: str) -> dict[str, float]:
        """{user part: first time} of the logged ``kind`` lines."""
        found: dict[str, float] = {}
        for line in self.lines():
            parts = line.split()
            if len(parts) == 5 and parts[0] == kind:
                found.setdefault(parts[2], float(parts[3]) + float(parts[4]) / 1e6)
        return found

    def errors(self) -> int:
        path = self._file("errors")
        if not path:
            return 0
        with open(path, errors="replace") as source:
            return sum(
                1 for line in source if "Aborting call" in line or "unexpected" in line.lower()
            )

    def cpu_seconds(self) -> float:
        return _cpu_seconds(self.pid) if self.pid else 0.0

    def __exit__(self, *exc) -> None:
        pid = self.pid
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 15)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.05)
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, 9)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as source:
            return source.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def _cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as source:
            fields = source.read().split(") ", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (FileNotFoundError, IndexError, ValueError):
        return 0.0


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as source:
            return int(source.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (FileNotFoundError, IndexError, ValueError):
        return 0


def process_tree(pid: int) -> list[int]:
    if psutil is not None:
        try:
            root = psutil.Process(pid)
            return [pid] + [child.pid for child in root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as source:
                    ppid = int(source.read().split(") ", 1)[1].split()[1])
            except (FileNotFoundError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


class Sampler:
    """CPU (% of one core) and RSS of the engine's processes, sampled in a thread."""

    def __init__(self, pid: int, interval: float = 0.5):
        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[float, float, int, int]] = []  # t, cpu%, rss, processes
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.marks: dict[str, float] = {}

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def _run(self) -> None:
        previous: dict[int, float] = {}
        last = time.monotonic()
        while not self._stop.wait(self.interval):
            now = time.monotonic()
            pids = process_tree(self.pid)
            cpu = {pid: _cpu_seconds(pid) for pid in pids}
            used = sum(cpu[p] - previous.get(p, cpu[p]) for p in pids if p in previous)
            # New processes: count what they used since they appeared (bounded by the interval).
            used += sum(min(cpu[p], now - last) for p in pids if p not in previous)
            rss = sum(_rss_bytes(pid) for pid in pids)
            self.samples.append((now, 100 * used / (now - last), rss, len(pids)))
            previous, last = cpu, now

    def window(self, start: float, end: float) -> tuple[float, float, int, int]:
        """(mean CPU %, max CPU %, max RSS, max process count) between two monotonic times."""
        inside = [s for s in self.samples if start <= s[0] <= end]
        if not inside:
            inside = self.samples[-1:]
        if not inside:
            return 0.0, 0.0, 0, 0
        return (
            statistics.fmean(s[1] for s in inside),
            max(s[1] for s in inside),
            max(s[2] for s in inside),
            max(s[3] for s in inside),
        )


class PhoneFarm:
    """The users' phones: one UDP SIP socket that answers every INVITE.

    Registered at the edge under every login (its contact), it answers 180,
    then 200 with SDP after ``ring`` seconds, echoes the RTP it gets, and
    answers BYE and CANCEL where they come from (calls arrive through the
    edge, their BYE comes straight from a media worker). It records when each
    INVITE arrived and each 200 OK left, by the client number in From.
    """

    def __init__(self, ring: float):
        self.ring = ring
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind(("127.0.0.1", 0))
        self.rtp_port = self.rtp.getsockname()[1]
        self.invites: dict[str, float] = {}
        self.answers: dict[str, float] = {}
        self.byes = 0
        self.cancels = 0
        self.rtp_packets = 0
        self.errors: list[str] = []
        self.calls: dict[str, dict] = {}
        self.timers: list[tuple[float, str]] = []
        self.stopped = False
        self.lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._sip_loop, daemon=True),
            threading.Thread(target=self._rtp_loop, daemon=True),
        ]

    def __enter__(self) -> PhoneFarm:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped = True
        for thread in self.threads:
            thread.join(timeout=2)
        self.sock.close()
        self.rtp.close()

    # -- SIP ----------------------------------------------------------------
    @staticmethod
    def _parse(data: bytes) -> tuple[str, list[tuple[str, str]]]:
        head = data.split(b"\r\n\r\n", 1)[0].decode(errors="replace")
        lines = head.split("\r\n")
        headers = []
        compact = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact"}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            headers.append((compact.get(name, name), value.strip()))
        return lines[0], headers

    def _response(self, status: str, headers: list[tuple[str, str]], tag: str, sdp: bool) -> bytes:
        out = [f"SIP/2.0 {status}"]
        for name, value in headers:
            if name == "via":
                out.append(f"Via: {value}")
        for name, value in headers:
            if name == "from":
                out.append(f"From: {value}")
            elif name == "to":
                out.append(f"To: {value}" + ("" if ";tag=" in value or not tag else f";tag={tag}"))
            elif name == "call-id":
                out.append(f"Call-ID: {value}")
            elif name == "cseq":
                out.append(f"CSeq: {value}")
        out.append(f"Contact: <sip:phone@127.0.0.1:{self.port}>")
        body = ""
        if sdp:
            body = (
                "v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
                f"t=0 0\r\nm=audio {self.rtp_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
            )
            out.append("Content-Type: application/sdp")
        out.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(out) + "\r\n\r\n" + body).encode()

    def _sip_loop(self) -> None:
        import heapq
        import select

        while not self.stopped:
            now = time.monotonic()
            wait = 0.1
            while self.timers and self.timers[0][0] <= now:
                _, call_id = heapq.heappop(self.timers)
                self._answer(call_id)
            if self.timers:
                wait = max(0.0, min(wait, self.timers[0][0] - now))
            readable, _, _ = select.select([self.sock], [], [], wait)
            if not readable:
                continue
            try:
                data, peer = self.sock.recvfrom(65535)
            except OSError:
                return
            arrived = time.time()
            try:
                self._on_message(data, peer, arrived)
            except Exception as error:  # a bench: note it, keep going
                self.errors.append(repr(error))

    def _on_message(self, data: bytes, peer: tuple, arrived: float) -> None:
        import heapq

        first, headers = self._parse(data)
        if first.startswith("SIP/2.0"):
            return  # a response (nothing we sent asks for one)
        method = first.split(" ", 1)[0]
        values = dict(headers)
        call_id = values.get("call-id", "")
        call = self.calls.get(call_id)
        if method == "INVITE" and call is None:
            match = re.search(r"sip:([^@>;]+)@", values.get("from", ""))
            number = match.group(1) if match else "?"
            self.invites.setdefault(number, arrived)
            call = {
                "headers": headers,
                "peer": peer,
                "tag": uuid.uuid4().hex[:10],
                "number": number,
                "state": "ringing",
            }
            self.calls[call_id] = call
            self.sock.sendto(self._response("180 Ringing", headers, call["tag"], False), peer)
            heapq.heappush(self.timers, (time.monotonic() + self.ring, call_id))
        elif method == "INVITE":
            pass  # a retransmission: our answer is on its way
        elif method == "ACK":
            if call:
                call["state"] = "confirmed"
        elif method == "BYE":
            self.byes += 1
            self.sock.sendto(self._response("200 OK", headers, "", False), peer)
            if call:
                call["state"] = "ended"
                self.calls.pop(call_id, None)
        elif method == "CANCEL":
            self.cancels += 1
            self.sock.sendto(self._response("200 OK", headers, "", False), peer)
            if call and call["state"] == "ringing":
                call["state"] = "ended"
                self.sock.sendto(
                    self._response("487 Request Terminated", call["headers"], call["tag"], False),
                    call["peer"],
                )
        else:
            self.sock.sendto(self._response("200 OK", headers, "", False), peer)

    def _answer(self, call_id: str) -> None:
        call = self.calls.get(call_id)
        if not call or call["state"] != "ringing":
            return
        call["state"] = "answered"
        message = self._response("200 OK", call["headers"], call["tag"], True)
        self.answers.setdefault(call["number"], time.time())
        self.sock.sendto(message, call["peer"])

    # -- media ----------------------------------------------------------------
    def _rtp_loop(self) -> None:
        self.rtp.settimeout(0.2)
        while not self.stopped:
            try:
                data, peer = self.rtp.recvfrom(2048)
            except TimeoutError:
                continue
            except OSError:
                return
            self.rtp_packets += 1
            try:
                self.rtp.sendto(data, peer)
            except OSError:
                pass


def register_at_edge(edge_port: int, logins: dict[str, str], contact_port: int) -> None:
    """REGISTER every login at the edge (digest), its contact being the SIPp phone."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(2)
    local = sock.getsockname()[1]
    try:
        for login, password in logins.items():
            for attempt in range(20):
                try:
                    _register_one(sock, local, edge_port, login, password, contact_port)
                    break
                except (RuntimeError, TimeoutError):
                    if attempt == 19:
                        raise
                    time.sleep(0.5)  # the edge may not know every login yet
    finally:
        sock.close()


def _register_one(
    sock: socket.socket, local: int, edge_port: int, login: str, password: str, contact_port: int
) -> None:
    """One digest REGISTER: challenged, then accepted; RuntimeError otherwise."""
    call_id = uuid.uuid4().hex
    uri = f"sip:127.0.0.1:{edge_port}"
    authorization = ""
    for cseq in (1, 2):
        message = (
            f"REGISTER {uri} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK{uuid.uuid4().hex}\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:{login}@127.0.0.1:{edge_port}>;tag={call_id[:8]}\r\n"
            f"To: <sip:{login}@127.0.0.1:{edge_port}>\r\n"
            f"Call-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\n"
            f"Contact: <sip:{login}@127.0.0.1:{contact_port}>\r\n"
            f"Expires: 3600\r\n{authorization}Content-Length: 0\r\n\r\n"
        )
        sock.sendto(message.encode(), ("127.0.0.1", edge_port))
        # Skip late replies to an earlier attempt (a timed-out one, another login).
        for _ in range(50):
            reply = sock.recv(65535).decode(errors="replace")
            if f"Call-ID: {call_id}" in reply and f"CSeq: {cseq} REGISTER" in reply:
                break
        status = int(reply.split(" ", 2)[1])
        if status == 200:
            return
        if status != 401 or cseq == 2:
            raise RuntimeError(f"REGISTER {login}: {reply.splitlines()[0]}")
        nonce = re.search(r'nonce="([^"]+)"', reply).group(1)
        ha1 = hashlib.md5(f"{login}:{REALM}:{password}".encode()).hexdigest()
        ha2 = hashlib.md5(f"REGISTER:{uri}".encode()).hexdigest()
        response = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()
        authorization = (
            f'Authorization: Digest username="{login}", realm="{REALM}", '
            f'nonce="{nonce}", uri="{uri}", response="{response}", algorithm=MD5\r\n'
        )


# -- the rig ------------------------------------------------------------------
class Rig:
    """Fake Odoo + engine (with its edge) + SIPp phone + SIPp provider."""

    def __init__(self, args: argparse.Namespace, hold_ms: int, logins: int):
        self.args = args
        self.hold_ms = hold_ms
        self.logins = {f"bench_{n:03d}": uuid.uuid4().hex[:16] for n in range(logins)}
        self.next_call = 1
        self.queued: dict[int, float] = {}  # odoo call id -> time the dial was queued
        self.stack = contextlib.ExitStack()

    def __enter__(self) -> Rig:
        try:
            return self._start()
        except BaseException:
            self.stack.close()  # no SIPp or engine left behind
            raise

    def _start(self) -> Rig:
        stack = self.stack
        self.workdir = tempfile.mkdtemp(prefix="bench-engine-")
        if not self.args.keep:
            stack.callback(shutil.rmtree, self.workdir, True)
        self.odoo = stack.enter_context(FakeOdoo())
        self.phone = stack.enter_context(PhoneFarm(RING_MS / 1000))
        self.provider = stack.enter_context(
            SippAgent(self.workdir, "provider", PROVIDER_XML % {"hold": self.hold_ms})
        )
        address = f"127.0.0.1:{self.provider.port}"
        self.odoo.config.update(
            accounts=[
                {
                    "id": 1,
                    "sequence": 1,
                    "user": "bench",
                    "password": "bench-pw",
                    "domain": address,
                    "host": address,
                    "number": "bench",
                    "replace": "",
                }
            ],
            users=[
                {"login": login, "password": password, "extension": str(100 + n), "name": login}
                for n, (login, password) in enumerate(self.logins.items())
            ],
            settings={"ring_time": 15, "recording": True},
        )
        # The engine's code: this tree, or a patched copy (--engine-root) to compare.
        engine_fixtures.REPO = self.args.engine_root or ROOT
        self.engine = EngineProcess(
            self.odoo,
            self.workdir,
            extra=[
                "--workers-max",
                str(self.args.workers_max),
                "--poll-wait",
                "25",
                "--retry-max",
                "2",
                "--pike-density",
                "100000",
                "--log-level",
                "INFO",
                "--pjsip-log-level",
                "1",
            ],
        )
        # Our own phone URI: the engine rings phones through its edge (the default).
        self.engine.phone_port = None
        self.engine.start()
        stack.callback(self._stop_engine)
        wait_until(self._edge_ready, 15, message="the edge")
        register_at_edge(self.engine.sip_port, self.logins, self.phone.port)
        wait_until(
            lambda: len(self.odoo.events_of("phone.state")) >= len(self.logins),
            15,
            message="phone.state events",
        )
        wait_until(
            lambda: any(
                e["data"]["state"] == "registered" for e in self.odoo.events_of("trunk.state")
            ),
            10,
            message="the trunk's registration",
        )
        self.sampler = stack.enter_context(Sampler(self.engine.proc.pid))
        if self.args.keep:
            print(f"  work directory: {self.workdir}")
        return self

    def _edge_ready(self) -> bool:
        return os.path.exists(os.path.join(self.engine.state_dir, "edge", "kamailio_ctl")) and bool(
            self.engine.workers() and self.engine.workers()[0].get("sip_port")
        )

    def _stop_engine(self) -> None:
        code = self.engine.stop(timeout=60)
        if code != 0:
            print(f"  ! engine exit code {code}")

    def __exit__(self, *exc) -> None:
        self.stack.close()

    # -- calls --------------------------------------------------------------
    def dial(self) -> int:
        index = self.next_call
        self.next_call += 1
        login = list(self.logins)[index % len(self.logins)]
        number, dial = number_for(index)
        self.queued[index] = time.time()
        self.odoo.queue(
            "dial",
            {
                "login": login,
                "number": number,
                "dial": dial,
                "account_id": 1,
                "caller_name": f"Client {index}",
            },
            call_id=index,
        )
        return index

    def calls(self) -> dict[int, dict]:
        """Per Odoo call id: engine call id, event types, outcome."""
        by_engine: dict[str, dict] = {}
        for event in self.odoo.events_of():
            call_id = event.get("call_id")
            if not call_id:
                continue
            entry = by_engine.setdefault(call_id, {"types": [], "ended": None, "odoo": None})
            entry["types"].append(event["type"])
            if event["type"] == "call.created":
                entry["odoo"] = event["data"].get("odoo_call_id")
            elif event["type"] == "call.ended":
                entry["ended"] = event["data"]
            entry.setdefault("at", {})[event["type"]] = event["at"]
        return {
            entry["odoo"]: {**entry, "engine_call_id": call_id}
            for call_id, entry in by_engine.items()
            if entry["odoo"] is not None
        }

    def aborted_workers(self) -> int:
        return len(re.findall(r"media worker \d+ \(pid \d+\) died", self.engine.log()))

    def latencies(self, indexes: list[int]) -> tuple[list[float], list[float]]:
        """(dial -> phone INVITE, phone 200 -> provider INVITE) in seconds."""
        invites = dict(self.phone.invites)
        answers = dict(self.phone.answers)
        provider = self.provider.timings("INVITE")
        to_phone, to_provider = [], []
        for index in indexes:
            number, dial = number_for(index)
            if number in invites:
                to_phone.append(invites[number] - self.queued[index])
            if number in answers and dial in provider:
                to_provider.append(provider[dial] - answers[number])
        return to_phone, to_provider

    def wait_ended(self, indexes: list[int], timeout: float) -> dict[int, dict]:
        deadline = time.monotonic() + timeout
        while True:
            calls = self.calls()
            if all(calls.get(i, {}).get("ended") for i in indexes) or time.monotonic() > deadline:
                return calls
            time.sleep(0.25)

    def failures(self, indexes: list[int], calls: dict[int, dict]) -> list[str]:
        problems = []
        for index in indexes:
            call = calls.get(index)
            if call is None:
                problems.append(f"{index}: no call.created")
            elif not call["ended"]:
                problems.append(f"{index}: not ended ({call['types'][-1]})")
            elif call["ended"].get("outcome") != "answered" or "call.bridged" not in call["types"]:
                problems.append(
                    f"{index}: {call['ended'].get('outcome')} ({call['ended'].get('reason')})"
                )
        return problems

    def wait_recordings(self, calls: dict[int, dict], indexes: list[int], timeout: float) -> float:
        """Seconds until the recordings of the bridged calls reached Odoo (or the timeout)."""
        wanted = {
            calls[i]["engine_call_id"]
            for i in indexes
            if i in calls and "call.bridged" in calls[i]["types"]
        }
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if wanted <= set(self.odoo.recordings):
                break
            time.sleep(0.25)
        return time.monotonic() - start

    def recordings_of(self, calls: dict[int, dict], indexes: list[int]) -> int:
        return sum(
            1 for i in indexes if i in calls and calls[i]["engine_call_id"] in self.odoo.recordings
        )


# -- phases ---------------------------------------------------------------------
def phase_latency(args: argparse.Namespace) -> None:
    print(f"\n== latency: {args.calls} calls one after the other (ring {RING_MS} ms, talk 300 ms)")
    with Rig(args, hold_ms=300, logins=4) as rig:
        indexes = []
        for _ in range(args.calls):
            index = rig.dial()
            indexes.append(index)
            rig.wait_ended([index], 15)
            time.sleep(0.1)
        calls = rig.wait_ended(indexes, 15)
        to_phone, to_provider = rig.latencies(indexes[1:])
        first_phone, first_provider = rig.latencies(indexes[:1])
        failed = rig.failures(indexes, calls)
        print(
            f"  first call of the engine: dial -> phone "
            f"{ms(first_phone)}; 200 -> provider {ms(first_provider)}"
        )
        print(f"  then, dial command -> INVITE at the user's phone : {ms(to_phone)}")
        print(f"        user's 200 OK -> INVITE at the provider    : {ms(to_provider)}")
        print(f"  failures: {len(failed)} {failed[:5]}; aborted workers: {rig.aborted_workers()}")
        print(
            f"  phone errors {len(rig.phone.errors)}, SIPp provider errors {rig.provider.errors()}"
        )


def phase_capacity(args: argparse.Namespace) -> None:
    hold = args.hold
    print(f"\n== capacity: simultaneous recorded calls, talk {hold:.0f} s each")
    print(
        f"   (--workers-max {args.workers_max} x {CALLS_PER_WORKER} calls per worker: "
        f"at most {CALLS_PER_WORKER * args.workers_max} calls)"
    )
    with Rig(args, hold_ms=int(hold * 1000), logins=max(args.steps)) as rig:
        for count in args.steps:
            aborted_before = rig.aborted_workers()
            cpu_bench, cpu_provider = time.process_time(), rig.provider.cpu_seconds()
            started = time.monotonic()
            indexes = []
            for _ in range(count):
                indexes.append(rig.dial())
                time.sleep(args.spacing)
            # The plateau: every call bridged (or failed), until the first hang-up.
            deadline = time.monotonic() + 20 + count * 0.2
            while time.monotonic() < deadline:
                calls = rig.calls()
                settled = [
                    i
                    for i in indexes
                    if i in calls and ("call.bridged" in calls[i]["types"] or calls[i]["ended"])
                ]
                if len(settled) == count:
                    break
                time.sleep(0.1)
            plateau_start = time.monotonic()
            bridged = sum(
                1 for i in indexes if "call.bridged" in rig.calls().get(i, {}).get("types", [])
            )
            time.sleep(max(0.5, hold - (plateau_start - started) - 1))
            plateau_end = time.monotonic()
            live = rig.engine.workers()
            calls = rig.wait_ended(indexes, hold + 30)
            failed = rig.failures(indexes, calls)
            cpu_mean, cpu_max, rss, procs = rig.sampler.window(plateau_start, plateau_end)
            upload = rig.wait_recordings(calls, indexes, 120)
            delivered = rig.recordings_of(calls, indexes)
            to_phone, to_provider = rig.latencies(indexes)
            aborted = rig.aborted_workers() - aborted_before
            load = os.getloadavg()[0]
            print(
                f"  {count:3d} calls: bridged at once {bridged:3d}, failed {len(failed):3d}, "
                f"aborted workers {aborted}, workers {len(live)}, processes {procs}"
            )
            print(
                f"       engine CPU {cpu_mean:5.0f}% mean / {cpu_max:4.0f}% max of one core, "
                f"RSS {rss / 2**20:6.0f} MiB; load avg {load:.1f}"
            )
            bench_cpu = time.process_time() - cpu_bench
            sipp_cpu = rig.provider.cpu_seconds() - cpu_provider
            print(
                f"       load generators' CPU: phones + fake Odoo {bench_cpu:.1f} s, "
                f"SIPp provider {sipp_cpu:.1f} s"
            )
            print(
                f"       recordings delivered {delivered}/{count}, "
                f"{upload:.1f} s after the last hang-up"
            )
            print(f"       dial -> phone INVITE {ms(to_phone)}")
            print(f"       phone 200 -> provider INVITE {ms(to_provider)}")
            if failed:
                reasons = {}
                for problem in failed:
                    reason = problem.split(": ", 1)[1]
                    reasons[reason] = reasons.get(reason, 0) + 1
                print(f"       failures: {reasons}")
                break
            time.sleep(2)


def phase_cps(args: argparse.Namespace) -> None:
    hold = args.cps_hold
    print(
        f"\n== calls per second: {args.cps_seconds:.0f} s at each rate, talk {hold:.1f} s per call"
    )
    with Rig(args, hold_ms=int(hold * 1000), logins=100) as rig:
        for rate in args.rates:
            aborted_before = rig.aborted_workers()
            indexes = []
            total = int(rate * args.cps_seconds)
            start = time.monotonic()
            for n in range(total):
                target = start + n / rate
                pause = target - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                indexes.append(rig.dial())
            placing = time.monotonic() - start
            calls = rig.wait_ended(indexes, 60)
            end = time.monotonic()
            failed = rig.failures(indexes, calls)
            cpu_mean, cpu_max, rss, procs = rig.sampler.window(start, start + placing)
            to_phone, to_provider = rig.latencies(indexes)
            aborted = rig.aborted_workers() - aborted_before
            upload = rig.wait_recordings(calls, indexes, 120)
            delivered = rig.recordings_of(calls, indexes)
            peak = max((len(w["calls"]) for w in rig.engine.workers()), default=0)
            print(
                f"  {rate:3d}/s x {placing:.0f} s = {total} calls: failed {len(failed)}, "
                f"aborted workers {aborted}, all ended {end - start:.1f} s after the first dial"
            )
            print(
                f"       engine CPU {cpu_mean:5.0f}% mean / {cpu_max:4.0f}% max, "
                f"RSS {rss / 2**20:5.0f} MiB, processes {procs}, busiest worker now {peak}"
            )
            print(f"       dial -> phone INVITE {ms(to_phone)}")
            print(f"       phone 200 -> provider INVITE {ms(to_provider)}")
            print(f"       recordings delivered {delivered}/{total} ({upload:.1f} s more)")
            if failed:
                reasons = {}
                for problem in failed:
                    reason = problem.split(": ", 1)[1]
                    reasons[reason] = reasons.get(reason, 0) + 1
                print(f"       failures: {reasons}")
                break
            time.sleep(3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--phases", default="latency,capacity,cps")
    parser.add_argument("--calls", type=int, default=40, help="latency: calls in a row")
    parser.add_argument(
        "--steps",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[5, 10, 20, 30, 40, 50, 60],
    )
    parser.add_argument("--hold", type=float, default=10.0, help="capacity: talk seconds")
    parser.add_argument(
        "--spacing", type=float, default=0.02, help="capacity: seconds between two dials"
    )
    parser.add_argument(
        "--rates", type=lambda s: [int(x) for x in s.split(",")], default=[5, 10, 20, 30, 40]
    )
    parser.add_argument("--cps-seconds", type=float, default=10.0)
    parser.add_argument("--cps-hold", type=float, default=1.0)
    parser.add_argument("--workers-max", type=int, default=32)
    parser.add_argument("--keep", action="store_true", help="keep the work directories")
    parser.add_argument(
        "--engine-root",
        default="",
        help="run the engine from this directory (holding telephony/) instead of this tree",
    )
    args = parser.parse_args()
    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start; "
        f"psutil {'yes' if psutil else 'no (/proc)'}; sipp {SIPP}"
    )
    phases = {"latency": phase_latency, "capacity": phase_capacity, "cps": phase_cps}
    for name in args.phases.split(","):
        phases[name.strip()](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
