from odoo import api, fields, models

from ..telephony import protocol


class TelephonyNonce(models.Model):
    """Nonces of the engine requests seen within the clock window.

    A captured request replayed while its timestamp is still fresh carries
    a nonce already seen here, and is refused.
    """

    _name = "telephony.nonce"
    _description = "Seen engine request nonce"
    _log_access = False

    engine_id = fields.Many2one("telephony.engine", required=True, ondelete="cascade")
    nonce = fields.Char(required=True)
    stamp = fields.Integer(required=True, index=True)

    _sql_constraints = [
        ("nonce_unique", "unique(engine_id, nonce)", "A signed request is accepted once."),
    ]

    @api.model
    def _claim(self, engine, nonce, stamp):
        """Record a nonce; False when it was seen before (a replay)."""
        self.env.cr.execute(
            """
            INSERT INTO telephony_nonce (engine_id, nonce, stamp)
            VALUES (%s, %s, %s)
            ON CONFLICT (engine_id, nonce) DO NOTHING
            RETURNING id
            """,
            (engine.id, nonce, stamp),
        )
        return bool(self.env.cr.fetchone())

    @api.model
    def _gc(self, now):
        oldest = int(now) - 2 * protocol.MAX_CLOCK_SKEW
        self.env.cr.execute("DELETE FROM telephony_nonce WHERE stamp < %s", (oldest,))
