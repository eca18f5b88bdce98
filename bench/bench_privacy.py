"""Recordings and privacy at scale (F25, F26, F27, B7).  Not a test: it prints figures.

    python bench/bench_privacy.py --db SCRATCH --addons-path PATHS [--calls 1000000]

SCRATCH must be a throwaway database with ip_telephony installed, e.g.::

    createdb -T ipt_base bench_privacy
    odoo -d bench_privacy -i ip_telephony --without-demo=all --stop-after-init
    python bench/bench_privacy.py --db bench_privacy \\
        --addons-path <odoo>/odoo/addons,<odoo>/addons,<folder holding ip_telephony>

The bench writes into it and leaves it behind:

1. fills ``telephony_call`` with ``--calls`` rows in SQL, all older than the
   retention, ``--recordings`` of them with a recording (attachment row and
   file, as Odoo stores them), plus a few thousand young calls; with
   ``--messages N``, N chatter messages (with a tracking value) per old call;
2. list view: times the first page of the call log (``web_search_read`` as
   the web client sends it, 80 rows, count limited to 10001) over HTTP, for
   a telephony administrator (all calls) and a telephony user (own calls,
   record rules) whose numbers are masked;
3. zip: downloads ``--zip`` recordings of ``--zip-size`` bytes each as
   ``records.zip`` from a running server and reports time and the growth of
   the server's peak memory (VmHWM);
4. purge: runs the retention cron in a fresh process, then the filestore
   garbage collection, and reports times and the process's peak memory.
"""

import argparse
import hashlib
import json
import resource
import secrets
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024
YOUNG_CALLS = 5000
LIST_SPEC = {
    "start_date": {},
    "direction": {},
    "number": {},
    "partner_id": {"fields": {"display_name": {}}},
    "user_id": {"fields": {"display_name": {}}},
    "state": {},
    "outcome": {},
    "duration": {},
    "has_recording": {},
}


def odoo_env(args):
    import odoo  # noqa: PLC0415 - the bench needs Odoo; the addon's core does not

    odoo.tools.config.parse_config(
        [
            "-d",
            args.db,
            "--db_host",
            args.db_host,
            "--db_user",
            args.db_user,
            "--addons-path",
            args.addons_path,
        ]
    )
    from odoo.modules.registry import Registry  # noqa: PLC0415

    return odoo, Registry(args.db)


def rss_mib(pid="self", key="VmRSS"):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


# ----------------------------------------------------------------------
# 1. data
# ----------------------------------------------------------------------


def write_file(filestore, data):
    checksum = hashlib.sha1(data).hexdigest()
    fname = f"{checksum[:2]}/{checksum}"
    path = filestore / fname
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return fname, checksum


def attach(cr, filestore, call_ids, size):
    """Recordings as _attach_recording stores them, written in bulk."""
    rows = []
    for call_id in call_ids:
        data = b"ID3\x03\x00\x00\x00\x00\x00\x00" + secrets.token_bytes(size - 10)
        fname, checksum = write_file(filestore, data)
        rows.append((f"{call_id}_2024-01-01.mp3", call_id, fname, len(data), checksum))
    cr.execute(
        """
        WITH new AS (
            INSERT INTO ir_attachment (name, res_model, res_field, res_id, type, store_fname,
                                       file_size, checksum, mimetype, public,
                                       create_uid, write_uid, create_date, write_date)
            SELECT r.name, 'telephony.call', 'recording_file', r.res_id, 'binary', r.fname,
                   r.size, r.checksum, 'audio/mpeg', false, 1, 1, now(), now()
              FROM unnest(%s::varchar[], %s::int[], %s::varchar[], %s::int[], %s::varchar[])
                AS r(name, res_id, fname, size, checksum)
            RETURNING id, res_id
        )
        UPDATE telephony_call c SET recording_id = new.id FROM new WHERE c.id = new.res_id
        """,
        [list(column) for column in zip(*rows, strict=True)],
    )


