from collections import defaultdict

from odoo import api, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from ..telephony.masking import MASK_CHAR
from .telephony_callable_model import phone_fields_of
from .telephony_masking_mixin import (
    EXACT_OPERATORS,
    _masker,
    check_order,
    check_read_group,
    check_tested_numbers,
    complete_number,
)

# Fields whose change may change the country a record's phones are read in.
COUNTRY_FIELDS = frozenset(
    ("country_id", "parent_id", "commercial_partner_id", "partner_id", "company_id")
)


class Base(models.AbstractModel):
    """The phone fields of callable models: their index and their masking.

    Callable models are chosen in Settings. Hooking every model here, rather
    than patching the chosen ones in ``_register_hook``, also catches the
    writes made while modules install or update (data files, demo data,
    migrations), which run before ``_register_hook``.

    For users whose groups mask numbers, these phone fields are masked like
    the numbers of the call log: values by their field class (see
    ``_telephony_phone_fields_map``), searches, orders and groups here.
    """

    _inherit = "base"

    @api.model
    def _telephony_masked_phone_fields(self):
        """The phone fields masked for the current user, if any."""
        names = phone_fields_of(self)
        return names if names and _masker(self.env) else ()

    # ------------------------------------------------------------------
    # The index
    # ------------------------------------------------------------------

    @api.model_create_multi
    def create(self, vals_list):
        records = super().create(vals_list)
        names = phone_fields_of(records)
        if names and records:
            records.env["telephony.number"].sudo()._reindex(records, names)
        return records

    def write(self, vals):
        names = phone_fields_of(self)
        if not names or not self:
            return super().write(vals)
        for records, values in self._telephony_unseen_writes(vals, names):
            super(Base, records).write(values)
            if (set(names) | COUNTRY_FIELDS) & set(values):
                self.env["telephony.number"].sudo()._reindex(records, names)
        return True

    def unlink(self):
        names = phone_fields_of(self)
        model_name, ids = self._name, self.ids
        result = super().unlink()
        if names and ids:
            self.env["telephony.number"].sudo()._forget(model_name, ids)
        return result

    # ------------------------------------------------------------------
    # Masking
    # ------------------------------------------------------------------

    def _telephony_unseen_writes(self, vals, names):
        """``[(records, vals)]`` to write for a user who cannot see the numbers.

        They may replace a number without seeing it, and a value equal to
        what they see (the masked number, sent back by a form's onchange or
        a re-imported export) leaves the hidden number as it is. A value
        with masked digits in it is refused: it would overwrite a number
        with stars.
        """
        written = [name for name in names if name in vals]
        mask = _masker(self.env) if written else None
        if not mask:
            return [(self, vals)]
        batches = defaultdict(lambda: self.browse())
        for record in self:
            real = record.sudo()
            unchanged = frozenset(
                name for name in written if (vals[name] or "") == mask(real[name] or "")
            )
            batches[unchanged] |= record
        result = []
        for unchanged, records in batches.items():
            values = {key: value for key, value in vals.items() if key not in unchanged}
            for name in set(written) - unchanged:
                if isinstance(values[name], str) and MASK_CHAR in values[name]:
                    raise UserError(
                        self.env._(
                            "Phone numbers are hidden for you: type the complete new "
                            "number in %(field)s, or leave it as it is.",
                            field=self._fields[name]._description_string(self.env),
                        )
                    )
            if values:
                result.append((records, values))
        return result

    def copy_data(self, default=None):
        # A copy made by a user who cannot see the number keeps it, unseen.
        vals_list = super().copy_data(default)
        names = self._telephony_masked_phone_fields()
        for record, vals in zip(self, vals_list, strict=False):
            for name in names:
                if name in vals and name not in (default or {}):
                    vals[name] = record.sudo()[name]
        return vals_list

    def _condition_to_sql(self, alias, fname, operator, value, query):
        if fname not in self._telephony_masked_phone_fields():
            return super()._condition_to_sql(alias, fname, operator, value, query)
        if operator in EXACT_OPERATORS or value in (False, None, ""):
            if operator in EXACT_OPERATORS:
                check_tested_numbers(self, fname, value, query)
            return super()._condition_to_sql(alias, fname, operator, value, query)
        # A complete number finds its records through the normalised index.
        number = complete_number(self, fname, operator, value)
        check_tested_numbers(self, fname, number, query)
        return SQL(
            "%s IN (SELECT res_id FROM telephony_number "
            "WHERE res_model = %s AND field_name = %s AND e164 = %s)",
            SQL.identifier(alias, "id"),
            self._name,
            fname,
            number,
        )

    def _order_field_to_sql(self, alias, field_name, direction, nulls, query):
        masked = self._telephony_masked_phone_fields()
        if masked:
            check_order(self, masked, field_name)
        return super()._order_field_to_sql(alias, field_name, direction, nulls, query)

    @api.model
    def _read_group(
        self, domain, groupby=(), aggregates=(), having=(), offset=0, limit=None, order=None
    ):
        masked = self._telephony_masked_phone_fields()
        if masked:
            check_read_group(self, set(masked), groupby, aggregates, having, order)
        return super()._read_group(domain, groupby, aggregates, having, offset, limit, order)
