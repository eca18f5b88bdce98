import base64
import hashlib
import logging
import re

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import AccessError, ValidationError
from odoo.tools import ormcache

from ..telephony.audio import greeting_to_wav
from ..telephony.numbers import DialPlan, DialRefused, PhonePattern, prepare_in_country
from ..telephony.webrtc import parse_ice_servers

_logger = logging.getLogger(__name__)

PARAM = "ip_telephony.%s"
DIRECTIONS = ("local", "national", "mobile", "international")
# Written when telephony is enabled, so a fresh start has sensible rules.
DEFAULT_PARAMS = {
    "ring_time": "15",
    "forward_ring_time": "15",
    "allow_local": "True",
    "allow_national": "True",
    "allow_mobile": "True",
    "allow_international": "True",
    "show_reminder": "True",
    "purge_days": "30",
    "card_fields": "email,user_id,function",
}
# The greeting an administrator uploads (F29): an mp3 of at most this much.
GREETING_MAX_SECONDS = 60
GREETING_MAX_BYTES = 5 * 1024 * 1024


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    telephony_enabled = fields.Boolean(
        "IP telephony enabled", config_parameter="ip_telephony.enabled", readonly=True
    )
    telephony_odoo_url = fields.Char(
        "Callback address",
        config_parameter="ip_telephony.odoo_url",
        help="The address at which the engine reaches this Odoo (F28).",
    )
    telephony_ring_time = fields.Integer(
        "Ring time (s)", config_parameter="ip_telephony.ring_time", default=15
    )
    telephony_forward_number = fields.Char(
        "Forward on no answer", config_parameter="ip_telephony.forward_number"
    )
    telephony_forward_ring_time = fields.Integer(
        "Forward ring time (s)",
        config_parameter="ip_telephony.forward_ring_time",
        default=15,
        help="How long the forward number rings before the call counts as missed.",
    )
    # Chosen from the list of countries; stored as its code in the region parameter.
    telephony_country_id = fields.Many2one(
        "res.country",
        "Country",
        help="Country of the office: numbers without a country code are read in its habits.",
    )
    telephony_region = fields.Char(
        "Country code",
        config_parameter="ip_telephony.region",
        help="Two-letter country of the office (RU, DE, US…); numbers are read in its habits.",
    )
    telephony_city_code = fields.Char(
        "Default prefix",
        config_parameter="ip_telephony.city_code",
        help="City code added to short local numbers, e.g. 495 (F18).",
    )
    telephony_exit_prefix = fields.Char(
        "International prefix",
        config_parameter="ip_telephony.exit_prefix",
        help="Dialled before international numbers, e.g. 810 (F19).",
    )
    telephony_banned_codes = fields.Char(
        "Banned codes",
        config_parameter="ip_telephony.banned_codes",
        help="Comma-separated, e.g. +7, 8: calls to them are refused (F20).",
    )
    telephony_local_length = fields.Integer(
        "Local number length", config_parameter="ip_telephony.local_length", help="F21"
    )
    telephony_patterns = fields.Char(
        "Extra rules",
        config_parameter="ip_telephony.patterns",
        help="Comma-separated patterns such as _8XXXXXXXXXX (F22).",
    )
    telephony_allow_local = fields.Boolean("Local", config_parameter="ip_telephony.allow_local")
    telephony_allow_national = fields.Boolean(
        "Long distance", config_parameter="ip_telephony.allow_national"
    )
    telephony_allow_mobile = fields.Boolean("Mobile", config_parameter="ip_telephony.allow_mobile")
    telephony_allow_international = fields.Boolean(
        "International", config_parameter="ip_telephony.allow_international"
    )
    telephony_purge = fields.Boolean(
        "Delete old calls",
        config_parameter="ip_telephony.purge",
        help="Delete call records older than the retention period (F26).",
    )
    telephony_purge_days = fields.Integer(
        "Retention (days)", config_parameter="ip_telephony.purge_days", default=30
    )
    telephony_recording_days = fields.Integer(
        "Recording retention (days)",
        config_parameter="ip_telephony.recording_days",
        help="Delete recordings older than this many days and keep the call records; "
        "0 keeps them (F26, B7).",
    )
    telephony_show_reminder = fields.Boolean(
        "Remind to keep the window open", config_parameter="ip_telephony.show_reminder"
    )
    telephony_login_prefix = fields.Char(
        "SIP login prefix", config_parameter="ip_telephony.login_prefix"
    )
    telephony_card_fields = fields.Char(
        "Call card fields",
        config_parameter="ip_telephony.card_fields",
        help="Comma-separated contact fields shown on the call card (F14).",
    )
    # The same, picked from the contact's fields in the order they are shown.
    telephony_card_field_ids = fields.Many2many(
        "ir.model.fields",
        string="Fields on the call card",
        compute="_compute_telephony_card_field_ids",
        inverse="_inverse_telephony_card_field_ids",
        domain=[
            ("model", "=", "res.partner"),
            ("ttype", "not in", ("binary", "json", "html", "properties", "properties_definition")),
        ],
        help="Contact fields shown on the call card, in this order.",
    )
    telephony_engine_command = fields.Text(
        "Engine start command",
        compute="_compute_telephony_engine_command",
        help="How to start the bundled engine so that it reaches this Odoo at the callback "
        "address (the secret goes into the file it names).",
    )
    telephony_sip_server = fields.Char(
        "SIP server for phones",
        config_parameter="ip_telephony.sip_server",
        help="Host name that desk phones and softphones register to.",
    )
    telephony_ws_url = fields.Char(
        "WebSocket address for browsers",
        config_parameter="ip_telephony.ws_url",
        help="Where browsers with calls in the browser register (F16), e.g. "
        "wss://pbx.example.com:5066. Empty: ws:// on the SIP server, port 5066.",
    )
    telephony_ice_servers = fields.Text(
        "ICE servers for browsers",
        compute="_compute_telephony_ice_servers",
        inverse="_inverse_telephony_ice_servers",
        help="STUN or TURN servers for browsers outside the engine's network (F16), one per "
        "line: stun:host:port, or turns:host:443?transport=tcp USER PASSWORD. "
        "Empty on the office network.",
    )
    telephony_auto_enrol_group_ids = fields.Many2many(
        "res.groups",
        string="Auto-enrolment groups",
        compute="_compute_telephony_auto_enrol_group_ids",
        inverse="_inverse_telephony_auto_enrol_group_ids",
    )
    telephony_greeting = fields.Binary(
        "Greeting",
        attachment=False,  # kept as ir.attachment by set_values, not per settings record
        help="An mp3 the caller hears to its end before the phones ring (F13, F29); "
        "at most 60 seconds and 5 MB.",
    )
    telephony_greeting_name = fields.Char("Greeting file name")
    telephony_try_number = fields.Char("Try a number")
    telephony_try_country_id = fields.Many2one(
        "res.country",
        "Written in",
        help="The country the number is written in, as on a contact of that country; "
        "empty: the region of the number rules.",
    )
    telephony_try_result = fields.Html("Result", compute="_compute_telephony_try_result")

    def _compute_telephony_ice_servers(self):
        text = self.env["ir.config_parameter"].sudo().get_param("ip_telephony.ice_servers", "")
        for settings in self:
            settings.telephony_ice_servers = text

    def _inverse_telephony_ice_servers(self):
        for settings in self:
            text = (settings.telephony_ice_servers or "").strip()
            try:
                parse_ice_servers(text)
            except ValueError as exc:
                raise ValidationError(
                    self.env._("ICE servers for browsers: %(error)s", error=exc)
                ) from None
            self.env["ir.config_parameter"].sudo().set_param("ip_telephony.ice_servers", text)

    @api.depends("telephony_odoo_url")
    def _compute_telephony_engine_command(self):
        engine = self.env["telephony.engine"].sudo().search([], limit=1)
        for settings in self:
            # The address being typed shows in the command before it is saved.
            settings.telephony_engine_command = (
                engine._start_command(settings.telephony_odoo_url) if engine else False
            )

    def _compute_telephony_card_field_ids(self):
        picked = self._telephony_card_field_records()
        for settings in self:
            settings.telephony_card_field_ids = picked

    def _telephony_card_field_records(self):
        """The contact fields of the card parameter, in its order."""
        names = self._telephony_card_fields()
        by_name = {
            field.name: field.id
            for field in self.env["ir.model.fields"]
            .sudo()
            .search([("model", "=", "res.partner"), ("name", "in", names)])
        }
        return self.env["ir.model.fields"].browse(
            [by_name[name] for name in names if name in by_name]
        )

    def _inverse_telephony_card_field_ids(self):
        # Saved by set_values with the other parameters, in the order picked.
        for settings in self:
            picked = settings.telephony_card_field_ids.filtered(
                lambda field: field.model == "res.partner"
            )
            # "-": no field at all (an empty parameter would mean the defaults).
            settings.telephony_card_fields = ",".join(picked.mapped("name")) or "-"

    def _compute_telephony_auto_enrol_group_ids(self):
        groups = self.env["res.groups"].search([("telephony_auto_enrol", "=", True)])
        for settings in self:
            settings.telephony_auto_enrol_group_ids = groups

    def _inverse_telephony_auto_enrol_group_ids(self):
        for settings in self:
            ticked = settings.telephony_auto_enrol_group_ids
            current = self.env["res.groups"].search([("telephony_auto_enrol", "=", True)])
            (current - ticked).telephony_auto_enrol = False
            (ticked - current).telephony_auto_enrol = True

    @api.depends("telephony_try_number", "telephony_try_country_id")
    def _compute_telephony_try_result(self):
        for settings in self:
            settings.telephony_try_result = (
                settings._telephony_try_number_html(
                    settings.telephony_try_number, settings.telephony_try_country_id.code
                )
                if settings.telephony_try_number
                else False
            )

    @api.constrains(
        "telephony_patterns",
        "telephony_local_length",
        "telephony_ring_time",
        "telephony_forward_ring_time",
        "telephony_region",
        "telephony_city_code",
        "telephony_exit_prefix",
        "telephony_banned_codes",
    )
    def _check_telephony_rules(self):
        for settings in self:
            try:
                DialPlan(
                    region=(settings.telephony_region or "RU").upper(),
                    city_code=settings.telephony_city_code or "",
                    exit_prefix=settings.telephony_exit_prefix or "",
                    banned_codes=_split(settings.telephony_banned_codes),
                )
            except ValueError as exc:
                raise ValidationError(
                    self.env._("The number rules are not valid: %(error)s", error=exc)
                ) from None
            for pattern in _split(settings.telephony_patterns):
                try:
                    PhonePattern(pattern)
                except ValueError as exc:
                    raise ValidationError(
                        self.env._(
                            "The rule %(rule)s is not valid: %(error)s", rule=pattern, error=exc
                        )
                    ) from None
            if settings.telephony_local_length and not 3 <= settings.telephony_local_length <= 12:
                raise ValidationError(self.env._("A local number has 3 to 12 digits."))
            if settings.telephony_ring_time and not 5 <= settings.telephony_ring_time <= 300:
                raise ValidationError(self.env._("The ring time is between 5 and 300 seconds."))
            forward_ring = settings.telephony_forward_ring_time
            if forward_ring and not 5 <= forward_ring <= 60:
                raise ValidationError(
                    self.env._("The forward number's ring time is between 5 and 60 seconds.")
                )

    @api.constrains("telephony_purge_days", "telephony_recording_days")
    def _check_telephony_retention(self):
        for settings in self:
            if settings.telephony_purge and settings.telephony_purge_days < 1:
                raise ValidationError(self.env._("Calls are kept at least one day."))
            if settings.telephony_recording_days < 0:
                raise ValidationError(
                    self.env._("The recording retention is a number of days, or 0 to keep them.")
                )

    @api.constrains("telephony_ws_url")
    def _check_telephony_ws_url(self):
        for settings in self:
            url = (settings.telephony_ws_url or "").strip()
            if url and not re.fullmatch(r"wss?://[^\s/]+(/\S*)?", url):
                raise ValidationError(
                    self.env._(
                        "The WebSocket address starts with ws:// or wss://, "
                        "such as wss://pbx.example.com:5066."
                    )
                )

    @api.model
    def get_values(self):
        res = super().get_values()
        mp3 = self._telephony_greeting_attachment("mp3")
        res["telephony_greeting"] = mp3.with_context(bin_size=False).datas if mp3 else False
        res["telephony_greeting_name"] = mp3.name if mp3 else False
        # A default, so that a settings record created without it keeps the fields.
        res["telephony_card_field_ids"] = [
            fields.Command.set(self.browse()._telephony_card_field_records().ids)
        ]
        code = (self._telephony_param("region") or "").strip().upper()
        if code:
            res["telephony_country_id"] = (
                self.env["res.country"].search([("code", "=", code)], limit=1).id
            )
        return res

    def set_values(self):
        # Public, so callable over RPC on an empty record set: without this
        # check any user could blank the settings (Odoo checks in execute()).
        if not self.env.is_admin():
            raise AccessError(self.env._("Only administrators can change the settings."))
        numbering = self._telephony_numbering()
        for settings in self:
            country_code = settings.telephony_country_id.code
            if country_code and country_code != (settings.telephony_region or "").upper():
                settings.telephony_region = country_code
        result = super().set_values()
        self._telephony_set_greeting(self.telephony_greeting, self.telephony_greeting_name)
        if self._telephony_numbering() != numbering and self._telephony_param("enabled"):
            # Stored numbers were normalised with the old country or city code.
            self.env["telephony.callable.model"].sudo()._telephony_reindex_all()
        self.env["telephony.engine"]._notify_config_changed()
        return result

    @api.model
    def _telephony_numbering(self):
        return (self._telephony_param("region"), self._telephony_param("city_code"))

    # ------------------------------------------------------------------
    # Enable / disable (F30)
    # ------------------------------------------------------------------

    def action_telephony_enable(self):
        self.env["res.config.settings"]._telephony_enable()
        return {"type": "ir.actions.client", "tag": "reload"}

    def action_telephony_disable(self):
        self.env["res.config.settings"]._telephony_disable()
        return {"type": "ir.actions.client", "tag": "reload"}

    @api.model
    def _telephony_enable(self, admin_id=None):
        """Start telephony: defaults, an engine, and the admin as user 101.

        Telephony users kept from an earlier time get new passwords; their
        logins stay, so their phones only need the new password.
        """
        self.env["telephony.user"].check_access("create")
        params = self.env["ir.config_parameter"].sudo()
        if not params.get_param(PARAM % "enabled"):
            for key, value in DEFAULT_PARAMS.items():
                params.set_param(PARAM % key, params.get_param(PARAM % key) or value)
        if not params.get_param(PARAM % "region"):
            params.set_param(PARAM % "region", self.env.company.country_id.code or "RU")
        params.set_param(PARAM % "enabled", "True")
        engines = self.env["telephony.engine"].sudo()
        if not engines.search([], limit=1):
            engines.create({})
        tel_users = self.env["telephony.user"].sudo().with_context(active_test=False).search([])
        tel_users.action_new_password()
        admin = self.env["res.users"].browse(admin_id) if admin_id else self.env.user
        if not admin._telephony_user():
            self.env["telephony.user"].sudo().create({"user_id": admin.id})
        self.env["res.users"].sudo().search([])._telephony_auto_enrol()
        self.env["telephony.callable.model"].sudo()._telephony_reindex_all()
        _logger.info("IP telephony enabled by user %s", self.env.uid)

    @api.model
    def _telephony_disable(self):
        """Delete accounts, calls with their recordings, and settings (F30)."""
        self.env["telephony.sip.account"].check_access("unlink")
        calls = self.env["telephony.call"].sudo().with_context(active_test=False).search([])
        attachments = (
            self.env["ir.attachment"]
            .sudo()
            .search([("res_model", "=", "telephony.call"), ("res_id", "in", calls.ids)])
        )
        attachments.unlink()
        calls.unlink()
        self.env["telephony.sip.account"].sudo().search([]).unlink()
        self.env["telephony.event"].sudo().search([]).unlink()
        self.env["telephony.command"].sudo().search([]).unlink()
        self.env["res.groups"].sudo().search(
            [("telephony_auto_enrol", "=", True)]
        ).telephony_auto_enrol = False
        self._telephony_set_greeting(False)
        self.env["ir.config_parameter"].sudo().search([("key", "=like", "ip_telephony.%")]).unlink()
        _logger.info("IP telephony disabled by user %s", self.env.uid)

    # ------------------------------------------------------------------
    # Read by the models and the engine
    # ------------------------------------------------------------------

    @api.model
    def _telephony_param(self, key, default=None):
        return self.env["ir.config_parameter"].sudo().get_param(PARAM % key, default)

    @api.model
    def _telephony_refusal_message(self, refusal):
        """A number-rule refusal (``DialRefused``) in the user's language."""
        params = refusal.params
        messages = {
            "empty": lambda: self.env._("The phone number is empty."),
            "invalid": lambda: self.env._(
                "%(number)s is not a valid phone number.", number=params.get("number")
            ),
            "local_length": lambda: self.env._(
                "Local numbers must have %(digits)s digits.", digits=params.get("digits")
            ),
            "banned": lambda: self.env._(
                "Calls to %(code)s are not allowed.", code=params.get("code")
            ),
            "direction_local": lambda: self.env._("Local calls are not allowed."),
            "direction_national": lambda: self.env._("Long-distance calls are not allowed."),
            "direction_mobile": lambda: self.env._("Calls to mobile numbers are not allowed."),
            "direction_international": lambda: self.env._("International calls are not allowed."),
            "replace_empty": lambda: self.env._(
                "The trunk's replace rule leaves nothing to dial for %(number)s.",
                number=params.get("number"),
            ),
            "pattern": lambda: self.env._(
                "%(number)s does not match the dial patterns of this line.",
                number=params.get("number"),
            ),
        }
        message = messages.get(refusal.code)
        return message() if message else refusal.message

    @api.model
    def _telephony_dial_plan(self, replace_rule=None):
        """The number rules of the settings, with a trunk's auto-replace rule.

        Plans are cached per settings: each keeps its own cache of prepared
        numbers, which makes repeated numbers nearly free.
        """
        get = self._telephony_param
        key = (
            (get("region") or self.env.company.country_id.code or "RU").upper(),
            get("city_code") or "",
            get("exit_prefix") or "",
            tuple(_split(get("banned_codes"))),
            int(get("local_length") or 0) or None,
            tuple(_split(get("patterns"))),
            frozenset(d for d in DIRECTIONS if get(f"allow_{d}")),
            replace_rule or "",
        )
        return self._telephony_plan(key)

    @api.model
    @ormcache("key")
    def _telephony_plan(self, key):
        region, city, exit_prefix, banned, local_length, patterns, directions, replace = key
        return DialPlan(
            region=region,
            city_code=city,
            exit_prefix=exit_prefix,
            banned_codes=banned,
            local_length=local_length,
            patterns=patterns,
            allowed_directions=directions,
            replace=replace,
        )

    @api.model
    def _telephony_try_number_html(self, number, region=None):
        """E.164 form, direction, dial string per trunk and the matching contact.

        ``region``: the country the number is written in (a contact's), if
        not the plan's.
        """
        try:
            result = prepare_in_country(
                number, self._telephony_dial_plan(), region, allow_international=True
            )
        except DialRefused as exc:
            return Markup('<p class="text-danger">%s</p>') % self._telephony_refusal_message(exc)
        partner = self.env["res.partner"]._telephony_match(result.e164)
        rows = [
            (self.env._("E.164"), result.e164),
            (
                self.env._("Direction"),
                dict(self._telephony_direction_labels()).get(result.direction, ""),
            ),
            (self.env._("Contact"), partner.display_name or self.env._("none")),
        ]
        for account in self.env["telephony.sip.account"].search([]):
            try:
                dial = prepare_in_country(
                    number, account._dial_plan(), region, allow_international=True
                ).dial
            except DialRefused as exc:
                dial = self._telephony_refusal_message(exc)
            rows.append((self.env._("Dial via %(account)s", account=account.name), dial))
        body = Markup("").join(
            Markup("<tr><th>%s</th><td>%s</td></tr>") % (label, value) for label, value in rows
        )
        return Markup('<table class="table table-sm">%s</table>') % body

    @api.model
    def _telephony_direction_labels(self):
        return [
            ("local", self.env._("Local")),
            ("national", self.env._("Long distance")),
            ("mobile", self.env._("Mobile")),
            ("international", self.env._("International")),
        ]

    @api.model
    def _telephony_card_fields(self):
        return _split(self._telephony_param("card_fields") or DEFAULT_PARAMS["card_fields"])

    @api.model
    def _telephony_engine_settings(self):
        get = self._telephony_param
        forward = get("forward_number") or ""
        forward_dial = ""
        if forward:
            # The engine forwards through the first trunk: its auto-replace rule applies.
            first = self.env["telephony.sip.account"].sudo().search([], limit=1)
            plan = first._dial_plan() if first else self._telephony_dial_plan()
            try:
                forward_dial = plan.prepare(forward, allow_international=True).dial
            except DialRefused:
                forward_dial = ""
        greeting = self._telephony_greeting_attachment("wav")
        return {
            "enabled": bool(get("enabled")),
            "ring_time": int(get("ring_time") or 15),
            "forward_ring_time": int(get("forward_ring_time") or 15),
            "forward_number": forward,
            "forward_dial": forward_dial,
            "greeting_url": "/telephony/engine/greeting" if greeting else None,
            "greeting_version": self._telephony_greeting_version() if greeting else None,
            "recording": True,
        }

    # ------------------------------------------------------------------
    # Greeting (F13, F29)
    # ------------------------------------------------------------------

    @api.model
    def _telephony_greeting_attachment(self, kind):
        """The stored greeting: the uploaded ``mp3`` or its ``wav`` for the engine."""
        attachment_id = self._telephony_param(f"greeting_{kind}_id")
        if not attachment_id or not attachment_id.isdigit():
            return self.env["ir.attachment"]
        return self.env["ir.attachment"].sudo().browse(int(attachment_id)).exists()

    @api.model
    def _telephony_greeting_version(self):
        return self._telephony_param("greeting_version") or ""

    @api.model
    def _telephony_set_greeting(self, data, filename=None):
        """Keep the uploaded mp3 (base64 ``data``) and its WAV, converted once.

        An unchanged upload is left alone; an empty one removes the greeting.
        Raises ValidationError when the file cannot be a greeting.
        """
        params = self.env["ir.config_parameter"].sudo()
        current = self._telephony_greeting_attachment("mp3")
        raw = base64.b64decode(data) if data else b""
        if raw and current and current.checksum == hashlib.sha1(raw).hexdigest():
            return
        if not raw and not current:
            return
        wav = b""
        if raw:
            try:
                wav = greeting_to_wav(raw, GREETING_MAX_SECONDS, GREETING_MAX_BYTES)
            except ValueError as exc:
                raise ValidationError(
                    self.env._("This greeting cannot be used: %(reason)s", reason=str(exc))
                ) from None
        (current | self._telephony_greeting_attachment("wav")).unlink()
        for key in ("greeting_mp3_id", "greeting_wav_id", "greeting_version"):
            params.set_param(PARAM % key, False)
        if raw:
            attachments = self.env["ir.attachment"].sudo()
            mp3 = attachments.create(
                {"name": filename or "greeting.mp3", "raw": raw, "mimetype": "audio/mpeg"}
            )
            converted = attachments.create(
                {"name": "greeting-8khz.wav", "raw": wav, "mimetype": "audio/wav"}
            )
            params.set_param(PARAM % "greeting_mp3_id", str(mp3.id))
            params.set_param(PARAM % "greeting_wav_id", str(converted.id))
            params.set_param(PARAM % "greeting_version", converted.checksum[:16])
            _logger.info("Telephony greeting replaced by user %s", self.env.uid)
        self.env["telephony.engine"]._notify_config_changed()


def _split(text):
    return [part.strip() for part in (text or "").split(",") if part.strip()]
