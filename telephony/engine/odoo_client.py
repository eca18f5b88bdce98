"""Signed HTTP requests to Odoo (stdlib urllib only, a timeout on each)."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from typing import Any

from .. import protocol

_logger = logging.getLogger(__name__)

ROUTE_EVENTS = "/telephony/engine/events"
ROUTE_COMMANDS = "/telephony/engine/commands"
ROUTE_CONFIG = "/telephony/engine/config"
ROUTE_RECORDING = "/telephony/engine/recording"
ROUTE_GREETING = "/telephony/engine/greeting"


class OdooClient:
    """The engine's only way out: the protocol's routes, every request signed."""

    def __init__(self, url: str, key: str, secret: str, timeout: float = 15.0):
        self.url = url.rstrip("/")
        self.key = key
        self._secret = secret
        self.timeout = timeout

    def _send(
        self,
        route: str,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | None,
        timeout: float | None,
    ) -> tuple[int, bytes, Any]:
        """(HTTP status, raw body, response headers); status 0 = no answer.

        ``route`` is a path on Odoo, or an absolute URL that Odoo gave.
        """
        all_headers = {
            "Content-Type": content_type,
            **protocol.signed_headers(self.key, self._secret, body),
        }
        all_headers.update(headers or {})
        url = route if route.startswith(("http://", "https://")) else self.url + route
        request = urllib.request.Request(url, data=body, headers=all_headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout) as response:
                return response.status, response.read(), response.headers
        except urllib.error.HTTPError as error:
            return error.code, error.read(), error.headers
        except (urllib.error.URLError, OSError, ValueError) as error:
            _logger.debug("%s: no answer (%s)", route, error)
            return 0, b"", {}

    @staticmethod
    def _decode(route: str, status: int, raw: bytes) -> Any:
        try:
            payload = json.loads(raw.decode() or "null")
        except (UnicodeDecodeError, ValueError):
            payload = None
        if status not in (0, 200):
            _logger.info(
                "%s: HTTP %s %s",
                route,
                status,
                payload.get("error") if isinstance(payload, dict) else "",
            )
        return payload

    def post(
        self,
        route: str,
        body: bytes,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> tuple[int, Any]:
        """Return (HTTP status, decoded JSON or None); status 0 = no answer."""
        status, raw, _headers = self._send(route, body, content_type, headers, timeout)
        if status == 0:
            return 0, None
        return status, self._decode(route, status, raw)

    def fetch(
        self, route: str, payload: dict[str, Any], timeout: float | None = None
    ) -> tuple[int, bytes, Any]:
        """A signed JSON request whose 200 answer is a file (the greeting).

        Returns (status, body, headers); an error answer's body stays JSON.
        """
        body = protocol.encode({"protocol": protocol.PROTOCOL_VERSION, **payload})
        status, raw, headers = self._send(route, body, "application/json", None, timeout)
        if status not in (0, 200):
            self._decode(route, status, raw)
        return status, raw, headers

    def post_json(
        self, route: str, payload: dict[str, Any], timeout: float | None = None
    ) -> tuple[int, Any]:
        body = protocol.encode({"protocol": protocol.PROTOCOL_VERSION, **payload})
        return self.post(route, body, timeout=timeout)


class Backoff:
    """Exponential delay between two attempts at Odoo: 0.5 s doubling up to ``cap``."""

    def __init__(self, cap: float):
        self.cap = cap
        self.delay = 0.0

    def failed(self) -> float:
        self.delay = min(self.cap, max(0.5, self.delay * 2))
        return self.delay

    def reset(self) -> None:
        self.delay = 0.0
