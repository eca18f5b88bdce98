import functools

from odoo import api, fields, models
from odoo.exceptions import AccessError
from odoo.tools import SQL

RECORDING_MODEL = "telephony.call"
RECORDING_FIELD = "recording_file"


class IrAttachment(models.Model):
    """Call recordings open in superuser mode only (B7).

    A user who may read a call could otherwise read its recording by the
    attachment's id (``/web/content/<id>``, ``read``), past the rights of
    their groups and the recording access log.  The recording routes read
    the file in superuser mode once they have checked and logged the access.
    """

    _inherit = "ir.attachment"

    # Deleting an attachment looks up the copies made from it (ondelete set
    # null): without an index each deletion scans the whole table, and the
    # retention deletes recordings by the thousand (F26).
    original_id = fields.Many2one(index="btree_not_null")

    @api.model
    def _search(self, domain, offset=0, limit=None, order=None):
        # Reads of stored fields check access with a search on the ids.
        query = super()._search(domain, offset, limit, order)
        if not self.env.su:
            query.add_where(
                SQL(
                    "(%s IS DISTINCT FROM %s OR %s IS DISTINCT FROM %s)",
                    SQL.identifier(self._table, "res_field"),
                    RECORDING_FIELD,
                    SQL.identifier(self._table, "res_model"),
                    RECORDING_MODEL,
                )
            )
        return query

    def _check_access(self, operation):
        result = super()._check_access(operation)
        if result or not self._ids:
            return result
        ids = [record_id for record_id in self._ids if isinstance(record_id, int)]
        if not ids:
            return None
        self.flush_model(["res_model", "res_field"])
        self.env.cr.execute(
            "SELECT id FROM ir_attachment WHERE id = ANY(%s) AND res_model = %s AND res_field = %s",
            (ids, RECORDING_MODEL, RECORDING_FIELD),
        )
        forbidden = self.browse(row[0] for row in self.env.cr.fetchall())
        if not forbidden:
            return None
        message = self.env._("Call recordings open from the call log only.")
        return forbidden, functools.partial(AccessError, message)
