{
    "name": "IP Telephony",
    "version": "18.0.1.1.0",
    "summary": "Click-to-call, incoming call cards, call log and recordings, "
    "with a bundled SIP engine",
    "category": "Productivity/VOIP",
    "author": "ip_telephony developers",
    "maintainers": ["ip-telephony"],
    "website": "https://example.com/ip_telephony",
    "license": "LGPL-3",
    "depends": ["contacts", "mail", "bus", "phone_validation"],
    "external_dependencies": {"python": ["phonenumbers"]},
    "data": [
        "security/ip_telephony_groups.xml",
        "security/ir.model.access.csv",
        "security/ip_telephony_security.xml",
        "data/ir_cron_data.xml",
        "data/telephony_callable_model_data.xml",
        "views/telephony_call_views.xml",
        "views/telephony_sip_account_views.xml",
        "views/telephony_user_views.xml",
        "views/telephony_engine_views.xml",
        "views/telephony_callable_model_views.xml",
        "views/telephony_recording_access_views.xml",
        "views/res_groups_views.xml",
        "views/res_partner_views.xml",
        "views/res_config_settings_views.xml",
        "wizard/telephony_erase_wizard_views.xml",
        "views/ip_telephony_menus.xml",
    ],
    "demo": [
        "demo/ip_telephony_demo.xml",
    ],
    "assets": {
        "web.assets_backend": [
            "ip_telephony/static/src/**/*",
        ],
        "web.assets_tests": [
            "ip_telephony/static/tests/tours/**/*",
        ],
    },
    "application": True,
    "installable": True,
}
