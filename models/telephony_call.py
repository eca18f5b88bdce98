import logging
import time
from datetime import datetime, timezone

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError

from ..telephony.numbers import DialRefused

_logger = logging.getLogger(__name__)

# A late event never moves a call backwards (docs/engine-protocol.md, "Order").
STATE_RANK = {"new": 0, "ringing": 1, "talking": 2, "ended": 3}
EVENT_STATE = {
    "call.created": "new",
    "call.ringing": "ringing",
    "call.dialing": "ringing",
    "call.answered": "ringing",
    "call.bridged": "talking",
    "call.forwarded": "talking",
    "call.ended": "ended",
}
MAX_NUMBER_LENGTH = 64


def _utc(timestamp):
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).replace(tzinfo=None)


class TelephonyCall(models.Model):
    """One call, outgoing or incoming, as the engine reported it (F24)."""

    _name = "telephony.call"
    _description = "Call"
    _inherit = ["mail.thread"]
    _order = "start_date desc, id desc"
    _rec_name = "number"

    engine_call_id = fields.Char("Engine call id", readonly=True, copy=False, index=True)
    direction = fields.Selection(
        [("outbound", "Outgoing"), ("inbound", "Incoming")], required=True, readonly=True
    )
    state = fields.Selection(
        [("new", "Dialling"), ("ringing", "Ringing"), ("talking", "Talking"), ("ended", "Ended")],
        default="new",
        required=True,
        readonly=True,
        tracking=True,
    )
    outcome = fields.Selection(
        [
            ("answered", "Answered"),
            ("no_answer", "No answer"),
            ("busy", "Busy"),
            ("failed", "Failed"),
            ("cancelled", "Cancelled"),
            ("forwarded", "Forwarded"),
        ],
        readonly=True,
    )
    outcome_reason = fields.Char(readonly=True)
    number = fields.Char(readonly=True, help="The number as dialled or as received.")
    number_e164 = fields.Char("Number (E.164)", readonly=True, index=True)
    dial_string = fields.Char(readonly=True)
    user_id = fields.Many2one("res.users", readonly=True, index=True)
    ringing_user_ids = fields.Many2many(
        "res.users", string="Rang", readonly=True, relation="telephony_call_ringing_user_rel"
    )
    partner_id = fields.Many2one("res.partner", "Contact", index=True, ondelete="set null")
    res_model = fields.Char("Placed from model", readonly=True)
    res_id = fields.Many2oneReference("Placed from record", model_field="res_model", readonly=True)
    account_id = fields.Many2one(
        "telephony.sip.account", "Trunk", readonly=True, ondelete="set null"
    )
    start_date = fields.Datetime(readonly=True, default=fields.Datetime.now, index=True)
    answer_date = fields.Datetime(readonly=True)
    end_date = fields.Datetime(readonly=True)
    duration = fields.Integer(compute="_compute_duration", store=True, help="Talk time in seconds.")
    forwarded_to = fields.Char(readonly=True)
    recording_id = fields.Many2one("ir.attachment", readonly=True, ondelete="set null")
    note = fields.Text()
    last_event_at = fields.Float(readonly=True)

    _sql_constraints = [
        ("engine_call_id_unique", "unique(engine_call_id)", "A call is logged once."),
    ]

    @api.depends("answer_date", "end_date")
    def _compute_duration(self):
        for call in self:
            if call.answer_date and call.end_date and call.end_date >= call.answer_date:
                call.duration = round((call.end_date - call.answer_date).total_seconds())
            else:
                call.duration = 0

    # ------------------------------------------------------------------
    # Click-to-call (F12)
    # ------------------------------------------------------------------

    @api.model
    def dial(self, number, res_model=None, res_id=None):
        """Place a click-to-call: ring the user's phone, then the client.

        Checks the user's rights and the number rules, logs the call and
        queues the command for the engine. Returns the new call's id.
        """
        tel_user = self.env.user._telephony_user()
        if not tel_user:
            raise AccessError(self.env._("Only telephony users can place calls."))
        if not isinstance(number, str) or not number.strip():
            raise UserError(self.env._("There is no number to call."))
        if len(number) > MAX_NUMBER_LENGTH:
            raise UserError(self.env._("This is not a phone number."))
        account = self.env["telephony.sip.account"].sudo().search([], limit=1)
        if not account:
            raise UserError(self.env._("No SIP account is configured: ask your administrator."))
        partner = self._dial_target(res_model, res_id)
        try:
            prepared = account._dial_plan().prepare(
                number, allow_international=tel_user.sudo().allow_international
            )
        except DialRefused as exc:
            raise UserError(exc.message) from None
        call = self.sudo().create(
            {
                "direction": "outbound",
                "number": number.strip(),
                "number_e164": prepared.e164,
                "dial_string": prepared.dial,
                "user_id": self.env.uid,
                "account_id": account.id,
                "partner_id": partner.id,
                "res_model": res_model if partner or res_model else False,
                "res_id": res_id or False,
            }
        )
        self.env["telephony.engine"]._queue_command(
            "dial",
            {
                "login": tel_user.sip_login,
                "number": prepared.e164,
                "dial": prepared.dial,
                "account_id": account.id,
                "caller_name": partner.display_name or "",
            },
            call=call,
        )
        call._push_card()
        return call.id

    @api.model
    def dial_field(self, res_model, res_id, field_name):
        """Call the number stored in a phone field of a record (F11, F27).

        For users whose groups mask numbers: the web client only has the
        masked value, so the number is read here, never sent to the browser.
        """
        phone_fields = self.env["telephony.callable.model"].telephony_phone_fields()
        if field_name not in phone_fields.get(res_model, []):
            raise UserError(self.env._("This field is not a phone field that can be called."))
        if not isinstance(res_id, int) or isinstance(res_id, bool):
            raise UserError(self.env._("The call was placed from an unknown record."))
        record = self.env[res_model].browse(res_id).exists()
        if not record:
            raise UserError(self.env._("This record no longer exists."))
        record.check_access("read")
        # sudo: the user may read the record; only the digits may be hidden from them.
        number = record.sudo()[field_name]
        return self.dial(number or "", res_model, res_id)

    @api.model
    def _dial_target(self, res_model, res_id):
        """The contact behind the record the call was placed from, if readable."""
        if not res_model or not res_id:
            return self.env["res.partner"]
        if res_model not in self.env or not isinstance(res_id, int):
            raise UserError(self.env._("The call was placed from an unknown record."))
        record = self.env[res_model].browse(res_id).exists()
        if not record:
            return self.env["res.partner"]
        record.check_access("read")
        if res_model == "res.partner":
            return record
        partner_field = record._fields.get("partner_id")
        if partner_field and partner_field.comodel_name == "res.partner":
            return record.partner_id
        return self.env["res.partner"]

    def _end_undelivered(self):
        """End calls whose command the engine never picked up in time."""
        for call in self.filtered(lambda c: c.state != "ended"):
            call.write(
                {
                    "state": "ended",
                    "outcome": "failed",
                    "outcome_reason": self.env._("The telephony engine is unreachable."),
                    "end_date": fields.Datetime.now(),
                }
            )
            call._push_card()

    # ------------------------------------------------------------------
    # Engine events
    # ------------------------------------------------------------------

    @api.model
    def _apply_engine_event(self, engine, event):
        call = self._find_or_create_for_event(event)
        call._merge_event(event)
        call._push_card()

    @api.model
    def _find_or_create_for_event(self, event):
        calls = self.sudo()
        call = calls.search([("engine_call_id", "=", event.call_id)], limit=1)
        dialled = calls.browse(event.data.get("odoo_call_id") or []).exists()
        if call and dialled and dialled != call and not dialled.engine_call_id:
            return call._fold_into(dialled)
        if call:
            return call
        odoo_call_id = event.data.get("odoo_call_id")
        if odoo_call_id:
            call = calls.browse(odoo_call_id).exists()
            if call and not call.engine_call_id:
                call.engine_call_id = event.call_id
                return call
        # A call we have not heard of (its first events were lost, or Odoo was
        # down): log it anyway, so no call goes missing.
        number = (event.data.get("number") or "")[:MAX_NUMBER_LENGTH]
        values = {
            "engine_call_id": event.call_id,
            "direction": event.data.get("direction") or "inbound",
            "number": number,
            "start_date": _utc(event.at),
            "account_id": self.env["telephony.sip.account"]
            .sudo()
            .browse(event.data.get("account_id") or [])
            .exists()
            .id,
        }
        if number:
            values["number_e164"] = self.env["res.partner"]._telephony_normalize(number)
            values["partner_id"] = (
                self.env["res.partner"]._telephony_match(values["number_e164"]).id
            )
        return calls.create(values)

    def _fold_into(self, dialled):
        """Replace this stand-in by the call Odoo placed, replaying its events.

        Later events of a click-to-call can arrive before the one naming
        the Odoo call; they made a stand-in record, which gives way here.
        """
        self.ensure_one()
        call_ref = self.engine_call_id
        self.unlink()
        dialled.engine_call_id = call_ref
        journal = (
            self.env["telephony.event"]
            .sudo()
            .search([("call_ref", "=", call_ref)], order="occurred_at, seq")
        )
        for entry in journal:
            dialled._merge_event(entry._as_event())
        return dialled

    def _merge_event(self, event):
        """Fold one event into the call, whatever order events arrive in."""
        self.ensure_one()
        values = {}
        new_state = EVENT_STATE[event.type]
        if STATE_RANK[new_state] > STATE_RANK[self.state]:
            values["state"] = new_state
        if event.type == "call.ringing":
            users = (
                self.env["telephony.user"]
                .sudo()
                .search([("sip_login", "in", event.data.get("logins", []))])
                .user_id
            )
            values["ringing_user_ids"] = [fields.Command.link(user.id) for user in users]
        elif event.type == "call.dialing":
            values["dial_string"] = event.data["dial"]
        elif event.type == "call.answered" and event.data.get("login"):
            tel_user = (
                self.env["telephony.user"]
                .sudo()
                .search([("sip_login", "=", event.data["login"])], limit=1)
            )
            if tel_user and (self.direction == "inbound" or not self.user_id):
                values["user_id"] = tel_user.user_id.id
        elif event.type in ("call.bridged", "call.forwarded"):
            if not self.answer_date or _utc(event.at) < self.answer_date:
                values["answer_date"] = _utc(event.at)
            if event.type == "call.forwarded":
                values["forwarded_to"] = event.data["number"]
        elif event.type == "call.ended":
            values["end_date"] = _utc(event.at)
            values["outcome"] = event.data["outcome"]
            values["outcome_reason"] = (event.data.get("reason") or "")[:200]
        if event.at > self.last_event_at:
            values["last_event_at"] = event.at
        self.write(values)

    # ------------------------------------------------------------------
    # Call card (F14)
    # ------------------------------------------------------------------

    def _card_recipients(self):
        self.ensure_one()
        return (self.user_id | self.ringing_user_ids).filtered(lambda u: u.active)

    def _push_card(self):
        """Send the call card to each user concerned, built as that user."""
        for call in self:
            for user in call._card_recipients():
                card = call.with_user(user).sudo(False)._card_payload()
                user._bus_send("ip_telephony.call/updated", card)

    def _card_payload(self):
        """The card as the current user may see it: masked number, picked fields."""
        self.ensure_one()
        call = self.sudo()
        masking = self.env["res.groups"]._telephony_mask_for(self.env.user)
        partner = call.partner_id
        fields_shown = self.env["res.config.settings"].sudo()._telephony_card_fields()
        partner_data = {}
        if partner:
            for name in fields_shown:
                field = partner._fields.get(name)
                if not field:
                    continue
                value = partner[name]
                if field.type == "many2one":
                    value = value.display_name or ""
                elif field.type in ("one2many", "many2many"):
                    value = ", ".join(value.mapped("display_name"))
                elif field.type in ("binary", "json"):
                    continue
                if field.type == "char" and name in ("phone", "mobile"):
                    value = masking(value or "")
                partner_data[name] = {
                    "label": field._description_string(self.env),
                    "value": value or "",
                }
        return {
            "id": call.id,
            "direction": call.direction,
            "state": call.state,
            "outcome": call.outcome or "",
            "outcome_label": dict(self._fields["outcome"]._description_selection(self.env)).get(
                call.outcome, ""
            ),
            "number": masking(call.number or ""),
            "partner_id": partner.id or False,
            "partner_name": partner.display_name or "",
            "partner": partner_data,
            "res_model": call.res_model or "",
            "res_id": call.res_id or False,
            "start": call.start_date and fields.Datetime.to_string(call.start_date),
            "answer": call.answer_date and fields.Datetime.to_string(call.answer_date),
            "end": call.end_date and fields.Datetime.to_string(call.end_date),
            "is_mine": call.user_id == self.env.user,
        }

    @api.model
    def telephony_active_cards(self):
        """Cards of the current user's calls in progress (for a page reload)."""
        calls = self.search(
            [
                ("state", "!=", "ended"),
                "|",
                ("user_id", "=", self.env.uid),
                ("ringing_user_ids", "in", self.env.uid),
            ],
            limit=20,
        )
        return [call._card_payload() for call in calls]

    # ------------------------------------------------------------------
    # Recordings
    # ------------------------------------------------------------------

    def _attach_recording(self, data, mimetype="audio/mpeg"):
        """Attach the mp3 to the call, replacing an earlier upload of it."""
        self.ensure_one()
        call = self.sudo()
        old = call.recording_id
        attachment = (
            self.env["ir.attachment"]
            .sudo()
            .create(
                {
                    "name": call._recording_filename(),
                    "raw": data,
                    "mimetype": mimetype,
                    "res_model": self._name,
                    "res_id": call.id,
                }
            )
        )
        call.recording_id = attachment
        old.unlink()
        return attachment

    def _recording_filename(self):
        self.ensure_one()
        date = (self.start_date or fields.Datetime.now()).strftime("%Y-%m-%d")
        digits = "".join(ch for ch in (self.number or "") if ch.isdigit() or ch == "+")
        return f"{self.id}_{digits or 'unknown'}_{date}.mp3"

    # ------------------------------------------------------------------
    # Retention (F26)
    # ------------------------------------------------------------------

    @api.model
    def _cron_purge(self, batch_size=5000):
        """Delete calls past retention (with recordings) and stale journal rows."""
        settings = self.env["res.config.settings"]
        if settings._telephony_param("purge"):
            days = int(settings._telephony_param("purge_days") or 30)
            limit = fields.Datetime.subtract(fields.Datetime.now(), days=days)
            while True:
                calls = self.sudo().search([("start_date", "<", limit)], limit=batch_size)
                if not calls:
                    break
                self.env["ir.attachment"].sudo().search(
                    [("res_model", "=", self._name), ("res_id", "in", calls.ids)]
                ).unlink()
                calls.unlink()
        week_ago = fields.Datetime.subtract(fields.Datetime.now(), days=7)
        self.env["telephony.command"].sudo().search([("create_date", "<", week_ago)]).unlink()
        self.env["telephony.event"].sudo().search([("received_at", "<", week_ago)]).unlink()
        self.env["telephony.nonce"].sudo()._gc(time.time())
