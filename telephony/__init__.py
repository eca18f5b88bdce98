"""Pure telephony core shared by the Odoo addon and the engine; no Odoo import."""
