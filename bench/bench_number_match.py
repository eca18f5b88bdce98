"""Incoming caller matching at scale (issue "Number rules", B3).

Fills res.partner with N contacts whose phones are typed in five formats,
back-fills the normalised index, then looks callers up in a DIFFERENT
format than stored, as superuser and as a telephony user.

    python bench/bench_number_match.py --db DB [--count 100000] [--lookups 2000]

DB must have ip_telephony installed and enabled (bin/run's demo database
will do). The bench removes the contacts it created. Not a test: it prints.
"""

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FORMATS = [
    lambda n: f"+7 {n[1:4]} {n[4:7]}-{n[7:9]}-{n[9:]}",  # +7 916 123-45-67
    lambda n: f"8 ({n[1:4]}) {n[4:7]}-{n[7:9]}-{n[9:]}",  # 8 (495) 123-45-67
    lambda n: f"8{n[1:]}",  # 89161234567
    lambda n: f"+7({n[1:4]}){n[4:]}",  # +7(812)1234567
    lambda n: f"{n[4:7]}-{n[7:9]}-{n[9:]}",  # 123-45-67 (city 495 only)
]
AREAS = ["916", "926", "495", "812", "903"]


def number_for(index):
    area = "495" if index % 5 == 4 else AREAS[index % 4]
    return f"7{area}{1000000 + index:07d}"


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", required=True)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--db-host", default="127.0.0.1")
    parser.add_argument("--db-user", default="ip_telephony")
    parser.add_argument(
        "--addons-path", required=True, help="Odoo's addons and this addon's parent"
    )
    args = parser.parse_args()

    import odoo  # noqa: PLC0415 - the bench needs Odoo; the module does not

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
    registry = odoo.registry(args.db)
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        env["ir.config_parameter"].set_param("ip_telephony.region", "RU")
        env["ir.config_parameter"].set_param("ip_telephony.city_code", "495")
        started = time.perf_counter()
        cr.execute(
            """
            INSERT INTO res_partner (name, active, type, is_company, create_date, write_date)
            SELECT 'bench-' || i, true, 'contact', false, now(), now()
              FROM generate_series(0, %s - 1) AS i
            """,
            (args.count,),
        )
        cr.execute("SELECT id FROM res_partner WHERE name LIKE 'bench-%%' ORDER BY id")
        ids = [row[0] for row in cr.fetchall()]
        rows = [(FORMATS[i % 5](number_for(i)), partner_id) for i, partner_id in enumerate(ids)]
        from psycopg2.extras import execute_values  # noqa: PLC0415

        execute_values(
            cr._obj,
            "UPDATE res_partner p SET phone = v.phone FROM (VALUES %s) AS v(phone, id) "
            "WHERE p.id = v.id",
            rows,
            page_size=5000,
        )
        print(f"{args.count} contacts inserted in {time.perf_counter() - started:.1f} s")
        env.invalidate_all()

        started = time.perf_counter()
        env["telephony.callable.model"]._telephony_reindex_all()
        backfill = time.perf_counter() - started
        print(
            f"back-fill of the normalised index: {backfill:.1f} s "
            f"({args.count / backfill:,.0f} contacts/s)"
        )
        cr.execute("ANALYZE telephony_number")

        Partner = env["res.partner"]
        tel_user = env["telephony.user"].search([], limit=1).user_id
        rng = random.Random(1)
        sample = rng.sample(range(args.count), min(args.lookups, args.count))
        for label, partners in (
            ("superuser", Partner),
            ("telephony user", Partner.with_user(tel_user)),
        ):
            timings, hits = [], 0
            for i in sample:
                # Look up in another format than the stored one, as a caller id arrives.
                stored_format = i % 5
                asked = (
                    FORMATS[(stored_format + 1) % 4](number_for(i))
                    if stored_format != 4
                    else FORMATS[0](number_for(i))
                )
                begin = time.perf_counter()
                e164 = partners._telephony_normalize(asked)
                match = partners._telephony_match(e164)
                timings.append((time.perf_counter() - begin) * 1000)
                hits += match.id == ids[i]
            print(
                f"lookup as {label}: p50 {statistics.median(timings):.2f} ms, "
                f"p99 {percentile(timings, 0.99):.2f} ms, hits {hits}/{len(sample)} "
                f"({100 * hits / len(sample):.1f}%)"
            )
        cr.rollback()  # leave the database as it was


if __name__ == "__main__":
    main()
