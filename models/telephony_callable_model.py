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
        """Re-patch the models, here and in the other workers."""
        if self.env.registry.ready and not self.env.context.get("import_file"):
            self._unregister_hook()
            self._register_hook()
            self.env.registry.registry_invalidated = True

    def _register_hook(self):
        """Keep the normalised numbers of every callable model up to date.

        Callable models are chosen in Settings, so their create, write and
        unlink are patched at run time, as base_automation does.
        """
        super()._register_hook()
        phone_fields = {}
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
        self.env.registry.telephony_phone_fields = phone_fields
        for model_name in phone_fields:
            _patch(type(self.env[model_name]), "create", _make_create())
            _patch(type(self.env[model_name]), "write", _make_write())
            _patch(type(self.env[model_name]), "unlink", _make_unlink())

    def _unregister_hook(self):
        for model_name in getattr(self.env.registry, "telephony_phone_fields", {}):
            model_class = type(self.env[model_name])
            for method in ("create", "write", "unlink"):
                if getattr(getattr(model_class, method, None), "telephony_origin", None):
                    delattr(model_class, method)
        self.env.registry.telephony_phone_fields = {}
        return super()._unregister_hook()

    @api.model
    def telephony_phone_fields(self):
        """{model: [field names]} for the web client's call icons."""
        return {
            callable_model.model: callable_model.field_ids.mapped("name")
            for callable_model in self.sudo().search([])
        }


def _phone_fields(records):
    return getattr(records.env.registry, "telephony_phone_fields", {}).get(records._name, ())


def _patch(model_class, name, method):
    if getattr(model_class.__dict__.get(name), "telephony_origin", None):
        return
    method.telephony_origin = getattr(model_class, name)
    setattr(model_class, name, method)


def _make_create():
    @api.model_create_multi
    def create(self, vals_list, **kwargs):
        records = create.telephony_origin(self, vals_list, **kwargs)
        names = _phone_fields(records)
        if names:
            records.env["telephony.number"].sudo()._reindex(records, names)
        return records

    return create


def _make_write():
    def write(self, vals, **kwargs):
        result = write.telephony_origin(self, vals, **kwargs)
        names = _phone_fields(self)
        if names and set(names) & set(vals):
            self.env["telephony.number"].sudo()._reindex(self, names)
        return result

    return write


def _make_unlink():
    def unlink(self, **kwargs):
        model_name, ids = self._name, self.ids
        result = unlink.telephony_origin(self, **kwargs)
        if _phone_fields(self) and ids:
            self.env["telephony.number"].sudo()._forget(model_name, ids)
        return result

    return unlink
