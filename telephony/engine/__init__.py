"""Bundled telephony engine: controller, pjsua2 media workers, SIP edge.

Runs without Odoo: ``python -m telephony.engine --help``. See docs/engine.md.
"""