def add_messages(env, count):
    """``count`` chatter messages per old call, each with a tracking value:
    what notes on calls (nothing on a call is tracked) cost the purge."""
    cr = env.cr
    started = time.perf_counter()
    subtype = env.ref("mail.mt_note").id
    field = env["ir.model.fields"]._get("telephony.call", "state").id
    cr.execute(
        """
        WITH msg AS (
            INSERT INTO mail_message (model, res_id, message_type, body, subtype_id, author_id,
                                      date, record_name, create_uid, write_uid,
                                      create_date, write_date)
            SELECT 'telephony.call', c.id, 'notification', '', %s, 2, c.start_date,
                   'Call #' || c.id, 1, 1, now(), now()
              FROM telephony_call c, generate_series(1, %s)
             WHERE c.start_date < now() - interval '30 days'
            RETURNING id
        )
        INSERT INTO mail_tracking_value (field_id, old_value_char, new_value_char,
                                         mail_message_id, create_uid, write_uid,
                                         create_date, write_date)
        SELECT %s, 'Ringing', 'Ended', msg.id, 1, 1, now(), now() FROM msg
        """,
        (subtype, count, field),
    )
    print(
        f"data: {cr.rowcount} messages with a tracking value each "
        f"in {time.perf_counter() - started:.1f} s"
    )


def populate(args):
    odoo, registry = odoo_env(args)
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        params = env["ir.config_parameter"]
        if not params.get_param("ip_telephony.enabled"):
            env["res.config.settings"]._telephony_enable()
        admin = env.ref("base.user_admin")
        admin.password = "admin"
        seller = env["res.users"].search([("login", "=", "bench_seller")])
        if not seller:
            seller = env["res.users"].create(
                {
                    "name": "Bench seller",
                    "login": "bench_seller",
                    "password": "bench_seller",
                    "groups_id": [(4, env.ref("base.group_user").id)],
                }
            )
            env["telephony.user"].create({"user_id": seller.id})
        env["res.groups"].search([("name", "=", "Bench masked")]).unlink()
        env["res.groups"].create(
            {
                "name": "Bench masked",
                "telephony_mask_mode": "prefix",
                "telephony_mask_count": 4,
                "users": [(4, seller.id)],
            }
        )
        cr.execute("SELECT count(*) FROM telephony_call")
        if cr.fetchone()[0] >= args.calls:
            print(f"data: already there ({args.calls} calls)")
            return
        filestore = Path(odoo.tools.config.filestore(args.db))
        started = time.perf_counter()
        # Old calls: 40..400 days ago, one user in ten is the seller.
        cr.execute(
            """
            INSERT INTO telephony_call (direction, state, outcome, number, number_e164,
                                        dial_string, user_id, start_date, end_date, duration,
                                        create_uid, write_uid, create_date, write_date)
            SELECT CASE WHEN n %% 2 = 0 THEN 'inbound' ELSE 'outbound' END, 'ended', 'answered',
                   '+7 916 ' || lpad((n %% 10000000)::text, 7, '0'),
                   '+7916' || lpad((n %% 10000000)::text, 7, '0'),
                   '8916' || lpad((n %% 10000000)::text, 7, '0'),
                   CASE WHEN n %% 10 = 0 THEN %s ELSE %s END,
                   now() - interval '40 days' - (n %% 360) * interval '1 day',
                   now() - interval '40 days' - (n %% 360) * interval '1 day'
                       + interval '2 minutes',
                   120, 1, 1, now(), now()
              FROM generate_series(1, %s) AS n
            """,
            (seller.id, admin.id, args.calls),
        )
        cr.execute(
            """
            INSERT INTO telephony_call (direction, state, outcome, number, number_e164,
                                        user_id, start_date, duration,
                                        create_uid, write_uid, create_date, write_date)
            SELECT 'inbound', 'ended', 'answered', '+7 916 555-' || lpad(n::text, 4, '0'),
                   '+7916555' || lpad(n::text, 4, '0'),
                   CASE WHEN n %% 2 = 0 THEN %s ELSE %s END,
                   now() - (n %% 20) * interval '1 day', 60, 1, 1, now(), now()
              FROM generate_series(1, %s) AS n
            """,
            (seller.id, admin.id, YOUNG_CALLS),
        )
        cr.execute("ANALYZE telephony_call")
        elapsed = time.perf_counter() - started
        print(f"data: {args.calls + YOUNG_CALLS} calls inserted in {elapsed:.1f} s")
        if args.messages:
            add_messages(env, args.messages)
        started = time.perf_counter()
        cr.execute(
            "SELECT id FROM telephony_call WHERE start_date < now() - interval '30 days' "
            "ORDER BY random() LIMIT %s",
            (args.recordings,),
        )
        attach(cr, filestore, [row[0] for row in cr.fetchall()], args.recording_size)
        cr.execute(
            "SELECT id FROM telephony_call WHERE start_date > now() - interval '30 days' "
            "AND user_id = %s ORDER BY id LIMIT %s",
            (seller.id, args.zip),
        )
        attach(cr, filestore, [row[0] for row in cr.fetchall()], args.zip_size)
        print(
            f"data: {args.recordings} old recordings of {args.recording_size // 1024} KiB "
            f"and {args.zip} young ones of {args.zip_size // 1024} KiB written "
            f"in {time.perf_counter() - started:.1f} s"
        )


