"""The Kamailio SIP edge: phones register with Odoo's credentials, the engine
rings them through it, and a flood of INVITEs gets 503 without a crash."""

import hashlib
import os
import re
import socket
import subprocess
import tempfile
import time
import uuid

import pytest

from telephony.engine.edge import SipEdge
from telephony.engine.edge_config import REALM
from telephony.tests.engine_fixtures import (
    EngineProcess,
    FakeOdoo,
    UserAgentProcess,
    free_udp_port,
    wait_until,
)

pytestmark = pytest.mark.skipif(
    not os.path.exists("/usr/sbin/kamailio"), reason="Debian package kamailio is not installed"
)


def flood(port: int, count: int) -> list[str]:
    """Send ``count`` INVITEs as fast as possible; return the status lines received."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    local = sock.getsockname()[1]
    for n in range(count):
        call_id = uuid.uuid4().hex
        message = (
            f"INVITE sip:acme_101@127.0.0.1:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK{call_id}\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:flood@127.0.0.1>;tag={n}\r\n"
            f"To: <sip:acme_101@127.0.0.1:{port}>\r\n"
            f"Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\n"
            f"Contact: <sip:flood@127.0.0.1:{local}>\r\nContent-Length: 0\r\n\r\n"
        )
        sock.sendto(message.encode(), ("127.0.0.1", port))
    sock.settimeout(1.0)
    replies = []
    try:
        for _ in range(count * 2):
            data = sock.recv(65535)
            replies.append(data.split(b"\r\n", 1)[0].decode())
    except TimeoutError:
        pass
    sock.close()
    return replies


def test_phones_register_at_the_edge_and_are_rung_through_it():
    with tempfile.TemporaryDirectory(prefix="engine-edge-") as workdir, FakeOdoo() as odoo:
        with UserAgentProcess(workdir, "provider", 1000, hold=1.5) as provider:
            odoo.config.update(
                accounts=[
                    {
                        "id": 3,
                        "sequence": 1,
                        "user": "tell",
                        "password": "pw",
                        "domain": f"127.0.0.1:{provider.port}",
                        "host": f"127.0.0.1:{provider.port}",
                    }
                ],
                users=[
                    {"login": "acme_101", "password": "phone-pw-1"},
                    {"login": "acme_102", "password": "phone-pw-2"},
                ],
                settings={"ring_time": 5, "recording": False},
            )
            engine = EngineProcess(odoo, workdir).start()
            try:
                edge = engine.sip_port
                with (
                    UserAgentProcess(
                        workdir, "phone", 440, register=(edge, "acme_101", "phone-pw-1")
                    ) as phone,
                    UserAgentProcess(
                        workdir, "intruder", 440, register=(edge, "acme_102", "wrong")
                    ) as intruder,
                ):
                    assert wait_until(lambda: phone.find("registered"), 10)[-1]["code"] == 200
                    assert wait_until(lambda: intruder.find("registered"), 10)[-1]["code"] in (
                        401,
                        403,
                    )
                    state = wait_until(lambda: odoo.events_of("phone.state"), 10)
                    assert [(e["data"]["login"], e["data"]["state"]) for e in state] == [
                        ("acme_101", "registered")
                    ]
                    # Click-to-call reaches the phone through the edge.
                    odoo.queue(
                        "dial",
                        {
                            "login": "acme_101",
                            "number": "+79160000001",
                            "dial": "89160000001",
                            "account_id": 3,
                        },
                        call_id=1,
                    )
                    call_id = wait_until(lambda: odoo.call_id_for(1), 10)
                    end = wait_until(lambda: odoo.events_of("call.ended", call_id), 20)[0]
                    assert end["data"]["outcome"] == "answered"
                    assert phone.find("invite", user="acme_101")
                # A new password takes effect at once, without restarting the edge.
                odoo.set_config(
                    users=[
                        {"login": "acme_101", "password": "phone-pw-1"},
                        {"login": "acme_102", "password": "phone-pw-new"},
                    ]
                )
                wait_until(lambda: "phone-pw-new" in str(odoo.config), 1)
                time.sleep(1.5)  # config.changed -> fetch -> kamcmd
                with UserAgentProcess(
                    workdir, "renewed", 440, register=(edge, "acme_102", "phone-pw-new")
                ) as renewed:
                    assert wait_until(lambda: renewed.find("registered"), 10)[-1]["code"] == 200
                # Flood: excess INVITEs get 503 and the edge stays up.
                replies = flood(edge, 300)
                assert any(line.startswith("SIP/2.0 503") for line in replies), replies[:5]
                ctl = os.path.join(engine.state_dir, "edge", "kamailio_ctl")
                version = subprocess.run(
                    ["kamcmd", "-s", f"unix:{ctl}", "core.version"],
                    capture_output=True,
                    text=True,
                    timeout=5,
                )
                assert "kamailio" in version.stdout.lower()
            finally:
                code = engine.stop()
            assert code == 0
            assert "phone-pw" not in engine.log()


def _register(port: int, login: str, password: str) -> str:
    """One digest REGISTER at the edge; the final status line."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    local = sock.getsockname()[1]
    uri, call_id, authorization = f"sip:127.0.0.1:{port}", uuid.uuid4().hex, ""
    try:
        for cseq in (1, 2):
            sock.sendto(
                (
                    f"REGISTER {uri} SIP/2.0\r\n"
                    f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK{uuid.uuid4().hex}\r\n"
                    f"Max-Forwards: 70\r\nFrom: <sip:{login}@127.0.0.1>;tag=t{cseq}\r\n"
                    f"To: <sip:{login}@127.0.0.1>\r\nCall-ID: {call_id}\r\n"
                    f"CSeq: {cseq} REGISTER\r\nContact: <sip:{login}@127.0.0.1:{local}>\r\n"
                    f"Expires: 60\r\n{authorization}Content-Length: 0\r\n\r\n"
                ).encode(),
                ("127.0.0.1", port),
            )
            reply = sock.recv(65535).decode(errors="replace")
            if not reply.startswith("SIP/2.0 401") or cseq == 2:
                return reply.split("\r\n", 1)[0]
            nonce = re.search(r'nonce="([^"]+)"', reply).group(1)
            ha1 = hashlib.md5(f"{login}:{REALM}:{password}".encode()).hexdigest()
            ha2 = hashlib.md5(f"REGISTER:{uri}".encode()).hexdigest()
            response = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()
            authorization = (
                f'Authorization: Digest username="{login}", realm="{REALM}", '
                f'nonce="{nonce}", uri="{uri}", response="{response}", algorithm=MD5\r\n'
            )
    finally:
        sock.close()
    return ""


def test_numeric_logins_and_passwords_register():
    """An extension-like login (101) and passwords that look like numbers reach
    the edge as text (kamcmd would read them as numbers and fail or truncate)."""
    with tempfile.TemporaryDirectory(prefix="engine-edge-") as workdir:
        port = free_udp_port()
        edge = SipEdge(workdir, port, pike_density=1000)
        edge.start()
        try:
            users = {"101": "1234567890123456", "acme_7": "12e4567890123456", "acme_8": "pw-8"}
            edge.set_users(users)
            for login, password in users.items():
                assert _register(port, login, password) == "SIP/2.0 200 OK", login
            assert _register(port, "101", "wrong") == "SIP/2.0 401 Unauthorized"
            edge.set_users({"acme_8": "pw-8"})  # 101 removed: no longer registers
            assert _register(port, "101", "1234567890123456") == "SIP/2.0 401 Unauthorized"
        finally:
            edge.stop()
