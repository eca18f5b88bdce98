from odoo import api, fields, models

from ..telephony.numbers import normalize_incoming


class ResPartner(models.Model):
    _inherit = "res.partner"

    telephony_call_count = fields.Integer("Calls", compute="_compute_telephony_call_count")
    # Whether there is a phone to call, for users who see it masked to nothing.
    telephony_has_phone = fields.Boolean(
        "Has a phone", compute="_compute_telephony_has_phone", compute_sudo=True
    )

    @api.depends("phone")
    def _compute_telephony_has_phone(self):
        for partner in self:
            partner.telephony_has_phone = bool(partner.phone)

    @api.depends_context("uid")
    def _compute_telephony_call_count(self):
        Call = self.env["telephony.call"]
        if not Call.has_access("read"):
            self.telephony_call_count = 0
            return
        for partner in self:
            partner.telephony_call_count = (
                Call.search_count(partner._telephony_call_domain()) if partner.id else 0
            )

    def _telephony_call_domain(self):
        """The calls of these contacts, and of their people for a company."""
        return [("partner_id", "child_of", self.ids)]

    def action_telephony_calls(self):
        """The call log, filtered to this contact (and its company's people)."""
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("ip_telephony.telephony_call_action")
        action["domain"] = self._telephony_call_domain()
        action["context"] = {"create": False}
        action["display_name"] = self.env._("Calls of %(contact)s", contact=self.display_name)
        return action

    @api.model_create_multi
    def create(self, vals_list):
        call_id = self.env.context.get("telephony_call_id")
        if not call_id:
            return super().create(vals_list)
        # A contact created from an unknown caller's call (B3): link it back.
        # Contacts created along with it (its children) are not linked.
        partners = super(ResPartner, self.with_context(telephony_call_id=False)).create(vals_list)
        self.env["telephony.call"]._telephony_link_created_contact(call_id, partners[:1])
        return partners

    @api.model
    def _telephony_normalize(self, number):
        plan = self.env["res.config.settings"]._telephony_dial_plan()
        return normalize_incoming(number or "", plan)

    @api.model
    def _telephony_match(self, e164):
        """The contact a caller's number belongs to (first readable match), if any."""
        ids = self.env["telephony.number"].sudo()._match(e164)
        return self.search([("id", "in", ids)], limit=1) if ids else self.browse()

    # ------------------------------------------------------------------
    # Erasure (B7)
    # ------------------------------------------------------------------

    def _telephony_calls(self):
        """Every call with these contacts: linked to them, or from or to one
        of their numbers when no other contact is linked."""
        if not self.ids:
            return self.env["telephony.call"]
        numbers = (
            self.env["telephony.number"]
            .sudo()
            .search([("res_model", "=", "res.partner"), ("res_id", "in", self.ids)])
            .mapped("e164")
        )
        domain = [("partner_id", "in", self.ids)]
        if numbers:
            domain = ["|", *domain, "&", ("partner_id", "=", False), ("number_e164", "in", numbers)]
        return self.env["telephony.call"].sudo().search(domain)

    def _telephony_erase_calls(self):
        """Delete these contacts' calls with their recordings, messages and
        engine journal; deleting a contact alone keeps its calls (B7)."""
        self.env["telephony.call"].check_access("unlink")
        calls = self._telephony_calls()
        call_refs = [ref for ref in calls.mapped("engine_call_id") if ref]
        if call_refs:
            self.env["telephony.event"].sudo().search([("call_ref", "in", call_refs)]).unlink()
        calls.unlink()
        return len(calls)
