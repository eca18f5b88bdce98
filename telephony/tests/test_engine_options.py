"""The engine's command line: what an operator types, what it refuses, and
the limits it keeps values within."""

import os
import subprocess
import sys
import tempfile

import pytest

from telephony.engine.__main__ import parse_args
from telephony.tests.engine_fixtures import REPO


@pytest.fixture
def secret_file():
    with tempfile.TemporaryDirectory(prefix="engine-options-") as folder:
        path = os.path.join(folder, "secret")
        with open(path, "w") as out:
            out.write("  s3cret-value\n")
        yield path


def base(secret_file, *extra):
    return [
        "--odoo-url",
        "https://crm.example",
        "--key",
        "eng_1",
        "--secret-file",
        secret_file,
        "--state-dir",
        "/tmp/unused",
        *extra,
    ]


def refused(capsys, argv) -> str:
    with pytest.raises(SystemExit) as exit_:
        parse_args(argv)
    assert exit_.value.code == 2
    return capsys.readouterr().err


def test_defaults_and_the_secret_read_from_its_file(secret_file):
    options = parse_args(base(secret_file))
    assert options.secret == "s3cret-value"  # surrounding blanks and newline dropped
    assert (options.odoo_url, options.key) == ("https://crm.example", "eng_1")
    assert options.sip_port == 5060
    assert options.poll_wait == 25
    assert options.edge is True
    assert options.ws_port == 5066  # browser phones by default
    assert options.ws_origins == []
    assert (options.relay_port_min, options.relay_port_max) == (30000, 30999)


def test_values_are_kept_within_their_limits(secret_file):
    options = parse_args(
        base(secret_file, "--poll-wait", "600", "--workers-max", "0", "--ws-port", "-5")
    )
    assert options.poll_wait == 25  # Odoo holds a long poll 25 s at most
    assert options.workers_max == 1
    assert options.ws_port == 0
    assert parse_args(base(secret_file, "--poll-wait", "-3")).poll_wait == 0


def test_browsers_need_the_edge(secret_file):
    options = parse_args(base(secret_file, "--no-edge", "--ws-port", "5066"))
    assert options.edge is False
    assert options.ws_port == 0


def test_every_option_reaches_the_engine(secret_file):
    options = parse_args(
        base(
            secret_file,
            *("--sip-port", "5070", "--rtp-port-start", "30000", "--workers-max", "7"),
            *("--phone-uri", "sip:{login}@10.0.0.5", "--register-timeout", "12"),
            *("--heartbeat", "9", "--poll-wait", "11", "--retry-max", "13"),
            *("--idle-seconds", "14", "--drain-seconds", "15", "--pike-density", "16"),
            *("--ws-port", "5066", "--ws-origin", "https://crm.example"),
            *("--ws-origin", "https://other.example", "--relay-ng-port", "2223"),
            *("--relay-ports", "40000-40099", "--log-level", "debug"),
            *("--pjsip-log-level", "3"),
        )
    )
    assert (options.sip_port, options.rtp_port_start, options.workers_max) == (5070, 30000, 7)
    assert options.phone_uri == "sip:{login}@10.0.0.5"
    assert (options.register_timeout, options.heartbeat, options.poll_wait) == (12, 9, 11)
    assert (options.retry_max, options.idle_seconds, options.drain_seconds) == (13, 14, 15)
    assert options.pike_density == 16
    assert options.ws_port == 5066
    assert options.ws_origins == ["https://crm.example", "https://other.example"]
    assert options.relay_ng_port == 2223
    assert (options.relay_port_min, options.relay_port_max) == (40000, 40099)
    assert options.log_level == 10
    assert options.pj_log_level == 3


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--relay-ports", "40000"), "--relay-ports wants MIN-MAX"),
        (("--relay-ports", "a-b"), "--relay-ports wants MIN-MAX"),
        (("--relay-ports", "40099-40000"), "--relay-ports: bad range"),
        (("--relay-ports", "0-100"), "--relay-ports: bad range"),
        (("--relay-ports", "60000-70000"), "--relay-ports: bad range"),
        (("--ws-origin", "crm.example"), "--ws-origin"),
        (("--pjsip-log-level", "5"), "invalid choice"),
        (("--sip-port", "five"), "invalid int value"),
    ],
)
def test_bad_values_are_refused_with_a_message(capsys, secret_file, extra, message):
    assert message in refused(capsys, base(secret_file, *extra))


def test_required_options_are_named(capsys):
    error = refused(capsys, [])
    for option in ("--odoo-url", "--key", "--secret-file", "--state-dir"):
        assert option in error


def test_an_empty_secret_file_is_refused(capsys, secret_file):
    with open(secret_file, "w") as out:
        out.write("\n")
    assert "the secret file is empty" in refused(capsys, base(secret_file))


def test_the_command_refuses_bad_options_before_starting_anything(secret_file):
    """``python -m telephony.engine`` as an operator runs it: exit 2 and a
    message, nothing left in the state folder."""
    with tempfile.TemporaryDirectory(prefix="engine-options-") as state:
        result = subprocess.run(
            [sys.executable, "-m", "telephony.engine"]
            + ["--odoo-url", "http://127.0.0.1:9", "--key", "eng_1"]
            + ["--secret-file", secret_file, "--state-dir", state, "--relay-ports", "9-1"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2, result.stderr
        assert "--relay-ports: bad range" in result.stderr
        assert os.listdir(state) == []
