import hashlib
import json
import logging
import secrets
import shlex
import time

from odoo import SUPERUSER_ID, api, fields, models
from odoo.exceptions import AccessDenied
from odoo.service.model import PG_CONCURRENCY_EXCEPTIONS_TO_RETRY

from ..telephony import protocol

_logger = logging.getLogger(__name__)

ONLINE_AFTER_SECONDS = 90  # an engine heard from within this is online


class TelephonyEngine(models.Model):
    """A telephony engine that Odoo trusts: the bundled one or a PBX adapter.

    It authenticates every request with an HMAC over timestamp and body
    (docs/engine-protocol.md); the secret never leaves this record but
    through the administrator's one-time display.
    """

    _name = "telephony.engine"
    _description = "Telephony engine"
    _order = "id"

    name = fields.Char(required=True, default=lambda self: self.env._("Bundled engine"))
    active = fields.Boolean(default=True)
    key = fields.Char(
        required=True,
        readonly=True,
        copy=False,
        index=True,
        default=lambda self: "eng_" + secrets.token_hex(8),
    )
    secret = fields.Char(
        required=True,
        copy=False,
        groups="base.group_system",
        default=lambda self: secrets.token_hex(32),
    )
    last_seen = fields.Datetime(readonly=True, copy=False)
    version = fields.Char(readonly=True, copy=False)
    state = fields.Selection(
        [("online", "Online"), ("offline", "Offline")],
        compute="_compute_state",
    )
    last_seq = fields.Integer(
        readonly=True,
        copy=False,
        help="Highest event sequence number received (saved with the last-seen time).",
    )

    start_command = fields.Text(
        compute="_compute_start_command",
        help="How to start this engine on its machine, with the callback address of the "
        "settings; the secret goes into the file it names.",
    )

    _sql_constraints = [
        ("key_unique", "unique(key)", "Two engines cannot share a key."),
    ]

    @api.depends("last_seen")
    def _compute_state(self):
        threshold = fields.Datetime.subtract(fields.Datetime.now(), seconds=ONLINE_AFTER_SECONDS)
        for engine in self:
            online = engine.last_seen and engine.last_seen >= threshold
            engine.state = "online" if online else "offline"

    @api.depends("key")
    def _compute_start_command(self):
        for engine in self:
            engine.start_command = engine._start_command()

    def _start_command(self, url=None):
        """The command line that starts this engine against ``url`` (default: the
        callback address of the settings, else the web base URL)."""
        self.ensure_one()
        if not url:
            params = self.env["ir.config_parameter"].sudo()
            url = params.get_param("ip_telephony.odoo_url") or params.get_param("web.base.url")
        url = (url or "").rstrip("/")
        return (
            "python -m telephony.engine \\\n"
            f"    --odoo-url {shlex.quote(url)} --key {shlex.quote(self.key or '')} \\\n"
            "    --secret-file /etc/ip_telephony/engine.secret \\\n"
            "    --state-dir /var/lib/ip_telephony-engine \\\n"
            f"    --ws-origin {shlex.quote(url)}"
        )

    def action_rotate_secret(self):
        """Give the engine a new secret; the old one stops working at once."""
        for engine in self:
            engine.secret = secrets.token_hex(32)
        return True

    # ------------------------------------------------------------------
    # Authentication of requests from an engine
    # ------------------------------------------------------------------

    @api.model
    def _authenticate(self, headers, body):
        """Return the engine that signed this request, or raise AccessDenied.

        Runs as superuser on purpose: the request is anonymous until the
        signature proves which engine sent it.
        """
        key = headers.get(protocol.HEADER_ENGINE) or ""
        engine = self.sudo().search([("key", "=", key)], limit=1) if key else self.browse()
        nonce = headers.get(protocol.HEADER_NONCE)
        try:
            stamp = protocol.verify(
                engine.secret if engine else None,
                headers.get(protocol.HEADER_TIMESTAMP),
                headers.get(protocol.HEADER_SIGNATURE),
                body,
                nonce=nonce,
            )
            if not self.env["telephony.nonce"]._claim(engine, nonce, stamp):
                raise protocol.SignatureError("replayed", "This request was already received.")
        except protocol.SignatureError as exc:
            _logger.warning("Refused engine request (key %r): %s", key[:24], exc)
            raise AccessDenied(exc.code) from None
        # The signature proved the engine: act as the superuser on its behalf.
        return engine.with_user(SUPERUSER_ID)

    def _touch(self, version=None, seq=0):
        self.ensure_one()
        values = {"last_seen": fields.Datetime.now()}
        if version:
            values["version"] = version[:64]
        if seq > self.last_seq:
            values["last_seq"] = seq
        # Avoid a write (and its row lock) per request when nothing changes.
        if not self.last_seen or (values["last_seen"] - self.last_seen).total_seconds() > 10:
            self.write(values)
        elif version and version[:64] != self.version:
            self.write(values)

    # ------------------------------------------------------------------
    # Events (engine -> Odoo)
    # ------------------------------------------------------------------

    def _receive_events(self, payload):
        """Apply a batch of events once each, in order of occurrence."""
        self.ensure_one()
        # Mail caused by an event (the follow-up of a missed call) goes to the
        # mail queue: the engine's request never waits for an SMTP server.
        engine = self.with_context(mail_notify_force_send=False)
        events, rejected = protocol.split_events(payload)
        fresh_ids = self.env["telephony.event"]._journal(self, events)
        duplicates = [event.id for event in events if event.id not in fresh_ids]
        fresh = [event for event in events if event.id in fresh_ids]
        try:
            # The whole batch at once: a savepoint flushes (tracking, cards)
            # when it closes, and one per event would pay that per event.
            with self.env.cr.savepoint():
                for event in fresh:
                    engine._apply_event(event)
            accepted = [event.id for event in fresh]
        except PG_CONCURRENCY_EXCEPTIONS_TO_RETRY:
            raise  # Odoo retries the request; nothing is lost
        except Exception:  # pylint: disable=broad-except
            # One event is bad: apply them one by one so that only it is refused
            # and the engine does not resend the batch for ever.
            accepted = []
            for event in fresh:
                error = engine._apply_event_alone(event)
                if error:
                    rejected.append({"id": event.id, "error": error})
                else:
                    accepted.append(event.id)
        # last_seq goes with last_seen, at most one write every 10 s: a write
        # per request would lock the engine's row against its other requests.
        self._touch(seq=max((event.seq for event in events), default=0))
        return {"accepted": accepted, "duplicates": duplicates, "rejected": rejected}

    def _apply_event_alone(self, event):
        """Apply one event in its own savepoint; the error that refused it, if any."""
        try:
            with self.env.cr.savepoint():
                self._apply_event(event)
        except PG_CONCURRENCY_EXCEPTIONS_TO_RETRY:
            raise
        except (ValueError, KeyError) as exc:
            _logger.warning("Engine %s: event %s refused: %s", self.key, event.id, exc)
            return str(exc) or type(exc).__name__
        except Exception:  # pylint: disable=broad-except
            _logger.exception("Engine %s: event %s could not be applied", self.key, event.id)
            return "The event could not be applied."
        return None

    def _apply_event(self, event):
        if event.type == "engine.started":
            self._touch(event.data.get("version") or "")
            # A restarted edge has forgotten every registration; phones re-register.
            self.env["telephony.user"].sudo().search(
                [("phone_state", "=", "registered")]
            ).phone_state = "unregistered"
        elif event.type == "engine.heartbeat":
            self._touch()
        elif event.type == "trunk.state":
            self.env["telephony.sip.account"]._apply_engine_state(event)
        elif event.type == "phone.state":
            self.env["telephony.user"]._apply_engine_state(event)
        else:
            self.env["telephony.call"]._apply_engine_event(self, event)

    # ------------------------------------------------------------------
    # Commands (Odoo -> engine) and configuration
    # ------------------------------------------------------------------

    @api.model
    def _default_engine(self):
        return self.sudo().search([], limit=1)

    def _queue_command(self, kind, data, call=None, ttl=None):
        """Queue a command for the engine; its long poll wakes up at commit."""
        engine = self or self._default_engine()
        if not engine:
            return self.env["telephony.command"]
        return self.env["telephony.command"].sudo()._enqueue(engine, kind, data, call, ttl)

    def _commands_after(self, after):
        self.ensure_one()
        return self.env["telephony.command"].sudo()._pending_for(self, after)

    def _command_position(self, after):
        """The position to answer from: ``after``, unless this database never issued it."""
        self.ensure_one()
        return self.env["telephony.command"].sudo()._known_position(self, after)

    def _config_payload(self):
        """Everything the engine needs, with a version that changes with it."""
        self.ensure_one()
        env = self.env(su=True)
        accounts = env["telephony.sip.account"].search([], order="sequence, id")
        users = env["telephony.user"].search([("active", "=", True)])
        config = {
            "accounts": [account._engine_config() for account in accounts],
            "users": [user._engine_config() for user in users],
            "settings": env["res.config.settings"]._telephony_engine_settings(),
        }
        digest = hashlib.sha256(
            json.dumps(config, sort_keys=True, default=str).encode()
        ).hexdigest()
        config["version"] = digest[:16]
        return config

    @api.model
    def _notify_config_changed(self):
        """Tell the engine its configuration changed (coalesced per transaction)."""
        key = "telephony_config_changed"
        if self.env.cr.precommit.data.get(key):
            return
        self.env.cr.precommit.data[key] = True

        @self.env.cr.precommit.add
        def _queue():
            self.env["telephony.engine"]._queue_command(
                "config.changed", {"at": time.time()}, ttl=3600
            )
