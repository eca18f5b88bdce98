"""Recordings: their file names, id lists in URLs, and a streamed zip archive.

* ``recording_filename(call_id, phone, date)`` is the name a recording
  downloads under: ``<id>_<phone>_<YYYY-MM-DD>.mp3``, so a folder of
  downloads sorts by call and says who and when.  The caller passes
  the number as the user may see it (masked already, see ``masking``); the
  name keeps digits, letters and "+", and turns a masked digit ("*") into
  "x" because "*" is not allowed in Windows file names nor in archives
  extracted there.
* ``stored_recording_name(call_id, date)`` is the name the file is stored
  under, with no number in it: stored names are read by code that does not
  mask (attachment lists, search), so they must not carry a number.
* ``compact_ids`` / ``parse_ids`` carry a selection of call ids in a URL
  ("1-500,502") and read it back strictly.
* ``zip_stream(members)`` yields a zip archive (stored, no compression: mp3
  does not compress) chunk by chunk while it reads each member from an open
  file, so its memory does not grow with the number or size of the members.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

__all__ = [
    "CHUNK_SIZE",
    "HIDDEN_PHONE",
    "MISSING_NAME",
    "UNKNOWN_PHONE",
    "ZIP_NAME",
    "ZipMember",
    "compact_ids",
    "parse_ids",
    "recording_filename",
    "stored_recording_name",
    "zip_stream",
]

ZIP_NAME = "records.zip"
CHUNK_SIZE = 64 * 1024
UNKNOWN_PHONE = "unknown"
HIDDEN_PHONE = "hidden"
MISSING_NAME = "missing.txt"
MAX_NAME_PHONE = 32

_MASKED = re.compile(r"\*")
_UNSAFE = re.compile(r"[^0-9A-Za-z+]")
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def _day(date: object) -> str:
    if isinstance(date, dt.datetime | dt.date):
        return date.strftime("%Y-%m-%d")
    raise ValueError(f"A recording needs a date, not {date!r}.")


def _call_id(call_id: object) -> int:
    if isinstance(call_id, bool) or not isinstance(call_id, int) or call_id <= 0:
        raise ValueError(f"A call id is a positive integer, not {call_id!r}.")
    return call_id


def recording_filename(call_id: int, phone: str | None, date: dt.date | dt.datetime) -> str:
    """``<id>_<phone>_<YYYY-MM-DD>.mp3``; ``phone`` as the user may see it.

    >>> recording_filename(42, "+7 (916) 123-45-67", dt.date(2024, 5, 1))
    '42_+79161234567_2024-05-01.mp3'
    >>> recording_filename(42, "+****1234567", dt.date(2024, 5, 1))
    '42_+xxxx1234567_2024-05-01.mp3'
    """
    shown = _UNSAFE.sub("", _MASKED.sub("x", phone or ""))[:MAX_NAME_PHONE]
    return f"{_call_id(call_id)}_{shown or UNKNOWN_PHONE}_{_day(date)}.mp3"


def stored_recording_name(call_id: int, date: dt.date | dt.datetime) -> str:
    """The stored file name: ``<id>_<YYYY-MM-DD>.mp3``, never a number."""
    return f"{_call_id(call_id)}_{_day(date)}.mp3"


def compact_ids(ids: Iterable[int]) -> str:
    """Sorted ids with runs folded: ``[5, 1, 2, 3, 9] -> "1-3,5,9"``."""
    values = sorted({_call_id(value) for value in ids})
    parts: list[str] = []
    start = previous = None
    for value in values:
        if previous is not None and value == previous + 1:
            previous = value
            continue
        if start is not None:
            parts.append(str(start) if start == previous else f"{start}-{previous}")
        start = previous = value
    if start is not None:
        parts.append(str(start) if start == previous else f"{start}-{previous}")
    return ",".join(parts)


def parse_ids(text: object, limit: int) -> list[int]:
    """The ids of ``compact_ids`` text, sorted; ``ValueError`` for anything else.

    Refuses an empty list, a malformed part, a reversed range, and more than
    ``limit`` ids (counted before any range is expanded).
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("No call is selected.")
    bounds: list[tuple[int, int]] = []
    count = 0
    for part in text.split(","):
        low, sep, high = part.strip().partition("-")
        if not low.isdigit() or (sep and not high.isdigit()) or len(part) > 40:
            raise ValueError(f"{part.strip()[:40]!r} is not a call id or a range of them.")
        first, last = int(low), int(high) if sep else int(low)
        if first <= 0 or last < first:
            raise ValueError(f"{part.strip()!r} is not a valid range of call ids.")
        count += last - first + 1
        if count > limit:
            raise ValueError(f"At most {limit} calls can be downloaded at once.")
        bounds.append((first, last))
    return sorted({value for first, last in bounds for value in range(first, last + 1)})


@dataclass(frozen=True)
class ZipMember:
    """One file of the archive: its name, date, and how to open it.

    ``open`` is called only when the member is written, and its file is
    closed right after; an ``OSError`` from it (a file gone meanwhile) leaves
    the member out and lists its name in ``missing.txt``.
    """

    name: str
    date: dt.datetime
    open: Callable[[], BinaryIO]
    size: int | None = None


class _Sink:
    """An unseekable file that hands over what was written to it.

    zipfile notices that it cannot seek and writes each member's sizes and
    CRC after its data (a data descriptor), so nothing needs to be rewritten.
    """

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data: bytes) -> int:  # pylint: disable=method-required-super
        self._chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def _zip_time(date: dt.datetime) -> tuple[int, int, int, int, int, int]:
    if not isinstance(date, dt.datetime):
        return _ZIP_EPOCH
    stamp = date.timetuple()[:6]
    return max(stamp, _ZIP_EPOCH)


def _unique(name: str, used: set[str]) -> str:
    candidate, counter = name, 1
    stem, dot, ext = name.rpartition(".")
    while candidate in used:
        counter += 1
        candidate = f"{stem} ({counter}).{ext}" if dot else f"{name} ({counter})"
    used.add(candidate)
    return candidate


def zip_stream(members: Iterable[ZipMember], chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Yield a zip archive of ``members``, reading and sending ``chunk_size`` at a time."""
    sink = _Sink()
    used: set[str] = set()
    missing: list[str] = []
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for member in members:
            try:
                source = member.open()
            except OSError:
                missing.append(member.name)
                continue
            info = zipfile.ZipInfo(_unique(member.name, used), date_time=_zip_time(member.date))
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            if member.size is not None:
                info.file_size = member.size
            with source, archive.open(info, "w") as target:
                while chunk := source.read(chunk_size):
                    target.write(chunk)
                    if data := sink.take():
                        yield data
            if data := sink.take():
                yield data
        if missing:
            text = "Recordings that could not be read:\n" + "\n".join(missing) + "\n"
            archive.writestr(_unique(MISSING_NAME, used), text)
    if data := sink.take():
        yield data