# ----------------------------------------------------------------------
# 2, 3. over HTTP
# ----------------------------------------------------------------------


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(args):
    port = free_port()
    command = [
        "odoo",
        "-d",
        args.db,
        "--db_host",
        args.db_host,
        "--db_user",
        args.db_user,
        "--addons-path",
        args.addons_path,
        "--http-port",
        str(port),
        "--gevent-port",
        str(free_port()),
        "--http-interface",
        "127.0.0.1",
        "--workers",
        "0",
        "--max-cron-threads",
        "0",
        "--db-filter",
        f"^{args.db}$",
        "--log-level",
        "warn",
    ]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/web/health", timeout=2).ok:
                return server, url
        except requests.RequestException:
            time.sleep(0.5)
    server.kill()
    raise SystemExit("the Odoo server did not start")


def login(url, user, password, db):
    session = requests.Session()
    answer = session.post(
        f"{url}/web/session/authenticate",
        json={"jsonrpc": "2.0", "params": {"db": db, "login": user, "password": password}},
        timeout=60,
    ).json()
    if "error" in answer:
        raise SystemExit(f"login {user}: {answer['error']}")
    return session


def call_kw(session, url, model, method, args=(), **kwargs):
    answer = session.post(
        f"{url}/web/dataset/call_kw/{model}/{method}",
        json={
            "jsonrpc": "2.0",
            "params": {"model": model, "method": method, "args": list(args), "kwargs": kwargs},
        },
        timeout=600,
    ).json()
    if "error" in answer:
        raise SystemExit(f"{method}: {answer['error']['data']['message']}")
    return answer["result"]


def bench_list(session, url, label, runs=7):
    times = []
    result = None
    for _run in range(runs):
        started = time.perf_counter()
        result = call_kw(
            session,
            url,
            "telephony.call",
            "web_search_read",
            domain=[],
            specification=LIST_SPEC,
            offset=0,
            limit=80,
            order="",
            count_limit=10001,
        )
        times.append((time.perf_counter() - started) * 1000)
    shown = result["records"][0]["number"] if result["records"] else ""
    print(
        f"list view, first page ({label}): median {statistics.median(times):.0f} ms, "
        f"best {min(times):.0f} ms, worst {max(times):.0f} ms over {runs} runs "
        f"(first number shown: {shown!r}, length {result['length']})"
    )


def bench_zip(session, url, server, args):
    calls = call_kw(
        session,
        url,
        "telephony.call",
        "search_read",
        [[("recording_id", "!=", False)]],
        fields=["id"],
        order="start_date desc",
        limit=args.zip,
    )
    ids = [call["id"] for call in calls]
    action = call_kw(session, url, "telephony.call", "action_download_recordings", [ids])
    before = rss_mib(server.pid)
    started = time.perf_counter()
    first = None
    size = 0
    with session.get(f"{url}{action['url']}", stream=True, timeout=600) as response:
        response.raise_for_status()
        for chunk in response.iter_content(1024 * 1024):
            first = first or time.perf_counter()
            size += len(chunk)
    elapsed = time.perf_counter() - started
    peak = rss_mib(server.pid, "VmHWM")
    print(
        f"zip of {len(ids)} recordings ({size / MIB:.0f} MiB, URL {len(action['url'])} chars): "
        f"{elapsed:.1f} s, first byte after {(first - started) * 1000:.0f} ms, "
        f"{size / MIB / elapsed:.0f} MiB/s; server RSS {before:.0f} MiB before, "
        f"peak {peak:.0f} MiB (growth at most {max(peak - before, 0):.0f} MiB)"
    )


