"""On-disk outbox: events survive Odoo being down and the engine restarting.

One JSON file per event, named by its zero-padded ``seq`` so a directory
listing is the delivery order. Each file and the ``seq`` counter are written
to a temporary name, fsynced and renamed, so a crash leaves either the old or
the new state, never half a file.
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

from telephony import protocol

_logger = logging.getLogger(__name__)


def write_atomic(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash never leaves a torn file."""
    partial = f"{path}.tmp"
    with open(partial, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, path)
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


class Outbox:
    """Persistent, ordered queue of protocol events."""

    def __init__(self, state_dir: str):
        self.dir = os.path.join(state_dir, "outbox")
        self.seq_path = os.path.join(state_dir, "seq")
        os.makedirs(self.dir, exist_ok=True)
        self.lock = threading.Lock()
        self.changed = threading.Event()
        # The counter never goes back, even if the seq file was lost.
        last_file = max((int(n[:-5]) for n in self._names()), default=0)
        self.seq = max(read_int(self.seq_path), last_file)

    def _names(self) -> list[str]:
        return sorted(n for n in os.listdir(self.dir) if n.endswith(".json") and n[:-5].isdigit())

    def add(
        self, kind: str, call_id: str | None, data: dict[str, Any], at: float | None = None
    ) -> dict[str, Any]:
        with self.lock:
            self.seq += 1
            event: dict[str, Any] = {
                "id": uuid.uuid4().hex,
                "seq": self.seq,
                "at": round(at if at is not None else time.time(), 6),
                "type": kind,
                "data": data,
            }
            if call_id is not None:
                event["call_id"] = call_id
            write_atomic(self.seq_path, str(self.seq).encode())
            write_atomic(os.path.join(self.dir, f"{self.seq:012d}.json"), protocol.encode(event))
        self.changed.set()
        _logger.debug("event %s seq %s %s", kind, event["seq"], call_id or "")
        return event

    def pending(self, limit: int = protocol.MAX_EVENTS_PER_REQUEST) -> list[dict[str, Any]]:
        events = []
        with self.lock:
            for name in self._names()[:limit]:
                try:
                    with open(os.path.join(self.dir, name), "rb") as source:
                        events.append(json.loads(source.read()))
                except (OSError, ValueError):
                    _logger.warning("dropping unreadable outbox file %s", name)
                    os.replace(os.path.join(self.dir, name), os.path.join(self.dir, name + ".bad"))
        return events

    def remove(self, events: list[dict[str, Any]]) -> None:
        with self.lock:
            for event in events:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(self.dir, f"{int(event['seq']):012d}.json"))

    def __len__(self) -> int:
        with self.lock:
            return len(self._names())
