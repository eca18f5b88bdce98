from odoo import SUPERUSER_ID, api


def migrate(cr, version):
    """Numbers are now read in their record's country, and only what could be
    dialled is indexed: rebuild the index, which held numbers read as the
    plan's country (and made-up E.164 forms)."""
    env = api.Environment(cr, SUPERUSER_ID, {})
    env["telephony.callable.model"]._telephony_reindex_all()
