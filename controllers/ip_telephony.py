import functools
import logging
import select
import time

from werkzeug.exceptions import BadRequest, Forbidden, NotFound, RequestEntityTooLarge

import odoo
from odoo import http
from odoo.exceptions import AccessDenied
from odoo.http import request

from ..telephony import protocol

_logger = logging.getLogger(__name__)

LONG_POLL_MAX = 25
SIGNATURE_ERRORS = ("signature", "stale", "replayed")

# The engine signs its requests: no session, no CSRF token, POST only.
engine_route = functools.partial(
    http.route,
    type="http",
    auth="none",
    methods=["POST"],
    csrf=False,
    save_session=False,
    readonly=False,
)


class TelephonyEngineController(http.Controller):
    """The engine protocol's routes (docs/engine-protocol.md).

    Every route authenticates the engine by the HMAC of its request before
    anything else is read, and answers JSON (the greeting route answers its
    WAV file, and JSON on errors).
    """

    def _read_signed_body(self, limit):
        length = request.httprequest.content_length
        if length is None or length > limit:
            raise RequestEntityTooLarge()
        body = request.httprequest.get_data()
        try:
            engine = request.env["telephony.engine"]._authenticate(
                request.httprequest.headers, body
            )
        except AccessDenied as exc:
            raise Forbidden(str(exc)) from None
        return engine, body

    @staticmethod
    def _json(payload, status=200):
        return request.make_json_response(payload, status=status)

    def _error(self, exc):
        if exc.code == 403:
            error = exc.description if exc.description in SIGNATURE_ERRORS else "signature"
        else:
            error = {400: "bad_request", 404: "not_found", 413: "too_large"}[exc.code]
        return self._json({"error": error, "message": exc.description or ""}, status=exc.code)

    def _handle(self, limit, handler):
        try:
            engine, body = self._read_signed_body(limit)
            result = handler(engine, body)
            return result if isinstance(result, http.Response) else self._json(result)
        except (BadRequest, Forbidden, NotFound, RequestEntityTooLarge) as exc:
            return self._error(exc)
        except protocol.EventError as exc:
            return self._json({"error": "bad_request", "message": str(exc)}, status=400)

    @engine_route("/telephony/engine/events")
    def engine_events(self):
        return self._handle(
            protocol.MAX_EVENTS_BODY,
            lambda engine, body: engine._receive_events(protocol.parse_body(body)),
        )

    @engine_route("/telephony/engine/config")
    def engine_config(self):
        def handler(engine, body):
            protocol.parse_body(body)
            return engine._config_payload()

        return self._handle(protocol.MAX_EVENTS_BODY, handler)

    @engine_route("/telephony/engine/commands")
    def engine_commands(self):
        def handler(engine, body):
            payload = protocol.parse_body(body)
            after = payload.get("after", 0)
            wait = payload.get("wait", 0)
            if not isinstance(after, int) or not isinstance(wait, (int, float)):
                raise protocol.EventError("'after' and 'wait' must be numbers.")
            engine._touch()
            # The engine adopts the answer's position: it may start over.
            after = engine._command_position(after)
            commands = engine._commands_after(after)
            deadline = time.monotonic() + max(0, min(wait, LONG_POLL_MAX))
            while not commands and time.monotonic() < deadline:
                # Commit what we have so the notify of a new command can reach us.
                request.env.cr.commit()  # pylint: disable=invalid-commit
                self._wait_for_command(deadline - time.monotonic())
                commands = engine._commands_after(after)
            config = engine._config_payload()
            return {"commands": commands, "config_version": config["version"], "after": after}

        return self._handle(protocol.MAX_EVENTS_BODY, handler)

    @staticmethod
    def _wait_for_command(timeout):
        if timeout <= 0:
            return
        if odoo.tools.config["test_enable"] and request.env.registry.in_test_mode():
            # A test cursor never commits, so no notify can arrive: just wait.
            time.sleep(min(timeout, 0.2))
            return
        with odoo.sql_db.db_connect(request.env.cr.dbname).cursor() as cr:
            cr.execute("LISTEN telephony_command")
            # LISTEN only takes effect at commit.
            cr.commit()  # pylint: disable=invalid-commit
            connection = cr._cnx
            select.select([connection], [], [], min(timeout, LONG_POLL_MAX))
            connection.poll()
            connection.notifies.clear()

    @engine_route("/telephony/engine/recording")
    def engine_recording(self):
        def handler(engine, body):
            call_ref = request.httprequest.headers.get(protocol.HEADER_CALL) or ""
            if not protocol.is_identifier(call_ref):
                raise NotFound("call")
            call = (
                request.env["telephony.call"]
                .sudo()
                .search([("engine_call_id", "=", call_ref)], limit=1)
            )
            if not call:
                raise NotFound("call")
            if not body[:3] == b"ID3" and not (
                len(body) > 1 and body[0] == 0xFF and body[1] & 0xE0 == 0xE0
            ):
                raise BadRequest("The recording is not an mp3 file.")
            attachment = call._attach_recording(body)
            return {"attachment_id": attachment.id}

        return self._handle(protocol.MAX_RECORDING_BODY, handler)

    @engine_route("/telephony/engine/greeting")
    def engine_greeting(self):
        """The greeting as 8 kHz mono 16-bit WAV, converted once at upload (F29)."""

        def handler(engine, body):
            protocol.parse_body(body)
            settings = request.env["res.config.settings"].sudo()
            wav = settings._telephony_greeting_attachment("wav")
            if not wav:
                raise NotFound("greeting")
            return request.make_response(
                wav.raw,
                headers=[
                    ("Content-Type", "audio/wav"),
                    (protocol.HEADER_GREETING_VERSION, settings._telephony_greeting_version()),
                ],
            )

        return self._handle(protocol.MAX_EVENTS_BODY, handler)
