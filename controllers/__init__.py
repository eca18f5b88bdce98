from . import ip_telephony
from . import recording
