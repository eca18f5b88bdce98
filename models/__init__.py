from . import (
    res_config_settings,
    res_groups,
    res_partner,
    res_users,
    telephony_call,
    telephony_callable_model,
    telephony_command,
    telephony_engine,
    telephony_event,
    telephony_number,
    telephony_sip_account,
    telephony_user,
)
