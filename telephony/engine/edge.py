"""SIP edge on Kamailio: registrar for the users' phones, flood protection,
the route from media workers to registered phones, and the ring group of
incoming calls (one INVITE from a worker forks to every listed phone).

The controller writes ``kamailio.cfg`` into ``<state-dir>/edge/`` and runs
``kamailio -DD -E`` as a foreground child. Logins and passwords live in an
in-memory ``htable`` that the controller fills through the binrpc control
socket (``kamcmd`` reading its commands on stdin, so no password shows up in
``ps``); changes take effect at once, without a restart. ``pike`` answers a
burst of requests from one address with 503 instead of letting it through.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import subprocess
import time

from .child import ChildProcess, spawn
from .edge_config import render_config

_logger = logging.getLogger("telephony.engine.edge")
_SAFE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")  # logins and addresses passed to kamcmd


class SipEdge(ChildProcess):
    """One Kamailio child process and its control socket."""

    def __init__(
        self,
        state_dir: str,
        port: int,
        pike_density: int = 30,
        ws_port: int = 0,
        rtpengine_port: int = 0,
        ws_origins: list[str] | None = None,
    ):
        self.dir = os.path.join(state_dir, "edge")
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        self.port = port
        self.ws_port = ws_port  # 0: no WebSocket listener (no browsers)
        self.rtpengine_port = rtpengine_port
        self.ws_origins = list(ws_origins or [])
        self.ctl = os.path.join(self.dir, "kamailio_ctl")
        self.cfg = os.path.join(self.dir, "kamailio.cfg")
        self.pike_density = pike_density
        self.proc: subprocess.Popen | None = None
        self.users: dict[str, str] = {}
        self.workers: set[str] = set()
        self.registered: set[str] = set()
        self.kamailio = shutil.which("kamailio") or "/usr/sbin/kamailio"
        self.kamcmd = shutil.which("kamcmd") or "/usr/sbin/kamcmd"

    def start(self) -> None:
        config = render_config(
            self.port,
            self.ctl,
            self.pike_density,
            self.ws_port,
            self.rtpengine_port,
            self.ws_origins,
        )
        with open(self.cfg, "w") as out:
            out.write(config)
        # A killed Kamailio's control process may outlive it on the old socket
        # for a while: the checks below must reach the new Kamailio, not it.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.ctl)
        log = open(os.path.join(self.dir, "kamailio.log"), "ab")  # noqa: SIM115
        self.proc = spawn(
            [self.kamailio, "-DD", "-E", "-f", self.cfg, "-Y", self.dir, "-m", "32", "-M", "4"],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + 10
        while not self._rpc(["core.version"]):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("Kamailio did not start: see " + self.dir + "/kamailio.log")
            time.sleep(0.1)
        self._restore()
        _logger.info(
            "SIP edge listening on 127.0.0.1:%s%s (pid %s)",
            self.port,
            f", WebSocket on 127.0.0.1:{self.ws_port}" if self.ws_port else "",
            self.proc.pid,
        )

    def _rpc(self, lines: list[str]) -> str | None:
        """Run binrpc commands through kamcmd's stdin (keeps secrets out of argv)."""
        try:
            done = subprocess.run(
                [self.kamcmd, "-s", f"unix:{self.ctl}"],
                input="\n".join(lines) + "\nquit\n",
                capture_output=True,
                text=True,
                timeout=5,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        if done.returncode != 0 or "error" in done.stdout.lower()[:200]:
            return None
        return done.stdout

    def _restore(self) -> None:
        users, workers = dict(self.users), set(self.workers)
        self.users, self.workers = {}, set()
        self.set_users(users)
        for worker in workers:
            self.add_worker(worker)

    def set_users(self, users: dict[str, str]) -> None:
        """Make the phones' credentials match Odoo's configuration."""
        lines = []
        for login in set(self.users) - set(users):
            lines.append(f"htable.delete users s:{login}")  # s: kamcmd reads 101 as a number
        for login, password in users.items():
            if not _SAFE.match(login) or not password or any(c in password for c in " \n\r"):
                _logger.warning("login %r skipped: not usable by the SIP edge", login)
                continue
            if self.users.get(login) != password:
                lines.append(f"htable.sets users s:{login} s:{password}")
        if lines and self._rpc(lines) is None:
            _logger.error("SIP edge: could not update the phone credentials")
            return
        self.users = {k: v for k, v in users.items() if _SAFE.match(k)}

    def add_worker(self, address: str) -> None:
        if self._rpc([f"htable.seti workers {address} 1"]) is not None:
            self.workers.add(address)

    def remove_worker(self, address: str) -> None:
        self._rpc([f"htable.delete workers {address}"])
        self.workers.discard(address)

    def registrations(self) -> set[str] | None:
        """Logins registered now, None when the edge does not answer. Only runs
        kamcmd: safe from a thread other than the one changing the edge."""
        output = self._rpc(["ul.dump brief"])
        if output is None:
            return None
        return set(re.findall(r"AoR:\s*([A-Za-z0-9_.-]+)", output))

    def update_registrations(self, now: set[str]) -> tuple[set[str], set[str]]:
        """(newly registered, newly unregistered) logins against the last update."""
        added, removed = now - self.registered, self.registered - now
        self.registered = set(now)
        return added, removed