def http_part(args, skip):
    server, url = start_server(args)
    try:
        admin = login(url, "admin", "admin", args.db)
        seller = login(url, "bench_seller", "bench_seller", args.db)
        if "list" not in skip:
            bench_list(admin, url, "telephony administrator, all calls")
            bench_list(seller, url, "telephony user, own calls, numbers masked")
        if "zip" not in skip:
            bench_zip(seller, url, server, args)
    finally:
        server.terminate()
        server.wait(30)


# ----------------------------------------------------------------------
# 4. purge, in a fresh process
# ----------------------------------------------------------------------


def purge(args):
    odoo, registry = odoo_env(args)
    baseline = rss_mib()
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        env["ir.config_parameter"].set_param("ip_telephony.purge", "True")
        env["ir.config_parameter"].set_param("ip_telephony.purge_days", "30")
        cr.execute(
            "SELECT count(*) FROM telephony_call WHERE start_date < now() - interval '30 days'"
        )
        old = cr.fetchone()[0]
        cr.execute(
            "SELECT count(*) FROM telephony_call "
            "WHERE start_date < now() - interval '30 days' AND recording_id IS NOT NULL"
        )
        recorded = cr.fetchone()[0]
        cr.commit()
        filestore = Path(odoo.tools.config.filestore(args.db))
        files_before = sum(1 for _ in filestore.rglob("*") if _.is_file())
        started = time.perf_counter()
        env["telephony.call"]._cron_purge(time_budget=3600)
        elapsed = time.perf_counter() - started
        cr.commit()
        cr.execute(
            "SELECT count(*) FROM telephony_call WHERE start_date < now() - interval '30 days'"
        )
        left = cr.fetchone()[0]
        cr.execute("SELECT count(*) FROM telephony_call")
        kept = cr.fetchone()[0]
        files_after = sum(1 for _ in filestore.rglob("*") if _.is_file())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "old": old,
                "recorded": recorded,
                "seconds": elapsed,
                "left": left,
                "kept": kept,
                "files_before": files_before,
                "files_after": files_after,
                "baseline_mib": baseline,
                "peak_mib": peak,
            }
        )
    )


def purge_part(args):
    command = [sys.executable, __file__, "--purge-child", *sys.argv[1:]]
    output = subprocess.run(command, capture_output=True, text=True, check=False)
    if output.returncode:
        raise SystemExit(output.stderr[-3000:])
    figures = json.loads(output.stdout.strip().splitlines()[-1])
    rate = figures["old"] / figures["seconds"] if figures["seconds"] else 0
    print(
        f"purge of {figures['old']} calls with {figures['recorded']} recordings: "
        f"{figures['seconds']:.1f} s ({rate:,.0f} calls/s, files garbage-collected included); "
        f"{figures['left']} old calls left, {figures['kept']} young kept; "
        f"files in the filestore {figures['files_before']} -> {figures['files_after']}; "
        f"process RSS {figures['baseline_mib']:.0f} MiB after loading Odoo, "
        f"peak {figures['peak_mib']:.0f} MiB"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--addons-path", required=True)
    parser.add_argument("--db-host", default="127.0.0.1")
    parser.add_argument("--db-user", default="ip_telephony")
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--recordings", type=int, default=10_000)
    parser.add_argument("--recording-size", type=int, default=16 * 1024)
    parser.add_argument("--zip", type=int, default=500)
    parser.add_argument("--zip-size", type=int, default=1024 * 1024)
    parser.add_argument(
        "--messages", type=int, default=0, help="chatter messages per old call (default 0)"
    )
    parser.add_argument("--skip", default="", help="comma-separated: list,zip,purge")
    parser.add_argument("--purge-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.purge_child:
        purge(args)
        return
    skip = set(filter(None, args.skip.split(",")))
    populate(args)
    if not {"list", "zip"} <= skip:
        http_part(args, skip)
    if "purge" not in skip:
        purge_part(args)


if __name__ == "__main__":
    main()
