from . import common, test_engine_endpoint, test_telephony_models
