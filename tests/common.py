import itertools
import time
import uuid

from odoo.tests import HttpCase, TransactionCase, new_test_user

from ..telephony import protocol

_event_seq = itertools.count(1)


def make_event(kind, call_id=None, at=None, event_id=None, **data):
    """One engine event as the engine would send it."""
    event = {
        "id": event_id or uuid.uuid4().hex,
        "seq": next(_event_seq),
        "at": at if at is not None else time.time(),
        "type": kind,
        "data": data,
    }
    if call_id is not None:
        event["call_id"] = call_id
    return event


class TelephonyCommon(TransactionCase):
    """Telephony enabled, one SIP account, an admin (101) and a sales user."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["ir.config_parameter"].sudo().set_param("ip_telephony.region", "RU")
        cls.env["ir.config_parameter"].sudo().set_param("ip_telephony.city_code", "495")
        cls.env["res.config.settings"]._telephony_enable()
        cls.engine = cls.env["telephony.engine"].search([], limit=1)
        cls.account = cls.env["telephony.sip.account"].create(
            {"sip_user": "tell", "password": "trunk-secret", "domain": "sip.example.com"}
        )
        cls.manager_tel = cls.env.user._telephony_user()
        cls.sales_user = new_test_user(
            cls.env, login="sales", groups="base.group_user", name="Sally Sales"
        )
        cls.sales_tel = cls.env["telephony.user"].create({"user_id": cls.sales_user.id})
        cls.other_user = new_test_user(
            cls.env, login="other", groups="base.group_user", name="Otto Other"
        )
        cls.client = cls.env["res.partner"].create(
            {
                "name": "Ivan Petrov",
                "phone": "8 (916) 123-45-67",
                "email": "ivan@example.com",
                "user_id": cls.sales_user.id,
            }
        )

    def post_events(self, *events):
        payload = {"protocol": 1, "events": list(events)}
        return self.engine._receive_events(payload)


class TelephonyHttpCommon(HttpCase, TelephonyCommon):
    """Signed requests to the engine routes over real HTTP."""

    def signed_post(
        self,
        route,
        payload=None,
        body=None,
        secret=None,
        timestamp=None,
        headers=None,
        content_type="application/json",
    ):
        if body is None:
            body = protocol.encode(payload)
        secret = secret or self.engine.sudo().secret
        signed = protocol.signed_headers(self.engine.key, secret, body, now=timestamp)
        signed["Content-Type"] = content_type
        signed.update(headers or {})
        return self.url_open(route, data=body, headers=signed, timeout=30)

    def send_events(self, *events, **kwargs):
        return self.signed_post(
            "/telephony/engine/events", {"protocol": 1, "events": list(events)}, **kwargs
        )
