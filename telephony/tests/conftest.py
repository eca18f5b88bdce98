"""Engine test fixtures only: the repository root on sys.path, a hard per-test timeout."""

import os
import signal
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

ENGINE_TEST_TIMEOUT = 120


@pytest.fixture(autouse=True)
def _engine_test_timeout(request):
    """Engine tests talk to real processes: none may hang CI (no pytest-timeout here)."""
    if not request.module.__name__.rsplit(".", 1)[-1].startswith("test_engine_"):
        yield
        return

    def expired(signum, frame):
        raise TimeoutError(f"engine test took more than {ENGINE_TEST_TIMEOUT}s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(ENGINE_TEST_TIMEOUT)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
