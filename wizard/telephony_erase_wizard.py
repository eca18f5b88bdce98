from odoo import api, fields, models


class TelephonyEraseWizard(models.TransientModel):
    """Erase the calls and recordings of contacts, and the contacts if asked (B7).

    Deleting a contact alone keeps its calls (their contact becomes empty);
    this wizard, in the contact's Action menu, is the way to erase them.
    """

    _name = "telephony.erase.wizard"
    _description = "Erase calls and recordings of contacts"

    partner_ids = fields.Many2many(
        "res.partner",
        string="Contacts",
        required=True,
        default=lambda self: self._default_partners(),
    )
    call_count = fields.Integer("Calls", compute="_compute_counts")
    recording_count = fields.Integer("Recordings", compute="_compute_counts")
    delete_partners = fields.Boolean(
        "Delete the contacts too", help="Delete the contacts after their calls."
    )

    @api.model
    def _default_partners(self):
        if self.env.context.get("active_model") != "res.partner":
            return self.env["res.partner"]
        return self.env["res.partner"].browse(self.env.context.get("active_ids") or []).exists()

    @api.depends("partner_ids")
    def _compute_counts(self):
        for wizard in self:
            calls = wizard.partner_ids._telephony_calls()
            wizard.call_count = len(calls)
            wizard.recording_count = len(calls.filtered("recording_id"))

    def action_erase(self):
        self.ensure_one()
        partners = self.partner_ids
        partners._telephony_erase_calls()
        if self.delete_partners:
            partners.unlink()
            return {"type": "ir.actions.act_window_close", "infos": {"deleted": True}}
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "message": self.env._(
                    "%(calls)s calls and %(recordings)s recordings were erased.",
                    calls=self.call_count,
                    recordings=self.recording_count,
                ),
                "next": {"type": "ir.actions.act_window_close"},
            },
        }
