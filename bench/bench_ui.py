"""Browser figures of the web client: ``python bench/bench_ui.py --url URL --db DB``.

Against a running Odoo (threaded mode, so the websocket is on the HTTP port)
with ip_telephony installed, and a local Chromium:

1. Call card latency: posts signed engine events (an incoming call ringing the
   admin) one call at a time and measures, on the machine's one clock, the
   time from just before the POST to the card being in the page (a
   MutationObserver stamps it).  p50/p95/p99 over ``--events`` calls.
2. Contact list: the time to open the contact list (80 rows) in the running
   web client, with the call icons and with them switched off in the page
   (the phone fields then render as plain text, as before the addon), in
   alternation; the medians and their difference are the icons' cost.

It prepares what it needs as the admin over JSON-RPC: telephony enabled,
the admin a telephony user, a SIP account, and 80 contacts with phones.
Not part of the tests.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import requests
import websocket

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from telephony import protocol  # noqa: E402


class Odoo:
    """JSON-RPC as one user."""

    def __init__(self, url, db, login, password):
        self.url = url.rstrip("/")
        self.session = requests.Session()
        result = self._json(
            "/web/session/authenticate", {"db": db, "login": login, "password": password}
        )
        self.uid = result["uid"]
        self.session_id = self.session.cookies["session_id"]

    def _json(self, route, params):
        response = self.session.post(
            self.url + route,
            json={"jsonrpc": "2.0", "method": "call", "params": params, "id": 1},
            timeout=60,
        )
        response.raise_for_status()
        body = response.json()
        if body.get("error"):
            raise RuntimeError(body["error"]["data"]["message"])
        return body["result"]

    def call(self, model, method, *args, **kwargs):
        return self._json(
            f"/web/dataset/call_kw/{model}/{method}",
            {"model": model, "method": method, "args": list(args), "kwargs": kwargs},
        )


class Chrome:
    """The least of the DevTools protocol: navigate and evaluate."""

    def __init__(self, binary, width=1366, height=768):
        self.profile = tempfile.mkdtemp(prefix="ipt_bench_chrome_")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.process = subprocess.Popen(
            [
                binary,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--remote-allow-origins=*",
                f"--remote-debugging-port={port}",
                f"--user-data-dir={self.profile}",
                f"--window-size={width},{height}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 20
        while True:
            try:
                pages = requests.get(f"http://127.0.0.1:{port}/json", timeout=2).json()
                page = next(p for p in pages if p["type"] == "page")
                break
            except (requests.RequestException, StopIteration):
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        self.ws = websocket.create_connection(
            page["webSocketDebuggerUrl"], suppress_origin=True, timeout=120
        )
        self.ids = itertools.count(1)

    def send(self, method, **params):
        message_id = next(self.ids)
        self.ws.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == message_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression, await_promise=False):
        result = self.send(
            "Runtime.evaluate",
            expression=expression,
            awaitPromise=await_promise,
            returnByValue=True,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    def wait_for(self, expression, timeout=30.0, interval=0.01):
        deadline = time.time() + timeout
        while not self.evaluate(expression):
            if time.time() > deadline:
                raise TimeoutError(expression)
            time.sleep(interval)

    def task_duration(self):
        """Seconds the page's main thread has been busy so far."""
        metrics = self.send("Performance.getMetrics")["metrics"]
        return next(m["value"] for m in metrics if m["name"] == "TaskDuration")

    def close(self):
        self.ws.close()
        self.process.terminate()
        self.process.wait(10)
        shutil.rmtree(self.profile, ignore_errors=True)


def prepare(odoo):
    """Telephony on, the admin a telephony user, a trunk, 80 contacts with phones."""
    params = odoo.call("ir.config_parameter", "get_param", "ip_telephony.enabled")
    if not params:
        settings = odoo.call("res.config.settings", "create", {})
        odoo.call("res.config.settings", "action_telephony_enable", [settings])
    tel_users = odoo.call(
        "telephony.user", "search_read", [("user_id", "=", odoo.uid)], ["sip_login"]
    )
    if not tel_users:
        odoo.call("telephony.user", "create", {"user_id": odoo.uid})
        tel_users = odoo.call(
            "telephony.user", "search_read", [("user_id", "=", odoo.uid)], ["sip_login"]
        )
    accounts = odoo.call("telephony.sip.account", "search", [])
    if not accounts:
        accounts = [
            odoo.call(
                "telephony.sip.account",
                "create",
                {"sip_user": "bench", "password": "bench", "domain": "sip.example.com"},
            )
        ]
    existing = odoo.call("res.partner", "search_count", [("name", "=like", "Bench contact %")])
    odoo.call(
        "res.partner",
        "create",
        [
            {"name": f"Bench contact {n:03d}", "phone": f"+7 916 100-{n // 100:02d}-{n % 100:02d}"}
            for n in range(existing, 80)
        ],
    )
    engine = odoo.call("telephony.engine", "search_read", [], ["key", "secret"], limit=1)[0]
    return tel_users[0]["sip_login"], accounts[0], engine["key"], engine["secret"]


def post_events(url, key, secret, *events):
    body = protocol.encode({"protocol": 1, "events": list(events)})
    headers = protocol.signed_headers(key, secret, body)
    headers["Content-Type"] = "application/json"
    response = requests.post(
        url + "/telephony/engine/events", data=body, headers=headers, timeout=30
    )
    response.raise_for_status()
    return response.json()


# The engine's sequence numbers grow across runs (a 32-bit integer in Odoo).
_seq = itertools.count(int(time.time() * 10) % 2**30)


