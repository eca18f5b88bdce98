"""Media relay for browsers: rtpengine (Debian ``rtpengine-daemon``).

A browser speaks ICE and DTLS-SRTP with rtcp-mux; the media workers speak
plain RTP. Kamailio's ``rtpengine`` module asks the relay (ng protocol on a
loopback UDP port) to rewrite each SDP and bridges the two. The relay runs in
userspace (``--table=-1``: no kernel module needed) as a foreground child of
the controller, like Kamailio, and stops with the engine.

``--dtls-passive``: the relay waits for the browser's DTLS handshake instead
of starting one before the browser has the answer, which hangs calls.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import time

from .child import ChildProcess, spawn

_logger = logging.getLogger("telephony.engine.relay")


def find_rtpengine() -> str:
    path = shutil.which("rtpengine") or (
        "/usr/bin/rtpengine" if os.path.exists("/usr/bin/rtpengine") else None
    )
    if not path:
        raise RuntimeError(
            "rtpengine not found: browsers need the media relay, install the Debian package "
            "rtpengine-daemon (bin/setup does) or run the engine with --ws-port 0"
        )
    return path


class MediaRelay(ChildProcess):
    """One rtpengine child process: ng control on ``127.0.0.1:ng_port``."""

    def __init__(self, state_dir: str, ng_port: int, port_min: int, port_max: int):
        if not 0 < port_min < port_max < 65536:
            raise ValueError(f"bad media relay port range {port_min}-{port_max}")
        self.dir = os.path.join(state_dir, "relay")
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        self.ng_port = ng_port
        self.port_min = port_min
        self.port_max = port_max
        self.proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        return [
            find_rtpengine(),
            "--config-file=none",
            "--foreground",
            "--log-stderr",
            "--no-log-timestamps",
            "--log-level=5",
            "--table=-1",
            "--interface=127.0.0.1",
            f"--listen-ng=127.0.0.1:{self.ng_port}",
            f"--port-min={self.port_min}",
            f"--port-max={self.port_max}",
            "--dtls-passive",
            "--num-threads=2",
            "--timeout=60",
            "--silent-timeout=3600",
            "--delete-delay=0",
        ]

    def start(self) -> None:
        command = self.command()
        log = open(os.path.join(self.dir, "rtpengine.log"), "ab")  # noqa: SIM115
        self.proc = spawn(
            command,
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            cwd=self.dir,
        )
        log.close()
        deadline = time.monotonic() + 10
        while not self.ping():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("rtpengine did not start: see " + self.dir + "/rtpengine.log")
            time.sleep(0.1)
        _logger.info(
            "media relay on 127.0.0.1 (control %s, media %s-%s, pid %s)",
            self.ng_port,
            self.port_min,
            self.port_max,
            self.proc.pid,
        )

    def ping(self) -> bool:
        """An ng ``ping``: bencoded ``d7:command4:pinge`` answered by ``pong``."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(0.5)
            try:
                # A fresh cookie: rtpengine answers a repeated one from its cache.
                cookie = os.urandom(6).hex().encode()
                sock.sendto(cookie + b" d7:command4:pinge", ("127.0.0.1", self.ng_port))
                reply = sock.recv(1024)
            except OSError:
                return False
        return b"pong" in reply
