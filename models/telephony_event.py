import json

from odoo import fields, models

from ..telephony import protocol


class TelephonyEvent(models.Model):
    """Journal of the engine events Odoo has applied.

    The unique event id makes delivery idempotent: an event that is retried,
    replayed or sent twice concurrently is applied once.
    """

    _name = "telephony.event"
    _description = "Telephony engine event"
    _order = "occurred_at desc, seq desc"
    _log_access = False

    uid = fields.Char("Event id", required=True, readonly=True)
    engine_id = fields.Many2one("telephony.engine", required=True, ondelete="cascade")
    seq = fields.Integer(readonly=True)
    type = fields.Char(readonly=True)
    call_ref = fields.Char("Engine call id", readonly=True, index="btree_not_null")
    occurred_at = fields.Float(readonly=True, help="Unix time of the event, engine clock.")
    received_at = fields.Datetime(readonly=True, default=fields.Datetime.now)
    payload = fields.Json(readonly=True)

    _sql_constraints = [
        ("uid_unique", "unique(engine_id, uid)", "An engine event is journaled once."),
    ]

    def _as_event(self):
        self.ensure_one()
        return protocol.Event(
            id=self.uid,
            seq=self.seq,
            at=self.occurred_at,
            type=self.type,
            call_id=self.call_ref,
            data=self.payload or {},
        )

    def _journal(self, engine, events):
        """Insert the events, skipping known ids; return the ids that are new.

        ``ON CONFLICT DO NOTHING`` also settles two concurrent deliveries of
        one event: the second waits for the first and inserts nothing.
        """
        if not events:
            return set()
        rows = []
        params = []
        for event in events:
            rows.append("(%s, %s, %s, %s, %s, %s, %s, now() at time zone 'UTC')")
            params += [
                event.id,
                engine.id,
                event.seq,
                event.type,
                event.call_id,
                event.at,
                json.dumps(event.data),
            ]
        self.env.cr.execute(
            """
            INSERT INTO telephony_event
                (uid, engine_id, seq, type, call_ref, occurred_at, payload, received_at)
            VALUES {}
            ON CONFLICT (engine_id, uid) DO NOTHING
            RETURNING uid
            """.format(", ".join(rows)),  # noqa: S608 - placeholders only, values are params
            params,
        )
        return {row[0] for row in self.env.cr.fetchall()}
