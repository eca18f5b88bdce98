from odoo import api, fields, models
from odoo.exceptions import UserError

from ..telephony.masking import MODE_NONE, mask_number

# Operators that compare a whole value: they can find a record by its complete
# number, never spell a number out digit by digit.
EXACT_OPERATORS = frozenset(("=", "!=", "in", "not in", "=?"))
# How many distinct numbers one search may test a masked field against. A list
# of candidates (``in``, or an ``|`` of many ``=``) would tell at once which of
# thousands of known numbers the hidden one is; one value is what finding a
# call by its complete number needs.
MAX_TESTED_NUMBERS = 1
# Aggregates that count values without showing them.
COUNTING_AGGREGATES = frozenset(("count", "count_distinct"))


def _masker(env):
    """The function masking numbers for ``env``'s user, or None when nothing is masked.

    Superuser mode reads numbers as they are: it is the server's own code
    (engine events, the card builder, which masks for each recipient).
    """
    if env.su:
        return None
    mode, count = env["res.groups"]._telephony_mask_policy(env.user)
    if mode == MODE_NONE:
        return None
    return lambda number: mask_number(number, mode, count)


class MaskedValues:
    """Masks a field's values on the way out, for users whose groups mask numbers.

    Values are stored and cached as they are; every read of the field in a
    user's environment (``record.number``, ``mapped``, hence ``read``,
    ``web_read``, ``export_data``, ``copy_data``, onchange, QWeb reports and
    templates) returns the masked value.  Searching and grouping, which run
    in SQL, are guarded by the model (``telephony.masking.mixin``, or
    models/base.py for the phone fields of callable models).
    """

    def _telephony_masks(self, records):
        return _masker(records.env)

    def __get__(self, record, owner=None):
        value = super().__get__(record, owner)
        if record is None or not value or not isinstance(value, str):
            return value
        mask = self._telephony_masks(record)
        return mask(value) if mask else value

    def mapped(self, records):
        values = super().mapped(records)
        mask = self._telephony_masks(records)
        if not mask:
            return values
        return [mask(value) if isinstance(value, str) and value else value for value in values]


class MaskedChar(MaskedValues, fields.Char):
    """A phone number of the call log, masked on the way out (F27)."""


# ----------------------------------------------------------------------
# Guards shared by the masking mixin and the callable models (models/base.py)
# ----------------------------------------------------------------------


def check_tested_numbers(model, fname, value, query):
    """Refuse a search that tests masked numbers against several values."""
    values = value if isinstance(value, list | tuple | set) else [value]
    tested = query.__dict__.setdefault("_telephony_tested_numbers", set())
    tested.update(str(value) for value in values if value not in (False, None, ""))
    if len(tested) > MAX_TESTED_NUMBERS:
        raise UserError(
            model.env._(
                "Phone numbers are hidden for you: search for one complete number "
                "at a time (%(field)s).",
                field=model._fields[fname]._description_string(model.env),
            )
        )


def complete_number(model, fname, operator, value):
    """The E.164 form of a complete number searched for with ``like``, or a clear refusal."""
    if (
        operator in ("like", "ilike", "=like", "=ilike")
        and isinstance(value, str)
        and "%" not in value
        and "_" not in value
    ):
        number = model.env["res.partner"]._telephony_normalize(value)
        if number:
            return number
    raise UserError(
        model.env._(
            "Phone numbers are hidden for you: search by the complete number "
            "(%(field)s), not by part of it.",
            field=model._fields[fname]._description_string(model.env),
        )
    )


def check_order(model, masked, field_name):
    """Refuse sorting by a masked field: the order would place a hidden number among known ones."""
    fname = field_name.split(".", 1)[0]
    if fname in masked:
        raise UserError(
            model.env._(
                "Phone numbers are hidden for you: records cannot be sorted by %(field)s.",
                field=model._fields[fname]._description_string(model.env),
            )
        )


def check_read_group(model, masked, groupby, aggregates, having, order):
    """Refuse grouping by a masked field or aggregating one other than by counting."""
    specs = list(groupby) + list(aggregates)
    specs += [leaf[0] for leaf in having or () if isinstance(leaf, list | tuple)]
    specs += [term.split()[0] for term in (order or "").split(",") if term.strip()]
    for spec in specs:
        fname, _sep, function = spec.partition(":")
        if fname.split(".")[0] in masked and (
            spec in groupby or function not in COUNTING_AGGREGATES
        ):
            raise UserError(
                model.env._(
                    "Phone numbers are hidden for you: records cannot be grouped "
                    "or sorted by %(field)s.",
                    field=model._fields[fname.split(".")[0]]._description_string(model.env),
                )
            )


