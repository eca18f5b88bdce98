from odoo import api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools.sql import table_exists

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
        relation="telephony_callable_model_field_rel",
        column1="callable_model_id",
        column2="field_id",
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

    @api.model_create_multi
    def create(self, vals_list):
        records = super().create(vals_list)
        records._telephony_reindex()
        self._update_registry()
        return records

    def write(self, vals):
        result = super().write(vals)
        if {"model_id", "field_ids"} & set(vals):
            self._telephony_reindex()
            self._update_registry()
        return result

    def unlink(self):
        for callable_model in self:
            self.env["telephony.number"].sudo().search(
                [("res_model", "=", callable_model.model)]
            ).unlink()
        result = super().unlink()
        self._update_registry()
        return result

    def _telephony_reindex(self):
        numbers = self.env["telephony.number"].sudo()
        for callable_model in self.sudo():
            numbers._reindex_model(callable_model.model, callable_model.field_ids.mapped("name"))

    @api.model
    def _telephony_reindex_all(self):
        """Back-fill the normalised numbers of every callable model."""
        self.search([])._telephony_reindex()

    def _update_registry(self):
        """Reload the phone fields here, and in the other workers."""
        load_phone_fields(self.env)
        if self.env.registry.ready and not self.env.context.get("import_file"):
            self.env.registry.registry_invalidated = True

    def _register_hook(self):
        super()._register_hook()
        load_phone_fields(self.env)

    @api.model
    def telephony_phone_fields(self):
        """{model: [field names]} for the web client's call icons."""
        return {
            callable_model.model: callable_model.field_ids.mapped("name")
            for callable_model in self.sudo().search([])
        }


def load_phone_fields(env):
    """Read {model: (phone field names)} of the callable models into the registry.

    Kept on the registry (one per database and worker) and read by the
    create/write/unlink of every model (models/base.py), so that the index
    also follows writes made while modules install or update, before
    ``_register_hook`` runs.
    """
    registry = env.registry
    if not table_exists(env.cr, "telephony_callable_model_field_rel"):
        return {}
    env.cr.execute(
        """
        SELECT m.model, f.name
          FROM telephony_callable_model c
          JOIN ir_model m ON m.id = c.model_id
          JOIN telephony_callable_model_field_rel r ON r.callable_model_id = c.id
          JOIN ir_model_fields f ON f.id = r.field_id
        """
    )
    phone_fields = {}
    for model_name, field_name in env.cr.fetchall():
        if model_name in env and field_name in env[model_name]._fields:
            phone_fields.setdefault(model_name, []).append(field_name)
    phone_fields = {model: tuple(names) for model, names in phone_fields.items()}
    registry.telephony_phone_fields = phone_fields
    # A rolled back change of the callable models must not stay in force.
    env.cr.postrollback.add(lambda: setattr(registry, "telephony_phone_fields", None))
    return phone_fields


def phone_fields_of(records):
    """The phone fields of ``records``' model, if it is callable."""
    phone_fields = getattr(records.env.registry, "telephony_phone_fields", None)
    if phone_fields is None:
        phone_fields = load_phone_fields(records.env)
    return phone_fields.get(records._name, ())
