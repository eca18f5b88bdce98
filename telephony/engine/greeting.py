"""The greeting callers hear, kept on disk once per version.

When the configuration's ``greeting_version`` changes, a thread downloads
``greeting_url`` (protocol section 5) with a backoff, checks that it is an
8 kHz mono 16-bit WAV and keeps it as ``<state-dir>/greeting/<version>.wav``,
so a restart does not fetch it again. Until the new version arrives callers
hear the previous one; a removed greeting is deleted at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import wave
from typing import Any

from .inbox import Inbox
from .odoo_client import Backoff, OdooClient
from .outbox import write_atomic

_logger = logging.getLogger("telephony.engine.greeting")

GREETING_MAX_BYTES = 16 * 1024 * 1024  # 8 kHz 16-bit mono: 17 minutes
_VERSION_SAFE = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-."


def greeting_seconds(path: str) -> float | None:
    """Its length in seconds if ``path`` is an 8 kHz mono 16-bit WAV, else None."""
    try:
        with wave.open(path, "rb") as source:
            shape = (source.getframerate(), source.getnchannels(), source.getsampwidth())
            frames = source.getnframes()
    except (OSError, EOFError, wave.Error):
        return None
    if shape != (8000, 1, 2) or frames <= 0:
        return None
    return frames / 8000.0


class GreetingCache:
    """The current greeting (``{"version", "path", "seconds"}`` or None) and
    the download of a new one. ``sync`` and ``arrived`` run in the main loop;
    the download thread hands its file over through the inbox."""

    def __init__(
        self,
        state_dir: str,
        client: OdooClient,
        inbox: Inbox,
        stop: threading.Event,
        retry_max: float,
    ):
        self.dir = os.path.join(state_dir, "greeting")
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        self.client = client
        self.inbox = inbox
        self.stop = stop
        self.retry_max = retry_max
        self.current: dict[str, Any] | None = None
        self.wanted: tuple[str, str] | None = None  # (version, url) being downloaded
        self.thread: threading.Thread | None = None

    def sync(self, settings: dict[str, Any]) -> None:
        """Follow the configuration's greeting; fetch it only when its version changes."""
        url = settings.get("greeting_url") or ""
        version = str(settings.get("greeting_version") or "")
        if not url:
            self.wanted = None
            if self.current is not None:
                _logger.info("greeting removed")
            self.current = None
            self._prune(keep=None)
            return
        version = version or "unversioned"
        if self.current and self.current["version"] == version:
            return
        cached = self._path(version)
        if os.path.exists(cached):
            seconds = greeting_seconds(cached)
            if seconds is not None:
                self.current = {"version": version, "path": cached, "seconds": seconds}
                self.wanted = None
                self._prune(keep=cached)
                return
        # Until the new one arrives, callers hear the previous greeting, if any.
        self.wanted = (version, url)
        if self.thread is None or not self.thread.is_alive():
            self.thread = threading.Thread(target=self._download, name="greeting", daemon=True)
            self.thread.start()

    def arrived(self, version: str, path: str, seconds: float) -> bool:
        """The download thread's file is in place; True if it is now the greeting."""
        if self.wanted is None or self.wanted[0] != version:
            return False
        self.wanted = None
        self.current = {"version": version, "path": path, "seconds": seconds}
        self._prune(keep=path)
        _logger.info("greeting %s: %.1f s", version, seconds)
        return True

    def _path(self, version: str) -> str:
        safe = "".join(c for c in version if c in _VERSION_SAFE)[:64] or "greeting"
        return os.path.join(self.dir, f"{safe}.wav")

    def _prune(self, keep: str | None) -> None:
        for name in os.listdir(self.dir):
            path = os.path.join(self.dir, name)
            if path != keep:
                with contextlib.suppress(OSError):
                    os.unlink(path)

    def _download(self) -> None:
        """Thread: download the wanted greeting, retrying with a backoff."""
        backoff = Backoff(self.retry_max)
        while not self.stop.is_set():
            wanted = self.wanted
            if wanted is None:
                return
            version, url = wanted
            status, body, _headers = self.client.fetch(url, {"version": version}, timeout=60)
            if wanted != self.wanted:
                continue  # superseded while downloading
            if status == 200 and 0 < len(body) <= GREETING_MAX_BYTES:
                path = self._path(version)
                write_atomic(path + ".part", body)
                seconds = greeting_seconds(path + ".part")
                if seconds is not None:
                    os.replace(path + ".part", path)
                    self.inbox.put("greeting", (version, path, seconds))
                    return
                os.unlink(path + ".part")
                _logger.error("greeting %s is not an 8 kHz mono 16-bit WAV: ignored", version)
                return
            if status in (403, 404):
                _logger.error("greeting %s: Odoo answered %s", version, status)
            self.stop.wait(backoff.failed())
