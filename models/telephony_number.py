import logging

from psycopg2.extras import execute_values

from odoo import api, fields, models
from odoo.tools import SQL

from ..telephony.numbers import to_e164

_logger = logging.getLogger(__name__)

BACKFILL_BATCH = 20000

# Where the country a record's numbers are written in is found, first first:
# its own country, its company's (a contact's parent), its partner's, its
# owning company's. The plan's region applies when none is set.
COUNTRY_PATHS = (
    ("country_id",),
    ("commercial_partner_id", "country_id"),
    ("partner_id", "country_id"),
    ("partner_id", "commercial_partner_id", "country_id"),
    ("company_id", "partner_id", "country_id"),
)


class TelephonyNumber(models.Model):
    """The E.164 form of every phone of the callable records.

    Incoming calls are matched on it with an indexed equality, whatever
    format the number was typed in (B3): "8 (916) 123-45-67" and
    "+7 916 1234567" are both stored as +79161234567.
    """

    _name = "telephony.number"
    _description = "Normalised phone number"
    _log_access = False

    e164 = fields.Char(required=True, index=True)
    res_model = fields.Char(required=True)
    res_id = fields.Many2oneReference(model_field="res_model", required=True)
    field_name = fields.Char(required=True)

    def init(self):
        self.env.cr.execute(
            "CREATE INDEX IF NOT EXISTS telephony_number_record_idx "
            "ON telephony_number (res_model, res_id)"
        )

    @api.model
    def _insert(self, rows):
        if rows:
            execute_values(
                self.env.cr._obj,
                "INSERT INTO telephony_number (e164, res_model, res_id, field_name) VALUES %s",
                rows,
                page_size=1000,
            )

    @api.model
    def _reindex(self, records, field_names):
        """Replace the normalised numbers of ``records`` for ``field_names``."""
        if not records or not field_names:
            return
        records = records.sudo().exists()
        self._forget(records._name, records.ids)
        plan = self.env["res.config.settings"]._telephony_dial_plan()
        rows = []
        for record in records:
            region = self._region_of(record)
            for name in field_names:
                e164 = to_e164(record[name], plan, region) if record[name] else None
                if e164:
                    rows.append((e164, records._name, record.id, name))
        self._insert(rows)

    @api.model
    def _country_paths(self, model):
        """The COUNTRY_PATHS that lead from ``model`` to a country through stored links."""
        paths = []
        for path in COUNTRY_PATHS:
            current = model
            for name in path:
                field = current._fields.get(name)
                if not field or field.type != "many2one" or not field.store:
                    break
                current = self.env[field.comodel_name]
            else:
                if current._name == "res.country":
                    paths.append(path)
        return paths

    @api.model
    def _region_of(self, record):
        """The ISO code of the country the record's numbers are written in, or None."""
        for path in self._country_paths(record):
            value = record
            for name in path:
                value = value[name]
            if value:
                return value.code
        return None

    @api.model
    def _forget(self, res_model, res_ids):
        self.env.cr.execute(
            "DELETE FROM telephony_number WHERE res_model = %s AND res_id = ANY(%s)",
            (res_model, list(res_ids)),
        )

    @api.model
    def _reindex_model(self, res_model, field_names):
        """Back-fill every record of a model in batches, straight from SQL.

        Used at enable time and when the numbering settings change, on
        tables of a million contacts: no ORM record is loaded.
        """
        Model = self.env[res_model]
        names = [name for name in field_names if name in Model._fields]
        names = [name for name in names if Model._fields[name].store]
        self.env.cr.execute("DELETE FROM telephony_number WHERE res_model = %s", (res_model,))
        if not names:
            return
        plan = self.env["res.config.settings"]._telephony_dial_plan()
        self.env.flush_all()
        columns = SQL(", ").join(SQL.identifier("t", name) for name in names)
        not_null = SQL(" OR ").join(
            SQL("%s IS NOT NULL", SQL.identifier("t", name)) for name in names
        )
        joins, codes = self._country_joins(Model)
        region = SQL("COALESCE(%s)", SQL(", ").join(codes)) if codes else SQL("NULL")
        last_id = 0
        unreadable = 0
        while True:
            self.env.cr.execute(
                SQL(
                    "SELECT t.id, %s, %s FROM %s AS t %s "
                    "WHERE t.id > %s AND (%s) ORDER BY t.id LIMIT %s",
                    region,
                    columns,
                    SQL.identifier(Model._table),
                    SQL(" ").join(joins),
                    last_id,
                    not_null,
                    BACKFILL_BATCH,
                )
            )
            batch = self.env.cr.fetchall()
            if not batch:
                break
            rows = []
            for record_id, code, *values in batch:
                for name, value in zip(names, values, strict=True):
                    if not value:
                        continue
                    e164 = to_e164(value, plan, code)
                    if e164:
                        rows.append((e164, res_model, record_id, name))
                    else:
                        unreadable += 1
            self._insert(rows)
            last_id = batch[-1][0]
        if unreadable:
            _logger.warning(
                "%s phone numbers of %s are not valid numbers in their record's country: "
                "incoming calls from them will not name their record.",
                unreadable,
                res_model,
            )

    @api.model
    def _country_joins(self, Model):
        """SQL joins from ``t`` (a row of ``Model``) to its countries, and their codes."""
        joins, codes = [], []
        for index, path in enumerate(self._country_paths(Model)):
            alias, current = "t", Model
            for step, name in enumerate(path):
                comodel = self.env[current._fields[name].comodel_name]
                next_alias = f"country{index}_{step}"
                joins.append(
                    SQL(
                        "LEFT JOIN %s AS %s ON %s = %s",
                        SQL.identifier(comodel._table),
                        SQL.identifier(next_alias),
                        SQL.identifier(next_alias, "id"),
                        SQL.identifier(alias, name),
                    )
                )
                alias, current = next_alias, comodel
            codes.append(SQL.identifier(alias, "code"))
        return joins, codes

    @api.model
    def _match(self, e164, res_model="res.partner"):
        """Ids of the records of ``res_model`` that have this number."""
        if not e164:
            return []
        self.env.cr.execute(
            "SELECT DISTINCT res_id FROM telephony_number WHERE e164 = %s AND res_model = %s "
            "ORDER BY res_id LIMIT 20",
            (e164, res_model),
        )
        return [row[0] for row in self.env.cr.fetchall()]
