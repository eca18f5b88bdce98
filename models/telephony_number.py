from psycopg2.extras import execute_values

from odoo import api, fields, models
from odoo.tools import SQL

from ..telephony.numbers import normalize_stored

BACKFILL_BATCH = 20000


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
        self._forget(records._name, records.ids)
        plan = self.env["res.config.settings"]._telephony_dial_plan()
        rows = []
        for record in records:
            for name in field_names:
                e164 = normalize_stored(record[name], plan) if record[name] else None
                if e164:
                    rows.append((e164, records._name, record.id, name))
        self._insert(rows)

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
        Model.flush_model(names)
        columns = SQL(", ").join(SQL.identifier(name) for name in names)
        not_null = SQL(" OR ").join(SQL("%s IS NOT NULL", SQL.identifier(name)) for name in names)
        last_id = 0
        while True:
            self.env.cr.execute(
                SQL(
                    "SELECT id, %s FROM %s WHERE id > %s AND (%s) ORDER BY id LIMIT %s",
                    columns,
                    SQL.identifier(Model._table),
                    last_id,
                    not_null,
                    BACKFILL_BATCH,
                )
            )
            batch = self.env.cr.fetchall()
            if not batch:
                break
            rows = []
            for record_id, *values in batch:
                for name, value in zip(names, values, strict=True):
                    e164 = normalize_stored(value, plan) if value else None
                    if e164:
                        rows.append((e164, res_model, record_id, name))
            self._insert(rows)
            last_id = batch[-1][0]

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
