from odoo import api, fields, models


class ResUsers(models.Model):
    _inherit = "res.users"

    telephony_user_ids = fields.One2many("telephony.user", "user_id")

    @api.model_create_multi
    def create(self, vals_list):
        users = super().create(vals_list)
        users._telephony_auto_enrol()
        return users

    def write(self, vals):
        result = super().write(vals)
        if any(
            key == "groups_id" or key.startswith("in_group_") or key.startswith("sel_groups_")
            for key in vals
        ):
            self._telephony_auto_enrol()
        return result

    def _telephony_user(self):
        """The active telephony user record of this user, if any."""
        self.ensure_one()
        return (
            self.env["telephony.user"]
            .sudo()
            .search([("user_id", "=", self.id), ("active", "=", True)], limit=1)
        )

    def _telephony_auto_enrol(self):
        """Users of a ticked group become telephony users (F9)."""
        params = self.env["ir.config_parameter"].sudo()
        if not params.get_param("ip_telephony.enabled"):
            return
        groups = self.env["res.groups"].sudo().search([("telephony_auto_enrol", "=", True)])
        if not groups:
            return
        candidates = self.filtered(lambda user: not user.share and (user.groups_id & groups))
        known = (
            self.env["telephony.user"]
            .sudo()
            .with_context(active_test=False)
            .search([("user_id", "in", candidates.ids)])
            .user_id
        )
        for user in candidates - known:
            self.env["telephony.user"].sudo().create({"user_id": user.id})

    def _telephony_sync_group(self):
        """The Telephony user group follows the telephony user record."""
        group = self.env.ref("ip_telephony.group_telephony_user")
        manager = self.env.ref("ip_telephony.group_telephony_manager")
        for user in self.sudo():
            has_record = bool(user._telephony_user())
            if has_record and group not in user.groups_id:
                user.write({"groups_id": [fields.Command.link(group.id)]})
            elif not has_record and group in user.groups_id and manager not in user.groups_id:
                user.write({"groups_id": [fields.Command.unlink(group.id)]})
