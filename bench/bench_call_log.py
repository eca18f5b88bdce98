"""The call log's first page, graph and pivot at scale.  Not a test: it prints figures.

    python bench/bench_call_log.py --db SCRATCH --addons-path PATHS [--calls 1000000]

SCRATCH must be a throwaway database with ip_telephony installed; the bench
fills ``telephony_call`` with ``--calls`` rows in SQL over the last 30 days
(20 sellers, mixed outcomes), once, then times in process (no HTTP) what the
web client asks for, as a telephony administrator (all calls) and as a
seller whose numbers are masked (own calls, record rules):

- the list's first page (``web_search_read``, 80 rows, count up to 10001);
- the graph (calls per day and user: ``read_group`` with lazy=False);
- the pivot (talk time, answered share and count per user and day: the four
  ``read_group`` of its rows, columns, cells and total);
- the "Not called back" list of missed calls.
"""

import argparse
import datetime
import statistics
import time

LIST_SPEC = {
    "start_date": {},
    "end_date": {},
    "direction": {},
    "number": {},
    "partner_id": {"fields": {"display_name": {}}},
    "user_id": {"fields": {"display_name": {}}},
    "state": {},
    "outcome": {},
    "outcome_reason_text": {},
    "duration": {},
    "telephony_may_listen": {},
    "telephony_may_download": {},
    "has_recording": {},
}
SELLERS = 20


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


def populate(env, calls):
    cr = env.cr
    if not env["ir.config_parameter"].get_param("ip_telephony.enabled"):
        env["res.config.settings"]._telephony_enable()
    sellers = env["res.users"].search([("login", "=like", "bench_seller_%")], order="id")
    for index in range(len(sellers), SELLERS):
        seller = env["res.users"].create(
            {
                "name": f"Bench seller {index}",
                "login": f"bench_seller_{index}",
                "groups_id": [(4, env.ref("base.group_user").id)],
            }
        )
        env["telephony.user"].create({"user_id": seller.id})
        sellers |= seller
    if not env["res.groups"].search([("name", "=", "Bench masked")]):
        env["res.groups"].create(
            {
                "name": "Bench masked",
                "telephony_mask_mode": "prefix",
                "telephony_mask_count": 4,
                "users": [(4, sellers[0].id)],
            }
        )
    cr.execute("SELECT count(*) FROM telephony_call")
    if cr.fetchone()[0] >= calls:
        print(f"data: already there ({calls} calls)")
        return sellers
    started = time.perf_counter()
    cr.execute(
        """
        INSERT INTO telephony_call (direction, state, outcome, number, number_e164,
                                    user_id, start_date, answer_date, end_date, duration,
                                    answered_percent, called_back,
                                    create_uid, write_uid, create_date, write_date)
        SELECT CASE WHEN n %% 3 = 0 THEN 'inbound' ELSE 'outbound' END, 'ended',
               (ARRAY['answered', 'answered', 'answered', 'no_answer', 'busy', 'declined',
                      'cancelled', 'failed'])[1 + n %% 8],
               '+7 916 ' || lpad((n %% 10000000)::text, 7, '0'),
               '+7916' || lpad((n %% 10000000)::text, 7, '0'),
               (%s::int[])[1 + n %% %s],
               now() - (n %% 43200) * interval '1 minute',
               now() - (n %% 43200) * interval '1 minute' + interval '10 seconds',
               now() - (n %% 43200) * interval '1 minute' + interval '10 seconds'
                   + (n %% 300) * interval '1 second',
               CASE WHEN n %% 8 < 3 THEN n %% 300 ELSE 0 END,
               CASE WHEN n %% 8 < 3 THEN 100 ELSE 0 END,
               n %% 16 <> 3,
               1, 1, now(), now()
          FROM generate_series(1, %s) AS n
        """,
        (sellers.ids, len(sellers), calls),
    )
    cr.execute("ANALYZE telephony_call")
    print(f"data: {calls} calls inserted in {time.perf_counter() - started:.1f} s")
    return sellers


def timed(label, function, runs):
    times = []
    for _run in range(runs):
        started = time.perf_counter()
        result = function()
        times.append((time.perf_counter() - started) * 1000)
    print(
        f"{label}: median {statistics.median(times):.0f} ms, best {min(times):.0f} ms, "
        f"worst {max(times):.0f} ms over {runs} runs"
    )
    return result


def bench_as(env, label, runs, week=False):
    calls = env["telephony.call"]
    today = datetime.date.today()
    monday = datetime.datetime.combine(
        today - datetime.timedelta(days=today.weekday()), datetime.time()
    )
    domain = [("start_date", ">=", monday)] if week else []
    if week:
        label += ", this week"
    timed(
        f"list, first page ({label})",
        lambda: calls.web_search_read(
            domain, LIST_SPEC, offset=0, limit=80, order="", count_limit=10001
        ),
        runs,
    )
    timed(
        f"graph, calls per day and user ({label})",
        lambda: calls.read_group(domain, ["__count"], ["start_date:day", "user_id"], lazy=False),
        runs,
    )
    measures = ["__count", "duration:sum", "answered_percent:avg"]

    def pivot():
        for groupby in ([], ["user_id"], ["start_date:day"], ["user_id", "start_date:day"]):
            calls.read_group(domain, measures, groupby, lazy=False)

    timed(f"pivot, per user and day ({label})", pivot, runs)
    timed(
        f"missed, not called back, first page ({label})",
        lambda: calls.web_search_read(
            [
                ("direction", "=", "inbound"),
                ("outcome", "in", ("no_answer", "cancelled")),
                ("called_back", "=", False),
            ],
            LIST_SPEC,
            offset=0,
            limit=80,
            order="",
            count_limit=10001,
        ),
        runs,
    )
    env.invalidate_all()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--db-host", default="127.0.0.1")
    parser.add_argument("--db-user", default="ip_telephony")
    parser.add_argument("--addons-path", required=True)
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    odoo, registry = odoo_env(args)
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        sellers = populate(env, args.calls)
        cr.commit()
        admin = env.ref("base.user_admin")
        bench_as(env(user=admin), "telephony administrator", args.runs)
        bench_as(env(user=sellers[0]), "masked seller", args.runs)
        seller_calls = env(user=sellers[0])["telephony.call"]
        numbers = [f"8 916 {n:03d}-45-6" for n in range(200)]
        timed(
            "dial pad, 200 verdicts in a row (server side, in process)",
            lambda: [seller_calls.telephony_check_number(number) for number in numbers],
            args.runs,
        )
        # The "Statistics" menu opens on this week.
        bench_as(env(user=admin), "telephony administrator", args.runs, week=True)
        bench_as(env(user=sellers[0]), "masked seller", args.runs, week=True)
        cr.rollback()


if __name__ == "__main__":
    main()
