from odoo import api, fields, models
from odoo.exceptions import ValidationError

PHONE_FIELD_TYPES = ("char",)


class TelephonyCallableModel(models.Model):
    """A model whose phone fields show a call icon (F11)."""

    _name = "telephony.callable.model"
    _description = "Callable model"
    _order = "model_id"

    model_id = fields.Many2one("ir.model", required=True, ondelete="cascade")
    model = fields.Char("Model name", related="model_id.model", store=True)
    field_ids = fields.Many2many(
        "ir.model.fields",
        string="Phone fields",
        domain="[('model_id', '=', model_id), ('ttype', '=', 'char')]",
    )

    _sql_constraints = [
        ("model_unique", "unique(model_id)", "This model is already callable."),
    ]

    @api.constrains("field_ids", "model_id")
    def _check_fields(self):
        for callable_model in self:
            wrong = callable_model.field_ids.filtered(
                lambda f, m=callable_model.model_id: (
                    f.model_id != m or f.ttype not in PHONE_FIELD_TYPES
                )
            )
            if wrong:
                raise ValidationError(
                    self.env._(
                        "%(fields)s are not text fields of %(model)s.",
                        fields=", ".join(wrong.mapped("name")),
                        model=callable_model.model_id.name,
                    )
                )

    @api.model
    def telephony_phone_fields(self):
        """{model: [field names]} for the web client's call icons."""
        return {
            callable_model.model: callable_model.field_ids.mapped("name")
            for callable_model in self.sudo().search([])
        }
