"""Tests of telephony.recordings: names, id lists and the streamed zip."""

from __future__ import annotations

import datetime as dt
import io
import tracemalloc
import zipfile

import pytest

from telephony.recordings import (
    MISSING_NAME,
    ZipMember,
    compact_ids,
    parse_ids,
    recording_filename,
    stored_recording_name,
    zip_stream,
)

DAY = dt.date(2024, 5, 1)


@pytest.mark.parametrize(
    ("phone", "name"),
    [
        ("+7 (916) 123-45-67", "42_+79161234567_2024-05-01.mp3"),
        ("8 (916) 123-45-67", "42_89161234567_2024-05-01.mp3"),
        ("+****1234567", "42_+xxxx1234567_2024-05-01.mp3"),
        ("* (**6) 123-45-67", "42_xxx61234567_2024-05-01.mp3"),
        ("hidden", "42_hidden_2024-05-01.mp3"),
        ("", "42_unknown_2024-05-01.mp3"),
        (None, "42_unknown_2024-05-01.mp3"),
        ("../../etc/passwd", "42_etcpasswd_2024-05-01.mp3"),
        ('a"b;c\r\nd', "42_abcd_2024-05-01.mp3"),
        ("1" * 100, "42_" + "1" * 32 + "_2024-05-01.mp3"),
    ],
)
def test_recording_filename(phone, name):
    assert recording_filename(42, phone, DAY) == name


def test_recording_filename_takes_the_date_of_a_datetime():
    when = dt.datetime(2023, 12, 31, 23, 59, 59)
    assert recording_filename(7, "101", when) == "7_101_2023-12-31.mp3"
    assert stored_recording_name(7, when) == "7_2023-12-31.mp3"


@pytest.mark.parametrize("call_id", [0, -1, True, "42", 4.2, None])
def test_recording_filename_refuses_a_bad_id(call_id):
    with pytest.raises(ValueError, match="positive integer"):
        recording_filename(call_id, "101", DAY)


@pytest.mark.parametrize("date", [None, "2024-05-01", 1714521600])
def test_recording_filename_refuses_a_missing_date(date):
    with pytest.raises(ValueError, match="needs a date"):
        recording_filename(1, "101", date)


def test_stored_name_carries_no_number():
    assert stored_recording_name(42, DAY) == "42_2024-05-01.mp3"


@pytest.mark.parametrize(
    ("ids", "text"),
    [
        ([1], "1"),
        ([5, 1, 2, 3, 9], "1-3,5,9"),
        ([3, 3, 2], "2-3"),
        (range(1, 501), "1-500"),
        ([10, 12, 14], "10,12,14"),
    ],
)
def test_compact_ids_round_trip(ids, text):
    assert compact_ids(ids) == text
    assert parse_ids(text, 1000) == sorted(set(ids))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "No call is selected"),
        (None, "No call is selected"),
        ("1,,2", "not a call id"),
        ("a", "not a call id"),
        ("1-", "not a call id"),
        ("-3", "not a call id"),
        ("1-2-3", "not a call id"),
        ("5-3", "not a valid range"),
        ("0", "not a valid range"),
        ("1-1001", "At most 1000"),
        ("1-999999999999", "At most 1000"),
        ("1-600,700-1200", "At most 1000"),
        ("1" * 50, "not a call id"),
    ],
)
def test_parse_ids_refuses(text, message):
    with pytest.raises(ValueError, match=message):
        parse_ids(text, 1000)


def _member(name, data, when=dt.datetime(2024, 5, 1, 10, 30)):
    return ZipMember(name, when, lambda: io.BytesIO(data), size=len(data))


def test_zip_stream_reads_back():
    payloads = {f"{n}_+7916_2024-05-01.mp3": bytes([n]) * (1000 + n * 70_000) for n in range(1, 6)}
    archive = b"".join(zip_stream(_member(name, data) for name, data in payloads.items()))
    with zipfile.ZipFile(io.BytesIO(archive)) as read:
        assert read.testzip() is None
        assert read.namelist() == list(payloads)
        for name, data in payloads.items():
            assert read.read(name) == data
            info = read.getinfo(name)
            assert info.compress_type == zipfile.ZIP_STORED
            assert info.date_time == (2024, 5, 1, 10, 30, 0)


def test_zip_stream_yields_small_chunks():
    data = b"\xff\xfb" * 500_000
    chunks = list(zip_stream([_member("a.mp3", data)], chunk_size=8192))
    assert len(chunks) > 100
    assert max(len(chunk) for chunk in chunks) < 8192 + 200


def test_zip_stream_memory_does_not_grow_with_the_archive():
    block = b"\x00" * 65536

    class Source(io.RawIOBase):
        def __init__(self, size):
            self.left = size

        def readable(self):
            return True

        def read(self, size=-1):
            size = min(self.left, len(block) if size < 0 else size)
            self.left -= size
            return block[:size]

    size = 2 * 1024 * 1024
    members = (
        ZipMember(f"{n}.mp3", dt.datetime(2024, 5, 1), lambda: Source(size), size)
        for n in range(20)
    )
    tracemalloc.start()
    total = 0
    for chunk in zip_stream(members):
        total += len(chunk)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert total > 20 * size
    assert peak < 2 * 1024 * 1024, peak


def test_zip_stream_lists_files_that_are_gone():
    def gone():
        raise FileNotFoundError("gone")

    members = [
        _member("1_a.mp3", b"one"),
        ZipMember("2_b.mp3", dt.datetime(2024, 5, 1), gone),
        _member("3_c.mp3", b"three"),
    ]
    with zipfile.ZipFile(io.BytesIO(b"".join(zip_stream(members)))) as read:
        assert read.namelist() == ["1_a.mp3", "3_c.mp3", MISSING_NAME]
        assert "2_b.mp3" in read.read(MISSING_NAME).decode()


def test_zip_stream_keeps_names_unique_and_old_dates_valid():
    members = [
        _member("same.mp3", b"1", dt.datetime(1970, 1, 1)),
        _member("same.mp3", b"2"),
    ]
    with zipfile.ZipFile(io.BytesIO(b"".join(zip_stream(members)))) as read:
        assert read.namelist() == ["same.mp3", "same (2).mp3"]
        assert read.getinfo("same.mp3").date_time == (1980, 1, 1, 0, 0, 0)


def test_empty_zip_is_valid():
    with zipfile.ZipFile(io.BytesIO(b"".join(zip_stream([])))) as read:
        assert read.namelist() == []


def test_zip_stream_can_stop_early():
    """A download cancelled after its first chunk: the stream stops without
    an error, the file it was reading is closed, the others are never opened."""
    opened, closed = [], []

    class Source(io.BytesIO):
        def close(self):
            closed.append(self.getvalue()[:1])
            super().close()

    def member(n):
        def open_():
            opened.append(n)
            return Source(bytes([n]) * 200_000)

        return ZipMember(f"{n}.mp3", dt.datetime(2024, 5, 1), open_, size=200_000)

    consumed = []

    def members():
        for n in range(3):
            consumed.append(n)
            yield member(n)

    stream = zip_stream(members(), chunk_size=4096)
    first = next(stream)
    assert first.startswith(b"PK\x03\x04")
    assert len(first) < 200_000
    stream.close()
    assert opened == [0]
    assert closed == [bytes([0])]
    assert consumed == [0]
    with pytest.raises(StopIteration):
        next(stream)