class TelephonyMaskingMixin(models.AbstractModel):
    """Number masking that holds on every way out of the server (F27).

    A model inherits this mixin and declares its number fields as
    ``MaskedChar``; for a user whose groups mask numbers:

    * reads give masked values (the field class does it);
    * ``display_name`` is the masked number when ``_rec_name`` is one of them,
      and superuser mode (which mail and other generic code use to label a
      record for anybody: message record names, activity names, bus
      payloads) gets ``"<Model> #<id>"`` rather than the number;
    * a search on a number field accepts only whole-value operators (``=``,
      ``!=``, ``in``, ``not in``); ``like``/``ilike`` with a complete number
      becomes an exact match on ``_telephony_search_field`` (so the search bar
      still finds a call by its full number) and anything else is refused, so
      that nobody recovers a number digit by digit or by comparisons;
    * one search tests at most ``MAX_TESTED_NUMBERS`` distinct numbers, so
      that a list of candidates cannot be checked at once;
    * sorting by a number field is refused, since the order would place a
      hidden number among known ones;
    * grouping by a number field or aggregating one (other than counting) is
      refused, since the groups would show the numbers;
    * number fields are never tracked in the chatter.

    Code that needs the real number for a user whose numbers are masked (to
    dial it again, say) reads it with ``sudo()``.
    """

    _name = "telephony.masking.mixin"
    _description = "Number masking"

    # Number fields whose `like` searches may become an exact match on
    # `_telephony_search_field` when given a complete number.
    _telephony_number_fields = ()
    _telephony_search_field = None

    @api.model
    def _telephony_masked_fields(self):
        return [name for name, field in self._fields.items() if isinstance(field, MaskedChar)]

    # ------------------------------------------------------------------
    # Display name
    # ------------------------------------------------------------------

    @api.depends_context("uid")
    def _compute_display_name(self):
        super()._compute_display_name()
        if self._rec_name not in self._telephony_masked_fields():
            return
        for record in self:
            if self.env.su or not record.display_name:
                record.display_name = record._telephony_neutral_name()

    def _telephony_neutral_name(self):
        """A label that names the record without its number."""
        self.ensure_one()
        label = self.env["ir.model"].sudo()._get(self._name).name or self._description
        if not self.id:
            return label
        return self.env._("%(model)s #%(id)s", model=label, id=self.id)

    @api.model
    def name_search(self, name="", args=None, operator="ilike", limit=100):
        try:
            found = super().name_search(name, args, operator, limit)
        except UserError:
            # Autocompletion with part of a masked number: no match, no error.
            if _masker(self.env) and name:
                return []
            raise
        # The base names its results in superuser mode, which gives neutral
        # names here: name them as the user sees them instead.
        records = self.browse([record_id for record_id, _name in found])
        return [(record.id, record.display_name) for record in records]

    # ------------------------------------------------------------------
    # Search and grouping
    # ------------------------------------------------------------------

    def _condition_to_sql(self, alias, fname, operator, value, query):
        if fname not in self._telephony_masked_fields() or not _masker(self.env):
            return super()._condition_to_sql(alias, fname, operator, value, query)
        if operator in EXACT_OPERATORS:
            self._telephony_count_tested(fname, value, query)
            return super()._condition_to_sql(alias, fname, operator, value, query)
        if value in (False, None, ""):
            return super()._condition_to_sql(alias, fname, operator, value, query)
        number = self._telephony_complete_number(fname, operator, value)
        self._telephony_count_tested(fname, number, query)
        return super()._condition_to_sql(alias, self._telephony_search_field, "=", number, query)

    @api.model
    def _telephony_count_tested(self, fname, value, query):
        check_tested_numbers(self, fname, value, query)

    @api.model
    def _telephony_complete_number(self, fname, operator, value):
        if fname in self._telephony_number_fields and self._telephony_search_field:
            return complete_number(self, fname, operator, value)
        return complete_number(self, fname, None, value)

    def _order_field_to_sql(self, alias, field_name, direction, nulls, query):
        if _masker(self.env):
            check_order(self, self._telephony_masked_fields(), field_name)
        return super()._order_field_to_sql(alias, field_name, direction, nulls, query)

    @api.model
    def _read_group(
        self, domain, groupby=(), aggregates=(), having=(), offset=0, limit=None, order=None
    ):
        if _masker(self.env):
            check_read_group(
                self, set(self._telephony_masked_fields()), groupby, aggregates, having, order
            )
        return super()._read_group(domain, groupby, aggregates, having, offset, limit, order)

    # ------------------------------------------------------------------
    # Chatter
    # ------------------------------------------------------------------

    def _track_get_fields(self):
        # A tracked number would be written in clear into tracking values.
        tracked = super()._track_get_fields()
        return tracked - set(self._telephony_masked_fields())
