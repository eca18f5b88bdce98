"""Is a recorded WAV file complete? Repair the header of one that is not.

pjmedia's WAV writer keeps zeros in the RIFF and data sizes while it records
and writes them when the recorder is destroyed; since pjproject 2.14 that
happens in the media clock thread, a little after ``AudioMediaRecorder`` is
deleted. A file read before that (or left by a media worker that died) looks
empty. The worker waits for the sizes before it hands a recording over, and
the delivery repairs the header of a file whose writer is gone for good.
"""

from __future__ import annotations

import os
import struct

COMPLETE, OPEN, BAD = "complete", "open", "bad"


def _chunks(head: bytes):
    """(chunk id, size field offset, data offset, size) of each RIFF chunk."""
    offset = 12
    while offset + 8 <= len(head):
        chunk_id = head[offset : offset + 4]
        (size,) = struct.unpack("<I", head[offset + 4 : offset + 8])
        yield chunk_id, offset + 4, offset + 8, size
        if chunk_id == b"data":
            return
        offset += 8 + size + (size & 1)


def wav_state(path: str) -> str:
    """COMPLETE when the header's sizes match the file, OPEN when they do not
    (still being written, or never closed), BAD when it is no RIFF/WAVE file."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as source:
            head = source.read(4096)
    except OSError:
        return BAD
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return BAD
    (riff_size,) = struct.unpack("<I", head[4:8])
    for chunk_id, _field, start, length in _chunks(head):
        if chunk_id == b"data":
            return COMPLETE if riff_size == size - 8 and start + length == size else OPEN
    return OPEN if len(head) < 4096 else BAD


def repair_wav(path: str) -> bool:
    """Write the sizes of the audio the file holds into its header."""
    try:
        size = os.path.getsize(path)
        with open(path, "r+b") as wav:
            head = wav.read(4096)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return False
            for chunk_id, field, start, _length in _chunks(head):
                if chunk_id == b"data":
                    length = max(0, size - start)
                    length -= length % 2  # whole 16-bit samples
                    wav.seek(4)
                    wav.write(struct.pack("<I", start + length - 8))
                    wav.seek(field)
                    wav.write(struct.pack("<I", length))
                    wav.truncate(start + length)
                    return True
    except OSError:
        return False
    return False
