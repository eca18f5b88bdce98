from odoo import api, models

from .telephony_callable_model import phone_fields_of

# Fields whose change may change the country a record's phones are read in.
COUNTRY_FIELDS = frozenset(
    ("country_id", "parent_id", "commercial_partner_id", "partner_id", "company_id")
)


class Base(models.AbstractModel):
    """Keep the normalised numbers of callable models up to date.

    Callable models are chosen in Settings. Hooking every model here, rather
    than patching the chosen ones in ``_register_hook``, also catches the
    writes made while modules install or update (data files, demo data,
    migrations), which run before ``_register_hook``.
    """

    _inherit = "base"

    @api.model_create_multi
    def create(self, vals_list):
        records = super().create(vals_list)
        names = phone_fields_of(records)
        if names and records:
            records.env["telephony.number"].sudo()._reindex(records, names)
        return records

    def write(self, vals):
        result = super().write(vals)
        names = phone_fields_of(self)
        if names and self and (set(names) | COUNTRY_FIELDS) & set(vals):
            self.env["telephony.number"].sudo()._reindex(self, names)
        return result

    def unlink(self):
        names = phone_fields_of(self)
        model_name, ids = self._name, self.ids
        result = super().unlink()
        if names and ids:
            self.env["telephony.number"].sudo()._forget(model_name, ids)
        return result
