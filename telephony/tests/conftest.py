"""A hard per-test timeout for the engine tests (pytest.ini puts the repository root
on the path: the core is the top-level package ``telephony`` here)."""

import signal

import pytest

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
