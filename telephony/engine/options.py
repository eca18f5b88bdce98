"""The engine's options (``python -m telephony.engine --help``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

# 50 simultaneous click-to-call calls need 25 workers besides worker 0 (which
# takes them last); 32 (31 besides worker 0) leave room for the calls still
# ringing or hanging up when 30 calls a second come. Workers start on demand
# and retire when idle; one holds 33-38 MiB RSS, about 1.2 GiB at the ceiling.
WORKERS_MAX_DEFAULT = 32


@dataclass
class Options:
    odoo_url: str
    key: str
    secret: str
    state_dir: str
    sip_port: int = 5060
    rtp_port_start: int = 20000
    workers_max: int = WORKERS_MAX_DEFAULT
    phone_uri: str = "sip:{login}@127.0.0.1:{sip_port}"
    register_timeout: float = 30.0
    heartbeat: float = 30.0
    poll_wait: int = 25
    retry_max: float = 30.0
    idle_seconds: float = 30.0
    drain_seconds: float = 10.0
    log_level: int = logging.INFO
    pj_log_level: int = 2
    edge: bool = True
    pike_density: int = 30
    ws_port: int = 5066  # SIP over WebSocket for browsers; 0: none
    ws_origins: list = field(default_factory=list)  # web origins allowed to connect
    relay_ng_port: int = 22222  # rtpengine's control port (loopback UDP)
    relay_port_min: int = 30000  # rtpengine's media ports
    relay_port_max: int = 30999
