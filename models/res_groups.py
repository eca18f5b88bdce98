from odoo import api, fields, models, tools

from ..telephony.masking import MODE_NONE, mask_number, mask_policy

# Fields of a group that telephony administrators may set without being
# allowed to manage groups (access rights) in general.
TELEPHONY_GROUP_FIELDS = frozenset(
    (
        "telephony_auto_enrol",
        "telephony_mask_mode",
        "telephony_mask_count",
        "telephony_may_listen",
        "telephony_may_download",
    )
)


class ResGroups(models.Model):
    _inherit = "res.groups"

    telephony_auto_enrol = fields.Boolean(
        "Telephony auto-enrolment",
        help="Users of this group become telephony users with the next free extension (F9).",
    )
    telephony_mask_mode = fields.Selection(
        [("none", "Visible"), ("full", "Hidden"), ("prefix", "First characters hidden")],
        string="Number masking",
        default="none",
        required=True,
    )
    telephony_mask_count = fields.Integer(
        "Masked characters", default=0, help="How many leading characters show as *."
    )
    telephony_may_listen = fields.Boolean(
        "May listen to recordings",
        help="Members play the recordings of the calls they may read (B7). "
        "Rights add up: a user may listen if any of their groups may.",
    )
    telephony_may_download = fields.Boolean(
        "May download recordings",
        help="Members download recordings, one by one or as a zip (B7); "
        "downloading includes listening.",
    )

    @api.model_create_multi
    def create(self, vals_list):
        groups = super().create(vals_list)
        if any(TELEPHONY_GROUP_FIELDS & set(vals) for vals in vals_list):
            self.env.registry.clear_cache()
        return groups

    def write(self, vals):
        if (
            vals
            and not self.env.su
            and set(vals) <= TELEPHONY_GROUP_FIELDS
            and self.env.user.has_group("ip_telephony.group_telephony_manager")
        ):
            # sudo: telephony administrators set the telephony policy of any
            # group (masking, recordings) without the right to manage groups.
            return self.sudo().write(vals)
        result = super().write(vals)
        if TELEPHONY_GROUP_FIELDS & set(vals):
            # Again after the write: a read in between may have cached old values.
            self.env.registry.clear_cache()
        if "users" in vals or vals.get("telephony_auto_enrol"):
            self.filtered("telephony_auto_enrol").users._telephony_auto_enrol()
        return result

    @api.model
    def _telephony_mask_for(self, user):
        """A function that masks a number the way ``user``'s groups require."""
        mode, count = self._telephony_mask_policy(user)
        return lambda number: mask_number(number, mode, count)

    @api.model
    def _telephony_mask_policy(self, user):
        """The strictest ``(mode, count)`` masking policy of ``user``'s groups."""
        policies = self._telephony_group_policies()
        if not user or not policies["mask"]:
            return MODE_NONE, 0
        masks = policies["mask"]
        return mask_policy(masks[gid] for gid in user._get_group_ids() if gid in masks)

    @api.model
    def _telephony_recording_rights(self, user):
        """``(may_listen, may_download)`` of ``user``: rights add up over groups."""
        if not user:
            return False, False
        policies = self._telephony_group_policies()
        group_ids = set(user._get_group_ids())
        may_download = bool(group_ids & policies["download"])
        return may_download or bool(group_ids & policies["listen"]), may_download

    @api.model
    @tools.ormcache()
    def _telephony_group_policies(self):
        """Masking and recording rights per group, cached: read on every number.

        Any write on a group clears the registry cache (see res.groups.write),
        and so do group creations that set these fields.
        """
        groups = (
            self.sudo()
            .with_context(active_test=False)
            .search_fetch(
                [
                    "|",
                    "|",
                    ("telephony_mask_mode", "!=", "none"),
                    ("telephony_may_listen", "=", True),
                    ("telephony_may_download", "=", True),
                ],
                ["telephony_mask_mode", "telephony_mask_count"]
                + ["telephony_may_listen", "telephony_may_download"],
            )
        )
        return {
            "mask": {
                group.id: (group.telephony_mask_mode, group.telephony_mask_count)
                for group in groups
                if group.telephony_mask_mode != MODE_NONE
            },
            "listen": frozenset(groups.filtered("telephony_may_listen").ids),
            "download": frozenset(groups.filtered("telephony_may_download").ids),
        }
