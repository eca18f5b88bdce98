from odoo import api, fields, models


class TelephonyNumber(models.Model):
    """The E.164 form of every phone of the callable records.

    Incoming calls are matched on it with an indexed equality, whatever
    format the number was typed in (B3).
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
    def _reindex(self, records, field_names):
        """Replace the normalised numbers of ``records`` for ``field_names``."""
        if not records:
            return
        self.env.cr.execute(
            "DELETE FROM telephony_number WHERE res_model = %s AND res_id = ANY(%s) "
            "AND field_name = ANY(%s)",
            (records._name, records.ids, list(field_names)),
        )
        plan = self.env["res.config.settings"]._telephony_dial_plan()
        from ..telephony.numbers import normalize_incoming

        rows = []
        for record in records:
            for name in field_names:
                e164 = normalize_incoming(record[name] or "", plan) if record[name] else None
                if e164:
                    rows.append((e164, records._name, record.id, name))
        if rows:
            values = ", ".join(["(%s, %s, %s, %s)"] * len(rows))
            self.env.cr.execute(
                f"INSERT INTO telephony_number (e164, res_model, res_id, field_name) "  # noqa: S608
                f"VALUES {values}",
                [value for row in rows for value in row],
            )

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
