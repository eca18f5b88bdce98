import logging
import time

from odoo import fields, models

_logger = logging.getLogger(__name__)

DEFAULT_TTL = 60


class TelephonyCommand(models.Model):
    """A command queued for an engine, picked up by its long poll.

    The record id is the command's sequence number: an engine that
    reconnects asks for everything after the last id it carried out.
    """

    _name = "telephony.command"
    _description = "Telephony engine command"
    _order = "id"

    engine_id = fields.Many2one("telephony.engine", required=True, ondelete="cascade", index=True)
    type = fields.Char(required=True, readonly=True)
    payload = fields.Json(readonly=True)
    call_id = fields.Many2one("telephony.call", ondelete="cascade", readonly=True, index=True)
    queued_at = fields.Float(readonly=True, help="Unix time when the command was queued.")
    expires_at = fields.Float(readonly=True)

    def _enqueue(self, engine, kind, data, call=None, ttl=None):
        now = time.time()
        command = self.create(
            {
                "engine_id": engine.id,
                "type": kind,
                "payload": data,
                "call_id": call.id if call else False,
                "queued_at": now,
                "expires_at": now + (ttl or DEFAULT_TTL),
            }
        )
        # Delivered at commit, never for a rolled back command.
        self.env.cr.execute("NOTIFY telephony_command")
        return command

    def _pending_for(self, engine, after):
        """Commands after ``after`` that are still worth carrying out.

        Expired click-to-call commands are not handed out: their calls end
        as failed, since the user gave up long ago.
        """
        now = time.time()
        base = [("engine_id", "=", engine.id), ("id", ">", after)]
        expired = self.search(
            [*base, ("expires_at", "<", now), ("call_id.state", "!=", "ended")],
            order="id",
            limit=200,
        )
        expired.call_id._end_undelivered()
        commands = self.search([*base, ("expires_at", ">=", now)], order="id", limit=200)
        return [
            {
                "seq": command.id,
                "type": command.type,
                "at": command.queued_at,
                "call_id": command.call_id.id or None,
                "data": command.payload or {},
            }
            for command in commands
        ]

    def _known_position(self, engine, after):
        """``after``, or 0 when this database never issued that command.

        An engine keeps its position on disk: pointed at another database,
        or at this one restored from a backup, it would ask for commands
        after one that does not exist here and miss every new one until
        the ids caught up.
        """
        self.env.cr.execute("SELECT COALESCE(MAX(id), 0) FROM telephony_command")
        issued = self.env.cr.fetchone()[0]
        if after <= issued:
            return after
        _logger.warning(
            "Engine %s asked for the commands after #%s, but this database's last "
            "command is #%s (another database's position, or a restored backup): "
            "starting over from its pending commands.",
            engine.key,
            after,
            issued,
        )
        return 0
