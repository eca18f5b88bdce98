from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..telephony.numbers import check_replace_rule

MAX_ACCOUNTS = 3
ENGINE_FIELDS = {
    "registration_state",
    "registration_code",
    "registration_reason",
    "registration_date",
}


class TelephonySipAccount(models.Model):
    """A SIP trunk at a provider (F2-F6). At most three; the first one by
    sequence places outgoing calls, all of them take incoming calls."""

    _name = "telephony.sip.account"
    _description = "SIP account"
    _order = "sequence, id"

    sequence = fields.Integer(default=10)
    name = fields.Char(compute="_compute_name", store=True)
    mode = fields.Selection(
        [
            ("provider", "Provider"),
            ("other", "Other"),
            ("extended", "Extended"),
        ],
        required=True,
        default="other",
        help="Provider: log in with a provider account. Other: user, password and domain. "
        "Extended: also the number and the host, when they differ from user and domain.",
    )
    provider = fields.Char(help="Name of the provider, in Provider mode.")
    balance = fields.Char(readonly=True, help="Account balance reported by the provider.")
    sip_user = fields.Char("User", required=True)
    password = fields.Char(groups="ip_telephony.group_telephony_manager", copy=False)
    domain = fields.Char(required=True, help="SIP domain (realm); may carry :port.")
    number = fields.Char(help="Number (SIP user of the From header); the user by default.")
    host = fields.Char(help="Registrar/proxy host, may carry :port; the domain by default.")
    replace_rule = fields.Char(
        "Auto-replace",
        help="N/M: N an extended regular expression, M its replacement, applied to the "
        "dialled number. Example: ^7/8 turns 79161234567 into 89161234567.",
    )
    registration_state = fields.Selection(
        [
            ("pending", "Waiting for an answer"),
            ("registered", "Registered"),
            ("failed", "Not registered"),
        ],
        default="pending",
        readonly=True,
        copy=False,
    )
    registration_code = fields.Integer(readonly=True, copy=False)
    registration_reason = fields.Char(readonly=True, copy=False)
    registration_date = fields.Datetime(readonly=True, copy=False)

    @api.depends("sip_user", "domain")
    def _compute_name(self):
        for account in self:
            account.name = f"{account.sip_user or ''}@{account.domain or ''}"

    @api.constrains("replace_rule")
    def _check_replace_rule(self):
        for account in self.filtered("replace_rule"):
            try:
                check_replace_rule(account.replace_rule)
            except ValueError as exc:
                raise ValidationError(
                    self.env._(
                        "The auto-replace rule %(rule)s is not valid: %(error)s",
                        rule=account.replace_rule,
                        error=exc,
                    )
                ) from None

    @api.constrains("domain", "host")
    def _check_host_port(self):
        for account in self:
            for value in (account.domain, account.host):
                if value and (" " in value.strip() or value.count(":") > 1):
                    raise ValidationError(
                        self.env._(
                            "%(value)s is not a host name with an optional :port.", value=value
                        )
                    )
                if value and ":" in value:
                    port = value.rsplit(":", 1)[1]
                    if not port.isdigit() or not 0 < int(port) < 65536:
                        raise ValidationError(
                            self.env._("%(value)s has an invalid port.", value=value)
                        )

    @api.model_create_multi
    def create(self, vals_list):
        if self.search_count([]) + len(vals_list) > MAX_ACCOUNTS:
            raise ValidationError(
                self.env._("At most %(count)s SIP accounts can be configured.", count=MAX_ACCOUNTS)
            )
        self._check_engine_fields(vals_list)
        accounts = super().create(vals_list)
        self.env["telephony.engine"]._notify_config_changed()
        return accounts

    def write(self, vals):
        self._check_engine_fields([vals])
        result = super().write(vals)
        if set(vals) - ENGINE_FIELDS - {"balance"}:
            self.env["telephony.engine"]._notify_config_changed()
        return result

    def unlink(self):
        result = super().unlink()
        self.env["telephony.engine"]._notify_config_changed()
        return result

    def _check_engine_fields(self, vals_list):
        """Registration state is the engine's word; nobody else may write it."""
        if self.env.context.get("telephony_engine_event"):
            return
        for vals in vals_list:
            if ENGINE_FIELDS & set(vals):
                raise UserError(
                    self.env._("The registration state is reported by the engine only.")
                )

    def _engine_config(self):
        self.ensure_one()
        return {
            "id": self.id,
            "sequence": self.sequence,
            "user": self.sip_user,
            "password": self.sudo().password or "",
            "domain": self.domain,
            "host": self.host or self.domain,
            "number": self.number or self.sip_user,
            "replace": self.replace_rule or "",
        }

    @api.model
    def _apply_engine_state(self, event):
        account = self.sudo().browse(event.data["account_id"]).exists()
        if not account:
            return
        account.with_context(telephony_engine_event=True).write(
            {
                "registration_state": event.data["state"],
                "registration_code": event.data.get("code") or 0,
                "registration_reason": (event.data.get("reason") or "")[:200],
                "registration_date": fields.Datetime.now(),
            }
        )
        payload = account._line_status()
        self.env.ref("ip_telephony.group_telephony_user")._bus_send(
            "ip_telephony.line/updated", {"trunks": payload}
        )

    @api.model
    def telephony_line_status(self):
        """Trunk states, the engine and the user's phone for the line status (F4).

        Readable by telephony users: only names, states and reasons, never
        credentials.
        """
        accounts = self.search([])
        engine = self.env["telephony.engine"].sudo().search([], limit=1)
        tel_user = self.env.user._telephony_user()
        return {
            "trunks": accounts._line_status(),
            "engine": engine.state if engine else "offline",
            "phone": tel_user.phone_state or False,
        }

    def _line_status(self):
        return [
            {
                "id": account.id,
                "name": account.name,
                "state": account.registration_state,
                "reason": account.registration_reason or "",
            }
            for account in self
        ]

    def _dial_plan(self):
        """The number rules of the settings with this trunk's auto-replace rule."""
        self.ensure_one()
        return self.env["res.config.settings"]._telephony_dial_plan(self.replace_rule)
