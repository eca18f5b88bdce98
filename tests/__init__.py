from . import common
from . import test_engine_endpoint
from . import test_telephony_models
