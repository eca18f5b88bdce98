from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import AccessError, MissingError

# A seek in the audio player is a new HTTP request for a later part of the
# file: it is not logged again if the same playback was logged this recently.
SEEK_WINDOW = timedelta(minutes=10)
KINDS = ("listen", "download", "zip")


class TelephonyRecordingAccess(models.Model):
    """Who listened to or downloaded which recording, and when (B7).

    Rows are written in superuser mode by the recording routes only.
    Administrators read them; nobody edits or deletes them.  A row outlives
    its call: it keeps the call's id in ``call_ref``, with no foreign key, so
    that purging a million calls does not update the log row by row.
    """

    _name = "telephony.recording.access"
    _description = "Recording access"
    _order = "id desc"
    _rec_name = "kind"

    user_id = fields.Many2one(
        "res.users", required=True, readonly=True, index=True, ondelete="restrict"
    )
    call_ref = fields.Integer("Call id", required=True, readonly=True, index=True)
    call_id = fields.Many2one(
        "telephony.call", compute="_compute_call_id", help="Empty once the call is deleted."
    )
    kind = fields.Selection(
        [("listen", "Listen"), ("download", "Download"), ("zip", "Download (zip)")],
        required=True,
        readonly=True,
    )
    access_date = fields.Datetime("When", required=True, readonly=True, default=fields.Datetime.now)
    ip_address = fields.Char("IP address", readonly=True)

    @api.depends("call_ref")
    def _compute_call_id(self):
        # sudo: the log is read by administrators, who may read every call.
        existing = set(
            self.env["telephony.call"].sudo().browse(set(self.mapped("call_ref"))).exists().ids
        )
        for row in self:
            row.call_id = row.call_ref if row.call_ref in existing else False

    def write(self, vals):
        if vals:
            raise AccessError(self.env._("The recording access log cannot be changed."))
        return super().write(vals)

    @api.ondelete(at_uninstall=False)
    def _unlink_never(self):
        raise AccessError(self.env._("The recording access log cannot be deleted."))

    # ------------------------------------------------------------------
    # Checks and logging for the recording routes
    # ------------------------------------------------------------------

    @api.model
    def _check_calls(self, call_ids, kind):
        """The calls whose recordings the current user may have, or an error.

        AccessError: not a telephony user, no right to ``kind``, or a call
        the user may not read; MissingError: a call that does not exist.
        """
        if kind not in KINDS:
            raise ValueError(kind)
        user = self.env.user
        if not user.has_group("ip_telephony.group_telephony_user"):
            raise AccessError(self.env._("Only telephony users have access to recordings."))
        may_listen, may_download = self.env["res.groups"]._telephony_recording_rights(user)
        if not (may_download if kind in ("download", "zip") else may_listen):
            raise AccessError(
                self.env._("You may not download recordings.")
                if kind != "listen"
                else self.env._("You may not listen to recordings.")
            )
        calls = self.env["telephony.call"].browse(call_ids)
        if len(calls.exists()) != len(set(call_ids)):
            raise MissingError(self.env._("This call does not exist any more."))
        calls.check_access("read")
        return calls

    @api.model
    def _log(self, calls, kind, continued=False, ip_address=None):
        """Write one row per call; ``continued`` requests (a seek in the
        player) are not logged again within ``SEEK_WINDOW``."""
        if continued:
            since = fields.Datetime.now() - SEEK_WINDOW
            logged = (
                self.sudo()
                .search(
                    [
                        ("user_id", "=", self.env.uid),
                        ("call_ref", "in", calls.ids),
                        ("kind", "=", kind),
                        ("access_date", ">=", since),
                    ]
                )
                .mapped("call_ref")
            )
            calls = calls.filtered(lambda call: call.id not in logged)
        if not calls:
            return self.browse()
        return self.sudo().create(
            [
                {
                    "user_id": self.env.uid,
                    "call_ref": call.id,
                    "kind": kind,
                    "ip_address": (ip_address or "")[:64] or False,
                }
                for call in calls
            ]
        )
