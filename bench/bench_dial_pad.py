"""The dial pad's verdict as the user types: ``python bench/bench_dial_pad.py --url URL --db DB``.

Against a running Odoo with ip_telephony installed, and a local Chromium: the
admin (made a telephony user, with a SIP account, as bench_ui.py does) opens
the dial pad in the systray, then types numbers that the number rules
alternately accept and refuse; for each, the time from the input event to
the verdict shown in the pad (a MutationObserver stamps it), on the page's
clock.  It includes the pad's pause of CHECK_DELAY (150 ms) after the last
keystroke, which keeps a fast typist from sending one check per key.
Not part of the tests.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench.bench_ui import Chrome, Odoo, percentile, prepare  # noqa: E402

TYPE = """
new Promise((resolve) => {
    const pad = document.querySelector(".o_ipt_dial_pad");
    const input = pad.querySelector("input.o_ipt_dial_pad_number");
    const verdict = pad.querySelector(".o_ipt_dial_pad_verdict");
    const want = %(want)s;
    const observer = new MutationObserver(() => {
        if (verdict.dataset.ok === want) {
            observer.disconnect();
            resolve(performance.now() - started);
        }
    });
    observer.observe(verdict, { attributes: true });
    input.value = %(number)s;
    const started = performance.now();
    input.dispatchEvent(new Event("input", { bubbles: true }));
})
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8069")
    parser.add_argument("--db", required=True)
    parser.add_argument("--login", default="admin")
    parser.add_argument("--password", default="admin")
    parser.add_argument("--numbers", type=int, default=60)
    parser.add_argument("--chrome", default=shutil.which("chromium") or "chromium")
    args = parser.parse_args()

    odoo = Odoo(args.url, args.db, args.login, args.password)
    prepare(odoo)
    chrome = Chrome(args.chrome)
    try:
        chrome.send("Network.enable")
        chrome.send("Network.setCookie", name="session_id", value=odoo.session_id, url=args.url)
        chrome.send("Page.navigate", url=args.url + "/odoo")
        chrome.wait_for("!!document.querySelector('.o_ipt_dial_pad_toggle')", timeout=60)
        chrome.evaluate("document.querySelector('.o_ipt_dial_pad_toggle').click(); true")
        chrome.wait_for("!!document.querySelector('.o_ipt_dial_pad input')", timeout=10)
        latencies = []
        for index in range(args.numbers + 4):
            accepted = index % 2 == 0
            number = f"8 916 123-{index % 100:02d}-67" if accepted else f"12{index % 10}"
            elapsed = chrome.evaluate(
                TYPE % {"want": '"1"' if accepted else '"0"', "number": repr(number)},
                await_promise=True,
            )
            if index >= 4:  # the first ones warm the caches
                latencies.append(elapsed)
            time.sleep(0.05)
        print(
            f"dial pad, input to verdict shown, {len(latencies)} numbers: "
            f"p50 {percentile(latencies, 0.5):.0f} ms, p95 {percentile(latencies, 0.95):.0f} ms, "
            f"max {max(latencies):.0f} ms (mean {statistics.mean(latencies):.0f} ms; "
            "150 ms of it is the pad's pause after the last key)"
        )
    finally:
        chrome.close()


if __name__ == "__main__":
    main()
