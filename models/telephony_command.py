import time

from odoo import fields, models

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
        commands = self.search(
            [("engine_id", "=", engine.id), ("id", ">", after)], order="id", limit=200
        )
        expired = commands.filtered(lambda c: c.expires_at and c.expires_at < now)
        expired.call_id._end_undelivered()
        return [
            {
                "seq": command.id,
                "type": command.type,
                "at": command.queued_at,
                "call_id": command.call_id.id or None,
                "data": command.payload or {},
            }
            for command in commands - expired
        ]
