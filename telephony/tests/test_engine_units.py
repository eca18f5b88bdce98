"""Fast engine parts without SIP: audio conversion, the outbox, the HTTP client."""

import io
import os
import tempfile
import wave

import pytest

from telephony import protocol
from telephony.audio import greeting_to_wav, wav_to_mp3, wavs_to_mp3
from telephony.engine.odoo_client import ROUTE_EVENTS, OdooClient
from telephony.engine.outbox import Outbox
from telephony.tests.engine_fixtures import (
    FakeOdoo,
    free_tcp_port,
    goertzel_ratio,
    read_mp3,
    write_tone,
)


@pytest.fixture
def tmp():
    with tempfile.TemporaryDirectory(prefix="engine-unit-") as path:
        yield path


def test_wav_to_mp3_keeps_the_tone(tmp):
    mp3 = wav_to_mp3(write_tone(os.path.join(tmp, "t.wav"), 440, seconds=1))
    assert mp3.endswith(".mp3") and os.path.exists(mp3)
    with open(mp3, "rb") as source:
        samples, rate = read_mp3(source.read())
    assert goertzel_ratio(samples, rate, 440) > 0.5


def test_wavs_to_mp3_converts_a_batch_in_one_run(tmp):
    tones = (440, 1000, 2000)
    paths = [write_tone(os.path.join(tmp, f"c{n}.wav"), f, seconds=1) for n, f in enumerate(tones)]
    mp3s = wavs_to_mp3(paths)
    assert [os.path.basename(p) for p in mp3s] == ["c0.mp3", "c1.mp3", "c2.mp3"]
    for mp3, tone in zip(mp3s, tones, strict=True):
        with open(mp3, "rb") as source:
            samples, rate = read_mp3(source.read())
        assert goertzel_ratio(samples, rate, tone) > 0.5
    # One unreadable file fails the batch: nothing half-written is left.
    bad = os.path.join(tmp, "bad.wav")
    with open(bad, "wb") as out:
        out.write(b"RIFF" + os.urandom(500))
    with pytest.raises(RuntimeError, match="ffmpeg"):
        wavs_to_mp3([paths[0], bad])
    assert not [n for n in os.listdir(tmp) if n.endswith(".part")]


def test_greeting_to_wav_gives_8khz_mono_16bit(tmp):
    mp3 = wav_to_mp3(write_tone(os.path.join(tmp, "g.wav"), 1000, seconds=1, rate=16000))
    with open(mp3, "rb") as source:
        out = greeting_to_wav(source.read(), max_seconds=5, max_bytes=1 << 20)
    with wave.open(io.BytesIO(out)) as result:
        assert (result.getframerate(), result.getnchannels(), result.getsampwidth()) == (8000, 1, 2)
        assert 0.9 < result.getnframes() / 8000 < 1.3


def test_greeting_refuses_bad_files(tmp):
    wav_path = write_tone(os.path.join(tmp, "g.wav"), 1000, seconds=2)
    with open(wav_path, "rb") as source:
        wav_bytes = source.read()
    with open(wav_to_mp3(wav_path), "rb") as source:
        mp3_bytes = source.read()
    with pytest.raises(ValueError, match="mp3"):
        greeting_to_wav(wav_bytes, 60, 1 << 20)
    with pytest.raises(ValueError, match="too long"):
        greeting_to_wav(mp3_bytes, 1, 1 << 20)
    with pytest.raises(ValueError, match="too big"):
        greeting_to_wav(mp3_bytes, 60, 100)
    with pytest.raises(ValueError, match="empty"):
        greeting_to_wav(b"", 60, 100)
    with pytest.raises(ValueError):
        greeting_to_wav(b"ID3" + os.urandom(2000), 60, 1 << 20)


def test_outbox_keeps_order_and_seq_across_restarts(tmp):
    box = Outbox(tmp)
    first = box.add("engine.heartbeat", None, {})
    second = box.add("call.ended", "c-1", {"outcome": "failed"})
    box.flush()
    assert [e["seq"] for e in Outbox(tmp).pending()] == [1, 2]
    box.remove([first])
    reopened = Outbox(tmp)
    assert [e["id"] for e in reopened.pending()] == [second["id"]]
    reopened.remove([second])
    assert reopened.add("engine.heartbeat", None, {})["seq"] == 3
    for event in (first, second):
        protocol.parse_event(event)  # what the outbox stores is valid protocol


def test_outbox_group_commit_delivers_once_after_a_crash(tmp):
    box = Outbox(tmp)
    events = [box.add("engine.heartbeat", None, {"n": n}) for n in range(5)]
    # Queued events are not deliverable (nor counted sent) before they are on disk.
    assert box.pending() == [] and len(box) == 5
    assert box.flush() == 5
    assert len(os.listdir(os.path.join(tmp, "outbox"))) == 1  # one file, one fsync
    assert [e["id"] for e in box.pending()] == [e["id"] for e in events]
    later = box.add("call.ended", "c-9", {"outcome": "failed"})
    box.flush()
    # Odoo acknowledged the first two; then the engine crashed (no clean stop).
    box.remove(events[:2])
    del box
    reopened = Outbox(tmp)
    expected = [e["id"] for e in [*events[2:], later]]
    assert [e["id"] for e in reopened.pending()] == expected
    # Delivered after the restart: gone for good, the counter goes on.
    reopened.remove(reopened.pending())
    assert os.listdir(os.path.join(tmp, "outbox")) == []
    assert Outbox(tmp).pending() == []
    assert Outbox(tmp).add("engine.heartbeat", None, {})["seq"] == 7


