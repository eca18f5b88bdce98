"""The engine's long-lived child processes (Kamailio, rtpengine)."""

from __future__ import annotations

import contextlib
import signal
import subprocess


def die_with_parent() -> None:
    """``preexec_fn`` of the engine's children: SIGTERM when the controller
    dies, even by SIGKILL, so no Kamailio or rtpengine outlives it (Linux)."""
    import ctypes  # noqa: PLC0415 - only in the forked child

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def stop_process(proc: subprocess.Popen | None, grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``grace`` seconds."""
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=grace)


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
