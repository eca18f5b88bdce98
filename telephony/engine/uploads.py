"""Recordings on their way to Odoo: WAV → mp3 in a conversion pool, then upload.

A media worker hands a WAV over once pjmedia has written its header; it is
moved from ``recordings/active/`` to ``recordings/`` and converted to mp3 by
one ffmpeg per CPU at most, at a lower priority than the media. WAVs ready
together go through one ffmpeg run, since starting ffmpeg costs more CPU
than encoding a short call. The mp3 is uploaded with ``X-Telephony-Call``
and deleted only after Odoo's 200; a 404 (the call's events not there yet)
retries later.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .. import protocol
from .odoo_client import ROUTE_RECORDING, OdooClient
from .wavfile import BAD, OPEN, repair_wav, wav_state

_logger = logging.getLogger("telephony.engine.uploads")

WAV_SETTLE_SECONDS = 5.0  # an unfinished WAV untouched this long lost its writer
# WAVs converted by one ffmpeg run: its start costs more CPU than a short call.
CONVERT_BATCH_MAX = 16


def _lower_priority() -> None:
    """Conversion threads yield to the media: on Linux a thread has its own
    nice value, and the ffmpeg it starts inherits it."""
    with contextlib.suppress(OSError):
        os.nice(10)


class RecordingUploads:
    """``recordings/``: WAVs waiting for conversion, mp3s waiting for upload."""

    def __init__(self, state_dir: str, client: OdooClient, wake: Callable[[], None]):
        self.dir = os.path.join(state_dir, "recordings")
        self.active_dir = os.path.join(self.dir, "active")
        for path in (self.dir, self.active_dir):
            os.makedirs(path, mode=0o700, exist_ok=True)
        self.client = client
        self.wake = wake  # the delivery thread: a file is ready
        # mp3 conversions: off the delivery thread, at most one per CPU at a time.
        self.convert_max = max(1, min(4, os.cpu_count() or 1))
        self.converters = ThreadPoolExecutor(
            max_workers=self.convert_max, thread_name_prefix="mp3", initializer=_lower_priority
        )
        self.converting: set[str] = set()  # WAV names being converted
        self.converting_batches = 0  # conversions submitted, not finished
        self.lock = threading.Lock()

    def recover(self) -> None:
        """Recordings of calls cut by a crash are still worth delivering."""
        for name in os.listdir(self.active_dir):
            if name.endswith(".wav"):
                self.closed(os.path.join(self.active_dir, name))

    def active_path(self, call_id: str) -> str:
        return os.path.join(self.active_dir, f"{call_id}.wav")

    def closed(self, wav_path: str) -> None:
        """Move a closed WAV from active/ to the delivery queue directory."""
        if os.path.exists(wav_path):
            os.replace(wav_path, os.path.join(self.dir, os.path.basename(wav_path)))
            self.wake()

    def busy(self) -> bool:
        """Conversions are running."""
        return bool(self.converting)

    def shutdown(self) -> None:
        self.converters.shutdown(wait=True, cancel_futures=True)

    def deliver_one(self) -> bool | None:
        """Start the conversions that have room in the pool, then upload one mp3.
        True: one delivered, False: Odoo did not take it, None: nothing to send."""
        names = sorted(os.listdir(self.dir))
        self._start_conversions(names)
        for name in names:
            if not name.endswith(".mp3"):
                continue
            path = os.path.join(self.dir, name)
            with open(path, "rb") as source:
                body = source.read()
            call_id = name[:-4]
            status, _payload = self.client.post(
                ROUTE_RECORDING,
                body,
                content_type="audio/mpeg",
                headers={protocol.HEADER_CALL: call_id},
                timeout=60,
            )
            if status == 200:
                os.unlink(path)
                with contextlib.suppress(FileNotFoundError):  # its conversion may remove it
                    os.unlink(path[:-4] + ".wav")
                _logger.info("recording of %s delivered", call_id)
                return True
            return False  # 404 (events first), 5xx or no answer: retry later
        return None

    def _start_conversions(self, names: list[str]) -> None:
        ready = []
        for name in names:
            if self.converting_batches >= self.convert_max:
                break
            path = os.path.join(self.dir, name)
            if (
                name.endswith(".wav")
                and name not in self.converting
                and not os.path.exists(path[:-4] + ".mp3")
            ):
                state = wav_state(path)
                if state == OPEN and time.time() - os.path.getmtime(path) < WAV_SETTLE_SECONDS:
                    continue  # pjmedia is still closing it: come back later
                ready.append((name, state))
        if not ready:
            return
        # Spread over the idle converters, in batches (one ffmpeg start each).
        idle = max(1, self.convert_max - self.converting_batches)
        size = min(CONVERT_BATCH_MAX, -(-len(ready) // idle))
        for start in range(0, len(ready), size):
            if self.converting_batches >= self.convert_max:
                break
            batch = ready[start : start + size]
            with self.lock:
                self.converting.update(name for name, _state in batch)
                self.converting_batches += 1
            self.converters.submit(self._convert, batch)

    def _convert(self, batch: list[tuple[str, str]]) -> None:
        """WAVs to mp3 in the conversion pool: one ffmpeg for the batch, one by
        one if that fails (a bad file is set aside alone); wakes the delivery."""
        from ..audio import wav_to_mp3, wavs_to_mp3

        try:
            good = []
            for name, state in batch:
                path = os.path.join(self.dir, name)
                if state == BAD:
                    self._convert_failed(name, "not a WAV file")
                    continue
                if state == OPEN:
                    # Its worker died mid-call: keep the audio it wrote.
                    repair_wav(path)
                good.append(path)
            try:
                if len(good) > 1:
                    wavs_to_mp3(good)
                    converted = good
                else:
                    converted = []
            except Exception as error:
                _logger.warning("batch of %d recordings: %s; one by one", len(good), error)
                converted = []
            for path in good:
                if path not in converted:
                    try:
                        wav_to_mp3(path)
                    except Exception as error:
                        self._convert_failed(os.path.basename(path), error)
                        continue
                with contextlib.suppress(FileNotFoundError):  # the mp3 may be delivered already
                    os.unlink(path)
        finally:
            with self.lock:
                self.converting.difference_update(name for name, _state in batch)
                self.converting_batches -= 1
            self.wake()

    def _convert_failed(self, name: str, error: Any) -> None:
        _logger.error("recording %s cannot be converted: %s", name, error)
        path = os.path.join(self.dir, name)
        with contextlib.suppress(OSError):
            os.replace(path, path + ".bad")
