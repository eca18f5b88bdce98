import logging
import time
from datetime import datetime, timezone

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools.sql import create_index

from ..telephony.numbers import DialRefused, prepare_in_country
from ..telephony.recordings import (
    HIDDEN_PHONE,
    compact_ids,
    recording_filename,
    stored_recording_name,
)
from .telephony_call_outcome import OUTCOMES, log_outcome, reason_text
from .telephony_callable_model import phone_fields_of
from .telephony_masking_mixin import MaskedChar, _masker

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
# Calls whose card is to be sent at commit (see _push_card).
CARD_PUSH_KEY = "ip_telephony.card_calls"
CALLBACK_TRIGGER_KEY = "ip_telephony.callback_trigger"
# Most calls whose recordings download as one zip (F25).
MAX_ZIP_CALLS = 1000


def _utc(timestamp):
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).replace(tzinfo=None)


class TelephonyCall(models.Model):
    """One call, outgoing or incoming, as the engine reported it (F24)."""

    _name = "telephony.call"
    _description = "Call"
    _inherit = ["mail.thread", "mail.activity.mixin", "telephony.masking.mixin"]
    _order = "start_date desc, id desc"
    _rec_name = "number"
    _telephony_number_fields = ("number", "number_e164")
    _telephony_search_field = "number_e164"

    engine_call_id = fields.Char("Engine call id", readonly=True, copy=False, index=True)
    direction = fields.Selection(
        [("outbound", "Outgoing"), ("inbound", "Incoming")], required=True, readonly=True
    )
    state = fields.Selection(
        [("new", "Dialling"), ("ringing", "Ringing"), ("talking", "Talking"), ("ended", "Ended")],
        default="new",
        required=True,
        readonly=True,
    )
    # No field of a call is tracked: the call is its own log, and a chatter
    # message per call would cost the events endpoint and double the purge
    # (each message deleted is checked against some 25 foreign keys).
    outcome = fields.Selection(OUTCOMES, readonly=True)
    outcome_reason = fields.Char(readonly=True)
    outcome_code = fields.Integer("SIP code", readonly=True)
    outcome_reason_text = fields.Char("Reason", compute="_compute_outcome_reason_text")
    # Who ended the call from Odoo (the hang-up button of the card).
    hangup_user_id = fields.Many2one("res.users", "Ended by", readonly=True)
    # 100 for an answered call, else 0: its average is the answered share.
    answered_percent = fields.Float(
        "Answered (%)",
        compute="_compute_answered_percent",
        store=True,
        aggregator="avg",
        digits=(16, 1),
    )
    # MaskedChar: masked on every way out for users whose groups mask numbers (F27).
    number = MaskedChar(readonly=True, help="The number as dialled or as received.")
    number_e164 = MaskedChar("Number (E.164)", readonly=True, index=True)
    dial_string = MaskedChar(readonly=True)
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
    forwarded_to = MaskedChar(readonly=True)
    # Indexed: deleting an attachment looks its call up (ondelete set null).
    recording_id = fields.Many2one(
        "ir.attachment", readonly=True, ondelete="set null", index="btree_not_null"
    )
    # The recording's attachment is this field's, which nobody reads: it stays
    # out of attachment lists, and ir.attachment refuses it to everyone but
    # superuser mode, so every listen and download goes through the audited
    # route (B7).
    recording_file = fields.Binary(
        "Recording file", attachment=True, readonly=True, copy=False, groups=fields.NO_ACCESS
    )
    has_recording = fields.Boolean(compute="_compute_has_recording")
    telephony_may_listen = fields.Boolean(
        "May listen", compute="_compute_telephony_recording_rights"
    )
    telephony_may_download = fields.Boolean(
        "May download", compute="_compute_telephony_recording_rights"
    )
    note = fields.Text()
    last_event_at = fields.Float(readonly=True)
    callback_scheduled = fields.Boolean(
        "Call-back scheduled",
        readonly=True,
        copy=False,
        help="A missed incoming call got its call-back activity (B4), once.",
    )
    # Queued for the call-back cron (partial index in init()).
    callback_pending = fields.Boolean("Call-back pending", readonly=True, copy=False)
    # A missed call is settled once the number was called again, or called
    # in and was answered (partial index in init()).
    called_back = fields.Boolean(
        "Called back",
        readonly=True,
        copy=False,
        help="The number of this missed call was called back, or called again and answered.",
    )

    _sql_constraints = [
        ("engine_call_id_unique", "unique(engine_call_id)", "A call is logged once."),
    ]

    @api.model_create_multi
    def create(self, vals_list):
        self._telephony_check_engine_fields({key for vals in vals_list for key in vals})
        return super().create(vals_list)

    def write(self, vals):
        self._telephony_check_engine_fields(vals)
        return super().write(vals)

    @api.model
    def fields_get(self, allfields=None, attributes=None):
        """Hidden numbers are not offered for grouping or sorting (the server refuses both)."""
        result = super().fields_get(allfields, attributes)
        if _masker(self.env):
            for name in self._telephony_masked_fields():
                if name in result:
                    if attributes is None or "groupable" in attributes:
                        result[name]["groupable"] = False
                    if attributes is None or "sortable" in attributes:
                        result[name]["sortable"] = False
        return result

    @api.model
    def _telephony_check_engine_fields(self, names):
        """Only the server writes what the engine reported, the recording above all.

        Users edit a call's notes and contact; a number, a state or a
        recording written over RPC would forge the log or, for the
        recording, hand its reader somebody else's file.
        """
        if self.env.su:
            return
        forged = sorted(
            name
            for name in names
            if name in self._fields
            and self._fields[name].readonly
            and self._fields[name].store
            and not self._fields[name].compute
        )
        if forged:
            raise AccessError(
                self.env._(
                    "These fields of a call are set by the telephony engine only: %(fields)s",
                    fields=", ".join(forged),
                )
            )

    @api.depends("answer_date", "end_date")
    def _compute_duration(self):
        for call in self:
            if call.answer_date and call.end_date and call.end_date >= call.answer_date:
                call.duration = round((call.end_date - call.answer_date).total_seconds())
            else:
                call.duration = 0

    @api.depends("outcome")
    def _compute_answered_percent(self):
        for call in self:
            call.answered_percent = 100.0 if call.outcome in ("answered", "forwarded") else 0.0

    @api.depends("outcome_reason", "outcome_code", "hangup_user_id")
    @api.depends_context("lang")
    def _compute_outcome_reason_text(self):
        for call in self:
            if call.outcome_reason == "hangup requested" and call.hangup_user_id:
                call.outcome_reason_text = self.env._(
                    "Ended from Odoo by %(user)s", user=call.hangup_user_id.sudo().name
                )
            else:
                call.outcome_reason_text = reason_text(
                    self.env, call.outcome_reason, call.outcome_code
                )

    @api.depends("recording_id")
    def _compute_has_recording(self):
        for call in self:
            call.has_recording = bool(call._recording_attachment())

    @api.depends_context("uid")
    def _compute_telephony_recording_rights(self):
        listen, download = self.env["res.groups"]._telephony_recording_rights(self.env.user)
        for call in self:
            call.telephony_may_listen = listen
            call.telephony_may_download = download

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
            # The number is read as written in its record's country.
            prepared = prepare_in_country(
                number,
                account._dial_plan(),
                self._dial_region(res_model, res_id),
                allow_international=tel_user.sudo().allow_international,
            )
        except DialRefused as exc:
            refusal = self.env["res.config.settings"]._telephony_refusal_message(exc)
            raise UserError(refusal) from None
        if not partner and not res_model:
            # A number typed on the dial pad: the contact it belongs to, if readable.
            partner = self.env["res.partner"]._telephony_match(prepared.e164)
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
        call._settle_missed_calls()
        call._push_card()
        return call.id

    def _settle_missed_calls(self):
        """Missed calls from this call's number are called back now."""
        numbers = {call.number_e164 for call in self.sudo() if call.number_e164}
        if not numbers:
            return
        missed = self.sudo().search(
            [
                ("number_e164", "in", sorted(numbers)),
                ("direction", "=", "inbound"),
                ("outcome", "in", ("no_answer", "cancelled")),
                ("called_back", "=", False),
                ("id", "not in", self.ids),
            ]
        )
        missed.write({"called_back": True})

    @api.model
    def telephony_check_number(self, number):
        """The dial pad's verdict on a number as it is typed: would ``dial()`` take it?

        Returns ``{"ok": bool, "message": str}``: the number rules' refusal in
        the user's language, or nothing to say.
        """
        tel_user = self.env.user._telephony_user()
        if not tel_user:
            raise AccessError(self.env._("Only telephony users can place calls."))
        if not isinstance(number, str) or not number.strip():
            return {"ok": False, "message": ""}
        if len(number) > MAX_NUMBER_LENGTH:
            return {"ok": False, "message": self.env._("This is not a phone number.")}
        account = self.env["telephony.sip.account"].sudo().search([], limit=1)
        if not account:
            return {
                "ok": False,
                "message": self.env._("No SIP account is configured: ask your administrator."),
            }
        try:
            account._dial_plan().prepare(
                number, allow_international=tel_user.sudo().allow_international
            )
        except DialRefused as exc:
            return {
                "ok": False,
                "message": self.env["res.config.settings"]._telephony_refusal_message(exc),
            }
        return {"ok": True, "message": ""}

    @api.model
    def telephony_recent_calls(self, limit=10):
        """The user's last calls for the dial pad, numbers as the user may see them."""
        limit = min(int(limit or 10), 50)
        # Two searches rather than one with "or": each can walk its own index.
        own = self.search([("user_id", "=", self.env.uid)], limit=limit)
        rang = self.search(
            [("ringing_user_ids", "in", self.env.uid), ("user_id", "!=", self.env.uid)],
            limit=limit,
        )
        calls = (own | rang).sorted(lambda call: (call.start_date, call.id), reverse=True)
        calls = calls[:limit]
        outcomes = dict(self._fields["outcome"]._description_selection(self.env))
        return [
            {
                "id": call.id,
                "direction": call.direction,
                "number": call.number or "",
                "partner_name": call.partner_id.display_name or "",
                "start": call.start_date and fields.Datetime.to_string(call.start_date),
                "outcome": call.outcome or "",
                "outcome_label": outcomes.get(call.outcome, ""),
            }
            for call in calls
        ]

    def action_call_back(self):
        """Call the other party of this call again (the dial pad's recent calls).

        The user may not see the number: it is read here, after checking
        that the user may read the call.
        """
        self.ensure_one()
        self.check_access("read")
        call = self.sudo()
        number = call.number_e164 or call.number or ""
        if call.partner_id:
            return self.dial(number, "res.partner", call.partner_id.id)
        return self.dial(number)

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

    @api.model
    def _dial_region(self, res_model, res_id):
        """The country the phones of the record are written in, or None.

        Only for callable models: other numbers (a call's, as the trunk
        gave it) are written as in the plan's country.
        """
        if not res_model or res_model not in self.env or not isinstance(res_id, int):
            return None
        record = self.env[res_model].sudo().browse(res_id).exists()
        if not record or not phone_fields_of(record):
            return None
        return self.env["telephony.number"]._region_of(record)

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

    def init(self):
        # The call-back cron looks for the few queued calls among millions.
        create_index(
            self.env.cr,
            "telephony_call_callback_pending_index",
            self._table,
            ["id"],
            where="callback_pending",
        )
        # The supervisors' list of missed calls nobody called back yet.
        create_index(
            self.env.cr,
            "telephony_call_missed_open_index",
            self._table,
            ["start_date"],
            # The same test as the ORM's ("called_back" = False), or PostgreSQL
            # cannot tell that the index covers the search.
            where="direction = 'inbound' AND outcome IN ('no_answer', 'cancelled') "
            "AND (called_back IS NULL OR called_back = FALSE)",
        )

    # ------------------------------------------------------------------
    # Engine events
    # ------------------------------------------------------------------

    @api.model
    def _apply_engine_event(self, engine, event):
        call = self._find_or_create_for_event(event)
        call._merge_event(event)
        if event.type == "call.ended":
            call._telephony_schedule_callback()
            if call.direction == "inbound" and call.outcome in ("answered", "forwarded"):
                # The caller got through this time: their missed calls are settled.
                call._settle_missed_calls()
        call._push_card()

    @api.model
    def _find_or_create_for_event(self, event):
        calls = self.sudo()
        call = calls.search([("engine_call_id", "=", event.call_id)], limit=1)
        odoo_call_id = event.data.get("odoo_call_id")
        if call and odoo_call_id and odoo_call_id != call.id:
            dialled = calls.browse(odoo_call_id).exists()
            if dialled and not dialled.engine_call_id:
                return call._fold_into(dialled)
        if call:
            return call
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
        # No "Call created" chatter message: the call log is the record, and
        # every event would otherwise pay for one (bench/bench_events.py).
        call = calls.with_context(mail_create_nolog=True).create(values)
        return call.with_env(calls.env)

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
            code = event.data.get("code") or 0
            values["end_date"] = _utc(event.at)
            values["outcome"] = log_outcome(self.direction, event.data["outcome"], code)
            values["outcome_reason"] = (event.data.get("reason") or "")[:200]
            values["outcome_code"] = code
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
        """Send the call card to each user concerned, once per transaction.

        A batch of events often moves a call several times: its users get
        one card with the last state, built at commit.
        """
        precommit = self.env.cr.precommit
        pending = precommit.data.get(CARD_PUSH_KEY)
        if pending is None:
            pending = precommit.data[CARD_PUSH_KEY] = set()
            precommit.add(self.sudo()._send_pending_cards)
        pending.update(self.ids)

    def _send_pending_cards(self):
        ids = self.env.cr.precommit.data.pop(CARD_PUSH_KEY, set())
        for call in self.browse(sorted(ids)).exists():
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
            "note": call.note or "",
            "can_hang_up": call.state != "ended"
            and bool(call.engine_call_id)
            and (
                call.user_id == self.env.user
                or self.env.user.has_group("ip_telephony.group_telephony_manager")
            ),
            **call._card_incoming_payload(self.env.user, masking),
        }

    def action_hangup(self):
        """End the call, or cancel it while it rings, from its card.

        Only the call's user or a telephony administrator may: that is
        checked before the call is read in superuser mode. The engine hangs
        up every leg and reports ``call.ended``; the log says who ended it.
        """
        self.ensure_one()
        user = self.env.user
        if not user.has_group("ip_telephony.group_telephony_manager"):
            self.check_access("read")
            if not user._telephony_user() or self.user_id != user:
                raise AccessError(self.env._("Only the user of a call can end it."))
        call = self.sudo()
        if call.state == "ended":
            raise UserError(self.env._("This call has already ended."))
        if not call.engine_call_id:
            raise UserError(self.env._("The call is still being placed: try again in a moment."))
        call.hangup_user_id = user
        self.env["telephony.engine"]._queue_command(
            "hangup", {"engine_call_id": call.engine_call_id}, call=call
        )
        return True

    @api.model
    def telephony_active_cards(self):
        """Cards of the current user's calls in progress (for a page reload)."""
        calls = self.search(
            [
                ("state", "!=", "ended"),
                "|",
                ("user_id", "=", self.env.uid),
                # A call ringing here that nobody took yet (not another user's,
                # not forwarded).
                "&",
                "&",
                ("ringing_user_ids", "in", self.env.uid),
                ("user_id", "=", False),
                ("state", "in", ("new", "ringing")),
            ],
            limit=20,
        )
        return [call._card_payload() for call in calls]

    # ------------------------------------------------------------------
    # Incoming calls: answered elsewhere, missed calls, unknown callers
    # (F14, B3, B4)
    # ------------------------------------------------------------------

    def _card_incoming_payload(self, user, masking):
        """Card keys for incoming calls: who took it, whether to close it.

        ``answered_elsewhere`` tells the ringing users' cards to close once
        another user answered (``answered_by`` names them) or the call was
        forwarded (``forwarded_to``).
        """
        self.ensure_one()
        call = self.sudo()
        inbound = call.direction == "inbound"
        taker = call.user_id if inbound else self.env["res.users"]
        return {
            "answered_by": taker.name or "",
            "answered_elsewhere": bool(
                inbound and ((taker and taker != user) or (not taker and call.forwarded_to))
            ),
            "forwarded_to": masking(call.forwarded_to or ""),
            "can_create_contact": not call.partner_id,
        }

    def action_create_contact(self):
        """Open a new contact prefilled with the caller's number (B3).

        Saving it links this call to the contact. For users whose groups
        mask numbers the form is not prefilled and the contact is saved
        without the number, which they would otherwise read on the contact.
        """
        self.ensure_one()
        self.check_access("write")
        self.env["res.partner"].check_access("create")
        call = self.sudo()
        if call.partner_id:
            raise UserError(self.env._("This call is already linked to a contact."))
        number = call.number_e164 or call.number or ""
        context = {"telephony_call_id": self.id}
        masking = self.env["res.groups"]._telephony_mask_for(self.env.user)
        if number and masking(number) == number:
            context["default_phone"] = number
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("New contact"),
            "res_model": "res.partner",
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
            "context": context,
        }

    @api.model
    def _telephony_link_created_contact(self, call_id, partner):
        """Link a contact created from ``action_create_contact`` to its call."""
        if not isinstance(call_id, int) or isinstance(call_id, bool) or not partner:
            return
        call = self.browse(call_id).exists()
        if not call:
            return
        call.check_access("write")
        number = call.sudo().number_e164 or call.sudo().number
        masking = self.env["res.groups"]._telephony_mask_for(self.env.user)
        call = call.sudo()
        if call.partner_id:
            return
        # The contact gets the number if its creator may see it, or if the
        # contact's phone is masked for them as the call's number is.
        hidden_there = "phone" in self.env["res.partner"]._telephony_masked_phone_fields()
        contact = partner.sudo()
        if (
            number
            and (masking(number) == number or hidden_there)
            and not contact.phone
            and not contact.mobile
        ):
            contact.phone = number
        call.partner_id = partner
        call._push_card()

    def _telephony_schedule_callback(self):
        """A missed incoming call becomes a "Call back" activity, once (B4).

        The activity is made by a cron job triggered at once: the engine's
        request does not wait for it and for the notification of its assignee.
        """
        missed = self.sudo().filtered(
            lambda call: (
                call.direction == "inbound"
                and call.state == "ended"
                and call.outcome in ("no_answer", "cancelled")
                and not call.forwarded_to
                and not call.callback_scheduled
            )
        )
        if not missed:
            return
        missed.write({"callback_scheduled": True, "callback_pending": True})
        # One wake-up per transaction, however many calls a batch ends.
        precommit = self.env.cr.precommit
        if not precommit.data.get(CALLBACK_TRIGGER_KEY):
            precommit.data[CALLBACK_TRIGGER_KEY] = True
            precommit.add(self.env.ref("ip_telephony.ir_cron_telephony_callbacks").sudo()._trigger)

    @api.model
    def _cron_schedule_callbacks(self, batch_size=200):
        """Make the call-back activities of the missed calls queued so far."""
        calls = self.sudo().search([("callback_pending", "=", True)], order="id", limit=batch_size)
        calls._telephony_create_callbacks()
        calls.callback_pending = False
        if len(calls) == batch_size:
            self.env.ref("ip_telephony.ir_cron_telephony_callbacks").sudo()._trigger()

    def _telephony_create_callbacks(self):
        """The "Call back" activities of missed calls.

        For a known caller it goes on the contact, for their salesperson; for
        an unknown caller (or a contact without an active salesperson) it goes
        to the telephony administrators, on the contact if there is one,
        else on the call.
        """
        for call in self:
            partner = call.partner_id
            salesperson = partner.user_id
            if salesperson and salesperson.active and not salesperson._is_public():
                assignees = salesperson.filtered(lambda user: not user.share)
            else:
                assignees = self.env["res.users"]
            if not assignees:
                assignees = (
                    self.env.ref("ip_telephony.group_telephony_manager")
                    .sudo()
                    .users.filtered(lambda user: user.active and not user.share)
                )
            target = partner or call
            for user in assignees:
                when = fields.Datetime.context_timestamp(
                    call.with_context(tz=user.tz or "UTC"), call.start_date
                )
                target.activity_schedule(
                    "mail.mail_activity_data_call",
                    summary=self.env._("Call back"),
                    note=self.env._(
                        "Missed incoming call at %(time)s.",
                        time=when.strftime("%Y-%m-%d %H:%M"),
                    ),
                    user_id=user.id,
                )

    # ------------------------------------------------------------------
    # Recordings
    # ------------------------------------------------------------------

    def _attach_recording(self, data, mimetype="audio/mpeg"):
        """Attach the mp3 to the call, replacing an earlier upload of it.

        The stored name carries no number (attachment names are not masked);
        the name a user downloads is ``_recording_filename()``.
        """
        self.ensure_one()
        call = self.sudo()
        old = call.recording_id
        attachment = (
            self.env["ir.attachment"]
            .sudo()
            .create(
                {
                    "name": stored_recording_name(call.id, call._recording_day()),
                    "raw": data,
                    "mimetype": mimetype,
                    "res_model": self._name,
                    "res_field": "recording_file",
                    "res_id": call.id,
                }
            )
        )
        call.recording_id = attachment
        old.unlink()
        return attachment

    def _recording_attachment(self):
        """The call's own recording file, or nothing.

        Only the attachment this call's upload made is served for it, however
        ``recording_id`` came to point elsewhere.
        """
        self.ensure_one()
        attachment = self.sudo().recording_id
        if (
            attachment.res_model != self._name
            or attachment.res_id != self.id
            or attachment.res_field != "recording_file"
        ):
            return self.env["ir.attachment"]
        return attachment

    def _recording_day(self):
        """The day of the call in the current user's time zone."""
        self.ensure_one()
        start = self.start_date or fields.Datetime.now()
        return fields.Datetime.context_timestamp(self, start).date()

    def _recording_filename(self):
        """``<id>_<phone>_<YYYY-MM-DD>.mp3`` with the number as the current user may see it."""
        self.ensure_one()
        shown = self.number
        if not shown and self.sudo().number:
            shown = HIDDEN_PHONE
        return recording_filename(self.id, shown, self._recording_day())

    def action_download_recordings(self):
        """List action: the selected calls' recordings as one ``records.zip`` (F25)."""
        calls = self.filtered(lambda call: call._recording_attachment())
        if not calls:
            raise UserError(self.env._("None of the selected calls has a recording."))
        if len(calls) > MAX_ZIP_CALLS:
            raise UserError(
                self.env._(
                    "At most %(count)s recordings can be downloaded at once: select fewer calls.",
                    count=MAX_ZIP_CALLS,
                )
            )
        return {
            "type": "ir.actions.act_url",
            "url": f"/telephony/recordings/records.zip?ids={compact_ids(calls.ids)}",
            "target": "download",
        }

    # ------------------------------------------------------------------
    # Retention (F26)
    # ------------------------------------------------------------------

    @api.model
    def _cron_purge(self, batch_size=10000, time_budget=90):
        """Retention (F26, B7): delete calls older than the retention period
        with their recordings, recordings older than theirs (keeping the calls),
        and stale journal rows.

        Works in batches, committing each one; when the time
        budget runs out the cron reports what remains and Odoo runs it again.
        """
        settings = self.env["res.config.settings"]
        now = fields.Datetime.now()
        deadline = time.monotonic() + time_budget
        done = remaining = 0
        if settings._telephony_param("purge"):
            days = max(_int_param(settings._telephony_param("purge_days"), 30), 1)
            done, remaining = self._purge_calls_before(
                fields.Datetime.subtract(now, days=days), batch_size, deadline
            )
        recording_days = _int_param(settings._telephony_param("recording_days"), 0)
        if recording_days > 0 and not remaining:
            done_recordings, remaining = self._purge_recordings_before(
                fields.Datetime.subtract(now, days=recording_days), batch_size, deadline
            )
            done += done_recordings
        self.env["ir.cron"]._notify_progress(done=done, remaining=remaining)
        if remaining:
            return
        week_ago = fields.Datetime.subtract(fields.Datetime.now(), days=7)
        self.env["telephony.command"].sudo().search([("create_date", "<", week_ago)]).unlink()
        self.env["telephony.event"].sudo().search([("received_at", "<", week_ago)]).unlink()
        self.env["telephony.nonce"].sudo()._gc(time.time())
        # Free the disk now rather than at the next autovacuum.
        self.env["ir.attachment"]._gc_file_store()

    @api.model
    def _purge_calls_before(self, limit, batch_size, deadline):
        """Delete the calls started before ``limit``; return (deleted, left)."""
        cr = self.env.cr
        done = last_id = 0
        while True:
            self.env.flush_all()
            # From the last id on: the index entries of the rows deleted so
            # far stay until the next vacuum, and each batch would scan them.
            cr.execute(
                "SELECT id FROM telephony_call WHERE id > %s AND start_date < %s "
                "ORDER BY id LIMIT %s",
                (last_id, limit, batch_size),
            )
            ids = [row[0] for row in cr.fetchall()]
            if not ids:
                return done, 0
            self.sudo().browse(ids)._purge()
            done += len(ids)
            last_id = ids[-1]
            # A batch is kept once done: the next run starts where this one stopped.
            cr.commit()  # pylint: disable=invalid-commit
            if time.monotonic() > deadline:
                cr.execute("SELECT count(*) FROM telephony_call WHERE start_date < %s", (limit,))
                return done, cr.fetchone()[0]

    @api.model
    def _purge_recordings_before(self, limit, batch_size, deadline):
        """Delete the recordings of calls started before ``limit``, keeping the
        calls; return (deleted, left)."""
        cr = self.env.cr
        done = 0
        while True:
            self.env.flush_all()
            cr.execute(
                """SELECT recording_id FROM telephony_call
                    WHERE recording_id IS NOT NULL AND start_date < %s
                 ORDER BY id LIMIT %s""",
                (limit, batch_size),
            )
            ids = [row[0] for row in cr.fetchall()]
            if not ids:
                return done, 0
            # The calls' recording_id is set null by the database (ondelete).
            self.env["ir.attachment"].sudo().browse(ids).unlink()
            self.invalidate_model(["recording_id", "recording_file"])
            done += len(ids)
            # A batch is kept once done: the next run starts where this one stopped.
            cr.commit()  # pylint: disable=invalid-commit
            if time.monotonic() > deadline:
                cr.execute(
                    "SELECT count(*) FROM telephony_call "
                    "WHERE recording_id IS NOT NULL AND start_date < %s",
                    (limit,),
                )
                return done, cr.fetchone()[0]

    def _purge(self):
        """Delete these calls with everything about them, in a few statements.

        The nightly purge deletes up to millions of calls, which the ORM's
        unlink does at half the speed.  Attachments (recordings, files
        posted in the chatter) and activities still go through the ORM, so
        the files reach the filestore garbage collector; messages (with their
        tracking values and notifications, by cascade), followers, the
        engine's journal and the calls are deleted in SQL, whose cascades
        remove their commands and ringing users and keep the recording
        access log (its call becomes empty, ``call_ref`` stays).  Anything a
        module attaches to calls in its own ``unlink`` must be added here.
        """
        if not self:
            return
        ids = sorted(self.ids)
        doomed = set(ids)
        # Each lookup scans the range of ids once and keeps the doomed ones,
        # rather than probing an index once per id ("id + 0" keeps the list
        # out of the index condition); ids outside the batch are left alone.
        bounds = (ids[0], ids[-1])
        cr = self.env.cr
        self.env.flush_all()
        cr.execute(
            "SELECT id, res_id FROM ir_attachment WHERE res_model = %s "
            "AND res_id BETWEEN %s AND %s",
            (self._name, *bounds),
        )
        attachment_ids = [row[0] for row in cr.fetchall() if row[1] in doomed]
        cr.execute(
            "SELECT id, res_id FROM mail_activity WHERE res_model = %s "
            "AND res_id BETWEEN %s AND %s",
            (self._name, *bounds),
        )
        activity_ids = [row[0] for row in cr.fetchall() if row[1] in doomed]
        self.env["mail.activity"].sudo().browse(activity_ids).unlink()
        self.env["ir.attachment"].sudo().browse(attachment_ids).unlink()
        cr.execute(
            "SELECT id, engine_call_id FROM telephony_call "
            "WHERE id BETWEEN %s AND %s AND engine_call_id IS NOT NULL",
            bounds,
        )
        call_refs = [row[1] for row in cr.fetchall() if row[0] in doomed]
        if call_refs:
            cr.execute("DELETE FROM telephony_event WHERE call_ref = ANY(%s)", (call_refs,))
        cr.execute(
            "DELETE FROM mail_message WHERE model = %s AND res_id BETWEEN %s AND %s "
            "AND res_id + 0 = ANY(%s)",
            (self._name, *bounds, ids),
        )
        cr.execute(
            "DELETE FROM mail_followers WHERE res_model = %s AND res_id BETWEEN %s AND %s "
            "AND res_id + 0 = ANY(%s)",
            (self._name, *bounds, ids),
        )
        cr.execute(
            "DELETE FROM telephony_call WHERE id BETWEEN %s AND %s AND id + 0 = ANY(%s)",
            (*bounds, ids),
        )
        self.env.invalidate_all(flush=False)


def _int_param(value, default):
    try:
        return int(value) if value not in (None, False, "") else default
    except (TypeError, ValueError):
        return default