def test_outbox_reads_the_one_event_files_of_earlier_versions(tmp):
    os.makedirs(os.path.join(tmp, "outbox"))
    old = {"id": "a" * 32, "seq": 41, "at": 1.0, "type": "engine.heartbeat", "data": {}}
    with open(os.path.join(tmp, "outbox", "000000000041.json"), "wb") as out:
        out.write(protocol.encode(old))
    box = Outbox(tmp)
    assert box.add("engine.heartbeat", None, {})["seq"] == 42
    box.flush()
    assert [e["seq"] for e in box.pending()] == [41, 42]
    box.remove(box.pending()[:1])
    assert [e["seq"] for e in Outbox(tmp).pending()] == [42]


def test_client_signs_and_survives_a_dead_server():
    with FakeOdoo() as odoo:
        client = OdooClient(odoo.url, odoo.key, odoo.secret, timeout=5)
        status, payload = client.post_json(ROUTE_EVENTS, {"events": []})
        assert status == 200 and payload["accepted"] == []
        forged = OdooClient(odoo.url, odoo.key, "not-the-secret", timeout=5)
        assert forged.post_json(ROUTE_EVENTS, {"events": []})[0] == 403
    dead = OdooClient(f"http://127.0.0.1:{free_tcp_port()}", "k", "s", timeout=2)
    assert dead.post_json(ROUTE_EVENTS, {"events": []}) == (0, None)


def test_caller_id_of_an_incoming_call():
    from telephony.engine.siptext import parse_party

    assert parse_party('"Ivan Petrov" <sip:+79161234567@sip.example.com>;tag=1') == (
        "+79161234567",
        "Ivan Petrov",
    )
    assert parse_party("<sip:%2B79161234567@10.0.0.1:5060;user=phone>") == ("+79161234567", "")
    assert parse_party("Ivan <tel:+7-916-123-45-67>") == ("+79161234567", "Ivan")
    assert parse_party("sip:89161234567@provider") == ("89161234567", "")
    assert parse_party('"Anonymous" <sip:anonymous@anonymous.invalid>') == (
        "anonymous",
        "Anonymous",
    )
    assert parse_party("") == ("anonymous", "")
    # Quotes, backslashes and control characters never reach the phones' From.
    name = parse_party('"Evil\\" \x07name\\\\" <sip:1@x>')[1]
    assert name == "Evil name"


def test_unfinished_wav_is_seen_and_repaired(tmp):
    from telephony.engine.wavfile import BAD, COMPLETE, OPEN, repair_wav, wav_state

    path = write_tone(os.path.join(tmp, "rec.wav"), 440, seconds=1)
    assert wav_state(path) == COMPLETE
    # What pjmedia leaves until its clock thread closes the recorder (or if the
    # worker dies): zero sizes in the header, the audio after it.
    with open(path, "r+b") as wav:
        wav.seek(4)
        wav.write(b"\0\0\0\0")
        wav.seek(40)
        wav.write(b"\0\0\0\0")
    with pytest.raises(wave.Error):
        wave.open(path).close()  # unreadable as it is
    assert wav_state(path) == OPEN
    assert repair_wav(path)
    assert wav_state(path) == COMPLETE
    with wave.open(path) as repaired:
        assert repaired.getnframes() == 8000
    garbage = os.path.join(tmp, "garbage.wav")
    with open(garbage, "wb") as out:
        out.write(b"ID3" + b"\0" * 100)
    assert wav_state(garbage) == BAD
    assert not repair_wav(garbage)


@pytest.mark.parametrize("ws_port", [0, 5066])
def test_edge_config_is_valid_kamailio_with_and_without_websocket(tmp, ws_port):
    """Both variants of kamailio.cfg pass Kamailio's own check (kamailio -c)."""
    import subprocess

    from telephony.engine.edge_config import render_config

    config = render_config(
        5060,
        os.path.join(tmp, "ctl"),
        ws_port=ws_port,
        rtpengine_port=22222,
        ws_origins=["https://crm.example.com"],
    )
    path = os.path.join(tmp, "kamailio.cfg")
    with open(path, "w") as out:
        out.write(config)
    done = subprocess.run(
        ["kamailio", "-c", "-f", path], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert ("tcp: 127.0.0.1 [127.0.0.1]:5066" in done.stdout) == bool(ws_port)


def test_websocket_origin_check_accepts_web_origins_only():
    from telephony.engine.edge_config import origin_check

    assert origin_check([]) == ""
    lines = origin_check(["https://crm.example.com", "http://localhost:8069"])
    assert '$hdr(Origin) == "https://crm.example.com"' in lines
    assert '$hdr(Origin) == "http://localhost:8069"' in lines
    for bad in ('https://x.com" || 1', "crm.example.com", "https://a.com/path"):
        with pytest.raises(ValueError):
            origin_check([bad])


def test_media_relay_without_rtpengine_says_what_to_install(monkeypatch, tmp):
    from telephony.engine import relay

    monkeypatch.setattr(relay.shutil, "which", lambda name: None)
    monkeypatch.setattr(relay.os.path, "exists", lambda path: False)
    with pytest.raises(RuntimeError, match="rtpengine-daemon"):
        relay.MediaRelay(tmp, 22222, 30000, 30999).start()
    with pytest.raises(ValueError, match="port range"):
        relay.MediaRelay(tmp, 22222, 31000, 30000)
