from . import telephony_erase_wizard
