"""The local test line that ``bin/run`` starts for the demo trunk."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import uuid

import pytest

from telephony.tests.engine_fixtures import (
    PYTHON,
    REPO,
    UserAgentProcess,
    free_udp_port,
    goertzel_ratio,
    read_wav,
    wait_until,
)

TONE_HZ = 1100.0


def register_without_credentials(port: int, timeout: float = 5) -> str:
    """The status line a REGISTER without credentials gets."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(timeout)
        local = sock.getsockname()[1]
        call_id = uuid.uuid4().hex
        sock.sendto(
            (
                f"REGISTER sip:127.0.0.1:{port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK{call_id}\r\n"
                f"From: <sip:demo@127.0.0.1>;tag={call_id[:8]}\r\nTo: <sip:demo@127.0.0.1>\r\n"
                f"Call-ID: {call_id}\r\nCSeq: 1 REGISTER\r\n"
                f"Contact: <sip:demo@127.0.0.1:{local}>\r\nContent-Length: 0\r\n\r\n"
            ).encode(),
            ("127.0.0.1", port),
        )
        return sock.recv(65535).decode().split("\r\n", 1)[0]


def sipp_answering_lines() -> list[str]:
    found = subprocess.run(["pgrep", "-af", "sipp -sn uas"], capture_output=True, text=True)
    return [line for line in found.stdout.splitlines() if "pgrep" not in line]


def test_the_test_line_challenges_registrations_and_echoes_calls(tmp_path):
    before = set(sipp_answering_lines())
    port = free_udp_port()
    line = subprocess.Popen(
        [PYTHON, "-m", "telephony.engine.testline", "--port", str(port), "--user", "demo:pw"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert "registrar on 127.0.0.1" in line.stdout.readline()
        assert register_without_credentials(port) == "SIP/2.0 401 Unauthorized"
        with UserAgentProcess(
            str(tmp_path),
            "caller",
            TONE_HZ,
            hold=3.0,
            call=(f"sip:84951234567@127.0.0.1:{port}", "demo"),
        ) as caller:
            wait_until(lambda: caller.find("confirmed"), 15, message="the test line answers")
            heard = wait_until(lambda: caller.find("disconnected"), 20, message="hang-up")
        samples, rate = read_wav(heard[-1]["path"])
        # The caller hears its own tone back: the line echoes the audio.
        assert goertzel_ratio(samples[rate:], rate, TONE_HZ) > 0.3
    finally:
        line.terminate()
        line.wait(timeout=10)
    assert line.returncode == 0, line.stderr.read()
    wait_until(lambda: set(sipp_answering_lines()) <= before, 10, message="SIPp stopped")


def answers(port: int) -> bool:
    try:
        return register_without_credentials(port, timeout=0.5) == "SIP/2.0 401 Unauthorized"
    except OSError:  # not listening yet: a timeout or a refused port
        return False


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_the_test_line_stops_on_a_signal_as_a_background_job(signum):
    """bin/run starts the line as a shell's background job (SIGINT ignored
    there) and stops it with SIGTERM, or the user with Ctrl-C: either way it
    ends within seconds, with its SIPp, and frees its port."""
    before = set(sipp_answering_lines())
    port = free_udp_port()
    script = (
        f"{shlex.quote(PYTHON)} -m telephony.engine.testline --port {port} --user demo:pw "
        "& echo $!; wait"
    )
    shell = subprocess.Popen(["bash", "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        pid = int(shell.stdout.readline())
        wait_until(lambda: answers(port), 15, message="the line is up")
        os.kill(pid, signum)
        shell.wait(timeout=10)
    finally:
        if shell.poll() is None:
            shell.kill()
    wait_until(lambda: set(sipp_answering_lines()) <= before, 10, message="SIPp stopped")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", port))  # free again
