from odoo import api, fields, models

from ..telephony.masking import mask_number, mask_policy


class ResGroups(models.Model):
    _inherit = "res.groups"

    telephony_auto_enrol = fields.Boolean(
        "Telephony auto-enrolment",
        help="Users of this group become telephony users with the next free extension (F9).",
    )
    telephony_mask_mode = fields.Selection(
        [("none", "Visible"), ("full", "Hidden"), ("prefix", "First characters hidden")],
        string="Number masking",
        default="none",
        required=True,
    )
    telephony_mask_count = fields.Integer(
        "Masked characters", default=0, help="How many leading characters show as *."
    )

    def write(self, vals):
        result = super().write(vals)
        if "users" in vals or vals.get("telephony_auto_enrol"):
            self.filtered("telephony_auto_enrol").users._telephony_auto_enrol()
        return result

    @api.model
    def _telephony_mask_for(self, user):
        """A function that masks a number the way ``user``'s groups require."""
        groups = (
            self.sudo()
            .search([("telephony_mask_mode", "!=", "none")])
            .filtered(lambda group: user in group.users)
        )
        mode, count = mask_policy(
            (group.telephony_mask_mode, group.telephony_mask_count) for group in groups
        )
        return lambda number: mask_number(number, mode, count)
