"""On-disk outbox: events survive Odoo being down and the engine restarting.

Group commit: ``add`` only queues an event in memory; ``flush`` (once per
turn of the controller's loop) appends every queued event to one new batch
file, ``<first seq>.jsonl`` (one event per line), written to a temporary
name, fsynced and renamed: one file fsync and one directory fsync per turn
instead of four fsyncs per event. Delivery only sees flushed events, so an
event is on disk before it is sent; a crash leaves either the old or the new
state, never half a batch.

When Odoo acknowledges events they are removed: a batch file goes when all
its events are acknowledged, and is rewritten with the rest when only some
are, so a restart delivers the rest, once. Files ``<seq>.json`` (one event
each, written by earlier versions) are read the same way.

An event Odoo cannot take (see ``delivery.py``) is held: moved to
``<state-dir>/held/<seq>.json``, an outbox file of its own, so moving it back
into ``outbox/`` sends it again.

The ``seq`` counter never goes back: at start it is the greater of the
``seq`` file and the last seq on disk, and the ``seq`` file is brought up to
date before the batch holding the last seq is deleted.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import uuid
from typing import Any

from .. import protocol

_logger = logging.getLogger(__name__)


def write_atomic(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash never leaves a torn file."""
    partial = f"{path}.tmp"
    with open(partial, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, path)
    _fsync_dir(path)


def _fsync_dir(path: str) -> None:
    directory = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def read_int(path: str, default: int = 0) -> int:
    try:
        with open(path) as source:
            return int(source.read().strip() or default)
    except (FileNotFoundError, ValueError):
        return default


def _batch_name(name: str) -> bool:
    stem, dot, ext = name.partition(".")
    return bool(dot) and ext in ("json", "jsonl") and stem.isdigit()


class Outbox:
    """Persistent, ordered queue of protocol events."""

    def __init__(self, state_dir: str):
        self.dir = os.path.join(state_dir, "outbox")
        self.seq_path = os.path.join(state_dir, "seq")
        self.held_dir = os.path.join(state_dir, "held")
        os.makedirs(self.dir, exist_ok=True)
        self.lock = threading.Lock()
        self.changed = threading.Event()
        self.queued: list[dict[str, Any]] = []  # added, not yet on disk
        self.stored: list[dict[str, Any]] = []  # on disk, in seq order
        self.file_of: dict[int, str] = {}  # seq -> batch file name
        self.left: dict[str, set[int]] = {}  # batch file -> seqs not acknowledged
        self.saved_seq = read_int(self.seq_path)
        self._load()
        # The counter never goes back, even if the seq file was lost.
        last_stored = self.stored[-1]["seq"] if self.stored else 0
        self.seq = max(self.saved_seq, last_stored)
        held = self.held()
        if held:
            _logger.error(
                "%d events Odoo could not take are held in %s (seq %s)",
                len(held),
                self.held_dir,
                ", ".join(name.split(".")[0].lstrip("0") for name in held),
            )

    def _load(self) -> None:
        names = sorted(
            (n for n in os.listdir(self.dir) if _batch_name(n)), key=lambda n: int(n.split(".")[0])
        )
        for name in names:
            path = os.path.join(self.dir, name)
            try:
                with open(path, "rb") as source:
                    lines = [line for line in source.read().splitlines() if line.strip()]
                events = [json.loads(line) for line in lines]
                seqs = {int(event["seq"]) for event in events}
            except (OSError, ValueError, KeyError, TypeError):
                _logger.warning("dropping unreadable outbox file %s", name)
                os.replace(path, path + ".bad")
                continue
            if not events:
                os.unlink(path)
                continue
            self.left[name] = seqs
            for event in events:
                self.file_of[int(event["seq"])] = name
                self.stored.append(event)
        self.stored.sort(key=lambda e: int(e["seq"]))

    def add(
        self, kind: str, call_id: str | None, data: dict[str, Any], at: float | None = None
    ) -> dict[str, Any]:
        """Queue an event; it is on disk (and deliverable) after the next ``flush``."""
        with self.lock:
            self.seq += 1
            event: dict[str, Any] = {
                "id": uuid.uuid4().hex,
                "seq": self.seq,
                "at": round(at if at is not None else time.time(), 6),
                "type": kind,
                # Texts from SIP peers may hold control characters the
                # receiver refuses: send them as spaces, not lose the event.
                "data": protocol.clean_data(data),
            }
            if call_id is not None:
                event["call_id"] = call_id
            self.queued.append(event)
        _logger.debug("event %s seq %s %s", kind, event["seq"], call_id or "")
        return event

    def flush(self) -> int:
        """Store every queued event with one fsync; return how many."""
        with self.lock:
            if not self.queued:
                return 0
            events, self.queued = self.queued, []
            name = f"{events[0]['seq']:012d}.jsonl"
            body = b"".join(protocol.encode(event) + b"\n" for event in events)
            write_atomic(os.path.join(self.dir, name), body)
            self.left[name] = {event["seq"] for event in events}
            for event in events:
                self.file_of[event["seq"]] = name
            self.stored.extend(events)
        self.changed.set()
        return len(events)

    def pending(self, limit: int = protocol.MAX_EVENTS_PER_REQUEST) -> list[dict[str, Any]]:
        """The oldest stored events (flushed ones only), in seq order."""
        with self.lock:
            return list(self.stored[:limit])

    def remove(self, events: list[dict[str, Any]]) -> None:
        """Forget acknowledged events, on disk too."""
        with self.lock:
            gone = {int(event["seq"]) for event in events}
            if not gone:
                return
            self.stored = [e for e in self.stored if int(e["seq"]) not in gone]
            top = max(gone)
            if top > self.saved_seq:
                # Before the file holding the highest seq may go.
                write_atomic(self.seq_path, str(top).encode())
                self.saved_seq = top
            touched = set()
            for seq in gone:
                name = self.file_of.pop(seq, None)
                if name is not None:
                    self.left[name].discard(seq)
                    touched.add(name)
            for name in sorted(touched):
                path = os.path.join(self.dir, name)
                rest = self.left[name]
                if not rest:
                    del self.left[name]
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(path)
                    continue
                kept = [e for e in self.stored if int(e["seq"]) in rest]
                write_atomic(path, b"".join(protocol.encode(e) + b"\n" for e in kept))

    def hold(self, event: dict[str, Any]) -> str:
        """Move an event out of the queue into the held folder; its path."""
        os.makedirs(self.held_dir, exist_ok=True)
        path = os.path.join(self.held_dir, f"{int(event['seq']):012d}.json")
        write_atomic(path, protocol.encode(event))
        self.remove([event])
        return path

    def held(self) -> list[str]:
        """Names of the held events' files, oldest first."""
        if not os.path.isdir(self.held_dir):
            return []
        return sorted(n for n in os.listdir(self.held_dir) if _batch_name(n))

    def __len__(self) -> int:
        with self.lock:
            return len(self.stored) + len(self.queued)
