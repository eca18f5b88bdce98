from odoo import api, models

from ..telephony.numbers import normalize_incoming

PARTNER_PHONE_FIELDS = ("phone", "mobile")


class ResPartner(models.Model):
    _inherit = "res.partner"

    @api.model_create_multi
    def create(self, vals_list):
        partners = super().create(vals_list)
        self.env["telephony.number"].sudo()._reindex(partners, PARTNER_PHONE_FIELDS)
        return partners

    def write(self, vals):
        result = super().write(vals)
        if set(PARTNER_PHONE_FIELDS) & set(vals):
            self.env["telephony.number"].sudo()._reindex(self, PARTNER_PHONE_FIELDS)
        return result

    def unlink(self):
        ids = self.ids
        result = super().unlink()
        self.env.cr.execute(
            "DELETE FROM telephony_number WHERE res_model = 'res.partner' AND res_id = ANY(%s)",
            (ids,),
        )
        return result

    @api.model
    def _telephony_normalize(self, number):
        plan = self.env["res.config.settings"]._telephony_dial_plan()
        return normalize_incoming(number or "", plan)

    @api.model
    def _telephony_match(self, e164):
        """The contact a caller's number belongs to (first match), if any."""
        ids = self.env["telephony.number"].sudo()._match(e164)
        return self.browse(ids[:1]).exists()

    @api.model
    def _telephony_reindex_all(self, batch_size=5000):
        """Back-fill the normalised numbers of every contact (install, rule change)."""
        self.env.cr.execute(
            "SELECT id FROM res_partner WHERE phone IS NOT NULL OR mobile IS NOT NULL ORDER BY id"
        )
        ids = [row[0] for row in self.env.cr.fetchall()]
        numbers = self.env["telephony.number"].sudo()
        for start in range(0, len(ids), batch_size):
            batch = self.with_context(active_test=False).browse(ids[start : start + batch_size])
            numbers._reindex(batch, PARTNER_PHONE_FIELDS)
            batch.invalidate_recordset(["phone", "mobile"])
