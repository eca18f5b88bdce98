"""Audio conversions shared by the engine (recordings) and the addon (greetings).

pydub drives ffmpeg; both sides need the same formats: recordings leave the
engine as mp3, greetings reach the media workers as 8 kHz mono 16-bit WAV
(the clock rate of the workers' conference bridge, so nothing resamples
during a call).
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings

GREETING_RATE = 8000
MP3_BITRATE = "32k"


def wav_to_mp3(path: str) -> str:
    """Convert a recorded WAV file to mp3 beside it; return the mp3 path.

    The WAV is kept: the caller deletes it once the mp3 is safely stored.
    """
    AudioSegment = _pydub()[0]  # noqa: N806 - the class, imported late

    target = os.path.splitext(path)[0] + ".mp3"
    partial = target + ".part"
    segment = AudioSegment.from_wav(path)
    segment.export(partial, format="mp3", bitrate=MP3_BITRATE)
    os.replace(partial, target)
    return target


def wavs_to_mp3(paths: list[str]) -> list[str]:
    """Convert several recorded WAV files to mp3 beside them in one ffmpeg run.

    Starting ffmpeg costs more CPU than encoding a short call, so a burst of
    hang-ups is converted in batches: 10 one-minute-or-less calls take about
    the CPU of 1.5 single conversions. The same encoder and bit rate as
    ``wav_to_mp3``. Returns the mp3 paths; the WAVs are kept. Raises
    RuntimeError when ffmpeg fails (one unreadable file fails the batch):
    nothing is left behind, convert the files one by one then.
    """
    import subprocess

    targets = [os.path.splitext(path)[0] + ".mp3" for path in paths]
    command = [_pydub()[0].converter, "-nostdin", "-loglevel", "error", "-y"]
    for path in paths:
        command += ["-f", "wav", "-i", path]
    for n, target in enumerate(targets):
        command += ["-map", f"{n}:a", "-b:a", MP3_BITRATE, "-f", "mp3", target + ".part"]
    try:
        done = subprocess.run(command, capture_output=True, timeout=300, check=False)
        error = done.stderr.decode(errors="replace")[-300:] if done.returncode else ""
    except (OSError, subprocess.TimeoutExpired) as failure:
        error = str(failure)
    if error:
        for target in targets:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(target + ".part")
        raise RuntimeError(f"ffmpeg failed: {error}")
    for target in targets:
        os.replace(target + ".part", target)
    return targets


def _pydub():
    """pydub's AudioSegment and CouldntDecodeError, imported when first needed.

    pydub imports the deprecated ``audioop``: its warning says nothing to
    our users, so it is silenced here.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from pydub import AudioSegment
        from pydub.exceptions import CouldntDecodeError
    return AudioSegment, CouldntDecodeError


def _looks_like_mp3(data: bytes) -> bool:
    """An ID3 tag or an MPEG audio frame sync at the start of the file."""
    if data[:3] == b"ID3":
        return True
    return len(data) >= 2 and data[0] == 0xFF and (data[1] & 0xE0) == 0xE0


def greeting_to_wav(mp3_bytes: bytes, max_seconds: float, max_bytes: int) -> bytes:
    """Convert an uploaded mp3 greeting to 8 kHz mono 16-bit WAV bytes.

    Raises ValueError with a message fit for the administrator when the file
    is too big, is not an mp3, or plays longer than ``max_seconds``.
    """
    if not mp3_bytes:
        raise ValueError("The greeting file is empty.")
    if len(mp3_bytes) > max_bytes:
        raise ValueError(
            "The greeting file is too big: %d bytes, at most %d are allowed."
            % (len(mp3_bytes), max_bytes)
        )
    if not _looks_like_mp3(mp3_bytes):
        raise ValueError("The greeting must be an mp3 file.")
    AudioSegment, CouldntDecodeError = _pydub()  # noqa: N806

    try:
        segment = AudioSegment.from_file(io.BytesIO(mp3_bytes), format="mp3")
    except (CouldntDecodeError, IndexError, OSError) as error:
        raise ValueError("The greeting is not a readable mp3 file.") from error
    seconds = len(segment) / 1000.0
    if seconds <= 0:
        raise ValueError("The greeting holds no sound.")
    if seconds > max_seconds:
        raise ValueError(
            "The greeting is too long: %.1f s, at most %g s are allowed." % (seconds, max_seconds)
        )
    segment = segment.set_frame_rate(GREETING_RATE).set_channels(1).set_sample_width(2)
    out = io.BytesIO()
    segment.export(out, format="wav")
    return out.getvalue()
