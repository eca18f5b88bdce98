"""Signed HTTP requests to Odoo (stdlib urllib only, a timeout on each)."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from typing import Any

from telephony import protocol

_logger = logging.getLogger(__name__)

ROUTE_EVENTS = "/telephony/engine/events"
ROUTE_COMMANDS = "/telephony/engine/commands"
ROUTE_CONFIG = "/telephony/engine/config"
ROUTE_RECORDING = "/telephony/engine/recording"


class OdooClient:
    """The engine's only way out: four routes, every request signed."""

    def __init__(self, url: str, key: str, secret: str, timeout: float = 15.0):
        self.url = url.rstrip("/")
        self.key = key
        self._secret = secret
        self.timeout = timeout

    def post(
        self,
        route: str,
        body: bytes,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> tuple[int, Any]:
        """Return (HTTP status, decoded JSON or None); status 0 = no answer."""
        all_headers = {
            "Content-Type": content_type,
            **protocol.signed_headers(self.key, self._secret, body),
        }
        all_headers.update(headers or {})
        request = urllib.request.Request(
            self.url + route, data=body, headers=all_headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        except (urllib.error.URLError, OSError, ValueError) as error:
            _logger.debug("%s: no answer (%s)", route, error)
            return 0, None
        try:
            payload = json.loads(raw.decode() or "null")
        except (UnicodeDecodeError, ValueError):
            payload = None
        if status != 200:
            _logger.info(
                "%s: HTTP %s %s",
                route,
                status,
                payload.get("error") if isinstance(payload, dict) else "",
            )
        return status, payload

    def post_json(
        self, route: str, payload: dict[str, Any], timeout: float | None = None
    ) -> tuple[int, Any]:
        body = protocol.encode({"protocol": protocol.PROTOCOL_VERSION, **payload})
        return self.post(route, body, timeout=timeout)
