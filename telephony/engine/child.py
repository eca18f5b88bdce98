"""The engine's long-lived child processes (Kamailio, rtpengine)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from typing import Any


def die_with_parent() -> None:
    """``preexec_fn`` of the engine's children: SIGTERM when the controller
    dies, even by SIGKILL, so no Kamailio or rtpengine outlives it (Linux)."""
    import ctypes  # noqa: PLC0415 - only in the forked child

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def spawn(command: list[str], **kwargs: Any) -> subprocess.Popen:
    """Start a long-lived child in a process group of its own.

    Kamailio forks its workers: killed with -9, its main process leaves them
    running, still on the SIP port, where they would take some of the
    phones' registrations away from the Kamailio started in its place. The
    group lets ``stop_process`` end them all.
    """
    proc = subprocess.Popen(  # noqa: S603 - fixed programs, arguments built by the engine
        command,
        process_group=0,
        preexec_fn=die_with_parent,  # noqa: PLW1509 - the only way to set PDEATHSIG
        **kwargs,
    )
    proc.own_group = True
    return proc


def stop_process(proc: subprocess.Popen | None, grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``grace`` seconds;
    then whatever is left of its process group, if it has one of its own."""
    if proc is None:
        return
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=grace)
    if getattr(proc, "own_group", False):
        # While any member runs, the kernel keeps the group's id for it; when
        # none does, there is nothing to find (ids are handed out in turn,
        # not again at once).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


class ChildProcess:
    """Supervision of one child in ``self.proc``; subclasses define ``start``."""

    proc: subprocess.Popen | None = None

    def start(self) -> None:
        raise NotImplementedError

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def restart(self) -> None:
        self.stop()
        self.start()

    def stop(self) -> None:
        stop_process(self.proc)
