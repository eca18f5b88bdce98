"""Command line: ``python -m telephony.engine --odoo-url URL --key KEY ...``."""

from __future__ import annotations

import argparse
import logging
import sys

from .controller import Controller
from .edge_config import origin_check
from .options import WORKERS_MAX_DEFAULT, Options


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m telephony.engine", description="Bundled telephony engine for ip_telephony."
    )
    parser.add_argument("--odoo-url", required=True, help="Odoo base URL, e.g. https://crm.example")
    parser.add_argument("--key", required=True, help="the engine key shown in Odoo")
    parser.add_argument(
        "--secret-file",
        required=True,
        help="file holding the engine secret (never pass it on the command line)",
    )
    parser.add_argument("--state-dir", required=True, help="outbox, recordings, counters")
    parser.add_argument("--sip-port", type=int, default=5060, help="the SIP edge's port")
    parser.add_argument("--rtp-port-start", type=int, default=20000)
    parser.add_argument(
        "--workers-max",
        type=int,
        default=WORKERS_MAX_DEFAULT,
        help="media workers taking calls, at most (2 click-to-call calls each)",
    )
    parser.add_argument(
        "--phone-uri",
        default="sip:{login}@127.0.0.1:{sip_port}",
        help="where a user's phone is reached; {login} and {sip_port} expand",
    )
    parser.add_argument("--register-timeout", type=float, default=30.0)
    parser.add_argument("--heartbeat", type=float, default=30.0)
    parser.add_argument("--poll-wait", type=int, default=25)
    parser.add_argument(
        "--retry-max", type=float, default=30.0, help="longest pause between two delivery attempts"
    )
    parser.add_argument(
        "--idle-seconds",
        type=float,
        default=30.0,
        help="an extra media worker without calls retires after this",
    )
    parser.add_argument("--drain-seconds", type=float, default=10.0)
    parser.add_argument(
        "--no-edge",
        action="store_true",
        help="do not run the Kamailio SIP edge (phones reached by --phone-uri)",
    )
    parser.add_argument(
        "--pike-density",
        type=int,
        default=30,
        help="requests per 2 s from one address before the edge answers 503",
    )
    parser.add_argument(
        "--ws-port",
        type=int,
        default=5066,
        help="SIP over WebSocket for browser phones on 127.0.0.1 (0: none; needs rtpengine)",
    )
    parser.add_argument(
        "--ws-origin",
        action="append",
        default=[],
        help="web origin allowed to open the WebSocket, e.g. https://crm.example (repeat; "
        "none given: any origin)",
    )
    parser.add_argument(
        "--relay-ng-port", type=int, default=22222, help="rtpengine control port (loopback UDP)"
    )
    parser.add_argument(
        "--relay-ports",
        default="30000-30999",
        help="UDP port range of the media relay for browser calls (MIN-MAX)",
    )
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--pjsip-log-level", type=int, default=2, choices=(0, 1, 2, 3))
    args = parser.parse_args(argv)
    try:
        relay_min, relay_max = (int(p) for p in args.relay_ports.split("-", 1))
    except ValueError:
        parser.error(f"--relay-ports wants MIN-MAX, not {args.relay_ports!r}")
    if not 0 < relay_min < relay_max < 65536:
        parser.error(f"--relay-ports: bad range {args.relay_ports!r}")
    try:
        origin_check(args.ws_origin)
    except ValueError as error:
        parser.error(f"--ws-origin: {error}")
    if args.ws_port and args.no_edge:
        args.ws_port = 0  # browsers need the edge
    with open(args.secret_file) as source:
        secret = source.read().strip()
    if not secret:
        parser.error("the secret file is empty")
    return Options(
        odoo_url=args.odoo_url,
        key=args.key,
        secret=secret,
        state_dir=args.state_dir,
        sip_port=args.sip_port,
        rtp_port_start=args.rtp_port_start,
        workers_max=max(1, args.workers_max),
        phone_uri=args.phone_uri,
        register_timeout=args.register_timeout,
        heartbeat=args.heartbeat,
        poll_wait=max(0, min(25, args.poll_wait)),
        retry_max=args.retry_max,
        idle_seconds=args.idle_seconds,
        drain_seconds=args.drain_seconds,
        log_level=getattr(logging, args.log_level.upper(), logging.INFO),
        pj_log_level=args.pjsip_log_level,
        edge=not args.no_edge,
        pike_density=args.pike_density,
        ws_port=max(0, args.ws_port),
        ws_origins=args.ws_origin,
        relay_ng_port=args.relay_ng_port,
        relay_port_min=relay_min,
        relay_port_max=relay_max,
    )


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    logging.basicConfig(
        level=options.log_level,
        format="%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s",
    )
    return Controller(options).run()


if __name__ == "__main__":
    sys.exit(main())
