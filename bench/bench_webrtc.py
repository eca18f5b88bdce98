"""Figures of calls in the browser on this machine: ``python bench/bench_webrtc.py``.

Not a test: it prints figures. Needs root (a loopback-only network namespace,
as the engine's WebRTC tests) and what bin/setup installs (chromium,
kamailio-websocket-modules, rtpengine-daemon, the JsSIP bundle).

The engine runs as in production (Kamailio edge with its WebSocket listener,
rtpengine, media workers) against the fake Odoo of the engine tests. One
headless Chromium runs the JsSIP test page of the tests, registered as a
user; it answers every call after 200 ms and reports when it rings.

- incoming: a pjsua2 caller calls the trunk's registered contact; measured
  from the caller's INVITE to the browser's ``newRTCSession`` (ringing).
- click: a ``dial`` command queued at the fake Odoo -> the browser rings as
  the user's phone (the engine's long poll, a worker, the edge, the relay).
- relay CPU: rtpengine's CPU time (``/proc/<pid>/stat``) over the talk time of
  the answered calls, as a share of one core per call.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from telephony.tests.browser_fixtures import (  # noqa: E402
    Chromium,
    PhonePage,
    loopback_only_network,
)
from telephony.tests.engine_fixtures import (  # noqa: E402
    EngineProcess,
    FakeOdoo,
    Registrar,
    UserAgentProcess,
    trunk_account,
    wait_until,
    write_tone,
)

LOGIN, PASSWORD = "acme_101", "bench-pw-101"
TALK = 2.0  # seconds each answered call lasts


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


def ms(values: list[float]) -> str:
    if not values:
        return "no data"
    return "p50 %.0f ms, p99 %.0f ms (min %.0f, max %.0f, mean %.0f, n=%d)" % (
        1000 * percentile(values, 0.5),
        1000 * percentile(values, 0.99),
        1000 * min(values),
        1000 * max(values),
        1000 * statistics.mean(values),
        len(values),
    )


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as source:
        fields = source.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def relay_pid(engine: EngineProcess) -> int:
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as source:
                cmdline = source.read().split(b"\0")
        except OSError:
            continue
        if (
            cmdline
            and cmdline[0].endswith(b"rtpengine")
            and any(f"127.0.0.1:{engine.relay_ng_port}".encode() in part for part in cmdline)
        ):
            return int(pid)
    raise RuntimeError("rtpengine of the engine not found")


def next_event(pages: PhonePage, ev: str, seen: int, timeout: float) -> dict:
    """The page's event ``ev`` number ``seen`` (0-based), once it arrived."""
    return wait_until(lambda: pages.find(ev)[seen:], timeout, message=ev)[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    with loopback_only_network(), tempfile.TemporaryDirectory(prefix="bench-webrtc-") as workdir:
        tone = write_tone(os.path.join(workdir, "browser.wav"), 700, 4.0, rate=48000)
        with (
            FakeOdoo() as odoo,
            PhonePage() as pages,
            UserAgentProcess(workdir, "provider", 1100, hold=TALK) as provider,
            Registrar({"tell": "trunk-pw"}, relay_to=("127.0.0.1", provider.port)) as trunk,
        ):
            odoo.config.update(
                accounts=[trunk_account(trunk.port)],
                users=[{"login": LOGIN, "password": PASSWORD, "extension": "101", "name": "U"}],
                settings={"ring_time": 15, "recording": True},
            )
            engine = EngineProcess(odoo, workdir, ws=True).start()
            url = (
                f"{pages.url}/phone.html?name=bench&ws=ws://127.0.0.1:{engine.ws_port}"
                f"&login={LOGIN}&domain=127.0.0.1&password={PASSWORD}&answer=0.2"
            )
            try:
                with Chromium(workdir, tone, url):
                    wait_until(lambda: pages.find("registered"), 30, message="registered")
                    contact = wait_until(lambda: trunk.contacts.get("tell"), 15, message="trunk")
                    wait_until(
                        lambda: any(
                            e["data"]["login"] == LOGIN for e in odoo.events_of("phone.state")
                        ),
                        10,
                    )
                    time.sleep(2)
                    relay = relay_pid(engine)
                    cpu_before, talk = cpu_seconds(relay), 0.0
                    incoming = []
                    for n in range(args.calls):
                        rung = len(pages.find("ringing"))
                        ended = len(pages.find("ended"))
                        with UserAgentProcess(
                            workdir,
                            f"caller-{n}",
                            1000,
                            hold=TALK,
                            call=(contact, "+7916000%04d" % n),
                        ) as caller:
                            calling = wait_until(lambda: caller.find("calling"), 15)[0]["t"]
                            ring = next_event(pages, "ringing", rung, 15)
                            incoming.append(ring["t"] - calling)
                            next_event(pages, "ended", ended, 30)
                            talk += TALK
                    clicks = []
                    for n in range(args.calls):
                        rung = len(pages.find("ringing"))
                        ended = len(pages.find("ended"))
                        queued = time.time()
                        odoo.queue(
                            "dial",
                            {"login": LOGIN, "number": "+79161234567", "dial": "89161234567"},
                            call_id=1000 + n,
                        )
                        ring = next_event(pages, "ringing", rung, 15)
                        clicks.append(ring["t"] - queued)
                        try:
                            next_event(pages, "ended", ended, 30)
                        except AssertionError:
                            events = [(e["type"], e["data"]) for e in odoo.events_of()][-8:]
                            print(f"call {n} did not end: engine events {events}")
                            raise
                        talk += TALK
                    cpu = cpu_seconds(relay) - cpu_before
            finally:
                engine.stop()
        errors = pages.find("error")
        print(f"calls in the browser, {args.calls} calls per phase, {TALK:.0f} s talk each")
        print(f"  incoming INVITE -> browser rings: {ms(incoming)}")
        print(f"  click (dial command) -> browser rings as the user's phone: {ms(clicks)}")
        print(
            f"  rtpengine CPU: {cpu:.2f} s over {talk:.0f} s of calls = "
            f"{100 * cpu / talk:.2f} % of a core per call"
        )
        if errors:
            print(f"  page errors: {errors[:3]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
