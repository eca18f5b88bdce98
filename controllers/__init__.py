from . import ip_telephony