def event(kind, call_id, **data):
    return {
        "id": uuid.uuid4().hex,
        "seq": next(_seq),
        "at": time.time(),
        "type": kind,
        "call_id": call_id,
        "data": data,
    }


OBSERVER = """
window.__iptSeen = {};
new MutationObserver(() => {
    for (const el of document.querySelectorAll(".o_ipt_call_card_number")) {
        const number = el.textContent.trim();
        if (!(number in window.__iptSeen)) {
            window.__iptSeen[number] = Date.now();
        }
    }
}).observe(document.body, { subtree: true, childList: true, characterData: true });
true;
"""


def card_latency(chrome, url, key, secret, login, account_id, count, warmup=3):
    chrome.evaluate(OBSERVER)
    latencies = []
    run = uuid.uuid4().hex[:6]
    for index in range(warmup + count):
        number = f"+7495{int(run, 16) % 1000:03d}{index:04d}"
        call_id = f"bench-{run}-{index}"
        created = event(
            "call.created", call_id, direction="inbound", number=number, account_id=account_id
        )
        ringing = event("call.ringing", call_id, logins=[login])
        start = time.time()
        post_events(url, key, secret, created, ringing)
        chrome.wait_for(f"window.__iptSeen[{json.dumps(number)}]", timeout=30, interval=0.005)
        seen = chrome.evaluate(f"window.__iptSeen[{json.dumps(number)}]")
        if index >= warmup:
            latencies.append(seen - start * 1000)
        post_events(url, key, secret, event("call.ended", call_id, outcome="no_answer"))
        time.sleep(0.2)
    return latencies


LIST_LOAD = """
(async () => {
    const { session } = odoo.loader.modules.get("@web/session");
    const info = session.ip_telephony;
    info.phone_fields = %(icons)s ? window.__iptPhoneFields : {};
    const action = odoo.__WOWL_DEBUG__.root.env.services.action;
    await action.doAction("base.action_res_users", { clearBreadcrumbs: true });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const start = performance.now();
    await action.doAction("contacts.action_contacts", { viewType: "list", clearBreadcrumbs: true });
    while (document.querySelectorAll(".o_list_view .o_data_row").length < 80) {
        await new Promise((resolve) => requestAnimationFrame(resolve));
    }
    await new Promise((resolve) => requestAnimationFrame(resolve));
    const elapsed = performance.now() - start;
    return [elapsed, document.querySelectorAll(".o_list_view .o_ipt_call_button").length];
})()
"""


def list_load(chrome, rounds):
    chrome.evaluate(
        "window.__iptPhoneFields = odoo.loader.modules.get('@web/session')"
        ".session.ip_telephony.phone_fields; true"
    )
    chrome.send("Performance.enable")
    timings = {True: [], False: []}
    busy = {True: [], False: []}
    buttons = {}
    for index in range(rounds * 2 + 2):
        icons = index % 2 == 0
        before = chrome.task_duration()
        elapsed, count = chrome.evaluate(
            LIST_LOAD % {"icons": "true" if icons else "false"}, await_promise=True
        )
        buttons[icons] = count
        if index >= 2:  # the first two load the views and warm the caches
            timings[icons].append(elapsed)
            busy[icons].append((chrome.task_duration() - before) * 1000)
    chrome.evaluate(
        "odoo.loader.modules.get('@web/session').session.ip_telephony.phone_fields"
        " = window.__iptPhoneFields; true"
    )
    return timings, busy, buttons


def percentile(values, fraction):
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8069")
    parser.add_argument("--db", required=True)
    parser.add_argument("--login", default="admin")
    parser.add_argument("--password", default="admin")
    parser.add_argument("--events", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=15, help="contact list loads per mode")
    parser.add_argument("--chrome", default=shutil.which("chromium") or "chromium")
    args = parser.parse_args()

    odoo = Odoo(args.url, args.db, args.login, args.password)
    login, account_id, key, secret = prepare(odoo)
    chrome = Chrome(args.chrome)
    try:
        chrome.send("Network.enable")
        chrome.send("Network.setCookie", name="session_id", value=odoo.session_id, url=args.url)
        chrome.send("Page.navigate", url=args.url + "/odoo")
        chrome.wait_for(
            "!!(window.odoo && odoo.__WOWL_DEBUG__ && document.querySelector('.o_main_navbar'))",
            timeout=60,
        )
        time.sleep(2)  # let the bus connect
        latencies = card_latency(chrome, args.url, key, secret, login, account_id, args.events)
        print(
            f"call card, POST to visible, {len(latencies)} calls: "
            f"p50 {percentile(latencies, 0.5):.0f} ms, p95 {percentile(latencies, 0.95):.0f} ms, "
            f"p99 {percentile(latencies, 0.99):.0f} ms, max {max(latencies):.0f} ms"
        )
        timings, busy, buttons = list_load(chrome, args.rounds)
        median = statistics.median
        extra = median(timings[True]) - median(timings[False])
        print(
            f"contact list, 80 rows, {args.rounds} loads each, median (min): "
            f"with icons {median(timings[True]):.0f} ({min(timings[True]):.0f}) ms, "
            f"{buttons[True]} icons; without {median(timings[False]):.0f} "
            f"({min(timings[False]):.0f}) ms; extra {extra:+.0f} ms"
        )
        print(
            f"  main thread busy, median: with icons {median(busy[True]):.0f} ms, "
            f"without {median(busy[False]):.0f} ms, "
            f"extra {median(busy[True]) - median(busy[False]):+.0f} ms"
        )
    finally:
        chrome.close()


if __name__ == "__main__":
    main()
