from odoo import models

from .telephony_callable_model import phone_fields_of


class MailTrackingValue(models.Model):
    _inherit = "mail.tracking.value"

    def _tracking_value_format_model(self, model):
        """Changes of a callable model's phone field, masked like the field.

        The chatter formats tracking values in superuser mode: the policy is
        the one of the user reading the thread.
        """
        formatted = super()._tracking_value_format_model(model)
        names = phone_fields_of(self.env[model]) if model in self.env else ()
        if not names or not formatted:
            return formatted
        mode_mask = self.env["res.groups"]._telephony_mask_for(self.env.user)
        for values in formatted:
            if values.get("fieldName") in names:
                for side in ("oldValue", "newValue"):
                    value = values[side].get("value")
                    if isinstance(value, str) and value:
                        values[side]["value"] = mode_mask(value)
        return formatted
