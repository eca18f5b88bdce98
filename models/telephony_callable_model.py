from odoo import api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools import ormcache
from odoo.tools.sql import table_exists

from .telephony_masking_mixin import MaskedValues, _masker

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
        """Reload the phone fields, here and (through the cache) in the other workers."""
        self.env.registry.clear_cache()
        self._telephony_phone_fields_map()

    def _register_hook(self):
        super()._register_hook()
        self._telephony_phone_fields_map()

    @api.model
    @ormcache()
    def _telephony_phone_fields_map(self):
        """{model: (phone field names)} of the callable models, cached.

        Read by the create/write/unlink of every model (models/base.py), so
        that the index also follows writes made while modules install or
        update, before ``_register_hook`` runs; and their fields are made to
        mask their values.
        """
        phone_fields = {}
        if table_exists(self.env.cr, "telephony_callable_model_field_rel"):
            self.env.cr.execute(
                """
                SELECT m.model, f.name
                  FROM telephony_callable_model c
                  JOIN ir_model m ON m.id = c.model_id
                  JOIN telephony_callable_model_field_rel r ON r.callable_model_id = c.id
                  JOIN ir_model_fields f ON f.id = r.field_id
                """
            )
            for model_name, field_name in self.env.cr.fetchall():
                if model_name in self.env and field_name in self.env[model_name]._fields:
                    phone_fields.setdefault(model_name, []).append(field_name)
        phone_fields = {model: tuple(names) for model, names in phone_fields.items()}
        _mask_phone_fields(self.env, phone_fields)
        return phone_fields

    @api.model
    def telephony_phone_fields(self):
        """{model: [field names]} for the web client's call icons."""
        return {
            callable_model.model: callable_model.field_ids.mapped("name")
            for callable_model in self.sudo().search([])
        }


def phone_fields_of(records):
    """The phone fields of ``records``' model, if it is callable."""
    env = records.env
    if "telephony.callable.model" not in env.registry:
        return ()
    return env["telephony.callable.model"]._telephony_phone_fields_map().get(records._name, ())


class CallableMaskedValues(MaskedValues):
    """A phone field of a callable model (res.partner.phone...), masked like
    the numbers of the call log while its model stays callable."""

    def _telephony_masks(self, records):
        if self.name not in phone_fields_of(records):
            return None
        return _masker(records.env)


_MASKED_CLASSES = {}


def _masked_class(field_class):
    if field_class not in _MASKED_CLASSES:
        _MASKED_CLASSES[field_class] = type(
            f"TelephonyMasked{field_class.__name__}",
            (CallableMaskedValues, field_class),
            {"_telephony_plain_class": field_class},
        )
    return _MASKED_CLASSES[field_class]


def _mask_phone_fields(env, phone_fields):
    """Make the registry's phone fields mask their values (fields of other
    modules, such as res.partner.phone, cannot be declared masked)."""
    registry = env.registry
    masked = []
    for field in getattr(registry, "telephony_masked_field_objects", ()):
        if field.name not in phone_fields.get(field.model_name, ()):
            field.__class__ = field._telephony_plain_class
    for model_name, names in phone_fields.items():
        for name in names:
            field = env[model_name]._fields[name]
            if isinstance(field, MaskedValues):
                if isinstance(field, CallableMaskedValues):
                    masked.append(field)
                continue
            field.__class__ = _masked_class(type(field))
            masked.append(field)
    registry.telephony_masked_field_objects = masked
