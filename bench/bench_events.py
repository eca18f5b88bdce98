"""Odoo's side of the engine protocol under load: ``python bench/bench_events.py``.

Drives a RUNNING Odoo over real HTTP, as the engine does (signed with
``telephony.protocol.signed_headers``), and prints, in the same run:

- the baseline: round trip of Odoo's own ``/web/webclient/version_info``;
- single-event latency and events accepted per second, batches of 1;
- events accepted per second, batches of 50;
- event-to-bus latency: POST sent -> the ``imbus`` NOTIFY carrying the call
  card's channel arrives on a LISTEN connection of this script.

The events are those of inbound calls (``call.created`` with a number, half
of them a contact's, ``call.ringing`` with a telephony login, ``call.ended``
no answer). The engine key and secret come from table ``telephony_engine``;
the calls made here are deleted at the end (``--keep`` keeps them).
Not a test; bounded loops only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import select
import statistics
import sys
import threading
import time
import urllib.parse
import uuid

import psycopg2
import psycopg2.extensions

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from telephony import protocol  # noqa: E402

EVENTS = "/telephony/engine/events"
PREFIX = "bench-ev-"


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


def ms(values):
    if not values:
        return "n/a"
    return "p50 %6.1f ms, p99 %6.1f ms, mean %6.1f ms (n=%d)" % (
        1000 * percentile(values, 0.5),
        1000 * percentile(values, 0.99),
        1000 * statistics.fmean(values),
        len(values),
    )


class Client:
    """One keep-alive HTTP connection, reopened when the server closes it."""

    def __init__(self, url):
        parsed = urllib.parse.urlsplit(url)
        self.host, self.port = parsed.hostname, parsed.port or 80
        self.conn = None

    def post(self, path, body, headers):
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
            try:
                self.conn.request("POST", path, body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return response.status, data
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


class BusListener:
    """LISTEN imbus on its own connection; timestamps every notification.

    Odoo's bus sends ``NOTIFY imbus`` on a connection to the ``postgres``
    database (``db_connect("postgres")``), whatever the database: listen there.
    """

    def __init__(self, dsn):
        self.conn = psycopg2.connect(dsn)
        self.conn.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
        self.conn.cursor().execute("LISTEN imbus")
        self.notes = []  # (perf_counter, channels)
        self.cond = threading.Condition()
        self.stopped = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopped:
            if not select.select([self.conn], [], [], 0.2)[0]:
                continue
            now = time.perf_counter()
            self.conn.poll()
            with self.cond:
                while self.conn.notifies:
                    note = self.conn.notifies.pop(0)
                    try:
                        channels = json.loads(note.payload)
                    except ValueError:
                        channels = []
                    self.notes.append((now, channels))
                self.cond.notify_all()

    def wait_for(self, channel, after, timeout=3.0):
        """Arrival time of the first notification for ``channel`` sent after ``after``."""
        deadline = time.perf_counter() + timeout
        with self.cond:
            while True:
                for arrived, channels in self.notes:
                    if arrived >= after and channel in channels:
                        return arrived
                left = deadline - time.perf_counter()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def close(self):
        self.stopped = True
        self.thread.join(timeout=2)
        self.conn.close()


class Bench:
    def __init__(self, args):
        self.args = args
        self.dsn = " ".join(
            f"{k}={v}"
            for k, v in {
                "dbname": args.db,
                "host": args.db_host,
                "port": args.db_port,
                "user": args.db_user,
                "password": args.db_password,
            }.items()
            if v
        )
        with psycopg2.connect(self.dsn) as conn, conn.cursor() as cr:
            cr.execute("SELECT key, secret FROM telephony_engine WHERE active ORDER BY id LIMIT 1")
            row = cr.fetchone()
            if not row:
                raise SystemExit("no active engine in table telephony_engine")
            self.key, self.secret = row
            cr.execute(
                """SELECT t.sip_login, u.partner_id FROM telephony_user t
                   JOIN res_users u ON u.id = t.user_id
                   WHERE t.active AND u.active ORDER BY t.extension"""
            )
            self.logins = cr.fetchall()
            if not self.logins:
                raise SystemExit("no active telephony user in table telephony_user")
            cr.execute("SELECT phone FROM res_partner WHERE phone IS NOT NULL ORDER BY id LIMIT 20")
            self.known = [r[0] for r in cr.fetchall()]
            cr.execute("SELECT id FROM telephony_sip_account ORDER BY sequence, id LIMIT 1")
            account = cr.fetchone()
            self.account_id = account[0] if account else None
        self.run_id = uuid.uuid4().hex[:8]
        self.calls = 0
        self.seq = 0
        self.client = Client(args.url)

    # -- events ---------------------------------------------------------------
    def _event(self, kind, call_ref, **data):
        self.seq += 1
        return {
            "id": uuid.uuid4().hex,
            "seq": self.seq,
            "at": time.time(),
            "type": kind,
            "call_id": call_ref,
            "data": data,
        }

    def call_flow(self):
        """The three events of one inbound call that rings a user and is missed."""
        self.calls += 1
        ref = f"{PREFIX}{self.run_id}-{self.calls}"
        if self.calls % 2 and self.known:
            number = self.known[self.calls % len(self.known)]
        else:
            number = f"+7495{self.calls % 10_000_000:07d}"
        login, partner_id = self.logins[self.calls % len(self.logins)]
        created = {"direction": "inbound", "number": number}
        if self.account_id:
            created["account_id"] = self.account_id
        return partner_id, [
            self._event("call.created", ref, **created),
            self._event("call.ringing", ref, logins=[login]),
            self._event("call.ended", ref, outcome="no_answer", reason="caller hung up"),
        ]

    def post_events(self, events, client=None):
        body = protocol.encode({"protocol": protocol.PROTOCOL_VERSION, "events": events})
        headers = {
            "Content-Type": "application/json",
            **protocol.signed_headers(self.key, self.secret, body),
        }
        status, data = (client or self.client).post(EVENTS, body, headers)
        if status != 200:
            raise SystemExit(f"events refused: HTTP {status} {data[:300]!r}")
        answer = json.loads(data)
        if answer["rejected"] or len(answer["accepted"]) != len(events):
            raise SystemExit(f"events not all accepted: {answer}")

    # -- measures ---------------------------------------------------------------
    def baseline(self, count):
        times = []
        for _ in range(count):
            start = time.perf_counter()
            status, _ = self.client.post(
                "/web/webclient/version_info", b"{}", {"Content-Type": "application/json"}
            )
            times.append(time.perf_counter() - start)
            if status != 200:
                raise SystemExit(f"version_info: HTTP {status}")
        return times

    def single_events(self, count):
        """Batches of 1, back to back: (HTTP latency of every request, events/s)."""
        times = []
        events = []
        while len(events) < count:
            events.extend(self.call_flow()[1])
        started = time.perf_counter()
        for event in events[:count]:
            start = time.perf_counter()
            self.post_events([event])
            times.append(time.perf_counter() - start)
        return times, count / (time.perf_counter() - started)

    def bus_latency(self, count, bus):
        """POST of one event -> NOTIFY imbus of the user's card: {event type: seconds}."""
        found = {"call.ringing": [], "call.ended": []}
        missed = {"call.ringing": 0, "call.ended": 0}
        sent = 0
        while sent < count:
            partner_id, events = self.call_flow()
            channel = [self.args.db, "res.partner", partner_id]
            for event in events:
                start = time.perf_counter()
                self.post_events([event])
                sent += 1
                if event["type"] in found:
                    arrived = bus.wait_for(channel, start)
                    if arrived is None:
                        missed[event["type"]] += 1
                    else:
                        found[event["type"]].append(arrived - start)
        return found, missed

    def batches(self, size, requests, senders=1):
        """Events/s with ``requests`` batches of ``size`` events, ``senders`` in parallel."""
        batches = []
        for _ in range(requests):
            batch = []
            while len(batch) < size:
                batch.extend(self.call_flow()[1])
            batches.append(batch[:size])
        times = []
        lock = threading.Lock()

        def send(mine):
            client = Client(self.args.url)
            for batch in mine:
                start = time.perf_counter()
                self.post_events(batch, client)
                with lock:
                    times.append(time.perf_counter() - start)

        started = time.perf_counter()
        threads = [
            threading.Thread(target=send, args=(batches[n::senders],)) for n in range(senders)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        return sum(len(b) for b in batches) / elapsed, times

    def cleanup(self):
        like = f"{PREFIX}{self.run_id}-%"
        with psycopg2.connect(self.dsn) as conn, conn.cursor() as cr:
            cr.execute("SELECT id FROM telephony_call WHERE engine_call_id LIKE %s", (like,))
            ids = [r[0] for r in cr.fetchall()]
            if ids:
                cr.execute(
                    "DELETE FROM mail_message WHERE model = 'telephony.call' AND res_id = ANY(%s)",
                    (ids,),
                )
                cr.execute(
                    "DELETE FROM mail_followers WHERE res_model = 'telephony.call' "
                    "AND res_id = ANY(%s)",
                    (ids,),
                )
                cr.execute("DELETE FROM telephony_call WHERE id = ANY(%s)", (ids,))
            cr.execute("DELETE FROM telephony_event WHERE call_ref LIKE %s", (like,))
        return len(ids)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8069")
    parser.add_argument("--db", default="ip_telephony_demo")
    parser.add_argument("--db-host", default="127.0.0.1")
    parser.add_argument("--db-port", default="")
    parser.add_argument("--db-user", default="ip_telephony")
    parser.add_argument("--db-password", default=os.environ.get("PGPASSWORD", ""))
    parser.add_argument(
        "--bus-db", default="postgres", help="database Odoo's bus sends NOTIFY imbus on"
    )
    parser.add_argument("--requests", type=int, default=300, help="requests per measure")
    parser.add_argument(
        "--batch-requests", type=int, default=60, help="requests of 50 events (60 = 3000 events)"
    )
    parser.add_argument("--senders", type=int, default=4, help="parallel senders, extra measure")
    parser.add_argument("--keep", action="store_true", help="keep the calls made by the bench")
    args = parser.parse_args()

    bench = Bench(args)
    print(
        f"Odoo {args.url}, database {args.db}; telephony users "
        f"{', '.join(login for login, _ in bench.logins)}; load average {os.getloadavg()[0]:.1f}"
    )
    bus = BusListener(bench.dsn.replace(f"dbname={args.db}", f"dbname={args.bus_db}"))
    try:
        bench.baseline(20)  # warm-up: connections, caches
        bench.single_events(9)
        base = bench.baseline(args.requests)
        single, rate_1 = bench.single_events(args.requests)
        rate_50, times_50 = bench.batches(50, args.batch_requests)
        to_bus, missed = bench.bus_latency(args.requests, bus)
        rate_par, _ = bench.batches(1, args.requests, senders=args.senders)
        rate_par_50, _ = bench.batches(50, max(1, args.batch_requests // 2), args.senders)
    finally:
        bus.close()
        if not args.keep:
            removed = bench.cleanup()
            print(f"(removed the {removed} calls made by the bench)")
    ratio = percentile(single, 0.5) / percentile(base, 0.5)
    print(f"baseline /web/webclient/version_info : {ms(base)}")
    print(f"single event (batch of 1)            : {ms(single)} = {ratio:.1f}x baseline p50")
    print(f"events/s, batches of 1, one sender   : {rate_1:6.0f}")
    print(f"events/s, batches of 50, one sender  : {rate_50:6.0f}  (request {ms(times_50)})")
    print(f"events/s, batches of 1, {args.senders} senders    : {rate_par:6.0f}")
    print(f"events/s, batches of 50, {args.senders} senders   : {rate_par_50:6.0f}")
    both = to_bus["call.ringing"] + to_bus["call.ended"]
    print(f"event -> imbus NOTIFY of the card    : {ms(both)}")
    for kind, values in to_bus.items():
        print(f"    {kind:14s}                   : {ms(values)}; missed {missed[kind]}")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
