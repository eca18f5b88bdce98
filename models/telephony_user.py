import logging
import re
import secrets
import string
import unicodedata

from odoo import api, fields, models
from odoo.exceptions import AccessError, ValidationError

from ..telephony.webrtc import parse_ice_servers

_logger = logging.getLogger(__name__)

FIRST_EXTENSION = 101
PASSWORD_ALPHABET = string.ascii_letters + string.digits
PASSWORD_LENGTH = 20
# Port of the engine's WebSocket listener for browsers (engine option --ws-port).
DEFAULT_WS_PORT = 5066


def _slug(text):
    """ASCII login prefix from a name: 'Acme Ltd.' -> 'acme_ltd'."""
    ascii_text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")
    return slug[:24] or "tel"


def default_ws_url(server):
    """The engine's SIP-over-WebSocket listener on the SIP server's host (F16)."""
    host = f"[{server}]" if ":" in server else server
    return f"ws://{host}:{DEFAULT_WS_PORT}"


def generate_password():
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(PASSWORD_LENGTH))


class TelephonyUser(models.Model):
    """An Odoo user who places and takes calls (F7-F10)."""

    _name = "telephony.user"
    _description = "Telephony user"
    _order = "extension"
    _rec_name = "user_id"

    user_id = fields.Many2one("res.users", required=True, ondelete="cascade", index=True)
    active = fields.Boolean(default=True)
    extension = fields.Char(required=True, copy=False, default=lambda self: self._next_extension())
    sip_login = fields.Char("SIP login", readonly=True, copy=False, index=True)
    sip_password = fields.Char(
        "SIP password", copy=False, groups="ip_telephony.group_telephony_manager"
    )
    accept_incoming = fields.Boolean("Accept incoming calls", default=True)
    browser_calls = fields.Boolean("Calls in the browser")
    allow_international = fields.Boolean(
        help="May call other countries even when international calls are not allowed."
    )
    phone_state = fields.Selection(
        [("registered", "Registered"), ("unregistered", "Not registered")],
        default="unregistered",
        readonly=True,
        copy=False,
    )
    phone_user_agent = fields.Char(readonly=True, copy=False)

    _sql_constraints = [
        ("extension_unique", "unique(extension)", "This extension is already taken."),
        ("user_unique", "unique(user_id)", "This user is already a telephony user."),
        ("login_unique", "unique(sip_login)", "This SIP login is already taken."),
    ]

    @api.constrains("extension")
    def _check_extension(self):
        for tel_user in self:
            if not (tel_user.extension or "").isdigit() or not 2 <= len(tel_user.extension) <= 6:
                raise ValidationError(self.env._("An extension is 2 to 6 digits, such as 101."))

    @api.model
    def _login_prefix(self):
        prefix = self.env["ir.config_parameter"].sudo().get_param("ip_telephony.login_prefix")
        return prefix or _slug(self.env.company.name or self.env.cr.dbname)

    @api.model
    def _next_extension(self):
        taken = {
            int(ext)
            for ext in self.with_context(active_test=False).search([]).mapped("extension")
            if ext.isdigit()
        }
        extension = FIRST_EXTENSION
        while extension in taken:
            extension += 1
        return str(extension)

    @api.model_create_multi
    def create(self, vals_list):
        prefix = self._login_prefix()
        for vals in vals_list:
            if not vals.get("extension"):
                vals["extension"] = self._next_extension()
            vals.setdefault("sip_login", f"{prefix}_{vals['extension']}")
            vals.setdefault("sip_password", generate_password())
        tel_users = super().create(vals_list)
        tel_users._sync_group()
        self.env["telephony.engine"]._notify_config_changed()
        return tel_users

    def write(self, vals):
        if "user_id" in vals:
            raise ValidationError(
                self.env._("A telephony user cannot be moved to another Odoo user.")
            )
        result = super().write(vals)
        if {"active"} & set(vals):
            self._sync_group()
        if set(vals) - {"phone_state", "phone_user_agent"}:
            self.env["telephony.engine"]._notify_config_changed()
        return result

    def unlink(self):
        users = self.user_id
        result = super().unlink()
        users._telephony_sync_group()
        self.env["telephony.engine"]._notify_config_changed()
        return result

    def _sync_group(self):
        self.user_id._telephony_sync_group()

    def action_new_password(self):
        """Issue a new SIP password; the engine's registrar applies it live.

        For the owner and the telephony administrators only: anyone else
        could knock a colleague's phone off the line.
        """
        self._check_owner_or_manager()
        for tel_user in self:
            tel_user.sudo().sip_password = generate_password()
        return True

    def _check_owner_or_manager(self):
        """Refuse unless every record is the current user's or they administer telephony."""
        if self.env.su or self.env.user.has_group("ip_telephony.group_telephony_manager"):
            return
        if any(tel_user.user_id != self.env.user for tel_user in self.sudo()):
            raise AccessError(self.env._("You may only change or read your own phone settings."))

    def _engine_config(self):
        self.ensure_one()
        return {
            "login": self.sip_login,
            "password": self.sudo().sip_password or "",
            "extension": self.extension,
            "name": self.user_id.name,
            "accept_incoming": self.accept_incoming,
            "browser_calls": self.browser_calls,
        }

    @api.model
    def _apply_engine_state(self, event):
        tel_user = self.sudo().search([("sip_login", "=", event.data["login"])], limit=1)
        if not tel_user:
            return
        tel_user.write(
            {
                "phone_state": event.data["state"],
                "phone_user_agent": (event.data.get("user_agent") or "")[:120],
            }
        )
        tel_user.user_id._bus_send("ip_telephony.line/updated", {"phone": tel_user.phone_state})

    def softphone_settings(self):
        """What a desk phone or softphone needs to register (F10).

        Readable by the telephony user it belongs to and by administrators.
        """
        self.ensure_one()
        self._check_owner_or_manager()
        params = self.env["ir.config_parameter"].sudo()
        return {
            "server": params.get_param("ip_telephony.sip_server", "127.0.0.1"),
            "port": int(params.get_param("ip_telephony.sip_port", "5060")),
            "transport": params.get_param("ip_telephony.sip_transport", "udp"),
            "login": self.sip_login,
            "password": self.sudo().sip_password,
            "extension": self.extension,
            **self._browser_phone_settings(params),
        }

    def _browser_phone_settings(self, params):
        """What the browser phone needs (F16): nothing unless calls in the browser are on."""
        if not self.browser_calls:
            return {}
        server = params.get_param("ip_telephony.sip_server", "127.0.0.1")
        return {
            "browser_calls": True,
            "ws_url": params.get_param("ip_telephony.ws_url") or default_ws_url(server),
            "sip_uri": f"sip:{self.sip_login}@{server}",
            "ice_servers": self._ice_servers(params.get_param("ip_telephony.ice_servers")),
        }

    @staticmethod
    def _ice_servers(text):
        # Settings refuse a bad list; one written around them must not stop the phone.
        try:
            return parse_ice_servers(text)
        except ValueError as exc:
            _logger.warning("Ignoring the ICE servers for browsers: %s", exc)
            return []

    @api.model
    def browser_phone_settings(self):
        """The current user's browser phone registration (F16), else False.

        Only the owner gets it, and only with calls in the browser switched on.
        """
        if not self.env["ir.config_parameter"].sudo().get_param("ip_telephony.enabled"):
            return False
        tel_user = self.env.user._telephony_user()
        if not tel_user or not tel_user.browser_calls:
            return False
        return tel_user.softphone_settings()
