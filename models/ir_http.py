from odoo import api, models


class IrHttp(models.AbstractModel):
    _inherit = "ir.http"

    def session_info(self):
        """Tell the web client what telephony the user has (call icons, card, line status)."""
        info = super().session_info()
        if self.env.user._is_internal():
            info["ip_telephony"] = self._telephony_session_info()
        return info

    @api.model
    def _telephony_session_info(self):
        user = self.env.user
        params = self.env["ir.config_parameter"].sudo()
        enabled = bool(params.get_param("ip_telephony.enabled"))
        tel_user = user._telephony_user() if enabled else self.env["telephony.user"]
        mode, count = self.env["res.groups"]._telephony_mask_policy(user)
        return {
            "enabled": enabled,
            "is_user": bool(tel_user),
            "is_manager": enabled and user.has_group("ip_telephony.group_telephony_manager"),
            "phone_fields": (
                self.env["telephony.callable.model"].telephony_phone_fields() if tel_user else {}
            ),
            "phone_state": tel_user.phone_state or False,
            "show_reminder": bool(params.get_param("ip_telephony.show_reminder")),
            # Changes at each login: the reminder shows once per login.
            "login_mark": self._telephony_login_mark() if tel_user else 0,
            "mask": {"mode": mode, "count": count},
            # The credentials themselves are read over RPC by the browser phone.
            "browser_calls": bool(tel_user.browser_calls),
        }

    @api.model
    def _telephony_login_mark(self):
        """The id of the user's last login record (res.users.log), or 0."""
        self.env.cr.execute(
            "SELECT max(id) FROM res_users_log WHERE create_uid = %s", (self.env.uid,)
        )
        return self.env.cr.fetchone()[0] or 0
